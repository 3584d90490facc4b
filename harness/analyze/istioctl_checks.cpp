// istioctl-compatible checks (IST codes). Each follows the analyzer of the same name in
// istio/istio pkg/config/analysis/analyzers (§8): same trigger, same template, same origin.
#include <fmt/format.h>
#include <algorithm>
#include <map>
#include <set>

#include "harness/analyze/checks.h"
#include "harness/mesh/visibility.h"

namespace egresslab::analyze::detail {
namespace {

using model::ResourceSet;

// Go's %v of a []string: "[a b]".
std::string goList(const std::vector<std::string>& items) {
  return fmt::format("[{}]", fmt::join(items, " "));
}

// Go's %q of a plain string.
std::string quoted(const std::string& s) { return fmt::format("\"{}\"", s); }

bool isMesh(const std::string& gw) { return gw == "mesh"; }

// The top-level gateways as istiod resolved them, paired with their written form and index.
struct GatewayRef {
  std::string resolved;
  std::string written;
  std::size_t index = 0;
};

std::vector<GatewayRef> gatewayRefs(const model::VirtualService& vs) {
  std::vector<GatewayRef> out;
  for (std::size_t i = 0; i < vs.gateways.size(); ++i) {
    const std::string written =
        i < vs.gatewaysAsWritten.size() ? vs.gatewaysAsWritten[i] : vs.gateways[i];
    out.push_back({vs.gateways[i], written, i});
  }
  return out;
}

const model::Gateway* findGateway(const ResourceSet& rs, const std::string& nsName) {
  for (const model::Gateway& g : rs.gateways) {
    if (fullName(g) == nsName) return &g;
  }
  return nullptr;
}

// vsHostInGateway (gateways.go): the Gateway's server hosts visible to the VS namespace
// ("host", "*/host", "<vsns>/host", "./host" for the Gateway's own namespace) matched against
// the VS hosts. IST0132, 1.9+ (§2).
bool vsHostInGateway(const model::Gateway* gw, const std::vector<std::string>& vsHosts,
                     const std::string& vsNs) {
  if (gw == nullptr) return false;
  const std::string gwNs = namespaceOf(*gw);
  for (const model::GatewayServer& server : gw->servers) {
    for (const std::string& written : server.hosts) {
      std::string host = written;
      if (const auto slash = written.find('/'); slash != std::string::npos) {
        std::string ns = written.substr(0, slash);
        if (ns == ".") ns = gwNs;
        if (ns != "*" && ns != vsNs) continue;
        host = written.substr(slash + 1);
      }
      for (const std::string& vsHost : vsHosts) {
        if (hostMatches(host, vsHost)) return true;
      }
    }
  }
  return false;
}

void checkVirtualServiceGateways(const Cluster& cluster, Reporter& report) {
  const ResourceSet& rs = cluster.resources();
  for (const model::VirtualService& vs : rs.virtualServices) {
    for (const GatewayRef& ref : gatewayRefs(vs)) {
      if (isMesh(ref.resolved)) continue;
      const std::string path = fmt::format("spec.gateways[{}]", ref.index);
      const model::Gateway* gw = findGateway(rs, ref.resolved);
      if (gw == nullptr) {
        report.ist("IST0101", vs, path,
                   fmt::format("Referenced gateway not found: {}", quoted(ref.written)));
      }
      // Since 1.9 the same loop reports IST0132 (also for a missing gateway, §2).
      if (!vsHostInGateway(gw, vs.hosts, namespaceOf(vs))) {
        report.ist("IST0132", vs, path,
                   fmt::format("one or more host {} defined in VirtualService {} not found in "
                               "Gateway {}.",
                               goList(vs.hosts), fullName(vs), ref.resolved));
      }
    }
  }
}

struct DestinationAt {
  const model::Destination* destination;
  std::string path;  // "spec.http[0].route[1].destination"
};

std::vector<DestinationAt> destinationsOf(const model::VirtualService& vs) {
  std::vector<DestinationAt> out;
  auto add = [&](const std::string& routePath, const std::vector<model::RouteDestination>& rds) {
    for (std::size_t j = 0; j < rds.size(); ++j) {
      out.push_back({&rds[j].destination, fmt::format("{}.route[{}].destination", routePath, j)});
    }
  };
  for (const model::HttpRoute& r : vs.http) add(r.path, r.route);
  for (const model::L4Route& r : vs.tls) add(r.path, r.route);
  for (const model::L4Route& r : vs.tcp) add(r.path, r.route);
  return out;
}

bool drHasSubset(const ResourceSet& rs, const std::string& fqdnHost, const std::string& subset) {
  for (const model::DestinationRule& dr : rs.destinationRules) {
    if (fqdn(dr.host, namespaceOf(dr)) != fqdnHost) continue;
    for (const model::Subset& s : dr.subsets) {
      if (s.name == subset) return true;
    }
  }
  return false;
}

// destinationhosts.go and destinationrules.go: every route destination must be a host visible
// to the VirtualService (exportTo, docs/istio-behaviour.md §2), a destination port must be one
// of that host's ports, and a named subset must exist in a DestinationRule for that host.
void checkVirtualServiceDestinations(const Cluster& cluster, Reporter& report) {
  const ResourceSet& rs = cluster.resources();
  for (const model::VirtualService& vs : rs.virtualServices) {
    for (const DestinationAt& d : destinationsOf(vs)) {
      const std::string& host = d.destination->host;
      // A host still holding a `<placeholder>` is unknown, not missing.
      if (host.empty() || hasPlaceholder(host)) continue;
      const std::string full = fqdn(host, namespaceOf(vs));
      const RegistryService* svc = cluster.lookupFrom(host, namespaceOf(vs), vs.exportTo);
      if (svc == nullptr) {
        report.ist("IST0101", vs, d.path + ".host",
                   fmt::format("Referenced host not found: {}", quoted(host)));
      } else if (d.destination->port) {
        const std::uint32_t port = *d.destination->port;
        const bool known = std::any_of(svc->ports.begin(), svc->ports.end(),
                                       [&](const model::ServicePort& p) { return p.port == port; });
        if (!known) {
          report.ist("IST0101", vs, d.path + ".host",
                     fmt::format("Referenced host:port not found: {}",
                                 quoted(fmt::format("{}:{}", host, port))));
        }
      }
      const std::string& subset = d.destination->subset;
      if (!subset.empty() && !hasPlaceholder(subset) && !drHasSubset(rs, full, subset)) {
        report.ist("IST0101", vs, d.path + ".subset",
                   fmt::format("Referenced host+subset in destinationrule not found: {}",
                               quoted(fmt::format("{}+{}", host, subset))));
      }
    }
  }
}

// The release that made istioctl's gateway port check accept the Service port as well as the
// targetPort: backported to 1.21.4 and 1.22.2, in every 1.23+ (patch versions matter).
bool gatewayAcceptsEitherPort(const model::IstioVersion& v) {
  if (v.atLeast(1, 23)) return true;
  if (v.major == 1 && v.minor == 22) return v.patch >= 2;
  if (v.major == 1 && v.minor == 21) return v.patch >= 4;
  return false;
}

// gateway.go (selector, ports) and secret.go (credentialName in the gateway pod's namespace).
void checkGateways(const Cluster& cluster, Reporter& report) {
  const model::IstioVersion& v = report.version();
  for (const model::Gateway& gw : cluster.resources().gateways) {
    const std::string selector = selectorString(gw.selector);
    const std::string selectorPath =
        gw.selector.empty() ? "spec.selector" : "spec.selector." + gw.selector.begin()->first;
    const std::vector<const PodInfo*> pods = cluster.podsSelectedBy(gw.selector);
    if (pods.empty()) {
      Message* m = report.ist("IST0101", gw, selectorPath,
                              fmt::format("Referenced selector not found: {}", quoted(selector)));
      // No pod runs the Gateway's servers: requests for its hosts find no listener (§2).
      if (m != nullptr) {
        for (const model::GatewayServer& server : gw.servers) {
          m->affectedHosts.insert(m->affectedHosts.end(), server.hosts.begin(), server.hosts.end());
        }
      }
    } else {
      // Ports of the Services selecting the pods (docs/istio-behaviour.md §5, §8): through
      // 1.18 the Service port; 1.19.0–1.21.3 and 1.22.0–1.22.1 only the targetPort (the port
      // when none is set); 1.21.4+, 1.22.2+ and 1.23+ either. IST0104 until 1.19, IST0162 from
      // 1.20.
      const bool targetPortOnly = v.atLeast(1, 19) && !gatewayAcceptsEitherPort(v);
      std::set<std::uint32_t> ports;
      for (const PodInfo* pod : pods) {
        for (const model::ServicePort& sp : cluster.servicePortsFor(*pod)) {
          if (sp.protocol != "TCP" && !sp.protocol.empty()) continue;
          if (!targetPortOnly) ports.insert(sp.port);
          if (v.atLeast(1, 19)) ports.insert(sp.targetPort.value_or(sp.port));
        }
      }
      for (const model::GatewayServer& server : gw.servers) {
        if (ports.contains(server.port.number)) continue;
        if (v.atLeast(1, 20)) {
          report.ist("IST0162", gw, selectorPath,
                     fmt::format("The gateway is listening on a target port (port {}) that is not "
                                 "defined in the Service associated with its workload instances "
                                 "(Pod selector {}). If you need to access the gateway port "
                                 "through the gateway Service, it will not be available.",
                                 server.port.number, selector));
        } else {
          report.ist("IST0104", gw, selectorPath,
                     fmt::format("The gateway refers to a port that is not exposed on the "
                                 "workload (pod selector {}; port {})",
                                 selector, server.port.number));
        }
      }
    }
    // The secret must live where the gateway pods run, not where the Gateway is (§5).
    std::set<std::string> podNamespaces;
    for (const PodInfo* pod : pods) podNamespaces.insert(pod->ns);
    const std::string secretNs =
        podNamespaces.size() == 1 ? *podNamespaces.begin() : namespaceOf(gw);
    for (std::size_t i = 0; i < gw.servers.size(); ++i) {
      const model::GatewayServer& server = gw.servers[i];
      if (!server.tls || server.tls->credentialName.empty()) continue;
      const std::string& cn = server.tls->credentialName;
      if (hasPlaceholder(cn)) continue;  // unknown, not missing
      if (!cluster.secretExists(secretNs, cn)) {
        report.ist("IST0101", gw, fmt::format("spec.servers[{}].tls.credentialName", i),
                   fmt::format("Referenced credentialName not found: {}", quoted(cn)));
      }
    }
  }
}

// conflictinggateway.go (1.11+), by version (docs/istio-behaviour.md §8):
// - 1.11–1.23: the same selector (as a string), the same port, and overlapping hosts
//   (wildcards, mesh::hostsOverlap);
// - 1.24+: selectors that are equal, or where one contains the other and some pod carries
//   both; hosts compared exactly with the same `bind`; through 1.24.x the port is not
//   compared (any server of the other Gateway), from 1.25 it is.
void checkConflictingGateways(const Cluster& cluster, Reporter& report) {
  const model::IstioVersion& v = report.version();
  const bool sameWorkload = v.atLeast(1, 24);
  const bool comparePort = !v.atLeast(1, 24) || v.atLeast(1, 25);
  const auto& gateways = cluster.resources().gateways;
  auto selectsSamePods = [&](const model::Gateway& a, const model::Gateway& b) {
    const std::string sa = selectorString(a.selector);
    const std::string sb = selectorString(b.selector);
    if (sa == sb) return true;
    if (!sameWorkload) return false;
    if (sa.find(sb) == std::string::npos && sb.find(sa) == std::string::npos) return false;
    for (const PodInfo* pod : cluster.podsSelectedBy(a.selector)) {
      if (selectorMatches(b.selector, pod->labels)) return true;
    }
    return false;
  };
  auto hostsConflict = [&](const model::GatewayServer& s, const model::GatewayServer& o) {
    for (const std::string& h : s.hosts) {
      for (const std::string& oh : o.hosts) {
        if (sameWorkload ? (h == oh && s.bind == o.bind) : hostMatches(h, oh)) return true;
      }
    }
    return false;
  };
  for (const model::Gateway& gw : gateways) {
    const std::string selector = selectorString(gw.selector);
    for (const model::GatewayServer& server : gw.servers) {
      std::set<std::string> conflicting;
      for (const model::Gateway& other : gateways) {
        if (fullName(other) == fullName(gw) || !selectsSamePods(gw, other)) continue;
        for (const model::GatewayServer& os : other.servers) {
          if (comparePort && os.port.number != server.port.number) continue;
          if (hostsConflict(server, os)) conflicting.insert(fullName(other));
        }
      }
      if (conflicting.empty()) continue;
      report.ist("IST0145", gw, server.path,
                 fmt::format("Conflict with gateways {} (workload selector {}, port {}, hosts {}).",
                             fmt::join(conflicting, ","), selector, server.port.number,
                             fmt::join(server.hosts, ",")));
    }
  }
}

// conflictingmeshgatewayhosts.go: VirtualServices bound to the mesh, grouped by
// "scope/fqdn" where scope is "*" when the VS is exported to every namespace. Through 1.14 the
// scope is otherwise the VS namespace and only identical keys conflict, one message per key.
// From 1.15 each exportTo entry is a scope ("." = the VS namespace), a scoped key also
// conflicts with every "*"-scoped VS whose host overlaps it (wildcards, mesh::hostsOverlap),
// and each VirtualService is reported once. The message names the key (docs/istio-behaviour.md
// §2).
void checkMeshHostConflicts(const Cluster& cluster, Reporter& report) {
  const bool perExportTo = report.version().atLeast(1, 15);
  struct Key {
    std::string scope;
    std::string host;
    auto operator<=>(const Key&) const = default;
  };
  std::map<Key, std::vector<const model::VirtualService*>> byKey;
  for (const model::VirtualService& vs : cluster.resources().virtualServices) {
    if (!boundToMesh(vs)) continue;
    const std::string ns = namespaceOf(vs);
    const mesh::ExportScope scope = mesh::exportScope(vs.exportTo, ns);
    std::set<std::string> scopes;
    if (scope.all) {
      scopes.insert("*");
    } else if (perExportTo) {
      for (const std::string& e : vs.exportTo) scopes.insert(e == "." ? ns : e);
    } else {
      scopes.insert(ns);
    }
    for (const std::string& sc : scopes) {
      for (const std::string& h : vs.hosts) {
        auto& list = byKey[{sc, fqdn(h, ns)}];
        if (std::find(list.begin(), list.end(), &vs) == list.end()) list.push_back(&vs);
      }
    }
  }
  std::set<const model::VirtualService*> reported;
  for (const auto& [key, direct] : byKey) {
    std::vector<const model::VirtualService*> list = direct;
    if (perExportTo && key.scope != "*") {
      for (const auto& [other, vss] : byKey) {
        if (other.scope != "*" || !mesh::hostsOverlap(key.host, other.host)) continue;
        list.insert(list.end(), vss.begin(), vss.end());
      }
    }
    if (list.size() < 2) continue;
    std::vector<std::string> names;
    for (const auto* vs : list) names.push_back(fullName(*vs));
    const std::string scoped = fmt::format("{}/{}", key.scope, key.host);
    for (const auto* vs : list) {
      if (perExportTo && !reported.insert(vs).second) continue;
      report.ist("IST0109", *vs, "metadata.name",
                 fmt::format("The VirtualServices {} associated with mesh gateway define the same "
                             "host {} which can lead to undefined behavior. This can be fixed by "
                             "merging the conflicting VirtualServices into a single resource.",
                             fmt::join(names, ","), scoped));
    }
  }
}

std::string_view clientTlsModeName(model::ClientTlsMode mode) {
  switch (mode) {
    case model::ClientTlsMode::kDisable:
      return "DISABLE";
    case model::ClientTlsMode::kSimple:
      return "SIMPLE";
    case model::ClientTlsMode::kMutual:
      return "MUTUAL";
    case model::ClientTlsMode::kIstioMutual:
      return "ISTIO_MUTUAL";
  }
  return "DISABLE";
}

bool originates(const std::optional<model::ClientTls>& tls) {
  return tls &&
         (tls->mode == model::ClientTlsMode::kSimple || tls->mode == model::ClientTlsMode::kMutual);
}

// ca-certificates.go: the top-level tls and the top-level portLevelSettings only — TLS in a
// subset (the seed's DestinationRule) triggers neither code (§8).
void checkCaCertificates(const Cluster& cluster, Reporter& report) {
  const bool skipCredentialWithSelector = report.version().atLeast(1, 24);
  for (const model::DestinationRule& dr : cluster.resources().destinationRules) {
    if (!dr.trafficPolicy) continue;
    auto exempt = [&](const model::ClientTls& tls) {
      return !tls.caCertificates.empty() ||
             (skipCredentialWithSelector && !tls.credentialName.empty() &&
              !dr.workloadSelector.empty());
    };
    const model::TrafficPolicy& tp = *dr.trafficPolicy;
    if (originates(tp.tls) && !exempt(*tp.tls)) {
      report.ist(
          "IST0128", dr, tp.path + ".tls",
          fmt::format("DestinationRule {} in namespace {} has TLS mode set to {} but no "
                      "caCertificates are set to validate server identity for host: {}",
                      fullName(dr), namespaceOf(dr), clientTlsModeName(tp.tls->mode), dr.host));
    }
    for (const model::PortTrafficPolicy& p : tp.portLevelSettings) {
      if (!originates(p.tls) || exempt(*p.tls)) continue;
      // istioctl prints the PortSelector proto as text: "number:443".
      report.ist("IST0129", dr, p.path + ".tls",
                 fmt::format("DestinationRule {} in namespace {} has TLS mode set to {} but no "
                             "caCertificates are set to validate server identity for host: {} "
                             "at port number:{}",
                             fullName(dr), namespaceOf(dr), clientTlsModeName(p.tls->mode), dr.host,
                             p.port));
    }
  }
}

// destinationrule/subset.go (1.27+): unknown DR host (IST0174); a subset whose selector
// (ServiceEntry workloadSelector ∪ subset labels) matches no pod (IST0173). The pods are
// those the manifests create, including derived gateway pods (§8).
void checkDestinationRuleHosts(const Cluster& cluster, Reporter& report) {
  if (!report.version().atLeast(1, 27)) return;
  for (const model::DestinationRule& dr : cluster.resources().destinationRules) {
    if (hasPlaceholder(dr.host)) continue;
    const RegistryService* svc = cluster.lookup(fqdn(dr.host, namespaceOf(dr)));
    if (svc == nullptr) {
      report.ist("IST0174", dr, "spec.host",
                 fmt::format("The host {} defined in the DestinationRule does not match any "
                             "services in the mesh.",
                             dr.host));
      continue;
    }
    for (const model::Subset& subset : dr.subsets) {
      model::Labels selector = svc->selector;
      for (const auto& [k, val] : subset.labels) selector[k] = val;
      if (!cluster.podsSelectedBy(selector).empty()) continue;
      report.ist("IST0173", dr, subset.path,
                 fmt::format("The Subset {} defined in the DestinationRule does not select any "
                             "pods. Which may lead to 503 UH (NoHealthyUpstream).",
                             subset.name));
    }
  }
}

// injection.go: every non-system namespace without an injection label (Info).
void checkNamespaceInjection(const Cluster& cluster, const AnalysisInput& input, Reporter& report) {
  static const std::set<std::string> kSkipped = {"kube-system", "kube-public", "kube-node-lease",
                                                 "local-path-storage", "istio-system"};
  auto message = [](const std::string& ns) {
    return fmt::format(
        "The namespace is not enabled for Istio injection. Run 'kubectl label "
        "namespace {} istio-injection=enabled' to enable it, or 'kubectl label "
        "namespace {} istio-injection=disabled' to explicitly mark it as not "
        "needing injection.",
        ns, ns);
  };
  const ResourceSet& rs = cluster.resources();
  std::set<std::string> declared;
  // Since 1.18 a namespace in ambient mode needs no injection.
  const bool ambientSkipped = report.version().atLeast(1, 18);
  for (const model::Namespace& ns : rs.namespaces) {
    declared.insert(ns.meta.name);
    if (kSkipped.contains(ns.meta.name)) continue;
    if (ambientSkipped) {
      const auto mode = ns.meta.labels.find("istio.io/dataplane-mode");
      if (mode != ns.meta.labels.end() && mode->second == "ambient") continue;
    }
    if (ns.meta.labels.contains("istio-injection") || ns.meta.labels.contains("istio.io/rev")) {
      continue;
    }
    report.ist("IST0102", ns, "", message(ns.meta.name));
  }
  // Namespaces that only exist implicitly (kubectl create ns) but run application pods.
  auto implicitNamespace = [&](const std::string& ns, const model::ResourceBase* r,
                               const SourcePos& where) {
    if (declared.contains(ns) || kSkipped.contains(ns)) return;
    declared.insert(ns);
    model::Namespace synthetic;
    synthetic.kind = "Namespace";
    synthetic.meta.name = ns;
    synthetic.origin.pos = r != nullptr ? r->origin.pos : where;
    report.ist("IST0102", synthetic, "", message(ns));
  };
  for (const model::Deployment& d : rs.deployments) implicitNamespace(namespaceOf(d), &d, {});
  for (const model::Pod& p : rs.pods) implicitNamespace(namespaceOf(p), &p, {});
  for (const model::WorkloadSpec& w : input.workloads) {
    if (w.injected.has_value()) continue;  // injection decided per pod, not by the namespace
    implicitNamespace(w.ns.empty() ? "default" : w.ns, nullptr, w.pos);
  }
}

// Istio's own validation rules that are about meaning rather than shape (the loader rejects
// shape errors with exit 2): reported as IST0106 like `istioctl analyze` does.
void checkSchemaRules(const Cluster& cluster, Reporter& report) {
  const ResourceSet& rs = cluster.resources();
  for (const model::VirtualService& vs : rs.virtualServices) {
    const bool mesh = boundToMesh(vs);
    for (std::size_t i = 0; i < vs.hosts.size(); ++i) {
      if (mesh && vs.hosts[i] == "*") {
        report.ist("IST0106", vs, fmt::format("spec.hosts[{}]", i),
                   "Schema validation error: wildcard host * is not allowed for virtual services "
                   "bound to the mesh gateway");
      }
    }
  }
  for (const model::Gateway& gw : rs.gateways) {
    std::set<std::string> portNames;
    for (const model::GatewayServer& s : gw.servers) {
      if (!s.port.name.empty() && !portNames.insert(s.port.name).second) {
        report.ist("IST0106", gw, s.path + ".port.name",
                   fmt::format("Schema validation error: port names in servers must be unique: "
                               "duplicate name {}",
                               s.port.name));
      }
      const bool terminates =
          s.port.protocol == model::Protocol::kHttps || s.port.protocol == model::Protocol::kTls;
      if (terminates && !s.tls) {
        report.ist("IST0106", gw, s.path,
                   "Schema validation error: server must have TLS settings for HTTPS/TLS "
                   "protocols");
      }
      if (s.tls && s.tls->mode &&
          (*s.tls->mode == model::ServerTlsMode::kSimple ||
           *s.tls->mode == model::ServerTlsMode::kMutual) &&
          s.tls->credentialName.empty() && s.tls->serverCertificate.empty()) {
        report.ist("IST0106", gw, s.path + ".tls",
                   "Schema validation error: SIMPLE TLS requires a credentialName or a "
                   "serverCertificate and privateKey");
      }
    }
  }
  for (const model::DestinationRule& dr : rs.destinationRules) {
    std::set<std::string> names;
    for (const model::Subset& s : dr.subsets) {
      if (!names.insert(s.name).second) {
        report.ist("IST0106", dr, s.path + ".name",
                   fmt::format("Schema validation error: duplicate subset names: {}", s.name));
      }
    }
  }
}

}  // namespace

void runIstioctlChecks(const Cluster& cluster, const AnalysisInput& input, Reporter& report) {
  checkSchemaRules(cluster, report);
  checkVirtualServiceGateways(cluster, report);
  checkVirtualServiceDestinations(cluster, report);
  checkGateways(cluster, report);
  checkConflictingGateways(cluster, report);
  checkMeshHostConflicts(cluster, report);
  checkCaCertificates(cluster, report);
  checkDestinationRuleHosts(cluster, report);
  checkNamespaceInjection(cluster, input, report);
}

}  // namespace egresslab::analyze::detail
