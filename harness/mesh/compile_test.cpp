// Unit tests of the mini-pilot on the seed setup, per rule and per version boundary. Test names
// cite docs/istio-behaviour.md sections.
#include "harness/mesh/compile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/mesh/config_json.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/seed_model_for_test.h"

namespace egresslab::mesh {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::kEgressCluster;
using testing::kProxiedHost;
using testing::kSubsetCluster;
using testing::SeedSetup;
using ::testing::UnorderedElementsAre;
using testing::version;

using testing::egress;
using testing::gatewayRequest;
using testing::ingress;
using testing::proxy;
using testing::sidecarRequest;
using testing::sleep;

// ------------------------------------------------------------------ seed, every version
class SeedOnVersion : public ::testing::TestWithParam<int> {
 protected:
  CompiledMesh mesh_ = SeedSetup(version(GetParam())).compile();
};

INSTANTIATE_TEST_SUITE_P(Versions, SeedOnVersion, ::testing::Values(8, 18, 22, 24),
                         [](const auto& p) { return "Istio1_" + std::to_string(p.param); });

TEST_P(SeedOnVersion, Sec10_ProxiesAreIngressEgressAndInjectedSleep) {
  std::vector<std::string> names;
  for (const auto& p : mesh_.proxies) names.push_back(p.id.str());
  EXPECT_THAT(names, UnorderedElementsAre("istio-system/istio-ingressgateway",
                                          "httpbin/httpbin-egress", "httpbin/sleep"));
  EXPECT_EQ(egress(mesh_).id.kind, ProxyKind::kEgressGateway);
  EXPECT_EQ(ingress(mesh_).id.kind, ProxyKind::kIngressGateway);
  EXPECT_EQ(sleep(mesh_).id.kind, ProxyKind::kSidecar);
}

TEST_P(SeedOnVersion, Sec10_GatewayServiceHasChartPorts) {
  const RegistryService* s = mesh_.findService("httpbin-egress.httpbin.svc.cluster.local");
  ASSERT_NE(s, nullptr);
  ASSERT_GE(s->ports.size(), 2u);
  EXPECT_EQ(s->ports[0].port, 80u);
  EXPECT_EQ(s->ports[0].targetPort, 8080u);
  EXPECT_EQ(s->ports[0].protocol, model::Protocol::kHttp2);
  EXPECT_EQ(s->ports[1].port, 443u);
  EXPECT_EQ(s->ports[1].targetPort, 8443u);
  EXPECT_EQ(s->ports[1].protocol, model::Protocol::kHttps);
  ASSERT_EQ(s->endpoints.size(), s->ports.size());
  EXPECT_EQ(s->endpoints[0].target.kind, EndpointTarget::Kind::kGatewayWorkload);
  EXPECT_EQ(s->endpoints[0].target.name, "httpbin-egress");
}

TEST_P(SeedOnVersion, Sec5_GatewayListenersBindTargetPorts) {
  std::vector<std::uint32_t> ports;
  for (const auto& l : ingress(mesh_).listeners) ports.push_back(l.port);
  EXPECT_THAT(ports, UnorderedElementsAre(8080u, 8443u));
  ports.clear();
  for (const auto& l : egress(mesh_).listeners) ports.push_back(l.port);
  EXPECT_THAT(ports, ElementsAre(8080u));
}

TEST_P(SeedOnVersion, Sec5_Ingress443ChainHasSniOfProxiedHostAndFoundCredential) {
  ConnectionInfo c{8443, "", kProxiedHost, true, ListenerDirection::kGateway};
  ChainSelection s = selectFilterChain(ingress(mesh_), c);
  ASSERT_NE(s.chain, nullptr);
  EXPECT_THAT(s.chain->serverNames, ElementsAre(kProxiedHost));
  ASSERT_TRUE(s.chain->tls.has_value());
  EXPECT_EQ(s.chain->tls->mode, DownstreamTlsMode::kSimple);
  ASSERT_TRUE(s.chain->tls->credential.has_value());
  EXPECT_EQ(s.chain->tls->credential->ns, "istio-system");
  EXPECT_EQ(s.chain->tls->credential->name, testing::kSecretName);
  EXPECT_TRUE(s.chain->tls->credential->found);
  EXPECT_TRUE(chainCredentialReady(*s.chain));
}

TEST_P(SeedOnVersion, Sec5_TlsClientWithOtherSniFindsNoChain) {
  ConnectionInfo c{8443, "", "other.example.com", true, ListenerDirection::kGateway};
  ChainSelection s = selectFilterChain(ingress(mesh_), c);
  ASSERT_NE(s.listener, nullptr);
  EXPECT_EQ(s.chain, nullptr);
  c.sni = "";  // curl to an IP with -H Host: sends no SNI
  EXPECT_EQ(selectFilterChain(ingress(mesh_), c).chain, nullptr);
}

TEST_P(SeedOnVersion, Sec5_Port80RedirectsWithLocationFromHostAsReceived) {
  RouteDecision d =
      gatewayRequest(ingress(mesh_), 8080, "", "httpbin.example.com:15080", "/status/200?x=1");
  EXPECT_EQ(d.kind, RouteDecision::Kind::kRedirect);
  EXPECT_EQ(d.response.status, 301u);
  EXPECT_EQ(d.response.location, "https://httpbin.example.com:15080/status/200?x=1");
  EXPECT_TRUE(d.response.body.empty());
}

TEST_P(SeedOnVersion, Sec2_IngressRoutesProxiedHostToEgressGatewayService) {
  RouteDecision d = gatewayRequest(ingress(mesh_), 8443, kProxiedHost, kProxiedHost);
  ASSERT_EQ(d.kind, RouteDecision::Kind::kForward);
  EXPECT_EQ(d.cluster->cluster, kEgressCluster);
  EXPECT_EQ(d.upstreamAuthority, kProxiedHost);  // §4: Host not rewritten
  ClusterResolution r = resolveCluster(ingress(mesh_), d.cluster->cluster);
  ASSERT_FALSE(r.localReply.has_value());
  ASSERT_EQ(r.healthy.size(), 1u);
  EXPECT_EQ(r.healthy[0]->target.kind, EndpointTarget::Kind::kGatewayWorkload);
  EXPECT_EQ(r.healthy[0]->target.ns, "httpbin");
  EXPECT_EQ(r.healthy[0]->target.name, "httpbin-egress");
  EXPECT_EQ(r.healthy[0]->port, 8080u);
  EXPECT_EQ(r.cluster->protocol, UpstreamProtocol::kHttp2);  // §3: port name http2
  // §6: gateway pods carry no tlsMode label → auto mTLS leaves this hop plaintext.
  EXPECT_FALSE(upstreamTlsFor(*r.cluster, *r.healthy[0], kProxiedHost).has_value());
}

TEST_P(SeedOnVersion, Sec2_EgressGatewayRoutesToSubsetClusterOnly) {
  RouteDecision d = gatewayRequest(egress(mesh_), 8080, "", kProxiedHost);
  ASSERT_EQ(d.kind, RouteDecision::Kind::kForward);
  EXPECT_EQ(d.cluster->cluster, kSubsetCluster);
  const RouteConfig* rc = egress(mesh_).findRouteConfig("http.8080");
  ASSERT_NE(rc, nullptr);
  ASSERT_EQ(rc->virtualHosts.size(), 1u);
  EXPECT_EQ(rc->virtualHosts[0].routes.size(), 1u);  // route 1 is for ingress+mesh only
  ClusterResolution r = resolveCluster(egress(mesh_), d.cluster->cluster);
  ASSERT_EQ(r.healthy.size(), 1u);
  EXPECT_EQ(r.cluster->type, ClusterType::kStrictDns);
  // §4, §R4: the DNS SE's endpoint is the host, resolved: one host per A record (STRICT_DNS).
  EXPECT_EQ(r.healthy[0]->dnsName, "httpbin.org");
  EXPECT_EQ(r.healthy[0]->address, mesh_.dns.records.at("httpbin.org"));
  EXPECT_EQ(r.healthy[0]->target.kind, EndpointTarget::Kind::kUpstream);
  EXPECT_EQ(r.healthy[0]->target.host, "httpbin.org");
  EXPECT_EQ(r.healthy[0]->target.port, 443u);
}

TEST_P(SeedOnVersion, Sec4_NonSubsetClusterHasNoTls) {
  const Cluster* c = egress(mesh_).findCluster("outbound|443||httpbin.org");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->tls.has_value());
}

TEST_P(SeedOnVersion, Sec3_SidecarPort80VhostForProxiedHostRoutesToEgressGateway) {
  const RouteConfig* rc = sleep(mesh_).findRouteConfig("80");
  ASSERT_NE(rc, nullptr);
  auto vh = std::find_if(rc->virtualHosts.begin(), rc->virtualHosts.end(),
                         [](const VirtualHost& v) { return v.name == "httpbin.example.com:80"; });
  ASSERT_NE(vh, rc->virtualHosts.end());
  EXPECT_THAT(vh->domains, ElementsAre("httpbin.example.com", "httpbin.example.com:80"));
  RouteDecision d = sidecarRequest(sleep(mesh_), kProxiedHost);
  ASSERT_EQ(d.kind, RouteDecision::Kind::kForward);
  EXPECT_EQ(d.cluster->cluster, kEgressCluster);
  // §3 routing is by Host: any destination IP the name resolves to lands on the same vhost.
  for (std::string_view ip : {"198.51.100.7", "10.96.0.99"}) {
    RouteDecision other = sidecarRequest(sleep(mesh_), kProxiedHost, 80, ip);
    ASSERT_EQ(other.kind, RouteDecision::Kind::kForward) << ip;
    EXPECT_EQ(other.cluster->cluster, kEgressCluster) << ip;
  }
  // Only one HTTP route config: §3 non-registry hosts live on port 80 only.
  for (const auto& r : sleep(mesh_).routeConfigs) {
    if (r.name.starts_with("inbound")) continue;
    EXPECT_EQ(r.name, "80");
  }
}

TEST_P(SeedOnVersion, Sec1_RegistryOnlyUnknownHostGetsBlockAll502) {
  RouteDecision d = sidecarRequest(sleep(mesh_), "unknown.example.org");
  EXPECT_EQ(d.kind, RouteDecision::Kind::kDirectResponse);
  EXPECT_EQ(d.response.status, 502u);
  EXPECT_EQ(d.routeName, "block_all");
  EXPECT_EQ(d.virtualHost->name, "block_all");
  EXPECT_EQ(d.response.details, "direct_response");
  EXPECT_TRUE(d.response.flags.empty());
  EXPECT_TRUE(d.response.body.empty());
}

TEST_P(SeedOnVersion, Sec1_TlsToUnknownHostLandsOnBlackHole) {
  ConnectionInfo c{443, "198.51.100.99", "example.org", true, ListenerDirection::kSidecarOutbound};
  ChainSelection s = selectFilterChain(sleep(mesh_), c);
  ASSERT_NE(s.chain, nullptr);
  EXPECT_EQ(s.chain->kind, FilterChainKind::kBlackHole);
  EXPECT_EQ(s.chain->cluster, "BlackHoleCluster");
  TcpOutcome t = tcpBlackHoleOutcome();
  EXPECT_TRUE(t.flags.has(ResponseFlag::kUH));
  EXPECT_EQ(t.upstreamCluster, "BlackHoleCluster");
  // The ServiceEntry host passes by SNI.
  c.sni = "httpbin.org";
  s = selectFilterChain(sleep(mesh_), c);
  ASSERT_NE(s.chain, nullptr);
  EXPECT_EQ(s.chain->kind, FilterChainKind::kTcpProxy);
  EXPECT_EQ(s.chain->cluster, "outbound|443||httpbin.org");
}

TEST_P(SeedOnVersion, Sec1_PlainHttpOnUnknownPortIsBlackHoled) {
  ConnectionInfo c{8081, "198.51.100.99", "", false, ListenerDirection::kSidecarOutbound};
  ChainSelection s = selectFilterChain(sleep(mesh_), c);
  ASSERT_NE(s.chain, nullptr);
  EXPECT_EQ(s.chain->kind, FilterChainKind::kBlackHole);
}

TEST_P(SeedOnVersion, Sec1_GatewayUnknownHostIs404NR) {
  RouteDecision d = gatewayRequest(ingress(mesh_), 8443, kProxiedHost, "other.example.com");
  EXPECT_EQ(d.kind, RouteDecision::Kind::kNoRoute);
  EXPECT_EQ(d.response.status, 404u);
  EXPECT_TRUE(d.response.flags.has(ResponseFlag::kNR));
  EXPECT_EQ(d.response.details, "route_not_found");
  EXPECT_TRUE(d.response.body.empty());
  // Egress gateway as well (no block_all on gateways, §1).
  d = gatewayRequest(egress(mesh_), 8080, "", "unknown.example.org");
  EXPECT_EQ(d.response.status, 404u);
}

TEST_P(SeedOnVersion, Sec6_PeerAuthStrictOnSidecarInboundNotOnGateways) {
  ConnectionInfo c{80, "", "", true, ListenerDirection::kSidecarInbound};
  ChainSelection s = selectFilterChain(sleep(mesh_), c);
  ASSERT_NE(s.chain, nullptr);
  ASSERT_TRUE(s.chain->tls.has_value());
  EXPECT_EQ(s.chain->tls->mode, DownstreamTlsMode::kIstioMutual);
  EXPECT_FALSE(s.chain->tls->allowPlaintext);
  for (const auto& l : egress(mesh_).listeners) {
    for (const auto& fc : l.filterChains) EXPECT_FALSE(fc.tls.has_value()) << fc.name;
  }
}

TEST_P(SeedOnVersion, Sec6_AutoMtlsToInjectedWorkloadOnly) {
  const Cluster* c = ingress(mesh_).findCluster("outbound|80||sleep.httpbin.svc.cluster.local");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->autoMtls);
  ASSERT_EQ(c->endpoints.size(), 1u);
  EXPECT_EQ(c->endpoints[0].tlsMode, "istio");
  auto tls = upstreamTlsFor(*c, c->endpoints[0], "sleep.httpbin");
  ASSERT_TRUE(tls.has_value());
  EXPECT_EQ(tls->mode, UpstreamTlsMode::kIstioMutual);
  EXPECT_TRUE(tls->presentMeshClientCert);
  EXPECT_THAT(tls->verifySubjectAltNames,
              ElementsAre("spiffe://cluster.local/ns/httpbin/sa/sleep"));
}

TEST_P(SeedOnVersion, Sec9_AccessLogEnabledWithTheVersionFormat) {
  EXPECT_TRUE(sleep(mesh_).accessLog.enabled);
  EXPECT_EQ(sleep(mesh_).accessLog.format, accessLogFormatFor(version(GetParam())));
}

TEST_P(SeedOnVersion, Sec9_DefaultRetryPolicyOnRoutes) {
  RouteDecision d = gatewayRequest(ingress(mesh_), 8443, kProxiedHost, kProxiedHost);
  ASSERT_NE(d.forward, nullptr);
  EXPECT_EQ(d.forward->retry.numRetries, 2u);
  EXPECT_FALSE(d.forward->retry.fromVirtualService);
  const bool retries503 = GetParam() <= 23;
  EXPECT_EQ(!d.forward->retry.retriableStatusCodes.empty(), retries503);
}

TEST_P(SeedOnVersion, Sec3_DnsViewResolvesServicesAndScenarioRecordsOnly) {
  EXPECT_EQ(resolveName(mesh_.dns, "httpbin", "httpbin-egress"),
            mesh_.findService("httpbin-egress.httpbin.svc.cluster.local")->address);
  EXPECT_EQ(resolveName(mesh_.dns, "httpbin", kProxiedHost), "203.0.113.10");
  EXPECT_TRUE(resolveName(mesh_.dns, "httpbin", "httpbin.org").has_value());
  EXPECT_FALSE(resolveName(mesh_.dns, "httpbin", "nothing.example.net").has_value());
}

TEST_P(SeedOnVersion, ConfigDumpJsonNamesListenersRoutesClusters) {
  nlohmann::json j = toJson(egress(mesh_));
  EXPECT_EQ(j["proxy"], "httpbin/httpbin-egress");
  EXPECT_EQ(j["listeners"][0]["port"], 8080);
  bool found = false;
  for (const auto& c : j["clusters"]) found = found || c["name"] == kSubsetCluster;
  EXPECT_TRUE(found);
  EXPECT_TRUE(j.contains("readinessProbe") || !egress(mesh_).readinessProbe);
}

// ------------------------------------------------------------------ §3 without DNS record
TEST(Sec3, ProxiedHostIsNotResolvableWithoutADnsRecord) {
  SeedSetup s(version(22));
  s.dns.clear();
  CompiledMesh m = s.compile();
  EXPECT_FALSE(resolveName(m.dns, "httpbin", kProxiedHost).has_value());  // curl exit 6
}

// ------------------------------------------------------------------ §4 TLS origination
struct TlsCase {
  int minor;
  std::string sni;
  bool autoSni;
  ServerVerification verify;
  std::vector<std::string> sans;
};

class Sec4TlsOrigination : public ::testing::TestWithParam<TlsCase> {};

TEST_P(Sec4TlsOrigination, SubsetClusterTlsByVersion) {
  const TlsCase& t = GetParam();
  CompiledMesh m = SeedSetup(version(t.minor)).compile();
  const Cluster* c = egress(m).findCluster(kSubsetCluster);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->tls.has_value());
  EXPECT_EQ(c->tls->mode, UpstreamTlsMode::kSimple);
  EXPECT_EQ(c->tls->autoSni, t.autoSni);
  auto eff = upstreamTlsFor(*c, c->endpoints.front(), "httpbin.example.com:80");
  ASSERT_TRUE(eff.has_value());
  EXPECT_EQ(eff->sni, t.sni);
  EXPECT_EQ(eff->verify, t.verify);
  EXPECT_EQ(eff->verifySubjectAltNames, t.sans);
}

INSTANTIATE_TEST_SUITE_P(
    Versions, Sec4TlsOrigination,
    ::testing::Values(
        TlsCase{8, "", false, ServerVerification::kNone, {}},
        TlsCase{18, "", false, ServerVerification::kNone, {}},
        TlsCase{20, "", false, ServerVerification::kNone, {}},
        TlsCase{21, kProxiedHost, true, ServerVerification::kSystemCa, {kProxiedHost}},
        TlsCase{22, kProxiedHost, true, ServerVerification::kSystemCa, {kProxiedHost}},
        TlsCase{24, kProxiedHost, true, ServerVerification::kSystemCa, {kProxiedHost}}),
    [](const auto& p) { return "Istio1_" + std::to_string(p.param.minor); });

TEST(Sec4, ExplicitSniFixesTheTrapOn1_22) {
  SeedSetup s(version(22));
  s.subsetTls().sni = "httpbin.org";
  CompiledMesh m = s.compile();
  const Cluster* c = egress(m).findCluster(kSubsetCluster);
  auto eff = upstreamTlsFor(*c, c->endpoints.front(), kProxiedHost);
  ASSERT_TRUE(eff.has_value());
  EXPECT_EQ(eff->sni, "httpbin.org");
  EXPECT_EQ(eff->verify, ServerVerification::kSystemCa);  // chain still verified
  EXPECT_THAT(eff->verifySubjectAltNames, IsEmpty());     // no auto SAN with explicit sni
  EXPECT_FALSE(c->tls->autoSni);
}

TEST(Sec4, InsecureSkipVerifyDisablesVerificationOn1_24) {
  SeedSetup s(version(24));
  s.subsetTls().insecureSkipVerify = true;
  CompiledMesh m = s.compile();
  const Cluster* c = egress(m).findCluster(kSubsetCluster);
  auto eff = upstreamTlsFor(*c, c->endpoints.front(), kProxiedHost);
  EXPECT_EQ(eff->verify, ServerVerification::kNone);
  EXPECT_THAT(eff->verifySubjectAltNames, IsEmpty());
  EXPECT_EQ(eff->sni, kProxiedHost);  // auto SNI still on
}

TEST(Sec4, CaCertificatesVerifyEvenOn1_8) {
  SeedSetup s(version(8));
  s.subsetTls().caCertificates = "/etc/certs/ca.pem";
  CompiledMesh m = s.compile();
  const Cluster* c = egress(m).findCluster(kSubsetCluster);
  auto eff = upstreamTlsFor(*c, c->endpoints.front(), kProxiedHost);
  EXPECT_EQ(eff->verify, ServerVerification::kCaFile);
  EXPECT_EQ(eff->caCertificates, "/etc/certs/ca.pem");
  EXPECT_EQ(eff->sni, "");
}

TEST(Sec4, PortLevelSettingsDropSubsetRoundRobinFrom1_14) {
  // ≤1.13 the default is ROUND_ROBIN anyway; 1.14+ the dropped ROUND_ROBIN shows.
  for (int minor : {8, 13}) {
    CompiledMesh m = SeedSetup(version(minor)).compile();
    EXPECT_EQ(egress(m).findCluster(kSubsetCluster)->lbPolicy, "ROUND_ROBIN") << minor;
  }
  for (int minor : {14, 22}) {
    CompiledMesh m = SeedSetup(version(minor)).compile();
    EXPECT_EQ(egress(m).findCluster(kSubsetCluster)->lbPolicy, "LEAST_REQUEST") << minor;
  }
}

TEST(Sec4, SubsetRoundRobinKeptWithoutMatchingPortLevelSettings) {
  SeedSetup s(version(22));
  s.destinationRule().subsets.front().trafficPolicy->portLevelSettings.front().port = 8443;
  CompiledMesh m = s.compile();
  const Cluster* c = egress(m).findCluster(kSubsetCluster);
  EXPECT_EQ(c->lbPolicy, "ROUND_ROBIN");
  EXPECT_FALSE(c->tls.has_value());  // the tls lived only in the (now unmatched) port block
}

TEST(Sec4, TopLevelTlsIsReplacedByPortLevelBlock) {
  SeedSetup s(version(22));
  model::TrafficPolicy top;
  top.path = "spec.trafficPolicy";
  top.tls = model::ClientTls{};
  top.tls->mode = model::ClientTlsMode::kSimple;
  top.tls->sni = "top.example";
  s.destinationRule().trafficPolicy = top;
  CompiledMesh m = s.compile();
  EXPECT_EQ(egress(m).findCluster("outbound|443||httpbin.org")->tls->sni, "top.example");
  // The subset's port-level tls (no sni) replaces the whole block.
  EXPECT_EQ(egress(m).findCluster(kSubsetCluster)->tls->sni, "");
}

// ------------------------------------------------------------------ §11.6 subset with labels
TEST(Sec11_6, SubsetSelectingNothingIsNotBuiltAndEgressAnswers503NC) {
  for (int minor : {10, 22, 24}) {
    SeedSetup s(version(minor));
    s.destinationRule().subsets.front().labels = {{"version", "v1"}};
    CompiledMesh m = s.compile();
    EXPECT_EQ(egress(m).findCluster(kSubsetCluster), nullptr);
    RouteDecision d = gatewayRequest(egress(m), 8080, "", kProxiedHost);
    ASSERT_EQ(d.kind, RouteDecision::Kind::kForward);  // gateway routes do not validate
    ClusterResolution r = resolveCluster(egress(m), d.cluster->cluster);
    ASSERT_TRUE(r.localReply.has_value());
    EXPECT_EQ(r.localReply->status, 503u);
    EXPECT_EQ(formatResponseFlags(r.localReply->flags, version(minor)), "NC");
    EXPECT_EQ(r.localReply->details, "cluster_not_found");
    EXPECT_TRUE(r.localReply->body.empty());
  }
}

TEST(Sec11_6, MissingClusterIsNRBeforeIstio1_10) {
  SeedSetup s(version(9));
  s.destinationRule().subsets.front().labels = {{"version", "v1"}};
  CompiledMesh m = s.compile();
  ClusterResolution r = resolveCluster(egress(m), kSubsetCluster);
  ASSERT_TRUE(r.localReply.has_value());
  EXPECT_EQ(formatResponseFlags(r.localReply->flags, version(9)), "NR");
}

TEST(Sec11_6, CallerRetriesThe503AndLogsURXThrough1_23ButNotFrom1_24) {
  for (int minor : {8, 18, 22, 23, 24, 28}) {
    CompiledMesh m = SeedSetup(version(minor)).compile();
    RouteDecision d = sidecarRequest(sleep(m), kProxiedHost);
    ASSERT_NE(d.forward, nullptr);
    AttemptOutcome nc{AttemptOutcome::Kind::kResponse, 503, "", ""};
    std::uint32_t attempt = 1;
    RetryStep step = afterAttempt(d.forward->retry, attempt, nc, version(minor));
    while (step.retry) step = afterAttempt(d.forward->retry, ++attempt, nc, version(minor));
    EXPECT_EQ(step.final.status, 503u);
    EXPECT_EQ(step.final.details, "via_upstream");
    if (minor <= 23) {
      EXPECT_EQ(attempt, 3u) << minor;
      EXPECT_EQ(formatResponseFlags(step.final.flags, version(minor)), "URX") << minor;
    } else {
      EXPECT_EQ(attempt, 1u) << minor;
      EXPECT_EQ(formatResponseFlags(step.final.flags, version(minor)), "-") << minor;
    }
  }
}

// ------------------------------------------------------------------ §11.7 not-ready gateway
TEST(Sec11_7, NotReadyEgressGatewayGives503UHWithoutRetry) {
  CompiledMesh m = SeedSetup(version(22)).compile();
  RouteDecision d = sidecarRequest(sleep(m), kProxiedHost);
  EndpointReadiness notReady = [](const Endpoint& e) { return e.target.name != "httpbin-egress"; };
  ClusterResolution r = resolveCluster(sleep(m), d.cluster->cluster, notReady);
  ASSERT_NE(r.cluster, nullptr);  // the cluster exists: not NC
  ASSERT_TRUE(r.localReply.has_value());
  EXPECT_EQ(r.localReply->status, 503u);
  EXPECT_EQ(formatResponseFlags(r.localReply->flags, version(22)), "UH");
  EXPECT_EQ(r.localReply->body, "no healthy upstream");
  EXPECT_EQ(r.localReply->details, "no_healthy_upstream");
}

// ------------------------------------------------------------------ §11.1 selector typo
TEST(Sec11_1, GatewaySelectorTypoBuildsNoListenerAndCallerSeesUFURX) {
  for (int minor : {8, 21, 22, 24}) {
    SeedSetup s(version(minor));
    s.resources.gateways[1].selector["service.istio.io/canonical-name"] = "httpbin-egres";
    CompiledMesh m = s.compile();
    EXPECT_THAT(egress(m).listeners, IsEmpty());
    ConnectionInfo c{8080, "", "", false, ListenerDirection::kGateway};
    EXPECT_EQ(selectFilterChain(egress(m), c).listener, nullptr);  // connection refused
    // The pod stays Ready, the sidecar connects, is refused, retries twice.
    RouteDecision d = sidecarRequest(sleep(m), kProxiedHost);
    ClusterResolution r = resolveCluster(sleep(m), d.cluster->cluster);
    ASSERT_FALSE(r.localReply.has_value());
    AttemptOutcome refused{AttemptOutcome::Kind::kConnectFailure, 0, "", ""};
    std::uint32_t attempt = 1;
    RetryStep step = afterAttempt(d.forward->retry, attempt, refused, version(minor));
    while (step.retry) step = afterAttempt(d.forward->retry, ++attempt, refused, version(minor));
    EXPECT_EQ(attempt, 3u);
    EXPECT_EQ(step.final.status, 503u);
    EXPECT_EQ(formatResponseFlags(step.final.flags, version(minor)),
              minor >= 22 ? "URX,UF" : "UF,URX")
        << minor;
    EXPECT_THAT(step.final.body, ::testing::HasSubstr("retried and the latest reset reason"));
  }
}

// ------------------------------------------------------------------ §5 / §11.2 credentials
TEST(Sec5_11_2, MissingCredentialStillBuildsTheChainMarkedNotFound) {
  SeedSetup s(version(22));
  s.secrets.clear();
  CompiledMesh m = s.compile();
  ConnectionInfo c{8443, "", kProxiedHost, true, ListenerDirection::kGateway};
  ChainSelection sel = selectFilterChain(ingress(m), c);
  ASSERT_NE(sel.chain, nullptr);
  EXPECT_FALSE(sel.chain->tls->credential->found);
  EXPECT_FALSE(chainCredentialReady(*sel.chain));
}

TEST(Sec5, CredentialIsLookedUpInTheGatewayPodNamespaceNotTheGatewayNamespace) {
  SeedSetup s(version(22));
  // Gateway resource in httpbin, secret in httpbin: the ingress pod is in istio-system.
  s.resources.gateways[0].meta.ns = "httpbin";
  s.secrets.front().ns = "httpbin";
  s.resources.virtualServices[0].gateways[1] = "httpbin/my-ingressgateway";
  s.resources.virtualServices[0].http[0].match[0].gateways[0] = "httpbin/my-ingressgateway";
  CompiledMesh m = s.compile();
  ConnectionInfo c{8443, "", kProxiedHost, true, ListenerDirection::kGateway};
  ChainSelection sel = selectFilterChain(ingress(m), c);
  ASSERT_NE(sel.chain, nullptr);
  EXPECT_EQ(sel.chain->tls->credential->ns, "istio-system");
  EXPECT_FALSE(sel.chain->tls->credential->found);
}

TEST(Sec5, CredentialFromAManifestSecretCounts) {
  SeedSetup s(version(8));
  s.secrets.clear();
  auto secret = testing::meta<model::Secret>("Secret", "istio-system", testing::kSecretName);
  s.resources.secrets.push_back(secret);
  CompiledMesh m = s.compile();
  ConnectionInfo c{8443, "", kProxiedHost, true, ListenerDirection::kGateway};
  EXPECT_TRUE(selectFilterChain(ingress(m), c).chain->tls->credential->found);
}

// ------------------------------------------------------------------ §1 gateways without VS
TEST(Sec1, GatewayWithNoBoundVirtualServiceGetsBlackholeVhost404) {
  SeedSetup s(version(22));
  s.resources.virtualServices.clear();
  CompiledMesh m = s.compile();
  const RouteConfig* rc = egress(m).findRouteConfig("http.8080");
  ASSERT_NE(rc, nullptr);
  ASSERT_EQ(rc->virtualHosts.size(), 1u);
  EXPECT_EQ(rc->virtualHosts[0].name, "blackhole:80");
  RouteDecision d = gatewayRequest(egress(m), 8080, "", kProxiedHost);
  EXPECT_EQ(d.response.status, 404u);
  EXPECT_TRUE(d.response.flags.has(ResponseFlag::kNR));
}

TEST(Sec1, AllowAnyPassthroughForUnknownHosts) {
  SeedSetup s(version(22));
  s.resources.istioOperators[0].meshConfig.outboundTrafficPolicy =
      model::OutboundTrafficPolicyMode::kAllowAny;
  CompiledMesh m = s.compile();
  RouteDecision d = sidecarRequest(sleep(m), "unknown.example.org");
  ASSERT_EQ(d.kind, RouteDecision::Kind::kForward);
  EXPECT_EQ(d.routeName, "allow_any");
  EXPECT_EQ(d.cluster->cluster, "PassthroughCluster");
  ConnectionInfo c{443, "198.51.100.99", "example.org", true, ListenerDirection::kSidecarOutbound};
  EXPECT_EQ(selectFilterChain(sleep(m), c).chain->kind, FilterChainKind::kPassthrough);
}

// ------------------------------------------------------------------ §11.3 / §11.4 hosts
TEST(Sec11_4, HostWithPortMatchesExactServerHostInEveryVersion) {
  for (int minor : {8, 14, 15, 22}) {
    CompiledMesh m = SeedSetup(version(minor)).compile();
    RouteDecision d = gatewayRequest(ingress(m), 8443, kProxiedHost, "httpbin.example.com:18443");
    EXPECT_EQ(d.kind, RouteDecision::Kind::kForward) << minor;
  }
}

TEST(Sec11_4, WildcardServerHostWithPortIs404On1_14AndMatchesOn1_15) {
  for (int minor : {14, 15}) {
    SeedSetup s(version(minor));
    s.resources.gateways[0].servers[1].hosts = {"*.example.com"};
    s.resources.virtualServices[0].hosts = {"*.example.com"};
    CompiledMesh m = s.compile();
    RouteDecision d = gatewayRequest(ingress(m), 8443, "x.example.com", "x.example.com:18443");
    if (minor == 14) {
      EXPECT_EQ(d.response.status, 404u);
      EXPECT_TRUE(d.response.flags.has(ResponseFlag::kNR));
    } else {
      EXPECT_EQ(d.kind, RouteDecision::Kind::kForward);
    }
  }
}

TEST(Sec11_5, RedirectVhostForUnboundHostOnlyWhenNoVsBoundBefore1_12) {
  for (int minor : {11, 12}) {
    SeedSetup s(version(minor));
    s.resources.gateways[0].servers[0].hosts = {kProxiedHost, "other.example.com"};
    CompiledMesh m = s.compile();
    RouteDecision d = gatewayRequest(ingress(m), 8080, "", "other.example.com");
    if (minor == 11) {
      EXPECT_EQ(d.response.status, 404u) << "1.8–1.11: a VS is bound, no redirect vhost";
    } else {
      EXPECT_EQ(d.response.status, 301u);
      EXPECT_EQ(d.response.location, "https://other.example.com/status/200");
    }
    // The VS-bound host redirects on both.
    EXPECT_EQ(gatewayRequest(ingress(m), 8080, "", kProxiedHost).response.status, 301u);
  }
}

TEST(Sec11_5, RedirectWithNoVirtualServiceAtAllOnEveryVersion) {
  for (int minor : {8, 11, 12, 24}) {
    SeedSetup s(version(minor));
    s.resources.virtualServices.clear();
    CompiledMesh m = s.compile();
    EXPECT_EQ(gatewayRequest(ingress(m), 8080, "", kProxiedHost).response.status, 301u) << minor;
  }
}

// ------------------------------------------------------------------ §2 attachment
TEST(Sec2, VsNotListingTheGatewayDoesNotAttach) {
  SeedSetup s(version(22));
  s.resources.virtualServices[0].gateways = {"mesh"};
  CompiledMesh m = s.compile();
  EXPECT_EQ(gatewayRequest(ingress(m), 8443, kProxiedHost, kProxiedHost).response.status, 404u);
  EXPECT_EQ(sidecarRequest(sleep(m), kProxiedHost).kind, RouteDecision::Kind::kForward);
}

TEST(Sec2, VsHostNotInServerHostsIsSkipped) {
  SeedSetup s(version(22));
  s.resources.gateways[1].servers[0].hosts = {"other.example.com"};
  CompiledMesh m = s.compile();
  const RouteConfig* rc = egress(m).findRouteConfig("http.8080");
  EXPECT_EQ(rc->virtualHosts.front().name, "blackhole:80");
}

TEST(Sec2, ServerHostNamespacePrefixMustMatchVsNamespace) {
  SeedSetup s(version(22));
  s.resources.gateways[1].servers[0].hosts = {std::string("istio-system/") + kProxiedHost};
  CompiledMesh m = s.compile();
  EXPECT_EQ(gatewayRequest(egress(m), 8080, "", kProxiedHost).response.status, 404u);
  s.resources.gateways[1].servers[0].hosts = {std::string("httpbin/") + kProxiedHost};
  m = s.compile();
  EXPECT_EQ(gatewayRequest(egress(m), 8080, "", kProxiedHost).kind, RouteDecision::Kind::kForward);
}

// ------------------------------------------------------------------ §6 PeerAuthentication
TEST(Sec6, PermissiveByDefaultAcceptsPlaintextOnInbound) {
  SeedSetup s(version(22));
  s.resources.peerAuthentications.clear();
  CompiledMesh m = s.compile();
  ConnectionInfo c{80, "", "", false, ListenerDirection::kSidecarInbound};
  ChainSelection sel = selectFilterChain(sleep(m), c);
  ASSERT_NE(sel.chain, nullptr);
  EXPECT_TRUE(sel.chain->tls->allowPlaintext);
}

TEST(Sec6, IstioMutualGatewayServerIsTheOnlyGatewayMtls) {
  SeedSetup s(version(22));
  auto& server = s.resources.gateways[1].servers[0];
  server.port = testing::port(80, "https", model::Protocol::kHttps, "HTTPS");
  server.tls = model::ServerTls{};
  server.tls->mode = model::ServerTlsMode::kIstioMutual;
  CompiledMesh m = s.compile();
  ConnectionInfo c{8080, "", kProxiedHost, true, ListenerDirection::kGateway};
  ChainSelection sel = selectFilterChain(egress(m), c);
  ASSERT_NE(sel.chain, nullptr);
  EXPECT_EQ(sel.chain->tls->mode, DownstreamTlsMode::kIstioMutual);
}

// ------------------------------------------------------------------ not simulated
TEST(NotSimulated, UnsimulatedKindsAndFieldsAreListed) {
  SeedSetup s(version(22));
  auto ef = testing::meta<model::UnsimulatedResource>("EnvoyFilter", "istio-system", "lua");
  s.resources.unsimulated.push_back(ef);
  model::HttpFaultInjection grpcAbort;
  grpcAbort.abort = model::HttpFaultInjection::Abort{};
  grpcAbort.abort->grpcStatus = true;
  s.resources.virtualServices[0].http[0].fault = grpcAbort;
  model::OutlierDetection od;
  s.destinationRule().subsets[0].trafficPolicy->outlierDetection = od;
  CompiledMesh m = s.compile();
  std::vector<std::string> whats;
  for (const auto& n : m.notSimulated) whats.push_back(n.ref + ": " + n.what);
  EXPECT_THAT(whats, Contains("EnvoyFilter istio-system/lua: not simulated"));
  EXPECT_THAT(whats, Contains(::testing::HasSubstr("(gRPC fault abort) is not simulated")));
  // Outlier detection is modelled (§R3): no note.
  EXPECT_THAT(whats, ::testing::Not(Contains(::testing::HasSubstr("outlierDetection"))));
}

TEST(Compile, RejectsVersionsOutsideTheModelledRange) {
  SeedSetup s(model::IstioVersion{1, 7, 0});
  CompileInput in{s.resources, s.istio, s.gateways, s.workloads, s.upstreams, s.dns, s.secrets};
  EXPECT_FALSE(compileMesh(in).has_value());
}

TEST(Compile, WorkloadInjectionFollowsNamespaceLabelWhenUnset) {
  SeedSetup s(version(22));
  s.workloads.front().injected.reset();
  CompiledMesh m = s.compile();
  EXPECT_EQ(m.findProxy("httpbin/sleep"), nullptr);  // no namespace label
  auto ns = testing::meta<model::Namespace>("Namespace", "", "httpbin");
  ns.meta.labels["istio-injection"] = "enabled";
  s.resources.namespaces.push_back(ns);
  m = s.compile();
  EXPECT_NE(m.findProxy("httpbin/sleep"), nullptr);
}

}  // namespace
}  // namespace egresslab::mesh
