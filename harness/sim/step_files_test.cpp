// A step's curl cannot reach outside its sandbox (issue #14 item 6; docs/scenarios.md "Files a
// step can reach").
#include "harness/sim/step_files.h"

#include <gtest/gtest.h>

#include <fstream>

#include "harness/curl/command.h"

namespace egresslab::sim {
namespace {

namespace fs = std::filesystem;

class StepFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("egresslab-step-files-" +
             std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    files_.scenarioDir = root_ / "scenarios";
    files_.runDir = root_ / "run";
    fs::create_directories(files_.scenarioDir);
    fs::create_directories(files_.runDir);
    files_.caPath = files_.runDir / "ca.pem";
    std::ofstream(files_.caPath) << "CA";
  }
  void TearDown() override { fs::remove_all(root_); }

  static curl::CurlCommand parse(const std::string& line) {
    auto c = curl::parseCurlCommandLine(line);
    EXPECT_TRUE(c.has_value()) << line;
    return c.value_or(curl::CurlCommand{});
  }

  fs::path root_;
  StepFiles files_;
};

TEST_F(StepFilesTest, PodOutputLandsInThePodsOwnDirectoryNotOnTheHost) {
  auto c = parse("curl -sS -o /etc/passwd http://x/");
  ASSERT_TRUE(confineStepFiles(c, "httpbin/sleep", files_).has_value());
  EXPECT_EQ(fs::path(*c.output), files_.runDir / "pods/httpbin/sleep/etc/passwd");
}

TEST_F(StepFilesTest, PodCannotClimbOutOfItsDirectory) {
  auto c = parse("curl -sS -o ../../../../escape http://x/");
  const auto r = confineStepFiles(c, "httpbin/sleep", files_);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("pod's own directory"), std::string::npos) << r.error().message;
}

TEST_F(StepFilesTest, PodBodyFromAHostFileReadsThePodsCopyInstead) {
  auto c = parse("curl -sS --data-binary @/etc/hostname http://x/");
  ASSERT_TRUE(confineStepFiles(c, "httpbin/sleep", files_).has_value());
  EXPECT_EQ(c.data.front().value,
            "@" + (files_.runDir / "pods/httpbin/sleep/etc/hostname").string());
}

TEST_F(StepFilesTest, PodSeesTheScenarioCaAsItsOwnCopy) {
  auto c = parse("curl -sS --cacert " + files_.caPath.string() + " https://x/");
  ASSERT_TRUE(confineStepFiles(c, "httpbin/sleep", files_).has_value());
  const fs::path copy = files_.runDir / "pods/httpbin/sleep/ca.crt";
  EXPECT_EQ(fs::path(*c.cacert), copy);
  EXPECT_TRUE(fs::exists(copy));
}

TEST_F(StepFilesTest, MalformedPodNameIsRejected) {
  auto c = parse("curl -sS http://x/");
  EXPECT_FALSE(confineStepFiles(c, "../etc", files_).has_value());
  EXPECT_FALSE(confineStepFiles(c, "a/b/c", files_).has_value());
}

TEST_F(StepFilesTest, HostWritesOnlyInTheRunDirectoryOrAGivenOutputDir) {
  auto outside = parse("curl -sS -o " + (root_ / "elsewhere/out").string() + " http://x/");
  const auto denied = confineStepFiles(outside, std::nullopt, files_);
  ASSERT_FALSE(denied.has_value());
  EXPECT_NE(denied.error().message.find("--output-dir"), std::string::npos);

  auto inRun = parse("curl -sS -o " + (files_.runDir / "out").string() + " http://x/");
  EXPECT_TRUE(confineStepFiles(inRun, std::nullopt, files_).has_value());

  files_.outputDirs.push_back(root_ / "elsewhere");
  auto allowed = parse("curl -sS -o " + (root_ / "elsewhere/out").string() + " http://x/");
  EXPECT_TRUE(confineStepFiles(allowed, std::nullopt, files_).has_value());
}

TEST_F(StepFilesTest, HostReadsRelativeToTheScenarioFile) {
  auto c = parse("curl -sS --cacert certs/ca.pem https://x/");
  ASSERT_TRUE(confineStepFiles(c, std::nullopt, files_).has_value());
  EXPECT_EQ(fs::path(*c.cacert), files_.scenarioDir / "certs/ca.pem");
}

}  // namespace
}  // namespace egresslab::sim
