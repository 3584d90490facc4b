// What a curl command did, as curl would report it: exit code, status, headers, body, the
// error line, the -w output and timings, plus what went on the wire at the first hop.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace egresslab::curl {

// Per-phase times since the start, as libcurl measures them (CURLINFO_*_TIME_T); with -L they
// add up over the redirect hops, like curl's own -w values.
struct CurlTimings {
  std::chrono::microseconds nameLookup{0};
  std::chrono::microseconds connect{0};
  std::chrono::microseconds appConnect{0};
  std::chrono::microseconds preTransfer{0};
  std::chrono::microseconds startTransfer{0};
  std::chrono::microseconds redirect{0};
  std::chrono::microseconds total{0};
};

// The first request as sent: what a proxy or the server saw from this client.
struct WireRequest {
  std::string method;
  std::string target;      // request-target ("/status/200")
  std::string hostHeader;  // the Host (or :authority) value sent
  std::string sni;         // TLS server name sent; empty for plain HTTP or an IP-literal host
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
};

struct CurlResult {
  // curl's exit code: the CURLcode number (0 ok, 6 resolve, 7 connect, 22 -f on HTTP >= 400,
  // 28 timeout, 35 TLS handshake, 52 empty reply, 56 recv failure, 60 untrusted certificate…).
  int exitCode = 0;
  int status = 0;           // the final response's status; 0 when none came (%{http_code} 000)
  std::string httpVersion;  // "1.1", "2", … of the final response; empty when none came
  // The final response's headers, names lower-cased, every occurrence kept in order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                // the final response's body, at most kBodyCap bytes kept
  bool bodyTruncated = false;      // more than kBodyCap bytes arrived
  std::uint64_t sizeDownload = 0;  // body bytes that arrived (%{size_download})
  std::string errorMessage;        // "curl: (6) Could not resolve host: x"; empty when exit 0
  std::string writeOut;            // the rendered -w output
  int numRedirects = 0;
  std::string effectiveUrl;  // the last URL requested (%{url_effective})
  std::string remoteIp;      // the address curl connected to, as curl saw it (virtual)
  int remotePort = 0;
  std::string localIp;
  int localPort = 0;
  std::string method;        // the final request's method
  std::string redirectUrl;   // Location of the final response when it was not followed
  long sslVerifyResult = 0;  // X509_V_* of the final TLS connection
  CurlTimings timings;
  WireRequest firstHop;
  std::string stdoutText;  // what curl prints on stdout: -i headers, body unless -o, -w output
  std::string stderrText;  // what curl prints on stderr: -v trace, the error unless -s alone

  static constexpr std::size_t kBodyCap = 1 << 20;

  // The first value of a header (name case-insensitive), if present.
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const;
  // Every value of a header, in order.
  [[nodiscard]] std::vector<std::string> headerValues(std::string_view name) const;
};

}  // namespace egresslab::curl
