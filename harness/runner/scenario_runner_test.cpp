#include "harness/runner/scenario_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "harness/model/loader.h"
#include "harness/runner/fake_backend_test_support.h"

namespace egresslab::runner {
namespace {

using namespace std::chrono_literals;
using report::Observation;
using report::Outcome;
using ::testing::ElementsAre;
using testing::FakeBackend;
using ::testing::HasSubstr;
using testing::RecordingListener;

model::Step curlStep(std::string name, std::string line, model::Expectation expect = {}) {
  model::Step step;
  step.name = std::move(name);
  step.curl = std::move(line);
  step.expect = std::move(expect);
  return step;
}

model::Step faultStep(std::string name, std::string target, std::string action) {
  model::Step step;
  step.name = std::move(name);
  model::FaultSpec fault;
  fault.target = std::move(target);
  fault.action = std::move(action);
  step.fault = fault;
  return step;
}

model::Expectation status(int code) {
  model::Expectation e;
  e.status = {code};
  return e;
}

model::Eventually eventually(std::chrono::milliseconds within, std::chrono::milliseconds every,
                             int successes = 1) {
  model::Eventually e;
  e.within = within;
  e.every = every;
  e.successes = successes;
  return e;
}

Observation answer(int code, std::map<std::string, std::string> flags = {}) {
  Observation o;
  o.exit = 0;
  o.status = code;
  o.flags = std::move(flags);
  return o;
}

class ScenarioRunnerTest : public ::testing::Test {
 protected:
  model::Scenario scenario(std::vector<model::Step> steps) {
    model::Scenario s;
    s.name = "demo";
    s.file = "/scenarios/demo.yaml";
    s.steps = std::move(steps);
    return s;
  }
  ScenarioRun run(const model::Scenario& s) {
    ScenarioRunner runner(options, clock, listener, cancel);
    return runner.run(s, backend);
  }

  FakeClock clock;
  FakeBackend backend{&clock};
  RecordingListener listener;
  CancelFlag cancel{false};
  backend::RunOptions options;
};

TEST_F(ScenarioRunnerTest, UpThenStepsInOrderThenDown) {
  auto result =
      run(scenario({curlStep("one", "-sS http://a/"), faultStep("f", "upstream/a", "down"),
                    curlStep("two", "-sS http://b/")}));
  EXPECT_THAT(backend.callLog(),
              ElementsAre("up demo", "curl -sS http://a/", "fault upstream/a down",
                          "curl -sS http://b/", "down"));
  EXPECT_EQ(result.result.outcome, Outcome::kPassed);
  ASSERT_EQ(result.result.steps.size(), 3u);
  EXPECT_EQ(result.result.steps[1].kind, "fault");
  EXPECT_EQ(result.result.steps[1].request, "upstream/a down");
  EXPECT_EQ(result.result.backend, "fake");
  EXPECT_THAT(listener.events, ElementsAre("started demo", "step demo/one", "step demo/f",
                                           "step demo/two", "finished demo"));
}

TEST_F(ScenarioRunnerTest, PassesStepWhenEveryKeyHolds) {
  backend.script = {answer(200, {{"httpbin-egress", "-"}})};
  model::Expectation e = status(200);
  e.flags["httpbin-egress"] = model::Matcher{"-", false};
  auto result = run(scenario({curlStep("ok", "-sS http://h/", e)}));
  EXPECT_EQ(result.result.steps[0].outcome, Outcome::kPassed);
  EXPECT_EQ(result.result.steps[0].attempts, 1);
  EXPECT_EQ(result.result.steps[0].message, "");
  EXPECT_EQ(result.result.steps[0].expected, "exit 0, status 200, flags {httpbin-egress: -}");
}

TEST_F(ScenarioRunnerTest, FailedExpectationFailsStepAndLaterStepsStillRun) {
  backend.script = {answer(503, {{"httpbin-egress", "UF,URX"}}), answer(200)};
  auto result = run(scenario({curlStep("wrong", "-sS http://h/", status(200)),
                              curlStep("next", "-sS http://h/", status(200))}));
  EXPECT_EQ(result.result.outcome, Outcome::kFailed);
  EXPECT_EQ(result.result.steps[0].outcome, Outcome::kFailed);
  EXPECT_THAT(result.result.steps[0].message, HasSubstr("status: expected 200, observed 503"));
  EXPECT_THAT(result.result.steps[0].message, HasSubstr("UF = upstream connection failure"));
  EXPECT_EQ(result.result.steps[1].outcome, Outcome::kPassed);
  EXPECT_EQ(backend.count("down"), 1);
}

TEST_F(ScenarioRunnerTest, DownRunsWhenUpFailsAndStepsAreSkipped) {
  backend.upResult = backendUnavailable("kind is not installed");
  auto result = run(scenario({curlStep("one", "-sS http://a/")}));
  EXPECT_TRUE(result.backendUnavailable);
  EXPECT_EQ(result.result.outcome, Outcome::kError);
  EXPECT_THAT(result.result.message, HasSubstr("kind is not installed"));
  ASSERT_EQ(result.result.steps.size(), 1u);
  EXPECT_EQ(result.result.steps[0].outcome, Outcome::kSkipped);
  EXPECT_THAT(backend.callLog(), ElementsAre("up demo", "down"));
}

TEST_F(ScenarioRunnerTest, BackendDiagnosticsReachTheScenarioReport) {
  backend.upResult = environmentError("istiod did not become ready");
  backend.diagnosticLines = {"$ kubectl get pods -A\nistiod-0  0/1  CrashLoopBackOff"};
  auto result = run(scenario({curlStep("one", "-sS http://a/")}));
  EXPECT_EQ(result.result.outcome, Outcome::kError);
  EXPECT_THAT(result.result.diagnostics,
              ElementsAre("$ kubectl get pods -A\nistiod-0  0/1  CrashLoopBackOff"));
}

TEST_F(ScenarioRunnerTest, EnvironmentErrorInUpIsNotBackendUnavailable) {
  backend.upResult = environmentError("port exhausted");
  auto result = run(scenario({curlStep("one", "-sS http://a/")}));
  EXPECT_FALSE(result.backendUnavailable);
  EXPECT_EQ(result.result.outcome, Outcome::kError);
}

TEST_F(ScenarioRunnerTest, BackendErrorInAStepSkipsTheRestAndTearsDown) {
  backend.script = {std::unexpected(Error{ErrorKind::kEnvironment, "no pod httpbin/sleep", {}})};
  auto result = run(scenario({curlStep("one", "-sS http://a/"), curlStep("two", "-sS http://b/")}));
  EXPECT_EQ(result.result.outcome, Outcome::kError);
  EXPECT_EQ(result.result.steps[0].outcome, Outcome::kError);
  EXPECT_THAT(result.result.steps[0].message, HasSubstr("no pod httpbin/sleep"));
  EXPECT_EQ(result.result.steps[1].outcome, Outcome::kSkipped);
  EXPECT_THAT(backend.callLog(), ElementsAre("up demo", "curl -sS http://a/", "down"));
}

TEST_F(ScenarioRunnerTest, FaultErrorIsAStepErrorAndTearsDown) {
  backend.faultResult = invalidInput("no upstream nowhere.example");
  auto result = run(
      scenario({faultStep("f", "upstream/nowhere.example", "down"), curlStep("c", "http://a/")}));
  EXPECT_EQ(result.result.steps[0].outcome, Outcome::kError);
  EXPECT_THAT(result.result.steps[0].message, HasSubstr("could not inject the fault"));
  EXPECT_EQ(result.result.steps[1].outcome, Outcome::kSkipped);
  EXPECT_EQ(backend.count("down"), 1);
}

TEST_F(ScenarioRunnerTest, EveryAttemptGetsAFreshRequestId) {
  backend.script = {answer(503), answer(503), answer(200)};
  model::Step step = curlStep("eventually", "-sS http://h/", status(200));
  step.eventually = eventually(10s, 1s);
  run(scenario({step}));
  ASSERT_EQ(backend.requests.size(), 3u);
  std::set<std::string> ids;
  const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  for (const auto& r : backend.requests) {
    EXPECT_TRUE(std::regex_match(r.requestId, uuid)) << r.requestId;
    ids.insert(r.requestId);
  }
  EXPECT_EQ(ids.size(), 3u);
}

TEST_F(ScenarioRunnerTest, EventuallyPassesAfterNAttemptsWaitingEveryBetweenFailures) {
  backend.script = {answer(503), answer(503), answer(200)};
  model::Step step = curlStep("converges", "-sS http://h/", status(200));
  step.eventually = eventually(10s, 1s);
  auto result = run(scenario({step}));
  const auto& s = result.result.steps[0];
  EXPECT_EQ(s.outcome, Outcome::kPassed);
  EXPECT_EQ(s.attempts, 3);
  EXPECT_EQ(s.durationMs, 2000);  // two waits of `every`, none after the success
  EXPECT_THAT(s.expected, HasSubstr("eventually: within 10s, every 1s"));
}

TEST_F(ScenarioRunnerTest, EventuallyDeadlineFailsWithTheLastObservation) {
  backend.script = {answer(503, {{"sleep", "UF"}}), answer(503, {{"sleep", "UH"}})};
  model::Step step = curlStep("never", "-sS http://h/", status(200));
  step.eventually = eventually(10s, 1s);
  auto result = run(scenario({step}));
  const auto& s = result.result.steps[0];
  EXPECT_EQ(s.outcome, Outcome::kFailed);
  EXPECT_EQ(s.attempts, 11);  // t = 0, 1, …, 10 s: the last attempt is at the deadline
  EXPECT_EQ(s.durationMs, 10000);
  EXPECT_EQ(s.observed.flags.at("sleep"), "UH");
  EXPECT_THAT(s.message, HasSubstr("did not hold within 10s (11 attempts, every 1s)"));
  EXPECT_THAT(s.message, HasSubstr("status: expected 200, observed 503"));
  EXPECT_THAT(s.message, HasSubstr("UH = no healthy upstream"));
  // A slow step shows where it is on one transient line, not as lasting log lines.
  EXPECT_FALSE(listener.stepProgressLines.empty());
  EXPECT_TRUE(listener.progressLines.empty());
}

TEST_F(ScenarioRunnerTest, SuccessesInARowResetOnFailure) {
  backend.script = {answer(200), answer(200), answer(503), answer(200), answer(200), answer(200)};
  model::Step step = curlStep("stable", "-sS http://h/", status(200));
  step.eventually = eventually(30s, 1s, 3);
  auto result = run(scenario({step}));
  const auto& s = result.result.steps[0];
  EXPECT_EQ(s.outcome, Outcome::kPassed);
  EXPECT_EQ(s.attempts, 6);
  EXPECT_EQ(s.durationMs, 1000);  // only the failure waited
}

TEST_F(ScenarioRunnerTest, SuccessesInARowNotReachedBeforeDeadlineFails) {
  // Alternating: never three in a row.
  int n = 0;
  backend.onCurl = [&](const backend::CurlRequest&) -> Result<Observation> {
    return answer(n++ % 2 == 0 ? 200 : 503);
  };
  model::Step step = curlStep("flaky", "-sS http://h/", status(200));
  step.eventually = eventually(5s, 1s, 3);
  auto result = run(scenario({step}));
  EXPECT_EQ(result.result.steps[0].outcome, Outcome::kFailed);
  EXPECT_THAT(result.result.steps[0].message, HasSubstr("did not hold 3 times in a row within 5s"));
  EXPECT_THAT(result.result.steps[0].message, HasSubstr("best run: 1"));
}

TEST_F(ScenarioRunnerTest, StreakCutShortByTheDeadlineSaysTheLastAttemptPassed) {
  backend.script = {answer(503), answer(200)};
  backend.requestCost = 3s;  // slow requests: the deadline comes mid-streak
  model::Step step = curlStep("slow streak", "-sS http://h/", status(200));
  step.eventually = eventually(5s, 1s, 3);
  auto result = run(scenario({step}));
  EXPECT_EQ(result.result.steps[0].outcome, Outcome::kFailed);
  EXPECT_THAT(result.result.steps[0].message,
              HasSubstr("it passed, but the deadline came before the run of successes"));
}

TEST_F(ScenarioRunnerTest, TimeScaleCompressesEventuallyWithFloors) {
  EXPECT_EQ(ScenarioRunner::scaledWithin(90s, 1.0), 90s);
  EXPECT_EQ(ScenarioRunner::scaledWithin(90s, 10.0), 9s);
  EXPECT_EQ(ScenarioRunner::scaledWithin(90s, 100.0), 5s);  // floor
  EXPECT_EQ(ScenarioRunner::scaledWithin(4s, 100.0), 4s);   // never longer than written
  EXPECT_EQ(ScenarioRunner::scaledEvery(1s, 100.0), 10ms);
  EXPECT_EQ(ScenarioRunner::scaledEvery(1s, 1000.0), 10ms);
  EXPECT_EQ(ScenarioRunner::scaledEvery(2s, 0.5), 2s);  // F < 1 is not stretched
}

TEST_F(ScenarioRunnerTest, TimeScaleAppliesToTheEventuallyLoop) {
  options.timeScale = 10.0;
  backend.script = {answer(503)};
  model::Step step = curlStep("scaled", "-sS http://h/", status(200));
  step.eventually = eventually(90s, 2s);
  auto result = run(scenario({step}));
  EXPECT_EQ(result.result.steps[0].durationMs, 9000);
  EXPECT_EQ(result.result.steps[0].attempts, 46);  // every 200 ms over 9 s, plus t = 0
  EXPECT_EQ(backend.options_.timeScale, 10.0);     // handed to the backend's probe clocks
}

TEST_F(ScenarioRunnerTest, PerStepTimeoutFailsASlowStepAndBoundsTheRequest) {
  backend.requestCost = 5s;
  model::Step step = curlStep("slow", "-sS http://h/", status(200));
  step.timeout = 2s;
  auto result = run(scenario({step, curlStep("after", "-sS http://h/")}));
  const auto& s = result.result.steps[0];
  EXPECT_EQ(s.outcome, Outcome::kFailed);
  EXPECT_THAT(s.message, HasSubstr("timed out: the step's timeout of 2s ran out; it ran 5s"));
  ASSERT_FALSE(backend.requests.empty());
  EXPECT_EQ(backend.requests[0].timeout, std::optional(std::chrono::milliseconds(2000)));
  EXPECT_EQ(result.result.steps[1].outcome, Outcome::kPassed);
}

TEST_F(ScenarioRunnerTest, PerStepTimeoutCutsAnEventuallyLoopShort) {
  backend.script = {answer(503)};
  model::Step step = curlStep("bounded", "-sS http://h/", status(200));
  step.eventually = eventually(60s, 1s);
  step.timeout = 3s;
  auto result = run(scenario({step}));
  EXPECT_EQ(result.result.steps[0].outcome, Outcome::kFailed);
  EXPECT_EQ(result.result.steps[0].durationMs, 3000);
  EXPECT_THAT(result.result.steps[0].message, HasSubstr("timed out"));
}

TEST_F(ScenarioRunnerTest, ScenarioTimeoutSkipsRemainingStepsAndTearsDown) {
  backend.requestCost = 2s;
  model::Scenario s = scenario(
      {curlStep("a", "http://a/"), curlStep("b", "http://b/"), curlStep("c", "http://c/")});
  s.timeout = 3s;
  auto result = run(s);
  EXPECT_EQ(result.result.outcome, Outcome::kError);
  EXPECT_THAT(result.result.message, HasSubstr("did not finish within its timeout of 3s"));
  EXPECT_EQ(result.result.steps[0].outcome, Outcome::kPassed);
  EXPECT_EQ(result.result.steps[1].outcome, Outcome::kFailed);  // ran past the scenario budget
  EXPECT_EQ(result.result.steps[2].outcome, Outcome::kSkipped);
  EXPECT_EQ(backend.count("down"), 1);
}

TEST_F(ScenarioRunnerTest, CancelStopsAfterTheCurrentStepAndTearsDown) {
  backend.onCurl = [&](const backend::CurlRequest&) -> Result<Observation> {
    cancel = true;  // SIGINT arrives while the first request is in flight
    return answer(200);
  };
  auto result = run(scenario({curlStep("a", "http://a/"), curlStep("b", "http://b/")}));
  EXPECT_EQ(result.result.outcome, Outcome::kError);
  EXPECT_THAT(result.result.message, HasSubstr("cancelled"));
  EXPECT_EQ(result.result.steps[1].outcome, Outcome::kSkipped);
  EXPECT_THAT(backend.callLog(), ElementsAre("up demo", "curl http://a/", "down"));
}

TEST_F(ScenarioRunnerTest, CancelDuringAnEventuallyLoopErrorsTheStep) {
  int attempts = 0;
  backend.onCurl = [&](const backend::CurlRequest&) -> Result<Observation> {
    if (++attempts == 3) cancel = true;
    return answer(503);
  };
  model::Step step = curlStep("waiting", "http://a/", status(200));
  step.eventually = eventually(90s, 1s);
  auto result = run(scenario({step}));
  EXPECT_EQ(result.result.steps[0].outcome, Outcome::kError);
  EXPECT_THAT(result.result.steps[0].message, HasSubstr("cancelled"));
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(backend.count("down"), 1);
}

TEST_F(ScenarioRunnerTest, KeepShowsEndpointsAndTearsDownOnCancel) {
  options.keep = true;
  listener.onKept = [&] { cancel = true; };  // the user presses Ctrl-C
  auto result = run(scenario({curlStep("a", "http://a/")}));
  EXPECT_THAT(listener.kept, ElementsAre("demo"));
  EXPECT_THAT(listener.keptEndpoints, ElementsAre("https://127.0.0.1:15443"));
  EXPECT_TRUE(backend.options_.keep);
  EXPECT_EQ(backend.count("down"), 1);
  EXPECT_EQ(result.result.outcome, Outcome::kPassed);
}

TEST_F(ScenarioRunnerTest, DryRunRunsNothingAndReturnsThePlan) {
  options.dryRun = true;
  auto result = run(scenario({curlStep("a", "http://a/"), faultStep("f", "upstream/a", "down")}));
  EXPECT_EQ(result.result.outcome, Outcome::kSkipped);
  EXPECT_EQ(result.result.steps[0].outcome, Outcome::kSkipped);
  EXPECT_EQ(result.result.steps[1].outcome, Outcome::kSkipped);
  EXPECT_THAT(result.plan,
              ElementsAre("up demo", "curl http://a/", "fault upstream/a down", "down"));
}

TEST_F(ScenarioRunnerTest, DryRunToleratesABackendThatRefusesRequestsInPlanMode) {
  options.dryRun = true;
  backend.script = {
      std::unexpected(Error{ErrorKind::kEnvironment, "the sim backend is not up", {}})};
  backend.faultResult = environmentError("the sim backend is not up");
  auto result = run(scenario({curlStep("a", "http://a/"), faultStep("f", "upstream/a", "down"),
                              curlStep("b", "http://b/")}));
  EXPECT_EQ(result.result.outcome, Outcome::kSkipped);
  for (const auto& step : result.result.steps) EXPECT_EQ(step.outcome, Outcome::kSkipped);
  EXPECT_EQ(backend.count("curl"), 2);
}

TEST_F(ScenarioRunnerTest, VerboseReportsEveryRequest) {
  options.verbose = true;
  backend.script = {answer(503), answer(200)};
  model::Step step = curlStep("v", "-sS http://h/", status(200));
  step.from = "httpbin/sleep";
  step.eventually = eventually(10s, 1s);
  run(scenario({step}));
  int requestLines = 0;
  for (const auto& line : listener.progressLines) {
    if (line.find("x-request-id") != std::string::npos) ++requestLines;
  }
  EXPECT_EQ(requestLines, 2);
  EXPECT_EQ(backend.requests[0].from, std::optional<std::string>("httpbin/sleep"));
}

TEST_F(ScenarioRunnerTest, CaPlaceholderIsExpandedByTheBackend) {
  run(scenario({curlStep("ca", "-sS --cacert ${ca} https://h/")}));
  ASSERT_EQ(backend.requests.size(), 1u);
  EXPECT_EQ(backend.requests[0].line, "-sS --cacert /run/fake/ca.pem https://h/");
}

TEST_F(ScenarioRunnerTest, StepStartTimesFormATimeline) {
  backend.requestCost = 250ms;
  auto result = run(scenario({curlStep("a", "http://a/"), faultStep("f", "upstream/a", "down"),
                              curlStep("b", "http://b/")}));
  EXPECT_EQ(result.result.steps[0].startMs, 0);
  EXPECT_EQ(result.result.steps[0].durationMs, 250);
  EXPECT_EQ(result.result.steps[2].startMs, 250);
  EXPECT_EQ(result.result.durationMs, 500);
}

// ------------------------------------------------ docs/design.md "Nothing unmodelled passes
// silently"
class UnsimulatedTest : public ScenarioRunnerTest {
 protected:
  void SetUp() override {
    auto loaded = model::loadScenario(std::filesystem::path(EGRESSLAB_SOURCE_DIR) /
                                      "harness/runner/testdata/unsimulated-authz.yaml");
    ASSERT_TRUE(loaded) << loaded.error().str();
    authz = std::move(*loaded);
    // The simulator's answers: through the egress gateway for the proxied host, the sidecar
    // alone for the unregistered one.
    backend.onCurl = [](const backend::CurlRequest& r) -> Result<Observation> {
      const bool egress = r.line.find("unregistered") == std::string::npos;
      Observation o = answer(egress ? 200 : 502);
      o.via = egress ? std::vector<std::string>{"sleep", "httpbin-egress"}
                     : std::vector<std::string>{"sleep"};
      for (const auto& p : o.via) o.flags[p] = "-";
      return o;
    };
  }
  ScenarioRun runWith(Unsimulated policy) {
    ScenarioRunner runner(options, clock, listener, cancel, policy);
    return runner.run(authz, backend);
  }
  model::Scenario authz;
  const std::string note = "EnvoyFilter httpbin/deny-egress: not simulated";
};

TEST_F(UnsimulatedTest, CrossingAnAffectedProxyIsAnErrorNamingTheNote) {
  auto result = runWith(Unsimulated::kError);
  EXPECT_EQ(result.result.outcome, Outcome::kError);
  EXPECT_EQ(result.result.notSimulated, std::vector<std::string>{note});
  const auto& through = result.result.steps[0];
  EXPECT_EQ(through.outcome, Outcome::kError);
  EXPECT_TRUE(through.unsimulated);
  EXPECT_EQ(through.message.rfind(note, 0), 0u) << through.message;  // the note first
  EXPECT_THAT(through.message, HasSubstr("the request crossed httpbin-egress"));
  EXPECT_THAT(through.message, HasSubstr("--allow-unsimulated"));
  EXPECT_EQ(through.attempts, 1);  // no point retrying a step that cannot be trusted
  // The mesh is fine: the next step runs, and crosses only the sidecar the policy spares.
  EXPECT_EQ(result.result.steps[1].outcome, Outcome::kPassed);
  // Notes come right after the scenario starts, before any step.
  ASSERT_GE(listener.events.size(), 2u);
  EXPECT_EQ(listener.events[1], "notSimulated unsimulated-authz");
  EXPECT_EQ(listener.notSimulatedNotes, std::vector<std::string>{note});
}

TEST_F(UnsimulatedTest, AllowUnsimulatedJudgesTheStepsAndStillReportsTheNote) {
  auto result = runWith(Unsimulated::kAllow);
  EXPECT_EQ(result.result.outcome, Outcome::kPassed);
  EXPECT_EQ(result.result.notSimulated, std::vector<std::string>{note});
  EXPECT_EQ(listener.notSimulatedNotes, std::vector<std::string>{note});
}

TEST_F(UnsimulatedTest, ABackendRunningRealIstioNotesNothing) {
  auto result = runWith(Unsimulated::kNotApplicable);
  EXPECT_EQ(result.result.outcome, Outcome::kPassed);
  EXPECT_TRUE(result.result.notSimulated.empty());
}

TEST_F(ScenarioRunnerTest, ScenarioTimeoutMidStepSaysSoInsteadOfCurlsCutOffMessage) {
  backend.onCurl = [&](const backend::CurlRequest& r) -> Result<Observation> {
    // The backend honours the budget: the request runs until it and is cut off.
    clock.advance(*r.timeout);
    Observation o;
    o.exit = 28;
    o.curlError = "curl: (28) Operation timed out after 1 milliseconds with 0 bytes received";
    return o;
  };
  model::Scenario s = scenario({curlStep("slow", "-sS http://h/", status(200))});
  s.timeout = 3s;
  auto result = run(s);
  const auto& step = result.result.steps[0];
  EXPECT_EQ(step.outcome, Outcome::kFailed);
  EXPECT_THAT(step.message,
              HasSubstr("timed out: the scenario's timeout of 3s ran out during this step, 3s "
                        "into it"));
  EXPECT_THAT(step.message, HasSubstr("stopped unanswered when the time ran out"));
  EXPECT_THAT(step.message, ::testing::Not(HasSubstr("Operation timed out after")));
}

TEST_F(ScenarioRunnerTest, NoRequestIsSentWithABudgetTooSmallToAnswer) {
  backend.script = {answer(503)};
  backend.requestCost = 999ms;
  model::Step step = curlStep("bounded", "-sS http://h/", status(200));
  step.eventually = eventually(60s, 1ms);
  step.timeout = 2s;
  auto result = run(scenario({step}));
  for (const auto& r : backend.requests) EXPECT_GE(*r.timeout, 10ms);
  EXPECT_EQ(result.result.steps[0].outcome, Outcome::kFailed);
}

TEST_F(ScenarioRunnerTest, ScaledDeadlinesAreStatedInTheTimeActuallyUsed) {
  options.timeScale = 50.0;
  backend.script = {answer(503)};
  model::Step step = curlStep("scaled", "-sS http://h/", status(200));
  step.eventually = eventually(300s, 1s);
  auto result = run(scenario({step}));
  const auto& s = result.result.steps[0];
  EXPECT_EQ(s.durationMs, 6000);
  EXPECT_THAT(s.message, HasSubstr("did not hold within 6s (300s at time scale 50; "));
  EXPECT_THAT(s.message, HasSubstr("every 0.02s"));
  EXPECT_THAT(s.expected, HasSubstr("(eventually: within 300s, every 1s; at time scale 50: "
                                    "within 6s, every 0.02s)"));
}

TEST_F(ScenarioRunnerTest, RetriedStepSummarisesItsAttempts) {
  backend.script = {answer(503, {{"sleep", "UH"}}), answer(503, {{"sleep", "UH"}}), answer(200)};
  model::Step step = curlStep("converges", "-sS http://h/", status(200));
  step.eventually = eventually(10s, 1s);
  auto result = run(scenario({step}));
  const auto& s = result.result.steps[0];
  EXPECT_EQ(s.outcome, Outcome::kPassed);
  EXPECT_EQ(s.attemptSummary,
            "2 of 3 attempts did not hold (over 2s); the last of them: status: expected 200, "
            "observed 503");
  EXPECT_EQ(s.expectedJson, nlohmann::json::parse(R"({"status":200})"));
  EXPECT_EQ(s.curl, "-sS http://h/");
}

TEST(ScenarioRunnerMockTest, DownIsCalledExactlyOnceAfterUp) {
  ::testing::NiceMock<testing::MockBackend> backend;
  ::testing::InSequence order;
  EXPECT_CALL(backend, up).WillOnce(::testing::Return(Result<void>{}));
  EXPECT_CALL(backend, down).Times(1);
  FakeClock clock;
  RecordingListener listener;
  CancelFlag cancel{false};
  ScenarioRunner runner({}, clock, listener, cancel);
  model::Scenario s;
  s.name = "empty";
  auto result = runner.run(s, backend);
  EXPECT_EQ(result.result.outcome, Outcome::kPassed);
}

TEST(DescribeFaultTest, NamesTargetActionAndParameters) {
  model::FaultSpec latency;
  latency.target = "upstream/a.example:443";
  latency.action = "latency";
  latency.ms = 300;
  EXPECT_EQ(describeFault(latency), "upstream/a.example:443 latency 300ms");
  model::FaultSpec abort;
  abort.target = "upstream/a";
  abort.action = "status";
  abort.code = 503;
  abort.percent = 50;
  EXPECT_EQ(describeFault(abort), "upstream/a status 503 (50%)");
  model::FaultSpec kill;
  kill.targetKind = model::FaultSpec::TargetKind::kGateway;
  kill.target = "gateway/httpbin/httpbin-egress";
  kill.action = "kill";
  EXPECT_EQ(describeFault(kill), "gateway/httpbin/httpbin-egress kill");
}

}  // namespace
}  // namespace egresslab::runner
