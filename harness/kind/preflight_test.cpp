#include "harness/kind/preflight.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/kind/recording_command_runner.h"
#include "harness/kind/test_support.h"

namespace egresslab::kind {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using testing::FakeTools;
using ::testing::HasSubstr;
using ::testing::Not;

ProcessCommandRunner runnerFor(const FakeTools& fakes,
                               std::map<std::string, std::string> extraEnv = {}) {
  auto environment = fakes.environment();
  environment.merge(extraEnv);
  return ProcessCommandRunner({.searchPath = fakes.searchPath(), .environment = environment});
}

const ToolCheck& checkOf(const PreflightReport& report, std::string_view tool) {
  for (const auto& check : report.checks) {
    if (check.tool == tool) return check;
  }
  throw std::runtime_error("no check for " + std::string(tool));
}

TEST(PreflightTest, AllToolsPresentIsExitZeroWithVersions) {
  FakeTools fakes;
  auto runner = runnerFor(fakes);
  const auto report = runPreflight(runner, {});
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.exitCode(), 0);
  EXPECT_EQ(checkOf(report, "docker").version, (ToolVersion{24, 0, 5}));
  EXPECT_EQ(checkOf(report, "kind").version, (ToolVersion{0, 20, 0}));
  EXPECT_EQ(checkOf(report, "kubectl").version, (ToolVersion{1, 27, 3}));
  EXPECT_EQ(checkOf(report, "istioctl").version, (ToolVersion{1, 24, 2}));
  EXPECT_EQ(checkOf(report, "kubectl").path, std::filesystem::path(fakes.searchPath()) / "kubectl");
  const std::string table = report.table();
  EXPECT_THAT(table, HasSubstr("TOOL"));
  EXPECT_THAT(table, HasSubstr("kubectl   ok      1.27.3"));
  EXPECT_THAT(table, Not(HasSubstr("how to fix")));
  // Exactly the queries the header documents, and no helm unless asked for.
  EXPECT_THAT(fakes.log(),
              ElementsAre("docker info --format \\{\\{.ServerVersion\\}\\}", "kind version",
                          "kubectl version --client -o json", "istioctl version --remote=false"));
}

TEST(PreflightTest, MissingKubectlIsExitThreeNamingItWithAnInstallHint) {
  FakeTools fakes({"kind", "istioctl", "docker"});
  auto runner = runnerFor(fakes);
  const auto report = runPreflight(runner, {});
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.exitCode(), 3);
  const auto& kubectl = checkOf(report, "kubectl");
  EXPECT_EQ(kubectl.status, ToolStatus::kMissing);
  EXPECT_THAT(kubectl.detail, HasSubstr("`kubectl` not found on PATH"));
  EXPECT_THAT(kubectl.installHint, HasSubstr("https://dl.k8s.io/release/"));
  EXPECT_TRUE(checkOf(report, "kind").ok());
  EXPECT_THAT(report.table(), AllOf(HasSubstr("kubectl   missing"),
                                    HasSubstr("kubectl (missing): `kubectl` not found on PATH"),
                                    HasSubstr("how to fix: download kubectl"),
                                    HasSubstr("No internet on this machine?")));
  EXPECT_THAT(report.problems(), HasSubstr("kubectl: missing"));
}

// docs/istio-behaviour.md §10: istioctl 1.24+ cannot run 1.8's operator-based install.
TEST(PreflightTest, IstioctlMajorMinorMustMatchTheRequestedIstioVersion_Section10) {
  FakeTools fakes;
  auto runner = runnerFor(fakes);  // the fake istioctl reports 1.24.2
  const auto report = runPreflight(runner, {.istioVersion = ToolVersion{1, 8, 0}});
  EXPECT_EQ(report.exitCode(), 3);
  const auto& istioctl = checkOf(report, "istioctl");
  EXPECT_EQ(istioctl.status, ToolStatus::kVersionMismatch);
  EXPECT_THAT(
      istioctl.detail,
      AllOf(HasSubstr("istioctl 1.24.2 installs Istio 1.24, but Istio 1.8.0 was requested"),
            HasSubstr("major.minor must match"), HasSubstr("operator init"), HasSubstr("§10")));
  EXPECT_THAT(istioctl.installHint, HasSubstr("https://github.com/istio/istio/releases/tag/1.8.0"));
  EXPECT_THAT(report.table(), HasSubstr("istioctl  version mismatch  1.24.2"));
}

TEST(PreflightTest, IstioctlWithTheRequestedMinorPassesWhateverThePatch) {
  FakeTools fakes;
  auto runner = runnerFor(fakes, {{"EGRESSLAB_FAKE_ISTIOCTL_VERSION", "1.22.6"}});
  const auto report = runPreflight(runner, {.istioVersion = ToolVersion{1, 22, 0}});
  EXPECT_TRUE(report.ok()) << report.table();
  EXPECT_THAT(checkOf(report, "istioctl").detail, HasSubstr("matches the requested Istio 1.22.0"));
}

TEST(PreflightTest, NewerMinorMismatchDoesNotMentionTheOperator) {
  FakeTools fakes;
  auto runner = runnerFor(fakes, {{"EGRESSLAB_FAKE_ISTIOCTL_VERSION", "1.22.6"}});
  const auto report = runPreflight(runner, {.istioVersion = ToolVersion{1, 20, -1}});
  const auto& istioctl = checkOf(report, "istioctl");
  EXPECT_EQ(istioctl.status, ToolStatus::kVersionMismatch);
  EXPECT_THAT(istioctl.detail, Not(HasSubstr("operator")));
  EXPECT_THAT(istioctl.installHint, HasSubstr("latest 1.20.x"));
}

TEST(PreflightTest, UnreachableDockerDaemonIsNotWorking) {
  FakeTools fakes;
  fakes.script(
      {"docker info*\t1\t\t0\tCannot connect to the Docker daemon at "
       "unix:///var/run/docker.sock. Is the docker daemon running?\\n"});
  auto runner = runnerFor(fakes);
  const auto report = runPreflight(runner, {});
  EXPECT_EQ(report.exitCode(), 3);
  const auto& docker = checkOf(report, "docker");
  EXPECT_EQ(docker.status, ToolStatus::kNotWorking);
  EXPECT_THAT(docker.detail, AllOf(HasSubstr("the Docker daemon is not reachable"),
                                   HasSubstr("Cannot connect to the Docker daemon")));
  EXPECT_THAT(docker.installHint, HasSubstr("systemctl start docker"));
}

TEST(PreflightTest, HelmIsCheckedOnlyWhenTheInstallMethodNeedsIt) {
  FakeTools fakes({"kind", "kubectl", "istioctl", "docker"});  // no helm
  auto runner = runnerFor(fakes);
  EXPECT_TRUE(runPreflight(runner, {}).ok());
  const auto report = runPreflight(runner, {.needHelm = true});
  EXPECT_EQ(report.exitCode(), 3);
  EXPECT_EQ(checkOf(report, "helm").status, ToolStatus::kMissing);
  EXPECT_THAT(checkOf(report, "helm").installHint,
              HasSubstr("https://github.com/helm/helm/releases"));
}

TEST(PreflightTest, ToolThatPrintsNoVersionIsNotWorking) {
  FakeTools fakes;
  fakes.script({"kind version\t0\tsomething else entirely\\n"});
  auto runner = runnerFor(fakes);
  const auto report = runPreflight(runner, {});
  const auto& kind = checkOf(report, "kind");
  EXPECT_EQ(kind.status, ToolStatus::kNotWorking);
  EXPECT_THAT(kind.detail, HasSubstr("printed no version: something else entirely"));
}

TEST(PreflightTest, WorksThroughTheRecordingRunner) {
  RecordingCommandRunner runner;
  runner.answer({"docker"}, {.out = "27.1.1\n"});
  runner.answer({"kind"}, {.out = "kind v0.23.0 go1.22.2 linux/amd64\n"});
  runner.answer({"kubectl"}, {.out = R"({"clientVersion":{"gitVersion":"v1.30.2"}})"});
  runner.uninstall("istioctl");
  const auto report = runPreflight(runner, {});
  EXPECT_EQ(report.exitCode(), 3);
  EXPECT_EQ(checkOf(report, "istioctl").status, ToolStatus::kMissing);
  EXPECT_EQ(checkOf(report, "kubectl").version, (ToolVersion{1, 30, 2}));
}

TEST(VersionParsingTest, FindVersion) {
  EXPECT_EQ(findVersion("v1.27.3"), (ToolVersion{1, 27, 3}));
  EXPECT_EQ(findVersion("Istio 1.8"), (ToolVersion{1, 8, -1}));
  EXPECT_EQ(findVersion("no version here"), std::nullopt);
  EXPECT_EQ(findVersion("build 123 then 2.5.1"), (ToolVersion{2, 5, 1}));
  EXPECT_EQ(ToolVersion(1, 8, -1).str(), "1.8");
  EXPECT_EQ(ToolVersion(1, 24, 2).str(), "1.24.2");
}

TEST(VersionParsingTest, ParseVersionAcceptsOnlyAWholeVersion) {
  EXPECT_EQ(parseVersion("1.8"), (ToolVersion{1, 8, -1}));
  EXPECT_EQ(parseVersion("v1.24.2"), (ToolVersion{1, 24, 2}));
  EXPECT_EQ(parseVersion("1.8.0-beta"), std::nullopt);
  EXPECT_EQ(parseVersion("latest"), std::nullopt);
  EXPECT_EQ(parseVersion("01.8"), std::nullopt);
  EXPECT_EQ(parseVersion(""), std::nullopt);
}

TEST(VersionParsingTest, KubectlClientJsonAsPrintedByAVendorBuild) {
  // Verbatim from this machine's kubectl (Google Cloud SDK build).
  const std::string out = R"({
  "clientVersion": {
    "major": "1",
    "minor": "32+",
    "gitVersion": "v1.32.4-dispatcher",
    "gitCommit": "4cb5f0764b8d5f425645c6f433394fede34a8a26",
    "gitTreeState": "clean",
    "buildDate": "2025-05-15T20:09:34Z",
    "goVersion": "go1.23.8",
    "compiler": "gc",
    "platform": "linux/amd64"
  },
  "kustomizeVersion": "v5.5.0"
})";
  EXPECT_EQ(parseKubectlVersion(out), (ToolVersion{1, 32, 4}));
  EXPECT_EQ(parseKubectlVersion("Client Version: v1.27.3\nKustomize Version: v5.0.1\n"),
            (ToolVersion{1, 27, 3}));
  EXPECT_EQ(parseKubectlVersion("error: unknown flag: --client"), std::nullopt);
}

TEST(VersionParsingTest, IstioctlOldAndNewFormats) {
  EXPECT_EQ(parseIstioctlVersion("1.8.0\n"), (ToolVersion{1, 8, 0}));
  EXPECT_EQ(parseIstioctlVersion("client version: 1.24.2\n"), (ToolVersion{1, 24, 2}));
  EXPECT_EQ(parseIstioctlVersion("2024-05-01T10:00:00.123456Z\twarn\tsomething 9.9.9\n1.20.3\n"),
            (ToolVersion{1, 20, 3}));
  EXPECT_EQ(parseIstioctlVersion(""), std::nullopt);
}

TEST(VersionParsingTest, KindDockerHelm) {
  EXPECT_EQ(parseKindVersion("kind v0.20.0 go1.20.4 linux/amd64\n"), (ToolVersion{0, 20, 0}));
  EXPECT_EQ(parseDockerServerVersion("24.0.5\n"), (ToolVersion{24, 0, 5}));
  EXPECT_EQ(parseDockerServerVersion(
                "Client:\n Version: 20.10.24\nServer:\n Server Version: 20.10.24+dfsg1\n"),
            (ToolVersion{20, 10, 24}));
  EXPECT_EQ(parseHelmVersion("v3.12.3+g3a31588\n"), (ToolVersion{3, 12, 3}));
}

}  // namespace
}  // namespace egresslab::kind
