// `egresslab run [--backend sim|kind] [--istio-version V] [--report FORMAT=PATH]...
//                [--parallel N] [--filter REGEX] [--keep] [--time-scale F] [--dry-run] [-v]
//                [--allow-unsimulated] SCENARIO_OR_DIR...`
// Flags → runner options; the runner does the work. Exit codes (docs/design.md): 0 every scenario
// passed, 1 a scenario failed or errored, 2 invalid input or usage (`FILE:LINE:COL: message`
// on stderr), 3 a backend could not start.
//
// Backends come from a factory map. A backend module that is not part of this build (its
// header is absent) is simply not in the map, and asking for it is exit 3 with "backend X is
// not available in this build" — so the command works before the simulator or the kind
// backend lands, and picks them up when they do.
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cmath>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/cli/command.h"
#include "harness/cli/version.h"
#include "harness/report/report.h"
#include "harness/runner/console_listener.h"
#include "harness/runner/runner.h"
#include "harness/runner/scenario_set.h"

// Set by harness/cli/CMakeLists.txt when the backend's module is part of the build (a
// definition, not __has_include, so ccache recompiles when a backend joins the build).
#ifdef EGRESSLAB_HAS_SIM_BACKEND
#include "harness/sim/sim_backend.h"
#endif
#ifdef EGRESSLAB_HAS_KIND_BACKEND
#include "harness/kind/kind_backend.h"
#endif

namespace egresslab::cli {
namespace {

struct RunFlags {
  std::string backend = "sim";
  std::string istioVersion;
  std::vector<std::string> reports;
  int parallel = 1;
  std::string filter;
  bool keep = false;
  std::string timeScale;  // as written; "": kDefaultSimTimeScale on sim, real time on kind
  bool dryRun = false;
  bool allowUnsimulated = false;
  bool verbose = false;
  std::vector<std::string> outputDirs;  // --output-dir: host steps' curl may write here
  std::string kindContext;              // kind: run on the cluster behind this kubeconfig context
  bool reuseCluster = false;            // kind: reuse an existing cluster of the scenario's name
  std::string planDir;                  // kind --dry-run: write plan.sh and its files here
  bool planDirPerScenario = false;
  std::vector<std::string> inputs;
};

struct ReportTarget {
  std::string format;  // json | junit | html
  std::filesystem::path path;
};

// Set by SIGINT/SIGTERM; the runner stops after the current request and tears down. The
// handler re-arms the default action, so a second Ctrl-C ends the process at once.
runner::CancelFlag gCancelled{false};

// On sim, mesh time runs this much faster unless --time-scale says otherwise: the probe
// periods and `eventually` windows written for a real cluster (readiness 30 × 2 s) pass in
// seconds, so the shipped scenarios finish in a few seconds. `--time-scale 1` is real time.
constexpr double kDefaultSimTimeScale = 50.0;

extern "C" void onTerminationSignal(int signo) {
  gCancelled.store(true);
  ::signal(signo, SIG_DFL);
}

void installSignalHandlers() {
  struct sigaction action {};
  action.sa_handler = onTerminationSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

std::map<std::string, runner::BackendFactory> availableBackends(
    [[maybe_unused]] const RunFlags& flags) {
  std::map<std::string, runner::BackendFactory> factories;
#ifdef EGRESSLAB_HAS_SIM_BACKEND
  factories["sim"] = []() -> Result<std::unique_ptr<backend::Backend>> {
    return sim::makeSimBackend();
  };
#endif
#ifdef EGRESSLAB_HAS_KIND_BACKEND
  factories["kind"] = [&flags]() -> Result<std::unique_ptr<backend::Backend>> {
    kind::KindOptions options;
    if (!flags.kindContext.empty()) options.context = flags.kindContext;
    options.reuseCluster = flags.reuseCluster;
    options.planDir = flags.planDir;
    options.planDirPerScenario = flags.planDirPerScenario;
    return kind::makeKindBackend(std::move(options));
  };
#endif
  return factories;
}

// A finite number > 0 (and at most a million: beyond that every clock is at its floor), or
// nullopt.
std::optional<double> parseTimeScale(const std::string& text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (!std::isfinite(value) || value <= 0 || value > 1e6) return std::nullopt;
  return value;
}

Result<std::vector<ReportTarget>> parseReports(const std::vector<std::string>& specs) {
  std::vector<ReportTarget> targets;
  for (const auto& spec : specs) {
    const auto eq = spec.find('=');
    const std::string format = spec.substr(0, eq);
    if (eq == std::string::npos || eq + 1 == spec.size() ||
        (format != "json" && format != "junit" && format != "html")) {
      return invalidInput("--report " + spec +
                          ": expected FORMAT=PATH with FORMAT json, junit or html");
    }
    ReportTarget target{format, std::filesystem::path(spec.substr(eq + 1))};
    // Missing directories are created (before the run, so a bad path fails fast).
    const auto parent = std::filesystem::absolute(target.path).parent_path();
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec || !std::filesystem::is_directory(parent)) {
      return invalidInput("--report " + spec + ": cannot create the directory " + parent.string() +
                          (ec ? ": " + ec.message() : std::string()));
    }
    if (std::filesystem::is_directory(target.path, ec)) {
      return invalidInput("--report " + spec + ": " + target.path.string() +
                          " is a directory; give a file name");
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

bool writeReport(const ReportTarget& target, const report::RunReport& run) {
  std::ofstream out(target.path, std::ios::binary | std::ios::trunc);
  if (target.format == "json") {
    out << report::toJson(run);
  } else if (target.format == "junit") {
    out << report::toJUnit(run);
  } else {
    out << report::toHtml(run);
  }
  out.close();
  if (!out) {
    std::cerr << "egresslab run: could not write the " << target.format << " report to "
              << target.path.string() << "\n";
    return false;
  }
  return true;
}

int runScenarios(RunFlags& flags) {
  auto reports = parseReports(flags.reports);
  if (!reports) {
    std::cerr << reports.error().str() << "\n";
    return 2;
  }
  std::optional<double> timeScale;
  if (!flags.timeScale.empty()) {
    timeScale = parseTimeScale(flags.timeScale);
    if (!timeScale) {
      std::cerr << "--time-scale " << flags.timeScale
                << ": must be a number greater than 0 and at most 1000000 (1 = real time, 50 "
                   "= fifty times faster)\n";
      return 2;
    }
  }
  if (flags.backend != "sim" && timeScale && *timeScale != 1.0) {
    std::cerr << "--time-scale: only the sim backend can run mesh time faster; a real cluster "
                 "runs in real time\n";
    return 2;
  }
  if (flags.backend != "sim" && flags.allowUnsimulated) {
    std::cerr << "--allow-unsimulated applies to the sim backend only (kind runs real Istio)\n";
    return 2;
  }

  runner::ScenarioSelection selection;
  for (const auto& input : flags.inputs) selection.inputs.emplace_back(input);
  selection.filter = flags.filter;
  selection.needsClusterConfig = flags.backend == "kind";
  if (!flags.istioVersion.empty()) {
    auto version = model::IstioVersion::parse(flags.istioVersion, SourcePos{"--istio-version"});
    if (!version) {
      std::cerr << version.error().str() << "\n";
      return 2;
    }
    selection.istioVersion = *version;
  }
  auto scenarios = runner::loadScenarios(selection);
  if (!scenarios) {
    std::cerr << scenarios.error().str() << "\n";
    return exitCodeFor(scenarios.error().kind);
  }

  if (flags.backend != "kind" && (!flags.kindContext.empty() || flags.reuseCluster)) {
    std::cerr << "--context and --reuse-cluster apply to the kind backend only\n";
    return 2;
  }
  if (!flags.planDir.empty() && (flags.backend != "kind" || !flags.dryRun)) {
    std::cerr << "--plan-dir goes with --backend kind --dry-run\n";
    return 2;
  }
  flags.planDirPerScenario = scenarios->size() > 1;
  const auto backends = availableBackends(flags);
  const auto factory = backends.find(flags.backend);
  if (factory == backends.end()) {
    std::cerr << "egresslab run: backend " << flags.backend << " is not available in this build\n";
    return 3;
  }

  installSignalHandlers();
  // With --dry-run stdout carries only the plan, so progress goes to stderr.
  std::ostream& progressOut = flags.dryRun ? std::cerr : std::cout;
  const bool tty = ::isatty(flags.dryRun ? STDERR_FILENO : STDOUT_FILENO) == 1;
  report::ConsoleReporter console(progressOut, flags.verbose, flags.parallel > 1, tty);
  runner::ConsoleListener listener(console);
  runner::SteadyClock clock;

  runner::RunnerOptions options;
  options.backendName = flags.backend;
  options.toolVersion = std::string(kVersion);
  options.parallel = flags.parallel;
  options.backend.timeScale =
      timeScale.value_or(flags.backend == "sim" ? kDefaultSimTimeScale : 1.0);
  if (flags.backend == "sim") {
    options.unsimulated =
        flags.allowUnsimulated ? runner::Unsimulated::kAllow : runner::Unsimulated::kError;
  }
  options.backend.keep = flags.keep;
  options.backend.verbose = flags.verbose;
  options.backend.dryRun = flags.dryRun;
  for (const auto& dir : flags.outputDirs) {
    options.backend.outputDirs.push_back(std::filesystem::absolute(dir).lexically_normal());
  }
  runner::Runner runner(factory->second, options, clock, listener, gCancelled);
  const runner::RunResult result = runner.run(*scenarios);

  if (flags.dryRun) {
    for (const auto& line : result.plan) std::cout << line << "\n";
    std::cout.flush();
    return result.backendUnavailable ? 3 : 0;
  }
  console.summary(result.report);
  int code = runner::exitCodeFor(result);
  for (const auto& target : *reports) {
    if (!writeReport(target, result.report) && code == 0) code = 2;
  }
  return code;
}

void addRunCommand(CLI::App& root, CommandTable& table) {
  auto flags = std::make_shared<RunFlags>();
  CLI::App* cmd = root.add_subcommand(
      "run", "Run scenarios against the simulated mesh (sim) or a kind cluster (kind)");
  cmd->add_option("--backend", flags->backend, "sim (default) or kind")
      ->check(CLI::IsMember({"sim", "kind"}));
  cmd->add_option("--istio-version", flags->istioVersion,
                  "Istio version to run every scenario with (overrides istio.version)");
  cmd->add_option("--report", flags->reports,
                  "write a report: json=PATH, junit=PATH or html=PATH (repeatable)")
      ->type_name("FORMAT=PATH")
      ->expected(1)
      ->allow_extra_args(false)  // one value per --report; the rest are scenarios
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--parallel,-j", flags->parallel,
                  "scenarios to run at once, each on its own isolated backend")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--filter", flags->filter, "run only scenarios whose name matches REGEX")
      ->type_name("REGEX");
  cmd->add_flag("--keep", flags->keep,
                "keep the mesh up after the steps, print its endpoints, tear down on Ctrl-C");
  cmd->add_option("--time-scale", flags->timeScale,
                  "sim: run mesh clocks (probes, warming, `eventually` deadlines) F times "
                  "faster; default 50 on sim, 1 = real time")
      ->type_name("F");
  cmd->add_flag("--allow-unsimulated", flags->allowUnsimulated,
                "sim: judge steps whose request crosses a proxy that unmodelled config "
                "(AuthorizationPolicy, EnvoyFilter, …) changes, instead of making them errors; "
                "the notes stay in the reports");
  cmd->add_flag("--dry-run", flags->dryRun,
                "print what the backend would do (kind: every command), run nothing");
  cmd->add_flag("-v,--verbose", flags->verbose, "show every request and its observation");
  cmd->add_option("--output-dir", flags->outputDirs,
                  "sim: a directory a host step's curl may write into (-o) besides the run "
                  "directory; repeatable")
      ->type_name("DIR")
      ->allow_extra_args(false);
  cmd->add_option("--context", flags->kindContext,
                  "kind backend: use the existing cluster behind this kubeconfig context "
                  "(never deleted)");
  cmd->add_flag("--reuse-cluster", flags->reuseCluster,
                "kind backend: reuse an existing kind cluster of the scenario's name (never "
                "deleted)");
  cmd->add_option("--plan-dir", flags->planDir,
                  "kind backend with --dry-run: write plan.sh and every file it applies to DIR "
                  "(DIR/<scenario>/ for several scenarios)")
      ->type_name("DIR");
  cmd->add_option("scenarios", flags->inputs,
                  "scenario files, or directories searched recursively for them")
      ->type_name("SCENARIO_OR_DIR")
      ->required();
  table.on(cmd, [flags] { return runScenarios(*flags); });
}

const CommandRegistration kRunRegistration{10, addRunCommand};

}  // namespace
}  // namespace egresslab::cli
