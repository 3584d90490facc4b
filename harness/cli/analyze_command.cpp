// `egresslab analyze [--istio-version V] [--output text|json]
//                    [--failure-threshold Info|Warning|Error] [--no-default-ingress]
//                    MANIFEST_OR_DIR_OR_SCENARIO...`
// Flags → AnalyzeOptions; output, summary line and exit codes as istioctl (docs/design.md):
// 0 clean, 79 a message at or above the threshold, 2 invalid input.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "harness/analyze/analyze.h"
#include "harness/cli/command.h"

namespace egresslab::cli {
namespace {

struct AnalyzeFlags {
  std::string istioVersion;
  std::string output = "text";
  std::string threshold = "Error";
  std::vector<std::string> inputs;
  bool noDefaultIngress = false;
};

int runAnalyze(const AnalyzeFlags& flags) {
  analyze::AnalyzeOptions options;
  for (const std::string& in : flags.inputs) options.inputs.emplace_back(in);
  if (!flags.istioVersion.empty()) options.istioVersion = flags.istioVersion;
  options.output =
      flags.output == "json" ? analyze::OutputFormat::kJson : analyze::OutputFormat::kText;
  const std::optional<analyze::Level> threshold = analyze::parseLevel(flags.threshold);
  if (!threshold) {
    std::cerr << "--failure-threshold: expected Info, Warning or Error, got " << flags.threshold
              << "\n";
    return 2;
  }
  options.failureThreshold = *threshold;
  options.defaultIngress = !flags.noDefaultIngress;
  const auto report = analyze::analyzeInputs(options);
  if (!report) {
    std::cerr << report.error().str() << "\n";
    return exitCodeFor(report.error().kind);
  }
  std::cerr << analyze::formatContext(*report);
  std::cerr.flush();
  if (options.output == analyze::OutputFormat::kJson) {
    std::cout << analyze::formatJson(*report);
  } else {
    std::cout << analyze::formatText(*report);
  }
  std::cout.flush();
  std::cerr << analyze::formatSummary(*report, options.failureThreshold);
  return analyze::exitCodeFor(*report, options.failureThreshold);
}

void addAnalyzeCommand(CLI::App& root, CommandTable& table) {
  auto flags = std::make_shared<AnalyzeFlags>();
  CLI::App* cmd = root.add_subcommand(
      "analyze",
      "Check Istio manifests (or a scenario) for istioctl's IST codes and EgressLab's EGL traps");
  cmd->add_option("--istio-version", flags->istioVersion,
                  "Istio version to analyse for (default: the scenario's, else the first "
                  "IstioOperator tag, else the newest supported)");
  cmd->add_option("--output,-o", flags->output, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--failure-threshold", flags->threshold,
                  "lowest level that makes the exit code 79: Info, Warning or Error")
      ->check(CLI::IsMember({"Info", "Warning", "Error"}, CLI::ignore_case));
  cmd->add_flag(
      "--no-default-ingress", flags->noDefaultIngress,
      "do not assume the default profile's istio-ingressgateway (istioctl does on files)");
  cmd->add_option("inputs", flags->inputs, "manifest files, directories or scenario files")
      ->required();
  table.on(cmd, [flags] { return runAnalyze(*flags); });
}

const CommandRegistration kAnalyzeRegistration{30, addAnalyzeCommand};

}  // namespace
}  // namespace egresslab::cli
