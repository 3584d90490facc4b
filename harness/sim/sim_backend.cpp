#include "harness/sim/sim_backend.h"

#include <algorithm>

#include <fmt/format.h>

#include "harness/curl/execute.h"
#include "harness/sim/step_files.h"

namespace egresslab::sim {
namespace {

class SimBackend final : public backend::Backend {
 public:
  explicit SimBackend(SimOptions options) : options_(options) {}
  ~SimBackend() override { down(); }

  std::string_view name() const override { return "sim"; }

  Result<void> up(const model::Scenario& scenario, const backend::RunOptions& run) override {
    down();
    SimOptions o = options_;
    if (run.timeScale != 1.0) o.timeScale = run.timeScale;
    if (run.dryRun) {
      plan_ = {fmt::format("sim: compile {} manifests for Istio {}", scenario.manifests.size(),
                           scenario.istioVersion.str()),
               fmt::format("sim: start {} upstream mocks, gateways and sidecars on 127.0.0.1",
                           scenario.upstreams.size())};
      return {};
    }
    auto mesh = SimMesh::start(scenario, o);
    if (!mesh) return std::unexpected(mesh.error());
    mesh_ = std::move(*mesh);
    files_.scenarioDir = scenario.file.parent_path();
    files_.caPath = mesh_->scenarioCaPath();
    files_.runDir = files_.caPath.parent_path();
    files_.outputDirs = run.outputDirs;
    return {};
  }

  std::string expandCurlLine(const std::string& line) const override {
    if (!mesh_) return line;
    std::string out = line;
    const std::string ca = mesh_->scenarioCaPath().string();
    for (std::size_t at = out.find("${ca}"); at != std::string::npos;
         at = out.find("${ca}", at + ca.size())) {
      out.replace(at, 5, ca);
    }
    return out;
  }

  Result<report::Observation> curl(const backend::CurlRequest& request) override {
    if (!mesh_) return environmentError("the sim backend is not up");
    auto options = mesh_->execOptionsFor(request.from);
    if (!options) return std::unexpected(options.error());
    curl::CurlCommand command = request.command;
    if (auto confined = confineStepFiles(command, request.from, files_); !confined) {
      return std::unexpected(confined.error());
    }
    if (!request.requestId.empty())
      options->extraHeaders.emplace_back("x-request-id", request.requestId);
    if (request.timeout) {
      // A hung request must not outlive its step.
      options->defaultTimeout = *request.timeout;
      if (!command.maxTime || command.maxTime->count() == 0 ||
          *command.maxTime > *request.timeout) {
        command.maxTime = *request.timeout;
      }
    }
    const std::uint64_t since = mesh_->logSequence();
    const curl::CurlResult result = curl::execute(command, *options);
    // Every hop of this curl: HTTP by request id, TCP by connection from curl's own end
    // (docs/design.md "Every hop observable, HTTP or not").
    const std::string local =
        result.localPort > 0 ? fmt::format("{}:{}", result.localIp, result.localPort) : "";
    return observationFrom(
        result, request.requestId,
        mesh_->logsForCurl(request.requestId, local, since, std::chrono::seconds(2)));
  }

  Result<void> fault(const model::FaultSpec& fault) override {
    if (!mesh_) return environmentError("the sim backend is not up");
    return mesh_->fault(fault);
  }

  std::vector<std::string> endpoints() const override {
    return mesh_ ? mesh_->endpoints() : std::vector<std::string>{};
  }

  std::vector<std::string> plan() const override { return plan_; }

  void down() override {
    if (mesh_) {
      mesh_->stop();
      mesh_.reset();
    }
  }

  SimMesh* mesh() { return mesh_.get(); }

 private:
  SimOptions options_;
  std::unique_ptr<SimMesh> mesh_;
  std::vector<std::string> plan_;
  StepFiles files_;
};

}  // namespace

report::Observation observationFrom(const curl::CurlResult& result, const std::string& requestId,
                                    const std::vector<LogRecord>& logs) {
  report::Observation o;
  o.exit = result.exitCode;
  if (result.status > 0) o.status = result.status;
  for (const auto& [k, v] : result.headers) o.headers[k].push_back(v);
  o.body = result.body;
  o.curlError = result.errorMessage;
  o.requestId = requestId;
  for (const auto& r : logs) {
    // A proxy appears once in `via` even if it logged twice (e.g. a redirect followed with -L
    // reuses the id): hop order is the order of first arrival.
    if (std::find(o.via.begin(), o.via.end(), r.proxy) == o.via.end()) o.via.push_back(r.proxy);
    o.flags[r.proxy] = r.flags;
    o.accessLog.push_back(r.proxy + ": " + r.line);
  }
  return o;
}

std::unique_ptr<backend::Backend> makeSimBackend() { return makeSimBackend(SimOptions{}); }

std::unique_ptr<backend::Backend> makeSimBackend(const SimOptions& options) {
  return std::make_unique<SimBackend>(options);
}

}  // namespace egresslab::sim
