// HttpbinServer lifecycle, options and cross-cutting behaviour (access log, CORS, HEAD, limits).
#include "mocks/httpbin/httpbin_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "mocks/httpbin/handlers.h"
#include "mocks/httpbin/test_support.h"

namespace egresslab::httpbin {
namespace {

using testing::exchange;
using testing::get;
using testing::RawRequest;

class HttpbinServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpbinOptions options;
    options.hostname = "upstream-a";
    options.accessLog = [this](const std::string& line) {
      std::lock_guard lock(logMutex_);
      log_.push_back(line);
    };
    auto started = HttpbinServer::start(std::move(options));
    ASSERT_TRUE(started.has_value()) << started.error().str();
    server_ = std::move(*started);
  }

  // The server's workers write to log_: stop them before the members they use go away.
  void TearDown() override { server_.reset(); }

  std::vector<std::string> logLines() {
    std::lock_guard lock(logMutex_);
    return log_;
  }

  std::unique_ptr<HttpbinServer> server_;
  std::mutex logMutex_;
  std::vector<std::string> log_;
};

TEST_F(HttpbinServerTest, BindsAnEphemeralLoopbackPortAndReportsItsUrl) {
  EXPECT_GT(server_->port(), 0);
  EXPECT_EQ(server_->host(), "127.0.0.1");
  EXPECT_FALSE(server_->tls());
  EXPECT_EQ(server_->url(), "http://127.0.0.1:" + std::to_string(server_->port()));
}

TEST_F(HttpbinServerTest, HostnameAnswersTheConfiguredName) {
  const auto res = get(server_->port(), "/hostname");
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(res.body, "{\n  \"hostname\": \"upstream-a\"\n}\n");
}

TEST_F(HttpbinServerTest, HeadersEchoIncludesHostButNotHttplibInjectedAddresses) {
  const auto res = get(server_->port(), "/headers", {{"Host", "legacy.example.com"}});
  ASSERT_EQ(res.status, 200);
  const auto body = nlohmann::json::parse(res.body);
  EXPECT_EQ(body["headers"]["Host"], nlohmann::json::array({"legacy.example.com"}));
  for (const char* injected : {"REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR", "LOCAL_PORT",
                               "Remote_addr", "Remote-Addr", "Local-Port", "Remote_port"}) {
    EXPECT_FALSE(body["headers"].contains(injected)) << injected;
  }
  EXPECT_EQ(body["headers"].size(), 2u) << res.body;  // Host and Connection
}

TEST_F(HttpbinServerTest, AccessLogGetsOneLinePerRequest) {
  ASSERT_EQ(get(server_->port(), "/status/418", {{"User-Agent", "probe/1"}}).status, 418);
  ASSERT_TRUE(testing::waitFor([&] { return !logLines().empty(); }));
  const std::string line = logLines().front();
  EXPECT_NE(line.find("upstream-a 127.0.0.1:"), std::string::npos) << line;
  EXPECT_NE(line.find("\"GET /status/418 HTTP/1.1\" 418 13 "), std::string::npos) << line;
  EXPECT_NE(line.find("ua=\"probe/1\""), std::string::npos) << line;
  EXPECT_NE(line.find("fault=-"), std::string::npos) << line;
}

TEST_F(HttpbinServerTest, KeepAliveConnectionServesManyRequests) {
  const int fd = testing::connectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(testing::sendAll(fd, "GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\n"));
    char buf[1024];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, 12), "HTTP/1.1 204") << i;
  }
  close(fd);
}

// Slow clients cost a connection until a deadline, never a worker (issue #14 item 4).
TEST(HttpbinDeadlines, HeaderTricklingPastTheHeaderDeadlineIsCut) {
  auto started = HttpbinServer::start({.headerTimeout = std::chrono::milliseconds(300)});
  ASSERT_TRUE(started.has_value()) << started.error().str();
  const int fd = testing::connectLoopback((*started)->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(testing::sendAll(fd, "GET /get HTTP/1.1\r\nX-Slow: "));
  // Keep trickling until the server closes the connection (a generous bound, not a timing).
  bool closed = false;
  for (int i = 0; i < 200 && !closed; ++i) {
    closed = !testing::sendAll(fd, "a");
    pollfd p{fd, POLLIN, 0};
    if (!closed && poll(&p, 1, 100) > 0) {
      char buf[512];
      closed = ::recv(fd, buf, sizeof buf, 0) <= 0;
    }
  }
  close(fd);
  EXPECT_TRUE(closed) << "a client trickling its header for 20 s was never cut off";
  EXPECT_EQ(testing::get((*started)->port(), "/hostname").status, 200);
}

TEST(HttpbinDeadlines, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  auto started = HttpbinServer::start({.idleTimeout = std::chrono::milliseconds(200)});
  ASSERT_TRUE(started.has_value()) << started.error().str();
  const int fd = testing::connectLoopback((*started)->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(testing::sendAll(fd, "GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string raw;
  bool closed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[512];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    closed = n <= 0;
    if (n > 0) raw.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  EXPECT_TRUE(closed) << "an idle keep-alive connection was never closed";
  EXPECT_EQ(raw.rfind("HTTP/1.1 204", 0), 0u) << raw;
}

TEST_F(HttpbinServerTest, StopReleasesThePortForANewServer) {
  const int port = server_->port();
  server_->stop();
  server_->stop();  // idempotent
  EXPECT_LT(testing::connectLoopback(port), 0);
  auto again = HttpbinServer::start({.port = port});
  ASSERT_TRUE(again.has_value()) << again.error().str();
  EXPECT_EQ(get(port, "/get").status, 200);
}

TEST_F(HttpbinServerTest, SecondServerOnTheSamePortFailsInsteadOfSharingIt) {
  auto second = HttpbinServer::start({.port = server_->port()});
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().kind, ErrorKind::kEnvironment);
  EXPECT_NE(second.error().message.find(std::to_string(server_->port())), std::string::npos);
}

TEST(HttpbinServerOptions, RejectsBadPortAndThreadCount) {
  EXPECT_FALSE(HttpbinServer::start({.port = 70000}).has_value());
  EXPECT_FALSE(HttpbinServer::start({.threads = 0}).has_value());
}

TEST(HttpbinServerOptions, RejectsUnusableTlsMaterial) {
  HttpbinOptions options;
  options.tls = pki::KeyPair{.certPem = "not a cert", .keyPem = "not a key", .chainPem = ""};
  auto started = HttpbinServer::start(std::move(options));
  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.error().kind, ErrorKind::kInvalidInput);
}

TEST_F(HttpbinServerTest, BodyOverOneMebibyteIs400Json) {
  const auto res = exchange(server_->port(), RawRequest{.method = "POST",
                                                        .target = "/post",
                                                        .headers = {{"Content-Type", "text/plain"}},
                                                        .body = std::string(1024 * 1024 + 1, 'x')});
  ASSERT_EQ(res.status, 400);
  EXPECT_EQ(res.header("Content-Type"), "application/json; charset=utf-8");
  const auto body = nlohmann::json::parse(res.body);
  EXPECT_EQ(body["detail"], "error parsing request body: http: request body too large");
}

TEST_F(HttpbinServerTest, BodyOfExactlyOneMebibyteIsEchoed) {
  const auto res = exchange(server_->port(), RawRequest{.method = "POST",
                                                        .target = "/post",
                                                        .headers = {{"Content-Type", "text/plain"}},
                                                        .body = std::string(1024 * 1024, 'x')});
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(nlohmann::json::parse(res.body)["data"].get<std::string>().size(), 1024u * 1024u);
}

TEST_F(HttpbinServerTest, LargeFormBodyIsParsedBeyondHttplibsEightKibLimit) {
  const std::string value(20000, 'v');
  const auto res =
      exchange(server_->port(),
               RawRequest{.method = "POST",
                          .target = "/post",
                          .headers = {{"Content-Type", "application/x-www-form-urlencoded"}},
                          .body = "big=" + value});
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(nlohmann::json::parse(res.body)["form"]["big"][0], value);
}

TEST_F(HttpbinServerTest, AcceptEncodingDoesNotMakeTheServerCompressResponses) {
  const auto res = get(server_->port(), "/get", {{"Accept-Encoding", "gzip, br"}});
  ASSERT_EQ(res.status, 200);
  EXPECT_FALSE(res.has("Content-Encoding"));
  EXPECT_EQ(nlohmann::json::parse(res.body)["headers"]["Accept-Encoding"],
            nlohmann::json::array({"gzip, br"}));
}

TEST_F(HttpbinServerTest, RangeHeaderIsIgnoredOutsideRangeEndpoint) {
  const auto res = get(server_->port(), "/json", {{"Range", "bytes=0-3"}});
  EXPECT_EQ(res.status, 200);
  EXPECT_NE(res.body.find("Wake up to WonderWidgets!"), std::string::npos);
}

// Requests answered on an I/O thread must never wait: only /delay, /drip and /range do, as
// route() decodes their first segment.
TEST(HttpbinMayWait, OnlyTheEndpointsThatSleepNeedAWorker) {
  auto request = [](std::string method, std::string target) {
    httplib::Request req;
    req.method = std::move(method);
    req.target = std::move(target);
    return req;
  };
  for (const char* target : {"/delay/1", "/dela%79/1", "/drip?duration=1", "/range/10"}) {
    EXPECT_TRUE(detail::mayWait(request("GET", target))) << target;
  }
  for (const char* target :
       {"/get", "/status/200", "/anything/delay/1", "/stream/3", "/", "/%zz", "relative"}) {
    EXPECT_FALSE(detail::mayWait(request("GET", target))) << target;
  }
  EXPECT_FALSE(detail::mayWait(request("OPTIONS", "/delay/1")));  // CORS preflight only
}

// Two slow requests (as many as the server has I/O threads) do not hold up a quick one.
TEST_F(HttpbinServerTest, SlowRequestsDoNotHoldUpQuickOnes) {
  std::atomic<int> slowDone{0};
  std::vector<std::thread> slow;
  for (int i = 0; i < 2; ++i) {
    slow.emplace_back([&] {
      EXPECT_EQ(get(server_->port(), "/delay/3").status, 200);
      ++slowDone;
    });
  }

  EXPECT_EQ(get(server_->port(), "/get").status, 200);
  EXPECT_EQ(slowDone.load(), 0) << "the quick request waited for the slow ones";
  for (auto& t : slow) t.join();
}

}  // namespace
}  // namespace egresslab::httpbin
