// Unit tests of the route's resilience config (route_policy.h) and of the decisions the data
// plane takes with it (decisions.h: retries, back-off, timeouts, fault filter), against
// docs/istio-behaviour.md §R0, §R1, §R2, §R7.
#include "harness/mesh/route_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/mesh/decisions.h"
#include "harness/mesh/seed_model_for_test.h"

namespace egresslab::mesh {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using Kind = AttemptOutcome::Kind;

model::IstioVersion v(int minor) { return {1, minor, 0}; }

AttemptOutcome response(std::uint32_t status) {
  AttemptOutcome o;
  o.kind = Kind::kResponse;
  o.status = status;
  return o;
}
AttemptOutcome failure(Kind kind) {
  AttemptOutcome o;
  o.kind = kind;
  return o;
}

model::HttpRetry retry(int attempts, std::string retryOn = {},
                       std::optional<milliseconds> perTry = std::nullopt) {
  model::HttpRetry r;
  r.attempts = attempts;
  r.retryOn = std::move(retryOn);
  r.perTryTimeout = perTry;
  return r;
}

// ------------------------------------------------------------------ §R2.1 default policy
TEST(SecR2_DefaultPolicy, TwoRetriesWith503Through1_23Only) {
  for (int minor : {8, 12, 22, 23}) {
    RetryPolicy p = routeRetryPolicy(std::nullopt, v(minor), std::nullopt);
    EXPECT_EQ(p.numRetries, 2u) << minor;
    EXPECT_THAT(p.retriableStatusCodes, ElementsAre(503u)) << minor;
    EXPECT_TRUE(p.previousHosts);
    EXPECT_FALSE(p.fromVirtualService);
    EXPECT_TRUE(afterAttempt(p, 1, response(503), v(minor)).retry) << minor;
  }
  for (int minor : {24, 26, 28}) {
    RetryPolicy p = routeRetryPolicy(std::nullopt, v(minor), std::nullopt);
    EXPECT_EQ(p.numRetries, 2u) << minor;
    EXPECT_TRUE(p.retriableStatusCodes.empty()) << minor;
    // Istio keeps the token in retry_on; with no codes it retries no status.
    EXPECT_THAT(p.retryOn, ::testing::Contains("retriable-status-codes"));
    RetryStep s = afterAttempt(p, 1, response(503), v(minor));
    EXPECT_FALSE(s.retry) << minor;
    EXPECT_TRUE(s.final.flags.empty()) << minor;  // passed through, no URX
    EXPECT_TRUE(afterAttempt(p, 1, failure(Kind::kConnectFailure), v(minor)).retry) << minor;
  }
}

TEST(SecR2_DefaultPolicy, MeshDefaultHttpRetryPolicyFrom1_12) {
  model::MeshConfig mc;
  mc.defaultHttpRetryPolicy = retry(5, "5xx");
  EXPECT_FALSE(meshDefaultRetry(mc, v(11)).has_value());
  const auto d = meshDefaultRetry(mc, v(12));
  ASSERT_TRUE(d.has_value());
  RetryPolicy p = routeRetryPolicy(std::nullopt, v(12), d);
  EXPECT_EQ(p.numRetries, 5u);
  EXPECT_THAT(p.retryOn, ElementsAre("5xx"));
  EXPECT_EQ(p.origin, "meshConfig.defaultHttpRetryPolicy");
  // A VirtualService's own retries win over the mesh default.
  RetryPolicy vs = routeRetryPolicy(retry(1), v(12), d, "VirtualService a/b spec.http[0].retries");
  EXPECT_EQ(vs.numRetries, 1u);
  EXPECT_TRUE(vs.fromVirtualService);
  // attempts: 0 in the mesh default removes retries everywhere.
  mc.defaultHttpRetryPolicy = retry(0);
  EXPECT_EQ(routeRetryPolicy(std::nullopt, v(20), meshDefaultRetry(mc, v(20))).numRetries, 0u);
}

// ------------------------------------------------------------------ §R2.2 VS retries
TEST(SecR2_VirtualServiceRetries, AttemptsZeroRemovesThePolicy) {
  RetryPolicy p = routeRetryPolicy(retry(0), v(22), std::nullopt);
  EXPECT_EQ(p.numRetries, 0u);
  RetryStep s = afterAttempt(p, 1, failure(Kind::kConnectFailure), v(22));
  EXPECT_FALSE(s.retry);
  EXPECT_EQ(formatResponseFlags(s.final.flags, v(22)), "UF");  // no URX without a policy
  // No retry policy → no per-try timeout either.
  model::HttpRetry r = retry(0, "", milliseconds(100));
  ForwardAction f;
  f.retry = routeRetryPolicy(r, v(22), std::nullopt);
  EXPECT_FALSE(routeTimeouts(f).perTry.has_value());
}

TEST(SecR2_VirtualServiceRetries, RetryOnWithoutCodesKeepsTheDefault503OnlyWhenOmitted) {
  // retryOn omitted: the default conditions and (≤1.23) 503 stay; attempts replaced.
  RetryPolicy kept = routeRetryPolicy(retry(4), v(22), std::nullopt);
  EXPECT_EQ(kept.numRetries, 4u);
  EXPECT_THAT(kept.retriableStatusCodes, ElementsAre(503u));
  // retryOn given: it replaces conditions and codes.
  RetryPolicy replaced = routeRetryPolicy(retry(4, "connect-failure"), v(22), std::nullopt);
  EXPECT_THAT(replaced.retryOn, ElementsAre("connect-failure"));
  EXPECT_TRUE(replaced.retriableStatusCodes.empty());
  EXPECT_FALSE(afterAttempt(replaced, 1, response(503), v(22)).retry);
}

TEST(SecR2_VirtualServiceRetries, StatusCodesAppendTheTokenFrom1_12) {
  RetryPolicy p11 = routeRetryPolicy(retry(2, "503, 504,reset"), v(11), std::nullopt);
  EXPECT_THAT(p11.retriableStatusCodes, ElementsAre(503u, 504u));
  EXPECT_THAT(p11.retryOn, ElementsAre("reset"));
  EXPECT_FALSE(afterAttempt(p11, 1, response(503), v(11)).retry);  // codes unused before 1.12
  RetryPolicy p12 = routeRetryPolicy(retry(2, "503,504,reset"), v(12), std::nullopt);
  EXPECT_THAT(p12.retryOn, ElementsAre("reset", "retriable-status-codes"));
  EXPECT_TRUE(afterAttempt(p12, 1, response(504), v(12)).retry);
}

TEST(SecR2_VirtualServiceRetries, BackoffAndPreviousHostsFrom1_26) {
  model::HttpRetry r = retry(2);
  r.backoff = milliseconds(100);
  r.retryIgnorePreviousHosts = false;
  RetryPolicy p25 = routeRetryPolicy(r, v(25), std::nullopt);
  EXPECT_EQ(p25.backoffBase, milliseconds(25));
  EXPECT_TRUE(p25.previousHosts);
  RetryPolicy p26 = routeRetryPolicy(r, v(26), std::nullopt);
  EXPECT_EQ(p26.backoffBase, milliseconds(100));
  EXPECT_FALSE(p26.previousHosts);
}

// ------------------------------------------------------------------ §R0/§R2.3 retry decisions
TEST(SecR2_Decisions, ExhaustedConnectFailuresAreUFURX) {
  RetryPolicy p = builtInRetryPolicy(v(22));
  EXPECT_TRUE(afterAttempt(p, 1, failure(Kind::kConnectFailure), v(22)).retry);
  EXPECT_TRUE(afterAttempt(p, 2, failure(Kind::kConnectFailure), v(22)).retry);
  RetryStep s = afterAttempt(p, 3, failure(Kind::kConnectFailure), v(22));
  ASSERT_FALSE(s.retry);
  EXPECT_EQ(s.final.status, 503u);
  EXPECT_EQ(parseResponseFlags(formatResponseFlags(s.final.flags, v(22))),
            ResponseFlag::kUF | ResponseFlag::kURX);
  EXPECT_THAT(s.final.body, ::testing::HasSubstr("retried and the latest reset reason"));
}

TEST(SecR2_Decisions, Exhausted503IsForwardedWithURX) {
  RetryPolicy p = builtInRetryPolicy(v(22));
  AttemptOutcome r = response(503);
  r.body = "from upstream";
  RetryStep s = afterAttempt(p, 3, r, v(22));
  ASSERT_FALSE(s.retry);
  EXPECT_TRUE(s.final.viaUpstream);
  EXPECT_EQ(s.final.body, "from upstream");
  EXPECT_EQ(formatResponseFlags(s.final.flags, v(22)), "URX");
}

TEST(SecR2_Decisions, OverloadedResponseIsNeverRetried) {
  RetryPolicy p = routeRetryPolicy(retry(3, "5xx"), v(22), std::nullopt);
  AttemptOutcome r = response(503);
  r.overloaded = true;
  RetryStep s = afterAttempt(p, 1, r, v(22));
  EXPECT_FALSE(s.retry);
  EXPECT_TRUE(s.final.flags.empty());
  EXPECT_TRUE(afterAttempt(p, 1, response(503), v(22)).retry);
}

TEST(SecR2_Decisions, ResetConditionsFollowEnvoy) {
  const auto reset = failure(Kind::kConnectionReset);
  EXPECT_FALSE(afterAttempt(builtInRetryPolicy(v(22)), 1, reset, v(22)).retry);
  for (const char* on : {"5xx", "gateway-error", "reset"}) {
    RetryPolicy p = routeRetryPolicy(retry(1, on), v(22), std::nullopt);
    EXPECT_TRUE(afterAttempt(p, 1, reset, v(22)).retry) << on;
    EXPECT_TRUE(afterAttempt(p, 1, failure(Kind::kConnectFailure), v(22)).retry) << on;
  }
  RetryPolicy gw = routeRetryPolicy(retry(1, "gateway-error"), v(22), std::nullopt);
  EXPECT_FALSE(afterAttempt(gw, 1, response(500), v(22)).retry);
  EXPECT_TRUE(afterAttempt(gw, 1, response(502), v(22)).retry);
  RetryPolicy r4 = routeRetryPolicy(retry(1, "retriable-4xx"), v(22), std::nullopt);
  EXPECT_TRUE(afterAttempt(r4, 1, response(409), v(22)).retry);
  EXPECT_FALSE(afterAttempt(r4, 1, response(404), v(22)).retry);
}

// §R0, §R2.3, §R6: a retry the max_retries breaker refuses ends the request with the attempt's
// own answer plus UO (RetryStatus::NoOverflow), never URX, and no x-envoy-overloaded.
TEST(SecR2_RetryOverflow, AnswerOfTheAttemptWithUONotURX) {
  const RetryPolicy p = builtInRetryPolicy(v(22));
  AttemptOutcome r = response(503);
  r.body = "from upstream";
  ASSERT_TRUE(afterAttempt(p, 1, r, v(22)).retry);  // the policy would retry it
  const ProxyResponse forwarded = retryOverflowReply(p, 1, r, v(22));
  EXPECT_TRUE(forwarded.viaUpstream);
  EXPECT_EQ(forwarded.status, 503u);
  EXPECT_EQ(forwarded.body, "from upstream");
  EXPECT_EQ(formatResponseFlags(forwarded.flags, v(22)), "UO");
  EXPECT_TRUE(forwarded.headers.empty());

  // A connect failure on the second attempt: Envoy's reset reply of a retried request, UF,UO.
  const ProxyResponse reset = retryOverflowReply(p, 2, failure(Kind::kConnectFailure), v(22));
  EXPECT_FALSE(reset.viaUpstream);
  EXPECT_EQ(reset.status, 503u);
  EXPECT_EQ(reset.flags, ResponseFlag::kUF | ResponseFlag::kUO);
  EXPECT_THAT(reset.body, ::testing::HasSubstr("retried and the latest reset reason"));
  EXPECT_TRUE(reset.headers.empty());

  // A per-try timeout under 5xx: 504 UT,UO upstream_per_try_timeout.
  const RetryPolicy fiveXx = routeRetryPolicy(retry(2, "5xx"), v(22), std::nullopt);
  const ProxyResponse timeout = retryOverflowReply(fiveXx, 1, failure(Kind::kTimeout), v(22));
  EXPECT_EQ(timeout.status, 504u);
  EXPECT_EQ(timeout.details, "upstream_per_try_timeout");
  EXPECT_EQ(timeout.flags, ResponseFlag::kUT | ResponseFlag::kUO);
}

// §R1: a per-try timeout is retried only under 5xx, gateway-error or reset.
TEST(SecR1_PerTryTimeout, RetriedOnlyBy5xxGatewayErrorOrReset) {
  RetryPolicy byDefault = builtInRetryPolicy(v(22));
  RetryStep s = afterAttempt(byDefault, 1, failure(Kind::kTimeout), v(22));
  ASSERT_FALSE(s.retry);
  EXPECT_EQ(s.final.status, 504u);
  EXPECT_EQ(s.final.details, "upstream_per_try_timeout");
  EXPECT_EQ(s.final.body, "upstream request timeout");
  EXPECT_EQ(formatResponseFlags(s.final.flags, v(22)), "UT");

  RetryPolicy p = routeRetryPolicy(retry(2, "5xx"), v(22), std::nullopt);
  EXPECT_TRUE(afterAttempt(p, 1, failure(Kind::kTimeout), v(22)).retry);
  RetryStep last = afterAttempt(p, 3, failure(Kind::kTimeout), v(22));
  ASSERT_FALSE(last.retry);
  EXPECT_EQ(parseResponseFlags(formatResponseFlags(last.final.flags, v(22))),
            ResponseFlag::kUT | ResponseFlag::kURX);
}

TEST(SecR2_Backoff, JitteredExponentialCappedAtTenTimesBase) {
  RetryPolicy p;
  EXPECT_EQ(retryBackoff(p, 1, 24), milliseconds(24));
  EXPECT_EQ(retryBackoff(p, 1, 25), milliseconds(0));   // window 25 ms
  EXPECT_EQ(retryBackoff(p, 2, 74), milliseconds(74));  // window 75 ms
  EXPECT_EQ(retryBackoff(p, 3, 174), milliseconds(174));
  EXPECT_EQ(retryBackoff(p, 9, 1000 + 249), milliseconds(249));  // capped at 250 ms
  p.backoffBase = milliseconds(100);
  EXPECT_EQ(retryBackoff(p, 5, 999), milliseconds(999));  // window min(3100, 1000)
}

// ------------------------------------------------------------------ §R1 timeouts
TEST(SecR1_Timeouts, PerTryAtOrAboveTheRouteTimeoutIsIgnored) {
  ForwardAction f;
  f.retry = builtInRetryPolicy(v(22));
  EXPECT_FALSE(routeTimeouts(f).global.has_value());
  EXPECT_FALSE(expectedRequestTimeoutMs(routeTimeouts(f), milliseconds(0)).has_value());
  f.timeout = routeTimeout(milliseconds(0));
  EXPECT_FALSE(routeTimeouts(f).global.has_value());  // 0 = disabled
  f.timeout = routeTimeout(milliseconds(1000));
  f.retry.perTryTimeout = milliseconds(1000);
  RouteTimeouts t = routeTimeouts(f);
  EXPECT_EQ(t.global, milliseconds(1000));
  EXPECT_FALSE(t.perTry.has_value());
  f.retry.perTryTimeout = milliseconds(300);
  t = routeTimeouts(f);
  EXPECT_EQ(t.perTry, milliseconds(300));
}

TEST(SecR1_Timeouts, ExpectedTimeoutHeaderIsPerTryElseGlobalCappedByWhatIsLeft) {
  RouteTimeouts t;
  t.global = milliseconds(3000);
  EXPECT_EQ(expectedRequestTimeoutMs(t, milliseconds(0)), 3000u);
  EXPECT_EQ(expectedRequestTimeoutMs(t, milliseconds(1000)), 2000u);
  EXPECT_EQ(expectedRequestTimeoutMs(t, milliseconds(5000)), 1u);
  t.perTry = milliseconds(500);
  EXPECT_EQ(expectedRequestTimeoutMs(t, milliseconds(0)), 500u);
  EXPECT_EQ(expectedRequestTimeoutMs(t, milliseconds(2800)), 200u);
  RouteTimeouts perTryOnly;
  perTryOnly.perTry = milliseconds(700);
  EXPECT_EQ(expectedRequestTimeoutMs(perTryOnly, milliseconds(5000)), 700u);
}

TEST(SecR1_Timeouts, RouteTimeoutReplyIs504UTResponseTimeout) {
  const ProxyResponse r = upstreamTimeoutReply();
  EXPECT_EQ(r.status, 504u);
  EXPECT_EQ(r.details, "response_timeout");
  EXPECT_EQ(r.body, "upstream request timeout");
  EXPECT_EQ(r.body.size(), 24u);  // §R0: 24 body bytes in the access log
  EXPECT_EQ(formatResponseFlags(r.flags, v(22)), "UT");
}

// ------------------------------------------------------------------ §R7 fault injection
TEST(SecR7_Fault, UnsetPercentageInjectsNothing) {
  model::HttpFaultInjection in;
  in.abort = model::HttpFaultInjection::Abort{};
  in.abort->httpStatus = 503;
  in.delay = model::HttpFaultInjection::Delay{};
  in.delay->fixedDelay = milliseconds(500);
  const auto f = routeFaultPolicy(in, "VirtualService a/b spec.http[0].fault");
  ASSERT_TRUE(f.has_value());
  for (std::uint64_t r : {0ull, 1ull, 999999ull, 123456789ull}) {
    const FaultDecision d = decideFault(*f, r, r);
    EXPECT_EQ(d.delay, milliseconds(0));
    EXPECT_FALSE(d.abort.has_value());
  }
}

TEST(SecR7_Fault, AbortAndDelayBySampledPercentage) {
  FaultPolicy f;
  f.abort = FaultPolicy::Abort{503, 100};
  f.delay = FaultPolicy::Delay{milliseconds(200), 12.5};
  FaultDecision d = decideFault(f, 124999, 999999);
  EXPECT_EQ(d.delay, milliseconds(200));
  ASSERT_TRUE(d.abort.has_value());
  EXPECT_EQ(d.abort->status, 503u);
  EXPECT_EQ(d.abort->body, "fault filter abort");
  EXPECT_EQ(d.abort->body.size(), 18u);
  EXPECT_EQ(d.abort->details, "fault_filter_abort");
  EXPECT_EQ(formatResponseFlags(d.abort->flags, v(22)), "FI");
  EXPECT_EQ(decideFault(f, 125000, 0).delay, milliseconds(0));  // outside 12.5 %
  // Both flags print in Envoy's order: DI before FI.
  EXPECT_EQ(formatResponseFlags(ResponseFlag::kFI | ResponseFlag::kDI, v(22)), "DI,FI");
  EXPECT_EQ(parseResponseFlags("DI,FI"), ResponseFlag::kDI | ResponseFlag::kFI);
}

TEST(SecR7_Fault, GrpcStatusAbortIsNotSimulatedHere) {
  model::HttpFaultInjection in;
  in.abort = model::HttpFaultInjection::Abort{};
  in.abort->grpcStatus = true;
  in.abort->percent = 100;
  const auto f = routeFaultPolicy(in);
  ASSERT_TRUE(f.has_value());
  EXPECT_FALSE(f->abort.has_value());
}

// ------------------------------------------------------------------ compiled routes
// The seed's VirtualService with timeout, retries and fault: each lands on the route of the
// proxy that evaluates it (the sidecar for `mesh`, the egress gateway for its Gateway).
TEST(SecR1R2R7_Compile, VirtualServiceResilienceLandsOnTheEvaluatingProxy) {
  testing::SeedSetup s(v(22));
  auto& http = s.resources.virtualServices[0].http;
  http[0].timeout = milliseconds(1000);
  http[0].retries = retry(0);
  model::HttpFaultInjection abort;
  abort.abort = model::HttpFaultInjection::Abort{};
  abort.abort->httpStatus = 503;
  abort.abort->percent = 100;
  http[0].fault = abort;
  http[1].retries = retry(3, "5xx", milliseconds(200));
  const CompiledMesh m = s.compile();

  const RouteDecision atSidecar = testing::sidecarRequest(testing::sleep(m), testing::kProxiedHost);
  ASSERT_NE(atSidecar.forward, nullptr);
  EXPECT_EQ(atSidecar.forward->timeout, milliseconds(1000));
  EXPECT_EQ(atSidecar.forward->retry.numRetries, 0u);
  ASSERT_TRUE(atSidecar.route->fault.has_value());
  EXPECT_EQ(atSidecar.route->fault->abort->httpStatus, 503u);

  const RouteDecision atEgress =
      testing::gatewayRequest(testing::egress(m), 8080, "", testing::kProxiedHost);
  ASSERT_NE(atEgress.forward, nullptr);
  EXPECT_FALSE(atEgress.forward->timeout.has_value());
  EXPECT_EQ(atEgress.forward->retry.numRetries, 3u);
  EXPECT_THAT(atEgress.forward->retry.retryOn, ElementsAre("5xx"));
  EXPECT_EQ(atEgress.forward->retry.perTryTimeout, milliseconds(200));
  EXPECT_TRUE(atEgress.forward->retry.fromVirtualService);
  EXPECT_FALSE(atEgress.route->fault.has_value());
  for (const auto& n : m.notSimulated)
    EXPECT_THAT(n.what, ::testing::Not(::testing::HasSubstr("fault")));
}

TEST(SecR2_Compile, MeshDefaultHttpRetryPolicyReplacesTheDefaultOnRoutesWithoutRetries) {
  testing::SeedSetup s(v(22));
  s.resources.istioOperators[0].meshConfig.defaultHttpRetryPolicy = retry(4, "gateway-error");
  const CompiledMesh m = s.compile();
  const RouteDecision d =
      testing::gatewayRequest(testing::egress(m), 8080, "", testing::kProxiedHost);
  ASSERT_NE(d.forward, nullptr);
  EXPECT_EQ(d.forward->retry.numRetries, 4u);
  EXPECT_THAT(d.forward->retry.retryOn, ElementsAre("gateway-error"));
  // Before 1.12 istiod does not read it.
  testing::SeedSetup old(v(11));
  old.resources.istioOperators[0].meshConfig.defaultHttpRetryPolicy = retry(4, "gateway-error");
  const CompiledMesh m11 = old.compile();
  const RouteDecision d11 =
      testing::gatewayRequest(testing::egress(m11), 8080, "", testing::kProxiedHost);
  EXPECT_EQ(d11.forward->retry.numRetries, 2u);
}

// §R2.1: the ALLOW_ANY catch-all route to PassthroughCluster has no retry policy.
TEST(SecR2_Compile, PassthroughRouteHasNoRetryPolicy) {
  testing::SeedSetup s(v(22));
  s.resources.istioOperators[0].meshConfig.outboundTrafficPolicy =
      model::OutboundTrafficPolicyMode::kAllowAny;
  const CompiledMesh m = s.compile();
  const RouteDecision d = testing::sidecarRequest(testing::sleep(m), "unknown.example.org");
  ASSERT_EQ(d.routeName, "allow_any");
  EXPECT_EQ(d.forward->retry.numRetries, 0u);
  EXPECT_FALSE(afterAttempt(d.forward->retry, 1, failure(Kind::kConnectFailure), v(22)).retry);
}

// §R2.2: retryRemoteLocalities is not modelled: a note on the route that sets it, none when false.
TEST(SecR2_Compile, RetryRemoteLocalitiesIsNoted) {
  testing::SeedSetup s(v(22));
  auto& http = s.resources.virtualServices[0].http;
  http[0].retries = retry(2);
  http[0].retries->retryRemoteLocalities = true;
  http[1].retries = retry(2);
  http[1].retries->retryRemoteLocalities = false;
  const CompiledMesh m = s.compile();
  std::vector<std::string> whats;
  for (const auto& n : m.notSimulated) {
    if (n.what.find("retryRemoteLocalities") != std::string::npos) whats.push_back(n.what);
  }
  EXPECT_THAT(whats, ElementsAre(http[0].path +
                                 ".retries.retryRemoteLocalities (retries to other localities' "
                                 "priorities) is not simulated"));

  // The same field in meshConfig.defaultHttpRetryPolicy (read from 1.12).
  testing::SeedSetup byMesh(v(22));
  model::HttpRetry meshRetry = retry(2);
  meshRetry.retryRemoteLocalities = true;
  byMesh.resources.istioOperators[0].meshConfig.defaultHttpRetryPolicy = meshRetry;
  const CompiledMesh m2 = byMesh.compile();
  bool noted = false;
  for (const auto& n : m2.notSimulated) {
    noted |= n.what.find("defaultHttpRetryPolicy.retryRemoteLocalities") != std::string::npos;
  }
  EXPECT_TRUE(noted);
}

// §R6 (connectionPool.tcp.connectTimeout): 10 s unless the DestinationRule sets it.
TEST(SecR1_Compile, ConnectTimeoutDefaultsToTenSecondsAndFollowsTheDestinationRule) {
  testing::SeedSetup s(v(22));
  const CompiledMesh byDefault = s.compile();
  const Cluster* c = testing::egress(byDefault).findCluster(testing::kSubsetCluster);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->connectTimeout, milliseconds(10000));
  model::ConnectionPoolSettings pool;
  pool.connectTimeout = milliseconds(250);
  pool.raw = {{"tcp", {{"connectTimeout", "250ms"}}}};
  s.destinationRule().subsets[0].trafficPolicy->portLevelSettings[0].connectionPool = pool;
  const CompiledMesh set = s.compile();
  EXPECT_EQ(testing::egress(set).findCluster(testing::kSubsetCluster)->connectTimeout,
            milliseconds(250));
  // connectTimeout is simulated: no connectionPool note; an unmodelled field (idleTimeout) keeps
  // one.
  for (const auto& n : set.notSimulated) {
    EXPECT_THAT(n.what, ::testing::Not(::testing::HasSubstr("connectionPool"))) << n.text();
  }
  pool.raw["tcp"]["idleTimeout"] = "1h";
  s.destinationRule().subsets[0].trafficPolicy->portLevelSettings[0].connectionPool = pool;
  bool noted = false;
  for (const auto& n : s.compile().notSimulated) {
    noted |= n.what.find("connectionPool") != std::string::npos;
  }
  EXPECT_TRUE(noted);
}

}  // namespace
}  // namespace egresslab::mesh
