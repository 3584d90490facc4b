// HTTP/1.1 for the simulated proxies: messages as header lists (names as received, in order),
// read from an AsyncStream with Boost.Beast's parser (Content-Length, chunked, until-close bodies;
// header and body limits; errors instead of crashes on anything malformed — docs/design.md
// reliability rules), and written re-framed with a Content-Length. These types also carry
// HTTP/2 streams (http2.h), spoken where the cluster says HTTP/2 (`http2`/`grpc` ports).
#pragma once

#include <cstddef>
#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>

#include "harness/sim/io.h"

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

// Buffered reading of HTTP/1.1 messages from one connection (keep-alive, pipelining). The
// buffer is allocated only once bytes arrive: an idle connection holds none.
class HttpReader {
 public:
  explicit HttpReader(AsyncStream& stream, CodecLimits limits = {}) : s_(stream), limits_(limits) {}
  Task<std::expected<HttpRequest, CodecError>> readRequest();
  // `requestMethod` decides whether a body follows (HEAD: none). 1xx interim responses are
  // skipped.
  Task<std::expected<HttpResponse, CodecError>> readResponse(std::string requestMethod);
  // Bytes already buffered beyond the last message (pipelining).
  [[nodiscard]] std::size_t buffered() const { return buf_.size(); }

 private:
  AsyncStream& s_;
  CodecLimits limits_;
  boost::beast::flat_buffer buf_;
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
