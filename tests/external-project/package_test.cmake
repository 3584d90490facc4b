# cmake -DBUILD_DIR=… -DSOURCE_DIR=… -DWORK_DIR=… -DGENERATOR=… -DRUN_SCENARIOS=ON|OFF -P …
# Installs the EgressLab build into WORK_DIR/prefix, builds SOURCE_DIR against it with
# find_package(EgressLab) and checks its ctest: the scenario test is registered with the right
# name and labels, and (RUN_SCENARIOS, i.e. the simulator is built) passes.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${code}): ${cmd}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(installed bin/egresslab lib/cmake/EgressLab/EgressLabConfig.cmake
        lib/cmake/EgressLab/EgressLabConfigVersion.cmake lib/cmake/EgressLab/EgressLabTargets.cmake
        lib/cmake/EgressLab/EgressLabScenarios.cmake)
  if(NOT EXISTS "${prefix}/${installed}")
    message(FATAL_ERROR "the install is missing ${installed}")
  endif()
endforeach()

run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${prefix}")
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run(${CMAKE_CTEST_COMMAND} --test-dir "${WORK_DIR}/build" -N -L scenario)
if(NOT last_output MATCHES "scenario\\.external-smoke")
  message(FATAL_ERROR "scenario.external-smoke is not registered:\n${last_output}")
endif()
run(${CMAKE_CTEST_COMMAND} --test-dir "${WORK_DIR}/build" -N -L egress)
if(NOT last_output MATCHES "Total Tests: 1")
  message(FATAL_ERROR "LABELS egress was not applied:\n${last_output}")
endif()
# The registered command is the installed executable, not the build tree's.
file(READ "${WORK_DIR}/build/CTestTestfile.cmake" testfile)
if(NOT testfile MATCHES "${prefix}/bin/egresslab")
  message(FATAL_ERROR "the test does not run ${prefix}/bin/egresslab:\n${testfile}")
endif()
if(RUN_SCENARIOS)
  run(${CMAKE_CTEST_COMMAND} --test-dir "${WORK_DIR}/build" --output-on-failure)
  message(STATUS "scenario.external-smoke passed against the installed package")
else()
  message(STATUS "the sim backend is not built: scenario registered, not run")
endif()
