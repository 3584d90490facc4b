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

// One request through the filter; `path` is edited in place as the filter edits :path.
struct Call {
  std::string path = "/status/200";
  std::string method = "GET";
  model::IstioVersion version{1, 22, 0};
};

JwtOutcome run(const std::vector<JwtProvider>& providers, Headers& headers, Call& call) {
  JwtRequest r;
  r.headers = &headers;
  r.path = &call.path;
  r.method = call.method;
  r.scheme = "http";
  r.authority = "httpbin.example.com";
  r.now = kNow;
  r.version = call.version;
  return authenticateJwt(providers, r);
}

JwtOutcome run(const std::vector<JwtProvider>& providers, Headers& headers,
               std::string path = "/status/200") {
  Call call{.path = std::move(path)};
  return run(providers, headers, call);
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

// §S3: Envoy 1.31 (Istio 1.23) removes a verified query-parameter token from :path and rebuilds
// the query from what is left (sorted by name, percent-decoded); before, the token stayed.
TEST(JwtAuthn, QueryParameterTokenIsRemovedFrom123_S3) {
  const std::string token = material("valid-rs256.jwt");
  const std::string path = "/get?b=2&access_token=" + token + "&a=x%2Fy&c=1+2";
  Headers h;
  Call on123{.path = path, .version = {1, 23, 0}};
  ASSERT_TRUE(run({provider()}, h, on123).identity);
  EXPECT_EQ(on123.path, "/get?a=x/y&b=2&c=1+2");  // Envoy's decoding leaves '+' alone
  Call on122{.path = path, .version = {1, 22, 0}};
  ASSERT_TRUE(run({provider()}, h, on122).identity);
  EXPECT_EQ(on122.path, path);
  Call alone{.path = "/get?access_token=" + token, .version = {1, 28, 0}};
  ASSERT_TRUE(run({provider()}, h, alone).identity);
  EXPECT_EQ(alone.path, "/get");
  // fromParams names the parameter; forwardOriginalToken keeps it where it was.
  JwtProvider named = provider();
  named.rule.fromParams = {"tok"};
  Call viaTok{.path = "/get?tok=" + token + "&x=1", .version = {1, 28, 0}};
  ASSERT_TRUE(run({named}, h, viaTok).identity);
  EXPECT_EQ(viaTok.path, "/get?x=1");
  Call ignored{.path = "/get?access_token=garbage", .version = {1, 28, 0}};
  EXPECT_TRUE(run({named}, h, ignored).allowed);  // access_token is no longer a location
  named.rule.forwardOriginalToken = true;
  Call kept{.path = "/get?tok=" + token, .version = {1, 28, 0}};
  ASSERT_TRUE(run({named}, h, kept).identity);
  EXPECT_EQ(kept.path, "/get?tok=" + token);
}

// §S3: a fromHeaders prefix is found anywhere in the value and the token starts at the next
// base64url character; with forwardOriginalToken false the whole header goes.
TEST(JwtAuthn, FromHeadersPrefixIsFoundAnywhereInTheValue_S3) {
  JwtProvider p = provider();
  p.rule.fromHeaders = {{"x-token", "Token "}};
  p.rule.outputClaimToHeaders = {{"x-iat", "iat"}, {"x-groups", "groups"}};
  Headers h = {{"x-token", "scheme=1, Token  " + material("valid-rs256.jwt")}};
  const JwtOutcome o = run({p}, h);
  ASSERT_TRUE(o.identity) << o.body;
  // A number claim prints as an integer; a list is no header.
  EXPECT_EQ(h, (Headers{{"x-iat", "1700000000"}}));
  Headers without = {{"x-token", "Bearer " + material("expired.jwt")}};
  EXPECT_TRUE(run({p}, without).allowed);  // the prefix is not there: no token
}

// §S3: from 1.14 Istio sets bypass_cors_preflight: an OPTIONS request with Origin and
// Access-Control-Request-Method passes the filter whatever its token, untouched, with no
// identity. Before 1.14 the preflight is verified like any request.
TEST(JwtAuthn, CorsPreflightBypassesTheFilterFrom114_S3) {
  JwtProvider p = provider();
  p.rule.outputPayloadToHeader = "x-jwt-payload";
  const Headers preflight = {{"origin", "https://app.example"},
                             {"access-control-request-method", "POST"},
                             {"authorization", "Bearer " + material("expired.jwt")},
                             {"x-jwt-payload", "forged"}};
  Headers h = preflight;
  Call on114{.method = "OPTIONS", .version = {1, 14, 0}};
  const JwtOutcome bypassed = run({p}, h, on114);
  EXPECT_TRUE(bypassed.allowed);
  EXPECT_FALSE(bypassed.identity);
  EXPECT_EQ(h, preflight);  // nothing removed, not even the forged payload header
  h = preflight;
  Call on113{.method = "OPTIONS", .version = {1, 13, 9}};
  EXPECT_EQ(run({p}, h, on113).body, jwt_status::kExpired);
  // Not a preflight: no Origin, or not OPTIONS.
  h = {{"access-control-request-method", "POST"},
       {"authorization", "Bearer " + material("expired.jwt")}};
  Call noOrigin{.method = "OPTIONS", .version = {1, 28, 0}};
  EXPECT_EQ(run({p}, h, noOrigin).body, jwt_status::kExpired);
  h = preflight;
  Call post{.method = "POST", .version = {1, 28, 0}};
  EXPECT_EQ(run({p}, h, post).body, jwt_status::kExpired);
}

// The AuthorizationPolicies of `yaml` as a sidecar in httpbin has them, and a GET to judge.
ProxyAuthz authzOf(const char* yaml) {
  const auto policies = model::parseManifests(yaml, "p.yaml", {});
  EXPECT_TRUE(policies) << policies.error().str();
  if (!policies) return {};
  return compileProxyAuthz(policies->authorizationPolicies, "istio-system", "httpbin", {});
}

AuthzRequest get() {
  AuthzRequest r;
  r.path = "/";
  r.method = "GET";
  return r;
}

JwtIdentity tokenWith(const char* claims, model::IstioVersion istio) {
  JwtIdentity id;
  id.payload = nlohmann::json::parse(claims);
  id.istio = istio;
  return id;
}

bool matchesOn(std::string_view pattern, const char* claims, model::IstioVersion istio) {
  const JwtIdentity id = tokenWith(claims, istio);
  return requestPrincipalMatches(pattern, &id);
}

// §S3: up to 1.20 requestPrincipals match the one string "iss/sub" (none without a `sub`); from
// 1.21 the value is split into issuer and subject, each matched against its claim — at the first
// "/" in 1.21.0 (a URL issuer never matches exactly), at the last "/" from 1.21.1.
TEST(RequestPrincipals, MatchTheStringUpTo120AndIssuerAndSubjectApartFrom121_S3) {
  const model::IstioVersion v120{1, 20, 0}, v1210{1, 21, 0}, v1211{1, 21, 1}, v128{1, 28, 0};
  const char* url = R"({"iss": "https://issuer.egresslab.test", "sub": "sleep-client"})";
  const std::string exact = "https://issuer.egresslab.test/sleep-client";
  EXPECT_TRUE(matchesOn(exact, url, v120));
  EXPECT_FALSE(matchesOn(exact, url, v1210));
  EXPECT_TRUE(matchesOn(exact, url, v1211));
  EXPECT_TRUE(matchesOn(exact, url, v128));
  EXPECT_TRUE(matchesOn("https://issuer.egresslab.test/*", url, v128));
  EXPECT_TRUE(matchesOn("*/sleep-client", url, v128));
  EXPECT_TRUE(matchesOn("*.test/sleep-client", url, v128));
  EXPECT_TRUE(matchesOn("*", url, v128));
  EXPECT_TRUE(matchesOn("https*", url, v128));
  EXPECT_FALSE(matchesOn("https://issuer.egresslab.test/other", url, v128));
  // A subject with a "/": the string matches up to 1.20; split at the last "/" it does not.
  const char* slashSub = R"({"iss": "iss", "sub": "team/alice"})";
  EXPECT_TRUE(matchesOn("iss/team/alice", slashSub, v120));
  EXPECT_TRUE(matchesOn("iss/team/alice", slashSub, v1210));
  EXPECT_FALSE(matchesOn("iss/team/alice", slashSub, v128));
  EXPECT_TRUE(matchesOn("*/alice", slashSub, v120));
  EXPECT_FALSE(matchesOn("*/alice", slashSub, v128));
  // A prefix is the exact issuer from 1.21, any string prefix before.
  const char* tenant = R"({"iss": "https://issuer.egresslab.test/tenant", "sub": "bob"})";
  EXPECT_TRUE(matchesOn("https://issuer.egresslab.test/*", tenant, v120));
  EXPECT_FALSE(matchesOn("https://issuer.egresslab.test/*", tenant, v128));
  // No `sub` (or an empty one for "*"): no request principal at all.
  const char* noSub = R"({"iss": "https://issuer.egresslab.test"})";
  for (const auto& v : {v120, v1211, v128}) {
    EXPECT_FALSE(matchesOn("*", noSub, v)) << v.str();
    EXPECT_FALSE(matchesOn("https://issuer.egresslab.test/*", noSub, v)) << v.str();
  }
  const char* emptySub = R"({"iss": "i", "sub": ""})";
  EXPECT_FALSE(matchesOn("*", emptySub, v128));
  EXPECT_TRUE(matchesOn("*", emptySub, v120));  // the string "i/" is not empty
}

// §S3: a DENY rule on notRequestPrincipals ["*"] ("deny requests without a principal") fires for
// a verified token without `sub`, in every version.
TEST(RequestPrincipals, NotRequestPrincipalsDeniesAVerifiedTokenWithoutSubject_S3) {
  const ProxyAuthz authz = authzOf(R"(apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: need-principal, namespace: httpbin}
spec:
  action: DENY
  rules:
  - from:
    - source: {notRequestPrincipals: ["*"]}
)");
  AuthzRequest r = get();
  for (const model::IstioVersion v :
       {model::IstioVersion{1, 20, 0}, model::IstioVersion{1, 28, 0}}) {
    const JwtIdentity noSub = tokenWith(R"({"iss": "https://issuer.egresslab.test"})", v);
    r.jwt = &noSub;
    EXPECT_FALSE(evaluateRbac(authz, r).allowed) << v.str();
    const JwtIdentity full = tokenWith(R"({"iss": "i", "sub": "s"})", v);
    r.jwt = &full;
    EXPECT_TRUE(evaluateRbac(authz, r).allowed) << v.str();
  }
}

// §S3: `when: request.auth.principal` is compiled by the same generator as requestPrincipals.
TEST(RequestPrincipals, WhenRequestAuthPrincipalSplitsLikeRequestPrincipals_S3) {
  const ProxyAuthz authz = authzOf(R"(apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: by-principal, namespace: httpbin}
spec:
  rules:
  - when:
    - {key: request.auth.principal, values: ["https://issuer.egresslab.test/sleep-client"]}
)");
  AuthzRequest r = get();
  const char* claims = R"({"iss": "https://issuer.egresslab.test", "sub": "sleep-client"})";
  const JwtIdentity on1210 = tokenWith(claims, {1, 21, 0});
  r.jwt = &on1210;
  EXPECT_FALSE(evaluateRbac(authz, r).allowed);
  const JwtIdentity on1211 = tokenWith(claims, {1, 21, 1});
  r.jwt = &on1211;
  EXPECT_TRUE(evaluateRbac(authz, r).allowed);
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
  const ProxyAuthz authz = authzOf(R"(apiVersion: security.istio.io/v1
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
)");
  AuthzRequest r = get();
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
