#include "harness/sim/http1.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "harness/core/ascii.h"

namespace egresslab::sim {

const std::string* findHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (asciiIEquals(k, name)) return &v;
  }
  return nullptr;
}

void removeHeader(HeaderList& headers, std::string_view name) {
  std::erase_if(headers, [&](const auto& h) { return asciiIEquals(h.first, name); });
}

void setHeader(HeaderList& headers, std::string_view name, std::string value) {
  removeHeader(headers, name);
  headers.emplace_back(std::string(name), std::move(value));
}

bool HttpRequest::keepAlive() const {
  const std::string* c = findHeader(headers, "connection");
  if (version == "HTTP/1.0") return c != nullptr && asciiIEquals(*c, "keep-alive");
  return c == nullptr || !asciiIEquals(*c, "close");
}

bool HttpResponse::keepAlive() const {
  const std::string* c = findHeader(headers, "connection");
  if (version == "HTTP/1.0") return c != nullptr && asciiIEquals(*c, "keep-alive");
  return c == nullptr || !asciiIEquals(*c, "close");
}

namespace {

namespace http = boost::beast::http;

bool isParseError(const ErrorCode& ec) {
  return ec.category() == make_error_code(http::error::bad_method).category();
}

CodecError toCodecError(const ErrorCode& ec) {
  if (ec == http::error::end_of_stream) return CodecError::kClosed;
  if (ec == http::error::header_limit) return CodecError::kHeadersTooLarge;
  if (ec == http::error::body_limit) return CodecError::kBodyTooLarge;
  if (ec == http::error::partial_message) return CodecError::kIo;
  if (isParseError(ec)) return CodecError::kBadMessage;
  return CodecError::kIo;
}

std::expected<std::string, CodecError> versionOf(unsigned v) {
  if (v == 11) return "HTTP/1.1";
  if (v == 10) return "HTTP/1.0";
  return std::unexpected(CodecError::kBadMessage);  // HTTP/2 preface, HTTP/9.9, …
}

std::expected<HeaderList, CodecError> headersOf(const http::fields& fields,
                                                const CodecLimits& limits) {
  HeaderList out;
  for (const auto& f : fields) {
    // Envoy's max_headers_count (100 by default) answers 431 like the byte limit.
    if (out.size() >= limits.maxHeaders) return std::unexpected(CodecError::kHeadersTooLarge);
    out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  return out;
}

std::expected<HttpRequest, CodecError> requestOf(http::request<http::string_body>&& m,
                                                 const CodecLimits& limits) {
  auto version = versionOf(m.version());
  if (!version) return std::unexpected(version.error());
  auto headers = headersOf(m.base(), limits);
  if (!headers) return std::unexpected(headers.error());
  HttpRequest r;
  r.method = std::string(m.method_string());
  r.target = std::string(m.target());
  r.version = *version;
  r.headers = std::move(*headers);
  r.body = std::move(m.body());
  return r;
}

std::expected<HttpResponse, CodecError> responseOf(http::response<http::string_body>&& m,
                                                   const CodecLimits& limits) {
  auto version = versionOf(m.version());
  if (!version) return std::unexpected(version.error());
  auto headers = headersOf(m.base(), limits);
  if (!headers) return std::unexpected(headers.error());
  HttpResponse r;
  r.status = static_cast<int>(m.result_int());
  r.reason = std::string(m.reason());
  r.version = *version;
  r.headers = std::move(*headers);
  r.body = std::move(m.body());
  return r;
}

// Feeds the parser from the buffer and the stream until one message is complete. Like Beast's
// http::async_read, but over an AsyncStream, and an idle connection holds no read buffer: it
// waits for readability before asking the buffer for space.
template <bool isRequest>
Task<ErrorCode> readMessage(AsyncStream& s, boost::beast::flat_buffer& buf,
                            http::basic_parser<isRequest>& p) {
  constexpr std::size_t kReadSize = 16384;
  for (;;) {
    if (buf.size() > 0) {
      ErrorCode ec;
      const std::size_t used = p.put(buf.data(), ec);
      buf.consume(used);
      if (ec && ec != http::error::need_more) co_return ec;
      if (p.is_done()) co_return ErrorCode{};
      if (used > 0 && buf.size() > 0) continue;
    }
    if (buf.size() == 0) {
      const ErrorCode readable = co_await s.waitReadable();
      if (readable) co_return readable;
    }
    const IoResult r = co_await s.readSome(buf.prepare(kReadSize));
    buf.commit(r.bytes);
    if (r.ec && !AsyncStream::isEof(r.ec)) co_return r.ec;
    if (r.ec || r.bytes == 0) {
      if (r.bytes > 0) continue;  // parse what came with the EOF first (next round sees EOF)
      if (!p.got_some()) co_return ErrorCode(http::error::end_of_stream);
      ErrorCode ec;
      p.put_eof(ec);
      co_return ec ? ec : (p.is_done() ? ErrorCode{} : ErrorCode(http::error::partial_message));
    }
  }
}

}  // namespace

Task<std::expected<HttpRequest, CodecError>> HttpReader::readRequest() {
  http::request_parser<http::string_body> p;
  p.eager(true);
  p.header_limit(static_cast<std::uint32_t>(limits_.maxHeaderBytes));
  p.body_limit(limits_.maxBodyBytes);
  const ErrorCode ec = co_await readMessage<true>(s_, buf_, p);
  if (ec) co_return std::unexpected(toCodecError(ec));
  co_return requestOf(p.release(), limits_);
}

Task<std::expected<HttpResponse, CodecError>> HttpReader::readResponse(std::string requestMethod) {
  for (;;) {
    http::response_parser<http::string_body> p;
    p.eager(true);
    p.header_limit(static_cast<std::uint32_t>(limits_.maxHeaderBytes));
    p.body_limit(limits_.maxBodyBytes);
    if (requestMethod == "HEAD") p.skip(true);
    const ErrorCode ec = co_await readMessage<false>(s_, buf_, p);
    if (ec) co_return std::unexpected(toCodecError(ec));
    auto m = p.release();
    // Interim 1xx responses (100 Continue) precede the real one; 101 is final.
    if (m.result_int() >= 100 && m.result_int() < 200 && m.result_int() != 101) continue;
    co_return responseOf(std::move(m), limits_);
  }
}

namespace {

template <bool isRequest>
ErrorCode parseHead(std::string_view head, http::basic_parser<isRequest>& p) {
  std::string text(head);
  while (!text.empty() && (text.back() == '\r' || text.back() == '\n')) text.pop_back();
  text += "\r\n\r\n";
  ErrorCode ec;
  p.put(boost::asio::buffer(text), ec);
  if (ec == http::error::need_more) return ErrorCode(http::error::partial_message);
  return ec;
}

}  // namespace

std::expected<HttpRequest, CodecError> parseRequestHead(std::string_view head,
                                                        const CodecLimits& limits) {
  http::request_parser<http::string_body> p;
  p.header_limit(static_cast<std::uint32_t>(limits.maxHeaderBytes));
  if (ErrorCode ec = parseHead<true>(head, p); ec && !p.is_header_done()) {
    return std::unexpected(toCodecError(ec));
  }
  return requestOf(p.release(), limits);
}

std::expected<HttpResponse, CodecError> parseResponseHead(std::string_view head,
                                                          const CodecLimits& limits) {
  http::response_parser<http::string_body> p;
  p.header_limit(static_cast<std::uint32_t>(limits.maxHeaderBytes));
  if (ErrorCode ec = parseHead<false>(head, p); ec && !p.is_header_done()) {
    return std::unexpected(toCodecError(ec));
  }
  return responseOf(p.release(), limits);
}

namespace {
bool hopByHop(std::string_view name) {
  return asciiIEquals(name, "content-length") || asciiIEquals(name, "transfer-encoding") ||
         asciiIEquals(name, "connection") || asciiIEquals(name, "keep-alive") ||
         asciiIEquals(name, "proxy-connection") || asciiIEquals(name, "te") ||
         asciiIEquals(name, "upgrade");
}
}  // namespace

std::string serializeRequest(const HttpRequest& request) {
  std::string out;
  out.reserve(256 + request.body.size());
  out += request.method;
  out += ' ';
  out += request.target;
  out += " HTTP/1.1\r\n";
  for (const auto& [k, v] : request.headers) {
    if (hopByHop(k)) continue;
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
      request.method == "PATCH") {
    out += "content-length: ";
    out += std::to_string(request.body.size());
    out += "\r\n";
  }
  out += "\r\n";
  out += request.body;
  return out;
}

std::string serializeResponse(const HttpResponse& response, bool headOnly, bool close) {
  std::string out;
  out.reserve(256 + response.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(response.status);
  out += ' ';
  out += response.reason.empty() ? std::string(reasonPhrase(response.status)) : response.reason;
  out += "\r\n";
  bool hasLength = false;
  for (const auto& [k, v] : response.headers) {
    if (hopByHop(k)) {
      if (headOnly && asciiIEquals(k, "content-length")) {
        hasLength = true;
        out += "content-length: " + v + "\r\n";
      }
      continue;
    }
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  if (close) out += "connection: close\r\n";
  if (!headOnly && response.status != 204 && response.status != 304) {
    out += "content-length: ";
    out += std::to_string(response.body.size());
    out += "\r\n";
  } else if (headOnly && !hasLength) {
    out += "content-length: 0\r\n";
  }
  out += "\r\n";
  if (!headOnly) out += response.body;
  return out;
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 418:
      return "I'm a teapot";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

}  // namespace egresslab::sim
