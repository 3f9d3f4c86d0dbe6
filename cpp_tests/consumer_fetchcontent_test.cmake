# Configures, builds and runs cpp_tests/consumer_fetchcontent, which takes
# ferrometer with FetchContent from this source tree. The cargo target
# directory and build type are the parent build's, so cargo finds the
# library up to date instead of building it again.
file(REMOVE_RECURSE "${FM_WORK_DIR}")
execute_process(COMMAND ${CMAKE_COMMAND} -S "${FM_CONSUMER_SRC}" -B "${FM_WORK_DIR}"
                        -G "${FM_GENERATOR}"
                        "-DFERROMETER_SOURCE_DIR=${FM_SOURCE_DIR}"
                        "-DFERROMETER_CARGO_TARGET_DIR=${FM_CARGO_TARGET_DIR}"
                        "-DCMAKE_BUILD_TYPE=${FM_BUILD_TYPE}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "FetchContent consumer configure failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${FM_WORK_DIR}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "FetchContent consumer build failed: ${rc}")
endif()
foreach(exe consumer_shared consumer_static)
  execute_process(COMMAND "${FM_WORK_DIR}/${exe}" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${exe} failed (${rc}): ${out}")
  endif()
  message(STATUS "${exe}: ${out}")
endforeach()
