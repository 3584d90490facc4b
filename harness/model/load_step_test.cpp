// Load and SLO syntax (docs/scenarios.md "Load and SLOs"): `load:` start/stop steps, `wait:`,
// the load expectations of a load.stop step, and the conditions they are written in.
#include <gtest/gtest.h>

#include "harness/model/condition.h"
#include "harness/model/loader.h"

namespace egresslab::model {
namespace {

const std::filesystem::path kInline =
    std::filesystem::path(EGRESSLAB_SOURCE_DIR) / "fixtures/broken/model/inline.yaml";

constexpr std::string_view kHead =
    "name: a\n"
    "workloads: [{name: client, namespace: crm}]\n"
    "steps:\n";

Result<Scenario> parse(std::string_view steps) {
  return parseScenario(std::string(kHead) + std::string(steps), kInline);
}

std::string errorOf(std::string_view steps) {
  auto sc = parse(steps);
  if (sc) return "<loaded without error>";
  EXPECT_EQ(sc.error().kind, ErrorKind::kInvalidInput);
  std::string text = sc.error().str();
  const std::string prefix = kInline.parent_path().string() + "/";
  if (text.rfind(prefix, 0) == 0) text.erase(0, prefix.size());
  return text;
}

// ------------------------------------------------------------------------------ conditions
TEST(Condition, ParsesEveryOperatorAndUnit) {
  auto ge = parseCondition(">= 99%", Condition::Unit::kPercent, "k");
  ASSERT_TRUE(ge) << ge.error().str();
  EXPECT_EQ(ge->op, Condition::Op::kGe);
  EXPECT_DOUBLE_EQ(ge->value, 99);
  EXPECT_EQ(ge->text, ">= 99%");
  auto lt = parseCondition("<500ms", Condition::Unit::kDuration, "k");
  ASSERT_TRUE(lt);
  EXPECT_EQ(lt->op, Condition::Op::kLt);
  EXPECT_DOUBLE_EQ(lt->value, 500);
  EXPECT_DOUBLE_EQ(parseCondition("< 1.5s", Condition::Unit::kDuration, "k")->value, 1500);
  EXPECT_DOUBLE_EQ(parseCondition("< 800us", Condition::Unit::kDuration, "k")->value, 0.8);
  EXPECT_DOUBLE_EQ(parseCondition("<= 1m", Condition::Unit::kDuration, "k")->value, 60000);
  EXPECT_EQ(parseCondition("<= 3", Condition::Unit::kCount, "k")->op, Condition::Op::kLe);
  EXPECT_EQ(parseCondition("> 0", Condition::Unit::kCount, "k")->op, Condition::Op::kGt);
  EXPECT_EQ(parseCondition("== 0", Condition::Unit::kCount, "k")->op, Condition::Op::kEq);
  EXPECT_DOUBLE_EQ(parseCondition("  >= 99.9 %  ", Condition::Unit::kPercent, "k")->value, 99.9);
}

TEST(Condition, RejectsWhatIsNotACondition) {
  const auto message = [](const std::string& text, Condition::Unit unit) {
    auto c = parseCondition(text, unit, "expect.p99", SourcePos{"f.yaml", 3, 7});
    return c ? std::string("<parsed>") : c.error().str();
  };
  EXPECT_EQ(message("99%", Condition::Unit::kPercent),
            "f.yaml:3:7: expect.p99: invalid condition \"99%\": it does not start with an "
            "operator; write an operator (>=, >, <=, <, ==) then a percentage (e.g. \">= 99%\")");
  EXPECT_NE(message("< 99%", Condition::Unit::kDuration).find("unknown duration unit \"%\""),
            std::string::npos);
  EXPECT_NE(message("< 500", Condition::Unit::kDuration).find("needs a unit"), std::string::npos);
  EXPECT_NE(message(">= 99", Condition::Unit::kPercent).find("needs a % sign"), std::string::npos);
  EXPECT_NE(message(">= 101%", Condition::Unit::kPercent).find("at most 100%"), std::string::npos);
  EXPECT_NE(message("<= 3ms", Condition::Unit::kCount).find("is not a count"), std::string::npos);
  EXPECT_NE(message("<= 2.5", Condition::Unit::kCount).find("whole number"), std::string::npos);
  EXPECT_NE(message(">=", Condition::Unit::kCount).find("no number"), std::string::npos);
  EXPECT_NE(message("=> 3", Condition::Unit::kCount).find("operator"), std::string::npos);
}

TEST(Condition, HoldsComparesInTheConditionsUnit) {
  const auto c = [](const std::string& text, Condition::Unit unit) {
    return *parseCondition(text, unit, "k");
  };
  EXPECT_TRUE(c(">= 99.9%", Condition::Unit::kPercent).holds(999.0 / 1000.0 * 100.0));
  EXPECT_FALSE(c(">= 99.9%", Condition::Unit::kPercent).holds(998.0 / 1000.0 * 100.0));
  EXPECT_TRUE(c("> 50%", Condition::Unit::kPercent).holds(50.1));
  EXPECT_FALSE(c("> 50%", Condition::Unit::kPercent).holds(50));
  EXPECT_TRUE(c("< 500ms", Condition::Unit::kDuration).holds(499.9));
  EXPECT_FALSE(c("< 500ms", Condition::Unit::kDuration).holds(500));
  EXPECT_TRUE(c("<= 3", Condition::Unit::kCount).holds(3));
  EXPECT_FALSE(c("<= 3", Condition::Unit::kCount).holds(4));
  EXPECT_TRUE(c("== 0", Condition::Unit::kCount).holds(0));
  EXPECT_FALSE(c("== 0", Condition::Unit::kCount).holds(1));
}

TEST(Condition, FormatsValuesInTheirUnit) {
  EXPECT_EQ(formatConditionValue(99.5, Condition::Unit::kPercent), "99.5%");
  EXPECT_EQ(formatConditionValue(12.25, Condition::Unit::kDuration), "12.25ms");
  EXPECT_EQ(formatConditionValue(3, Condition::Unit::kCount), "3");
}

// ------------------------------------------------------------------------------ load steps
TEST(LoadSteps, StartWaitStopWithEveryExpectationKey) {
  auto sc = parse(
      "  - name: traffic\n"
      "    load: {start: bg, from: crm/client, curl: -sS http://crm.example/hostname, rate: 50,\n"
      "           concurrency: 8}\n"
      "  - {name: hold, wait: 10s}\n"
      "  - name: judged\n"
      "    load: {stop: bg}\n"
      "    expect:\n"
      "      successRate: \">= 99%\"\n"
      "      p50: \"< 100ms\"\n"
      "      p90: \"< 200ms\"\n"
      "      p99: \"< 500ms\"\n"
      "      errors: \"<= 3\"\n"
      "      statuses: {200: \">= 1\", 503: \"== 0\"}\n"
      "      servedBy: {crm-b: \">= 90%\"}\n");
  ASSERT_TRUE(sc) << sc.error().str();
  ASSERT_EQ(sc->steps.size(), 3u);
  const LoadSpec& start = *sc->steps[0].load;
  EXPECT_EQ(start.action, LoadSpec::Action::kStart);
  EXPECT_EQ(start.name, "bg");
  EXPECT_EQ(start.from, "crm/client");
  EXPECT_EQ(start.curl, "-sS http://crm.example/hostname");
  EXPECT_EQ(start.curlPos.line, 5);
  EXPECT_DOUBLE_EQ(start.rate, 50);
  EXPECT_EQ(start.concurrency, 8);
  EXPECT_EQ(sc->steps[1].wait, std::chrono::milliseconds(10000));
  const Step& stop = sc->steps[2];
  EXPECT_EQ(stop.load->action, LoadSpec::Action::kStop);
  EXPECT_FALSE(stop.expect);
  ASSERT_TRUE(stop.loadExpect);
  const LoadExpectation& e = *stop.loadExpect;
  EXPECT_EQ(e.successRate->text, ">= 99%");
  EXPECT_DOUBLE_EQ(e.p50->value, 100);
  EXPECT_DOUBLE_EQ(e.p90->value, 200);
  EXPECT_DOUBLE_EQ(e.p99->value, 500);
  EXPECT_DOUBLE_EQ(e.errors->value, 3);
  ASSERT_EQ(e.statuses.size(), 2u);
  EXPECT_EQ(e.statuses.at(503).op, Condition::Op::kEq);
  EXPECT_DOUBLE_EQ(e.servedBy.at("crm-b").value, 90);
}

TEST(LoadSteps, ConcurrencyDefaultsTo64AndALoadNeverStoppedIsValid) {
  auto sc = parse("  - {name: t, load: {start: bg, curl: -sS http://x/, rate: 5}}\n");
  ASSERT_TRUE(sc) << sc.error().str();
  EXPECT_EQ(sc->steps[0].load->concurrency, 64);
  EXPECT_FALSE(sc->steps[0].load->from);
}

TEST(LoadSteps, ErrorsArePositioned) {
  EXPECT_EQ(errorOf("  - {name: t, load: {start: bg, curl: x, rate: 5, burst: 3}}\n"),
            "inline.yaml:4:51: unknown field \"burst\" in load; valid fields: concurrency, curl, "
            "from, rate, start, stop");
  EXPECT_EQ(errorOf("  - {name: t, load: {start: bg, curl: x}}\n"),
            "inline.yaml:4:21: load.start needs rate (requests per second)");
  EXPECT_EQ(errorOf("  - {name: t, load: {start: bg, curl: x, rate: 0}}\n"),
            "inline.yaml:4:48: load.rate must be above 0 and at most 100000 requests per second, "
            "got 0");
  EXPECT_EQ(errorOf("  - {name: t, load: {start: bg, rate: 3}}\n"),
            "inline.yaml:4:21: load.start needs a curl line");
  EXPECT_EQ(errorOf("  - {name: t, load: {start: bg, stop: bg}}\n"),
            "inline.yaml:4:21: load needs exactly one of start: NAME or stop: NAME");
  EXPECT_EQ(errorOf("  - {name: t, load: {start: Bg, curl: x, rate: 1}}\n"),
            "inline.yaml:4:29: invalid load name \"Bg\": use lower-case letters, digits and '-'");
  EXPECT_EQ(errorOf("  - {name: t, load: {stop: bg}}\n"),
            "inline.yaml:4:21: load.stop \"bg\": no earlier step starts a load of that name");
  EXPECT_EQ(errorOf("  - {name: t, load: {start: bg, curl: x, rate: 1}}\n"
                    "  - {name: u, load: {start: bg, curl: x, rate: 1}}\n"),
            "inline.yaml:5:21: load \"bg\" is already started by an earlier step");
  EXPECT_EQ(errorOf("  - {name: t, load: {start: bg, curl: x, rate: 1}}\n"
                    "  - {name: u, load: {stop: bg}}\n"
                    "  - {name: v, load: {stop: bg}}\n"),
            "inline.yaml:6:21: load \"bg\" is already stopped by an earlier step");
  EXPECT_EQ(errorOf("  - {name: t, load: {start: bg, curl: x, rate: 1}}\n"
                    "  - {name: u, load: {stop: bg, rate: 2}}\n"),
            "inline.yaml:5:38: load.stop takes only the load's name; curl, from, rate and "
            "concurrency belong to its load.start");
  EXPECT_EQ(errorOf("  - {name: t, load: {start: bg, curl: x, rate: 1, from: crm/nobody}}\n"),
            "inline.yaml:4:21: load.from \"crm/nobody\": no such pod in workloads (write "
            "NAMESPACE/POD)");
  EXPECT_EQ(errorOf("  - {name: t, load: {start: bg, curl: x, rate: 1}, expect: {errors: "
                    "\"== 0\"}}\n"),
            "inline.yaml:4:60: step \"t\": expectations over a load go on its load.stop step");
  EXPECT_EQ(errorOf("  - {name: t, load: {start: bg, curl: x, rate: 1}, curl: y}\n"),
            "inline.yaml:4:5: step \"t\" needs exactly one of curl, fault, load or wait");
  EXPECT_EQ(errorOf("  - {name: t, load: {start: bg, curl: x, rate: 1}, from: crm/client}\n"),
            "inline.yaml:4:58: step \"t\": a load step takes no eventually or from (write from "
            "inside load: {start: …, from: NS/POD})");
}

TEST(LoadSteps, ExpectationErrorsArePositioned) {
  const std::string start = "  - {name: t, load: {start: bg, curl: x, rate: 1}}\n";
  EXPECT_EQ(errorOf(start + "  - {name: u, load: {stop: bg}, expect: {status: 200}}\n"),
            "inline.yaml:5:42: unknown field \"status\" in expect (of a load.stop); did you mean "
            "\"statuses\"?");
  EXPECT_EQ(errorOf(start + "  - {name: u, load: {stop: bg}, expect: {p99: \"< 5%\"}}\n"),
            "inline.yaml:5:47: expect.p99: invalid condition \"< 5%\": unknown duration unit "
            "\"%\"; write an operator (>=, >, <=, <, ==) then a duration (e.g. \"< 500ms\")");
  EXPECT_EQ(errorOf(start + "  - {name: u, load: {stop: bg}, expect: {servedBy: {a: \">= 9\"}}}\n"),
            "inline.yaml:5:56: expect.servedBy.a: invalid condition \">= 9\": the number needs "
            "a % sign; write an operator (>=, >, <=, <, ==) then a percentage (e.g. \">= 99%\")");
  EXPECT_EQ(
      errorOf(start + "  - {name: u, load: {stop: bg}, expect: {statuses: {abc: \"<= 1\"}}}\n"),
      "inline.yaml:5:58: expect.statuses code must be an integer, got \"abc\"");
  EXPECT_EQ(errorOf(start + "  - {name: u, load: {stop: bg}, expect: {statuses: [1]}}\n"),
            "inline.yaml:5:52: expect.statuses must be a map, got a list");
}

TEST(WaitSteps, TakeOnlyAPositiveDuration) {
  EXPECT_EQ(errorOf("  - {name: w, wait: soon}\n"),
            "inline.yaml:4:21: invalid duration \"soon\" for wait: use e.g. 500ms, 1s, 1.5s, 1m, "
            "1h");
  EXPECT_EQ(errorOf("  - {name: w, wait: 0s}\n"),
            "inline.yaml:4:5: step \"w\": wait must be a positive duration");
  EXPECT_EQ(errorOf("  - {name: w, wait: 1s, expect: {status: 200}}\n"),
            "inline.yaml:4:5: step \"w\": a wait step takes only a duration");
  EXPECT_EQ(errorOf("  - {name: w, wait: 1s, fault: {target: upstream/x, action: down}}\n"),
            "inline.yaml:4:5: step \"w\" needs exactly one of curl, fault, load or wait");
}

}  // namespace
}  // namespace egresslab::model
