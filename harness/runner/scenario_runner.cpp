#include "harness/runner/scenario_runner.h"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "harness/runner/curl_line.h"
#include "harness/runner/expectation.h"
#include "harness/runner/request_id.h"

namespace egresslab::runner {
namespace {

using std::chrono::milliseconds;
using Outcome = report::Outcome;

constexpr Clock::TimePoint kNoDeadline = Clock::TimePoint::max();

std::string seconds(milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{:.3g}s", static_cast<double>(d.count()) / 1000.0);
}

// Calls down() when the scope ends, however it ends: teardown is not optional.
class TeardownGuard {
 public:
  explicit TeardownGuard(backend::Backend& backend) : backend_(backend) {}
  TeardownGuard(const TeardownGuard&) = delete;
  TeardownGuard& operator=(const TeardownGuard&) = delete;
  ~TeardownGuard() { backend_.down(); }

 private:
  backend::Backend& backend_;
};

report::StepResult skippedStep(const model::Step& step, const std::string& why) {
  report::StepResult s;
  s.name = step.name;
  s.kind = step.fault ? "fault" : "curl";
  s.request = step.fault ? describeFault(*step.fault) : step.curl.value_or("");
  s.outcome = Outcome::kSkipped;
  s.attempts = 0;
  s.message = why;
  return s;
}

std::string requestText(const model::Step& step) {
  std::string text = step.curl.value_or("");
  if (step.from) text += fmt::format(" (from {})", *step.from);
  return text;
}

std::string shortObservation(const report::Observation& o) {
  std::string text =
      o.status ? fmt::format("status {}", *o.status) : fmt::format("exit {}", o.exit.value_or(0));
  if (!o.flags.empty()) {
    std::vector<std::string> flags;
    for (const auto& [proxy, value] : o.flags) flags.push_back(proxy + "=" + value);
    text += fmt::format(" flags {{{}}}", fmt::join(flags, ", "));
  }
  return text;
}

}  // namespace

struct ScenarioRunner::StepContext {
  Clock::TimePoint scenarioStart;
  Clock::TimePoint scenarioDeadline = kNoDeadline;
};

milliseconds ScenarioRunner::scaledWithin(milliseconds within, double scale) {
  if (!(scale > 1.0)) return within;
  const auto scaled = milliseconds(
      static_cast<std::int64_t>(std::ceil(static_cast<double>(within.count()) / scale)));
  return std::max(scaled, std::min(within, milliseconds(5000)));
}

milliseconds ScenarioRunner::scaledEvery(milliseconds every, double scale) {
  if (!(scale > 1.0)) return every;
  const auto scaled = milliseconds(
      static_cast<std::int64_t>(std::ceil(static_cast<double>(every.count()) / scale)));
  return std::max(scaled, std::min(every, milliseconds(10)));
}

std::int64_t ScenarioRunner::msSince(Clock::TimePoint start) const {
  return std::chrono::duration_cast<milliseconds>(clock_.now() - start).count();
}

std::string describeFault(const model::FaultSpec& fault) {
  std::string text = fmt::format("{} {}", fault.target, fault.action);
  if (fault.action == "latency") text += fmt::format(" {}ms", fault.ms);
  if (fault.action == "status") {
    text += fmt::format(" {}", fault.code);
    if (fault.percent != 100) text += fmt::format(" ({}%)", fault.percent);
  }
  return text;
}

ScenarioRun ScenarioRunner::run(const model::Scenario& scenario, backend::Backend& backend) {
  ScenarioRun out;
  report::ScenarioResult& r = out.result;
  r.name = scenario.name;
  r.file = scenario.file.string();
  r.istioVersion = scenario.istioVersion.str();
  r.backend = std::string(backend.name());
  r.hasFaults = scenario.hasFaults();
  scenarioName_ = scenario.name;

  StepContext context;
  context.scenarioStart = clock_.now();
  if (scenario.timeout) context.scenarioDeadline = context.scenarioStart + *scenario.timeout;
  listener_.scenarioStarted(scenario);

  std::size_t next = 0;  // first step not run
  {
    TeardownGuard teardown(backend);
    if (auto up = backend.up(scenario, options_); !up) {
      out.backendUnavailable = up.error().kind == ErrorKind::kBackendUnavailable;
      r.message = fmt::format("the {} backend could not bring the mesh up: {}", backend.name(),
                              up.error().str());
    } else {
      for (; next < scenario.steps.size(); ++next) {
        const model::Step& step = scenario.steps[next];
        if (cancel_.load()) {
          r.message = "cancelled (SIGINT/SIGTERM); the mesh was torn down";
          break;
        }
        if (clock_.now() >= context.scenarioDeadline) {
          r.message = fmt::format("the scenario did not finish within its timeout of {}",
                                  seconds(*scenario.timeout));
          break;
        }
        report::StepResult s =
            step.fault ? runFaultStep(step, backend, context) : runCurlStep(step, backend, context);
        s.startMs = std::max<std::int64_t>(0, s.startMs);
        listener_.stepFinished(scenario.name, s);
        const bool stop = s.outcome == Outcome::kError;
        r.steps.push_back(std::move(s));
        if (stop) {
          ++next;
          r.message =
              fmt::format("step \"{}\" could not run; the remaining steps were skipped", step.name);
          break;
        }
      }
      if (options_.keep && !options_.dryRun && !cancel_.load()) {
        listener_.meshKept(scenario.name, backend.endpoints());
        while (!cancel_.load()) clock_.waitUntil(clock_.now() + std::chrono::hours(1), cancel_);
      }
    }
  }  // down() runs here, also when a step errored or the run was cancelled.
  // Read after down(): teardown commands are part of the plan.
  if (options_.dryRun) out.plan = backend.plan();
  for (auto& line : backend.diagnostics()) r.diagnostics.push_back(std::move(line));

  const std::string why = r.message.empty() ? "not run" : r.message;
  for (; next < scenario.steps.size(); ++next) {
    if (next < r.steps.size()) continue;
    r.steps.push_back(skippedStep(scenario.steps[next], why));
  }

  const auto has = [&](Outcome o) {
    return std::any_of(r.steps.begin(), r.steps.end(),
                       [o](const report::StepResult& s) { return s.outcome == o; });
  };
  if (!r.message.empty() || has(Outcome::kError)) {
    r.outcome = Outcome::kError;
  } else if (has(Outcome::kFailed)) {
    r.outcome = Outcome::kFailed;
  } else if (options_.dryRun) {
    r.outcome = Outcome::kSkipped;
  } else {
    r.outcome = Outcome::kPassed;
  }
  r.durationMs = msSince(context.scenarioStart);
  listener_.scenarioFinished(r);
  return out;
}

report::StepResult ScenarioRunner::runFaultStep(const model::Step& step, backend::Backend& backend,
                                                const StepContext& context) {
  report::StepResult s;
  s.name = step.name;
  s.kind = "fault";
  s.request = describeFault(*step.fault);
  const auto start = clock_.now();
  s.startMs = std::chrono::duration_cast<milliseconds>(start - context.scenarioStart).count();
  auto applied = backend.fault(*step.fault);
  s.durationMs = msSince(start);
  if (!applied && !options_.dryRun) {
    s.outcome = Outcome::kError;
    s.message = fmt::format("the backend could not inject the fault: {}", applied.error().str());
  } else if (options_.dryRun) {
    s.outcome = Outcome::kSkipped;
    s.message = "dry run";
  }
  return s;
}

report::StepResult ScenarioRunner::runCurlStep(const model::Step& step, backend::Backend& backend,
                                               const StepContext& context) {
  report::StepResult s;
  s.name = step.name;
  s.kind = "curl";
  s.request = requestText(step);
  s.attempts = 0;
  const auto start = clock_.now();
  s.startMs = std::chrono::duration_cast<milliseconds>(start - context.scenarioStart).count();

  if (!step.curl) {
    s.outcome = Outcome::kError;
    s.message = "the step has neither `curl:` nor `fault:`";
    return s;
  }
  const model::Expectation expect = step.expect.value_or(model::Expectation{});
  s.expected = describeExpectation(expect);

  Clock::TimePoint stepDeadline = context.scenarioDeadline;
  if (step.timeout) stepDeadline = std::min(stepDeadline, start + *step.timeout);

  const std::string line = backend.expandCurlLine(*step.curl);
  auto command = parseCurlLine(line, step.curlPos);
  if (!command) {
    s.outcome = Outcome::kError;
    s.message = command.error().str();
    return s;
  }

  // Without `eventually` a step is one attempt; with it, a deadline loop.
  const model::Eventually eventually = step.eventually.value_or(
      model::Eventually{.within = milliseconds(0), .every = milliseconds(0), .successes = 1});
  const milliseconds within = scaledWithin(eventually.within, options_.timeScale);
  const milliseconds every = scaledEvery(eventually.every, options_.timeScale);
  const int successesNeeded = std::max(1, eventually.successes);
  if (step.eventually) {
    s.expected +=
        fmt::format(" (eventually: within {}, every {}{})", seconds(eventually.within),
                    seconds(eventually.every),
                    successesNeeded > 1 ? fmt::format(", {} successes in a row", successesNeeded)
                                        : std::string());
  }
  const Clock::TimePoint loopDeadline =
      step.eventually ? std::min(stepDeadline, start + within) : stepDeadline;

  int streak = 0;
  int bestStreak = 0;
  std::vector<Mismatch> lastMismatches;
  Clock::TimePoint lastProgress = start;
  bool timedOut = false;
  while (true) {
    ++s.attempts;
    backend::CurlRequest request{.command = *command,
                                 .from = step.from,
                                 .requestId = newRequestId(),
                                 .line = line,
                                 .timeout = std::nullopt};
    if (stepDeadline != kNoDeadline) {
      request.timeout = std::max(
          milliseconds(1), std::chrono::duration_cast<milliseconds>(stepDeadline - clock_.now()));
    }
    auto observed = backend.curl(request);
    if (!observed && options_.dryRun) {
      // A backend with nothing to plan for requests (sim) may refuse them in plan mode.
      s.outcome = Outcome::kSkipped;
      s.message = "dry run";
      s.durationMs = msSince(start);
      return s;
    }
    if (!observed) {
      s.outcome = Outcome::kError;
      s.message = fmt::format("the backend could not run the request: {}", observed.error().str());
      s.durationMs = msSince(start);
      return s;
    }
    s.observed = std::move(*observed);
    if (s.observed.requestId.empty()) s.observed.requestId = request.requestId;
    if (options_.dryRun) {
      s.outcome = Outcome::kSkipped;
      s.message = "dry run";
      s.durationMs = msSince(start);
      return s;
    }
    if (options_.verbose) {
      listener_.progress(scenarioName_,
                         fmt::format("{} [x-request-id {}] → {}", s.request, request.requestId,
                                     shortObservation(s.observed)));
    }
    lastMismatches = evaluate(expect, s.observed);
    const auto now = clock_.now();
    if (lastMismatches.empty()) {
      bestStreak = std::max(bestStreak, ++streak);
      if (streak >= successesNeeded) break;  // passed; no wait after a success
      if (now >= loopDeadline) break;
      continue;
    }
    streak = 0;
    if (cancel_.load()) break;
    if (!step.eventually || now >= loopDeadline) {
      timedOut = now >= stepDeadline && stepDeadline != kNoDeadline;
      break;
    }
    if (now - lastProgress >= std::chrono::seconds(1) || s.attempts == 1) {
      lastProgress = now;
      listener_.progress(scenarioName_,
                         fmt::format("{}: attempt {} ({} of {}): {}", step.name, s.attempts,
                                     seconds(std::chrono::duration_cast<milliseconds>(now - start)),
                                     seconds(within), lastMismatches.front().message));
    }
    clock_.waitUntil(std::min(now + every, loopDeadline), cancel_);
  }
  s.durationMs = msSince(start);
  const bool passed = lastMismatches.empty() && streak >= successesNeeded;
  const bool overTimeout = stepDeadline != kNoDeadline && clock_.now() > stepDeadline;

  if (cancel_.load() && !passed) {
    s.outcome = Outcome::kError;
    s.message = "cancelled (SIGINT/SIGTERM) while the step was running";
    return s;
  }
  if (passed && !overTimeout) return s;

  s.outcome = Outcome::kFailed;
  std::vector<std::string> lines;
  if (overTimeout || timedOut) {
    const auto budget = std::chrono::duration_cast<milliseconds>(stepDeadline - start);
    lines.push_back(fmt::format("timed out: the step's budget was {} ({}), it ran {}",
                                seconds(budget), step.timeout ? "its timeout" : "the scenario's",
                                seconds(milliseconds(s.durationMs))));
  }
  if (step.eventually && !passed) {
    if (successesNeeded > 1) {
      lines.push_back(fmt::format(
          "did not hold {} times in a row within {} ({} attempts, best run: {}); last attempt:",
          successesNeeded, seconds(eventually.within), s.attempts, bestStreak));
    } else {
      lines.push_back(fmt::format("did not hold within {} ({} attempts, every {}); last attempt:",
                                  seconds(eventually.within), s.attempts,
                                  seconds(eventually.every)));
    }
  }
  if (!lastMismatches.empty()) {
    lines.push_back(explainMismatches(lastMismatches, s.observed));
  } else if (step.eventually) {
    lines.push_back("  it passed, but the deadline came before the run of successes was complete");
  }
  s.message = fmt::format("{}", fmt::join(lines, "\n"));
  return s;
}

}  // namespace egresslab::runner
