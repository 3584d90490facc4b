// Renders a run's results: JSON (DESIGN.md contract, exact keys), JUnit XML, one
// self-contained HTML page, and the live console output. Renders only — runs nothing.
#pragma once

#include <mutex>
#include <ostream>
#include <string>

#include "harness/report/results.h"

namespace egresslab::report {

// DESIGN.md "JSON report": {"tool","version","backend","scenarios":[…],"summary":{…}}.
std::string toJson(const RunReport& run);

// One <testsuite> per scenario, one <testcase> per step; <failure>/<error> carry expected vs
// observed; <system-out> carries the proxies' access-log lines of the step's request.
std::string toJUnit(const RunReport& run);

// One HTML file, no external resources: scenario list, every step's request, expected,
// observed and hop-by-hop log lines, and for scenarios with faults a timeline (inline SVG).
std::string toHtml(const RunReport& run);

// "expected …" / "observed …" text for a failed step, shared by every format.
std::string describeObservation(const Observation& observed);

// Streams progress to a terminal: a line per step as it finishes (✓/✗, name, duration; on
// failure expected vs observed and the access-log lines), progress for slow steps, and a
// summary table. Thread-safe: scenarios running in parallel prefix their lines with their name.
class ConsoleReporter {
 public:
  explicit ConsoleReporter(std::ostream& out, bool verbose = false, bool prefixLines = false)
      : out_(out), verbose_(verbose), prefix_(prefixLines) {}

  void scenarioStarted(const std::string& name, const std::string& file);
  void stepFinished(const StepResult& step) { stepFinished("", step); }
  void stepFinished(const std::string& scenario, const StepResult& step);
  void progress(const std::string& text) { progress("", text); }
  void progress(const std::string& scenario, const std::string& text);
  void scenarioFinished(const ScenarioResult& scenario);
  void summary(const RunReport& run);

 private:
  std::string prefix(const std::string& scenario) const;
  std::ostream& out_;
  bool verbose_;
  bool prefix_;
  std::mutex mu_;
};

}  // namespace egresslab::report
