// The virtual network of a run (§1, §3): which real listener serves a logical ip:port from the
// host, from a pod (with or without capture) or from a proxy's cluster endpoint, and what the
// host's and pods' resolvers answer.
#include <fmt/format.h>

#include "harness/sim/sim_impl.h"

namespace egresslab::sim {

SimMesh::Impl::Proxy* SimMesh::Impl::proxyFor(std::string_view ns, std::string_view name) {
  for (auto& p : proxies) {
    if (p->cfg->id.ns == ns && p->cfg->id.name == name) return p.get();
  }
  return nullptr;
}

const SimMesh::Impl::Mock* SimMesh::Impl::mockFor(std::string_view host, std::uint32_t port,
                                                  std::string_view address) const {
  for (const auto& m : mocks) {
    if (m.spec.host == host && m.spec.port == port && (address.empty() || m.address == address)) {
      return &m;
    }
  }
  return nullptr;
}

// Several servers may share a host:port; each answers at its own address (docs/design.md "More
// than one server per upstream").
const SimMesh::Impl::Mock* SimMesh::Impl::mockAt(std::string_view ip, std::uint32_t port) const {
  for (const auto& m : mocks) {
    if (m.address == ip && m.spec.port == port) return &m;
  }
  return nullptr;
}

// What serves a logical ip:port when nothing captures the connection (kube-proxy, pod
// networking, the public internet of the run).
curl::SocketAddress SimMesh::Impl::mapLogical(const std::string& ip, std::uint32_t port,
                                              const mesh::WorkloadInstance* fromPod, int depth) {
  if (depth > 4) return refusedAddress();
  if ((ip == "127.0.0.1" || ip == "::1") && fromPod != nullptr) {
    return podPort(*fromPod, port, /*viaSidecarInbound=*/false);
  }
  for (const auto& w : compiled.registry.workloads) {
    if (w.ip == ip) return podPort(w, port, /*viaSidecarInbound=*/true);
  }
  for (const auto& s : compiled.registry.services) {
    if (s.fromServiceEntry || s.address != ip) continue;
    // kube-proxy: a ready endpoint of the service port (not-ready pods are removed, §7).
    for (const auto& e : s.endpoints) {
      if (e.servicePort != port || !endpointReady(e)) continue;
      return mapLogical(e.address, e.port, nullptr, depth + 1);
    }
    return refusedAddress();
  }
  if (const Mock* m = mockAt(ip, port)) return {"127.0.0.1", m->server->port()};
  return refusedAddress();
}

// A pod's own port: a gateway's listener or status port; an injected pod's sidecar inbound;
// otherwise its application.
curl::SocketAddress SimMesh::Impl::podPort(const mesh::WorkloadInstance& w, std::uint32_t port,
                                           bool viaSidecarInbound) {
  Proxy* p = proxyFor(w.ns, w.name);
  if (w.gateway) {
    if (p == nullptr) return refusedAddress();
    if (port == 15021) {
      auto vl = bindListener(p, ListenerDirection::kGateway, w.ip, 15021, true,
                             !p->killed && !p->warming);
      return vl ? curl::SocketAddress{"127.0.0.1", (*vl)->realPort} : refusedAddress();
    }
    for (const auto& l : p->cfg->listeners) {
      if (l.direction == ListenerDirection::kGateway && l.port == port) {
        auto vl = bindListener(p, ListenerDirection::kGateway, w.ip, port, false,
                               !p->killed && !p->warming);
        return vl ? curl::SocketAddress{"127.0.0.1", (*vl)->realPort} : refusedAddress();
      }
    }
    // §11.1: no listener on that port → connection refused.
    return refusedAddress();
  }
  if (w.injected && viaSidecarInbound && p != nullptr) {
    auto vl = bindListener(p, ListenerDirection::kSidecarInbound, w.ip, port, false, true);
    return vl ? curl::SocketAddress{"127.0.0.1", (*vl)->realPort} : refusedAddress();
  }
  auto app = apps.find(w.ns + "/" + w.name);
  if (app == apps.end()) return refusedAddress();
  return {"127.0.0.1", app->second->port()};
}

curl::SocketAddress SimMesh::Impl::mapFromPod(const mesh::WorkloadInstance& w,
                                              const curl::SocketAddress& dst) {
  const bool loopback = dst.ip == "127.0.0.1" || dst.ip == "::1";
  Proxy* p = proxyFor(w.ns, w.name);
  if (w.injected && !loopback && p != nullptr) {
    // iptables REDIRECT: the sidecar's outbound listener sees the original destination.
    auto vl = bindListener(p, ListenerDirection::kSidecarOutbound, dst.ip,
                           static_cast<std::uint32_t>(dst.port), false, true);
    return vl ? curl::SocketAddress{"127.0.0.1", (*vl)->realPort} : refusedAddress();
  }
  return mapLogical(dst.ip, static_cast<std::uint32_t>(dst.port), &w);
}

curl::SocketAddress SimMesh::Impl::mapFromHost(const curl::SocketAddress& dst) {
  if (dst.ip == "127.0.0.1" || dst.ip == "::1") {
    // kubectl port-forward: local port → service port → targetPort on one pod.
    for (const auto& pf : portForwards) {
      if (pf.local != static_cast<std::uint32_t>(dst.port)) continue;
      return portForwardTargetOf(pf);
    }
    return refusedAddress();
  }
  // The host reaches only the public internet: the upstream mocks, each at its address.
  if (const Mock* m = mockAt(dst.ip, static_cast<std::uint32_t>(dst.port))) {
    return {"127.0.0.1", m->server->port()};
  }
  return refusedAddress();
}

curl::SocketAddress SimMesh::Impl::portForwardTargetOf(const model::PortForwardSpec& pf) {
  for (const auto& s : compiled.registry.services) {
    if (s.fromServiceEntry || s.ns != pf.serviceNamespace || s.name != pf.serviceName) continue;
    for (const auto& sp : s.ports) {
      if (sp.port != pf.remote) continue;
      // kubectl port-forward picks one pod of the service, ready or not.
      for (const auto& e : s.endpoints) {
        if (e.servicePort != sp.port) continue;
        for (const auto& w : compiled.registry.workloads) {
          if (w.ip == e.address) return podPort(w, e.port, true);
        }
      }
    }
  }
  return refusedAddress();
}

std::optional<std::string> SimMesh::Impl::resolveFromHost(const std::string& name) const {
  if (name == "localhost") return "127.0.0.1";
  if (auto o = dnsOverrides.find(name)) return resolverAnswer(o->answer);  // a dns fault
  // The host resolves only public names: the upstreams (docs/design.md virtual network).
  for (const auto& m : mocks) {
    if (asciiLower(m.spec.host) == asciiLower(name)) {
      auto rec = compiled.dns.records.find(m.spec.host);
      if (rec != compiled.dns.records.end()) return rec->second;
    }
  }
  return std::nullopt;
}

std::optional<std::string> SimMesh::Impl::resolveFromPod(const mesh::WorkloadInstance& w,
                                                         const std::string& name) const {
  if (name == "localhost") return "127.0.0.1";
  if (auto o = dnsOverrides.find(name)) return resolverAnswer(o->answer);  // a dns fault
  return mesh::resolveName(compiled.dns, w.ns, name);                      // §3
}

// ------------------------------------------------------------------------ readiness
bool SimMesh::Impl::endpointReady(const mesh::Endpoint& e) {
  if (!dnsEndpointLive(e)) return false;  // a dns fault left the DNS cluster no host (§R4)
  if (e.target.kind == mesh::EndpointTarget::Kind::kGatewayWorkload) {
    Proxy* p = proxyFor(e.target.ns, e.target.name);
    if (p != nullptr) return e.ready && p->ready && !p->killed;
  }
  return e.ready;
}

// Where an endpoint of a cluster really is, from `proxy`'s point of view.
curl::SocketAddress SimMesh::Impl::endpointAddress(Proxy& proxy, const mesh::Cluster& cluster,
                                                   const mesh::Endpoint& e,
                                                   const mesh::ConnectionInfo* original) {
  using K = mesh::EndpointTarget::Kind;
  if (cluster.type == mesh::ClusterType::kOriginalDst && original != nullptr) {
    return mapLogical(original->destinationAddress, original->localPort, nullptr);
  }
  if (proxy.cfg->id.kind == mesh::ProxyKind::kSidecar && e.address == "127.0.0.1") {
    // Sidecar inbound → the application in the same pod.
    auto app = apps.find(proxy.cfg->id.str());
    if (app != apps.end()) return {"127.0.0.1", app->second->port()};
    return refusedAddress();
  }
  if (auto dns = dnsEndpointTarget(e)) return *dns;  // a dns fault's answer (§R4)
  switch (e.target.kind) {
    case K::kUpstream:
      if (const Mock* m = mockFor(e.target.host, e.target.port, e.target.address)) {
        return {"127.0.0.1", m->server->port()};
      }
      return refusedAddress();
    case K::kGatewayWorkload:
    case K::kWorkload:
      for (const auto& w : compiled.registry.workloads) {
        if (w.ns == e.target.ns && w.name == e.target.name) return podPort(w, e.port, true);
      }
      return refusedAddress();
    case K::kUnknown:
      // An address some server answers at (e.g. an IP the manifests name directly).
      if (const Mock* m = mockAt(e.address, e.port)) return {"127.0.0.1", m->server->port()};
      break;
  }
  return refusedAddress();
}

std::string SimMesh::Impl::upstreamHostIp(const mesh::Endpoint& ep) const {
  // STRICT_DNS endpoints are names; the log shows the resolved address.
  auto rec = compiled.dns.records.find(ep.address);
  return rec != compiled.dns.records.end() ? rec->second : ep.address;
}

}  // namespace egresslab::sim
