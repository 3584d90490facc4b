// The fault-control API of `egresslab sim up` (docs/cli.md "sim up"): every upstream server,
// gateway and DNS name of the running simulated mesh, driven over HTTP with the same JSON a
// scenario's `fault:` step takes, behind the mock's admission rules (httpbin::ControlServer:
// loopback only, a loopback Host, no foreign Origin, JSON POSTs, an optional bearer token).
//
//   GET    /faults   200 {"upstreams":[…],"gateways":[…],"dns":[…]}  (SimMesh::faultState)
//   POST   /faults   one fault, e.g. {"target":"upstream/crm-a","action":"status","code":503,
//                    "ttl":"30s"} → 200 and the new state; 400 "POST /faults:1:37: …" for a bad
//                    fault or a target the scenario does not have
//   DELETE /faults   ends every fault (SimMesh::undoFaults) → 200 and the new state
#pragma once

#include <memory>

#include "harness/core/error.h"
#include "harness/model/scenario.h"
#include "harness/sim/sim_mesh.h"
#include "mocks/httpbin/control_server.h"

namespace egresslab::sim {

// The handler alone (tests call it directly). `mesh` and `scenario` must outlive it.
httpbin::ControlHandler faultApiHandler(SimMesh& mesh, const model::Scenario& scenario);

// Serves faultApiHandler on `options` (loopback addresses only, even with a token).
Result<std::unique_ptr<httpbin::ControlServer>> startFaultApi(
    SimMesh& mesh, const model::Scenario& scenario, const httpbin::ControlOptions& options);

}  // namespace egresslab::sim
