#include "harness/mesh/load_balancing.h"

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <set>

namespace egresslab::mesh {
namespace {

constexpr std::uint32_t kOverprovisioningFactor = 140;  // Envoy's 1.4, Istio keeps it (§R5)
constexpr int kHostSelectionAttempts = 5;               // Istio's previous-hosts retry (§R2.1)

struct Locality {
  std::string region, zone, subzone;
};

Locality parseLocality(std::string_view text) {
  Locality l;
  std::array<std::string*, 3> parts{&l.region, &l.zone, &l.subzone};
  std::size_t i = 0;
  std::size_t from = 0;
  while (i < parts.size()) {
    const std::size_t slash = text.find('/', from);
    *parts[i++] = std::string(text.substr(from, slash - from));
    if (slash == std::string_view::npos) break;
    from = slash + 1;
  }
  return l;
}

// istiod's util.LbPriority (§R5).
std::uint32_t localityPriority(const Locality& client, const Locality& endpoint) {
  if (client.region != endpoint.region) return 3;
  if (client.zone != endpoint.zone) return 2;
  if (client.subzone != endpoint.subzone) return 1;
  return 0;
}

// A failoverPriority label's value for a client or endpoint: the topology labels come from the
// locality, others from the labels.
std::string labelValue(std::string_view label, const Locality& locality, const Labels& labels) {
  if (label == "topology.kubernetes.io/region") return locality.region;
  if (label == "topology.kubernetes.io/zone") return locality.zone;
  if (label == "topology.istio.io/subzone") return locality.subzone;
  auto it = labels.find(std::string(label));
  return it == labels.end() ? std::string() : it->second;
}

bool isGatewayError(std::uint32_t status) {
  return status == 502 || status == 503 || status == 504;
}

}  // namespace

LbPolicy lbPolicyFromName(std::string_view name) {
  if (name == "LEAST_REQUEST" || name == "LEAST_CONN") return LbPolicy::kLeastRequest;
  if (name == "RANDOM") return LbPolicy::kRandom;
  return LbPolicy::kRoundRobin;
}

// ------------------------------------------------------------------------ outlier detection
OutlierDetector::OutlierDetector(OutlierDetection config, std::size_t hosts, LbTime now)
    : config_(std::move(config)), hosts_(hosts), nextSweep_(now + config_.interval) {
  if (config_.interval.count() <= 0) config_.interval = LbTime(1);
  nextSweep_ = now + config_.interval;
}

std::size_t OutlierDetector::ejectedCount() const {
  return static_cast<std::size_t>(
      std::count_if(hosts_.begin(), hosts_.end(), [](const Host& h) { return h.ejected; }));
}

LbTime OutlierDetector::ejectionLength(const Host& h) const {
  // §R3: base × times ejected, capped at max_ejection_time (or base when that is larger).
  const auto cap = std::max(config_.baseEjectionTime, config_.maxEjectionTime);
  const auto length = config_.baseEjectionTime * static_cast<std::int64_t>(h.timesEjected);
  return std::min(length, cap);
}

bool OutlierDetector::eject(std::size_t host, LbTime now) {
  Host& h = hosts_.at(host);
  // §R3: maxEjectionPercent, but at least one host is always ejectable.
  const std::size_t active = ejectedCount();
  const double percent =
      100.0 * static_cast<double>(active + 1) / static_cast<double>(hosts_.size());
  if (active > 0 && percent > static_cast<double>(config_.maxEjectionPercent)) return false;
  h.ejected = true;
  h.ejectedAt = now;
  // The multiplier grows with each ejection while base × multiplier stays under the cap.
  if (config_.baseEjectionTime * static_cast<std::int64_t>(h.timesEjected) <
      std::max(config_.baseEjectionTime, config_.maxEjectionTime)) {
    ++h.timesEjected;
  }
  return true;
}

bool OutlierDetector::report(std::size_t host, OutlierInput input, std::uint32_t status,
                             LbTime now) {
  advance(now);
  Host& h = hosts_.at(host);
  // Istio leaves split_external_local_origin_errors off: local-origin failures count as HTTP
  // codes — connect failure and reset as 503, timeout as 504 (§R3).
  switch (input) {
    case OutlierInput::kSuccess:
      h.consecutive5xx = 0;
      h.consecutiveGateway = 0;
      return false;
    case OutlierInput::kConnectFailure:
    case OutlierInput::kReset:
      status = 503;
      break;
    case OutlierInput::kTimeout:
      status = 504;
      break;
    case OutlierInput::kHttp5xx:
      if (status < 500 || status > 599) {
        h.consecutive5xx = 0;
        h.consecutiveGateway = 0;
        return false;
      }
      break;
  }
  bool ejectedNow = false;
  if (isGatewayError(status)) {
    if (++h.consecutiveGateway == config_.consecutiveGatewayFailure && !h.ejected) {
      h.consecutiveGateway = 0;  // Envoy resets the counter whether or not it ejects
      if (config_.enforcingConsecutiveGatewayFailure) ejectedNow = eject(host, now);
    }
  } else {
    h.consecutiveGateway = 0;
  }
  if (++h.consecutive5xx == config_.consecutive5xx && !h.ejected) {
    h.consecutive5xx = 0;
    if (config_.enforcingConsecutive5xx) ejectedNow = eject(host, now) || ejectedNow;
  }
  return ejectedNow;
}

void OutlierDetector::advance(LbTime now) {
  while (nextSweep_ <= now) {
    const LbTime sweep = nextSweep_;
    for (Host& h : hosts_) {
      if (h.ejected) {
        if (sweep - h.ejectedAt >= ejectionLength(h)) {
          h.ejected = false;
          h.healthySince = sweep;
          h.consecutive5xx = 0;
          h.consecutiveGateway = 0;
        }
      } else if (h.timesEjected > 0 && sweep - h.healthySince >= config_.interval) {
        --h.timesEjected;  // healthy for an interval: the multiplier goes down (§R3)
        h.healthySince = sweep;
      }
    }
    nextSweep_ += config_.interval;
  }
}

// ------------------------------------------------------------------------ priorities
std::vector<std::uint32_t> endpointPriorities(std::span<const Endpoint> endpoints,
                                              std::string_view clientLocality,
                                              const Labels& clientLabels,
                                              const FailoverSettings& settings) {
  const Locality client = parseLocality(clientLocality);
  std::vector<std::uint32_t> raw(endpoints.size(), 0);
  const bool byLabels = !settings.failoverPriority.empty();
  const bool byLocality = settings.useLocality && (!byLabels || !settings.failover.empty());
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    const Locality ep = parseLocality(endpoints[i].locality);
    std::uint32_t labelPriority = 0;
    if (byLabels) {
      // The first N labels equal → priority (size − N) (§R5); "label=value" fixes the value the
      // endpoint must carry instead of the client's.
      const auto n = static_cast<std::uint32_t>(settings.failoverPriority.size());
      std::uint32_t matched = 0;
      for (const auto& entry : settings.failoverPriority) {
        const auto eq = entry.find('=');
        const std::string label = entry.substr(0, eq);
        const std::string want = eq == std::string::npos ? labelValue(label, client, clientLabels)
                                                         : entry.substr(eq + 1);
        if (labelValue(label, ep, endpoints[i].labels) != want) break;
        ++matched;
      }
      labelPriority = n - matched;
    }
    std::uint32_t localityLevel = 0;
    if (byLocality) {
      localityLevel = localityPriority(client, ep);
      if (localityLevel == 3) {
        // A failover rule for the client's region: endpoints outside its `to` region go last.
        for (const auto& [from, to] : settings.failover) {
          if (from != client.region) continue;
          if (ep.region != to) localityLevel = 4;
          break;
        }
      }
    }
    raw[i] = byLabels && byLocality ? labelPriority * 5 + localityLevel
                                    : (byLabels ? labelPriority : localityLevel);
  }
  // Compact to 0..N in order.
  std::set<std::uint32_t> levels(raw.begin(), raw.end());
  std::map<std::uint32_t, std::uint32_t> compact;
  std::uint32_t next = 0;
  for (auto l : levels) compact[l] = next++;
  for (auto& p : raw) p = compact[p];
  return raw;
}

// ------------------------------------------------------------------------ host selection
ClusterLb::ClusterLb(const Cluster& cluster, LbTime now)
    : policy_(lbPolicyFromName(cluster.lbPolicy)),
      panicThreshold_(std::min<std::uint32_t>(100, cluster.healthyPanicThreshold)),
      active_(cluster.endpoints.size(), 0),
      edfDeadline_(cluster.endpoints.size(), 0.0) {
  std::uint32_t levels = 1;
  for (const auto& e : cluster.endpoints) {
    weight_.push_back(std::max<std::uint32_t>(1, e.weight));
    priority_.push_back(e.priority);
    levels = std::max(levels, e.priority + 1);
  }
  rrPosition_.assign(levels, 0);
  if (cluster.outlierDetection) {
    outlier_.emplace(*cluster.outlierDetection, cluster.endpoints.size(), now);
  }
}

void ClusterLb::requestStarted(std::size_t host) { ++active_.at(host); }

void ClusterLb::requestFinished(std::size_t host) {
  if (active_.at(host) > 0) --active_.at(host);
}

void ClusterLb::report(std::size_t host, OutlierInput input, std::uint32_t status, LbTime now) {
  if (outlier_) outlier_->report(host, input, status, now);
}

bool ClusterLb::ejected(std::size_t host) const { return outlier_ && outlier_->ejected(host); }

std::optional<std::size_t> ClusterLb::choose(std::span<const std::size_t> hosts,
                                             std::uint32_t level, const RandomSource& random) {
  if (hosts.empty()) return std::nullopt;
  const bool weighted = std::any_of(hosts.begin(), hosts.end(), [&](std::size_t h) {
    return weight_[h] != weight_[hosts.front()];
  });
  switch (policy_) {
    case LbPolicy::kRandom:
      return hosts[random() % hosts.size()];
    case LbPolicy::kLeastRequest: {
      if (!weighted) {
        // Power of two choices: two random samples, the one with fewer requests in flight (the
        // first on a tie).
        std::size_t best = hosts[random() % hosts.size()];
        const std::size_t other = hosts[random() % hosts.size()];
        if (active_[other] < active_[best]) best = other;
        return best;
      }
      // Weighted: earliest deadline with effective weight weight / (active + 1) (bias 1.0).
      std::size_t best = hosts.front();
      double bestDeadline = std::numeric_limits<double>::max();
      for (std::size_t h : hosts) {
        const double d = edfDeadline_[h] + (active_[h] + 1.0) / weight_[h];
        if (d < bestDeadline) {
          bestDeadline = d;
          best = h;
        }
      }
      edfDeadline_[best] = bestDeadline;
      return best;
    }
    case LbPolicy::kRoundRobin:
      break;
  }
  if (!weighted) return hosts[rrPosition_.at(level)++ % hosts.size()];
  // Weighted round robin: earliest deadline first, each pick moves the host 1/weight later.
  std::size_t best = hosts.front();
  double bestDeadline = std::numeric_limits<double>::max();
  for (std::size_t h : hosts) {
    const double d = edfDeadline_[h] + 1.0 / weight_[h];
    if (d < bestDeadline) {
      bestDeadline = d;
      best = h;
    }
  }
  edfDeadline_[best] = bestDeadline;
  return best;
}

ClusterLb::Pick ClusterLb::pick(std::span<const std::size_t> available,
                                std::span<const std::size_t> previous, const RandomSource& random,
                                LbTime now) {
  if (outlier_) outlier_->advance(now);
  const std::size_t levels = rrPosition_.size();
  std::vector<std::vector<std::size_t>> all(levels), healthy(levels);
  for (std::size_t h : available) {
    if (h >= priority_.size()) continue;
    all[priority_[h]].push_back(h);
    if (!ejected(h)) healthy[priority_[h]].push_back(h);
  }
  // Priority load (§R5): each level's health is min(100, 1.4 × healthy share); loads are handed
  // out from P0 down, normalised by the total health.
  std::vector<std::uint32_t> health(levels, 0), load(levels, 0);
  std::uint32_t total = 0;
  for (std::size_t l = 0; l < levels; ++l) {
    if (all[l].empty()) continue;
    health[l] = std::min<std::uint32_t>(
        100,
        static_cast<std::uint32_t>(kOverprovisioningFactor * healthy[l].size() / all[l].size()));
    total += health[l];
  }
  total = std::min<std::uint32_t>(100, total);
  std::vector<bool> panic(levels, false);
  if (total == 0 && panicThreshold_ == 0) {
    return {};  // §R3: all ejected, panic disabled (Istio's minHealthPercent 0) → 503 UH
  }
  bool allPanic = true;
  for (std::size_t l = 0; l < levels; ++l) {
    const std::uint32_t healthyPercent =
        all[l].empty() ? 0 : static_cast<std::uint32_t>(100 * healthy[l].size() / all[l].size());
    panic[l] = total == 0 || (!all[l].empty() && healthyPercent < panicThreshold_);
    if (!panic[l] && !all[l].empty()) allPanic = false;
    if (all[l].empty()) panic[l] = true;
  }
  const std::size_t hostCount = available.size();
  if (hostCount == 0) return {};
  std::uint32_t remaining = 100;
  int first = -1;
  for (std::size_t l = 0; l < levels; ++l) {
    if (allPanic) {
      // Total panic: load in proportion to each level's host count.
      load[l] = static_cast<std::uint32_t>(100 * all[l].size() / hostCount);
      if (first < 0 && !all[l].empty()) first = static_cast<int>(l);
    } else {
      load[l] = std::min<std::uint32_t>(remaining, health[l] * 100 / total);
      if (first < 0 && health[l] > 0) first = static_cast<int>(l);
    }
    remaining -= std::min(remaining, load[l]);
  }
  if (first >= 0) load[static_cast<std::size_t>(first)] += remaining;

  Pick result;
  for (int attempt = 0; attempt < kHostSelectionAttempts; ++attempt) {
    const std::uint64_t roll = random() % 100;
    std::uint64_t aggregate = 0;
    std::size_t level = 0;
    for (std::size_t l = 0; l < levels; ++l) {
      aggregate += load[l];
      if (roll < aggregate) {
        level = l;
        break;
      }
    }
    const bool inPanic = panic[level];
    const auto& candidates = inPanic ? all[level] : healthy[level];
    auto chosen = choose(candidates, static_cast<std::uint32_t>(level), random);
    if (!chosen) return {};
    result.host = chosen;
    result.panic = inPanic;
    if (std::find(previous.begin(), previous.end(), *chosen) == previous.end()) break;
  }
  return result;
}

// ------------------------------------------------------------------------ circuit breakers
bool CircuitBreakerState::tryStartRequest() {
  if (requests_ >= limits_.maxRequests) return false;
  ++requests_;
  return true;
}
void CircuitBreakerState::finishRequest() {
  if (requests_ > 0) --requests_;
}
bool CircuitBreakerState::tryOpenConnection(bool poolEmpty) {
  if (connections_ >= limits_.maxConnections && !poolEmpty) return false;
  ++connections_;
  return true;
}
void CircuitBreakerState::closeConnection() {
  if (connections_ > 0) --connections_;
}
bool CircuitBreakerState::tryStartPending() {
  if (pending_ >= limits_.maxPendingRequests) return false;
  ++pending_;
  return true;
}
void CircuitBreakerState::finishPending() {
  if (pending_ > 0) --pending_;
}
bool CircuitBreakerState::tryStartRetry() {
  if (retries_ >= limits_.maxRetries) return false;
  ++retries_;
  return true;
}
void CircuitBreakerState::finishRetry() {
  if (retries_ > 0) --retries_;
}

}  // namespace egresslab::mesh
