// The fault-control listener of the httpbin mock (`egresslab mock httpbin --control HOST:PORT`).
//
//   GET  /faults   → 200 {"faults":[{"action":"latency","ms":100}, …]}
//   POST /faults   body: one fault as JSON (fault.h) → 200 {"faults":[…]} after it took effect;
//                  bad JSON, unknown action or key, wrong type or range → 400 with the reason
//                  ({"status_code":400,"error":"Bad Request","detail":"…"})
//   DELETE /faults → same as POST {"action":"up"}
//   GET  /served   → 200 {"hostname":"crm-a","requests":{"<x-request-id>":<sequence>,…}}: the
//                  requests this server answered (served_log.h), for a load's servedBy
//
// A separate port from the data listener, so `down` and `reset` never cut the control path.
//
// Closed to everything but the local user by default (docs/httpbin.md "Fault control"): without
// a token it binds loopback addresses only, answers loopback peers only and requires a loopback
// `Host` (no DNS rebinding); with a token every request needs `Authorization: Bearer TOKEN`.
// Always: a request with a foreign `Origin` is refused (403) and POST needs a JSON content type
// (415), so a web page cannot drive it with a cross-site form or text POST.
//
// ControlServer is the same listener with its admission rules for any JSON control API (the
// simulator's `sim up` fault API uses it): the handler sees only admitted requests, and POSTs
// only with a JSON content type.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "harness/core/error.h"
#include "mocks/httpbin/httpbin_server.h"

namespace egresslab::httpbin {

struct ControlOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = ephemeral
  // Empty: loopback only. Otherwise the bearer token every request must carry, and any
  // address may be bound.
  std::string token{};
};

struct ControlRequest {
  std::string method{};  // GET, POST, DELETE, …
  std::string path{};    // without the query string
  std::string body{};    // POST: with a JSON content type (checked before the handler runs)
};

struct ControlResponse {
  int status = 200;
  nlohmann::json body{};  // status 2xx: the JSON answer
  std::string detail{};   // otherwise: the reason, answered as {"status_code","error","detail"}
  std::string allow{};    // 405: the Allow header
};

using ControlHandler = std::function<ControlResponse(const ControlRequest&)>;

// A loopback (or token-guarded) JSON control listener. Handler calls may run on several
// threads at once.
class ControlServer {
 public:
  // Errors: kInvalidInput for a non-loopback address without a token, kEnvironment when it
  // cannot bind.
  static Result<std::unique_ptr<ControlServer>> start(ControlHandler handler,
                                                      const ControlOptions& options);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  int port() const;
  std::string url() const;  // "http://127.0.0.1:PORT"
  void stop();

 private:
  struct Impl;
  explicit ControlServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class FaultControlServer {
 public:
  // Serves control requests for `target`, which must outlive the returned server. Errors:
  // kInvalidInput for a non-loopback address without a token, kEnvironment when it cannot bind.
  static Result<std::unique_ptr<FaultControlServer>> start(HttpbinServer& target,
                                                           const ControlOptions& options);
  static Result<std::unique_ptr<FaultControlServer>> start(HttpbinServer& target,
                                                           const std::string& host, int port) {
    return start(target, ControlOptions{.host = host, .port = port});
  }
  ~FaultControlServer();
  FaultControlServer(const FaultControlServer&) = delete;
  FaultControlServer& operator=(const FaultControlServer&) = delete;

  int port() const;
  std::string url() const;
  void stop();

 private:
  explicit FaultControlServer(std::unique_ptr<ControlServer> server);
  std::unique_ptr<ControlServer> server_;
};

}  // namespace egresslab::httpbin
