// The seam between the runner and a backend (sim or kind), and what one request observed.
//
// The runner owns the scenario's control flow (steps, expectations, retries with deadlines,
// timeouts, reports); a backend owns the mesh: it brings it up, runs a curl line from the host
// or from a pod, injects faults, and tears everything down. One contract test suite runs
// against every implementation (docs/design.md "Code conventions": gMock cookbook, typed tests).
#pragma once

#include <chrono>
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
