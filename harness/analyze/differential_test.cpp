// The analyzer and the simulator tell one story (issue 9, DESIGN.md "One model of Istio").
//
// For every scenario file we ship (scenarios/, scenarios/traps/, and the analyzer's own
// fixture scenarios in fixtures/broken/analyze/) `analyze` runs on the scenario and the
// simulator runs its steps. Then:
// - every Error-level finding that predicts a failing request (Message::affectedHosts: EGL001,
//   EGL005, EGL006, IST0101 selector) is seen: each step that sends a request to an affected
//   host fails (an HTTP status ≥ 400, or a curl exit code other than 0);
// - so no Error-level finding fires where the simulator's request for that host succeeds.
// For every raw manifest set under fixtures/broken/analyze/, each failure-predicting Error
// finding must name a host, and the scenarios above are where those hosts are exercised: the
// seed fixtures by scenarios/seed-httpbin*.yaml, the EGL traps by scenarios/traps/, and the
// rest by the fixture scenarios next to them.
//
// Where the two disagree the analyzer moves (its level or its rule); where the truth is
// unclear the analyzer says Warning, which predicts nothing here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "harness/analyze/analyze.h"
#include "harness/curl/command.h"
#include "harness/mesh/visibility.h"
#include "harness/model/loader.h"
#include "harness/runner/clock.h"
#include "harness/runner/run_listener.h"
#include "harness/runner/scenario_runner.h"
#include "harness/sim/sim_backend.h"

namespace egresslab::analyze {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = EGRESSLAB_SOURCE_DIR;

std::vector<fs::path> yamlFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> shippedScenarios() {
  std::vector<fs::path> out;
  for (const fs::path& dir : {kSource / "scenarios", kSource / "scenarios" / "traps",
                              kSource / "fixtures" / "broken" / "analyze"}) {
    for (const fs::path& f : yamlFiles(dir)) {
      if (model::looksLikeScenario(f)) out.push_back(f);
    }
  }
  return out;
}

// "ns/host" (a Gateway server host) → "host".
std::string bareHost(const std::string& host) {
  const auto slash = host.find('/');
  return slash == std::string::npos ? host : host.substr(slash + 1);
}

// The hosts a curl line addresses: the URL's host and any Host header.
std::vector<std::string> requestHosts(const std::string& line) {
  std::vector<std::string> out;
  auto parsed = curl::parseCurlCommandLine(line);
  if (!parsed) return out;
  std::string url = parsed->url;
  if (const auto scheme = url.find("://"); scheme != std::string::npos) url.erase(0, scheme + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (const auto at = url.rfind('@'); at != std::string::npos) url.erase(0, at + 1);
  out.push_back(url.substr(0, url.find(':')));
  for (const std::string& h : parsed->headers) {
    const auto colon = h.find(':');
    if (colon == std::string::npos) continue;
    std::string name = h.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name != "host") continue;
    std::string value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    out.push_back(value.substr(0, value.find(':')));
  }
  return out;
}

bool affects(const Message& m, const std::vector<std::string>& hosts) {
  for (const std::string& affected : m.affectedHosts) {
    for (const std::string& h : hosts) {
      if (mesh::hostsOverlap(bareHost(affected), h)) return true;
    }
  }
  return false;
}

bool failed(const report::Observation& o) {
  return o.exit.value_or(0) != 0 || !o.status.has_value() || *o.status >= 400;
}

struct QuietListener final : runner::RunListener {};

class ScenarioAgreement : public ::testing::TestWithParam<fs::path> {};

TEST_P(ScenarioAgreement, ErrorFindingsPredictTheSimulatorsFailures) {
  const fs::path file = GetParam();
  fs::current_path(kSource);
  AnalyzeOptions options;
  options.inputs = {file};
  const auto analysis = analyzeInputs(options);
  ASSERT_TRUE(analysis.has_value()) << analysis.error().str();

  auto scenario = model::loadScenario(file);
  ASSERT_TRUE(scenario.has_value()) << scenario.error().str();
  if (scenario->steps.empty()) GTEST_SKIP() << "no steps: nothing for the simulator to run";

  backend::RunOptions runOptions;
  runOptions.timeScale = 50;
  runner::SteadyClock clock;
  QuietListener listener;
  runner::CancelFlag cancel{false};
  runner::ScenarioRunner scenarioRunner(runOptions, clock, listener, cancel);
  const auto backend = sim::makeSimBackend();
  const runner::ScenarioRun run = scenarioRunner.run(*scenario, *backend);
  ASSERT_FALSE(run.backendUnavailable);
  ASSERT_EQ(run.result.steps.size(), scenario->steps.size()) << run.result.message;

  std::size_t exercised = 0;
  for (const Message& m : analysis->messages) {
    if (m.level != Level::kError || m.affectedHosts.empty()) continue;
    for (std::size_t i = 0; i < scenario->steps.size(); ++i) {
      const model::Step& step = scenario->steps[i];
      if (!step.curl) continue;
      const report::StepResult& result = run.result.steps[i];
      if (!affects(m, requestHosts(*step.curl))) continue;
      ++exercised;
      EXPECT_TRUE(failed(result.observed))
          << file.string() << ": the analyzer predicts a failure for step \"" << step.name
          << "\" but the simulator's request succeeded (status "
          << result.observed.status.value_or(0) << ", exit " << result.observed.exit.value_or(0)
          << ")\n  " << m.line();
    }
  }
  RecordProperty("exercised_findings", static_cast<int>(exercised));
}

INSTANTIATE_TEST_SUITE_P(Shipped, ScenarioAgreement, ::testing::ValuesIn(shippedScenarios()),
                         [](const auto& paramInfo) {
                           std::string name = paramInfo.param.parent_path().filename().string() +
                                              "_" + paramInfo.param.stem().string();
                           std::replace_if(
                               name.begin(), name.end(),
                               [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); },
                               '_');
                           return name;
                         });

// Every failure-predicting Error on a raw manifest set names the hosts whose requests fail,
// so the scenario comparison above can check it; and the set analyses at all (a manifest set
// the analyzer cannot read would escape the comparison).
class ManifestSetFindings : public ::testing::TestWithParam<fs::path> {};

TEST_P(ManifestSetFindings, FailurePredictingErrorsNameTheirHosts) {
  fs::current_path(kSource);
  for (const char* version : {"1.20", "1.22", "1.24", "1.28"}) {
    AnalyzeOptions options;
    options.inputs = {GetParam()};
    options.istioVersion = version;
    const auto analysis = analyzeInputs(options);
    ASSERT_TRUE(analysis.has_value()) << analysis.error().str();
    for (const Message& m : analysis->messages) {
      const bool predictsFailure =
          m.code == "EGL001" || m.code == "EGL005" || m.code == "EGL006" ||
          (m.code == "IST0101" && m.text.starts_with("Referenced selector not found"));
      if (m.level != Level::kError || !predictsFailure) continue;
      EXPECT_THAT(m.affectedHosts, ::testing::Not(::testing::IsEmpty()))
          << version << " " << m.line();
    }
  }
}

std::vector<fs::path> manifestSets() {
  std::vector<fs::path> out;
  for (const fs::path& f : yamlFiles(kSource / "fixtures" / "broken" / "analyze")) {
    if (!model::looksLikeScenario(f)) out.push_back(f);
  }
  out.push_back(kSource / "fixtures" / "seed");
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ManifestSetFindings, ::testing::ValuesIn(manifestSets()),
                         [](const auto& paramInfo) {
                           std::string name = paramInfo.param.stem().string();
                           std::replace_if(
                               name.begin(), name.end(),
                               [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); },
                               '_');
                           return name;
                         });

}  // namespace
}  // namespace egresslab::analyze
