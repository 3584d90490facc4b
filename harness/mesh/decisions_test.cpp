// Unit tests of the pure decision functions on hand-built config.
#include "harness/mesh/decisions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/mesh/compile.h"

namespace egresslab::mesh {
namespace {

using ::testing::ElementsAre;

model::IstioVersion v(int minor) { return {1, minor, 0}; }

// ------------------------------------------------------------------ §9 access log
AccessLogEntry blockAllEntry() {
  AccessLogEntry e;
  e.startTime = std::chrono::sys_days{std::chrono::year{2020} / 12 / 16} + std::chrono::hours(10) +
                std::chrono::milliseconds(42);
  e.method = "GET";
  e.path = "/status/200";
  e.protocol = "HTTP/1.1";
  e.responseCode = 502;
  e.responseCodeDetails = "direct_response";
  e.userAgent = "curl/7.88.1";
  e.requestId = "3f6c-1";
  e.authority = "unknown.example.org";
  e.downstreamLocalAddress = "203.0.113.10:80";
  e.downstreamRemoteAddress = "10.244.10.12:40000";
  e.routeName = "block_all";
  return e;
}

TEST(Sec9_AccessLog, Istio1_8FormatHasNoDetailsColumns) {
  AccessLogEntry e = blockAllEntry();
  EXPECT_EQ(formatAccessLog(accessLogFormatFor(v(8)), e, v(8)),
            "[2020-12-16T10:00:00.042Z] \"GET /status/200 HTTP/1.1\" 502 - \"-\" 0 0 0 - \"-\" "
            "\"curl/7.88.1\" \"3f6c-1\" \"unknown.example.org\" \"-\" - - 203.0.113.10:80 "
            "10.244.10.12:40000 - block_all");
}

TEST(Sec9_AccessLog, Istio1_11FormatAddsDetailsAfterFlags) {
  AccessLogEntry e = blockAllEntry();
  EXPECT_EQ(accessLogFormatFor(v(11)), AccessLogFormatVersion::kIstio19);
  EXPECT_EQ(formatAccessLog(accessLogFormatFor(v(11)), e, v(11)),
            "[2020-12-16T10:00:00.042Z] \"GET /status/200 HTTP/1.1\" 502 - direct_response - "
            "\"-\" 0 0 0 - \"-\" \"curl/7.88.1\" \"3f6c-1\" \"unknown.example.org\" \"-\" - - "
            "203.0.113.10:80 10.244.10.12:40000 - block_all");
}

TEST(Sec9_AccessLog, Istio1_23FormatUsesUpstreamClusterRawAndNewFlagOrder) {
  AccessLogEntry e = blockAllEntry();
  e.responseCode = 503;
  e.flags = ResponseFlag::kUF | ResponseFlag::kURX;
  e.responseCodeDetails = "upstream_reset_before_response_started{remote_connection_failure}";
  e.upstreamCluster = "outbound|80||httpbin-egress.httpbin.svc.cluster.local";
  e.upstreamHost = "10.244.10.11:8080";
  e.routeName = "";
  EXPECT_EQ(accessLogFormatFor(v(23)), AccessLogFormatVersion::kIstio123);
  EXPECT_THAT(std::string(accessLogFormatString(AccessLogFormatVersion::kIstio123)),
              ::testing::HasSubstr("%UPSTREAM_CLUSTER_RAW%"));
  EXPECT_EQ(formatAccessLog(accessLogFormatFor(v(23)), e, v(23)),
            "[2020-12-16T10:00:00.042Z] \"GET /status/200 HTTP/1.1\" 503 URX,UF "
            "upstream_reset_before_response_started{remote_connection_failure} - \"-\" 0 0 0 - "
            "\"-\" \"curl/7.88.1\" \"3f6c-1\" \"unknown.example.org\" \"10.244.10.11:8080\" "
            "outbound|80||httpbin-egress.httpbin.svc.cluster.local - 203.0.113.10:80 "
            "10.244.10.12:40000 - -");
}

TEST(Sec9_AccessLog, TcpBlackHoleLine) {
  AccessLogEntry e;
  e.startTime = std::chrono::sys_days{std::chrono::year{2024} / 1 / 2};
  e.tcp = true;
  TcpOutcome t = tcpBlackHoleOutcome();
  e.flags = t.flags;
  e.upstreamCluster = t.upstreamCluster;
  e.downstreamLocalAddress = "198.51.100.99:443";
  e.downstreamRemoteAddress = "10.244.10.12:40001";
  EXPECT_EQ(formatAccessLog(accessLogFormatFor(v(22)), e, v(22)),
            "[2024-01-02T00:00:00.000Z] \"- - -\" 0 UH - - \"-\" 0 0 0 - \"-\" \"-\" \"-\" \"-\" "
            "\"-\" BlackHoleCluster - 198.51.100.99:443 10.244.10.12:40001 - -");
}

TEST(Sec9_AccessLog, FormatBoundaries) {
  EXPECT_EQ(accessLogFormatFor(v(8)), AccessLogFormatVersion::kIstio18);
  EXPECT_EQ(accessLogFormatFor(v(9)), AccessLogFormatVersion::kIstio19);
  EXPECT_EQ(accessLogFormatFor(v(22)), AccessLogFormatVersion::kIstio19);
  EXPECT_EQ(accessLogFormatFor(v(23)), AccessLogFormatVersion::kIstio123);
  EXPECT_EQ(accessLogFormatFor(v(28)), AccessLogFormatVersion::kIstio123);
}

// ------------------------------------------------------------------ flags
TEST(Sec11_1_Flags, OrderDependsOnVersionAndParsesAsASet) {
  ResponseFlags f = ResponseFlag::kURX | ResponseFlag::kUF;
  EXPECT_EQ(formatResponseFlags(f, v(21)), "UF,URX");
  EXPECT_EQ(formatResponseFlags(f, v(22)), "URX,UF");
  EXPECT_EQ(parseResponseFlags("URX,UF"), parseResponseFlags("UF,URX"));
  EXPECT_EQ(parseResponseFlags("-"), ResponseFlags{});
  EXPECT_EQ(formatResponseFlags({}, v(22)), "-");
  EXPECT_EQ(formatResponseFlags(ResponseFlag::kNC, v(22)), "NC");
}

// ------------------------------------------------------------------ §9 retries
TEST(Sec9_Retries, DefaultPolicyRetries503Through1_23Only) {
  RetryPolicy p23 = defaultRetryPolicy(v(23));
  EXPECT_EQ(p23.numRetries, 2u);
  EXPECT_THAT(p23.retriableStatusCodes, ElementsAre(503u));
  EXPECT_THAT(p23.retryOn, ::testing::Contains("connect-failure"));
  RetryPolicy p24 = defaultRetryPolicy(v(24));
  EXPECT_TRUE(p24.retriableStatusCodes.empty());
  // Istio keeps the token in retry_on from 1.24 but sends no status code (§R2.1).
  EXPECT_THAT(p24.retryOn, ::testing::Contains("retriable-status-codes"));
}

TEST(Sec9_Retries, SuccessOnSecondAttemptHasNoFlags) {
  RetryPolicy p = defaultRetryPolicy(v(22));
  AttemptOutcome refused{AttemptOutcome::Kind::kConnectFailure, 0, "", ""};
  EXPECT_TRUE(afterAttempt(p, 1, refused, v(22)).retry);
  AttemptOutcome ok{AttemptOutcome::Kind::kResponse, 200, "", "{}"};
  RetryStep s = afterAttempt(p, 2, ok, v(22));
  EXPECT_FALSE(s.retry);
  EXPECT_EQ(s.final.status, 200u);
  EXPECT_TRUE(s.final.flags.empty());
  EXPECT_EQ(s.final.body, "{}");
}

TEST(Sec4_Retries, TlsVerifyFailureIsUFURXWithTransportReason) {
  RetryPolicy p = defaultRetryPolicy(v(22));
  AttemptOutcome tls{
      AttemptOutcome::Kind::kConnectFailure, 0,
      "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end",
      ""};
  RetryStep s = afterAttempt(p, 3, tls, v(22));
  ASSERT_FALSE(s.retry);
  EXPECT_EQ(s.final.status, 503u);
  EXPECT_EQ(formatResponseFlags(s.final.flags, v(22)), "URX,UF");
  EXPECT_THAT(s.final.body, ::testing::HasSubstr("CERTIFICATE_VERIFY_FAILED"));
  EXPECT_THAT(s.final.upstreamTransportFailureReason, ::testing::HasSubstr("TLS_error"));
}

TEST(Sec9_Retries, NonRetriableStatusPassesThroughWithoutURX) {
  RetryPolicy p = defaultRetryPolicy(v(22));
  AttemptOutcome r{AttemptOutcome::Kind::kResponse, 500, "", "oops"};
  RetryStep s = afterAttempt(p, 1, r, v(22));
  EXPECT_FALSE(s.retry);
  EXPECT_EQ(s.final.status, 500u);
  EXPECT_TRUE(s.final.flags.empty());
  EXPECT_TRUE(s.final.viaUpstream);
}

TEST(Sec9_Retries, ZeroRetriesNeverAddsURX) {
  RetryPolicy p = defaultRetryPolicy(v(22));
  p.numRetries = 0;
  AttemptOutcome refused{AttemptOutcome::Kind::kConnectFailure, 0, "", ""};
  RetryStep s = afterAttempt(p, 1, refused, v(22));
  EXPECT_FALSE(s.retry);
  EXPECT_EQ(formatResponseFlags(s.final.flags, v(22)), "UF");
  EXPECT_THAT(s.final.body, ::testing::HasSubstr("reset reason: remote connection failure"));
}

TEST(Sec9_Retries, ResetAndTimeoutOutcomes) {
  RetryPolicy p = defaultRetryPolicy(v(18));
  RetryStep reset = afterAttempt(p, 1, {AttemptOutcome::Kind::kConnectionReset, 0, "", ""}, v(18));
  EXPECT_FALSE(reset.retry);  // "reset" is not in the default retry_on
  EXPECT_EQ(formatResponseFlags(reset.final.flags, v(18)), "UC");
  RetryStep timeout = afterAttempt(p, 1, {AttemptOutcome::Kind::kTimeout, 0, "", ""}, v(18));
  EXPECT_EQ(timeout.final.status, 504u);
  EXPECT_EQ(formatResponseFlags(timeout.final.flags, v(18)), "UT");
}

// §R9: a codec protocol error (an HTTP/2 cluster's server answering in HTTP/1.1) is Envoy's 502
// UPE, retried like a reset (under reset, 5xx, gateway-error; not by the default policy).
TEST(SecR9_ProtocolError, Is502UPEAndRetriedLikeAReset) {
  const AttemptOutcome error{AttemptOutcome::Kind::kProtocolError, 0, "", ""};
  RetryStep s = afterAttempt(defaultRetryPolicy(v(22)), 1, error, v(22));
  EXPECT_FALSE(s.retry);
  EXPECT_EQ(s.final.status, 502u);
  EXPECT_EQ(formatResponseFlags(s.final.flags, v(22)), "UPE");
  EXPECT_EQ(s.final.body,
            "upstream connect error or disconnect/reset before headers. reset reason: protocol "
            "error");
  EXPECT_EQ(s.final.details, "upstream_reset_before_response_started{protocol_error}");
  RetryPolicy reset = defaultRetryPolicy(v(22));
  reset.retryOn = {"reset"};
  EXPECT_TRUE(afterAttempt(reset, 1, error, v(22)).retry);
}

// §R0, §R6: a circuit breaker's overflow is 503 UO with Envoy's 81-byte body and
// x-envoy-overloaded, and never retried, whatever retryOn says.
TEST(SecR6_Overflow, NeverRetriedAnd503UOWithEnvoysBody) {
  RetryPolicy p = defaultRetryPolicy(v(22));
  p.retryOn = {"5xx", "reset", "connect-failure", "gateway-error"};
  RetryStep s = afterAttempt(p, 1, {AttemptOutcome::Kind::kOverflow, 0, "", ""}, v(22));
  EXPECT_FALSE(s.retry);
  EXPECT_EQ(s.final.status, 503u);
  EXPECT_EQ(formatResponseFlags(s.final.flags, v(22)), "UO");
  EXPECT_EQ(s.final.body,
            "upstream connect error or disconnect/reset before headers. reset reason: overflow");
  EXPECT_EQ(s.final.body.size(), 81u);
  EXPECT_EQ(s.final.details, "upstream_reset_before_response_started{overflow}");
  ASSERT_EQ(s.final.headers.size(), 1u);
  EXPECT_EQ(s.final.headers[0],
            (std::pair<std::string, std::string>{"x-envoy-overloaded", "true"}));
}

// ------------------------------------------------------------------ routing
ProxyConfig routingProxy(bool ignorePort) {
  ProxyConfig p;
  p.version = v(22);
  RouteConfig rc;
  rc.name = "rc";
  rc.ignorePortInHostMatching = ignorePort;
  auto fwd = [](std::string name, StringMatcher path, std::string cluster) {
    Route r;
    r.name = std::move(name);
    r.match.path = std::move(path);
    r.forward.clusters.push_back({std::move(cluster), 100, {}, {}});
    return r;
  };
  VirtualHost exact{"exact", {"api.example.com"}, false, {}};
  exact.routes.push_back(
      fwd("exact", {StringMatcher::Kind::kExact, "/status/200", false}, "c-exact"));
  Route hdr = fwd("hdr", {StringMatcher::Kind::kPrefix, "/", false}, "c-hdr");
  hdr.match.headers.push_back({"x-canary", {StringMatcher::Kind::kExact, "yes", false}, false});
  exact.routes.push_back(hdr);
  Route re = fwd("regex", {StringMatcher::Kind::kRegex, "/delay/[0-9]+", false}, "c-regex");
  exact.routes.push_back(re);
  Route rewrite = fwd("rewrite", {StringMatcher::Kind::kPrefix, "/old/", false}, "c-rewrite");
  rewrite.forward.prefixRewrite = "/new/";
  rewrite.forward.hostRewrite = "upstream.internal";
  exact.routes.push_back(rewrite);
  Route split = fwd("split", {StringMatcher::Kind::kPrefix, "/split", false}, "c-a");
  split.forward.clusters.front().weight = 80;
  split.forward.clusters.push_back({"c-b", 20, {}, {}});
  exact.routes.push_back(split);
  Route direct;
  direct.name = "teapot";
  direct.match.path = {StringMatcher::Kind::kPrefix, "/teapot", false};
  direct.kind = Route::ActionKind::kDirectResponse;
  direct.direct = {418, "short and stout"};
  exact.routes.push_back(direct);
  rc.virtualHosts.push_back(exact);
  VirtualHost suffix{"suffix", {"*.example.com"}, false, {}};
  suffix.routes.push_back(fwd("suffix", {StringMatcher::Kind::kPrefix, "/", false}, "c-suffix"));
  rc.virtualHosts.push_back(suffix);
  VirtualHost prefix{"prefix", {"internal.*"}, false, {}};
  prefix.routes.push_back(fwd("prefix", {StringMatcher::Kind::kPrefix, "/", false}, "c-prefix"));
  rc.virtualHosts.push_back(prefix);
  p.routeConfigs.push_back(rc);
  p.reindex();
  return p;
}

FilterChain httpChain() {
  FilterChain fc;
  fc.kind = FilterChainKind::kHttp;
  fc.routeConfigName = "rc";
  return fc;
}

RouteDecision route(const ProxyConfig& p, std::string_view host, std::string_view path,
                    const std::vector<std::pair<std::string, std::string>>* headers = nullptr,
                    std::uint64_t random = 0) {
  RequestView r;
  r.authority = host;
  r.path = path;
  r.headers = headers;
  return routeRequest(p, httpChain(), r, random);
}

TEST(Routing, VirtualHostPrecedenceExactSuffixPrefixThenNone) {
  ProxyConfig p = routingProxy(false);
  EXPECT_EQ(route(p, "api.example.com", "/status/200").routeName, "exact");
  EXPECT_EQ(route(p, "API.Example.com", "/status/200").routeName, "exact");
  EXPECT_EQ(route(p, "www.example.com", "/").routeName, "suffix");
  EXPECT_EQ(route(p, "internal.corp", "/").routeName, "prefix");
  RouteDecision none = route(p, "other.org", "/");
  EXPECT_EQ(none.kind, RouteDecision::Kind::kNoRoute);
  EXPECT_EQ(none.response.status, 404u);
}

TEST(Sec11_4_Routing, PortInHostIsIgnoredOnlyWhenConfigured) {
  EXPECT_EQ(route(routingProxy(false), "api.example.com:8443", "/status/200").kind,
            RouteDecision::Kind::kNoRoute);
  EXPECT_EQ(route(routingProxy(true), "api.example.com:8443", "/status/200").routeName, "exact");
}

TEST(Routing, PathHeaderRegexMatchesInOrder) {
  ProxyConfig p = routingProxy(false);
  EXPECT_EQ(route(p, "api.example.com", "/status/200?x=1").routeName, "exact");
  std::vector<std::pair<std::string, std::string>> canary{{"X-Canary", "yes"}};
  EXPECT_EQ(route(p, "api.example.com", "/anything", &canary).routeName, "hdr");
  EXPECT_EQ(route(p, "api.example.com", "/delay/3").routeName, "regex");
  EXPECT_EQ(route(p, "api.example.com", "/delay/x").kind, RouteDecision::Kind::kNoRoute);
}

TEST(Routing, RewritesAndWeightedClusters) {
  ProxyConfig p = routingProxy(false);
  RouteDecision d = route(p, "api.example.com", "/old/thing?q=1");
  EXPECT_EQ(d.upstreamPath, "/new/thing?q=1");
  EXPECT_EQ(d.upstreamAuthority, "upstream.internal");
  EXPECT_EQ(route(p, "api.example.com", "/split", nullptr, 0).cluster->cluster, "c-a");
  EXPECT_EQ(route(p, "api.example.com", "/split", nullptr, 79).cluster->cluster, "c-a");
  EXPECT_EQ(route(p, "api.example.com", "/split", nullptr, 80).cluster->cluster, "c-b");
  RouteDecision t = route(p, "api.example.com", "/teapot");
  EXPECT_EQ(t.kind, RouteDecision::Kind::kDirectResponse);
  EXPECT_EQ(t.response.status, 418u);
  EXPECT_EQ(t.response.body, "short and stout");
}

TEST(Routing, MissingRouteConfigIsNoRoute) {
  ProxyConfig p = routingProxy(false);
  FilterChain fc = httpChain();
  fc.routeConfigName = "absent";
  RequestView r;
  r.authority = "api.example.com";
  r.path = "/";
  EXPECT_EQ(routeRequest(p, fc, r).response.status, 404u);
}

// ------------------------------------------------------------------ clusters
TEST(Clusters, PickEndpointAndReadiness) {
  ProxyConfig p;
  p.version = v(22);
  Cluster c;
  c.name = "outbound|80||svc";
  Endpoint a;
  a.address = "10.0.0.1";
  Endpoint b;
  b.address = "10.0.0.2";
  c.endpoints = {a, b};
  p.clusters.push_back(c);
  p.reindex();
  ClusterResolution r = resolveCluster(p, "outbound|80||svc");
  ASSERT_EQ(r.healthy.size(), 2u);
  EXPECT_EQ(pickEndpoint(r, 3)->address, "10.0.0.2");
  r = resolveCluster(p, "outbound|80||svc",
                     [](const Endpoint& e) { return e.address == "10.0.0.2"; });
  ASSERT_EQ(r.healthy.size(), 1u);
  EXPECT_EQ(pickEndpoint(r, 0)->address, "10.0.0.2");
  EXPECT_FALSE(r.localReply.has_value());
}

TEST(Sec4_Tls, AutoSniUsesTheHostWithoutPort) {
  Cluster c;
  UpstreamTls t;
  t.autoSni = true;
  t.autoSanValidation = true;
  t.verify = ServerVerification::kSystemCa;
  c.tls = t;
  Endpoint e;
  auto eff = upstreamTlsFor(c, e, "Httpbin.Example.com:443");
  ASSERT_TRUE(eff.has_value());
  EXPECT_EQ(eff->sni, "httpbin.example.com");
  EXPECT_THAT(eff->verifySubjectAltNames, ElementsAre("httpbin.example.com"));
}

// ------------------------------------------------------------------ §3 DNS
TEST(Sec3_Dns, SearchListAndAbsoluteNames) {
  DnsView dns;
  dns.records["httpbin-egress.httpbin.svc.cluster.local"] = "10.96.10.11";
  dns.records["httpbin.org"] = "198.51.10.10";
  EXPECT_EQ(resolveName(dns, "httpbin", "httpbin-egress"), "10.96.10.11");
  EXPECT_EQ(resolveName(dns, "default", "httpbin-egress.httpbin"), "10.96.10.11");
  EXPECT_EQ(resolveName(dns, "default", "httpbin-egress"), std::nullopt);
  EXPECT_EQ(resolveName(dns, "default", "httpbin.org."), "198.51.10.10");
  EXPECT_EQ(resolveName(dns, "default", "HTTPBIN.org"), "198.51.10.10");
  EXPECT_EQ(resolveName(dns, "default", "10.1.2.3"), "10.1.2.3");
}

}  // namespace
}  // namespace egresslab::mesh
