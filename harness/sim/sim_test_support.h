// Shared by the simulator's socket-level tests: a scratch directory for the scenario files a test
// writes, and one curl through a running SimMesh the way the sim backend runs a step.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "harness/curl/command.h"
#include "harness/curl/execute.h"
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

}  // namespace egresslab::sim::sim_test
