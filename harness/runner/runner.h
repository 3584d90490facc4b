// Runs a set of scenarios: each on its own backend instance (full isolation: own run
// directory, addresses, ports, CA), sequentially or on a pool of `--parallel N` threads, and
// collects the results into a report::RunReport in the order the scenarios were given.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/backend/backend.h"
#include "harness/core/error.h"
#include "harness/model/scenario.h"
#include "harness/report/results.h"
#include "harness/runner/clock.h"
#include "harness/runner/run_listener.h"
#include "harness/runner/scenario_runner.h"

namespace egresslab::runner {

// Makes a fresh backend for one scenario. kBackendUnavailable when the backend cannot exist
// at all in this build or on this machine (→ exit 3).
using BackendFactory = std::function<Result<std::unique_ptr<backend::Backend>>()>;

struct RunnerOptions {
  std::string backendName = "sim";  // for the report
  std::string toolVersion;          // for the report
  backend::RunOptions backend;
  int parallel = 1;  // scenarios at once (≥1)
  // sim: kError (or kAllow with --allow-unsimulated); kind runs real Istio: kNotApplicable.
  Unsimulated unsimulated = Unsimulated::kNotApplicable;
};

struct RunResult {
  report::RunReport report;
  bool backendUnavailable = false;  // some scenario's backend could not start
  // --dry-run: every scenario's plan (docs/design.md: one command per line), in scenario order.
  std::vector<std::string> plan;
};

// docs/design.md `run` exit codes: 3 when a backend could not start, else 1 when any scenario
// failed or errored, else 0.
int exitCodeFor(const RunResult& result);

class Runner {
 public:
  Runner(BackendFactory factory, RunnerOptions options, Clock& clock, RunListener& listener,
         const CancelFlag& cancel)
      : factory_(std::move(factory)),
        options_(std::move(options)),
        clock_(clock),
        listener_(listener),
        cancel_(cancel) {}

  RunResult run(const std::vector<model::Scenario>& scenarios);

 private:
  struct Slot;
  void runOne(const model::Scenario& scenario, Slot& slot);

  BackendFactory factory_;
  RunnerOptions options_;
  Clock& clock_;
  RunListener& listener_;
  const CancelFlag& cancel_;
};

}  // namespace egresslab::runner
