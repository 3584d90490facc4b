// Test-only: the seed post's setup built directly as model structs (no YAML), so the compiler's
// tests do not depend on the loader. Mirrors fixtures/seed with
// <my-proxied-service-hostname> = httpbin.example.com, <my-secret-name> = httpbin-credential.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "harness/mesh/compile.h"
#include "harness/mesh/decisions.h"

namespace egresslab::mesh::testing {

inline constexpr const char* kProxiedHost = "httpbin.example.com";
inline constexpr const char* kSecretName = "httpbin-credential";
inline constexpr const char* kEgressService = "httpbin-egress.httpbin.svc.cluster.local";
inline constexpr const char* kSubsetCluster = "outbound|443|http-egress-subset|httpbin.org";
inline constexpr const char* kEgressCluster =
    "outbound|80||httpbin-egress.httpbin.svc.cluster.local";

inline model::IstioVersion version(int minor) { return {1, minor, 0}; }

inline model::Port port(std::uint32_t number, std::string name, model::Protocol protocol,
                        std::string text) {
  model::Port p;
  p.number = number;
  p.name = std::move(name);
  p.protocol = protocol;
  p.protocolText = std::move(text);
  return p;
}

template <typename T>
T meta(std::string kind, std::string ns, std::string name) {
  T r;
  r.kind = std::move(kind);
  r.meta.ns = std::move(ns);
  r.meta.name = std::move(name);
  r.origin.pos = {"seed.yaml", 1, 1};
  return r;
}

// The seed's resources, editable before compiling.
struct SeedSetup {
  model::ResourceSet resources;
  std::vector<model::GatewayWorkload> gateways;
  std::vector<model::WorkloadSpec> workloads;
  std::vector<model::UpstreamSpec> upstreams;
  std::map<std::string, std::string> dns;
  std::vector<model::SecretSpec> secrets;
  model::IstioVersion istio;

  explicit SeedSetup(model::IstioVersion v) : istio(v) {
    using model::Protocol;
    auto cp = meta<model::IstioOperator>("IstioOperator", "istio-operator", "istio-operator");
    cp.profile = "default";
    cp.meshConfig.accessLogFile = "/dev/stdout";
    cp.meshConfig.outboundTrafficPolicy = model::OutboundTrafficPolicyMode::kRegistryOnly;
    resources.istioOperators.push_back(cp);
    auto eg = meta<model::IstioOperator>("IstioOperator", "", "");
    eg.profile = "empty";
    resources.istioOperators.push_back(eg);

    auto ingress = meta<model::Gateway>("Gateway", "istio-system", "my-ingressgateway");
    ingress.selector = {{"istio", "ingressgateway"}};
    model::GatewayServer http;
    http.port = port(80, "http", Protocol::kHttp, "HTTP");
    http.hosts = {kProxiedHost};
    http.tls = model::ServerTls{};
    http.tls->httpsRedirect = true;
    http.path = "spec.servers[0]";
    model::GatewayServer https;
    https.port = port(443, "https", Protocol::kHttps, "https");
    https.hosts = {kProxiedHost};
    https.tls = model::ServerTls{};
    https.tls->mode = model::ServerTlsMode::kSimple;
    https.tls->credentialName = kSecretName;
    https.path = "spec.servers[1]";
    ingress.servers = {http, https};
    resources.gateways.push_back(ingress);

    auto egress = meta<model::Gateway>("Gateway", "httpbin", "httpbin-egress");
    egress.selector = {{"istio", "egressgateway"},
                       {"service.istio.io/canonical-name", "httpbin-egress"}};
    model::GatewayServer ehttp;
    ehttp.port = port(80, "http", Protocol::kHttp, "HTTP");
    ehttp.hosts = {kProxiedHost};
    ehttp.path = "spec.servers[0]";
    egress.servers = {ehttp};
    resources.gateways.push_back(egress);

    auto vs = meta<model::VirtualService>("VirtualService", "httpbin", "httpbin-egress");
    vs.hosts = {kProxiedHost};
    vs.gateways = {"mesh", "istio-system/my-ingressgateway", "httpbin/httpbin-egress"};
    model::HttpRoute r1;
    model::HttpMatch m1;
    m1.gateways = {"istio-system/my-ingressgateway", "mesh"};
    m1.uri = model::StringMatch{model::StringMatch::Kind::kPrefix, "/"};
    r1.match = {m1};
    model::RouteDestination d1;
    d1.destination.host = kEgressService;
    d1.destination.port = 80;
    r1.route = {d1};
    r1.path = "spec.http[0]";
    model::HttpRoute r2;
    model::HttpMatch m2;
    m2.gateways = {"httpbin/httpbin-egress"};
    m2.uri = model::StringMatch{model::StringMatch::Kind::kPrefix, "/"};
    r2.match = {m2};
    model::RouteDestination d2;
    d2.destination.host = "httpbin.org";
    d2.destination.subset = "http-egress-subset";
    d2.destination.port = 443;
    r2.route = {d2};
    r2.path = "spec.http[1]";
    vs.http = {r1, r2};
    resources.virtualServices.push_back(vs);

    auto se = meta<model::ServiceEntry>("ServiceEntry", "httpbin", "httpbin-egress");
    se.hosts = {"httpbin.org"};
    se.location = model::Location::kMeshExternal;
    se.ports = {port(443, "https", Protocol::kTls, "TLS")};
    se.resolution = model::Resolution::kDns;
    resources.serviceEntries.push_back(se);

    auto dr = meta<model::DestinationRule>("DestinationRule", "httpbin", "httpbin-egress");
    dr.host = "httpbin.org";
    model::Subset subset;
    subset.name = "http-egress-subset";
    subset.path = "spec.subsets[0]";
    model::TrafficPolicy tp;
    tp.path = "spec.subsets[0].trafficPolicy";
    tp.loadBalancer = model::LoadBalancerSettings{};
    tp.loadBalancer->simple = "ROUND_ROBIN";
    model::PortTrafficPolicy pl;
    pl.port = 443;
    pl.tls = model::ClientTls{};
    pl.tls->mode = model::ClientTlsMode::kSimple;
    pl.path = "spec.subsets[0].trafficPolicy.portLevelSettings[0]";
    tp.portLevelSettings = {pl};
    subset.trafficPolicy = tp;
    dr.subsets = {subset};
    resources.destinationRules.push_back(dr);

    auto pa = meta<model::PeerAuthentication>("PeerAuthentication", "httpbin", "httpbin-egress");
    pa.mode = model::MtlsMode::kStrict;
    resources.peerAuthentications.push_back(pa);

    model::GatewayWorkload in;
    in.name = "istio-ingressgateway";
    in.ns = "istio-system";
    in.podLabels = {{"app", "istio-ingressgateway"},
                    {"istio", "ingressgateway"},
                    {"service.istio.io/canonical-name", "istio-ingressgateway"},
                    {"sidecar.istio.io/inject", "false"}};
    in.servicePorts = {{"status-port", 15021, 15021, "TCP", ""},
                       {"http2", 80, 8080, "TCP", ""},
                       {"https", 443, 8443, "TCP", ""}};
    gateways.push_back(in);
    model::GatewayWorkload out;
    out.name = "httpbin-egress";
    out.ns = "httpbin";
    out.egress = true;
    out.podLabels = {{"app", "istio-egressgateway"},
                     {"istio", "egressgateway"},
                     {"custom-egress", "httpbin-egress"},
                     {"service.istio.io/canonical-name", "httpbin-egress"},
                     {"sidecar.istio.io/inject", "false"}};
    out.servicePorts = {{"http2", 80, 8080, "TCP", ""}, {"https", 443, 8443, "TCP", ""}};
    if (!v.atLeast(1, 9)) out.servicePorts.push_back({"tls", 15443, 15443, "TCP", ""});
    gateways.push_back(out);

    model::WorkloadSpec sleep;
    sleep.name = "sleep";
    sleep.ns = "httpbin";
    sleep.injected = true;
    workloads.push_back(sleep);

    upstreams.push_back({"httpbin.org", 443, true, "httpbin.org", "", {}});
    dns[kProxiedHost] = "203.0.113.10";
    model::SecretSpec secret;
    secret.name = kSecretName;
    secret.ns = "istio-system";
    secret.hosts = {kProxiedHost};
    secrets.push_back(secret);
  }

  model::DestinationRule& destinationRule() { return resources.destinationRules.front(); }
  model::ClientTls& subsetTls() {
    return *destinationRule().subsets.front().trafficPolicy->portLevelSettings.front().tls;
  }

  CompiledMesh compile() const {
    CompileInput in{resources, istio, gateways, workloads, upstreams, dns, secrets};
    auto r = compileMesh(in);
    if (!r) throw std::runtime_error(r.error().str());
    return std::move(*r);
  }
};

// The seed mesh's proxies by name, and a request routed at a gateway port (tests only).
inline const ProxyConfig& proxy(const CompiledMesh& mesh, std::string_view name) {
  const ProxyConfig* p = mesh.findProxy(name);
  if (p == nullptr) throw std::runtime_error("no proxy " + std::string(name));
  return *p;
}

inline const ProxyConfig& ingress(const CompiledMesh& m) {
  return proxy(m, "istio-system/istio-ingressgateway");
}
inline const ProxyConfig& egress(const CompiledMesh& m) {
  return proxy(m, "httpbin/httpbin-egress");
}
inline const ProxyConfig& sleep(const CompiledMesh& m) { return proxy(m, "httpbin/sleep"); }

// A request arriving at a gateway's port with this SNI (empty = plaintext) and Host.
inline RouteDecision gatewayRequest(const ProxyConfig& p, std::uint32_t port, std::string_view sni,
                                    std::string_view host, std::string_view path = "/status/200") {
  ConnectionInfo c;
  c.localPort = port;
  c.sni = std::string(sni);
  c.tls = !sni.empty();
  c.direction = ListenerDirection::kGateway;
  ChainSelection s = selectFilterChain(p, c);
  if (s.chain == nullptr) throw std::runtime_error("no filter chain");
  RequestView r;
  r.authority = host;
  r.path = path;
  r.scheme = c.tls ? "https" : "http";
  return routeRequest(p, *s.chain, r);
}

// A plaintext HTTP request from a sidecar's app to destination ip:port with this Host.
inline RouteDecision sidecarRequest(const ProxyConfig& p, std::string_view host,
                                    std::uint32_t port = 80, std::string_view ip = "203.0.113.10") {
  ConnectionInfo c;
  c.localPort = port;
  c.destinationAddress = std::string(ip);
  c.direction = ListenerDirection::kSidecarOutbound;
  ChainSelection s = selectFilterChain(p, c);
  if (s.chain == nullptr || s.chain->kind != FilterChainKind::kHttp) {
    throw std::runtime_error("no HTTP chain");
  }
  RequestView r;
  r.authority = host;
  r.path = "/status/200";
  return routeRequest(p, *s.chain, r);
}

}  // namespace egresslab::mesh::testing
