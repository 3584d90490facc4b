// The compiler over the real seed fixtures (fixtures/seed, loaded by the model loader with
// vars), so the pure unit tests' hand-built model cannot drift from what users' files produce.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/mesh/compile.h"
#include "harness/mesh/decisions.h"
#include "harness/model/gateway_workloads.h"
#include "harness/model/loader.h"

namespace egresslab::mesh {
namespace {

const std::filesystem::path kSeed = std::filesystem::path(EGRESSLAB_SOURCE_DIR) / "fixtures/seed";

Result<CompiledMesh> compileSeed(model::IstioVersion version) {
  model::LoadOptions opts;
  opts.vars = {{"my-proxied-service-hostname", "httpbin.example.com"},
               {"my-secret-name", "httpbin-credential"}};
  auto resources = model::loadManifests({kSeed}, opts);
  if (!resources) return std::unexpected(resources.error());
  model::WorkloadSpec sleep;
  sleep.name = "sleep";
  sleep.ns = "httpbin";
  sleep.injected = true;
  model::SecretSpec secret;
  secret.name = "httpbin-credential";
  secret.ns = "istio-system";
  CompileInput in{*resources,
                  version,
                  model::deriveGatewayWorkloads(*resources, version),
                  {sleep},
                  {{"httpbin.org", 443, true, "httpbin.org", "", {}}},
                  {{"httpbin.example.com", "203.0.113.10"}},
                  {secret}};
  return compileMesh(in);
}

class SeedFixture : public ::testing::TestWithParam<int> {};

TEST_P(SeedFixture, Sec2_Sec4_FullChainCompilesFromTheFixtures) {
  const model::IstioVersion version{1, GetParam(), 0};
  auto mesh = compileSeed(version);
  ASSERT_TRUE(mesh.has_value()) << mesh.error().str();
  const ProxyConfig* ingress = mesh->findProxy("istio-system/istio-ingressgateway");
  const ProxyConfig* egress = mesh->findProxy("httpbin/httpbin-egress");
  const ProxyConfig* sleep = mesh->findProxy("httpbin/sleep");
  ASSERT_NE(ingress, nullptr);
  ASSERT_NE(egress, nullptr);
  ASSERT_NE(sleep, nullptr);
  EXPECT_EQ(sleep->outboundTrafficPolicy, model::OutboundTrafficPolicyMode::kRegistryOnly);
  EXPECT_TRUE(sleep->accessLog.enabled);

  // Ingress 443: SNI chain, credential found, routes to the egress gateway Service.
  ConnectionInfo c{8443, "", "httpbin.example.com", true, ListenerDirection::kGateway};
  ChainSelection s = selectFilterChain(*ingress, c);
  ASSERT_NE(s.chain, nullptr);
  EXPECT_TRUE(chainCredentialReady(*s.chain));
  RequestView r;
  r.authority = "httpbin.example.com";
  r.path = "/status/200";
  r.scheme = "https";
  RouteDecision d = routeRequest(*ingress, *s.chain, r);
  ASSERT_EQ(d.kind, RouteDecision::Kind::kForward);
  EXPECT_EQ(d.cluster->cluster, "outbound|80||httpbin-egress.httpbin.svc.cluster.local");

  // Egress: subset cluster with SIMPLE TLS, SNI/verify by version (§4).
  ConnectionInfo e{8080, "", "", false, ListenerDirection::kGateway};
  ChainSelection es = selectFilterChain(*egress, e);
  ASSERT_NE(es.chain, nullptr);
  r.scheme = "http";
  d = routeRequest(*egress, *es.chain, r);
  ASSERT_EQ(d.kind, RouteDecision::Kind::kForward);
  EXPECT_EQ(d.cluster->cluster, "outbound|443|http-egress-subset|httpbin.org");
  ClusterResolution res = resolveCluster(*egress, d.cluster->cluster);
  ASSERT_EQ(res.healthy.size(), 1u);
  auto tls = upstreamTlsFor(*res.cluster, *res.healthy[0], "httpbin.example.com");
  ASSERT_TRUE(tls.has_value());
  if (GetParam() >= 21) {
    EXPECT_EQ(tls->sni, "httpbin.example.com");
    EXPECT_EQ(tls->verify, ServerVerification::kSystemCa);
  } else {
    EXPECT_EQ(tls->sni, "");
    EXPECT_EQ(tls->verify, ServerVerification::kNone);
  }
  // Egress gateway probe from the overlay (§7).
  ASSERT_TRUE(egress->readinessProbe.has_value());
  EXPECT_EQ(egress->readinessProbe->kind, model::Probe::Kind::kExec);

  // Sidecar: §3 port-80 vhost for the proxied host.
  ConnectionInfo sc{80, "203.0.113.10", "", false, ListenerDirection::kSidecarOutbound};
  ChainSelection ss = selectFilterChain(*sleep, sc);
  ASSERT_NE(ss.chain, nullptr);
  d = routeRequest(*sleep, *ss.chain, r);
  ASSERT_EQ(d.kind, RouteDecision::Kind::kForward);
  EXPECT_EQ(d.cluster->cluster, "outbound|80||httpbin-egress.httpbin.svc.cluster.local");
}

INSTANTIATE_TEST_SUITE_P(Versions, SeedFixture, ::testing::Values(8, 18, 20, 21, 22, 24),
                         [](const auto& p) { return "Istio1_" + std::to_string(p.param); });

// Every shipped scenario loads and compiles; the seed scenario's extra DNS record resolves but is
// blocked by REGISTRY_ONLY (§1).
TEST(ShippedScenarios, EveryScenarioCompiles) {
  const auto dir = std::filesystem::path(EGRESSLAB_SOURCE_DIR) / "scenarios";
  int compiled = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    auto scenario = model::loadScenario(entry.path());
    ASSERT_TRUE(scenario.has_value()) << entry.path() << ": " << scenario.error().str();
    auto mesh = compileMesh(*scenario);
    ASSERT_TRUE(mesh.has_value()) << entry.path() << ": " << mesh.error().str();
    EXPECT_FALSE(mesh->proxies.empty()) << entry.path();
    ++compiled;
  }
  EXPECT_GT(compiled, 0);
}

TEST(ShippedScenarios, Sec1_SeedScenarioUnregisteredHostResolvesButIsBlocked) {
  auto scenario = model::loadScenario(std::filesystem::path(EGRESSLAB_SOURCE_DIR) /
                                      "scenarios/seed-httpbin.yaml");
  ASSERT_TRUE(scenario.has_value()) << scenario.error().str();
  auto mesh = compileMesh(*scenario);
  ASSERT_TRUE(mesh.has_value());
  auto ip = resolveName(mesh->dns, "httpbin", "unregistered.example.com");
  ASSERT_TRUE(ip.has_value());
  const ProxyConfig* sleep = mesh->findProxy("httpbin/sleep");
  ASSERT_NE(sleep, nullptr);
  ConnectionInfo c{80, *ip, "", false, ListenerDirection::kSidecarOutbound};
  ChainSelection s = selectFilterChain(*sleep, c);
  ASSERT_NE(s.chain, nullptr);
  RequestView r;
  r.authority = "unregistered.example.com";
  r.path = "/status/200";
  RouteDecision d = routeRequest(*sleep, *s.chain, r);
  EXPECT_EQ(d.response.status, 502u);
  EXPECT_EQ(d.routeName, "block_all");
  c.localPort = 443;
  c.tls = true;
  c.sni = "unregistered.example.com";
  EXPECT_EQ(selectFilterChain(*sleep, c).chain->kind, FilterChainKind::kBlackHole);
}

}  // namespace
}  // namespace egresslab::mesh
