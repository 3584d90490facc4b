// HTTP/2 for the simulated proxies (nghttp2, driven by Asio like the HTTP/1.1 path in http1.h).
// A proxy's HTTP listener detects the client connection preface and serves the connection's
// streams here (Envoy's HTTP connection manager has codec AUTO on every Istio listener); an
// upstream connection to a cluster that istiod configures for HTTP/2 (mesh::Cluster::protocol,
// from the Service port's protocol, docs/istio-behaviour.md §3, §R9) speaks HTTP/2 with prior
// knowledge (h2c over plaintext, h2 over TLS).
//
// Messages cross this layer as the HTTP/1.1 types of http1.h: a request's `:authority` becomes
// its `host` header and `version` says "HTTP/2" (what %PROTOCOL% prints); a response's `:status`
// becomes `status`. Connection-specific headers (connection, keep-alive, transfer-encoding, …)
// never go on the wire. Limits: docs/fidelity.md ("HTTP/2"): the server handles a connection's
// requests one at a time in the order they complete; the client sends one stream at a time per
// connection (a pooled connection is reused for the next request).
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "harness/sim/http1.h"
#include "harness/sim/io.h"

namespace egresslab::sim {

// The client connection preface (RFC 9113 §3.4).
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// What %PROTOCOL% prints for an HTTP/2 stream, and HttpRequest::version of one.
inline constexpr std::string_view kHttp2Version = "HTTP/2";

enum class PrefaceMatch {
  kNo,       // not HTTP/2 (an HTTP/1.x request, garbage)
  kPartial,  // a prefix of the preface: read more
  kYes,      // the whole preface
};
// How the first bytes of a connection compare with the HTTP/2 preface.
PrefaceMatch matchHttp2Preface(std::string_view firstBytes);

// An AsyncStream that replays bytes already read from `inner`, then reads from it; writes and
// everything else go to `inner`. Lets a listener look at a connection's first bytes and still
// hand the whole stream to the HTTP/1.1 reader.
class ReplayStream final : public AsyncStream {
 public:
  ReplayStream(AsyncStream& inner, std::string replay)
      : inner_(inner), replay_(std::move(replay)) {}
  Task<ErrorCode> waitReadable() override;
  Task<IoResult> readSome(asio::mutable_buffer buffer) override;
  Task<IoResult> writeAll(asio::const_buffer data) override { return inner_.writeAll(data); }
  void shutdownSend() override { inner_.shutdownSend(); }
  void close() override { inner_.close(); }
  [[nodiscard]] bool tls() const override { return inner_.tls(); }
  tcp::socket& socket() override { return inner_.socket(); }
  TlsStream* tlsLayer() override { return inner_.tlsLayer(); }

 private:
  AsyncStream& inner_;
  std::string replay_;
  std::size_t offset_ = 0;
};

// An AsyncStream that records what is written (an HTTP/1.1 response the proxy writes for one
// HTTP/2 stream) and reads nothing; tls() and socket() are the connection's.
class ResponseCapture final : public AsyncStream {
 public:
  explicit ResponseCapture(AsyncStream& connection) : connection_(connection) {}
  Task<ErrorCode> waitReadable() override;
  Task<IoResult> readSome(asio::mutable_buffer buffer) override;
  Task<IoResult> writeAll(asio::const_buffer data) override;
  void shutdownSend() override {}
  void close() override { closed_ = true; }
  [[nodiscard]] bool tls() const override { return connection_.tls(); }
  tcp::socket& socket() override { return connection_.socket(); }
  TlsStream* tlsLayer() override { return connection_.tlsLayer(); }
  [[nodiscard]] const std::string& written() const { return written_; }
  [[nodiscard]] bool closed() const { return closed_; }

 private:
  AsyncStream& connection_;
  std::string written_;
  bool closed_ = false;
};

// Parses a complete serialized HTTP/1.1 response (what ResponseCapture recorded) for a request
// with `method`.
Task<std::expected<HttpResponse, CodecError>> parseCapturedResponse(std::string bytes,
                                                                    std::string method);

struct Http2ServerOptions {
  CodecLimits limits;
  // The connection is closed when no frame arrives for this long while no request is in
  // progress (the downstream idle/request timeout).
  std::chrono::milliseconds idleTimeout{60000};
  std::uint32_t maxConcurrentStreams = 100;  // Envoy's default for Istio listeners is higher
};

// Answers one request. nullopt = answer nothing more: the connection is closed at once (GOAWAY
// and close). `closeAfter` set to true: send this response, then GOAWAY and close.
using Http2Handler =
    std::function<Task<std::optional<HttpResponse>>(HttpRequest& request, bool& closeAfter)>;

// Serves the HTTP/2 connection `stream` whose first bytes `alreadyRead` (the preface, possibly
// more) were already consumed. Returns when the connection ends.
Task<void> serveHttp2(AsyncStream& stream, std::string alreadyRead, const Http2Handler& handler,
                      Http2ServerOptions options);

// The client side of one HTTP/2 connection (prior knowledge). One request at a time.
class Http2ClientConnection {
 public:
  explicit Http2ClientConnection(CodecLimits limits = {});
  ~Http2ClientConnection();
  Http2ClientConnection(const Http2ClientConnection&) = delete;
  Http2ClientConnection& operator=(const Http2ClientConnection&) = delete;

  // Sends `request` (its `host` becomes `:authority`; `scheme` is `:scheme`) on a new stream and
  // reads the response. kClosed: the connection ended (EOF or GOAWAY) before the stream got any
  // response — the request was not processed, so a pooled connection may be retried on a fresh
  // one; kIo: reset, I/O error or EOF mid-response; kBadMessage: not HTTP/2 (protocol error).
  Task<std::expected<HttpResponse, CodecError>> exchange(AsyncStream& stream,
                                                         const HttpRequest& request,
                                                         std::string_view scheme);
  // False once the peer sent GOAWAY, the session failed or ended.
  [[nodiscard]] bool reusable() const;

  struct Session;  // nghttp2 state (http2.cpp)

 private:
  std::unique_ptr<Session> s_;
};

}  // namespace egresslab::sim
