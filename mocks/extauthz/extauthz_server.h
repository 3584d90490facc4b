// The external authorization mock: a real server that answers Envoy's ext_authz checks by a
// scenario's rules (decide.h), over Envoy's HTTP ext_authz protocol (a check is the original
// request's method, path and selected headers; 200 allows, any other status denies, 5xx is an
// error) and over gRPC `envoy.service.auth.v3.Authorization/Check` (status OK allows with
// `ok_response`, PERMISSION_DENIED denies with `denied_response`) — docs/istio-behaviour.md §X1.
// The gRPC service is wire-compatible with Envoy's, so the sim's client also talks to a real
// OPA envoy plugin, and a real Envoy to this mock.
//
// Loopback only: start() refuses any other address. Thread safety: every public member may be
// called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "harness/core/error.h"
#include "harness/model/ext_authz_server.h"

namespace egresslab::extauthz {

struct ExtAuthzServerOptions {
  std::string host = "127.0.0.1";  // a loopback address
  std::optional<int> httpPort;     // serve HTTP checks on this port (0 = ephemeral)
  std::optional<int> grpcPort;     // serve gRPC checks on this port (0 = ephemeral)
  model::ExtAuthzRules rules;
  // One line per check, from server threads:
  //   extauthz <http|grpc> "<METHOD> <path>" <allowed|denied> <status> principal=<p|->
  //   rule=<n|default>
  std::function<void(const std::string&)> accessLog;
};

class ExtAuthzServer {
 public:
  // Binds and serves before returning. kInvalidInput for a non-loopback host or no port at all;
  // kEnvironment when a port cannot be bound.
  static Result<std::unique_ptr<ExtAuthzServer>> start(ExtAuthzServerOptions options);
  ~ExtAuthzServer();
  ExtAuthzServer(const ExtAuthzServer&) = delete;
  ExtAuthzServer& operator=(const ExtAuthzServer&) = delete;

  // The bound ports (0 when that protocol is not served).
  [[nodiscard]] int httpPort() const;
  [[nodiscard]] int grpcPort() const;
  [[nodiscard]] const std::string& host() const;
  // Checks answered so far (both protocols).
  [[nodiscard]] std::uint64_t checks() const;

  // Stops both listeners; checks waiting out a latency end at once. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit ExtAuthzServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace egresslab::extauthz
