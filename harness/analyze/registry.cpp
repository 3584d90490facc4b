#include "harness/analyze/registry.h"

#include "harness/mesh/compile.h"
#include "harness/mesh/policy.h"

#include <fmt/format.h>

#include <algorithm>

namespace egresslab::analyze::detail {

std::string namespaceOf(const model::ResourceBase& r) {
  return r.meta.ns.empty() ? "default" : r.meta.ns;
}

std::string fullName(const model::ResourceBase& r) {
  // A nameless object (the seed's gateway IstioOperator) has no meaningful namespace either.
  if (r.meta.name.empty()) return "(unnamed)";
  return fmt::format("{}/{}", namespaceOf(r), r.meta.name);
}

std::string originOf(const model::ResourceBase& r) {
  // Cluster-scoped kinds have no namespace in istioctl's origin.
  if (r.kind == "Namespace") return fmt::format("Namespace {}", r.meta.name);
  return fmt::format("{} {}", r.kind, fullName(r));
}

bool hasPlaceholder(std::string_view text) {
  const auto open = text.find('<');
  return open != std::string_view::npos && text.find('>', open) != std::string_view::npos;
}

std::string fqdn(const std::string& host, const std::string& ns) {
  if (hasPlaceholder(host)) return host;
  return mesh::resolveHost(host, ns);
}

bool hostMatches(std::string_view a, std::string_view b) { return mesh::hostsOverlap(a, b); }

bool selectorMatches(const model::Labels& selector, const model::Labels& labels) {
  for (const auto& [key, value] : selector) {
    const auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

bool boundToMesh(const model::VirtualService& vs) {
  for (const std::string& g : vs.gateways) {
    if (g == "mesh") return true;
  }
  return vs.gateways.empty();
}

std::string selectorString(const model::Labels& selector) {
  std::string out;
  for (const auto& [key, value] : selector) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}={}", key, value);
  }
  return out;
}

Cluster::Cluster(const AnalysisInput& input)
    : resources_(input.resources),
      gatewayWorkloads_(model::deriveGatewayWorkloads(*input.resources, input.version)) {
  const model::ResourceSet& rs = *input.resources;
  for (const model::GatewayWorkload& gw : gatewayWorkloads_) {
    pods_.push_back({gw.name, gw.ns, gw.podLabels, true});
    // The chart's Service is named after the gateway and selects its pods (§10).
    services_.push_back({fmt::format("{}.{}.svc.cluster.local", gw.name, gw.ns),
                         gw.ns,
                         gw.podLabels,
                         gw.servicePorts,
                         false,
                         {}});
  }
  if (addsDefaultIngress(input)) {
    const model::Labels labels{{"istio", "ingressgateway"}};
    pods_.push_back({"istio-ingressgateway-dummypod", "istio-system", labels, true});
    std::vector<model::ServicePort> ports;
    for (const auto& [name, port] : {std::pair<const char*, std::uint32_t>{"http2", 80},
                                     {"https", 443},
                                     {"tcp", 31400},
                                     {"tls", 15443}}) {
      ports.push_back({name, port, port, "TCP", ""});
    }
    services_.push_back({"istio-ingressgateway.istio-system.svc.cluster.local",
                         "istio-system",
                         labels,
                         ports,
                         false,
                         {}});
  }
  for (const model::Deployment& d : rs.deployments) {
    pods_.push_back({d.meta.name, namespaceOf(d), d.pod.labels, false});
  }
  for (const model::Pod& p : rs.pods) {
    pods_.push_back({p.meta.name, namespaceOf(p), p.meta.labels, false});
  }
  for (const model::WorkloadSpec& w : input.workloads) {
    model::Labels labels = w.labels;
    if (labels.empty()) labels["app"] = w.name;
    pods_.push_back({w.name, w.ns.empty() ? "default" : w.ns, labels, false});
  }
  for (const model::Service& s : rs.services) {
    services_.push_back({fmt::format("{}.{}.svc.cluster.local", s.meta.name, namespaceOf(s)),
                         namespaceOf(s), s.selector, s.ports, false, mesh::serviceExportScope(s)});
  }
  for (const model::ServiceEntry& se : rs.serviceEntries) {
    std::vector<model::ServicePort> ports;
    for (const model::Port& p : se.ports) {
      ports.push_back({p.name, p.number, p.targetPort, "TCP", std::string(p.protocolText)});
    }
    for (const std::string& h : se.hosts) {
      services_.push_back({fqdn(h, namespaceOf(se)), namespaceOf(se), se.workloadSelector, ports,
                           true, mesh::exportScope(se.exportTo, namespaceOf(se))});
    }
  }
  mesh::CompileInput compileInput{rs, input.version, gatewayWorkloads_, input.workloads,
                                  {}, input.dns,     input.extraSecrets};
  if (auto compiledMesh = mesh::compileMesh(compileInput)) compiled_ = std::move(*compiledMesh);
  for (const model::Secret& s : rs.secrets) secrets_.insert({namespaceOf(s), s.meta.name});
  for (const model::SecretSpec& s : input.extraSecrets) {
    secrets_.insert({s.ns.empty() ? "default" : s.ns, s.name});
  }
}

const RegistryService* Cluster::lookup(const std::string& fqdnHost) const {
  for (const RegistryService& s : services_) {
    if (s.host == fqdnHost) return &s;
  }
  for (const RegistryService& s : services_) {
    if (s.serviceEntry && hostMatches(s.host, fqdnHost)) return &s;
  }
  return nullptr;
}

const RegistryService* Cluster::lookupFrom(const std::string& host, const std::string& sourceNs,
                                           const std::vector<std::string>& exportTo) const {
  const std::string full = fqdn(host, sourceNs);
  for (const RegistryService& s : services_) {
    if (s.host == full && s.scope.all) return &s;
  }
  // istioctl looks the host up in the scopes of the VirtualService's own exportTo ("." is its
  // namespace), or in its namespace when it has none.
  std::vector<std::string> scopes;
  for (const std::string& e : exportTo) scopes.push_back(e == "." ? sourceNs : e);
  if (scopes.empty()) scopes.push_back(sourceNs);
  for (const std::string& scope : scopes) {
    for (const RegistryService& s : services_) {
      if (s.host == full && !s.scope.all && s.scope.namespaces.contains(scope)) return &s;
    }
  }
  for (const RegistryService& s : services_) {
    if (!s.serviceEntry || s.host.empty() || s.host.front() != '*') continue;
    if (!s.scope.visibleFrom(sourceNs)) continue;
    if (mesh::hostCovers(s.host, host)) return &s;
  }
  return nullptr;
}

const model::AuthorizationPolicy* Cluster::authorizationPolicy(const std::string& ref) const {
  const model::AuthorizationPolicy* found = nullptr;
  for (const auto& candidate : resources_->authorizationPolicies) {
    if (candidate.ref() == ref) found = &candidate;
  }
  return found;
}

bool Cluster::secretExists(const std::string& ns, const std::string& name) const {
  // credentialName may be "ns/name" (ShortOrFullName).
  if (const auto slash = name.find('/'); slash != std::string::npos) {
    return secrets_.contains({name.substr(0, slash), name.substr(slash + 1)});
  }
  return secrets_.contains({ns, name});
}

std::vector<const PodInfo*> Cluster::podsSelectedBy(const model::Labels& selector) const {
  std::vector<const PodInfo*> out;
  for (const PodInfo& p : pods_) {
    if (selectorMatches(selector, p.labels)) out.push_back(&p);
  }
  return out;
}

std::vector<model::ServicePort> Cluster::servicePortsFor(const PodInfo& pod) const {
  std::vector<model::ServicePort> out;
  for (const RegistryService& s : services_) {
    if (s.serviceEntry || s.ns != pod.ns || s.selector.empty()) continue;
    if (!selectorMatches(s.selector, pod.labels)) continue;
    out.insert(out.end(), s.ports.begin(), s.ports.end());
  }
  return out;
}

}  // namespace egresslab::analyze::detail
