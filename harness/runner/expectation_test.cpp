#include "harness/runner/expectation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace egresslab::runner {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

model::Matcher exact(std::string text) { return model::Matcher{std::move(text), false}; }
model::Matcher regex(std::string text) { return model::Matcher{std::move(text), true}; }

// Plain assignments, not designated initializers: g++ 12 -Wextra flags the omitted members.
report::Observation observed(std::optional<int> exit, std::optional<int> status = std::nullopt,
                             std::string curlError = "") {
  report::Observation o;
  o.exit = exit;
  o.status = status;
  o.curlError = std::move(curlError);
  return o;
}
report::Observation ok200() { return observed(0, 200); }

model::Expectation expecting(std::optional<int> exit, std::vector<int> status = {}) {
  model::Expectation e;
  e.exit = exit;
  e.status = std::move(status);
  return e;
}
model::Expectation expectingVia(std::vector<std::string> via) {
  model::Expectation e;
  e.via = std::move(via);
  return e;
}
model::Expectation expectingBody(std::vector<std::string> contains,
                                 std::optional<nlohmann::json> json = std::nullopt) {
  model::Expectation e;
  e.body = model::BodyExpectation{std::move(contains), std::move(json)};
  return e;
}

std::vector<std::string> keys(const std::vector<Mismatch>& mismatches) {
  std::vector<std::string> out;
  for (const auto& m : mismatches) out.push_back(m.key);
  return out;
}

TEST(ExpectationTest, EmptyExpectationRequiresCurlExitZero) {
  EXPECT_THAT(evaluate({}, ok200()), IsEmpty());
  report::Observation tls = observed(35, std::nullopt, "curl: (35) SSL_ERROR_SYSCALL");
  const auto mismatches = evaluate({}, tls);
  ASSERT_THAT(mismatches, SizeIs(1));
  EXPECT_EQ(mismatches[0].key, "exit");
  EXPECT_THAT(mismatches[0].message, HasSubstr("expected curl to exit 0, observed 35"));
  EXPECT_THAT(mismatches[0].message, HasSubstr("SSL_ERROR_SYSCALL"));
}

TEST(ExpectationTest, ExplicitExitCodeMatchesCurlFailure) {
  model::Expectation e = expecting(6);
  EXPECT_THAT(evaluate(e, observed(6)), IsEmpty());
  EXPECT_THAT(keys(evaluate(e, ok200())), ::testing::ElementsAre("exit"));
}

TEST(ExpectationTest, StatusIsACodeOrAListOfAcceptableCodes) {
  model::Expectation one = expecting(std::nullopt, {200});
  EXPECT_THAT(evaluate(one, ok200()), IsEmpty());
  model::Expectation list = expecting(std::nullopt, {301, 302});
  EXPECT_THAT(evaluate(list, observed(0, 302)), IsEmpty());
  const auto mismatches = evaluate(list, observed(0, 404));
  ASSERT_THAT(mismatches, SizeIs(1));
  EXPECT_EQ(mismatches[0].message, "status: expected one of [301, 302], observed 404");
}

TEST(ExpectationTest, StatusWithoutAResponseSaysWhatCurlSaw) {
  model::Expectation e = expecting(35, {200});
  const auto mismatches = evaluate(e, observed(35, std::nullopt, "curl: (35) reset"));
  ASSERT_THAT(mismatches, SizeIs(1));
  EXPECT_THAT(mismatches[0].message,
              HasSubstr("status: expected 200, observed no HTTP response (curl exit 35"));
}

TEST(ExpectationTest, HeadersExactOrRegex) {
  model::Expectation e = expecting(std::nullopt, {301});
  e.headers["location"] = regex("https://httpbin\\.example\\.com/.*");
  e.headers["server"] = exact("envoy");
  report::Observation o = observed(0, 301);
  o.headers["location"] = {"https://httpbin.example.com/status/200"};
  o.headers["server"] = {"envoy"};
  EXPECT_THAT(evaluate(e, o), IsEmpty());

  o.headers["location"] = {"http://httpbin.example.com/status/200"};
  o.headers.erase("server");
  const auto mismatches = evaluate(e, o);
  EXPECT_THAT(keys(mismatches), ::testing::ElementsAre("headers.location", "headers.server"));
  EXPECT_THAT(mismatches[0].message, HasSubstr("observed \"http://httpbin.example.com"));
  EXPECT_THAT(mismatches[1].message, HasSubstr("observed no such header"));
}

TEST(ExpectationTest, RepeatedHeaderMatchesWhenOneValueDoes) {
  model::Expectation e;
  e.headers["set-cookie"] = exact("b=2");
  report::Observation o = ok200();
  o.headers["set-cookie"] = {"a=1", "b=2"};
  EXPECT_THAT(evaluate(e, o), IsEmpty());
}

TEST(ExpectationTest, BodyContainsEveryString) {
  model::Expectation e = expectingBody({"hostname", "legacy-a"});
  report::Observation o = ok200();
  o.body = R"({"hostname":"legacy-a"})";
  EXPECT_THAT(evaluate(e, o), IsEmpty());
  o.body = R"({"hostname":"legacy-b"})";
  const auto mismatches = evaluate(e, o);
  ASSERT_THAT(mismatches, SizeIs(1));
  EXPECT_THAT(mismatches[0].message, HasSubstr("expected it to contain \"legacy-a\""));
  EXPECT_THAT(mismatches[0].message, HasSubstr("legacy-b"));
}

TEST(ExpectationTest, BodyJsonIsASubset) {
  model::Expectation e =
      expectingBody({}, nlohmann::json::parse(R"({"headers":{"Host":["h.example"]}})"));
  report::Observation o = ok200();
  o.body = R"({"headers":{"Host":["h.example"],"User-Agent":["curl"]},"url":"/x"})";
  EXPECT_THAT(evaluate(e, o), IsEmpty());

  o.body = R"({"headers":{"Host":["other.example"]}})";
  auto mismatches = evaluate(e, o);
  ASSERT_THAT(mismatches, SizeIs(1));
  EXPECT_THAT(mismatches[0].message, HasSubstr("/headers/Host/0"));

  o.body = "upstream connect error";
  mismatches = evaluate(e, o);
  ASSERT_THAT(mismatches, SizeIs(1));
  EXPECT_THAT(mismatches[0].message, HasSubstr("(not JSON)"));
}

TEST(ExpectationTest, JsonSubsetComparesNumbersByValueAndArraysByPosition) {
  EXPECT_TRUE(
      jsonContains(nlohmann::json::parse("{\"a\":200.0}"), nlohmann::json::parse("{\"a\":200}")));
  EXPECT_FALSE(jsonContains(nlohmann::json::parse("[1,2]"), nlohmann::json::parse("[2,1]")));
  std::string where;
  EXPECT_FALSE(jsonContains(nlohmann::json::parse("{\"a\":{}}"),
                            nlohmann::json::parse("{\"a\":{\"b\":1}}"), &where));
  EXPECT_EQ(where, "/a/b is missing");
}

TEST(ExpectationTest, ViaIsCheckedInOrder) {
  model::Expectation e = expectingVia({"istio-ingressgateway", "httpbin-egress"});
  report::Observation o = ok200();
  o.via = {"istio-ingressgateway", "httpbin-egress"};
  EXPECT_THAT(evaluate(e, o), IsEmpty());
  o.via = {"httpbin-egress", "istio-ingressgateway"};
  const auto mismatches = evaluate(e, o);
  ASSERT_THAT(mismatches, SizeIs(1));
  EXPECT_EQ(mismatches[0].message,
            "via: expected the request to cross [istio-ingressgateway, httpbin-egress], "
            "observed [httpbin-egress, istio-ingressgateway]");
  o.via = {"istio-ingressgateway"};
  EXPECT_THAT(keys(evaluate(e, o)), ::testing::ElementsAre("via"));
}

TEST(ExpectationTest, ProxyNamesMayBeNamespaceQualified) {
  EXPECT_TRUE(proxyNameMatches("httpbin-egress", "httpbin/httpbin-egress"));
  EXPECT_TRUE(proxyNameMatches("httpbin/httpbin-egress", "httpbin-egress"));
  EXPECT_TRUE(proxyNameMatches("httpbin/sleep", "httpbin/sleep"));
  EXPECT_FALSE(proxyNameMatches("other/sleep", "httpbin/sleep"));
  EXPECT_FALSE(proxyNameMatches("sleep", "httpbin-egress"));
}

// §11.1: Envoy prints `UF,URX` before ≈1.22 and `URX,UF` after; flags are a set.
TEST(ExpectationTest, FlagsAreComparedAsASet_Section11_1) {
  EXPECT_TRUE(flagsMatch(exact("UF,URX"), "URX,UF"));
  EXPECT_TRUE(flagsMatch(exact("UF, URX"), "UF,URX"));
  EXPECT_FALSE(flagsMatch(exact("UF"), "UF,URX"));
  EXPECT_TRUE(flagsMatch(exact("-"), "-"));
  EXPECT_FALSE(flagsMatch(exact("-"), "UH"));
  EXPECT_TRUE(flagsMatch(regex("U.*"), "UH"));
  EXPECT_FALSE(flagsMatch(regex("U"), "UH"));  // full match, not search
}

TEST(ExpectationTest, FlagsPerProxyNameTheMissingProxy) {
  model::Expectation e = expecting(std::nullopt, {503});
  e.flags["sleep"] = exact("UH");
  e.flags["httpbin-egress"] = exact("UF,URX");
  report::Observation o = observed(0, 503);
  o.flags["httpbin/sleep"] = "UH";
  auto mismatches = evaluate(e, o);
  ASSERT_THAT(mismatches, SizeIs(1));
  EXPECT_EQ(mismatches[0].key, "flags.httpbin-egress");
  EXPECT_THAT(mismatches[0].message,
              HasSubstr("observed no access-log line from httpbin-egress for this request "
                        "(proxies that logged it: httpbin/sleep)"));
  o.flags["httpbin-egress"] = "URX,UF";
  EXPECT_THAT(evaluate(e, o), IsEmpty());
  o.flags["sleep"] = "-";
  o.flags.erase("httpbin/sleep");
  mismatches = evaluate(e, o);
  ASSERT_THAT(mismatches, SizeIs(1));
  EXPECT_EQ(mismatches[0].message, "flags sleep: expected UH, observed -");
}

TEST(ExpectationTest, EveryMismatchingKeyIsNamedAndCodesAreExplained) {
  model::Expectation e = expectingVia({"istio-ingressgateway", "httpbin-egress"});
  e.status = {200};
  e.flags["httpbin-egress"] = exact("-");
  report::Observation o = observed(0, 503);
  o.via = {"istio-ingressgateway", "httpbin-egress"};
  o.via.pop_back();
  o.flags["httpbin-egress"] = "UF,URX";
  o.requestId = "abc";
  o.accessLog = {"httpbin-egress: [..] \"GET /status/200 HTTP/1.1\" 503 UF,URX"};
  const auto mismatches = evaluate(e, o);
  EXPECT_THAT(keys(mismatches), ::testing::ElementsAre("status", "via", "flags.httpbin-egress"));
  const std::string message = explainMismatches(mismatches, o);
  EXPECT_THAT(message, HasSubstr("status: expected 200, observed 503"));
  EXPECT_THAT(message, HasSubstr("via: expected"));
  EXPECT_THAT(message, HasSubstr("flags httpbin-egress: expected -, observed UF,URX"));
  EXPECT_THAT(message, HasSubstr("UF = upstream connection failure"));
  EXPECT_THAT(message, HasSubstr("URX = retry limit reached"));
}

TEST(ExpectationTest, CurlExitCodeIsExplained) {
  report::Observation o = observed(6, std::nullopt, "curl: (6) Could not resolve host: nowhere");
  const std::string message = explainMismatches(evaluate({}, o), o);
  EXPECT_THAT(message, HasSubstr("curl exit 6 = could not resolve host"));
  EXPECT_THAT(curlExitMeaning(35), HasSubstr("TLS handshake failed"));
  EXPECT_EQ(curlExitMeaning(1234), "");
}

TEST(ExpectationTest, DescribeExpectationListsEveryKey) {
  model::Expectation e = expectingBody({"x"});
  e.exit = 0;
  e.status = {301, 302};
  e.via = std::vector<std::string>{"a", "b"};
  e.headers["location"] = regex("https://.*");
  e.flags["a"] = exact("-");
  EXPECT_EQ(describeExpectation(e),
            "exit 0, status one of [301, 302], header location /https://.*/, body contains "
            "\"x\", via [a, b], flags {a: -}");
}

TEST(ExpectationJsonTest, OnlyTheKeysTheStepWritesAsWritten) {
  model::Expectation e;
  e.status = {200};
  e.via = std::vector<std::string>{"istio-ingressgateway", "httpbin-egress"};
  EXPECT_EQ(
      expectationJson(e),
      nlohmann::json::parse(R"({"status":200,"via":["istio-ingressgateway","httpbin-egress"]})"));
  model::Expectation all;
  all.exit = 35;
  all.status = {200, 503};
  all.headers["location"] = model::Matcher{"^https://", true};
  all.body = model::BodyExpectation{{"ok"}, nlohmann::json{{"a", 1}}};
  all.flags["sleep"] = model::Matcher{"UH", false};
  EXPECT_EQ(expectationJson(all), nlohmann::json::parse(R"({"exit":35,"status":[200,503],
      "headers":{"location":"/^https:///"},"body":{"contains":["ok"],"json":{"a":1}},
      "flags":{"sleep":"UH"}})"));
  EXPECT_EQ(expectationJson(model::Expectation{}), nlohmann::json::object());
}

TEST(FlagsTextTest, ObservedFlagsAreWrittenLikeExpectedOnes) {
  EXPECT_EQ(flagsText({{"a", "-"}, {"b", "UF,URX"}}), "{a: -, b: UF,URX}");
  model::Expectation e;
  e.flags["a"] = model::Matcher{"-", false};
  EXPECT_NE(describeExpectation(e).find("flags {a: -}"), std::string::npos);
}

}  // namespace
}  // namespace egresslab::runner
