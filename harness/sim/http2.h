// HTTP/2 for the simulated proxies (nghttp2, driven by Asio like the HTTP/1.1 path in http1.h).
// A proxy's HTTP listener detects the client connection preface and serves the connection's
// streams here (Envoy's HTTP connection manager has codec AUTO on every Istio listener); an
// upstream connection to a cluster that istiod configures for HTTP/2 (mesh::Cluster::protocol,
// from the Service port's protocol, docs/istio-behaviour.md §3, §R9) speaks HTTP/2 with prior
// knowledge (h2c over plaintext, h2 over TLS).
//
// Both sides multiplex, as Envoy does: the server runs each stream's handler as its own coroutine
// on the connection's worker, so one connection's requests are handled at once and their
// responses interleave; the client sends any number of concurrent requests as streams of one
// connection (up to the peer's SETTINGS_MAX_CONCURRENT_STREAMS, which nghttp2 enforces). A stream
// reset, a per-stream deadline or a GOAWAY affects only the streams concerned.
//
// Messages cross this layer as the types of http1.h, mapped from and to frames directly: a
// request's `:authority` becomes its `host` header and `version` says "HTTP/2" (what %PROTOCOL%
// prints); a response's `:status` becomes `status`. Connection-specific headers (connection,
// keep-alive, transfer-encoding, …) never go on the wire. A client connection whose peer answers
// with something else than HTTP/2 (HTTP/1.1 bytes) fails its streams with a protocol error.
// Limits: docs/fidelity.md ("HTTP/2").
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
// SETTINGS_MAX_CONCURRENT_STREAMS an Envoy listener advertises when Istio sets none: Envoy's
// Http2ProtocolOptions default, 2^31 - 1 (docs/istio-behaviour.md §R6).
inline constexpr std::uint32_t kEnvoyMaxConcurrentStreams = 2147483647;

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
  std::uint32_t maxConcurrentStreams = kEnvoyMaxConcurrentStreams;
};

// Answers one request (one stream; handlers of one connection run concurrently on its
// executor). nullopt = the stream is reset (RST_STREAM), the connection's other streams go on.
// `closeAfter` set to true: send this response, then GOAWAY; the connection closes once its
// streams in progress are done.
using Http2Handler =
    std::function<Task<std::optional<HttpResponse>>(HttpRequest& request, bool& closeAfter)>;

// Serves the HTTP/2 connection `stream` whose first bytes `alreadyRead` (the preface, possibly
// more) were already consumed. Returns when the connection ended and every handler returned.
Task<void> serveHttp2(AsyncStream& stream, std::string alreadyRead, const Http2Handler& handler,
                      Http2ServerOptions options);

// Why a client stream got no response.
enum class Http2Error {
  // Not processed by the peer: the connection ended or sent GOAWAY before the stream got
  // anything, or the peer refused the stream (REFUSED_STREAM). Safe to send again elsewhere.
  kRefused,
  kReset,           // the peer reset the stream (RST_STREAM) after accepting it
  kConnectionLost,  // the connection ended (EOF, I/O error, closed) while the stream was open
  kProtocolError,   // the peer does not speak HTTP/2 or broke the protocol (e.g. HTTP/1.1 bytes)
  kTooLarge,        // the response exceeds the codec limits
  kTimeout,         // the caller's deadline passed: the stream was reset (CANCEL), not the
                    // connection
};

// The client side of one HTTP/2 connection (prior knowledge), multiplexed: any number of
// coroutines on the connection's executor may exchange() at once, each on its own stream. The
// connection reads and writes from coroutines of its own, started by the first exchange().
class Http2ClientConnection {
 public:
  explicit Http2ClientConnection(std::unique_ptr<AsyncStream> stream, CodecLimits limits = {});
  // Closes the connection (its streams in flight fail with kConnectionLost).
  ~Http2ClientConnection();
  Http2ClientConnection(const Http2ClientConnection&) = delete;
  Http2ClientConnection& operator=(const Http2ClientConnection&) = delete;

  // Sends `request` (its `host` becomes `:authority`; `scheme` is `:scheme`) on a new stream and
  // waits for its response, at most `timeout`.
  Task<std::expected<HttpResponse, Http2Error>> exchange(
      const HttpRequest& request, std::string_view scheme,
      std::chrono::steady_clock::duration timeout);
  // False once the peer sent GOAWAY, or the connection failed or ended: no new streams.
  [[nodiscard]] bool reusable() const;
  // Streams in flight.
  [[nodiscard]] std::size_t activeStreams() const;
  // The peer's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited until its SETTINGS arrived).
  [[nodiscard]] std::uint32_t peerMaxConcurrentStreams() const;
  AsyncStream& stream();
  void close();

  struct Session;  // nghttp2 state (http2.cpp)

 private:
  std::shared_ptr<Session> s_;
};

}  // namespace egresslab::sim
