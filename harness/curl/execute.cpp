#include "harness/curl/execute.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>

#include "harness/curl/write_out.h"

namespace egresslab::curl {
namespace {

using Clock = std::chrono::steady_clock;

constexpr long kCurlDefaultMaxRedirs = 50;          // curl's default for -L
constexpr std::size_t kVerboseLogCap = 256 * 1024;  // -v trace kept in the result

void ensureGlobalInit() {
  // curl_global_init is not thread-safe; runner steps may execute in parallel.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyFree {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct UrlFree {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistFree>;

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return lowered(a) == lowered(b); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string stripBrackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return std::string(host.substr(1, host.size() - 2));
  }
  return std::string(host);
}

bool isIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

SlistPtr toSlist(const std::vector<std::string>& items) {
  curl_slist* list = nullptr;
  for (const auto& item : items) list = curl_slist_append(list, item.c_str());
  return SlistPtr(list);
}

// The parts of a URL that decide where a hop goes, as libcurl parses them.
struct UrlParts {
  std::string scheme;
  std::string host;  // bracketed for IPv6, as in the URL
  int port = 0;
  std::string normalized;
};

std::optional<UrlParts> parseUrl(const std::string& url) {
  std::unique_ptr<CURLU, UrlFree> u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) != 0) {
    return std::nullopt;
  }
  UrlParts parts;
  auto get = [&](CURLUPart part, unsigned flags, std::string& out) {
    char* value = nullptr;
    if (curl_url_get(u.get(), part, &value, flags) != CURLUE_OK) return false;
    out = value;
    curl_free(value);
    return true;
  };
  std::string port;
  if (!get(CURLUPART_SCHEME, 0, parts.scheme) || !get(CURLUPART_HOST, 0, parts.host) ||
      !get(CURLUPART_PORT, CURLU_DEFAULT_PORT, port) || !get(CURLUPART_URL, 0, parts.normalized)) {
    return std::nullopt;
  }
  parts.scheme = lowered(parts.scheme);
  parts.port = std::atoi(port.c_str());
  return parts;
}

// Splits "host:rest" where host may be bracketed.
std::pair<std::string, std::string> splitHost(std::string_view s) {
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close != std::string_view::npos && close + 1 < s.size() && s[close + 1] == ':') {
      return {std::string(s.substr(0, close + 1)), std::string(s.substr(close + 2))};
    }
  }
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos) return {std::string(s), {}};
  return {std::string(s.substr(0, colon)), std::string(s.substr(colon + 1))};
}

// Where libcurl will connect for host:port after --connect-to (first matching entry wins).
std::pair<std::string, int> applyConnectTo(const std::vector<std::string>& entries,
                                           const std::string& host, int port) {
  for (const auto& entry : entries) {
    auto [host1, rest1] = splitHost(entry);
    const size_t colon = rest1.find(':');
    if (colon == std::string::npos) continue;
    const std::string port1 = rest1.substr(0, colon);
    auto [host2, port2] = splitHost(std::string_view(rest1).substr(colon + 1));
    if (!host1.empty() && !iequals(stripBrackets(host1), stripBrackets(host))) continue;
    if (!port1.empty() && std::atoi(port1.c_str()) != port) continue;
    return {host2.empty() ? host : host2, port2.empty() ? port : std::atoi(port2.c_str())};
  }
  return {host, port};
}

bool coveredByResolve(const std::vector<std::string>& entries, const std::string& host, int port) {
  for (std::string_view entry : entries) {
    if (!entry.empty() && (entry.front() == '+' || entry.front() == '-')) entry.remove_prefix(1);
    auto [entryHost, rest] = splitHost(entry);
    const size_t colon = rest.find(':');
    if (colon == std::string::npos) continue;
    if ((entryHost == "*" || iequals(stripBrackets(entryHost), host)) &&
        std::atoi(rest.substr(0, colon).c_str()) == port) {
      return true;
    }
  }
  return false;
}

std::optional<SocketAddress> fromSockaddr(const sockaddr* sa) {
  char text[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return SocketAddress{text, ntohs(in->sin_port)};
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return SocketAddress{text, ntohs(in6->sin6_port)};
  }
  return std::nullopt;
}

// Everything one execute() shares with libcurl's callbacks.
struct Transfer {
  Transfer(const CurlCommand& c, const ExecOptions& o) : command(c), options(o) {}
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  const CurlCommand& command;
  const ExecOptions& options;
  std::filesystem::path outputPath;

  // Per hop: reset before each request of a redirect chain.
  int hop = 0;
  std::string body;
  bool bodyTruncated = false;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string httpVersion;
  int outputFd = -1;
  bool outputFailed = false;

  // Over the whole chain.
  std::string headerText;  // every response's header block, for -i/-I on stdout
  std::string firstRequest;
  std::string verboseLog;
  std::vector<std::pair<SocketAddress, SocketAddress>> mapped;  // virtual → real

  ~Transfer() {
    if (outputFd >= 0) ::close(outputFd);
  }

  void startHop() {
    body.clear();
    bodyTruncated = false;
    headers.clear();
    httpVersion.clear();
    if (outputFd >= 0) {
      ::close(outputFd);
      outputFd = -1;
    }
  }

  bool openOutput() {
    // O_TRUNC per hop: only the final response's body ends up in the file, as with curl -L.
    outputFd = ::open(outputPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return outputFd >= 0;
  }
};

size_t onBody(char* data, size_t size, size_t count, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t len = size * count;
  if (t->command.output) {
    if (t->outputFd < 0 && !t->openOutput()) {
      t->outputFailed = true;
      return 0;  // CURLE_WRITE_ERROR (23), as curl reports an unwritable -o file
    }
    size_t written = 0;
    while (written < len) {
      const ssize_t n = ::write(t->outputFd, data + written, len - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        t->outputFailed = true;
        return 0;
      }
      written += static_cast<size_t>(n);
    }
  }
  const size_t room = CurlResult::kBodyCap - std::min(t->body.size(), CurlResult::kBodyCap);
  if (len > room) t->bodyTruncated = true;
  t->body.append(data, std::min(len, room));
  return len;
}

size_t onHeader(char* data, size_t size, size_t count, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t len = size * count;
  const std::string_view raw(data, len);
  t->headerText.append(raw);
  const std::string_view line = trim(raw);
  if (raw.starts_with("HTTP/")) {
    // A new response (100 Continue, or the next hop): only the last one's headers count.
    t->headers.clear();
    const size_t space = line.find(' ');
    t->httpVersion = std::string(line.substr(5, space == std::string_view::npos ? 0 : space - 5));
    return len;
  }
  if (line.empty()) return len;
  if ((raw.front() == ' ' || raw.front() == '\t') && !t->headers.empty()) {
    t->headers.back().second += " ";  // obsolete line folding
    t->headers.back().second += line;
    return len;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  t->headers.emplace_back(lowered(line.substr(0, colon)),
                          std::string(trim(line.substr(colon + 1))));
  return len;
}

void appendPrefixedLines(std::string& log, char prefix, std::string_view text) {
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    log += prefix;
    log += ' ';
    log.append(line.substr(0, line.size() - (line.ends_with('\r') ? 1 : 0)));
    log += '\n';
    if (eol == std::string_view::npos) break;
    text.remove_prefix(eol + 1);
  }
}

int onDebug(CURL*, curl_infotype type, char* data, size_t size, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const std::string_view text(data, size);
  if (type == CURLINFO_HEADER_OUT && t->hop == 0 && t->firstRequest.empty()) {
    t->firstRequest.assign(text);
  }
  if (!t->command.verbose || t->verboseLog.size() > kVerboseLogCap) return 0;
  switch (type) {
    case CURLINFO_TEXT:
      appendPrefixedLines(t->verboseLog, '*', text);
      break;
    case CURLINFO_HEADER_OUT:
      appendPrefixedLines(t->verboseLog, '>', trim(text));
      break;
    case CURLINFO_HEADER_IN:
      appendPrefixedLines(t->verboseLog, '<', trim(text));
      break;
    default:
      break;
  }
  return 0;
}

curl_socket_t onOpenSocket(void* userdata, curlsocktype purpose, curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(userdata);
  if (purpose == CURLSOCKTYPE_IPCXN && t->options.mapConnection) {
    if (auto dst = fromSockaddr(&address->addr)) {
      if (auto to = t->options.mapConnection(*dst)) {
        // libcurl lets this callback rewrite the peer address (CURLOPT_OPENSOCKETFUNCTION); the
        // storage behind `addr` is large enough for either family.
        sockaddr_in in{};
        sockaddr_in6 in6{};
        if (inet_pton(AF_INET, to->ip.c_str(), &in.sin_addr) == 1) {
          in.sin_family = AF_INET;
          in.sin_port = htons(static_cast<uint16_t>(to->port));
          std::memcpy(&address->addr, &in, sizeof in);
          address->family = AF_INET;
          address->addrlen = sizeof in;
        } else if (inet_pton(AF_INET6, to->ip.c_str(), &in6.sin6_addr) == 1) {
          in6.sin6_family = AF_INET6;
          in6.sin6_port = htons(static_cast<uint16_t>(to->port));
          std::memcpy(&address->addr, &in6, sizeof in6);
          address->family = AF_INET6;
          address->addrlen = sizeof in6;
        } else {
          return CURL_SOCKET_BAD;  // curl reports a failed connect (7)
        }
        t->mapped.emplace_back(*dst, *to);
      }
    }
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

std::filesystem::path resolvePath(const ExecOptions& options, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_relative() && !options.workingDirectory.empty()) return options.workingDirectory / p;
  return p;
}

// The request body the data arguments form (curl's rules: '&' between parts except before a
// --json part; "@file" read for all but --data-raw, CR/LF removed for -d). A missing file gives
// curl's warning and an empty part, as curl does.
std::string assembleBody(const CurlCommand& command, const ExecOptions& options,
                         std::string& warnings) {
  std::string body;
  for (const auto& arg : command.data) {
    std::string part = arg.value;
    if (arg.kind != DataKind::kRaw && arg.value.starts_with("@")) {
      const std::string file = arg.value.substr(1);
      std::ifstream in(resolvePath(options, file), std::ios::binary);
      if (!in) {
        warnings += fmt::format(
            "Warning: Couldn't read data from file \"{}\", this makes an empty POST.\n", file);
        part.clear();
      } else {
        part.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        if (arg.kind == DataKind::kAscii)
          std::erase_if(part, [](char c) { return c == '\r' || c == '\n'; });
      }
    }
    if (!body.empty() && arg.kind != DataKind::kJson) body += '&';
    body += part;
  }
  return body;
}

bool hasHeaderNamed(const std::vector<std::string>& headers, std::string_view name) {
  for (const auto& header : headers) {
    const size_t end = header.find_first_of(":;");
    if (end != std::string::npos && iequals(trim(std::string_view(header).substr(0, end)), name)) {
      return true;
    }
  }
  return false;
}

// The header lines of a request: the command's -H, --json's defaults, then the runner's extras.
// On a hop to another origin curl drops Authorization and Cookie headers (as it drops -u).
std::vector<std::string> requestHeaders(const CurlCommand& command, const ExecOptions& options,
                                        bool sameOrigin) {
  std::vector<std::string> lines;
  for (const auto& header : command.headers) {
    if (!sameOrigin &&
        (lowered(header).starts_with("authorization:") || lowered(header).starts_with("cookie:"))) {
      continue;
    }
    lines.push_back(header);
  }
  const bool json = std::any_of(command.data.begin(), command.data.end(),
                                [](const DataArg& d) { return d.kind == DataKind::kJson; });
  if (json) {
    if (!hasHeaderNamed(command.headers, "content-type")) {
      lines.emplace_back("Content-Type: application/json");
    }
    if (!hasHeaderNamed(command.headers, "accept")) lines.emplace_back("Accept: application/json");
  }
  for (const auto& [name, value] : options.extraHeaders) {
    lines.push_back(fmt::format("{}: {}", name, value));
  }
  return lines;
}

WireRequest parseFirstRequest(const std::string& text, const std::optional<UrlParts>& url) {
  WireRequest wire;
  std::string_view rest(text);
  bool first = true;
  while (!rest.empty()) {
    const size_t eol = rest.find('\n');
    const std::string_view line = trim(rest.substr(0, eol));
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    if (line.empty()) continue;
    if (first) {
      first = false;
      const size_t sp1 = line.find(' ');
      const size_t sp2 = line.find(' ', sp1 == std::string_view::npos ? sp1 : sp1 + 1);
      wire.method = std::string(line.substr(0, sp1));
      if (sp1 != std::string_view::npos) {
        wire.target = std::string(line.substr(
            sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1));
      }
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    wire.headers.emplace_back(lowered(line.substr(0, colon)),
                              std::string(trim(line.substr(colon + 1))));
    if (wire.headers.back().first == "host") wire.hostHeader = wire.headers.back().second;
  }
  if (url && url->scheme == "https") {
    // libcurl sends the URL's host as SNI (also with --resolve/--connect-to), never an IP.
    const std::string host = stripBrackets(url->host);
    if (!isIpLiteral(host)) wire.sni = host;
  }
  return wire;
}

std::string httpVersionText(long version) {
  switch (version) {
    case CURL_HTTP_VERSION_1_0:
      return "1.0";
    case CURL_HTTP_VERSION_1_1:
      return "1.1";
    case CURL_HTTP_VERSION_2_0:
      return "2";
    case CURL_HTTP_VERSION_3:
      return "3";
    default:
      return "";
  }
}

std::chrono::microseconds timeInfo(CURL* h, CURLINFO info) {
  curl_off_t us = 0;
  curl_easy_getinfo(h, info, &us);
  return std::chrono::microseconds(us);
}

std::string stringInfo(CURL* h, CURLINFO info) {
  char* value = nullptr;
  if (curl_easy_getinfo(h, info, &value) != CURLE_OK || value == nullptr) return {};
  return value;
}

long longInfo(CURL* h, CURLINFO info) {
  long value = 0;
  curl_easy_getinfo(h, info, &value);
  return value;
}

}  // namespace

// Sets every option that stays the same over the hops of one command: what the curl tool sets
// on every transfer, the command's options, and what keeps the harness deterministic.
// `postBody` and the returned list must outlive the transfer (libcurl keeps pointers to them).
SlistPtr configureHandle(CURL* h, const CurlCommand& command, const ExecOptions& options,
                         Transfer& t, char* errorBuffer, const std::string* postBody) {
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errorBuffer);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_PROXY, "");  // ignore *_proxy variables of the harness's env
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(
      h, CURLOPT_USERAGENT,
      command.userAgent
          ? command.userAgent->c_str()
          : fmt::format("curl/{}", curl_version_info(CURLVERSION_NOW)->version).c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  // VERBOSE only routes libcurl's trace to onDebug: it captures the first request for
  // WireRequest and, with -v, curl's trace for stderr.
  curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
  curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, onDebug);
  curl_easy_setopt(h, CURLOPT_DEBUGDATA, &t);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, onOpenSocket);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &t);

  if (command.fail == FailMode::kFail) curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
  if (command.head) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  if (command.method) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, command.method->c_str());
  if (postBody != nullptr) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(postBody->size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, postBody->data());
  }
  if (command.user) curl_easy_setopt(h, CURLOPT_USERPWD, command.user->c_str());
  if (command.http11) curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  if (command.compressed) curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");

  // Trust: --cacert replaces the trust store (curl's documented meaning); without it the
  // simulated world's "system" CAs apply, or the machine's when none are given.
  if (command.insecure) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (command.cacert) {
    // libcurl copies string options, so temporaries are fine.
    curl_easy_setopt(h, CURLOPT_CAINFO, resolvePath(options, *command.cacert).c_str());
    if (!options.systemCaPem.empty()) curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);
  } else if (!options.systemCaPem.empty()) {
    curl_blob blob{const_cast<char*>(options.systemCaPem.data()), options.systemCaPem.size(),
                   CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);
  }
  if (command.cert) {
    // FILE[:PASSWORD], "\:" for a colon in the file name (curl's rule).
    std::string file;
    std::string certPassword;
    const std::string& spec = *command.cert;
    size_t i = 0;
    for (; i < spec.size(); ++i) {
      if (spec[i] == '\\' && i + 1 < spec.size() && spec[i + 1] == ':') {
        file += ':';
        ++i;
      } else if (spec[i] == ':') {
        certPassword = spec.substr(i + 1);
        break;
      } else {
        file += spec[i];
      }
    }
    curl_easy_setopt(h, CURLOPT_SSLCERT, resolvePath(options, file).c_str());
    if (!certPassword.empty()) curl_easy_setopt(h, CURLOPT_KEYPASSWD, certPassword.c_str());
  }
  if (command.key) {
    curl_easy_setopt(h, CURLOPT_SSLKEY, resolvePath(options, *command.key).c_str());
  }
  SlistPtr connectTo = toSlist(command.connectTo);
  if (connectTo) curl_easy_setopt(h, CURLOPT_CONNECT_TO, connectTo.get());
  if (command.connectTimeout && command.connectTimeout->count() > 0) {
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(command.connectTimeout->count()));
  }

  return connectTo;
}

// Fills what the final hop left behind: status, version, URL, addresses, sizes.
void collectFinalHop(CURL* h, const Transfer& t, CurlResult& result) {
  result.status = static_cast<int>(longInfo(h, CURLINFO_RESPONSE_CODE));
  result.httpVersion =
      result.status != 0 ? httpVersionText(longInfo(h, CURLINFO_HTTP_VERSION)) : std::string();
  if (result.httpVersion.empty()) result.httpVersion = t.httpVersion;
  result.effectiveUrl = stringInfo(h, CURLINFO_EFFECTIVE_URL);
  result.method = stringInfo(h, CURLINFO_EFFECTIVE_METHOD);
  result.redirectUrl = stringInfo(h, CURLINFO_REDIRECT_URL);
  result.sslVerifyResult = longInfo(h, CURLINFO_SSL_VERIFYRESULT);
  result.remoteIp = stringInfo(h, CURLINFO_PRIMARY_IP);
  result.remotePort = static_cast<int>(longInfo(h, CURLINFO_PRIMARY_PORT));
  result.localIp = stringInfo(h, CURLINFO_LOCAL_IP);
  result.localPort = static_cast<int>(longInfo(h, CURLINFO_LOCAL_PORT));
  curl_off_t downloaded = 0;
  curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &downloaded);
  result.sizeDownload = static_cast<std::uint64_t>(downloaded);
  // curl reports the address it meant to reach, not where mapConnection sent it. (libcurl
  // takes the IP from the socket but the port from the connection, so match either port.)
  for (const auto& [virtualAddress, realAddress] : t.mapped) {
    if (realAddress.ip == result.remoteIp &&
        (realAddress.port == result.remotePort || virtualAddress.port == result.remotePort)) {
      result.remoteIp = virtualAddress.ip;
      result.remotePort = virtualAddress.port;
      break;
    }
  }
}

// Settles curl's exit code and error line, then composes what curl prints: stdout (-i headers,
// body unless -o, -w output) and stderr (warnings, -v trace, the error unless -s alone).
void finishResult(const CurlCommand& command, Transfer& t, CURLcode code, std::string failMessage,
                  const char* errorBuffer, const std::string& warnings, CurlResult& result) {
  // --fail-with-body is the curl tool's own check, after the transfer (libcurl has no option).
  if (code == CURLE_OK && command.fail == FailMode::kFailWithBody && result.status >= 400) {
    code = CURLE_HTTP_RETURNED_ERROR;
    failMessage = fmt::format("The requested URL returned error: {}", result.status);
  }
  if (code == CURLE_WRITE_ERROR && t.outputFailed && command.output) {
    failMessage = fmt::format("Failure writing output to destination ({})", *command.output);
  }
  if (code == CURLE_OK && command.output && t.outputFd < 0 && !t.openOutput()) {
    // curl creates the -o file even for an empty body.
    code = CURLE_WRITE_ERROR;
    failMessage = fmt::format("Failure writing output to destination ({})", *command.output);
  }
  result.exitCode = static_cast<int>(code);
  if (code != CURLE_OK) {
    std::string text = failMessage;
    if (text.empty()) text = errorBuffer;
    if (text.empty()) text = curl_easy_strerror(code);
    result.errorMessage = fmt::format("curl: ({}) {}", result.exitCode, text);
  }

  if (command.writeOut) result.writeOut = renderWriteOut(*command.writeOut, result);
  if (!command.output) {
    if (command.include || command.head) result.stdoutText += t.headerText;
    result.stdoutText += result.body;
  }
  result.stdoutText += result.writeOut;
  result.stderrText = warnings + t.verboseLog;
  if (!result.errorMessage.empty() && (!command.silent || command.showError)) {
    result.stderrText += result.errorMessage + "\n";
  }
}

CurlResult execute(const CurlCommand& command, const ExecOptions& options) {
  ensureGlobalInit();
  CurlResult result;
  Transfer t(command, options);
  if (command.output) t.outputPath = resolvePath(options, *command.output);
  std::string warnings;
  const std::string postBody = command.hasBody() ? assembleBody(command, options, warnings) : "";

  std::unique_ptr<CURL, EasyFree> handle(curl_easy_init());
  CURL* h = handle.get();
  if (h == nullptr) {
    result.exitCode = CURLE_FAILED_INIT;
    result.errorMessage = "curl: (2) Failed initialization";
    result.stderrText = result.errorMessage + "\n";
    return result;
  }
  char errorBuffer[CURL_ERROR_SIZE] = {};
  const SlistPtr connectTo =
      configureHandle(h, command, options, t, errorBuffer, command.hasBody() ? &postBody : nullptr);

  const bool followRedirects = command.location;
  const long maxRedirs = command.maxRedirs.value_or(kCurlDefaultMaxRedirs);
  const std::chrono::milliseconds timeout =
      command.maxTime && command.maxTime->count() > 0 ? *command.maxTime : options.defaultTimeout;
  const auto deadline = Clock::now() + timeout;

  std::string url = command.urlWithScheme();
  const std::optional<UrlParts> firstUrl = parseUrl(url);
  std::vector<std::string> resolveEntries = command.resolve;
  std::vector<std::string> headerLines = requestHeaders(command, options, true);
  SlistPtr headerList = toSlist(headerLines);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headerList.get());
  SlistPtr resolveList;
  bool sendingBody = command.hasBody();
  bool sameOrigin = true;
  CURLcode code = CURLE_OK;
  bool performed = false;
  std::string failMessage;  // an error found before libcurl ran

  for (;; ++t.hop) {
    t.startHop();
    const std::optional<UrlParts> parts = parseUrl(url);
    if (parts && options.resolve) {
      // ExecOptions::resolve stands in for DNS: feed its answer to libcurl as a --resolve entry
      // for the address libcurl will actually look up (after --connect-to).
      auto [connectHost, connectPort] = applyConnectTo(command.connectTo, parts->host, parts->port);
      const std::string bare = stripBrackets(connectHost);
      if (!isIpLiteral(bare) && !coveredByResolve(resolveEntries, bare, connectPort)) {
        const auto ip = options.resolve(bare);
        if (!ip) {
          code = CURLE_COULDNT_RESOLVE_HOST;
          failMessage = fmt::format("Could not resolve host: {}", bare);
          result.effectiveUrl = parts->normalized;
          break;
        }
        const bool v6 = ip->find(':') != std::string::npos;
        resolveEntries.push_back(
            fmt::format("{}:{}:{}", bare, connectPort, v6 ? "[" + *ip + "]" : *ip));
      }
    }
    // libcurl loads CURLOPT_RESOLVE once per perform: hand it the whole list every hop.
    resolveList = toSlist(resolveEntries);
    curl_easy_setopt(h, CURLOPT_RESOLVE, resolveList.get());

    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0) {
      code = CURLE_OPERATION_TIMEDOUT;
      failMessage = fmt::format("Operation timed out after {} milliseconds with 0 bytes received",
                                timeout.count());
      break;
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(remaining.count()));
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    errorBuffer[0] = '\0';
    code = curl_easy_perform(h);
    performed = true;
    result.timings.nameLookup += timeInfo(h, CURLINFO_NAMELOOKUP_TIME_T);
    result.timings.connect += timeInfo(h, CURLINFO_CONNECT_TIME_T);
    result.timings.appConnect += timeInfo(h, CURLINFO_APPCONNECT_TIME_T);
    result.timings.preTransfer += timeInfo(h, CURLINFO_PRETRANSFER_TIME_T);
    result.timings.startTransfer += timeInfo(h, CURLINFO_STARTTRANSFER_TIME_T);
    result.timings.total += timeInfo(h, CURLINFO_TOTAL_TIME_T);
    if (code != CURLE_OK) break;

    const long status = longInfo(h, CURLINFO_RESPONSE_CODE);
    const std::string next = stringInfo(h, CURLINFO_REDIRECT_URL);
    if (!followRedirects || status < 300 || status > 399 || next.empty()) break;
    if (maxRedirs >= 0 && result.numRedirects >= maxRedirs) {
      code = CURLE_TOO_MANY_REDIRECTS;
      failMessage = fmt::format("Maximum ({}) redirects followed", maxRedirs);
      break;
    }
    // curl -L: 301/302 turn a POST into a GET, 303 turns anything but HEAD into a GET; -X stays
    // on every hop (curl's documented trap).
    if (sendingBody && (status == 301 || status == 302 || status == 303)) {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
      sendingBody = false;
    }
    // Credentials go only to the first origin (curl without --location-trusted).
    const std::optional<UrlParts> nextParts = parseUrl(next);
    const bool nextSameOrigin = firstUrl && nextParts && nextParts->scheme == firstUrl->scheme &&
                                iequals(nextParts->host, firstUrl->host) &&
                                nextParts->port == firstUrl->port;
    if (nextSameOrigin != sameOrigin) {
      sameOrigin = nextSameOrigin;
      curl_easy_setopt(h, CURLOPT_USERPWD,
                       sameOrigin && command.user ? command.user->c_str() : nullptr);
      headerLines = requestHeaders(command, options, sameOrigin);
      headerList = toSlist(headerLines);
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, headerList.get());
    }
    result.timings.redirect += timeInfo(h, CURLINFO_TOTAL_TIME_T);
    ++result.numRedirects;
    url = next;
  }

  if (performed) {
    collectFinalHop(h, t, result);
  } else {
    result.method = command.effectiveMethod();
  }
  result.headers = std::move(t.headers);
  result.body = std::move(t.body);
  result.bodyTruncated = t.bodyTruncated;
  result.firstHop = parseFirstRequest(t.firstRequest, firstUrl);
  if (result.firstHop.method.empty()) result.firstHop.method = command.effectiveMethod();

  finishResult(command, t, code, std::move(failMessage), errorBuffer, warnings, result);
  return result;
}

}  // namespace egresslab::curl
