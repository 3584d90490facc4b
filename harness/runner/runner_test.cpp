#include "harness/runner/runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <nlohmann/json.hpp>

#include "harness/report/report.h"
#include "harness/runner/fake_backend_test_support.h"

namespace egresslab::runner {
namespace {

using namespace std::chrono_literals;
using report::Outcome;
using ::testing::ElementsAre;
using testing::FakeBackend;
using ::testing::HasSubstr;
using testing::RecordingListener;

model::Scenario scenario(const std::string& name, int expectStatus = 200) {
  model::Scenario s;
  s.name = name;
  s.file = "/scenarios/" + name + ".yaml";
  model::Step step;
  step.name = "request";
  step.curl = "-sS http://" + name + ".example/status/200";
  model::Expectation expect;
  expect.status = {expectStatus};
  step.expect = expect;
  s.steps.push_back(step);
  return s;
}

// Hands out FakeBackends and keeps them for inspection after the run.
struct BackendPool {
  std::mutex mu;
  std::vector<FakeBackend*> made;
  FakeClock* clock = nullptr;

  BackendFactory factory() {
    return [this]() -> Result<std::unique_ptr<backend::Backend>> {
      auto backend = std::make_unique<FakeBackend>(clock);
      std::lock_guard lock(mu);
      made.push_back(backend.get());
      return backend;
    };
  }
};

class RunnerTest : public ::testing::Test {
 protected:
  RunResult run(const std::vector<model::Scenario>& scenarios, BackendFactory factory) {
    Runner runner(std::move(factory), options, clock, listener, cancel);
    return runner.run(scenarios);
  }
  FakeClock clock;
  RecordingListener listener;
  CancelFlag cancel{false};
  RunnerOptions options = [] {
    RunnerOptions o;
    o.backendName = "fake";
    o.toolVersion = "0.1.0";
    return o;
  }();
};

TEST_F(RunnerTest, EachScenarioGetsItsOwnBackendInstance) {
  // Keep the backends alive past the run so they can be inspected: the factory hands out
  // wrappers around backends this test owns.
  std::vector<std::unique_ptr<FakeBackend>> owned;
  std::mutex mu;
  std::map<std::string, FakeBackend*> byScenario;
  BackendFactory factory = [&]() -> Result<std::unique_ptr<backend::Backend>> {
    std::lock_guard lock(mu);
    owned.push_back(std::make_unique<FakeBackend>());
    struct Forwarding : backend::Backend {
      explicit Forwarding(FakeBackend& target) : b(target) {}
      std::string_view name() const override { return b.name(); }
      Result<void> up(const model::Scenario& s, const backend::RunOptions& o) override {
        return b.up(s, o);
      }
      std::string expandCurlLine(const std::string& l) const override {
        return b.expandCurlLine(l);
      }
      Result<report::Observation> curl(const backend::CurlRequest& r) override { return b.curl(r); }
      Result<void> fault(const model::FaultSpec& f) override { return b.fault(f); }
      std::vector<std::string> endpoints() const override { return b.endpoints(); }
      void down() override { b.down(); }
      FakeBackend& b;
    };
    return std::make_unique<Forwarding>(*owned.back());
  };
  options.parallel = 3;
  auto result = run({scenario("a"), scenario("b"), scenario("c"), scenario("d")}, factory);

  ASSERT_EQ(owned.size(), 4u);
  std::set<std::string> ups;
  for (const auto& backend : owned) {
    const auto log = backend->callLog();
    ASSERT_EQ(log.size(), 3u);  // up, curl, down — one scenario per backend
    EXPECT_EQ(log.back(), "down");
    ups.insert(log.front());
  }
  EXPECT_EQ(ups, (std::set<std::string>{"up a", "up b", "up c", "up d"}));
  // Results keep the order the scenarios were given in, whatever order they finished in.
  ASSERT_EQ(result.report.scenarios.size(), 4u);
  EXPECT_EQ(result.report.scenarios[0].name, "a");
  EXPECT_EQ(result.report.scenarios[3].name, "d");
  EXPECT_EQ(exitCodeFor(result), 0);
}

TEST_F(RunnerTest, ParallelScenariosRunAtTheSameTime) {
  // Both scenarios' up() must be in progress together: each waits (with a deadline) for the
  // other to arrive. Run sequentially, the first would time out and fail the test.
  std::mutex mu;
  std::condition_variable cv;
  int inside = 0;
  bool overlapped = false;
  struct Rendezvous : FakeBackend {
    std::mutex* mu;
    std::condition_variable* cv;
    int* inside;
    bool* overlapped;
    Result<void> up(const model::Scenario& s, const backend::RunOptions& o) override {
      std::unique_lock lock(*mu);
      ++*inside;
      cv->notify_all();
      if (cv->wait_for(lock, 10s, [&] { return *inside >= 2; })) *overlapped = true;
      lock.unlock();
      return FakeBackend::up(s, o);
    }
  };
  BackendFactory factory = [&]() -> Result<std::unique_ptr<backend::Backend>> {
    auto b = std::make_unique<Rendezvous>();
    b->mu = &mu;
    b->cv = &cv;
    b->inside = &inside;
    b->overlapped = &overlapped;
    return b;
  };
  options.parallel = 2;
  auto result = run({scenario("a"), scenario("b")}, factory);
  EXPECT_TRUE(overlapped);
  EXPECT_EQ(exitCodeFor(result), 0);
}

TEST_F(RunnerTest, SequentialByDefault) {
  BackendPool pool;
  auto result = run({scenario("a"), scenario("b")}, pool.factory());
  EXPECT_THAT(listener.events, ElementsAre("started a", "step a/request", "finished a", "started b",
                                           "step b/request", "finished b"));
}

TEST_F(RunnerTest, ExitCodeIsOneWhenAScenarioFails) {
  BackendPool pool;
  auto result = run({scenario("good"), scenario("bad", 404)}, pool.factory());
  EXPECT_EQ(result.report.scenarios[0].outcome, Outcome::kPassed);
  EXPECT_EQ(result.report.scenarios[1].outcome, Outcome::kFailed);
  EXPECT_EQ(exitCodeFor(result), 1);
  const auto summary = result.report.summary();
  EXPECT_EQ(summary.passed, 1);
  EXPECT_EQ(summary.failed, 1);
}

TEST_F(RunnerTest, ExitCodeIsThreeWhenTheBackendIsNotAvailable) {
  BackendFactory missing = []() -> Result<std::unique_ptr<backend::Backend>> {
    return backendUnavailable("backend sim is not available in this build");
  };
  auto result = run({scenario("a")}, missing);
  EXPECT_EQ(result.report.scenarios[0].outcome, Outcome::kError);
  EXPECT_THAT(result.report.scenarios[0].message, HasSubstr("not available in this build"));
  EXPECT_EQ(exitCodeFor(result), 3);
}

TEST_F(RunnerTest, ExitCodeIsThreeWhenUpSaysTheBackendCannotStart) {
  BackendFactory factory = []() -> Result<std::unique_ptr<backend::Backend>> {
    auto b = std::make_unique<FakeBackend>();
    b->upResult = backendUnavailable("docker is not running");
    return b;
  };
  EXPECT_EQ(exitCodeFor(run({scenario("a")}, factory)), 3);
}

TEST_F(RunnerTest, ExitCodeTable) {
  RunResult r;
  EXPECT_EQ(exitCodeFor(r), 0);
  const auto withOutcome = [](Outcome o) {
    report::ScenarioResult s;
    s.outcome = o;
    return s;
  };
  r.report.scenarios.push_back(withOutcome(Outcome::kPassed));
  r.report.scenarios.push_back(withOutcome(Outcome::kSkipped));
  EXPECT_EQ(exitCodeFor(r), 0);
  r.report.scenarios.push_back(withOutcome(Outcome::kError));
  EXPECT_EQ(exitCodeFor(r), 1);
  r.backendUnavailable = true;
  EXPECT_EQ(exitCodeFor(r), 3);
}

TEST_F(RunnerTest, CancelledRunSkipsScenariosNotStarted) {
  BackendPool pool;
  cancel = true;
  auto result = run({scenario("a")}, pool.factory());
  EXPECT_EQ(result.report.scenarios[0].outcome, Outcome::kSkipped);
  EXPECT_TRUE(pool.made.empty());
}

TEST_F(RunnerTest, DryRunCollectsEachScenariosPlan) {
  BackendPool pool;
  options.backend.dryRun = true;
  auto result = run({scenario("a"), scenario("b")}, pool.factory());
  EXPECT_THAT(result.plan, ElementsAre("up a", "curl -sS http://a.example/status/200", "down",
                                       "up b", "curl -sS http://b.example/status/200", "down"));
  EXPECT_EQ(exitCodeFor(result), 0);
}

TEST_F(RunnerTest, ResultsRenderAsTheDesignJsonReport) {
  BackendPool pool;
  auto result = run({scenario("seed"), scenario("broken", 404)}, pool.factory());
  const auto doc = nlohmann::json::parse(report::toJson(result.report));
  EXPECT_EQ(doc["tool"], "egresslab");
  EXPECT_EQ(doc["version"], "0.1.0");
  EXPECT_EQ(doc["backend"], "fake");
  ASSERT_EQ(doc["scenarios"].size(), 2u);
  const auto& seed = doc["scenarios"][0];
  EXPECT_EQ(seed["name"], "seed");
  EXPECT_EQ(seed["file"], "/scenarios/seed.yaml");
  EXPECT_EQ(seed["result"], "passed");
  EXPECT_TRUE(seed["durationMs"].is_number_integer());
  EXPECT_TRUE(seed.contains("istioVersion"));
  const auto& step = seed["steps"][0];
  EXPECT_EQ(step["name"], "request");
  EXPECT_EQ(step["result"], "passed");
  EXPECT_EQ(step["attempts"], 1);
  EXPECT_EQ(step["observed"]["status"], 200);
  EXPECT_EQ(step["observed"]["exit"], 0);
  EXPECT_EQ(step["message"], "");
  const auto& broken = doc["scenarios"][1];
  EXPECT_EQ(broken["result"], "failed");
  EXPECT_THAT(broken["steps"][0]["message"].get<std::string>(),
              HasSubstr("status: expected 404, observed 200"));
  EXPECT_EQ(doc["summary"],
            nlohmann::json::parse(R"({"passed":1,"failed":1,"error":0,"skipped":0})"));
}

}  // namespace
}  // namespace egresslab::runner
