#include "harness/kind/preflight.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace egresslab::kind {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view firstLine(std::string_view s) {
  s = trim(s);
  return s.substr(0, s.find('\n'));
}

bool readNumber(std::string_view s, std::size_t& pos, int& value) {
  const std::size_t start = pos;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
  if (pos == start || pos - start > 6) return false;
  std::from_chars(s.data() + start, s.data() + pos, value);
  return true;
}

// A version starting exactly at `pos`: MAJOR.MINOR[.PATCH], not preceded by a digit or '.'.
std::optional<ToolVersion> versionAt(std::string_view s, std::size_t pos) {
  if (pos > 0) {
    const char before = s[pos - 1];
    if (std::isdigit(static_cast<unsigned char>(before)) || before == '.') return std::nullopt;
  }
  ToolVersion v;
  if (!readNumber(s, pos, v.major)) return std::nullopt;
  if (pos >= s.size() || s[pos] != '.') return std::nullopt;
  ++pos;
  if (!readNumber(s, pos, v.minor)) return std::nullopt;
  if (pos + 1 < s.size() && s[pos] == '.' && std::isdigit(static_cast<unsigned char>(s[pos + 1]))) {
    ++pos;
    readNumber(s, pos, v.patch);
  }
  return v;
}

std::string commandFailure(const CommandResult& result) {
  std::string reason = std::string(firstLine(result.err));
  if (reason.empty()) reason = std::string(firstLine(result.out));
  if (result.timedOut) return fmt::format("`{}` did not answer in time", result.display());
  if (result.signal != 0) {
    return fmt::format("`{}` was killed by {}", result.display(), signalName(result.signal));
  }
  if (reason.empty()) return fmt::format("`{}` exited {}", result.display(), result.exitCode);
  return fmt::format("`{}` exited {}: {}", result.display(), result.exitCode, reason);
}

struct ToolQuery {
  std::string tool;
  std::vector<std::string> argv;
  std::optional<ToolVersion> (*parse)(std::string_view);
};

ToolCheck checkTool(CommandRunner& runner, const ToolQuery& query,
                    const PreflightOptions& options) {
  ToolCheck check;
  check.tool = query.tool;
  auto located = runner.locate(query.tool);
  if (!located) {
    check.status = ToolStatus::kMissing;
    check.detail = located.error().message;
    check.installHint = installHintFor(query.tool, options.istioVersion);
    return check;
  }
  check.path = *located;
  Command command;
  command.argv = query.argv;
  command.timeout = options.queryTimeout;
  command.killGrace = std::chrono::milliseconds(1000);
  auto result = runner.run(command);
  if (!result) {
    check.status = ToolStatus::kNotWorking;
    check.detail = result.error().message;
  } else if (!result->ok()) {
    check.status = ToolStatus::kNotWorking;
    check.detail = commandFailure(*result);
  } else if (auto version = query.parse(result->out)) {
    check.status = ToolStatus::kOk;
    check.version = version;
  } else {
    check.status = ToolStatus::kNotWorking;
    check.detail =
        fmt::format("`{}` printed no version: {}", command.display(),
                    firstLine(result->out).empty() ? "(nothing)" : firstLine(result->out));
  }
  if (!check.ok()) check.installHint = installHintFor(query.tool, options.istioVersion);
  return check;
}

// docs/istio-behaviour.md §10: istioctl installs its own Istio version, and the in-cluster
// operator that ≤1.23's install flow uses was removed in 1.24.
void checkIstioVersion(ToolCheck& check, const ToolVersion& wanted) {
  if (!check.ok() || !check.version) return;
  const ToolVersion& have = *check.version;
  if (have.major == wanted.major && have.minor == wanted.minor) {
    check.detail = fmt::format("matches the requested Istio {}", wanted.str());
    return;
  }
  check.status = ToolStatus::kVersionMismatch;
  check.detail = fmt::format(
      "istioctl {} installs Istio {}.{}, but Istio {} was requested: major.minor must match "
      "(istioctl installs its own version)",
      have.str(), have.major, have.minor, wanted.str());
  const bool wantsOperator = wanted.major == 1 && wanted.minor <= 23;
  const bool hasNoOperator = have.major > 1 || (have.major == 1 && have.minor >= 24);
  if (wantsOperator && hasNoOperator) {
    check.detail +=
        "; also, istioctl 1.24+ has no `operator init`, which the install flow of Istio "
        "<= 1.23 uses (docs/istio-behaviour.md §10)";
  }
  check.installHint = installHintFor("istioctl", wanted);
}

}  // namespace

std::string ToolVersion::str() const {
  if (patch < 0) return fmt::format("{}.{}", major, minor);
  return fmt::format("{}.{}.{}", major, minor, patch);
}

std::optional<ToolVersion> findVersion(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size(); ++pos) {
    if (!std::isdigit(static_cast<unsigned char>(text[pos]))) continue;
    if (auto v = versionAt(text, pos)) return v;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
  }
  return std::nullopt;
}

std::optional<ToolVersion> parseVersion(std::string_view text) {
  if (text.starts_with('v')) text.remove_prefix(1);
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text.front()))) return std::nullopt;
  auto version = versionAt(text, 0);
  if (!version || version->str() != text) return std::nullopt;
  return version;
}

std::optional<ToolVersion> parseKindVersion(std::string_view out) {
  // "kind v0.20.0 go1.20.4 linux/amd64": the first version is kind's, the go one follows.
  return findVersion(firstLine(out));
}

std::optional<ToolVersion> parseKubectlVersion(std::string_view out) {
  // `--client -o json`: {"clientVersion":{"major":"1","minor":"32+","gitVersion":"v1.32.4-x"}}.
  // gitVersion is the reliable field (minor carries a "+" on vendor builds).
  const auto json = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (json.is_object() && json.contains("clientVersion") && json["clientVersion"].is_object()) {
    const auto& client = json["clientVersion"];
    if (client.contains("gitVersion") && client["gitVersion"].is_string()) {
      if (auto v = findVersion(client["gitVersion"].get<std::string>())) return v;
    }
  }
  // Plain text ("Client Version: v1.27.3"), from kubectl builds without -o json.
  const auto at = out.find("Client Version:");
  if (at != std::string_view::npos) return findVersion(out.substr(at));
  return std::nullopt;
}

std::optional<ToolVersion> parseIstioctlVersion(std::string_view out) {
  // 1.2x prints "client version: 1.24.2"; 1.8 prints just "1.8.0". Other lines (warnings with
  // timestamps) must not be mistaken for the version.
  const auto at = out.find("client version:");
  if (at != std::string_view::npos) return findVersion(firstLine(out.substr(at)));
  std::string_view rest = out;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    std::string_view line = trim(rest.substr(0, nl));
    if (!line.empty() && std::isdigit(static_cast<unsigned char>(line.front())) &&
        line.find(' ') == std::string_view::npos) {
      if (auto v = findVersion(line)) return v;
    }
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return std::nullopt;
}

std::optional<ToolVersion> parseDockerServerVersion(std::string_view out) {
  const auto at = out.find("Server Version:");
  if (at != std::string_view::npos) return findVersion(firstLine(out.substr(at)));
  return findVersion(firstLine(out));
}

std::optional<ToolVersion> parseHelmVersion(std::string_view out) {
  return findVersion(firstLine(out));
}

std::string_view toString(ToolStatus status) {
  switch (status) {
    case ToolStatus::kOk:
      return "ok";
    case ToolStatus::kMissing:
      return "missing";
    case ToolStatus::kNotWorking:
      return "not working";
    case ToolStatus::kVersionMismatch:
      return "version mismatch";
  }
  return "unknown";
}

std::string installHintFor(std::string_view tool, const std::optional<ToolVersion>& istioVersion) {
  if (tool == "docker") {
    return "install Docker Engine (https://docs.docker.com/engine/install/; on Debian "
           "`apt-get install docker.io`), start the daemon (`systemctl start docker`) and give "
           "your user access to /var/run/docker.sock (group `docker`)";
  }
  if (tool == "kind") {
    return "download the single kind binary from https://github.com/kubernetes-sigs/kind/releases "
           "(kind-linux-amd64; v0.20+ intended), make it executable and put it on PATH as "
           "`kind`; see https://kind.sigs.k8s.io/docs/user/quick-start/#installation";
  }
  if (tool == "kubectl") {
    return "download kubectl from https://dl.k8s.io/release/<version>/bin/linux/amd64/kubectl "
           "(within one minor version of the cluster's Kubernetes) and put it on PATH; see "
           "https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/";
  }
  if (tool == "istioctl") {
    if (istioVersion && istioVersion->patch >= 0) {
      const std::string v = istioVersion->str();
      return fmt::format(
          "download istioctl-{0}-linux-amd64.tar.gz from "
          "https://github.com/istio/istio/releases/tag/{0} (or run `curl -L "
          "https://istio.io/downloadIstio | ISTIO_VERSION={0} sh -`) and put istio-{0}/bin on "
          "PATH",
          v);
    }
    if (istioVersion) {
      return fmt::format(
          "download the latest {0}.x istioctl from https://github.com/istio/istio/releases "
          "(or run `curl -L https://istio.io/downloadIstio | ISTIO_VERSION={0}.<patch> sh -`) "
          "and put its bin/ directory on PATH",
          istioVersion->str());
    }
    return "download istioctl for the Istio version your scenarios name from "
           "https://github.com/istio/istio/releases (see "
           "https://istio.io/latest/docs/setup/additional-setup/download-istio-release/) and "
           "put it on PATH";
  }
  if (tool == "helm") {
    return "download helm from https://github.com/helm/helm/releases (see "
           "https://helm.sh/docs/intro/install/) and put it on PATH";
  }
  return fmt::format("install {} and put it on PATH", tool);
}

bool PreflightReport::ok() const {
  return std::all_of(checks.begin(), checks.end(), [](const ToolCheck& c) { return c.ok(); });
}

std::string PreflightReport::table() const {
  std::vector<std::array<std::string, 4>> rows;
  rows.push_back({"TOOL", "STATUS", "VERSION", "PATH"});
  for (const auto& check : checks) {
    rows.push_back({check.tool, std::string(toString(check.status)),
                    check.version ? check.version->str() : "-",
                    check.path.empty() ? "-" : check.path.string()});
  }
  std::array<std::size_t, 4> width{};
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {}\n", row[0], width[0], row[1], width[1], row[2],
                       width[2], row[3]);
  }
  bool anyMissing = false;
  for (const auto& check : checks) {
    if (check.ok()) continue;
    anyMissing = true;
    out += fmt::format("\n{} ({}): {}\n", check.tool, toString(check.status), check.detail);
    if (!check.installHint.empty()) out += fmt::format("  how to fix: {}\n", check.installHint);
  }
  if (anyMissing) {
    out +=
        "\nNo internet on this machine? Download the binaries elsewhere and copy them onto "
        "PATH; the kind backend downloads nothing at run time (docs/kind.md).\n";
  }
  return out;
}

std::string PreflightReport::problems() const {
  std::string out;
  for (const auto& check : checks) {
    if (check.ok()) continue;
    if (!out.empty()) out += "\n";
    out += fmt::format("{}: {} — {}", check.tool, toString(check.status), check.detail);
    if (!check.installHint.empty()) out += fmt::format(" (how to fix: {})", check.installHint);
  }
  return out;
}

PreflightReport runPreflight(CommandRunner& runner, const PreflightOptions& options) {
  std::vector<ToolQuery> queries = {
      {"docker", {"docker", "info", "--format", "{{.ServerVersion}}"}, parseDockerServerVersion},
      {"kind", {"kind", "version"}, parseKindVersion},
      {"kubectl", {"kubectl", "version", "--client", "-o", "json"}, parseKubectlVersion},
      {"istioctl", {"istioctl", "version", "--remote=false"}, parseIstioctlVersion},
  };
  if (options.needHelm) {
    queries.push_back({"helm", {"helm", "version", "--short"}, parseHelmVersion});
  }
  PreflightReport report;
  for (const auto& query : queries) {
    ToolCheck check = checkTool(runner, query, options);
    if (check.tool == "docker" && check.status == ToolStatus::kNotWorking) {
      check.detail = "the Docker daemon is not reachable: " + check.detail;
    } else if (check.tool == "docker" && check.ok()) {
      check.detail = "daemon reachable";
    }
    if (check.tool == "istioctl" && options.istioVersion) {
      checkIstioVersion(check, *options.istioVersion);
    }
    report.checks.push_back(std::move(check));
  }
  return report;
}

}  // namespace egresslab::kind
