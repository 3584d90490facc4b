// Executes parsed curl commands against real sockets on 127.0.0.1 (cpp-httplib servers and raw
// sockets for the failure modes) and checks that the result is what the curl tool reports.
#include "harness/curl/execute.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cctype>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <thread>

#include "harness/curl/command.h"
#include "harness/pki/pki.h"

namespace egresslab::curl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// A request as the test server saw it.
struct SeenRequest {
  std::string method;
  std::string path;
  std::string body;
  std::string sni;
  httplib::Headers headers;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  bool hasHeader(const std::string& name) const { return headers.count(name) > 0; }
};

// Debian's compiled cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG is baked
// in): a burst of connections overflows it, the kernel drops SYNs and the client retries after
// a second. Listening again on the bound socket deepens the queue.
template <class Base>
class DeepBacklog : public Base {
 public:
  using Base::Base;
  void deepenBacklog() { ::listen(this->svr_sock_, SOMAXCONN); }
};

// An HTTP or HTTPS cpp-httplib server on 127.0.0.1:0 with the routes the tests use:
//   /status/N            → status N, body "status N"
//   /redirect/N          → 302 to /redirect/N-1 … /redirect/0 → 200 "done"
//   /to?url=U&code=C     → C (default 302) with Location U
//   /multi               → two X-Multi headers
//   /big                 → 2 MiB body
//   anything else        → 200 "hello" (the request is recorded either way)
class TestServer {
 public:
  template <class Server>
  explicit TestServer(std::unique_ptr<DeepBacklog<Server>> server) {
    auto* raw = server.get();
    server_ = std::move(server);
    server_->set_tcp_nodelay(true);
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res);
    };
    server_->Get(".*", handler);
    server_->Post(".*", handler);
    server_->Put(".*", handler);
    server_->Patch(".*", handler);
    server_->Delete(".*", handler);
    // bind_to_any_port also listens: connections queue in the backlog until the thread accepts.
    port_ = server_->bind_to_any_port("127.0.0.1");
    raw->deepenBacklog();
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // stop() before the accept loop has started would be lost (cpp-httplib then listens
    // forever), so wait until it runs.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_->is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_TRUE(server_->is_running());
  }

  static std::unique_ptr<TestServer> http() {
    return std::make_unique<TestServer>(std::make_unique<DeepBacklog<httplib::Server>>());
  }

  static std::unique_ptr<TestServer> https(const std::string& chainPath, const std::string& keyPath,
                                           const char* clientCaPath = nullptr) {
    auto server = std::make_unique<DeepBacklog<httplib::SSLServer>>(chainPath.c_str(),
                                                                    keyPath.c_str(), clientCaPath);
    EXPECT_TRUE(server->is_valid());
    return std::make_unique<TestServer>(std::move(server));
  }

  ~TestServer() {
    server_->stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::string origin(const std::string& scheme = "http") const {
    return fmt::format("{}://127.0.0.1:{}", scheme, port_);
  }

  std::vector<SeenRequest> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  SeenRequest last() const {
    std::lock_guard lock(mutex_);
    return seen_.empty() ? SeenRequest{} : seen_.back();
  }

 private:
  void handle(const httplib::Request& req, httplib::Response& res) {
    SeenRequest seen{req.method, req.path, req.body, {}, req.headers};
    if (req.ssl != nullptr) {
      if (const char* name = SSL_get_servername(req.ssl, TLSEXT_NAMETYPE_host_name)) {
        seen.sni = name;
      }
    }
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(seen);
    }
    const std::string& path = req.path;
    if (path.starts_with("/status/")) {
      const int code = std::stoi(path.substr(8));
      res.status = code;
      res.set_content(fmt::format("status {}", code), "text/plain");
    } else if (path.starts_with("/redirect/")) {
      const int n = std::stoi(path.substr(10));
      if (n > 0) {
        res.status = 302;
        res.set_header("Location", fmt::format("/redirect/{}", n - 1));
        res.set_content("redirecting", "text/plain");
      } else {
        res.set_content("done", "text/plain");
      }
    } else if (path == "/to") {
      res.status = req.has_param("code") ? std::stoi(req.get_param_value("code")) : 302;
      res.set_header("Location", req.get_param_value("url"));
    } else if (path == "/multi") {
      res.set_header("X-Multi", "a");
      res.set_header("X-Multi", "b");
      res.set_content("multi", "text/plain");
    } else if (path == "/big") {
      res.set_content(std::string(2 << 20, 'x'), "application/octet-stream");
    } else if (path == "/sni") {
      res.set_content(seen.sni, "text/plain");
    } else {
      res.set_content("hello", "text/plain");
    }
  }

  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<SeenRequest> seen_;
};

// A raw TCP listener for the failures a well-behaved HTTP server never produces.
class RawServer {
 public:
  enum class Mode {
    kRefuse,             // bound but not listening: connect() is refused
    kNeverAnswer,        // listening, never accepts: the request is sent and nothing comes back
    kCloseAfterRequest,  // accepts, reads the request, closes: an empty reply
    kResetAfterRequest,  // accepts, reads the request, resets the connection
  };

  explicit RawServer(Mode mode) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (mode == Mode::kRefuse) return;
    EXPECT_EQ(::listen(fd_, 16), 0);
    if (mode == Mode::kNeverAnswer) return;
    thread_ = std::thread([this, mode] {
      for (;;) {
        const int conn = ::accept(fd_, nullptr, nullptr);
        if (conn < 0) return;  // shut down by the destructor
        std::string request;
        char buf[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
          const ssize_t n = ::recv(conn, buf, sizeof buf, 0);
          if (n <= 0) break;
          request.append(buf, static_cast<size_t>(n));
        }
        if (mode == Mode::kResetAfterRequest) {
          linger reset{1, 0};  // close() now sends RST instead of FIN
          ::setsockopt(conn, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        }
        ::close(conn);
      }
    });
  }

  ~RawServer() {
    ::shutdown(fd_, SHUT_RDWR);  // wakes a blocked accept()
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }

  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// A TLS server written directly on OpenSSL (TLS 1.3 only, client certificate required) that
// closes connections the way Envoy and `openssl s_server` do: shut down the write side, drain,
// then close. cpp-httplib's SSLServer instead resets a rejected connection at once, and then
// libcurl — curl 7.88.1 itself too, checked by hand — reports 55 "getpeername() failed" instead
// of the 56 a real gateway produces.
class GracefulMtlsServer {
 public:
  GracefulMtlsServer(const pki::KeyPair& serverCert, const std::string& clientCaPem) {
    std::signal(SIGPIPE, SIG_IGN);  // a peer that went away must not kill the test binary
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    BIO* chain =
        BIO_new_mem_buf(serverCert.chainPem.data(), static_cast<int>(serverCert.chainPem.size()));
    X509* leaf = PEM_read_bio_X509(chain, nullptr, nullptr, nullptr);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx_, leaf), 1);
    X509_free(leaf);
    while (X509* issuer = PEM_read_bio_X509(chain, nullptr, nullptr, nullptr)) {
      SSL_CTX_add0_chain_cert(ctx_, issuer);
    }
    BIO_free(chain);
    BIO* key =
        BIO_new_mem_buf(serverCert.keyPem.data(), static_cast<int>(serverCert.keyPem.size()));
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(key, nullptr, nullptr, nullptr);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx_, pkey), 1);
    EVP_PKEY_free(pkey);
    BIO_free(key);
    BIO* ca = BIO_new_mem_buf(clientCaPem.data(), static_cast<int>(clientCaPem.size()));
    X509* caCert = PEM_read_bio_X509(ca, nullptr, nullptr, nullptr);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), caCert);
    X509_free(caCert);
    BIO_free(ca);
    ERR_clear_error();
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);

    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(::listen(fd_, 16), 0);
    thread_ = std::thread([this] {
      for (;;) {
        const int conn = ::accept(fd_, nullptr, nullptr);
        if (conn < 0) return;  // shut down by the destructor
        serve(conn);
      }
    });
  }

  ~GracefulMtlsServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }

  int port() const { return port_; }

 private:
  void serve(int conn) {
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, conn);
    if (SSL_accept(ssl) == 1) {
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      static constexpr std::string_view kResponse =
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      SSL_write(ssl, kResponse.data(), static_cast<int>(kResponse.size()));
      SSL_shutdown(ssl);
    }
    ERR_clear_error();
    // The graceful close: no RST while the client still has something to say.
    ::shutdown(conn, SHUT_WR);
    pollfd pfd{conn, POLLIN, 0};
    char sink[4096];
    while (::poll(&pfd, 1, 2000) > 0 && ::recv(conn, sink, sizeof sink, 0) > 0) {
    }
    SSL_free(ssl);
    ::close(conn);
  }

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

CurlCommand parse(const std::string& line) {
  auto parsed = parseCurlCommandLine(line);
  EXPECT_TRUE(parsed.has_value()) << line << " → " << (parsed ? "" : parsed.error().str());
  return parsed ? *parsed : CurlCommand{};
}

CurlResult run(const std::string& line, const ExecOptions& options = {}) {
  return execute(parse(line), options);
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// --- Plain HTTP

class CurlHttpTest : public ::testing::Test {
 protected:
  std::unique_ptr<TestServer> server_ = TestServer::http();
};

TEST_F(CurlHttpTest, SimpleGetReportsStatusHeadersBodyAndTimings) {
  const auto r = run("curl -sS " + server_->origin() + "/hello");
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.httpVersion, "1.1");
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.header("Content-Type"), "text/plain");
  EXPECT_EQ(r.header("content-type"), "text/plain");
  EXPECT_EQ(r.sizeDownload, 5u);
  EXPECT_EQ(r.errorMessage, "");
  EXPECT_EQ(r.stderrText, "");
  EXPECT_EQ(r.stdoutText, "hello");
  EXPECT_EQ(r.remoteIp, "127.0.0.1");
  EXPECT_EQ(r.remotePort, server_->port());
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.effectiveUrl, server_->origin() + "/hello");
  EXPECT_GT(r.timings.total.count(), 0);
  EXPECT_GE(r.timings.total, r.timings.connect);
  // What the server saw: curl's default headers.
  const auto seen = server_->last();
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.header("Host"), fmt::format("127.0.0.1:{}", server_->port()));
  EXPECT_EQ(seen.header("User-Agent"),
            std::string("curl/") + curl_version_info(CURLVERSION_NOW)->version);
  EXPECT_EQ(seen.header("Accept"), "*/*");
  // And what we recorded as sent.
  EXPECT_EQ(r.firstHop.method, "GET");
  EXPECT_EQ(r.firstHop.target, "/hello");
  EXPECT_EQ(r.firstHop.hostHeader, fmt::format("127.0.0.1:{}", server_->port()));
  EXPECT_EQ(r.firstHop.sni, "");
}

TEST_F(CurlHttpTest, HeadersAreLowerCasedAndMultiValued) {
  const auto r = run("curl -s " + server_->origin() + "/multi");
  EXPECT_THAT(r.headerValues("X-Multi"), ElementsAre("a", "b"));
  int count = 0;
  for (const auto& [name, value] : r.headers) {
    for (char c : name) EXPECT_FALSE(std::isupper(static_cast<unsigned char>(c))) << name;
    if (name == "x-multi") ++count;
  }
  EXPECT_EQ(count, 2);
}

TEST_F(CurlHttpTest, NonSuccessStatusIsExitZeroWithoutFail) {
  const auto r = run("curl -s " + server_->origin() + "/status/503");
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "status 503");
}

TEST_F(CurlHttpTest, FailOn404IsExit22WithoutBody) {
  const auto r = run("curl -sSf " + server_->origin() + "/status/404");
  EXPECT_EQ(r.exitCode, 22);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.errorMessage, "curl: (22) The requested URL returned error: 404");
  EXPECT_EQ(r.stderrText, r.errorMessage + "\n");
}

TEST_F(CurlHttpTest, FailWithBodyKeepsTheBody) {
  const auto r = run("curl -sS --fail-with-body " + server_->origin() + "/status/500");
  EXPECT_EQ(r.exitCode, 22);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "status 500");
  EXPECT_EQ(r.errorMessage, "curl: (22) The requested URL returned error: 500");
  const auto ok = run("curl -sS --fail-with-body " + server_->origin() + "/status/200");
  EXPECT_EQ(ok.exitCode, 0);
}

TEST_F(CurlHttpTest, SilentHidesTheErrorShowErrorPrintsIt) {
  RawServer refused(RawServer::Mode::kRefuse);
  const std::string url = fmt::format("http://127.0.0.1:{}/", refused.port());
  EXPECT_EQ(run("curl -s " + url).stderrText, "");
  EXPECT_THAT(run("curl -sS " + url).stderrText, StartsWith("curl: (7) "));
  EXPECT_THAT(run("curl " + url).stderrText, StartsWith("curl: (7) "));
}

TEST_F(CurlHttpTest, HeadRequest) {
  const auto r = run("curl -sI " + server_->origin() + "/hello");
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(server_->last().method, "HEAD");
  EXPECT_EQ(r.body, "");
  EXPECT_THAT(r.stdoutText, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r.stdoutText, HasSubstr("Content-Length: 5\r\n"));
}

TEST_F(CurlHttpTest, IncludePrintsHeadersThenBody) {
  const auto r = run("curl -si " + server_->origin() + "/hello");
  EXPECT_THAT(r.stdoutText, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r.stdoutText, ::testing::EndsWith("\r\n\r\nhello"));
}

TEST_F(CurlHttpTest, VerboseTraceGoesToStderr) {
  const auto r = run("curl -sv " + server_->origin() + "/hello");
  EXPECT_THAT(r.stderrText, HasSubstr("> GET /hello HTTP/1.1\n"));
  EXPECT_THAT(r.stderrText, HasSubstr("< HTTP/1.1 200 OK\n"));
  EXPECT_THAT(r.stderrText, HasSubstr("* "));
}

TEST_F(CurlHttpTest, FormDataJoinsWithAmpersandAndPosts) {
  const auto r = run("curl -s -d a=1 -d 'b=two words' " + server_->origin() + "/post");
  EXPECT_EQ(r.exitCode, 0);
  const auto seen = server_->last();
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.body, "a=1&b=two words");
  EXPECT_EQ(seen.header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(r.firstHop.method, "POST");
}

TEST_F(CurlHttpTest, MethodOverrideWithBody) {
  run("curl -s -X PUT -d payload " + server_->origin() + "/put");
  EXPECT_EQ(server_->last().method, "PUT");
  EXPECT_EQ(server_->last().body, "payload");
  run("curl -s -XDELETE " + server_->origin() + "/delete");
  EXPECT_EQ(server_->last().method, "DELETE");
  EXPECT_EQ(server_->last().body, "");
}

TEST_F(CurlHttpTest, JsonSetsHeadersAndConcatenates) {
  run(R"(curl -s --json '{"a":' --json '1}' )" + server_->origin() + "/post");
  const auto seen = server_->last();
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.body, R"({"a":1})");
  EXPECT_EQ(seen.header("Content-Type"), "application/json");
  EXPECT_EQ(seen.header("Accept"), "application/json");
  // The user's own Content-Type wins.
  run(R"(curl -s -H 'Content-Type: application/vnd.x+json' --json '{}' )" + server_->origin());
  EXPECT_EQ(server_->last().header("Content-Type"), "application/vnd.x+json");
  EXPECT_EQ(server_->last().header("Accept"), "application/json");
}

TEST_F(CurlHttpTest, DataFromFiles) {
  auto dir = pki::RunDirectory::create("curl-test");
  ASSERT_TRUE(dir.has_value());
  ASSERT_TRUE(dir->write("form.txt", "a=1\r\nb=2\n").has_value());
  ASSERT_TRUE(dir->write("blob.bin", std::string("x\ny\0z", 5)).has_value());
  ExecOptions options;
  options.workingDirectory = dir->path();
  run("curl -s -d @form.txt " + server_->origin() + "/post", options);
  EXPECT_EQ(server_->last().body, "a=1b=2");  // -d strips CR and LF, like curl
  run("curl -s --data-binary @blob.bin " + server_->origin() + "/post", options);
  EXPECT_EQ(server_->last().body, std::string("x\ny\0z", 5));
  run("curl -s --data-raw @form.txt " + server_->origin() + "/post", options);
  EXPECT_EQ(server_->last().body, "@form.txt");
  const auto missing = run("curl -s -d @missing.txt " + server_->origin() + "/post", options);
  EXPECT_EQ(missing.exitCode, 0);
  EXPECT_EQ(server_->last().body, "");
  EXPECT_THAT(missing.stderrText, HasSubstr("Couldn't read data from file \"missing.txt\""));
}

TEST_F(CurlHttpTest, BasicAuthAndHeaders) {
  ExecOptions options;
  options.extraHeaders = {{"x-request-id", "req-42"}};
  const auto r =
      run("curl -s -u user:pass -A probe/1 -H 'Host: httpbin.example.com' "
          "-H 'X-Empty;' -H 'Accept:' " +
              server_->origin() + "/headers",
          options);
  const auto seen = server_->last();
  EXPECT_EQ(seen.header("Authorization"), "Basic dXNlcjpwYXNz");
  EXPECT_EQ(seen.header("User-Agent"), "probe/1");
  EXPECT_EQ(seen.header("Host"), "httpbin.example.com");
  // "Name;" sends the header with an empty value (cpp-httplib drops empty headers, so check
  // what curl sent).
  EXPECT_THAT(r.firstHop.headers,
              ::testing::Contains(std::pair<std::string, std::string>("x-empty", "")));
  EXPECT_FALSE(seen.hasHeader("Accept"));  // "Name:" removes curl's default header
  EXPECT_EQ(seen.header("x-request-id"), "req-42");
  EXPECT_EQ(r.firstHop.hostHeader, "httpbin.example.com");
}

TEST_F(CurlHttpTest, WriteOut) {
  const auto r =
      run("curl -s -o /dev/null -w '%{http_code} %{response_code} %{exitcode} "
          "%{size_download} %{num_redirects} %{url_effective} %{remote_ip} "
          "%{remote_port}\\n' " +
          server_->origin() + "/status/201");
  EXPECT_EQ(r.writeOut, fmt::format("201 201 0 10 0 {}/status/201 127.0.0.1 {}\n",
                                    server_->origin(), server_->port()));
  EXPECT_EQ(r.stdoutText, r.writeOut);  // -o keeps the body off stdout
  EXPECT_EQ(r.body, "status 201");      // but the result still has it for expectations
  const auto timed = run("curl -s -w '%{time_total} %{time_connect}' " + server_->origin());
  EXPECT_THAT(timed.writeOut, ::testing::MatchesRegex("[0-9]+\\.[0-9]{6} [0-9]+\\.[0-9]{6}"));
  EXPECT_EQ(timed.stdoutText, "hello" + timed.writeOut);
}

TEST_F(CurlHttpTest, OutputFileRelativeToWorkingDirectory) {
  auto dir = pki::RunDirectory::create("curl-test");
  ASSERT_TRUE(dir.has_value());
  ExecOptions options;
  options.workingDirectory = dir->path();
  const auto r = run("curl -s -o out/body.txt " + server_->origin() + "/hello", options);
  EXPECT_EQ(r.exitCode, 23);  // the directory does not exist: curl cannot write
  ASSERT_TRUE(dir->write("out/.keep", "").has_value());
  const auto ok = run("curl -s -o out/body.txt " + server_->origin() + "/hello", options);
  EXPECT_EQ(ok.exitCode, 0);
  EXPECT_EQ(readFile(dir->path() / "out/body.txt"), "hello");
  EXPECT_EQ(ok.stdoutText, "");
}

TEST_F(CurlHttpTest, BodyIsCappedButCounted) {
  const auto r = run("curl -s " + server_->origin() + "/big");
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.body.size(), CurlResult::kBodyCap);
  EXPECT_TRUE(r.bodyTruncated);
  EXPECT_EQ(r.sizeDownload, 2u << 20);
}

TEST_F(CurlHttpTest, UrlWithoutScheme) {
  const auto r = run(fmt::format("curl -s 127.0.0.1:{}/hello", server_->port()));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.effectiveUrl, server_->origin() + "/hello");
}

TEST_F(CurlHttpTest, ConcurrentExecutionsAreIndependent) {
  // The runner executes scenarios in parallel: each call has its own handle and callbacks.
  std::vector<std::thread> threads;
  std::vector<CurlResult> results(8);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      ExecOptions options;
      options.extraHeaders = {{"x-request-id", std::to_string(i)}};
      results[i] =
          run(fmt::format("curl -s -w '%{{http_code}}' {}/status/{}", server_->origin(), 400 + i),
              options);
    });
  }
  for (auto& thread : threads) thread.join();
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].status, static_cast<int>(400 + i));

    EXPECT_EQ(results[i].writeOut, std::to_string(400 + i));
    EXPECT_EQ(results[i].body, fmt::format("status {}", 400 + i));
  }
  EXPECT_EQ(server_->seen().size(), results.size());
}

// --- Redirects

TEST_F(CurlHttpTest, RedirectNotFollowedWithoutL) {
  const auto r = run("curl -s " + server_->origin() + "/redirect/2");
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.numRedirects, 0);
  EXPECT_EQ(r.redirectUrl, server_->origin() + "/redirect/1");
  EXPECT_EQ(r.body, "redirecting");
}

TEST_F(CurlHttpTest, FollowsRedirectsWithL) {
  const auto r =
      run("curl -sL -w '%{num_redirects} %{url_effective}' " + server_->origin() + "/redirect/3");
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "done");  // only the final body, as curl -L prints
  EXPECT_EQ(r.numRedirects, 3);
  EXPECT_EQ(r.writeOut, "3 " + server_->origin() + "/redirect/0");
  EXPECT_EQ(server_->seen().size(), 4u);
  EXPECT_GT(r.timings.redirect.count(), 0);
  EXPECT_EQ(r.firstHop.target, "/redirect/3");
}

TEST_F(CurlHttpTest, MaxRedirsStopsWithExit47) {
  const auto r = run("curl -sSL --max-redirs 2 " + server_->origin() + "/redirect/5");
  EXPECT_EQ(r.exitCode, 47);
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.numRedirects, 2);
  EXPECT_EQ(r.errorMessage, "curl: (47) Maximum (2) redirects followed");
  EXPECT_EQ(run("curl -sL --max-redirs 0 " + server_->origin() + "/redirect/1").exitCode, 47);
  EXPECT_EQ(run("curl -sL --max-redirs -1 " + server_->origin() + "/redirect/5").status, 200);
}

TEST_F(CurlHttpTest, PostBecomesGetOn302ButNotOn307) {
  run("curl -sL -d x=1 '" + server_->origin() + "/to?url=/landing&code=302'");
  auto seen = server_->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[1].method, "GET");
  EXPECT_EQ(seen[1].body, "");

  auto second = TestServer::http();
  run("curl -sL -d x=1 '" + second->origin() + "/to?url=/landing&code=307'");
  seen = second->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_EQ(seen[1].body, "x=1");
}

TEST_F(CurlHttpTest, ExplicitMethodIsKeptAcrossRedirects) {
  // curl's documented -X trap: the custom method is used for every hop.
  run("curl -sL -X DELETE '" + server_->origin() + "/to?url=/landing&code=302'");
  const auto seen = server_->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "DELETE");
  EXPECT_EQ(seen[1].method, "DELETE");
  EXPECT_EQ(seen[1].path, "/landing");
}

TEST_F(CurlHttpTest, CredentialsStayWithTheFirstOrigin) {
  auto other = TestServer::http();
  run("curl -sL -u user:pass -H 'Authorization: Bearer t' -H 'X-Keep: 1' '" + server_->origin() +
      "/to?url=" + other->origin() + "/landing'");
  ASSERT_EQ(server_->seen().size(), 1u);
  EXPECT_TRUE(server_->last().hasHeader("Authorization"));
  ASSERT_EQ(other->seen().size(), 1u);
  EXPECT_FALSE(other->last().hasHeader("Authorization"));
  EXPECT_EQ(other->last().header("X-Keep"), "1");

  run("curl -sL -u user:pass '" + server_->origin() + "/to?url=/same-origin'");
  EXPECT_EQ(server_->last().path, "/same-origin");
  EXPECT_EQ(server_->last().header("Authorization"), "Basic dXNlcjpwYXNz");
}

// --- Failures without a response

TEST(CurlFailureTest, ConnectionRefusedIsExit7) {
  RawServer refused(RawServer::Mode::kRefuse);
  const auto r =
      run(fmt::format("curl -sS -w '%{{http_code}}' http://127.0.0.1:{}/", refused.port()));
  EXPECT_EQ(r.exitCode, 7);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.writeOut, "000");
  EXPECT_THAT(
      r.errorMessage,
      StartsWith(fmt::format("curl: (7) Failed to connect to 127.0.0.1 port {}", refused.port())));
}

TEST(CurlFailureTest, TimeoutIsExit28) {
  RawServer silent(RawServer::Mode::kNeverAnswer);
  const auto r = run(fmt::format("curl -sS -m 0.2 http://127.0.0.1:{}/", silent.port()));
  EXPECT_EQ(r.exitCode, 28);
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.errorMessage, StartsWith("curl: (28) Operation timed out after"));
}

TEST(CurlFailureTest, DefaultTimeoutIsASafetyNet) {
  RawServer silent(RawServer::Mode::kNeverAnswer);
  ExecOptions options;
  options.defaultTimeout = std::chrono::milliseconds(200);
  const auto r = run(fmt::format("curl -s http://127.0.0.1:{}/", silent.port()), options);
  EXPECT_EQ(r.exitCode, 28);
}

TEST(CurlFailureTest, EmptyReplyIsExit52) {
  RawServer closer(RawServer::Mode::kCloseAfterRequest);
  const auto r = run(fmt::format("curl -sS http://127.0.0.1:{}/", closer.port()));
  EXPECT_EQ(r.exitCode, 52);
  EXPECT_EQ(r.errorMessage, "curl: (52) Empty reply from server");
}

TEST(CurlFailureTest, ResetIsExit56) {
  RawServer resetter(RawServer::Mode::kResetAfterRequest);
  const auto r = run(fmt::format("curl -sS http://127.0.0.1:{}/", resetter.port()));
  EXPECT_EQ(r.exitCode, 56);
  EXPECT_THAT(r.errorMessage, HasSubstr("Recv failure"));
}

TEST(CurlFailureTest, ResolveHookReturningNothingIsExit6) {
  std::vector<std::string> asked;
  ExecOptions options;
  options.resolve = [&](const std::string& host) -> std::optional<std::string> {
    asked.push_back(host);
    return std::nullopt;
  };
  const auto r = run("curl -sS -w '%{http_code} %{exitcode}' http://nowhere.test/get", options);
  EXPECT_EQ(r.exitCode, 6);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.errorMessage, "curl: (6) Could not resolve host: nowhere.test");
  EXPECT_EQ(r.writeOut, "000 6");
  EXPECT_THAT(asked, ElementsAre("nowhere.test"));
}

// --- The simulator's seams: name resolution and connection mapping

TEST_F(CurlHttpTest, ResolveHookAndMapConnectionPlaceCurlInAVirtualNetwork) {
  std::vector<SocketAddress> dialed;
  ExecOptions options;
  options.resolve = [](const std::string& host) -> std::optional<std::string> {
    if (host == "httpbin.example.com") return "10.96.0.15";
    return std::nullopt;
  };
  options.mapConnection = [&](const SocketAddress& dst) -> std::optional<SocketAddress> {
    dialed.push_back(dst);
    if (dst == SocketAddress{"10.96.0.15", 80}) return SocketAddress{"127.0.0.1", server_->port()};
    return std::nullopt;
  };
  const auto r =
      run("curl -sS -w '%{remote_ip}:%{remote_port}' http://httpbin.example.com/get", options);
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(dialed, ElementsAre(SocketAddress{"10.96.0.15", 80}));
  EXPECT_EQ(server_->last().header("Host"), "httpbin.example.com");
  // curl reports the address it dialled, not where the virtual network delivered it.
  EXPECT_EQ(r.remoteIp, "10.96.0.15");
  EXPECT_EQ(r.remotePort, 80);
  EXPECT_EQ(r.writeOut, "10.96.0.15:80");
}

TEST_F(CurlHttpTest, MapConnectionRewritesAnIpLiteral) {
  ExecOptions options;
  options.mapConnection = [&](const SocketAddress& dst) -> std::optional<SocketAddress> {
    if (dst.port == 15443) return SocketAddress{"127.0.0.1", server_->port()};
    return std::nullopt;
  };
  const auto r = run("curl -s http://127.0.0.1:15443/status/418", options);
  EXPECT_EQ(r.status, 418);
  EXPECT_EQ(server_->last().header("Host"), "127.0.0.1:15443");
}

TEST_F(CurlHttpTest, MapConnectionToNothingListeningIsExit7) {
  RawServer refused(RawServer::Mode::kRefuse);
  ExecOptions options;
  options.mapConnection = [&](const SocketAddress&) -> std::optional<SocketAddress> {
    return SocketAddress{"127.0.0.1", refused.port()};
  };
  EXPECT_EQ(run("curl -s http://127.0.0.1:80/", options).exitCode, 7);
}

TEST_F(CurlHttpTest, ResolveFlagWinsOverTheHook) {
  int hookCalls = 0;
  ExecOptions options;
  options.resolve = [&](const std::string&) -> std::optional<std::string> {
    ++hookCalls;
    return std::nullopt;
  };
  const auto r = run(fmt::format("curl -s --resolve named.test:{0}:127.0.0.1 "
                                 "http://named.test:{0}/hello",
                                 server_->port()),
                     options);
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(hookCalls, 0);
  EXPECT_EQ(server_->last().header("Host"), fmt::format("named.test:{}", server_->port()));
}

TEST_F(CurlHttpTest, ConnectToKeepsTheHostHeader) {
  const auto r =
      run(fmt::format("curl -s --connect-to front.test:81:127.0.0.1:{} "
                      "http://front.test:81/hello",
                      server_->port()));
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(server_->last().header("Host"), "front.test:81");
}

TEST_F(CurlHttpTest, HookResolvesTheConnectToTarget) {
  std::vector<std::string> asked;
  ExecOptions options;
  options.resolve = [&](const std::string& host) -> std::optional<std::string> {
    asked.push_back(host);
    return "127.0.0.1";
  };
  const auto r = run(fmt::format("curl -s --connect-to front.test:81:gateway.internal:{} "
                                 "http://front.test:81/hello",
                                 server_->port()),
                     options);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(asked, ElementsAre("gateway.internal"));
}

TEST_F(CurlHttpTest, RedirectToAnotherHostGoesThroughTheHook) {
  auto other = TestServer::http();
  std::vector<std::string> asked;
  ExecOptions options;
  options.resolve = [&](const std::string& host) -> std::optional<std::string> {
    asked.push_back(host);
    return "127.0.0.1";
  };
  const auto r = run(fmt::format("curl -sL 'http://first.test:{}/to?url=http://second.test:{}/x'",
                                 server_->port(), other->port()),
                     options);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.numRedirects, 1);
  EXPECT_THAT(asked, ElementsAre("first.test", "second.test"));
  EXPECT_EQ(other->last().header("Host"), fmt::format("second.test:{}", other->port()));
}

// --- TLS

class CurlTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = pki::RunDirectory::create("curl-tls");
    ASSERT_TRUE(dir.has_value());
    dir_ = std::make_unique<pki::RunDirectory>(std::move(*dir));
    auto publicCa = pki::CertificateAuthority::create("public CA");
    auto unrelatedCa = pki::CertificateAuthority::create("unrelated CA");
    auto meshCa = pki::CertificateAuthority::create("mesh CA");
    ASSERT_TRUE(publicCa && unrelatedCa && meshCa);
    publicCa_ = std::make_unique<pki::CertificateAuthority>(*publicCa);
    unrelatedCa_ = std::make_unique<pki::CertificateAuthority>(*unrelatedCa);
    meshCa_ = std::make_unique<pki::CertificateAuthority>(*meshCa);
    auto leaf = publicCa_->issueServer({"secure.test", "127.0.0.1"});
    ASSERT_TRUE(leaf.has_value());
    ASSERT_TRUE(dir_->write("server.pem", leaf->chainPem).has_value());
    ASSERT_TRUE(dir_->writePrivate("server.key", leaf->keyPem).has_value());
    ASSERT_TRUE(dir_->write("ca.pem", publicCa_->certPem()).has_value());
    ASSERT_TRUE(dir_->write("unrelated.pem", unrelatedCa_->certPem()).has_value());
    ASSERT_TRUE(dir_->write("mesh-ca.pem", meshCa_->certPem()).has_value());
    auto client = meshCa_->issueWorkload("default", "sleep");
    ASSERT_TRUE(client.has_value());
    ASSERT_TRUE(dir_->write("client.pem", client->certPem).has_value());
    ASSERT_TRUE(dir_->writePrivate("client.key", client->keyPem).has_value());
    server_ = TestServer::https(path("server.pem"), path("server.key"));
    options_.workingDirectory = dir_->path();
  }

  std::string path(const std::string& name) const { return (dir_->path() / name).string(); }
  std::string secureUrl(const std::string& rest = "/sni") const {
    return fmt::format("--resolve secure.test:{0}:127.0.0.1 https://secure.test:{0}{1}",
                       server_->port(), rest);
  }

  std::unique_ptr<pki::RunDirectory> dir_;
  std::unique_ptr<pki::CertificateAuthority> publicCa_;
  std::unique_ptr<pki::CertificateAuthority> unrelatedCa_;
  std::unique_ptr<pki::CertificateAuthority> meshCa_;
  std::unique_ptr<TestServer> server_;
  ExecOptions options_;
};

TEST_F(CurlTlsTest, CacertTrustedSucceedsAndSendsSni) {
  const auto r = run("curl -sS --cacert ca.pem " + secureUrl(), options_);
  EXPECT_EQ(r.exitCode, 0) << r.errorMessage;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "secure.test");  // the SNI the server received = the URL host
  EXPECT_EQ(server_->last().sni, "secure.test");
  EXPECT_EQ(r.firstHop.sni, "secure.test");
  EXPECT_EQ(r.sslVerifyResult, 0);
  EXPECT_GT(r.timings.appConnect.count(), 0);
}

TEST_F(CurlTlsTest, SystemCaFromOptionsIsTrusted) {
  options_.systemCaPem = publicCa_->certPem();
  const auto r = run("curl -sS " + secureUrl(), options_);
  EXPECT_EQ(r.exitCode, 0) << r.errorMessage;
  EXPECT_EQ(r.status, 200);
}

TEST_F(CurlTlsTest, UntrustedCaIsExit60) {
  options_.systemCaPem = unrelatedCa_->certPem();
  const auto r = run("curl -sS " + secureUrl(), options_);
  EXPECT_EQ(r.exitCode, 60);
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.errorMessage, StartsWith("curl: (60) SSL certificate problem"));
  // --cacert replaces the trust store: the wrong file fails even though the system CA would do.
  options_.systemCaPem = publicCa_->certPem();
  EXPECT_EQ(run("curl -sS --cacert unrelated.pem " + secureUrl(), options_).exitCode, 60);
}

TEST_F(CurlTlsTest, HostnameMismatchIsExit60) {
  const auto r = run(fmt::format("curl -sS --cacert ca.pem --resolve wrong.test:{0}:127.0.0.1 "
                                 "https://wrong.test:{0}/",
                                 server_->port()),
                     options_);
  EXPECT_EQ(r.exitCode, 60);
  EXPECT_THAT(r.errorMessage, HasSubstr("wrong.test"));
}

TEST_F(CurlTlsTest, InsecureSkipsVerification) {
  options_.systemCaPem = unrelatedCa_->certPem();
  const auto r = run("curl -sSk " + secureUrl(), options_);
  EXPECT_EQ(r.exitCode, 0) << r.errorMessage;
  EXPECT_EQ(r.status, 200);
}

TEST_F(CurlTlsTest, IpLiteralSendsNoSni) {
  const auto r = run(
      fmt::format("curl -sS --cacert ca.pem https://127.0.0.1:{}/sni", server_->port()), options_);
  EXPECT_EQ(r.exitCode, 0) << r.errorMessage;
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.firstHop.sni, "");
}

TEST_F(CurlTlsTest, MapConnectionKeepsSniAndVerification) {
  options_.resolve = [](const std::string&) -> std::optional<std::string> { return "10.0.0.1"; };
  options_.mapConnection = [&](const SocketAddress&) -> std::optional<SocketAddress> {
    return SocketAddress{"127.0.0.1", server_->port()};
  };
  const auto r = run("curl -sS --cacert ca.pem https://secure.test/sni", options_);
  EXPECT_EQ(r.exitCode, 0) << r.errorMessage;
  EXPECT_EQ(r.body, "secure.test");
  EXPECT_EQ(r.remoteIp, "10.0.0.1");
  EXPECT_EQ(r.remotePort, 443);
}

TEST_F(CurlTlsTest, TlsOnAPlainHttpPortIsExit35) {
  auto plain = TestServer::http();
  const auto r = run(fmt::format("curl -sS -k https://127.0.0.1:{}/", plain->port()), options_);
  EXPECT_EQ(r.exitCode, 35);
}

TEST_F(CurlTlsTest, RequiredClientCertificateMissingIsExit56UnderTls13) {
  auto serverCert = publicCa_->issueServer({"secure.test"});
  ASSERT_TRUE(serverCert.has_value());
  GracefulMtlsServer mtls(*serverCert, meshCa_->certPem());
  const std::string url =
      fmt::format("--resolve secure.test:{0}:127.0.0.1 https://secure.test:{0}/", mtls.port());
  // TLS 1.3: the client finishes its handshake before the server checks the certificate, so
  // curl learns of the rejection on its first read — exit 56, as real curl reports.
  const auto missing = run("curl -sS --cacert ca.pem " + url, options_);
  EXPECT_EQ(missing.exitCode, 56) << missing.errorMessage;
  EXPECT_EQ(missing.status, 0);
  EXPECT_THAT(missing.errorMessage, StartsWith("curl: (56) "));
  EXPECT_THAT(missing.errorMessage, HasSubstr("certificate required"));

  const auto ok =
      run("curl -sS --cacert ca.pem --cert client.pem --key client.key " + url, options_);
  EXPECT_EQ(ok.exitCode, 0) << ok.errorMessage;
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "ok");

  // A client certificate from a CA the server does not trust is rejected the same way.
  auto stranger = unrelatedCa_->issueWorkload("default", "sleep");
  ASSERT_TRUE(stranger.has_value());
  ASSERT_TRUE(dir_->write("stranger.pem", stranger->certPem).has_value());
  ASSERT_TRUE(dir_->writePrivate("stranger.key", stranger->keyPem).has_value());
  const auto wrong =
      run("curl -sS --cacert ca.pem --cert stranger.pem --key stranger.key " + url, options_);
  EXPECT_EQ(wrong.exitCode, 56) << wrong.errorMessage;
}

TEST_F(CurlTlsTest, ClientCertificateWithPasswordSyntaxAndMissingFile) {
  auto serverCert = publicCa_->issueServer({"secure.test"});
  ASSERT_TRUE(serverCert.has_value());
  GracefulMtlsServer mtls(*serverCert, meshCa_->certPem());
  const std::string url =
      fmt::format("--resolve secure.test:{0}:127.0.0.1 https://secure.test:{0}/", mtls.port());
  // curl's exit 58: problem with the local client certificate.
  EXPECT_EQ(run("curl -sS --cacert ca.pem --cert missing.pem " + url, options_).exitCode, 58);
  // FILE:PASSWORD — an unencrypted key ignores the password.
  EXPECT_EQ(
      run("curl -sS --cacert ca.pem --cert client.pem:secret --key client.key " + url, options_)
          .exitCode,
      0);
}

TEST_F(CurlTlsTest, HttpToHttpsRedirectFollowed) {
  // The ingress pattern: port 80 answers 301 to https.
  auto plain = TestServer::http();
  const auto r = run(fmt::format("curl -sSL --cacert ca.pem --resolve secure.test:{0}:127.0.0.1 "
                                 "--resolve secure.test:{1}:127.0.0.1 "
                                 "'http://secure.test:{0}/to?code=301&url=https://"
                                 "secure.test:{1}/sni'",
                                 plain->port(), server_->port()),
                     options_);
  EXPECT_EQ(r.exitCode, 0) << r.errorMessage;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.numRedirects, 1);
  EXPECT_EQ(r.body, "secure.test");
  EXPECT_EQ(r.firstHop.sni, "");  // the first hop was plain HTTP
}

// --- Differential check against the curl tool itself
//
// The same command lines, run by /usr/bin/curl (a project dependency, scripts/setup) and by
// execute(), must give the same exit code and the same -w output. Skipped when curl is absent.

struct ProcessOutput {
  int exitCode = -1;
  std::string out;
  std::string err;
};

std::optional<ProcessOutput> runRealCurl(const std::vector<std::string>& args) {
  static constexpr const char* kCurl = "/usr/bin/curl";
  if (::access(kCurl, X_OK) != 0) return std::nullopt;
  std::vector<std::string> argv{"curl", "-q"};  // -q: ignore ~/.curlrc
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::string path = "PATH=/usr/bin:/bin";  // and no *_proxy variables
  char* envp[] = {path.data(), nullptr};
  int out[2];
  int err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return std::nullopt;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, kCurl, &actions, nullptr, cargv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  ::close(err[1]);
  ProcessOutput result;
  if (rc == 0) {
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open = 2;
    while (open > 0 && ::poll(fds, 2, 30000) > 0) {
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        char buf[4096];
        const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) {
          fds[i].fd = -1;
          --open;
        } else {
          (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
        }
      }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ::close(out[0]);
  ::close(err[0]);
  if (rc != 0) return std::nullopt;
  return result;
}

TEST_F(CurlTlsTest, AgreesWithTheCurlTool) {
  auto plain = TestServer::http();
  RawServer refused(RawServer::Mode::kRefuse);
  RawServer silent(RawServer::Mode::kNeverAnswer);
  RawServer closer(RawServer::Mode::kCloseAfterRequest);
  RawServer resetter(RawServer::Mode::kResetAfterRequest);
  auto mtlsCert = publicCa_->issueServer({"secure.test"});
  ASSERT_TRUE(mtlsCert.has_value());
  GracefulMtlsServer mtls(*mtlsCert, meshCa_->certPem());

  const std::string http = plain->origin();
  const std::string secure = fmt::format(
      "--resolve secure.test:{0}:127.0.0.1 "
      "https://secure.test:{0}",
      server_->port());
  const std::string mtlsUrl = fmt::format(
      "--resolve secure.test:{0}:127.0.0.1 "
      "https://secure.test:{0}/",
      mtls.port());
  const std::string ca = path("ca.pem");
  const std::vector<std::string> cases = {
      "-s " + http + "/hello",
      "-s " + http + "/status/503",
      "-sf " + http + "/status/404",
      "-s --fail-with-body " + http + "/status/500",
      "-sI " + http + "/hello",
      "-s " + http + "/redirect/1",
      "-sL " + http + "/redirect/3",
      "-sL --max-redirs 1 " + http + "/redirect/3",
      "-s -d a=1 -d b=2 " + http + "/post",
      "-s --json '{}' -X PUT " + http + "/put",
      "-s -u user:pw " + http + "/basic",
      fmt::format("-s http://127.0.0.1:{}/", refused.port()),
      fmt::format("-s -m 0.2 http://127.0.0.1:{}/", silent.port()),
      fmt::format("-s http://127.0.0.1:{}/", closer.port()),
      fmt::format("-s http://127.0.0.1:{}/", resetter.port()),
      "-s --cacert " + ca + " " + secure + "/sni",
      "-s --cacert " + path("unrelated.pem") + " " + secure + "/sni",
      "-sk --cacert " + path("unrelated.pem") + " " + secure + "/sni",
      fmt::format("-s --cacert {} --resolve wrong.test:{}:127.0.0.1 https://wrong.test:{}/", ca,
                  server_->port(), server_->port()),
      fmt::format("-sk https://127.0.0.1:{}/", plain->port()),
      "-s --cacert " + ca + " " + mtlsUrl,
      "-s --cacert " + ca + " --cert " + path("client.pem") + " --key " + path("client.key") + " " +
          mtlsUrl,
      "-s --http1.1 --compressed -A probe " + http + "/hello",
  };
  const std::string writeOut =
      " -o /dev/null -w '%{http_code} %{exitcode} %{num_redirects} %{size_download} "
      "%{http_version} %{method}'";
  for (const auto& line : cases) {
    SCOPED_TRACE(line);
    auto command = parseCurlCommandLine(line + writeOut);
    ASSERT_TRUE(command.has_value()) << command.error().str();
    const auto argv = toArgv(*command);
    auto real = runRealCurl({argv.begin() + 1, argv.end()});
    if (!real) GTEST_SKIP() << "/usr/bin/curl is not installed";
    const auto ours = execute(*command);
    EXPECT_EQ(ours.exitCode, real->exitCode) << ours.errorMessage << " vs " << real->err;
    EXPECT_EQ(ours.stdoutText, real->out);
  }
}

}  // namespace
}  // namespace egresslab::curl
