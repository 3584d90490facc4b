#include "harness/report/report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace egresslab::report {
namespace {

RunReport sampleRun() {
  RunReport run;
  run.version = "0.1.0";
  run.backend = "sim";

  ScenarioResult seed;
  seed.name = "seed-httpbin";
  seed.file = "scenarios/seed-httpbin.yaml";
  seed.istioVersion = "1.8.0";
  seed.durationMs = 41;
  StepResult ok;
  ok.name = "external request through the ingress gateway";
  ok.kind = "curl";
  ok.durationMs = 3;
  ok.observed.exit = 0;
  ok.observed.status = 200;
  ok.observed.via = {"istio-ingressgateway", "httpbin-egress"};
  ok.observed.flags = {{"httpbin-egress", "-"}};
  ok.request =
      "-sS --resolve httpbin.example.com:15443:127.0.0.1 https://httpbin.example.com:15443/";
  ok.curl = ok.request;
  ok.expectedJson = {{"status", 200}, {"via", {"istio-ingressgateway", "httpbin-egress"}}};
  ok.observed.accessLog = {"istio-ingressgateway: [t] \"GET / HTTP/1.1\" 200 - a",
                           "httpbin-egress: [t] \"GET / HTTP/1.1\" 200 - b"};
  seed.steps.push_back(ok);
  seed.description = "The post's setup";
  seed.labels = {"seed", "smoke"};
  seed.notSimulated = {"AuthorizationPolicy httpbin/deny-all: not simulated"};
  run.scenarios.push_back(seed);

  ScenarioResult failover;
  failover.name = "failover-upstream-down";
  failover.file = "scenarios/failover-upstream-down.yaml";
  failover.istioVersion = "1.8.0";
  failover.outcome = Outcome::kFailed;
  failover.hasFaults = true;
  failover.durationMs = 900;
  StepResult fault;
  fault.name = "upstream goes down";
  fault.kind = "fault";
  fault.startMs = 10;
  fault.request = "upstream/httpbin.org down";
  failover.steps.push_back(fault);
  StepResult bad;
  bad.name = "callers see <UH> & \"fail\"";
  bad.kind = "curl";
  bad.outcome = Outcome::kFailed;
  bad.startMs = 20;
  bad.durationMs = 800;
  bad.attempts = 5;
  bad.request = "curl -sS http://httpbin.example.com/status/200 (from httpbin/sleep)";
  bad.expected = "status 503, flags {sleep: UH}";
  bad.observed.exit = 0;
  bad.observed.status = 200;
  bad.observed.accessLog = {"sleep: [2026-11-26T07:00:00.000Z] \"GET /status/200 HTTP/1.1\" 200 -"};
  bad.message = "status: expected 503, observed 200";
  bad.curl = "-sS http://httpbin.example.com/status/200";
  bad.from = "httpbin/sleep";
  bad.expectedJson = {{"status", 503}, {"flags", {{"sleep", "UH"}}}};
  bad.attemptSummary = "5 of 5 attempts did not hold (over 0.8s); the last of them: status 200";
  failover.steps.push_back(bad);
  run.scenarios.push_back(failover);

  ScenarioResult broken;
  broken.name = "missing-tool";
  broken.file = "scenarios/missing-tool.yaml";
  broken.outcome = Outcome::kError;
  broken.message = "the mesh did not come up";
  run.scenarios.push_back(broken);
  return run;
}

TEST(JsonReportTest, HasExactlyTheContractShape) {
  const auto doc = nlohmann::json::parse(toJson(sampleRun()));
  EXPECT_EQ(doc["tool"], "egresslab");
  EXPECT_EQ(doc["version"], "0.1.0");
  EXPECT_EQ(doc["backend"], "sim");
  ASSERT_EQ(doc["scenarios"].size(), 3u);
  const auto& seed = doc["scenarios"][0];
  EXPECT_EQ(seed["name"], "seed-httpbin");
  EXPECT_EQ(seed["file"], "scenarios/seed-httpbin.yaml");
  EXPECT_EQ(seed["istioVersion"], "1.8.0");
  EXPECT_EQ(seed["result"], "passed");
  EXPECT_EQ(seed["durationMs"], 41);
  EXPECT_FALSE(seed.contains("message"));
  const auto& step = seed["steps"][0];
  EXPECT_EQ(step["result"], "passed");
  EXPECT_EQ(step["durationMs"], 3);
  EXPECT_EQ(step["attempts"], 1);
  EXPECT_EQ(step["message"], "");
  EXPECT_EQ(step["observed"], nlohmann::json::parse(R"({"exit":0,"status":200,
              "via":["istio-ingressgateway","httpbin-egress"],"flags":{"httpbin-egress":"-"}})"));
  EXPECT_EQ(doc["summary"],
            nlohmann::json::parse(R"({"passed":1,"failed":1,"error":1,"skipped":0})"));
  EXPECT_EQ(doc["scenarios"][2]["message"], "the mesh did not come up");
}

TEST(JsonReportTest, BytesThatAreNotUtf8AreReplacedNotThrown) {
  RunReport run = sampleRun();
  run.scenarios[0].steps[0].message = "body was \xff\xfe\x80";
  run.scenarios[0].steps[0].observed.accessLog.push_back("sleep: \"GET / HTTP/1.1\" \"\xc3\"");
  std::string json;
  ASSERT_NO_THROW(json = toJson(run));
  const auto doc = nlohmann::json::parse(json);
  EXPECT_EQ(doc["scenarios"][0]["steps"][0]["message"],
            "body was \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(JsonReportTest, FaultStepsObserveNothing) {
  const auto doc = nlohmann::json::parse(toJson(sampleRun()));
  EXPECT_EQ(doc["scenarios"][1]["steps"][0]["observed"], nlohmann::json::object());
}

TEST(JUnitReportTest, OneSuitePerScenarioOneCasePerStep) {
  const std::string xml = toJUnit(sampleRun());
  EXPECT_NE(xml.find("<testsuites name=\"egresslab\" tests=\"4\" failures=\"1\" errors=\"1\""),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<testsuite name=\"seed-httpbin\" tests=\"1\" failures=\"0\""),
            std::string::npos);
  EXPECT_NE(xml.find("<testsuite name=\"failover-upstream-down\" tests=\"2\" failures=\"1\""),
            std::string::npos);
  // Markup in names and messages is escaped; expected vs observed is in the failure body.
  EXPECT_NE(xml.find("callers see &lt;UH&gt; &amp; &quot;fail&quot;"), std::string::npos);
  EXPECT_NE(xml.find("expected: status 503, flags {sleep: UH}\nobserved: exit 0, status 200"),
            std::string::npos);
  EXPECT_NE(xml.find("access log of sleep (1 line):\n  [2026-11-26T07:00:00.000Z] &quot;GET"),
            std::string::npos);
  // A scenario that errored before its steps still gets a test case.
  EXPECT_NE(xml.find("<testcase name=\"scenario setup\" classname=\"missing-tool\""),
            std::string::npos);
  EXPECT_NE(xml.find("<error message=\"the mesh did not come up\">"), std::string::npos);
}

TEST(JUnitReportTest, DropsControlCharactersXmlForbids) {
  RunReport run = sampleRun();
  run.scenarios[0].steps[0].outcome = Outcome::kFailed;
  run.scenarios[0].steps[0].message = std::string(
      "bad\x01"
      "byte");
  const std::string xml = toJUnit(run);
  EXPECT_EQ(xml.find('\x01'), std::string::npos);
  EXPECT_NE(xml.find("badbyte"), std::string::npos);
}

TEST(HtmlReportTest, SelfContainedWithTimelineForFaultScenarios) {
  const std::string html = toHtml(sampleRun());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"))
      << "no external resources besides the SVG namespace URI";
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // Exactly one timeline: only the fault scenario has one.
  const auto first = html.find("<svg class=\"timeline\"");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(html.find("<svg class=\"timeline\"", first + 1), std::string::npos);
  EXPECT_NE(html.find("aria-label=\"timeline of failover-upstream-down\""), std::string::npos);
  EXPECT_NE(html.find("upstream goes down</text>"), std::string::npos);
  EXPECT_NE(html.find("callers see &lt;UH&gt;"), std::string::npos);
  EXPECT_NE(html.find("access log (1 line)"), std::string::npos);
  EXPECT_EQ(html.find("(1 lines)"), std::string::npos);
}

TEST(ConsoleReporterTest, PassingStepIsOneLine) {
  std::ostringstream out;
  ConsoleReporter console(out);
  console.stepFinished(sampleRun().scenarios[0].steps[0]);
  EXPECT_EQ(out.str(), "  ✓ external request through the ingress gateway (3 ms)\n");
}

TEST(ConsoleReporterTest, FailingStepShowsExpectedObservedAndLog) {
  std::ostringstream out;
  ConsoleReporter console(out, false, true);
  console.stepFinished("failover", sampleRun().scenarios[1].steps[1]);
  const std::string text = out.str();
  EXPECT_NE(text.find("  [failover] ✗ callers see <UH> & \"fail\" (800 ms, 5 attempts)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("expected: status 503, flags {sleep: UH}"), std::string::npos);
  EXPECT_NE(text.find("observed: exit 0, status 200"), std::string::npos);
  EXPECT_NE(text.find("| sleep: [2026-11-26T07:00:00.000Z]"), std::string::npos);
}

TEST(ConsoleReporterTest, IndentsEveryLineOfAMultiLineMessage) {
  std::ostringstream out;
  ConsoleReporter console(out);
  StepResult step = sampleRun().scenarios[1].steps[1];
  step.observed.accessLog.clear();
  step.message = "status: expected 503, observed 200\nflags: expected UH, observed -";
  console.stepFinished(step);
  EXPECT_NE(out.str().find("      status: expected 503, observed 200\n      flags: expected UH"),
            std::string::npos)
      << out.str();
}

TEST(ConsoleReporterTest, SkippedScenarioIsNotMarkedFailed) {
  std::ostringstream out;
  ConsoleReporter console(out);
  ScenarioResult skipped;
  skipped.name = "planned";
  skipped.outcome = Outcome::kSkipped;
  console.scenarioFinished(skipped);
  EXPECT_EQ(out.str(), "- planned skipped in 0 ms\n");
}

TEST(ConsoleReporterTest, SummaryTableCountsScenarios) {
  std::ostringstream out;
  ConsoleReporter console(out);
  console.summary(sampleRun());
  const std::string text = out.str();
  EXPECT_NE(text.find("seed-httpbin            passed     1/1      41 ms  1.8.0"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("1 passed, 1 failed, 1 error, 0 skipped"), std::string::npos);
}

TEST(JsonReportTest, StepsCarryRequestExpectedAndLogsAsTheContractShows) {
  const auto doc = nlohmann::json::parse(toJson(sampleRun()));
  const auto& seed = doc["scenarios"][0];
  EXPECT_EQ(seed["notSimulated"],
            nlohmann::json::parse(R"(["AuthorizationPolicy httpbin/deny-all: not simulated"])"));
  const auto& ok = seed["steps"][0];
  EXPECT_EQ(ok["request"]["curl"],
            "-sS --resolve httpbin.example.com:15443:127.0.0.1 https://httpbin.example.com:15443/");
  EXPECT_TRUE(ok["request"]["from"].is_null());  // from the host
  EXPECT_EQ(
      ok["expected"],
      nlohmann::json::parse(R"({"status":200,"via":["istio-ingressgateway","httpbin-egress"]})"));
  EXPECT_EQ(ok["logs"], nlohmann::json::parse(R"({
      "istio-ingressgateway":["[t] \"GET / HTTP/1.1\" 200 - a"],
      "httpbin-egress":["[t] \"GET / HTTP/1.1\" 200 - b"]})"));
  const auto& bad = doc["scenarios"][1]["steps"][1];
  EXPECT_EQ(bad["request"]["from"], "httpbin/sleep");
  EXPECT_EQ(bad["expected"], nlohmann::json::parse(R"({"status":503,"flags":{"sleep":"UH"}})"));
  // Every step has exactly the contract's keys.
  std::vector<std::string> keys;
  for (const auto& [key, value] : ok.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"attempts", "durationMs", "expected", "logs", "message",
                                            "name", "observed", "request", "result"}));
  // A fault step says what it injected; a scenario without notes has an empty list.
  EXPECT_EQ(doc["scenarios"][1]["steps"][0]["request"]["fault"], "upstream/httpbin.org down");
  EXPECT_EQ(doc["scenarios"][1]["notSimulated"], nlohmann::json::array());
}

TEST(JUnitReportTest, PropertiesListNotesAndSystemOutTheRequest) {
  const std::string xml = toJUnit(sampleRun());
  EXPECT_NE(xml.find("<property name=\"notSimulated\" value=\"AuthorizationPolicy "
                     "httpbin/deny-all: not simulated\"/>"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<property name=\"description\" value=\"The post&#39;s setup\"/>"),
            std::string::npos);
  EXPECT_NE(xml.find("<property name=\"labels\" value=\"seed, smoke\"/>"), std::string::npos);
  // Passing steps too: request, from, expected, observed and the log lines per proxy.
  EXPECT_NE(xml.find("<system-out>request:  curl -sS --resolve"), std::string::npos);
  EXPECT_NE(xml.find("from:     the host\n"), std::string::npos);
  EXPECT_NE(xml.find("access log of httpbin-egress (1 line):\n  [t] &quot;GET"), std::string::npos);
  EXPECT_NE(xml.find("from:     httpbin/sleep\n"), std::string::npos);
  EXPECT_NE(xml.find("5 of 5 attempts did not hold"), std::string::npos);
}

TEST(LogsByProxyTest, GroupsInFirstLoggedOrder) {
  const auto logs = logsByProxy({"b: 1", "a: 2", "b: 3"});
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_EQ(logs[0].first, "b");
  EXPECT_EQ(logs[0].second, (std::vector<std::string>{"1", "3"}));
  EXPECT_EQ(logs[1].first, "a");
}

TEST(ConsoleReporterTest, NotesComeFirstAndNameEachNote) {
  std::ostringstream out;
  ConsoleReporter console(out);
  console.scenarioStarted("seed", "seed.yaml");
  console.notSimulated("seed", {"EnvoyFilter istio-system/lua: not simulated"});
  const std::string text = out.str();
  EXPECT_NE(text.find("▶ seed (seed.yaml)\n  ! not simulated"), std::string::npos) << text;
  EXPECT_NE(text.find("    EnvoyFilter istio-system/lua: not simulated\n"), std::string::npos);
}

TEST(ConsoleReporterTest, StepProgressIsOneUpdatingLineOnATerminal) {
  std::ostringstream out;
  ConsoleReporter console(out, false, false, /*tty=*/true);
  console.stepProgress("", "attempt 1");
  console.stepProgress("", "attempt 2");
  console.stepFinished(sampleRun().scenarios[0].steps[0]);
  const std::string text = out.str();
  EXPECT_EQ(text,
            "\r\033[K  … attempt 1\r\033[K  … attempt 2\r\033[K"
            "  ✓ external request through the ingress gateway (3 ms)\n");
}

TEST(ConsoleReporterTest, StepProgressStaysOutOfLogsWhichGetTheSummary) {
  std::ostringstream out;
  ConsoleReporter console(out);  // not a terminal
  for (int i = 0; i < 60; ++i) console.stepProgress("", "attempt " + std::to_string(i));
  StepResult step = sampleRun().scenarios[0].steps[0];
  step.attempts = 61;
  step.attemptSummary = "60 of 61 attempts did not hold (over 1.2s); the last of them: status 503";
  console.stepFinished(step);
  EXPECT_EQ(out.str(),
            "  ✓ external request through the ingress gateway (3 ms, 61 attempts)\n"
            "      60 of 61 attempts did not hold (over 1.2s); the last of them: status 503\n");
}

TEST(ConsoleReporterTest, ObservedFlagsAreWrittenLikeExpectedOnes) {
  Observation o;
  o.exit = 0;
  o.status = 503;
  o.flags = {{"sleep", "UH"}};
  EXPECT_EQ(describeObservation(o), "exit 0, status 503, flags {sleep: UH}");
}

}  // namespace
}  // namespace egresslab::report
