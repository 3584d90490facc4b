#include "harness/sim/fault_api.h"

#include <fmt/format.h>

namespace egresslab::sim {

httpbin::ControlHandler faultApiHandler(SimMesh& mesh, const model::Scenario& scenario) {
  return [&mesh, &scenario](const httpbin::ControlRequest& req) -> httpbin::ControlResponse {
    if (req.path != "/faults") {
      return {.status = 404, .detail = "the simulator's fault API is GET, POST and DELETE /faults"};
    }
    if (req.method == "GET") return {.body = mesh.faultState()};
    if (req.method == "DELETE") {
      mesh.undoFaults();
      return {.body = mesh.faultState()};
    }
    if (req.method != "POST") return {.status = 405, .allow = "GET, POST, DELETE"};
    auto fault = model::parseFaultSpec(req.body, "POST /faults");
    if (!fault) return {.status = 400, .detail = fault.error().str()};
    if (auto known = model::checkFaultTarget(scenario, *fault); !known) {
      return {.status = 400, .detail = known.error().str()};
    }
    if (auto applied = mesh.fault(*fault); !applied) {
      return {.status = applied.error().kind == ErrorKind::kInvalidInput ? 400 : 500,
              .detail = applied.error().str()};
    }
    return {.body = mesh.faultState()};
  };
}

Result<std::unique_ptr<httpbin::ControlServer>> startFaultApi(
    SimMesh& mesh, const model::Scenario& scenario, const httpbin::ControlOptions& options) {
  const std::string& h = options.host;
  const bool loopback = h == "localhost" || h == "::1" || h.starts_with("127.");
  if (!loopback) {
    return invalidInput(fmt::format(
        "the simulator's fault API binds loopback addresses only, not \"{}\"", options.host));
  }
  return httpbin::ControlServer::start(faultApiHandler(mesh, scenario), options);
}

}  // namespace egresslab::sim
