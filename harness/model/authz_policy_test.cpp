// AuthorizationPolicy loading (docs/istio-behaviour.md §S1): every field as written, and
// istiod's validation errors at their exact FILE:LINE:COL.
#include <gtest/gtest.h>

#include "harness/model/loader.h"

namespace egresslab::model {
namespace {

std::string errorOf(const std::string& yaml) {
  auto set = parseManifests(yaml, "t.yaml", {});
  if (set) return "<loaded without error>";
  EXPECT_EQ(set.error().kind, ErrorKind::kInvalidInput);
  return set.error().str();
}

ResourceSet parseOk(const std::string& yaml) {
  auto set = parseManifests(yaml, "t.yaml", {});
  EXPECT_TRUE(set.has_value()) << (set ? "" : set.error().str());
  return set ? std::move(*set) : ResourceSet{};
}

const char* kHeader = R"(apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: p
  namespace: httpbin
)";

TEST(AuthorizationPolicyLoad, EveryFieldAsWritten) {
  const auto set = parseOk(std::string(kHeader) + R"(spec:
  selector:
    matchLabels: {istio: egressgateway}
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/httpbin/sa/sleep"]
        notNamespaces: [prod]
        ipBlocks: ["10.0.0.0/8"]
        notRemoteIpBlocks: ["192.168.1.1"]
        requestPrincipals: ["*"]
        serviceAccounts: ["httpbin/sleep"]
    to:
    - operation:
        hosts: ["httpbin.example.com"]
        ports: ["8080"]
        methods: [GET]
        notPaths: ["/status/*"]
    when:
    - key: request.headers[x-team]
      values: [blue]
    - key: destination.port
      notValues: ["443"]
)");
  ASSERT_EQ(set.authorizationPolicies.size(), 1u);
  const AuthorizationPolicy& ap = set.authorizationPolicies[0];
  EXPECT_EQ(ap.ref(), "AuthorizationPolicy httpbin/p");
  ASSERT_TRUE(ap.selector.has_value());
  EXPECT_EQ(ap.selector->at("istio"), "egressgateway");
  EXPECT_EQ(ap.action, AuthzAction::kDeny);
  ASSERT_EQ(ap.rules.size(), 1u);
  const AuthzRule& r = ap.rules[0];
  EXPECT_EQ(r.path, "spec.rules[0]");
  ASSERT_EQ(r.from.size(), 1u);
  EXPECT_EQ(r.from[0].path, "spec.rules[0].from[0].source");
  EXPECT_EQ(r.from[0].principals, std::vector<std::string>{"cluster.local/ns/httpbin/sa/sleep"});
  EXPECT_EQ(r.from[0].notNamespaces, std::vector<std::string>{"prod"});
  EXPECT_EQ(r.from[0].ipBlocks, std::vector<std::string>{"10.0.0.0/8"});
  EXPECT_EQ(r.from[0].notRemoteIpBlocks, std::vector<std::string>{"192.168.1.1"});
  EXPECT_EQ(r.from[0].requestPrincipals, std::vector<std::string>{"*"});
  EXPECT_EQ(r.from[0].serviceAccounts, std::vector<std::string>{"httpbin/sleep"});
  ASSERT_EQ(r.to.size(), 1u);
  EXPECT_EQ(r.to[0].hosts, std::vector<std::string>{"httpbin.example.com"});
  EXPECT_EQ(r.to[0].ports, std::vector<std::string>{"8080"});
  EXPECT_EQ(r.to[0].methods, std::vector<std::string>{"GET"});
  EXPECT_EQ(r.to[0].notPaths, std::vector<std::string>{"/status/*"});
  ASSERT_EQ(r.when.size(), 2u);
  EXPECT_EQ(r.when[0].key, "request.headers[x-team]");
  EXPECT_EQ(r.when[0].values, std::vector<std::string>{"blue"});
  EXPECT_EQ(r.when[1].notValues, std::vector<std::string>{"443"});
  // Positions of list items, for analyzer messages.
  EXPECT_EQ(ap.origin.at("spec.rules[0].to[0].operation.methods").line, 23);
}

TEST(AuthorizationPolicyLoad, NoSpecIsAllowNothing) {
  const auto set = parseOk(kHeader);
  ASSERT_EQ(set.authorizationPolicies.size(), 1u);
  EXPECT_EQ(set.authorizationPolicies[0].action, AuthzAction::kAllow);
  EXPECT_TRUE(set.authorizationPolicies[0].rules.empty());
  EXPECT_FALSE(set.authorizationPolicies[0].selector.has_value());
}

TEST(AuthorizationPolicyLoad, CustomProviderAndTargetRefs) {
  const auto set = parseOk(std::string(kHeader) + R"(spec:
  targetRefs:
  - {group: gateway.networking.k8s.io, kind: Gateway, name: waypoint}
  action: CUSTOM
  provider: {name: opa}
  rules:
  - {}
)");
  const AuthorizationPolicy& ap = set.authorizationPolicies.at(0);
  EXPECT_EQ(ap.action, AuthzAction::kCustom);
  EXPECT_EQ(ap.provider, "opa");
  ASSERT_EQ(ap.targetRefs.size(), 1u);
  EXPECT_EQ(ap.targetRefs[0].kind, "Gateway");
  EXPECT_EQ(ap.targetRefs[0].name, "waypoint");
  ASSERT_EQ(ap.rules.size(), 1u);  // one empty rule: matches everything
  EXPECT_TRUE(ap.rules[0].from.empty() && ap.rules[0].to.empty() && ap.rules[0].when.empty());
}

TEST(AuthorizationPolicyLoad, Errors) {
  EXPECT_EQ(errorOf(std::string(kHeader) + "spec:\n  action: DENIED\n"),
            "t.yaml:7:11: invalid value \"DENIED\" for spec.action; valid values: ALLOW, DENY, "
            "AUDIT, CUSTOM");
  EXPECT_EQ(errorOf(std::string(kHeader) + "spec:\n  rules:\n  - when:\n    - key: source.ipp\n"
                                           "      values: [1.2.3.4]\n"),
            "t.yaml:9:12: spec.rules[0].when[0]: unknown attribute \"source.ipp\" in when.key; "
            "did you mean \"source.ip\"?");
  EXPECT_EQ(errorOf(std::string(kHeader) + "spec:\n  rules:\n  - when:\n    - key: source.ip\n"),
            "t.yaml:9:7: spec.rules[0].when[0]: at least one of values or notValues must be set "
            "for key \"source.ip\"");
  EXPECT_EQ(errorOf(std::string(kHeader) +
                    "spec:\n  rules:\n  - from:\n    - source: {ipBlocks: [\"10.0.0.0/33\"]}\n"),
            "t.yaml:9:27: spec.rules[0].from[0].source.ipBlocks[0]: invalid IP address or CIDR "
            "block \"10.0.0.0/33\"");
  EXPECT_EQ(errorOf(std::string(kHeader) +
                    "spec:\n  rules:\n  - to:\n    - operation: {ports: [\"http\"]}\n"),
            "t.yaml:9:27: spec.rules[0].to[0].operation.ports[0]: invalid port \"http\" (0-65535)");
  EXPECT_EQ(errorOf(std::string(kHeader) + "spec:\n  rules:\n  - to:\n    - operation: {}\n"),
            "t.yaml:9:18: spec.rules[0].to[0].operation must not be empty (istiod rejects an "
            "operation without fields)");
  EXPECT_EQ(errorOf(std::string(kHeader) + "spec:\n  rules:\n  - from:\n    - {}\n"),
            "t.yaml:9:7: spec.rules[0].from[0].source must not be nil");
  EXPECT_EQ(errorOf(std::string(kHeader) + "spec:\n  action: CUSTOM\n"),
            "t.yaml:7:11: action CUSTOM needs spec.provider.name (an extension provider of "
            "meshConfig)");
  EXPECT_EQ(errorOf(std::string(kHeader) + "spec:\n  provider: {name: opa}\n"),
            "t.yaml:7:13: spec.provider can only be used with action CUSTOM, not ALLOW");
  EXPECT_EQ(errorOf(std::string(kHeader) +
                    "spec:\n  selector: {matchLabels: {a: b}}\n  targetRef: {kind: Gateway, "
                    "name: g}\n"),
            "t.yaml:7:13: only one of selector, targetRef or targetRefs can be set");
  EXPECT_EQ(errorOf(std::string(kHeader) +
                    "spec:\n  rules:\n  - from:\n    - source: {principal: [a]}\n"),
            "t.yaml:9:16: unknown field \"principal\" in AuthorizationPolicy "
            "spec.rules[0].from[0].source; did you mean \"principals\"?");
}

}  // namespace
}  // namespace egresslab::model
