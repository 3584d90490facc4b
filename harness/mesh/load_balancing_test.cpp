// Host selection, outlier detection and circuit breakers of one proxy's cluster
// (docs/istio-behaviour.md §R3, §R4, §R5, §R6), with the time and the random numbers injected.
#include "harness/mesh/load_balancing.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>

namespace egresslab::mesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Cluster clusterOf(std::size_t hosts, const std::string& policy) {
  Cluster c;
  c.name = "outbound|443||crm.legacy.example";
  c.lbPolicy = policy;
  for (std::size_t i = 0; i < hosts; ++i) {
    Endpoint e;
    e.address = "198.51.100." + std::to_string(11 + i);
    e.port = 443;
    c.endpoints.push_back(e);
  }
  return c;
}

// Random numbers from a script, then zeros.
RandomSource scripted(std::deque<std::uint64_t> values) {
  auto q = std::make_shared<std::deque<std::uint64_t>>(std::move(values));
  return [q] {
    if (q->empty()) return std::uint64_t{0};
    const auto v = q->front();
    q->pop_front();
    return v;
  };
}

const std::vector<std::size_t> kBoth{0, 1};
const std::vector<std::size_t> kNone{};

TEST(LbPolicy_R4, NamesMapToEnvoyPolicies) {
  EXPECT_EQ(lbPolicyFromName("ROUND_ROBIN"), LbPolicy::kRoundRobin);
  EXPECT_EQ(lbPolicyFromName("LEAST_REQUEST"), LbPolicy::kLeastRequest);
  EXPECT_EQ(lbPolicyFromName("LEAST_CONN"), LbPolicy::kLeastRequest);
  EXPECT_EQ(lbPolicyFromName("RANDOM"), LbPolicy::kRandom);
  EXPECT_EQ(lbPolicyFromName("CLUSTER_PROVIDED"), LbPolicy::kRoundRobin);
}

TEST(ClusterLb_R4, RoundRobinAlternatesWhateverTheRandomNumbers) {
  ClusterLb lb(clusterOf(3, "ROUND_ROBIN"), milliseconds(0));
  const std::vector<std::size_t> all{0, 1, 2};
  std::vector<std::size_t> picked;
  for (int i = 0; i < 6; ++i) {
    picked.push_back(*lb.pick(all, kNone, scripted({99, 7, 7, 7}), milliseconds(0)).host);
  }
  EXPECT_EQ(picked, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(ClusterLb_R4, LeastRequestPowerOfTwoChoicesPrefersTheIdleHost) {
  ClusterLb lb(clusterOf(2, "LEAST_REQUEST"), milliseconds(0));
  lb.requestStarted(0);
  // Priority roll, then two samples: host 0 (busy) and host 1 (idle) → host 1.
  EXPECT_EQ(lb.pick(kBoth, kNone, scripted({0, 0, 1}), milliseconds(0)).host, 1u);
  // Samples 1 then 0: the first stays unless the second has fewer requests.
  EXPECT_EQ(lb.pick(kBoth, kNone, scripted({0, 1, 0}), milliseconds(0)).host, 1u);
  // Both samples on the busy host: P2C can still choose it.
  EXPECT_EQ(lb.pick(kBoth, kNone, scripted({0, 0, 0}), milliseconds(0)).host, 0u);
  lb.requestFinished(0);
  // Equal load: the first sample wins — a random choice, not an alternation.
  EXPECT_EQ(lb.pick(kBoth, kNone, scripted({0, 0, 1}), milliseconds(0)).host, 0u);
  EXPECT_EQ(lb.active(0), 0u);
}

TEST(ClusterLb_R4, WeightedRoundRobinFollowsWeights) {
  Cluster c = clusterOf(2, "ROUND_ROBIN");
  c.endpoints[0].weight = 3;
  c.endpoints[1].weight = 1;
  ClusterLb lb(c, milliseconds(0));
  std::map<std::size_t, int> count;
  for (int i = 0; i < 40; ++i) ++count[*lb.pick(kBoth, kNone, scripted({}), milliseconds(0)).host];
  EXPECT_EQ(count[0], 30);
  EXPECT_EQ(count[1], 10);
}

TEST(ClusterLb_R4, RandomUsesTheRandomNumber) {
  ClusterLb lb(clusterOf(2, "RANDOM"), milliseconds(0));
  EXPECT_EQ(lb.pick(kBoth, kNone, scripted({0, 1}), milliseconds(0)).host, 1u);
  EXPECT_EQ(lb.pick(kBoth, kNone, scripted({0, 4}), milliseconds(0)).host, 0u);
}

TEST(ClusterLb_R2, PreviousHostsAreAvoidedWhenAnotherIsAvailable) {
  ClusterLb lb(clusterOf(2, "RANDOM"), milliseconds(0));
  const std::vector<std::size_t> tried{1};
  // First pick lands on the tried host, the re-pick on the other.
  EXPECT_EQ(lb.pick(kBoth, tried, scripted({0, 1, 0, 0}), milliseconds(0)).host, 0u);
  // Only the tried host is available: after 5 selections it is used anyway.
  const std::vector<std::size_t> one{1};
  EXPECT_EQ(lb.pick(one, tried, scripted({}), milliseconds(0)).host, 1u);
}

TEST(ClusterLb_R4, OnlyAvailableHostsArePicked) {
  ClusterLb lb(clusterOf(3, "ROUND_ROBIN"), milliseconds(0));
  const std::vector<std::size_t> ready{2};
  EXPECT_EQ(lb.pick(ready, kNone, scripted({}), milliseconds(0)).host, 2u);
  EXPECT_FALSE(lb.pick(kNone, kNone, scripted({}), milliseconds(0)).host);
}

OutlierDetection od(std::uint32_t consecutive5xx, std::uint32_t maxPercent) {
  OutlierDetection o;
  o.consecutive5xx = consecutive5xx;
  o.interval = seconds(1);
  o.baseEjectionTime = seconds(30);
  o.maxEjectionPercent = maxPercent;
  return o;
}

TEST(OutlierDetector_R3, ConsecutiveFivexxEjectsAtOnceAndASuccessResets) {
  OutlierDetector d(od(3, 100), 2, milliseconds(0));
  EXPECT_FALSE(d.report(0, OutlierInput::kHttp5xx, 500, milliseconds(1)));
  EXPECT_FALSE(d.report(0, OutlierInput::kHttp5xx, 500, milliseconds(2)));
  EXPECT_FALSE(d.report(0, OutlierInput::kSuccess, 200, milliseconds(3)));
  EXPECT_FALSE(d.report(0, OutlierInput::kHttp5xx, 500, milliseconds(4)));
  EXPECT_FALSE(d.report(0, OutlierInput::kHttp5xx, 500, milliseconds(5)));
  EXPECT_FALSE(d.ejected(0));
  EXPECT_TRUE(d.report(0, OutlierInput::kHttp5xx, 500, milliseconds(6)));
  EXPECT_TRUE(d.ejected(0));
  EXPECT_FALSE(d.ejected(1));
}

TEST(OutlierDetector_R3, LocalOriginFailuresCountAsFivexx) {
  OutlierDetector d(od(3, 100), 1, milliseconds(0));
  d.report(0, OutlierInput::kConnectFailure, 0, milliseconds(1));
  d.report(0, OutlierInput::kReset, 0, milliseconds(2));
  EXPECT_TRUE(d.report(0, OutlierInput::kTimeout, 0, milliseconds(3)));
  // As 503 and 504 they are gateway errors too: a DestinationRule that sets only
  // consecutiveGatewayErrors ejects on them.
  OutlierDetection gatewayOnly = od(100, 100);
  gatewayOnly.consecutiveGatewayFailure = 3;
  gatewayOnly.enforcingConsecutiveGatewayFailure = true;
  OutlierDetector g(gatewayOnly, 1, milliseconds(0));
  g.report(0, OutlierInput::kConnectFailure, 0, milliseconds(1));
  g.report(0, OutlierInput::kReset, 0, milliseconds(2));
  EXPECT_TRUE(g.report(0, OutlierInput::kTimeout, 0, milliseconds(3)));
}

TEST(OutlierDetector_R3, GatewayErrorsEjectOnlyWhenTheDestinationRuleSetsThem) {
  OutlierDetection o = od(100, 100);
  o.consecutiveGatewayFailure = 2;
  OutlierDetector off(o, 1, milliseconds(0));  // Envoy default: enforcing 0
  off.report(0, OutlierInput::kHttp5xx, 503, milliseconds(1));
  EXPECT_FALSE(off.report(0, OutlierInput::kHttp5xx, 503, milliseconds(2)));
  o.enforcingConsecutiveGatewayFailure = true;
  OutlierDetector on(o, 1, milliseconds(0));
  on.report(0, OutlierInput::kHttp5xx, 503, milliseconds(1));
  EXPECT_TRUE(on.report(0, OutlierInput::kHttp5xx, 502, milliseconds(2)));
  // A 500 is not a gateway error: it resets the gateway counter.
  OutlierDetector mixed(o, 1, milliseconds(0));
  mixed.report(0, OutlierInput::kHttp5xx, 503, milliseconds(1));
  mixed.report(0, OutlierInput::kHttp5xx, 500, milliseconds(2));
  EXPECT_FALSE(mixed.report(0, OutlierInput::kHttp5xx, 503, milliseconds(3)));
}

TEST(OutlierDetector_R3, EnforcingOffCountsButNeverEjects) {
  OutlierDetection o = od(1, 100);
  o.enforcingConsecutive5xx = false;
  OutlierDetector d(o, 1, milliseconds(0));
  EXPECT_FALSE(d.report(0, OutlierInput::kHttp5xx, 500, milliseconds(1)));
  EXPECT_FALSE(d.ejected(0));
}

TEST(OutlierDetector_R3, MaxEjectionPercentButAlwaysOneHost) {
  OutlierDetector d(od(1, 10), 2, milliseconds(0));  // Envoy's default 10 %
  EXPECT_TRUE(d.report(0, OutlierInput::kHttp5xx, 500, milliseconds(1)));
  EXPECT_FALSE(d.report(1, OutlierInput::kHttp5xx, 500, milliseconds(2)));
  EXPECT_EQ(d.ejectedCount(), 1u);
  OutlierDetector all(od(1, 100), 2, milliseconds(0));
  all.report(0, OutlierInput::kHttp5xx, 500, milliseconds(1));
  all.report(1, OutlierInput::kHttp5xx, 500, milliseconds(2));
  EXPECT_EQ(all.ejectedCount(), 2u);
}

TEST(OutlierDetector_R3, EjectionTimeGrowsWithEachEjectionAndEndsAtAnIntervalSweep) {
  OutlierDetector d(od(1, 100), 1, milliseconds(0));
  d.report(0, OutlierInput::kHttp5xx, 500, milliseconds(500));
  EXPECT_EQ(d.timesEjected(0), 1u);
  d.advance(milliseconds(30'400));
  EXPECT_TRUE(d.ejected(0));  // 30 s not yet up at the 30 s sweep
  d.advance(milliseconds(31'000));
  EXPECT_FALSE(d.ejected(0));  // the 31 s sweep un-ejects
  d.report(0, OutlierInput::kHttp5xx, 500, milliseconds(31'100));
  EXPECT_EQ(d.timesEjected(0), 2u);
  d.advance(milliseconds(31'100 + 59'000));
  EXPECT_TRUE(d.ejected(0));  // 2 × 30 s
  d.advance(milliseconds(31'100 + 61'000));
  EXPECT_FALSE(d.ejected(0));
}

TEST(OutlierDetector_R3, EjectionTimeIsCappedAt300Seconds) {
  OutlierDetection o = od(1, 100);
  o.baseEjectionTime = seconds(200);
  OutlierDetector d(o, 1, milliseconds(0));
  d.report(0, OutlierInput::kHttp5xx, 500, milliseconds(0));
  d.advance(milliseconds(200'500));
  ASSERT_FALSE(d.ejected(0));
  // Ejected again at once: 2 × 200 s, capped at 300 s.
  d.report(0, OutlierInput::kHttp5xx, 500, milliseconds(200'600));
  EXPECT_EQ(d.timesEjected(0), 2u);
  d.advance(milliseconds(200'600 + 299'000));
  EXPECT_TRUE(d.ejected(0));
  d.advance(milliseconds(200'600 + 300'500));
  EXPECT_FALSE(d.ejected(0));
}

TEST(OutlierDetector_R3, TheMultiplierGoesDownWhileHealthy) {
  OutlierDetector d(od(1, 100), 1, milliseconds(0));
  d.report(0, OutlierInput::kHttp5xx, 500, milliseconds(0));
  d.advance(seconds(30));
  ASSERT_FALSE(d.ejected(0));
  EXPECT_EQ(d.timesEjected(0), 1u);
  d.advance(seconds(31));
  EXPECT_EQ(d.timesEjected(0), 0u);
}

Cluster withOutlier(std::size_t hosts, std::uint32_t panic) {
  Cluster c = clusterOf(hosts, "ROUND_ROBIN");
  c.outlierDetection = od(1, 100);
  c.healthyPanicThreshold = panic;
  return c;
}

TEST(ClusterLb_R3, EjectedHostsAreSkippedAndAllEjectedIsNoHost) {
  ClusterLb lb(withOutlier(2, 0), milliseconds(0));
  lb.report(0, OutlierInput::kHttp5xx, 503, milliseconds(1));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(lb.pick(kBoth, kNone, scripted({}), milliseconds(2)).host, 1u);
  }
  lb.report(1, OutlierInput::kHttp5xx, 503, milliseconds(3));
  // Istio's minHealthPercent 0: panic disabled → no host → 503 UH.
  EXPECT_FALSE(lb.pick(kBoth, kNone, scripted({}), milliseconds(4)).host);
}

TEST(ClusterLb_R3, BelowMinHealthPercentPanicRoutesOverEveryHost) {
  ClusterLb lb(withOutlier(2, 60), milliseconds(0));
  lb.report(0, OutlierInput::kHttp5xx, 503, milliseconds(1));
  // 50 % healthy < 60 %: panic, round robin over both, the ejected one included.
  std::map<std::size_t, int> count;
  for (int i = 0; i < 4; ++i) {
    const auto p = lb.pick(kBoth, kNone, scripted({}), milliseconds(2));
    EXPECT_TRUE(p.panic);
    ++count[*p.host];
  }
  EXPECT_EQ(count[0], 2);
  EXPECT_EQ(count[1], 2);
  lb.report(1, OutlierInput::kHttp5xx, 503, milliseconds(3));
  EXPECT_TRUE(lb.pick(kBoth, kNone, scripted({}), milliseconds(4)).host.has_value());
}

TEST(ClusterLb_R5, TrafficStaysInPriorityZeroThenFailsOver) {
  Cluster c = withOutlier(2, 0);
  c.endpoints[1].priority = 1;
  ClusterLb lb(c, milliseconds(0));
  for (std::uint64_t roll : {0, 50, 99}) {
    EXPECT_EQ(lb.pick(kBoth, kNone, scripted({roll}), milliseconds(1)).host, 0u);
  }
  lb.report(0, OutlierInput::kHttp5xx, 503, milliseconds(2));
  for (std::uint64_t roll : {0, 50, 99}) {
    EXPECT_EQ(lb.pick(kBoth, kNone, scripted({roll}), milliseconds(3)).host, 1u);
  }
}

TEST(ClusterLb_R5, APartlyHealthyPriorityZeroSpillsByTheOverprovisioningFactor) {
  // P0: 2 hosts, 1 ejected → health min(100, 1.4 × 50) = 70 %; P1 takes the other 30 %.
  Cluster c = withOutlier(3, 0);
  c.endpoints[2].priority = 1;
  c.outlierDetection->maxEjectionPercent = 100;
  ClusterLb lb(c, milliseconds(0));
  lb.report(0, OutlierInput::kHttp5xx, 503, milliseconds(1));
  const std::vector<std::size_t> all{0, 1, 2};
  EXPECT_EQ(lb.pick(all, kNone, scripted({69}), milliseconds(2)).host, 1u);
  EXPECT_EQ(lb.pick(all, kNone, scripted({70}), milliseconds(2)).host, 2u);
}

std::vector<Endpoint> zoned(const std::vector<std::string>& localities) {
  std::vector<Endpoint> out;
  for (const auto& l : localities) {
    Endpoint e;
    e.locality = l;
    out.push_back(e);
  }
  return out;
}

TEST(EndpointPriorities_R5, LocalityOrderIsSubzoneZoneRegionOther) {
  const auto eps = zoned({"eu/eu-1/a", "eu/eu-1/b", "eu/eu-2", "us/us-1", "eu/eu-1/a"});
  EXPECT_EQ(endpointPriorities(eps, "eu/eu-1/a", {}, {}),
            (std::vector<std::uint32_t>{0, 1, 2, 3, 0}));
  // Compacted: without a same-subzone endpoint the zone level becomes 0.
  EXPECT_EQ(endpointPriorities(zoned({"eu/eu-1", "eu/eu-2"}), "eu/eu-1", {}, {}),
            (std::vector<std::uint32_t>{0, 1}));
}

TEST(EndpointPriorities_R5, FailoverRuleSendsOtherRegionsLast) {
  FailoverSettings s;
  s.failover = {{"eu", "ap"}};
  const auto eps = zoned({"eu/eu-1", "us/us-1", "ap/ap-1"});
  EXPECT_EQ(endpointPriorities(eps, "eu/eu-1", {}, s), (std::vector<std::uint32_t>{0, 2, 1}));
}

TEST(EndpointPriorities_R5, FailoverPriorityMatchesLabelsInOrder) {
  FailoverSettings s;
  s.failoverPriority = {"topology.kubernetes.io/region", "version"};
  std::vector<Endpoint> eps = zoned({"eu/z1", "eu/z2", "us/z3"});
  eps[0].labels = {{"version", "v2"}};
  eps[1].labels = {{"version", "v1"}};
  eps[2].labels = {{"version", "v1"}};
  EXPECT_EQ(endpointPriorities(eps, "eu/z9", {{"version", "v1"}}, s),
            (std::vector<std::uint32_t>{1, 0, 2}));
  // label=value overrides the client's value.
  s.failoverPriority = {"version=v2"};
  EXPECT_EQ(endpointPriorities(eps, "eu/z9", {{"version", "v1"}}, s),
            (std::vector<std::uint32_t>{0, 1, 1}));
}

TEST(CircuitBreakers_R6, LimitsAreCountedAndReleased) {
  CircuitBreakers limits;
  limits.maxConnections = 1;
  limits.maxPendingRequests = 1;
  limits.maxRequests = 2;
  limits.maxRetries = 1;
  CircuitBreakerState s(limits);
  EXPECT_TRUE(s.tryOpenConnection());
  EXPECT_FALSE(s.tryOpenConnection());
  EXPECT_TRUE(s.tryStartPending());
  EXPECT_FALSE(s.tryStartPending());
  s.finishPending();
  EXPECT_TRUE(s.tryStartPending());
  s.closeConnection();
  EXPECT_TRUE(s.tryOpenConnection());
  EXPECT_TRUE(s.tryStartRequest());
  EXPECT_TRUE(s.tryStartRequest());
  EXPECT_FALSE(s.tryStartRequest());
  s.finishRequest();
  EXPECT_TRUE(s.tryStartRequest());
  EXPECT_TRUE(s.tryStartRetry());
  EXPECT_FALSE(s.tryStartRetry());
  s.finishRetry();
  EXPECT_TRUE(s.tryStartRetry());
}

// Envoy's pool with no connection to its host opens one even at max_connections, and that one
// counts: the next pool that has connections stays limited (conn_pool_base.cc, §R6).
TEST(CircuitBreakers_R6, AnEmptyPoolOpensAConnectionOverTheLimit) {
  CircuitBreakers limits;
  limits.maxConnections = 1;
  CircuitBreakerState s(limits);
  EXPECT_TRUE(s.tryOpenConnection());
  EXPECT_FALSE(s.tryOpenConnection());
  EXPECT_TRUE(s.tryOpenConnection(/*poolEmpty=*/true));
  EXPECT_EQ(s.connections(), 2u);
  s.closeConnection();
  EXPECT_FALSE(s.tryOpenConnection());
  s.closeConnection();
  EXPECT_TRUE(s.tryOpenConnection());
}

TEST(CircuitBreakers_R6, IstioDefaultsAreEffectivelyUnlimited) {
  CircuitBreakerState s{CircuitBreakers{}};
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(s.tryOpenConnection());
  EXPECT_EQ(s.limits().maxConnections, 4294967295u);
}

}  // namespace
}  // namespace egresslab::mesh
