# Runs EXE with ARGS (a |-separated list) and checks its exit code and that stderr matches EXPECT_STDERR.
# PATH is replaced by EMPTY_PATH (an empty directory) so no external tool (kind, docker, …) of
# the machine is found: the result does not depend on what is installed.
string(REPLACE "|" ";" ARGS "${ARGS}")
file(MAKE_DIRECTORY ${EMPTY_PATH})
set(ENV{PATH} ${EMPTY_PATH})
execute_process(COMMAND ${EXE} ${ARGS}
  RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 50)
if(NOT "${code}" STREQUAL "${EXPECT_EXIT}")
  message(FATAL_ERROR "expected exit ${EXPECT_EXIT}, got ${code}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(NOT err MATCHES "${EXPECT_STDERR}")
  message(FATAL_ERROR "stderr does not match /${EXPECT_STDERR}/:\n${err}\nstdout:\n${out}")
endif()
message(STATUS "exit ${code} as expected; stderr: ${err}")
