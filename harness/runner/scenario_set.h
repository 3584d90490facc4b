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
  std::vector<std::filesystem::path> inputs;        // files, or directories (their *.yaml, sorted)
  std::string filter;                               // ECMAScript regex searched in names; "" = all
  std::optional<model::IstioVersion> istioVersion;  // --istio-version: overrides every file's
};

// Scenario files named by `inputs`: a file as given, a directory's *.yaml and *.yml files
// sorted by name (not recursive). A missing path or an empty directory is an error.
Result<std::vector<std::filesystem::path>> expandScenarioInputs(
    const std::vector<std::filesystem::path>& inputs);

// Loads every file with model::loadScenario, then checks what only the whole run can check:
// names unique in the run, every step's curl line parses (an unsupported flag is named), the
// filter is a valid regex and selects at least one scenario.
Result<std::vector<model::Scenario>> loadScenarios(const ScenarioSelection& selection);

}  // namespace egresslab::runner
