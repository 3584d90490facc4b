// The CI examples of docs/ci.md (docs/examples/*.yml) are files people copy into their
// repositories, so they must stay valid: each parses as YAML and has the shape GitHub Actions or
// GitLab CI needs; the scenario pipelines run on sim on every push and on kind only on a
// schedule, keep JUnit and HTML reports also when a scenario fails; every egresslab flag they use
// is documented in docs/cli.md; the sanitizer pipelines use presets CMakePresets.json defines.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

namespace fs = std::filesystem;

const fs::path kSourceDir = EGRESSLAB_SOURCE_DIR;
const fs::path kExamples = kSourceDir / "docs" / "examples";

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

YAML::Node load(const std::string& name) { return YAML::LoadFile((kExamples / name).string()); }

// Shell text → logical lines: backslash-newline continuations joined.
std::vector<std::string> shellLines(const std::string& script) {
  const std::string joined = std::regex_replace(script, std::regex(R"(\\\n\s*)"), " ");
  std::vector<std::string> lines;
  std::istringstream in(joined);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Every shell line of a GitHub job (its steps' `run`) or a GitLab job (before_script, script,
// after_script, following `extends`).
std::vector<std::string> githubJobLines(const YAML::Node& job) {
  std::vector<std::string> lines;
  for (const auto& step : job["steps"]) {
    if (!step["run"]) continue;
    auto more = shellLines(step["run"].as<std::string>());
    lines.insert(lines.end(), more.begin(), more.end());
  }
  return lines;
}

std::vector<std::string> gitlabJobLines(const YAML::Node& file, const YAML::Node& job) {
  std::vector<std::string> lines;
  if (job["extends"]) {
    auto inherited = gitlabJobLines(file, file[job["extends"].as<std::string>()]);
    lines.insert(lines.end(), inherited.begin(), inherited.end());
  }
  for (const char* key : {"before_script", "script", "after_script"}) {
    if (!job[key]) continue;
    for (const auto& item : job[key]) {
      auto more = shellLines(item.as<std::string>());
      lines.insert(lines.end(), more.begin(), more.end());
    }
  }
  return lines;
}

// The egresslab invocations among the lines: the subcommand and its arguments.
struct Invocation {
  std::string subcommand;
  std::vector<std::string> args;
};

std::vector<Invocation> egresslabInvocations(const std::vector<std::string>& lines) {
  static const std::regex call(R"(bin/egresslab"?\s+(run|analyze|doctor|render)\b(.*))");
  std::vector<Invocation> calls;
  for (const auto& line : lines) {
    std::smatch m;
    if (!std::regex_search(line, m, call)) continue;
    Invocation invocation{m[1].str(), {}};
    std::istringstream words(m[2].str());
    for (std::string word; words >> word;) invocation.args.push_back(word);
    calls.push_back(invocation);
  }
  return calls;
}

bool hasArgPrefix(const Invocation& call, const std::string& prefix) {
  return std::any_of(call.args.begin(), call.args.end(),
                     [&](const std::string& a) { return a.rfind(prefix, 0) == 0; });
}

// The flags docs/cli.md documents for a subcommand: every `--flag` in its usage block.
std::set<std::string> documentedFlags(const std::string& subcommand) {
  const std::string cli = readFile(kSourceDir / "docs" / "cli.md");
  const std::string start = "```\negresslab " + subcommand + " ";
  const auto begin = cli.find(start);
  if (begin == std::string::npos) return {};
  const auto end = cli.find("```", begin + start.size());
  const std::string usage = cli.substr(begin, end - begin);
  std::set<std::string> flags;
  static const std::regex flag(R"(--[a-z][a-z-]*)");
  for (auto it = std::sregex_iterator(usage.begin(), usage.end(), flag);
       it != std::sregex_iterator(); ++it) {
    flags.insert(it->str());
  }
  return flags;
}

void expectFlagsDocumented(const std::vector<Invocation>& calls, const std::string& where) {
  for (const auto& call : calls) {
    const auto documented = documentedFlags(call.subcommand);
    ASSERT_FALSE(documented.empty()) << "docs/cli.md has no usage for " << call.subcommand;
    for (const auto& arg : call.args) {
      if (arg.rfind("--", 0) != 0) continue;
      const std::string flag = arg.substr(0, arg.find('='));
      EXPECT_TRUE(documented.count(flag)) << where << ": egresslab " << call.subcommand << " "
                                          << flag << " is not in docs/cli.md's usage";
    }
  }
}

std::string reportPath(const Invocation& call, const std::string& format) {
  for (std::size_t i = 0; i + 1 < call.args.size(); ++i) {
    if (call.args[i] == "--report" && call.args[i + 1].rfind(format + "=", 0) == 0) {
      return call.args[i + 1].substr(format.size() + 1);
    }
  }
  return "";
}

TEST(CiExamples, EveryExampleParsesAsAYamlMapping) {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(kExamples)) {
    if (entry.path().extension() != ".yml") continue;
    ++files;
    YAML::Node doc;
    ASSERT_NO_THROW(doc = YAML::LoadFile(entry.path().string())) << entry.path();
    EXPECT_TRUE(doc.IsMap()) << entry.path();
  }
  EXPECT_GE(files, 2) << "docs/ci.md promises github-actions.yml and gitlab-ci.yml";
}

TEST(CiExamples, GithubWorkflowsHaveTheShapeActionsNeeds) {
  for (const std::string name : {"github-actions.yml", "github-actions-sanitizers.yml"}) {
    const auto workflow = load(name);
    ASSERT_TRUE(workflow["on"]) << name;
    ASSERT_TRUE(workflow["on"]["schedule"]) << name;
    for (const auto& entry : workflow["on"]["schedule"]) {
      const auto cron = entry["cron"].as<std::string>();
      std::istringstream fields(cron);
      int count = 0;
      for (std::string field; fields >> field;) ++count;
      EXPECT_EQ(count, 5) << name << ": cron \"" << cron << "\"";
    }
    ASSERT_TRUE(workflow["jobs"].IsMap()) << name;
    ASSERT_GT(workflow["jobs"].size(), 0u) << name;
    for (const auto& job : workflow["jobs"]) {
      const auto id = job.first.as<std::string>();
      EXPECT_TRUE(job.second["runs-on"]) << name << " job " << id;
      EXPECT_TRUE(job.second["timeout-minutes"]) << name << " job " << id;
      ASSERT_TRUE(job.second["steps"].IsSequence()) << name << " job " << id;
      for (const auto& step : job.second["steps"]) {
        EXPECT_NE(static_cast<bool>(step["uses"]), static_cast<bool>(step["run"]))
            << name << " job " << id << ": a step has exactly one of uses/run";
        if (step["uses"] &&
            step["uses"].as<std::string>().rfind("actions/upload-artifact", 0) == 0) {
          EXPECT_EQ(step["if"].as<std::string>(""), "always()")
              << name << " job " << id << ": reports are uploaded when a test fails too";
        }
      }
    }
  }
}

TEST(CiExamples, GithubScenariosRunOnSimPerPushAndOnKindNightlyWithReports) {
  const auto workflow = load("github-actions.yml");
  EXPECT_TRUE(workflow["on"]["push"]);
  const auto sim = workflow["jobs"]["sim"];
  const auto kind = workflow["jobs"]["kind"];
  ASSERT_TRUE(sim);
  ASSERT_TRUE(kind);
  EXPECT_EQ(sim["if"].as<std::string>(), "github.event_name != 'schedule'");
  EXPECT_NE(kind["if"].as<std::string>().find("github.event_name == 'schedule'"),
            std::string::npos);

  const auto simCalls = egresslabInvocations(githubJobLines(sim));
  const auto kindCalls = egresslabInvocations(githubJobLines(kind));
  auto runOf = [](const std::vector<Invocation>& calls) {
    auto it = std::find_if(calls.begin(), calls.end(),
                           [](const Invocation& c) { return c.subcommand == "run"; });
    return it == calls.end() ? Invocation{} : *it;
  };
  const auto simRun = runOf(simCalls);
  const auto kindRun = runOf(kindCalls);
  ASSERT_EQ(simRun.subcommand, "run");
  ASSERT_EQ(kindRun.subcommand, "run");
  EXPECT_FALSE(hasArgPrefix(simRun, "--backend")) << "sim is the default backend";
  const auto backend = std::find(kindRun.args.begin(), kindRun.args.end(), "--backend");
  ASSERT_NE(backend, kindRun.args.end());
  EXPECT_EQ(*(backend + 1), "kind");
  for (const auto* run : {&simRun, &kindRun}) {
    EXPECT_NE(reportPath(*run, "junit"), "");
    EXPECT_NE(reportPath(*run, "html"), "");
    EXPECT_EQ(reportPath(*run, "junit").rfind("reports/", 0), 0u) << "uploaded from reports/";
  }
  expectFlagsDocumented(simCalls, "github-actions.yml sim");
  expectFlagsDocumented(kindCalls, "github-actions.yml kind");
}

TEST(CiExamples, GitlabJobsHaveAScriptAStageAndKeepJunitFromTheirRun) {
  for (const std::string name : {"gitlab-ci.yml", "gitlab-ci-sanitizers.yml"}) {
    const auto file = load(name);
    std::set<std::string> stages;
    for (const auto& stage : file["stages"]) stages.insert(stage.as<std::string>());
    ASSERT_FALSE(stages.empty()) << name;
    const std::set<std::string> reserved = {"stages",  "variables", "default",  "workflow",
                                            "include", "image",     "services", "cache"};
    int jobs = 0;
    for (const auto& entry : file) {
      const auto id = entry.first.as<std::string>();
      if (reserved.count(id) || id.front() == '.') continue;
      ++jobs;
      const auto& job = entry.second;
      EXPECT_TRUE(job["script"]) << name << " job " << id;
      EXPECT_TRUE(stages.count(job["stage"].as<std::string>(""))) << name << " job " << id;
      ASSERT_TRUE(job["rules"]) << name << " job " << id;
      EXPECT_EQ(job["artifacts"]["when"].as<std::string>(""), "always") << name << " job " << id;
      ASSERT_TRUE(job["artifacts"]["reports"]["junit"]) << name << " job " << id;
      const auto junit = job["artifacts"]["reports"]["junit"].as<std::string>();
      for (const auto& call : egresslabInvocations(gitlabJobLines(file, job))) {
        if (call.subcommand == "run") {
          EXPECT_EQ(reportPath(call, "junit"), junit) << id;
        }
      }
      expectFlagsDocumented(egresslabInvocations(gitlabJobLines(file, job)), name + " " + id);
    }
    EXPECT_GT(jobs, 0) << name;
  }
}

TEST(CiExamples, GitlabScenariosRunOnSimPerPushAndOnKindOnSchedule) {
  const auto file = load("gitlab-ci.yml");
  const auto sim = file["egresslab-sim"];
  const auto kind = file["egresslab-kind"];
  ASSERT_TRUE(sim);
  ASSERT_TRUE(kind);
  // sim: never on schedules, otherwise always; kind: only on schedules.
  EXPECT_EQ(sim["rules"][0]["if"].as<std::string>(), "$CI_PIPELINE_SOURCE == \"schedule\"");
  EXPECT_EQ(sim["rules"][0]["when"].as<std::string>(), "never");
  EXPECT_FALSE(sim["rules"][1]["if"]);
  ASSERT_EQ(kind["rules"].size(), 1u);
  EXPECT_EQ(kind["rules"][0]["if"].as<std::string>(), "$CI_PIPELINE_SOURCE == \"schedule\"");

  std::map<std::string, Invocation> runs;
  for (const auto& [id, job] : {std::pair{"sim", sim}, std::pair{"kind", kind}}) {
    for (const auto& call : egresslabInvocations(gitlabJobLines(file, job))) {
      if (call.subcommand == "run") runs[id] = call;
    }
  }
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_FALSE(hasArgPrefix(runs["sim"], "--backend"));
  EXPECT_NE(std::find(runs["kind"].args.begin(), runs["kind"].args.end(), "kind"),
            runs["kind"].args.end());
  for (auto& [id, run] : runs) {
    EXPECT_NE(reportPath(run, "html"), "") << id;
  }
}

TEST(CiExamples, SanitizerPipelinesUseTheProjectsPresets) {
  const auto presets = nlohmann::json::parse(readFile(kSourceDir / "CMakePresets.json"));
  auto defined = [&](const char* kind, const std::string& name) {
    return std::any_of(presets[kind].begin(), presets[kind].end(),
                       [&](const nlohmann::json& p) { return p["name"] == name; });
  };
  std::vector<std::string> used;
  for (const auto& p :
       load("github-actions-sanitizers.yml")["jobs"]["sanitizer"]["strategy"]["matrix"]["preset"]) {
    used.push_back(p.as<std::string>());
  }
  for (const auto& p :
       load("gitlab-ci-sanitizers.yml")["sanitizers"]["parallel"]["matrix"][0]["PRESET"]) {
    used.push_back(p.as<std::string>());
  }
  ASSERT_EQ(used, (std::vector<std::string>{"asan", "tsan", "asan", "tsan"}));
  for (const auto& name : used) {
    EXPECT_TRUE(defined("configurePresets", name)) << name;
    EXPECT_TRUE(defined("buildPresets", name)) << name;
    EXPECT_TRUE(defined("testPresets", name)) << name;
  }
}

}  // namespace
