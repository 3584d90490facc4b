// The results of a run, as every report format presents them (docs/design.md "JSON report").
// Plain data: the runner fills it, report/ renders it, nothing here runs anything.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
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

// One second of a load (docs/design.md "Load and SLOs": per-second windows), by when the
// requests were due.
struct LoadWindow {
  std::int64_t startMs = 0;             // since the scenario started
  int count = 0;                        // requests due in this second (sent or dropped)
  int success = 0;                      // answered 2xx/3xx with curl exit 0
  std::optional<double> p50Ms, p99Ms;   // latency of the requests sent; absent when none
  std::map<std::string, int> servedBy;  // upstream `name` → requests it answered
};

// What a load did, from load.start to load.stop (or the scenario's end).
struct LoadResult {
  std::string name;
  std::string curl;
  std::optional<std::string> from;
  double rate = 0;
  int concurrency = 0;
  std::int64_t startMs = 0;     // since the scenario started
  std::int64_t durationMs = 0;  // start to stop
  int requests = 0;             // due (sent + dropped)
  int successes = 0;            // 2xx/3xx with curl exit 0
  int errors = 0;               // requests - successes (dropped ones included)
  int dropped = 0;              // not sent: `concurrency` requests were in flight
  std::map<int, int> statuses;  // HTTP code → count (requests with no answer are not here)
  std::map<int, int> exits;     // curl exit code → count, for exits other than 0
  std::map<std::string, int> servedBy;
  std::optional<double> p50Ms, p90Ms, p99Ms;  // over the requests sent
  std::vector<LoadWindow> windows;
  bool stoppedAtEnd = false;       // no load.stop step: stopped when the scenario ended
  std::vector<std::string> notes;  // how the backend measured, when it matters
  // The load.stop step's conditions, each with what was observed, e.g.
  // {"successRate", ">= 99%", "100%", true}.
  struct Check {
    std::string key;
    std::string condition;
    std::string observed;
    bool held = true;
  };
  std::vector<Check> checks;
};

struct StepResult {
  std::string name;
  std::string kind;                 // "curl", "fault", "load" or "wait"
  std::string request;              // the curl line (and "from NS/POD"), or the fault, as written
  std::string curl;                 // the curl line as written ("" for a fault step)
  std::optional<std::string> from;  // "NS/POD"; absent = the host
  // The expectation as written (JSON report `expected`): only the keys the step sets, e.g.
  // {"status":200,"via":["istio-ingressgateway","httpbin-egress"]}.
  nlohmann::json expectedJson = nlohmann::json::object();
  Outcome outcome = Outcome::kPassed;
  std::int64_t startMs = 0;  // since the scenario started (timeline)
  std::int64_t durationMs = 0;
  int attempts = 1;
  std::string expected;  // human-readable expectation, e.g. "status 200, via [a, b]"
  Observation observed;
  std::string message;  // why it failed or errored; "" when passed
  // An `eventually` step that needed more than one attempt: what the attempts before the last
  // observed, e.g. "attempts 1-13 (0.52s): status 200 (expected 503)". "" otherwise.
  std::string attemptSummary;
  // An error because config the simulator does not model lies on the request's path (the
  // message names it); the mesh itself is fine.
  bool unsimulated = false;
  // kind "load" (load.start / load.stop) or "wait". A stop step carries what the load did.
  std::optional<LoadResult> load;
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
  std::string description;               // the scenario's `description:`
  std::vector<std::string> labels;       // the scenario's `labels:`
  // What the simulator does not model in this scenario's manifests (docs/design.md "Nothing
  // unmodelled passes silently"), e.g. "AuthorizationPolicy httpbin/deny-all: not simulated".
  std::vector<std::string> notSimulated;
};

struct Summary {
  int passed = 0;
  int failed = 0;
  int error = 0;
  int skipped = 0;
};

// An access-log line as observations carry it, "PROXY: LINE", grouped by proxy in the order
// the proxies first logged (JSON report `logs`).
std::vector<std::pair<std::string, std::vector<std::string>>> logsByProxy(
    const std::vector<std::string>& accessLog);

struct RunReport {
  std::string tool = "egresslab";
  std::string version;
  std::string backend;
  std::vector<ScenarioResult> scenarios;

  [[nodiscard]] Summary summary() const;  // counts scenarios by outcome
};

}  // namespace egresslab::report
