# `cmake -B build` of the source tree at top level, with no
# FERROMETER_BUILD_TESTS given, turns the test suites on (GoogleTest is
# installed wherever this test runs): ctest then finds tests.
file(REMOVE_RECURSE "${FM_WORK_DIR}")
execute_process(COMMAND ${CMAKE_COMMAND} -S "${FM_SOURCE_DIR}" -B "${FM_WORK_DIR}" -G "${FM_GENERATOR}"
                        "-DFERROMETER_CARGO_TARGET_DIR=${FM_WORK_DIR}/unused-cargo-target"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "top-level configure failed (${rc}): ${out}${err}")
endif()
file(STRINGS "${FM_WORK_DIR}/CMakeCache.txt" opt REGEX "^FERROMETER_BUILD_TESTS:")
if(NOT opt STREQUAL "FERROMETER_BUILD_TESTS:BOOL=ON")
  message(FATAL_ERROR "top-level default: ${opt}, want FERROMETER_BUILD_TESTS:BOOL=ON")
endif()
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir "${FM_WORK_DIR}" -N
                RESULT_VARIABLE rc OUTPUT_VARIABLE out)
string(REGEX MATCH "Total Tests: ([0-9]+)" m "${out}")
if(NOT rc EQUAL 0 OR NOT CMAKE_MATCH_1 OR CMAKE_MATCH_1 LESS 5)
  message(FATAL_ERROR "ctest -N after a plain top-level configure:\n${out}")
endif()
message(STATUS "top level: ${opt}, ${m}")
