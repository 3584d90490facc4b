// The analyzer and the simulator tell one story (issue 9, docs/design.md "One model of Istio").
//
// For every scenario file we ship (scenarios/, scenarios/traps/, and the analyzer's own
// fixture scenarios in fixtures/broken/analyze/) `analyze` runs on the scenario and the
// simulator runs its steps. Then:
// - every Error-level finding that predicts a failing request (Message::affectedHosts: EGL001,
//   EGL005, EGL006, IST0101 selector) is seen: each step that sends a request to an affected
//   host fails (an HTTP status ≥ 400, or a curl exit code other than 0);
// - so no Error-level finding fires where the simulator's request for that host succeeds.
// For every raw manifest set in fixtures/broken/analyze/ (fixtures/seed is exercised by the
// seed scenarios) on 1.20, 1.22 and 1.28, the test builds the scenario around it — sleep pods
// with sidecars, DNS records for the VirtualService hosts, upstream mocks for every ServiceEntry
// and destination — and sends each request an Error finding predicts fails: every one must
// fail in the simulator, and every such finding must yield at least one request.
// IST0101 for a missing credentialName predicts failures per listener (TLS on one port), not
// per host, so it names no host and is not compared here (scenarios/missing-credential.yaml
// shows it).
//
// Where the two disagree the analyzer moves (its level or its rule); where the truth is
// unclear the analyzer says Warning, which predicts nothing here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "harness/analyze/analyze.h"
#include "harness/curl/command.h"
#include "harness/mesh/policy.h"
#include "harness/mesh/visibility.h"
#include "harness/model/gateway_workloads.h"
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

// A scratch directory for generated scenario files.
struct TempScenarioDir {
  TempScenarioDir() {
    char tmpl[] = "/tmp/egresslab-difftest-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    path = made != nullptr ? fs::path(made) : fs::temp_directory_path();
  }
  ~TempScenarioDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempScenarioDir(const TempScenarioDir&) = delete;
  TempScenarioDir& operator=(const TempScenarioDir&) = delete;
  [[nodiscard]] fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
  fs::path path;
};

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

// ---- raw manifest sets: the simulator runs the request each Error finding predicts fails.

// One request a finding predicts fails: from a sleep pod in `ns`, the curl line.
struct PredictedRequest {
  std::string ns;
  std::string curl;
};

bool boundToMesh(const model::VirtualService& vs) {
  return vs.gateways.empty() ||
         std::find(vs.gateways.begin(), vs.gateways.end(), "mesh") != vs.gateways.end();
}

std::string nsOf(const model::ResourceBase& r) { return r.meta.ns.empty() ? "default" : r.meta.ns; }

bool selects(const model::Labels& selector, const model::Labels& labels) {
  return std::all_of(selector.begin(), selector.end(), [&](const auto& kv) {
    const auto it = labels.find(kv.first);
    return it != labels.end() && it->second == kv.second;
  });
}

// The requests for `host` as a client would send them: straight to the host from a sidecar
// when a mesh VirtualService has it; with `Host: host` to the Service of every gateway whose
// Gateway serves it (every derived gateway when the Gateway selects none: nothing may answer).
std::vector<PredictedRequest> requestsFor(const model::ResourceSet& rs,
                                          const std::vector<model::GatewayWorkload>& gateways,
                                          const std::string& host) {
  std::vector<PredictedRequest> out;
  for (const model::VirtualService& vs : rs.virtualServices) {
    if (!boundToMesh(vs)) continue;
    if (std::find(vs.hosts.begin(), vs.hosts.end(), host) == vs.hosts.end()) continue;
    out.push_back({nsOf(vs), fmt::format("-sS -m 10 http://{}/status/200", host)});
  }
  for (const model::Gateway& gw : rs.gateways) {
    std::vector<const model::GatewayWorkload*> selected;
    for (const model::GatewayWorkload& w : gateways) {
      if (selects(gw.selector, w.podLabels)) selected.push_back(&w);
    }
    if (selected.empty()) {
      for (const model::GatewayWorkload& w : gateways) selected.push_back(&w);
    }
    for (const model::GatewayServer& server : gw.servers) {
      const bool serves =
          std::any_of(server.hosts.begin(), server.hosts.end(),
                      [&](const std::string& h) { return mesh::hostsOverlap(bareHost(h), host); });
      if (!serves) continue;
      for (const model::GatewayWorkload* w : selected) {
        out.push_back(
            {"diff-client", fmt::format("-sS -m 10 -H 'Host: {}' http://{}.{}.svc.cluster.local:{}/"
                                        "status/200",
                                        host, w->name, w->ns, server.port.number)});
      }
    }
  }
  return out;
}

// A scenario around a raw manifest set: a sleep pod (with sidecar) in every VirtualService
// namespace and in diff-client, a DNS record for every VirtualService host, an upstream mock
// for every ServiceEntry and destination host and port, and the predicted requests as steps.
std::string scenarioFor(const fs::path& manifest, const std::string& version,
                        const model::ResourceSet& rs,
                        const std::vector<PredictedRequest>& requests) {
  std::set<std::string> namespaces{"diff-client"};
  std::set<std::pair<std::string, std::uint32_t>> upstreams;
  std::set<std::string> dns;
  auto addUpstream = [&](const std::string& host, std::uint32_t port) {
    if (host.empty() || host.front() == '*' || host.find('.') == std::string::npos) return;
    upstreams.insert({host, port});
  };
  for (const model::VirtualService& vs : rs.virtualServices) {
    namespaces.insert(nsOf(vs));
    for (const std::string& h : vs.hosts) {
      if (!h.empty() && h.front() != '*' && h.find('.') != std::string::npos) dns.insert(h);
    }
    for (const model::HttpRoute& r : vs.http) {
      for (const model::RouteDestination& d : r.route) {
        addUpstream(d.destination.host, d.destination.port.value_or(80));
      }
    }
  }
  for (const model::ServiceEntry& se : rs.serviceEntries) {
    for (const std::string& h : se.hosts) {
      for (const model::Port& p : se.ports) addUpstream(h, p.number);
    }
  }
  std::string yaml = fmt::format("name: differential\nistio: {{version: \"{}\"}}\n", version);
  yaml += fmt::format("manifests:\n  - {}\n", manifest.string());
  if (!upstreams.empty()) {
    yaml += "upstreams:\n";
    for (const auto& [host, port] : upstreams) {
      yaml += fmt::format("  - {{host: {}, port: {}, tls: {}}}\n", host, port,
                          port == 443 || port == 8443 ? "true" : "false");
    }
  }
  if (!dns.empty()) {
    yaml += "dns:\n";
    int n = 10;
    for (const std::string& h : dns) yaml += fmt::format("  {}: 203.0.113.{}\n", h, n++);
  }
  yaml += "workloads:\n";
  for (const std::string& ns : namespaces) {
    yaml += fmt::format("  - {{name: sleep, namespace: {}, injected: true}}\n", ns);
  }
  yaml += "steps:\n";
  for (std::size_t i = 0; i < requests.size(); ++i) {
    yaml += fmt::format(
        "  - name: predicted failure {}\n    from: {}/sleep\n    curl: \"{}\"\n"
        "    expect: {{status: 200}}\n",
        i, requests[i].ns, requests[i].curl);
  }
  return yaml;
}

// Runs the scenario around `manifest` with `requests` as its steps on the simulator.
runner::ScenarioRun runAround(const fs::path& manifest, const std::string& version,
                              const model::ResourceSet& resources,
                              const std::vector<PredictedRequest>& requests) {
  const TempScenarioDir dir;
  const fs::path file = dir.write(
      "differential.yaml", scenarioFor(fs::absolute(manifest), version, resources, requests));
  auto scenario = model::loadScenario(file);
  EXPECT_TRUE(scenario.has_value()) << scenario.error().str();
  if (!scenario) return {};
  backend::RunOptions runOptions;
  runOptions.timeScale = 50;
  runner::SteadyClock clock;
  QuietListener listener;
  runner::CancelFlag cancel{false};
  runner::ScenarioRunner scenarioRunner(runOptions, clock, listener, cancel);
  const auto backend = sim::makeSimBackend();
  return scenarioRunner.run(*scenario, *backend);
}

// The control: the same generated request succeeds once the trap is fixed, so a failure above
// is the finding's doing, not the generated scenario's.
TEST(ManifestSetControl, TheFixedSniFixtureAnswers200ThroughTheSameRequest) {
  fs::current_path(kSource);
  const fs::path manifest = kSource / "fixtures/broken/analyze/egl001-sni-fixed.yaml";
  model::LoadOptions load;
  load.requireAllPlaceholders = false;
  const auto resources = model::loadManifests({manifest}, load);
  ASSERT_TRUE(resources.has_value()) << resources.error().str();
  const auto gateways = model::deriveGatewayWorkloads(*resources, {1, 22, 0});
  const std::vector<PredictedRequest> requests =
      requestsFor(*resources, gateways, "crm.example.com");
  ASSERT_EQ(requests.size(), 1u);
  const runner::ScenarioRun run = runAround(manifest, "1.22", *resources, requests);
  ASSERT_EQ(run.result.steps.size(), 1u) << run.result.message;
  EXPECT_EQ(run.result.steps[0].observed.status, 200) << run.result.steps[0].observed.body;
}

class ManifestSetAgreement : public ::testing::TestWithParam<fs::path> {};

TEST_P(ManifestSetAgreement, ErrorFindingsPredictTheSimulatorsFailures) {
  const fs::path manifest = GetParam();
  fs::current_path(kSource);
  model::LoadOptions load;
  load.requireAllPlaceholders = false;
  load.lenient = true;  // as analyze loads raw files: schema errors are IST0106 messages
  const auto resources = model::loadManifests({manifest}, load);
  ASSERT_TRUE(resources.has_value()) << resources.error().str();
  for (const char* version : {"1.20", "1.22", "1.28"}) {
    AnalyzeOptions options;
    options.inputs = {manifest};
    options.istioVersion = version;
    const auto analysis = analyzeInputs(options);
    ASSERT_TRUE(analysis.has_value()) << analysis.error().str();
    const auto parsedVersion = model::IstioVersion::parse(version);
    ASSERT_TRUE(parsedVersion.has_value());
    const auto gateways = model::deriveGatewayWorkloads(*resources, *parsedVersion);

    struct Prediction {
      const Message* message;
      std::vector<std::size_t> steps;
    };
    std::vector<Prediction> predictions;
    std::vector<PredictedRequest> requests;
    for (const Message& m : analysis->messages) {
      if (m.level != Level::kError || m.affectedHosts.empty()) continue;
      Prediction p{&m, {}};
      for (const std::string& affected : m.affectedHosts) {
        const std::string host = bareHost(affected);
        if (host.empty() || host.front() == '*' || host.find('<') != std::string::npos) continue;
        for (PredictedRequest& r : requestsFor(*resources, gateways, host)) {
          p.steps.push_back(requests.size());
          requests.push_back(std::move(r));
        }
      }
      predictions.push_back(std::move(p));
    }
    if (predictions.empty()) continue;
    // The simulator refuses a set with schema errors (`run` exits 2): predictions there could
    // not be checked, so there must be none.
    ASSERT_THAT(resources->invalid, ::testing::IsEmpty())
        << version << ": failure-predicting findings on a set the simulator cannot run";

    const runner::ScenarioRun run = runAround(manifest, version, *resources, requests);
    ASSERT_EQ(run.result.steps.size(), requests.size()) << run.result.message;

    for (const Prediction& p : predictions) {
      EXPECT_THAT(p.steps, ::testing::Not(::testing::IsEmpty()))
          << version << ": no request could be built for " << p.message->line();
      for (const std::size_t i : p.steps) {
        const report::StepResult& result = run.result.steps[i];
        EXPECT_TRUE(failed(result.observed))
            << version << " " << manifest.filename().string()
            << ": the analyzer predicts a failure but the simulator's request succeeded ("
            << result.request << " → status " << result.observed.status.value_or(0) << ")\n  "
            << p.message->line();
      }
    }
  }
}

std::vector<fs::path> manifestSets() {
  std::vector<fs::path> out;
  for (const fs::path& f : yamlFiles(kSource / "fixtures" / "broken" / "analyze")) {
    if (!model::looksLikeScenario(f)) out.push_back(f);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ManifestSetAgreement, ::testing::ValuesIn(manifestSets()),
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
