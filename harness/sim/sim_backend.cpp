#include "harness/sim/sim_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "harness/backend/load_generator.h"
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
    dryRun_ = run.dryRun;
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

  // docs/scenarios.md "Load and SLOs": the curl line runs in-process (as curl steps do) at the
  // load's rate; servedBy comes from the mocks' accounting when the load stops.
  Result<void> startLoad(const backend::LoadRequest& request) override {
    if (loads_.contains(request.name)) {
      return environmentError(fmt::format("load `{}` is already running", request.name));
    }
    if (dryRun_) {
      plan_.push_back(fmt::format("sim: load {}: {} at {:g}/s, concurrency {}, until load.stop",
                                  request.name, request.request.line, request.rate,
                                  request.concurrency));
      loads_[request.name] = {};
      return {};
    }
    if (!mesh_) return environmentError("the sim backend is not up");
    auto options = mesh_->execOptionsFor(request.request.from);
    if (!options) return std::unexpected(options.error());
    curl::CurlCommand command = request.request.command;
    // A load keeps no bodies and no write-out (docs/scenarios.md "Load and SLOs"); its other
    // files are confined like a step's.
    command.output.reset();
    command.writeOut.reset();
    if (auto confined = confineStepFiles(command, request.request.from, files_); !confined) {
      return std::unexpected(confined.error());
    }
    // A request that hangs (blackhole) must not hold the load's stop for long.
    const std::chrono::milliseconds cap = request.request.timeout.value_or(kLoadRequestTimeout);
    options->defaultTimeout = cap;
    if (!command.maxTime || command.maxTime->count() == 0 || *command.maxTime > cap) {
      command.maxTime = cap;
    }
    RunningLoad load;
    load.prefix = request.request.requestId;
    const std::string prefix = load.prefix;
    load.generator = std::make_unique<backend::LoadGenerator>(
        request.rate, request.concurrency,
        [command = std::move(command), base = std::move(*options), prefix](std::uint64_t index) {
          curl::ExecOptions o = base;
          o.extraHeaders.emplace_back("x-request-id", fmt::format("{}-{}", prefix, index));
          const curl::CurlResult r = curl::execute(command, o);
          return backend::LoadGenerator::Answer{r.exitCode, r.status};
        });
    loads_[request.name] = std::move(load);
    return {};
  }

  Result<backend::LoadRun> stopLoad(const std::string& loadName) override {
    auto it = loads_.find(loadName);
    if (it == loads_.end())
      return environmentError(fmt::format("no load `{}` is running", loadName));
    RunningLoad load = std::move(it->second);
    loads_.erase(it);
    if (!load.generator) return backend::LoadRun{};  // dry run
    backend::LoadRun run = load.generator->stop();
    if (mesh_) {
      for (auto& sample : run.samples) {
        if (sample.dropped) continue;
        sample.servedBy = mesh_->servedBy(fmt::format("{}-{}", load.prefix, sample.index));
      }
    }
    return run;
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
    // Loads first: their requests go through the mesh.
    for (auto& [name, load] : loads_) {
      if (load.generator) load.generator->stop();
    }
    loads_.clear();
    if (mesh_) {
      mesh_->stop();
      mesh_.reset();
    }
  }

  SimMesh* mesh() { return mesh_.get(); }

 private:
  static constexpr std::chrono::milliseconds kLoadRequestTimeout{10000};
  struct RunningLoad {
    std::string prefix;  // x-request-id prefix; request n sends "<prefix>-<n>"
    std::unique_ptr<backend::LoadGenerator> generator;  // null in a dry run
  };
  SimOptions options_;
  std::unique_ptr<SimMesh> mesh_;
  std::vector<std::string> plan_;
  bool dryRun_ = false;
  std::map<std::string, RunningLoad> loads_;
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
