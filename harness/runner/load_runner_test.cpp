// Load and SLO steps in the runner, with the scripted fake backend (docs/scenarios.md "Load and
// SLOs"): start/stop order, other steps in between, windows and percentiles, every expectation
// key judged, a load never stopped, wait scaled by --time-scale. No real time anywhere.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/model/loader.h"
#include "harness/runner/fake_backend_test_support.h"
#include "harness/runner/load_stats.h"
#include "harness/runner/scenario_runner.h"

namespace egresslab::runner {
namespace {

using namespace std::chrono_literals;
using report::Outcome;
using ::testing::ElementsAre;
using testing::FakeBackend;
using ::testing::HasSubstr;
using testing::RecordingListener;

model::Condition cond(const std::string& text, model::Condition::Unit unit) {
  auto c = model::parseCondition(text, unit, "test");
  EXPECT_TRUE(c) << c.error().str();
  return *c;
}

model::Step loadStart(std::string name, std::string load, double rate) {
  model::Step step;
  step.name = std::move(name);
  model::LoadSpec spec;
  spec.name = std::move(load);
  spec.curl = "-sS http://crm.example/hostname";
  spec.from = "crm/client";
  spec.rate = rate;
  spec.concurrency = 16;
  step.load = spec;
  return step;
}

model::Step loadStop(std::string name, std::string load,
                     std::optional<model::LoadExpectation> expect = std::nullopt) {
  model::Step step;
  step.name = std::move(name);
  model::LoadSpec spec;
  spec.action = model::LoadSpec::Action::kStop;
  spec.name = std::move(load);
  step.load = spec;
  step.loadExpect = std::move(expect);
  return step;
}

model::Step waitStep(std::string name, std::chrono::milliseconds d) {
  model::Step step;
  step.name = std::move(name);
  step.wait = d;
  return step;
}

model::Step faultStep(std::string name) {
  model::Step step;
  step.name = std::move(name);
  model::FaultSpec fault;
  fault.target = "upstream/crm-a";
  fault.action = "down";
  step.fault = fault;
  return step;
}

backend::LoadSample sample(std::int64_t startUs, std::int64_t latencyUs, int status,
                           std::string servedBy, int exit = 0) {
  backend::LoadSample s;
  s.startUs = startUs;
  s.latencyUs = latencyUs;
  s.status = status;
  s.exit = exit;
  s.servedBy = std::move(servedBy);
  return s;
}

// 2.5 s of load: second 0 all crm-a 200s (1 ms), second 1 crm-a 503s then crm-b (5 ms), second
// 2 crm-b only, one request dropped at the cap and one connection refused.
backend::LoadRun scriptedRun() {
  backend::LoadRun run;
  run.durationUs = 2500000;
  for (int i = 0; i < 10; ++i) run.samples.push_back(sample(i * 100000, 1000, 200, "crm-a"));
  for (int i = 0; i < 4; ++i) {
    run.samples.push_back(sample(1000000 + i * 100000, 2000, 503, "crm-a"));
  }
  for (int i = 4; i < 10; ++i) {
    run.samples.push_back(sample(1000000 + i * 100000, 5000, 200, "crm-b"));
  }
  for (int i = 0; i < 3; ++i)
    run.samples.push_back(sample(2000000 + i * 100000, 5000, 200, "crm-b"));
  backend::LoadSample dropped;
  dropped.startUs = 2300000;
  dropped.dropped = true;
  run.samples.push_back(dropped);
  run.samples.push_back(sample(2400000, 300, 0, "", 7));
  return run;
}

class LoadRunnerTest : public ::testing::Test {
 protected:
  model::Scenario scenario(std::vector<model::Step> steps) {
    model::Scenario s;
    s.name = "demo";
    s.file = "/scenarios/demo.yaml";
    model::WorkloadSpec client;
    client.name = "client";
    client.ns = "crm";
    s.workloads.push_back(client);
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

TEST_F(LoadRunnerTest, OtherStepsRunWhileTheLoadRuns) {
  backend.loadRuns["bg"] = scriptedRun();
  auto r = run(scenario({loadStart("traffic", "bg", 50), faultStep("crm-a down"),
                         waitStep("hold", 10s), loadStop("judged", "bg")}));
  EXPECT_THAT(backend.callLog(),
              ElementsAre("up demo", "load start bg -sS http://crm.example/hostname",
                          "fault upstream/crm-a down", "load stop bg", "down"));
  EXPECT_EQ(r.result.outcome, Outcome::kPassed);
  ASSERT_EQ(r.result.steps.size(), 4u);
  EXPECT_TRUE(r.result.hasFaults);
  const report::StepResult& start = r.result.steps[0];
  EXPECT_EQ(start.kind, "load");
  EXPECT_EQ(start.request,
            "load bg: -sS http://crm.example/hostname (from crm/client) at 50/s, concurrency 16");
  ASSERT_EQ(backend.loadRequests.size(), 1u);
  const backend::LoadRequest& sent = backend.loadRequests[0];
  EXPECT_DOUBLE_EQ(sent.rate, 50);
  EXPECT_EQ(sent.concurrency, 16);
  EXPECT_EQ(sent.request.from, "crm/client");
  EXPECT_THAT(sent.request.requestId, HasSubstr("-bg"));
  EXPECT_EQ(r.result.steps[2].kind, "wait");
  EXPECT_EQ(r.result.steps[2].durationMs, 10000);  // the fake clock jumped exactly 10 s
  EXPECT_EQ(r.result.steps[3].startMs, 10000);
}

TEST_F(LoadRunnerTest, StopSummarizesTotalsPercentilesAndPerSecondWindows) {
  backend.loadRuns["bg"] = scriptedRun();
  clock.advance(0ms);
  auto r = run(
      scenario({waitStep("first", 2s), loadStart("traffic", "bg", 10), loadStop("judged", "bg")}));
  ASSERT_EQ(r.result.steps.size(), 3u);
  ASSERT_TRUE(r.result.steps[2].load);
  const report::LoadResult& load = *r.result.steps[2].load;
  EXPECT_EQ(load.name, "bg");
  EXPECT_EQ(load.startMs, 2000);  // placed on the scenario's time line
  EXPECT_EQ(load.durationMs, 2500);
  EXPECT_EQ(load.requests, 25);
  EXPECT_EQ(load.successes, 19);
  EXPECT_EQ(load.errors, 6);
  EXPECT_EQ(load.dropped, 1);
  EXPECT_EQ(load.statuses, (std::map<int, int>{{200, 19}, {503, 4}}));
  EXPECT_EQ(load.exits, (std::map<int, int>{{7, 1}}));
  EXPECT_EQ(load.servedBy, (std::map<std::string, int>{{"crm-a", 14}, {"crm-b", 9}}));
  // 24 sent: 1 × 0.3 ms, 10 × 1 ms, 4 × 2 ms, 9 × 5 ms (nearest rank).
  EXPECT_DOUBLE_EQ(*load.p50Ms, 2.0);  // rank 12
  EXPECT_DOUBLE_EQ(*load.p90Ms, 5.0);  // rank 22
  EXPECT_DOUBLE_EQ(*load.p99Ms, 5.0);
  ASSERT_EQ(load.windows.size(), 3u);
  EXPECT_EQ(load.windows[0].startMs, 2000);
  EXPECT_EQ(load.windows[0].count, 10);
  EXPECT_EQ(load.windows[0].success, 10);
  EXPECT_DOUBLE_EQ(*load.windows[0].p99Ms, 1.0);
  EXPECT_EQ(load.windows[0].servedBy, (std::map<std::string, int>{{"crm-a", 10}}));
  EXPECT_EQ(load.windows[1].startMs, 3000);
  EXPECT_EQ(load.windows[1].success, 6);
  EXPECT_EQ(load.windows[1].servedBy, (std::map<std::string, int>{{"crm-a", 4}, {"crm-b", 6}}));
  EXPECT_EQ(load.windows[2].count, 5);
  EXPECT_EQ(load.windows[2].success, 3);
  EXPECT_DOUBLE_EQ(*load.windows[2].p50Ms, 5.0);  // the dropped request has no latency
}

TEST_F(LoadRunnerTest, EveryExpectationKeyIsJudged) {
  backend.loadRuns["bg"] = scriptedRun();
  model::LoadExpectation holds;
  holds.successRate = cond(">= 76%", model::Condition::Unit::kPercent);
  holds.p50 = cond("<= 2ms", model::Condition::Unit::kDuration);
  holds.p90 = cond("< 10ms", model::Condition::Unit::kDuration);
  holds.p99 = cond("< 500ms", model::Condition::Unit::kDuration);
  holds.errors = cond("<= 6", model::Condition::Unit::kCount);
  holds.statuses[503] = cond("== 4", model::Condition::Unit::kCount);
  holds.statuses[504] = cond("== 0", model::Condition::Unit::kCount);
  holds.servedBy["crm-b"] = cond(">= 36%", model::Condition::Unit::kPercent);
  auto r = run(scenario({loadStart("traffic", "bg", 10), loadStop("judged", "bg", holds)}));
  const report::StepResult& stop = r.result.steps[1];
  EXPECT_EQ(stop.outcome, Outcome::kPassed) << stop.message;
  EXPECT_EQ(stop.expected,
            "successRate >= 76%, p50 <= 2ms, p90 < 10ms, p99 < 500ms, errors <= 6, statuses "
            "{503: == 4, 504: == 0}, servedBy {crm-b: >= 36%}");
  EXPECT_EQ(stop.expectedJson.dump(),
            R"({"errors":"<= 6","p50":"<= 2ms","p90":"< 10ms","p99":"< 500ms",)"
            R"("servedBy":{"crm-b":">= 36%"},"statuses":{"503":"== 4","504":"== 0"},)"
            R"("successRate":">= 76%"})");
  ASSERT_EQ(stop.load->checks.size(), 8u);
  EXPECT_EQ(stop.load->checks[0].key, "successRate");
  EXPECT_EQ(stop.load->checks[0].observed, "76% (19 of 25 requests)");
  for (const auto& c : stop.load->checks) EXPECT_TRUE(c.held) << c.key;
}

TEST_F(LoadRunnerTest, AConditionThatDoesNotHoldFailsTheStopStepWithWhatWasObserved) {
  backend.loadRuns["bg"] = scriptedRun();
  model::LoadExpectation slo;
  slo.successRate = cond(">= 99%", model::Condition::Unit::kPercent);
  slo.p99 = cond("< 2ms", model::Condition::Unit::kDuration);
  slo.errors = cond("== 0", model::Condition::Unit::kCount);
  slo.servedBy["crm-b"] = cond(">= 90%", model::Condition::Unit::kPercent);
  auto r = run(scenario(
      {loadStart("traffic", "bg", 10), loadStop("judged", "bg", slo), faultStep("after")}));
  EXPECT_EQ(r.result.outcome, Outcome::kFailed);
  const report::StepResult& stop = r.result.steps[1];
  EXPECT_EQ(stop.outcome, Outcome::kFailed);
  EXPECT_EQ(stop.message,
            "successRate >= 99%: observed 76% (19 of 25 requests)\n"
            "p99 < 2ms: observed 5ms\n"
            "errors == 0: observed 6 (1 dropped at the concurrency cap)\n"
            "servedBy.crm-b >= 90%: observed 36% (9 of 25 requests)");
  EXPECT_EQ(r.result.steps[2].outcome, Outcome::kPassed);  // later steps still run
}

TEST_F(LoadRunnerTest, ALoadNeverStoppedIsStoppedBeforeTeardownAndReported) {
  backend.loadRuns["bg"] = scriptedRun();
  auto r = run(scenario({loadStart("traffic", "bg", 10), faultStep("f")}));
  EXPECT_THAT(backend.callLog(),
              ElementsAre("up demo", "load start bg -sS http://crm.example/hostname",
                          "fault upstream/crm-a down", "load stop bg", "down"));
  ASSERT_EQ(r.result.steps.size(), 3u);
  const report::StepResult& end = r.result.steps[2];
  EXPECT_EQ(end.name, "load bg (stopped at scenario end)");
  EXPECT_EQ(end.outcome, Outcome::kPassed);
  ASSERT_TRUE(end.load);
  EXPECT_TRUE(end.load->stoppedAtEnd);
  EXPECT_EQ(end.load->requests, 25);
  EXPECT_THAT(listener.events,
              ElementsAre("started demo", "step demo/traffic", "step demo/f",
                          "step demo/load bg (stopped at scenario end)", "finished demo"));
}

TEST_F(LoadRunnerTest, ALoadIsStoppedWhenAStepErrorsAndTheRestAreSkipped) {
  backend.loadRuns["bg"] = scriptedRun();
  backend.faultResult = environmentError("mock gone");
  auto r =
      run(scenario({loadStart("traffic", "bg", 10), faultStep("f"), loadStop("judged", "bg")}));
  EXPECT_THAT(backend.callLog(),
              ElementsAre("up demo", "load start bg -sS http://crm.example/hostname",
                          "fault upstream/crm-a down", "load stop bg", "down"));
  EXPECT_EQ(r.result.outcome, Outcome::kError);
  ASSERT_EQ(r.result.steps.size(), 4u);
  EXPECT_EQ(r.result.steps[2].name, "judged");
  EXPECT_EQ(r.result.steps[2].outcome, Outcome::kSkipped);
  EXPECT_EQ(r.result.steps[3].name, "load bg (stopped at scenario end)");
}

TEST_F(LoadRunnerTest, BackendErrorsAreStepErrors) {
  backend.startLoadResult = environmentError("no such pod");
  auto r = run(scenario({loadStart("traffic", "bg", 10), loadStop("judged", "bg")}));
  EXPECT_EQ(r.result.steps[0].outcome, Outcome::kError);
  EXPECT_THAT(r.result.steps[0].message,
              HasSubstr("the backend could not start the load: no such pod"));
  EXPECT_EQ(r.result.steps[1].outcome, Outcome::kSkipped);
  EXPECT_EQ(backend.count("load stop"), 0);

  FakeBackend other{&clock};
  other.loadRuns["bg"] = environmentError("lost the pod");
  ScenarioRunner runner(options, clock, listener, cancel);
  auto r2 = runner.run(scenario({loadStart("traffic", "bg", 10), loadStop("judged", "bg")}), other);
  EXPECT_EQ(r2.result.steps[1].outcome, Outcome::kError);
  EXPECT_THAT(r2.result.steps[1].message,
              HasSubstr("the backend could not stop the load: lost the pod"));
}

TEST_F(LoadRunnerTest, WaitIsScaledByTheTimeScale) {
  options.timeScale = 50;
  auto r = run(scenario({waitStep("hold", 10s), faultStep("f")}));
  EXPECT_EQ(r.result.steps[0].durationMs, 200);
  EXPECT_EQ(r.result.steps[0].request, "wait 10s");
  EXPECT_EQ(r.result.steps[0].expected, "0.2s at time scale 50");
  EXPECT_EQ(r.result.steps[1].startMs, 200);
}

TEST_F(LoadRunnerTest, DryRunPlansStartAndStop) {
  options.dryRun = true;
  auto r = run(
      scenario({loadStart("traffic", "bg", 10), waitStep("hold", 10s), loadStop("judged", "bg")}));
  EXPECT_THAT(backend.callLog(),
              ElementsAre("up demo", "load start bg -sS http://crm.example/hostname",
                          "load stop bg", "down"));
  for (const auto& s : r.result.steps) EXPECT_EQ(s.outcome, Outcome::kSkipped) << s.name;
  EXPECT_EQ(r.result.steps[1].durationMs, 0);  // no waiting in a plan
}

// docs/design.md "Nothing unmodelled passes silently": a load whose request crosses a proxy that
// unmodelled config changes is an error naming the note, and is never started.
TEST_F(LoadRunnerTest, ALoadThroughAProxyAnUnmodelledResourceChangesIsAnError) {
  auto loaded = model::loadScenario(std::filesystem::path(EGRESSLAB_SOURCE_DIR) /
                                    "harness/runner/testdata/unsimulated-authz.yaml");
  ASSERT_TRUE(loaded) << loaded.error().str();
  model::Scenario authz = std::move(*loaded);
  model::Step start = loadStart("traffic", "bg", 10);
  start.load->from = "httpbin/sleep";
  authz.steps = {start, loadStop("judged", "bg")};
  backend.onCurl = [](const backend::CurlRequest&) -> Result<report::Observation> {
    report::Observation o;
    o.exit = 0;
    o.status = 200;
    o.via = {"sleep", "httpbin-egress"};
    return o;
  };
  ScenarioRunner runner(options, clock, listener, cancel, Unsimulated::kError);
  auto r = runner.run(authz, backend);
  ASSERT_EQ(r.result.steps.size(), 2u);
  EXPECT_EQ(r.result.steps[0].outcome, Outcome::kError);
  EXPECT_TRUE(r.result.steps[0].unsimulated);
  EXPECT_THAT(r.result.steps[0].message,
              HasSubstr("EnvoyFilter httpbin/deny-egress: not simulated"));
  EXPECT_THAT(r.result.steps[0].message, HasSubstr("the request crossed httpbin-egress"));
  EXPECT_EQ(backend.count("load start"), 0);
  EXPECT_EQ(r.result.steps[1].outcome, Outcome::kError);  // its load never started

  FakeBackend allowed{&clock};
  allowed.onCurl = backend.onCurl;
  ScenarioRunner lenient(options, clock, listener, cancel, Unsimulated::kAllow);
  auto r2 = lenient.run(authz, allowed);
  EXPECT_EQ(r2.result.steps[0].outcome, Outcome::kPassed);
  EXPECT_EQ(allowed.count("load start"), 1);
}

TEST(LoadStats, NearestRankPercentile) {
  std::vector<double> none;
  EXPECT_FALSE(percentile(none, 50));
  std::vector<double> v{5, 1, 4, 2, 3, 6, 7, 8, 9, 10};
  EXPECT_DOUBLE_EQ(*percentile(v, 50), 5);
  EXPECT_DOUBLE_EQ(*percentile(v, 90), 9);
  EXPECT_DOUBLE_EQ(*percentile(v, 99), 10);
  std::vector<double> one{3};
  EXPECT_DOUBLE_EQ(*percentile(one, 1), 3);
}

TEST(LoadStats, AnEmptyLoadFailsLatencyConditionsAndHasNoWindows) {
  report::LoadResult load = summarizeLoad(backend::LoadRun{}, 0);
  EXPECT_EQ(load.requests, 0);
  EXPECT_TRUE(load.windows.empty());
  model::LoadExpectation e;
  e.p99 = cond("< 1s", model::Condition::Unit::kDuration);
  e.successRate = cond(">= 0%", model::Condition::Unit::kPercent);
  const auto failures = judgeLoad(e, load);
  EXPECT_THAT(failures, ElementsAre("p99 < 1s: no request was sent"));
}

}  // namespace
}  // namespace egresslab::runner
