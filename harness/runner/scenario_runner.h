// Runs one scenario on one backend: up → steps in order → down, always.
//
// Teardown runs whatever happens: a step error, a failed expectation, the scenario's timeout,
// SIGINT/SIGTERM (the CancelFlag). Steps:
// - curl + expect: one attempt, or an `eventually` deadline loop (retry every `every` while the
//   expectation fails, no wait after a success, `successes: N` in a row, never a fixed sleep);
//   every attempt sends a fresh x-request-id.
// - fault: handed to the backend.
// - load.start / load.stop: a background load on the backend (docs/scenarios.md "Load and
//   SLOs"); the stop step judges the load's expectations. A load still running when the
//   scenario ends (no stop step, an error, a cancel) is stopped before teardown and reported as
//   an extra step. wait: sleeps, scaled by --time-scale.
// On sim, the scenario's notes of what is not simulated come first; a request that crosses a
// proxy a note affects is an `error` step naming the note (unless Unsimulated::kAllow).
// A failed expectation is a `failed` step (and later steps still run: they are usually
// independent checks); a backend error is an `error` step and the rest are skipped.
#pragma once

#include <string>
#include <vector>

#include "harness/backend/backend.h"
#include "harness/model/scenario.h"
#include "harness/report/results.h"
#include "harness/runner/clock.h"
#include "harness/runner/run_listener.h"

namespace egresslab::runner {

// What a run does with manifests the simulator does not model (docs/design.md "Nothing unmodelled
// passes silently").
enum class Unsimulated {
  kNotApplicable,  // the backend runs real Istio (kind): nothing is simulated, nothing noted
  kError,          // sim: notes reported; a request crossing an affected proxy is an error
  kAllow,          // sim with --allow-unsimulated: notes reported, steps judged as usual
};

struct ScenarioRun {
  report::ScenarioResult result;
  bool backendUnavailable = false;  // up() said the backend cannot start (→ exit 3)
  std::vector<std::string> plan;    // --dry-run: the backend's plan
};

class ScenarioRunner {
 public:
  ScenarioRunner(const backend::RunOptions& options, Clock& clock, RunListener& listener,
                 const CancelFlag& cancel, Unsimulated unsimulated = Unsimulated::kNotApplicable)
      : options_(options),
        clock_(clock),
        listener_(listener),
        cancel_(cancel),
        unsimulated_(unsimulated) {}

  ScenarioRun run(const model::Scenario& scenario, backend::Backend& backend);

  // --time-scale compresses mesh time: an `eventually` written for real probe periods
  // (within: 90s) waits within/F. Floors keep a compressed wait meaningful on a loaded machine
  // (within never below min(within, 5s); every never below min(every, 10ms)).
  static std::chrono::milliseconds scaledWithin(std::chrono::milliseconds within, double scale);
  static std::chrono::milliseconds scaledEvery(std::chrono::milliseconds every, double scale);

 private:
  struct StepContext;
  struct Notes;
  report::StepResult runCurlStep(const model::Step& step, backend::Backend& backend,
                                 const StepContext& context);
  report::StepResult runFaultStep(const model::Step& step, backend::Backend& backend,
                                  const StepContext& context);
  report::StepResult runLoadStep(const model::Step& step, backend::Backend& backend,
                                 StepContext& context);
  report::StepResult runWaitStep(const model::Step& step, const StepContext& context);
  // Stops a running load and summarizes it; `expect` judged when given.
  report::StepResult stopLoad(const std::string& stepName, const std::string& loadName,
                              const model::LoadExpectation* expect, backend::Backend& backend,
                              StepContext& context);
  std::int64_t msSince(Clock::TimePoint start) const;

  backend::RunOptions options_;
  Clock& clock_;
  RunListener& listener_;
  const CancelFlag& cancel_;
  Unsimulated unsimulated_;
  std::string scenarioName_;
};

// "upstream/httpbin.org down", "upstream/httpbin.org:443 latency 300ms", "gateway/ns/gw kill".
std::string describeFault(const model::FaultSpec& fault);

}  // namespace egresslab::runner
