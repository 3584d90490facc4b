// Shared by the simulator's socket-level tests: a scratch directory for the scenario files a test
// writes, one curl through a running SimMesh the way the sim backend runs a step, and the mesh a
// test runs (RunningMesh) with the helpers that print and search what a curl observed.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "harness/curl/command.h"
#include "harness/curl/execute.h"
#include "harness/model/loader.h"
#include "harness/report/results.h"
#include "harness/sim/sim_backend.h"
#include "harness/sim/sim_mesh.h"

namespace egresslab::sim::sim_test {

// A directory under /tmp named after `prefix`, removed with everything in it.
struct TempDir {
  explicit TempDir(const std::string& prefix) {
    std::string tmpl = "/tmp/egresslab-" + prefix + "-XXXXXX";
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
  std::filesystem::path path;
};

// Runs a curl line from the host (`from` empty) or the pod NS/NAME, with `${ca}` replaced by the
// run's scenario CA and `requestId` as x-request-id; the observation joins that id's log lines.
inline report::Observation curlThrough(SimMesh& mesh, const std::string& from, std::string line,
                                       const std::string& requestId,
                                       std::chrono::milliseconds timeout) {
  const std::string ca = mesh.scenarioCaPath().string();
  for (auto at = line.find("${ca}"); at != std::string::npos; at = line.find("${ca}")) {
    line.replace(at, 5, ca);
  }
  auto cmd = curl::parseCurlCommandLine(line);
  EXPECT_TRUE(cmd.has_value()) << line;
  auto opts = mesh.execOptionsFor(from.empty() ? std::nullopt : std::optional(from));
  EXPECT_TRUE(opts.has_value());
  if (!cmd || !opts) return {};
  opts->extraHeaders.emplace_back("x-request-id", requestId);
  opts->defaultTimeout = timeout;
  const curl::CurlResult r = curl::execute(*cmd, *opts);
  return observationFrom(r, requestId, mesh.logsFor(requestId));
}

// One scenario's simulated mesh, started for a test with `options`: a scenario that does not load
// or a mesh that does not start is a test failure and leaves ok() false. Curls carry the request
// ids "<requestIdPrefix>-1", "-2", … (atomic: tests may curl from several threads) and give up
// after `curlTimeout`.
class RunningMesh {
 public:
  RunningMesh(Result<model::Scenario> scenario, std::string requestIdPrefix,
              const SimOptions& options = {},
              std::chrono::seconds curlTimeout = std::chrono::seconds(10))
      : prefix_(std::move(requestIdPrefix)), curlTimeout_(curlTimeout) {
    if (!scenario) {
      ADD_FAILURE() << scenario.error().str();
      return;
    }
    scenario_ = std::move(*scenario);
    auto m = SimMesh::start(scenario_, options);
    if (!m) {
      ADD_FAILURE() << m.error().str();
      return;
    }
    mesh_ = std::move(*m);
  }
  RunningMesh(const std::filesystem::path& scenarioFile, std::string requestIdPrefix,
              const SimOptions& options = {},
              std::chrono::seconds curlTimeout = std::chrono::seconds(10))
      : RunningMesh(model::loadScenario(scenarioFile), std::move(requestIdPrefix), options,
                    curlTimeout) {}

  [[nodiscard]] bool ok() const { return mesh_ != nullptr; }
  SimMesh& mesh() { return *mesh_; }

  // One curl line from the host (`from` empty) or the pod NS/NAME.
  report::Observation curl(const std::string& from, const std::string& line) {
    return curlThrough(*mesh_, from, line, fmt::format("{}-{}", prefix_, ++n_), curlTimeout_);
  }
  // Repeats `line` until `pred` holds on the observation (gateways becoming ready), for at most
  // 20 s; returns the last observation either way, for the test to check.
  template <typename Pred>
  report::Observation curlUntil(const std::string& from, const std::string& line, Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    report::Observation o = curl(from, line);
    while (!pred(o) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      o = curl(from, line);
    }
    return o;
  }
  // curlUntil the answer is anything but a not-ready gateway's 503 (or no HTTP answer at all).
  report::Observation curlWhenReady(const std::string& from, const std::string& line) {
    return curlUntil(from, line, [](const report::Observation& o) {
      return o.status.has_value() && *o.status != 503;
    });
  }

 private:
  std::string prefix_;
  std::chrono::seconds curlTimeout_;
  model::Scenario scenario_;
  std::unique_ptr<SimMesh> mesh_;
  std::atomic<int> n_{0};
};

// What a curl observed, for a failure message: exit, status, error, the body's start and the
// access-log lines of the request.
inline std::string describe(const report::Observation& o) {
  std::string s = fmt::format("exit={} status={} err={} body={}\n", o.exit.value_or(-1),
                              o.status.value_or(0), o.curlError, o.body.substr(0, 400));
  for (const auto& l : o.accessLog) s += "  " + l + "\n";
  return s;
}

// True when an access-log line of the request contains `text`.
inline bool logHas(const report::Observation& o, const std::string& text) {
  return std::any_of(o.accessLog.begin(), o.accessLog.end(),
                     [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

}  // namespace egresslab::sim::sim_test
