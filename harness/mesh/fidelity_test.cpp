// Behaviours an audit against istio/istio and Envoy at their release tags found modelled wrongly
// (issue #15). Each test is named after the behaviour and failed on the compiler before the fix.
// Sections: docs/istio-behaviour.md §N.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

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

using testing::egress;
using testing::gatewayRequest;
using testing::ingress;
using testing::proxy;
using testing::sidecarRequest;
using testing::sleep;

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
  s.upstreams.push_back({"shop.partner.example", 80, false, "shop", "", {}});
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
// §2 (istio.io "Egress Gateways" for HTTPS): a tls route bound to the mesh sends the sidecar's TLS
// for that SNI to the route's destination — the egress gateway — instead of the service itself.
TEST(Sec2_SidecarTls, MeshTlsRouteSendsTheSniToTheEgressGatewaySubset) {
  SeedSetup s(version(24));
  auto vs = meta<model::VirtualService>("VirtualService", "httpbin", "tls-through-egress");
  vs.hosts = {"httpbin.org"};
  vs.gateways = {"mesh"};
  model::L4Route tr;
  tr.path = "spec.tls[0]";
  model::L4Match m;
  m.port = 443;
  m.sniHosts = {"httpbin.org"};
  tr.match = {m};
  model::RouteDestination d;
  d.destination.host = kEgressService;
  d.destination.subset = "tls";
  d.destination.port = 443;
  tr.route = {d};
  vs.tls = {tr};
  s.resources.virtualServices.push_back(vs);
  CompiledMesh mesh = s.compile();
  ConnectionInfo c{443, "203.0.113.99", "httpbin.org", true, ListenerDirection::kSidecarOutbound};
  const FilterChain* fc = selectFilterChain(sleep(mesh), c).chain;
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->kind, FilterChainKind::kTcpProxy);
  EXPECT_EQ(fc->cluster, std::string("outbound|443|tls|") + kEgressService);
  EXPECT_EQ(fc->origin, "VirtualService httpbin/tls-through-egress spec.tls[0]");
  // Another SNI on the port still reaches nothing through this route.
  ConnectionInfo other{443, "203.0.113.99", "other.example", true,
                       ListenerDirection::kSidecarOutbound};
  const FilterChain* o = selectFilterChain(sleep(mesh), other).chain;
  EXPECT_TRUE(o == nullptr || o->cluster != fc->cluster);
}

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
    // A scenario secret carries a CA only when it says `caCertificate`, as on kind.
    MutualIngress g;
    model::SecretSpec spec;
    spec.name = "mtls-cred";
    spec.ns = "istio-system";
    spec.hosts = {kProxiedHost};
    g.s.secrets.push_back(spec);
    EXPECT_FALSE(g.credential().caFound);
    EXPECT_FALSE(g.ready);
    g.s.secrets.back().caCertificate = true;
    EXPECT_TRUE(g.credential().caFound);
    EXPECT_EQ(g.credential().caSource,
              fmt::format("scenario secrets[{}] key ca.crt", g.s.secrets.size() - 1));
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

// ------------------------------------------------------------------ issue #9 item 5: rows of
// docs/fidelity.md that cited no test or a source file.

// A request from the sleep sidecar's app to 203.0.113.10:80 (any IP: routing is by Host, §3).
RouteDecision appRequest(const ProxyConfig& p, const RequestView& r) {
  ConnectionInfo c;
  c.localPort = 80;
  c.destinationAddress = "203.0.113.10";
  c.direction = ListenerDirection::kSidecarOutbound;
  ChainSelection s = selectFilterChain(p, c);
  if (s.chain == nullptr || s.chain->kind != FilterChainKind::kHttp) {
    throw std::runtime_error("no HTTP chain");
  }
  return routeRequest(p, *s.chain, r);
}

RouteDecision appRequest(const ProxyConfig& p, std::string_view host, std::string_view path) {
  RequestView r;
  r.authority = host;
  r.path = path;
  return appRequest(p, r);
}

model::HttpMatch prefixMatch(std::string prefix) {
  model::HttpMatch m;
  m.uri = model::StringMatch{model::StringMatch::Kind::kPrefix, std::move(prefix)};
  return m;
}

model::HttpRoute directWith(model::HttpMatch m, std::uint32_t status, std::string body) {
  model::HttpRoute r = directRoute(status, std::move(body));
  r.match = {std::move(m)};
  return r;
}

// §2 sourceMatchHTTP: with match.gateways empty, sourceLabels must be a subset of the proxy's
// labels and sourceNamespace must equal its namespace; with match.gateways set, both are ignored.
TEST(Sec2_Source, SourceLabelsAndNamespaceSelectTheProxyOnlyWithoutMatchGateways) {
  SeedSetup s(version(22));
  auto vs = meta<model::VirtualService>("VirtualService", "httpbin", "partner");
  vs.hosts = {"api.partner.example"};  // gateways empty = mesh
  model::HttpMatch otherApp = prefixMatch("/labels");
  otherApp.sourceLabels = {{"app", "web"}};
  model::HttpMatch sleepApp = prefixMatch("/labels");
  sleepApp.sourceLabels = {{"app", "sleep"}};
  model::HttpMatch otherNs = prefixMatch("/ns");
  otherNs.sourceNamespace = "shop";
  model::HttpMatch ownNs = prefixMatch("/ns");
  ownNs.sourceNamespace = "httpbin";
  model::HttpMatch gatewaysWin = prefixMatch("/gw");
  gatewaysWin.gateways = {"mesh"};
  gatewaysWin.sourceLabels = {{"app", "web"}};
  gatewaysWin.sourceNamespace = "shop";
  vs.http = {
      directWith(otherApp, 211, "web labels"),        directWith(sleepApp, 212, "sleep labels"),
      directWith(otherNs, 213, "shop namespace"),     directWith(ownNs, 214, "httpbin namespace"),
      directWith(gatewaysWin, 215, "match.gateways"), directRoute(299, "fallback")};
  s.resources.virtualServices.push_back(vs);
  CompiledMesh m = s.compile();
  EXPECT_EQ(appRequest(sleep(m), "api.partner.example", "/labels").response.status, 212u);
  EXPECT_EQ(appRequest(sleep(m), "api.partner.example", "/ns").response.status, 214u);
  EXPECT_EQ(appRequest(sleep(m), "api.partner.example", "/gw").response.status, 215u);

  // The same VS seen from a proxy that matches neither source: only the fallback is left.
  s.workloads.front().labels = {{"app", "curl"}};
  auto& pa = s.resources.virtualServices.back().http;
  pa[1].match[0].sourceLabels = {{"app", "sleep"}, {"version", "v1"}};  // not a subset
  pa[3].match[0].sourceNamespace = "elsewhere";
  m = s.compile();
  EXPECT_EQ(appRequest(sleep(m), "api.partner.example", "/labels").response.status, 299u);
  EXPECT_EQ(appRequest(sleep(m), "api.partner.example", "/ns").response.status, 299u);
  EXPECT_EQ(appRequest(sleep(m), "api.partner.example", "/gw").response.status, 215u);
}

// §2 route matching and actions as compiled from a VirtualService (not a hand-built RouteConfig):
// method, withoutHeaders, authority, queryParams, port, redirect, header operations.
TEST(Sec2_Routing, VsMatchFieldsAndActionsCompileAndRoute) {
  SeedSetup s(version(22));
  auto vs = meta<model::VirtualService>("VirtualService", "httpbin", "partner");
  vs.hosts = {"api.partner.example"};
  model::HttpMatch post = prefixMatch("/m");
  post.method = model::StringMatch{model::StringMatch::Kind::kExact, "POST"};
  model::HttpMatch without = prefixMatch("/w");
  without.withoutHeaders["x-block"] = model::StringMatch{model::StringMatch::Kind::kExact, "yes"};
  model::HttpMatch authority = prefixMatch("/a");
  authority.authority = model::StringMatch{model::StringMatch::Kind::kPrefix, "api."};
  model::HttpMatch query = prefixMatch("/q");
  query.queryParams["v"] = model::StringMatch{model::StringMatch::Kind::kExact, "1"};
  model::HttpMatch otherPort = prefixMatch("/p");
  otherPort.port = 8080;
  model::HttpRoute redirect;
  redirect.match = {prefixMatch("/r")};
  redirect.redirect = model::HttpRedirect{"/moved", "other.example", "", std::nullopt, 302};
  redirect.path = "spec.http[5]";
  model::HttpRoute headers = forwardTo("httpbin.org", 443);
  headers.match = {prefixMatch("/h")};
  headers.headers.request.set = {{"x-set", "1"}};
  headers.headers.request.remove = {"x-drop"};
  headers.headers.response.add = {{"x-added", "2"}};
  vs.http = {directWith(post, 201, "post"),
             directWith(without, 202, "without"),
             directWith(authority, 203, "authority"),
             directWith(query, 204, "query"),
             directWith(otherPort, 205, "port"),
             redirect,
             headers,
             directRoute(299, "fallback")};
  s.resources.virtualServices.push_back(vs);
  CompiledMesh m = s.compile();
  const ProxyConfig& p = sleep(m);
  const std::string_view host = "api.partner.example";

  RequestView r;
  r.authority = host;
  r.path = "/m";
  EXPECT_EQ(appRequest(p, r).response.status, 299u);  // GET
  r.method = "POST";
  EXPECT_EQ(appRequest(p, r).response.status, 201u);

  std::vector<std::pair<std::string, std::string>> block{{"X-Block", "yes"}};
  std::vector<std::pair<std::string, std::string>> other{{"X-Block", "no"}};
  r.method = "GET";
  r.path = "/w";
  EXPECT_EQ(appRequest(p, r).response.status, 202u);  // header absent
  r.headers = &other;
  EXPECT_EQ(appRequest(p, r).response.status, 202u);
  r.headers = &block;
  EXPECT_EQ(appRequest(p, r).response.status, 299u);

  EXPECT_EQ(appRequest(p, host, "/a").response.status, 203u);
  EXPECT_EQ(appRequest(p, host, "/q?v=1").response.status, 204u);
  EXPECT_EQ(appRequest(p, host, "/q?v=2").response.status, 299u);
  EXPECT_EQ(appRequest(p, host, "/p").response.status, 299u);  // port 8080 match, port 80 here

  RouteDecision d = appRequest(p, host, "/r/x");
  EXPECT_EQ(d.kind, RouteDecision::Kind::kRedirect);
  EXPECT_EQ(d.response.status, 302u);
  EXPECT_EQ(d.response.location, "http://other.example/moved");

  d = appRequest(p, host, "/h");
  ASSERT_EQ(d.kind, RouteDecision::Kind::kForward);
  EXPECT_EQ(d.cluster->cluster, "outbound|443||httpbin.org");
  ASSERT_NE(d.forward, nullptr);
  EXPECT_THAT(d.forward->requestHeaders.set,
              ::testing::ElementsAre(std::pair<std::string, std::string>{"x-set", "1"}));
  EXPECT_THAT(d.forward->requestHeaders.remove, ::testing::ElementsAre("x-drop"));
  EXPECT_THAT(d.forward->responseHeaders.add,
              ::testing::ElementsAre(std::pair<std::string, std::string>{"x-added", "2"}));
}

// §6 DestinationRule ISTIO_MUTUAL: mesh client certificate, SNI outbound_.PORT_.SUBSET_.HOST,
// verification against the mesh CA with the endpoints' spiffe identities — also towards a pod
// without the tlsMode label, where auto mTLS would send plaintext.
TEST(Sec6_IstioMutual, DestinationRuleIstioMutualUsesMeshCertsAndOutboundSni) {
  SeedSetup s(version(22));
  auto dr = subsetRule("httpbin", "egress-mtls", kEgressService, "mtls");
  model::TrafficPolicy tp;
  tp.path = "spec.trafficPolicy";
  tp.tls = model::ClientTls{};
  tp.tls->mode = model::ClientTlsMode::kIstioMutual;
  dr.trafficPolicy = tp;
  s.resources.destinationRules.push_back(dr);
  CompiledMesh m = s.compile();

  const Cluster* c = sleep(m).findCluster(kEgressCluster);
  ASSERT_NE(c, nullptr);
  ASSERT_FALSE(c->endpoints.empty());
  EXPECT_EQ(c->endpoints.front().tlsMode, "");  // a gateway pod: auto mTLS would be plaintext
  auto tls = upstreamTlsFor(*c, c->endpoints.front(), kProxiedHost);
  ASSERT_TRUE(tls.has_value());
  EXPECT_EQ(tls->mode, UpstreamTlsMode::kIstioMutual);
  EXPECT_TRUE(tls->presentMeshClientCert);
  EXPECT_EQ(tls->verify, ServerVerification::kMeshCa);
  EXPECT_EQ(tls->sni, "outbound_.80_._.httpbin-egress.httpbin.svc.cluster.local");
  EXPECT_THAT(tls->verifySubjectAltNames,
              ::testing::ElementsAre(
                  "spiffe://cluster.local/ns/httpbin/sa/httpbin-egress-service-account"));

  const std::string subsetCluster = "outbound|80|mtls|httpbin-egress.httpbin.svc.cluster.local";
  const Cluster* sc = sleep(m).findCluster(subsetCluster);
  ASSERT_NE(sc, nullptr);
  auto stls = upstreamTlsFor(*sc, sc->endpoints.front(), kProxiedHost);
  ASSERT_TRUE(stls.has_value());
  EXPECT_EQ(stls->sni, "outbound_.80_.mtls_.httpbin-egress.httpbin.svc.cluster.local");
}

// §10 registry: a scenario workload gets a Service like samples/sleep (port 80 named http).
TEST(Sec10_Registry, ScenarioWorkloadGetsAServiceWithPort80Http) {
  CompiledMesh m = SeedSetup(version(22)).compile();
  const RegistryService* svc = m.findService("sleep.httpbin.svc.cluster.local");
  ASSERT_NE(svc, nullptr);
  ASSERT_EQ(svc->ports.size(), 1u);
  EXPECT_EQ(svc->ports[0].port, 80u);
  EXPECT_EQ(svc->ports[0].name, "http");
  EXPECT_EQ(svc->ports[0].protocol, model::Protocol::kHttp);
  ASSERT_EQ(svc->endpoints.size(), 1u);
  EXPECT_EQ(svc->endpoints[0].target.name, "sleep");
}

// §1: gateway pods have no sidecar (no outbound capture), so REGISTRY_ONLY never applies to
// their own traffic; every listener of a gateway proxy is a gateway listener.
TEST(Sec1_Gateways, GatewayProxiesHaveNoOutboundCaptureListeners) {
  CompiledMesh m = SeedSetup(version(22)).compile();
  for (const ProxyConfig* p : {&ingress(m), &egress(m)}) {
    ASSERT_FALSE(p->listeners.empty()) << p->id.str();
    for (const auto& l : p->listeners) {
      EXPECT_EQ(l.direction, ListenerDirection::kGateway) << p->id.str() << " " << l.name;
      for (const auto& fc : l.filterChains) {
        EXPECT_NE(fc.kind, FilterChainKind::kBlackHole) << p->id.str() << " " << fc.name;
      }
    }
  }
  bool sidecarHasOutbound = false;
  for (const auto& l : sleep(m).listeners) {
    sidecarHasOutbound = sidecarHasOutbound || l.direction == ListenerDirection::kSidecarOutbound;
  }
  EXPECT_TRUE(sidecarHasOutbound);
}

// Partly modelled gateway features are noted, never silently dropped (§5, §10).
TEST(NotSimulated, PartlyModelledGatewayFeaturesAreNoted) {
  SeedSetup s(version(22));
  s.gateways[1].replicas = 2;
  model::GatewayServer tcp;
  tcp.port = testing::port(443, "https", model::Protocol::kHttps, "HTTPS");
  tcp.hosts = {kProxiedHost};
  tcp.tls = model::ServerTls{};
  tcp.tls->mode = model::ServerTlsMode::kSimple;
  tcp.tls->serverCertificate = "/etc/certs/cert.pem";
  tcp.path = "spec.servers[1]";
  model::GatewayServer conflicting;
  conflicting.port = testing::port(80, "tcp", model::Protocol::kTcp, "TCP");
  conflicting.hosts = {"*"};
  conflicting.path = "spec.servers[2]";
  model::GatewayServer plainTcp;
  plainTcp.port = testing::port(9000, "tcp", model::Protocol::kTcp, "TCP");
  plainTcp.hosts = {"*"};
  plainTcp.path = "spec.servers[3]";
  auto& servers = s.resources.gateways[1].servers;
  servers.push_back(tcp);
  servers.push_back(conflicting);
  servers.push_back(plainTcp);
  CompiledMesh m = s.compile();
  std::vector<std::string> whats;
  for (const auto& n : m.notSimulated) whats.push_back(n.ref + ": " + n.what);
  using ::testing::Contains;
  using ::testing::HasSubstr;
  EXPECT_THAT(whats, Contains(HasSubstr("replicas > 1 are simulated as one gateway pod")));
  EXPECT_THAT(whats, Contains(HasSubstr("spec.servers[1]: file-mounted server certificates")));
  EXPECT_THAT(whats, Contains(HasSubstr("spec.servers[2]: server conflicts with another protocol "
                                        "on port 80 and is dropped")));
  EXPECT_THAT(whats, Contains(HasSubstr("spec.servers[3]: TCP gateway servers are not simulated")));
  // The dropped server adds no chain: port 80 (8080) keeps its one HTTP chain.
  for (const auto& l : egress(m).listeners) {
    if (l.port != 8080) continue;
    ASSERT_EQ(l.filterChains.size(), 1u);
    EXPECT_EQ(l.filterChains[0].kind, FilterChainKind::kHttp);
  }
}

// §6 PeerAuthentication on the sidecar inbound: the workload-selector policy beats the
// namespace-wide one, which beats the mesh-wide one in the root namespace; an unset mode inherits;
// port-level mTLS of the workload policy beats its own mode.
bool inboundAcceptsPlaintext(const SeedSetup& s) {
  CompiledMesh m = s.compile();
  ConnectionInfo c{80, "", "", true, ListenerDirection::kSidecarInbound};
  ChainSelection sel = selectFilterChain(sleep(m), c);
  if (sel.chain == nullptr || !sel.chain->tls) throw std::runtime_error("no inbound TLS chain");
  EXPECT_EQ(sel.chain->tls->mode, DownstreamTlsMode::kIstioMutual);
  return sel.chain->tls->allowPlaintext;
}

TEST(Sec6_PeerAuth, WorkloadOverNamespaceOverRootWithPortLevelOnTheWorkloadPolicy) {
  SeedSetup s(version(22));  // namespace-wide STRICT in httpbin
  EXPECT_FALSE(inboundAcceptsPlaintext(s));
  auto workload = meta<model::PeerAuthentication>("PeerAuthentication", "httpbin", "sleep");
  workload.selector = {{"app", "sleep"}};
  workload.mode = model::MtlsMode::kPermissive;
  s.resources.peerAuthentications.push_back(workload);
  EXPECT_TRUE(inboundAcceptsPlaintext(s)) << "workload PERMISSIVE beats namespace STRICT";
  s.resources.peerAuthentications.back().portLevelMtls[80] = model::MtlsMode::kStrict;
  EXPECT_FALSE(inboundAcceptsPlaintext(s)) << "port-level STRICT beats the workload's mode";
  s.resources.peerAuthentications.back().portLevelMtls.clear();
  s.resources.peerAuthentications.back().mode = model::MtlsMode::kUnset;
  EXPECT_FALSE(inboundAcceptsPlaintext(s)) << "unset inherits the namespace STRICT";
  s.resources.peerAuthentications.back().selector = {{"app", "web"}};
  s.resources.peerAuthentications.back().mode = model::MtlsMode::kPermissive;
  EXPECT_FALSE(inboundAcceptsPlaintext(s)) << "a selector for another workload does not apply";

  SeedSetup r(version(22));
  r.resources.peerAuthentications.clear();
  auto root = meta<model::PeerAuthentication>("PeerAuthentication", "istio-system", "default");
  root.mode = model::MtlsMode::kStrict;
  r.resources.peerAuthentications.push_back(root);
  EXPECT_FALSE(inboundAcceptsPlaintext(r)) << "mesh-wide STRICT";
  auto ns = meta<model::PeerAuthentication>("PeerAuthentication", "httpbin", "default");
  ns.mode = model::MtlsMode::kPermissive;
  r.resources.peerAuthentications.push_back(ns);
  EXPECT_TRUE(inboundAcceptsPlaintext(r)) << "namespace PERMISSIVE beats mesh-wide STRICT";
}

// Registry, VS and DR fields the simulator does not model are each noted (§2, §4, registry).
TEST(NotSimulated, RegistryVirtualServiceAndDestinationRuleFieldsAreNoted) {
  SeedSetup s(version(22));
  auto& se = s.resources.serviceEntries.front();
  se.workloadSelector = {{"app", "vm"}};
  se.exportTo = {"."};
  auto& vs = s.resources.virtualServices.front();
  vs.exportTo = {"httpbin"};
  model::L4Route l4;
  l4.route = {model::RouteDestination{}};
  l4.route.front().destination.host = "httpbin.org";
  l4.path = "spec.tcp[0]";
  vs.tcp = {l4};
  l4.path = "spec.tls[0]";
  l4.route.push_back(l4.route.front());  // two destinations: weights are not simulated
  vs.tls = {l4};
  auto external = meta<model::Service>("Service", "httpbin", "legacy");
  external.type = "ExternalName";
  s.resources.services.push_back(external);
  auto& dr = s.destinationRule();
  dr.workloadSelector = {{"app", "sleep"}};
  model::TrafficPolicy tp;
  tp.path = "spec.trafficPolicy";
  tp.connectionPool = model::ConnectionPoolSettings{};
  tp.connectionPool->maxConnections = 1;  // modelled (§R6), like maxRetries; idleTimeout is not
  tp.connectionPool->maxRetries = 3;
  tp.connectionPool->raw = nlohmann::json{{"tcp", {{"maxConnections", 1}}},
                                          {"http", {{"maxRetries", 3}, {"idleTimeout", "5s"}}}};
  tp.loadBalancer = model::LoadBalancerSettings{};
  tp.loadBalancer->consistentHash = true;
  dr.trafficPolicy = tp;
  CompiledMesh m = s.compile();
  std::vector<std::string> whats;
  for (const auto& n : m.notSimulated) whats.push_back(n.ref + ": " + n.what);
  using ::testing::Contains;
  using ::testing::HasSubstr;
  EXPECT_THAT(whats, Contains(HasSubstr("ServiceEntry workloadSelector is not simulated")));
  EXPECT_THAT(whats, Contains(::testing::AllOf(HasSubstr("ServiceEntry"),
                                               HasSubstr("exportTo is not simulated"))));
  EXPECT_THAT(whats, Contains(::testing::AllOf(HasSubstr("VirtualService"),
                                               HasSubstr("exportTo is not simulated"))));
  EXPECT_THAT(whats, Contains(HasSubstr("tcp routes at gateways are not simulated")));
  EXPECT_THAT(whats, Contains(HasSubstr("spec.tls[0]: weighted destinations are not simulated")));
  EXPECT_THAT(whats, Contains(HasSubstr("legacy: ExternalName Services are not simulated")));
  EXPECT_THAT(whats, Contains(HasSubstr("DestinationRule workloadSelector is not simulated")));
  EXPECT_THAT(
      whats,
      Contains(HasSubstr("spec.trafficPolicy.connectionPool.http.idleTimeout is not simulated")));
  EXPECT_THAT(whats, ::testing::Not(Contains(HasSubstr("maxRetries"))));
  EXPECT_THAT(whats, ::testing::Not(Contains(HasSubstr("connectionPool is not simulated"))));
  EXPECT_THAT(
      whats,
      Contains(HasSubstr("spec.trafficPolicy.loadBalancer.consistentHash is not simulated")));
}

// §5 / §11.3: each HTTPS server has its own route table, so a request whose SNI picks one
// server's chain and whose Host belongs to another server is 404 NR; a server host `*` is a
// chain without server names that takes any SNI.
TEST(Sec11_3, HttpsServersHaveTheirOwnRouteTablesAndStarTakesAnySni) {
  SeedSetup s(version(22));
  auto gw = meta<model::Gateway>("Gateway", "istio-system", "other-gw");
  gw.selector = {{"istio", "ingressgateway"}};
  model::GatewayServer other;
  other.port = testing::port(443, "https-other", model::Protocol::kHttps, "HTTPS");
  other.hosts = {"*"};
  other.tls = model::ServerTls{};
  other.tls->mode = model::ServerTlsMode::kSimple;
  other.tls->credentialName = testing::kSecretName;
  other.path = "spec.servers[0]";
  gw.servers = {other};
  s.resources.gateways.push_back(gw);
  auto vs = meta<model::VirtualService>("VirtualService", "httpbin", "other");
  vs.hosts = {"other.example.com"};
  vs.gateways = {"istio-system/other-gw"};
  vs.http = {directRoute(207, "other server")};
  s.resources.virtualServices.push_back(vs);
  CompiledMesh m = s.compile();

  ConnectionInfo c{8443, "", "anything.example.net", true, ListenerDirection::kGateway};
  ChainSelection sel = selectFilterChain(ingress(m), c);
  ASSERT_NE(sel.chain, nullptr) << "host * takes any SNI";
  EXPECT_TRUE(sel.chain->serverNames.empty());
  c.sni = kProxiedHost;
  sel = selectFilterChain(ingress(m), c);
  ASSERT_NE(sel.chain, nullptr);
  EXPECT_THAT(sel.chain->serverNames, ::testing::ElementsAre(kProxiedHost));  // exact first

  EXPECT_EQ(
      gatewayRequest(ingress(m), 8443, "other.example.com", "other.example.com").response.status,
      207u);
  RouteDecision d = gatewayRequest(ingress(m), 8443, kProxiedHost, "other.example.com");
  EXPECT_EQ(d.kind, RouteDecision::Kind::kNoRoute);
  EXPECT_EQ(d.response.status, 404u);
  EXPECT_TRUE(d.response.flags.has(ResponseFlag::kNR));
  d = gatewayRequest(ingress(m), 8443, "other.example.com", kProxiedHost);
  EXPECT_EQ(d.response.status, 404u) << "the * server's table has no vhost for the seed host";
}

}  // namespace
}  // namespace egresslab::mesh
