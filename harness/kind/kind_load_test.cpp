// The kind backend's pod load (kind_load.h): the argv it plans, the parsing of its result lines,
// and the shell loop itself run for real — `sh` with the machine's curl against an in-process
// httpbin mock (what the pod's exec would run; kubectl and the pod are the untested part).
#include "harness/kind/kind_load.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/kind/command_runner.h"
#include "mocks/httpbin/httpbin_server.h"

namespace egresslab::kind {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

curl::CurlCommand command(const std::string& line) { return *curl::parseCurlCommandLine(line); }

TEST(PodLoad, StartAndStopAreKubectlExecsIntoThePod) {
  const auto start = podLoadStartArgv("crm/client", "SCRIPT");
  EXPECT_THAT(start, ElementsAre("kubectl", "exec", "-n", "crm", "deploy/client", "-c", "client",
                                 "--", "sh", "-c", "SCRIPT"));
  const auto stop = podLoadStopArgv("crm/client", "bg");
  ASSERT_EQ(stop.size(), 11u);
  EXPECT_EQ(stop[8], "sh");
  EXPECT_THAT(stop[10], HasSubstr("D=/tmp/egresslab-load-bg; : > $D.stop;"));
  EXPECT_THAT(stop[10], HasSubstr("cat $D.out"));
}

TEST(PodLoad, TheScriptSendsTheCurlLineWithItsOwnRequestIdsAndResultLine) {
  const std::string script = podLoadScript(
      command("-sS -w '%{http_code}' -o body.txt http://crm.example/hostname"), "bg", "abc", 50, 8);
  EXPECT_THAT(script, HasSubstr("D=/tmp/egresslab-load-bg;"));
  EXPECT_THAT(script, HasSubstr("curl -s -S -o /dev/null http://crm.example/hostname -H "
                                "\"x-request-id: abc-$i\" -w \"$i %{http_code} %{time_total} "
                                "%{exitcode}\\n\""));
  EXPECT_THAT(script, HasSubstr("if [ \"$n\" -ge 8 ]; then echo \"$i dropped\""));
  EXPECT_THAT(script, HasSubstr("sleep 0.020000"));
}

TEST(PodLoad, ResultLinesBecomeSamplesInIndexOrder) {
  int malformed = 0;
  const auto run = parsePodLoadOutput(
      "1 503 0.002500 0\n0 200 0.001000 0\n2 dropped\n3 000 0.000300 7\ngarbage\n4 20x 1 0\n", 10,
      &malformed);
  EXPECT_EQ(malformed, 2);
  ASSERT_EQ(run.samples.size(), 4u);
  EXPECT_EQ(run.samples[0].index, 0u);
  EXPECT_EQ(run.samples[0].status, 200);
  EXPECT_EQ(run.samples[0].latencyUs, 1000);
  EXPECT_EQ(run.samples[1].startUs, 100000);  // due at n/rate
  EXPECT_EQ(run.samples[1].status, 503);
  EXPECT_TRUE(run.samples[2].dropped);
  EXPECT_EQ(run.samples[3].status, 0);
  EXPECT_EQ(run.samples[3].exit, 7);
  EXPECT_EQ(run.durationUs, 400000);
  ASSERT_EQ(run.notes.size(), 1u);
}

// The loop as the pod runs it, with `sh` and curl on this machine.
TEST(PodLoad, TheShellLoopRunsAndStopsAndEveryRequestReachesTheMockWithItsId) {
  if (!findProgram("curl") || !findProgram("sh")) GTEST_SKIP() << "needs sh and curl";
  httpbin::HttpbinOptions options;
  options.hostname = "crm-a";
  auto mock = httpbin::HttpbinServer::start(options);
  ASSERT_TRUE(mock) << mock.error().str();
  const std::string name = "test-" + std::to_string(::getpid());
  const std::string script =
      podLoadScript(command("-sS " + (*mock)->url() + "/status/200"), name, "kl", 200, 4);
  ProcessCommandRunner runner;
  Command loop;
  loop.argv = {"sh", "-c", script};
  auto background = runner.startBackground(loop);
  ASSERT_TRUE(background) << background.error().str();
  // Until the mock has answered a few of the loop's requests (a condition, with a deadline).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!(*mock)->served().lastServed("kl-2")) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the loop sent nothing";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Command stop;
  stop.argv = {"sh", "-c", podLoadStopArgv("ns/pod", name).back()};
  stop.timeout = std::chrono::seconds(60);
  auto stopped = runner.run(stop);
  ASSERT_TRUE(stopped) << stopped.error().str();
  ASSERT_TRUE(stopped->ok()) << stopped->describe();
  (*background)->stop();
  int malformed = 0;
  const auto run = parsePodLoadOutput(stopped->out, 200, &malformed);
  EXPECT_EQ(malformed, 0) << stopped->out;
  ASSERT_GE(run.samples.size(), 3u) << stopped->out;
  for (std::size_t i = 0; i < run.samples.size(); ++i) {
    const auto& s = run.samples[i];
    EXPECT_EQ(s.index, i);
    if (s.dropped) continue;
    EXPECT_EQ(s.status, 200) << stopped->out;
    EXPECT_EQ(s.exit, 0);
    EXPECT_TRUE((*mock)->served().lastServed("kl-" + std::to_string(i))) << i;
  }
}

}  // namespace
}  // namespace egresslab::kind
