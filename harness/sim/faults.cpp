// Faults of a run (docs/scenarios.md "Faults"): a gateway pod killed (its endpoint removed at
// once, its ports refusing, its connections cut; §7) and restored (NotReady until its probe
// passes); upstream faults applied to the httpbin mocks of the servers a target names; dns
// faults (what the world's DNS answers, §R4); a fault's ttl; undoing every fault. Called from
// the runner's thread, the fault timer or the control API, never from a worker.
#include <fmt/format.h>

#include <algorithm>

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

namespace {

nlohmann::json mockFaultJson(const model::FaultSpec& f) {
  nlohmann::json spec = {{"action", f.action}};
  if (f.action == "latency") spec["ms"] = f.ms;
  if (f.action == "status") {
    spec["code"] = f.code;
    spec["percent"] = f.percent;
  }
  if (f.action == "cert") spec["cert"] = f.cert;
  return spec;
}

}  // namespace

std::string SimMesh::Impl::serverAddress(const Mock& m) const {
  // The address the server answers at (`upstreams[].address` or the run's choice), else the
  // DNS record of its host.
  if (!m.address.empty()) return m.address;
  auto rec = compiled.dns.records.find(m.spec.host);
  return rec != compiled.dns.records.end() ? rec->second : std::string();
}

Result<void> SimMesh::Impl::gatewayFault(const model::FaultSpec& f) {
  Proxy* p = proxyFor(f.gatewayNamespace, f.gatewayName);
  if (p == nullptr || !p->gateway) {
    return invalidInput(fmt::format("fault target {}: no such gateway in the scenario", f.target),
                        f.pos);
  }
  if (f.action == "restore") {
    {
      std::lock_guard lock(faultMu);
      ++killGeneration[p];  // a pending ttl of an earlier kill no longer applies
    }
    return restoreGateway(*p);
  }
  if (f.action != "kill") {
    return invalidInput(fmt::format("gateway faults are kill|restore, not \"{}\"", f.action),
                        f.pos);
  }
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(faultMu);
    generation = ++killGeneration[p];
  }
  if (auto killed = killGateway(*p); !killed) return killed;
  if (f.ttl) {
    faultTimers.schedule(Clock::now() + clock.real(*f.ttl), [this, p, generation] {
      {
        std::lock_guard lock(faultMu);
        if (killGeneration[p] != generation) return;  // restored or killed again since
        ++killGeneration[p];
      }
      if (p->killed) (void)restoreGateway(*p);
    });
  }
  return {};
}

Result<void> SimMesh::Impl::dnsFault(const model::FaultSpec& f) {
  if (f.action == "up") {
    dnsOverrides.clear(f.dnsName);
  } else if (f.action == "dns" && f.answer) {
    const std::uint64_t generation = dnsOverrides.set(f.dnsName, *f.answer);
    if (f.ttl) {
      faultTimers.schedule(Clock::now() + clock.real(*f.ttl), [this, name = f.dnsName, generation] {
        if (dnsOverrides.clear(name, generation)) ++poolGeneration;
      });
    }
  } else {
    return invalidInput(
        fmt::format("dns faults are `dns` with an answer, or `up`; not \"{}\"", f.action), f.pos);
  }
  // New hosts: pooled connections to the old ones are not reused for new requests.
  ++poolGeneration;
  return {};
}

Result<void> SimMesh::Impl::upstreamFault(const model::FaultSpec& f) {
  auto parsed = httpbin::parseFault(mockFaultJson(f));
  if (!parsed) {
    Error e = parsed.error();
    e.where = f.pos;
    return std::unexpected(e);
  }
  std::vector<httpbin::HttpbinServer*> hit;
  for (auto& mock : mocks) {
    if (!model::faultTargetsServer(f, mock.spec, serverAddress(mock))) continue;
    // A certificate fault on a host with plain and TLS servers applies to its TLS ones.
    const bool certFault = f.action == "cert" || f.action == "bad-cert";
    if (certFault && !mock.spec.tls) continue;
    if (auto ok = mock.server->applyFault(*parsed); !ok) {
      Error e = ok.error();
      e.where = f.pos;
      return std::unexpected(e);
    }
    hit.push_back(mock.server.get());
  }
  if (hit.empty()) {
    return invalidInput(fmt::format("fault target {}: no such upstream in the scenario", f.target),
                        f.pos);
  }
  // A fault changes the upstream's connections: pooled ones must not outlive it.
  ++poolGeneration;
  if (f.ttl) {
    faultTimers.schedule(Clock::now() + clock.real(*f.ttl), [this, hit, fault = *parsed] {
      bool ended = false;
      for (auto* server : hit) {
        auto r = server->endFault(fault);
        ended = ended || (r && *r);
      }
      if (ended) ++poolGeneration;
    });
  }
  return {};
}

void SimMesh::Impl::undoFaults() {
  for (auto& mock : mocks) {
    if (!mock.server->activeFaults().empty()) mock.server->clearFaults();
  }
  dnsOverrides.clearAll();
  for (auto& p : proxies) {
    if (!p->gateway || !p->killed) continue;
    {
      std::lock_guard lock(faultMu);
      ++killGeneration[p.get()];
    }
    (void)restoreGateway(*p);
  }
  ++poolGeneration;
}

// ------------------------------------------------------------------------ DNS clusters (§R4)
std::optional<mesh::ClusterType> SimMesh::Impl::dnsClusterTypeOf(const mesh::Endpoint& e) {
  std::lock_guard lock(faultMu);
  if (!dnsEndpointTypesBuilt) {
    for (const auto& proxy : compiled.proxies) {
      for (const auto& c : proxy.clusters) {
        if (c.type != mesh::ClusterType::kStrictDns && c.type != mesh::ClusterType::kLogicalDns) {
          continue;
        }
        for (const auto& ep : c.endpoints) dnsEndpointTypes[&ep] = c.type;
      }
    }
    dnsEndpointTypesBuilt = true;
  }
  auto it = dnsEndpointTypes.find(&e);
  if (it == dnsEndpointTypes.end()) return std::nullopt;
  return it->second;
}

std::optional<DnsClusterHosts> SimMesh::Impl::dnsHostsOf(const mesh::Endpoint& e) {
  if (dnsOverrides.empty()) return std::nullopt;
  // STRICT_DNS/LOGICAL_DNS hosts carry the name they were resolved from (§R4).
  auto entry = dnsOverrides.find(e.dnsName.empty() ? e.address : e.dnsName);
  if (!entry) return std::nullopt;
  auto type = dnsClusterTypeOf(e);
  if (!type) return std::nullopt;
  return dnsClusterHosts(*type, &entry->answer, entry->lastGood);
}

bool SimMesh::Impl::dnsEndpointLive(const mesh::Endpoint& e) {
  auto hosts = dnsHostsOf(e);
  return !hosts || !hosts->removed;
}

std::optional<curl::SocketAddress> SimMesh::Impl::dnsEndpointTarget(const mesh::Endpoint& e) {
  auto hosts = dnsHostsOf(e);
  if (!hosts || !hosts->addresses || hosts->addresses->empty()) return std::nullopt;
  // STRICT_DNS balances over its hosts; LOGICAL_DNS has one.
  const auto& addresses = *hosts->addresses;
  const std::string& ip = addresses[randomU64() % addresses.size()];
  for (const auto& m : mocks) {
    if (m.spec.port == e.port && serverAddress(m) == ip)
      return curl::SocketAddress{"127.0.0.1", m.server->port()};
  }
  return refusedAddress();  // nothing answers at that address
}

std::optional<std::string> SimMesh::Impl::dnsEndpointIp(const mesh::Endpoint& e) {
  auto hosts = dnsHostsOf(e);
  if (!hosts || !hosts->addresses || hosts->addresses->empty()) return std::nullopt;
  return hosts->addresses->front();
}

}  // namespace egresslab::sim
