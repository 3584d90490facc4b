// The loopback data plane of one simulated run (docs/design.md "Networking inside sim"): every
// proxy of a compiled mesh (ingress/egress gateways, sidecars) as real listeners on 127.0.0.1 with
// real TLS, one httpbin mock per `upstreams:` entry, pod DNS, the virtual network that maps the
// scenario's logical addresses (pod IPs, ClusterIPs, DNS answers, port-forwards) onto the
// ephemeral listeners this run bound, readiness probes, access logs and faults.
//
// Routing, cluster, TLS, retry and flag decisions are all made by harness/mesh (decisions.h);
// this module only moves bytes the way those decisions say.
//
// The proxies are event-driven (Boost.Asio): a few worker threads, each with its own event loop,
// serve every connection; nothing in the data plane takes a thread per connection.
//
// Thread safety: public members may be called from any thread once start() returned, except from
// a data-plane worker itself (the hooks of execOptionsFor() run on the caller's thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/error.h"
#include "harness/curl/execute.h"
#include "harness/mesh/config.h"
#include "harness/model/scenario.h"

namespace egresslab::sim {

// Simulated time: probe periods, initial delays and Envoy's 15 s warming run `timeScale` times
// faster than the wall clock (--time-scale). A seam so tests can speed time up.
class SimClock {
 public:
  explicit SimClock(double timeScale = 1.0);
  // Real duration of a simulated one.
  [[nodiscard]] std::chrono::steady_clock::duration real(std::chrono::milliseconds simulated) const;
  [[nodiscard]] double timeScale() const { return scale_; }

 private:
  double scale_;
};

struct SimOptions {
  double timeScale = 1.0;
  // Envoy's default initial_fetch_timeout for SDS (§5, §11.2), in simulated time.
  std::chrono::milliseconds warmingTimeout{15000};
  // Run readiness probes after start (periodic). Off in tests that drive probes by hand.
  bool periodicProbes = true;
  // Bind the literal local ports of the scenario's portForwards on 127.0.0.1 (`sim up`).
  bool bindLiteralPortForwards = false;
  // Data-plane limits (docs/dependencies.md, "The data plane"): connections one listener serves
  // at once (beyond: accepted and closed, one log line), and the deadline for one request
  // (headers and body) to arrive — per request, not per read.
  std::size_t maxConnectionsPerListener = 16384;
  std::chrono::milliseconds requestTimeout{60000};
};

// One access-log line of one proxy.
struct LogRecord {
  std::uint64_t seq = 0;  // order of request arrival (hop order)
  std::string proxy;      // display name: "istio-ingressgateway", or "NS/NAME" when ambiguous
  std::string requestId;  // "" for TCP lines
  std::string flags;      // formatted response flags ("-", "UF,URX", …)
  std::string line;       // the line in the version's format (§9)
  bool tcp = false;       // a TCP proxy line ("- - -"): joined by connection, not by request id
  // The connection's two ends as this proxy saw them (real 127.0.0.1 addresses): hop n+1's
  // downstream remote address is hop n's upstream local address (docs/design.md "Every hop
  // observable, HTTP or not").
  std::string downstreamRemoteAddress;
  std::string upstreamLocalAddress;
};

class SimMesh {
 public:
  // Compiles, mints the run's PKI, starts mocks and proxies, runs the first readiness probes.
  static Result<std::unique_ptr<SimMesh>> start(const model::Scenario& scenario,
                                                const SimOptions& options);
  ~SimMesh();
  SimMesh(const SimMesh&) = delete;
  SimMesh& operator=(const SimMesh&) = delete;

  // Stops every listener, connection, prober and mock; idempotent.
  void stop();

  const mesh::CompiledMesh& compiled() const;

  // The run's "system" trust store (public CA) and the scenario CA file for `${ca}`.
  const std::string& publicCaPem() const;
  const std::filesystem::path& scenarioCaPath() const;
  // The public CA as a PEM file: what every upstream server's certificate chains to (`sim up`
  // prints it, for a real curl's --cacert).
  const std::filesystem::path& publicCaPath() const;

  // curl placement: the host's or a pod's DNS and network (ExecOptions hooks), §3.
  // `from` = "NS/POD"; error when the pod is unknown.
  Result<curl::ExecOptions> execOptionsFor(const std::optional<std::string>& from) const;

  // Access-log lines with this x-request-id, in hop order.
  std::vector<LogRecord> logsFor(const std::string& requestId) const;
  // Every hop of one curl, in hop order: HTTP lines by `requestId`, TCP lines by connection —
  // the first proxy's downstream remote address is `curlLocalAddress` ("127.0.0.1:PORT", curl's
  // own end), each next hop's is the previous hop's upstream local address. Only lines of
  // connections accepted after `sinceSeq` (logSequence() before the curl) are considered. TCP
  // hops still open are waited for, at most `wait` (they log when the connection ends).
  std::vector<LogRecord> logsForCurl(const std::string& requestId,
                                     const std::string& curlLocalAddress, std::uint64_t sinceSeq,
                                     std::chrono::milliseconds wait) const;
  std::uint64_t logSequence() const;
  std::vector<LogRecord> allLogs() const;

  // Applies one fault (docs/scenarios.md "Faults"); a ttl schedules its end.
  Result<void> fault(const model::FaultSpec& fault);
  // Ends every fault: upstream servers serve normally, DNS answers as declared, killed gateways
  // are restored (NotReady until their probe passes). Pending ttls are moot.
  void undoFaults();
  // {"upstreams":[{name,host,port,address,tls,target,faults}],"gateways":[{target,killed,ready}],
  //  "dns":[{target,answer}]} — the fault-control API's GET /faults.
  nlohmann::json faultState() const;

  // The upstream `name` whose mock answered this x-request-id last (its own accounting,
  // mocks/httpbin/served_log.h); "" when no mock did. A load's servedBy (load_served_by.cpp).
  std::string servedBy(const std::string& requestId) const;

  // Readiness of a gateway pod ("NS/NAME"), as endpoints see it (§7).
  bool gatewayReady(std::string_view nsName) const;
  // Runs one probe round for every gateway now (tests; `up`).
  void probeNow();

  // Human-readable endpoints (port-forwards, gateways, upstream mocks), for --keep / sim up.
  std::vector<std::string> endpoints() const;
  // Where a port-forward's local port really is ("127.0.0.1:PORT"); nullopt if none.
  std::optional<curl::SocketAddress> portForwardTarget(std::uint32_t localPort) const;

  struct Impl;

 private:
  explicit SimMesh(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace egresslab::sim
