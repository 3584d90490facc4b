// ProcessCommandRunner against real processes: the stand-in tools of mocks/fakes on a temp
// PATH (nothing else is on it), plus a few system programs named by absolute path.
#include "harness/kind/command_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <future>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/kind/process_groups.h"
#include "harness/kind/test_support.h"

namespace egresslab::kind {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using testing::FakeTools;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::processGone;
using ::testing::SizeIs;
using testing::waitFor;

class ProcessCommandRunnerTest : public ::testing::Test {
 protected:
  ProcessCommandRunner runner() const {
    return ProcessCommandRunner(
        {.searchPath = fakes_.searchPath(), .environment = fakes_.environment()});
  }
  // Runs `command` on a background thread (for tests that act while it runs).
  std::future<Result<CommandResult>> runAsync(Command command) {
    return std::async(std::launch::async, [this, command = std::move(command)] {
      auto r = runner();
      return r.run(command);
    });
  }
  // Waits until a hang rule has written "PID CHILD_PID".
  std::vector<pid_t> waitForHungPids(std::size_t count = 2) {
    EXPECT_TRUE(waitFor([&] { return fakes_.hungPids().size() >= count; }))
        << "the fake never reported its pids";
    return fakes_.hungPids();
  }
  static void expectAllGone(const std::vector<pid_t>& pids) {
    for (pid_t pid : pids) {
      EXPECT_TRUE(waitFor([&] { return processGone(pid); })) << "pid " << pid << " survived";
    }
  }

  FakeTools fakes_;
};

TEST_F(ProcessCommandRunnerTest, RecordsArgvExactlyWithoutAShell) {
  fakes_.script({"kubectl exec *\t0\tok"});
  const Command command{.argv = {"kubectl", "exec", "-n", "httpbin", "deploy/sleep", "-c", "sleep",
                                 "--", "curl", "-sS", "http://a b/$HOME", "-H",
                                 "x-request-id: it's *"}};
  auto result = runner().run(command);
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_EQ(result->out, "ok");
  EXPECT_EQ(result->exitCode, 0);
  EXPECT_EQ(result->signal, 0);
  EXPECT_TRUE(result->ok());
  // %q-quoted by the fake: spaces, quotes, `$` and `*` arrived as literal characters.
  EXPECT_THAT(fakes_.log(), ElementsAre("kubectl exec -n httpbin deploy/sleep -c sleep -- curl -sS "
                                        "http://a\\ b/\\$HOME -H x-request-id:\\ it\\'s\\ \\*"));
  EXPECT_EQ(result->display(),
            "kubectl exec -n httpbin deploy/sleep -c sleep -- curl -sS http://a b/$HOME -H "
            "x-request-id: it's *");
}

TEST_F(ProcessCommandRunnerTest, CapturesStdoutAndStderrSeparately) {
  fakes_.script({"kind get clusters\t0\tegresslab\\nother\\n\t0\twarning: two clusters\\n"});
  auto result = runner().run({.argv = {"kind", "get", "clusters"}});
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_EQ(result->out, "egresslab\nother\n");
  EXPECT_EQ(result->err, "warning: two clusters\n");
  EXPECT_FALSE(result->outTruncated);
}

TEST_F(ProcessCommandRunnerTest, NonZeroExitIsAResultCarryingStderr) {
  fakes_.script(
      {"kubectl get ns missing\t1\t\t0\tError from server (NotFound): namespaces \"missing\" "
       "not found\\n"});
  auto result = runner().run({.argv = {"kubectl", "get", "ns", "missing"}});
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_EQ(result->exitCode, 1);
  EXPECT_EQ(result->signal, 0);
  EXPECT_FALSE(result->timedOut);
  EXPECT_FALSE(result->ok());
  EXPECT_THAT(result->describe(),
              AllOf(HasSubstr("`kubectl get ns missing` exited 1"),
                    HasSubstr("Error from server (NotFound): namespaces \"missing\" not found")));
}

TEST_F(ProcessCommandRunnerTest, ExitCodeNineIsNotMistakenForSigkill) {
  fakes_.script({"kind delete *\t9"});
  auto result = runner().run({.argv = {"kind", "delete", "cluster"}});
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_EQ(result->exitCode, 9);
  EXPECT_EQ(result->signal, 0);
}

TEST_F(ProcessCommandRunnerTest, StdinDataReachesTheChild) {
  fakes_.script({"kubectl apply -f -\t0\t@stdin"});
  const std::string manifest = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: httpbin\n";
  auto result = runner().run({.argv = {"kubectl", "apply", "-f", "-"}, .stdinData = manifest});
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_EQ(result->out, manifest);
  EXPECT_EQ(testing::readFile(fakes_.stdinDir() / "1.stdin"), manifest);
}

TEST_F(ProcessCommandRunnerTest, ChildStdinIsDevNullWithoutStdinData) {
  fakes_.script({"kubectl apply -f -\t0\t@stdin"});
  auto result = runner().run({.argv = {"kubectl", "apply", "-f", "-"}});
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_EQ(result->out, "");  // read EOF at once instead of waiting on a terminal
}

TEST_F(ProcessCommandRunnerTest, EnvironmentOverridesAndWorkingDirectory) {
  testing::TempDir workdir;
  auto result = runner().run({.argv = {"/usr/bin/env"},
                              .env = {{"KUBECONFIG", "/tmp/egresslab/kubeconfig"}},
                              .cwd = workdir.path()});
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_THAT(result->out, HasSubstr("KUBECONFIG=/tmp/egresslab/kubeconfig\n"));
  // The runner's search path becomes the child's PATH (kind itself runs `docker` via PATH).
  EXPECT_THAT(result->out, HasSubstr("PATH=" + fakes_.searchPath() + "\n"));
  EXPECT_THAT(result->out, HasSubstr("EGRESSLAB_FAKE_LOG="));

  auto pwd = runner().run({.argv = {"/bin/pwd", "-P"}, .cwd = workdir.path()});
  ASSERT_TRUE(pwd.has_value()) << pwd.error().str();
  EXPECT_EQ(pwd->out, std::filesystem::canonical(workdir.path()).string() + "\n");
}

TEST_F(ProcessCommandRunnerTest, MissingWorkingDirectoryIsAnError) {
  auto result = runner().run({.argv = {"kind", "version"}, .cwd = "/nonexistent/egresslab"});
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("/nonexistent/egresslab"));
}

TEST_F(ProcessCommandRunnerTest, HungCommandIsKilledAtItsTimeoutGrandchildIncluded) {
  fakes_.script({"kind create cluster*\t0\t\t300"});
  const Command command{.argv = {"kind", "create", "cluster", "--name", "egresslab"},
                        .timeout = std::chrono::milliseconds(1500)};
  auto result = runner().run(command);
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_TRUE(result->timedOut);
  EXPECT_EQ(result->signal, SIGTERM);
  EXPECT_EQ(result->exitCode, -1);
  EXPECT_FALSE(result->ok());
  EXPECT_THAT(result->describe(), HasSubstr("timed out"));
  const auto pids = fakes_.hungPids();
  ASSERT_THAT(pids, SizeIs(2)) << "fake tool pid and its `sleep` child";
  expectAllGone(pids);
}

TEST_F(ProcessCommandRunnerTest, TermIgnoringCommandIsKilledAfterTheGracePeriod) {
  fakes_.script({"kubectl rollout status*\t0\t\t300!"});
  const Command command{.argv = {"kubectl", "rollout", "status", "deploy/istiod"},
                        .timeout = std::chrono::milliseconds(1500),
                        .killGrace = std::chrono::milliseconds(200)};
  auto result = runner().run(command);
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_TRUE(result->timedOut);
  EXPECT_EQ(result->signal, SIGKILL);
  expectAllGone(fakes_.hungPids());
}

TEST_F(ProcessCommandRunnerTest, ChildLeadsItsOwnProcessGroup) {
  fakes_.script({"kubectl port-forward*\t0\t\t300"});
  auto running = runAsync({.argv = {"kubectl", "port-forward", "svc/x", "15443:443"},
                           .timeout = std::chrono::milliseconds(60000),
                           .killGrace = std::chrono::milliseconds(500)});
  const auto pids = waitForHungPids();
  ASSERT_THAT(pids, SizeIs(2));
  EXPECT_EQ(::getpgid(pids[0]), pids[0]);
  EXPECT_EQ(::getpgid(pids[1]), pids[0]);  // the grandchild is in the same group
  EXPECT_NE(::getpgid(pids[0]), ::getpgid(0));
  EXPECT_THAT(ProcessGroupRegistry::instance().live(), Contains(pids[0]));
  ProcessGroupRegistry::instance().terminateAll(std::chrono::milliseconds(500));
  auto result = running.get();
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_THAT(ProcessGroupRegistry::instance().live(), IsEmpty());
}

TEST_F(ProcessCommandRunnerTest, CancelAllKillsLiveGroupsAndMarksTheResult) {
  fakes_.script({"kind create cluster*\t0\t\t300", "kubectl wait*\t0\t\t300"});
  auto first = runAsync({.argv = {"kind", "create", "cluster"}});
  auto second = runAsync({.argv = {"kubectl", "wait", "--for=condition=Ready", "pod", "--all"}});
  const auto pids = waitForHungPids(4);
  EXPECT_EQ(ProcessGroupRegistry::instance().terminateAll(std::chrono::milliseconds(2000)), 2u);
  for (auto* future : {&first, &second}) {
    auto result = future->get();
    ASSERT_TRUE(result.has_value()) << result.error().str();
    EXPECT_TRUE(result->cancelled);
    EXPECT_FALSE(result->timedOut);
    EXPECT_EQ(result->signal, SIGTERM);
    EXPECT_THAT(result->describe(), HasSubstr("cancelled"));
  }
  expectAllGone(pids);
  // Later commands (teardown) still run.
  auto teardown = runner().run({.argv = {"kind", "delete", "cluster"}});
  ASSERT_TRUE(teardown.has_value()) << teardown.error().str();
  EXPECT_TRUE(teardown->ok());
  EXPECT_FALSE(teardown->cancelled);
}

TEST_F(ProcessCommandRunnerTest, SigtermCancelsRunningCommandsThroughTheSelfPipe) {
  fakes_.script({"istioctl install*\t0\t\t300"});
  std::promise<int> signalled;
  auto cancellation = SignalCancellation::install(
      {.grace = std::chrono::milliseconds(2000),
       .onSignal = [&signalled](int signo) { signalled.set_value(signo); }});
  ASSERT_TRUE(cancellation.has_value()) << cancellation.error().str();
  EXPECT_FALSE(SignalCancellation::install({}).has_value()) << "only one may be installed";

  auto running = runAsync({.argv = {"istioctl", "install", "-y", "-f", "iop.yaml"}});
  const auto pids = waitForHungPids();
  ASSERT_EQ(::raise(SIGTERM), 0);
  auto signalledWith = signalled.get_future();
  ASSERT_EQ(signalledWith.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(signalledWith.get(), SIGTERM);
  auto result = running.get();
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_TRUE(result->cancelled);
  expectAllGone(pids);
  EXPECT_EQ((*cancellation)->handledCount(), 1);
  cancellation->reset();  // restores the previous SIGTERM disposition
}

TEST_F(ProcessCommandRunnerTest, PipelineConnectsStdoutToTheNextStdin) {
  const std::string manifest =
      "apiVersion: apps/v1\\nkind: Deployment\\nmetadata:\\n  name: httpbin-egress\\n";
  fakes_.script({"istioctl manifest generate -f *\t0\t" + manifest,
                 "kubectl apply -f -\t0\t@stdin\t0\tapplied\\n"});
  auto result =
      runner().runPipeline({{.argv = {"istioctl", "manifest", "generate", "-f", "egress-iop.yaml"}},
                            {.argv = {"kubectl", "apply", "-f", "-"}}});
  ASSERT_TRUE(result.has_value()) << result.error().str();
  ASSERT_THAT(result->stages, SizeIs(2));
  EXPECT_TRUE(result->ok());
  const std::string expected =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: httpbin-egress\n";
  EXPECT_EQ(result->stages[0].out, "");  // went to kubectl, not to us
  EXPECT_EQ(result->stages[1].out, expected);
  EXPECT_EQ(result->stages[1].err, "applied\n");
  EXPECT_THAT(fakes_.log(),
              ::testing::UnorderedElementsAre("istioctl manifest generate -f egress-iop.yaml",
                                              "kubectl apply -f -"));
}

TEST_F(ProcessCommandRunnerTest, PipelineReportsTheFailingStageWithItsStderr) {
  fakes_.script(
      {"istioctl manifest generate *\t1\t\t0\tError: open egress-iop.yaml: no such file\\n",
       "kubectl apply -f -\t0\t@stdin"});
  auto result =
      runner().runPipeline({{.argv = {"istioctl", "manifest", "generate", "-f", "egress-iop.yaml"}},
                            {.argv = {"kubectl", "apply", "-f", "-"}}});
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_FALSE(result->ok());
  ASSERT_NE(result->firstFailure(), nullptr);
  EXPECT_EQ(result->firstFailure()->argv.front(), "istioctl");
  EXPECT_THAT(result->firstFailure()->err, HasSubstr("no such file"));
  EXPECT_EQ(result->stages[1].exitCode, 0);
}

TEST_F(ProcessCommandRunnerTest, PipelineTimeoutKillsEveryStage) {
  fakes_.script({"istioctl manifest generate *\t0\t\t300", "kubectl apply -f -\t0\t\t300"});
  auto result = runner().runPipeline(
      {{.argv = {"istioctl", "manifest", "generate", "-f", "x.yaml"},
        .timeout = std::chrono::milliseconds(1500)},
       {.argv = {"kubectl", "apply", "-f", "-"}, .timeout = std::chrono::milliseconds(60000)}});
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_TRUE(result->stages[0].timedOut);
  EXPECT_FALSE(result->stages[1].timedOut);
  EXPECT_EQ(result->stages[1].signal, SIGTERM);  // killed with it, long before its own timeout
  expectAllGone(fakes_.hungPids());
}

TEST_F(ProcessCommandRunnerTest, MissingProgramIsAnErrorNamingIt) {
  FakeTools withoutKubectl({"kind", "istioctl"});
  ProcessCommandRunner runner({.searchPath = withoutKubectl.searchPath()});
  auto result = runner.run({.argv = {"kubectl", "apply", "-f", "-"}});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().kind, ErrorKind::kBackendUnavailable);
  EXPECT_THAT(result.error().message, HasSubstr("`kubectl` not found on PATH"));
  auto located = runner.locate("kubectl");
  ASSERT_FALSE(located.has_value());
  EXPECT_THAT(located.error().message, HasSubstr("kubectl"));
  // In a pipeline nothing starts when any stage is missing.
  auto pipeline = runner.runPipeline(
      {{.argv = {"istioctl", "manifest", "generate"}}, {.argv = {"kubectl", "apply", "-f", "-"}}});
  ASSERT_FALSE(pipeline.has_value());
  EXPECT_THAT(pipeline.error().message, HasSubstr("kubectl"));
  EXPECT_THAT(withoutKubectl.log(), IsEmpty());
}

TEST_F(ProcessCommandRunnerTest, FailedExecIsAnErrorNamingTheProgram) {
  // Found on PATH and executable, but the kernel cannot exec it (missing interpreter).
  const auto broken = fakes_.dir() / "broken-istioctl";
  {
    std::ofstream out(broken);
    out << "#!/nonexistent/interpreter\n";
  }
  std::filesystem::permissions(broken, std::filesystem::perms::owner_all);
  auto result = runner().run({.argv = {broken.string(), "version"}});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().kind, ErrorKind::kEnvironment);
  EXPECT_THAT(result.error().message, AllOf(HasSubstr("cannot start"), HasSubstr("broken-istioctl"),
                                            HasSubstr("No such file or directory")));
}

// Written by an exit handler when it runs in a process other than the test itself.
std::filesystem::path gForeignExitMarker;
pid_t gTestPid = 0;
void recordForeignExit() {
  if (::getpid() == gTestPid) return;
  std::ofstream(gForeignExitMarker) << "a forked child ran the parent's exit handlers\n";
}

TEST_F(ProcessCommandRunnerTest, FailedExecDoesNotRunTheParentsExitHandlersInTheChild) {
  // Boost.Process 1.81 ends a child whose exec failed with exit(): that runs the parent's
  // atexit handlers and flushes its stdio buffers a second time. The runner's hook _exits.
  gForeignExitMarker = fakes_.dir() / "foreign-exit";
  gTestPid = ::getpid();
  ASSERT_EQ(std::atexit(recordForeignExit), 0);
  const auto broken = fakes_.dir() / "broken-kind";
  { std::ofstream(broken) << "#!/nonexistent/interpreter\n"; }
  std::filesystem::permissions(broken, std::filesystem::perms::owner_all);
  ASSERT_FALSE(runner().run({.argv = {broken.string()}}).has_value());
  EXPECT_FALSE(std::filesystem::exists(gForeignExitMarker));
}

TEST_F(ProcessCommandRunnerTest, EmptyArgvIsInvalidInput) {
  auto result = runner().run({});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().kind, ErrorKind::kInvalidInput);
}

TEST_F(ProcessCommandRunnerTest, OnlyTheFirstPipelineStageMayTakeStdinData) {
  auto result = runner().runPipeline(
      {{.argv = {"istioctl", "manifest", "generate"}},
       {.argv = {"kubectl", "apply", "-f", "-"}, .stdinData = "kind: Namespace\n"}});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().kind, ErrorKind::kInvalidInput);
}

TEST_F(ProcessCommandRunnerTest, CapturedOutputIsBoundedButFullyDrained) {
  std::string big(200000, 'x');
  fakes_.script({"kubectl get events*\t0\t" + big});
  auto result =
      runner().run({.argv = {"kubectl", "get", "events", "-A"}, .maxCapturedBytes = 1000});
  ASSERT_TRUE(result.has_value()) << result.error().str();
  EXPECT_EQ(result->out, std::string(1000, 'x'));
  EXPECT_TRUE(result->outTruncated);
  EXPECT_EQ(result->exitCode, 0);  // not blocked on a full pipe, not killed by SIGPIPE
}

TEST_F(ProcessCommandRunnerTest, InheritedDescriptorsAreClosedInTheChild) {
  // A descriptor without close-on-exec, opened before the launcher's own pipes — the kind
  // 1.81's close_all() leaves open (cpp-httplib's accepted sockets are such descriptors).
  const auto marker = fakes_.dir() / "leak-marker";
  const int leaked = ::open(marker.c_str(), O_WRONLY | O_CREAT, 0600);
  ASSERT_GE(leaked, 0);
  fakes_.script({"kubectl logs*\t0\t\t300"});
  auto running = runAsync({.argv = {"kubectl", "logs", "-f", "deploy/httpbin-egress"},
                           .killGrace = std::chrono::milliseconds(500)});
  const auto pids = waitForHungPids();
  ASSERT_THAT(pids, SizeIs(2));
  std::vector<std::string> openFiles;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pids[0]) + "/fd")) {
    std::error_code ec;
    openFiles.push_back(std::filesystem::read_symlink(entry.path(), ec).string());
  }
  EXPECT_THAT(openFiles, ::testing::Not(Contains(marker.string())));
  EXPECT_THAT(openFiles, ::testing::Not(IsEmpty()));
  ::close(leaked);
  ProcessGroupRegistry::instance().terminateAll(std::chrono::milliseconds(500));
  ASSERT_TRUE(running.get().has_value());
}

TEST(FindProgramTest, SearchesEachDirectoryInOrderAndSkipsNonExecutables) {
  testing::TempDir dir;
  const auto first = dir.path() / "a";
  const auto second = dir.path() / "b";
  std::filesystem::create_directories(first);
  std::filesystem::create_directories(second);
  { std::ofstream(first / "kind") << "not executable\n"; }
  { std::ofstream(second / "kind") << "#!/bin/sh\n"; }
  std::filesystem::permissions(second / "kind", std::filesystem::perms::owner_all);
  const std::string path = first.string() + ":" + second.string();
  EXPECT_EQ(findProgram("kind", path), second / "kind");
  EXPECT_EQ(findProgram("kubectl", path), std::nullopt);
  EXPECT_EQ(findProgram((second / "kind").string(), ""), second / "kind");
  EXPECT_EQ(findProgram("", path), std::nullopt);
}

TEST(CommandTest, DisplayJoinsArgvWithSpaces) {
  const Command command{.argv = {"kubectl", "apply", "-f", "-"}};
  EXPECT_EQ(command.display(), "kubectl apply -f -");
}

TEST(SignalNameTest, NamesCommonSignals) {
  EXPECT_EQ(signalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(signalName(SIGTERM), "SIGTERM");
}

}  // namespace
}  // namespace egresslab::kind
