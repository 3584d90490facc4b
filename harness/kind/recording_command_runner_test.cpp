#include "harness/kind/recording_command_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace egresslab::kind {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RecordingCommandRunnerTest, RecordsCommandsAndAnswersByPrefixNewestFirst) {
  RecordingCommandRunner runner;
  runner.answer({"kubectl", "get"}, {.out = "generic"});
  runner.answer({"kubectl", "get", "ns"}, {.exitCode = 1, .err = "forbidden"});
  auto specific = runner.run({.argv = {"kubectl", "get", "ns", "httpbin"}});
  auto generic = runner.run({.argv = {"kubectl", "get", "pods"}});
  auto unmatched = runner.run({.argv = {"kind", "version"}});
  ASSERT_TRUE(specific && generic && unmatched);
  EXPECT_EQ(specific->exitCode, 1);
  EXPECT_EQ(specific->err, "forbidden");
  EXPECT_EQ(generic->out, "generic");
  EXPECT_TRUE(unmatched->ok());
  EXPECT_THAT(runner.displays(),
              ElementsAre("kubectl get ns httpbin", "kubectl get pods", "kind version"));
}

TEST(RecordingCommandRunnerTest, UninstalledProgramsCannotBeLocatedOrRun) {
  RecordingCommandRunner runner;
  runner.uninstall("istioctl");
  EXPECT_FALSE(runner.locate("istioctl").has_value());
  EXPECT_TRUE(runner.locate("kubectl").has_value());
  auto result = runner.run({.argv = {"istioctl", "install"}});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().kind, ErrorKind::kBackendUnavailable);
  EXPECT_THAT(result.error().message, HasSubstr("istioctl"));
}

TEST(RecordingCommandRunnerTest, PipelinesAreRecordedAsFlaggedStages) {
  RecordingCommandRunner runner;
  runner.answer({"istioctl"}, {.out = "kind: Deployment\n"});
  runner.answer({"kubectl", "apply"}, {.out = "deployment created\n"});
  auto result = runner.runPipeline(
      {{.argv = {"istioctl", "manifest", "generate"}}, {.argv = {"kubectl", "apply", "-f", "-"}}});
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->ok());
  EXPECT_EQ(result->stages[0].out, "");
  EXPECT_EQ(result->stages[1].out, "deployment created\n");
  const auto recorded = runner.recorded();
  ASSERT_EQ(recorded.size(), 2u);
  EXPECT_TRUE(recorded[0].inPipeline);
  EXPECT_EQ(recorded[1].pipelineIndex, 1u);
}

TEST(RecordingCommandRunnerTest, FailToStartIsAnError) {
  RecordingCommandRunner runner;
  runner.failToStart({"docker"});
  auto result = runner.run({.argv = {"docker", "info"}});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().kind, ErrorKind::kEnvironment);
}

}  // namespace
}  // namespace egresslab::kind
