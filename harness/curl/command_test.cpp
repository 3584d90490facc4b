#include "harness/curl/command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace egresslab::curl {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

CurlCommand parseOk(std::string_view line) {
  auto parsed = parseCurlCommandLine(line);
  EXPECT_TRUE(parsed.has_value()) << line << " → " << (parsed ? "" : parsed.error().str());
  return parsed ? *parsed : CurlCommand{};
}

std::string parseError(std::string_view line, SourcePos where = {}) {
  auto parsed = parseCurlCommandLine(line, where);
  EXPECT_FALSE(parsed.has_value()) << line;
  if (parsed) return {};
  EXPECT_EQ(parsed.error().kind, ErrorKind::kInvalidInput);
  return parsed.error().str();
}

std::vector<std::string> words(std::string_view line) {
  auto split = splitShellWords(line);
  EXPECT_TRUE(split.has_value()) << line << " → " << (split ? "" : split.error().str());
  std::vector<std::string> out;
  if (split) {
    for (auto& w : *split) out.push_back(w.text);
  }
  return out;
}

// --- Word splitting

TEST(ShellWordsTest, QuotesAndEscapes) {
  EXPECT_THAT(words(R"(a 'b c' "d e" f\ g)"), ElementsAre("a", "b c", "d e", "f g"));
  EXPECT_THAT(words(R"('it'\''s' "say \"hi\" \\ \$HOME \n")"),
              ElementsAre("it's", R"(say "hi" \ $HOME \n)"));
  EXPECT_THAT(words(R"(pre'mid'"post" '' "")"), ElementsAre("premidpost", "", ""));
  EXPECT_THAT(words("  \t lead   trail  "), ElementsAre("lead", "trail"));
}

TEST(ShellWordsTest, NoExpansion) {
  EXPECT_THAT(words(R"($TOKEN "$TOKEN" ${ca} ~/x *.pem)"),
              ElementsAre("$TOKEN", "$TOKEN", "${ca}", "~/x", "*.pem"));
}

TEST(ShellWordsTest, LineContinuationsAndComments) {
  EXPECT_THAT(words("curl -sS \\\n  -H 'a: b' \\\r\n  http://x # the check\n"),
              ElementsAre("curl", "-sS", "-H", "a: b", "http://x"));
  EXPECT_THAT(words("http://x/#frag a#b"), ElementsAre("http://x/#frag", "a#b"));
  EXPECT_THAT(words("\"multi\nline\" 'keeps\nnewlines'"),
              ElementsAre("multi\nline", "keeps\nnewlines"));
}

TEST(ShellWordsTest, OffsetsPointAtWords) {
  auto split = splitShellWords("curl  -s 'x y'");
  ASSERT_TRUE(split.has_value());
  ASSERT_EQ(split->size(), 3u);
  EXPECT_EQ((*split)[0].offset, 0u);
  EXPECT_EQ((*split)[1].offset, 6u);
  EXPECT_EQ((*split)[2].offset, 9u);
}

TEST(ShellWordsTest, UnbalancedQuotesAreErrorsWithColumn) {
  EXPECT_EQ(parseError("curl -H 'x: y http://a", {"s.yaml", 4, 11}),
            "s.yaml:4:19: unbalanced single quote (') in curl command line");
  EXPECT_EQ(parseError(R"(curl -H "x: y http://a)", {"s.yaml", 4, 11}),
            "s.yaml:4:19: unbalanced double quote (\") in curl command line");
  EXPECT_THAT(parseError(R"(curl -H "x: \" http://a)"), HasSubstr("unbalanced double quote"));
}

TEST(ShellWordsTest, ShellOperatorsAreRejected) {
  EXPECT_THAT(parseError("curl http://x/get?a=1&b=2"), HasSubstr("unquoted '&'"));
  EXPECT_THAT(parseError("curl -s http://x | jq ."), HasSubstr("unquoted '|'"));
  EXPECT_THAT(parseError("curl http://x; echo"), HasSubstr("unquoted ';'"));
  EXPECT_THAT(parseError("curl http://x > out"), HasSubstr("unquoted '>'"));
  EXPECT_THAT(parseError("curl $(cat url)"), HasSubstr("unquoted '('"));
  EXPECT_EQ(parseOk("curl 'http://x/get?a=1&b=2'").url, "http://x/get?a=1&b=2");
  EXPECT_EQ(parseOk(R"(curl http://x/get?a=1\&b=2)").url, "http://x/get?a=1&b=2");
  EXPECT_THAT(parseError(std::string_view("curl http://x\0y", 15)), HasSubstr("NUL"));
}

// --- Options

TEST(CurlParseTest, PlainUrlWithAndWithoutCurlWord) {
  const auto a = parseOk("curl http://httpbin.example.com/status/200");
  EXPECT_EQ(a.url, "http://httpbin.example.com/status/200");
  EXPECT_THAT(a.tokens, ElementsAre("http://httpbin.example.com/status/200"));
  const auto b = parseOk("-sS http://h/");
  EXPECT_TRUE(b.silent);
  EXPECT_TRUE(b.showError);
  EXPECT_THAT(b.tokens, ElementsAre("-sS", "http://h/"));
}

TEST(CurlParseTest, BooleanFlagsShortAndLong) {
  const auto s = parseOk("curl -s -S -v -i -k -f -L --http1.1 --compressed http://h/");
  const auto l = parseOk(
      "curl --silent --show-error --verbose --include --insecure --fail --location --http1.1 "
      "--compressed http://h/");
  for (const auto* c : {&s, &l}) {
    EXPECT_TRUE(c->silent);
    EXPECT_TRUE(c->showError);
    EXPECT_TRUE(c->verbose);
    EXPECT_TRUE(c->include);
    EXPECT_TRUE(c->insecure);
    EXPECT_EQ(c->fail, FailMode::kFail);
    EXPECT_TRUE(c->location);
    EXPECT_TRUE(c->http11);
    EXPECT_TRUE(c->compressed);
  }
  auto a = s;
  auto b = l;
  a.tokens.clear();
  b.tokens.clear();
  EXPECT_EQ(a, b);
  EXPECT_TRUE(parseOk("curl -I http://h/").head);
  EXPECT_TRUE(parseOk("curl --head http://h/").head);
  EXPECT_EQ(parseOk("curl --fail-with-body http://h/").fail, FailMode::kFailWithBody);
}

TEST(CurlParseTest, ValuedOptionsShortAndLong) {
  const auto c = parseOk(
      "curl -X PUT -H 'a: 1' --header 'b;' -u user:pw -A agent/1 --cacert ca.pem -E c.pem "
      "--key k.pem --resolve h:443:127.0.0.1 --connect-to h:443:gw:8443 -m 2.5 "
      "--connect-timeout 1 -o out.txt -w '%{http_code}' --max-redirs 3 http://h/");
  EXPECT_EQ(c.method, "PUT");
  EXPECT_THAT(c.headers, ElementsAre("a: 1", "b;"));
  EXPECT_EQ(c.user, "user:pw");
  EXPECT_EQ(c.userAgent, "agent/1");
  EXPECT_EQ(c.cacert, "ca.pem");
  EXPECT_EQ(c.cert, "c.pem");
  EXPECT_EQ(c.key, "k.pem");
  EXPECT_THAT(c.resolve, ElementsAre("h:443:127.0.0.1"));
  EXPECT_THAT(c.connectTo, ElementsAre("h:443:gw:8443"));
  EXPECT_EQ(c.maxTime, 2500ms);
  EXPECT_EQ(c.connectTimeout, 1000ms);
  EXPECT_EQ(c.output, "out.txt");
  EXPECT_EQ(c.writeOut, "%{http_code}");
  EXPECT_EQ(c.maxRedirs, 3);

  const auto l = parseOk(
      "curl --request PUT --user u:p --user-agent x --cert c.pem --max-time 0.2 --output o "
      "--write-out '%{exitcode}' --url http://h/");
  EXPECT_EQ(l.method, "PUT");
  EXPECT_EQ(l.user, "u:p");
  EXPECT_EQ(l.userAgent, "x");
  EXPECT_EQ(l.cert, "c.pem");
  EXPECT_EQ(l.maxTime, 200ms);
  EXPECT_EQ(l.output, "o");
  EXPECT_EQ(l.writeOut, "%{exitcode}");
  EXPECT_EQ(l.url, "http://h/");
}

TEST(CurlParseTest, ShortFlagBundles) {
  const auto a = parseOk("curl -sSk https://h/");
  EXPECT_TRUE(a.silent && a.showError && a.insecure);
  const auto b = parseOk("curl -sSo /dev/null -w '%{http_code}' http://h/");
  EXPECT_TRUE(b.silent && b.showError);
  EXPECT_EQ(b.output, "/dev/null");
  const auto c = parseOk("curl -HHost:x -XPOST -sSm5 -dk=v http://h/");
  EXPECT_THAT(c.headers, ElementsAre("Host:x"));
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.maxTime, 5000ms);
  ASSERT_EQ(c.data.size(), 1u);
  EXPECT_EQ(c.data[0].value, "k=v");
  // A value-taking option ends the bundle: "-Xk" is -X with value "k", not -X and -k.
  const auto d = parseOk("curl -sXk http://h/");
  EXPECT_EQ(d.method, "k");
  EXPECT_FALSE(d.insecure);
}

TEST(CurlParseTest, DataKindsKeepOrderAndImplyPost) {
  const auto c = parseOk(
      "curl -d a=1 --data b=2 --data-ascii c=3 --data-raw @raw --data-binary @f.bin --json '{}' "
      "http://h/");
  ASSERT_EQ(c.data.size(), 6u);
  EXPECT_EQ(c.data[0], (DataArg{DataKind::kAscii, "a=1"}));
  EXPECT_EQ(c.data[1], (DataArg{DataKind::kAscii, "b=2"}));
  EXPECT_EQ(c.data[2], (DataArg{DataKind::kAscii, "c=3"}));
  EXPECT_EQ(c.data[3], (DataArg{DataKind::kRaw, "@raw"}));
  EXPECT_EQ(c.data[4], (DataArg{DataKind::kBinary, "@f.bin"}));
  EXPECT_EQ(c.data[5], (DataArg{DataKind::kJson, "{}"}));
  EXPECT_EQ(c.effectiveMethod(), "POST");
  EXPECT_EQ(parseOk("curl -d '' http://h/").effectiveMethod(), "POST");
  EXPECT_EQ(parseOk("curl -X PATCH -d x http://h/").effectiveMethod(), "PATCH");
  EXPECT_EQ(parseOk("curl -I http://h/").effectiveMethod(), "HEAD");
  EXPECT_EQ(parseOk("curl http://h/").effectiveMethod(), "GET");
}

TEST(CurlParseTest, UrlWithoutSchemeMeansHttp) {
  EXPECT_EQ(parseOk("curl httpbin.org/get").urlWithScheme(), "http://httpbin.org/get");
  EXPECT_EQ(parseOk("curl 127.0.0.1:8080").urlWithScheme(), "http://127.0.0.1:8080");
  EXPECT_EQ(parseOk("curl https://h/").urlWithScheme(), "https://h/");
  EXPECT_EQ(parseOk("curl ftp.example.com/f").urlWithScheme(), "ftp://ftp.example.com/f");
}

TEST(CurlParseTest, DoubleDashEndsOptions) {
  const auto c = parseOk("curl -s -- -weird-host");
  EXPECT_EQ(c.url, "-weird-host");
}

TEST(CurlParseTest, UnknownOptionsAreNamed) {
  EXPECT_THAT(parseError("curl --proxy http://p http://h/"),
              HasSubstr("curl: option --proxy: is unknown"));
  EXPECT_THAT(parseError("curl -x http://p http://h/"), HasSubstr("option -x: is unknown"));
  EXPECT_THAT(parseError("curl -sZ http://h/"), HasSubstr("option -Z: is unknown"));
  EXPECT_THAT(parseError("curl -sZ http://h/"), HasSubstr("(in -sZ)"));
  // curl has no --flag=value form: it reports the whole word as an unknown option.
  EXPECT_THAT(parseError("curl --max-time=5 http://h/"),
              HasSubstr("curl: option --max-time=5: is unknown"));
  EXPECT_THAT(parseError("curl --retry 3 http://h/"), HasSubstr("--retry"));
}

TEST(CurlParseTest, ErrorPositionPointsAtTheWord) {
  EXPECT_EQ(parseError("curl -sS --bogus http://h/", {"scenario.yaml", 12, 11}),
            "scenario.yaml:12:20: curl: option --bogus: is unknown (not supported by egresslab; "
            "see docs/curl.md)");
  EXPECT_THAT(parseError("curl -m abc http://h/", {"s.yaml", 2, 1}), HasSubstr("s.yaml:2:6: "));
}

TEST(CurlParseTest, MissingValues) {
  EXPECT_THAT(parseError("curl http://h/ -H"), HasSubstr("option -H: requires parameter"));
  EXPECT_THAT(parseError("curl http://h/ --max-time"),
              HasSubstr("option --max-time: requires parameter"));
  EXPECT_THAT(parseError("curl http://h/ -so"), HasSubstr("option -o: requires parameter"));
}

TEST(CurlParseTest, UrlCount) {
  EXPECT_THAT(parseError("curl -sS"), HasSubstr("no URL specified"));
  EXPECT_THAT(parseError("curl"), HasSubstr("empty curl command"));
  EXPECT_THAT(parseError(""), HasSubstr("empty curl command"));
  EXPECT_THAT(parseError("curl http://a/ http://b/"),
              HasSubstr("exactly one URL is supported, got 2: http://a/, http://b/"));
  EXPECT_THAT(parseError("curl --url http://a/ http://b/"), HasSubstr("exactly one URL"));
  EXPECT_THAT(parseError("curl ''"), HasSubstr("empty URL"));
}

TEST(CurlParseTest, BadNumbers) {
  EXPECT_THAT(parseError("curl -m abc http://h/"),
              HasSubstr("option -m: expected a positive numerical parameter"));
  EXPECT_THAT(parseError("curl -m -1 http://h/"), HasSubstr("option -m: expected"));
  EXPECT_THAT(parseError("curl -m 1e3 http://h/"), HasSubstr("option -m: expected"));
  EXPECT_THAT(parseError("curl --connect-timeout x http://h/"),
              HasSubstr("--connect-timeout: expected"));
  EXPECT_THAT(parseError("curl --max-redirs x http://h/"),
              HasSubstr("option --max-redirs: expected a proper numerical parameter"));
  EXPECT_EQ(parseOk("curl --max-redirs -1 http://h/").maxRedirs, -1);
  EXPECT_EQ(parseOk("curl -m 0 http://h/").maxTime, 0ms);
}

TEST(CurlParseTest, ConflictsCurlRejects) {
  EXPECT_THAT(parseError("curl -I -d x http://h/"),
              HasSubstr("You can only select one HTTP request method"));
  EXPECT_THAT(parseError("curl -f --fail-with-body http://h/"),
              HasSubstr("either --fail or --fail-with-body"));
}

TEST(CurlParseTest, MalformedResolveAndConnectTo) {
  EXPECT_THAT(parseError("curl --resolve h:443 http://h/"), HasSubstr("HOST:PORT:ADDRESS"));
  EXPECT_THAT(parseError("curl --resolve h:x:1.2.3.4 http://h/"), HasSubstr("HOST:PORT:ADDRESS"));
  EXPECT_THAT(
      parseOk("curl --resolve '[::1]:443:::1' --resolve +h:80:1.1.1.1,2.2.2.2 http://h/").resolve,
      ElementsAre("[::1]:443:::1", "+h:80:1.1.1.1,2.2.2.2"));
  EXPECT_THAT(parseError("curl --connect-to h:443 http://h/"),
              HasSubstr("HOST1:PORT1:HOST2:PORT2"));
  EXPECT_THAT(
      parseOk("curl --connect-to ::gw: --connect-to 'h:443:[::1]:8443' http://h/").connectTo,
      ElementsAre("::gw:", "h:443:[::1]:8443"));
}

TEST(CurlParseTest, UnsupportedForms) {
  EXPECT_THAT(parseError("curl -H @headers.txt http://h/"),
              HasSubstr("reading headers from a file"));
  EXPECT_THAT(parseError("curl -d @- http://h/"), HasSubstr("stdin"));
  EXPECT_EQ(parseOk("curl --data-raw @- http://h/").data[0].value, "@-");
  EXPECT_THAT(parseError("curl -w @fmt.txt http://h/"), HasSubstr("format from a file"));
  EXPECT_THAT(parseError("curl -w '%{speed_upload}' http://h/"),
              HasSubstr("unsupported --write-out variable 'speed_upload'"));
}

// --- Rendering back to argv

TEST(CurlArgvTest, CanonicalRendering) {
  const auto c = parseOk(
      "curl -sSk -XPOST -HHost:x --json '{\"a\": 1}' -o /dev/null -w '%{http_code}\\n' -m 0.2 "
      "--resolve h:443:127.0.0.1 https://h/post");
  EXPECT_THAT(toArgv(c),
              ElementsAre("curl", "-s", "-S", "-k", "-X", "POST", "-H", "Host:x", "--json",
                          "{\"a\": 1}", "--resolve", "h:443:127.0.0.1", "-m", "0.200", "-o",
                          "/dev/null", "-w", "%{http_code}\\n", "https://h/post"));
}

CurlCommand withoutTokens(CurlCommand c) {
  c.tokens.clear();
  return c;
}

TEST(CurlArgvTest, RoundTripsEveryOption) {
  const std::vector<std::string> lines = {
      "curl http://h/",
      "-sS -v -i -k -L --max-redirs 7 -X DELETE -H 'a: b' -H 'c;' -H 'd:' -u 'u:p w' -A 'ua x' "
      "--cacert ca.pem --cert 'c.pem:pass' --key k.pem --resolve h:443:127.0.0.1 "
      "--connect-to h:443:gw:8443 -m 1.5 --connect-timeout 0.25 --http1.1 --compressed -o out "
      "-w '%{http_code} %{time_total}\\n' https://h:443/x?y=1",
      "curl -I -f http://h/",
      "curl --fail-with-body -d 'a=1' -d \"it's\" --data-raw '@x' --data-binary @f --json '[1]' "
      "http://h/",
      "curl -- -dash-url",
      "curl -H $'tab' -H \"multi\nline\" -d '' 'http://h/a b'",
  };
  for (const auto& line : lines) {
    SCOPED_TRACE(line);
    const auto original = parseOk(line);
    const auto argv = toArgv(original);
    ASSERT_FALSE(argv.empty());
    EXPECT_EQ(argv.front(), "curl");
    auto fromArgv = parseCurlArguments({argv.begin() + 1, argv.end()});
    ASSERT_TRUE(fromArgv.has_value()) << fromArgv.error().str();
    EXPECT_EQ(withoutTokens(*fromArgv), withoutTokens(original));
    auto fromLine = parseCurlCommandLine(shellJoin(argv));
    ASSERT_TRUE(fromLine.has_value()) << shellJoin(argv) << " → " << fromLine.error().str();
    EXPECT_EQ(withoutTokens(*fromLine), withoutTokens(original));
    EXPECT_EQ(fromLine->tokens, std::vector<std::string>(argv.begin() + 1, argv.end()));
  }
}

TEST(CurlArgvTest, ShellJoinQuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(shellJoin({"curl", "-sS", "http://h:80/a?b=1", "-H", "x: y", "-d", "it's", "-d", ""}),
            R"(curl -sS 'http://h:80/a?b=1' -H 'x: y' -d 'it'\''s' -d '')");
}

}  // namespace
}  // namespace egresslab::curl
