// `egresslab analyze`: load manifests, directories and scenario files, pick the Istio
// version, run the analyzer, and format the result like `istioctl analyze` (docs/design.md).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "harness/analyze/analyzer.h"
#include "harness/analyze/message.h"
#include "harness/core/error.h"
#include "harness/model/version.h"

namespace egresslab::analyze {

enum class OutputFormat { kText, kJson };

struct AnalyzeOptions {
  // Manifest files, directories (*.yaml/*.yml, sorted, not recursive) and scenario files.
  std::vector<std::filesystem::path> inputs;
  std::optional<std::string> istioVersion;  // --istio-version
  OutputFormat output = OutputFormat::kText;
  Level failureThreshold = Level::kError;
  // istioctl on files assumes the default profile's ingress gateway (AnalysisInput);
  // --no-default-ingress turns it off.
  bool defaultIngress = true;
};

struct AnalyzeReport {
  std::vector<Message> messages;  // sorted, istioctl order
  model::IstioVersion version;    // the version analysed
  std::string target;             // what was analysed, for the summary line
  // One line on stderr before the messages: the version analysed and where it came from, and
  // whether istioctl's default ingress gateway was assumed.
  std::string context;
};

// Loads the inputs and analyses them. Version: --istio-version, else the first scenario's
// `istio.version` (or its derived default), else the first IstioOperator `spec.tag`, else the
// newest supported. Raw manifests are loaded with unresolved `<placeholders>` kept as written;
// a scenario's manifests get its `vars`, and its `secrets`, `workloads` and `dns` join the
// analysed cluster. A manifest a scenario in the same run already loads is not loaded twice.
// Invalid input (YAML, schema, a bad version) is an Error with a FILE:LINE:COL position; so is
// input that holds no manifest at all (an empty directory, files without documents).
Result<AnalyzeReport> analyzeInputs(const AnalyzeOptions& options);

// The text istioctl prints on stdout: one line per message (empty when clean).
std::string formatText(const AnalyzeReport& report);
// The JSON array of {"code","level","message","origin","reference"}, pretty-printed.
std::string formatJson(const AnalyzeReport& report);
// istioctl's summary on stderr: "✔ No validation issues found when analyzing X." when clean,
// "Error: Analyzers found issues when analyzing X." when the threshold was reached, else "".
std::string formatSummary(const AnalyzeReport& report, Level threshold);

// "Analyzing X as Istio V (from …); assuming …\n" — the report's context line.
std::string formatContext(const AnalyzeReport& report);

// 0 when no message is at or above `threshold`, else 79 (istioctl's exit code).
int exitCodeFor(const AnalyzeReport& report, Level threshold);

inline constexpr int kAnalyzerFoundIssues = 79;

}  // namespace egresslab::analyze
