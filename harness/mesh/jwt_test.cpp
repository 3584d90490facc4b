// RequestAuthentication / Envoy's jwt_authn filter (docs/istio-behaviour.md §S3): token
// extraction, RS256/ES256 verification against an inline JWKS, exp/nbf/audience/issuer checks with
// Envoy's bodies and codes, the header edits of a verified token, and the request.auth.* view
// AuthorizationPolicy reads. Tokens and JWKS: scenarios/manifests/authz/jwt/ (generate.sh).
#include "harness/mesh/jwt.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "harness/mesh/authz.h"
#include "harness/mesh/seed_model_for_test.h"
#include "harness/model/loader.h"

namespace egresslab::mesh {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string material(const std::string& name) {
  std::ifstream in(std::string(EGRESSLAB_SOURCE_DIR) + "/scenarios/manifests/authz/jwt/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  EXPECT_FALSE(s.empty()) << name;
  return s;
}

constexpr std::string_view kIssuer = "https://issuer.egresslab.test";
constexpr std::int64_t kNow = 1800000000;  // 2027

JwtProvider provider(std::vector<std::string> audiences = {"egress.example"}) {
  JwtProvider p;
  p.rule.issuer = std::string(kIssuer);
  p.rule.audiences = std::move(audiences);
  p.rule.jwks = material("jwks.json");
  p.rule.path = "spec.jwtRules[0]";
  p.origin = "RequestAuthentication httpbin/jwt";
  return p;
}

JwtOutcome run(const std::vector<JwtProvider>& providers, Headers& headers,
               std::string_view path = "/status/200") {
  JwtRequest r;
  r.headers = &headers;
  r.scheme = "http";
  r.authority = "httpbin.example.com";
  r.path = path;
  r.now = kNow;
  r.version = model::IstioVersion{1, 22, 0};
  return authenticateJwt(providers, r);
}

JwtOutcome runToken(const std::string& file, std::vector<JwtProvider> providers = {provider()}) {
  Headers h = {{"host", "httpbin.example.com"}, {"authorization", "Bearer " + material(file)}};
  return run(providers, h);
}

TEST(JwtBase64, RoundTripsAndRejectsGarbage) {
  EXPECT_EQ(base64UrlEncode("hello?>"), "aGVsbG8_Pg");
  EXPECT_EQ(base64UrlDecode("aGVsbG8_Pg"), "hello?>");
  EXPECT_EQ(base64UrlDecode("aGVsbG8_Pg=="), "hello?>");
  EXPECT_FALSE(base64UrlDecode("aGV+bG8"));
  EXPECT_FALSE(base64UrlDecode("a"));
}

TEST(JwtAuthn, ValidRs256AndEs256TokensGiveTheRequestAPrincipal) {
  for (const char* file : {"valid-rs256.jwt", "valid-es256.jwt"}) {
    Headers h = {{"authorization", "Bearer " + material(file)}};
    const JwtOutcome o = run({provider()}, h);
    ASSERT_TRUE(o.allowed) << file << ": " << o.body;
    ASSERT_TRUE(o.identity) << file;
    EXPECT_EQ(o.identity->principal(), "https://issuer.egresslab.test/sleep-client");
    EXPECT_EQ(o.identity->presenter, "sleep-app");
    EXPECT_EQ(o.identity->audiences, std::vector<std::string>{"egress.example"});
    // forwardOriginalToken false (the default): the Authorization header is removed.
    EXPECT_TRUE(h.empty()) << file;
  }
}

TEST(JwtAuthn, NoTokenIsAcceptedWithoutIdentity) {
  Headers h = {{"host", "x"}, {"authorization", "Basic dXNlcjpwYXNz"}};
  const JwtOutcome o = run({provider()}, h);
  EXPECT_TRUE(o.allowed);
  EXPECT_FALSE(o.identity);
  EXPECT_EQ(h.size(), 2u);  // a header without the "Bearer " prefix is no token, left alone
}

TEST(JwtAuthn, InvalidTokensGetEnvoysRepliesInItsCheckOrder) {
  struct Case {
    const char* file;
    std::uint32_t status;
    std::string_view body;
  };
  for (const Case& c : {Case{"expired.jwt", 401, jwt_status::kExpired},
                        Case{"not-yet-valid.jwt", 401, jwt_status::kNotYetValid},
                        Case{"bad-signature.jwt", 401, jwt_status::kVerificationFail},
                        Case{"other-issuer.jwt", 401, jwt_status::kUnknownIssuer},
                        Case{"wrong-audience.jwt", 403, jwt_status::kAudienceNotAllowed}}) {
    const JwtOutcome o = runToken(c.file);
    EXPECT_FALSE(o.allowed) << c.file;
    EXPECT_EQ(o.status, c.status) << c.file;
    EXPECT_EQ(o.body, c.body) << c.file;
  }
  const JwtOutcome o = runToken("expired.jwt");
  EXPECT_EQ(o.details, "jwt_authn_access_denied{Jwt_is_expired}");
  EXPECT_EQ(o.wwwAuthenticate,
            "Bearer realm=\"http://httpbin.example.com/status/200\", error=\"invalid_token\"");
  Headers h = {{"authorization", "Bearer not-a-jwt"}};
  EXPECT_EQ(run({provider()}, h).body, jwt_status::kBadFormat);
}

TEST(JwtAuthn, AudiencesIgnoreSchemeAndTrailingSlashAndEmptyMeansAny) {
  EXPECT_TRUE(runToken("valid-rs256.jwt", {provider({"https://egress.example/"})}).allowed);
  EXPECT_TRUE(runToken("wrong-audience.jwt", {provider({})}).allowed);
}

TEST(JwtAuthn, KeysAreChosenByKidAndAlg) {
  JwtProvider p = provider();
  // Only the EC key: an RS256 token finds no key of its kid/alg.
  auto jwks = nlohmann::json::parse(p.rule.jwks);
  jwks["keys"].erase(0);
  p.rule.jwks = jwks.dump();
  EXPECT_EQ(runToken("valid-rs256.jwt", {p}).body, jwt_status::kKidAlgMismatch);
  EXPECT_TRUE(runToken("valid-es256.jwt", {p}).allowed);
  p.rule.jwks = R"({"keys":[]})";
  EXPECT_EQ(runToken("valid-rs256.jwt", {p}).body, jwt_status::kNoValidKeys);
}

TEST(JwtAuthn, ExpiryHasSixtySecondsOfClockSkew) {
  Headers h = {{"authorization", "Bearer " + material("valid-rs256.jwt")}};
  JwtRequest r;
  r.headers = &h;
  r.now = 4102444800 + 60;  // exp + skew: still valid
  EXPECT_TRUE(authenticateJwt({provider()}, r).allowed);
  h = {{"authorization", "Bearer " + material("valid-rs256.jwt")}};
  r.now = 4102444800 + 61;
  EXPECT_EQ(authenticateJwt({provider()}, r).body, jwt_status::kExpired);
}

TEST(JwtAuthn, LocationsForwardingAndOutputHeaders) {
  JwtProvider p = provider();
  p.rule.fromHeaders = {{"x-jwt", ""}};
  p.rule.forwardOriginalToken = true;
  p.rule.outputPayloadToHeader = "x-jwt-payload";
  p.rule.outputClaimToHeaders = {{"x-sub", "sub"}};
  const std::string token = material("valid-rs256.jwt");
  // The default location is replaced by fromHeaders: a Bearer token is no longer looked at.
  Headers h = {{"authorization", "Bearer garbage"}, {"x-jwt", token}, {"x-jwt-payload", "forged"}};
  const JwtOutcome o = run({p}, h);
  ASSERT_TRUE(o.allowed) << o.body;
  const Headers want = {
      {"authorization", "Bearer garbage"},
      {"x-jwt", token},
      {"x-jwt-payload", token.substr(token.find('.') + 1, token.rfind('.') - token.find('.') - 1)},
      {"x-sub", "sleep-client"}};
  EXPECT_EQ(h, want);
  // Query parameter access_token is a default location too.
  Headers q;
  const JwtOutcome viaQuery = run({provider()}, q, "/get?access_token=" + material("expired.jwt"));
  EXPECT_EQ(viaQuery.body, jwt_status::kExpired);
}

TEST(JwtAuthn, ScopeIsSplitFrom121AndClaimsAreLookedUpNested) {
  Headers h = {{"authorization", "Bearer " + material("valid-rs256.jwt")}};
  const JwtOutcome o = run({provider()}, h);
  ASSERT_TRUE(o.identity);
  EXPECT_EQ(claimStrings(*o.identity, {"scope"}), (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(claimStrings(*o.identity, {"groups"}), std::vector<std::string>{"egress-users"});
  EXPECT_EQ(claimPathOf("request.auth.claims[a][b]"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(claimPathOf("request.auth.claims[a").empty());
  JwtIdentity nested;
  nested.payload = nlohmann::json::parse(R"({"a": {"b": ["x", 1]}})");
  EXPECT_EQ(claimStrings(nested, {"a", "b"}), std::vector<std::string>{"x"});
  EXPECT_TRUE(claimStrings(nested, {"a", "c"}).empty());
}

TEST(JwtAuthn, RequestPrincipalsAndAuthConditionsReadTheVerifiedToken) {
  const auto policies = model::parseManifests(
      R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: jwt, namespace: httpbin}
spec:
  rules:
  - from:
    - source: {requestPrincipals: ["https://issuer.egresslab.test/*"]}
    when:
    - {key: "request.auth.claims[groups]", values: ["egress-users"]}
    - {key: request.auth.audiences, values: ["egress.example"]}
    - {key: request.auth.presenter, values: ["sleep-*"]}
)",
      "p.yaml", {});
  ASSERT_TRUE(policies) << policies.error().str();
  const ProxyAuthz authz =
      compileProxyAuthz(policies->authorizationPolicies, "istio-system", "httpbin", {});
  AuthzRequest r;
  r.path = "/";
  r.method = "GET";
  EXPECT_FALSE(evaluateRbac(authz, r).allowed);  // no token: no request principal
  Headers h = {{"authorization", "Bearer " + material("valid-rs256.jwt")}};
  const JwtOutcome ok = run({provider()}, h);
  r.jwt = &*ok.identity;
  EXPECT_TRUE(evaluateRbac(authz, r).allowed);
  Headers h2 = {{"authorization", "Bearer " + material("other-subject.jwt")}};
  const JwtOutcome guest = run({provider()}, h2);
  r.jwt = &*guest.identity;
  EXPECT_FALSE(evaluateRbac(authz, r).allowed);  // groups: ["guests"]
  EXPECT_TRUE(requestPrincipalMatches("*", &*ok.identity));
  EXPECT_FALSE(requestPrincipalMatches("*", nullptr));
}

TEST(JwtCompile, SelectionSortingAndUnsimulatedRules) {
  auto set = model::parseManifests(
      R"(apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: b, namespace: httpbin}
spec:
  selector: {matchLabels: {istio: egressgateway}}
  jwtRules: [{issuer: z-issuer, jwksUri: "https://keys.example/jwks"}]
---
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: a, namespace: istio-system}
spec:
  jwtRules: [{issuer: a-issuer}]
---
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: c, namespace: httpbin}
spec:
  selector: {matchLabels: {app: other}}
  jwtRules: [{issuer: c-issuer}]
)",
      "ra.yaml", {});
  ASSERT_TRUE(set) << set.error().str();
  const auto providers = compileProxyJwt(set->requestAuthentications, "istio-system", "httpbin",
                                         {{"istio", "egressgateway"}});
  ASSERT_EQ(providers.size(), 2u);
  EXPECT_EQ(providers[0].rule.issuer, "a-issuer");
  EXPECT_EQ(providers[1].rule.issuer, "z-issuer");
  EXPECT_NE(unsimulatedJwtReason(providers[1].rule).find("jwksUri"), std::string::npos);
  // Neither jwks nor jwksUri: istiod asks the issuer's OpenID discovery document.
  EXPECT_NE(unsimulatedJwtReason(providers[0].rule).find("openid-configuration"),
            std::string::npos);
  EXPECT_EQ(unsimulatedJwtReason(provider().rule), "");
}

// In the compiled seed mesh: the egress gateway gets the providers of a RequestAuthentication
// selecting it; a jwksUri is a note that blocks the steps through that gateway only; a targetRef'd
// RequestAuthentication reaches no proxy (a note that changes no request).
TEST(JwtCompile, SeedMeshProvidersAndNotes) {
  testing::SeedSetup s(testing::version(22));
  model::RequestAuthentication ra;
  ra.kind = "RequestAuthentication";
  ra.meta.ns = "httpbin";
  ra.meta.name = "remote-keys";
  ra.selector = model::Labels{{"istio", "egressgateway"}};
  model::JwtRule rule;
  rule.issuer = "https://issuer.example";
  rule.jwksUri = "https://issuer.example/keys";
  rule.path = "spec.jwtRules[0]";
  ra.jwtRules.push_back(rule);
  s.resources.requestAuthentications.push_back(ra);
  model::RequestAuthentication targeted = ra;
  targeted.meta.name = "targeted";
  targeted.selector.reset();
  targeted.targetRefs.push_back(
      {"gateway.networking.k8s.io", "Gateway", "g", "", "spec.targetRef"});
  s.resources.requestAuthentications.push_back(targeted);
  const CompiledMesh m = s.compile();
  for (const auto& proxy : m.proxies) {
    EXPECT_EQ(proxy.authz.jwt.size(), proxy.id.str() == "httpbin/httpbin-egress" ? 1u : 0u)
        << proxy.id.str();
  }
  bool uri = false;
  bool target = false;
  for (const auto& n : m.notSimulated) {
    if (n.ref == "RequestAuthentication httpbin/remote-keys") {
      uri = true;
      EXPECT_EQ(n.reach, NotSimulatedNote::Reach::kProxies);
      EXPECT_EQ(n.proxies, std::vector<std::string>{"httpbin/httpbin-egress"});
      EXPECT_NE(n.what.find("jwksUri"), std::string::npos) << n.what;
    }
    if (n.ref == "RequestAuthentication httpbin/targeted") {
      target = true;
      EXPECT_EQ(n.reach, NotSimulatedNote::Reach::kNoProxy);
    }
  }
  EXPECT_TRUE(uri);
  EXPECT_TRUE(target);
}

}  // namespace
}  // namespace egresslab::mesh
