// Which proxies an unmodelled resource reaches (docs/design.md "Nothing unmodelled passes
// silently"), on the seed mesh: istio-ingressgateway (istio-system), httpbin-egress and the
// sleep sidecar (httpbin).
#include "harness/mesh/unsimulated.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/mesh/compile.h"
#include "harness/mesh/seed_model_for_test.h"

namespace egresslab::mesh {
namespace {

using Reach = NotSimulatedNote::Reach;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

model::UnsimulatedResource resource(std::string kind, std::string ns, std::string name,
                                    nlohmann::json spec) {
  auto r =
      testing::meta<model::UnsimulatedResource>(std::move(kind), std::move(ns), std::move(name));
  r.spec = std::move(spec);
  return r;
}

NotSimulatedNote noteFor(const model::UnsimulatedResource& r) {
  testing::SeedSetup s(testing::version(22));
  s.resources.unsimulated.push_back(r);
  CompiledMesh m = s.compile();
  for (const auto& n : m.notSimulated) {
    if (n.ref == r.ref()) return n;
  }
  throw std::runtime_error("no note for " + r.ref());
}

TEST(UnsimulatedReach, SelectorPicksTheMatchingGatewayInItsNamespace) {
  const auto n = noteFor(resource(
      "AuthorizationPolicy", "httpbin", "deny-egress",
      {{"selector", {{"matchLabels", {{"istio", "egressgateway"}}}}}, {"action", "DENY"}}));
  EXPECT_EQ(n.text(), "AuthorizationPolicy httpbin/deny-egress: not simulated");
  EXPECT_EQ(n.reach, Reach::kProxies);
  EXPECT_THAT(n.proxies, ElementsAre("httpbin/httpbin-egress"));
  EXPECT_TRUE(n.affects("httpbin", "httpbin-egress"));
  EXPECT_FALSE(n.affects("httpbin", "sleep"));
  EXPECT_FALSE(n.affects("istio-system", "istio-ingressgateway"));
}

TEST(UnsimulatedReach, NoSelectorReachesEveryProxyOfTheNamespace) {
  const auto n = noteFor(resource("AuthorizationPolicy", "httpbin", "deny-all", nlohmann::json{}));
  EXPECT_THAT(n.proxies, UnorderedElementsAre("httpbin/httpbin-egress", "httpbin/sleep"));
}

TEST(UnsimulatedReach, RootNamespaceReachesTheWholeMesh) {
  const auto n = noteFor(resource("EnvoyFilter", "istio-system", "lua", nlohmann::json{}));
  EXPECT_THAT(n.proxies, UnorderedElementsAre("istio-system/istio-ingressgateway",
                                              "httpbin/httpbin-egress", "httpbin/sleep"));
  // A selector in the root namespace selects across namespaces.
  const auto sel = noteFor(resource("EnvoyFilter", "istio-system", "gw",
                                    {{"workloadSelector", {{"labels", {{"app", "sleep"}}}}}}));
  EXPECT_THAT(sel.proxies, ElementsAre("httpbin/sleep"));
}

TEST(UnsimulatedReach, SidecarResourcesNeverApplyToGateways) {
  const auto n = noteFor(resource("Sidecar", "httpbin", "default", nlohmann::json{}));
  EXPECT_THAT(n.proxies, ElementsAre("httpbin/sleep"));
}

TEST(UnsimulatedReach, SelectorMatchingNothingReachesNoProxy) {
  const auto n = noteFor(resource("Telemetry", "httpbin", "t",
                                  {{"selector", {{"matchLabels", {{"app", "nobody"}}}}}}));
  EXPECT_EQ(n.reach, Reach::kProxies);
  EXPECT_THAT(n.proxies, IsEmpty());
  EXPECT_FALSE(n.affects("httpbin", "sleep"));
}

TEST(UnsimulatedReach, TargetRefsAndRegistryKindsReachEveryProxy) {
  const auto targeted = noteFor(
      resource("AuthorizationPolicy", "httpbin", "t", {{"targetRefs", {{{"kind", "Gateway"}}}}}));
  EXPECT_EQ(targeted.reach, Reach::kEveryProxy);
  EXPECT_TRUE(targeted.affects("istio-system", "istio-ingressgateway"));
  const auto entry = noteFor(resource("WorkloadEntry", "httpbin", "vm", nlohmann::json{}));
  EXPECT_EQ(entry.reach, Reach::kEveryProxy);
}

TEST(UnsimulatedReach, GatewayLevelNotesReachThatGatewayOnly) {
  testing::SeedSetup s(testing::version(22));
  s.gateways[1].replicas = 3;  // httpbin-egress
  CompiledMesh m = s.compile();
  bool seen = false;
  for (const auto& n : m.notSimulated) {
    if (n.ref != "Deployment httpbin/httpbin-egress") continue;
    seen = true;
    EXPECT_EQ(n.reach, Reach::kProxies);
    EXPECT_THAT(n.proxies, ElementsAre("httpbin/httpbin-egress"));
    EXPECT_FALSE(n.affects("istio-system", "istio-ingressgateway"));
  }
  EXPECT_TRUE(seen);
}

TEST(UnsimulatedReach, AccessLogFormatChangesNoRequest) {
  testing::SeedSetup s(testing::version(22));
  s.resources.istioOperators.front().meshConfig.accessLogFormat = "%START_TIME%";
  CompiledMesh m = s.compile();
  ASSERT_FALSE(m.notSimulated.empty());
  bool seen = false;
  for (const auto& n : m.notSimulated) {
    if (n.ref != "meshConfig.accessLogFormat") continue;
    seen = true;
    EXPECT_EQ(n.reach, Reach::kNoProxy);
    EXPECT_FALSE(n.affects("httpbin", "httpbin-egress"));
  }
  EXPECT_TRUE(seen);
}

// A mirrored copy changes nothing the caller sees; a CORS policy changes answers through every
// proxy that routes by the VirtualService. Both are said out loud (not silently dropped).
TEST(UnsimulatedReach, MirrorIsNotedAsChangingNoRequestAndCorsAsChangingRequests) {
  testing::SeedSetup s(testing::version(22));
  ASSERT_FALSE(s.resources.virtualServices.empty());
  auto& route = s.resources.virtualServices.front().http.front();
  route.mirrors.push_back({{}, route.path + ".mirror"});
  route.corsPolicy = true;
  CompiledMesh m = s.compile();
  const NotSimulatedNote* mirror = nullptr;
  const NotSimulatedNote* cors = nullptr;
  for (const auto& n : m.notSimulated) {
    if (n.what.find("mirror") != std::string::npos) mirror = &n;
    if (n.what.find("corsPolicy") != std::string::npos) cors = &n;
  }
  ASSERT_NE(mirror, nullptr);
  EXPECT_EQ(mirror->reach, Reach::kNoProxy);
  EXPECT_FALSE(mirror->affects("httpbin", "httpbin-egress"));
  ASSERT_NE(cors, nullptr);
  EXPECT_TRUE(cors->affects("httpbin", "httpbin-egress"));
}

}  // namespace
}  // namespace egresslab::mesh
