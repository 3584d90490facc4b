// What the manifests ask for that the simulator does not model, as notes with the proxies they
// would change (docs/design.md "Nothing unmodelled passes silently").
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "harness/mesh/compile_internal.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/policy.h"
#include "harness/mesh/unsimulated.h"

namespace egresslab::mesh::compile_detail {

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
      if (h.fault) {
        note(vs.ref(), fmt::format("{}.fault (fault injection) is not simulated", h.path),
             vs.origin.at(h.path + ".fault"));
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
    if (!vs.tcp.empty()) {
      note(vs.ref(), "tcp routes are not simulated", vs.origin.at("spec.tcp"));
    }
    if (!vs.tls.empty()) {
      note(vs.ref(), "tls routes are simulated on gateway PASSTHROUGH servers only",
           vs.origin.at("spec.tls"));
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
    auto policyNotes = [&](const model::TrafficPolicy& tp) {
      auto one = [&](const auto& block, std::string_view what, const std::string& path) {
        if (block) note(dr.ref(), fmt::format("{} is not simulated", what), dr.origin.at(path));
      };
      one(tp.outlierDetection, tp.path + ".outlierDetection", tp.path + ".outlierDetection");
      one(tp.connectionPool, tp.path + ".connectionPool", tp.path + ".connectionPool");
      if (tp.loadBalancer && tp.loadBalancer->consistentHash) {
        note(dr.ref(), fmt::format("{}.loadBalancer.consistentHash is not simulated", tp.path),
             dr.origin.at(tp.path + ".loadBalancer"));
      }
      for (const auto& pl : tp.portLevelSettings) {
        one(pl.outlierDetection, pl.path + ".outlierDetection", pl.path + ".outlierDetection");
        one(pl.connectionPool, pl.path + ".connectionPool", pl.path + ".connectionPool");
      }
    };
    if (dr.trafficPolicy) policyNotes(*dr.trafficPolicy);
    for (const auto& s : dr.subsets) {
      if (s.trafficPolicy) policyNotes(*s.trafficPolicy);
    }
  }
  for (const auto& se : in_.resources.serviceEntries) exportNote(se, se.exportTo);
}
}  // namespace egresslab::mesh::compile_detail
