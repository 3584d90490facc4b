// Several servers behind one upstream, over real sockets: Envoy's host choice by version, outlier
// detection, panic routing, locality failover and circuit breakers, as a client sidecar of the
// simulated mesh shows them (docs/istio-behaviour.md §R0, §R3, §R4, §R5, §R6).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "harness/curl/command.h"
#include "harness/curl/execute.h"
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
};

class Mesh {
 public:
  explicit Mesh(const MeshSpec& s) {
    const fs::path manifests = dir_.write("manifests.yaml", s.manifests);
    const std::string locality =
        s.clientLocality.empty() ? "" : fmt::format(", locality: {}", s.clientLocality);
    const std::string yaml = fmt::format(R"(name: endpoints-test
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
                                         s.version, kOperator.string(), manifests.string(),
                                         s.upstreams, s.dns, locality);
    const fs::path file = dir_.write("scenario.yaml", yaml);
    auto sc = model::loadScenario(file);
    if (!sc) {
      ADD_FAILURE() << sc.error().str();
      return;
    }
    scenario_ = std::move(*sc);
    SimOptions o;
    o.periodicProbes = false;
    auto m = SimMesh::start(scenario_, o);
    if (!m) {
      ADD_FAILURE() << m.error().str();
      return;
    }
    mesh_ = std::move(*m);
  }
  bool ok() const { return mesh_ != nullptr; }
  SimMesh& mesh() { return *mesh_; }

  report::Observation curl(const std::string& line) {
    return sim_test::curlThrough(*mesh_, "apps/client", line, fmt::format("ep-test-{}", ++n_),
                                 std::chrono::seconds(20));
  }

  // The server that answered /hostname ("" when none did).
  std::string hostname() {
    const auto o = curl("-sS http://crm.legacy.example/hostname");
    if (o.status != 200) return "status " + std::to_string(o.status.value_or(0));
    auto j = nlohmann::json::parse(o.body, nullptr, false);
    return j.is_object() ? j.value("hostname", "") : "";
  }

  void fault(const std::string& host, const std::string& action, int code = 0) {
    model::FaultSpec f;
    f.target = "upstream/" + host;
    f.upstreamHost = host;
    f.action = action;
    f.code = code;
    auto r = mesh_->fault(f);
    ASSERT_TRUE(r.has_value()) << r.error().str();
  }

 private:
  TempDir dir_;
  model::Scenario scenario_;
  std::unique_ptr<SimMesh> mesh_;
  std::atomic<int> n_{0};  // curl() runs on several threads at once
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

}  // namespace
}  // namespace egresslab::sim
