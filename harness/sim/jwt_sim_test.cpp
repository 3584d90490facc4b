// RequestAuthentication over real sockets (docs/istio-behaviour.md §S3): the shipped
// authz-jwt-egress scenario's mesh, driven with curl from the sleep pod through the egress
// gateway, and a variant without the AuthorizationPolicy (a missing token is then no error).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <unistd.h>

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

class Mesh {
 public:
  explicit Mesh(Result<model::Scenario> sc) {
    if (!sc) {
      ADD_FAILURE() << sc.error().str();
      return;
    }
    scenario_ = std::move(*sc);
    auto m = SimMesh::start(scenario_, {});
    if (!m) {
      ADD_FAILURE() << m.error().str();
      return;
    }
    mesh_ = std::move(*m);
  }
  bool ok() const { return mesh_ != nullptr; }

  report::Observation curl(const std::string& line) {
    return sim_test::curlThrough(*mesh_, "httpbin/sleep", line, fmt::format("jwt-{}", ++n_),
                                 std::chrono::seconds(10));
  }
  // Repeats `line` until the gateway answers something other than a not-ready 503, bounded.
  report::Observation curlReady(const std::string& line) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    report::Observation o = curl(line);
    while ((o.status.value_or(0) == 503 || o.status.value_or(0) == 0) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      o = curl(line);
    }
    return o;
  }

 private:
  model::Scenario scenario_;
  std::unique_ptr<SimMesh> mesh_;
  std::atomic<int> n_{0};  // request ids; tests may curl from several threads
};

std::string describe(const report::Observation& o) {
  std::string s = fmt::format("exit={} status={} err={} body={}\n", o.exit.value_or(-1),
                              o.status.value_or(0), o.curlError, o.body.substr(0, 400));
  for (const auto& l : o.accessLog) s += "  " + l + "\n";
  return s;
}

bool logHas(const report::Observation& o, const std::string& text) {
  return std::any_of(o.accessLog.begin(), o.accessLog.end(),
                     [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

std::string bearer(const std::string& file) {
  return "-H 'Authorization: Bearer " + token(file) + "' ";
}

const std::string kUrl = "-sS http://httpbin.example.com";

TEST(JwtSim, ValidTokenPassesAndIsNotForwarded_S3) {
  Mesh m(model::loadScenario(kRoot / "scenarios/authz-jwt-egress.yaml"));
  ASSERT_TRUE(m.ok());
  const auto ok =
      m.curlReady("-sS " + bearer("valid-rs256.jwt") + "http://httpbin.example.com/headers");
  ASSERT_EQ(ok.status, 200) << describe(ok);
  EXPECT_EQ(ok.via, (std::vector<std::string>{"sleep", "httpbin-egress"})) << describe(ok);
  // forwardOriginalToken is false: the gateway removed the Authorization header.
  EXPECT_EQ(ok.body.find("Bearer"), std::string::npos) << describe(ok);
  const auto es = m.curl("-sS " + bearer("valid-es256.jwt") + "http://httpbin.example.com/get");
  EXPECT_EQ(es.status, 200) << describe(es);
}

TEST(JwtSim, InvalidTokensGetTheFiltersReply_S3) {
  Mesh m(model::loadScenario(kRoot / "scenarios/authz-jwt-egress.yaml"));
  ASSERT_TRUE(m.ok());
  const auto expired =
      m.curlReady("-sS " + bearer("expired.jwt") + "http://httpbin.example.com/get");
  EXPECT_EQ(expired.status, 401) << describe(expired);
  EXPECT_EQ(expired.body, "Jwt is expired") << describe(expired);
  ASSERT_TRUE(expired.headers.contains("www-authenticate")) << describe(expired);
  EXPECT_EQ(expired.headers.at("www-authenticate").front(),
            "Bearer realm=\"http://httpbin.example.com/get\", error=\"invalid_token\"");
  EXPECT_EQ(expired.via, (std::vector<std::string>{"sleep", "httpbin-egress"}))
      << describe(expired);
  EXPECT_TRUE(logHas(expired, "jwt_authn_access_denied{Jwt_is_expired}")) << describe(expired);

  const auto bad = m.curl("-sS " + bearer("bad-signature.jwt") + "http://httpbin.example.com/get");
  EXPECT_EQ(bad.status, 401) << describe(bad);
  EXPECT_EQ(bad.body, "Jwt verification fails") << describe(bad);
  const auto aud = m.curl("-sS " + bearer("wrong-audience.jwt") + "http://httpbin.example.com/get");
  EXPECT_EQ(aud.status, 403) << describe(aud);
  EXPECT_EQ(aud.body, "Audiences in Jwt are not allowed") << describe(aud);
}

TEST(JwtSim, MissingTokenIsDeniedOnlyByTheRequestPrincipalsPolicy_S3) {
  {
    Mesh m(model::loadScenario(kRoot / "scenarios/authz-jwt-egress.yaml"));
    ASSERT_TRUE(m.ok());
    const auto none = m.curlReady(kUrl + "/get");
    EXPECT_EQ(none.status, 403) << describe(none);
    EXPECT_EQ(none.body, "RBAC: access denied") << describe(none);
    EXPECT_TRUE(logHas(none, "rbac_access_denied_matched_policy[none]")) << describe(none);
    const auto other =
        m.curl("-sS " + bearer("other-subject.jwt") + "http://httpbin.example.com/get");
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
  Mesh m(model::parseScenario(yaml, kRoot / "scenarios/authz-jwt-only.yaml"));
  ASSERT_TRUE(m.ok());
  const auto none = m.curlReady(kUrl + "/get");
  EXPECT_EQ(none.status, 200) << describe(none);
  const auto expired = m.curl("-sS " + bearer("expired.jwt") + "http://httpbin.example.com/get");
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
  const fs::path dir = fs::temp_directory_path() / fmt::format("egresslab-jwt-custom-{}", getpid());
  fs::create_directories(dir);
  const fs::path policy = dir / "custom-on-request-principal.yaml";
  std::ofstream(policy) << R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz-for-sleep-client, namespace: httpbin}
spec:
  selector: {matchLabels: {custom-egress: httpbin-egress}}
  action: CUSTOM
  provider: {name: ext-authz-http}
  rules:
  - from:
    - source: {requestPrincipals: ["https://issuer.egresslab.test/sleep-client"]}
)";
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
  Mesh m(model::parseScenario(yaml, kRoot / "scenarios/extauthz-jwt.yaml"));
  ASSERT_TRUE(m.ok());
  const auto named = m.curlReady("-sS " + bearer("valid-rs256.jwt") + kUrl.substr(4) + "/get");
  EXPECT_EQ(named.status, 403) << describe(named);
  EXPECT_TRUE(logHas(named, "UAEX")) << describe(named);
  const auto other = m.curl("-sS " + bearer("other-subject.jwt") + kUrl.substr(4) + "/get");
  EXPECT_EQ(other.status, 200) << describe(other);
  const auto none = m.curl(kUrl + "/get");
  EXPECT_EQ(none.status, 200) << describe(none);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace egresslab::sim
