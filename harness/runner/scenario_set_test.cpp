#include "harness/runner/scenario_set.h"

#include "harness/runner/curl_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace egresslab::runner {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kSource = EGRESSLAB_SOURCE_DIR;
const fs::path kTestdata = kSource / "harness/runner/testdata";

class ScenarioSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("egresslab-scenario-set-" +
           std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  }
  fs::path dir;
};

TEST_F(ScenarioSetTest, DirectoryIsSearchedRecursivelyForFilesWithSteps) {
  write("b.yaml", "name: b\nsteps: []\n");
  write("a.yml", "name: a\nsteps:\n  - name: x\n");
  write("notes.md", "steps:\n");
  write("manifest.yaml", "kind: Gateway\nspec:\n  steps: nested, not top-level\n");
  fs::create_directories(dir / "nested/deeper");
  write("nested/deeper/d.yaml", "name: d\nsteps: []\n");
  write("nested/deeper/gateway.yaml", "apiVersion: v1\nkind: Service\n");
  fs::create_directories(dir / ".git");
  write(".git/hidden.yaml", "steps: []\n");
  auto files = expandScenarioInputs({dir});
  ASSERT_TRUE(files) << files.error().str();
  std::vector<std::string> names;
  for (const auto& f : *files) names.push_back(fs::relative(f, dir).string());
  EXPECT_EQ(names, (std::vector<std::string>{"a.yml", "b.yaml", "nested/deeper/d.yaml"}));
}

TEST_F(ScenarioSetTest, TheSameFileNamedTwiceIsKeptOnce) {
  const auto a = write("a.yaml", "name: a\nsteps: []\n");
  const auto b = write("b.yaml", "name: b\nsteps: []\n");
  auto files = expandScenarioInputs({a, dir, dir / "." / "a.yaml"});
  ASSERT_TRUE(files) << files.error().str();
  EXPECT_EQ(*files, (std::vector<fs::path>{a, b}));
}

TEST_F(ScenarioSetTest, SameScenarioFileTwiceIsNotANameClash) {
  ScenarioSelection selection;
  selection.inputs = {kTestdata / "minimal.yaml", kTestdata / ".." / "testdata" / "minimal.yaml"};
  auto scenarios = loadScenarios(selection);
  ASSERT_TRUE(scenarios) << scenarios.error().str();
  EXPECT_EQ(scenarios->size(), 1u);
}

TEST_F(ScenarioSetTest, RenderOutputLayoutIsAcceptedAsADirectory) {
  // `egresslab render --out DIR`: DIR/<upstream>/{manifests…, scenario.yaml}, DIR/mesh/…
  fs::create_directories(dir / "payments");
  fs::create_directories(dir / "mesh");
  write("payments/virtual-service.yaml", "apiVersion: networking.istio.io/v1beta1\n");
  write("payments/scenario.yaml", "name: payments\nsteps:\n  - name: x\n");
  write("mesh/operator.yaml", "apiVersion: install.istio.io/v1alpha1\n");
  for (const auto& input : {dir, dir / "payments"}) {
    auto files = expandScenarioInputs({input});
    ASSERT_TRUE(files) << files.error().str();
    EXPECT_EQ(*files, (std::vector<fs::path>{dir / "payments/scenario.yaml"}));
  }
}

TEST_F(ScenarioSetTest, FilesKeepTheOrderGiven) {
  const auto b = write("b.yaml", "");
  const auto a = write("a.yaml", "");
  auto files = expandScenarioInputs({b, a});
  ASSERT_TRUE(files);
  EXPECT_EQ(*files, (std::vector<fs::path>{b, a}));
}

TEST_F(ScenarioSetTest, MissingPathIsInvalidInputNamingIt) {
  auto files = expandScenarioInputs({dir / "nope.yaml"});
  ASSERT_FALSE(files);
  EXPECT_EQ(files.error().kind, ErrorKind::kInvalidInput);
  EXPECT_THAT(files.error().str(), HasSubstr("nope.yaml: no such scenario file"));
}

TEST_F(ScenarioSetTest, EmptyDirectoryIsInvalidInput) {
  write("manifest.yaml", "kind: Gateway\n");
  auto files = expandScenarioInputs({dir});
  ASSERT_FALSE(files);
  EXPECT_THAT(files.error().str(), HasSubstr("no scenario files"));
  EXPECT_THAT(files.error().str(), HasSubstr("top-level `steps:` key"));
}

TEST_F(ScenarioSetTest, ViaTypoIsCaughtAtLoadTimeWithDidYouMean) {
  ScenarioSelection selection;
  selection.inputs = {kTestdata / "via-typo.yaml"};
  auto scenarios = loadScenarios(selection);
  ASSERT_FALSE(scenarios);
  EXPECT_EQ(scenarios.error().kind, ErrorKind::kInvalidInput);
  EXPECT_THAT(scenarios.error().message,
              HasSubstr("via: unknown proxy \"httpbin-egres\"; did you mean \"httpbin-egress\"?"));
  ASSERT_TRUE(scenarios.error().where);
  EXPECT_EQ(scenarios.error().where->line, 25);  // `via: [sleep, httpbin-egres]`
  EXPECT_EQ(scenarios.error().where->column, 20);
}

TEST_F(ScenarioSetTest, ProxyNamesAreCheckedAgainstTheMesh) {
  model::Scenario s;
  s.file = kTestdata / "minimal.yaml";
  model::WorkloadSpec plain;
  plain.name = "legacy-client";
  plain.ns = "httpbin";
  s.workloads = {plain};
  const std::vector<std::string> proxies = {"istio-system/istio-ingressgateway",
                                            "httpbin/httpbin-egress", "httpbin/sleep",
                                            "other/sleep"};
  const auto withExpect = [&](model::Expectation e) {
    model::Scenario copy = s;
    model::Step step;
    step.name = "x";
    step.expect = std::move(e);
    copy.steps = {step};
    return checkProxyNames(copy, proxies);
  };
  model::Expectation ok;
  ok.via = std::vector<std::string>{"istio-ingressgateway", "httpbin/httpbin-egress"};
  ok.flags["httpbin/sleep"] = model::Matcher{"UH", false};
  EXPECT_TRUE(withExpect(ok));

  model::Expectation ambiguous;
  ambiguous.flags["sleep"] = model::Matcher{"UH", false};
  auto a = withExpect(ambiguous);
  ASSERT_FALSE(a);
  EXPECT_THAT(a.error().message, HasSubstr("flags: proxy \"sleep\" is ambiguous: write one of "
                                           "httpbin/sleep, other/sleep"));

  model::Expectation noSidecar;
  noSidecar.via = std::vector<std::string>{"legacy-client"};
  auto n = withExpect(noSidecar);
  ASSERT_FALSE(n);
  EXPECT_THAT(n.error().message, HasSubstr("\"legacy-client\" has no sidecar"));

  model::Expectation unknown;
  unknown.via = std::vector<std::string>{"zzz"};
  auto u = withExpect(unknown);
  ASSERT_FALSE(u);
  EXPECT_THAT(u.error().message, HasSubstr("unknown proxy \"zzz\"; the scenario's proxies are: "
                                           "httpbin-egress, istio-ingressgateway, httpbin/sleep, "
                                           "other/sleep"));
}

TEST_F(ScenarioSetTest, ClusterConfigIsCheckedOnlyWhenTheBackendReadsIt) {
  ScenarioSelection selection;
  selection.inputs = {kTestdata / "copied-cluster-config.yaml"};
  auto onSim = loadScenarios(selection);
  ASSERT_TRUE(onSim) << onSim.error().str();
  selection.needsClusterConfig = true;
  auto onKind = loadScenarios(selection);
  ASSERT_FALSE(onKind);
  EXPECT_THAT(onKind.error().message, HasSubstr("cluster config"));
  ASSERT_TRUE(onKind.error().where);
  EXPECT_EQ(onKind.error().where->line, 5);
}

TEST_F(ScenarioSetTest, LoadsAValidScenario) {
  ScenarioSelection selection;
  selection.inputs = {kTestdata / "minimal.yaml"};
  auto scenarios = loadScenarios(selection);
  ASSERT_TRUE(scenarios) << scenarios.error().str();
  ASSERT_EQ(scenarios->size(), 1u);
  EXPECT_EQ((*scenarios)[0].name, "cli-minimal");
  EXPECT_EQ((*scenarios)[0].istioVersion.str(), "1.22.0");
}

TEST_F(ScenarioSetTest, IstioVersionFlagOverridesTheFile) {
  ScenarioSelection selection;
  selection.inputs = {kTestdata / "minimal.yaml"};
  selection.istioVersion = model::IstioVersion{1, 8, 0};
  auto scenarios = loadScenarios(selection);
  ASSERT_TRUE(scenarios) << scenarios.error().str();
  EXPECT_EQ((*scenarios)[0].istioVersion.str(), "1.8.0");
}

TEST_F(ScenarioSetTest, DuplicateScenarioNamesAreRejectedWithThePosition) {
  ScenarioSelection selection;
  selection.inputs = {kTestdata / "minimal.yaml", kTestdata / "duplicate-name.yaml"};
  auto scenarios = loadScenarios(selection);
  ASSERT_FALSE(scenarios);
  EXPECT_EQ(scenarios.error().kind, ErrorKind::kInvalidInput);
  ASSERT_TRUE(scenarios.error().where);
  EXPECT_EQ(scenarios.error().where->line, 2);
  EXPECT_EQ(scenarios.error().where->column, 7);
  EXPECT_THAT(scenarios.error().message, HasSubstr("\"cli-minimal\" is already used by"));
}

TEST_F(ScenarioSetTest, UnsupportedCurlFlagIsNamedAtTheCurlLine) {
  ScenarioSelection selection;
  selection.inputs = {kTestdata / "unknown-curl-flag.yaml"};
  auto scenarios = loadScenarios(selection);
  ASSERT_FALSE(scenarios);
  EXPECT_EQ(scenarios.error().kind, ErrorKind::kInvalidInput);
  EXPECT_THAT(scenarios.error().message, HasSubstr("--proxy"));
  ASSERT_TRUE(scenarios.error().where);
  EXPECT_EQ(scenarios.error().where->line, 7);
  EXPECT_THAT(scenarios.error().where->file, HasSubstr("unknown-curl-flag.yaml"));
}

TEST_F(ScenarioSetTest, CaPlaceholderDoesNotBreakCurlValidation) {
  EXPECT_TRUE(validateCurlLine("-sS --cacert ${ca} https://h.example/", SourcePos{}));
}

TEST_F(ScenarioSetTest, FilterSelectsByNameAndMustMatchSomething) {
  ScenarioSelection selection;
  selection.inputs = {kTestdata / "minimal.yaml"};
  selection.filter = "^cli-";
  auto kept = loadScenarios(selection);
  ASSERT_TRUE(kept) << kept.error().str();
  EXPECT_EQ(kept->size(), 1u);
  selection.filter = "seed";
  auto none = loadScenarios(selection);
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error().message, HasSubstr("matches none"));
  selection.filter = "(";
  auto bad = loadScenarios(selection);
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("not a valid regular expression"));
}

TEST_F(ScenarioSetTest, BrokenYamlIsInvalidInputWithAPosition) {
  ScenarioSelection selection;
  selection.inputs = {kTestdata / "bad-yaml.yaml"};
  auto scenarios = loadScenarios(selection);
  ASSERT_FALSE(scenarios);
  EXPECT_EQ(scenarios.error().kind, ErrorKind::kInvalidInput);
  ASSERT_TRUE(scenarios.error().where);
  EXPECT_GT(scenarios.error().where->line, 0);
}

// Every shipped scenario loads, and its curl lines parse (what `ctest -L scenario` would hit
// first if a file were broken).
TEST(ShippedScenariosTest, EveryShippedScenarioIsValid) {
  ScenarioSelection selection;
  selection.inputs = {kSource / "scenarios"};
  auto scenarios = loadScenarios(selection);
  ASSERT_TRUE(scenarios) << scenarios.error().str();
  std::vector<std::string> names;
  for (const auto& s : *scenarios) names.push_back(s.name);
  EXPECT_THAT(names, ::testing::IsSupersetOf({"seed-httpbin", "seed-httpbin-1-22",
                                              "seed-httpbin-1-22-sni", "four-upstreams",
                                              "failover-upstream-down", "missing-credential"}));
  for (const auto& s : *scenarios) EXPECT_FALSE(s.steps.empty()) << s.name;
  // The directory is searched recursively: the traps are shipped scenarios too.
  EXPECT_THAT(names, ::testing::Contains("egl005-unresolvable-host"));
}

}  // namespace
}  // namespace egresslab::runner
