#include "harness/curl/write_out.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace egresslab::curl {
namespace {

// curl prints times as seconds with six decimals ("0.012345").
std::string seconds(std::chrono::microseconds us) {
  const auto count = us.count();
  return fmt::format("{}.{:06}", count / 1000000, count % 1000000);
}

using Getter = std::string (*)(const CurlResult&);

constexpr std::array<std::pair<std::string_view, Getter>, 23> kVariables = {{
    {"http_code", [](const CurlResult& r) { return fmt::format("{:03}", r.status); }},
    {"response_code", [](const CurlResult& r) { return fmt::format("{:03}", r.status); }},
    {"exitcode", [](const CurlResult& r) { return std::to_string(r.exitCode); }},
    {"errormsg",
     [](const CurlResult& r) {
       // The text after "curl: (N) ", as curl's %{errormsg}.
       const auto close = r.errorMessage.find(") ");
       return close == std::string::npos ? std::string() : r.errorMessage.substr(close + 2);
     }},
    {"time_total", [](const CurlResult& r) { return seconds(r.timings.total); }},
    {"time_namelookup", [](const CurlResult& r) { return seconds(r.timings.nameLookup); }},
    {"time_connect", [](const CurlResult& r) { return seconds(r.timings.connect); }},
    {"time_appconnect", [](const CurlResult& r) { return seconds(r.timings.appConnect); }},
    {"time_pretransfer", [](const CurlResult& r) { return seconds(r.timings.preTransfer); }},
    {"time_starttransfer", [](const CurlResult& r) { return seconds(r.timings.startTransfer); }},
    {"time_redirect", [](const CurlResult& r) { return seconds(r.timings.redirect); }},
    {"size_download", [](const CurlResult& r) { return std::to_string(r.sizeDownload); }},
    {"remote_ip", [](const CurlResult& r) { return r.remoteIp; }},
    {"remote_port", [](const CurlResult& r) { return std::to_string(r.remotePort); }},
    {"local_ip", [](const CurlResult& r) { return r.localIp; }},
    {"local_port", [](const CurlResult& r) { return std::to_string(r.localPort); }},
    {"url_effective", [](const CurlResult& r) { return r.effectiveUrl; }},
    {"num_redirects", [](const CurlResult& r) { return std::to_string(r.numRedirects); }},
    {"http_version",
     [](const CurlResult& r) { return r.httpVersion.empty() ? std::string("0") : r.httpVersion; }},
    {"method", [](const CurlResult& r) { return r.method; }},
    {"content_type", [](const CurlResult& r) { return r.header("content-type").value_or(""); }},
    {"redirect_url", [](const CurlResult& r) { return r.redirectUrl; }},
    {"ssl_verify_result", [](const CurlResult& r) { return std::to_string(r.sslVerifyResult); }},
}};

Getter findVariable(std::string_view name) {
  for (const auto& [candidate, getter] : kVariables) {
    if (candidate == name) return getter;
  }
  return nullptr;
}

// One walk over the format, following curl 7.88's tool_writeout.c: "%%" is '%', "%{" without
// '}' prints as is, an unknown "%x" prints as is, "\n" "\r" "\t" are escapes. With `result`
// null it only validates.
Result<std::string> walk(std::string_view format, const CurlResult* result) {
  std::string out;
  const size_t n = format.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = format[i];
    if (c == '%' && i + 1 < n) {
      const char next = format[i + 1];
      if (next == '%') {
        out += '%';
        ++i;
        continue;
      }
      if (next == '{') {
        const size_t close = format.find('}', i + 2);
        if (close == std::string_view::npos) {
          out += "%{";
          ++i;
          continue;
        }
        const std::string_view name = format.substr(i + 2, close - i - 2);
        const Getter getter = findVariable(name);
        if (getter == nullptr) {
          return invalidInput(
              fmt::format("unsupported --write-out variable '{}' (see docs/curl.md)", name));
        }
        if (result != nullptr) out += getter(*result);
        i = close;
        continue;
      }
      if (format.substr(i + 1).starts_with("header{")) {
        const size_t close = format.find('}', i + 8);
        if (close != std::string_view::npos) {
          const std::string name(format.substr(i + 8, close - i - 8));
          if (result != nullptr) {
            const auto values = result->headerValues(name);
            out += fmt::format("{}", fmt::join(values, ", "));
          }
          i = close;
          continue;
        }
      }
      out += c;
      continue;
    }
    if (c == '\\' && i + 1 < n) {
      const char next = format[++i];
      switch (next) {
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        default:
          out += '\\';
          out += next;
          break;
      }
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

Result<void> validateWriteOut(std::string_view format) {
  auto walked = walk(format, nullptr);
  if (!walked) return std::unexpected(walked.error());
  return {};
}

std::string renderWriteOut(std::string_view format, const CurlResult& result) {
  auto walked = walk(format, &result);
  // Formats are validated when the command is parsed; an unknown variable renders as nothing.
  return walked ? *walked : std::string();
}

}  // namespace egresslab::curl
