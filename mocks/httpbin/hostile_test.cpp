// Hostile input leaves the mock serving (DESIGN.md "Reliability rules"): every test sends
// something malformed or abusive, checks how it was refused, then proves with a normal request
// that the server still answers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "mocks/httpbin/httpbin_server.h"
#include "mocks/httpbin/test_support.h"

namespace egresslab::httpbin {
namespace {

using testing::get;

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = HttpbinServer::start({.threads = 8});
    ASSERT_TRUE(started.has_value()) << started.error().str();
    server_ = std::move(*started);
  }
  void TearDown() override { expectStillServing(); }

  // The server answers a well-formed request after whatever the test did.
  void expectStillServing() {
    const auto res = get(server_->port(), "/hostname");
    EXPECT_EQ(res.status, 200) << "the mock stopped serving";
    EXPECT_EQ(res.body, "{\n  \"hostname\": \"httpbin\"\n}\n");
  }

  // Sends raw bytes on a fresh connection and returns the response (or whatever came back before
  // the server closed the connection).
  std::string sendRaw(const std::string& bytes) {
    const int fd = testing::connectLoopback(server_->port());
    EXPECT_GE(fd, 0);
    testing::sendAll(fd, bytes);
    std::string reply = testing::readAll(fd, std::chrono::seconds(15), true);
    close(fd);
    return reply;
  }

  std::unique_ptr<HttpbinServer> server_;
};

TEST_F(HostileInputTest, GarbageBytesGet400AndNoCrash) {
  std::mt19937 rng(42);
  std::string garbage(4096, '\0');
  for (char& c : garbage) c = static_cast<char>(rng() & 0xff);
  const std::string reply = sendRaw(garbage + "\r\n\r\n");
  EXPECT_TRUE(reply.empty() || reply.rfind("HTTP/1.1 400", 0) == 0) << reply.substr(0, 40);
}

TEST_F(HostileInputTest, TlsClientHelloOnThePlainHttpPortIsRefused) {
  const auto res =
      testing::curlGet("https://127.0.0.1:" + std::to_string(server_->port()) + "/get", "");
  EXPECT_NE(res.code, CURLE_OK);
}

TEST_F(HostileInputTest, TwentyKibHeaderLineIsRejected) {
  const std::string reply =
      sendRaw("GET /get HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20 * 1024, 'a') + "\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply.substr(0, 40);
}

TEST_F(HostileInputTest, TwentyKibOfSmallHeadersIsServed) {
  std::string request = "GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  for (int i = 0; i < 400; ++i)
    request += "X-H" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
  const auto res = testing::parseResponse(sendRaw(request + "\r\n"));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(nlohmann::json::parse(res.body)["headers"].size(), 402u);  // + Host, Connection
}

TEST_F(HostileInputTest, OverlongUriIs414) {
  const std::string reply =
      sendRaw("GET /anything/" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 414", 0), 0u) << reply.substr(0, 40);
}

TEST_F(HostileInputTest, LongButLegalPathIsRoutedWithoutRegexBlowup) {
  const auto res = get(server_->port(), "/anything/" + std::string(8000, 'a'));
  EXPECT_EQ(res.status, 200);
}

TEST_F(HostileInputTest, SlowClientTricklingBytesDoesNotBlockOthers) {
  const int slow = testing::connectLoopback(server_->port());
  ASSERT_GE(slow, 0);
  const std::string request = "GET /status/202 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  // One byte at a time, with a complete request from another client between bytes.
  for (size_t i = 0; i < request.size(); ++i) {
    ASSERT_TRUE(testing::sendAll(slow, request.substr(i, 1)));
    if (i % 8 == 0) {
      EXPECT_EQ(get(server_->port(), "/status/204").status, 204);
    }
  }
  const auto res = testing::parseResponse(testing::readAll(slow));
  close(slow);
  EXPECT_EQ(res.status, 202);
}

TEST_F(HostileInputTest, IdleHalfOpenConnectionsDoNotBlockOthers) {
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) {
    const int fd = testing::connectLoopback(server_->port());
    ASSERT_GE(fd, 0);
    testing::sendAll(fd, "GET /get HTTP/1.1\r\nHo");  // never finished
    idle.push_back(fd);
  }
  EXPECT_EQ(get(server_->port(), "/get").status, 200);
  for (const int fd : idle) close(fd);
}

TEST_F(HostileInputTest, MalformedChunkedBodyIs400) {
  const std::string reply = sendRaw(
      "POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply.substr(0, 40);
}

TEST_F(HostileInputTest, HeaderWithoutColonIsDropped) {
  // cpp-httplib skips a header line without a colon (Go would answer 400); it never reaches the
  // echo.
  const auto res = testing::parseResponse(
      sendRaw("GET /headers HTTP/1.1\r\nHost: x\r\nno colon here\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body.find("no colon"), std::string::npos);
}

TEST_F(HostileInputTest, UnknownMethodIsRejected) {
  const std::string reply = sendRaw("BREW /get HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply.substr(0, 40);
}

TEST_F(HostileInputTest, BadPercentEscapeInPathIsJson400) {
  const auto res = get(server_->port(), "/anything/%zz");
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(res.header("Content-Type"), "application/json; charset=utf-8");
}

TEST_F(HostileInputTest, SpoofedInternalHeaderNamesAreNotTrusted) {
  const auto res = testing::exchange(
      server_->port(), {.method = "POST",
                        .target = "/post",
                        .headers = {{"X-Egresslab-Internal-Content-Type", "application/json"}},
                        .body = "not json",
                        .chunked = false});
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(nlohmann::json::parse(res.body)["data"],
            "data:application/octet-stream;base64,bm90IGpzb24=");
}

TEST_F(HostileInputTest, ConnectAndCloseImmediately) {
  for (int i = 0; i < 50; ++i) {
    const int fd = testing::connectLoopback(server_->port());
    ASSERT_GE(fd, 0);
    close(fd);
  }
}

TEST_F(HostileInputTest, Http10WithoutHostIsServed) {
  const auto res = testing::parseResponse(sendRaw("GET /get HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(res.status, 200);
}

}  // namespace
}  // namespace egresslab::httpbin
