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

TEST_F(ScenarioSetTest, DirectoryExpandsToItsYamlFilesSorted) {
  write("b.yaml", "");
  write("a.yml", "");
  write("c.yaml", "");
  write("notes.md", "");
  fs::create_directories(dir / "nested");
  write("nested/d.yaml", "");
  auto files = expandScenarioInputs({dir});
  ASSERT_TRUE(files) << files.error().str();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].filename(), "a.yml");
  EXPECT_EQ((*files)[1].filename(), "b.yaml");
  EXPECT_EQ((*files)[2].filename(), "c.yaml");
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
  auto files = expandScenarioInputs({dir});
  ASSERT_FALSE(files);
  EXPECT_THAT(files.error().str(), HasSubstr("no scenario files"));
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
}

}  // namespace
}  // namespace egresslab::runner
