// Security checks (security_checks.cpp, docs/istio-behaviour.md §S1): IST0127 for an
// AuthorizationPolicy selector that picks no pod, and EGL008 for a policy on identities at a
// gateway its callers reach without mutual TLS — on the shipped trap scenario and its fix.
#include <gtest/gtest.h>

#include <filesystem>

#include "harness/analyze/analyze.h"

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

std::vector<Message> withCode(const AnalyzeReport& r, const std::string& code) {
  std::vector<Message> out;
  for (const Message& m : r.messages) {
    if (m.code == code) out.push_back(m);
  }
  return out;
}

TEST(SecurityChecks, Ist0127SelectorMatchesNoPod) {
  const auto r = analyzeInput("fixtures/broken/analyze/ist0127-authz-selector.yaml");
  const auto found = withCode(r, "IST0127");
  ASSERT_EQ(found.size(), 1u) << formatText(r);
  EXPECT_EQ(found[0].level, Level::kWarning);
  EXPECT_EQ(found[0].origin, "AuthorizationPolicy httpbin/egress-typo");
  EXPECT_EQ(found[0].text,
            "No matching workloads for this resource with the following labels: "
            "app=istio-egressgateway,istio=egresgateway");
  EXPECT_EQ(found[0].reference.line, 8);
}

TEST(SecurityChecks, Egl008PlaintextPrincipalTrap_S1) {
  const auto r = analyzeInput("scenarios/traps/egl008-plaintext-principal.yaml");
  const auto found = withCode(r, "EGL008");
  ASSERT_EQ(found.size(), 1u) << formatText(r);
  EXPECT_EQ(found[0].level, Level::kWarning);
  EXPECT_EQ(found[0].origin, "AuthorizationPolicy httpbin/allow-sleep");
  EXPECT_NE(found[0].text.find("httpbin/sleep"), std::string::npos) << found[0].text;
  EXPECT_NE(found[0].text.find("are denied"), std::string::npos) << found[0].text;
  EXPECT_EQ(found[0].section, "§S1");
  // The position is the principals list of the policy's manifest.
  EXPECT_NE(found[0].reference.file.find("allow-sleep-principal.yaml"), std::string::npos);
  EXPECT_TRUE(withCode(r, "IST0127").empty()) << formatText(r);
}

TEST(SecurityChecks, Egl008QuietOverMutualTls_S2) {
  const auto r = analyzeInput("scenarios/authz-allow-principal-mtls.yaml");
  EXPECT_TRUE(withCode(r, "EGL008").empty()) << formatText(r);
}

}  // namespace
}  // namespace egresslab::analyze
