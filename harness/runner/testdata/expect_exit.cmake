# Runs EXE with ARGS (a |-separated list) and checks its exit code and that stderr matches
# EXPECT_STDERR. Optional: EXPECT_STDOUT (a regex stdout must match), REJECT_OUTPUT (a regex
# neither stdout nor stderr may match), CLEAN (a directory removed before the run), FILES (a
# |-separated list of FILE=REGEX: each file must exist and its content match).
# PATH is replaced by EMPTY_PATH (an empty directory) so no external tool (kind, docker, …) of
# the machine is found: the result does not depend on what is installed.
string(REPLACE "|" ";" ARGS "${ARGS}")
file(MAKE_DIRECTORY ${EMPTY_PATH})
set(ENV{PATH} ${EMPTY_PATH})
if(CLEAN)
  file(REMOVE_RECURSE "${CLEAN}")
endif()
execute_process(COMMAND ${EXE} ${ARGS}
  RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 50)
if(NOT "${code}" STREQUAL "${EXPECT_EXIT}")
  message(FATAL_ERROR "expected exit ${EXPECT_EXIT}, got ${code}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(NOT err MATCHES "${EXPECT_STDERR}")
  message(FATAL_ERROR "stderr does not match /${EXPECT_STDERR}/:\n${err}\nstdout:\n${out}")
endif()
if(DEFINED EXPECT_STDOUT AND NOT out MATCHES "${EXPECT_STDOUT}")
  message(FATAL_ERROR "stdout does not match /${EXPECT_STDOUT}/:\n${out}\nstderr:\n${err}")
endif()
if(REJECT_OUTPUT AND ("${out}" MATCHES "${REJECT_OUTPUT}" OR "${err}" MATCHES "${REJECT_OUTPUT}"))
  message(FATAL_ERROR "output matches /${REJECT_OUTPUT}/, which it must not:\nstdout:\n${out}\n"
                      "stderr:\n${err}")
endif()
if(FILES)
  string(REPLACE "|" ";" FILES "${FILES}")
  foreach(entry IN LISTS FILES)
    string(FIND "${entry}" "=" eq)
    string(SUBSTRING "${entry}" 0 ${eq} path)
    math(EXPR from "${eq} + 1")
    string(SUBSTRING "${entry}" ${from} -1 regex)
    if(NOT EXISTS "${path}")
      message(FATAL_ERROR "${path} was not written\nstdout:\n${out}\nstderr:\n${err}")
    endif()
    file(READ "${path}" content)
    if(NOT content MATCHES "${regex}")
      message(FATAL_ERROR "${path} does not match /${regex}/:\n${content}")
    endif()
  endforeach()
endif()
message(STATUS "exit ${code} as expected; stderr: ${err}")
