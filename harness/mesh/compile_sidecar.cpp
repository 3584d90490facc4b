// Sidecar proxies: outbound listeners per service port, the virtualOutbound catch-all, and
// virtualInbound with PeerAuthentication (docs/istio-behaviour.md §1, §6).
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "harness/mesh/compile_internal.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/policy.h"
#include "harness/mesh/route_policy.h"
#include "harness/mesh/unsimulated.h"

namespace egresslab::mesh::compile_detail {

std::vector<std::string> Compiler::serviceDomains(const RegistryService& svc, std::uint32_t port,
                                                  const std::string& proxyNs) const {
  std::vector<std::string> d;
  auto both = [&](const std::string& h) {
    d.push_back(h);
    d.push_back(h + ":" + portString(port));
  };
  both(svc.hostname);
  if (!svc.fromServiceEntry) {
    if (svc.ns == proxyNs) both(svc.name);
    both(svc.name + "." + svc.ns);
    both(svc.name + "." + svc.ns + ".svc");
  }
  if (!svc.address.empty()) both(svc.address);
  return d;
}

RouteConfig Compiler::sidecarRouteConfig(std::uint32_t port, const WorkloadInstance& w) const {
  RouteConfig rc;
  rc.name = portString(port);
  rc.validateClusters = false;
  RouteContext ctx{"mesh", w.ns, w.labels, port};
  // The registry as this route config sees it: the services that declare this port
  // (BuildSidecarOutboundVirtualHosts, `GetByPort(listenerPort)`, 1.8 and 1.22). A service
  // without the port is not "registered" here: a VS host naming it gets a plain VS vhost.
  std::set<std::string> portHosts;
  for (const auto& svc : out_.registry.services) {
    for (const auto& p : svc.ports) {
      if (p.port == port) portHosts.insert(svc.hostname);
    }
  }
  // Which VS routes each service of this port: VSs with the exact host, else the most specific
  // wildcard VS host that covers it (separateVSHostsAndServices; a wildcard matching no service
  // stays a VS vhost). A VS with no route for this proxy claims nothing (§2 "no routes").
  struct Claim {
    std::vector<Route> routes;
    std::string wildcard;  // the wildcard VS host that claimed it; "" = exact VS host(s)
  };
  std::map<std::string, Claim> claims;
  std::vector<std::pair<std::string, std::vector<Route>>> vsHosts;  // non-registry hosts
  for (const auto& vs : in_.resources.virtualServices) {
    if (!vsAttachedTo(vs, "mesh")) continue;
    const std::string vsNs = nsOrDefault(vs.meta.ns);
    std::vector<Route> routes;
    for (const auto& hr : vs.http) {
      auto rs = translateRoute(vs, hr, ctx);
      routes.insert(routes.end(), rs.begin(), rs.end());
    }
    if (routes.empty()) continue;
    for (const auto& h : vs.hosts) {
      const std::string host = resolveHost(h, vsNs);
      if (!host.starts_with('*')) {
        if (!portHosts.contains(host)) {
          vsHosts.emplace_back(host, routes);
          continue;
        }
        Claim& c = claims[host];
        if (!c.wildcard.empty()) c = Claim{};  // an exact host beats a wildcard claim
        c.routes.insert(c.routes.end(), routes.begin(), routes.end());
        continue;
      }
      bool matchedService = false;
      for (const auto& svcHost : portHosts) {
        if (!wildcardCovers(host, svcHost)) continue;
        matchedService = true;
        auto it = claims.find(svcHost);
        if (it == claims.end()) {
          claims[svcHost] = Claim{routes, host};
        } else if (!it->second.wildcard.empty() && moreSpecificHost(host, it->second.wildcard)) {
          it->second = Claim{routes, host};
        }
      }
      if (!matchedService) vsHosts.emplace_back(host, routes);
    }
  }
  for (const auto& svc : out_.registry.services) {
    const ServicePortInfo* sp = nullptr;
    for (const auto& p : svc.ports) {
      if (p.port == port && isHttpProtocol(p.protocol)) sp = &p;
    }
    if (sp == nullptr) continue;
    VirtualHost vh;
    vh.name = svc.hostname + ":" + portString(port);
    vh.domains = serviceDomains(svc, port, w.ns);
    if (auto it = claims.find(svc.hostname); it != claims.end()) vh.routes = it->second.routes;
    if (vh.routes.empty()) {
      Route r;
      r.name = "default";
      r.kind = Route::ActionKind::kForward;
      r.forward.clusters.push_back({outboundClusterName(port, "", svc.hostname), 100, {}, {}});
      // §R2.1: the default route gets the mesh default or built-in policy too.
      r.forward.retry = routeRetryPolicy(std::nullopt, v_, meshDefaultRetry(out_.meshConfig, v_));
      r.origin = svc.origin;
      vh.routes.push_back(std::move(r));
    }
    rc.virtualHosts.push_back(std::move(vh));
  }
  // §3: VS hosts that are not services of this port get vhosts on the port-80 route config
  // only.
  if (port == 80) {
    for (auto& [host, routes] : vsHosts) {
      const std::string name = host + ":80";
      auto it = std::find_if(rc.virtualHosts.begin(), rc.virtualHosts.end(),
                             [&](const VirtualHost& v) { return v.name == name; });
      if (it == rc.virtualHosts.end()) {
        VirtualHost vh;
        vh.name = name;
        vh.domains = {host, host + ":80"};
        rc.virtualHosts.push_back(std::move(vh));
        it = rc.virtualHosts.end() - 1;
      }
      it->routes.insert(it->routes.end(), routes.begin(), routes.end());
    }
  }
  // §1: the catch-all vhost — block_all 502 under REGISTRY_ONLY, allow_any passthrough.
  VirtualHost catchAll;
  Route r;
  catchAll.domains = {"*"};
  if (out_.outboundTrafficPolicy == model::OutboundTrafficPolicyMode::kRegistryOnly) {
    catchAll.name = "block_all";
    r.name = "block_all";
    r.kind = Route::ActionKind::kDirectResponse;
    r.direct.status = 502;
  } else {
    catchAll.name = "allow_any";
    r.name = "allow_any";
    r.kind = Route::ActionKind::kForward;
    r.forward.clusters.push_back({std::string(kPassthroughCluster), 100, {}, {}});
  }
  r.origin = "meshConfig.outboundTrafficPolicy (§1)";
  catchAll.routes.push_back(std::move(r));
  rc.virtualHosts.push_back(std::move(catchAll));
  return rc;
}

model::MtlsMode Compiler::inferredServiceMtls(const std::string& svcNs) const {
  const model::PeerAuthentication* ns = nullptr;
  const model::PeerAuthentication* mesh = nullptr;
  for (const auto& pa : in_.resources.peerAuthentications) {
    if (!pa.selector.empty()) continue;
    const std::string paNs = nsOrDefault(pa.meta.ns);
    if (paNs == svcNs && ns == nullptr) ns = &pa;
    if (paNs == kRootNamespace && mesh == nullptr) mesh = &pa;
  }
  for (const auto* pa : {ns, mesh}) {
    if (pa != nullptr && pa->mode != model::MtlsMode::kUnset) return pa->mode;
  }
  return model::MtlsMode::kPermissive;
}

model::MtlsMode Compiler::peerAuthMode(const WorkloadInstance& w, std::uint32_t port) const {
  // §6: workload-selector policy in the workload's namespace, then the namespace-wide one,
  // then the mesh-wide one in the root namespace; unset inherits; default PERMISSIVE.
  const model::PeerAuthentication* workload = nullptr;
  const model::PeerAuthentication* ns = nullptr;
  const model::PeerAuthentication* mesh = nullptr;
  for (const auto& pa : in_.resources.peerAuthentications) {
    const std::string paNs = nsOrDefault(pa.meta.ns);
    if (paNs == w.ns && !pa.selector.empty() && selectorMatches(pa.selector, w.labels)) {
      if (workload == nullptr) workload = &pa;
    } else if (paNs == w.ns && pa.selector.empty()) {
      if (ns == nullptr) ns = &pa;
    } else if (paNs == kRootNamespace && pa.selector.empty()) {
      if (mesh == nullptr) mesh = &pa;
    }
  }
  for (const auto* pa : {workload, ns, mesh}) {
    if (pa == nullptr) continue;
    auto pl = pa->portLevelMtls.find(port);
    if (pa == workload && pl != pa->portLevelMtls.end() && pl->second != model::MtlsMode::kUnset) {
      return pl->second;
    }
    if (pa->mode != model::MtlsMode::kUnset) return pa->mode;
  }
  return model::MtlsMode::kPermissive;
}

std::vector<FilterChain> Compiler::meshL4Chains(const RegistryService& svc,
                                                const ServicePortInfo& sp,
                                                const WorkloadInstance& w) const {
  std::vector<FilterChain> out;
  const bool tlsPort = sp.protocol == Protocol::kTls || sp.protocol == Protocol::kHttps;
  for (const auto& vs : in_.resources.virtualServices) {
    if (!vsAttachedTo(vs, "mesh")) continue;
    const std::string vsNs = nsOrDefault(vs.meta.ns);
    const bool coversService = std::any_of(vs.hosts.begin(), vs.hosts.end(), [&](const auto& h) {
      return wildcardCovers(resolveHost(h, vsNs), svc.hostname);
    });
    if (!coversService) continue;
    const auto& l4 = tlsPort ? vs.tls : vs.tcp;
    for (const auto& route : l4) {
      if (route.route.empty()) continue;
      // One tcp_proxy chain to the route's first destination; `sniHosts` of the match on TLS
      // ports, the service's own address on TCP ports.
      auto chain = [&](const std::vector<std::string>& sniHosts) {
        const auto& d = route.route.front().destination;
        const std::string host = resolveHost(d.host, vsNs);
        FilterChain fc;
        fc.kind = FilterChainKind::kTcpProxy;
        fc.cluster = outboundClusterName(destinationPort(d, host, sp.port).value_or(sp.port),
                                         d.subset, host);
        fc.statPrefix = fc.cluster;
        fc.origin = vs.ref() + " " + route.path;
        fc.name = fmt::format("{}/{}", fc.cluster, route.path);
        if (tlsPort) {
          fc.serverNames = sniHosts;
          fc.transportProtocol = "tls";
        } else if (!svc.address.empty()) {
          fc.destinationAddresses = {svc.address};
        }
        out.push_back(std::move(fc));
      };
      // A tcp route without a match applies to every connection on the port.
      if (route.match.empty() && !tlsPort) chain({});
      for (const auto& m : route.match) {
        // §2: the match's gateways (else the VS's) must include "mesh"; port and source must
        // fit this proxy.
        if (!m.gateways.empty() &&
            std::find(m.gateways.begin(), m.gateways.end(), "mesh") == m.gateways.end()) {
          continue;
        }
        if (m.port && *m.port != sp.port) continue;
        if (!m.sourceLabels.empty() && !selectorMatches(m.sourceLabels, w.labels)) continue;
        if (!m.sourceNamespace.empty() && m.sourceNamespace != w.ns) continue;
        if (!m.destinationSubnets.empty()) continue;  // noted in compile_notes.cpp
        chain(m.sniHosts);
      }
    }
  }
  return out;
}

ProxyConfig Compiler::sidecarProxy(const WorkloadInstance& w) const {
  ProxyConfig p;
  p.id = {w.ns, w.name, ProxyKind::kSidecar};
  p.version = v_;
  p.podIp = w.ip;
  p.podLabels = w.labels;
  p.accessLog = accessLogConfig();
  p.outboundTrafficPolicy = out_.outboundTrafficPolicy;
  p.clusters = outboundClusters(w.ns);

  // Outbound listeners per service port (iptables keeps the original destination port).
  std::map<std::uint32_t, std::vector<FilterChain>> tcpChains;
  std::set<std::uint32_t> httpPorts;
  for (const auto& svc : out_.registry.services) {
    for (const auto& sp : svc.ports) {
      if (isHttpProtocol(sp.protocol)) {
        httpPorts.insert(sp.port);
        continue;
      }
      FilterChain fc;
      fc.kind = FilterChainKind::kTcpProxy;
      fc.cluster = outboundClusterName(sp.port, "", svc.hostname);
      fc.statPrefix = fc.cluster;
      fc.origin = svc.origin;
      fc.name = fc.cluster;
      if (!svc.address.empty()) {
        fc.destinationAddresses = {svc.address};
      } else if (svc.fromServiceEntry &&
                 (sp.protocol == Protocol::kTls || sp.protocol == Protocol::kHttps)) {
        fc.serverNames = {svc.hostname};
        fc.transportProtocol = "tls";
      }
      // VirtualService tls/tcp routes bound to the mesh take the port over (§2): their chains
      // go first, and the service's own SNI chain stays only for names they do not claim.
      std::vector<FilterChain> routed = meshL4Chains(svc, sp, w);
      const bool claimed = std::any_of(routed.begin(), routed.end(), [&](const FilterChain& c) {
        return c.serverNames.empty() || std::find(c.serverNames.begin(), c.serverNames.end(),
                                                  svc.hostname) != c.serverNames.end();
      });
      for (auto& c : routed) tcpChains[sp.port].push_back(std::move(c));
      if (claimed) continue;
      // A TCP ServiceEntry port without addresses matches every destination on that port
      // (IST0134's trap).
      tcpChains[sp.port].push_back(std::move(fc));
    }
  }
  std::set<std::uint32_t> ports = httpPorts;
  for (const auto& [port, chains] : tcpChains) ports.insert(port);
  for (std::uint32_t port : ports) {
    Listener l;
    l.name = "0.0.0.0_" + portString(port);
    l.port = port;
    l.servicePort = port;
    l.direction = ListenerDirection::kSidecarOutbound;
    auto& chains = tcpChains[port];
    // Priority: destination-address chains, then SNI chains, then the HTTP chain, then
    // unconditional TCP chains.
    std::stable_sort(chains.begin(), chains.end(), [](const FilterChain& a, const FilterChain& b) {
      auto rank = [](const FilterChain& c) {
        return !c.destinationAddresses.empty() ? 0 : !c.serverNames.empty() ? 1 : 3;
      };
      return rank(a) < rank(b);
    });
    for (auto& c : chains) {
      if (!c.destinationAddresses.empty() || !c.serverNames.empty()) l.filterChains.push_back(c);
    }
    if (httpPorts.contains(port)) {
      FilterChain fc;
      fc.name = l.name;
      fc.kind = FilterChainKind::kHttp;
      fc.routeConfigName = portString(port);
      fc.origin = "registry HTTP port";
      l.filterChains.push_back(std::move(fc));
      p.routeConfigs.push_back(sidecarRouteConfig(port, w));
    }
    for (auto& c : chains) {
      if (c.destinationAddresses.empty() && c.serverNames.empty()) {
        l.filterChains.push_back(c);
        break;  // the first definition wins the port
      }
    }
    p.listeners.push_back(std::move(l));
  }
  // §1: the catch-all for unknown destinations.
  Listener vo;
  vo.name = "virtualOutbound";
  vo.port = 15001;
  vo.servicePort = 15001;
  vo.direction = ListenerDirection::kSidecarVirtualOutbound;
  FilterChain catchAll;
  const bool registryOnly =
      out_.outboundTrafficPolicy == model::OutboundTrafficPolicyMode::kRegistryOnly;
  catchAll.name = registryOnly ? "virtualOutbound-blackhole" : "virtualOutbound-passthrough";
  catchAll.kind = registryOnly ? FilterChainKind::kBlackHole : FilterChainKind::kPassthrough;
  catchAll.cluster = registryOnly ? kBlackHoleCluster : kPassthroughCluster;
  catchAll.statPrefix = catchAll.cluster;
  catchAll.origin = "meshConfig.outboundTrafficPolicy (§1)";
  vo.filterChains.push_back(std::move(catchAll));
  p.listeners.push_back(std::move(vo));

  // Inbound: the workload's own service ports, TLS by PeerAuthentication (§6).
  Listener vi;
  vi.name = "virtualInbound";
  vi.port = 15006;
  vi.servicePort = 15006;
  vi.direction = ListenerDirection::kSidecarInbound;
  std::set<std::uint32_t> inboundPorts;
  for (const auto& svc : out_.registry.services) {
    if (svc.fromServiceEntry || svc.ns != w.ns || svc.selector.empty() ||
        !selectorMatches(svc.selector, w.labels)) {
      continue;
    }
    for (const auto& sp : svc.ports) {
      if (!inboundPorts.insert(sp.targetPort).second) continue;
      const std::string clusterName = fmt::format("inbound|{}||", sp.targetPort);
      FilterChain fc;
      fc.name = clusterName;
      fc.destinationPort = sp.targetPort;
      fc.origin = svc.origin;
      const model::MtlsMode mode = peerAuthMode(w, sp.targetPort);
      if (mode != model::MtlsMode::kDisable) {
        DownstreamTls t;
        t.mode = DownstreamTlsMode::kIstioMutual;
        t.allowPlaintext = mode != model::MtlsMode::kStrict;  // PERMISSIVE
        fc.tls = t;
      }
      if (isHttpProtocol(sp.protocol)) {
        fc.kind = FilterChainKind::kHttp;
        fc.routeConfigName = clusterName;
        RouteConfig rc;
        rc.name = clusterName;
        VirtualHost vh;
        vh.name = fmt::format("inbound|http|{}", sp.port);
        vh.domains = {"*"};
        Route r;
        r.name = "default";
        r.forward.clusters.push_back({clusterName, 100, {}, {}});
        r.origin = svc.origin;
        vh.routes.push_back(std::move(r));
        rc.virtualHosts.push_back(std::move(vh));
        p.routeConfigs.push_back(std::move(rc));
      } else {
        fc.kind = FilterChainKind::kTcpProxy;
        fc.cluster = clusterName;
        fc.statPrefix = clusterName;
      }
      vi.filterChains.push_back(std::move(fc));
      Cluster c;
      c.name = clusterName;
      c.type = ClusterType::kStatic;
      c.protocol = upstreamProtocolFor(sp.protocol);
      c.lbPolicy = defaultLbPolicy(v_);
      c.servicePort = sp.targetPort;
      c.serviceHost = svc.hostname;
      Endpoint e;
      e.address = "127.0.0.1";
      e.port = sp.targetPort;
      e.target.kind = EndpointTarget::Kind::kWorkload;
      e.target.ns = w.ns;
      e.target.name = w.name;
      e.target.port = sp.targetPort;
      e.servicePort = sp.port;
      c.endpoints.push_back(std::move(e));
      c.origin = svc.origin;
      p.clusters.push_back(std::move(c));
    }
  }
  p.listeners.push_back(std::move(vi));
  return p;
}
}  // namespace egresslab::mesh::compile_detail
