// Internal to harness/mesh: the compiler (compile.h) as one class whose member functions live
// in one file per seam, the way istiod builds its config:
//   compile.cpp           the entry points, mesh config, notes, Istio's defaults
//   compile_registry.cpp  workloads, Services, ServiceEntries, endpoints, the DNS view (§3, §4)
//   compile_notes.cpp     what the manifests ask for that the simulator does not model
//   compile_clusters.cpp  outbound clusters: DestinationRule precedence, TLS, subsets (§4, §6)
//   compile_routes.cpp    VirtualService routes and gateway route configs (§2, §5)
//   compile_gateway.cpp   gateway proxies: servers, credentials, filter chains (§5)
//   compile_sidecar.cpp   sidecar proxies: outbound, virtual and inbound listeners (§1, §6)
// Nothing here is part of the module's interface.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/ascii.h"
#include "harness/mesh/compile.h"
#include "harness/mesh/config.h"
#include "harness/mesh/policy.h"

namespace egresslab::mesh::compile_detail {
using model::IstioVersion;
using model::Protocol;

inline constexpr std::string_view kClusterDomain = "svc.cluster.local";
inline constexpr std::string_view kBlackHoleCluster = "BlackHoleCluster";
inline constexpr std::string_view kPassthroughCluster = "PassthroughCluster";

inline std::string nsOrDefault(const std::string& ns) { return ns.empty() ? "default" : ns; }

inline std::string serviceFqdn(std::string_view name, std::string_view ns) {
  return fmt::format("{}.{}.{}", name, ns, kClusterDomain);
}

inline bool selectorMatches(const Labels& selector, const Labels& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

// True when the wildcard VS host `pattern` covers the registry host `svcHost` (an exact name,
// or a wildcard ServiceEntry host at least as narrow): Istio's host.Name.SubsetOf.
inline bool wildcardCovers(std::string_view pattern, std::string_view svcHost) {
  if (pattern == "*") return true;
  std::string_view suffix = pattern.substr(1);  // ".suffix"
  if (svcHost.starts_with('*')) return svcHost.substr(1).ends_with(suffix);
  return wildcardMatches(pattern, svcHost);
}

// Intersection of two host patterns: the more specific one when one matches the other (§2:
// gateway server hosts ∩ VS hosts).
inline std::optional<std::string> intersectHosts(std::string_view a, std::string_view b) {
  if (wildcardMatches(a, b)) return std::string(b);
  if (wildcardMatches(b, a)) return std::string(a);
  return std::nullopt;
}

inline std::string ipFrom(std::string_view prefix16, int n) {
  return fmt::format("{}.{}.{}", prefix16, 10 + n / 240, 10 + n % 240);
}

inline std::string portString(std::uint32_t port) { return std::to_string(port); }

inline bool isHttpProtocol(Protocol p) { return model::isHttpLike(p); }

inline UpstreamProtocol upstreamProtocolFor(Protocol p) {
  switch (p) {
    case Protocol::kHttp2:
    case Protocol::kGrpc:
    case Protocol::kGrpcWeb:
      return UpstreamProtocol::kHttp2;
    case Protocol::kHttp:
      return UpstreamProtocol::kHttp1;
    default:
      return UpstreamProtocol::kTcp;
  }
}

inline std::string spiffeId(std::string_view ns, std::string_view sa) {
  return fmt::format("spiffe://cluster.local/ns/{}/sa/{}", ns, sa);
}

// Labels of a gateway pod that the chart's Service selects on: the component labels, not the
// istio.io bookkeeping labels (canonical-name, tlsMode, rev).
inline Labels gatewayServiceSelector(const Labels& podLabels) {
  Labels out;
  for (const auto& [k, v] : podLabels) {
    if (k.find("istio.io/") != std::string::npos) continue;
    out[k] = v;
  }
  return out;
}

inline std::string envoyLbPolicy(std::string_view simple) {
  if (simple == "LEAST_CONN" || simple == "LEAST_REQUEST") return "LEAST_REQUEST";
  if (simple == "RANDOM") return "RANDOM";
  if (simple == "PASSTHROUGH") return "CLUSTER_PROVIDED";
  return "ROUND_ROBIN";
}

inline StringMatcher toMatcher(const model::StringMatch& m, bool ignoreCase = false) {
  StringMatcher out;
  switch (m.kind) {
    case model::StringMatch::Kind::kExact:
      out.kind = StringMatcher::Kind::kExact;
      break;
    case model::StringMatch::Kind::kPrefix:
      out.kind = StringMatcher::Kind::kPrefix;
      break;
    case model::StringMatch::Kind::kRegex:
      out.kind = StringMatcher::Kind::kRegex;
      break;
  }
  out.value = m.value;
  out.ignoreCase = ignoreCase;
  return out;
}

inline HeaderOps toHeaderOps(const model::HeaderOperations& ops) {
  HeaderOps out;
  for (const auto& [k, v] : ops.set) out.set.emplace_back(asciiLower(k), v);
  for (const auto& [k, v] : ops.add) out.add.emplace_back(asciiLower(k), v);
  for (const auto& k : ops.remove) out.remove.push_back(asciiLower(k));
  return out;
}

// Everything about the proxy a route is built for (§2 match.gateways / sourceLabels).
struct RouteContext {
  std::string gatewayName;  // "ns/name" on gateways, "mesh" on sidecars
  std::string proxyNs;
  Labels proxyLabels;
  std::uint32_t port = 0;  // the gateway server port / sidecar listener port
};

class Compiler {
 public:
  explicit Compiler(const CompileInput& in) : in_(in), v_(in.version) {}

  Result<CompiledMesh> run();

 private:
  void note(std::string ref, std::string what, SourcePos where = {},
            NotSimulatedNote::Reach reach = NotSimulatedNote::Reach::kEveryProxy);
  // A note about one proxy (a gateway's servers, its replicas): only requests through it are
  // affected (docs/design.md "Nothing unmodelled passes silently").
  void noteAt(const ProxyId& proxy, std::string ref, std::string what, SourcePos where = {});
  void note(NotSimulatedNote n);

  // ---------------------------------------------------------------- mesh config
  void meshConfig();

  AccessLogConfig accessLogConfig() const;

  // ---------------------------------------------------------------- workloads
  bool namespaceInjected(const std::string& ns) const;

  void addWorkload(WorkloadInstance w);

  void workloads();

  // ---------------------------------------------------------------- registry services
  Endpoint podEndpoint(const WorkloadInstance& w, std::uint32_t servicePort,
                       std::uint32_t targetPort) const;

  void addKubeService(RegistryService svc);

  bool serviceExists(const std::string& ns, const std::string& name) const;

  void services();

  // The scenario upstream (legacy service mock) that answers for host:port, if any.
  EndpointTarget upstreamTarget(std::string_view host, std::uint32_t port) const;

  std::string dnsAddressOf(const std::string& host) const;

  void serviceEntry(const model::ServiceEntry& se);

  // ---------------------------------------------------------------- DNS
  void dnsView();

  // ---------------------------------------------------------------- not simulated
  void notSimulated();

  // ---------------------------------------------------------------- DestinationRules
  static std::vector<std::string> spiffeIds(const std::vector<Endpoint>& endpoints);

  // ---------------------------------------------------------------- clusters
  std::vector<Cluster> outboundClusters(const std::string& proxyNs) const;

  // ---------------------------------------------------------------- routes
  std::optional<std::uint32_t> destinationPort(const model::Destination& d, const std::string& host,
                                               std::uint32_t fallback) const;

  // Translates one VS http route into Envoy routes for this proxy (one per kept match, §2).
  std::vector<Route> translateRoute(const model::VirtualService& vs, const model::HttpRoute& hr,
                                    const RouteContext& ctx) const;

  // §11.4: gateway vhost domains — [host, host:*] on 1.8–1.14 (a wildcard host gets
  // host:<server port>), [host] with ignore_port_in_host_matching on 1.15+.
  std::vector<std::string> gatewayDomains(const std::string& host, std::uint32_t port) const;

  static bool vsAttachedTo(const model::VirtualService& vs, const std::string& gatewayName);

  struct ServerRef {
    const model::Gateway* gateway = nullptr;
    const model::GatewayServer* server = nullptr;
    std::string gatewayName;  // "ns/name"
  };

  static std::string stripNsPrefix(const std::string& host, std::string* nsOut = nullptr);

  // §2 pickMatchingGatewayHosts: the server's hosts ∩ the VS's hosts, where a server host's
  // "ns/" prefix ("." = the Gateway's namespace, "*" = any) must name the VS's namespace.
  // Empty → the VS does not bind to this server.
  std::vector<std::string> matchingGatewayHosts(const model::GatewayServer& server,
                                                const std::string& gwNs,
                                                const model::VirtualService& vs) const;

  // IsCatchAllRoute: path prefix "/" (or regex "*") with no header or query parameter match.
  static bool isCatchAllRoute(const Route& r);

  static void sortCatchAllRoutesLast(std::vector<Route>& routes);

  RouteConfig gatewayRouteConfig(const std::string& name, const std::vector<ServerRef>& servers,
                                 const WorkloadInstance& pod) const;

  // ---------------------------------------------------------------- gateway proxies
  static std::vector<std::string> sniHosts(const model::GatewayServer& server);

  std::optional<CredentialRef> credential(const std::string& name, const WorkloadInstance& pod,
                                          bool needsCa) const;

  std::optional<DownstreamTls> serverTls(const model::GatewayServer& s,
                                         const WorkloadInstance& pod) const;

  ProxyConfig gatewayProxy(const model::GatewayWorkload& gw);

  // ---------------------------------------------------------------- sidecars
  std::vector<std::string> serviceDomains(const RegistryService& svc, std::uint32_t port,
                                          const std::string& proxyNs) const;

  RouteConfig sidecarRouteConfig(std::uint32_t port, const WorkloadInstance& w) const;

  // §6: the service-level mTLS mode istiod infers for auto mTLS — the namespace-wide
  // PeerAuthentication of the service's namespace, else the mesh-wide one (unset inherits);
  // workload-level policies are applied per endpoint instead.
  model::MtlsMode inferredServiceMtls(const std::string& svcNs) const;

  model::MtlsMode peerAuthMode(const WorkloadInstance& w, std::uint32_t port) const;

  // Chains for a TLS or TCP service port from VirtualService tls (by SNI) and tcp routes bound to
  // the mesh (§2), in VirtualService order; empty when none applies.
  std::vector<FilterChain> meshL4Chains(const RegistryService& svc, const ServicePortInfo& sp,
                                        const WorkloadInstance& w) const;

  ProxyConfig sidecarProxy(const WorkloadInstance& w) const;

  const CompileInput& in_;
  IstioVersion v_;
  CompiledMesh out_;
  int podCounter_ = 0;
  int serviceCounter_ = 0;
};

}  // namespace egresslab::mesh::compile_detail
