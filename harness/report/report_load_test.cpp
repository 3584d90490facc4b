// Loads in every report format (docs/design.md "Load and SLOs"): the JSON step's additive
// `load` with per-second windows, the JUnit testcase of a load.stop step, the console's
// one-line summary, and the HTML timeline drawing the windows under the fault marks (DOM).
#include <gtest/gtest.h>
#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "harness/report/report.h"

namespace egresslab::report {
namespace {

LoadResult sampleLoad() {
  LoadResult load;
  load.name = "bg";
  load.curl = "-sS http://crm.example/hostname";
  load.from = "crm/client";
  load.rate = 10;
  load.concurrency = 64;
  load.startMs = 100;
  load.durationMs = 2000;
  load.requests = 20;
  load.successes = 18;
  load.errors = 2;
  load.dropped = 0;
  load.statuses = {{200, 18}, {503, 2}};
  load.servedBy = {{"crm-a", 12}, {"crm-b", 8}};
  load.p50Ms = 1.5;
  load.p90Ms = 3;
  load.p99Ms = 4.25;
  LoadWindow first;
  first.startMs = 100;
  first.count = 10;
  first.success = 10;
  first.p50Ms = 1.5;
  first.p99Ms = 2;
  first.servedBy = {{"crm-a", 10}};
  LoadWindow second;
  second.startMs = 1100;
  second.count = 10;
  second.success = 8;
  second.p50Ms = 2;
  second.p99Ms = 4.25;
  second.servedBy = {{"crm-a", 2}, {"crm-b", 8}};
  load.windows = {first, second};
  load.checks = {{"successRate", ">= 99%", "90% (18 of 20 requests)", false},
                 {"p99", "< 500ms", "4.25ms", true}};
  return load;
}

RunReport sampleRun() {
  RunReport run;
  run.version = "0.1.0";
  run.backend = "sim";
  ScenarioResult sc;
  sc.name = "load-steady";
  sc.file = "scenarios/load-steady.yaml";
  sc.istioVersion = "1.22.0";
  sc.outcome = Outcome::kFailed;
  sc.hasFaults = true;
  sc.durationMs = 2300;
  StepResult start;
  start.name = "steady traffic";
  start.kind = "load";
  start.request = "load bg: -sS http://crm.example/hostname (from crm/client) at 10/s";
  start.curl = "-sS http://crm.example/hostname";
  start.from = "crm/client";
  start.startMs = 100;
  sc.steps.push_back(start);
  StepResult fault;
  fault.name = "the gateway dies";
  fault.kind = "fault";
  fault.request = "gateway/istio-system/crm-egress kill";
  fault.startMs = 1000;
  sc.steps.push_back(fault);
  StepResult wait;
  wait.name = "hold";
  wait.kind = "wait";
  wait.request = "wait 1s";
  wait.startMs = 1000;
  wait.durationMs = 1000;
  sc.steps.push_back(wait);
  StepResult stop;
  stop.name = "the SLO held";
  stop.kind = "load";
  stop.request = "load bg: stop";
  stop.startMs = 2100;
  stop.durationMs = 5;
  stop.outcome = Outcome::kFailed;
  stop.expected = "successRate >= 99%, p99 < 500ms";
  stop.expectedJson = {{"successRate", ">= 99%"}, {"p99", "< 500ms"}};
  stop.message = "successRate >= 99%: observed 90% (18 of 20 requests)";
  stop.load = sampleLoad();
  sc.steps.push_back(stop);
  run.scenarios.push_back(sc);
  return run;
}

TEST(LoadJsonReport, TheStopStepCarriesTotalsChecksAndPerSecondWindows) {
  const auto doc = nlohmann::json::parse(toJson(sampleRun()));
  const auto& steps = doc["scenarios"][0]["steps"];
  // The contract's fields are all still there, unchanged in shape.
  for (const char* key : {"name", "result", "durationMs", "attempts", "request", "expected",
                          "observed", "logs", "message"}) {
    EXPECT_TRUE(steps[3].contains(key)) << key;
  }
  EXPECT_EQ(steps[0]["request"]["load"],
            "load bg: -sS http://crm.example/hostname (from crm/client) at 10/s");
  EXPECT_EQ(steps[0]["request"]["curl"], "-sS http://crm.example/hostname");
  EXPECT_EQ(steps[0]["observed"], nlohmann::json::object());
  EXPECT_FALSE(steps[0].contains("load"));
  EXPECT_EQ(steps[2]["request"]["wait"], "wait 1s");
  EXPECT_EQ(steps[3]["expected"], nlohmann::json::parse(R"({"successRate":">= 99%",
            "p99":"< 500ms"})"));
  const auto& load = steps[3]["load"];
  EXPECT_EQ(load["name"], "bg");
  EXPECT_EQ(load["from"], "crm/client");
  EXPECT_EQ(load["rate"], 10.0);
  EXPECT_EQ(load["requests"], 20);
  EXPECT_EQ(load["successes"], 18);
  EXPECT_EQ(load["errors"], 2);
  EXPECT_EQ(load["statuses"], nlohmann::json::parse(R"({"200":18,"503":2})"));
  EXPECT_EQ(load["servedBy"], nlohmann::json::parse(R"({"crm-a":12,"crm-b":8})"));
  EXPECT_EQ(load["p99Ms"], 4.25);
  EXPECT_EQ(load["stoppedAtEnd"], false);
  EXPECT_EQ(load["checks"][0], nlohmann::json::parse(R"js({"key":"successRate",
            "condition":">= 99%","observed":"90% (18 of 20 requests)","held":false})js"));
  ASSERT_EQ(load["windows"].size(), 2u);
  EXPECT_EQ(load["windows"][1], nlohmann::json::parse(R"js({"startMs":1100,"count":10,
            "success":8,"p50Ms":2.0,"p99Ms":4.25,"servedBy":{"crm-a":2,"crm-b":8}})js"));
}

TEST(LoadJUnitReport, TheStopStepIsATestcaseWithTheSummaryAndWindows) {
  const std::string xml = toJUnit(sampleRun());
  EXPECT_NE(xml.find("<testsuite name=\"load-steady\" tests=\"4\" failures=\"1\""),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<testcase name=\"the SLO held\""), std::string::npos);
  EXPECT_NE(xml.find("<failure message=\"successRate &gt;= 99%: observed 90% (18 of 20 "
                     "requests)\">"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("observed: load bg: 20 requests in 2.00 s (10/s), 90% success, 2 errors, "
                     "p50 1.5ms p90 3ms p99 4.25ms, statuses 18×200, 2×503, servedBy crm-a 60%, "
                     "crm-b 40%"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("✗ successRate &gt;= 99%: observed 90% (18 of 20 requests)"),
            std::string::npos);
  EXPECT_NE(xml.find("1.10 s     10      8       2ms    4.25ms crm-a 2, crm-b 8"),
            std::string::npos)
      << xml;
}

TEST(LoadConsole, AStoppedLoadIsOneSummaryLine) {
  std::ostringstream out;
  ConsoleReporter console(out);
  StepResult stop = sampleRun().scenarios[0].steps[3];
  stop.outcome = Outcome::kPassed;
  stop.message.clear();
  console.stepFinished(stop);
  EXPECT_EQ(out.str(),
            "  ✓ the SLO held (5 ms)\n"
            "      load bg: 20 requests in 2.00 s (10/s), 90% success, 2 errors, p50 1.5ms p90 "
            "3ms p99 4.25ms, statuses 18×200, 2×503, servedBy crm-a 60%, crm-b 40%\n");
  LoadResult atEnd = sampleLoad();
  atEnd.stoppedAtEnd = true;
  atEnd.dropped = 1;
  EXPECT_NE(loadSummary(atEnd).find("2 errors (1 dropped)"), std::string::npos);
  EXPECT_NE(loadSummary(atEnd).find("(no load.stop step: stopped at the scenario's end)"),
            std::string::npos);
}

// ------------------------------------------------------------------------- HTML timeline DOM
struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct XPathContextFree {
  void operator()(xmlXPathContext* c) const { xmlXPathFreeContext(c); }
};
struct XPathObjectFree {
  void operator()(xmlXPathObject* o) const { xmlXPathFreeObject(o); }
};

std::string attr(xmlNode* node, const char* name) {
  xmlChar* value = xmlGetProp(node, reinterpret_cast<const xmlChar*>(name));
  std::string out = value != nullptr ? reinterpret_cast<const char*>(value) : "";
  xmlFree(value);
  return out;
}

std::string text(xmlNode* node) {
  xmlChar* content = xmlNodeGetContent(node);
  std::string out = content != nullptr ? reinterpret_cast<const char*>(content) : "";
  xmlFree(content);
  return out;
}

class LoadHtmlTimeline : public ::testing::Test {
 protected:
  std::vector<xmlNode*> all(const std::string& xpath) {
    std::unique_ptr<xmlXPathObject, XPathObjectFree> result(
        xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath.c_str()), ctx_.get()));
    std::vector<xmlNode*> nodes;
    if (!result || result->nodesetval == nullptr) return nodes;
    for (int i = 0; i < result->nodesetval->nodeNr; ++i) {
      nodes.push_back(result->nodesetval->nodeTab[i]);
    }
    return nodes;
  }
  static std::string cls(const std::string& name) {
    return "contains(concat(' ', normalize-space(@class), ' '), ' " + name + " ')";
  }

  std::string html_ = toHtml(sampleRun());
  std::unique_ptr<xmlDoc, DocFree> doc_{
      htmlReadMemory(html_.data(), static_cast<int>(html_.size()), "report.html", "utf-8",
                     HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET)};
  std::unique_ptr<xmlXPathContext, XPathContextFree> ctx_{xmlXPathNewContext(doc_.get())};
};

TEST_F(LoadHtmlTimeline, EveryWindowIsDrawnUnderTheStepRowsAndTheFaultLineCrossesThem) {
  const auto windows = all("//svg//g[" + cls("window") + "]");
  ASSERT_EQ(windows.size(), 2u);
  EXPECT_EQ(attr(windows[1], "data-load"), "bg");
  EXPECT_EQ(attr(windows[1], "data-start-ms"), "1100");
  EXPECT_EQ(attr(windows[1], "data-count"), "10");
  EXPECT_EQ(attr(windows[1], "data-success"), "8");
  EXPECT_EQ(text(all("//svg//g[" + cls("window") + "]/title")[1]),
            "load bg at 1.10 s: 10 requests, 8 successes, p50 2ms, p99 4.25ms, served by crm-a "
            "2, crm-b 8");
  // Successes and errors stacked: the busiest window fills the band.
  const auto ok = all("//svg//rect[" + cls("window-ok") + "]");
  const auto errors = all("//svg//rect[" + cls("window-error") + "]");
  ASSERT_EQ(ok.size(), 2u);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_DOUBLE_EQ(std::stod(attr(ok[0], "height")),
                   std::stod(attr(ok[1], "height")) + std::stod(attr(errors[1], "height")));
  EXPECT_DOUBLE_EQ(std::stod(attr(errors[0], "height")), 0);
  // The band lies below every step row; the fault's line runs through it.
  double lowestStepBar = 0;
  for (auto* bar : all("//svg//rect[" + cls("bar") + "]")) {
    lowestStepBar =
        std::max(lowestStepBar, std::stod(attr(bar, "y")) + std::stod(attr(bar, "height")));
  }
  const double windowTop = std::stod(attr(errors[1], "y"));
  const double windowBottom = std::stod(attr(ok[1], "y")) + std::stod(attr(ok[1], "height"));
  EXPECT_GT(windowTop, lowestStepBar);
  const auto faultLines = all("//svg//line[" + cls("fault-over-load") + "]");
  ASSERT_EQ(faultLines.size(), 1u);
  EXPECT_LE(std::stod(attr(faultLines[0], "y1")), windowTop);
  EXPECT_GE(std::stod(attr(faultLines[0], "y2")), windowBottom);
  // The fault at 1.0 s is drawn left of the window starting at 1.1 s.
  EXPECT_LT(std::stod(attr(faultLines[0], "x1")), std::stod(attr(ok[1], "x")));
  const auto label = all("//svg//text[" + cls("load-label") + "]");
  ASSERT_EQ(label.size(), 1u);
  EXPECT_EQ(text(label[0]), "load bg");
}

TEST_F(LoadHtmlTimeline, TheStopStepShowsTheSummaryChecksAndWindowsTable) {
  const auto summary = all("//p[" + cls("load-summary") + "]");
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_NE(text(summary[0]).find("load bg: 20 requests"), std::string::npos);
  const auto failedChecks = all("//table[" + cls("load-checks") + "]//tr[" + cls("failed") + "]");
  ASSERT_EQ(failedChecks.size(), 1u);
  EXPECT_NE(text(failedChecks[0]).find("successRate >= 99%"), std::string::npos);
  EXPECT_EQ(all("//table[" + cls("load-windows") + "]//tr").size(), 3u);  // header + 2 seconds
}

}  // namespace
}  // namespace egresslab::report
