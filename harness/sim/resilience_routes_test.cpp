// Socket-level tests of VirtualService timeouts, retries and fault injection in the simulated
// data plane (docs/istio-behaviour.md §R0, §R1, §R2, §R7): the seed's setup (fixtures/seed) with
// its VirtualService extended by the resilience fields under test, on Istio 1.22 and 1.24.
// No timing asserts: a timeout shows as its status, flags and details, never as a duration.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "harness/curl/command.h"
#include "harness/curl/execute.h"
#include "harness/mesh/decisions.h"
#include "harness/model/loader.h"
#include "harness/sim/sim_backend.h"
#include "harness/sim/sim_mesh.h"
#include "harness/sim/sim_test_support.h"

namespace egresslab::sim {
namespace {

namespace fs = std::filesystem;

const fs::path kSeed = fs::path(EGRESSLAB_SOURCE_DIR) / "fixtures" / "seed";

// The seed's VirtualService; `sidecarExtra` / `egressExtra` are YAML lines (indented 4) added to
// the route evaluated by the sidecar and ingress gateway (http[0]) and by the egress gateway
// (http[1]).
std::string virtualService(const std::string& sidecarExtra, const std::string& egressExtra) {
  return fmt::format(R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {{name: httpbin-egress, namespace: httpbin}}
spec:
  hosts: [httpbin.example.com]
  gateways: [mesh, istio-system/my-ingressgateway, httpbin/httpbin-egress]
  http:
  - match:
    - gateways: [istio-system/my-ingressgateway, mesh]
      uri: {{prefix: /}}
    route:
    - destination: {{host: httpbin-egress.httpbin.svc.cluster.local, port: {{number: 80}}}}
{}  - match:
    - gateways: [httpbin/httpbin-egress]
      uri: {{prefix: /}}
    route:
    - destination: {{host: httpbin.org, subset: http-egress-subset, port: {{number: 443}}}}
{})",
                     sidecarExtra, egressExtra);
}

// The seed's DestinationRule with `sni` (works on every version, §4).
const char* kDestinationRule = R"(apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: httpbin-egress, namespace: httpbin}
spec:
  host: httpbin.org
  subsets:
  - name: http-egress-subset
    trafficPolicy:
      portLevelSettings:
      - port: {number: 443}
        tls: {mode: SIMPLE, sni: httpbin.org}
)";

struct TempDir : sim_test::TempDir {
  TempDir() : sim_test::TempDir("resilience") {}
};

class Mesh {
 public:
  Mesh(const std::string& version, const std::string& sidecarExtra, const std::string& egressExtra,
       const std::string& destinationRule = kDestinationRule) {
    const fs::path vs = dir_.write("vs.yaml", virtualService(sidecarExtra, egressExtra));
    const fs::path dr = dir_.write("dr.yaml", destinationRule);
    std::string manifests;
    for (const auto& f : {kSeed / "operator.yaml", kSeed / "egress.yaml",
                          kSeed / "ingress-gateway.yaml", kSeed / "egress-gateway.yaml", vs,
                          kSeed / "service-entry.yaml", dr, kSeed / "peer-authentication.yaml"}) {
      manifests += fmt::format("  - {}\n", f.string());
    }
    const fs::path file = dir_.write("scenario.yaml", fmt::format(R"(name: resilience-test
istio: {{version: "{}"}}
vars:
  my-proxied-service-hostname: httpbin.example.com
  my-secret-name: httpbin-credential
manifests:
{}secrets:
  - {{name: <my-secret-name>, namespace: istio-system, hosts: [<my-proxied-service-hostname>]}}
upstreams:
  - {{host: httpbin.org, port: 443, tls: true}}
dns:
  httpbin.example.com: 203.0.113.10
workloads:
  - {{name: sleep, namespace: httpbin, injected: true}}
portForwards:
  - {{service: istio-system/istio-ingressgateway, local: 15443, remote: 443}}
)",
                                                                  version, manifests));
    running_.emplace(file, "resilience", SimOptions{.periodicProbes = false},
                     std::chrono::seconds(20));
  }
  bool ok() const { return running_ && running_->ok(); }
  SimMesh& mesh() { return running_->mesh(); }

  report::Observation curl(const std::string& from, std::string line) {
    return running_->curl(from, line);
  }

  void fault(const std::string& action, int ms = 0) {
    model::FaultSpec f;
    f.target = "upstream/httpbin.org";
    f.upstreamHost = "httpbin.org";
    f.action = action;
    f.ms = ms;
    auto r = mesh().fault(f);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().str());
  }

 private:
  TempDir dir_;
  std::optional<sim_test::RunningMesh> running_;
};

const char* kInMesh = "-sS http://httpbin.example.com";

std::string describe(const report::Observation& o) {
  std::string s = fmt::format("exit={} status={} err={} body={}\n", o.exit.value_or(-1),
                              o.status.value_or(0), o.curlError, o.body.substr(0, 300));
  for (const auto& l : o.accessLog) s += "  " + l + "\n";
  return s;
}

// Access-log lines of one proxy for the request (one per attempt that reached it).
std::size_t linesOf(const report::Observation& o, const std::string& proxy) {
  return static_cast<std::size_t>(
      std::count_if(o.accessLog.begin(), o.accessLog.end(),
                    [&](const std::string& l) { return l.rfind(proxy + ": ", 0) == 0; }));
}

mesh::ResponseFlags flagsOf(const report::Observation& o, const std::string& proxy) {
  const auto it = o.flags.find(proxy);
  return it == o.flags.end() ? mesh::ResponseFlags{} : mesh::parseResponseFlags(it->second);
}

// ------------------------------------------------------------------ §R1 timeouts
// VS timeout 1s in front of a 3 s upstream: the egress gateway answers 504 UT response_timeout
// "upstream request timeout" before the upstream does; the timed-out attempt's connection is
// closed, so the next request is not answered by the late response.
TEST(SecR1_RouteTimeout, TimeoutBeforeTheUpstreamAnswersIs504UT) {
  Mesh m("1.22.0", "", "    timeout: 1s\n");
  ASSERT_TRUE(m.ok());
  const auto o = m.curl("httpbin/sleep", std::string(kInMesh) + "/delay/3");
  EXPECT_EQ(o.status, 504) << describe(o);
  EXPECT_EQ(o.body, "upstream request timeout") << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "UT") << describe(o);
  EXPECT_EQ(o.flags.at("sleep"), "-") << describe(o);  // 504 is not retried by default
  ASSERT_FALSE(o.accessLog.empty());
  bool details = false;
  for (const auto& l : o.accessLog) {
    details |= l.rfind("httpbin-egress: ", 0) == 0 &&
               l.find(" 504 UT response_timeout ") != std::string::npos;
  }
  EXPECT_TRUE(details) << describe(o);
  for (int i = 0; i < 3; ++i) {
    const auto next = m.curl("httpbin/sleep", std::string(kInMesh) + "/status/200");
    EXPECT_EQ(next.status, 200) << describe(next);
  }
}

// §R1: x-envoy-expected-rq-timeout-ms reaches the upstream only when a timeout applies.
TEST(SecR1_RouteTimeout, ExpectedTimeoutHeaderOnlyWithATimeout) {
  Mesh with("1.22.0", "", "    timeout: 3s\n");
  ASSERT_TRUE(with.ok());
  const auto o = with.curl("httpbin/sleep", std::string(kInMesh) + "/headers");
  EXPECT_EQ(o.status, 200) << describe(o);
  const auto headers = nlohmann::json::parse(o.body, nullptr, false)["headers"];
  EXPECT_EQ(headers.value("X-Envoy-Expected-Rq-Timeout-Ms", nlohmann::json::array()),
            nlohmann::json::array({"3000"}))
      << o.body;
  // §R2.3: every attempt carries its number; the upstream sees the egress gateway's.
  EXPECT_EQ(headers.value("X-Envoy-Attempt-Count", nlohmann::json::array()),
            nlohmann::json::array({"1"}))
      << o.body;
  Mesh without("1.22.0", "", "");
  ASSERT_TRUE(without.ok());
  const auto n = without.curl("httpbin/sleep", std::string(kInMesh) + "/headers");
  EXPECT_EQ(n.status, 200) << describe(n);
  EXPECT_EQ(n.body.find("Expected-Rq-Timeout"), std::string::npos) << n.body;
}

// §R1: a per-try timeout is retried only when retryOn has 5xx / gateway-error / reset.
TEST(SecR1_PerTryTimeout, RetriedUnder5xxNotUnderConnectFailure) {
  Mesh retried("1.22.0", "", "    retries: {attempts: 2, perTryTimeout: 200ms, retryOn: 5xx}\n");
  ASSERT_TRUE(retried.ok());
  const auto r = retried.curl("httpbin/sleep", std::string(kInMesh) + "/delay/2");
  EXPECT_EQ(r.status, 504) << describe(r);
  EXPECT_EQ(r.body, "upstream request timeout");
  EXPECT_EQ(flagsOf(r, "httpbin-egress"), mesh::ResponseFlag::kUT | mesh::ResponseFlag::kURX)
      << describe(r);
  EXPECT_NE(r.accessLog.back().find("upstream_per_try_timeout"), std::string::npos) << describe(r);

  Mesh once("1.22.0", "",
            "    retries: {attempts: 2, perTryTimeout: 200ms, retryOn: connect-failure}\n");
  ASSERT_TRUE(once.ok());
  const auto o = once.curl("httpbin/sleep", std::string(kInMesh) + "/delay/2");
  EXPECT_EQ(o.status, 504) << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "UT") << describe(o);
}

// ------------------------------------------------------------------ §R2 retries
// An upstream 503 under the default policy: retried (3 attempts at each proxy) through 1.23,
// passed through once from 1.24. The sidecar's attempts each reach the egress gateway.
TEST(SecR2_DefaultRetries, Upstream503RetriedThrough1_23Only) {
  Mesh v22("1.22.0", "", "");
  ASSERT_TRUE(v22.ok());
  const auto o = v22.curl("httpbin/sleep", std::string(kInMesh) + "/status/503");
  EXPECT_EQ(o.status, 503) << describe(o);
  EXPECT_EQ(o.flags.at("sleep"), "URX") << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "URX") << describe(o);
  EXPECT_EQ(linesOf(o, "httpbin-egress"), 3u) << describe(o);

  Mesh v24("1.24.0", "", "");
  ASSERT_TRUE(v24.ok());
  const auto n = v24.curl("httpbin/sleep", std::string(kInMesh) + "/status/503");
  EXPECT_EQ(n.status, 503) << describe(n);
  EXPECT_EQ(n.flags.at("sleep"), "-") << describe(n);
  EXPECT_EQ(n.flags.at("httpbin-egress"), "-") << describe(n);
  EXPECT_EQ(linesOf(n, "httpbin-egress"), 1u) << describe(n);
}

// A refused upstream: connect failures are retried by the default policy → 503 UF,URX at the
// egress gateway; `attempts: 0` removes the policy → UF alone.
TEST(SecR2_Retries, RefusedUpstreamIsUFURXAndAttemptsZeroIsUF) {
  Mesh byDefault("1.24.0", "", "");
  ASSERT_TRUE(byDefault.ok());
  byDefault.fault("down");
  const auto o = byDefault.curl("httpbin/sleep", std::string(kInMesh) + "/status/200");
  EXPECT_EQ(o.status, 503) << describe(o);
  EXPECT_EQ(flagsOf(o, "httpbin-egress"), mesh::ResponseFlag::kUF | mesh::ResponseFlag::kURX)
      << describe(o);
  EXPECT_NE(o.body.find("retried and the latest reset reason"), std::string::npos) << o.body;

  Mesh none("1.24.0", "", "    retries: {attempts: 0}\n");
  ASSERT_TRUE(none.ok());
  none.fault("down");
  const auto n = none.curl("httpbin/sleep", std::string(kInMesh) + "/status/200");
  EXPECT_EQ(n.status, 503) << describe(n);
  EXPECT_EQ(n.flags.at("httpbin-egress"), "UF") << describe(n);
  EXPECT_EQ(n.body.find("retried"), std::string::npos) << n.body;
}

// VS retryOn with a status code: the egress gateway retries 500 (1.12+ appends the token).
TEST(SecR2_Retries, RetryOnStatusCodeRetriesThatStatus) {
  Mesh m("1.24.0", "    retries: {attempts: 3, retryOn: \"500\"}\n", "");
  ASSERT_TRUE(m.ok());
  const auto o = m.curl("httpbin/sleep", std::string(kInMesh) + "/status/500");
  EXPECT_EQ(o.status, 500) << describe(o);
  EXPECT_EQ(o.flags.at("sleep"), "URX") << describe(o);
  EXPECT_EQ(linesOf(o, "httpbin-egress"), 4u) << describe(o);
}

// §R0, §R2.3, §R6: a 503 UO of the egress gateway's circuit breaker carries
// x-envoy-overloaded, so the 1.22 sidecar — whose default policy retries 503 — does not retry it:
// one egress line, no URX at the sidecar.
TEST(SecR2_Retries, OverflowAtTheEgressGatewayIsNotRetriedByTheSidecar) {
  Mesh m("1.22.0", "", "", R"(apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: httpbin-egress, namespace: httpbin}
spec:
  host: httpbin.org
  subsets:
  - name: http-egress-subset
    trafficPolicy:
      portLevelSettings:
      - port: {number: 443}
        tls: {mode: SIMPLE, sni: httpbin.org}
        connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}
)");
  ASSERT_TRUE(m.ok());
  m.fault("latency", 1500);
  // Three at once: one holds the egress gateway's connection, one waits, one overflows there.
  std::vector<report::Observation> results(3);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back(
        [&, i] { results[i] = m.curl("httpbin/sleep", std::string(kInMesh) + "/status/200"); });
  }
  for (auto& t : threads) t.join();
  int overflowed = 0;
  for (const auto& o : results) {
    if (o.status == 200) continue;
    ++overflowed;
    EXPECT_EQ(o.status, 503) << describe(o);
    EXPECT_EQ(o.flags.at("httpbin-egress"), "UO") << describe(o);
    EXPECT_EQ(o.flags.at("sleep"), "-") << describe(o);  // not URX: never retried
    EXPECT_EQ(linesOf(o, "httpbin-egress"), 1u) << describe(o);
    ASSERT_TRUE(o.headers.contains("x-envoy-overloaded")) << describe(o);
  }
  EXPECT_GE(overflowed, 1);
}

// §R1, §R6: DestinationRule connectTimeout bounds the whole connect — for TLS origination the
// handshake too (Envoy raises Connected after it). A server that accepts and never answers
// (blackhole): each attempt of the egress gateway ends after 300 ms as a connect failure,
// retried by the default policy, 503 UF,URX — well before curl's own 10 s limit.
TEST(SecR1_ConnectTimeout, BoundsTheTlsHandshakeOfTheOriginatingProxy) {
  Mesh m("1.24.0", "", "", R"(apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: httpbin-egress, namespace: httpbin}
spec:
  host: httpbin.org
  subsets:
  - name: http-egress-subset
    trafficPolicy:
      portLevelSettings:
      - port: {number: 443}
        tls: {mode: SIMPLE, sni: httpbin.org}
        connectionPool: {tcp: {connectTimeout: 300ms}}
)");
  ASSERT_TRUE(m.ok());
  m.fault("blackhole");
  const auto o = m.curl("httpbin/sleep", "-sS -m 10 http://httpbin.example.com/status/200");
  EXPECT_EQ(o.exit, 0) << describe(o);
  EXPECT_EQ(o.status, 503) << describe(o);
  EXPECT_EQ(flagsOf(o, "httpbin-egress"), mesh::ResponseFlag::kUF | mesh::ResponseFlag::kURX)
      << describe(o);
  EXPECT_EQ(linesOf(o, "httpbin-egress"), 1u) << describe(o);
}

// ------------------------------------------------------------------ §R7 fault injection
// An abort on the route the sidecar evaluates: answered by the sidecar, never reaching the
// egress gateway; not retried by the sidecar that made it.
TEST(SecR7_Fault, AbortAtTheSidecar) {
  Mesh m("1.22.0", "    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}\n", "");
  ASSERT_TRUE(m.ok());
  const auto o = m.curl("httpbin/sleep", std::string(kInMesh) + "/status/200");
  EXPECT_EQ(o.status, 503) << describe(o);
  EXPECT_EQ(o.body, "fault filter abort");
  EXPECT_EQ(o.via, std::vector<std::string>{"sleep"}) << describe(o);
  EXPECT_EQ(o.flags.at("sleep"), "FI") << describe(o);
  ASSERT_EQ(o.accessLog.size(), 1u) << describe(o);
  EXPECT_NE(o.accessLog[0].find("fault_filter_abort"), std::string::npos) << describe(o);
}

// The same route is evaluated by the ingress gateway for external requests: it aborts there.
TEST(SecR7_Fault, AbortAtTheIngressGateway) {
  Mesh m("1.22.0", "    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}\n", "");
  ASSERT_TRUE(m.ok());
  const auto o = m.curl("",
                        "-sS --resolve httpbin.example.com:15443:127.0.0.1 --cacert ${ca} "
                        "https://httpbin.example.com:15443/status/200");
  EXPECT_EQ(o.status, 418) << describe(o);
  EXPECT_EQ(o.via, std::vector<std::string>{"istio-ingressgateway"}) << describe(o);
  EXPECT_EQ(o.flags.at("istio-ingressgateway"), "FI") << describe(o);
}

// An abort at the egress gateway is a 503 the sidecar retries under ≤1.23 defaults (§R2.3).
TEST(SecR7_Fault, AbortAtTheEgressGatewayIsRetriedByTheSidecarOn1_22) {
  Mesh m("1.22.0", "", "    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}\n");
  ASSERT_TRUE(m.ok());
  const auto o = m.curl("httpbin/sleep", std::string(kInMesh) + "/status/200");
  EXPECT_EQ(o.status, 503) << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "FI") << describe(o);
  EXPECT_EQ(o.flags.at("sleep"), "URX") << describe(o);
  EXPECT_EQ(linesOf(o, "httpbin-egress"), 3u) << describe(o);
}

// A delay holds the request, then it proceeds: 200 with DI.
TEST(SecR7_Fault, DelayThenTheRequestProceeds) {
  Mesh m("1.24.0",
         "    fault: {delay: {fixedDelay: 300ms, percentage: {value: 100}}}\n    timeout: 200ms\n",
         "");
  ASSERT_TRUE(m.ok());
  // The delay runs before the router: the 200 ms route timeout does not count it.
  const auto o = m.curl("httpbin/sleep", std::string(kInMesh) + "/status/200");
  EXPECT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(o.flags.at("sleep"), "DI") << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "-") << describe(o);
}

// §R7: without a percentage (or with 0) nothing is injected.
TEST(SecR7_Fault, UnsetOrZeroPercentageNeverInjects) {
  Mesh unset("1.24.0", "    fault: {abort: {httpStatus: 503}, delay: {fixedDelay: 5s}}\n", "");
  ASSERT_TRUE(unset.ok());
  for (int i = 0; i < 5; ++i) {
    const auto o = unset.curl("httpbin/sleep", std::string(kInMesh) + "/status/200");
    EXPECT_EQ(o.status, 200) << describe(o);
    EXPECT_EQ(o.flags.at("sleep"), "-") << describe(o);
  }
  Mesh zero("1.24.0", "    fault: {abort: {httpStatus: 503, percentage: {value: 0}}}\n", "");
  ASSERT_TRUE(zero.ok());
  const auto z = zero.curl("httpbin/sleep", std::string(kInMesh) + "/status/200");
  EXPECT_EQ(z.status, 200) << describe(z);
}

}  // namespace
}  // namespace egresslab::sim
