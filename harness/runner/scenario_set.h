// The scenarios of one `egresslab run`: files and directories from the command line, loaded,
// validated as a whole and filtered — everything that can be wrong with the input is found
// here, before any backend starts (exit 2, `FILE:LINE:COL: message`).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "harness/core/error.h"
#include "harness/model/scenario.h"
#include "harness/model/version.h"

namespace egresslab::runner {

struct ScenarioSelection {
  std::vector<std::filesystem::path> inputs;        // files, or directories (searched recursively)
  std::string filter;                               // ECMAScript regex searched in names; "" = all
  std::optional<model::IstioVersion> istioVersion;  // --istio-version: overrides every file's
  // The backend reads `cluster.config` (kind): it must exist. Other backends ignore it, so a
  // copied scenario whose kind config path does not resolve still runs on sim.
  bool needsClusterConfig = false;
};

// True when `file` is a scenario: YAML with a top-level `steps:` key (a line that starts with
// `steps:`). Manifests and other YAML beside scenarios are not. cmake/EgressLabScenarios.cmake
// applies the same rule.
bool isScenarioFile(const std::filesystem::path& file);

// Scenario files named by `inputs`: a file as given; a directory's scenario files (isScenarioFile,
// *.yaml and *.yml), searched recursively (hidden directories skipped), sorted by path. The same
// file named twice (directly or through directories) is kept once, where first named. A missing
// path or a directory with no scenario is an error.
Result<std::vector<std::filesystem::path>> expandScenarioInputs(
    const std::vector<std::filesystem::path>& inputs);

// Loads every file with model::loadScenario, then checks what only the whole run can check:
// names unique in the run, every step's curl line parses (an unsupported flag is named), every
// proxy named in `via`/`flags` exists in the scenario's mesh (with a did-you-mean), the filter
// is a valid regex and selects at least one scenario.
Result<std::vector<model::Scenario>> loadScenarios(const ScenarioSelection& selection);

// The proxies a scenario's requests can cross, as `via`/`flags` name them: gateway deployments
// and workloads with a sidecar, "NS/NAME". Empty when the mesh does not compile (the backend
// reports why when it starts).
std::vector<std::string> scenarioProxies(const model::Scenario& scenario);

// Checks every `via`/`flags` name of the scenario's steps against `proxies` ("NS/NAME"): an
// unknown name is an error at its position with the closest proxy suggested; a bare name
// shared by two namespaces must be written NS/NAME.
Result<void> checkProxyNames(const model::Scenario& scenario,
                             const std::vector<std::string>& proxies);

}  // namespace egresslab::runner
