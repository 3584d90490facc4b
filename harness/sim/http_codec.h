// A minimal, defensive HTTP/1.1 codec for the simulated proxies: requests and responses with
// Content-Length or chunked bodies, header limits, and errors instead of crashes on anything
// malformed (DESIGN.md reliability rules: proxies survive malformed HTTP, oversized headers,
// slow clients and TLS garbage). The wire protocol between simulated proxies is HTTP/1.1
// (Envoy would speak HTTP/2 on `http2` ports; docs/fidelity-sim.md lists it as not modelled).
#pragma once

#include <cstddef>
#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/sim/net.h"

namespace egresslab::sim {

using HeaderList = std::vector<std::pair<std::string, std::string>>;  // names as received

// The first value of a header (case-insensitive name), or nullptr.
const std::string* findHeader(const HeaderList& headers, std::string_view name);
void removeHeader(HeaderList& headers, std::string_view name);
void setHeader(HeaderList& headers, std::string_view name, std::string value);

struct HttpRequest {
  std::string method;
  std::string target;   // request-target as received ("/status/200")
  std::string version;  // "HTTP/1.1" or "HTTP/1.0"
  HeaderList headers;
  std::string body;
  std::size_t wireBytes = 0;  // bytes read for this request (access log BYTES_RECEIVED)
  [[nodiscard]] bool keepAlive() const;
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::string version = "HTTP/1.1";
  HeaderList headers;
  std::string body;
  [[nodiscard]] bool keepAlive() const;
};

enum class CodecError {
  kClosed,           // EOF before the first byte of a message (normal keep-alive end)
  kIo,               // read error, timeout or EOF in the middle of a message
  kBadMessage,       // malformed start line, header or body framing → 400
  kHeadersTooLarge,  // header section over the limit → 431
  kBodyTooLarge,     // body over the limit → 413
};

struct CodecLimits {
  std::size_t maxHeaderBytes = 60 * 1024;  // Envoy's default max_request_headers_kb is 60
  std::size_t maxHeaders = 100;
  std::size_t maxBodyBytes = 16 * 1024 * 1024;
};

// Buffered reading of HTTP/1.1 messages from a Stream.
class HttpReader {
 public:
  explicit HttpReader(Stream& stream, CodecLimits limits = {}) : s_(stream), limits_(limits) {}
  std::expected<HttpRequest, CodecError> readRequest();
  // `requestMethod` decides whether a body follows (HEAD: none).
  std::expected<HttpResponse, CodecError> readResponse(std::string_view requestMethod);
  // Bytes already buffered beyond the last message (pipelining).
  [[nodiscard]] std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::expected<std::string, CodecError> readHead();  // through the blank line
  std::expected<std::string, CodecError> readBody(const HeaderList& headers, bool untilClose);
  bool fill();
  Stream& s_;
  CodecLimits limits_;
  std::string buf_;
  std::size_t pos_ = 0;
  std::size_t consumed_ = 0;
};

// Parses a complete head (start line + headers, CRLF or LF line ends, no trailing blank line
// required). Exposed for unit tests and the fuzz-style hostile tests.
std::expected<HttpRequest, CodecError> parseRequestHead(std::string_view head,
                                                        const CodecLimits& limits = {});
std::expected<HttpResponse, CodecError> parseResponseHead(std::string_view head,
                                                          const CodecLimits& limits = {});

// Serializes with a Content-Length (bodies are always re-framed; Transfer-Encoding dropped).
std::string serializeRequest(const HttpRequest& request);
// `close` adds `connection: close` (the proxy closes after this response).
std::string serializeResponse(const HttpResponse& response, bool headOnly = false,
                              bool close = false);

std::string_view reasonPhrase(int status);

}  // namespace egresslab::sim
