// RequestAuthentication over real sockets (docs/istio-behaviour.md §S3): the shipped
// authz-jwt-egress scenario's mesh, driven with curl from the sleep pod through the egress
// gateway, and a variant without the AuthorizationPolicy (a missing token is then no error).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "harness/model/loader.h"
#include "harness/sim/sim_mesh.h"
#include "harness/sim/sim_test_support.h"

namespace egresslab::sim {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot = fs::path(EGRESSLAB_SOURCE_DIR);

std::string token(const std::string& name) {
  std::ifstream in(kRoot / "scenarios/manifests/authz/jwt" / name);
  std::string s;
  std::getline(in, s);
  EXPECT_FALSE(s.empty()) << name;
  return s;
}

using sim_test::describe;
using sim_test::logHas;
using sim_test::RunningMesh;

const std::string kSleep = "httpbin/sleep";

std::string bearer(const std::string& file) {
  return "-H 'Authorization: Bearer " + token(file) + "' ";
}

const std::string kUrl = "-sS http://httpbin.example.com";

TEST(JwtSim, ValidTokenPassesAndIsNotForwarded_S3) {
  RunningMesh m(model::loadScenario(kRoot / "scenarios/authz-jwt-egress.yaml"), "jwt");
  ASSERT_TRUE(m.ok());
  const auto ok = m.curlWhenReady(
      kSleep, "-sS " + bearer("valid-rs256.jwt") + "http://httpbin.example.com/headers");
  ASSERT_EQ(ok.status, 200) << describe(ok);
  EXPECT_EQ(ok.via, (std::vector<std::string>{"sleep", "httpbin-egress"})) << describe(ok);
  // forwardOriginalToken is false: the gateway removed the Authorization header.
  EXPECT_EQ(ok.body.find("Bearer"), std::string::npos) << describe(ok);
  const auto es =
      m.curl(kSleep, "-sS " + bearer("valid-es256.jwt") + "http://httpbin.example.com/get");
  EXPECT_EQ(es.status, 200) << describe(es);
}

TEST(JwtSim, InvalidTokensGetTheFiltersReply_S3) {
  RunningMesh m(model::loadScenario(kRoot / "scenarios/authz-jwt-egress.yaml"), "jwt");
  ASSERT_TRUE(m.ok());
  const auto expired =
      m.curlWhenReady(kSleep, "-sS " + bearer("expired.jwt") + "http://httpbin.example.com/get");
  EXPECT_EQ(expired.status, 401) << describe(expired);
  EXPECT_EQ(expired.body, "Jwt is expired") << describe(expired);
  ASSERT_TRUE(expired.headers.contains("www-authenticate")) << describe(expired);
  EXPECT_EQ(expired.headers.at("www-authenticate").front(),
            "Bearer realm=\"http://httpbin.example.com/get\", error=\"invalid_token\"");
  EXPECT_EQ(expired.via, (std::vector<std::string>{"sleep", "httpbin-egress"}))
      << describe(expired);
  EXPECT_TRUE(logHas(expired, "jwt_authn_access_denied{Jwt_is_expired}")) << describe(expired);

  const auto bad =
      m.curl(kSleep, "-sS " + bearer("bad-signature.jwt") + "http://httpbin.example.com/get");
  EXPECT_EQ(bad.status, 401) << describe(bad);
  EXPECT_EQ(bad.body, "Jwt verification fails") << describe(bad);
  const auto aud =
      m.curl(kSleep, "-sS " + bearer("wrong-audience.jwt") + "http://httpbin.example.com/get");
  EXPECT_EQ(aud.status, 403) << describe(aud);
  EXPECT_EQ(aud.body, "Audiences in Jwt are not allowed") << describe(aud);
}

TEST(JwtSim, MissingTokenIsDeniedOnlyByTheRequestPrincipalsPolicy_S3) {
  {
    RunningMesh m(model::loadScenario(kRoot / "scenarios/authz-jwt-egress.yaml"), "jwt");
    ASSERT_TRUE(m.ok());
    const auto none = m.curlWhenReady(kSleep, kUrl + "/get");
    EXPECT_EQ(none.status, 403) << describe(none);
    EXPECT_EQ(none.body, "RBAC: access denied") << describe(none);
    EXPECT_TRUE(logHas(none, "rbac_access_denied_matched_policy[none]")) << describe(none);
    const auto other =
        m.curl(kSleep, "-sS " + bearer("other-subject.jwt") + "http://httpbin.example.com/get");
    EXPECT_EQ(other.status, 403) << describe(other);
  }
  // The same mesh with the RequestAuthentication alone: no token passes, a bad one still does not.
  std::ifstream in(kRoot / "scenarios/authz-jwt-egress.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string yaml = ss.str();
  const std::string policy = "  - manifests/authz/jwt/require-jwt.yaml\n";
  ASSERT_NE(yaml.find(policy), std::string::npos);
  yaml.erase(yaml.find(policy), policy.size());
  RunningMesh m(model::parseScenario(yaml, kRoot / "scenarios/authz-jwt-only.yaml"), "jwt");
  ASSERT_TRUE(m.ok());
  const auto none = m.curlWhenReady(kSleep, kUrl + "/get");
  EXPECT_EQ(none.status, 200) << describe(none);
  const auto expired =
      m.curl(kSleep, "-sS " + bearer("expired.jwt") + "http://httpbin.example.com/get");
  EXPECT_EQ(expired.status, 401) << describe(expired);
}

// jwt_authn runs before ext_authz (§S3, §X1): a CUSTOM rule on requestPrincipals sees the
// verified token, so only the named subject's requests are sent for a check (the sample server
// then denies them: no `x-ext-authz: allow`); another subject's are never checked.
TEST(JwtSim, CustomRuleOnRequestPrincipalsSeesTheVerifiedToken_S3_X1) {
  std::ifstream in(kRoot / "scenarios/extauthz-http.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string yaml = ss.str();
  const sim_test::TempDir dir("jwt-custom");
  const fs::path policy =
      dir.write("custom-on-request-principal.yaml", R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz-for-sleep-client, namespace: httpbin}
spec:
  selector: {matchLabels: {custom-egress: httpbin-egress}}
  action: CUSTOM
  provider: {name: ext-authz-http}
  rules:
  - from:
    - source: {requestPrincipals: ["https://issuer.egresslab.test/sleep-client"]}
)");
  auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = yaml.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    yaml.replace(at, from.size(), to);
  };
  // 1.21+ verifies the upstream's certificate: the DestinationRule with the SNI, as
  // authz-jwt-egress uses.
  replace("version: \"1.18.0\"", "version: \"1.22\"");
  replace("  - ../fixtures/seed/destination-rule.yaml\n",
          "  - manifests/destination-rule-sni.yaml\n");
  replace("  - ../fixtures/extauthz/custom-policy.yaml\n",
          "  - manifests/authz/jwt/request-authentication.yaml\n  - " + policy.string() + "\n");
  RunningMesh m(model::parseScenario(yaml, kRoot / "scenarios/extauthz-jwt.yaml"), "jwt");
  ASSERT_TRUE(m.ok());
  const auto named =
      m.curlWhenReady(kSleep, "-sS " + bearer("valid-rs256.jwt") + kUrl.substr(4) + "/get");
  EXPECT_EQ(named.status, 403) << describe(named);
  EXPECT_TRUE(logHas(named, "UAEX")) << describe(named);
  const auto other = m.curl(kSleep, "-sS " + bearer("other-subject.jwt") + kUrl.substr(4) + "/get");
  EXPECT_EQ(other.status, 200) << describe(other);
  const auto none = m.curl(kSleep, kUrl + "/get");
  EXPECT_EQ(none.status, 200) << describe(none);
}

std::string readFile(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The shipped authz-jwt-egress mesh on `version`, with or without its AuthorizationPolicy; its
// two security manifests are copied into `dir` as security.istio.io/v1beta1 (v1 is served from
// 1.22 only).
Result<model::Scenario> jwtEgressOn(const std::string& version, bool withPolicy,
                                    const sim_test::TempDir& dir) {
  std::string yaml = readFile(kRoot / "scenarios/authz-jwt-egress.yaml");
  const auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = yaml.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) yaml.replace(at, from.size(), to);
  };
  replace("version: \"1.22\"", fmt::format("version: \"{}\"", version));
  for (const std::string name : {"request-authentication.yaml", "require-jwt.yaml"}) {
    std::string manifest = readFile(kRoot / "scenarios/manifests/authz/jwt" / name);
    const std::string v1 = "apiVersion: security.istio.io/v1\n";
    if (const auto at = manifest.find(v1); at != std::string::npos) {
      manifest.replace(at, v1.size(), "apiVersion: security.istio.io/v1beta1\n");
    }
    const std::string entry = "  - manifests/authz/jwt/" + name + "\n";
    const bool keep = withPolicy || name != "require-jwt.yaml";
    replace(entry, keep ? "  - " + dir.write(name, manifest).string() + "\n" : std::string());
  }
  return model::parseScenario(yaml, kRoot / "scenarios/authz-jwt-egress.yaml");
}

// One curl from sleep through jwtEgressOn(version, withPolicy), once its gateway is ready.
report::Observation curlOnJwtEgress(const std::string& version, bool withPolicy,
                                    const std::string& line) {
  const sim_test::TempDir dir("jwt-" + version);
  RunningMesh m(jwtEgressOn(version, withPolicy, dir), "jwt");
  if (!m.ok()) return {};
  return m.curlWhenReady(kSleep, line);
}

// §S3: 1.21.0 split a requestPrincipals value at its first "/", so the policy's
// "https://issuer.egresslab.test/sleep-client" compares the issuer with "https:" and never
// matches — even the valid token gets RBAC's 403; 1.21.1 splits at the last "/" and lets it pass.
TEST(JwtSim, UrlIssuerPrincipalNeverMatchesOn1210_S3) {
  const std::string line = "-sS " + bearer("valid-rs256.jwt") + "http://httpbin.example.com/get";
  const auto on1210 = curlOnJwtEgress("1.21.0", true, line);
  EXPECT_EQ(on1210.status, 403) << describe(on1210);
  EXPECT_EQ(on1210.body, "RBAC: access denied") << describe(on1210);
  const auto on1211 = curlOnJwtEgress("1.21.1", true, line);
  EXPECT_EQ(on1211.status, 200) << describe(on1211);
}

// §S3: with forwardOriginalToken false, from 1.23 (Envoy 1.31) the gateway removes a token that
// came in the access_token query parameter before the request goes upstream; on 1.22 the
// upstream still sees it.
TEST(JwtSim, QueryParameterTokenIsRemovedBeforeTheUpstreamFrom123_S3) {
  const std::string line =
      "-sS 'http://httpbin.example.com/get?x=1&access_token=" + token("valid-rs256.jwt") + "'";
  const auto on123 = curlOnJwtEgress("1.23", true, line);
  ASSERT_EQ(on123.status, 200) << describe(on123);  // the token verified: the policy's principal
  EXPECT_EQ(on123.body.find("access_token"), std::string::npos) << describe(on123);
  EXPECT_NE(on123.body.find("\"x\""), std::string::npos) << describe(on123);
  EXPECT_TRUE(logHas(on123, "\"GET /get?x=1 HTTP/")) << describe(on123);  // the gateway's line
  const auto on122 = curlOnJwtEgress("1.22", true, line);
  ASSERT_EQ(on122.status, 200) << describe(on122);
  EXPECT_NE(on122.body.find("access_token"), std::string::npos) << describe(on122);
}

// §S3: from 1.14 a CORS preflight passes the jwt_authn filter whatever token it carries; with no
// verified token the requestPrincipals policy then denies it (403, not the filter's 401), and
// without the policy it reaches httpbin. On 1.13 the filter still rejects the expired token.
TEST(JwtSim, CorsPreflightPassesTheJwtFilterFrom114_S3) {
  const std::string preflight =
      "-sS -X OPTIONS -H 'Origin: https://app.example' -H 'Access-Control-Request-Method: POST' " +
      bearer("expired.jwt") + "http://httpbin.example.com/get";
  const auto denied = curlOnJwtEgress("1.22", true, preflight);
  EXPECT_EQ(denied.status, 403) << describe(denied);
  EXPECT_EQ(denied.body, "RBAC: access denied") << describe(denied);
  const auto open = curlOnJwtEgress("1.22", false, preflight);
  EXPECT_EQ(open.status, 200) << describe(open);
  const auto on113 = curlOnJwtEgress("1.13", false, preflight);
  EXPECT_EQ(on113.status, 401) << describe(on113);
  EXPECT_EQ(on113.body, "Jwt is expired") << describe(on113);
}

}  // namespace
}  // namespace egresslab::sim
