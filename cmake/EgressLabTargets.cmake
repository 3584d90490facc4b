# Helpers shared by every module's CMakeLists.txt.
include_guard(GLOBAL)

set(EGRESSLAB_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror)
# g++ 12 at -O3 reports -Wrestrict, -Warray-bounds and -Wstringop-overflow inside libstdc++'s
# std::string and Boost.Process' inlined code (GCC bugs 105329, 105651): false positives of its
# flow analysis, not in our code. Off for g++ 12 Release builds only; dev/asan/tsan keep them.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND EGRESSLAB_WARNINGS
    $<$<CONFIG:Release>:-Wno-restrict> $<$<CONFIG:Release>:-Wno-array-bounds>
    $<$<CONFIG:Release>:-Wno-stringop-overflow>)
endif()

# egresslab_module(NAME SOURCES ... [DEPS ...]) — one library per module, alias egresslab::NAME.
# Headers are included as "harness/NAME/foo.h" (or "mocks/NAME/foo.h") from the source root.
function(egresslab_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(egresslab_${name} STATIC ${ARG_SOURCES})
  add_library(egresslab::${name} ALIAS egresslab_${name})
  target_include_directories(egresslab_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
  target_compile_options(egresslab_${name} PRIVATE ${EGRESSLAB_WARNINGS})
  target_link_libraries(egresslab_${name} PUBLIC ${ARG_DEPS})
endfunction()

# egresslab_unit_test(NAME SOURCES ... DEPS ... [LABELS ...] [DEFINITIONS ...]) — a GoogleTest
# binary, label `unit`. Tests find fixtures through EGRESSLAB_SOURCE_DIR (always defined);
# DEFINITIONS adds more. Nothing is defined when tests are off (release), so callers never
# touch a test target themselves.
function(egresslab_unit_test name)
  if(NOT EGRESSLAB_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS;DEFINITIONS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${EGRESSLAB_WARNINGS})
  target_compile_definitions(${name} PRIVATE EGRESSLAB_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                             ${ARG_DEFINITIONS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  # gtest_discover_tests flattens a list given in PROPERTIES, so only the first label would
  # survive; the labels are set instead by a file ctest includes after the discovered tests.
  set(labels unit ${ARG_LABELS})
  gtest_discover_tests(${name} TEST_LIST ${name}_TESTS DISCOVERY_TIMEOUT 60)
  set(labels_file "${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake")
  file(WRITE "${labels_file}"
    "if(${name}_TESTS)\n"
    "  set_tests_properties(\${${name}_TESTS} PROPERTIES LABELS \"${labels}\")\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${labels_file}")
endfunction()

# egresslab_fuzz_target(NAME SOURCES ... DEPS ... [CORPUS DIR]) — a libFuzzer entry point
# (LLVMFuzzerTestOneInput). With clang it is a real libFuzzer binary; with g++ it links a
# small driver that replays the corpus and then a bounded number of deterministic mutations,
# so CI runs every parser's fuzz target on every compiler. ctest label `fuzz`.
function(egresslab_fuzz_target name)
  if(NOT EGRESSLAB_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "CORPUS" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${EGRESSLAB_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    add_test(NAME fuzz.${name}
      COMMAND ${name} -runs=20000 -max_len=4096 ${ARG_CORPUS})
  else()
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/harness/core/fuzz_driver.cpp)
    add_test(NAME fuzz.${name} COMMAND ${name} --runs=20000 ${ARG_CORPUS})
  endif()
  set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()
