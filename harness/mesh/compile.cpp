// The mini-pilot. Each rule cites docs/istio-behaviour.md (§N) where Istio's behaviour is
// modelled; §11 corrects earlier sections.
#include "harness/mesh/compile.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "harness/mesh/decisions.h"
#include "harness/mesh/policy.h"
#include "harness/mesh/unsimulated.h"

namespace egresslab::mesh {
namespace {

using model::IstioVersion;
using model::Protocol;

constexpr std::string_view kClusterDomain = "svc.cluster.local";
constexpr std::string_view kBlackHoleCluster = "BlackHoleCluster";
constexpr std::string_view kPassthroughCluster = "PassthroughCluster";

std::string nsOrDefault(const std::string& ns) { return ns.empty() ? "default" : ns; }

std::string serviceFqdn(std::string_view name, std::string_view ns) {
  return fmt::format("{}.{}.{}", name, ns, kClusterDomain);
}

bool selectorMatches(const Labels& selector, const Labels& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// True when the wildcard VS host `pattern` covers the registry host `svcHost` (an exact name,
// or a wildcard ServiceEntry host at least as narrow): Istio's host.Name.SubsetOf.
bool wildcardCovers(std::string_view pattern, std::string_view svcHost) {
  if (pattern == "*") return true;
  std::string_view suffix = pattern.substr(1);  // ".suffix"
  if (svcHost.starts_with('*')) return svcHost.substr(1).ends_with(suffix);
  return wildcardMatches(pattern, svcHost);
}

// Intersection of two host patterns: the more specific one when one matches the other (§2:
// gateway server hosts ∩ VS hosts).
std::optional<std::string> intersectHosts(std::string_view a, std::string_view b) {
  if (wildcardMatches(a, b)) return std::string(b);
  if (wildcardMatches(b, a)) return std::string(a);
  return std::nullopt;
}

std::string ipFrom(std::string_view prefix16, int n) {
  return fmt::format("{}.{}.{}", prefix16, 10 + n / 240, 10 + n % 240);
}

std::string portString(std::uint32_t port) { return std::to_string(port); }

bool isHttpProtocol(Protocol p) { return model::isHttpLike(p); }

UpstreamProtocol upstreamProtocolFor(Protocol p) {
  switch (p) {
    case Protocol::kHttp2:
    case Protocol::kGrpc:
    case Protocol::kGrpcWeb:
      return UpstreamProtocol::kHttp2;
    case Protocol::kHttp:
      return UpstreamProtocol::kHttp1;
    default:
      return UpstreamProtocol::kTcp;
  }
}

std::string spiffeId(std::string_view ns, std::string_view sa) {
  return fmt::format("spiffe://cluster.local/ns/{}/sa/{}", ns, sa);
}

// Labels of a gateway pod that the chart's Service selects on: the component labels, not the
// istio.io bookkeeping labels (canonical-name, tlsMode, rev).
Labels gatewayServiceSelector(const Labels& podLabels) {
  Labels out;
  for (const auto& [k, v] : podLabels) {
    if (k.find("istio.io/") != std::string::npos) continue;
    out[k] = v;
  }
  return out;
}

std::string envoyLbPolicy(std::string_view simple) {
  if (simple == "LEAST_CONN" || simple == "LEAST_REQUEST") return "LEAST_REQUEST";
  if (simple == "RANDOM") return "RANDOM";
  if (simple == "PASSTHROUGH") return "CLUSTER_PROVIDED";
  return "ROUND_ROBIN";
}

StringMatcher toMatcher(const model::StringMatch& m, bool ignoreCase = false) {
  StringMatcher out;
  switch (m.kind) {
    case model::StringMatch::Kind::kExact:
      out.kind = StringMatcher::Kind::kExact;
      break;
    case model::StringMatch::Kind::kPrefix:
      out.kind = StringMatcher::Kind::kPrefix;
      break;
    case model::StringMatch::Kind::kRegex:
      out.kind = StringMatcher::Kind::kRegex;
      break;
  }
  out.value = m.value;
  out.ignoreCase = ignoreCase;
  return out;
}

HeaderOps toHeaderOps(const model::HeaderOperations& ops) {
  HeaderOps out;
  for (const auto& [k, v] : ops.set) out.set.emplace_back(lower(k), v);
  for (const auto& [k, v] : ops.add) out.add.emplace_back(lower(k), v);
  for (const auto& k : ops.remove) out.remove.push_back(lower(k));
  return out;
}

// Everything about the proxy a route is built for (§2 match.gateways / sourceLabels).
struct RouteContext {
  std::string gatewayName;  // "ns/name" on gateways, "mesh" on sidecars
  std::string proxyNs;
  Labels proxyLabels;
  std::uint32_t port = 0;  // the gateway server port / sidecar listener port
};

}  // namespace

// --------------------------------------------------------------------------- public helpers
RetryPolicy defaultRetryPolicy(const IstioVersion& version) {
  // §9: attempts 2, retry_on connect-failure,refused-stream,unavailable,cancelled, plus
  // retriable-status-codes [503] through 1.23; 1.24+ excludes 503 (§11.6).
  RetryPolicy p;
  p.numRetries = 2;
  p.retryOn = {"connect-failure", "refused-stream", "unavailable", "cancelled"};
  if (!version.atLeast(1, 24)) {
    p.retryOn.emplace_back("retriable-status-codes");
    p.retriableStatusCodes = {503};
  }
  return p;
}

std::string defaultLbPolicy(const IstioVersion& version) {
  // §4: ROUND_ROBIN ≤1.13, LEAST_REQUEST from 1.14.
  return version.atLeast(1, 14) ? "LEAST_REQUEST" : "ROUND_ROBIN";
}

std::string outboundClusterName(std::uint32_t port, std::string_view subset,
                                std::string_view host) {
  return fmt::format("outbound|{}|{}|{}", port, subset, host);
}

Protocol servicePortProtocol(std::string_view name, std::string_view appProtocol) {
  if (!appProtocol.empty()) {
    Protocol p = model::parseProtocol(appProtocol);
    if (p != Protocol::kUnsupported) return p;
  }
  std::string_view prefix = name.substr(0, name.find('-'));
  Protocol p = model::parseProtocol(prefix);
  return p == Protocol::kUnsupported ? Protocol::kTcp : p;
}

// --------------------------------------------------------------------------- the compiler
namespace {

class Compiler {
 public:
  explicit Compiler(const CompileInput& in) : in_(in), v_(in.version) {}

  Result<CompiledMesh> run() {
    out_.version = v_;
    meshConfig();
    workloads();
    services();
    dnsView();
    notSimulated();
    for (const auto& gw : in_.gateways) out_.proxies.push_back(gatewayProxy(gw));
    for (const auto& w : out_.registry.workloads) {
      if (w.injected && !w.gateway) out_.proxies.push_back(sidecarProxy(w));
    }
    for (auto& p : out_.proxies) p.reindex();
    return std::move(out_);
  }

 private:
  void note(std::string ref, std::string what, SourcePos where = {},
            NotSimulatedNote::Reach reach = NotSimulatedNote::Reach::kEveryProxy) {
    NotSimulatedNote n;
    n.ref = std::move(ref);
    n.what = std::move(what);
    n.where = std::move(where);
    n.reach = reach;
    note(std::move(n));
  }
  // A note about one proxy (a gateway's servers, its replicas): only requests through it are
  // affected (docs/design.md "Nothing unmodelled passes silently").
  void noteAt(const ProxyId& proxy, std::string ref, std::string what, SourcePos where = {}) {
    for (auto& seen : out_.notSimulated) {
      if (seen.ref != ref || seen.what != what) continue;
      if (seen.reach == NotSimulatedNote::Reach::kProxies &&
          std::find(seen.proxies.begin(), seen.proxies.end(), proxy.str()) == seen.proxies.end()) {
        seen.proxies.push_back(proxy.str());
      }
      return;
    }
    NotSimulatedNote n;
    n.ref = std::move(ref);
    n.what = std::move(what);
    n.where = std::move(where);
    n.reach = NotSimulatedNote::Reach::kProxies;
    n.proxies = {proxy.str()};
    out_.notSimulated.push_back(std::move(n));
  }
  void note(NotSimulatedNote n) {
    for (const auto& seen : out_.notSimulated) {
      if (seen.ref == n.ref && seen.what == n.what) return;
    }
    out_.notSimulated.push_back(std::move(n));
  }

  // ---------------------------------------------------------------- mesh config
  void meshConfig() {
    // The control-plane operator (not profile "empty") carries meshConfig; per-gateway
    // operators (profile: empty) do not change it.
    for (const auto& iop : in_.resources.istioOperators) {
      if (iop.profile == "empty") continue;
      out_.meshConfig = iop.meshConfig;
      if (iop.profile == "demo" && !iop.meshConfig.accessLogFile) {
        out_.meshConfig.accessLogFile = "/dev/stdout";
      }
      if (!iop.revision.empty()) {
        note(iop.ref(), "IstioOperator revision is not simulated (one control plane)",
             iop.origin.pos);
      }
      break;
    }
    out_.outboundTrafficPolicy =
        out_.meshConfig.outboundTrafficPolicy.value_or(model::OutboundTrafficPolicyMode::kAllowAny);
    if (out_.meshConfig.accessLogFormat && !out_.meshConfig.accessLogFormat->empty()) {
      note("meshConfig.accessLogFormat",
           "a custom access-log format is not simulated; the version's default TEXT format is used",
           {}, NotSimulatedNote::Reach::kNoProxy);
    }
    if (out_.meshConfig.accessLogEncoding && lower(*out_.meshConfig.accessLogEncoding) == "json") {
      note("meshConfig.accessLogEncoding",
           "JSON access logs are not simulated; the version's default TEXT format is used", {},
           NotSimulatedNote::Reach::kNoProxy);
    }
  }

  AccessLogConfig accessLogConfig() const {
    AccessLogConfig a;
    a.path = out_.meshConfig.accessLogFile.value_or("");
    a.enabled = !a.path.empty();
    a.encoding = out_.meshConfig.accessLogEncoding.value_or("TEXT");
    a.customFormat = out_.meshConfig.accessLogFormat.value_or("");
    a.format = accessLogFormatFor(v_);  // §9
    return a;
  }

  // ---------------------------------------------------------------- workloads
  bool namespaceInjected(const std::string& ns) const {
    for (const auto& n : in_.resources.namespaces) {
      if (n.meta.name != ns) continue;
      auto it = n.meta.labels.find("istio-injection");
      if (it != n.meta.labels.end()) return it->second == "enabled";
      return n.meta.labels.contains("istio.io/rev");
    }
    return false;
  }

  void addWorkload(WorkloadInstance w) {
    w.ip = ipFrom("10.244", podCounter_++);
    if (w.injected) {
      // Injected pods carry the tlsMode label that drives auto mTLS (§6).
      w.labels.emplace("security.istio.io/tlsMode", "istio");
      w.labels.emplace("service.istio.io/canonical-name",
                       w.labels.contains("app") ? w.labels.at("app") : w.name);
    }
    out_.registry.workloads.push_back(std::move(w));
  }

  void workloads() {
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

  // ---------------------------------------------------------------- registry services
  Endpoint podEndpoint(const WorkloadInstance& w, std::uint32_t servicePort,
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

  void addKubeService(RegistryService svc) {
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

  bool serviceExists(const std::string& ns, const std::string& name) const {
    return std::any_of(out_.registry.services.begin(), out_.registry.services.end(),
                       [&](const RegistryService& s) {
                         return !s.fromServiceEntry && s.ns == ns && s.name == name;
                       });
  }

  void services() {
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

  // The scenario upstream (legacy service mock) that answers for host:port, if any.
  EndpointTarget upstreamTarget(std::string_view host, std::uint32_t port) const {
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

  std::string dnsAddressOf(const std::string& host) const {
    auto it = in_.dns.find(host);
    if (it != in_.dns.end()) return it->second;
    for (std::size_t i = 0; i < in_.upstreams.size(); ++i) {
      if (in_.upstreams[i].host == host) return ipFrom("198.51", static_cast<int>(i));
    }
    return {};
  }

  void serviceEntry(const model::ServiceEntry& se) {
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

  // ---------------------------------------------------------------- DNS
  void dnsView() {
    // §3: pods resolve cluster Services and public names; VS hosts and ServiceEntry hosts are
    // not resolvable through Istio (DNS capture is off by default).
    for (const auto& s : out_.registry.services) {
      if (!s.fromServiceEntry && !s.address.empty()) out_.dns.records[s.hostname] = s.address;
    }
    for (const auto& u : in_.upstreams) out_.dns.records[u.host] = dnsAddressOf(u.host);
    for (const auto& [host, ip] : in_.dns) out_.dns.records[host] = ip;
  }

  // ---------------------------------------------------------------- not simulated
  void notSimulated() {
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

  // ---------------------------------------------------------------- DestinationRules
  static std::vector<std::string> spiffeIds(const std::vector<Endpoint>& endpoints) {
    std::set<std::string> ids;
    for (const auto& e : endpoints) {
      if (!e.serviceAccount.empty() && !e.target.ns.empty()) {
        ids.insert(spiffeId(e.target.ns, e.serviceAccount));
      }
    }
    return {ids.begin(), ids.end()};
  }

  // ---------------------------------------------------------------- clusters
  std::vector<Cluster> outboundClusters(const std::string& proxyNs) const {
    std::vector<Cluster> out;
    for (const auto& svc : out_.registry.services) {
      // §4 DR lookup: proxy namespace, service namespace, root namespace (policy.h).
      const model::DestinationRule* dr = findDestinationRule(
          in_.resources.destinationRules, {svc.hostname, svc.ns, proxyNs, kRootNamespace});
      for (const auto& port : svc.ports) {
        std::vector<Endpoint> endpoints;
        for (const auto& e : svc.endpoints) {
          if (e.servicePort != port.port) continue;
          endpoints.push_back(e);
          // §6 EDS mtls_checker: an endpoint whose PeerAuthentication (workload, namespace or
          // mesh level, port-level included) is DISABLE loses its tlsMode, so auto mTLS sends
          // plaintext to it.
          if (e.target.kind == EndpointTarget::Kind::kWorkload) {
            const WorkloadInstance* wl = out_.findWorkload(e.target.ns, e.target.name);
            if (wl != nullptr && peerAuthMode(*wl, e.port) == model::MtlsMode::kDisable) {
              endpoints.back().tlsMode.clear();
            }
          }
        }
        auto build = [&](const model::Subset* subset) {
          Cluster c;
          c.serviceHost = svc.hostname;
          c.servicePort = port.port;
          c.subset = subset != nullptr ? subset->name : "";
          c.name = outboundClusterName(port.port, c.subset, svc.hostname);
          c.protocol = upstreamProtocolFor(port.protocol);
          c.origin = svc.origin;
          if (!svc.fromServiceEntry || svc.resolution == model::Resolution::kStatic) {
            c.type = ClusterType::kEds;
          } else if (svc.resolution == model::Resolution::kDns) {
            c.type = ClusterType::kStrictDns;
          } else if (svc.resolution == model::Resolution::kDnsRoundRobin) {
            c.type = ClusterType::kLogicalDns;
          } else {
            c.type = ClusterType::kOriginalDst;
          }
          // §4: subset clusters get the endpoints whose labels contain the subset's labels.
          for (const auto& e : endpoints) {
            if (subset == nullptr || selectorMatches(subset->labels, e.labels)) {
              c.endpoints.push_back(e);
            }
          }
          // §4, §11.6: a DNS (non-EDS) cluster with zero endpoints is never built; routes that
          // name it then hit "cluster not found".
          if ((c.type == ClusterType::kStrictDns || c.type == ClusterType::kLogicalDns) &&
              c.endpoints.empty()) {
            return;
          }
          EffectivePolicy policy =
              dr != nullptr ? mergeTrafficPolicy(*dr, subset, port.port) : EffectivePolicy{};
          // §4: the default LB applies unless the effective block sets one (a portLevelSettings
          // entry without loadBalancer drops the subset's ROUND_ROBIN).
          c.lbPolicy = policy.loadBalancer && !policy.loadBalancer->simple.empty()
                           ? envoyLbPolicy(policy.loadBalancer->simple)
                           : defaultLbPolicy(v_);
          if (policy.connectionPool && policy.connectionPool->connectTimeout) {
            c.connectTimeout = *policy.connectionPool->connectTimeout;
          }
          if (dr != nullptr) {
            c.tls = originationTls(
                policy, {dr->ref(), port.port, c.subset, svc.hostname, spiffeIds(c.endpoints), v_});
          }
          // §6 auto mTLS: without a DR tls setting, in-mesh services get a transport socket
          // match — ISTIO_MUTUAL for endpoints labelled tlsMode=istio, plaintext otherwise.
          const bool autoMtlsEnabled = out_.meshConfig.enableAutoMtls.value_or(true);
          // BestEffortInferServiceMTLSMode: a namespace-wide (else mesh-wide) PeerAuthentication
          // DISABLE for the service's namespace turns auto mTLS off for the cluster.
          if (!policy.tls && autoMtlsEnabled && svc.location == model::Location::kMeshInternal &&
              c.type != ClusterType::kOriginalDst &&
              inferredServiceMtls(svc.ns) != model::MtlsMode::kDisable) {
            c.autoMtls = true;
            UpstreamTls m;
            m.mode = UpstreamTlsMode::kIstioMutual;
            m.sni = fmt::format("outbound_.{}_.{}_.{}", port.port, c.subset, svc.hostname);
            m.verify = ServerVerification::kMeshCa;
            m.subjectAltNames = spiffeIds(c.endpoints);
            m.origin = "auto mTLS";
            c.autoMtlsTls = std::move(m);
          }
          out.push_back(std::move(c));
        };
        build(nullptr);
        if (dr != nullptr) {
          for (const auto& s : dr->subsets) build(&s);
        }
      }
    }
    Cluster blackhole;
    blackhole.name = kBlackHoleCluster;
    blackhole.type = ClusterType::kStatic;
    blackhole.protocol = UpstreamProtocol::kTcp;
    blackhole.lbPolicy = defaultLbPolicy(v_);
    blackhole.origin = "istiod (§1)";
    out.push_back(blackhole);
    Cluster passthrough;
    passthrough.name = kPassthroughCluster;
    passthrough.type = ClusterType::kOriginalDst;
    passthrough.protocol = UpstreamProtocol::kTcp;
    passthrough.lbPolicy = "CLUSTER_PROVIDED";
    passthrough.origin = "istiod (§1)";
    out.push_back(passthrough);
    return out;
  }

  // ---------------------------------------------------------------- routes
  std::optional<std::uint32_t> destinationPort(const model::Destination& d, const std::string& host,
                                               std::uint32_t fallback) const {
    if (d.port) return *d.port;
    if (const RegistryService* s = out_.findService(host); s != nullptr && s->ports.size() == 1) {
      return s->ports.front().port;
    }
    return fallback;
  }

  // Translates one VS http route into Envoy routes for this proxy (one per kept match, §2).
  std::vector<Route> translateRoute(const model::VirtualService& vs, const model::HttpRoute& hr,
                                    const RouteContext& ctx) const {
    const std::string vsNs = nsOrDefault(vs.meta.ns);
    std::vector<const model::HttpMatch*> matches;
    if (hr.match.empty()) {
      matches.push_back(nullptr);
    } else {
      for (const auto& m : hr.match) {
        // §2 sourceMatchHTTP: match.gateways (when set) must name the proxy's gateway ("mesh"
        // for sidecars); otherwise sourceLabels/sourceNamespace decide.
        if (!m.gateways.empty()) {
          if (std::find(m.gateways.begin(), m.gateways.end(), ctx.gatewayName) ==
              m.gateways.end()) {
            continue;
          }
        } else {
          if (!m.sourceLabels.empty() && !selectorMatches(m.sourceLabels, ctx.proxyLabels)) {
            continue;
          }
          if (!m.sourceNamespace.empty() && m.sourceNamespace != ctx.proxyNs) continue;
        }
        if (m.port && *m.port != ctx.port) continue;
        matches.push_back(&m);
      }
      if (matches.empty()) return {};
    }
    std::vector<Route> out;
    for (const model::HttpMatch* m : matches) {
      Route r;
      r.name = hr.name;
      if (m != nullptr && !m->name.empty()) {
        r.name = hr.name.empty() ? m->name : hr.name + "." + m->name;
      }
      r.origin = vs.ref() + " " + hr.path;
      if (m != nullptr) {
        if (m->uri) r.match.path = toMatcher(*m->uri, m->ignoreUriCase);
        for (const auto& [name, sm] : m->headers)
          r.match.headers.push_back({lower(name), toMatcher(sm)});
        for (const auto& [name, sm] : m->withoutHeaders) {
          r.match.headers.push_back({lower(name), toMatcher(sm), true});
        }
        if (m->method) r.match.headers.push_back({":method", toMatcher(*m->method)});
        if (m->authority) r.match.headers.push_back({":authority", toMatcher(*m->authority)});
        if (m->scheme) r.match.headers.push_back({":scheme", toMatcher(*m->scheme)});
        for (const auto& [name, sm] : m->queryParams)
          r.match.queryParams.push_back({name, toMatcher(sm)});
      }
      if (hr.redirect) {
        r.kind = Route::ActionKind::kRedirect;
        r.redirect.path = hr.redirect->uri;
        r.redirect.host = hr.redirect->authority;
        r.redirect.scheme = hr.redirect->scheme;
        r.redirect.port = hr.redirect->port.value_or(0);
        r.redirect.code = hr.redirect->redirectCode;
      } else if (hr.directResponse) {
        r.kind = Route::ActionKind::kDirectResponse;
        r.direct.status = hr.directResponse->status;
        r.direct.body = hr.directResponse->body;
      } else {
        r.kind = Route::ActionKind::kForward;
        ForwardAction& f = r.forward;
        for (const auto& rd : hr.route) {
          const std::string host = resolveHost(rd.destination.host, vsNs);
          const std::uint32_t port =
              destinationPort(rd.destination, host, ctx.port).value_or(ctx.port);
          WeightedCluster wc;
          wc.cluster = outboundClusterName(port, rd.destination.subset, host);
          wc.weight = rd.weight ? static_cast<std::uint32_t>(std::max(0, *rd.weight))
                                : (hr.route.size() == 1 ? 100u : 0u);
          wc.requestHeaders = toHeaderOps(rd.headers.request);
          wc.responseHeaders = toHeaderOps(rd.headers.response);
          f.clusters.push_back(std::move(wc));
        }
        f.timeout = hr.timeout;
        if (hr.retries) {
          f.retry.fromVirtualService = true;
          f.retry.numRetries = static_cast<std::uint32_t>(std::max(0, hr.retries->attempts));
          if (!hr.retries->retryOn.empty()) {
            std::string_view on = hr.retries->retryOn;
            while (!on.empty()) {
              auto comma = on.find(',');
              std::string_view item = on.substr(0, comma);
              bool numeric = !item.empty() && std::all_of(item.begin(), item.end(), ::isdigit);
              if (numeric) {
                f.retry.retriableStatusCodes.push_back(
                    static_cast<std::uint32_t>(std::stoul(std::string(item))));
              } else if (!item.empty()) {
                f.retry.retryOn.emplace_back(item);
              }
              if (comma == std::string_view::npos) break;
              on.remove_prefix(comma + 1);
            }
            if (!f.retry.retriableStatusCodes.empty())
              f.retry.retryOn.emplace_back("retriable-status-codes");
          } else {
            RetryPolicy d = defaultRetryPolicy(v_);
            f.retry.retryOn = d.retryOn;
            f.retry.retriableStatusCodes = d.retriableStatusCodes;
          }
          f.retry.perTryTimeout = hr.retries->perTryTimeout;
        } else {
          f.retry = defaultRetryPolicy(v_);  // §9
        }
        if (hr.rewrite) {
          f.hostRewrite = hr.rewrite->authority;
          if (!hr.rewrite->uri.empty()) {
            if (m != nullptr && m->uri && m->uri->kind == model::StringMatch::Kind::kRegex) {
              f.fullPathRewrite = hr.rewrite->uri;
            } else {
              f.prefixRewrite = hr.rewrite->uri;
            }
          }
        }
        f.requestHeaders = toHeaderOps(hr.headers.request);
        f.responseHeaders = toHeaderOps(hr.headers.response);
      }
      out.push_back(std::move(r));
    }
    return out;
  }

  // §11.4: gateway vhost domains — [host, host:*] on 1.8–1.14 (a wildcard host gets
  // host:<server port>), [host] with ignore_port_in_host_matching on 1.15+.
  std::vector<std::string> gatewayDomains(const std::string& host, std::uint32_t port) const {
    std::vector<std::string> d{host};
    if (v_.atLeast(1, 15) || host == "*") return d;
    if (host.starts_with("*.")) {
      d.push_back(host + ":" + portString(port));
    } else {
      d.push_back(host + ":*");
    }
    return d;
  }

  static bool vsAttachedTo(const model::VirtualService& vs, const std::string& gatewayName) {
    if (vs.gateways.empty()) return gatewayName == "mesh";
    return std::find(vs.gateways.begin(), vs.gateways.end(), gatewayName) != vs.gateways.end();
  }

  struct ServerRef {
    const model::Gateway* gateway = nullptr;
    const model::GatewayServer* server = nullptr;
    std::string gatewayName;  // "ns/name"
  };

  static std::string stripNsPrefix(const std::string& host, std::string* nsOut = nullptr) {
    auto slash = host.find('/');
    if (slash == std::string::npos) {
      if (nsOut != nullptr) *nsOut = "*";
      return host;
    }
    if (nsOut != nullptr) *nsOut = host.substr(0, slash);
    return host.substr(slash + 1);
  }

  // §2 pickMatchingGatewayHosts: the server's hosts ∩ the VS's hosts, where a server host's
  // "ns/" prefix ("." = the Gateway's namespace, "*" = any) must name the VS's namespace.
  // Empty → the VS does not bind to this server.
  std::vector<std::string> matchingGatewayHosts(const model::GatewayServer& server,
                                                const std::string& gwNs,
                                                const model::VirtualService& vs) const {
    const std::string vsNs = nsOrDefault(vs.meta.ns);
    std::vector<std::string> hosts;
    for (const auto& serverHost : server.hosts) {
      std::string hostNs;
      std::string h = stripNsPrefix(serverHost, &hostNs);
      if (hostNs == ".") hostNs = gwNs;
      if (hostNs != "*" && hostNs != vsNs) continue;
      for (const auto& vsHost : vs.hosts) {
        if (auto i = intersectHosts(h, resolveHost(vsHost, vsNs))) {
          if (std::find(hosts.begin(), hosts.end(), *i) == hosts.end()) hosts.push_back(*i);
        }
      }
    }
    return hosts;
  }

  // IsCatchAllRoute: path prefix "/" (or regex "*") with no header or query parameter match.
  static bool isCatchAllRoute(const Route& r) {
    const bool anyPath =
        (r.match.path.kind == StringMatcher::Kind::kPrefix && r.match.path.value == "/") ||
        (r.match.path.kind == StringMatcher::Kind::kRegex && r.match.path.value == "*");
    return anyPath && r.match.headers.empty() && r.match.queryParams.empty();
  }

  static void sortCatchAllRoutesLast(std::vector<Route>& routes) {
    std::stable_partition(routes.begin(), routes.end(),
                          [](const Route& r) { return !isCatchAllRoute(r); });
  }

  RouteConfig gatewayRouteConfig(const std::string& name, const std::vector<ServerRef>& servers,
                                 const WorkloadInstance& pod) const {
    RouteConfig rc;
    rc.name = name;
    rc.ignorePortInHostMatching = v_.atLeast(1, 15);  // §11.4
    rc.validateClusters = false;                      // §11.6
    const std::uint32_t port = servers.front().server->port.number;
    std::map<std::string, std::size_t> byHost;
    auto vhostFor = [&](const std::string& host) -> VirtualHost& {
      auto it = byHost.find(host);
      if (it != byHost.end()) return rc.virtualHosts[it->second];
      VirtualHost vh;
      vh.name = host + ":" + portString(port);
      vh.domains = gatewayDomains(host, port);
      rc.virtualHosts.push_back(std::move(vh));
      byHost[host] = rc.virtualHosts.size() - 1;
      return rc.virtualHosts.back();
    };
    std::set<std::string> gatewaysWithVs;
    // §5: 1.8.0–1.8.2 build every httpsRedirect server's hosts as route-less redirect vhosts and
    // ignore the VirtualServices bound to that server; 1.8.3 (istio/istio#29895) builds the VS
    // vhosts with require_tls instead.
    const bool redirectIgnoresVs = !v_.atLeast(1, 8, 3);
    for (const auto& ref : servers) {
      const bool redirect = ref.server->tls && ref.server->tls->httpsRedirect;
      if (redirect && redirectIgnoresVs) continue;
      const std::string gwNs = nsOrDefault(ref.gateway->meta.ns);
      for (const auto& vs : in_.resources.virtualServices) {
        if (!vsAttachedTo(vs, ref.gatewayName)) continue;
        gatewaysWithVs.insert(ref.gatewayName);
        // §5 (1.8.3–1.11): a plaintext redirect server with any VS bound still builds VS vhosts
        // with require_tls; with none bound it builds route-less redirect vhosts (below).
        const std::string vsNs = nsOrDefault(vs.meta.ns);
        std::vector<std::string> hosts = matchingGatewayHosts(*ref.server, gwNs, vs);
        if (hosts.empty()) continue;
        RouteContext ctx{ref.gatewayName, pod.ns, pod.labels, ref.server->port.number};
        std::vector<Route> routes;
        for (const auto& hr : vs.http) {
          auto rs = translateRoute(vs, hr, ctx);
          routes.insert(routes.end(), rs.begin(), rs.end());
        }
        // A VS with no route for this proxy and port ("no routes matched") builds no vhost: the
        // host stays free for another VS (a wildcard) or the redirect vhost (gateway.go `err →
        // continue`, 1.8 and 1.22).
        if (routes.empty()) continue;
        for (const auto& h : hosts) {
          VirtualHost& vh = vhostFor(h);
          const bool merged = !vh.routes.empty();
          vh.routes.insert(vh.routes.end(), routes.begin(), routes.end());
          // Several VSs merged into one vhost: catch-all routes go last, the others keep their
          // order (SortVHostRoutes 1.22, CombineVHostRoutes 1.8).
          if (merged) sortCatchAllRoutesLast(vh.routes);
          if (redirect) vh.requireTls = true;  // §5 require_tls: ALL
        }
      }
    }
    // httpsRedirect vhosts without routes (§5, §11.5): 1.8.0–1.8.2 for every redirect server
    // host; 1.12+ for every server host that has no vhost yet; 1.8.3–1.11 only when no
    // VirtualService at all is bound to that Gateway (so a bound VS that yields no route for
    // this port leaves the host without a vhost: 404 NR, istio/istio#32033).
    for (const auto& ref : servers) {
      if (!ref.server->tls || !ref.server->tls->httpsRedirect) continue;
      if (!redirectIgnoresVs && !v_.atLeast(1, 12) && gatewaysWithVs.contains(ref.gatewayName)) {
        continue;
      }
      for (const auto& serverHost : ref.server->hosts) {
        std::string h = stripNsPrefix(serverHost);
        if (byHost.contains(h)) {
          if (redirectIgnoresVs) vhostFor(h).requireTls = true;
          continue;
        }
        vhostFor(h).requireTls = true;
      }
    }
    // §1: no vhost at all → "blackhole:<port>", domain "*", no routes → 404 NR.
    if (rc.virtualHosts.empty()) {
      VirtualHost vh;
      vh.name = "blackhole:" + portString(port);
      vh.domains = {"*"};
      rc.virtualHosts.push_back(std::move(vh));
    }
    return rc;
  }

  static std::vector<std::string> sniHosts(const model::GatewayServer& server) {
    // §5: the server's hosts without "ns/" become server_names, unless "*" is present.
    std::vector<std::string> out;
    for (const auto& h : server.hosts) {
      std::string host = stripNsPrefix(h);
      if (host == "*") return {};
      if (std::find(out.begin(), out.end(), host) == out.end()) out.push_back(host);
    }
    return out;
  }

  std::optional<CredentialRef> credential(const std::string& name, const WorkloadInstance& pod,
                                          bool needsCa) const {
    if (name.empty()) return std::nullopt;
    // §5: credentialName is looked up in the namespace of the gateway POD, not the Gateway's.
    CredentialRef c;
    c.ns = pod.ns;
    c.name = name;
    c.needsCa = needsCa;
    auto caKey = [](const model::Secret& s) -> std::string {
      for (const char* key : {"ca.crt", "cacert"}) {
        if (s.data.contains(key)) return key;
      }
      return {};
    };
    for (const auto& s : in_.resources.secrets) {
      if (nsOrDefault(s.meta.ns) == pod.ns && s.meta.name == name) {
        c.found = true;
        c.source = s.ref();
        if (std::string key = caKey(s); !key.empty()) {
          c.caFound = true;
          c.caSource = fmt::format("{} key {}", s.ref(), key);
        }
        break;
      }
    }
    if (!c.found) {
      for (std::size_t i = 0; i < in_.secrets.size(); ++i) {
        const auto& s = in_.secrets[i];
        if (nsOrDefault(s.ns) == pod.ns && s.name == name) {
          c.found = true;
          c.source = fmt::format("scenario secrets[{}]", i);
          // Like `kubectl create secret tls`, a minted secret has no CA unless the scenario asks
          // for one (`caCertificate`), which the kind backend writes as key ca.crt too.
          if (s.caCertificate || !s.caFile.empty()) {
            c.caFound = true;
            c.caSource = c.source + " key ca.crt";
          }
          break;
        }
      }
    }
    if (c.found && !c.caFound) {
      // GetCaCert: a separate `<name>-cacert` secret in the same namespace.
      for (const auto& s : in_.resources.secrets) {
        if (nsOrDefault(s.meta.ns) == pod.ns && s.meta.name == name + "-cacert") {
          if (std::string key = caKey(s); !key.empty()) {
            c.caFound = true;
            c.caSource = fmt::format("{} key {}", s.ref(), key);
          }
        }
      }
    }
    return c;
  }

  std::optional<DownstreamTls> serverTls(const model::GatewayServer& s,
                                         const WorkloadInstance& pod) const {
    if (!s.tls || !s.tls->mode) return std::nullopt;
    DownstreamTls t;
    switch (*s.tls->mode) {
      case model::ServerTlsMode::kSimple:
        t.mode = DownstreamTlsMode::kSimple;
        break;
      case model::ServerTlsMode::kMutual:
        t.mode = DownstreamTlsMode::kMutual;
        break;
      case model::ServerTlsMode::kIstioMutual:
        t.mode = DownstreamTlsMode::kIstioMutual;
        break;
      case model::ServerTlsMode::kOptionalMutual:
        t.mode = DownstreamTlsMode::kOptionalMutual;
        break;
      case model::ServerTlsMode::kPassthrough:
        t.mode = DownstreamTlsMode::kPassthrough;
        break;
      case model::ServerTlsMode::kAutoPassthrough:
        t.mode = DownstreamTlsMode::kAutoPassthrough;
        break;
    }
    t.credential = credential(
        s.tls->credentialName, pod,
        t.mode == DownstreamTlsMode::kMutual || t.mode == DownstreamTlsMode::kOptionalMutual);
    t.serverCertificate = s.tls->serverCertificate;
    t.privateKey = s.tls->privateKey;
    t.caCertificates = s.tls->caCertificates;
    t.subjectAltNames = s.tls->subjectAltNames;
    return t;
  }

  // ---------------------------------------------------------------- gateway proxies
  ProxyConfig gatewayProxy(const model::GatewayWorkload& gw) {
    ProxyConfig p;
    p.id = {gw.ns, gw.name, gw.egress ? ProxyKind::kEgressGateway : ProxyKind::kIngressGateway};
    p.version = v_;
    const WorkloadInstance* pod = out_.findWorkload(gw.ns, gw.name);
    p.podIp = pod->ip;
    p.podLabels = pod->labels;
    p.accessLog = accessLogConfig();
    p.readinessProbe = gw.readinessProbe;
    p.outboundTrafficPolicy = out_.outboundTrafficPolicy;  // not applied to gateways (§1)

    // Gateways whose selector matches this pod (§11.1: none → no listener at all).
    std::map<std::uint32_t, std::vector<ServerRef>> byTargetPort;
    for (const auto& g : in_.resources.gateways) {
      if (!selectorMatches(g.selector, pod->labels)) continue;
      const std::string gwName = nsOrDefault(g.meta.ns) + "/" + g.meta.name;
      for (const auto& s : g.servers) {
        // §5 port mapping: listen on the Service's targetPort for the Gateway port.number.
        std::uint32_t target = s.port.number;
        for (const auto& sp : gw.servicePorts) {
          if (sp.port == s.port.number) target = sp.targetPort.value_or(sp.port);
        }
        byTargetPort[target].push_back({&g, &s, gwName});
      }
    }
    for (const auto& [target, servers] : byTargetPort) {
      Listener l;
      l.name = "0.0.0.0_" + portString(target);
      l.port = target;
      l.servicePort = servers.front().server->port.number;
      l.direction = ListenerDirection::kGateway;
      // Istio merges servers per port; the first server's protocol class wins the port.
      const Protocol first = servers.front().server->port.protocol;
      const bool plain = isHttpProtocol(first);
      std::vector<ServerRef> plainServers;
      std::size_t index = 0;
      for (const auto& ref : servers) {
        const model::GatewayServer& s = *ref.server;
        const std::string origin = fmt::format("Gateway {} {}", ref.gatewayName, s.path);
        if (isHttpProtocol(s.port.protocol) != plain) {
          noteAt(p.id, ref.gateway->ref(),
                 fmt::format("{}: server conflicts with another protocol on port {} and is "
                             "dropped, as istiod does",
                             s.path, s.port.number),
                 ref.gateway->origin.at(s.path));
          continue;
        }
        if (plain) {
          plainServers.push_back(ref);
          continue;
        }
        auto tls = serverTls(s, *pod);
        const bool passthrough = s.port.protocol == Protocol::kTls ||
                                 (tls && (tls->mode == DownstreamTlsMode::kPassthrough ||
                                          tls->mode == DownstreamTlsMode::kAutoPassthrough));
        if (s.port.protocol == Protocol::kHttps && !passthrough) {
          FilterChain fc;
          fc.name = fmt::format("{}/{}/{}", l.name, ref.gatewayName, index++);
          fc.serverNames = sniHosts(s);
          fc.transportProtocol = "tls";
          fc.tls = tls;
          fc.kind = FilterChainKind::kHttp;
          // §11.3: each HTTPS server has its own route table.
          const std::string gwShort = ref.gateway->meta.name;
          fc.routeConfigName = fmt::format("https.{}.{}.{}.{}", s.port.number, s.port.name, gwShort,
                                           nsOrDefault(ref.gateway->meta.ns));
          fc.origin = origin;
          if (!s.tls || !s.tls->serverCertificate.empty()) {
            noteAt(p.id, ref.gateway->ref(),
                   fmt::format("{}: file-mounted server certificates are not simulated; use "
                               "credentialName",
                               s.path),
                   ref.gateway->origin.at(s.path));
          }
          if (p.findRouteConfig(fc.routeConfigName) == nullptr) {
            p.routeConfigs.push_back(gatewayRouteConfig(fc.routeConfigName, {ref}, *pod));
            p.reindex();
          }
          l.filterChains.push_back(std::move(fc));
        } else if (passthrough) {
          // SNI passthrough: tls routes of the VSs bound to this server — the server hosts must
          // intersect the VS hosts, a "ns/" prefix must name the VS's namespace
          // (pickMatchingGatewayHosts, 1.8 and 1.22); each match's sniHosts become the chain's
          // server names.
          for (const auto& vs : in_.resources.virtualServices) {
            if (!vsAttachedTo(vs, ref.gatewayName)) continue;
            if (matchingGatewayHosts(s, nsOrDefault(ref.gateway->meta.ns), vs).empty()) continue;
            for (const auto& tr : vs.tls) {
              for (const auto& m : tr.match) {
                if (!m.gateways.empty() && std::find(m.gateways.begin(), m.gateways.end(),
                                                     ref.gatewayName) == m.gateways.end()) {
                  continue;
                }
                if (m.port && *m.port != s.port.number) continue;
                if (tr.route.empty()) continue;
                FilterChain fc;
                fc.name = fmt::format("{}/{}/{}", l.name, ref.gatewayName, index++);
                fc.serverNames = m.sniHosts;
                fc.transportProtocol = "tls";
                fc.kind = FilterChainKind::kSniPassthrough;
                const auto& d = tr.route.front().destination;
                const std::string host = resolveHost(d.host, nsOrDefault(vs.meta.ns));
                fc.cluster = outboundClusterName(
                    destinationPort(d, host, s.port.number).value_or(s.port.number), d.subset,
                    host);
                fc.statPrefix = fc.cluster;
                fc.origin = vs.ref() + " " + tr.path;
                l.filterChains.push_back(std::move(fc));
              }
            }
          }
        } else {
          noteAt(p.id, ref.gateway->ref(),
                 fmt::format("{}: {} gateway servers are not simulated", s.path,
                             model::protocolName(s.port.protocol)),
                 ref.gateway->origin.at(s.path));
        }
      }
      if (!plainServers.empty()) {
        FilterChain fc;
        fc.name = l.name;
        fc.kind = FilterChainKind::kHttp;
        fc.routeConfigName = "http." + portString(target);
        for (const auto& ref : plainServers) {
          if (!fc.origin.empty()) fc.origin += ", ";
          fc.origin += fmt::format("Gateway {} {}", ref.gatewayName, ref.server->path);
        }
        p.routeConfigs.push_back(gatewayRouteConfig(fc.routeConfigName, plainServers, *pod));
        p.reindex();
        l.filterChains.push_back(std::move(fc));
      }
      p.listeners.push_back(std::move(l));
    }
    p.clusters = outboundClusters(gw.ns);
    return p;
  }

  // ---------------------------------------------------------------- sidecars
  std::vector<std::string> serviceDomains(const RegistryService& svc, std::uint32_t port,
                                          const std::string& proxyNs) const {
    std::vector<std::string> d;
    auto both = [&](const std::string& h) {
      d.push_back(h);
      d.push_back(h + ":" + portString(port));
    };
    both(svc.hostname);
    if (!svc.fromServiceEntry) {
      if (svc.ns == proxyNs) both(svc.name);
      both(svc.name + "." + svc.ns);
      both(svc.name + "." + svc.ns + ".svc");
    }
    if (!svc.address.empty()) both(svc.address);
    return d;
  }

  RouteConfig sidecarRouteConfig(std::uint32_t port, const WorkloadInstance& w) const {
    RouteConfig rc;
    rc.name = portString(port);
    rc.validateClusters = false;
    RouteContext ctx{"mesh", w.ns, w.labels, port};
    // The registry as this route config sees it: the services that declare this port
    // (BuildSidecarOutboundVirtualHosts, `GetByPort(listenerPort)`, 1.8 and 1.22). A service
    // without the port is not "registered" here: a VS host naming it gets a plain VS vhost.
    std::set<std::string> portHosts;
    for (const auto& svc : out_.registry.services) {
      for (const auto& p : svc.ports) {
        if (p.port == port) portHosts.insert(svc.hostname);
      }
    }
    // Which VS routes each service of this port: VSs with the exact host, else the most specific
    // wildcard VS host that covers it (separateVSHostsAndServices; a wildcard matching no service
    // stays a VS vhost). A VS with no route for this proxy claims nothing (§2 "no routes").
    struct Claim {
      std::vector<Route> routes;
      std::string wildcard;  // the wildcard VS host that claimed it; "" = exact VS host(s)
    };
    std::map<std::string, Claim> claims;
    std::vector<std::pair<std::string, std::vector<Route>>> vsHosts;  // non-registry hosts
    for (const auto& vs : in_.resources.virtualServices) {
      if (!vsAttachedTo(vs, "mesh")) continue;
      const std::string vsNs = nsOrDefault(vs.meta.ns);
      std::vector<Route> routes;
      for (const auto& hr : vs.http) {
        auto rs = translateRoute(vs, hr, ctx);
        routes.insert(routes.end(), rs.begin(), rs.end());
      }
      if (routes.empty()) continue;
      for (const auto& h : vs.hosts) {
        const std::string host = resolveHost(h, vsNs);
        if (!host.starts_with('*')) {
          if (!portHosts.contains(host)) {
            vsHosts.emplace_back(host, routes);
            continue;
          }
          Claim& c = claims[host];
          if (!c.wildcard.empty()) c = Claim{};  // an exact host beats a wildcard claim
          c.routes.insert(c.routes.end(), routes.begin(), routes.end());
          continue;
        }
        bool matchedService = false;
        for (const auto& svcHost : portHosts) {
          if (!wildcardCovers(host, svcHost)) continue;
          matchedService = true;
          auto it = claims.find(svcHost);
          if (it == claims.end()) {
            claims[svcHost] = Claim{routes, host};
          } else if (!it->second.wildcard.empty() && moreSpecificHost(host, it->second.wildcard)) {
            it->second = Claim{routes, host};
          }
        }
        if (!matchedService) vsHosts.emplace_back(host, routes);
      }
    }
    for (const auto& svc : out_.registry.services) {
      const ServicePortInfo* sp = nullptr;
      for (const auto& p : svc.ports) {
        if (p.port == port && isHttpProtocol(p.protocol)) sp = &p;
      }
      if (sp == nullptr) continue;
      VirtualHost vh;
      vh.name = svc.hostname + ":" + portString(port);
      vh.domains = serviceDomains(svc, port, w.ns);
      if (auto it = claims.find(svc.hostname); it != claims.end()) vh.routes = it->second.routes;
      if (vh.routes.empty()) {
        Route r;
        r.name = "default";
        r.kind = Route::ActionKind::kForward;
        r.forward.clusters.push_back({outboundClusterName(port, "", svc.hostname), 100, {}, {}});
        r.forward.retry = defaultRetryPolicy(v_);  // §9
        r.origin = svc.origin;
        vh.routes.push_back(std::move(r));
      }
      rc.virtualHosts.push_back(std::move(vh));
    }
    // §3: VS hosts that are not services of this port get vhosts on the port-80 route config
    // only.
    if (port == 80) {
      for (auto& [host, routes] : vsHosts) {
        const std::string name = host + ":80";
        auto it = std::find_if(rc.virtualHosts.begin(), rc.virtualHosts.end(),
                               [&](const VirtualHost& v) { return v.name == name; });
        if (it == rc.virtualHosts.end()) {
          VirtualHost vh;
          vh.name = name;
          vh.domains = {host, host + ":80"};
          rc.virtualHosts.push_back(std::move(vh));
          it = rc.virtualHosts.end() - 1;
        }
        it->routes.insert(it->routes.end(), routes.begin(), routes.end());
      }
    }
    // §1: the catch-all vhost — block_all 502 under REGISTRY_ONLY, allow_any passthrough.
    VirtualHost catchAll;
    Route r;
    catchAll.domains = {"*"};
    if (out_.outboundTrafficPolicy == model::OutboundTrafficPolicyMode::kRegistryOnly) {
      catchAll.name = "block_all";
      r.name = "block_all";
      r.kind = Route::ActionKind::kDirectResponse;
      r.direct.status = 502;
    } else {
      catchAll.name = "allow_any";
      r.name = "allow_any";
      r.kind = Route::ActionKind::kForward;
      r.forward.clusters.push_back({std::string(kPassthroughCluster), 100, {}, {}});
    }
    r.origin = "meshConfig.outboundTrafficPolicy (§1)";
    catchAll.routes.push_back(std::move(r));
    rc.virtualHosts.push_back(std::move(catchAll));
    return rc;
  }

  // §6: the service-level mTLS mode istiod infers for auto mTLS — the namespace-wide
  // PeerAuthentication of the service's namespace, else the mesh-wide one (unset inherits);
  // workload-level policies are applied per endpoint instead.
  model::MtlsMode inferredServiceMtls(const std::string& svcNs) const {
    const model::PeerAuthentication* ns = nullptr;
    const model::PeerAuthentication* mesh = nullptr;
    for (const auto& pa : in_.resources.peerAuthentications) {
      if (!pa.selector.empty()) continue;
      const std::string paNs = nsOrDefault(pa.meta.ns);
      if (paNs == svcNs && ns == nullptr) ns = &pa;
      if (paNs == kRootNamespace && mesh == nullptr) mesh = &pa;
    }
    for (const auto* pa : {ns, mesh}) {
      if (pa != nullptr && pa->mode != model::MtlsMode::kUnset) return pa->mode;
    }
    return model::MtlsMode::kPermissive;
  }

  model::MtlsMode peerAuthMode(const WorkloadInstance& w, std::uint32_t port) const {
    // §6: workload-selector policy in the workload's namespace, then the namespace-wide one,
    // then the mesh-wide one in the root namespace; unset inherits; default PERMISSIVE.
    const model::PeerAuthentication* workload = nullptr;
    const model::PeerAuthentication* ns = nullptr;
    const model::PeerAuthentication* mesh = nullptr;
    for (const auto& pa : in_.resources.peerAuthentications) {
      const std::string paNs = nsOrDefault(pa.meta.ns);
      if (paNs == w.ns && !pa.selector.empty() && selectorMatches(pa.selector, w.labels)) {
        if (workload == nullptr) workload = &pa;
      } else if (paNs == w.ns && pa.selector.empty()) {
        if (ns == nullptr) ns = &pa;
      } else if (paNs == kRootNamespace && pa.selector.empty()) {
        if (mesh == nullptr) mesh = &pa;
      }
    }
    for (const auto* pa : {workload, ns, mesh}) {
      if (pa == nullptr) continue;
      auto pl = pa->portLevelMtls.find(port);
      if (pa == workload && pl != pa->portLevelMtls.end() &&
          pl->second != model::MtlsMode::kUnset) {
        return pl->second;
      }
      if (pa->mode != model::MtlsMode::kUnset) return pa->mode;
    }
    return model::MtlsMode::kPermissive;
  }

  ProxyConfig sidecarProxy(const WorkloadInstance& w) const {
    ProxyConfig p;
    p.id = {w.ns, w.name, ProxyKind::kSidecar};
    p.version = v_;
    p.podIp = w.ip;
    p.podLabels = w.labels;
    p.accessLog = accessLogConfig();
    p.outboundTrafficPolicy = out_.outboundTrafficPolicy;
    p.clusters = outboundClusters(w.ns);

    // Outbound listeners per service port (iptables keeps the original destination port).
    std::map<std::uint32_t, std::vector<FilterChain>> tcpChains;
    std::set<std::uint32_t> httpPorts;
    for (const auto& svc : out_.registry.services) {
      for (const auto& sp : svc.ports) {
        if (isHttpProtocol(sp.protocol)) {
          httpPorts.insert(sp.port);
          continue;
        }
        FilterChain fc;
        fc.kind = FilterChainKind::kTcpProxy;
        fc.cluster = outboundClusterName(sp.port, "", svc.hostname);
        fc.statPrefix = fc.cluster;
        fc.origin = svc.origin;
        fc.name = fc.cluster;
        if (!svc.address.empty()) {
          fc.destinationAddresses = {svc.address};
        } else if (svc.fromServiceEntry &&
                   (sp.protocol == Protocol::kTls || sp.protocol == Protocol::kHttps)) {
          fc.serverNames = {svc.hostname};
          fc.transportProtocol = "tls";
        }
        // A TCP ServiceEntry port without addresses matches every destination on that port
        // (IST0134's trap).
        tcpChains[sp.port].push_back(std::move(fc));
      }
    }
    std::set<std::uint32_t> ports = httpPorts;
    for (const auto& [port, chains] : tcpChains) ports.insert(port);
    for (std::uint32_t port : ports) {
      Listener l;
      l.name = "0.0.0.0_" + portString(port);
      l.port = port;
      l.servicePort = port;
      l.direction = ListenerDirection::kSidecarOutbound;
      auto& chains = tcpChains[port];
      // Priority: destination-address chains, then SNI chains, then the HTTP chain, then
      // unconditional TCP chains.
      std::stable_sort(
          chains.begin(), chains.end(), [](const FilterChain& a, const FilterChain& b) {
            auto rank = [](const FilterChain& c) {
              return !c.destinationAddresses.empty() ? 0 : !c.serverNames.empty() ? 1 : 3;
            };
            return rank(a) < rank(b);
          });
      for (auto& c : chains) {
        if (!c.destinationAddresses.empty() || !c.serverNames.empty()) l.filterChains.push_back(c);
      }
      if (httpPorts.contains(port)) {
        FilterChain fc;
        fc.name = l.name;
        fc.kind = FilterChainKind::kHttp;
        fc.routeConfigName = portString(port);
        fc.origin = "registry HTTP port";
        l.filterChains.push_back(std::move(fc));
        p.routeConfigs.push_back(sidecarRouteConfig(port, w));
      }
      for (auto& c : chains) {
        if (c.destinationAddresses.empty() && c.serverNames.empty()) {
          l.filterChains.push_back(c);
          break;  // the first definition wins the port
        }
      }
      p.listeners.push_back(std::move(l));
    }
    // §1: the catch-all for unknown destinations.
    Listener vo;
    vo.name = "virtualOutbound";
    vo.port = 15001;
    vo.servicePort = 15001;
    vo.direction = ListenerDirection::kSidecarVirtualOutbound;
    FilterChain catchAll;
    const bool registryOnly =
        out_.outboundTrafficPolicy == model::OutboundTrafficPolicyMode::kRegistryOnly;
    catchAll.name = registryOnly ? "virtualOutbound-blackhole" : "virtualOutbound-passthrough";
    catchAll.kind = registryOnly ? FilterChainKind::kBlackHole : FilterChainKind::kPassthrough;
    catchAll.cluster = registryOnly ? kBlackHoleCluster : kPassthroughCluster;
    catchAll.statPrefix = catchAll.cluster;
    catchAll.origin = "meshConfig.outboundTrafficPolicy (§1)";
    vo.filterChains.push_back(std::move(catchAll));
    p.listeners.push_back(std::move(vo));

    // Inbound: the workload's own service ports, TLS by PeerAuthentication (§6).
    Listener vi;
    vi.name = "virtualInbound";
    vi.port = 15006;
    vi.servicePort = 15006;
    vi.direction = ListenerDirection::kSidecarInbound;
    std::set<std::uint32_t> inboundPorts;
    for (const auto& svc : out_.registry.services) {
      if (svc.fromServiceEntry || svc.ns != w.ns || svc.selector.empty() ||
          !selectorMatches(svc.selector, w.labels)) {
        continue;
      }
      for (const auto& sp : svc.ports) {
        if (!inboundPorts.insert(sp.targetPort).second) continue;
        const std::string clusterName = fmt::format("inbound|{}||", sp.targetPort);
        FilterChain fc;
        fc.name = clusterName;
        fc.destinationPort = sp.targetPort;
        fc.origin = svc.origin;
        const model::MtlsMode mode = peerAuthMode(w, sp.targetPort);
        if (mode != model::MtlsMode::kDisable) {
          DownstreamTls t;
          t.mode = DownstreamTlsMode::kIstioMutual;
          t.allowPlaintext = mode != model::MtlsMode::kStrict;  // PERMISSIVE
          fc.tls = t;
        }
        if (isHttpProtocol(sp.protocol)) {
          fc.kind = FilterChainKind::kHttp;
          fc.routeConfigName = clusterName;
          RouteConfig rc;
          rc.name = clusterName;
          VirtualHost vh;
          vh.name = fmt::format("inbound|http|{}", sp.port);
          vh.domains = {"*"};
          Route r;
          r.name = "default";
          r.forward.clusters.push_back({clusterName, 100, {}, {}});
          r.origin = svc.origin;
          vh.routes.push_back(std::move(r));
          rc.virtualHosts.push_back(std::move(vh));
          p.routeConfigs.push_back(std::move(rc));
        } else {
          fc.kind = FilterChainKind::kTcpProxy;
          fc.cluster = clusterName;
          fc.statPrefix = clusterName;
        }
        vi.filterChains.push_back(std::move(fc));
        Cluster c;
        c.name = clusterName;
        c.type = ClusterType::kStatic;
        c.protocol = upstreamProtocolFor(sp.protocol);
        c.lbPolicy = defaultLbPolicy(v_);
        c.servicePort = sp.targetPort;
        c.serviceHost = svc.hostname;
        Endpoint e;
        e.address = "127.0.0.1";
        e.port = sp.targetPort;
        e.target.kind = EndpointTarget::Kind::kWorkload;
        e.target.ns = w.ns;
        e.target.name = w.name;
        e.target.port = sp.targetPort;
        e.servicePort = sp.port;
        c.endpoints.push_back(std::move(e));
        c.origin = svc.origin;
        p.clusters.push_back(std::move(c));
      }
    }
    p.listeners.push_back(std::move(vi));
    return p;
  }

  const CompileInput& in_;
  IstioVersion v_;
  CompiledMesh out_;
  int podCounter_ = 0;
  int serviceCounter_ = 0;
};

}  // namespace

Result<CompiledMesh> compileMesh(const CompileInput& input) {
  if (input.version < model::kOldestSupported || input.version > model::kNewestSupported) {
    return invalidInput(fmt::format("Istio {} is outside the simulated range {}–{}",
                                    input.version.str(), model::kOldestSupported.str(),
                                    model::kNewestSupported.str()));
  }
  return Compiler(input).run();
}

Result<CompiledMesh> compileMesh(const model::Scenario& scenario) {
  CompileInput in{scenario.resources,
                  scenario.istioVersion,
                  model::deriveGatewayWorkloads(scenario.resources, scenario.istioVersion),
                  scenario.workloads,
                  scenario.upstreams,
                  scenario.dns,
                  scenario.secrets};
  return compileMesh(in);
}

}  // namespace egresslab::mesh
