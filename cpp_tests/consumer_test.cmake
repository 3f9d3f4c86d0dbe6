# Installs the build tree into a temporary prefix, then configures, builds
# and runs a tiny project that uses find_package(ferrometer CONFIG REQUIRED).
file(REMOVE_RECURSE "${FM_WORK_DIR}")
set(prefix "${FM_WORK_DIR}/prefix")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${FM_BUILD_DIR}" --prefix "${prefix}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install failed: ${rc}")
endif()
foreach(f include/ferrometer.h include/ferrometer.hpp lib/cmake/ferrometer/ferrometerConfig.cmake
          lib/cmake/ferrometer/ferrometerConfigVersion.cmake lib/pkgconfig/ferrometer.pc)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} -S "${FM_CONSUMER_SRC}" -B "${FM_WORK_DIR}/build"
                        -G "${FM_GENERATOR}" "-DCMAKE_PREFIX_PATH=${prefix}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer configure failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${FM_WORK_DIR}/build" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer build failed: ${rc}")
endif()
foreach(exe consumer_shared consumer_static)
  execute_process(COMMAND "${FM_WORK_DIR}/build/${exe}" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${exe} failed (${rc}): ${out}")
  endif()
  message(STATUS "${exe}: ${out}")
endforeach()
