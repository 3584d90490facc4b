#include "harness/runner/scenario_set.h"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "harness/mesh/compile.h"
#include "harness/model/loader.h"
#include "harness/model/schema.h"
#include "harness/runner/curl_line.h"

namespace egresslab::runner {
namespace {

namespace fs = std::filesystem;

bool hasYamlExtension(const fs::path& path) {
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

// Where `text` is first written at or after `from` (the model keeps one position per
// expectation, not per proxy name); `from` itself when it is not found.
SourcePos positionOf(const SourcePos& from, const std::string& text) {
  std::ifstream in(from.file);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (number < from.line) continue;
    const auto start = number == from.line ? static_cast<std::size_t>(std::max(0, from.column - 1))
                                           : std::size_t{0};
    if (const auto at = line.find(text, start); at != std::string::npos) {
      return SourcePos{from.file, number, static_cast<int>(at + 1)};
    }
  }
  return from;
}

fs::path identity(const fs::path& path) {
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(fs::absolute(path), ec);
  return ec ? path.lexically_normal() : canonical;
}

std::string bareName(const std::string& id) {
  const auto slash = id.rfind('/');
  return slash == std::string::npos ? id : id.substr(slash + 1);
}

}  // namespace

bool isScenarioFile(const fs::path& file) {
  if (!hasYamlExtension(file)) return false;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("steps:", 0) == 0) return true;
  }
  return false;
}

Result<std::vector<fs::path>> expandScenarioInputs(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> files;
  std::set<fs::path> seen;
  const auto add = [&](const fs::path& file) {
    if (seen.insert(identity(file)).second) files.push_back(file);
  };
  for (const auto& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<fs::path> found;
      fs::recursive_directory_iterator it(input, fs::directory_options::skip_permission_denied, ec);
      for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const auto& entry = *it;
        const std::string name = entry.path().filename().string();
        if (entry.is_directory() && name.starts_with(".")) {
          it.disable_recursion_pending();
          continue;
        }
        if (entry.is_regular_file() && isScenarioFile(entry.path())) found.push_back(entry.path());
      }
      if (ec) {
        return invalidInput(fmt::format("cannot read the directory: {}", ec.message()),
                            SourcePos{input.string()});
      }
      if (found.empty()) {
        return invalidInput(
            "no scenario files in this directory or below it (a scenario is a *.yaml file with "
            "a top-level `steps:` key)",
            SourcePos{input.string()});
      }
      std::sort(found.begin(), found.end());
      for (const auto& file : found) add(file);
    } else if (fs::exists(input, ec)) {
      add(input);
    } else {
      return invalidInput("no such scenario file or directory", SourcePos{input.string()});
    }
  }
  return files;
}

std::vector<std::string> scenarioProxies(const model::Scenario& scenario) {
  std::vector<std::string> out;
  auto mesh = mesh::compileMesh(scenario);
  if (!mesh) return out;
  for (const auto& proxy : mesh->proxies) out.push_back(proxy.id.str());
  return out;
}

Result<void> checkProxyNames(const model::Scenario& scenario,
                             const std::vector<std::string>& proxies) {
  std::map<std::string, std::vector<std::string>> byBareName;
  for (const auto& id : proxies) byBareName[bareName(id)].push_back(id);
  std::vector<std::string> candidates;
  for (const auto& [name, ids] : byBareName) {
    if (ids.size() == 1) {
      candidates.push_back(name);
    } else {
      candidates.insert(candidates.end(), ids.begin(), ids.end());
    }
  }

  const auto check = [&](const std::string& written, const std::string& key,
                         const SourcePos& expectPos) -> Result<void> {
    const bool qualified = written.find('/') != std::string::npos;
    if (qualified && std::find(proxies.begin(), proxies.end(), written) != proxies.end()) {
      return {};
    }
    if (!qualified) {
      const auto it = byBareName.find(written);
      if (it != byBareName.end() && it->second.size() == 1) return {};
      if (it != byBareName.end()) {
        return invalidInput(fmt::format("{}: proxy \"{}\" is ambiguous: write one of {}", key,
                                        written, fmt::join(it->second, ", ")),
                            positionOf(expectPos, written));
      }
    }
    // A pod without a sidecar is a real name but never logs a request.
    for (const auto& w : scenario.workloads) {
      const std::string ns = w.ns.empty() ? "default" : w.ns;
      if (written == w.name || written == ns + "/" + w.name) {
        return invalidInput(fmt::format("{}: \"{}\" has no sidecar (it is not injected), so no "
                                        "request is ever logged by it; proxies: {}",
                                        key, written, fmt::join(candidates, ", ")),
                            positionOf(expectPos, written));
      }
    }
    std::string hint = model::detail::suggestion(written, candidates, "the scenario's proxies are");
    if (hint.starts_with("; did you mean")) {
      hint += fmt::format(" (the scenario's proxies are: {})", fmt::join(candidates, ", "));
    }
    return invalidInput(fmt::format("{}: unknown proxy \"{}\"{}", key, written, hint),
                        positionOf(expectPos, written));
  };

  for (const auto& step : scenario.steps) {
    if (!step.expect) continue;
    const model::Expectation& e = *step.expect;
    if (e.via) {
      for (const auto& name : *e.via) {
        if (auto ok = check(name, "via", e.pos); !ok) return ok;
      }
    }
    for (const auto& [name, matcher] : e.flags) {
      if (auto ok = check(name, "flags", e.pos); !ok) return ok;
    }
  }
  return {};
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
      if (step.load && step.load->action == model::LoadSpec::Action::kStart) {
        if (auto valid = validateCurlLine(step.load->curl, step.load->curlPos); !valid) {
          return std::unexpected(valid.error());
        }
      }
      if (!step.curl) continue;
      if (auto valid = validateCurlLine(*step.curl, step.curlPos); !valid) {
        return std::unexpected(valid.error());
      }
    }
    if (selection.needsClusterConfig && !scenario->cluster.config.empty()) {
      std::error_code ec;
      if (!fs::is_regular_file(scenario->cluster.config, ec)) {
        return invalidInput(fmt::format("cluster config \"{}\" not found (the kind backend "
                                        "creates the cluster with it)",
                                        scenario->cluster.config.string()),
                            positionOf(SourcePos{file.string(), 1, 1}, "config:"));
      }
    }
    if (selection.istioVersion) scenario->istioVersion = *selection.istioVersion;
    if (const auto proxies = scenarioProxies(*scenario); !proxies.empty()) {
      if (auto named = checkProxyNames(*scenario, proxies); !named) {
        return std::unexpected(named.error());
      }
    }
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
