# scenario.render-generated: what `egresslab render` makes from fixtures/inventory.yaml is run
# as it comes out — render into a fresh directory, then run the output directory itself (found
# recursively, manifests left alone) on the simulator with its default fast clocks. Proves the
# generator and the simulator agree, and that `egresslab run DIR` and
# egresslab_find_scenarios (what egresslab_add_scenarios registers) accept render's layout.
#   cmake -DEGRESSLAB=… -DINVENTORY=… -DOUT=… -DSCENARIOS_MODULE=… -P render_generated.cmake
include(${SCENARIOS_MODULE})
file(REMOVE_RECURSE "${OUT}")
execute_process(COMMAND "${EGRESSLAB}" render "${INVENTORY}" --out "${OUT}"
                RESULT_VARIABLE rendered)
if(NOT rendered EQUAL 0)
  message(FATAL_ERROR "egresslab render exited ${rendered}")
endif()
# Every upstream directory holds one scenario.yaml; nothing else is a scenario.
file(GLOB expected "${OUT}/*/scenario.yaml")
list(SORT expected)
if(NOT expected)
  message(FATAL_ERROR "egresslab render wrote no scenario under ${OUT}")
endif()
egresslab_find_scenarios(found "${OUT}")
if(NOT found STREQUAL expected)
  message(FATAL_ERROR "egresslab_find_scenarios(${OUT}) found\n  ${found}\nexpected\n  ${expected}")
endif()
execute_process(COMMAND "${EGRESSLAB}" run --backend sim "${OUT}" RESULT_VARIABLE ran)
if(NOT ran EQUAL 0)
  message(FATAL_ERROR "the rendered scenarios failed: egresslab run ${OUT} exited ${ran}")
endif()
