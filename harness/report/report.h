// Renders a run's results: JSON (docs/design.md contract, exact keys), JUnit XML, one
// self-contained HTML page, and the live console output. Renders only — runs nothing.
#pragma once

#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "harness/report/results.h"

namespace egresslab::report {

// docs/design.md "JSON report": {"tool","version","backend","scenarios":[…],"summary":{…}}.
std::string toJson(const RunReport& run);

// One <testsuite> per scenario, one <testcase> per step; <failure>/<error> carry expected vs
// observed; <system-out> carries the proxies' access-log lines of the step's request.
std::string toJUnit(const RunReport& run);

// One HTML file, no external resources: scenario list, every step's request, expected,
// observed and hop-by-hop log lines, and for scenarios with faults a timeline (inline SVG).
std::string toHtml(const RunReport& run);

// "expected …" / "observed …" text for a failed step, shared by every format.
std::string describeObservation(const Observation& observed);

// One line per load (console, JUnit, HTML): "load bg: 500 requests in 10.0 s (50/s), 99.8%
// success, 1 error, p50 1.2ms p90 2ms p99 4.5ms, servedBy crm-a 50%, crm-b 50%".
std::string loadSummary(const LoadResult& load);

// The JSON report's `load` of a step (additive to the contract's step fields): totals,
// percentiles, the conditions judged, and per-second `windows`.
nlohmann::json loadJson(const LoadResult& load);

// Streams progress to a terminal: a line per step as it finishes (✓/✗, name, duration,
// attempts; on failure expected vs observed and the access-log lines), the notes of what is not
// simulated at the start of a scenario, and a summary table. On a terminal (`tty`) a running
// step shows one line that updates in place; in logs the step's final line carries the summary
// instead. Thread-safe: scenarios running in parallel prefix their lines with their name (and
// show no updating line).
class ConsoleReporter {
 public:
  explicit ConsoleReporter(std::ostream& out, bool verbose = false, bool prefixLines = false,
                           bool tty = false)
      : out_(out), verbose_(verbose), prefix_(prefixLines), tty_(tty) {}

  void scenarioStarted(const std::string& name, const std::string& file);
  void notSimulated(const std::string& scenario, const std::vector<std::string>& notes);
  void stepFinished(const StepResult& step) { stepFinished("", step); }
  void stepFinished(const std::string& scenario, const StepResult& step);
  void progress(const std::string& text) { progress("", text); }
  void progress(const std::string& scenario, const std::string& text);
  // Transient: replaces the previous one on a terminal; nothing in logs.
  void stepProgress(const std::string& scenario, const std::string& text);
  void scenarioFinished(const ScenarioResult& scenario);
  void summary(const RunReport& run);

 private:
  std::string prefix(const std::string& scenario) const;
  void clearTransient();  // with mu_ held
  std::ostream& out_;
  bool verbose_;
  bool prefix_;
  bool tty_;
  bool transientShown_ = false;
  std::mutex mu_;
};

}  // namespace egresslab::report
