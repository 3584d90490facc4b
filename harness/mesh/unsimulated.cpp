#include "harness/mesh/unsimulated.h"

#include <optional>
#include <string>

namespace egresslab::mesh {
namespace {

using Reach = NotSimulatedNote::Reach;

// The selector's labels; nullopt when the resource has no selector (namespace- or mesh-wide).
std::optional<model::Labels> selectorOf(const model::UnsimulatedResource& r) {
  const auto& spec = r.spec;
  const nlohmann::json* labels = nullptr;
  if (r.kind == "EnvoyFilter" || r.kind == "Sidecar") {
    if (spec.is_object() && spec.contains("workloadSelector") &&
        spec["workloadSelector"].is_object() && spec["workloadSelector"].contains("labels")) {
      labels = &spec["workloadSelector"]["labels"];
    }
  } else if (spec.is_object() && spec.contains("selector") && spec["selector"].is_object() &&
             spec["selector"].contains("matchLabels")) {
    labels = &spec["selector"]["matchLabels"];
  }
  if (labels == nullptr) return std::nullopt;
  model::Labels out;
  if (labels->is_object()) {
    for (const auto& [key, value] : labels->items()) {
      out[key] = value.is_string() ? value.get<std::string>() : value.dump();
    }
  }
  return out;
}

bool matches(const model::Labels& selector, const model::Labels& labels) {
  for (const auto& [key, value] : selector) {
    const auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

bool kindSelectsProxies(std::string_view kind) {
  return kind == "AuthorizationPolicy" || kind == "Telemetry" || kind == "WasmPlugin" ||
         kind == "ProxyConfig" || kind == "EnvoyFilter" || kind == "Sidecar";
}

}  // namespace

NotSimulatedNote unsimulatedResourceNote(const model::UnsimulatedResource& r,
                                         const std::vector<WorkloadInstance>& workloads) {
  NotSimulatedNote note;
  note.ref = r.ref();
  note.what = "not simulated";
  note.where = r.origin.pos;
  const bool targetRefs =
      r.spec.is_object() && (r.spec.contains("targetRef") || r.spec.contains("targetRefs"));
  if (!kindSelectsProxies(r.kind) || targetRefs) return note;  // kEveryProxy

  const std::string ns = r.meta.ns.empty() ? "default" : r.meta.ns;
  const bool root = ns == kRootNamespace;
  const auto selector = selectorOf(r);
  note.reach = Reach::kProxies;
  for (const auto& w : workloads) {
    if (!w.gateway && !w.injected) continue;  // no proxy
    if (w.gateway && r.kind == "Sidecar") continue;
    if (!root && w.ns != ns) continue;
    if (selector && !matches(*selector, w.labels)) continue;
    note.proxies.push_back(w.ns + "/" + w.name);
  }
  return note;
}

}  // namespace egresslab::mesh
