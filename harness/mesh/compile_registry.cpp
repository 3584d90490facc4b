// The registry istiod sees: pods, Kubernetes Services, ServiceEntries and their endpoints, and
// the names a pod's DNS answers (docs/istio-behaviour.md §3, §4).
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "harness/mesh/compile_internal.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/policy.h"
#include "harness/mesh/unsimulated.h"

namespace egresslab::mesh::compile_detail {

bool Compiler::namespaceInjected(const std::string& ns) const {
  for (const auto& n : in_.resources.namespaces) {
    if (n.meta.name != ns) continue;
    auto it = n.meta.labels.find("istio-injection");
    if (it != n.meta.labels.end()) return it->second == "enabled";
    return n.meta.labels.contains("istio.io/rev");
  }
  return false;
}

void Compiler::addWorkload(WorkloadInstance w) {
  w.ip = ipFrom("10.244", podCounter_++);
  if (w.injected) {
    // Injected pods carry the tlsMode label that drives auto mTLS (§6).
    w.labels.emplace("security.istio.io/tlsMode", "istio");
    w.labels.emplace("service.istio.io/canonical-name",
                     w.labels.contains("app") ? w.labels.at("app") : w.name);
  }
  out_.registry.workloads.push_back(std::move(w));
}

void Compiler::workloads() {
  for (const auto& gw : in_.gateways) {
    WorkloadInstance w;
    w.ns = gw.ns;
    w.name = gw.name;
    w.labels = gw.podLabels;
    w.serviceAccount = gw.name + "-service-account";
    w.gateway = true;
    w.egressGateway = gw.egress;
    w.injected = false;  // sidecar.istio.io/inject: "false" in the gateway charts (§1, §6)
    if (gw.replicas > 1) {
      noteAt(ProxyId{gw.ns, gw.name,
                     gw.egress ? ProxyKind::kEgressGateway : ProxyKind::kIngressGateway},
             fmt::format("Deployment {}/{}", gw.ns, gw.name),
             "replicas > 1 are simulated as one gateway pod");
    }
    addWorkload(std::move(w));
  }
  for (const auto& spec : in_.workloads) {
    WorkloadInstance w;
    w.ns = nsOrDefault(spec.ns);
    w.name = spec.name;
    w.labels = spec.labels.empty() ? Labels{{"app", spec.name}} : spec.labels;
    w.serviceAccount = spec.serviceAccount.empty() ? spec.name : spec.serviceAccount;
    w.injected = spec.injected.value_or(namespaceInjected(w.ns));
    addWorkload(std::move(w));
  }
  auto known = [&](const std::string& ns, const std::string& name) {
    return std::any_of(out_.registry.workloads.begin(), out_.registry.workloads.end(),
                       [&](const WorkloadInstance& w) { return w.ns == ns && w.name == name; });
  };
  auto fromPod = [&](const model::ResourceBase& r, const model::PodSpec& pod) {
    const std::string ns = nsOrDefault(r.meta.ns);
    if (known(ns, r.meta.name)) return;
    WorkloadInstance w;
    w.ns = ns;
    w.name = r.meta.name;
    w.labels = pod.labels;
    w.serviceAccount = pod.serviceAccountName.empty() ? "default" : pod.serviceAccountName;
    // The pod's sidecar.istio.io/inject annotation (or label) overrides the namespace label.
    std::optional<std::string> inject;
    if (auto a = pod.annotations.find("sidecar.istio.io/inject"); a != pod.annotations.end()) {
      inject = a->second;
    } else if (auto l = pod.labels.find("sidecar.istio.io/inject"); l != pod.labels.end()) {
      inject = l->second;
    }
    w.injected = inject ? *inject == "true" : namespaceInjected(ns);
    addWorkload(std::move(w));
  };
  for (const auto& d : in_.resources.deployments) fromPod(d, d.pod);
  for (const auto& p : in_.resources.pods) fromPod(p, p.pod);
}

Endpoint Compiler::podEndpoint(const WorkloadInstance& w, std::uint32_t servicePort,
                               std::uint32_t targetPort) const {
  Endpoint e;
  e.address = w.ip;
  e.port = targetPort;
  e.labels = w.labels;
  // §6: tlsMode comes from the pod label security.istio.io/tlsMode; gateway pods have none.
  auto tm = w.labels.find("security.istio.io/tlsMode");
  e.tlsMode = tm == w.labels.end() ? "" : tm->second;
  e.serviceAccount = w.serviceAccount;
  e.target.kind =
      w.gateway ? EndpointTarget::Kind::kGatewayWorkload : EndpointTarget::Kind::kWorkload;
  e.target.ns = w.ns;
  e.target.name = w.name;
  e.target.port = targetPort;
  e.servicePort = servicePort;
  return e;
}

void Compiler::addKubeService(RegistryService svc) {
  svc.hostname = serviceFqdn(svc.name, svc.ns);
  svc.address = ipFrom("10.96", serviceCounter_++);
  svc.resolution = model::Resolution::kStatic;
  svc.location = model::Location::kMeshInternal;
  for (const auto& w : out_.registry.workloads) {
    if (w.ns != svc.ns || svc.selector.empty() || !selectorMatches(svc.selector, w.labels)) {
      continue;
    }
    for (const auto& p : svc.ports) svc.endpoints.push_back(podEndpoint(w, p.port, p.targetPort));
  }
  out_.registry.services.push_back(std::move(svc));
}

bool Compiler::serviceExists(const std::string& ns, const std::string& name) const {
  return std::any_of(out_.registry.services.begin(), out_.registry.services.end(),
                     [&](const RegistryService& s) {
                       return !s.fromServiceEntry && s.ns == ns && s.name == name;
                     });
}

void Compiler::services() {
  // §10 chart facts: each gateway gets a Service named after the component, ports from the
  // chart (80→8080 http2, 443→8443 https, +15443 tls on 1.8) via model::GatewayWorkload.
  for (const auto& gw : in_.gateways) {
    RegistryService svc;
    svc.ns = gw.ns;
    svc.name = gw.name;
    svc.selector = gatewayServiceSelector(gw.podLabels);
    svc.labels = svc.selector;
    for (const auto& p : gw.servicePorts) {
      svc.ports.push_back({p.name, p.port, p.targetPort.value_or(p.port),
                           servicePortProtocol(p.name, p.appProtocol)});
    }
    svc.origin = gw.source != nullptr ? fmt::format("{} {}", gw.source->ref(), gw.componentPath)
                                      : std::string("default profile istio-ingressgateway");
    addKubeService(std::move(svc));
  }
  for (const auto& s : in_.resources.services) {
    RegistryService svc;
    svc.ns = nsOrDefault(s.meta.ns);
    svc.name = s.meta.name;
    if (serviceExists(svc.ns, svc.name)) continue;
    svc.selector = s.selector;
    svc.labels = s.meta.labels;
    for (const auto& p : s.ports) {
      svc.ports.push_back({p.name, p.port, p.targetPort.value_or(p.port),
                           servicePortProtocol(p.name, p.appProtocol)});
    }
    svc.origin = s.ref();
    if (s.type == "ExternalName") {
      note(s.ref(), "ExternalName Services are not simulated", s.origin.pos);
      continue;
    }
    addKubeService(std::move(svc));
  }
  // Scenario workloads get a Service like samples/sleep: port 80 named `http` (§3: this is why
  // the sidecar has an explicit HTTP route config "80").
  for (const auto& spec : in_.workloads) {
    const std::string ns = nsOrDefault(spec.ns);
    if (serviceExists(ns, spec.name)) continue;
    RegistryService svc;
    svc.ns = ns;
    svc.name = spec.name;
    svc.selector = spec.labels.empty() ? Labels{{"app", spec.name}} : spec.labels;
    svc.labels = svc.selector;
    svc.ports.push_back({"http", 80, 80, Protocol::kHttp});
    svc.origin = fmt::format("scenario workload {}/{}", ns, spec.name);
    addKubeService(std::move(svc));
  }
  for (const auto& se : in_.resources.serviceEntries) serviceEntry(se);
}

EndpointTarget Compiler::upstreamTarget(std::string_view host, std::uint32_t port) const {
  EndpointTarget t;
  for (const auto& u : in_.upstreams) {
    if (u.port != port) continue;
    if (u.host == host || dnsAddressOf(u.host) == host) {
      t.kind = EndpointTarget::Kind::kUpstream;
      t.host = u.host;
      t.port = u.port;
      return t;
    }
  }
  t.kind = EndpointTarget::Kind::kUnknown;
  t.host = std::string(host);
  t.port = port;
  return t;
}

std::string Compiler::dnsAddressOf(const std::string& host) const {
  auto it = in_.dns.find(host);
  if (it != in_.dns.end()) return it->second;
  for (std::size_t i = 0; i < in_.upstreams.size(); ++i) {
    if (in_.upstreams[i].host == host) return ipFrom("198.51", static_cast<int>(i));
  }
  return {};
}

void Compiler::serviceEntry(const model::ServiceEntry& se) {
  const std::string ns = nsOrDefault(se.meta.ns);
  if (!se.workloadSelector.empty()) {
    note(se.ref(), "ServiceEntry workloadSelector is not simulated",
         se.origin.at("spec.workloadSelector"));
  }
  for (const auto& host : se.hosts) {
    if (out_.findService(host) != nullptr) {
      note(se.ref(),
           fmt::format("host {} is already defined; this ServiceEntry's copy is "
                       "not merged (first definition wins)",
                       host),
           se.origin.pos);
      continue;
    }
    RegistryService svc;
    svc.hostname = host;
    svc.ns = ns;
    svc.name = se.meta.name;
    svc.fromServiceEntry = true;
    svc.resolution = se.resolution;
    svc.location = se.location;
    svc.address = se.addresses.empty() ? "" : se.addresses.front();
    svc.origin = se.ref();
    for (const auto& p : se.ports) {
      svc.ports.push_back({p.name, p.number, p.targetPort.value_or(p.number),
                           p.protocol == Protocol::kUnsupported ? Protocol::kTcp : p.protocol});
    }
    for (const auto& p : svc.ports) {
      if (se.endpoints.empty()) {
        if (se.resolution == model::Resolution::kDns ||
            se.resolution == model::Resolution::kDnsRoundRobin) {
          // §4: a DNS ServiceEntry without endpoints has one endpoint, the host itself, no
          // labels — served by the scenario's upstream mock of that host:port.
          Endpoint e;
          e.address = host;
          e.port = p.targetPort;
          e.target = upstreamTarget(host, p.targetPort);
          e.servicePort = p.port;
          svc.endpoints.push_back(std::move(e));
        }
        continue;
      }
      for (const auto& we : se.endpoints) {
        Endpoint e;
        e.address = we.address;
        auto named = we.ports.find(p.name);
        e.port = named != we.ports.end() ? named->second : p.targetPort;
        e.labels = we.labels;
        e.serviceAccount = we.serviceAccount;
        auto tm = we.labels.find("security.istio.io/tlsMode");
        e.tlsMode = tm == we.labels.end() ? "" : tm->second;
        e.target = upstreamTarget(we.address, e.port);
        e.servicePort = p.port;
        svc.endpoints.push_back(std::move(e));
      }
    }
    out_.registry.services.push_back(std::move(svc));
  }
}

void Compiler::dnsView() {
  // §3: pods resolve cluster Services and public names; VS hosts and ServiceEntry hosts are
  // not resolvable through Istio (DNS capture is off by default).
  for (const auto& s : out_.registry.services) {
    if (!s.fromServiceEntry && !s.address.empty()) out_.dns.records[s.hostname] = s.address;
  }
  for (const auto& u : in_.upstreams) out_.dns.records[u.host] = dnsAddressOf(u.host);
  for (const auto& [host, ip] : in_.dns) out_.dns.records[host] = ip;
}
}  // namespace egresslab::mesh::compile_detail
