// Which namespaces see a config object (exportTo, docs/istio-behaviour.md §2), and istioctl's
// wildcard cover test for hosts.
// Pure functions over values as written; the analyzer and the compiler share them.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "harness/model/resources.h"

namespace egresslab::mesh {

// The Service annotation that carries a Kubernetes Service's exportTo.
inline constexpr std::string_view kExportToAnnotation = "networking.istio.io/exportTo";

// Where an object is visible. `all` = every namespace ("*", or exportTo unset: the mesh
// default). Otherwise exactly `namespaces` ("." already replaced by the owner's namespace;
// "~" exports to none).
struct ExportScope {
  bool all = true;
  std::set<std::string> namespaces;

  [[nodiscard]] bool visibleFrom(std::string_view ns) const {
    return all || namespaces.contains(std::string(ns));
  }
};

// exportTo of a VirtualService, ServiceEntry or DestinationRule as written, owned by
// `ownerNs` (empty = "default"). An empty list, or one containing "*", is `all`.
ExportScope exportScope(const std::vector<std::string>& exportTo, std::string_view ownerNs);

// A Kubernetes Service's scope, from its `networking.istio.io/exportTo` annotation
// (comma-separated, spaces ignored); no annotation is `all`.
ExportScope serviceExportScope(const model::Service& service);

// Host names: mesh::resolveHost (short names) and mesh::hostsOverlap (host.Name.Matches) are in
// policy.h.

// True when the wildcard-or-exact `pattern` covers every name `host` can stand for
// ("*.d" covers "a.d" and "*.b.d"; "a.d" covers only "a.d"): the suffix test istioctl's
// destination lookup uses for wildcard ServiceEntry hosts.
bool hostCovers(std::string_view pattern, std::string_view host);

}  // namespace egresslab::mesh
