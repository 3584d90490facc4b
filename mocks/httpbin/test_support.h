// Test helpers for the httpbin mock: a raw HTTP/1.1 client over a loopback socket (exact bytes
// out, exact status/headers/body back; no client library rewriting headers) and a deadline wait.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace egresslab::httpbin::testing {

struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
      return std::tolower(static_cast<unsigned char>(x)) <
             std::tolower(static_cast<unsigned char>(y));
    });
  }
};

struct RawResponse {
  bool complete = false;     // a status line was read
  std::vector<int> interim;  // 1xx responses seen before the final one
  int status = 0;
  std::multimap<std::string, std::string, CaseInsensitiveLess> headers;
  std::string body;  // de-chunked

  bool has(const std::string& name) const { return headers.count(name) > 0; }
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
  std::vector<std::string> all(const std::string& name) const {
    std::vector<std::string> out;
    for (auto [it, end] = headers.equal_range(name); it != end; ++it) out.push_back(it->second);
    return out;
  }
};

// Connects to 127.0.0.1:port; -1 on failure (errno set, e.g. ECONNREFUSED).
inline int connectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  const int yes = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  return fd;
}

inline bool sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Whether `raw` holds one complete final response (headers plus a Content-Length body, or a
// chunked body up to its last chunk). Responses framed by EOF are never "complete" here.
inline bool completeResponse(std::string_view raw) {
  while (raw.substr(0, 10).find(" 1") == 8 && raw.substr(0, 5) == "HTTP/") {  // skip 1xx
    const size_t end = raw.find("\r\n\r\n");
    if (end == std::string_view::npos) return false;
    raw.remove_prefix(end + 4);
  }
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string_view::npos) return false;
  std::string head(raw.substr(0, end));
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string_view rest = raw.substr(end + 4);
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    return rest.find("0\r\n\r\n") != std::string_view::npos;
  }
  const size_t cl = head.find("content-length: ");
  if (cl == std::string::npos) return false;
  return rest.size() >= std::stoul(head.substr(cl + 16));
}

// Reads until EOF, an error, the deadline, or (with stopAtResponse) one complete response.
inline std::string readAll(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(15),
                           bool stopAtResponse = false) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (stopAtResponse && completeResponse(out)) break;
  }
  return out;
}

inline RawResponse parseResponse(std::string_view raw, bool head = false) {
  RawResponse res;
  while (true) {
    const size_t end = raw.find("\r\n\r\n");
    if (raw.substr(0, 5) != "HTTP/" || end == std::string_view::npos) return res;
    std::string_view head_block = raw.substr(0, end);
    raw.remove_prefix(end + 4);
    const size_t lineEnd = head_block.find("\r\n");
    const std::string_view statusLine = head_block.substr(0, lineEnd);
    const int status = std::stoi(std::string(statusLine.substr(9, 3)));
    if (status >= 100 && status < 200) {
      res.interim.push_back(status);
      continue;
    }
    res.status = status;
    res.complete = true;
    std::string_view rest =
        lineEnd == std::string_view::npos ? std::string_view{} : head_block.substr(lineEnd + 2);
    while (!rest.empty()) {
      const size_t eol = rest.find("\r\n");
      const std::string_view line = rest.substr(0, eol);
      rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      res.headers.emplace(std::string(line.substr(0, colon)), std::string(value));
    }
    break;
  }
  if (head) return res;
  if (res.header("Transfer-Encoding") == "chunked") {
    while (true) {
      const size_t eol = raw.find("\r\n");
      if (eol == std::string_view::npos) break;
      const size_t size = std::stoul(std::string(raw.substr(0, eol)), nullptr, 16);
      raw.remove_prefix(eol + 2);
      if (size == 0) break;
      res.body.append(raw.substr(0, size));
      raw.remove_prefix(std::min(raw.size(), size + 2));
    }
  } else if (res.has("Content-Length")) {
    res.body = std::string(raw.substr(0, std::stoul(res.header("Content-Length"))));
  } else {
    res.body = std::string(raw);
  }
  return res;
}

struct RawRequest {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers{};  // Host added unless given
  std::string body{};                                          // Content-Length added if set
  bool chunked = false;                                        // send the body chunked
};

inline std::string serialise(const RawRequest& r, int port) {
  std::string out = r.method + " " + r.target + " HTTP/1.1\r\n";
  bool hasHost = false;
  for (const auto& [name, value] : r.headers) {
    hasHost = hasHost || name == "Host";
    out += name + ": " + value + "\r\n";
  }
  if (!hasHost) out += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  if (r.chunked) {
    out += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if (!r.body.empty()) {
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", r.body.size());
      out += size + r.body + "\r\n";
    }
    return out + "0\r\n\r\n";
  }
  if (!r.body.empty()) out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  return out + "Connection: close\r\n\r\n" + r.body;
}

// One request on a fresh connection (Connection: close), the whole response read back.
inline RawResponse exchange(int port, const RawRequest& request) {
  const int fd = connectLoopback(port);
  if (fd < 0) return {};
  sendAll(fd, serialise(request, port));
  const std::string raw = readAll(fd);
  close(fd);
  return parseResponse(raw, request.method == "HEAD");
}

inline RawResponse get(int port, const std::string& target,
                       std::vector<std::pair<std::string, std::string>> headers = {}) {
  return exchange(port,
                  RawRequest{.method = "GET", .target = target, .headers = std::move(headers)});
}

// Polls `condition` until it holds or `timeout` passes (docs/design.md "Code conventions": wait on
// a condition, never sleep a fixed time).
inline bool waitFor(const std::function<bool()>& condition,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // poll interval, not a wait
  }
  return condition();
}

}  // namespace egresslab::httpbin::testing

#include <curl/curl.h>

namespace egresslab::httpbin::testing {

struct CurlOutcome {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
};

// One GET with libcurl; `caPem` is the only trusted CA (empty = no verification).
inline CurlOutcome curlGet(const std::string& url, const std::string& caPem) {
  CurlOutcome out;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* user) -> size_t {
        static_cast<std::string*>(user)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.body);
  if (caPem.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  } else {
    curl_blob blob{const_cast<char*>(caPem.data()), caPem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
  }
  out.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  curl_easy_cleanup(curl);
  return out;
}

}  // namespace egresslab::httpbin::testing
