// The fault-control listener of the httpbin mock (`egresslab mock httpbin --control HOST:PORT`).
//
//   GET  /faults   → 200 {"faults":[{"action":"latency","ms":100}, …]}
//   POST /faults   body: one fault as JSON (fault.h) → 200 {"faults":[…]} after it took effect;
//                  bad JSON, unknown action or key, wrong type or range → 400 with the reason
//                  ({"status_code":400,"error":"Bad Request","detail":"…"})
//   DELETE /faults → same as POST {"action":"up"}
//
// A separate port from the data listener, so `down` and `reset` never cut the control path.
#pragma once

#include <memory>
#include <string>

#include "harness/core/error.h"
#include "mocks/httpbin/httpbin_server.h"

namespace egresslab::httpbin {

class FaultControlServer {
 public:
  // Serves control requests for `target`, which must outlive the returned server.
  static Result<std::unique_ptr<FaultControlServer>> start(HttpbinServer& target,
                                                           const std::string& host, int port);
  ~FaultControlServer();
  FaultControlServer(const FaultControlServer&) = delete;
  FaultControlServer& operator=(const FaultControlServer&) = delete;

  int port() const;
  std::string url() const;
  void stop();

 private:
  struct Impl;
  explicit FaultControlServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace egresslab::httpbin
