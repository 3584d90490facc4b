// The kind backend's ext-authz servers (docs/kind.md, docs/opa.md, docs/istio-behaviour.md §X1).
#include "harness/kind/ext_authz_manifests.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/kind/kind_backend.h"
#include "harness/model/loader.h"

namespace egresslab::kind {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::filesystem::path kSource = EGRESSLAB_SOURCE_DIR;

model::ExtAuthzServerSpec sampleServer() {
  model::ExtAuthzServerSpec s;
  s.name = "ext-authz";
  s.ns = "authz";
  s.service = "ext-authz";
  s.port = 8000;
  s.image = std::string(model::kIstioSampleExtAuthzImage);
  s.policy = model::sampleExtAuthzRules();
  return s;
}

TEST(ExtAuthzManifest, SampleImageServiceAndDeployment_X1) {
  auto yaml = extAuthzManifest(sampleServer());
  ASSERT_TRUE(yaml.has_value()) << yaml.error().str();
  EXPECT_THAT(*yaml, HasSubstr("kind: Namespace\nmetadata:\n  name: authz"));
  EXPECT_THAT(*yaml, HasSubstr("  - name: http\n    port: 8000\n    targetPort: 8000"));
  EXPECT_THAT(*yaml, HasSubstr("image: gcr.io/istio-testing/ext-authz:latest"));
  EXPECT_THAT(*yaml, Not(HasSubstr("ConfigMap")));
  model::ExtAuthzServerSpec grpc = sampleServer();
  grpc.protocol = model::ExtAuthzProtocol::kGrpc;
  grpc.port = 9000;
  EXPECT_THAT(*extAuthzManifest(grpc),
              HasSubstr("  - name: grpc\n    port: 9000\n    targetPort: 9000"));
}

TEST(ExtAuthzManifest, RulesNeedAnOpaImageLatencyIsSimOnlyDownHasNoReplicas) {
  model::ExtAuthzServerSpec s = sampleServer();
  s.rulesGiven = true;
  auto refused = extAuthzManifest(s);
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error().message, HasSubstr("rules need an OPA envoy plugin image"));
  s = sampleServer();
  s.down = true;  // on kind: a Deployment without replicas, a Service without endpoints
  EXPECT_THAT(*extAuthzManifest(s), HasSubstr("replicas: 0"));
  s = sampleServer();
  s.policy.latency = std::chrono::milliseconds(5);
  EXPECT_FALSE(extAuthzManifest(s).has_value());
}

TEST(ExtAuthzManifest, OpaImageGetsTheRulesAsRego) {
  model::ExtAuthzServerSpec s = sampleServer();
  s.name = "opa";
  s.image = "openpolicyagent/opa:latest-envoy";
  s.protocol = model::ExtAuthzProtocol::kGrpc;
  s.port = 9191;
  s.rulesGiven = true;
  model::ExtAuthzRule admin;
  admin.match.paths = {"/admin*", "/debug"};
  admin.match.headers = {{"x-user", "*"}};
  admin.allow = false;
  admin.status = 401;
  admin.body = "no admin";
  model::ExtAuthzRule client;
  client.match.principals = {"*/sa/client"};
  client.allow = true;
  client.upstreamHeaders = {{"x-authz-user", "client"}};
  s.policy.rules = {admin, client};
  s.policy.otherwise.allow = false;
  auto yaml = extAuthzManifest(s);
  ASSERT_TRUE(yaml.has_value()) << yaml.error().str();
  EXPECT_THAT(*yaml, HasSubstr("kind: ConfigMap"));
  EXPECT_THAT(*yaml, HasSubstr("--set=plugins.envoy_ext_authz_grpc.path=egresslab/authz/result"));
  EXPECT_THAT(*yaml, HasSubstr("targetPort: 9191"));
  const std::string rego = regoPolicy(s.policy);
  EXPECT_THAT(rego, HasSubstr("package egresslab.authz"));
  EXPECT_THAT(rego, HasSubstr("rule0_path if {\n  startswith(http.path, \"/admin\")\n}"));
  EXPECT_THAT(rego, HasSubstr("rule0_path if {\n  http.path == \"/debug\"\n}"));
  EXPECT_THAT(rego, HasSubstr("object.get(http.headers, \"x-user\", \"\") != \"\""));
  EXPECT_THAT(rego, HasSubstr("rule1_principal if {\n  endswith(principal, \"/sa/client\")\n}"));
  EXPECT_THAT(rego, HasSubstr("result := {\"allowed\": false, \"http_status\": 401, \"body\": "
                              "\"no admin\", \"headers\": {}} if {"));
  EXPECT_THAT(rego, HasSubstr("} else := {\"allowed\": true, \"headers\": {\"x-authz-user\":"
                              "\"client\"}, \"response_headers_to_add\": {}} if {"));
  // HTTP with an OPA image is refused: the plugin speaks gRPC.
  s.protocol = model::ExtAuthzProtocol::kHttp;
  EXPECT_FALSE(extAuthzManifest(s).has_value());
}

TEST(ExtAuthzPlan, DryRunAppliesTheServerAndWaitsForIt_X1) {
  auto scenario = model::loadScenario(kSource / "scenarios" / "seed-httpbin.yaml");
  ASSERT_TRUE(scenario.has_value()) << scenario.error().str();
  scenario->extAuthz.push_back(sampleServer());
  KindOptions o;
  o.runDir = "/run";
  o.fixturesDir = kSource / "fixtures" / "kind";
  auto plan = buildPlan(*scenario, o);
  ASSERT_TRUE(plan.has_value()) << plan.error().str();
  bool applied = false;
  bool waited = false;
  for (const auto& p : *plan) {
    if (p.stdinDescription.find("ext-authz server ext-authz") != std::string::npos) {
      applied = true;
      EXPECT_THAT(p.stages.back().stdinData, HasSubstr("image: gcr.io/istio-testing/ext-authz"));
    }
    waited |=
        p.display().find("kubectl -n authz rollout status deploy/ext-authz") != std::string::npos;
  }
  EXPECT_TRUE(applied);
  EXPECT_TRUE(waited);
}

}  // namespace
}  // namespace egresslab::kind
