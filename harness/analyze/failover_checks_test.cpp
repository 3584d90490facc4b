// EGL030 / EGL031: locality failover traps (docs/istio-behaviour.md §R5), from the compiled mesh.
#include <gtest/gtest.h>

#include <filesystem>

#include "harness/analyze/analyze.h"
#include "harness/analyze/message.h"

namespace egresslab::analyze {
namespace {

namespace fs = std::filesystem;

AnalyzeReport analyzeFixture(const std::string& name, const std::string& version) {
  fs::current_path(EGRESSLAB_SOURCE_DIR);
  AnalyzeOptions options;
  options.inputs.push_back("fixtures/broken/analyze/" + name);
  options.istioVersion = version;
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

TEST(AnalyzeEgl030_R5, FailoverWithoutOutlierDetectionDoesNothing) {
  const auto r = analyzeFixture("egl030-failover-without-outlier.yaml", "1.22");
  const auto found = withCode(r, "EGL030");
  ASSERT_EQ(found.size(), 1u) << formatText(r);
  EXPECT_EQ(found[0].level, Level::kWarning);
  EXPECT_NE(found[0].text.find("no outlierDetection"), std::string::npos) << found[0].text;
  EXPECT_EQ(found[0].reference.line, 31);
}

TEST(AnalyzeEgl031_R5, FailoverPriorityOnADnsServiceEntryIsIgnored) {
  const auto r = analyzeFixture("egl030-failover-without-outlier.yaml", "1.22");
  const auto found = withCode(r, "EGL031");
  ASSERT_EQ(found.size(), 1u) << formatText(r);
  EXPECT_NE(found[0].text.find("DNS clusters"), std::string::npos) << found[0].text;
}

TEST(AnalyzeEgl031_R5, FailoverPriorityBefore112IsUnknown) {
  const auto r = analyzeFixture("egl030-failover-fixed.yaml", "1.11");
  const auto found = withCode(r, "EGL031");
  ASSERT_EQ(found.size(), 1u) << formatText(r);
  EXPECT_NE(found[0].text.find("1.12"), std::string::npos) << found[0].text;
}

TEST(AnalyzeEgl030_R5, OutlierDetectionAndStaticEndpointsAreClean) {
  const auto r = analyzeFixture("egl030-failover-fixed.yaml", "1.22");
  EXPECT_TRUE(withCode(r, "EGL030").empty()) << formatText(r);
  EXPECT_TRUE(withCode(r, "EGL031").empty()) << formatText(r);
}

}  // namespace
}  // namespace egresslab::analyze
