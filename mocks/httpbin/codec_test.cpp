// The encodings go-httpbin's handlers speak, checked against Go's documented behaviour.
#include "mocks/httpbin/codec.h"

#include <gtest/gtest.h>

namespace egresslab::httpbin::codec {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(PercentDecode, QueryAndPathForms) {
  EXPECT_EQ(percentDecode("a%20b+c", true), "a b c");
  EXPECT_EQ(percentDecode("a%20b+c", false), "a b+c");
  EXPECT_EQ(percentDecode("%e2%80%a6", false), "\xE2\x80\xA6");
  EXPECT_FALSE(percentDecode("%ZZ", true).has_value());
  EXPECT_FALSE(percentDecode("abc%4", true).has_value());
  EXPECT_FALSE(percentDecode("abc%", true).has_value());
}

TEST(ParseQuery, RepeatedKeysKeepOrderAndKeysSort) {
  const auto q = parseQuery("foo=foo&bar=bar1&bar=bar2&empty=&flag", false);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(
      *q, (ValueMap{{"bar", {"bar1", "bar2"}}, {"empty", {""}}, {"flag", {""}}, {"foo", {"foo"}}}));
}

TEST(ParseQuery, StrictRejectsWhatLenientDrops) {
  EXPECT_FALSE(parseQuery("a=%ZZ&b=1", true).has_value());
  EXPECT_EQ(parseQuery("a=%ZZ&b=1", false), (ValueMap{{"b", {"1"}}}));
  EXPECT_FALSE(parseQuery("a=1;b=2", true).has_value());
}

TEST(Base64, BothAlphabetsWithPadding) {
  EXPECT_EQ(base64Encode("abc123!?$*&()'-=@~", true), "YWJjMTIzIT8kKiYoKSctPUB-");
  EXPECT_EQ(base64Encode("abc123!?$*&()'-=@~", false), "YWJjMTIzIT8kKiYoKSctPUB+");
  EXPECT_EQ(base64Encode("test-image", true), "dGVzdC1pbWFnZQ==");
  EXPECT_EQ(base64Encode("", true), "");
  EXPECT_EQ(base64Decode("dGVzdC1pbWFnZQ==", true), "test-image");
  EXPECT_EQ(base64Decode("YWJjMTIzIT8kKiYoKSctPUB-", true), "abc123!?$*&()'-=@~");
  EXPECT_FALSE(base64Decode("YWJjMTIzIT8kKiYoKSctPUB-", false).has_value());
  EXPECT_FALSE(base64Decode("dGVzdC1pbWFnZQ", true).has_value());  // padding required
  EXPECT_FALSE(base64Decode("dGVz=C1p", true).has_value());        // padding in the middle
  EXPECT_FALSE(base64Decode("invalid*input===", true).has_value());
}

TEST(Compress, GzipAndZlibRoundTrip) {
  const std::string text(5000, 'x');
  for (const bool gzip : {true, false}) {
    const std::string packed = compress(text, gzip);
    EXPECT_LT(packed.size(), text.size());
    EXPECT_EQ(static_cast<unsigned char>(packed[0]), gzip ? 0x1f : 0x78);
    EXPECT_EQ(decompress(packed, gzip), text);
  }
  EXPECT_FALSE(decompress("not compressed", true).has_value());
}

TEST(HtmlEscape, LikeGo) {
  EXPECT_EQ(htmlEscape("<img/src/onerror=alert('xss')>&\""),
            "&lt;img/src/onerror=alert(&#39;xss&#39;)&gt;&amp;&#34;");
}

TEST(CanonicalHeaderKey, LikeGoTextproto) {
  EXPECT_EQ(canonicalHeaderKey("x-real-ip"), "X-Real-Ip");
  EXPECT_EQ(canonicalHeaderKey("USER-AGENT"), "User-Agent");
  EXPECT_EQ(canonicalHeaderKey("host"), "Host");
  EXPECT_EQ(canonicalHeaderKey("bad key"), "bad key");  // not a token: unchanged
}

TEST(ParseNumbers, GoStrconvGrammar) {
  EXPECT_EQ(parseInt64("-12345"), -12345);
  EXPECT_EQ(parseInt64("+7"), 7);
  EXPECT_FALSE(parseInt64("3.14").has_value());
  EXPECT_FALSE(parseInt64("12345678901234567890").has_value());
  EXPECT_FALSE(parseInt64("0xff").has_value());
  EXPECT_FALSE(parseInt64("").has_value());
  EXPECT_FALSE(parseInt64("+-1").has_value());
  EXPECT_EQ(parseFloat("0.5"), 0.5);
  EXPECT_EQ(parseFloat(".5"), 0.5);
  EXPECT_EQ(parseFloat("1e3"), 1000.0);
  EXPECT_FALSE(parseFloat("abc").has_value());
  EXPECT_FALSE(parseFloat("0xFF").has_value());
  EXPECT_FALSE(parseFloat("1.5s").has_value());
}

TEST(ParseDuration, GoDurationsThenFloatSeconds) {
  EXPECT_EQ(parseDuration("100ms"), milliseconds(100));
  EXPECT_EQ(parseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(parseDuration("1m"), seconds(60));
  EXPECT_EQ(parseDuration("1h2m3s"), seconds(3723));
  EXPECT_EQ(parseDuration("10ns"), nanoseconds(10));
  EXPECT_EQ(parseDuration("-1ms"), milliseconds(-1));
  EXPECT_EQ(parseDuration("0"), nanoseconds(0));
  EXPECT_EQ(parseDuration("0.1"), milliseconds(100));
  EXPECT_EQ(parseDuration("1001"), seconds(1001));
  EXPECT_EQ(parseDuration("-3.14"), milliseconds(-3140));
  EXPECT_FALSE(parseDuration("foo").has_value());
  EXPECT_FALSE(parseDuration("0xFF").has_value());
  EXPECT_FALSE(parseDuration("1x").has_value());
  EXPECT_FALSE(parseDuration("").has_value());
}

TEST(FormatDuration, LikeGoDurationString) {
  EXPECT_EQ(formatDuration(seconds(11)), "11s");
  EXPECT_EQ(formatDuration(seconds(-1)), "-1s");
  EXPECT_EQ(formatDuration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(formatDuration(milliseconds(100)), "100ms");
  EXPECT_EQ(formatDuration(seconds(90)), "1m30s");
  EXPECT_EQ(formatDuration(seconds(3600)), "1h0m0s");
  EXPECT_EQ(formatDuration(nanoseconds(0)), "0s");
}

TEST(StatusText, GoNames) {
  EXPECT_EQ(statusText(418), "I'm a teapot");
  EXPECT_EQ(statusText(503), "Service Unavailable");
  EXPECT_EQ(statusText(599), "");
}

TEST(HttpDate, ImfFixdate) {
  EXPECT_EQ(httpDate(std::chrono::system_clock::time_point{}), "Thu, 01 Jan 1970 00:00:00 GMT");
}

}  // namespace
}  // namespace egresslab::httpbin::codec
