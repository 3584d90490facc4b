// The HTTP/1.1 server loop of the httpbin mock and its fault-control port (internal to
// mocks/httpbin): Boost.Asio for sockets and TLS, Boost.Beast's parser for request framing, and
// cpp-httplib's Request/Response types as the interface to the handlers (handlers.h).
//
// Why our own loop rather than cpp-httplib's (docs/dependencies.md): cpp-httplib 0.11 gives one
// worker thread to each connection for its whole life, keeps a connection alive after a 400
// that left unread bytes in the stream (the keep-alive desync of issue #14), has no header or
// body deadline, and enforces its body limit only for Content-Length. Here:
//
// - Reading (TLS handshake, header, body) is asynchronous on a few I/O threads: a slow or idle
//   client costs a socket and a buffer, never a worker thread.
// - A complete request runs on a worker pool that grows on demand up to `maxWorkers` (handlers
//   may sleep: /delay, /drip, the latency fault); the worker also writes the response.
// - Deadlines per connection: idle keep-alive, the whole header from its first byte, the whole
//   body, each write, the TLS handshake. A connection past its deadline is shut down.
// - Framing refused with a 4xx and the connection closed (lingering, so the client reads the
//   answer): oversized request line (414), oversized header line or header block (431),
//   malformed request, conflicting Content-Length, Content-Length with Transfer-Encoding, a
//   transfer coding other than chunked (400), a body over `maxBody` in any framing (400, while
//   reading: a chunked flood is cut at the limit).
// - Every connection is tracked, so stop() cuts them all at once (the `down` fault).
#pragma once

#include <httplib.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "harness/core/error.h"

namespace egresslab::httpbin::detail {

struct ServerLimits {
  size_t maxBody = 1024 * 1024;       // request body, any framing
  size_t maxLine = 8192;              // request line (else 414) and each header line (else 431)
  size_t maxHeaderBytes = 64 * 1024;  // the whole header block (else 431)
  size_t maxConnections = 1024;       // open connections; more are closed at accept
  size_t maxWorkers = 64;             // requests handled at once (threads grow on demand)
  int ioThreads = 1;                  // threads running the event loop
  std::chrono::milliseconds idleTimeout{5000};        // keep-alive wait for the next request
  std::chrono::milliseconds headerTimeout{10000};     // whole header, from its first byte
  std::chrono::milliseconds bodyTimeout{30000};       // whole body, from the end of the header
  std::chrono::milliseconds writeTimeout{30000};      // each write of a response
  std::chrono::milliseconds handshakeTimeout{10000};  // TLS handshake
};

// What the access log needs beyond the request and the response.
struct ExchangeInfo {
  const char* sni = nullptr;  // TLS SNI, nullptr for none or plain HTTP
  size_t bytes = 0;           // body bytes of the response
  double ms = 0;              // time from the complete header to the end of the response
  std::string note;           // what the handler returned (the mock: faults applied)
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;            // 0 = ephemeral
  SSL_CTX* tls = nullptr;  // serve TLS with this context (not owned; outlives the server)
  ServerLimits limits{};
  // Answers one complete request on a worker thread; returns a note for the log.
  std::function<std::string(httplib::Request&, httplib::Response&)> handler;
  // Optional: answers a request on the I/O thread when that needs no waiting, saving the hand-off
  // to a worker. Returns the note as `handler` does, or std::nullopt, having changed nothing,
  // when the request must go to `handler` on a worker instead.
  std::function<std::optional<std::string>(httplib::Request&, httplib::Response&)> inlineHandler;
  // Fills the answer to a request refused before any handler ran (status 400/414/431, detail).
  // `req` holds what was parsed (maybe nothing).
  std::function<void(const httplib::Request&, httplib::Response&, int, const std::string&)> refuse;
  // One call per response written (refusals included).
  std::function<void(const httplib::Request&, const httplib::Response&, const ExchangeInfo&)> log;
  // Server events worth a line: the connection cap reached, accept failing (EMFILE).
  std::function<void(const std::string&)> notice;
};

class HttpServer {
 public:
  // Binds, listens (backlog 1024, SO_REUSEADDR, no SO_REUSEPORT) and serves before returning.
  static Result<std::unique_ptr<HttpServer>> start(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  // The bound address (for a listener that takes the same port over, e.g. the reset fault).
  const sockaddr_storage& boundAddress() const;
  // Open connections right now.
  size_t connections() const;

  // Closes the listener, shuts every open connection down (requests in flight see their writes
  // fail), waits for every handler to return and every thread to end. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit HttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Whether `addr` is a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104).
bool isLoopback(const sockaddr_storage& addr);
// Whether the host part of a Host header or URL authority ("localhost:8081", "[::1]:80",
// "127.0.0.1") names the loopback interface.
bool isLoopbackHost(std::string_view hostPort);

}  // namespace egresslab::httpbin::detail
