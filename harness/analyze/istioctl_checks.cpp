// istioctl-compatible checks (IST codes). Each follows the analyzer of the same name in
// istio/istio pkg/config/analysis/analyzers (§8): same trigger, same template, same origin.
#include <fmt/format.h>
#include <algorithm>
#include <map>
#include <set>

#include "harness/analyze/checks.h"

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

// destinationhosts.go and subsets.go: every route destination must be a known host, and a
// named subset must exist in a DestinationRule for that host.
void checkVirtualServiceDestinations(const Cluster& cluster, Reporter& report) {
  const ResourceSet& rs = cluster.resources();
  for (const model::VirtualService& vs : rs.virtualServices) {
    for (const DestinationAt& d : destinationsOf(vs)) {
      const std::string& host = d.destination->host;
      // A host still holding a `<placeholder>` is unknown, not missing.
      if (host.empty() || hasPlaceholder(host)) continue;
      const std::string full = fqdn(host, namespaceOf(vs));
      if (cluster.lookup(full) == nullptr) {
        report.ist("IST0101", vs, d.path + ".host",
                   fmt::format("Referenced host not found: {}", quoted(host)));
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

// gateway.go (selector, ports) and secret.go (credentialName in the gateway pod's namespace).
void checkGateways(const Cluster& cluster, Reporter& report) {
  const model::IstioVersion& v = report.version();
  for (const model::Gateway& gw : cluster.resources().gateways) {
    const std::string selector = selectorString(gw.selector);
    const std::string selectorPath =
        gw.selector.empty() ? "spec.selector" : "spec.selector." + gw.selector.begin()->first;
    const std::vector<const PodInfo*> pods = cluster.podsSelectedBy(gw.selector);
    if (pods.empty()) {
      report.ist("IST0101", gw, selectorPath,
                 fmt::format("Referenced selector not found: {}", quoted(selector)));
    } else {
      // Ports: ≤1.18 the Service port; 1.19+ also the targetPort (port mapping, §5);
      // IST0104 until 1.19, IST0162 from 1.20 (§8).
      std::set<std::uint32_t> ports;
      for (const PodInfo* pod : pods) {
        for (const model::ServicePort& sp : cluster.servicePortsFor(*pod)) {
          if (sp.protocol != "TCP" && !sp.protocol.empty()) continue;
          ports.insert(sp.port);
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

// conflictinggateway.go (1.11+): same selector, same port, matching hosts.
void checkConflictingGateways(const Cluster& cluster, Reporter& report) {
  const auto& gateways = cluster.resources().gateways;
  for (const model::Gateway& gw : gateways) {
    const std::string selector = selectorString(gw.selector);
    for (const model::GatewayServer& server : gw.servers) {
      std::set<std::string> conflicting;
      for (const model::Gateway& other : gateways) {
        if (fullName(other) == fullName(gw) || selectorString(other.selector) != selector) {
          continue;
        }
        for (const model::GatewayServer& os : other.servers) {
          if (os.port.number != server.port.number) continue;
          for (const std::string& h : server.hosts) {
            for (const std::string& oh : os.hosts) {
              if (hostMatches(h, oh)) conflicting.insert(fullName(other));
            }
          }
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

// conflictingmeshgatewayhosts.go: two VirtualServices bound to the mesh for one host.
void checkMeshHostConflicts(const Cluster& cluster, Reporter& report) {
  std::map<std::string, std::vector<const model::VirtualService*>> byHost;
  for (const model::VirtualService& vs : cluster.resources().virtualServices) {
    if (!boundToMesh(vs)) continue;
    std::set<std::string> hosts;
    for (const std::string& h : vs.hosts) hosts.insert(fqdn(h, namespaceOf(vs)));
    for (const std::string& h : hosts) byHost[h].push_back(&vs);
  }
  for (const auto& [host, list] : byHost) {
    if (list.size() < 2) continue;
    std::vector<std::string> names;
    for (const auto* vs : list) names.push_back(fullName(*vs));
    std::sort(names.begin(), names.end());
    for (const auto* vs : list) {
      report.ist("IST0109", *vs, "spec.hosts",
                 fmt::format("The VirtualServices {} associated with mesh gateway define the same "
                             "host {} which can lead to undefined behavior. This can be fixed by "
                             "merging the conflicting VirtualServices into a single resource.",
                             fmt::join(names, ","), host));
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
  for (const model::Namespace& ns : rs.namespaces) {
    declared.insert(ns.meta.name);
    if (kSkipped.contains(ns.meta.name)) continue;
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
