// Outbound clusters: one per service port and subset, with the DestinationRule that applies by
// namespace precedence, its TLS and load-balancing settings (docs/istio-behaviour.md §4, §6).
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "harness/mesh/compile_internal.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/policy.h"
#include "harness/mesh/unsimulated.h"

namespace egresslab::mesh::compile_detail {
namespace {

std::string stringAt(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// §R9 (pilot's shouldH2Upgrade): an `http` port's cluster speaks HTTP/2 when h2UpgradePolicy says
// UPGRADE — the DestinationRule's connectionPool.http (after precedence), else
// meshConfig.h2UpgradePolicy — and not with DO_NOT_UPGRADE or useClientProtocol. HTTP2/GRPC ports
// are HTTP/2 whatever the policy; TLS/TCP ports are not upgraded here (a DestinationRule UPGRADE
// on them is a notSimulated note, compile_notes.cpp).
bool h2Upgrade(Protocol port, const std::optional<model::ConnectionPoolSettings>& pool,
               const nlohmann::json& meshRaw) {
  if (port != Protocol::kHttp) return false;
  if (pool && pool->raw.is_object()) {
    if (const auto http = pool->raw.find("http"); http != pool->raw.end() && http->is_object()) {
      if (const auto ucp = http->find("useClientProtocol");
          ucp != http->end() && ucp->is_boolean() && ucp->get<bool>()) {
        return false;
      }
      const std::string policy = stringAt(*http, "h2UpgradePolicy");
      if (policy == "UPGRADE") return true;
      if (policy == "DO_NOT_UPGRADE") return false;
    }
  }
  return stringAt(meshRaw, "h2UpgradePolicy") == "UPGRADE";
}

}  // namespace

std::vector<std::string> Compiler::spiffeIds(const std::vector<Endpoint>& endpoints) {
  std::set<std::string> ids;
  for (const auto& e : endpoints) {
    if (!e.serviceAccount.empty() && !e.target.ns.empty()) {
      ids.insert(spiffeId(e.target.ns, e.serviceAccount));
    }
  }
  return {ids.begin(), ids.end()};
}

std::vector<Cluster> Compiler::outboundClusters(const std::string& proxyNs) const {
  std::vector<Cluster> out;
  for (const auto& svc : out_.registry.services) {
    // §4 DR lookup: proxy namespace, service namespace, root namespace (policy.h).
    const model::DestinationRule* dr = findDestinationRule(
        in_.resources.destinationRules, {svc.hostname, svc.ns, proxyNs, kRootNamespace});
    for (const auto& port : svc.ports) {
      std::vector<Endpoint> endpoints;
      for (const auto& e : svc.endpoints) {
        if (e.servicePort != port.port) continue;
        endpoints.push_back(e);
        // §6 EDS mtls_checker: an endpoint whose PeerAuthentication (workload, namespace or
        // mesh level, port-level included) is DISABLE loses its tlsMode, so auto mTLS sends
        // plaintext to it.
        if (e.target.kind == EndpointTarget::Kind::kWorkload) {
          const WorkloadInstance* wl = out_.findWorkload(e.target.ns, e.target.name);
          if (wl != nullptr && peerAuthMode(*wl, e.port) == model::MtlsMode::kDisable) {
            endpoints.back().tlsMode.clear();
          }
        }
      }
      auto build = [&](const model::Subset* subset) {
        Cluster c;
        c.serviceHost = svc.hostname;
        c.servicePort = port.port;
        c.subset = subset != nullptr ? subset->name : "";
        c.name = outboundClusterName(port.port, c.subset, svc.hostname);
        c.protocol = upstreamProtocolFor(port.protocol);
        c.origin = svc.origin;
        if (!svc.fromServiceEntry || svc.resolution == model::Resolution::kStatic) {
          c.type = ClusterType::kEds;
        } else if (svc.resolution == model::Resolution::kDns) {
          c.type = ClusterType::kStrictDns;
        } else if (svc.resolution == model::Resolution::kDnsRoundRobin) {
          c.type = ClusterType::kLogicalDns;
        } else {
          c.type = ClusterType::kOriginalDst;
        }
        // §4: subset clusters get the endpoints whose labels contain the subset's labels.
        for (const auto& e : endpoints) {
          if (subset == nullptr || selectorMatches(subset->labels, e.labels)) {
            c.endpoints.push_back(e);
          }
        }
        // §4, §11.6: a DNS (non-EDS) cluster with zero endpoints is never built; routes that
        // name it then hit "cluster not found".
        if ((c.type == ClusterType::kStrictDns || c.type == ClusterType::kLogicalDns) &&
            c.endpoints.empty()) {
          return;
        }
        EffectivePolicy policy =
            dr != nullptr ? mergeTrafficPolicy(*dr, subset, port.port) : EffectivePolicy{};
        // §4: the default LB applies unless the effective block sets one (a portLevelSettings
        // entry without loadBalancer drops the subset's ROUND_ROBIN).
        c.lbPolicy = policy.loadBalancer && !policy.loadBalancer->simple.empty()
                         ? envoyLbPolicy(policy.loadBalancer->simple)
                         : defaultLbPolicy(v_);
        if (h2Upgrade(port.protocol, policy.connectionPool, out_.meshConfig.raw)) {
          c.protocol = UpstreamProtocol::kHttp2;
        }
        if (policy.connectionPool && policy.connectionPool->connectTimeout) {
          c.connectTimeout = *policy.connectionPool->connectTimeout;
        }
        if (dr != nullptr) {
          c.tls = originationTls(
              policy, {dr->ref(), port.port, c.subset, svc.hostname, spiffeIds(c.endpoints), v_});
        }
        // §6 auto mTLS: without a DR tls setting, in-mesh services get a transport socket
        // match — ISTIO_MUTUAL for endpoints labelled tlsMode=istio, plaintext otherwise.
        const bool autoMtlsEnabled = out_.meshConfig.enableAutoMtls.value_or(true);
        // BestEffortInferServiceMTLSMode: a namespace-wide (else mesh-wide) PeerAuthentication
        // DISABLE for the service's namespace turns auto mTLS off for the cluster.
        if (!policy.tls && autoMtlsEnabled && svc.location == model::Location::kMeshInternal &&
            c.type != ClusterType::kOriginalDst &&
            inferredServiceMtls(svc.ns) != model::MtlsMode::kDisable) {
          c.autoMtls = true;
          UpstreamTls m;
          m.mode = UpstreamTlsMode::kIstioMutual;
          m.sni = fmt::format("outbound_.{}_.{}_.{}", port.port, c.subset, svc.hostname);
          m.verify = ServerVerification::kMeshCa;
          m.subjectAltNames = spiffeIds(c.endpoints);
          m.origin = "auto mTLS";
          c.autoMtlsTls = std::move(m);
        }
        out.push_back(std::move(c));
      };
      build(nullptr);
      if (dr != nullptr) {
        for (const auto& s : dr->subsets) build(&s);
      }
    }
  }
  Cluster blackhole;
  blackhole.name = kBlackHoleCluster;
  blackhole.type = ClusterType::kStatic;
  blackhole.protocol = UpstreamProtocol::kTcp;
  blackhole.lbPolicy = defaultLbPolicy(v_);
  blackhole.origin = "istiod (§1)";
  out.push_back(blackhole);
  Cluster passthrough;
  passthrough.name = kPassthroughCluster;
  passthrough.type = ClusterType::kOriginalDst;
  passthrough.protocol = UpstreamProtocol::kTcp;
  passthrough.lbPolicy = "CLUSTER_PROVIDED";
  passthrough.origin = "istiod (§1)";
  out.push_back(passthrough);
  return out;
}
}  // namespace egresslab::mesh::compile_detail
