// How one Envoy picks a host of one cluster, and how its outlier detector and circuit breakers
// change that over time (docs/istio-behaviour.md §R3 outlier detection, §R4 load-balancing
// defaults, §R5 priorities and failover, §R6 circuit breakers).
//
// Pure state machines: no I/O, no clocks (callers pass the time, in the simulation's clock so
// that `--time-scale` shortens ejections like every other delay), no threads (callers lock), and
// randomness comes from the caller. One ClusterLb is the state one proxy keeps for one cluster:
// Envoy's decisions depend on it (round-robin position, requests in flight per host, who is
// ejected and for how long), not only on which endpoints are ready.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "harness/mesh/config.h"

namespace egresslab::mesh {

// Milliseconds on the caller's clock (the simulation clock: scaled by --time-scale).
using LbTime = std::chrono::milliseconds;
using RandomSource = std::function<std::uint64_t()>;

// ------------------------------------------------------------------------ load-balancing policy
enum class LbPolicy { kRoundRobin, kLeastRequest, kRandom };
// "ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN" (Istio's deprecated alias of LEAST_REQUEST),
// "RANDOM"; anything else (CLUSTER_PROVIDED, "") → round robin.
LbPolicy lbPolicyFromName(std::string_view name);

// ------------------------------------------------------------------------ outlier detection
// What one attempt told the outlier detector about a host (§R3: upstream 5xx, connect failures
// and resets, timeouts; Istio leaves split_external_local_origin_errors off, so local-origin
// failures count as 5xx: a connect failure or reset as 503, a timeout as 504).
enum class OutlierInput { kSuccess, kHttp5xx, kConnectFailure, kReset, kTimeout };

// The outlier detector of one cluster (Envoy's DetectorImpl, consecutive-error detectors only:
// Istio forces success-rate enforcement to 0).
class OutlierDetector {
 public:
  OutlierDetector(OutlierDetection config, std::size_t hosts, LbTime now);

  // One result for host `host`. `status` is the HTTP status for kHttp5xx (502/503/504 are also
  // gateway errors). Ejects at once when a consecutive counter reaches its threshold, enforcing
  // is on and maxEjectionPercent allows it (at least one host is always ejectable). Returns true
  // when this call ejected the host.
  bool report(std::size_t host, OutlierInput input, std::uint32_t status, LbTime now);
  // Runs the interval sweeps due by `now`: un-ejects hosts whose time is up (base ejection time
  // × times ejected, capped at max(maxEjectionTime, base)) and lowers the multiplier of hosts
  // that stayed healthy for an interval.
  void advance(LbTime now);

  [[nodiscard]] bool ejected(std::size_t host) const { return hosts_.at(host).ejected; }
  [[nodiscard]] std::size_t ejectedCount() const;
  [[nodiscard]] std::uint32_t timesEjected(std::size_t host) const {
    return hosts_.at(host).timesEjected;
  }
  [[nodiscard]] const OutlierDetection& config() const { return config_; }

 private:
  struct Host {
    std::uint32_t consecutive5xx = 0;
    std::uint32_t consecutiveGateway = 0;
    std::uint32_t timesEjected = 0;
    bool ejected = false;
    LbTime ejectedAt{};
    LbTime healthySince{};
  };
  bool eject(std::size_t host, LbTime now);
  [[nodiscard]] LbTime ejectionLength(const Host& h) const;

  OutlierDetection config_;
  std::vector<Host> hosts_;
  LbTime nextSweep_;
};

// ------------------------------------------------------------------------ priorities (§R5)
// The priority of each endpoint for a client at `clientLocality` with pod labels `clientLabels`,
// as istiod's applyLocalityFailover / failoverPriority assign them, compacted to 0..N.
// `failover` holds (from region, to region) rules; `failoverPriority` the ordered label list
// (entries "label=value" override the client's value, 1.18+). Only meaningful when the cluster
// has outlier detection; the caller decides that.
struct FailoverSettings {
  std::vector<std::pair<std::string, std::string>> failover;
  std::vector<std::string> failoverPriority;
  bool useLocality = true;  // region/zone/subzone priorities (locality LB enabled)
};
std::vector<std::uint32_t> endpointPriorities(std::span<const Endpoint> endpoints,
                                              std::string_view clientLocality,
                                              const Labels& clientLabels,
                                              const FailoverSettings& settings);

// ------------------------------------------------------------------------ host selection
// Envoy's load balancer state of one cluster on one proxy. Hosts are the cluster's endpoints by
// index; `available` says which of them istiod currently sends (ready endpoints, §7).
class ClusterLb {
 public:
  ClusterLb(const Cluster& cluster, LbTime now);

  struct Pick {
    std::optional<std::size_t> host;  // index into cluster.endpoints; nullopt = no host (503 UH)
    bool panic = false;               // chosen in panic mode (over ejected hosts too)
  };
  // Chooses a host among `available` endpoints (indices into the cluster's endpoints): the
  // priority level by Envoy's priority load (overprovisioning factor 1.4), panic per level when
  // its healthy share is below the panic threshold (all hosts of the level then), then the
  // cluster's policy — round robin (weighted: earliest deadline first), least request (power of
  // two choices when weights are equal, else weight / (active + 1)), random. A host in
  // `previous` (the retry's previous-hosts predicate) is re-picked up to 5 times
  // (host_selection_retry_max_attempts), then the last pick stands.
  Pick pick(std::span<const std::size_t> available, std::span<const std::size_t> previous,
            const RandomSource& random, LbTime now);

  // Requests in flight on a host (least request).
  void requestStarted(std::size_t host);
  void requestFinished(std::size_t host);
  [[nodiscard]] std::uint32_t active(std::size_t host) const { return active_.at(host); }

  // The outcome of an attempt on `host`, for outlier detection (no-op without it).
  void report(std::size_t host, OutlierInput input, std::uint32_t status, LbTime now);
  [[nodiscard]] bool ejected(std::size_t host) const;
  [[nodiscard]] const OutlierDetector* outlier() const { return outlier_ ? &*outlier_ : nullptr; }
  [[nodiscard]] LbPolicy policy() const { return policy_; }

 private:
  std::optional<std::size_t> choose(std::span<const std::size_t> hosts, std::uint32_t level,
                                    const RandomSource& random);

  LbPolicy policy_;
  std::uint32_t panicThreshold_;
  std::vector<std::uint32_t> weight_;
  std::vector<std::uint32_t> priority_;
  std::vector<std::uint32_t> active_;
  std::vector<std::uint64_t> rrPosition_;  // per priority level
  std::vector<double> edfDeadline_;        // weighted round robin: per host
  std::optional<OutlierDetector> outlier_;
};

// ------------------------------------------------------------------------ circuit breakers (§R6)
// The cluster-wide resources of one proxy's cluster. Envoy never queues beyond the limits: a
// request over them is answered 503 UO (overflow) at once, and overflow is never retried.
class CircuitBreakerState {
 public:
  explicit CircuitBreakerState(CircuitBreakers limits) : limits_(limits) {}

  // A request wants to start (max_requests). False = overflow.
  bool tryStartRequest();
  void finishRequest();
  // A connection slot (max_connections): true and counted, or false when at the limit. Envoy's
  // pool that has no connection at all to its host creates one even at the limit (counted, so
  // the others stay limited): `poolEmpty` (conn_pool_base.cc tryCreateNewConnection, §R6).
  bool tryOpenConnection(bool poolEmpty = false);
  void closeConnection();
  // No connection available: may the request wait (max_pending_requests)? True and counted.
  bool tryStartPending();
  void finishPending();
  // A retry wants to start (max_retries). False = overflow: no retry, flag UO.
  bool tryStartRetry();
  void finishRetry();

  [[nodiscard]] std::uint64_t connections() const { return connections_; }
  [[nodiscard]] std::uint64_t pending() const { return pending_; }
  [[nodiscard]] std::uint64_t requests() const { return requests_; }
  [[nodiscard]] std::uint64_t retries() const { return retries_; }
  [[nodiscard]] const CircuitBreakers& limits() const { return limits_; }

 private:
  CircuitBreakers limits_;
  std::uint64_t connections_ = 0;
  std::uint64_t pending_ = 0;
  std::uint64_t requests_ = 0;
  std::uint64_t retries_ = 0;
};

}  // namespace egresslab::mesh
