#include "harness/sim/cluster_state.h"

#include <boost/asio/post.hpp>

namespace egresslab::sim {

ClusterState::ClusterState(const mesh::Cluster& cluster, mesh::LbTime now)
    : cluster_(&cluster), lb_(cluster, now), breakers_(cluster.circuitBreakers) {}

const mesh::Endpoint* ClusterState::pick(const std::vector<const mesh::Endpoint*>& healthy,
                                         const std::vector<const mesh::Endpoint*>& tried,
                                         const mesh::RandomSource& random, mesh::LbTime now) {
  std::vector<std::size_t> available, previous;
  available.reserve(healthy.size());
  for (const auto* e : healthy) available.push_back(indexOf(*e));
  for (const auto* e : tried) {
    if (e != nullptr && !cluster_->endpoints.empty() && e >= cluster_->endpoints.data() &&
        e < cluster_->endpoints.data() + cluster_->endpoints.size()) {
      previous.push_back(indexOf(*e));
    }
  }
  std::lock_guard lock(mu_);
  const mesh::ClusterLb::Pick p = lb_.pick(available, previous, random, now);
  if (!p.host) return nullptr;
  lb_.requestStarted(*p.host);
  return &cluster_->endpoints[*p.host];
}

void ClusterState::finished(const mesh::Endpoint& e) {
  std::lock_guard lock(mu_);
  lb_.requestFinished(indexOf(e));
}

void ClusterState::report(const mesh::Endpoint& e, const mesh::AttemptOutcome& outcome,
                          mesh::LbTime now) {
  const auto input = outlierInputOf(outcome);
  if (!input) return;
  std::lock_guard lock(mu_);
  lb_.report(indexOf(e), *input, outcome.status, now);
}

bool ClusterState::ejected(const mesh::Endpoint& e) {
  std::lock_guard lock(mu_);
  return lb_.ejected(indexOf(e));
}

bool ClusterState::tryStartRequest() {
  std::lock_guard lock(mu_);
  return breakers_.tryStartRequest();
}

void ClusterState::finishRequest() {
  std::lock_guard lock(mu_);
  breakers_.finishRequest();
}

bool ClusterState::tryOpenConnection(bool poolEmpty) {
  std::lock_guard lock(mu_);
  return breakers_.tryOpenConnection(poolEmpty);
}

void ClusterState::closeConnection() {
  std::shared_ptr<asio::steady_timer> wake;
  {
    std::lock_guard lock(mu_);
    breakers_.closeConnection();
    while (!waiters_.empty() && !wake) {
      wake = waiters_.front().lock();
      waiters_.erase(waiters_.begin());
    }
  }
  if (wake) {
    asio::post(wake->get_executor(), [wake] { wake->cancel(); });
  }
}

bool ClusterState::tryStartPending() {
  std::lock_guard lock(mu_);
  return breakers_.tryStartPending();
}

void ClusterState::finishPending() {
  std::lock_guard lock(mu_);
  breakers_.finishPending();
}

bool ClusterState::tryStartRetry() {
  std::lock_guard lock(mu_);
  return breakers_.tryStartRetry();
}

void ClusterState::finishRetry() {
  std::lock_guard lock(mu_);
  breakers_.finishRetry();
}

void ClusterState::waitForConnection(std::shared_ptr<asio::steady_timer> timer) {
  std::lock_guard lock(mu_);
  waiters_.push_back(timer);
}

ClusterState& ClusterStates::get(const mesh::Cluster& cluster, mesh::LbTime now) {
  std::lock_guard lock(mu_);
  auto& slot = byName_[cluster.name];
  if (!slot) slot = std::make_unique<ClusterState>(cluster, now);
  return *slot;
}

std::optional<mesh::OutlierInput> outlierInputOf(const mesh::AttemptOutcome& outcome) {
  using K = mesh::AttemptOutcome::Kind;
  switch (outcome.kind) {
    case K::kResponse:
      return outcome.status >= 500 ? mesh::OutlierInput::kHttp5xx : mesh::OutlierInput::kSuccess;
    case K::kConnectFailure:
      return mesh::OutlierInput::kConnectFailure;
    case K::kConnectionReset:
    case K::kProtocolError:
      return mesh::OutlierInput::kReset;
    case K::kTimeout:
      return mesh::OutlierInput::kTimeout;
    case K::kOverflow:
      return std::nullopt;  // Envoy does not count overflow against the host (§R3)
  }
  return std::nullopt;
}

}  // namespace egresslab::sim
