# egresslab_add_scenarios(DIR [BACKEND sim|kind] [LABELS label…] [TIME_SCALE F]
#                         [REPORT_DIR dir] [TIMEOUT seconds] [SKIP_UNAVAILABLE] [ARGS arg…])
#
# Registers every scenario under DIR (searched recursively, as `egresslab run DIR` does: a
# *.yaml or *.yml file with a top-level `steps:` key is a scenario; manifests and other YAML
# are left alone; hidden directories are skipped) as one ctest test named `scenario.<name>`
# (<name> is the file's `name:`), labelled `scenario` plus LABELS, running
#   egresslab run --backend <BACKEND> [--time-scale F] [--report junit=REPORT_DIR/<name>.xml]
#                 [ARGS…] <file>
# A file already registered by an earlier call is skipped, so a subdirectory can be registered
# first with its own LABELS; two different files with the same `name:` are an error.
# BACKEND defaults to sim. On sim, mesh clocks run fast by default (egresslab's own default,
# --time-scale 50); TIME_SCALE overrides it (1 = real time). On kind, tests take a
# RESOURCE_LOCK (one cluster at a time) and SKIP_UNAVAILABLE turns exit 3 (kind/docker
# missing) into a skip. `egresslab render --out DIR` writes a layout this accepts.
#
# Needs the imported executable egresslab::egresslab: `find_package(EgressLab)` provides both.
#
# egresslab_find_scenarios(<out-var> DIR...) lists the scenario files under the DIRs (sorted,
# each once) by the same rule; it also works in script mode (cmake -P).
include_guard(GLOBAL)

function(egresslab_find_scenarios out_var)
  set(found)
  foreach(dir IN LISTS ARGN)
    get_filename_component(dir "${dir}" ABSOLUTE)
    # CONFIGURE_DEPENDS (a new scenario re-runs the configure step) is for projects only.
    if(CMAKE_SCRIPT_MODE_FILE)
      file(GLOB_RECURSE candidates "${dir}/*.yaml" "${dir}/*.yml")
    else()
      file(GLOB_RECURSE candidates CONFIGURE_DEPENDS "${dir}/*.yaml" "${dir}/*.yml")
    endif()
    list(SORT candidates)
    foreach(file IN LISTS candidates)
      file(RELATIVE_PATH rel "${dir}" "${file}")
      if(rel MATCHES "(^|/)\\.")
        continue()  # hidden directory (or file)
      endif()
      file(STRINGS "${file}" steps_lines REGEX "^steps:" LIMIT_COUNT 1)
      if(steps_lines)
        list(APPEND found "${file}")
      endif()
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES found)
  set(${out_var} "${found}" PARENT_SCOPE)
endfunction()

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
  egresslab_find_scenarios(files "${dir}")
  if(NOT files)
    message(WARNING "egresslab_add_scenarios: no scenario (a *.yaml file with a top-level "
                    "`steps:` key) in or below ${dir}")
    return()
  endif()

  set(run_args --backend ${ARG_BACKEND})
  if(ARG_BACKEND STREQUAL "sim")
    if(ARG_TIME_SCALE)
      list(APPEND run_args --time-scale ${ARG_TIME_SCALE})
    endif()
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

  get_property(registered GLOBAL PROPERTY EGRESSLAB_REGISTERED_SCENARIOS)
  foreach(file IN LISTS files)
    if(file IN_LIST registered)
      continue()  # registered by an earlier call (e.g. a subdirectory with its own LABELS)
    endif()
    # The test is named after the scenario's `name:` (what reports show), else the file name.
    file(STRINGS "${file}" name_lines REGEX "^name:[ \t]*[\"']?[a-z0-9-]+")
    if(name_lines)
      list(GET name_lines 0 name_line)
      string(REGEX REPLACE "^name:[ \t]*[\"']?([a-z0-9-]+).*$" "\\1" name "${name_line}")
    else()
      get_filename_component(name "${file}" NAME_WE)
    endif()
    get_property(owner GLOBAL PROPERTY EGRESSLAB_SCENARIO_FILE_${name})
    if(owner)
      message(FATAL_ERROR "egresslab_add_scenarios: ${file} and ${owner} are both named "
                          "\"${name}\"; scenario names must be unique")
    endif()
    set_property(GLOBAL PROPERTY EGRESSLAB_SCENARIO_FILE_${name} "${file}")
    set_property(GLOBAL APPEND PROPERTY EGRESSLAB_REGISTERED_SCENARIOS "${file}")
    get_filename_component(file_dir "${file}" DIRECTORY)
    set(report_args)
    if(ARG_REPORT_DIR)
      set(report_args --report "junit=${ARG_REPORT_DIR}/${name}.xml")
    endif()
    add_test(NAME scenario.${name}
      COMMAND $<TARGET_FILE:egresslab::egresslab> run ${run_args} ${report_args} ${ARG_ARGS}
              "${file}"
      WORKING_DIRECTORY "${file_dir}")
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
