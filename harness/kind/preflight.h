// Preflight of the kind backend, also shown by `egresslab doctor`: is every tool the run needs
// installed, which version is it, and — for anything missing — how to install it.
//
// Checks, each through the CommandRunner (tests use the fakes on a temp PATH):
//   docker   `docker info --format {{.ServerVersion}}`  — the daemon must answer, not just the CLI
//   kind     `kind version`
//   kubectl  `kubectl version --client -o json`
//   istioctl `istioctl version --remote=false`  — and its major.minor against the scenario's
//            Istio version: istioctl installs its own version, and 1.24+ has no in-cluster
//            operator for ≤1.23's install flow (docs/istio-behaviour.md §10)
//   helm     `helm version --short`  — only when the install method needs it
// A run refuses to start (exit 3, docs/design.md) unless every check is ok.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/error.h"
#include "harness/kind/command_runner.h"

namespace egresslab::kind {

// A dotted version as tools print it ("v1.27.3", "1.24.2", "1.8"); patch -1 when absent.
struct ToolVersion {
  int major = 0;
  int minor = 0;
  int patch = -1;

  [[nodiscard]] std::string str() const;  // "1.24.2" / "1.8"
  friend bool operator==(const ToolVersion&, const ToolVersion&) = default;
};

// The first "MAJOR.MINOR[.PATCH]" in `text` (a leading "v" allowed), or nullopt.
std::optional<ToolVersion> findVersion(std::string_view text);

// `text` exactly "[v]MAJOR.MINOR[.PATCH]" (a flag value such as --istio-version), or nullopt.
std::optional<ToolVersion> parseVersion(std::string_view text);

// Version parsers for each tool's output (exposed for their own tests).
std::optional<ToolVersion> parseKindVersion(std::string_view out);  // "kind v0.20.0 go1.20.4 …"
std::optional<ToolVersion> parseKubectlVersion(std::string_view out);  // --client -o json
std::optional<ToolVersion> parseIstioctlVersion(
    std::string_view out);  // "client version: 1.24.2" / "1.8.0"
std::optional<ToolVersion> parseDockerServerVersion(std::string_view out);  // "24.0.5"
std::optional<ToolVersion> parseHelmVersion(std::string_view out);          // "v3.12.3+g3a31588"

enum class ToolStatus {
  kOk,
  kMissing,          // not on PATH
  kNotWorking,       // found, but the version query failed (e.g. docker daemon unreachable)
  kVersionMismatch,  // istioctl's major.minor differs from the requested Istio version
};
std::string_view toString(ToolStatus status);

struct ToolCheck {
  std::string tool;  // "kubectl"
  ToolStatus status = ToolStatus::kMissing;
  std::optional<ToolVersion> version;
  std::filesystem::path path;  // where it was found
  std::string detail;          // why it is not ok, or a note ("daemon 24.0.5 reachable")
  std::string installHint;     // how to get it; set whenever status is not kOk

  [[nodiscard]] bool ok() const { return status == ToolStatus::kOk; }
};

struct PreflightOptions {
  // The Istio version the run will install (a scenario's istio.version); nullopt: any.
  std::optional<ToolVersion> istioVersion{};
  bool needHelm = false;
  std::chrono::milliseconds queryTimeout{20000};
};

struct PreflightReport {
  std::vector<ToolCheck> checks;

  [[nodiscard]] bool ok() const;
  // docs/design.md exit code: 0 when every check is ok, 3 otherwise.
  [[nodiscard]] int exitCode() const { return ok() ? 0 : 3; }
  // A fixed-width table: TOOL STATUS VERSION PATH, then one "problem" block per failed
  // check with its detail and install hint.
  [[nodiscard]] std::string table() const;
  // One line per failed check ("kubectl: missing — install: …"), for an Error message.
  [[nodiscard]] std::string problems() const;
};

PreflightReport runPreflight(CommandRunner& runner, const PreflightOptions& options);

// The install instructions `doctor` prints for a tool (links as text).
std::string installHintFor(std::string_view tool, const std::optional<ToolVersion>& istioVersion);

}  // namespace egresslab::kind
