#include "harness/sim/http_codec.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace egresslab::sim {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool isTokenChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Splits a head into lines (CRLF or LF).
std::vector<std::string_view> lines(std::string_view head) {
  std::vector<std::string_view> out;
  while (!head.empty()) {
    auto nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    if (nl == std::string_view::npos) break;
    head.remove_prefix(nl + 1);
  }
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

std::expected<void, CodecError> parseHeaders(const std::vector<std::string_view>& ls,
                                             HeaderList& headers, const CodecLimits& limits) {
  for (std::size_t i = 1; i < ls.size(); ++i) {
    std::string_view line = ls[i];
    if (line.empty()) return std::unexpected(CodecError::kBadMessage);
    // Obsolete line folding is rejected, as RFC 9112 allows a server to.
    if (line.front() == ' ' || line.front() == '\t')
      return std::unexpected(CodecError::kBadMessage);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return std::unexpected(CodecError::kBadMessage);
    }
    std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), isTokenChar)) {
      return std::unexpected(CodecError::kBadMessage);
    }
    std::string_view value = trim(line.substr(colon + 1));
    for (char c : value) {
      if (c == '\0' || c == '\r' || c == '\n') return std::unexpected(CodecError::kBadMessage);
    }
    headers.emplace_back(std::string(name), std::string(value));
    if (headers.size() > limits.maxHeaders) return std::unexpected(CodecError::kHeadersTooLarge);
  }
  return {};
}

bool parseSize(std::string_view text, std::size_t& out, int base = 10) {
  text = trim(text);
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && p == text.data() + text.size();
}

}  // namespace

const std::string* findHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return &v;
  }
  return nullptr;
}

void removeHeader(HeaderList& headers, std::string_view name) {
  std::erase_if(headers, [&](const auto& h) { return iequals(h.first, name); });
}

void setHeader(HeaderList& headers, std::string_view name, std::string value) {
  removeHeader(headers, name);
  headers.emplace_back(std::string(name), std::move(value));
}

bool HttpRequest::keepAlive() const {
  const std::string* c = findHeader(headers, "connection");
  if (version == "HTTP/1.0") return c != nullptr && iequals(*c, "keep-alive");
  return c == nullptr || !iequals(*c, "close");
}

bool HttpResponse::keepAlive() const {
  const std::string* c = findHeader(headers, "connection");
  if (version == "HTTP/1.0") return c != nullptr && iequals(*c, "keep-alive");
  return c == nullptr || !iequals(*c, "close");
}

std::expected<HttpRequest, CodecError> parseRequestHead(std::string_view head,
                                                        const CodecLimits& limits) {
  if (head.size() > limits.maxHeaderBytes) return std::unexpected(CodecError::kHeadersTooLarge);
  auto ls = lines(head);
  if (ls.empty()) return std::unexpected(CodecError::kBadMessage);
  HttpRequest r;
  std::string_view start = ls[0];
  auto sp1 = start.find(' ');
  auto sp2 = start.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return std::unexpected(CodecError::kBadMessage);
  r.method = std::string(start.substr(0, sp1));
  r.target = std::string(start.substr(sp1 + 1, sp2 - sp1 - 1));
  r.version = std::string(start.substr(sp2 + 1));
  if (r.method.empty() || !std::all_of(r.method.begin(), r.method.end(), isTokenChar)) {
    return std::unexpected(CodecError::kBadMessage);
  }
  if (r.target.empty() || r.target.find(' ') != std::string::npos) {
    return std::unexpected(CodecError::kBadMessage);
  }
  for (char c : r.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return std::unexpected(CodecError::kBadMessage);
    }
  }
  if (r.version != "HTTP/1.1" && r.version != "HTTP/1.0") {
    return std::unexpected(CodecError::kBadMessage);
  }
  if (auto ok = parseHeaders(ls, r.headers, limits); !ok) return std::unexpected(ok.error());
  return r;
}

std::expected<HttpResponse, CodecError> parseResponseHead(std::string_view head,
                                                          const CodecLimits& limits) {
  if (head.size() > limits.maxHeaderBytes) return std::unexpected(CodecError::kHeadersTooLarge);
  auto ls = lines(head);
  if (ls.empty()) return std::unexpected(CodecError::kBadMessage);
  HttpResponse r;
  std::string_view start = ls[0];
  auto sp1 = start.find(' ');
  if (sp1 == std::string_view::npos) return std::unexpected(CodecError::kBadMessage);
  r.version = std::string(start.substr(0, sp1));
  if (r.version != "HTTP/1.1" && r.version != "HTTP/1.0") {
    return std::unexpected(CodecError::kBadMessage);
  }
  std::string_view rest = start.substr(sp1 + 1);
  auto sp2 = rest.find(' ');
  std::size_t status = 0;
  if (!parseSize(rest.substr(0, sp2), status) || status < 100 || status > 999) {
    return std::unexpected(CodecError::kBadMessage);
  }
  r.status = static_cast<int>(status);
  r.reason = sp2 == std::string_view::npos ? "" : std::string(rest.substr(sp2 + 1));
  if (auto ok = parseHeaders(ls, r.headers, limits); !ok) return std::unexpected(ok.error());
  return r;
}

bool HttpReader::fill() {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  char tmp[16384];
  long n = s_.read(tmp, sizeof tmp);
  if (n <= 0) return false;
  buf_.append(tmp, static_cast<std::size_t>(n));
  consumed_ += static_cast<std::size_t>(n);
  return true;
}

std::expected<std::string, CodecError> HttpReader::readHead() {
  std::size_t scanFrom = pos_;
  for (;;) {
    // Leading empty lines before a request are tolerated (RFC 9112 §2.2).
    while (pos_ < buf_.size() && (buf_[pos_] == '\r' || buf_[pos_] == '\n')) {
      ++pos_;
      scanFrom = pos_;
    }
    auto end = buf_.find("\n\r\n", scanFrom > pos_ ? scanFrom - 1 : pos_);
    std::size_t termLen = 3;
    auto lf = buf_.find("\n\n", scanFrom > pos_ ? scanFrom - 1 : pos_);
    if (lf != std::string::npos && (end == std::string::npos || lf < end)) {
      end = lf;
      termLen = 2;
    }
    if (end != std::string::npos) {
      std::string head = buf_.substr(pos_, end + 1 - pos_);
      pos_ = end + termLen;
      if (head.size() > limits_.maxHeaderBytes) {
        return std::unexpected(CodecError::kHeadersTooLarge);
      }
      return head;
    }
    if (buf_.size() - pos_ > limits_.maxHeaderBytes) {
      return std::unexpected(CodecError::kHeadersTooLarge);
    }
    scanFrom = buf_.size();
    const bool empty = buf_.size() == pos_;
    const std::size_t before = pos_;
    if (!fill()) return std::unexpected(empty ? CodecError::kClosed : CodecError::kIo);
    // fill() may compact the buffer (drop the consumed prefix): keep scanFrom relative.
    scanFrom -= before - pos_;
  }
}

std::expected<std::string, CodecError> HttpReader::readBody(const HeaderList& headers,
                                                            bool untilClose) {
  std::string body;
  const std::string* te = findHeader(headers, "transfer-encoding");
  const std::string* cl = findHeader(headers, "content-length");
  if (te != nullptr) {
    if (cl != nullptr) return std::unexpected(CodecError::kBadMessage);  // smuggling guard
    std::string lowered = *te;
    std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (trim(lowered) != "chunked") return std::unexpected(CodecError::kBadMessage);
    for (;;) {
      auto nl = buf_.find('\n', pos_);
      while (nl == std::string::npos) {
        if (buf_.size() - pos_ > 1024) return std::unexpected(CodecError::kBadMessage);
        if (!fill()) return std::unexpected(CodecError::kIo);
        nl = buf_.find('\n', pos_);
      }
      std::string_view sizeLine(buf_.data() + pos_, nl - pos_);
      if (auto semi = sizeLine.find(';'); semi != std::string_view::npos) {
        sizeLine = sizeLine.substr(0, semi);
      }
      std::size_t size = 0;
      if (!parseSize(sizeLine, size, 16)) return std::unexpected(CodecError::kBadMessage);
      pos_ = nl + 1;
      if (size == 0) {
        // Trailers up to the blank line.
        for (;;) {
          auto tnl = buf_.find('\n', pos_);
          while (tnl == std::string::npos) {
            if (buf_.size() - pos_ > limits_.maxHeaderBytes) {
              return std::unexpected(CodecError::kHeadersTooLarge);
            }
            if (!fill()) return std::unexpected(CodecError::kIo);
            tnl = buf_.find('\n', pos_);
          }
          std::string_view line(buf_.data() + pos_, tnl - pos_);
          pos_ = tnl + 1;
          if (line.empty() || line == "\r") return body;
        }
      }
      if (body.size() + size > limits_.maxBodyBytes) {
        return std::unexpected(CodecError::kBodyTooLarge);
      }
      while (buf_.size() - pos_ < size + 1) {
        if (!fill()) return std::unexpected(CodecError::kIo);
      }
      body.append(buf_, pos_, size);
      pos_ += size;
      if (buf_[pos_] == '\r') {
        while (buf_.size() - pos_ < 2) {
          if (!fill()) return std::unexpected(CodecError::kIo);
        }
        ++pos_;
      }
      if (buf_[pos_] != '\n') return std::unexpected(CodecError::kBadMessage);
      ++pos_;
    }
  }
  if (cl != nullptr) {
    std::size_t size = 0;
    if (!parseSize(*cl, size)) return std::unexpected(CodecError::kBadMessage);
    // Repeated Content-Length headers must agree.
    for (const auto& [k, v] : headers) {
      std::size_t other = 0;
      if (iequals(k, "content-length") && (!parseSize(v, other) || other != size)) {
        return std::unexpected(CodecError::kBadMessage);
      }
    }
    if (size > limits_.maxBodyBytes) return std::unexpected(CodecError::kBodyTooLarge);
    while (buf_.size() - pos_ < size) {
      if (!fill()) return std::unexpected(CodecError::kIo);
    }
    body.assign(buf_, pos_, size);
    pos_ += size;
    return body;
  }
  if (untilClose) {
    for (;;) {
      body.append(buf_, pos_, std::string::npos);
      pos_ = buf_.size();
      if (body.size() > limits_.maxBodyBytes) return std::unexpected(CodecError::kBodyTooLarge);
      if (!fill()) return body;
    }
  }
  return body;
}

std::expected<HttpRequest, CodecError> HttpReader::readRequest() {
  const std::size_t before = consumed_ - (buf_.size() - pos_);
  auto head = readHead();
  if (!head) return std::unexpected(head.error());
  auto req = parseRequestHead(*head, limits_);
  if (!req) return req;
  auto body = readBody(req->headers, false);
  if (!body) return std::unexpected(body.error());
  req->body = std::move(*body);
  req->wireBytes = consumed_ - (buf_.size() - pos_) - before;
  return req;
}

std::expected<HttpResponse, CodecError> HttpReader::readResponse(std::string_view requestMethod) {
  for (;;) {
    auto head = readHead();
    if (!head) return std::unexpected(head.error());
    auto resp = parseResponseHead(*head, limits_);
    if (!resp) return resp;
    if (resp->status >= 100 && resp->status < 200) continue;  // interim responses
    if (requestMethod == "HEAD" || resp->status == 204 || resp->status == 304) return resp;
    auto body = readBody(resp->headers, true);
    if (!body) return std::unexpected(body.error());
    resp->body = std::move(*body);
    return resp;
  }
}

namespace {
bool hopByHop(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection") || iequals(name, "keep-alive") ||
         iequals(name, "proxy-connection") || iequals(name, "te") || iequals(name, "upgrade");
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
      if (headOnly && iequals(k, "content-length")) {
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
