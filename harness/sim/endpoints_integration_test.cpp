// Several servers behind one upstream, over real sockets: Envoy's host choice by version, outlier
// detection, panic routing, locality failover and circuit breakers, as a client sidecar of the
// simulated mesh shows them (docs/istio-behaviour.md §R0, §R3, §R4, §R5, §R6).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

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

struct TempDir : sim_test::TempDir {
  TempDir() : sim_test::TempDir("endpoints") {}
};

// The seed's control plane: access logs on (flags per proxy), REGISTRY_ONLY.
const fs::path kOperator = fs::path(EGRESSLAB_SOURCE_DIR) / "fixtures" / "seed" / "operator.yaml";

// A client pod (apps/client, with a sidecar) and the manifests and servers a test gives.
struct MeshSpec {
  std::string version = "1.24.0";
  std::string manifests;  // YAML documents (ServiceEntry, DestinationRule, …)
  std::string upstreams;  // the scenario's `upstreams:` items
  std::string dns;        // the scenario's `dns:` entries
  std::string clientLocality;
  std::string operatorYaml;  // replaces the seed's IstioOperator when set
};

class Mesh {
 public:
  explicit Mesh(const MeshSpec& s) {
    const fs::path manifests = dir_.write("manifests.yaml", s.manifests);
    const fs::path op =
        s.operatorYaml.empty() ? kOperator : dir_.write("operator.yaml", s.operatorYaml);
    const std::string locality =
        s.clientLocality.empty() ? "" : fmt::format(", locality: {}", s.clientLocality);
    const std::string yaml =
        fmt::format(R"(name: endpoints-test
istio: {{version: "{}"}}
manifests:
  - {}
  - {}
upstreams:
{}
dns:
{}
workloads:
  - {{name: client, namespace: apps, injected: true{}}}
)",
                    s.version, op.string(), manifests.string(), s.upstreams, s.dns, locality);
    const fs::path file = dir_.write("scenario.yaml", yaml);
    running_.emplace(file, "ep-test", SimOptions{.periodicProbes = false},
                     std::chrono::seconds(20));
  }
  bool ok() const { return running_ && running_->ok(); }
  SimMesh& mesh() { return running_->mesh(); }

  report::Observation curl(const std::string& line) { return running_->curl("apps/client", line); }

  // The server that answered /hostname ("" when none did).
  std::string hostname() {
    const auto o = curl("-sS http://crm.legacy.example/hostname");
    if (o.status != 200) return "status " + std::to_string(o.status.value_or(0));
    auto j = nlohmann::json::parse(o.body, nullptr, false);
    return j.is_object() ? j.value("hostname", "") : "";
  }

  void fault(const std::string& host, const std::string& action, int code = 0, int ms = 0) {
    model::FaultSpec f;
    f.target = "upstream/" + host;
    f.upstreamHost = host;
    f.action = action;
    f.code = code;
    f.ms = ms;
    auto r = mesh().fault(f);
    ASSERT_TRUE(r.has_value()) << r.error().str();
  }

 private:
  TempDir dir_;
  std::optional<sim_test::RunningMesh> running_;  // curl() runs on several threads at once
};

std::string flagOf(const report::Observation& o) {
  auto it = o.flags.find("client");
  return it == o.flags.end() ? "<no client line>" : it->second;
}

std::string describe(const report::Observation& o) {
  std::string s = fmt::format("exit={} status={} body={}\n", o.exit.value_or(-1),
                              o.status.value_or(0), o.body.substr(0, 200));
  for (const auto& l : o.accessLog) s += "  " + l + "\n";
  return s;
}

// One host, two servers behind its A records (docs/design.md "More than one server per
// upstream"), through a resolution: DNS ServiceEntry → STRICT_DNS, one host per record.
const char* kDnsServiceEntry = R"(apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: crm, namespace: apps}
spec:
  hosts: [crm.legacy.example]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
  location: MESH_EXTERNAL
)";
const char* kTwoServers =
    "  - {host: crm.legacy.example, port: 80, tls: false, name: crm-a, address: 198.51.100.11}\n"
    "  - {host: crm.legacy.example, port: 80, tls: false, name: crm-b, address: 198.51.100.12}";
const char* kTwoRecords = "  crm.legacy.example: [198.51.100.11, 198.51.100.12]";

MeshSpec twoServers(const std::string& version, const std::string& extraManifests = "") {
  MeshSpec s;
  s.version = version;
  s.manifests = std::string(kDnsServiceEntry) + extraManifests;
  s.upstreams = kTwoServers;
  s.dns = kTwoRecords;
  return s;
}

TEST(SeveralServers_R4, RoundRobinUpTo113AlternatesBetweenBothServers) {
  Mesh m(twoServers("1.13.0"));
  ASSERT_TRUE(m.ok());
  std::vector<std::string> names;
  for (int i = 0; i < 6; ++i) names.push_back(m.hostname());
  for (std::size_t i = 0; i + 1 < names.size(); ++i) {
    EXPECT_NE(names[i], names[i + 1]) << "ROUND_ROBIN alternates: " << fmt::format("{}", i);
  }
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
            (std::set<std::string>{"crm-a", "crm-b"}));
}

TEST(SeveralServers_R4, LeastRequestFrom114ReachesBothServers) {
  Mesh m(twoServers("1.22.0"));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m.mesh()
                .compiled()
                .findProxy("apps/client")
                ->findCluster("outbound|80||crm.legacy.example")
                ->lbPolicy,
            "LEAST_REQUEST");
  std::set<std::string> names;
  for (int i = 0; i < 30 && names.size() < 2; ++i) names.insert(m.hostname());
  EXPECT_EQ(names, (std::set<std::string>{"crm-a", "crm-b"}));
}

// One server per name, so that a fault reaches exactly one of them.
const char* kPerServerEntry = R"(apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: crm, namespace: apps}
spec:
  hosts: [crm.legacy.example]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
  location: MESH_EXTERNAL
  endpoints:
  - {address: crm-a.legacy.example}
  - {address: crm-b.legacy.example}
)";

MeshSpec perServer(const std::string& outlier, const std::string& lb = "ROUND_ROBIN") {
  MeshSpec s;
  s.manifests = std::string(kPerServerEntry) + fmt::format(R"(---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {{name: crm, namespace: apps}}
spec:
  host: crm.legacy.example
  trafficPolicy:
    loadBalancer: {{simple: {}}}
    outlierDetection: {}
)",
                                                           lb, outlier);
  s.upstreams =
      "  - {host: crm-a.legacy.example, port: 80, tls: false, name: crm-a}\n"
      "  - {host: crm-b.legacy.example, port: 80, tls: false, name: crm-b}";
  s.dns = "  crm.legacy.example: 198.51.100.99";
  return s;
}

TEST(OutlierDetection_R3, TheFailingServerIsEjectedAndTheOtherServesTheRest) {
  Mesh m(perServer("{consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 5m}"));
  ASSERT_TRUE(m.ok());
  m.fault("crm-a.legacy.example", "status", 503);
  std::vector<std::string> names;
  for (int i = 0; i < 12; ++i) names.push_back(m.hostname());
  // Round robin: crm-a answers 503 twice (its second 503 ejects it), then only crm-b serves.
  EXPECT_EQ(std::count(names.begin(), names.end(), "status 503"), 2) << fmt::format("{}", names);
  for (std::size_t i = 4; i < names.size(); ++i) EXPECT_EQ(names[i], "crm-b") << i;
}

// An ejected server comes back at the first interval sweep after base ejection time × times
// ejected (§R3): here 1 s on the simulation clock (time scale 1 in this test).
TEST(OutlierDetection_R3, TheEjectedServerReturnsAfterItsEjectionTime) {
  Mesh m(perServer("{consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1s}"));
  ASSERT_TRUE(m.ok());
  m.fault("crm-a.legacy.example", "status", 503);
  bool ejected = false;
  for (int i = 0; i < 4 && !ejected; ++i) ejected = m.hostname() == "status 503";
  ASSERT_TRUE(ejected);
  m.mesh().undoFaults();  // crm-a answers again; only the ejection keeps it out
  bool back = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!back && std::chrono::steady_clock::now() < deadline) back = m.hostname() == "crm-a";
  EXPECT_TRUE(back) << "crm-a never served again after its ejection time";
}

TEST(OutlierDetection_R3, AllEjectedIs503UHNoHealthyUpstream) {
  Mesh m(
      perServer("{consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 5m, "
                "maxEjectionPercent: 100}"));
  ASSERT_TRUE(m.ok());
  m.fault("crm-a.legacy.example", "status", 503);
  m.fault("crm-b.legacy.example", "status", 503);
  for (int i = 0; i < 2; ++i) {
    const auto o = m.curl("-sS http://crm.legacy.example/status/200");
    EXPECT_EQ(o.status, 503) << describe(o);
    EXPECT_EQ(flagOf(o), "-") << describe(o);  // the servers' own 503s
  }
  const auto o = m.curl("-sS http://crm.legacy.example/status/200");
  EXPECT_EQ(o.status, 503) << describe(o);
  EXPECT_EQ(flagOf(o), "UH") << describe(o);
  EXPECT_EQ(o.body, "no healthy upstream");
}

TEST(OutlierDetection_R3, MaxEjectionPercentKeepsTheLastServerInRotation) {
  // Envoy's default 10 %: one host is always ejectable, the second is not.
  Mesh m(perServer("{consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 5m}"));
  ASSERT_TRUE(m.ok());
  m.fault("crm-a.legacy.example", "status", 503);
  m.fault("crm-b.legacy.example", "status", 503);
  for (int i = 0; i < 5; ++i) {
    const auto o = m.curl("-sS http://crm.legacy.example/status/200");
    EXPECT_EQ(o.status, 503) << describe(o);
    EXPECT_EQ(flagOf(o), "-") << describe(o);  // never UH
  }
}

TEST(OutlierDetection_R3, BelowMinHealthPercentPanicRoutesToEjectedServersToo) {
  Mesh m(
      perServer("{consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 5m, "
                "maxEjectionPercent: 100, minHealthPercent: 60}"));
  ASSERT_TRUE(m.ok());
  m.fault("crm-a.legacy.example", "status", 503);
  std::vector<std::string> names;
  for (int i = 0; i < 8; ++i) names.push_back(m.hostname());
  // crm-a is ejected at its first 503, leaving 50 % healthy < 60 %: panic, round robin over both.
  EXPECT_GE(std::count(names.begin(), names.end(), "status 503"), 3) << fmt::format("{}", names);
  // Both ejected: still panic routing, never 503 UH.
  m.fault("crm-b.legacy.example", "status", 503);
  for (int i = 0; i < 3; ++i) {
    const auto o = m.curl("-sS http://crm.legacy.example/status/200");
    EXPECT_EQ(flagOf(o), "-") << describe(o);
  }
}

// Two zones: the client in eu-west-1a; one server per zone.
MeshSpec twoZones(bool outlierDetection) {
  MeshSpec s;
  s.manifests = R"(apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: crm, namespace: apps}
spec:
  hosts: [crm.legacy.example]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  location: MESH_EXTERNAL
  endpoints:
  - {address: 198.51.100.11, locality: eu-west/eu-west-1a}
  - {address: 198.51.100.12, locality: eu-west/eu-west-1b}
)";
  if (outlierDetection) {
    s.manifests += R"(---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: crm, namespace: apps}
spec:
  host: crm.legacy.example
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 5m,
                       maxEjectionPercent: 100}
)";
  }
  s.upstreams =
      "  - {host: crm-a.legacy.example, port: 80, tls: false, name: crm-a, address: "
      "198.51.100.11}\n"
      "  - {host: crm-b.legacy.example, port: 80, tls: false, name: crm-b, address: "
      "198.51.100.12}";
  s.dns = "  crm.legacy.example: 198.51.100.11";
  s.clientLocality = "eu-west/eu-west-1a";
  return s;
}

TEST(LocalityFailover_R5, SameZoneFirstThenTheOtherZoneWhenItIsEjected) {
  Mesh m(twoZones(true));
  ASSERT_TRUE(m.ok());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(m.hostname(), "crm-a") << i;
  m.fault("crm-a.legacy.example", "status", 503);
  EXPECT_EQ(m.hostname(), "status 503");  // ejects crm-a
  for (int i = 0; i < 6; ++i) EXPECT_EQ(m.hostname(), "crm-b") << i;
}

TEST(LocalityFailover_R5, WithoutOutlierDetectionLocalityIsIgnored) {
  Mesh m(twoZones(false));
  ASSERT_TRUE(m.ok());
  std::set<std::string> names;
  for (int i = 0; i < 30 && names.size() < 2; ++i) names.insert(m.hostname());
  EXPECT_EQ(names, (std::set<std::string>{"crm-a", "crm-b"}));
}

TEST(CircuitBreaking_R6, OverflowIs503UOWithOverloadedHeaderAndNotRetried) {
  MeshSpec s;
  s.manifests = std::string(kDnsServiceEntry) + R"(---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: crm, namespace: apps}
spec:
  host: crm.legacy.example
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}
)";
  s.upstreams = "  - {host: crm.legacy.example, port: 80, tls: false, name: crm-a}";
  s.dns = "  other.example: 203.0.113.9";
  Mesh m(s);
  ASSERT_TRUE(m.ok());
  // Three at once against a slow server: one holds the connection, one waits, one overflows.
  std::vector<report::Observation> results(3);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = m.curl("-sS http://crm.legacy.example/delay/2"); });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  int overflow = 0;
  for (const auto& o : results) {
    if (o.status == 200) ++ok;
    if (o.status != 503) continue;
    ++overflow;
    EXPECT_EQ(flagOf(o), "UO") << describe(o);  // no URX: never retried
    ASSERT_TRUE(o.headers.contains("x-envoy-overloaded")) << describe(o);
    EXPECT_EQ(o.headers.at("x-envoy-overloaded").front(), "true");
    EXPECT_EQ(o.body,
              "upstream connect error or disconnect/reset before headers. reset reason: overflow");
    ASSERT_EQ(o.accessLog.size(), 1u) << describe(o);
    EXPECT_NE(o.accessLog[0].find("upstream_reset_before_response_started{overflow}"),
              std::string::npos)
        << describe(o);
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(overflow, 1);
}

// One server behind crm.legacy.example with the DestinationRule connectionPool `pool`.
MeshSpec pooled(const std::string& pool) {
  MeshSpec s;
  s.manifests = std::string(kDnsServiceEntry) + fmt::format(R"(---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {{name: crm, namespace: apps}}
spec:
  host: crm.legacy.example
  trafficPolicy:
    connectionPool: {}
)",
                                                            pool);
  s.upstreams = "  - {host: crm.legacy.example, port: 80, tls: false, name: crm-a}";
  s.dns = "  other.example: 203.0.113.9";
  return s;
}

// http2MaxRequests → max_requests (§R6): a request over it is refused at once — it does not
// wait for the one in flight like a request under maxConnections does.
TEST(CircuitBreaking_R6, Http2MaxRequestsRefusesTheRequestOverTheLimit) {
  Mesh m(pooled("{http: {http2MaxRequests: 1}}"));
  ASSERT_TRUE(m.ok());
  std::vector<report::Observation> results(3);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = m.curl("-sS http://crm.legacy.example/delay/2"); });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  int overflow = 0;
  for (const auto& o : results) {
    if (o.status == 200) {
      ++ok;
      continue;
    }
    ++overflow;
    EXPECT_EQ(o.status, 503) << describe(o);
    EXPECT_EQ(flagOf(o), "UO") << describe(o);
    ASSERT_TRUE(o.headers.contains("x-envoy-overloaded")) << describe(o);
    EXPECT_EQ(o.body,
              "upstream connect error or disconnect/reset before headers. reset reason: overflow");
  }
  // The three overlap (each holds its request for 2 s): one is served, the two others overflow
  // (a limit of 2 would serve two; a waiting queue instead would serve all three).
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(overflow, 2);
}

// The client sidecar's UPSTREAM_LOCAL_ADDRESS (after the last quoted field: cluster, then it).
std::string upstreamLocalOf(const report::Observation& o) {
  if (o.accessLog.empty()) return {};
  const std::string& line = o.accessLog.front();
  std::istringstream tail(line.substr(line.rfind('"') + 1));
  std::string cluster, upstreamLocal;
  tail >> cluster >> upstreamLocal;
  return upstreamLocal;
}

// maxRequestsPerConnection → max_requests_per_connection (§R6): 1 = a new upstream connection for
// every request; without it the sidecar keeps connections alive and reuses them.
TEST(CircuitBreaking_R6, MaxRequestsPerConnectionOneOpensAConnectionPerRequest) {
  constexpr std::size_t kRequests = 9;
  auto locals = [&](Mesh& m) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < kRequests; ++i) {
      const auto o = m.curl("-sS http://crm.legacy.example/get");
      EXPECT_EQ(o.status, 200) << describe(o);
      const std::string local = upstreamLocalOf(o);
      EXPECT_EQ(local.rfind("127.0.0.1:", 0), 0u) << describe(o);
      seen.insert(local);
    }
    return seen.size();
  };
  Mesh one(pooled("{http: {maxRequestsPerConnection: 1}}"));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(locals(one), kRequests);
  Mesh unlimited(pooled("{http: {maxRequestsPerConnection: 0}}"));
  ASSERT_TRUE(unlimited.ok());
  EXPECT_LT(locals(unlimited), kRequests);
}

// Two STATIC servers weighted 2:1 under ROUND_ROBIN (Envoy's earliest-deadline-first picks
// a, a, b, a, a, b …) and a VirtualService allowing one retry of a 5xx.
MeshSpec weightedPair(const std::string& version, const std::string& retries) {
  MeshSpec s;
  s.version = version;
  s.manifests = fmt::format(R"(apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {{name: crm, namespace: apps}}
spec:
  hosts: [crm.legacy.example]
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  location: MESH_EXTERNAL
  endpoints:
  - {{address: 198.51.100.11, weight: 2}}
  - {{address: 198.51.100.12, weight: 1}}
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {{name: crm, namespace: apps}}
spec:
  host: crm.legacy.example
  trafficPolicy:
    loadBalancer: {{simple: ROUND_ROBIN}}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {{name: crm, namespace: apps}}
spec:
  hosts: [crm.legacy.example]
  http:
  - route: [{{destination: {{host: crm.legacy.example}}}}]
    retries: {}
)",
                            retries);
  s.upstreams =
      "  - {host: crm-a.legacy.example, port: 80, tls: false, name: crm-a, address: "
      "198.51.100.11}\n"
      "  - {host: crm-b.legacy.example, port: 80, tls: false, name: crm-b, address: "
      "198.51.100.12}";
  s.dns = "  crm.legacy.example: 198.51.100.11";
  return s;
}

// §R2.1, §R2.2: the previous_hosts retry predicate (every version; VS
// `retryIgnorePreviousHosts: false` turns it off from 1.26). crm-a (picked twice in a row by the
// 2:1 weights) answers 503: with the predicate the one retry re-picks until it finds crm-b, so
// every request is served; without it the retry follows the rotation and lands on crm-a again.
TEST(Retries_R2, PreviousHostsPredicateSendsTheRetryToAnotherServer) {
  {
    Mesh m(weightedPair("1.22.0", "{attempts: 1, retryOn: 5xx}"));
    ASSERT_TRUE(m.ok());
    m.fault("crm-a.legacy.example", "status", 503);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(m.hostname(), "crm-b") << i;
  }
  {
    Mesh m(weightedPair("1.26.0", "{attempts: 1, retryOn: 5xx, retryIgnorePreviousHosts: false}"));
    ASSERT_TRUE(m.ok());
    m.fault("crm-a.legacy.example", "status", 503);
    std::vector<std::string> names;
    for (int i = 0; i < 6; ++i) names.push_back(m.hostname());
    EXPECT_GE(std::count(names.begin(), names.end(), "status 503"), 2) << fmt::format("{}", names);
  }
}

// §R2.1: Istio puts no retry policy on the ALLOW_ANY catch-all route to PassthroughCluster, and
// tcp_proxy makes one connect attempt (max_connect_attempts unset = 1). A refused upstream is one
// attempt in both: HTTP 503 UF without URX and without "retried"; TCP closed with UF,URX — URX
// there is tcp_proxy's "max connect attempts reached" (onConnectMaxAttempts), not a retry.
TEST(Retries_R2, PassthroughClusterAndTcpAreNotRetried) {
  MeshSpec s;
  s.version = "1.22.0";  // the default HTTP policy would retry a connect failure on any version
  s.operatorYaml = R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: istio-operator, namespace: istio-operator}
spec:
  profile: default
  tag: 1.22.0
  meshConfig:
    accessLogFile: /dev/stdout
    outboundTrafficPolicy: {mode: ALLOW_ANY}
)";
  s.manifests = "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n";
  s.upstreams =
      "  - {host: api.example.org, port: 80, tls: false}\n"
      "  - {host: api.example.org, port: 443, tls: true}";
  s.dns = "  other.example: 203.0.113.9";
  Mesh m(s);
  ASSERT_TRUE(m.ok());
  const auto up = m.curl("-sS http://api.example.org/get");
  ASSERT_EQ(up.status, 200) << describe(up);
  m.fault("api.example.org", "down");

  const auto http = m.curl("-sS http://api.example.org/get");
  EXPECT_EQ(http.status, 503) << describe(http);
  EXPECT_EQ(flagOf(http), "UF") << describe(http);  // no URX: no retry policy
  EXPECT_EQ(http.body.find("retried"), std::string::npos) << describe(http);
  ASSERT_EQ(http.accessLog.size(), 1u) << describe(http);
  EXPECT_NE(http.accessLog[0].find("PassthroughCluster"), std::string::npos) << describe(http);

  const std::uint64_t since = m.mesh().logSequence();
  const auto tcp = m.curl("-sS https://api.example.org/get");
  EXPECT_NE(tcp.exit, 0) << describe(tcp);
  // The sidecar's TCP line (joined by connection, not by request id) once the hop has logged.
  std::optional<LogRecord> line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!line && std::chrono::steady_clock::now() < deadline) {
    for (const auto& r : m.mesh().allLogs()) {
      if (r.tcp && r.seq > since && r.line.find("PassthroughCluster") != std::string::npos) {
        line = r;
      }
    }
    if (!line) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(line.has_value()) << describe(tcp);
  EXPECT_EQ(mesh::parseResponseFlags(line->flags),
            mesh::ResponseFlag::kUF | mesh::ResponseFlag::kURX)
      << line->line;
}

// TLS passed through the sidecar (tcp_proxy) to two servers of one host: the same load
// balancer, outlier detection and max_connections as HTTP clusters (§R3, §R4, §R6).
MeshSpec tlsPair(const std::string& trafficPolicy) {
  MeshSpec s;
  s.manifests = std::string(R"(apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: crm, namespace: apps}
spec:
  hosts: [crm.legacy.example]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
  location: MESH_EXTERNAL
  endpoints:
  - {address: crm-a.legacy.example}
  - {address: crm-b.legacy.example}
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: crm, namespace: apps}
spec:
  host: crm.legacy.example
  trafficPolicy:
)") + trafficPolicy;
  s.upstreams =
      "  - {host: crm-a.legacy.example, port: 443, tls: true, name: crm-a}\n"
      "  - {host: crm-b.legacy.example, port: 443, tls: true, name: crm-b}";
  s.dns = "  crm.legacy.example: 198.51.100.99";
  return s;
}

// A connect failure ejects the server (it counts as a 503, §R3) and round robin sends every
// later connection to the other one.
TEST(TcpClusters_R3, ConnectFailuresEjectTheServerAndRoundRobinUsesTheOther) {
  Mesh m(
      tlsPair("    loadBalancer: {simple: ROUND_ROBIN}\n"
              "    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, "
              "baseEjectionTime: 5m}\n"));
  ASSERT_TRUE(m.ok());
  m.fault("crm-a.legacy.example", "down");
  int failed = 0;
  std::vector<std::string> names;
  for (int i = 0; i < 8; ++i) {
    const auto o = m.curl("-sSk https://crm.legacy.example/hostname");
    if (o.status != 200) {
      ++failed;
      continue;
    }
    auto j = nlohmann::json::parse(o.body, nullptr, false);
    names.push_back(j.is_object() ? j.value("hostname", "") : "");
  }
  EXPECT_LE(failed, 1) << fmt::format("{}", names);  // only the connection that ejected crm-a
  for (const auto& n : names) EXPECT_EQ(n, "crm-b");
}

// tcp.maxConnections 1: while one connection is open, the next is closed by the sidecar (UO).
TEST(TcpClusters_R6, MaxConnectionsClosesTheConnectionOverTheLimit) {
  Mesh m(tlsPair("    connectionPool: {tcp: {maxConnections: 1}}\n"));
  ASSERT_TRUE(m.ok());
  const std::uint64_t since = m.mesh().logSequence();
  std::vector<report::Observation> results(3);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back(
        [&, i] { results[i] = m.curl("-sSk https://crm.legacy.example/delay/2"); });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  for (const auto& o : results) ok += o.status == 200 ? 1 : 0;
  EXPECT_GE(ok, 1);
  EXPECT_LT(ok, 3);  // without the limit all three would be served
  int overflowed = 0;
  for (const auto& r : m.mesh().allLogs()) {
    if (r.tcp && r.seq > since && mesh::parseResponseFlags(r.flags).has(mesh::ResponseFlag::kUO)) {
      ++overflowed;
    }
  }
  EXPECT_EQ(overflowed, 3 - ok);
}

// connectionPool.http.maxRetries (§R2.3, §R6): a request holds a retry slot from its decision to
// retry until its next decision, so with maxRetries 1 and several requests failing at once only
// one of them retries; the others end with their upstream's own 503 plus UO — not URX, no
// x-envoy-overloaded, details via_upstream.
TEST(CircuitBreaking_R6, RetryOverflowKeepsTheUpstreamAnswerWithUOInsteadOfRetrying) {
  MeshSpec s;
  s.version = "1.22.0";  // the default policy retries 503 (§R2.1)
  s.manifests = std::string(kDnsServiceEntry) + R"(---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: crm, namespace: apps}
spec:
  host: crm.legacy.example
  trafficPolicy:
    connectionPool: {http: {maxRetries: 1}}
)";
  s.upstreams = "  - {host: crm.legacy.example, port: 80, tls: false, name: crm-a}";
  s.dns = "  other.example: 203.0.113.9";
  Mesh m(s);
  ASSERT_TRUE(m.ok());
  // Every attempt answers 503 after 1.5 s: the first request to retry holds the only slot for
  // its two retries (3 s), so the requests whose first attempt ends meanwhile cannot retry.
  m.fault("crm.legacy.example", "latency", 0, 1500);
  m.fault("crm.legacy.example", "status", 503);
  std::vector<report::Observation> results(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = m.curl("-sS http://crm.legacy.example/get"); });
  }
  for (auto& t : threads) t.join();
  int retried = 0;
  int overflowed = 0;
  for (const auto& o : results) {
    ASSERT_EQ(o.status, 503) << describe(o);
    ASSERT_EQ(o.accessLog.size(), 1u) << describe(o);
    const mesh::ResponseFlags flags = mesh::parseResponseFlags(flagOf(o));
    if (flags == mesh::ResponseFlags(mesh::ResponseFlag::kURX)) {
      ++retried;
      continue;
    }
    ++overflowed;
    EXPECT_EQ(flags, mesh::ResponseFlags(mesh::ResponseFlag::kUO)) << describe(o);
    EXPECT_FALSE(o.headers.contains("x-envoy-overloaded")) << describe(o);
    EXPECT_NE(o.accessLog[0].find(" via_upstream "), std::string::npos) << describe(o);
  }
  EXPECT_GE(retried, 1);
  EXPECT_GE(overflowed, 1);
  EXPECT_EQ(retried + overflowed, 4);
}

}  // namespace
}  // namespace egresslab::sim
