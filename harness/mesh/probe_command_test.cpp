// The exec-probe command parser and its sh evaluator (docs/istio-behaviour.md §7).
#include "harness/mesh/probe_command.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace egresslab::mesh {
namespace {

using Words = std::vector<std::string>;

ShellScript parse(const std::string& script) {
  auto s = parseShellScript(script);
  EXPECT_TRUE(s.has_value()) << script << ": " << (s ? "" : s.error().str());
  return s ? *s : ShellScript{};
}

// Every simple command's words, in order.
std::vector<Words> commandsOf(const ShellScript& s) {
  std::vector<Words> out;
  for (const auto& item : s.items) {
    for (const auto& c : item.pipeline.commands) out.push_back(c.words);
  }
  return out;
}

// Runs a script where `program ARG` exits with statuses[ARG] (0 when not listed) and records
// what ran.
struct Fake {
  std::map<std::string, int> statuses;
  std::vector<std::string> ran;
  int operator()(const std::string& script) {
    auto s = parseShellScript(script);
    EXPECT_TRUE(s.has_value()) << script;
    if (!s) return -1;
    return evaluateShellScript(*s, [this](const SimpleCommand& c) {
      const std::string arg = c.words.size() > 1 ? c.words[1] : "";
      ran.push_back(arg);
      const auto it = statuses.find(arg);
      return it == statuses.end() ? 0 : it->second;
    });
  }
};

TEST(ProbeCommandParse, OperatorsSplitSimpleCommands_S7) {
  const auto s = parse("curl -f a; curl -f b && curl c || curl d | tee x");
  EXPECT_EQ(
      commandsOf(s),
      (std::vector<Words>{
          {"curl", "-f", "a"}, {"curl", "-f", "b"}, {"curl", "c"}, {"curl", "d"}, {"tee", "x"}}));
  ASSERT_EQ(s.items.size(), 4u);
  EXPECT_EQ(s.items[0].connector, ShellConnector::kSequence);
  EXPECT_EQ(s.items[1].connector, ShellConnector::kSequence);
  EXPECT_EQ(s.items[2].connector, ShellConnector::kAnd);
  EXPECT_EQ(s.items[3].connector, ShellConnector::kOr);
  EXPECT_EQ(s.items[3].pipeline.commands.size(), 2u);
}

TEST(ProbeCommandParse, QuotingKeepsOperatorsInsideWords_S7) {
  const auto s =
      parse(R"(curl -H 'x: a;b' "http://h/p?a=1&b=2" -d "say \"hi\" \$x" a\ b\;c 'it''s' "")");
  EXPECT_EQ(commandsOf(s), (std::vector<Words>{{"curl", "-H", "x: a;b", "http://h/p?a=1&b=2", "-d",
                                                "say \"hi\" $x", "a b;c", "its", ""}}));
}

TEST(ProbeCommandParse, NewlinesCommentsRedirectsAndAssignments_S7) {
  const auto s = parse(
      "# ready?\nLANG=C curl -f a >/dev/null 2>&1 &&\n  curl \\\n  -f b # trailing\n\ncurl c;");
  EXPECT_EQ(commandsOf(s),
            (std::vector<Words>{{"curl", "-f", "a"}, {"curl", "-f", "b"}, {"curl", "c"}}));
  ASSERT_EQ(s.items.size(), 3u);
  EXPECT_EQ(s.items[1].connector, ShellConnector::kAnd);
  EXPECT_EQ(s.items[2].connector, ShellConnector::kSequence);
  const SimpleCommand& first = s.items[0].pipeline.commands[0];
  EXPECT_EQ(first.assignments, Words{"LANG=C"});
  EXPECT_EQ(first.redirects, (std::vector<ShellRedirect>{{">", "/dev/null"}, {"2>&", "1"}}));
}

TEST(ProbeCommandParse, BadInputIsAnErrorValue_S7) {
  for (const char* bad : {"",
                          "   ",
                          "# only a comment",
                          "curl 'a",
                          "curl \"a",
                          "&& curl a",
                          "curl a &&",
                          "curl a ||",
                          "curl a |",
                          "| curl a",
                          "curl a ;; curl b",
                          "; curl a",
                          "curl a & curl b",
                          "(curl a)",
                          "curl $(cat url)",
                          "curl `cat url`",
                          "if curl a; then true; fi",
                          "curl a >",
                          "curl a | | true",
                          "curl a && || b",
                          "!"}) {
    const auto s = parseShellScript(bad);
    EXPECT_FALSE(s.has_value()) << "'" << bad << "' parsed";
  }
  // Positions: the column of the offending character when the caller knows the line.
  const auto e = parseShellScript("curl a |", SourcePos{"f.yaml", 3, 10});
  ASSERT_FALSE(e.has_value());
  ASSERT_TRUE(e.error().where.has_value());
  EXPECT_EQ(e.error().where->line, 3);
  EXPECT_EQ(e.error().where->column, 18);
}

TEST(ProbeCommandParse, GarbageNeverCrashes) {
  // Every prefix of a script full of shell syntax: a value or an error, never a crash.
  const std::string nasty = "a'b\"c\\d;e&&f||g|h>i<j 2>&1 `k` $(l) (m) !n {o} #p\n\\\nq\"\\\"r\"'";
  for (std::size_t n = 0; n <= nasty.size(); ++n) {
    for (std::size_t from = 0; from < n; from += 7) {
      (void)parseShellScript(std::string_view(nasty).substr(from, n - from));
    }
  }
  SUCCEED();
}

TEST(ProbeCommandParse, ProbeArgvShellOrDirect_S7) {
  auto s = parseProbeCommand({"/bin/sh", "-c", "curl a; curl b"});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(commandsOf(*s), (std::vector<Words>{{"curl", "a"}, {"curl", "b"}}));
  s = parseProbeCommand({"bash", "-e", "-o", "pipefail", "-c", "curl a | true", "name"});
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->errexit);
  EXPECT_TRUE(s->pipefail);
  // Not a shell: argv verbatim, operators are plain words.
  s = parseProbeCommand({"curl", "-f", "a;b", "&&"});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(commandsOf(*s), (std::vector<Words>{{"curl", "-f", "a;b", "&&"}}));
  EXPECT_FALSE(parseProbeCommand({}).has_value());
  EXPECT_FALSE(parseProbeCommand({"sh", "/probe.sh"}).has_value());
  EXPECT_FALSE(parseProbeCommand({"sh", "-c"}).has_value());
}

TEST(ProbeCommandParse, ProgramArgvSkipsWrappers_S7) {
  const auto s = parse("exec timeout -s KILL 5 env A=1 /usr/bin/curl -f a");
  const auto argv = programArgv(s.items[0].pipeline.commands[0]);
  EXPECT_EQ(Words(argv.begin(), argv.end()), (Words{"/usr/bin/curl", "-f", "a"}));
  EXPECT_EQ(programName(argv), "curl");
}

TEST(ProbeCommandEvaluate, SequenceIsTheLastStatus_S7) {
  Fake f;
  f.statuses = {{"a", 22}};
  EXPECT_EQ(f("curl a; curl b"), 0);  // the bug: a failing first command kept NotReady
  EXPECT_EQ(f.ran, (Words{"a", "b"}));
  f.ran.clear();
  EXPECT_EQ(f("curl b; curl a"), 22);
}

TEST(ProbeCommandEvaluate, AndOrShortCircuit_S7) {
  Fake f;
  f.statuses = {{"bad", 7}};
  EXPECT_EQ(f("curl bad || true"), 0);
  EXPECT_EQ(f("curl bad && curl ok"), 7);
  EXPECT_EQ(f.ran, (Words{"bad", "bad"}));
  EXPECT_EQ(f("curl ok || curl bad"), 0);
  EXPECT_EQ(f("curl bad || curl bad"), 7);
  EXPECT_EQ(f("false || curl ok"), 0);
  EXPECT_EQ(f(": && false"), 1);
}

TEST(ProbeCommandEvaluate, AndOrAreLeftAssociative_S7) {
  Fake f;
  f.statuses = {{"a", 1}};
  // (a && b) || c: a fails, b is skipped, c runs.
  EXPECT_EQ(f("curl a && curl b || curl c"), 0);
  EXPECT_EQ(f.ran, (Words{"a", "c"}));
  // (true || b) && c: b is skipped, c runs — not true || (b && c).
  f.ran.clear();
  EXPECT_EQ(f("true || curl b && curl c"), 0);
  EXPECT_EQ(f.ran, (Words{"c"}));
  f.ran.clear();
  EXPECT_EQ(f("true || curl b && curl a"), 1);
  // `;` ends the AND-OR list: d runs whatever came before.
  f.ran.clear();
  EXPECT_EQ(f("curl a && curl b; curl d"), 0);
  EXPECT_EQ(f.ran, (Words{"a", "d"}));
}

TEST(ProbeCommandEvaluate, PipelineIsItsLastCommand_S7) {
  Fake f;
  f.statuses = {{"a", 22}};
  EXPECT_EQ(f("curl a | true"), 0);
  EXPECT_EQ(f.ran, (Words{"a"}));  // every command of a pipeline runs
  EXPECT_EQ(f("true | curl a"), 22);
  EXPECT_EQ(f("curl a | grep ok"), 0);
  EXPECT_EQ(f("! curl a"), 0);
  EXPECT_EQ(f("! true"), 1);
  EXPECT_EQ(f("set -o pipefail; curl a | true"), 22);
}

TEST(ProbeCommandEvaluate, ExitAndErrexit_S7) {
  Fake f;
  f.statuses = {{"a", 6}};
  EXPECT_EQ(f("curl b || exit 1; curl a"), 6);
  EXPECT_EQ(f("curl a || exit 1; curl b"), 1);
  EXPECT_EQ(f("curl a || exit 3\ncurl b"), 3);
  EXPECT_EQ(f("curl a; exit"), 6);
  EXPECT_EQ(f("exit nope"), 2);
  f.ran.clear();
  EXPECT_EQ(f("set -e; curl a; curl b"), 6);
  EXPECT_EQ(f.ran, (Words{"a"}));
  f.ran.clear();
  EXPECT_EQ(f("set -e; curl a && curl b; curl c"), 0);  // a fails on the left of && only
  EXPECT_EQ(f.ran, (Words{"a", "c"}));
  auto s = parseProbeCommand({"sh", "-ec", "curl a; curl b"});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(
      evaluateShellScript(*s, [](const SimpleCommand& c) { return c.words[1] == "a" ? 6 : 0; }), 6);
}

}  // namespace
}  // namespace egresslab::mesh
