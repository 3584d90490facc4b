// The httpbin mock: a go-httpbin compatible HTTP(S) server that plays the legacy upstream in
// every scenario (docs/design.md module map, docs/httpbin.md), with fault injection.
//
// Endpoints and compatibility choices are listed in docs/httpbin.md. In short: go-httpbin v2.25
// behaviour (arrays for args/headers/form values, `method` in echo bodies, JSON errors
// {"status_code","error","detail"}, 400 for bad input), bodies up to 1 MiB, delays up to 10 s,
// CORS on every response and OPTIONS preflight on every path, HEAD without a body. /hostname
// answers the configured name, so a scenario can prove which upstream answered.
//
// Serving (http_server.h): an event loop reads requests (a slow or idle client costs a
// connection, never a worker thread), a worker pool that grows on demand runs handlers,
// deadlines bound the header, the body and each write, a 4xx for bad framing closes the
// connection, bodies are limited to 1 MiB in every framing. TCP_NODELAY on, SO_REUSEADDR
// without SO_REUSEPORT (a stale server on the same port must fail the bind, not share traffic),
// TLS 1.2 minimum.
//
// Faults (fault.h) are applied in-process with applyFault, or over HTTP by FaultControlServer
// (control_server.h). `down` and `reset` swap the data listener; the port never changes.
//
// Thread safety: every public member may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/core/error.h"
#include "harness/pki/pki.h"
#include "mocks/httpbin/fault.h"
#include "mocks/httpbin/served_log.h"

namespace egresslab::httpbin {

struct HttpbinOptions {
  std::string host = "127.0.0.1";    // listen address (IPv4/IPv6 literal or a name)
  int port = 0;                      // 0 = an ephemeral port; read it back with port()
  std::string hostname = "httpbin";  // what /hostname answers
  // Serve HTTPS with this certificate (chainPem if set, else certPem) and key.
  std::optional<pki::KeyPair> tls{};
  // Served during a bad-cert fault; minted from a fresh unrelated CA when absent.
  std::optional<pki::KeyPair> badCert{};
  // The CA that issued `tls`: the cert faults (expired, wrong-host, rotate) mint from it, for
  // `certNames` (default: hostname, localhost, 127.0.0.1). Without it they are refused.
  std::optional<pki::CertificateAuthority> issuer{};
  std::vector<std::string> certNames{};
  int threads = 64;           // requests handled at once (worker threads, started on demand)
  int maxConnections = 1024;  // open connections; more are closed at accept, with a notice
  std::chrono::milliseconds idleTimeout{5000};     // keep-alive wait for the next request
  std::chrono::milliseconds headerTimeout{10000};  // whole header (or TLS handshake)
  std::chrono::milliseconds bodyTimeout{30000};    // whole request body
  // One line per request (and per connection reset by a `reset` fault), from server threads:
  //   <hostname> <client-ip>:<port> "<METHOD> <target> HTTP/1.1" <status> <bytes> <ms>ms
  //   sni=<name|-> fault=<latency,status|-> ua="<user agent>"
  //   <hostname> <client-ip>:<port> "-" 000 0 0.0ms sni=- fault=reset ua="-"
  std::function<void(const std::string&)> accessLog{};
};

class HttpbinServer {
 public:
  // Binds and starts serving before returning. Errors: kEnvironment when the address cannot be
  // bound, kInvalidInput for unusable TLS material or options.
  static Result<std::unique_ptr<HttpbinServer>> start(HttpbinOptions options);
  ~HttpbinServer();
  HttpbinServer(const HttpbinServer&) = delete;
  HttpbinServer& operator=(const HttpbinServer&) = delete;

  std::string host() const;
  int port() const;
  bool tls() const;
  // "http://127.0.0.1:PORT" or "https://…" (IPv6 hosts bracketed).
  std::string url() const;
  const std::string& hostname() const;

  // Applies one fault (see fault.h). `up` clears all. `bad-cert` on a plain-HTTP server is an
  // invalidInput error. Returns once the data port behaves as asked (e.g. refuses after down).
  Result<void> applyFault(const Fault& fault);
  void clearFaults();
  // Ends one fault if it is still the active one of its kind (the listener's mode, the
  // certificate, latency, status): true when it was, false when a later fault replaced it or it
  // had ended. Used by a fault's ttl and by per-fault undo; `up` ends nothing.
  Result<bool> endFault(const Fault& fault);
  // Active faults in a stable order: down|reset|close|blackhole, bad-cert|cert, latency, status.
  // Empty when healthy.
  std::vector<Fault> activeFaults() const;

  // Which requests this server answered, by x-request-id (served_log.h): every response a
  // handler wrote, faults included.
  const ServedLog& served() const;

  // Stops serving and closes every connection; idempotent (the destructor calls it).
  void stop();

 private:
  struct Impl;
  explicit HttpbinServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace egresslab::httpbin
