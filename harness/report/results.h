// The results of a run, as every report format presents them (DESIGN.md "JSON report").
// Plain data: the runner fills it, report/ renders it, nothing here runs anything.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace egresslab::report {

enum class Outcome { kPassed, kFailed, kError, kSkipped };
std::string_view outcomeName(Outcome o);  // "passed", "failed", "error", "skipped"

// What a request did, as far as the backend could see it.
struct Observation {
  std::optional<int> exit;                   // curl's exit code
  std::optional<int> status;                 // HTTP status (absent when no response)
  std::vector<std::string> via;              // proxies crossed, in order
  std::map<std::string, std::string> flags;  // proxy → response flags ("-" when none)
  std::map<std::string, std::vector<std::string>> headers;  // final response, names lower-case
  std::string body;                                         // possibly truncated
  std::string curlError;                                    // "curl: (35) ..." when exit != 0
  std::string requestId;                                    // x-request-id the run sent
  std::vector<std::string> accessLog;  // "proxy: <access-log line>" for this request id
};

struct StepResult {
  std::string name;
  std::string kind;     // "curl" or "fault"
  std::string request;  // the curl line (and "from NS/POD"), or the fault, as written
  Outcome outcome = Outcome::kPassed;
  std::int64_t startMs = 0;  // since the scenario started (timeline)
  std::int64_t durationMs = 0;
  int attempts = 1;
  std::string expected;  // human-readable expectation, e.g. "status 200, via [a, b]"
  Observation observed;
  std::string message;  // why it failed or errored; "" when passed
};

struct ScenarioResult {
  std::string name;
  std::string file;
  std::string istioVersion;
  std::string backend;
  Outcome outcome = Outcome::kPassed;
  std::int64_t durationMs = 0;
  std::vector<StepResult> steps;
  std::string message;                   // scenario-level error (could not start, timeout, …)
  bool hasFaults = false;                // show a timeline in HTML
  std::vector<std::string> diagnostics;  // backend notes (e.g. istioctl analyze output, paths)
};

struct Summary {
  int passed = 0;
  int failed = 0;
  int error = 0;
  int skipped = 0;
};

struct RunReport {
  std::string tool = "egresslab";
  std::string version;
  std::string backend;
  std::vector<ScenarioResult> scenarios;

  [[nodiscard]] Summary summary() const;  // counts scenarios by outcome
};

}  // namespace egresslab::report
