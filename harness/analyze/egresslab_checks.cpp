// EgressLab's own checks (EGL codes): the traps of the egress-gateway pattern that
// `istioctl analyze` does not catch. Each names the docs/istio-behaviour.md section that explains
// the behaviour and gives a one-line fix; the simulator reproduces each failure.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>

#include "harness/analyze/checks.h"
#include "harness/mesh/compile.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/policy.h"
#include "harness/mesh/probe_command.h"
#include "harness/mesh/visibility.h"

namespace egresslab::analyze::detail {
namespace {

using model::ClientTlsMode;
using model::ResourceSet;

std::string_view modeName(ClientTlsMode mode) {
  switch (mode) {
    case ClientTlsMode::kDisable:
      return "DISABLE";
    case ClientTlsMode::kSimple:
      return "SIMPLE";
    case ClientTlsMode::kMutual:
      return "MUTUAL";
    case ClientTlsMode::kIstioMutual:
      return "ISTIO_MUTUAL";
  }
  return "DISABLE";
}

// Where an upstream TLS block was written: mesh::UpstreamTls::origin is
// "DestinationRule ns/name spec.….tls"; the DestinationRule and the path.
struct TlsOrigin {
  const model::DestinationRule* rule = nullptr;
  std::string path;
};

TlsOrigin tlsOrigin(const ResourceSet& rs, const std::string& origin) {
  for (const model::DestinationRule& dr : rs.destinationRules) {
    const std::string prefix = dr.ref() + " ";
    if (origin.starts_with(prefix)) return {&dr, origin.substr(prefix.size())};
  }
  return {};
}

// The outbound cluster the compiled mesh routes (host, subset, port) to, in the first proxy
// that has it (egress gateways first: that is where the seed originates TLS). With no port,
// the only port the host has.
const mesh::Cluster* outboundCluster(const mesh::CompiledMesh& compiled, const std::string& host,
                                     const std::string& subset, std::optional<std::uint32_t> port) {
  const mesh::Cluster* found = nullptr;
  std::set<std::uint32_t> ports;
  for (const bool egressFirst : {true, false}) {
    for (const mesh::ProxyConfig& proxy : compiled.proxies) {
      const mesh::WorkloadInstance* w = compiled.findWorkload(proxy.id.ns, proxy.id.name);
      if (egressFirst != (w != nullptr && w->egressGateway)) continue;
      for (const mesh::Cluster& c : proxy.clusters) {
        if (c.serviceHost != host || c.subset != subset) continue;
        if (port && c.servicePort != *port) continue;
        ports.insert(c.servicePort);
        if (found == nullptr) found = &c;
      }
    }
    if (found != nullptr) break;
  }
  return ports.size() == 1 ? found : nullptr;
}

// EGL001 — TLS origination without `sni`, reached with another Host (docs/istio-behaviour.md
// §4). Reads the compiled mesh: the cluster's upstream TLS (DestinationRule precedence, merge
// and port-level blocks as mesh decides them) and mesh::upstreamTlsFor for the SNI and the names
// verified for a request with that Host. Error only when the handshake verifies the server
// certificate against the wrong Host (auto SAN, 1.21+); Warning when the wrong SNI is sent but
// the certificate is checked against explicit subjectAltNames or not at all (the upstream
// decides what it serves for that name); Info when no SNI is sent (≤1.20).
void checkSniTrap(const Cluster& cluster, Reporter& report) {
  const mesh::CompiledMesh* compiled = cluster.compiled();
  if (compiled == nullptr) return;
  const model::IstioVersion& v = report.version();
  std::set<std::string> reported;
  for (const model::VirtualService& vs : cluster.resources().virtualServices) {
    const std::string vsNs = namespaceOf(vs);
    for (const model::HttpRoute& route : vs.http) {
      for (const model::RouteDestination& rd : route.route) {
        const model::Destination& d = rd.destination;
        if (d.host.empty() || hasPlaceholder(d.host)) continue;
        const std::string destHost = fqdn(d.host, vsNs);
        // The Host header the origination sees: a VS host other than the destination.
        std::string otherHost;
        for (const std::string& h : vs.hosts) {
          if (!hostMatches(fqdn(h, vsNs), destHost)) {
            otherHost = h;
            break;
          }
        }
        if (otherHost.empty()) continue;
        const mesh::Cluster* c = outboundCluster(*compiled, destHost, d.subset, d.port);
        if (c == nullptr || !c->tls || !c->tls->sni.empty()) continue;
        if (c->tls->mode == mesh::UpstreamTlsMode::kIstioMutual) continue;
        const mesh::Endpoint endpoint = c->endpoints.empty() ? mesh::Endpoint{} : c->endpoints[0];
        // The route's rewrite.authority is the Host upstream; from the version where auto
        // SNI/SAN follow it (mesh::autoSniFollowsHostRewrite), it is what the handshake uses.
        const std::string rewritten = route.rewrite ? route.rewrite->authority : std::string();
        const auto eff = mesh::upstreamTlsFor(*c, endpoint, otherHost, rewritten);
        if (!eff) continue;
        if (!rewritten.empty() && mesh::autoSniFollowsHostRewrite(v) &&
            hostMatches(fqdn(rewritten, vsNs), destHost)) {
          continue;  // the rewrite already names the destination: no trap
        }
        const TlsOrigin where = tlsOrigin(cluster.resources(), c->tls->origin);
        if (where.rule == nullptr) continue;
        const model::DestinationRule& dr = *where.rule;
        if (!reported.insert(fullName(dr) + "|" + where.path + "|" + otherHost).second) continue;
        const std::string target = fmt::format(
            "{}{} port {}", d.host, d.subset.empty() ? "" : fmt::format(" (subset {})", d.subset),
            c->servicePort);
        const std::string prefix = fmt::format(
            "DestinationRule {} originates TLS ({}) to {} without sni, and VirtualService {} "
            "routes requests with Host \"{}\" to it: ",
            fullName(dr), mesh::upstreamTlsModeName(c->tls->mode), target, fullName(vs), otherHost);
        const bool verifiesHost =
            eff->verify != mesh::ServerVerification::kNone &&
            std::find(eff->verifySubjectAltNames.begin(), eff->verifySubjectAltNames.end(),
                      otherHost) != eff->verifySubjectAltNames.end();
        Level level = Level::kInfo;
        std::string consequence;
        if (eff->sni.empty()) {
          consequence = fmt::format(
              "on {}.{} no SNI is sent at all (servers that need SNI fail or serve a default "
              "certificate), and upgrading to 1.21+ breaks it with a 503 (auto SNI and "
              "certificate verification against \"{}\")",
              v.major, v.minor, otherHost);
        } else if (verifiesHost) {
          level = Level::kError;
          consequence = fmt::format(
              "since 1.21 auto SNI sends \"{}\" as the SNI and the server certificate is "
              "verified against it, so the handshake fails and the egress gateway answers 503 "
              "(CERTIFICATE_VERIFY_FAILED)",
              eff->sni);
        } else {
          level = Level::kWarning;
          consequence = fmt::format(
              "since 1.21 auto SNI sends \"{}\" as the SNI ({}), so the upstream sees the "
              "wrong server name and answers only if it serves that name or a default "
              "certificate",
              eff->sni,
              eff->verify == mesh::ServerVerification::kNone
                  ? "verification is skipped"
                  : fmt::format("the certificate is verified against subjectAltNames {}",
                                fmt::join(eff->verifySubjectAltNames, ", ")));
        }
        Message* m = report.egl("EGL001", level, originOf(dr), dr.origin.at(where.path),
                                prefix + consequence, "§4",
                                fmt::format("set `sni: {}` in this tls block.", d.host));
        if (m != nullptr && level == Level::kError) m->affectedHosts = {otherHost};
      }
    }
  }
}

// EGL002 — portLevelSettings replaces the enclosing policy as a block (§4).
void checkPortLevelReplacement(const Cluster& cluster, Reporter& report) {
  const model::IstioVersion& v = report.version();
  const std::string defaultLb = mesh::defaultLbPolicy(v);
  for (const model::DestinationRule& dr : cluster.resources().destinationRules) {
    // What is set beside the portLevelSettings entry but missing from the policy mesh merges
    // for that port (mesh::mergeTrafficPolicy: the entry replaces the block).
    auto check = [&](const model::TrafficPolicy& tp, const model::Subset* subset,
                     const std::string& where) {
      for (const model::PortTrafficPolicy& p : tp.portLevelSettings) {
        const mesh::EffectivePolicy eff = mesh::mergeTrafficPolicy(dr, subset, p.port);
        std::vector<std::string> dropped;
        std::vector<std::string> fallbacks;  // what each dropped field falls back to
        bool onlyDefaultLb = true;
        if (tp.loadBalancer && !eff.loadBalancer) {
          const std::string lb =
              tp.loadBalancer->simple.empty() ? "as written" : tp.loadBalancer->simple;
          dropped.push_back(fmt::format("loadBalancer ({})", lb));
          fallbacks.push_back(
              fmt::format("load balancer {} on {}.{}", defaultLb, v.major, v.minor));
          if (tp.loadBalancer->simple != defaultLb) onlyDefaultLb = false;
        }
        if (tp.connectionPool && !eff.connectionPool) {
          dropped.push_back("connectionPool");
          fallbacks.push_back("Envoy's default connection limits");
          onlyDefaultLb = false;
        }
        if (tp.outlierDetection && !eff.outlierDetection) {
          dropped.push_back("outlierDetection");
          fallbacks.push_back("no outlier detection");
          onlyDefaultLb = false;
        }
        if (tp.tls && !eff.tls) {
          dropped.push_back(fmt::format("tls ({})", modeName(tp.tls->mode)));
          fallbacks.push_back("no TLS origination: plaintext to the upstream");
          onlyDefaultLb = false;
        }
        if (dropped.empty()) continue;
        // Dropping ROUND_ROBIN changes nothing where ROUND_ROBIN is the default (≤1.13).
        const Level level = onlyDefaultLb ? Level::kInfo : Level::kWarning;
        report.egl(
            "EGL002", level, originOf(dr), dr.origin.at(p.path),
            fmt::format("portLevelSettings for port {} in {} replaces that traffic policy as a "
                        "block: {} set beside it do{} not apply to port {}, which falls back to "
                        "the defaults ({})",
                        p.port, where, fmt::join(dropped, ", "), dropped.size() == 1 ? "es" : "",
                        p.port, fmt::join(fallbacks, "; ")),
            "§4",
            fmt::format("repeat {} inside the portLevelSettings entry for port {}, or drop "
                        "portLevelSettings and set its fields beside them.",
                        fmt::join(dropped, ", "), p.port));
      }
    };
    if (dr.trafficPolicy) check(*dr.trafficPolicy, nullptr, "the top-level trafficPolicy");
    for (const model::Subset& s : dr.subsets) {
      if (s.trafficPolicy) check(*s.trafficPolicy, &s, fmt::format("subset {}", s.name));
    }
  }
}

// True when the compiled mesh sends ISTIO_MUTUAL to some cluster of `host` from a DestinationRule
// (mesh decides which rule applies, with its subsets and port-level blocks).
bool clusterHasIstioMutual(const Cluster& cluster, const std::string& host) {
  const mesh::CompiledMesh* compiled = cluster.compiled();
  if (compiled == nullptr) return false;
  for (const mesh::ProxyConfig& proxy : compiled->proxies) {
    for (const mesh::Cluster& c : proxy.clusters) {
      if (c.serviceHost == host && c.tls && c.tls->mode == mesh::UpstreamTlsMode::kIstioMutual) {
        return true;
      }
    }
  }
  return false;
}

// EGL003 — STRICT PeerAuthentication does not protect gateway listeners nor the
// sidecar → egress-gateway hop, which stays plaintext (§6).
void checkStrictDoesNotProtectEgress(const Cluster& cluster, Reporter& report) {
  const ResourceSet& rs = cluster.resources();
  for (const model::PeerAuthentication& pa : rs.peerAuthentications) {
    if (pa.mode != model::MtlsMode::kStrict || !pa.selector.empty()) continue;
    const std::string paNs = namespaceOf(pa);
    const bool meshWide = paNs == "istio-system";  // the root namespace
    for (const model::GatewayWorkload& gw : cluster.gatewayWorkloads()) {
      if (!gw.egress || (!meshWide && gw.ns != paNs)) continue;
      std::vector<std::string> plaintext;
      for (const model::Gateway& g : rs.gateways) {
        if (g.selector.empty() || !selectorMatches(g.selector, gw.podLabels)) continue;
        for (const model::GatewayServer& s : g.servers) {
          const bool istioMutual =
              s.tls && s.tls->mode && *s.tls->mode == model::ServerTlsMode::kIstioMutual;
          if (!istioMutual) {
            plaintext.push_back(
                fmt::format("port {} {}", s.port.number, model::protocolName(s.port.protocol)));
          }
        }
      }
      const std::string svcHost = fmt::format("{}.{}.svc.cluster.local", gw.name, gw.ns);
      const bool hopMutual = clusterHasIstioMutual(cluster, svcHost);
      if (plaintext.empty() && hopMutual) continue;
      std::vector<std::string> gaps;
      if (!plaintext.empty()) {
        gaps.push_back(
            fmt::format("its listeners are built from Gateway servers only, and {} "
                        "accept{} plaintext",
                        fmt::join(plaintext, ", "), plaintext.size() == 1 ? "s" : ""));
      }
      if (!hopMutual) {
        gaps.push_back(fmt::format(
            "no DestinationRule sets ISTIO_MUTUAL for {}, and gateway pods carry no istio "
            "tlsMode label, so sidecars and the ingress gateway reach it in plaintext",
            svcHost));
      }
      report.egl("EGL003", Level::kWarning, originOf(pa), pa.origin.at("spec.mtls.mode"),
                 fmt::format("PeerAuthentication {} (STRICT) does not protect the egress gateway "
                             "{}/{}: {}",
                             fullName(pa), gw.ns, gw.name, fmt::join(gaps, "; ")),
                 "§6",
                 fmt::format("serve the egress Gateway as protocol HTTPS with tls.mode "
                             "ISTIO_MUTUAL and add a DestinationRule for {} with tls.mode "
                             "ISTIO_MUTUAL and sni set to the proxied host.",
                             svcHost));
    }
  }
}

// ---- EGL004: a readiness probe's curl without -f (§7).

// True when curl's argv asks it to fail on HTTP errors: -f, --fail, --fail-with-body, or a
// short-option cluster holding `f` before an option that takes an argument (-sSf, -fsS).
bool curlHasFail(const std::vector<std::string>& argv) {
  static const std::string kTakesArgument = "AbcCdDeEFHKmoPQrtTuUwxXyYz";
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--fail" || a == "--fail-with-body") return true;
    if (a.size() < 2 || a[0] != '-' || a[1] == '-') continue;
    for (std::size_t j = 1; j < a.size(); ++j) {
      if (a[j] == 'f') return true;
      if (kTakesArgument.find(a[j]) != std::string::npos) break;
    }
  }
  return false;
}

// What EGL004 says about one exec probe, from the command as kubelet and the simulator read it
// (mesh/probe_command.h).
struct ProbeFindings {
  std::optional<std::string> unreadable;      // the parse error: the simulator fails the probe
  std::vector<std::string> curlsWithoutFail;  // as written
  std::vector<std::string> masked;            // commands whose failure cannot fail the probe
  std::vector<std::string> notRunnable;       // programs other than curl whose status counts
};

ProbeFindings probeFindings(const model::Probe& probe) {
  ProbeFindings out;
  const auto script = mesh::parseProbeCommand(probe.command);
  if (!script) {
    out.unreadable = script.error().message;
    return out;
  }
  std::vector<const mesh::SimpleCommand*> commands;
  for (const auto& item : script->items) {
    for (const auto& c : item.pipeline.commands) commands.push_back(&c);
  }
  // The probe's status when every command succeeds but `failing`, which exits 22 (curl -f).
  auto statusWith = [&](const mesh::SimpleCommand* failing) {
    return mesh::evaluateShellScript(
        *script, [&](const mesh::SimpleCommand& c) { return &c == failing ? 22 : 0; });
  };
  const bool passes = statusWith(nullptr) == 0;
  for (const mesh::SimpleCommand* c : commands) {
    const auto argv = mesh::programArgv(*c);
    const std::string name = mesh::programName(argv);
    if (argv.empty() || name == "true" || name == "false" || name == ":" || name == "exit" ||
        name == "set") {
      continue;
    }
    const std::string written = fmt::format("{}", fmt::join(argv, " "));
    const bool counts = !passes || statusWith(c) != 0;
    if (name != "curl") {
      if (counts) out.notRunnable.push_back(written);
      continue;
    }
    const std::vector<std::string> words(argv.begin(), argv.end());
    if (!curlHasFail(words)) out.curlsWithoutFail.push_back(written);
    if (!counts) out.masked.push_back(written);
  }
  return out;
}

void reportProbe(Reporter& report, const model::Probe& probe, const std::string& workload,
                 const std::string& origin, const SourcePos& fallback) {
  if (probe.kind != model::Probe::Kind::kExec) return;
  const SourcePos where = probe.pos.file.empty() ? fallback : probe.pos;
  const ProbeFindings f = probeFindings(probe);
  if (f.unreadable) {
    report.egl("EGL004", Level::kWarning, origin, where,
               fmt::format("the readiness probe of {} cannot be read as a shell command ({}): "
                           "the simulator counts it as failing, so the pod never becomes Ready",
                           workload, *f.unreadable),
               "§7", "write the probe as a curl argv or `sh -c` with `;`, `&&`, `||` and `|`.");
  }
  for (const std::string& curl : f.curlsWithoutFail) {
    report.egl("EGL004", Level::kWarning, origin, where,
               fmt::format("the readiness probe of {} runs \"{}\" without -f/--fail: curl exits 0 "
                           "on any HTTP status, so the probe fails only on transport errors and "
                           "a 503 from Envoy or the upstream keeps the pod Ready",
                           workload, curl),
               "§7", "add -f (or --fail) to every curl in the probe.");
  }
  for (const std::string& masked : f.masked) {
    report.egl("EGL004", Level::kWarning, origin, where,
               fmt::format("the readiness probe of {} cannot fail on \"{}\": sh discards its exit "
                           "status (a later `;` command, `|| …` or a pipe decides), so the pod "
                           "stays Ready when it fails",
                           workload, masked),
               "§7", "join the probe's commands with && and end it with the last check.");
  }
  for (const std::string& program : f.notRunnable) {
    report.egl("EGL004", Level::kWarning, origin, where,
               fmt::format("the readiness probe of {} runs \"{}\": the simulator runs only curl "
                           "and the shell builtins, and counts any other program as failing "
                           "(exit 127)",
                           workload, program),
               "§7", "check readiness with curl (add -f).");
  }
}

void checkProbes(const Cluster& cluster, Reporter& report) {
  for (const model::GatewayWorkload& gw : cluster.gatewayWorkloads()) {
    const std::string workload = fmt::format("Deployment {}/{}", gw.ns, gw.name);
    const std::string origin = gw.source != nullptr ? originOf(*gw.source) : workload;
    const SourcePos fallback =
        gw.source != nullptr ? gw.source->origin.at(gw.componentPath) : SourcePos{};
    reportProbe(report, gw.readinessProbe, workload, origin, fallback);
  }
  const ResourceSet& rs = cluster.resources();
  auto containers = [&](const model::ResourceBase& r, const model::PodSpec& pod) {
    for (const model::Container& c : pod.containers) {
      if (c.readinessProbe) {
        reportProbe(report, *c.readinessProbe,
                    fmt::format("{} {} (container {})", r.kind, fullName(r), c.name), originOf(r),
                    r.origin.pos);
      }
    }
  };
  for (const model::Deployment& d : rs.deployments) containers(d, d.pod);
  for (const model::Pod& p : rs.pods) containers(p, p.pod);
}

// EGL005 — a mesh-bound VirtualService host that nothing resolves: curl exit 6 (§3).
void checkMeshHostResolution(const Cluster& cluster, const AnalysisInput& input, Reporter& report) {
  for (const model::VirtualService& vs : cluster.resources().virtualServices) {
    if (!boundToMesh(vs)) continue;
    for (std::size_t i = 0; i < vs.hosts.size(); ++i) {
      const std::string& host = vs.hosts[i];
      if (host.empty() || host.front() == '*' || hasPlaceholder(host)) continue;
      if (cluster.lookup(fqdn(host, namespaceOf(vs))) != nullptr) continue;
      if (input.dns.contains(host)) continue;
      const std::string known = input.dnsIsComplete
                                    ? "the scenario's dns: has no record for it"
                                    : "no DNS record for it is known (only manifests were "
                                      "analysed; check that your DNS resolves it)";
      Message* m = report.egl(
          "EGL005", input.dnsIsComplete ? Level::kError : Level::kInfo, originOf(vs),
          vs.origin.at(fmt::format("spec.hosts[{}]", i)),
          fmt::format("host \"{}\" of VirtualService {} is used from the mesh, but it is "
                      "neither a Kubernetes Service nor a ServiceEntry host and {}: Istio "
                      "does not resolve VirtualService hosts, so a pod's curl fails with "
                      "exit 6 (Could not resolve host) before its sidecar sees a request",
                      host, fullName(vs), known),
          "§3",
          fmt::format("publish a DNS record for {} (any IP: the sidecar routes by Host "
                      "header), or declare it in a ServiceEntry.",
                      host));
      if (m != nullptr) m->affectedHosts = {host};
    }
  }
}

// EGL006 — REGISTRY_ONLY and a route destination no Service or ServiceEntry declares (§1).
// Both read from the compiled mesh: the effective outboundTrafficPolicy (which IstioOperator
// carries meshConfig is mesh's decision) and its registry (exact hosts, wildcard ServiceEntry
// hosts).
bool declaredInRegistry(const mesh::CompiledMesh& compiled, const std::string& host) {
  for (const mesh::RegistryService& s : compiled.registry.services) {
    if (s.hostname == host) return true;
  }
  for (const mesh::RegistryService& s : compiled.registry.services) {
    if (s.fromServiceEntry && !s.hostname.empty() && s.hostname.front() == '*' &&
        mesh::hostCovers(s.hostname, host)) {
      return true;
    }
  }
  return false;
}

void checkRegistryOnly(const Cluster& cluster, Reporter& report) {
  const ResourceSet& rs = cluster.resources();
  const mesh::CompiledMesh* compiled = cluster.compiled();
  if (compiled == nullptr ||
      compiled->outboundTrafficPolicy != model::OutboundTrafficPolicyMode::kRegistryOnly) {
    return;
  }
  // Named in the message: the IstioOperator whose meshConfig asks for REGISTRY_ONLY.
  std::string setBy = "meshConfig";
  for (const model::IstioOperator& iop : rs.istioOperators) {
    if (iop.profile != "empty" &&
        iop.meshConfig.outboundTrafficPolicy == model::OutboundTrafficPolicyMode::kRegistryOnly) {
      setBy = originOf(iop);
      break;
    }
  }
  for (const model::VirtualService& vs : rs.virtualServices) {
    auto check = [&](const std::string& routePath,
                     const std::vector<model::RouteDestination>& rds) {
      for (std::size_t j = 0; j < rds.size(); ++j) {
        const std::string& host = rds[j].destination.host;
        if (host.empty() || hasPlaceholder(host)) continue;
        if (declaredInRegistry(*compiled, fqdn(host, namespaceOf(vs)))) continue;
        Message* m =
            report.egl("EGL006", Level::kError, originOf(vs),
                       vs.origin.at(fmt::format("{}.route[{}].destination.host", routePath, j)),
                       fmt::format("{} sets outboundTrafficPolicy REGISTRY_ONLY and destination "
                                   "\"{}\" of VirtualService {} is declared by no Service or "
                                   "ServiceEntry: sidecars answer HTTP for it with 502 (block_all) "
                                   "and reset TLS/TCP connections (BlackHoleCluster, UH)",
                                   setBy, host, fullName(vs)),
                       "§1",
                       fmt::format("add a ServiceEntry for {} (location MESH_EXTERNAL, its ports, "
                                   "resolution DNS).",
                                   host));
        if (m != nullptr) {
          m->affectedHosts = vs.hosts;
          m->affectedHosts.push_back(host);
        }
      }
    };
    for (const model::HttpRoute& r : vs.http) check(r.path, r.route);
    for (const model::L4Route& r : vs.tls) check(r.path, r.route);
    for (const model::L4Route& r : vs.tcp) check(r.path, r.route);
  }
}

// EGL007 — install paths that changed: the in-cluster operator (deprecated 1.23, removed
// 1.24) and nameless gateway IstioOperators under 1.24+ pruning (§10).
void checkInstallPath(const Cluster& cluster, Reporter& report) {
  const model::IstioVersion& v = report.version();
  for (const model::IstioOperator& iop : cluster.resources().istioOperators) {
    // The seed's flow: `istioctl operator init --watchedNamespaces=istio-operator`, then
    // `kubectl apply` of an IstioOperator in the watched namespace.
    if (iop.meta.ns == "istio-operator" && v.atLeast(1, 23)) {
      const bool removed = v.atLeast(1, 24);
      report.egl(
          "EGL007", removed ? Level::kError : Level::kInfo, originOf(iop),
          iop.origin.at("metadata.namespace"),
          removed ? fmt::format("IstioOperator {} is written for the in-cluster operator "
                                "(`istioctl operator init` + `kubectl apply`), which was removed "
                                "in 1.24: applying it installs nothing",
                                fullName(iop))
                  : fmt::format("IstioOperator {} is written for the in-cluster operator "
                                "(`istioctl operator init`), deprecated in 1.23 and removed in "
                                "1.24",
                                fullName(iop)),
          "§10", "install it with `istioctl install -f` (or the Helm charts) instead.");
    }
    const bool hasGateways = !iop.ingressGateways.empty() || !iop.egressGateways.empty();
    if (v.atLeast(1, 24) && hasGateways && iop.meta.name.empty()) {
      report.egl("EGL007", Level::kWarning, originOf(iop), iop.origin.pos,
                 "gateway IstioOperator without metadata.name: since 1.24 `istioctl install` "
                 "prunes across all components by owner labels, and without a name they match "
                 "other installs', so installing it can delete another install's resources",
                 "§10", "give every IstioOperator its own metadata.name (e.g. the gateway name).");
    }
  }
}

}  // namespace

void runEgressLabChecks(const Cluster& cluster, const AnalysisInput& input, Reporter& report) {
  checkSniTrap(cluster, report);
  checkPortLevelReplacement(cluster, report);
  checkStrictDoesNotProtectEgress(cluster, report);
  checkProbes(cluster, report);
  checkMeshHostResolution(cluster, input, report);
  checkRegistryOnly(cluster, report);
  checkInstallPath(cluster, report);
}

}  // namespace egresslab::analyze::detail
