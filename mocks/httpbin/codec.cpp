#include "mocks/httpbin/codec.h"

#include <zlib.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <ctime>

namespace egresslab::httpbin::codec {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::string_view kStdAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool isTokenChar(char c) {
  // RFC 7230 tchar, the set Go's CanonicalMIMEHeaderKey accepts.
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

std::optional<std::string> percentDecode(std::string_view in, bool plusIsSpace) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = hexValue(in[i + 1]);
      const int lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plusIsSpace) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<ValueMap> parseQuery(std::string_view query, bool strict) {
  ValueMap out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    // Go 1.17+ rejects ';' as a separator: the pair is invalid.
    if (pair.find(';') != std::string_view::npos) {
      if (strict) return std::nullopt;
      continue;
    }
    const size_t eq = pair.find('=');
    auto key = percentDecode(pair.substr(0, eq), true);
    auto value = eq == std::string_view::npos ? std::optional<std::string>("")
                                              : percentDecode(pair.substr(eq + 1), true);
    if (!key || !value) {
      if (strict) return std::nullopt;
      continue;
    }
    out[*key].push_back(std::move(*value));
  }
  return out;
}

std::string base64Encode(std::string_view in, bool urlSafe) {
  const std::string_view alphabet = urlSafe ? kUrlAlphabet : kStdAlphabet;
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back(alphabet[v & 63]);
  }
  const size_t rest = in.size() - i;
  if (rest > 0) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? alphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64Decode(std::string_view in, bool urlSafe) {
  const std::string_view alphabet = urlSafe ? kUrlAlphabet : kStdAlphabet;
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    unsigned v = 0;
    int padding = 0;
    for (size_t j = 0; j < 4; ++j) {
      const char c = in[i + j];
      if (c == '=') {
        // Padding only in the last quantum, only in its last two places, and only trailing.
        if (i + 4 != in.size() || j < 2) return std::nullopt;
        ++padding;
        v <<= 6;
        continue;
      }
      if (padding > 0) return std::nullopt;
      const size_t pos = alphabet.find(c);
      if (pos == std::string_view::npos) return std::nullopt;
      v = (v << 6) | static_cast<unsigned>(pos);
    }
    out.push_back(static_cast<char>((v >> 16) & 0xff));
    if (padding < 2) out.push_back(static_cast<char>((v >> 8) & 0xff));
    if (padding < 1) out.push_back(static_cast<char>(v & 0xff));
  }
  return out;
}

std::string compress(std::string_view in, bool gzipFormat) {
  z_stream zs{};
  // windowBits 15 = zlib wrapper; +16 = gzip wrapper.
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzipFormat ? 15 + 16 : 15, 8,
               Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::optional<std::string> decompress(std::string_view in, bool gzipFormat) {
  z_stream zs{};
  if (inflateInit2(&zs, gzipFormat ? 15 + 16 : 15) != Z_OK) return std::nullopt;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  std::array<char, 16384> buf{};
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_out = static_cast<uInt>(buf.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf.data(), buf.size() - zs.avail_out);
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

std::string htmlEscape(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (const char c : in) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '"':
        out += "&#34;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string canonicalHeaderKey(std::string_view key) {
  for (const char c : key) {
    if (!isTokenChar(c)) return std::string(key);
  }
  std::string out(key);
  bool upper = true;
  for (char& c : out) {
    c = upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
              : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    upper = c == '-';
  }
  return out;
}

std::optional<std::int64_t> parseInt64(std::string_view s) {
  if (s.empty()) return std::nullopt;
  size_t start = 0;
  if (s[0] == '+') start = 1;  // strconv accepts a leading '+'; from_chars does not
  if (start == s.size()) return std::nullopt;
  std::int64_t value = 0;
  const char* first = s.data() + start;
  const char* last = s.data() + s.size();
  if (start == 1 && s[start] == '-') return std::nullopt;
  const auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{} || ptr != last) return std::nullopt;
  return value;
}

std::optional<double> parseFloat(std::string_view s) {
  // Decimal grammar only: [+-]? (d+ (. d*)? | . d+) ([eE] [+-]? d+)?
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t expDigits = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++expDigits;
    if (expDigits == 0) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  const std::string copy(s);
  const double v = std::strtod(copy.c_str(), nullptr);
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<std::chrono::nanoseconds> parseDuration(std::string_view s) {
  // Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, or "0".
  const auto goDuration = [](std::string_view in) -> std::optional<std::chrono::nanoseconds> {
    if (in.empty()) return std::nullopt;
    bool negative = false;
    if (in[0] == '-' || in[0] == '+') {
      negative = in[0] == '-';
      in.remove_prefix(1);
    }
    if (in == "0") return std::chrono::nanoseconds(0);
    if (in.empty()) return std::nullopt;
    long double total = 0;
    while (!in.empty()) {
      size_t i = 0;
      size_t digits = 0;
      while (i < in.size() && std::isdigit(static_cast<unsigned char>(in[i]))) ++i, ++digits;
      if (i < in.size() && in[i] == '.') {
        ++i;
        while (i < in.size() && std::isdigit(static_cast<unsigned char>(in[i]))) ++i, ++digits;
      }
      if (digits == 0) return std::nullopt;
      const long double number = std::strtold(std::string(in.substr(0, i)).c_str(), nullptr);
      in.remove_prefix(i);
      size_t unitLen = 0;
      while (unitLen < in.size() && !std::isdigit(static_cast<unsigned char>(in[unitLen])) &&
             in[unitLen] != '.') {
        ++unitLen;
      }
      const std::string_view unit = in.substr(0, unitLen);
      in.remove_prefix(unitLen);
      long double scale = 0;
      if (unit == "ns")
        scale = 1;
      else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs")
        scale = 1e3L;
      else if (unit == "ms")
        scale = 1e6L;
      else if (unit == "s")
        scale = 1e9L;
      else if (unit == "m")
        scale = 60e9L;
      else if (unit == "h")
        scale = 3600e9L;
      else
        return std::nullopt;
      total += number * scale;
      if (total > 9.2e18L) return std::nullopt;
    }
    const auto ns = static_cast<std::int64_t>(total);
    return std::chrono::nanoseconds(negative ? -ns : ns);
  };
  if (auto d = goDuration(s)) return d;
  if (auto seconds = parseFloat(s)) {
    if (std::fabs(*seconds) > 9.2e9) return std::nullopt;
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(*seconds * 1e9)));
  }
  return std::nullopt;
}

std::string formatDuration(std::chrono::nanoseconds d) {
  std::int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  const std::uint64_t u =
      ns < 0 ? static_cast<std::uint64_t>(-(ns + 1)) + 1 : static_cast<std::uint64_t>(ns);
  // A fraction with trailing zeros trimmed, as Go's fmtFrac does.
  const auto frac = [](std::uint64_t value, int precision) {
    std::string digits = std::to_string(value);
    while (static_cast<int>(digits.size()) < precision) digits.insert(0, "0");
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    return digits.empty() ? std::string{} : "." + digits;
  };
  if (u < 1000) return sign + std::to_string(u) + "ns";
  if (u < 1000000) return sign + std::to_string(u / 1000) + frac(u % 1000, 3) + "\xC2\xB5s";
  if (u < 1000000000) return sign + std::to_string(u / 1000000) + frac(u % 1000000, 6) + "ms";
  const std::uint64_t totalSeconds = u / 1000000000;
  const std::string seconds = std::to_string(totalSeconds % 60) + frac(u % 1000000000, 9) + "s";
  if (totalSeconds < 60) return sign + seconds;
  const std::uint64_t minutes = totalSeconds / 60;
  if (minutes < 60) return sign + std::to_string(minutes) + "m" + seconds;
  return sign + std::to_string(minutes / 60) + "h" + std::to_string(minutes % 60) + "m" + seconds;
}

std::string_view statusText(int code) {
  switch (code) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 207:
      return "Multi-Status";
    case 208:
      return "Already Reported";
    case 226:
      return "IM Used";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 305:
      return "Use Proxy";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Requested Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 418:
      return "I'm a teapot";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Entity";
    case 423:
      return "Locked";
    case 424:
      return "Failed Dependency";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 506:
      return "Variant Also Negotiates";
    case 507:
      return "Insufficient Storage";
    case 508:
      return "Loop Detected";
    case 510:
      return "Not Extended";
    case 511:
      return "Network Authentication Required";
    default:
      return "";
  }
}

std::string httpDate(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

}  // namespace egresslab::httpbin::codec
