#include "harness/analyze/registry.h"

#include <fmt/format.h>

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
  if (host.empty() || host.find('.') != std::string::npos || host.front() == '*' ||
      hasPlaceholder(host)) {
    return host;
  }
  return fmt::format("{}.{}.svc.cluster.local", host, ns);
}

namespace {
bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
}  // namespace

bool hostMatches(std::string_view a, std::string_view b) {
  const bool aWild = !a.empty() && a.front() == '*';
  const bool bWild = !b.empty() && b.front() == '*';
  if (aWild) {
    if (bWild) {
      return a.size() > b.size() ? endsWith(a.substr(1), b.substr(1))
                                 : endsWith(b.substr(1), a.substr(1));
    }
    return endsWith(b, a.substr(1));
  }
  if (bWild) return endsWith(a, b.substr(1));
  return a == b;
}

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
    services_.push_back({fmt::format("{}.{}.svc.cluster.local", gw.name, gw.ns), gw.ns,
                         gw.podLabels, gw.servicePorts, false});
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
                         namespaceOf(s), s.selector, s.ports, false});
  }
  for (const model::ServiceEntry& se : rs.serviceEntries) {
    std::vector<model::ServicePort> ports;
    for (const model::Port& p : se.ports) {
      ports.push_back({p.name, p.number, p.targetPort, "TCP", std::string(p.protocolText)});
    }
    for (const std::string& h : se.hosts) {
      services_.push_back(
          {fqdn(h, namespaceOf(se)), namespaceOf(se), se.workloadSelector, ports, true});
    }
  }
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
