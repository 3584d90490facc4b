// RequestAuthentication loading (docs/istio-behaviour.md §S3): every field as written, istiod's
// validation at FILE:LINE:COL, and what the API server / istiod of an older version rejects in
// AuthorizationPolicy and RequestAuthentication (security.istio.io/v1, targetRef, targetRefs, …).
#include <gtest/gtest.h>

#include "harness/model/loader.h"
#include "harness/model/manifest_parsers.h"

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
kind: RequestAuthentication
metadata:
  name: jwt
  namespace: httpbin
)";

TEST(RequestAuthenticationLoad, EveryFieldAsWritten) {
  const auto set = parseOk(std::string(kHeader) + R"(spec:
  selector:
    matchLabels: {istio: egressgateway}
  jwtRules:
  - issuer: https://issuer.example
    audiences: [egress.example]
    jwks: '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}'
    fromHeaders:
    - {name: x-jwt, prefix: "Token "}
    fromParams: [token]
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders: [{header: x-sub, claim: sub}]
    forwardOriginalToken: true
  - issuer: https://other.example
    jwksUri: https://other.example/keys
)");
  ASSERT_EQ(set.requestAuthentications.size(), 1u);
  const auto& ra = set.requestAuthentications[0];
  EXPECT_EQ(ra.ref(), "RequestAuthentication httpbin/jwt");
  EXPECT_EQ(ra.selector, (Labels{{"istio", "egressgateway"}}));
  ASSERT_EQ(ra.jwtRules.size(), 2u);
  const auto& r = ra.jwtRules[0];
  EXPECT_EQ(r.issuer, "https://issuer.example");
  EXPECT_EQ(r.audiences, std::vector<std::string>{"egress.example"});
  ASSERT_EQ(r.fromHeaders.size(), 1u);
  EXPECT_EQ(r.fromHeaders[0].name, "x-jwt");
  EXPECT_EQ(r.fromHeaders[0].prefix, "Token ");
  EXPECT_EQ(r.fromParams, std::vector<std::string>{"token"});
  EXPECT_EQ(r.outputPayloadToHeader, "x-jwt-payload");
  ASSERT_EQ(r.outputClaimToHeaders.size(), 1u);
  EXPECT_EQ(r.outputClaimToHeaders[0].claim, "sub");
  EXPECT_TRUE(r.forwardOriginalToken);
  EXPECT_EQ(r.path, "spec.jwtRules[0]");
  EXPECT_EQ(ra.jwtRules[1].jwksUri, "https://other.example/keys");
  EXPECT_FALSE(ra.jwtRules[1].forwardOriginalToken);
  EXPECT_TRUE(set.unsimulated.empty());
}

TEST(RequestAuthenticationLoad, Errors) {
  EXPECT_EQ(errorOf(std::string(kHeader) + "spec:\n  jwtRules:\n  - audiences: [a]\n"),
            "t.yaml:8:5: spec.jwtRules[0]: issuer must be set");
  EXPECT_EQ(errorOf(std::string(kHeader) + "spec:\n  jwtRules:\n  - {issuer: i, jwksUri: "
                                           "\"ftp://keys\"}\n"),
            "t.yaml:8:26: spec.jwtRules[0]: jwksUri \"ftp://keys\": only http and https URIs are "
            "supported");
  EXPECT_EQ(errorOf(std::string(kHeader) + "spec:\n  jwtRules:\n  - {issuer: i, jwks: \"{\"}\n"),
            "t.yaml:8:23: spec.jwtRules[0]: jwks parse error: not a JSON object");
  EXPECT_EQ(errorOf(std::string(kHeader) +
                    "spec:\n  jwtRules:\n  - {issuer: i, jwks: '{\"keys\": [{\"n\": \"x\"}]}'}\n"),
            "t.yaml:8:23: spec.jwtRules[0]: jwks parse error: every key needs a string \"kty\"");
  EXPECT_EQ(errorOf(std::string(kHeader) +
                    "spec:\n  jwtRules:\n  - issuer: i\n    fromHeaders: [{prefix: x}]\n"),
            "t.yaml:9:19: spec.jwtRules[0].fromHeaders[0]: location header name must be "
            "non-empty string");
  EXPECT_EQ(errorOf(std::string(kHeader) + "spec:\n  jwtRules:\n  - {issuer: i, jwks_uri: x}\n"),
            "t.yaml:8:17: unknown field \"jwks_uri\" in RequestAuthentication spec.jwtRules[0]; "
            "did you mean \"jwksUri\"?");
  EXPECT_EQ(errorOf(std::string(kHeader) +
                    "spec:\n  selector: {matchLabels: {a: b}}\n  targetRefs: [{kind: Gateway, "
                    "group: gateway.networking.k8s.io, name: g}]\n"),
            "t.yaml:7:13: only one of selector, targetRef or targetRefs can be set");
  EXPECT_EQ(errorOf(std::string(kHeader) +
                    "spec:\n  targetRef: {kind: Gateway, name: g, namespace: other}\n"),
            "t.yaml:7:50: spec.targetRef: targetRef namespace must not be set; cross namespace "
            "referencing is not supported");
}

// What an older Istio rejects, checked once the scenario's version is known.
std::string versionError(const std::string& yaml, IstioVersion v) {
  const ResourceSet set = parseOk(yaml);
  auto r = detail::checkSecurityPolicyVersions(set, v);
  return r ? "<ok>" : r.error().str();
}

TEST(SecurityPolicyVersions, FieldsAndKindsArriveByVersion) {
  const std::string targetRef = std::string(kHeader) +
                                "spec:\n  targetRef: {kind: Gateway, group: "
                                "gateway.networking.k8s.io, name: g}\n";
  EXPECT_EQ(versionError(targetRef, {1, 20, 0}), "<ok>");
  EXPECT_EQ(versionError(targetRef, {1, 19, 0}),
            "t.yaml:7:3: RequestAuthentication httpbin/jwt: unknown field \"spec.targetRef\" in "
            "Istio 1.19.0 (the RequestAuthentication CRD has it from 1.20; the API server rejects "
            "the resource)");
  const std::string targetRefs =
      "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: p, "
      "namespace: httpbin}\nspec:\n  targetRefs:\n  - {kind: Service, name: httpbin}\n";
  EXPECT_EQ(versionError(targetRefs, {1, 22, 0}), "<ok>");
  EXPECT_EQ(versionError(targetRefs, {1, 21, 0}),
            "t.yaml:5:3: AuthorizationPolicy httpbin/p: unknown field \"spec.targetRefs\" in Istio "
            "1.21.0 (the AuthorizationPolicy CRD has it from 1.22; the API server rejects the "
            "resource)");
  const std::string serviceEntry =
      "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: p, "
      "namespace: httpbin}\nspec:\n  targetRefs:\n  - {kind: ServiceEntry, group: "
      "networking.istio.io, name: se}\n";
  EXPECT_EQ(versionError(serviceEntry, {1, 24, 0}), "<ok>");
  EXPECT_EQ(versionError(serviceEntry, {1, 23, 0}),
            "t.yaml:6:5: AuthorizationPolicy httpbin/p: targetRef must be to one of "
            "[gateway.networking.k8s.io/Gateway, core/Service] in Istio 1.23.0, but was "
            "networking.istio.io/ServiceEntry");
  const std::string v1 =
      "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: r, "
      "namespace: httpbin}\nspec:\n  jwtRules: [{issuer: i, fromCookies: [session]}]\n";
  EXPECT_EQ(versionError(v1, {1, 22, 0}), "<ok>");
  EXPECT_EQ(versionError(v1, {1, 21, 0}),
            "t.yaml:1:13: RequestAuthentication httpbin/r: no kind \"RequestAuthentication\" in "
            "version \"security.istio.io/v1\" in Istio 1.21.0 (served from 1.22; use "
            "security.istio.io/v1beta1)");
  const std::string cookies =
      "apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: r, "
      "namespace: httpbin}\nspec:\n  jwtRules: [{issuer: i, fromCookies: [session]}]\n";
  EXPECT_EQ(versionError(cookies, {1, 21, 0}), "<ok>");
  EXPECT_EQ(
      versionError(cookies, {1, 20, 0}),
      "t.yaml:5:26: RequestAuthentication httpbin/r: unknown field "
      "\"spec.jwtRules[0].fromCookies\" in Istio 1.20.0 (the RequestAuthentication CRD has it "
      "from 1.21; the API server rejects the resource)");
}

}  // namespace
}  // namespace egresslab::model
