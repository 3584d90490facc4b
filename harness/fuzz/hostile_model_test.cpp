// Hostile manifests and requests end-to-end through the loader, the compiler and the router:
// the crashes of the one-model issue stay fixed (issue #9 item 4).
#include <gtest/gtest.h>

#include <string>

#include "harness/mesh/compile.h"
#include "harness/mesh/decisions.h"
#include "harness/model/gateway_workloads.h"
#include "harness/model/loader.h"

namespace egresslab {
namespace {

const char* const kRegexRoute = R"(apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: a, namespace: default}
spec:
  hosts: [a.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: a, namespace: default}
spec:
  hosts: [a.example.com]
  http:
  - match: [{uri: {regex: "/.*"}, headers: {x-a: {regex: "b+"}}}]
    route: [{destination: {host: a.example.com}}]
)";

TEST(HostileRequests, RegexRouteWithA40KbPathRoutesInsteadOfCrashing) {
  auto set = model::parseManifests(kRegexRoute, "t.yaml");
  ASSERT_TRUE(set) << set.error().str();
  const model::IstioVersion version{1, 22, 3};
  mesh::CompileInput input{.resources = *set,
                           .version = version,
                           .gateways = model::deriveGatewayWorkloads(*set, version),
                           .workloads = {{.name = "sleep",
                                          .ns = "default",
                                          .injected = true,
                                          .labels = {{"app", "sleep"}},
                                          .serviceAccount = "sleep",
                                          .locality = {},
                                          .pos = {}}},
                           .upstreams = {},
                           .dns = {},
                           .secrets = {}};
  auto compiled = mesh::compileMesh(input);
  ASSERT_TRUE(compiled) << compiled.error().str();
  const mesh::ProxyConfig* sleep = compiled->findProxy("default/sleep");
  ASSERT_NE(sleep, nullptr);
  const std::string path = "/" + std::string(40 * 1024, 'a');
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"x-a", std::string(40 * 1024, 'b')}};
  int routed = 0;
  for (const auto& listener : sleep->listeners) {
    if (listener.port != 80) continue;
    for (const auto& chain : listener.filterChains) {
      if (chain.kind != mesh::FilterChainKind::kHttp) continue;
      const mesh::RouteDecision d =
          mesh::routeRequest(*sleep, chain,
                             mesh::RequestView{.authority = "a.example.com",
                                               .path = path,
                                               .method = "GET",
                                               .scheme = "http",
                                               .headers = &headers});
      EXPECT_EQ(d.kind, mesh::RouteDecision::Kind::kForward);
      ++routed;
    }
  }
  EXPECT_GT(routed, 0);
}

TEST(HostileManifests, HugeRetryStatusIsALoadErrorNotAnAbort) {
  const std::string yaml = std::string(kRegexRoute) +
                           "    retries: {attempts: 2, retryOn: "
                           "\"connect-failure,99999999999999999999999\"}\n";
  auto set = model::parseManifests(yaml, "t.yaml");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().where->str(), "t.yaml:17:37");
  // The lenient loader (analyze) leaves that VirtualService out; the rest still compiles.
  auto lenient = model::parseManifests(
      yaml, "t.yaml", {.vars = {}, .requireAllPlaceholders = false, .lenient = true});
  ASSERT_TRUE(lenient);
  EXPECT_TRUE(lenient->virtualServices.empty());
  EXPECT_EQ(lenient->invalid.size(), 1u);
  const model::IstioVersion version{1, 22, 3};
  EXPECT_TRUE(mesh::compileMesh(
      mesh::CompileInput{.resources = *lenient,
                         .version = version,
                         .gateways = model::deriveGatewayWorkloads(*lenient, version),
                         .workloads = {},
                         .upstreams = {},
                         .dns = {},
                         .secrets = {}}));
}

}  // namespace
}  // namespace egresslab
