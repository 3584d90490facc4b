#include "harness/curl/write_out.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace egresslab::curl {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

CurlResult sampleResult() {
  CurlResult r;
  r.exitCode = 0;
  r.status = 200;
  r.httpVersion = "1.1";
  r.headers = {{"content-type", "application/json"}, {"via", "a"}, {"via", "b"}};
  r.sizeDownload = 1234;
  r.numRedirects = 2;
  r.effectiveUrl = "http://h/final";
  r.remoteIp = "10.0.0.7";
  r.remotePort = 8080;
  r.localIp = "127.0.0.1";
  r.localPort = 40000;
  r.method = "GET";
  r.timings.total = 1234567us;
  r.timings.connect = 42us;
  r.timings.nameLookup = 1us;
  r.timings.appConnect = 0us;
  r.timings.preTransfer = 50us;
  r.timings.startTransfer = 60us;
  r.timings.redirect = 700us;
  return r;
}

TEST(WriteOutTest, RendersTheDocumentedVariables) {
  const auto r = sampleResult();
  EXPECT_EQ(renderWriteOut("%{http_code} %{response_code} %{exitcode}", r), "200 200 0");
  EXPECT_EQ(renderWriteOut("%{time_total}|%{time_connect}|%{time_namelookup}", r),
            "1.234567|0.000042|0.000001");
  EXPECT_EQ(renderWriteOut("%{time_appconnect}|%{time_pretransfer}|%{time_starttransfer}|"
                           "%{time_redirect}",
                           r),
            "0.000000|0.000050|0.000060|0.000700");
  EXPECT_EQ(
      renderWriteOut("%{size_download} %{remote_ip}:%{remote_port} %{local_ip}:%{local_port}", r),
      "1234 10.0.0.7:8080 127.0.0.1:40000");
  EXPECT_EQ(renderWriteOut("%{url_effective} %{num_redirects} %{http_version} %{method}", r),
            "http://h/final 2 1.1 GET");
  EXPECT_EQ(renderWriteOut("%{content_type}", r), "application/json");
  EXPECT_EQ(renderWriteOut("%header{Via}|%header{missing}", r), "a, b|");
}

TEST(WriteOutTest, NoResponseLooksLikeCurls) {
  CurlResult r;
  r.exitCode = 7;
  r.errorMessage = "curl: (7) Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect";
  EXPECT_EQ(
      renderWriteOut("%{http_code}|%{exitcode}|%{http_version}|%{remote_port}|%{errormsg}", r),
      "000|7|0|0|Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect");
}

TEST(WriteOutTest, EscapesAndLiteralPercent) {
  const auto r = sampleResult();
  EXPECT_EQ(renderWriteOut("a\\nb\\tc\\rd\\\\e\\x", r), "a\nb\tc\rd\\\\e\\x");
  EXPECT_EQ(renderWriteOut("100%% %d %{", r), "100% %d %{");
  EXPECT_EQ(renderWriteOut("code=%{http_code}\\n", r), "code=200\n");
}

TEST(WriteOutTest, ValidationNamesUnsupportedVariables) {
  EXPECT_TRUE(validateWriteOut("%{http_code}\\n%{time_total} %header{x} %% %{").has_value());
  auto bad = validateWriteOut("%{http_code} %{json}");
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message, HasSubstr("'json'"));
}

}  // namespace
}  // namespace egresslab::curl
