// Fault injection end to end over real sockets: the control API (FaultControlServer) drives the
// data port of an HttpbinServer, in-process applyFault does the same, and a client on loopback
// observes refused connections, resets, latency, injected statuses and an untrusted certificate.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cerrno>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "mocks/httpbin/control_server.h"
#include "mocks/httpbin/httpbin_server.h"
#include "mocks/httpbin/test_support.h"

namespace egresslab::httpbin {
namespace {

using nlohmann::json;
using testing::get;

struct ControlReply {
  int status = 0;
  json body;
};

class FaultControlTest : public ::testing::Test {
 protected:
  void SetUp() override { startServer(std::nullopt); }
  // The server's workers write to log_: stop them before the members they use go away.
  void TearDown() override {
    control_.reset();
    server_.reset();
  }

  void startServer(std::optional<pki::KeyPair> tls,
                   std::optional<pki::CertificateAuthority> issuer = std::nullopt) {
    control_.reset();
    server_.reset();
    HttpbinOptions options;
    options.hostname = "legacy";
    options.tls = std::move(tls);
    options.issuer = std::move(issuer);
    options.certNames = {"localhost", "127.0.0.1"};
    options.accessLog = [this](const std::string& line) {
      std::lock_guard lock(logMutex_);
      log_.push_back(line);
    };
    auto started = HttpbinServer::start(std::move(options));
    ASSERT_TRUE(started.has_value()) << started.error().str();
    server_ = std::move(*started);
    auto control = FaultControlServer::start(*server_, "127.0.0.1", 0);
    ASSERT_TRUE(control.has_value()) << control.error().str();
    control_ = std::move(*control);
  }

  ControlReply post(const std::string& body) {
    httplib::Client client("127.0.0.1", control_->port());
    auto res = client.Post("/faults", body, "application/json");
    if (!res) return {};
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  json faults() {
    httplib::Client client("127.0.0.1", control_->port());
    auto res = client.Get("/faults");
    return res ? json::parse(res->body, nullptr, false) : json();
  }

  bool logged(const std::string& needle) {
    std::lock_guard lock(logMutex_);
    for (const auto& line : log_) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  std::unique_ptr<HttpbinServer> server_;
  std::unique_ptr<FaultControlServer> control_;
  std::mutex logMutex_;
  std::vector<std::string> log_;
};

TEST_F(FaultControlTest, GetFaultsIsEmptyWhenHealthy) {
  EXPECT_EQ(faults(), json::parse(R"({"faults":[]})"));
}

TEST_F(FaultControlTest, DownRefusesConnectionsOnTheDataPort) {
  const int port = server_->port();
  ASSERT_EQ(get(port, "/get").status, 200);
  const auto reply = post(R"({"action":"down"})");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, json::parse(R"({"faults":[{"action":"down"}]})"));
  errno = 0;
  EXPECT_LT(testing::connectLoopback(port), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  // The control listener stays up while the data port is down.
  EXPECT_EQ(faults()["faults"][0]["action"], "down");
}

TEST_F(FaultControlTest, UpServesAgainOnTheSamePortAndClearsEveryFault) {
  const int port = server_->port();
  ASSERT_EQ(post(R"({"action":"latency","ms":1})").status, 200);
  ASSERT_EQ(post(R"({"action":"status","code":503})").status, 200);
  ASSERT_EQ(post(R"({"action":"down"})").status, 200);
  ASSERT_EQ(post(R"({"action":"up"})").status, 200);
  EXPECT_EQ(server_->port(), port);
  EXPECT_EQ(get(port, "/hostname").status, 200);
  EXPECT_EQ(faults(), json::parse(R"({"faults":[]})"));
}

TEST_F(FaultControlTest, DownClosesKeepAliveConnectionsAlreadyOpen) {
  const int fd = testing::connectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(testing::sendAll(fd, "GET /get HTTP/1.1\r\nHost: x\r\n\r\n"));
  char buf[4096];
  ASSERT_GT(recv(fd, buf, sizeof buf, 0), 0);
  ASSERT_TRUE(server_->applyFault({.action = Fault::Action::kDown}).has_value());
  // The pooled connection must not be answered any more: EOF or an error, no response.
  testing::sendAll(fd, "GET /get HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(testing::readAll(fd), "");
  close(fd);
}

TEST_F(FaultControlTest, DownInterruptsRequestsInFlight) {
  // A keep-alive connection already being served, then a /delay/10 on it: down must cut it off
  // rather than wait for the delay to finish.
  const int fd = testing::connectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(testing::sendAll(fd, "GET /get HTTP/1.1\r\nHost: x\r\n\r\n"));
  char buf[4096];
  ASSERT_GT(recv(fd, buf, sizeof buf, 0), 0);
  ASSERT_TRUE(testing::sendAll(fd, "GET /delay/10 HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(server_->applyFault({.action = Fault::Action::kDown}).has_value());
  const std::string reply = testing::readAll(fd);
  close(fd);
  EXPECT_EQ(reply.find("HTTP/1.1 200"), std::string::npos) << reply;
  // Generous bound: without interruption, down would wait out the whole 10 s delay.
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(9));
}

TEST_F(FaultControlTest, ResetAcceptsThenClosesWithoutAResponse) {
  const int port = server_->port();
  ASSERT_EQ(post(R"({"action":"reset"})").status, 200);
  const int fd = testing::connectLoopback(port);
  ASSERT_GE(fd, 0) << "reset must accept the connection";
  testing::sendAll(fd, "GET /get HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(testing::readAll(fd), "");
  close(fd);
  EXPECT_TRUE(testing::waitFor([&] { return logged("fault=reset"); }));
  EXPECT_EQ(faults()["faults"], json::parse(R"([{"action":"reset"}])"));
  ASSERT_EQ(post(R"({"action":"up"})").status, 200);
  EXPECT_EQ(get(port, "/get").status, 200);
}

// What the peer did to a connection we wrote a request on: "eof" (FIN), "reset" (RST),
// "data" (bytes came) or "open" (nothing within `wait`, still connected).
std::string peerAction(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  const int ready = poll(&p, 1, static_cast<int>(wait.count()));
  if (ready == 0) return "open";
  char byte = 0;
  const ssize_t n = recv(fd, &byte, 1, 0);
  if (n == 0) return "eof";
  if (n < 0) return errno == ECONNRESET ? "reset" : "error";
  return "data";
}

TEST_F(FaultControlTest, CloseAcceptsThenClosesWithoutAByte) {
  const int port = server_->port();
  ASSERT_EQ(post(R"({"action":"close"})").status, 200);
  const int fd = testing::connectLoopback(port);
  ASSERT_GE(fd, 0) << "close must accept the connection";
  testing::sendAll(fd, "GET /get HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(peerAction(fd, std::chrono::seconds(15)), "eof");  // a FIN, not a reset
  close(fd);
  EXPECT_TRUE(testing::waitFor([&] { return logged("fault=close"); }));
  EXPECT_EQ(faults()["faults"], json::parse(R"([{"action":"close"}])"));
  ASSERT_EQ(post(R"({"action":"up"})").status, 200);
  EXPECT_EQ(get(port, "/get").status, 200);
}

TEST_F(FaultControlTest, BlackholeAcceptsAndNeverAnswersUntilItEnds) {
  const int port = server_->port();
  ASSERT_EQ(post(R"({"action":"blackhole"})").status, 200);
  const int fd = testing::connectLoopback(port);
  ASSERT_GE(fd, 0) << "blackhole must accept the connection";
  testing::sendAll(fd, "GET /get HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(testing::waitFor([&] { return logged("fault=blackhole"); }));
  // Accepted, and nothing comes back: the connection stays open and silent.
  EXPECT_EQ(peerAction(fd, std::chrono::milliseconds(300)), "open");
  EXPECT_EQ(faults()["faults"], json::parse(R"([{"action":"blackhole"}])"));
  // Ending the fault releases what it held; the port serves again.
  ASSERT_EQ(post(R"({"action":"up"})").status, 200);
  EXPECT_EQ(peerAction(fd, std::chrono::seconds(15)), "eof");
  close(fd);
  EXPECT_EQ(get(port, "/get").status, 200);
}

TEST_F(FaultControlTest, EndFaultEndsOnlyTheFaultStillActive) {
  ASSERT_TRUE(server_->applyFault({.action = Fault::Action::kLatency, .ms = 5}).has_value());
  ASSERT_TRUE(server_->applyFault({.action = Fault::Action::kClose}).has_value());
  // A later fault of the same kind replaced it: ending the earlier one changes nothing.
  EXPECT_EQ(server_->endFault({.action = Fault::Action::kLatency, .ms = 9}), false);
  EXPECT_EQ(server_->endFault({.action = Fault::Action::kReset}), false);
  EXPECT_EQ(server_->activeFaults(),
            (std::vector<Fault>{{.action = Fault::Action::kClose},
                                {.action = Fault::Action::kLatency, .ms = 5}}));
  EXPECT_EQ(server_->endFault({.action = Fault::Action::kClose}), true);
  EXPECT_EQ(server_->activeFaults(),
            (std::vector<Fault>{{.action = Fault::Action::kLatency, .ms = 5}}));
  EXPECT_EQ(get(server_->port(), "/get").status, 200);
  EXPECT_EQ(server_->endFault({.action = Fault::Action::kLatency, .ms = 5}), true);
  EXPECT_TRUE(server_->activeFaults().empty());
}

TEST_F(FaultControlTest, LatencyDelaysEveryRequest) {
  ASSERT_EQ(post(R"({"action":"latency","ms":150})").status, 200);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(get(server_->port(), "/status/204").status, 204);
  // A lower bound cannot flake: the server waited at least the injected latency.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
  EXPECT_TRUE(testing::waitFor([&] { return logged("fault=latency"); }));
  EXPECT_EQ(faults()["faults"], json::parse(R"([{"action":"latency","ms":150}])"));
}

TEST_F(FaultControlTest, StatusAt100PercentAnswersEveryRequestWithTheCode) {
  ASSERT_EQ(post(R"({"action":"status","code":503,"percent":100})").status, 200);
  for (int i = 0; i < 20; ++i) {
    const auto res = get(server_->port(), "/get");
    ASSERT_EQ(res.status, 503);
    EXPECT_EQ(res.header("Content-Type"), "application/json; charset=utf-8");
    EXPECT_EQ(json::parse(res.body)["error"], "Service Unavailable");
  }
  EXPECT_TRUE(logged("fault=status"));
}

TEST_F(FaultControlTest, StatusAt0PercentAnswersNormally) {
  ASSERT_EQ(post(R"({"action":"status","code":500,"percent":0})").status, 200);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(get(server_->port(), "/status/200").status, 200);
}

TEST_F(FaultControlTest, DeleteClearsFaults) {
  ASSERT_EQ(post(R"({"action":"status","code":500})").status, 200);
  httplib::Client client("127.0.0.1", control_->port());
  auto res = client.Delete("/faults");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body), json::parse(R"({"faults":[]})"));
  EXPECT_EQ(get(server_->port(), "/get").status, 200);
}

TEST_F(FaultControlTest, BadControlInputIs400WithAReason) {
  for (const auto& [body, reason] : std::vector<std::pair<std::string, std::string>>{
           {"not json", "JSON object"},
           {R"({"action":"explode"})", "unknown fault action"},
           {R"({"action":"latency"})", "needs \"ms\""},
           {R"({"action":"latency","ms":"x"})", "must be an integer"},
           {R"({"action":"status","code":700})", "[200, 599]"},
           {R"({"action":"down","extra":1})", "does not take \"extra\""},
           {R"({"action":"bad-cert"})", "needs an HTTPS upstream"}}) {
    const auto reply = post(body);
    EXPECT_EQ(reply.status, 400) << body;
    EXPECT_EQ(reply.body["status_code"], 400) << body;
    EXPECT_NE(reply.body["detail"].get<std::string>().find(reason), std::string::npos)
        << body << " → " << reply.body.dump();
  }
  EXPECT_EQ(faults(), json::parse(R"({"faults":[]})"));
}

TEST_F(FaultControlTest, UnknownControlPathIs404) {
  httplib::Client client("127.0.0.1", control_->port());
  auto res = client.Get("/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

// Issue #14 item 5: a web page in a browser on the same machine could take an upstream down
// with a cross-site form or text/plain POST (no preflight for those content types).
TEST_F(FaultControlTest, PostNeedsAJsonContentType) {
  for (const std::string type :
       {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""}) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!type.empty()) headers.emplace_back("Content-Type", type);
    const auto res = testing::exchange(control_->port(), {.method = "POST",
                                                          .target = "/faults",
                                                          .headers = headers,
                                                          .body = R"({"action":"down"})"});
    EXPECT_EQ(res.status, 415) << type;
  }
  EXPECT_EQ(faults(), json::parse(R"({"faults":[]})"));
  EXPECT_EQ(get(server_->port(), "/get").status, 200);
  const auto ok = testing::exchange(
      control_->port(), {.method = "POST",
                         .target = "/faults",
                         .headers = {{"Content-Type", "application/json; charset=utf-8"}},
                         .body = R"({"action":"latency","ms":0})"});
  EXPECT_EQ(ok.status, 200);
}

TEST_F(FaultControlTest, ForeignOriginAndHostAreRefused) {
  const auto post = [&](std::vector<std::pair<std::string, std::string>> headers) {
    headers.emplace_back("Content-Type", "application/json");
    return testing::exchange(control_->port(), {.method = "POST",
                                                .target = "/faults",
                                                .headers = std::move(headers),
                                                .body = R"({"action":"down"})"})
        .status;
  };
  EXPECT_EQ(post({{"Origin", "https://evil.example"}}), 403);
  EXPECT_EQ(post({{"Origin", "null"}}), 403);
  // DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1.
  EXPECT_EQ(post({{"Host", "evil.example:8081"}}), 403);
  EXPECT_EQ(get(control_->port(), "/faults", {{"Host", "evil.example"}}).status, 403);
  EXPECT_EQ(faults(), json::parse(R"({"faults":[]})"));
  EXPECT_EQ(post({{"Origin", "http://localhost:3000"}, {"Host", "[::1]:8081"}}), 200);
  EXPECT_EQ(faults(), json::parse(R"({"faults":[{"action":"down"}]})"));
}

TEST_F(FaultControlTest, NonLoopbackAddressNeedsAToken) {
  for (const std::string host : {"0.0.0.0", "::", "192.0.2.1"}) {
    auto refused = FaultControlServer::start(*server_, {.host = host, .port = 0});
    ASSERT_FALSE(refused.has_value()) << host;
    EXPECT_EQ(refused.error().kind, ErrorKind::kInvalidInput);
    EXPECT_NE(refused.error().message.find("--control-token"), std::string::npos);
  }
}

TEST_F(FaultControlTest, TokenIsRequiredOnEveryRequestWhenGiven) {
  auto opened =
      FaultControlServer::start(*server_, {.host = "0.0.0.0", .port = 0, .token = "s3cret"});
  ASSERT_TRUE(opened.has_value()) << opened.error().str();
  const int port = (*opened)->port();
  EXPECT_EQ(get(port, "/faults").status, 401);
  EXPECT_EQ(get(port, "/faults", {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(get(port, "/faults", {{"Authorization", "Bearer s3cret"}}).status, 200);
  // With a token the Host check is off (the API was opened deliberately), the rest stays.
  EXPECT_EQ(
      get(port, "/faults", {{"Authorization", "Bearer s3cret"}, {"Host", "mock.internal"}}).status,
      200);
  const auto res = testing::exchange(
      port, {.method = "POST",
             .target = "/faults",
             .headers = {{"Authorization", "Bearer s3cret"}, {"Content-Type", "text/plain"}},
             .body = R"({"action":"down"})"});
  EXPECT_EQ(res.status, 415);
}

TEST_F(FaultControlTest, InProcessFaultsListInStableOrder) {
  ASSERT_TRUE(server_->applyFault({.action = Fault::Action::kStatus, .code = 429, .percent = 10})
                  .has_value());
  ASSERT_TRUE(server_->applyFault({.action = Fault::Action::kLatency, .ms = 5}).has_value());
  ASSERT_TRUE(server_->applyFault({.action = Fault::Action::kReset}).has_value());
  EXPECT_EQ(server_->activeFaults(),
            (std::vector<Fault>{{.action = Fault::Action::kReset},
                                {.action = Fault::Action::kLatency, .ms = 5},
                                {.action = Fault::Action::kStatus, .code = 429, .percent = 10}}));
  server_->clearFaults();
  EXPECT_TRUE(server_->activeFaults().empty());
}

class TlsFaultTest : public FaultControlTest {
 protected:
  void SetUp() override {
    auto ca = pki::CertificateAuthority::create("EgressLab public CA (test)");
    ASSERT_TRUE(ca.has_value()) << ca.error().str();
    publicCa_ = ca->certPem();
    auto leaf = ca->issueServer({"localhost", "127.0.0.1"});
    ASSERT_TRUE(leaf.has_value()) << leaf.error().str();
    startServer(*leaf, *ca);
  }
  // The serial number of the certificate the server presents (unverified handshake).
  std::string servedSerial() {
    CURL* curl = curl_easy_init();
    const std::string target = url("/get");
    curl_easy_setopt(curl, CURLOPT_URL, target.c_str());
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    std::string serial;
    if (curl_easy_perform(curl) == CURLE_OK) {
      curl_certinfo* info = nullptr;
      curl_easy_getinfo(curl, CURLINFO_CERTINFO, &info);
      if (info != nullptr && info->num_of_certs > 0) {
        for (curl_slist* f = info->certinfo[0]; f != nullptr; f = f->next) {
          const std::string field = f->data;
          if (field.rfind("Serial Number:", 0) == 0) serial = field;
        }
      }
    }
    curl_easy_cleanup(curl);
    return serial;
  }
  std::string url(const std::string& path) {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  std::string publicCa_;
};

TEST_F(TlsFaultTest, ServesHttpsTrustedByThePublicCa) {
  EXPECT_TRUE(server_->tls());
  EXPECT_EQ(server_->url().rfind("https://127.0.0.1:", 0), 0u);
  const auto res = testing::curlGet(url("/get"), publicCa_);
  ASSERT_EQ(res.code, CURLE_OK) << curl_easy_strerror(res.code);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(json::parse(res.body)["url"], url("/get"));
}

TEST_F(TlsFaultTest, BadCertFailsVerificationAgainstThePublicCaUntilUp) {
  ASSERT_EQ(post(R"({"action":"bad-cert"})").status, 200);
  const auto bad = testing::curlGet(url("/hostname"), publicCa_);
  EXPECT_EQ(bad.code, CURLE_PEER_FAILED_VERIFICATION) << curl_easy_strerror(bad.code);
  // The server still speaks HTTPS: only the certificate is wrong.
  const auto unverified = testing::curlGet(url("/hostname"), "");
  EXPECT_EQ(unverified.code, CURLE_OK) << curl_easy_strerror(unverified.code);
  EXPECT_EQ(unverified.status, 200);
  EXPECT_EQ(faults()["faults"], json::parse(R"([{"action":"bad-cert"}])"));
  ASSERT_EQ(post(R"({"action":"up"})").status, 200);
  EXPECT_EQ(testing::curlGet(url("/hostname"), publicCa_).code, CURLE_OK);
}

TEST_F(TlsFaultTest, ExpiredCertOfTheServersOwnCaFailsVerificationUntilItEnds) {
  ASSERT_EQ(post(R"({"action":"cert","cert":"expired"})").status, 200);
  EXPECT_EQ(testing::curlGet(url("/hostname"), publicCa_).code, CURLE_PEER_FAILED_VERIFICATION);
  const auto unverified = testing::curlGet(url("/hostname"), "");
  EXPECT_EQ(unverified.code, CURLE_OK) << curl_easy_strerror(unverified.code);
  EXPECT_EQ(faults()["faults"], json::parse(R"([{"action":"cert","cert":"expired"}])"));
  EXPECT_EQ(server_->endFault({.action = Fault::Action::kCert, .cert = Fault::Cert::kExpired}),
            true);
  EXPECT_EQ(testing::curlGet(url("/hostname"), publicCa_).code, CURLE_OK);
}

TEST_F(TlsFaultTest, WrongHostCertChainsToTheCaButNamesAnotherHost) {
  ASSERT_EQ(post(R"({"action":"cert","cert":"wrong-host"})").status, 200);
  // The chain is trusted; the name is not the one asked for.
  EXPECT_EQ(testing::curlGet(url("/hostname"), publicCa_).code, CURLE_PEER_FAILED_VERIFICATION);
  ASSERT_EQ(post(R"({"action":"up"})").status, 200);
  EXPECT_EQ(testing::curlGet(url("/hostname"), publicCa_).code, CURLE_OK);
}

TEST_F(TlsFaultTest, RotateServesAFreshValidCertificate) {
  const std::string before = servedSerial();
  ASSERT_FALSE(before.empty());
  ASSERT_EQ(post(R"({"action":"cert","cert":"rotate"})").status, 200);
  const std::string rotated = servedSerial();
  EXPECT_NE(rotated, before);
  EXPECT_EQ(testing::curlGet(url("/hostname"), publicCa_).code, CURLE_OK);
  // Rotating again mints another one.
  ASSERT_EQ(post(R"({"action":"cert","cert":"rotate"})").status, 200);
  EXPECT_NE(servedSerial(), rotated);
  EXPECT_EQ(faults()["faults"], json::parse(R"([{"action":"cert","cert":"rotate"}])"));
}

TEST_F(FaultControlTest, CertFaultsNeedTheIssuingCa) {
  auto ca = pki::CertificateAuthority::create("EgressLab public CA (test)");
  ASSERT_TRUE(ca.has_value());
  auto leaf = ca->issueServer({"localhost"});
  ASSERT_TRUE(leaf.has_value());
  startServer(*leaf);  // no issuer
  const ControlReply reply = post(R"({"action":"cert","cert":"expired"})");
  EXPECT_EQ(reply.status, 400);
  EXPECT_NE(reply.body["detail"].get<std::string>().find("need the CA that issued"),
            std::string::npos)
      << reply.body.dump();
  EXPECT_EQ(post(R"({"action":"close"})").status, 200);
}

TEST_F(TlsFaultTest, RefusesTls11) {
  const int port = server_->port();
  CURL* curl = curl_easy_init();
  const std::string target = url("/get");
  // CURL_SSLVERSION_TLSv1_1 | CURL_SSLVERSION_MAX_TLSv1_1 (the max lives in the high 16 bits).
  const long tls11Only = long{CURL_SSLVERSION_TLSv1_1} | (long{CURL_SSLVERSION_TLSv1_1} << 16);
  curl_easy_setopt(curl, CURLOPT_URL, target.c_str());
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(curl, CURLOPT_SSLVERSION, tls11Only);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  const CURLcode code = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  EXPECT_NE(code, CURLE_OK);
  EXPECT_EQ(testing::curlGet(url("/get"), publicCa_).code, CURLE_OK) << port;
}

}  // namespace
}  // namespace egresslab::httpbin
