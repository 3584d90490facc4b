// The live state one simulated proxy keeps for each of its clusters, shared by its workers:
// Envoy's load balancer (round-robin position, requests in flight per host), the outlier
// detector and the circuit breakers (docs/istio-behaviour.md §R3, §R4, §R5, §R6). The pure state
// machines live in harness/mesh/load_balancing.h; this adds the lock, the clock of the run and
// the wake-ups of requests waiting for a connection.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "harness/mesh/decisions.h"
#include "harness/mesh/load_balancing.h"
#include "harness/sim/io.h"

namespace egresslab::sim {

class ClusterState {
 public:
  ClusterState(const mesh::Cluster& cluster, mesh::LbTime now);

  const mesh::Cluster& cluster() const { return *cluster_; }
  [[nodiscard]] std::size_t indexOf(const mesh::Endpoint& e) const {
    return static_cast<std::size_t>(&e - cluster_->endpoints.data());
  }

  // Host selection among `healthy` (ready endpoints of the cluster, §7) avoiding `tried` where it
  // can; counts the request on the host until finished(). Null = no host (503 UH).
  const mesh::Endpoint* pick(const std::vector<const mesh::Endpoint*>& healthy,
                             const std::vector<const mesh::Endpoint*>& tried,
                             const mesh::RandomSource& random, mesh::LbTime now);
  void finished(const mesh::Endpoint& e);
  // What an attempt on `e` told the outlier detector.
  void report(const mesh::Endpoint& e, const mesh::AttemptOutcome& outcome, mesh::LbTime now);
  [[nodiscard]] bool ejected(const mesh::Endpoint& e);

  // Circuit breakers (§R6).
  bool tryStartRequest();
  void finishRequest();
  // `poolEmpty`: the asking pool has no connection to its host (opened even at the limit, §R6).
  bool tryOpenConnection(bool poolEmpty = false);
  // A connection closed: its slot goes to the next request waiting for one, if any.
  void closeConnection();
  bool tryStartPending();
  void finishPending();
  // max_retries (connectionPool.http.maxRetries): room for one more retry in flight.
  bool tryStartRetry();
  void finishRetry();
  // Wakes `timer` (cancels its wait on its own executor) when a connection slot frees.
  void waitForConnection(std::shared_ptr<asio::steady_timer> timer);
  [[nodiscard]] bool limitsConnections() const {
    return cluster_->circuitBreakers.maxConnections != mesh::CircuitBreakers::kUnlimited;
  }

 private:
  std::mutex mu_;
  const mesh::Cluster* cluster_;
  mesh::ClusterLb lb_;
  mesh::CircuitBreakerState breakers_;
  std::vector<std::weak_ptr<asio::steady_timer>> waiters_;
};

// The cluster states of one proxy, created on first use.
class ClusterStates {
 public:
  ClusterState& get(const mesh::Cluster& cluster, mesh::LbTime now);

 private:
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<ClusterState>> byName_;
};

// One connection's slot under the cluster's max_connections: released when the connection is
// destroyed (closed), waking a request that waits for one.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(ClusterState& state) : state_(state) {}
  ~ConnectionSlot() { state_.closeConnection(); }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  ClusterState& state_;
};

// One request's scheduled retry under the cluster's max_retries (§R2.3, §R6). Envoy's
// RetryStateImpl holds the slot from the decision to retry — through the back-off and the retried
// attempt — until the request's next retry decision or its end: release() before each decision,
// the destructor at the end.
class RetrySlot {
 public:
  RetrySlot() = default;
  ~RetrySlot() { release(); }
  RetrySlot(const RetrySlot&) = delete;
  RetrySlot& operator=(const RetrySlot&) = delete;

  // False when the breaker has no room (retry overflow: no retry, flag UO).
  bool acquire(ClusterState& state) {
    release();
    if (!state.tryStartRetry()) return false;
    state_ = &state;
    return true;
  }
  void release() {
    if (state_ != nullptr) state_->finishRetry();
    state_ = nullptr;
  }

 private:
  ClusterState* state_ = nullptr;
};

// A host chosen for one attempt: its request counts as in flight (least request) until the
// lease ends.
class HostLease {
 public:
  HostLease() = default;
  HostLease(ClusterState* state, const mesh::Endpoint* endpoint)
      : state_(state), endpoint_(endpoint) {}
  ~HostLease() {
    if (state_ != nullptr && endpoint_ != nullptr) state_->finished(*endpoint_);
  }
  HostLease(HostLease&& o) noexcept : state_(o.state_), endpoint_(o.endpoint_) {
    o.state_ = nullptr;
    o.endpoint_ = nullptr;
  }
  HostLease& operator=(HostLease&&) = delete;
  HostLease(const HostLease&) = delete;
  HostLease& operator=(const HostLease&) = delete;

  [[nodiscard]] const mesh::Endpoint* endpoint() const { return endpoint_; }
  // The attempt's outcome, for outlier detection (§R3).
  void report(const mesh::AttemptOutcome& outcome, mesh::LbTime now) const {
    if (state_ != nullptr && endpoint_ != nullptr) state_->report(*endpoint_, outcome, now);
  }

 private:
  ClusterState* state_ = nullptr;
  const mesh::Endpoint* endpoint_ = nullptr;
};

// How an attempt's outcome feeds outlier detection (§R3): 5xx responses, connect failures,
// resets and timeouts are errors, other responses successes; overflow is not reported.
std::optional<mesh::OutlierInput> outlierInputOf(const mesh::AttemptOutcome& outcome);

}  // namespace egresslab::sim
