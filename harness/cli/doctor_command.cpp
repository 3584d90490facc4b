// `egresslab doctor`: what the kind backend needs — docker (daemon reachable), kind, kubectl,
// istioctl (and helm with --helm) — found or missing, with versions and install hints.
// Exit 0 when everything is there, 3 when something is missing (docs/design.md), 2 on bad flags.
#include <iostream>
#include <memory>
#include <string>

#include "harness/cli/command.h"
#include "harness/kind/command_runner.h"
#include "harness/kind/preflight.h"

namespace egresslab::cli {
namespace {

struct DoctorFlags {
  std::string istioVersion;
  bool helm = false;
};

int runDoctor(const DoctorFlags& flags) {
  kind::PreflightOptions options;
  options.needHelm = flags.helm;
  if (!flags.istioVersion.empty()) {
    auto version = kind::parseVersion(flags.istioVersion);
    if (!version) {
      std::cerr << "--istio-version: expected MAJOR.MINOR[.PATCH] (e.g. 1.8 or 1.24.2), got \""
                << flags.istioVersion << "\"\n";
      return 2;
    }
    options.istioVersion = version;
  }
  kind::ProcessCommandRunner runner;
  const kind::PreflightReport report = kind::runPreflight(runner, options);
  std::cout << report.table();
  if (report.ok()) {
    std::cout << "\nEverything the kind backend needs is installed.\n";
  } else {
    std::cout << "\nThe kind backend cannot start until the problems above are fixed.\n";
  }
  return report.exitCode();
}

void addDoctorCommand(CLI::App& root, CommandTable& table) {
  auto flags = std::make_shared<DoctorFlags>();
  CLI::App* doctor =
      root.add_subcommand("doctor", "What the kind backend needs, found or missing, with versions");
  doctor->add_option("--istio-version", flags->istioVersion,
                     "Check istioctl against this Istio version (major.minor must match)");
  doctor->add_flag("--helm", flags->helm, "Also require helm (for chart-based installs)");
  table.on(doctor, [flags] { return runDoctor(*flags); });
}

const CommandRegistration kDoctorRegistration(90, addDoctorCommand);

}  // namespace
}  // namespace egresslab::cli
