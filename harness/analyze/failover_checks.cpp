// EgressLab's failover traps (docs/istio-behaviour.md §R5), read from the compiled mesh:
//   EGL030 — a DestinationRule sets locality failover (`failover` / `failoverPriority`) but its
//            clusters have no outlier detection: istiod applies failover only with outlier
//            detection, so Envoy never leaves priority 0 and the setting does nothing.
//   EGL031 — `failoverPriority` on a host whose clusters are DNS clusters (resolution: DNS
//            ServiceEntry → STRICT_DNS): istiod does not apply it there, only locality failover;
//            or on Istio before 1.12, which does not know the field.
#include <fmt/format.h>

#include "harness/analyze/checks.h"
#include "harness/mesh/policy.h"

namespace egresslab::analyze::detail {
namespace {

struct LocalityBlock {
  bool failover = false;
  bool failoverPriority = false;
};

LocalityBlock localityOf(const model::TrafficPolicy& tp) {
  LocalityBlock b;
  if (!tp.loadBalancer || !tp.loadBalancer->raw.is_object()) return b;
  const auto& raw = tp.loadBalancer->raw;
  auto it = raw.find("localityLbSetting");
  if (it == raw.end() || !it->is_object()) return b;
  if (it->value("enabled", true) == false) return b;
  auto f = it->find("failover");
  b.failover = f != it->end() && f->is_array() && !f->empty();
  auto fp = it->find("failoverPriority");
  b.failoverPriority = fp != it->end() && fp->is_array() && !fp->empty();
  return b;
}

}  // namespace

void runFailoverChecks(const Cluster& cluster, const AnalysisInput& /*input*/, Reporter& report) {
  const mesh::CompiledMesh* compiled = cluster.compiled();
  if (compiled == nullptr) return;
  for (const auto& dr : cluster.resources().destinationRules) {
    const std::string host = mesh::resolveHost(dr.host, namespaceOf(dr));
    auto check = [&](const model::TrafficPolicy& tp, const std::string* subset) {
      const LocalityBlock b = localityOf(tp);
      if (!b.failover && !b.failoverPriority) return;
      // The clusters istiod builds for this block: the host's, of the subset when it is one.
      std::vector<const mesh::Cluster*> clusters;
      for (const auto& proxy : compiled->proxies) {
        for (const auto& c : proxy.clusters) {
          if (c.serviceHost != host) continue;
          if (subset != nullptr && c.subset != *subset) continue;
          clusters.push_back(&c);
        }
      }
      if (clusters.empty()) return;
      const std::string path = tp.path + ".loadBalancer.localityLbSetting";
      const bool outlier = std::any_of(clusters.begin(), clusters.end(),
                                       [](const mesh::Cluster* c) { return c->outlierDetection; });
      if (!outlier) {
        report.egl("EGL030", Level::kWarning, originOf(dr), dr.origin.at(path),
                   fmt::format("{} sets locality failover but no outlierDetection: istiod applies "
                               "failover only with outlier detection, so traffic never leaves "
                               "the first priority and the setting does nothing",
                               path),
                   "§R5", "add trafficPolicy.outlierDetection (e.g. consecutive5xxErrors)");
      }
      if (!b.failoverPriority) return;
      const bool dns = std::all_of(clusters.begin(), clusters.end(), [](const mesh::Cluster* c) {
        return c->type == mesh::ClusterType::kStrictDns ||
               c->type == mesh::ClusterType::kLogicalDns;
      });
      if (!report.version().atLeast(1, 12)) {
        report.egl("EGL031", Level::kWarning, originOf(dr), dr.origin.at(path),
                   fmt::format("{}.failoverPriority needs Istio 1.12 or later; {} ignores it", path,
                               report.version().str()),
                   "§R5", "upgrade, or use locality failover (failover: from/to)");
      } else if (dns) {
        report.egl("EGL031", Level::kWarning, originOf(dr), dr.origin.at(path),
                   fmt::format("{}.failoverPriority is ignored for {}: its clusters are DNS "
                               "clusters (resolution: DNS), where istiod applies only locality "
                               "failover",
                               path, dr.host),
                   "§R5", "use resolution: STATIC endpoints with labels, or locality failover");
      }
    };
    if (dr.trafficPolicy) check(*dr.trafficPolicy, nullptr);
    for (const auto& s : dr.subsets) {
      if (s.trafficPolicy) check(*s.trafficPolicy, &s.name);
    }
  }
}

}  // namespace egresslab::analyze::detail
