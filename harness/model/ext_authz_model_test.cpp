// meshConfig.extensionProviders and a scenario's extAuthz servers (docs/istio-behaviour.md §X1,
// docs/scenarios.md "External authorization").
#include <gtest/gtest.h>

#include "harness/model/ext_authz_server.h"
#include "harness/model/loader.h"

namespace egresslab::model {
namespace {

std::string operatorWith(const std::string& providers) {
  return "apiVersion: install.istio.io/v1alpha1\n"
         "kind: IstioOperator\n"
         "metadata: {name: control-plane, namespace: istio-system}\n"
         "spec:\n"
         "  meshConfig:\n"
         "    extensionProviders:\n" +
         providers;
}

Result<ResourceSet> parse(const std::string& yaml) { return parseManifests(yaml, "t.yaml", {}); }

TEST(ExtensionProviders, HttpProviderEveryField_X1) {
  auto set = parse(operatorWith(R"(    - name: opa-http
      envoyExtAuthzHttp:
        service: opa.authz.svc.cluster.local
        port: 8181
        timeout: 250ms
        failOpen: true
        statusOnError: "503"
        pathPrefix: /check
        includeRequestHeadersInCheck: [x-user, "x-ext-*"]
        includeAdditionalHeadersInCheck: {x-added: yes}
        headersToUpstreamOnAllow: [x-authz-user]
        headersToDownstreamOnDeny: [x-authz-reason]
        headersToDownstreamOnAllow: [x-authz-trace]
        clearRouteCache: false
    - name: tracing
      zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
)"));
  ASSERT_TRUE(set.has_value()) << set.error().str();
  const auto& providers = set->istioOperators.at(0).meshConfig.extensionProviders;
  ASSERT_EQ(providers.size(), 2u);
  const ExtensionProvider& p = providers[0];
  EXPECT_EQ(p.name, "opa-http");
  EXPECT_EQ(p.kind, ExtensionProvider::Kind::kExtAuthzHttp);
  EXPECT_EQ(p.service, "opa.authz.svc.cluster.local");
  EXPECT_EQ(p.port, 8181u);
  EXPECT_EQ(p.timeout, std::chrono::milliseconds(250));
  EXPECT_TRUE(p.failOpen);
  EXPECT_EQ(p.statusOnError, "503");
  EXPECT_EQ(p.pathPrefix, "/check");
  EXPECT_EQ(p.includeRequestHeadersInCheck, (std::vector<std::string>{"x-user", "x-ext-*"}));
  EXPECT_EQ(p.includeAdditionalHeadersInCheck.at("x-added"), "yes");
  EXPECT_EQ(p.headersToUpstreamOnAllow, std::vector<std::string>{"x-authz-user"});
  EXPECT_EQ(p.headersToDownstreamOnDeny, std::vector<std::string>{"x-authz-reason"});
  EXPECT_EQ(p.headersToDownstreamOnAllow, std::vector<std::string>{"x-authz-trace"});
  EXPECT_EQ(providers[1].kind, ExtensionProvider::Kind::kOther);
  EXPECT_EQ(providers[1].otherKind, "zipkin");
}

TEST(ExtensionProviders, GrpcProviderDefaults_X1) {
  auto set = parse(operatorWith(R"(    - name: opa
      envoyExtAuthzGrpc: {service: authz/opa.authz.svc.cluster.local, port: 9191}
)"));
  ASSERT_TRUE(set.has_value()) << set.error().str();
  const ExtensionProvider& p = set->istioOperators.at(0).meshConfig.extensionProviders.at(0);
  EXPECT_EQ(p.kind, ExtensionProvider::Kind::kExtAuthzGrpc);
  EXPECT_EQ(p.service, "authz/opa.authz.svc.cluster.local");
  EXPECT_FALSE(p.failOpen);
  EXPECT_FALSE(p.timeout.has_value());
  EXPECT_EQ(p.statusOnError, "");
}

TEST(ExtensionProviders, DeprecatedIncludeHeadersInCheckUsedOnlyAlone_X1) {
  auto set = parse(operatorWith(R"(    - name: a
      envoyExtAuthzHttp: {service: a.ns.svc.cluster.local, port: 80, includeHeadersInCheck: [x-a]}
)"));
  ASSERT_TRUE(set.has_value()) << set.error().str();
  EXPECT_EQ(
      set->istioOperators.at(0).meshConfig.extensionProviders.at(0).includeRequestHeadersInCheck,
      std::vector<std::string>{"x-a"});
}

TEST(ExtensionProviders, BadInputIsPositioned) {
  struct Case {
    std::string providers;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"    - name: a\n      envoyExtAuthzHttp: {service: a, port: 80, statusOnDenied: \"403\"}\n",
       "statusOnDenied"},
      {"    - name: a\n      envoyExtAuthzHttp: {service: a}\n", "missing required field \"port\""},
      {"    - name: a\n      envoyExtAuthzGrpc: {port: 80}\n",
       "missing required field \"service\""},
      {"    - name: a\n      envoyExtAuthzHttp: {service: a, port: 80, pathPrefix: check}\n",
       "pathPrefix must begin with `/`"},
      {"    - name: a\n      envoyExtAuthzHttp: {service: a, port: 80, statusOnError: forbidden}\n",
       "is not an HTTP status code"},
      {"    - name: a\n      envoyExtAuthzHttp: {service: a, port: 80, "
       "includeRequestHeadersInCheck: [\"*\"]}\n",
       "single wildcard"},
      {"    - name: a\n      envoyExtAuthzHttp: {service: a, port: 80}\n"
       "    - name: a\n      envoyExtAuthzGrpc: {service: a, port: 80}\n",
       "duplicate extension provider name \"a\""},
      {"    - name: a\n", "needs exactly one provider"},
  };
  for (const auto& c : cases) {
    auto set = parse(operatorWith(c.providers));
    ASSERT_FALSE(set.has_value()) << c.providers;
    EXPECT_NE(set.error().str().find(c.message), std::string::npos) << set.error().str();
    EXPECT_NE(set.error().str().find("t.yaml:"), std::string::npos) << set.error().str();
  }
}

constexpr const char* kScenarioHead = "name: ext\nsteps: [{name: a, curl: http://x}]\n";

TEST(ExtAuthzServers, DefaultsAndRules) {
  auto sc = parseScenario(std::string(kScenarioHead) + R"(extAuthz:
  - name: opa
    namespace: authz
    protocol: grpc
    latency: 20ms
    default: {action: deny, status: 401, body: who are you}
    rules:
      - match: {paths: ["/admin*"], methods: [get], headers: {X-User: "*"}}
        action: deny
        body: no admin
        downstreamHeaders: {x-reason: admin}
      - match: {principals: ["spiffe://cluster.local/ns/app/sa/client"]}
        action: allow
        upstreamHeaders: {x-authz-user: client}
  - name: sample
)",
                          "/tmp/ext.yaml");
  ASSERT_TRUE(sc.has_value()) << sc.error().str();
  ASSERT_EQ(sc->extAuthz.size(), 2u);
  const ExtAuthzServerSpec& opa = sc->extAuthz[0];
  EXPECT_EQ(opa.host(), "opa.authz.svc.cluster.local");
  EXPECT_EQ(opa.port, 9000u);
  EXPECT_EQ(opa.protocol, ExtAuthzProtocol::kGrpc);
  EXPECT_TRUE(opa.rulesGiven);
  EXPECT_EQ(opa.policy.latency, std::chrono::milliseconds(20));
  ASSERT_EQ(opa.policy.rules.size(), 2u);
  EXPECT_EQ(opa.policy.rules[0].match.methods, std::vector<std::string>{"GET"});
  EXPECT_EQ(opa.policy.rules[0].match.headers, (HeaderPairs{{"x-user", "*"}}));
  EXPECT_FALSE(opa.policy.rules[0].allow);
  EXPECT_EQ(opa.policy.rules[0].status, 403u);
  EXPECT_TRUE(opa.policy.rules[1].allow);
  EXPECT_EQ(opa.policy.otherwise.status, 401u);
  EXPECT_EQ(opa.policy.otherwise.body, "who are you");
  const ExtAuthzServerSpec& sample = sc->extAuthz[1];
  EXPECT_EQ(sample.ns, "default");
  EXPECT_EQ(sample.port, 8000u);
  EXPECT_EQ(sample.image, kIstioSampleExtAuthzImage);
  EXPECT_FALSE(sample.rulesGiven);
  EXPECT_EQ(sample.policy.rules.size(), sampleExtAuthzRules().rules.size());
}

TEST(ExtAuthzServers, BadInputIsPositioned) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"extAuthz:\n  - {name: a, protocol: tcp}\n", "protocol"},
      {"extAuthz:\n  - {name: a, rules: [{match: {paths: [/x]}}]}\n",
       "missing required field \"action\""},
      {"extAuthz:\n  - {name: a, rules: [{action: allow, match: {hosts: [x]}}]}\n", "hosts"},
      {"extAuthz:\n  - {name: a}\n  - {name: a}\n", "duplicate extAuthz server \"a\""},
      {"extAuthz:\n  - {name: A_b}\n", "must match [a-z0-9-]+"},
      {"extAuthz: {name: a}\n", "extAuthz must be a list"},
  };
  for (const auto& [yaml, message] : cases) {
    auto sc = parseScenario(std::string(kScenarioHead) + yaml, "/tmp/ext.yaml");
    ASSERT_FALSE(sc.has_value()) << yaml;
    EXPECT_NE(sc.error().str().find(message), std::string::npos) << sc.error().str();
    EXPECT_NE(sc.error().str().find("/tmp/ext.yaml:"), std::string::npos) << sc.error().str();
  }
}

TEST(ExtAuthzRulesFile, ParsesTheSameSyntax) {
  auto rules = parseExtAuthzRules(
      "latency: 5ms\ndefault: allow\nrules:\n  - {match: {paths: [/deny]}, action: deny}\n",
      "rules.yaml");
  ASSERT_TRUE(rules.has_value()) << rules.error().str();
  EXPECT_TRUE(rules->otherwise.allow);
  EXPECT_EQ(rules->latency, std::chrono::milliseconds(5));
  ASSERT_EQ(rules->rules.size(), 1u);
  auto bad = parseExtAuthzRules("rules:\n  - {action: maybe}\n", "rules.yaml");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().str().find("rules.yaml:2:"), std::string::npos) << bad.error().str();
}

}  // namespace
}  // namespace egresslab::model
