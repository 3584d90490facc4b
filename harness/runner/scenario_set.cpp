#include "harness/runner/scenario_set.h"

#include <fmt/core.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>

#include "harness/model/loader.h"
#include "harness/runner/curl_line.h"

namespace egresslab::runner {
namespace {

namespace fs = std::filesystem;

bool isScenarioFile(const fs::path& path) {
  const auto ext = path.extension();
  return ext == ".yaml" || ext == ".yml";
}

// Where `name:` is written in a scenario file, for duplicate-name errors (the model keeps no
// position for the name itself).
SourcePos namePosition(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.rfind("name:", 0) == 0) {
      const auto value = line.find_first_not_of(' ', 5);
      return SourcePos{file.string(), number,
                       static_cast<int>(value == std::string::npos ? 1 : value + 1)};
    }
  }
  return SourcePos{file.string(), 1, 1};
}

}  // namespace

Result<std::vector<fs::path>> expandScenarioInputs(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<fs::path> found;
      for (const auto& entry : fs::directory_iterator(input, ec)) {
        if (entry.is_regular_file() && isScenarioFile(entry.path())) found.push_back(entry.path());
      }
      if (ec) {
        return invalidInput(fmt::format("cannot read the directory: {}", ec.message()),
                            SourcePos{input.string()});
      }
      if (found.empty()) {
        return invalidInput("no scenario files (*.yaml) in this directory",
                            SourcePos{input.string()});
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(input, ec)) {
      files.push_back(input);
    } else {
      return invalidInput("no such scenario file or directory", SourcePos{input.string()});
    }
  }
  return files;
}

Result<std::vector<model::Scenario>> loadScenarios(const ScenarioSelection& selection) {
  std::optional<std::regex> filter;
  if (!selection.filter.empty()) {
    try {
      filter.emplace(selection.filter, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return invalidInput(fmt::format("--filter \"{}\" is not a valid regular expression: {}",
                                      selection.filter, e.what()));
    }
  }

  auto files = expandScenarioInputs(selection.inputs);
  if (!files) return std::unexpected(files.error());

  std::vector<model::Scenario> scenarios;
  std::map<std::string, fs::path> seen;
  for (const auto& file : *files) {
    auto scenario = model::loadScenario(file);
    if (!scenario) return std::unexpected(scenario.error());
    if (const auto [it, fresh] = seen.emplace(scenario->name, file); !fresh) {
      return invalidInput(fmt::format("scenario name \"{}\" is already used by {}; names must be "
                                      "unique in a run",
                                      scenario->name, it->second.string()),
                          namePosition(file));
    }
    for (const auto& step : scenario->steps) {
      if (!step.curl) continue;
      if (auto valid = validateCurlLine(*step.curl, step.curlPos); !valid) {
        return std::unexpected(valid.error());
      }
    }
    if (selection.istioVersion) scenario->istioVersion = *selection.istioVersion;
    scenarios.push_back(std::move(*scenario));
  }

  if (filter) {
    std::erase_if(scenarios,
                  [&](const model::Scenario& s) { return !std::regex_search(s.name, *filter); });
    if (scenarios.empty()) {
      return invalidInput(
          fmt::format("--filter \"{}\" matches none of the scenarios given", selection.filter));
    }
  }
  return scenarios;
}

}  // namespace egresslab::runner
