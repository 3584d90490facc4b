# egresslab_add_scenarios(DIR [BACKEND sim|kind] [LABELS label…] [TIME_SCALE F]
#                         [REPORT_DIR dir] [TIMEOUT seconds] [SKIP_UNAVAILABLE] [ARGS arg…])
#
# Registers every DIR/*.yaml (and *.yml) scenario as one ctest test named `scenario.<name>`
# (<name> is the file's `name:`), labelled `scenario` plus LABELS, running
#   egresslab run --backend <BACKEND> [--time-scale F] [--report junit=REPORT_DIR/<name>.xml]
#                 [ARGS…] <file>
# BACKEND defaults to sim. On sim, TIME_SCALE (default 50) compresses the simulator's probe
# clocks so readiness/warming scenarios finish in seconds. On kind, tests take a RESOURCE_LOCK
# (one cluster at a time) and SKIP_UNAVAILABLE turns exit 3 (kind/docker missing) into a skip.
#
# Needs the imported executable egresslab::egresslab: `find_package(EgressLab)` provides both.
include_guard(GLOBAL)

function(egresslab_add_scenarios dir)
  cmake_parse_arguments(ARG "SKIP_UNAVAILABLE" "BACKEND;TIME_SCALE;REPORT_DIR;TIMEOUT"
                        "LABELS;ARGS" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "egresslab_add_scenarios: unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_BACKEND)
    set(ARG_BACKEND sim)
  endif()
  if(NOT ARG_BACKEND MATCHES "^(sim|kind)$")
    message(FATAL_ERROR "egresslab_add_scenarios: BACKEND must be sim or kind, not ${ARG_BACKEND}")
  endif()
  if(NOT TARGET egresslab::egresslab)
    message(FATAL_ERROR "egresslab_add_scenarios: egresslab::egresslab is not defined; "
                        "call find_package(EgressLab REQUIRED) first")
  endif()

  get_filename_component(dir "${dir}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  file(GLOB files CONFIGURE_DEPENDS "${dir}/*.yaml" "${dir}/*.yml")
  list(SORT files)
  if(NOT files)
    message(WARNING "egresslab_add_scenarios: no scenario files (*.yaml) in ${dir}")
    return()
  endif()

  set(run_args --backend ${ARG_BACKEND})
  if(ARG_BACKEND STREQUAL "sim")
    if(NOT ARG_TIME_SCALE)
      set(ARG_TIME_SCALE 50)
    endif()
    list(APPEND run_args --time-scale ${ARG_TIME_SCALE})
  elseif(ARG_TIME_SCALE)
    message(FATAL_ERROR "egresslab_add_scenarios: TIME_SCALE applies to the sim backend only")
  endif()
  if(NOT ARG_TIMEOUT)
    if(ARG_BACKEND STREQUAL "kind")
      set(ARG_TIMEOUT 1800)
    else()
      set(ARG_TIMEOUT 300)
    endif()
  endif()
  if(ARG_REPORT_DIR)
    get_filename_component(ARG_REPORT_DIR "${ARG_REPORT_DIR}" ABSOLUTE
                           BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
    file(MAKE_DIRECTORY "${ARG_REPORT_DIR}")
  endif()

  foreach(file IN LISTS files)
    # The test is named after the scenario's `name:` (what reports show), else the file name.
    file(STRINGS "${file}" name_lines REGEX "^name:[ \t]*[\"']?[a-z0-9-]+")
    if(name_lines)
      list(GET name_lines 0 name_line)
      string(REGEX REPLACE "^name:[ \t]*[\"']?([a-z0-9-]+).*$" "\\1" name "${name_line}")
    else()
      get_filename_component(name "${file}" NAME_WE)
    endif()
    set(report_args)
    if(ARG_REPORT_DIR)
      set(report_args --report "junit=${ARG_REPORT_DIR}/${name}.xml")
    endif()
    add_test(NAME scenario.${name}
      COMMAND $<TARGET_FILE:egresslab::egresslab> run ${run_args} ${report_args} ${ARG_ARGS}
              "${file}"
      WORKING_DIRECTORY "${dir}")
    set_tests_properties(scenario.${name} PROPERTIES
      LABELS "scenario;${ARG_LABELS}"
      TIMEOUT ${ARG_TIMEOUT})
    if(ARG_BACKEND STREQUAL "kind")
      set_tests_properties(scenario.${name} PROPERTIES RESOURCE_LOCK egresslab-kind-cluster)
      if(ARG_SKIP_UNAVAILABLE)
        set_tests_properties(scenario.${name} PROPERTIES SKIP_RETURN_CODE 3)
      endif()
    endif()
  endforeach()
endfunction()
