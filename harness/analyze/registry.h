// The cluster the analysed manifests would create, as the checks need it: the service
// registry (Kubernetes Services, gateway Services derived from IstioOperators, ServiceEntry
// hosts), pods with their labels, secrets, and Istio's host-name rules (§2, §5).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "harness/analyze/analyzer.h"
#include "harness/mesh/config.h"
#include "harness/mesh/visibility.h"
#include "harness/model/gateway_workloads.h"
#include "harness/model/resources.h"

namespace egresslab::analyze::detail {

// A metadata.namespace as Kubernetes applies it: empty means "default".
std::string namespaceOf(const model::ResourceBase& r);
// "ns/name" (istioctl's FullName).
std::string fullName(const model::ResourceBase& r);
// "Kind ns/name", "Namespace name" — istioctl's origin.
std::string originOf(const model::ResourceBase& r);
// True when the text still holds an unresolved `<placeholder>` (raw manifests).
bool hasPlaceholder(std::string_view text);
// A short host ("reviews") resolved in `ns` to "reviews.ns.svc.cluster.local"; anything with
// a dot, or a wildcard, is already a fully-qualified name.
std::string fqdn(const std::string& host, const std::string& ns);
// istio host.Name.Matches (mesh::hostsOverlap): either side may be a wildcard.
bool hostMatches(std::string_view a, std::string_view b);
// Kubernetes label selector semantics: every selector label present with that value.
bool selectorMatches(const model::Labels& selector, const model::Labels& labels);
// True when the VirtualService applies to sidecars: `mesh` listed, or no gateways (§2).
bool boundToMesh(const model::VirtualService& vs);
// k8s labels.SelectorFromSet(...).String(): "k1=v1,k2=v2", sorted by key.
std::string selectorString(const model::Labels& selector);

struct RegistryService {
  std::string host;  // fully qualified
  std::string ns;
  model::Labels selector;  // Service selector / ServiceEntry workloadSelector
  std::vector<model::ServicePort> ports;
  bool serviceEntry = false;
  // Namespaces that see it: ServiceEntry exportTo, Service annotation (mesh::exportScope).
  mesh::ExportScope scope;
};

struct PodInfo {
  std::string name;
  std::string ns;
  model::Labels labels;
  bool gateway = false;
};

class Cluster {
 public:
  explicit Cluster(const AnalysisInput& input);

  [[nodiscard]] const model::ResourceSet& resources() const { return *resources_; }
  [[nodiscard]] const std::vector<model::GatewayWorkload>& gatewayWorkloads() const {
    return gatewayWorkloads_;
  }
  [[nodiscard]] const std::vector<PodInfo>& pods() const { return pods_; }
  [[nodiscard]] const std::vector<RegistryService>& services() const { return services_; }
  // The mesh the simulator would run (mesh::compileMesh over the same input), or nullptr when
  // it does not compile; checks that predict data-plane behaviour read it.
  [[nodiscard]] const mesh::CompiledMesh* compiled() const {
    return compiled_ ? &*compiled_ : nullptr;
  }

  // The registry entry for a fully-qualified host: an exact host first, then a wildcard
  // ServiceEntry host that matches it; nullptr when none.
  [[nodiscard]] const RegistryService* lookup(const std::string& fqdnHost) const;
  // istioctl's destination lookup (GetDestinationHost) for `host` as written in a
  // VirtualService of namespace `sourceNs` with `exportTo`: an exact host visible to every
  // namespace; else one visible to `sourceNs` (or, when the VirtualService has exportTo, to one
  // of its entries); else a wildcard ServiceEntry host visible to every namespace or to
  // `sourceNs` that covers it. nullptr when none.
  [[nodiscard]] const RegistryService* lookupFrom(const std::string& host,
                                                  const std::string& sourceNs,
                                                  const std::vector<std::string>& exportTo) const;
  [[nodiscard]] bool secretExists(const std::string& ns, const std::string& name) const;
  // The AuthorizationPolicy a compiled policy came from (mesh::AuthzPolicy::origin is its
  // ref()), or nullptr.
  [[nodiscard]] const model::AuthorizationPolicy* authorizationPolicy(const std::string& ref) const;
  // Pods a Gateway selector picks, in every namespace (istiod's default).
  [[nodiscard]] std::vector<const PodInfo*> podsSelectedBy(const model::Labels& selector) const;
  // Ports of the Services (input or derived) that select `pod`, in the pod's namespace.
  [[nodiscard]] std::vector<model::ServicePort> servicePortsFor(const PodInfo& pod) const;

 private:
  const model::ResourceSet* resources_;
  std::vector<model::GatewayWorkload> gatewayWorkloads_;
  std::vector<PodInfo> pods_;
  std::vector<RegistryService> services_;
  std::set<std::pair<std::string, std::string>> secrets_;
  std::optional<mesh::CompiledMesh> compiled_;
};

}  // namespace egresslab::analyze::detail
