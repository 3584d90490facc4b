// Behaviours an audit against istio/istio and Envoy at their release tags found modelled wrongly
// (issue #15). Each test is named after the behaviour and failed on the compiler before the fix.
// Sections: docs/istio-behaviour.md §N.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/mesh/compile.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/seed_model_for_test.h"

namespace egresslab::mesh {
namespace {

using testing::kEgressCluster;
using testing::kEgressService;
using testing::kProxiedHost;
using testing::kSubsetCluster;
using testing::meta;
using testing::SeedSetup;
using testing::version;

const ProxyConfig& proxy(const CompiledMesh& mesh, std::string_view name) {
  const ProxyConfig* p = mesh.findProxy(name);
  if (p == nullptr) throw std::runtime_error("no proxy " + std::string(name));
  return *p;
}
const ProxyConfig& ingress(const CompiledMesh& m) {
  return proxy(m, "istio-system/istio-ingressgateway");
}
const ProxyConfig& egress(const CompiledMesh& m) { return proxy(m, "httpbin/httpbin-egress"); }
const ProxyConfig& sleep(const CompiledMesh& m) { return proxy(m, "httpbin/sleep"); }

RouteDecision gatewayRequest(const ProxyConfig& p, std::uint32_t port, std::string_view sni,
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

RouteDecision sidecarRequest(const ProxyConfig& p, std::string_view host, std::uint32_t port = 80) {
  ConnectionInfo c;
  c.localPort = port;
  c.destinationAddress = "203.0.113.10";
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

std::string clusterOf(const RouteDecision& d) {
  return d.kind == RouteDecision::Kind::kForward && d.cluster != nullptr ? d.cluster->cluster
                                                                         : std::string("-");
}

model::DestinationRule subsetRule(std::string ns, std::string name, std::string host,
                                  std::string subset) {
  auto dr = meta<model::DestinationRule>("DestinationRule", std::move(ns), std::move(name));
  dr.host = std::move(host);
  model::Subset s;
  s.name = std::move(subset);
  s.path = "spec.subsets[0]";
  dr.subsets = {s};
  return dr;
}

model::HttpRoute directRoute(std::uint32_t status, std::string body,
                             std::optional<std::string> prefix = std::nullopt,
                             std::vector<std::string> gateways = {}) {
  model::HttpRoute r;
  if (prefix || !gateways.empty()) {
    model::HttpMatch m;
    if (prefix) m.uri = model::StringMatch{model::StringMatch::Kind::kPrefix, *prefix};
    m.gateways = std::move(gateways);
    r.match = {m};
  }
  r.directResponse = model::HttpDirectResponse{status, std::move(body)};
  r.path = "spec.http[0]";
  return r;
}

model::HttpRoute forwardTo(std::string host, std::uint32_t port) {
  model::HttpRoute r;
  model::RouteDestination d;
  d.destination.host = std::move(host);
  d.destination.port = port;
  r.route = {d};
  r.path = "spec.http[0]";
  return r;
}

model::ServiceEntry serviceEntry(std::string name, std::string host, model::Port port) {
  auto se = meta<model::ServiceEntry>("ServiceEntry", "httpbin", std::move(name));
  se.hosts = {std::move(host)};
  se.location = model::Location::kMeshExternal;
  se.resolution = model::Resolution::kDns;
  se.ports = {std::move(port)};
  return se;
}

// ------------------------------------------------------------------ §4 DR lookup (items 1–3)
TEST(Sec4_DrLookup, RuleInAnUnrelatedNamespaceDefinesNoSubsetSoEgressAnswers503NC) {
  SeedSetup s(version(22));
  s.destinationRule().meta.ns = "other";  // neither the proxy's, the service's nor the root
  CompiledMesh m = s.compile();
  EXPECT_EQ(egress(m).findCluster(kSubsetCluster), nullptr);
  RouteDecision d = gatewayRequest(egress(m), 8080, "", kProxiedHost);
  ASSERT_EQ(clusterOf(d), kSubsetCluster);
  ClusterResolution r = resolveCluster(egress(m), kSubsetCluster);
  ASSERT_TRUE(r.localReply.has_value());
  EXPECT_EQ(r.localReply->status, 503u);
  EXPECT_EQ(r.localReply->details, "cluster_not_found");
}

TEST(Sec4_DrLookup, IngressInRootNamespaceUsesServiceNamespaceRuleOverPublicRootRule) {
  SeedSetup s(version(22));
  s.resources.destinationRules.push_back(
      subsetRule("istio-system", "root", "httpbin.org", "root-only"));
  CompiledMesh m = s.compile();
  EXPECT_NE(ingress(m).findCluster(kSubsetCluster), nullptr);
  EXPECT_EQ(ingress(m).findCluster("outbound|443|root-only|httpbin.org"), nullptr);
  // A root rule exported to "." only is the root-namespace proxy's own and comes first.
  s.resources.destinationRules.back().exportTo = {"."};
  m = s.compile();
  EXPECT_NE(ingress(m).findCluster("outbound|443|root-only|httpbin.org"), nullptr);
  EXPECT_EQ(ingress(m).findCluster(kSubsetCluster), nullptr);
  EXPECT_NE(egress(m).findCluster(kSubsetCluster), nullptr);
}

TEST(Sec4_DrLookup, ExactHostRuleBeatsAnEarlierWildcardRuleInTheSameNamespace) {
  SeedSetup s(version(22));
  s.resources.destinationRules.insert(s.resources.destinationRules.begin(),
                                      subsetRule("httpbin", "wide", "*.org", "wide"));
  CompiledMesh m = s.compile();
  const Cluster* c = egress(m).findCluster(kSubsetCluster);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->tls.has_value());
  EXPECT_EQ(c->tls->mode, UpstreamTlsMode::kSimple);
  EXPECT_EQ(egress(m).findCluster("outbound|443|wide|httpbin.org"), nullptr);
}

TEST(Sec4_DrLookup, SecondRuleForTheSameHostInOneNamespaceIsNoted) {
  SeedSetup s(version(22));
  s.resources.destinationRules.push_back(subsetRule("httpbin", "again", "httpbin.org", "more"));
  CompiledMesh m = s.compile();
  bool noted = false;
  for (const auto& n : m.notSimulated) noted |= n.ref == "DestinationRule httpbin/again";
  EXPECT_TRUE(noted);
}

// ------------------------------------------------------------------ §3 per-port registry (4)
TEST(Sec3_Registry, VsHostWhoseServiceEntryHasOnlyPort443GetsAPort80VhostNotBlockAll) {
  SeedSetup s(version(22));
  s.resources.serviceEntries.push_back(serviceEntry(
      "api", "api.partner.example", testing::port(443, "tls", model::Protocol::kTls, "TLS")));
  auto vs = meta<model::VirtualService>("VirtualService", "httpbin", "api");
  vs.hosts = {"api.partner.example"};
  vs.gateways = {"mesh"};
  vs.http = {forwardTo(kEgressService, 80)};
  s.resources.virtualServices.push_back(vs);
  CompiledMesh m = s.compile();
  RouteDecision d = sidecarRequest(sleep(m), "api.partner.example");
  EXPECT_EQ(d.virtualHost->name, "api.partner.example:80");
  EXPECT_EQ(clusterOf(d), kEgressCluster);
}

// ------------------------------------------------------------------ §2 wildcard VS hosts (5)
TEST(Sec2_Sidecar, WildcardVsHostRoutesAMatchingServiceEntryHost) {
  SeedSetup s(version(22));
  s.resources.serviceEntries.push_back(serviceEntry(
      "shop", "shop.partner.example", testing::port(80, "http", model::Protocol::kHttp, "HTTP")));
  s.upstreams.push_back({"shop.partner.example", 80, false, "shop", {}});
  auto vs = meta<model::VirtualService>("VirtualService", "httpbin", "partners");
  vs.hosts = {"*.partner.example"};
  vs.gateways = {"mesh"};
  vs.http = {forwardTo(kEgressService, 80)};
  s.resources.virtualServices.push_back(vs);
  CompiledMesh m = s.compile();
  RouteDecision d = sidecarRequest(sleep(m), "shop.partner.example");
  EXPECT_EQ(d.virtualHost->name, "shop.partner.example:80");
  EXPECT_EQ(clusterOf(d), kEgressCluster);
  // An exact-host VS for the service wins over the wildcard.
  auto exact = meta<model::VirtualService>("VirtualService", "httpbin", "shop");
  exact.hosts = {"shop.partner.example"};
  exact.gateways = {"mesh"};
  exact.http = {directRoute(418, "exact")};
  s.resources.virtualServices.push_back(exact);
  m = s.compile();
  d = sidecarRequest(sleep(m), "shop.partner.example");
  EXPECT_EQ(d.response.status, 418u);
}

// ------------------------------------------------------------------ §2 gateway merge (8, 9)
TEST(Sec2_Gateway, CatchAllRouteOfOneVsGoesAfterSpecificRoutesOfAnother) {
  SeedSetup s(version(22));
  // The seed VS has a catch-all (prefix "/") for the host; a second VS adds /special.
  auto vs = meta<model::VirtualService>("VirtualService", "httpbin", "special");
  vs.hosts = {kProxiedHost};
  vs.gateways = {"istio-system/my-ingressgateway"};
  vs.http = {directRoute(418, "special", "/special")};
  s.resources.virtualServices.push_back(vs);
  for (int minor : {8, 22}) {
    s.istio = version(minor);
    CompiledMesh m = s.compile();
    RouteDecision d = gatewayRequest(ingress(m), 8443, kProxiedHost, kProxiedHost, "/special/x");
    EXPECT_EQ(d.response.status, 418u) << minor;
    d = gatewayRequest(ingress(m), 8443, kProxiedHost, kProxiedHost, "/status/200");
    EXPECT_EQ(clusterOf(d), kEgressCluster) << minor;
  }
}

TEST(Sec2_Gateway, VsWithOnlyMeshRoutesBuildsNoVhostSoAWildcardVsServesTheHost) {
  SeedSetup s(version(22));
  auto gw = meta<model::Gateway>("Gateway", "istio-system", "shop-gw");
  gw.selector = {{"istio", "ingressgateway"}};
  model::GatewayServer server;
  server.port = testing::port(80, "http", model::Protocol::kHttp, "HTTP");
  server.hosts = {"*.shop.example"};
  server.path = "spec.servers[0]";
  gw.servers = {server};
  s.resources.gateways.push_back(gw);
  auto exact = meta<model::VirtualService>("VirtualService", "httpbin", "a-shop");
  exact.hosts = {"a.shop.example"};
  exact.gateways = {"istio-system/shop-gw", "mesh"};
  exact.http = {directRoute(200, "mesh only", std::nullopt, {"mesh"})};
  s.resources.virtualServices.push_back(exact);
  auto wild = meta<model::VirtualService>("VirtualService", "httpbin", "shops");
  wild.hosts = {"*.shop.example"};
  wild.gateways = {"istio-system/shop-gw"};
  wild.http = {directRoute(203, "wildcard")};
  s.resources.virtualServices.push_back(wild);
  CompiledMesh m = s.compile();
  RouteDecision d = gatewayRequest(ingress(m), 8080, "", "a.shop.example");
  EXPECT_EQ(d.response.status, 203u);
  EXPECT_EQ(d.response.body, "wildcard");
}

// ------------------------------------------------------------------ §6 auto mTLS (6)
struct ShopWeb {
  SeedSetup s{version(22)};
  ShopWeb() {
    model::WorkloadSpec web;
    web.name = "web";
    web.ns = "shop";
    web.injected = true;
    s.workloads.push_back(web);
  }
  std::optional<EffectiveUpstreamTls> tlsFromSleep() const {
    CompiledMesh m = s.compile();
    const Cluster* c = sleep(m).findCluster("outbound|80||web.shop.svc.cluster.local");
    if (c == nullptr || c->endpoints.empty()) throw std::runtime_error("no web cluster");
    return upstreamTlsFor(*c, c->endpoints.front(), "web.shop");
  }
};

TEST(Sec6_AutoMtls, NamespaceWideDisableOnTheServerMakesTheClientSendPlaintext) {
  ShopWeb w;
  ASSERT_TRUE(w.tlsFromSleep().has_value()) << "PERMISSIVE: auto mTLS to an injected pod";
  auto pa = meta<model::PeerAuthentication>("PeerAuthentication", "shop", "default");
  pa.mode = model::MtlsMode::kDisable;
  w.s.resources.peerAuthentications.push_back(pa);
  EXPECT_FALSE(w.tlsFromSleep().has_value());
}

TEST(Sec6_AutoMtls, WorkloadLevelDisableMakesThatEndpointPlaintext) {
  ShopWeb w;
  auto pa = meta<model::PeerAuthentication>("PeerAuthentication", "shop", "web");
  pa.selector = {{"app", "web"}};
  pa.mode = model::MtlsMode::kDisable;
  w.s.resources.peerAuthentications.push_back(pa);
  EXPECT_FALSE(w.tlsFromSleep().has_value());
  // A mesh-wide STRICT does not override the workload's DISABLE.
  auto mesh = meta<model::PeerAuthentication>("PeerAuthentication", "istio-system", "default");
  mesh.mode = model::MtlsMode::kStrict;
  w.s.resources.peerAuthentications.push_back(mesh);
  EXPECT_FALSE(w.tlsFromSleep().has_value());
}

// ------------------------------------------------------------------ §5 PASSTHROUGH (7)
struct Passthrough {
  SeedSetup s{version(22)};
  explicit Passthrough(std::vector<std::string> serverHosts) {
    model::GatewayServer server;
    server.port = testing::port(443, "tls", model::Protocol::kTls, "TLS");
    server.hosts = std::move(serverHosts);
    server.tls = model::ServerTls{};
    server.tls->mode = model::ServerTlsMode::kPassthrough;
    server.path = "spec.servers[1]";
    s.resources.gateways[1].servers.push_back(server);
    auto vs = meta<model::VirtualService>("VirtualService", "httpbin", "passthrough");
    vs.hosts = {"httpbin.org"};
    vs.gateways = {"httpbin/httpbin-egress"};
    model::L4Route tr;
    model::L4Match match;
    match.sniHosts = {"httpbin.org"};
    tr.match = {match};
    model::RouteDestination d;
    d.destination.host = "httpbin.org";
    d.destination.port = 443;
    tr.route = {d};
    tr.path = "spec.tls[0]";
    vs.tls = {tr};
    s.resources.virtualServices.push_back(vs);
  }
  const FilterChain* chainFor(std::string_view sni) const {
    static CompiledMesh m;
    m = s.compile();
    ConnectionInfo c{8443, "", std::string(sni), true, ListenerDirection::kGateway};
    return selectFilterChain(egress(m), c).chain;
  }
};

TEST(Sec5_Passthrough, TlsRouteBindsOnlyWhenServerHostsMatchTheVsHosts) {
  EXPECT_EQ(Passthrough({"other.example"}).chainFor("httpbin.org"), nullptr);
  const FilterChain* c = Passthrough({"httpbin.org"}).chainFor("httpbin.org");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->kind, FilterChainKind::kSniPassthrough);
  EXPECT_EQ(c->cluster, "outbound|443||httpbin.org");
}

TEST(Sec5_Passthrough, ServerHostNamespacePrefixMustNameTheVsNamespace) {
  EXPECT_EQ(Passthrough({"istio-system/httpbin.org"}).chainFor("httpbin.org"), nullptr);
  EXPECT_NE(Passthrough({"httpbin/httpbin.org"}).chainFor("httpbin.org"), nullptr);
  EXPECT_NE(Passthrough({"./*"}).chainFor("httpbin.org"), nullptr);
}

// ------------------------------------------------------------------ §5 httpsRedirect (10, 11)
TEST(Sec5_Redirect, Istio1_8_0To1_8_2RedirectEveryServerHostIgnoringBoundVs) {
  for (model::IstioVersion v :
       {model::IstioVersion{1, 8, 0}, model::IstioVersion{1, 8, 2}, model::IstioVersion{1, 8, 3}}) {
    SeedSetup s(v);
    s.resources.gateways[0].servers[0].hosts = {kProxiedHost, "other.example.com"};
    CompiledMesh m = s.compile();
    RouteDecision d = gatewayRequest(ingress(m), 8080, "", "other.example.com");
    EXPECT_EQ(d.response.status, v.patch < 3 ? 301u : 404u) << v.str();
    const RouteConfig* rc = ingress(m).findRouteConfig("http.8080");
    ASSERT_NE(rc, nullptr);
    for (const auto& vh : rc->virtualHosts) {
      if (vh.name != std::string(kProxiedHost) + ":80") continue;
      EXPECT_TRUE(vh.requireTls);
      EXPECT_EQ(vh.routes.empty(), v.patch < 3) << v.str() << ": bound VS ignored before 1.8.3";
    }
  }
}

TEST(Sec5_Redirect, VsMatchingOnlyPort443LeavesPort80WithoutVhostFrom1_8_3To1_11) {
  for (model::IstioVersion v :
       {model::IstioVersion{1, 8, 0}, model::IstioVersion{1, 10, 0}, model::IstioVersion{1, 11, 0},
        model::IstioVersion{1, 12, 0}, model::IstioVersion{1, 22, 0}}) {
    SeedSetup s(v);
    s.resources.virtualServices[0].http[0].match[0].port = 443;
    CompiledMesh m = s.compile();
    RouteDecision d = gatewayRequest(ingress(m), 8080, "", kProxiedHost);
    const bool notFound = v.atLeast(1, 8, 3) && !v.atLeast(1, 12);
    EXPECT_EQ(d.response.status, notFound ? 404u : 301u) << v.str();
  }
}

// ------------------------------------------------------------------ §4 auto SNI (12)
TEST(Sec4_AutoSni, RewriteAuthorityFixesTheSniTrapFromIstio1_24) {
  for (int minor : {22, 23, 24, 28}) {
    SeedSetup s(version(minor));
    s.resources.virtualServices[0].http[1].rewrite = model::HttpRewrite{"", "httpbin.org"};
    CompiledMesh m = s.compile();
    RouteDecision d = gatewayRequest(egress(m), 8080, "", kProxiedHost);
    ASSERT_EQ(clusterOf(d), kSubsetCluster);
    EXPECT_EQ(d.upstreamAuthority, "httpbin.org");
    const Cluster* c = egress(m).findCluster(kSubsetCluster);
    ASSERT_NE(c, nullptr);
    auto tls = upstreamTlsFor(*c, c->endpoints.front(), kProxiedHost, d.upstreamAuthority);
    ASSERT_TRUE(tls.has_value());
    const std::string want = minor >= 24 ? "httpbin.org" : kProxiedHost;
    EXPECT_EQ(tls->sni, want) << minor;
    EXPECT_THAT(tls->verifySubjectAltNames, ::testing::ElementsAre(want)) << minor;
  }
}

// ------------------------------------------------------------------ §5 MUTUAL needs a CA
struct MutualIngress {
  SeedSetup s{version(22)};
  MutualIngress() {
    auto& tls = *s.resources.gateways[0].servers[1].tls;
    tls.mode = model::ServerTlsMode::kMutual;
    tls.credentialName = "mtls-cred";
  }
  void secret(std::string name, std::vector<std::string> keys) {
    auto sec = meta<model::Secret>("Secret", "istio-system", std::move(name));
    for (auto& k : keys) sec.data[k] = "x";
    s.resources.secrets.push_back(sec);
  }
  const CredentialRef& credential() {
    static CompiledMesh m;
    m = s.compile();
    ConnectionInfo c{8443, "", kProxiedHost, true, ListenerDirection::kGateway};
    const FilterChain* fc = selectFilterChain(ingress(m), c).chain;
    if (fc == nullptr || !fc->tls || !fc->tls->credential) throw std::runtime_error("no chain");
    ready = chainCredentialReady(*fc);
    return *fc->tls->credential;
  }
  bool ready = false;
};

TEST(Sec5_Mutual, TlsSecretWithoutCaIsNotReady) {
  MutualIngress g;
  g.secret("mtls-cred", {"tls.crt", "tls.key"});
  const CredentialRef& c = g.credential();
  EXPECT_TRUE(c.found);
  EXPECT_FALSE(c.caFound);
  EXPECT_FALSE(g.ready);
}

TEST(Sec5_Mutual, CaFromTheSecretOrACacertSecretOrTheScenarioMakesItReady) {
  {
    MutualIngress g;
    g.secret("mtls-cred", {"tls.crt", "tls.key", "ca.crt"});
    EXPECT_EQ(g.credential().caSource, "Secret istio-system/mtls-cred key ca.crt");
    EXPECT_TRUE(g.ready);
  }
  {
    MutualIngress g;
    g.secret("mtls-cred", {"tls.crt", "tls.key"});
    g.secret("mtls-cred-cacert", {"cacert"});
    EXPECT_EQ(g.credential().caSource, "Secret istio-system/mtls-cred-cacert key cacert");
    EXPECT_TRUE(g.ready);
  }
  {
    MutualIngress g;
    g.s.secrets.push_back({"mtls-cred", "istio-system", {kProxiedHost}, {}, {}, {}});
    EXPECT_TRUE(g.credential().caFound);
    EXPECT_TRUE(g.ready);
  }
  {
    // SIMPLE never needs a CA.
    MutualIngress g;
    g.s.resources.gateways[0].servers[1].tls->mode = model::ServerTlsMode::kSimple;
    g.secret("mtls-cred", {"tls.crt", "tls.key"});
    EXPECT_FALSE(g.credential().needsCa);
    EXPECT_TRUE(g.ready);
  }
}

}  // namespace
}  // namespace egresslab::mesh
