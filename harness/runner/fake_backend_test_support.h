// Test doubles for the runner's unit tests: a scriptable in-memory Backend (no mesh, no
// sockets) that records every call, and a listener that records what it is told.
#pragma once

#include <gmock/gmock.h>

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "harness/backend/backend.h"
#include "harness/runner/clock.h"
#include "harness/runner/run_listener.h"

namespace egresslab::runner::testing {

// Records calls in order ("up NAME", "curl LINE", "fault TARGET ACTION", "down") and answers
// curl from a script: each call pops the next answer, the last one repeats. `requestCost`
// advances the FakeClock per request, to model slow requests.
class FakeBackend : public backend::Backend {
 public:
  using CurlHandler = std::function<Result<report::Observation>(const backend::CurlRequest&)>;

  explicit FakeBackend(FakeClock* clock = nullptr) : clock_(clock) {}

  std::string_view name() const override { return "fake"; }
  Result<void> up(const model::Scenario& scenario, const backend::RunOptions& options) override {
    record("up " + scenario.name);
    options_ = options;
    return upResult;
  }
  std::string expandCurlLine(const std::string& line) const override {
    std::string out = line;
    for (auto at = out.find("${ca}"); at != std::string::npos; at = out.find("${ca}", at)) {
      out.replace(at, 5, "/run/fake/ca.pem");
    }
    return out;
  }
  Result<report::Observation> curl(const backend::CurlRequest& request) override {
    record("curl " + request.line);
    {
      std::lock_guard lock(mu_);
      requests.push_back(request);
    }
    if (clock_ != nullptr && requestCost.count() > 0) clock_->advance(requestCost);
    if (onCurl) return onCurl(request);
    std::lock_guard lock(mu_);
    if (script.empty()) {
      report::Observation ok;
      ok.exit = 0;
      ok.status = 200;
      return ok;
    }
    auto answer = script.front();
    if (script.size() > 1) script.pop_front();
    return answer;
  }
  Result<void> fault(const model::FaultSpec& spec) override {
    record("fault " + spec.target + " " + spec.action);
    return faultResult;
  }
  Result<void> startLoad(const backend::LoadRequest& request) override {
    record("load start " + request.name + " " + request.request.line);
    std::lock_guard lock(mu_);
    loadRequests.push_back(request);
    return startLoadResult;
  }
  // Answers with loadRuns[name] (an empty run when none is scripted).
  Result<backend::LoadRun> stopLoad(const std::string& name) override {
    record("load stop " + name);
    if (clock_ != nullptr && loadStopCost.count() > 0) clock_->advance(loadStopCost);
    std::lock_guard lock(mu_);
    if (auto it = loadRuns.find(name); it != loadRuns.end()) return it->second;
    return backend::LoadRun{};
  }
  std::vector<std::string> endpoints() const override { return {"https://127.0.0.1:15443"}; }
  std::vector<std::string> plan() const override {
    std::lock_guard lock(mu_);
    return calls;
  }
  void down() override { record("down"); }
  std::vector<std::string> diagnostics() const override { return diagnosticLines; }

  std::vector<std::string> callLog() const {
    std::lock_guard lock(mu_);
    return calls;
  }
  int count(const std::string& prefix) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& c : calls) n += c.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }

  Result<void> upResult{};

  std::vector<std::string> diagnosticLines;
  Result<void> faultResult{};
  std::deque<Result<report::Observation>> script;
  CurlHandler onCurl;
  std::chrono::milliseconds requestCost{0};
  std::vector<backend::CurlRequest> requests;
  Result<void> startLoadResult{};
  std::map<std::string, Result<backend::LoadRun>> loadRuns;
  std::vector<backend::LoadRequest> loadRequests;
  std::chrono::milliseconds loadStopCost{0};
  backend::RunOptions options_;

 private:
  void record(std::string call) {
    std::lock_guard lock(mu_);
    calls.push_back(std::move(call));
  }
  FakeClock* clock_;
  mutable std::mutex mu_;
  std::vector<std::string> calls;
};

class RecordingListener : public RunListener {
 public:
  void scenarioStarted(const model::Scenario& scenario) override {
    std::lock_guard lock(mu_);
    events.push_back("started " + scenario.name);
  }
  void stepFinished(const std::string& scenario, const report::StepResult& step) override {
    std::lock_guard lock(mu_);
    events.push_back("step " + scenario + "/" + step.name);
  }
  void progress(const std::string& scenario, const std::string& text) override {
    std::lock_guard lock(mu_);
    progressLines.push_back(scenario + ": " + text);
  }
  void notSimulated(const std::string& scenario, const std::vector<std::string>& notes) override {
    std::lock_guard lock(mu_);
    events.push_back("notSimulated " + scenario);
    notSimulatedNotes = notes;
  }
  void stepProgress(const std::string& scenario, const std::string& text) override {
    std::lock_guard lock(mu_);
    stepProgressLines.push_back(scenario + ": " + text);
  }
  void scenarioFinished(const report::ScenarioResult& result) override {
    std::lock_guard lock(mu_);
    events.push_back("finished " + result.name);
  }
  void meshKept(const std::string& scenario, const std::vector<std::string>& endpoints) override {
    std::lock_guard lock(mu_);
    kept.push_back(scenario);
    keptEndpoints = endpoints;
    if (onKept) onKept();
  }

  std::mutex mu_;
  std::vector<std::string> events;
  std::vector<std::string> progressLines;
  std::vector<std::string> stepProgressLines;
  std::vector<std::string> notSimulatedNotes;
  std::vector<std::string> kept;
  std::vector<std::string> keptEndpoints;
  std::function<void()> onKept;
};

// gMock double for call-expectation tests (ordering, argument matching).
class MockBackend : public backend::Backend {
 public:
  MOCK_METHOD(std::string_view, name, (), (const, override));
  MOCK_METHOD(Result<void>, up, (const model::Scenario&, const backend::RunOptions&), (override));
  MOCK_METHOD(std::string, expandCurlLine, (const std::string&), (const, override));
  MOCK_METHOD(Result<report::Observation>, curl, (const backend::CurlRequest&), (override));
  MOCK_METHOD(Result<void>, fault, (const model::FaultSpec&), (override));
  MOCK_METHOD(std::vector<std::string>, endpoints, (), (const, override));
  MOCK_METHOD(void, down, (), (override));
};

}  // namespace egresslab::runner::testing
