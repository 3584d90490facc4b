// What the manifests ask for that the simulator does not model, as notes with the proxies they
// would change (docs/design.md "Nothing unmodelled passes silently").
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
namespace {

// A loadBalancer block (or meshConfig) with a non-empty localityLbSetting.distribute.
bool distributesByLocality(const nlohmann::json& block) {
  if (!block.is_object()) return false;
  const auto l = block.find("localityLbSetting");
  if (l == block.end() || !l->is_object()) return false;
  const auto d = l->find("distribute");
  return d != l->end() && d->is_array() && !d->empty();
}

}  // namespace

void Compiler::notSimulated() {
  for (const auto& r : in_.resources.unsimulated) {
    note(unsimulatedResourceNote(r, out_.registry.workloads));
  }
  auto exportNote = [&](const model::ResourceBase& r, const std::vector<std::string>& exportTo) {
    if (exportTo.empty()) return;
    if (exportTo.size() == 1 && exportTo.front() == "*") return;
    note(r.ref(), "exportTo is not simulated (visible to every namespace)",
         r.origin.at("spec.exportTo"));
  };
  for (const auto& vs : in_.resources.virtualServices) {
    exportNote(vs, vs.exportTo);
    if (vs.isDelegate()) {
      note(vs.ref(), "delegate VirtualService (no hosts) is not simulated", vs.origin.pos);
    }
    for (const auto& h : vs.http) {
      // §R7: abort by HTTP status and fixed delays are simulated; a gRPC-status abort is not.
      if (h.fault && h.fault->abort && h.fault->abort->grpcStatus) {
        note(vs.ref(),
             fmt::format("{}.fault.abort.grpcStatus (gRPC fault abort) is not simulated", h.path),
             vs.origin.at(h.path + ".fault.abort"));
      }
      // §R2.2: `retryRemoteLocalities: true` adds Envoy's previous_priorities retry priority
      // (retries leave the priority levels already tried); the simulated retries pick hosts by
      // the levels' normal priority load, so a retry that real Envoy sends to another locality
      // may stay in the first one here.
      if (h.retries && h.retries->attempts > 0 &&
          h.retries->retryRemoteLocalities.value_or(false)) {
        note(vs.ref(),
             fmt::format("{}.retries.retryRemoteLocalities (retries to other localities' "
                         "priorities) is not simulated",
                         h.path),
             vs.origin.at(h.path + ".retries.retryRemoteLocalities"));
      }
      // Envoy answers the caller from the route's own destination; the mirrored copy only adds
      // traffic at the mirror target, which no expectation can observe in the simulation.
      for (const auto& m : h.mirrors) {
        note(vs.ref(),
             fmt::format("{} (traffic mirroring) is not simulated: no copy is sent", m.path),
             vs.origin.at(m.path), NotSimulatedNote::Reach::kNoProxy);
      }
      if (h.corsPolicy) {
        note(vs.ref(),
             fmt::format("{}.corsPolicy (CORS preflight and headers) is not simulated", h.path),
             vs.origin.at(h.path + ".corsPolicy"));
      }
    }
    // tcp and tls routes are simulated on sidecars (mesh) and tls routes on gateway PASSTHROUGH
    // servers; what they cannot express here is said.
    for (const auto* l4 : {&vs.tcp, &vs.tls}) {
      for (const auto& r : *l4) {
        if (r.route.size() > 1) {
          note(vs.ref(),
               fmt::format("{}: weighted destinations are not simulated; all traffic goes to the "
                           "first",
                           r.path),
               vs.origin.at(r.path));
        }
        for (const auto& m : r.match) {
          if (!m.destinationSubnets.empty()) {
            note(vs.ref(), fmt::format("{}: destinationSubnets matches are not simulated", r.path),
                 vs.origin.at(r.path));
          }
        }
      }
    }
    const bool atGateway = std::any_of(vs.gateways.begin(), vs.gateways.end(),
                                       [](const std::string& g) { return g != "mesh"; });
    if (!vs.tcp.empty() && atGateway) {
      note(vs.ref(), "tcp routes at gateways are not simulated (sidecars route them)",
           vs.origin.at("spec.tcp"));
    }
  }
  for (std::size_t i = 0; i < in_.resources.destinationRules.size(); ++i) {
    const auto& dr = in_.resources.destinationRules[i];
    // DR exportTo is modelled by the lookup (policy.h). Same host in one namespace: istiod
    // merges the rules (subsets added, the first traffic policy kept); the simulator uses the
    // first only.
    for (std::size_t j = 0; j < i; ++j) {
      const auto& first = in_.resources.destinationRules[j];
      if (nsOrDefault(first.meta.ns) == nsOrDefault(dr.meta.ns) &&
          resolveHost(first.host, nsOrDefault(first.meta.ns)) ==
              resolveHost(dr.host, nsOrDefault(dr.meta.ns))) {
        note(dr.ref(),
             fmt::format("merging with {} (same host {}) is not simulated; only {} applies",
                         first.ref(), dr.host, first.ref()),
             dr.origin.pos);
        break;
      }
    }
    if (!dr.workloadSelector.empty()) {
      note(dr.ref(), "DestinationRule workloadSelector is not simulated",
           dr.origin.at("spec.workloadSelector"));
    }
    // Outlier detection and the connection-pool limits are modelled (endpoints.h, §R3, §R6);
    // the fields beyond them are not.
    auto resilienceNotes = [&](const std::string& path,
                               const std::optional<model::OutlierDetection>& od,
                               const std::optional<model::ConnectionPoolSettings>& cp) {
      auto keys = [&](const nlohmann::json& raw, const std::string& at,
                      std::initializer_list<const char*> names) {
        if (!raw.is_object()) return;
        for (const char* k : names) {
          if (raw.contains(k)) {
            note(dr.ref(), fmt::format("{}.{} is not simulated", at, k),
                 dr.origin.at(at + "." + k));
          }
        }
      };
      if (od) {
        keys(od->raw, path + ".outlierDetection",
             {"splitExternalLocalOriginErrors", "consecutiveLocalOriginFailures"});
      }
      if (cp && cp->raw.is_object()) {
        if (auto tcp = cp->raw.find("tcp"); tcp != cp->raw.end()) {
          keys(*tcp, path + ".connectionPool.tcp",
               {"idleTimeout", "maxConnectionDuration", "tcpKeepalive"});
        }
        if (auto http = cp->raw.find("http"); http != cp->raw.end()) {
          keys(*http, path + ".connectionPool.http",
               {"idleTimeout", "useClientProtocol", "maxConcurrentStreams"});
          // h2UpgradePolicy is modelled on `http` ports (compile_clusters.cpp); an UPGRADE that
          // could reach a TLS/TCP port of the host is not (newer Istio upgrades those too).
          if (http->is_object() && http->value("h2UpgradePolicy", nlohmann::json()) == "UPGRADE") {
            const RegistryService* svc = out_.findService(dr.host);
            bool nonHttp = svc == nullptr;
            if (svc != nullptr) {
              for (const auto& sp : svc->ports) {
                if (!isHttpProtocol(sp.protocol)) nonHttp = true;
              }
            }
            if (nonHttp) {
              note(dr.ref(),
                   fmt::format("{}.connectionPool.http.h2UpgradePolicy UPGRADE on a non-HTTP port "
                               "is not simulated",
                               path),
                   dr.origin.at(path + ".connectionPool.http.h2UpgradePolicy"));
            }
          }
        }
      }
    };
    // §R5: localityLbSetting.distribute (locality weights, applied by istiod with or without
    // outlier detection) is not modelled: traffic would spread by the plain load balancer.
    auto distributeNote = [&](const std::string& path,
                              const std::optional<model::LoadBalancerSettings>& lb) {
      if (lb && distributesByLocality(lb->raw)) {
        note(dr.ref(),
             fmt::format("{}.loadBalancer.localityLbSetting.distribute (locality weights) is not "
                         "simulated",
                         path),
             dr.origin.at(path + ".loadBalancer.localityLbSetting"));
      }
    };
    auto policyNotes = [&](const model::TrafficPolicy& tp) {
      resilienceNotes(tp.path, tp.outlierDetection, tp.connectionPool);
      if (tp.loadBalancer && tp.loadBalancer->consistentHash) {
        note(dr.ref(), fmt::format("{}.loadBalancer.consistentHash is not simulated", tp.path),
             dr.origin.at(tp.path + ".loadBalancer"));
      }
      distributeNote(tp.path, tp.loadBalancer);
      for (const auto& pl : tp.portLevelSettings) {
        resilienceNotes(pl.path, pl.outlierDetection, pl.connectionPool);
        distributeNote(pl.path, pl.loadBalancer);
      }
    };
    if (dr.trafficPolicy) policyNotes(*dr.trafficPolicy);
    for (const auto& s : dr.subsets) {
      if (s.trafficPolicy) policyNotes(*s.trafficPolicy);
    }
  }
  for (const auto& se : in_.resources.serviceEntries) exportNote(se, se.exportTo);
  // §R2.2: the mesh-wide default retry policy (1.12+) may ask for retryRemoteLocalities too.
  if (const auto byDefault = meshDefaultRetry(out_.meshConfig, v_);
      byDefault && byDefault->attempts > 0 && byDefault->retryRemoteLocalities.value_or(false)) {
    for (const auto& iop : in_.resources.istioOperators) {
      if (iop.profile == "empty") continue;
      note(iop.ref(),
           "meshConfig.defaultHttpRetryPolicy.retryRemoteLocalities (retries to other "
           "localities' priorities) is not simulated",
           iop.origin.at("spec.meshConfig.defaultHttpRetryPolicy"));
      break;
    }
  }
  if (distributesByLocality(out_.meshConfig.raw)) {
    for (const auto& iop : in_.resources.istioOperators) {
      if (iop.profile == "empty") continue;
      note(iop.ref(), "meshConfig.localityLbSetting.distribute (locality weights) is not simulated",
           iop.origin.at("spec.meshConfig.localityLbSetting"));
      break;
    }
  }
}
}  // namespace egresslab::mesh::compile_detail
