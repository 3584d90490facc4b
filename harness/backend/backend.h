// The seam between the runner and a backend (sim or kind), and what one request observed.
//
// The runner owns the scenario's control flow (steps, expectations, retries with deadlines,
// timeouts, reports); a backend owns the mesh: it brings it up, runs a curl line from the host
// or from a pod, injects faults, and tears everything down. One contract test suite runs
// against every implementation (docs/design.md "Code conventions": gMock cookbook, typed tests).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/error.h"
#include "harness/curl/command.h"
#include "harness/model/scenario.h"
#include "harness/report/results.h"

namespace egresslab::backend {

struct CurlRequest {
  curl::CurlCommand command;        // parsed; `${ca}` already replaced by the backend's CA path
  std::optional<std::string> from;  // "NS/POD" or absent for the host
  std::string requestId;            // sent as x-request-id; used to find access-log lines
  std::string line;                 // the line as written, `${ca}` expanded (logs, kind's argv)
  // The most this request may take: what is left of the step's (or scenario's) timeout. A
  // backend caps curl's own -m/--connect-timeout with it so a hung request cannot outlive its
  // step. Absent = no limit beyond the curl line's own.
  std::optional<std::chrono::milliseconds> timeout;
};

// `load: {start: NAME, …}` (docs/scenarios.md "Load and SLOs"): the curl line issued at `rate`
// requests per real second whether or not earlier ones answered (open model), at most
// `concurrency` in flight. A request due while `concurrency` are in flight is not sent: it is a
// dropped sample (an error of the load).
struct LoadRequest {
  std::string name;
  // `requestId` is the prefix of every request's x-request-id ("<prefix>-<n>"); `timeout` caps
  // each request (absent: the curl line's own -m, else the backend's default).
  CurlRequest request;
  double rate = 1;
  int concurrency = 64;
};

// One request of a load.
struct LoadSample {
  std::uint64_t index = 0;     // 0, 1, …: the order requests were due (x-request-id suffix)
  std::int64_t startUs = 0;    // when it was due, since the load started (real time)
  std::int64_t latencyUs = 0;  // until curl finished (answered or failed); 0 when dropped
  int exit = 0;                // curl's exit code
  int status = 0;              // HTTP status; 0 when no response
  bool dropped = false;        // not sent: `concurrency` requests were in flight
  std::string servedBy;        // the upstream `name` whose mock answered; "" when none/unknown
};

// Everything a load did, from start to stop.
struct LoadRun {
  std::vector<LoadSample> samples;  // in the order they were due
  std::int64_t durationUs = 0;      // from start to the stop request
  std::vector<std::string> notes;   // how the backend measured, when it matters (kind)
};

struct RunOptions {
  double timeScale = 1.0;  // sim: probe clocks run this much faster (--time-scale)
  bool keep = false;       // leave the mesh/cluster up after the run
  bool verbose = false;
  // Plan only: up/curl/fault/down record what they would do (kind: every command, argv joined
  // by spaces) and run nothing; plan() returns the record. docs/design.md `run --dry-run`.
  bool dryRun = false;
  // `--output-dir`: directories a host step's curl may write into besides the run directory
  // (docs/scenarios.md "Files a step can reach").
  std::vector<std::filesystem::path> outputDirs;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view name() const = 0;  // "sim" or "kind"

  // Brings the scenario's mesh up and waits until it is ready. kBackendUnavailable when the
  // backend itself cannot start (→ exit 3); other errors make the scenario `error`.
  virtual Result<void> up(const model::Scenario& scenario, const RunOptions& options) = 0;

  // Replaces `${ca}` in a curl line with the path of the run's scenario CA.
  virtual std::string expandCurlLine(const std::string& line) const = 0;

  // Runs one curl. Transport failures are observations (curl exit code), not errors; an error
  // means the backend could not run the request at all (e.g. unknown pod).
  virtual Result<report::Observation> curl(const CurlRequest& request) = 0;

  virtual Result<void> fault(const model::FaultSpec& fault) = 0;

  // Starts a load in the background; it runs while other steps run, until stopLoad(name).
  // Errors: the backend cannot run loads, the name is already running, the pod is unknown.
  virtual Result<void> startLoad(const LoadRequest& request) {
    return environmentError("the " + std::string(name()) + " backend cannot run load `" +
                            request.name + "`");
  }
  // Stops issuing requests, waits for those in flight, and returns every sample with
  // `servedBy` filled from the upstream mocks' own accounting. With RunOptions::dryRun it plans
  // the commands and returns an empty run.
  virtual Result<LoadRun> stopLoad(const std::string& loadName) {
    return environmentError("no load `" + loadName + "` is running");
  }

  // Endpoints a user can reach while the mesh is kept up (--keep, sim up).
  virtual std::vector<std::string> endpoints() const = 0;

  // With RunOptions::dryRun: every command the backend would have run, one per line, in order.
  // Backends with nothing to plan (sim runs in-process) may describe their steps instead.
  virtual std::vector<std::string> plan() const { return {}; }

  // What the backend collected to explain a failure (kind: pods, events, logs, proxy-config
  // dumps, `istioctl analyze`), one entry per command with its output. Read after down();
  // the runner attaches it to the scenario's report.
  virtual std::vector<std::string> diagnostics() const { return {}; }

  // Releases everything up() created. Idempotent; always called, also after errors.
  virtual void down() = 0;
};

}  // namespace egresslab::backend
