// go-httpbin's endpoints for the httpbin mock (internal to mocks/httpbin; the public API is
// httpbin_server.h). `serveRequest` answers one request the way go-httpbin v2.25 does
// (docs/httpbin.md, go-httpbin behaviour), with limits of 1 MiB bodies and 10 s delays.
#pragma once

#include <httplib.h>

#include <chrono>
#include <functional>
#include <string>

namespace egresslab::httpbin::detail {

inline constexpr size_t kMaxBodySize = 1024 * 1024;
inline constexpr std::chrono::seconds kMaxDuration{10};
// JSON request bodies nested deeper are refused (400); deeper than the second, echoed compact so
// the answer stays linear in the request (docs/httpbin.md "Compatibility choices").
inline constexpr size_t kMaxJsonDepth = 1000;
inline constexpr size_t kMaxPrettyJsonDepth = 32;

// Request headers the server renames before the handlers see them (a legacy of serving through
// cpp-httplib, which acted on them itself); echo endpoints map them back to their real names.
inline constexpr const char* kContentTypeHeader = "X-Egresslab-Internal-Content-Type";
inline constexpr const char* kAcceptEncodingHeader = "X-Egresslab-Internal-Accept-Encoding";
// Marks a "Content-Length: 0" the server added itself to a request without one. Echo endpoints
// hide both headers.
inline constexpr const char* kSyntheticLengthHeader = "X-Egresslab-Internal-Synthetic-Length";

// What a handler needs from the server instance.
struct ServeContext {
  std::string hostname;  // /hostname answers this
  bool tls = false;      // the data port speaks HTTPS
  // Sleeps up to `d`; false when the server is stopping (the handler should give up).
  std::function<bool(std::chrono::nanoseconds)> wait;
};

// Runs before serveRequest: renames the headers above and drops a parsed Range (only /range
// honours it, by parsing the header itself); handlers route on req.target.
void normaliseRequest(httplib::Request& req);

// Answers one request: CORS preflight for OPTIONS on any path, else the endpoint.
void serveRequest(const ServeContext& ctx, const httplib::Request& req, httplib::Response& res);

// Whether serveRequest may call `ctx.wait` for this request (/delay, /drip, /range): such
// requests run on a worker thread, the rest may be answered on an I/O thread.
bool mayWait(const httplib::Request& req);

// go-httpbin's JSON error body: {"status_code":N,"error":"<status text>"[,"detail":"…"]}.
void writeError(httplib::Response& res, int code, const std::string& detail = {});

// Access-Control-Allow-Origin/-Credentials, added to every response (§0.7).
void addCorsHeaders(const httplib::Request& req, httplib::Response& res);

}  // namespace egresslab::httpbin::detail
