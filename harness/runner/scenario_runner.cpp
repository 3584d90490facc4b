#include "harness/runner/scenario_runner.h"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "harness/mesh/compile.h"
#include "harness/runner/curl_line.h"
#include "harness/runner/expectation.h"
#include "harness/runner/load_stats.h"
#include "harness/runner/request_id.h"

namespace egresslab::runner {
namespace {

using std::chrono::milliseconds;
using Outcome = report::Outcome;

constexpr Clock::TimePoint kNoDeadline = Clock::TimePoint::max();
// Less budget than this is no budget: such a request could only time out.
constexpr milliseconds kMinRequestBudget{10};
// The transient progress line of an `eventually` loop is refreshed at most this often.
constexpr milliseconds kProgressInterval{200};
constexpr int kCurlTimedOut = 28;

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

std::string requestText(const model::Step& step) {
  std::string text = step.curl.value_or("");
  if (step.from) text += fmt::format(" (from {})", *step.from);
  return text;
}

std::string rateText(double rate) { return fmt::format("{:g}/s", rate); }

// "load bg: -sS http://x/ (from crm/client) at 50/s, concurrency 64", "load bg: stop", "wait 10s".
std::string loadOrWaitText(const model::Step& step) {
  if (step.wait) return "wait " + seconds(*step.wait);
  const model::LoadSpec& load = *step.load;
  if (load.action == model::LoadSpec::Action::kStop) return fmt::format("load {}: stop", load.name);
  std::string text = fmt::format("load {}: {}", load.name, load.curl);
  if (load.from) text += fmt::format(" (from {})", *load.from);
  return text + fmt::format(" at {}, concurrency {}", rateText(load.rate), load.concurrency);
}

report::StepResult skippedStep(const model::Step& step, const std::string& why) {
  report::StepResult s;
  s.name = step.name;
  s.kind = step.fault ? "fault" : step.load ? "load" : step.wait ? "wait" : "curl";
  s.request = step.fault               ? describeFault(*step.fault)
              : step.load || step.wait ? loadOrWaitText(step)
                                       : requestText(step);
  s.curl = step.curl.value_or("");
  s.from = step.from;
  if (step.expect) s.expectedJson = expectationJson(*step.expect);
  if (step.loadExpect) {
    s.expectedJson = loadExpectationJson(*step.loadExpect);
    s.expected = describeLoadExpectation(*step.loadExpect);
  }
  s.outcome = Outcome::kSkipped;
  s.attempts = 0;
  s.message = why;
  return s;
}

std::string shortObservation(const report::Observation& o) {
  std::string text =
      o.status ? fmt::format("status {}", *o.status) : fmt::format("exit {}", o.exit.value_or(0));
  if (!o.flags.empty()) text += " flags " + flagsText(o.flags);
  return text;
}

std::string mismatchText(const std::vector<Mismatch>& mismatches) {
  std::vector<std::string> parts;
  for (const auto& m : mismatches) parts.push_back(m.message);
  return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace

// The scenario's notes of what the simulator does not model, and its proxies (to resolve the
// names in `via`).
struct ScenarioRunner::Notes {
  std::vector<mesh::NotSimulatedNote> notes;
  std::vector<mesh::ProxyId> proxies;

  // The proxies of `via` that some note affects, and those notes (each once, in note order).
  std::pair<std::vector<std::string>, std::vector<const mesh::NotSimulatedNote*>> crossed(
      const std::vector<std::string>& via) const {
    std::vector<std::string> hit;
    std::vector<const mesh::NotSimulatedNote*> which;
    for (const auto& name : via) {
      std::string ns;
      std::string bare = name;
      if (const auto slash = name.find('/'); slash != std::string::npos) {
        ns = name.substr(0, slash);
        bare = name.substr(slash + 1);
      } else {
        int found = 0;
        for (const auto& p : proxies) {
          if (p.name == name) {
            ns = p.ns;
            ++found;
          }
        }
        if (found != 1) ns.clear();
      }
      bool affected = false;
      for (const auto& note : notes) {
        if (!note.affects(ns, bare)) continue;
        affected = true;
        if (std::find(which.begin(), which.end(), &note) == which.end()) which.push_back(&note);
      }
      if (affected) hit.push_back(name);
    }
    std::sort(which.begin(), which.end());  // back to note order (one vector)
    return {hit, which};
  }

  // The error message for a request that crossed `via`, or nullopt when no note affects it.
  std::optional<std::string> untrusted(const std::vector<std::string>& via) const {
    const auto [hit, which] = crossed(via);
    if (which.empty()) return std::nullopt;
    std::vector<std::string> lines;
    for (const auto* note : which) lines.push_back(note->text());
    lines.push_back(fmt::format(
        "the request crossed {}, which {} not simulated; the simulator cannot predict what "
        "a real mesh answers here (run with --allow-unsimulated to judge the step anyway)",
        fmt::join(hit, ", "), which.size() == 1 ? "this changes and is" : "these change and are"));
    return fmt::format("{}", fmt::join(lines, "\n"));
  }
};

struct ScenarioRunner::StepContext {
  Clock::TimePoint scenarioStart;
  Clock::TimePoint scenarioDeadline = kNoDeadline;
  std::optional<milliseconds> scenarioTimeout;
  const Notes* notes = nullptr;  // null: nothing is simulated or nothing to note
  // Loads started and not yet stopped, by name.
  struct ActiveLoad {
    model::LoadSpec spec;
    std::int64_t startMs = 0;  // since the scenario started
  };
  std::map<std::string, ActiveLoad> loads;
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

std::string describeFault(const model::FaultSpec& fault) { return model::faultText(fault); }

ScenarioRun ScenarioRunner::run(const model::Scenario& scenario, backend::Backend& backend) {
  ScenarioRun out;
  report::ScenarioResult& r = out.result;
  r.name = scenario.name;
  r.file = scenario.file.string();
  r.istioVersion = scenario.istioVersion.str();
  r.backend = std::string(backend.name());
  // The HTML timeline shows faults and loads (docs/design.md "Load and SLOs").
  r.hasFaults = scenario.hasFaults() ||
                std::any_of(scenario.steps.begin(), scenario.steps.end(),
                            [](const model::Step& step) { return step.load.has_value(); });
  scenarioName_ = scenario.name;

  r.description = scenario.description;
  r.labels = scenario.labels;

  StepContext context;
  context.scenarioStart = clock_.now();
  context.scenarioTimeout = scenario.timeout;
  if (scenario.timeout) context.scenarioDeadline = context.scenarioStart + *scenario.timeout;
  listener_.scenarioStarted(scenario);

  // docs/design.md "Nothing unmodelled passes silently": the notes come first, in every report.
  Notes notes;
  if (unsimulated_ != Unsimulated::kNotApplicable) {
    if (auto mesh = mesh::compileMesh(scenario)) {
      notes.notes = std::move(mesh->notSimulated);
      for (const auto& proxy : mesh->proxies) notes.proxies.push_back(proxy.id);
    }  // else: up() fails with the same error and says so
    for (const auto& note : notes.notes) r.notSimulated.push_back(note.text());
    if (!r.notSimulated.empty()) listener_.notSimulated(scenario.name, r.notSimulated);
    if (unsimulated_ == Unsimulated::kError && !notes.notes.empty()) context.notes = &notes;
  }

  std::size_t next = 0;  // first step not run
  std::vector<report::StepResult> endOfScenarioLoads;
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
        report::StepResult s = step.fault  ? runFaultStep(step, backend, context)
                               : step.load ? runLoadStep(step, backend, context)
                               : step.wait ? runWaitStep(step, context)
                                           : runCurlStep(step, backend, context);
        s.startMs = std::max<std::int64_t>(0, s.startMs);
        listener_.stepFinished(scenario.name, s);
        // A step judged untrustworthy (unsimulated config on its path) is an error, but the
        // mesh is fine: the next steps still run.
        const bool stop = s.outcome == Outcome::kError && !s.unsimulated;
        r.steps.push_back(std::move(s));
        if (stop) {
          ++next;
          r.message =
              fmt::format("step \"{}\" could not run; the remaining steps were skipped", step.name);
          break;
        }
      }
      // A load no step stopped (none written, or the scenario ended early) is stopped before
      // the mesh goes down, and reported.
      while (!context.loads.empty()) {
        const std::string name = context.loads.begin()->first;
        report::StepResult s = stopLoad(fmt::format("load {} (stopped at scenario end)", name),
                                        name, nullptr, backend, context);
        if (s.load) s.load->stoppedAtEnd = true;
        listener_.stepFinished(scenario.name, s);
        endOfScenarioLoads.push_back(std::move(s));
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
  for (auto& s : endOfScenarioLoads) r.steps.push_back(std::move(s));

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

report::StepResult ScenarioRunner::runWaitStep(const model::Step& step,
                                               const StepContext& context) {
  report::StepResult s;
  s.name = step.name;
  s.kind = "wait";
  s.request = loadOrWaitText(step);
  const auto start = clock_.now();
  s.startMs = std::chrono::duration_cast<milliseconds>(start - context.scenarioStart).count();
  // --time-scale compresses mesh time, and a wait is mesh time (docs/design.md "CLI").
  milliseconds wait = *step.wait;
  if (options_.timeScale > 0 && options_.timeScale != 1.0) {
    wait = milliseconds(static_cast<std::int64_t>(
        std::ceil(static_cast<double>(wait.count()) / options_.timeScale)));
    s.expected = fmt::format("{} at time scale {}", seconds(wait), options_.timeScale);
  }
  if (!options_.dryRun) {
    clock_.waitUntil(std::min(start + wait, context.scenarioDeadline), cancel_);
  }
  s.durationMs = msSince(start);
  if (options_.dryRun) {
    s.outcome = Outcome::kSkipped;
    s.message = "dry run";
  } else if (cancel_.load()) {
    s.outcome = Outcome::kError;
    s.message = "cancelled (SIGINT/SIGTERM) while the step was running";
  }
  return s;
}

report::StepResult ScenarioRunner::runLoadStep(const model::Step& step, backend::Backend& backend,
                                               StepContext& context) {
  const model::LoadSpec& load = *step.load;
  if (load.action == model::LoadSpec::Action::kStop) {
    if (!context.loads.contains(load.name)) {
      report::StepResult s = skippedStep(step, "");
      s.outcome = Outcome::kError;
      s.attempts = 1;
      s.message = fmt::format("load \"{}\" is not running (its start step did not run)", load.name);
      return s;
    }
    return stopLoad(step.name, load.name, step.loadExpect ? &*step.loadExpect : nullptr, backend,
                    context);
  }
  report::StepResult s;
  s.name = step.name;
  s.kind = "load";
  s.request = loadOrWaitText(step);
  s.curl = load.curl;
  s.from = load.from;
  const auto start = clock_.now();
  s.startMs = std::chrono::duration_cast<milliseconds>(start - context.scenarioStart).count();
  const std::string line = backend.expandCurlLine(load.curl);
  auto command = parseCurlLine(line, load.curlPos);
  if (!command) {
    s.outcome = Outcome::kError;
    s.message = command.error().str();
    return s;
  }
  if (context.notes != nullptr && !options_.dryRun) {
    // docs/design.md "Nothing unmodelled passes silently": a load's requests carry no hops, so
    // one request of the load's line is sent first; if it crosses a proxy that unmodelled config
    // changes, the load would be judged on answers the simulator cannot vouch for.
    auto probe = backend.curl(backend::CurlRequest{.command = *command,
                                                   .from = load.from,
                                                   .requestId = newRequestId(),
                                                   .line = line,
                                                   .timeout = std::nullopt});
    if (probe) {
      if (auto message = context.notes->untrusted(probe->via)) {
        s.outcome = Outcome::kError;
        s.unsimulated = true;
        s.message = std::move(*message);
        s.durationMs = msSince(start);
        return s;
      }
    }
  }
  backend::LoadRequest request{.name = load.name,
                               .request = {.command = *command,
                                           .from = load.from,
                                           .requestId = newRequestId() + "-" + load.name,
                                           .line = line,
                                           .timeout = std::nullopt},
                               .rate = load.rate,
                               .concurrency = load.concurrency};
  auto started = backend.startLoad(request);
  s.durationMs = msSince(start);
  if (!started) {
    s.outcome = options_.dryRun ? Outcome::kSkipped : Outcome::kError;
    s.message = options_.dryRun ? "dry run"
                                : fmt::format("the backend could not start the load: {}",
                                              started.error().str());
    return s;
  }
  context.loads[load.name] = StepContext::ActiveLoad{load, s.startMs};
  if (options_.dryRun) {
    s.outcome = Outcome::kSkipped;
    s.message = "dry run";
  }
  return s;
}

report::StepResult ScenarioRunner::stopLoad(const std::string& stepName,
                                            const std::string& loadName,
                                            const model::LoadExpectation* expect,
                                            backend::Backend& backend, StepContext& context) {
  const StepContext::ActiveLoad active = context.loads.at(loadName);
  context.loads.erase(loadName);
  report::StepResult s;
  s.name = stepName;
  s.kind = "load";
  s.request = fmt::format("load {}: stop", loadName);
  if (expect != nullptr) {
    s.expected = describeLoadExpectation(*expect);
    s.expectedJson = loadExpectationJson(*expect);
  }
  const auto start = clock_.now();
  s.startMs = std::chrono::duration_cast<milliseconds>(start - context.scenarioStart).count();
  auto run = backend.stopLoad(loadName);
  s.durationMs = msSince(start);
  if (options_.dryRun) {
    s.outcome = Outcome::kSkipped;
    s.message = "dry run";
    return s;
  }
  if (!run) {
    s.outcome = Outcome::kError;
    s.message = fmt::format("the backend could not stop the load: {}", run.error().str());
    return s;
  }
  report::LoadResult result = summarizeLoad(*run, active.startMs);
  result.name = loadName;
  result.curl = active.spec.curl;
  result.from = active.spec.from;
  result.rate = active.spec.rate;
  result.concurrency = active.spec.concurrency;
  if (expect != nullptr) {
    const auto failures = judgeLoad(*expect, result);
    if (!failures.empty()) {
      s.outcome = Outcome::kFailed;
      s.message = fmt::format("{}", fmt::join(failures, "\n"));
    }
  }
  s.load = std::move(result);
  return s;
}

report::StepResult ScenarioRunner::runCurlStep(const model::Step& step, backend::Backend& backend,
                                               const StepContext& context) {
  report::StepResult s;
  s.name = step.name;
  s.kind = "curl";
  s.request = requestText(step);
  s.curl = step.curl.value_or("");
  s.from = step.from;
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
  s.expectedJson = expectationJson(expect);

  Clock::TimePoint stepDeadline = context.scenarioDeadline;
  bool deadlineIsTheStepsOwn = false;
  if (step.timeout && start + *step.timeout <= stepDeadline) {
    stepDeadline = start + *step.timeout;
    deadlineIsTheStepsOwn = true;
  }

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
    std::string scaled;
    if (within != eventually.within || every != eventually.every) {
      scaled = fmt::format("; at time scale {}: within {}, every {}", options_.timeScale,
                           seconds(within), seconds(every));
    }
    s.expected +=
        fmt::format(" (eventually: within {}, every {}{}{})", seconds(eventually.within),
                    seconds(eventually.every),
                    successesNeeded > 1 ? fmt::format(", {} successes in a row", successesNeeded)
                                        : std::string(),
                    scaled);
  }
  const Clock::TimePoint loopDeadline =
      step.eventually ? std::min(stepDeadline, start + within) : stepDeadline;

  int streak = 0;
  int bestStreak = 0;
  std::vector<Mismatch> lastMismatches;
  int failedAttempts = 0;             // attempts whose expectation did not hold
  std::string lastFailedObservation;  // what the last of them saw
  Clock::TimePoint lastProgress = start;
  bool timedOut = false;
  bool requestCutOff = false;  // the last request was stopped by the step's budget
  while (true) {
    std::optional<milliseconds> budget;
    if (stepDeadline != kNoDeadline) {
      budget = std::chrono::duration_cast<milliseconds>(stepDeadline - clock_.now());
      // No budget left to send a request in: the deadline passed between attempts.
      if (*budget < kMinRequestBudget && s.attempts > 0) {
        timedOut = true;
        break;
      }
      budget = std::max(*budget, kMinRequestBudget);
    }
    ++s.attempts;
    backend::CurlRequest request{.command = *command,
                                 .from = step.from,
                                 .requestId = newRequestId(),
                                 .line = line,
                                 .timeout = budget};
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
    if (context.notes != nullptr) {
      // docs/design.md "Nothing unmodelled passes silently": what the simulator answered here is
      // not what a real mesh would be known to answer.
      if (auto message = context.notes->untrusted(s.observed.via)) {
        s.outcome = Outcome::kError;
        s.unsimulated = true;
        s.message = std::move(*message);
        s.durationMs = msSince(start);
        return s;
      }
    }
    lastMismatches = evaluate(expect, s.observed);
    const auto now = clock_.now();
    requestCutOff = stepDeadline != kNoDeadline && now >= stepDeadline &&
                    s.observed.exit.value_or(0) == kCurlTimedOut;
    if (lastMismatches.empty()) {
      bestStreak = std::max(bestStreak, ++streak);
      if (streak >= successesNeeded) break;  // passed; no wait after a success
      if (now >= loopDeadline) break;
      continue;
    }
    streak = 0;
    ++failedAttempts;
    lastFailedObservation = mismatchText(lastMismatches);
    if (cancel_.load()) break;
    if (!step.eventually || now >= loopDeadline) {
      timedOut = now >= stepDeadline && stepDeadline != kNoDeadline;
      break;
    }
    if (now - lastProgress >= kProgressInterval || s.attempts == 1) {
      lastProgress = now;
      listener_.stepProgress(
          scenarioName_, fmt::format("{}: attempt {}, {} of {}: {}", step.name, s.attempts,
                                     seconds(std::chrono::duration_cast<milliseconds>(now - start)),
                                     seconds(within), lastMismatches.front().message));
    }
    clock_.waitUntil(std::min(now + every, loopDeadline), cancel_);
  }
  s.durationMs = msSince(start);
  const bool passed = lastMismatches.empty() && streak >= successesNeeded;
  const bool overTimeout = stepDeadline != kNoDeadline && clock_.now() > stepDeadline;
  if (failedAttempts > 0 && s.attempts > 1) {
    s.attemptSummary = fmt::format("{} of {} attempts did not hold (over {}); the last of them: {}",
                                   failedAttempts, s.attempts, seconds(milliseconds(s.durationMs)),
                                   lastFailedObservation);
  }

  if (cancel_.load() && !passed) {
    s.outcome = Outcome::kError;
    s.message = "cancelled (SIGINT/SIGTERM) while the step was running";
    return s;
  }
  if (passed && !overTimeout) return s;

  s.outcome = Outcome::kFailed;
  std::vector<std::string> lines;
  if (overTimeout || timedOut) {
    if (deadlineIsTheStepsOwn) {
      lines.push_back(fmt::format("timed out: the step's timeout of {} ran out; it ran {}",
                                  seconds(*step.timeout), seconds(milliseconds(s.durationMs))));
    } else {
      lines.push_back(fmt::format(
          "timed out: the scenario's timeout of {} ran out during this step, {} into it",
          seconds(context.scenarioTimeout.value_or(milliseconds(0))),
          seconds(milliseconds(s.durationMs))));
    }
  }
  if (requestCutOff) {
    // curl's own "Operation timed out after 1 milliseconds" would only describe the cut.
    lines.push_back(
        fmt::format("  its last request (attempt {}) was stopped unanswered when the "
                    "time ran out",
                    s.attempts));
    s.message = fmt::format("{}", fmt::join(lines, "\n"));
    return s;
  }
  if (step.eventually && !passed) {
    // The deadline in the time actually used; the written one beside it when scaled.
    const std::string written =
        within == eventually.within
            ? std::string()
            : fmt::format("{} at time scale {}; ", seconds(eventually.within), options_.timeScale);
    if (successesNeeded > 1) {
      lines.push_back(fmt::format(
          "did not hold {} times in a row within {} ({}{} attempts, best run: {}); last attempt:",
          successesNeeded, seconds(within), written, s.attempts, bestStreak));
    } else {
      lines.push_back(fmt::format("did not hold within {} ({}{} attempts, every {}); last attempt:",
                                  seconds(within), written, s.attempts, seconds(every)));
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
