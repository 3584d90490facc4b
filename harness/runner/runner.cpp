#include "harness/runner/runner.h"

#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "harness/runner/scenario_runner.h"

namespace egresslab::runner {

struct Runner::Slot {
  ScenarioRun run;
};

int exitCodeFor(const RunResult& result) {
  if (result.backendUnavailable) return 3;
  for (const auto& scenario : result.report.scenarios) {
    if (scenario.outcome == report::Outcome::kFailed ||
        scenario.outcome == report::Outcome::kError) {
      return 1;
    }
  }
  return 0;
}

void Runner::runOne(const model::Scenario& scenario, Slot& slot) {
  report::ScenarioResult& r = slot.run.result;
  r.description = scenario.description;
  r.labels = scenario.labels;
  if (cancel_.load()) {
    r.name = scenario.name;
    r.file = scenario.file.string();
    r.istioVersion = scenario.istioVersion.str();
    r.backend = options_.backendName;
    r.outcome = report::Outcome::kSkipped;
    r.message = "cancelled before it started";
    return;
  }
  auto backend = factory_();
  if (!backend) {
    r.name = scenario.name;
    r.file = scenario.file.string();
    r.istioVersion = scenario.istioVersion.str();
    r.backend = options_.backendName;
    r.outcome = report::Outcome::kError;
    r.message = backend.error().str();
    slot.run.backendUnavailable = backend.error().kind == ErrorKind::kBackendUnavailable;
    listener_.scenarioFinished(r);
    return;
  }
  ScenarioRunner runner(options_.backend, clock_, listener_, cancel_, options_.unsimulated);
  slot.run = runner.run(scenario, **backend);
}

RunResult Runner::run(const std::vector<model::Scenario>& scenarios) {
  std::vector<Slot> slots(scenarios.size());
  const auto workers = std::min<std::size_t>(
      static_cast<std::size_t>(std::max(1, options_.parallel)), scenarios.size());
  if (workers <= 1) {
    for (std::size_t i = 0; i < scenarios.size(); ++i) runOne(scenarios[i], slots[i]);
  } else {
    // A pool pulling the next scenario index: each scenario runs on exactly one thread with
    // its own backend, so nothing but the listener (thread-safe) is shared.
    std::atomic<std::size_t> next{0};
    {
      std::vector<std::jthread> pool;
      pool.reserve(workers);
      for (std::size_t w = 0; w < workers; ++w) {
        pool.emplace_back([&] {
          for (std::size_t i = next++; i < scenarios.size(); i = next++) {
            runOne(scenarios[i], slots[i]);
          }
        });
      }
    }  // jthreads join here
  }

  RunResult result;
  result.report.version = options_.toolVersion;
  result.report.backend = options_.backendName;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    ScenarioRun& run = slots[i].run;
    result.backendUnavailable = result.backendUnavailable || run.backendUnavailable;
    if (options_.backend.dryRun) {
      result.plan.insert(result.plan.end(), run.plan.begin(), run.plan.end());
    }
    result.report.scenarios.push_back(std::move(run.result));
  }
  return result;
}

}  // namespace egresslab::runner
