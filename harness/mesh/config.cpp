#include "harness/mesh/config.h"

#include <algorithm>

namespace egresslab::mesh {

std::string_view proxyKindName(ProxyKind kind) {
  switch (kind) {
    case ProxyKind::kIngressGateway:
      return "ingress-gateway";
    case ProxyKind::kEgressGateway:
      return "egress-gateway";
    case ProxyKind::kSidecar:
      return "sidecar";
  }
  return "?";
}

std::string_view downstreamTlsModeName(DownstreamTlsMode mode) {
  switch (mode) {
    case DownstreamTlsMode::kSimple:
      return "SIMPLE";
    case DownstreamTlsMode::kMutual:
      return "MUTUAL";
    case DownstreamTlsMode::kIstioMutual:
      return "ISTIO_MUTUAL";
    case DownstreamTlsMode::kOptionalMutual:
      return "OPTIONAL_MUTUAL";
    case DownstreamTlsMode::kPassthrough:
      return "PASSTHROUGH";
    case DownstreamTlsMode::kAutoPassthrough:
      return "AUTO_PASSTHROUGH";
  }
  return "?";
}

std::string_view filterChainKindName(FilterChainKind kind) {
  switch (kind) {
    case FilterChainKind::kHttp:
      return "http";
    case FilterChainKind::kTcpProxy:
      return "tcp_proxy";
    case FilterChainKind::kBlackHole:
      return "blackhole";
    case FilterChainKind::kPassthrough:
      return "passthrough";
    case FilterChainKind::kSniPassthrough:
      return "sni_passthrough";
  }
  return "?";
}

std::string_view listenerDirectionName(ListenerDirection d) {
  switch (d) {
    case ListenerDirection::kGateway:
      return "gateway";
    case ListenerDirection::kSidecarOutbound:
      return "outbound";
    case ListenerDirection::kSidecarVirtualOutbound:
      return "virtual-outbound";
    case ListenerDirection::kSidecarInbound:
      return "inbound";
  }
  return "?";
}

std::string_view clusterTypeName(ClusterType t) {
  switch (t) {
    case ClusterType::kEds:
      return "EDS";
    case ClusterType::kStrictDns:
      return "STRICT_DNS";
    case ClusterType::kStatic:
      return "STATIC";
    case ClusterType::kOriginalDst:
      return "ORIGINAL_DST";
    case ClusterType::kLogicalDns:
      return "LOGICAL_DNS";
  }
  return "?";
}

std::string_view upstreamProtocolName(UpstreamProtocol p) {
  switch (p) {
    case UpstreamProtocol::kHttp1:
      return "http1";
    case UpstreamProtocol::kHttp2:
      return "http2";
    case UpstreamProtocol::kTcp:
      return "tcp";
  }
  return "?";
}

std::string_view upstreamTlsModeName(UpstreamTlsMode mode) {
  switch (mode) {
    case UpstreamTlsMode::kSimple:
      return "SIMPLE";
    case UpstreamTlsMode::kMutual:
      return "MUTUAL";
    case UpstreamTlsMode::kIstioMutual:
      return "ISTIO_MUTUAL";
  }
  return "?";
}

std::string_view serverVerificationName(ServerVerification v) {
  switch (v) {
    case ServerVerification::kNone:
      return "none";
    case ServerVerification::kSystemCa:
      return "system";
    case ServerVerification::kCaFile:
      return "caCertificates";
    case ServerVerification::kMeshCa:
      return "mesh";
  }
  return "?";
}

const Cluster* ProxyConfig::findCluster(std::string_view name) const {
  auto it = clusterIndex_.find(std::string(name));
  return it == clusterIndex_.end() ? nullptr : &clusters[it->second];
}

const RouteConfig* ProxyConfig::findRouteConfig(std::string_view name) const {
  auto it = routeIndex_.find(std::string(name));
  return it == routeIndex_.end() ? nullptr : &routeConfigs[it->second];
}

const Listener* ProxyConfig::findListener(std::string_view name) const {
  for (const auto& l : listeners) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

void ProxyConfig::reindex() {
  clusterIndex_.clear();
  routeIndex_.clear();
  // First definition wins, as in Envoy's duplicate-name rejection.
  for (std::size_t i = 0; i < clusters.size(); ++i) clusterIndex_.emplace(clusters[i].name, i);
  for (std::size_t i = 0; i < routeConfigs.size(); ++i) {
    routeIndex_.emplace(routeConfigs[i].name, i);
  }
}

bool NotSimulatedNote::affects(std::string_view ns, std::string_view name) const {
  switch (reach) {
    case Reach::kEveryProxy:
      return true;
    case Reach::kNoProxy:
      return false;
    case Reach::kProxies:
      break;
  }
  const std::string id = std::string(ns) + "/" + std::string(name);
  return std::find(proxies.begin(), proxies.end(), id) != proxies.end();
}

std::string NotSimulatedNote::text() const { return ref + ": " + what; }

const ProxyConfig* CompiledMesh::findProxy(std::string_view nsOrNsName) const {
  auto slash = nsOrNsName.find('/');
  if (slash != std::string_view::npos) {
    return findProxy(nsOrNsName.substr(0, slash), nsOrNsName.substr(slash + 1));
  }
  const ProxyConfig* found = nullptr;
  for (const auto& p : proxies) {
    if (p.id.name != nsOrNsName) continue;
    if (found != nullptr) return nullptr;  // ambiguous
    found = &p;
  }
  return found;
}

const ProxyConfig* CompiledMesh::findProxy(std::string_view ns, std::string_view name) const {
  for (const auto& p : proxies) {
    if (p.id.ns == ns && p.id.name == name) return &p;
  }
  return nullptr;
}

const RegistryService* CompiledMesh::findService(std::string_view hostname) const {
  for (const auto& s : registry.services) {
    if (s.hostname == hostname) return &s;
  }
  return nullptr;
}

const WorkloadInstance* CompiledMesh::findWorkload(std::string_view ns,
                                                   std::string_view name) const {
  for (const auto& w : registry.workloads) {
    if (w.ns == ns && w.name == name) return &w;
  }
  return nullptr;
}

}  // namespace egresslab::mesh
