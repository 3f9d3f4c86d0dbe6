# Runs `ferrometer_demo --seconds 2 --listen 127.0.0.1:0` and checks its exit code and the totals
# it prints. Usage: cmake -DFM_DEMO=<path> -P demo_test.cmake
if(NOT FM_DEMO)
  message(FATAL_ERROR "FM_DEMO not set")
endif()
execute_process(
  COMMAND ${FM_DEMO} --seconds 2 --listen 127.0.0.1:0
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  TIMEOUT 45)
message("${out}")
if(err)
  message("stderr:\n${err}")
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ferrometer_demo exited with ${rc}")
endif()
foreach(pattern
    "totals after [0-9.]+ s"
    "ticks +([0-9]+) / ([0-9]+)"
    "entity updates +[0-9]+ / [0-9]+"
    "events +[0-9]+ / [0-9]+"
    "players online +-?[0-9]+ / -?[0-9]+"
    "frames +[0-9]+ / [0-9]+"
    "check: OK"
    "shut down cleanly"
    "serving http://127.0.0.1:[1-9][0-9]*/metrics")
  if(NOT out MATCHES "${pattern}")
    message(FATAL_ERROR "demo output lacks '${pattern}'")
  endif()
endforeach()
# About 50 ticks per second for 2 seconds; a loaded machine may fall behind.
string(REGEX MATCH "ticks +([0-9]+) / ([0-9]+)" _ "${out}")
if(NOT CMAKE_MATCH_1 EQUAL CMAKE_MATCH_2 OR CMAKE_MATCH_1 LESS 20 OR CMAKE_MATCH_1 GREATER 101)
  message(FATAL_ERROR "unexpected tick totals: sdk ${CMAKE_MATCH_1}, loop ${CMAKE_MATCH_2}")
endif()
# At least one per-second summary line was printed.
if(NOT out MATCHES "\\[ *1s\\] ticks=[0-9]+")
  message(FATAL_ERROR "no per-second snapshot line")
endif()
