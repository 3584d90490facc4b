// The HTML report as a reader's browser sees it (issue #13 item 6): parsed into a DOM with
// libxml2's HTML parser and checked by structure — summary first, failed rows highlighted and
// expanded, logs in a scrolling monospace block, description and labels, the not-simulated
// banner, a timeline whose labels fit, correct plurals. Where /usr/bin/chromium exists, a
// headless screenshot proves the page renders; elsewhere that test is skipped.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness/report/report.h"

extern char** environ;

namespace egresslab::report {
namespace {

namespace fs = std::filesystem;

RunReport sampleRun() {
  RunReport run;
  run.version = "0.1.0";
  run.backend = "sim";

  ScenarioResult seed;
  seed.name = "seed-httpbin";
  seed.file = "scenarios/seed-httpbin.yaml";
  seed.istioVersion = "1.8.0";
  seed.durationMs = 41;
  seed.description = "The post's setup on Istio 1.8";
  seed.labels = {"seed", "smoke"};
  StepResult ok;
  ok.name = "external request";
  ok.kind = "curl";
  ok.request = "-sS https://httpbin.example.com:15443/status/200";
  ok.durationMs = 3;
  ok.observed.exit = 0;
  ok.observed.status = 200;
  ok.observed.accessLog = {"istio-ingressgateway: [t] \"GET /status/200 HTTP/1.1\" 200 - ok"};
  seed.steps.push_back(ok);
  run.scenarios.push_back(seed);

  ScenarioResult failover;
  failover.name = "failover-upstream-down";
  failover.file = "scenarios/failover-upstream-down.yaml";
  failover.istioVersion = "1.22.0";
  failover.outcome = Outcome::kFailed;
  failover.hasFaults = true;
  failover.durationMs = 2300;
  failover.notSimulated = {"AuthorizationPolicy httpbin/deny-all: not simulated"};
  StepResult before;
  before.name = "a request before the fault, with a long descriptive step name";
  before.kind = "curl";
  before.durationMs = 40;
  before.observed.status = 200;
  failover.steps.push_back(before);
  StepResult fault;
  fault.name = "the upstream goes down";
  fault.kind = "fault";
  fault.startMs = 50;
  fault.request = "upstream/httpbin.org down";
  failover.steps.push_back(fault);
  StepResult bad;
  bad.name = "callers see UH";
  bad.kind = "curl";
  bad.outcome = Outcome::kFailed;
  bad.startMs = 60;
  bad.durationMs = 2200;
  bad.attempts = 1;
  bad.request = "-sS http://httpbin.example.com/status/200 (from httpbin/sleep)";
  bad.expected = "status 503, flags {sleep: UH}";
  bad.observed.exit = 0;
  bad.observed.status = 200;
  bad.observed.accessLog = {
      "sleep: [2026-11-26T07:00:00.000Z] \"GET /status/200 HTTP/1.1\" 200 - via_upstream - "
      "\"-\" 0 9593 3 2 \"-\" \"curl/7.88.1\" \"3f0c7e2a-0000-4000-8000-000000000001\" "
      "\"httpbin.example.com\" \"10.244.0.9:8080\" outbound|80||httpbin.example.com"};
  bad.message = "status: expected 503, observed 200";
  failover.steps.push_back(bad);
  run.scenarios.push_back(failover);
  return run;
}

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct XPathContextFree {
  void operator()(xmlXPathContext* c) const { xmlXPathFreeContext(c); }
};
struct XPathObjectFree {
  void operator()(xmlXPathObject* o) const { xmlXPathFreeObject(o); }
};

// A parsed HTML document with XPath queries returning nodes.
class Dom {
 public:
  explicit Dom(const std::string& html)
      : doc_(htmlReadMemory(html.data(), static_cast<int>(html.size()), "report.html", "utf-8",
                            HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET)),
        ctx_(doc_ ? xmlXPathNewContext(doc_.get()) : nullptr) {}

  bool ok() const { return doc_ != nullptr && ctx_ != nullptr; }

  std::vector<xmlNode*> all(const std::string& xpath) const {
    std::unique_ptr<xmlXPathObject, XPathObjectFree> result(
        xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath.c_str()), ctx_.get()));
    std::vector<xmlNode*> nodes;
    if (!result || result->nodesetval == nullptr) return nodes;
    for (int i = 0; i < result->nodesetval->nodeNr; ++i) {
      nodes.push_back(result->nodesetval->nodeTab[i]);
    }
    return nodes;
  }
  xmlNode* one(const std::string& xpath) const {
    const auto nodes = all(xpath);
    return nodes.size() == 1 ? nodes.front() : nullptr;
  }

  static std::string text(xmlNode* node) {
    if (node == nullptr) return "";
    xmlChar* content = xmlNodeGetContent(node);
    std::string out = content != nullptr ? reinterpret_cast<const char*>(content) : "";
    xmlFree(content);
    return out;
  }
  static std::string attr(xmlNode* node, const char* name) {
    if (node == nullptr) return "";
    xmlChar* value = xmlGetProp(node, reinterpret_cast<const xmlChar*>(name));
    std::string out = value != nullptr ? reinterpret_cast<const char*>(value) : "";
    xmlFree(value);
    return out;
  }
  static bool hasAttr(xmlNode* node, const char* name) {
    return node != nullptr && xmlHasProp(node, reinterpret_cast<const xmlChar*>(name)) != nullptr;
  }

 private:
  std::unique_ptr<xmlDoc, DocFree> doc_;
  std::unique_ptr<xmlXPathContext, XPathContextFree> ctx_;
};

std::string cls(const std::string& name) {
  return "contains(concat(' ', normalize-space(@class), ' '), ' " + name + " ')";
}

class HtmlDomTest : public ::testing::Test {
 protected:
  std::string html = toHtml(sampleRun());
  Dom dom{html};
};

TEST_F(HtmlDomTest, SummaryComesFirstWithTotalsAndFailedScenariosHighlighted) {
  ASSERT_TRUE(dom.ok());
  xmlNode* first = dom.one("/html/body/*[1]");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(Dom::attr(first, "id"), "summary");
  EXPECT_NE(Dom::text(dom.one("//header[@id='summary']//p[" + cls("totals") + "]"))
                .find("1 passed1 failed0 error0 skipped 2 scenarios, 4 steps"),
            std::string::npos)
      << Dom::text(dom.one("//p[" + cls("totals") + "]"));
  const auto rows = dom.all("//table[" + cls("scenarios") + "]//tr[" + cls("bad") + "]");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_NE(Dom::text(rows[0]).find("failover-upstream-down"), std::string::npos);
}

TEST_F(HtmlDomTest, FailedStepRowIsHighlightedAndItsDetailsOpen) {
  const auto failed = dom.all("//tr[" + cls("step") + " and " + cls("failed") + "]");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(Dom::attr(failed[0], "class").find("bad"), std::string::npos);
  xmlNode* details = dom.one("//tr[" + cls("detail") + " and " + cls("failed") + "]//details");
  ASSERT_NE(details, nullptr);
  EXPECT_TRUE(Dom::hasAttr(details, "open"));
  EXPECT_EQ(Dom::text(dom.one("//tr[" + cls("detail") + " and " + cls("failed") + "]//summary")),
            "access log (1 line)");
  // A passing step's log is there but closed.
  xmlNode* passed = dom.one("//tr[" + cls("detail") + " and " + cls("passed") + "]//details");
  ASSERT_NE(passed, nullptr);
  EXPECT_FALSE(Dom::hasAttr(passed, "open"));
}

TEST_F(HtmlDomTest, LogsAreMonospaceBlocksThatScrollInsteadOfWrapping) {
  const auto logs = dom.all("//pre[" + cls("log") + "]");
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_NE(Dom::text(logs[1]).find("outbound|80||httpbin.example.com"), std::string::npos);
  const std::string style = Dom::text(dom.one("//style"));
  EXPECT_NE(style.find("pre.log{white-space:pre;overflow-x:auto"), std::string::npos);
  EXPECT_NE(style.find("pre{background:#f6f8fa;padding:6px 8px;margin:4px 0;font:12px/1.4 "
                       "ui-monospace"),
            std::string::npos);
  EXPECT_EQ(style.find("word-break:break-all"), std::string::npos);
}

TEST_F(HtmlDomTest, DescriptionLabelsAndNotSimulatedBanner) {
  EXPECT_EQ(Dom::text(dom.one("//section[@id='s0']/p[" + cls("description") + "]")),
            "The post's setup on Istio 1.8");
  const auto labels = dom.all("//section[@id='s0']//span[" + cls("label") + "]");
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(Dom::text(labels[0]), "seed");
  const auto notes = dom.all("//section[@id='s1']//div[" + cls("not-simulated") + "]//li");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(Dom::text(notes[0]), "AuthorizationPolicy httpbin/deny-all: not simulated");
  EXPECT_TRUE(dom.all("//section[@id='s0']//div[" + cls("not-simulated") + "]").empty());
}

TEST_F(HtmlDomTest, TimelineLabelsFitInsideTheDrawing) {
  xmlNode* svg = dom.one("//section[@id='s1']//svg");
  ASSERT_NE(svg, nullptr);
  const double width = std::stod(Dom::attr(svg, "width"));
  const double fontSize = std::stod(Dom::attr(svg, "font-size"));
  const auto labels = dom.all("//section[@id='s1']//svg//text[" + cls("label") + "]");
  ASSERT_EQ(labels.size(), 3u);  // one row per step, faults included
  double gutterEnd = width;
  for (const auto* bar : dom.all("//section[@id='s1']//svg//rect")) {
    gutterEnd = std::min(gutterEnd, std::stod(Dom::attr(const_cast<xmlNode*>(bar), "x")));
  }
  for (auto* label : labels) {
    const double x = std::stod(Dom::attr(label, "x"));
    // Monospace: each character advances 0.6 em (UTF-8 continuation bytes do not count).
    std::size_t chars = 0;
    for (const unsigned char c : Dom::text(label)) chars += (c & 0xC0) == 0x80 ? 0 : 1;
    EXPECT_GE(x, 0);
    EXPECT_LE(x + static_cast<double>(chars) * 0.6 * fontSize, gutterEnd)
        << Dom::text(label) << " runs into the bars";
  }
  for (auto* tick : dom.all("//section[@id='s1']//svg//text[" + cls("tick") + "]")) {
    const double x = std::stod(Dom::attr(tick, "x"));
    const std::string anchor = Dom::attr(tick, "text-anchor");
    const double w = static_cast<double>(Dom::text(tick).size()) * 0.6 * fontSize;
    const double left = anchor == "end" ? x - w : anchor == "middle" ? x - w / 2 : x;
    EXPECT_GE(left, 0) << Dom::text(tick);
    EXPECT_LE(left + w, width) << Dom::text(tick);
  }
  // Only the fault scenario has a timeline.
  EXPECT_TRUE(dom.all("//section[@id='s0']//svg").empty());
}

// ---------------------------------------------------------------- a real browser, if present
constexpr const char* kChromium = "/usr/bin/chromium";

// Runs argv with a deadline; returns the exit status, or -1 when it had to be killed.
int runWithDeadline(const std::vector<std::string>& argv, std::chrono::seconds deadline) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return -1;
  const auto end = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  while (true) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (std::chrono::steady_clock::now() >= end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

TEST(HtmlBrowserTest, HeadlessChromiumRendersTheReport) {
  if (!fs::exists(kChromium)) GTEST_SKIP() << kChromium << " is not installed";
  const fs::path dir = fs::temp_directory_path() / ("egresslab-html-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "profile");
  const fs::path page = dir / "report.html";
  std::ofstream(page) << toHtml(sampleRun());
  const fs::path shot = dir / "report.png";
  const int code = runWithDeadline(
      {kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
       "--disable-background-networking", "--disable-component-update", "--disable-sync",
       "--user-data-dir=" + (dir / "profile").string(), "--window-size=1280,1600",
       "--screenshot=" + shot.string(), "file://" + page.string()},
      std::chrono::seconds(90));
  ASSERT_EQ(code, 0) << "chromium failed or hung";
  ASSERT_TRUE(fs::exists(shot));
  // A PNG of the requested size: signature, then IHDR width and height (big-endian).
  std::ifstream in(shot, std::ios::binary);
  std::vector<unsigned char> head(24);
  in.read(reinterpret_cast<char*>(head.data()), 24);
  ASSERT_EQ(in.gcount(), 24);
  EXPECT_EQ(head[1], 'P');
  EXPECT_EQ(head[2], 'N');
  EXPECT_EQ(head[3], 'G');
  const auto be32 = [&](std::size_t at) {
    return (head[at] << 24) | (head[at + 1] << 16) | (head[at + 2] << 8) | head[at + 3];
  };
  EXPECT_EQ(be32(16), 1280);
  EXPECT_EQ(be32(20), 1600);
  // A blank page compresses to almost nothing; a rendered report does not.
  EXPECT_GT(fs::file_size(shot), 20'000u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace egresslab::report
