// Faults of a run: a gateway pod killed (its endpoint removed at once, its ports refusing, its
// connections cut; §7) and restored (NotReady until its probe passes), and upstream faults applied
// to the httpbin mocks. Called from the runner's thread, never from a worker.
#include <fmt/format.h>

#include "harness/sim/sim_impl.h"
#include "mocks/httpbin/fault.h"

namespace egresslab::sim {

void SimMesh::Impl::closeConnections(const Proxy* p) {
  for (auto& w : workers) {
    Worker* raw = w.get();
    raw->runAndWait([raw, p] { raw->closeAll(p); });
  }
}

Result<void> SimMesh::Impl::killGateway(Proxy& p) {
  p.killed = true;
  p.ready = false;  // the pod is gone: its endpoint is removed at once (§7)
  for (VirtualListener* vl : listenersOf(&p)) setListening(*vl, false);
  ++poolGeneration;  // nobody reuses a connection to or from the dead pod
  closeConnections(&p);
  return {};
}

Result<void> SimMesh::Impl::restoreGateway(Proxy& p) {
  p.killed = false;
  {
    std::lock_guard lock(p.probeMu);
    p.consecutiveOk = 0;
    p.consecutiveFail = 0;
  }
  if (!p.warming) {
    for (VirtualListener* vl : listenersOf(&p)) setListening(*vl, true);
  }
  // A new pod is NotReady until its probe passes.
  p.ready = false;
  recordProbe(p, runProbe(p));
  return {};
}

Result<void> SimMesh::Impl::upstreamFault(const model::FaultSpec& f) {
  nlohmann::json spec = {{"action", f.action}};
  if (f.action == "latency") spec["ms"] = f.ms;
  if (f.action == "status") {
    spec["code"] = f.code;
    spec["percent"] = f.percent;
  }
  auto parsed = httpbin::parseFault(spec);
  if (!parsed) {
    Error e = parsed.error();
    e.where = f.pos;
    return std::unexpected(e);
  }
  bool any = false;
  for (auto& mock : mocks) {
    if (mock.spec.host != f.upstreamHost) continue;
    if (f.upstreamPort && mock.spec.port != *f.upstreamPort) continue;
    if (auto ok = mock.server->applyFault(*parsed); !ok) {
      Error e = ok.error();
      e.where = f.pos;
      return std::unexpected(e);
    }
    any = true;
  }
  if (!any) {
    return invalidInput(fmt::format("fault target {}: no such upstream in the scenario", f.target),
                        f.pos);
  }
  // A fault changes the upstream's connections: pooled ones must not outlive it.
  ++poolGeneration;
  return {};
}

}  // namespace egresslab::sim
