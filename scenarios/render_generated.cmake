# scenario.render-generated: what `egresslab render` makes from fixtures/inventory.yaml is run
# as it comes out — render into a fresh directory, then run every generated scenario on the
# simulator. Proves the generator and the simulator agree (issue: render-generated).
#   cmake -DEGRESSLAB=… -DINVENTORY=… -DOUT=… -DTIME_SCALE=… -P render_generated.cmake
file(REMOVE_RECURSE "${OUT}")
execute_process(COMMAND "${EGRESSLAB}" render "${INVENTORY}" --out "${OUT}"
                RESULT_VARIABLE rendered)
if(NOT rendered EQUAL 0)
  message(FATAL_ERROR "egresslab render exited ${rendered}")
endif()
file(GLOB scenarios "${OUT}/*/scenario.yaml")
list(SORT scenarios)
if(NOT scenarios)
  message(FATAL_ERROR "egresslab render wrote no scenario under ${OUT}")
endif()
execute_process(COMMAND "${EGRESSLAB}" run --backend sim --time-scale ${TIME_SCALE} ${scenarios}
                RESULT_VARIABLE ran)
if(NOT ran EQUAL 0)
  message(FATAL_ERROR "the rendered scenarios failed: egresslab run exited ${ran}")
endif()
