// End-user authentication traps (jwt_checks.cpp, docs/istio-behaviour.md §S3): EGL040 for
// requestPrincipals at a proxy no RequestAuthentication selects (the shipped trap and its fix),
// EGL041 for a policy attached with targetRef, EGL042 for a principal value the version splits
// away from its issuer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "harness/analyze/analyze.h"
#include "harness/analyze/analyzer.h"
#include "harness/model/loader.h"

namespace egresslab::analyze {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = EGRESSLAB_SOURCE_DIR;

AnalyzeReport analyzeInput(const std::string& relative) {
  fs::current_path(kSource);
  AnalyzeOptions options;
  options.inputs.push_back(relative);
  auto report = analyzeInputs(options);
  EXPECT_TRUE(report.has_value()) << (report ? "" : report.error().str());
  return report ? *report : AnalyzeReport{};
}

std::vector<Message> withCode(const std::vector<Message>& messages, const std::string& code) {
  std::vector<Message> out;
  for (const Message& m : messages) {
    if (m.code == code) out.push_back(m);
  }
  return out;
}

TEST(JwtChecks, Egl040RequestPrincipalsWithoutRequestAuthentication_S3) {
  const auto r = analyzeInput("scenarios/traps/egl040-request-principals-without-jwt.yaml");
  const auto found = withCode(r.messages, "EGL040");
  ASSERT_EQ(found.size(), 1u) << formatText(r);
  EXPECT_EQ(found[0].level, Level::kWarning);
  EXPECT_EQ(found[0].origin, "AuthorizationPolicy httpbin/require-jwt");
  EXPECT_NE(found[0].text.find("httpbin/httpbin-egress"), std::string::npos) << found[0].text;
  EXPECT_NE(found[0].text.find("denied with 403"), std::string::npos) << found[0].text;
  EXPECT_EQ(found[0].section, "§S3");
  EXPECT_NE(found[0].reference.file.find("require-jwt.yaml"), std::string::npos);
  EXPECT_EQ(found[0].reference.line, 17);  // the requestPrincipals list
}

TEST(JwtChecks, Egl040QuietWithTheRequestAuthentication_S3) {
  const auto r = analyzeInput("scenarios/authz-jwt-egress.yaml");
  EXPECT_TRUE(withCode(r.messages, "EGL040").empty()) << formatText(r);
  EXPECT_TRUE(withCode(r.messages, "EGL041").empty()) << formatText(r);
}

TEST(JwtChecks, Egl041TargetRefAppliesToNoIstioGateway_S1) {
  auto set = model::parseManifests(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny, namespace: httpbin}
spec:
  targetRefs:
  - {kind: Gateway, group: gateway.networking.k8s.io, name: httpbin-egress}
  action: DENY
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: httpbin}
spec:
  targetRef: {kind: Service, name: httpbin-egress}
  jwtRules: [{issuer: i}]
)",
                                   "t.yaml", {});
  ASSERT_TRUE(set) << set.error().str();
  AnalysisInput input;
  input.resources = &*set;
  input.version = *model::IstioVersion::parse("1.22.0");
  const auto found = withCode(analyzeResources(input), "EGL041");
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].origin, "AuthorizationPolicy httpbin/deny");
  EXPECT_NE(found[0].text.find("gateway.networking.k8s.io/Gateway \"httpbin-egress\""),
            std::string::npos)
      << found[0].text;
  EXPECT_EQ(found[0].reference.line, 6);
  EXPECT_EQ(found[1].origin, "RequestAuthentication httpbin/jwt");
  EXPECT_NE(found[1].text.find("applies to no proxy here"), std::string::npos) << found[1].text;
}

// §S1/§S3: `analyze` of raw manifests applies the scenario loader's version rule for security
// policies once it knows the version: what that version's API server rejects is an IST0106 at
// the field, and the policy is left out of the other checks (no EGL041 for it).
TEST(JwtChecks, VersionRejectedSecurityPoliciesAreSchemaErrorsInRawManifests_S1_S3) {
  const fs::path dir = fs::temp_directory_path() / "egresslab-analyze-jwt-versions";
  fs::create_directories(dir);
  const fs::path file = dir / "policies.yaml";
  std::ofstream(file) << R"(apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: jwt, namespace: httpbin}
spec:
  targetRef: {kind: Service, name: httpbin-egress}
  jwtRules: [{issuer: i}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow, namespace: httpbin}
spec:
  selector: {matchLabels: {istio: egressgateway}}
  rules: [{}]
)";
  const auto run = [&](const std::string& version) {
    AnalyzeOptions options;
    options.inputs.push_back(file);
    options.istioVersion = version;
    auto report = analyzeInputs(options);
    EXPECT_TRUE(report.has_value()) << (report ? "" : report.error().str());
    return report ? *report : AnalyzeReport{};
  };
  // 1.20: targetRef exists but not to a Service; security.istio.io/v1 is not served yet.
  const AnalyzeReport old = run("1.20");
  const auto schema = withCode(old.messages, "IST0106");
  ASSERT_EQ(schema.size(), 2u) << formatText(old);
  EXPECT_NE(schema[0].text.find("targetRef must be to one of"), std::string::npos)
      << schema[0].text;
  EXPECT_EQ(schema[0].reference.line, 5);
  EXPECT_NE(schema[1].text.find("security.istio.io/v1"), std::string::npos) << schema[1].text;
  EXPECT_EQ(schema[1].reference.line, 8);
  EXPECT_TRUE(withCode(old.messages, "EGL041").empty()) << formatText(old);
  // 1.22 accepts both: no schema error; the targetRef policy applies to no Istio gateway.
  const AnalyzeReport current = run("1.22");
  EXPECT_TRUE(withCode(current.messages, "IST0106").empty()) << formatText(current);
  EXPECT_EQ(withCode(current.messages, "EGL041").size(), 1u) << formatText(current);
  fs::remove_all(dir);
}

// §S3: EGL042 when the analysed version splits an exact principal value away from the issuer it
// names: 1.21.0 at the first "/" (a URL issuer), 1.21.1+ at the last (a subject with a "/");
// up to 1.20 the value is one string and matches.
TEST(JwtChecks, Egl042PrincipalValueTheVersionSplitsAwayFromItsIssuer_S3) {
  const fs::path dir = fs::temp_directory_path() / "egresslab-analyze-egl042";
  fs::create_directories(dir);
  const fs::path file = dir / "jwt.yaml";
  std::ofstream(file) << R"(apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: egress-jwt, namespace: httpbin}
spec:
  selector: {matchLabels: {istio: egressgateway}}
  jwtRules: [{issuer: "https://issuer.egresslab.test"}]
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: httpbin}
spec:
  selector: {matchLabels: {istio: egressgateway}}
  rules:
  - from:
    - source:
        requestPrincipals:
        - https://issuer.egresslab.test/sleep-client
        - https://issuer.egresslab.test/team/alice
        - https://issuer.egresslab.test/*
)";
  const auto found = [&](const std::string& version) {
    AnalyzeOptions options;
    options.inputs = {kSource / "fixtures/seed", file};
    options.istioVersion = version;
    auto report = analyzeInputs(options);
    EXPECT_TRUE(report.has_value()) << (report ? "" : report.error().str());
    return report ? withCode(report->messages, "EGL042") : std::vector<Message>{};
  };
  const auto on1210 = found("1.21.0");
  ASSERT_EQ(on1210.size(), 2u);  // both exact values; the wildcard is not an exact principal
  EXPECT_EQ(on1210[0].origin, "AuthorizationPolicy httpbin/require-jwt");
  EXPECT_EQ(on1210[0].reference.line, 16);
  EXPECT_NE(on1210[0].text.find("at its first \"/\""), std::string::npos) << on1210[0].text;
  EXPECT_NE(on1210[0].text.find("\"sleep-client\""), std::string::npos) << on1210[0].text;
  const auto on1211 = found("1.21.1");
  ASSERT_EQ(on1211.size(), 1u);
  EXPECT_NE(on1211[0].text.find("subject \"team/alice\""), std::string::npos) << on1211[0].text;
  EXPECT_NE(on1211[0].text.find("at its last \"/\""), std::string::npos) << on1211[0].text;
  EXPECT_TRUE(found("1.20").empty());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace egresslab::analyze
