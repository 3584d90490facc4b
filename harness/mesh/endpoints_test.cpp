// Several servers per upstream, DNS cluster expansion and the DestinationRule resilience settings
// on clusters (docs/istio-behaviour.md §R3–§R6; docs/design.md "More than one server per
// upstream").
#include "harness/mesh/endpoints.h"

#include <gtest/gtest.h>

#include "harness/mesh/compile.h"
#include "harness/model/loader.h"

namespace egresslab::mesh {
namespace {

using Answers = std::map<std::string, std::vector<std::string>>;

model::UpstreamSpec server(std::string host, std::uint32_t port, std::string name,
                           std::string address = {}) {
  model::UpstreamSpec u;
  u.host = std::move(host);
  u.port = port;
  u.name = std::move(name);
  u.address = std::move(address);
  return u;
}

TEST(UpstreamAddresses, ExplicitThenDnsAnswersThenChosenByTheRun) {
  const std::vector<model::UpstreamSpec> ups{
      server("crm.legacy.example", 443, "crm-a", "198.51.100.12"),
      server("crm.legacy.example", 443, "crm-b"),
      server("httpbin.org", 443, "httpbin.org"),
      server("httpbin.org", 80, "httpbin.org"),  // the same server on another port
      server("two.example", 443, "two-a"),
      server("two.example", 443, "two-b"),
  };
  const Answers dns{{"crm.legacy.example", {"198.51.100.12", "198.51.100.11"}}};
  const auto a = upstreamAddresses(ups, dns);
  EXPECT_EQ(a[0], "198.51.100.12");
  EXPECT_EQ(a[1], "198.51.100.11");  // the A record no other server claims
  EXPECT_EQ(a[2], "198.51.10.12");   // a lone server keeps the run's address for its index
  EXPECT_EQ(a[3], a[2]);
  EXPECT_NE(a[4], a[5]);
  // Hosts without `dns:` resolve to every server's address.
  const auto answers = dnsAnswersWithUpstreams(ups, dns);
  EXPECT_EQ(answers.at("crm.legacy.example"), dns.at("crm.legacy.example"));
  EXPECT_EQ(answers.at("httpbin.org"), std::vector<std::string>{a[2]});
  EXPECT_EQ(answers.at("two.example"), (std::vector<std::string>{a[4], a[5]}));
}

TEST(ResolveDnsEndpoints_R4, StrictDnsOneHostPerRecordLogicalDnsTheFirst) {
  DnsView dns;
  dns.records["crm.legacy.example"] = "198.51.100.11";
  dns.answers["crm.legacy.example"] = {"198.51.100.11", "198.51.100.12"};
  Endpoint e;
  e.address = "crm.legacy.example";
  e.port = 443;
  e.locality = "eu/eu-1";
  e.weight = 3;
  e.labels = {{"tier", "legacy"}};
  const std::vector<Endpoint> in{e, e};  // the same target twice is resolved once
  const auto strict = resolveDnsEndpoints(in, ClusterType::kStrictDns, dns);
  ASSERT_EQ(strict.size(), 2u);
  EXPECT_EQ(strict[0].address, "198.51.100.11");
  EXPECT_EQ(strict[1].address, "198.51.100.12");
  for (const auto& h : strict) {
    EXPECT_EQ(h.dnsName, "crm.legacy.example");
    EXPECT_EQ(h.locality, "eu/eu-1");
    EXPECT_EQ(h.weight, 3u);
    EXPECT_EQ(h.labels.at("tier"), "legacy");
  }
  const auto logical = resolveDnsEndpoints(in, ClusterType::kLogicalDns, dns);
  ASSERT_EQ(logical.size(), 1u);
  EXPECT_EQ(logical[0].address, "198.51.100.11");
  // EDS endpoints are left alone; a name without records is kept as written.
  EXPECT_EQ(resolveDnsEndpoints(in, ClusterType::kEds, dns).size(), 2u);
  Endpoint unknown = e;
  unknown.address = "nowhere.example";
  const std::vector<Endpoint> none{unknown};
  EXPECT_EQ(resolveDnsEndpoints(none, ClusterType::kStrictDns, dns)[0].address, "nowhere.example");
}

TEST(ResilienceSettings_R3, OutlierDetectionAsIstioTranslatesIt) {
  model::OutlierDetection od;
  od.consecutiveGatewayErrors = 2;
  od.interval = std::chrono::milliseconds(1000);
  od.maxEjectionPercent = 100;
  const OutlierDetection o = outlierDetectionFor(od, "DestinationRule a/b");
  EXPECT_EQ(o.consecutive5xx, 5u);  // Envoy's default, enforcing 100
  EXPECT_TRUE(o.enforcingConsecutive5xx);
  EXPECT_EQ(o.consecutiveGatewayFailure, 2u);
  EXPECT_TRUE(o.enforcingConsecutiveGatewayFailure);
  EXPECT_EQ(o.interval, std::chrono::milliseconds(1000));
  EXPECT_EQ(o.baseEjectionTime, std::chrono::milliseconds(30000));
  EXPECT_EQ(o.maxEjectionPercent, 100u);
  EXPECT_EQ(panicThresholdFor(od), 0u);  // minHealthPercent unset → panic disabled
  od.consecutive5xxErrors = 0;
  od.raw = nlohmann::json{{"minHealthPercent", 50}};
  EXPECT_FALSE(outlierDetectionFor(od, "").enforcingConsecutive5xx);
  EXPECT_EQ(panicThresholdFor(od), 50u);
}

TEST(ResilienceSettings_R6, ConnectionPoolAsCircuitBreakers) {
  model::ConnectionPoolSettings pool;
  pool.maxConnections = 1;
  pool.http1MaxPendingRequests = 2;
  pool.maxRequestsPerConnection = 1;
  const CircuitBreakers cb = circuitBreakersFor(pool, "");
  EXPECT_EQ(cb.maxConnections, 1u);
  EXPECT_EQ(cb.maxPendingRequests, 2u);
  EXPECT_EQ(cb.maxRequests, CircuitBreakers::kUnlimited);
  EXPECT_EQ(cb.maxRetries, CircuitBreakers::kUnlimited);
  EXPECT_EQ(cb.maxRequestsPerConnection, 1u);
}

const char* kManifests = R"(apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: crm, namespace: apps}
spec:
  hosts: [crm.legacy.example]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
  location: MESH_EXTERNAL
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: crm, namespace: apps}
spec:
  host: crm.legacy.example
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s,
                       maxEjectionPercent: 100}
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: ledger, namespace: apps}
spec:
  hosts: [ledger.legacy.example]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  location: MESH_EXTERNAL
  endpoints:
  - {address: 198.51.100.21, locality: eu-west/eu-west-1a}
  - {address: 198.51.100.22, locality: eu-west/eu-west-1b, weight: 2}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: ledger, namespace: apps}
spec:
  host: ledger.legacy.example
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1}
)";

CompiledMesh compiled(const model::ResourceSet& resources) {
  CompileInput in{resources, model::IstioVersion::parse("1.22.0").value(), {}, {}, {}, {}, {}};
  model::WorkloadSpec client;
  client.name = "client";
  client.ns = "apps";
  client.injected = true;
  client.locality = "eu-west/eu-west-1b";
  in.workloads = {client};
  in.upstreams = {server("crm.legacy.example", 80, "crm-a", "198.51.100.11"),
                  server("crm.legacy.example", 80, "crm-b", "198.51.100.12"),
                  server("ledger.legacy.example", 80, "ledger-a", "198.51.100.21"),
                  server("ledger.legacy.example", 80, "ledger-b", "198.51.100.22")};
  // No `dns:` entry for crm.legacy.example: it resolves to both of its servers.
  auto mesh = compileMesh(in);
  EXPECT_TRUE(mesh.has_value());
  if (!mesh) return {};
  return std::move(*mesh);
}

TEST(EndpointsPass, StrictDnsClusterHasOneHostPerServerWithDestinationRuleSettings_R3_R4_R6) {
  auto resources = model::parseManifests(kManifests, "m.yaml");
  ASSERT_TRUE(resources) << resources.error().str();
  const CompiledMesh mesh = compiled(*resources);
  const ProxyConfig* client = mesh.findProxy("apps/client");
  ASSERT_NE(client, nullptr);
  const Cluster* crm = client->findCluster("outbound|80||crm.legacy.example");
  ASSERT_NE(crm, nullptr);
  EXPECT_EQ(crm->type, ClusterType::kStrictDns);
  ASSERT_EQ(crm->endpoints.size(), 2u);
  EXPECT_EQ(crm->endpoints[0].address, "198.51.100.11");
  EXPECT_EQ(crm->endpoints[1].address, "198.51.100.12");
  EXPECT_EQ(crm->endpoints[1].target.kind, EndpointTarget::Kind::kUpstream);
  EXPECT_EQ(crm->endpoints[1].target.address, "198.51.100.12");
  ASSERT_TRUE(crm->outlierDetection);
  EXPECT_EQ(crm->outlierDetection->consecutive5xx, 1u);
  EXPECT_EQ(crm->healthyPanicThreshold, 0u);
  EXPECT_EQ(crm->circuitBreakers.maxConnections, 1u);
  EXPECT_EQ(crm->circuitBreakers.maxPendingRequests, 1u);
  EXPECT_EQ(mesh.dns.answers.at("crm.legacy.example").size(), 2u);
}

TEST(EndpointsPass, StaticEndpointsGetLocalityWeightAndPrioritiesFromTheClient_R5) {
  auto resources = model::parseManifests(kManifests, "m.yaml");
  ASSERT_TRUE(resources) << resources.error().str();
  const CompiledMesh mesh = compiled(*resources);
  const Cluster* ledger =
      mesh.findProxy("apps/client")->findCluster("outbound|80||ledger.legacy.example");
  ASSERT_NE(ledger, nullptr);
  ASSERT_EQ(ledger->endpoints.size(), 2u);
  EXPECT_EQ(ledger->endpoints[0].locality, "eu-west/eu-west-1a");
  EXPECT_EQ(ledger->endpoints[1].weight, 2u);
  // The client is in eu-west-1b: its own zone first.
  EXPECT_EQ(ledger->endpoints[0].priority, 1u);
  EXPECT_EQ(ledger->endpoints[1].priority, 0u);
  EXPECT_EQ(ledger->priorityFrom, "locality");
  EXPECT_EQ(ledger->endpoints[0].target.address, "198.51.100.21");
  // Endpoints without a locality are all one level to the client.
  const Cluster* crm =
      mesh.findProxy("apps/client")->findCluster("outbound|80||crm.legacy.example");
  EXPECT_EQ(crm->endpoints[0].priority, 0u);
  EXPECT_EQ(crm->endpoints[1].priority, 0u);
}

// §R5: localityLbSetting.distribute (locality weights) is not modelled: noted where it is set,
// in a DestinationRule or in meshConfig.
TEST(EndpointsPass, LocalityDistributeIsNoted_R5) {
  const std::string manifests = std::string(kManifests) + R"(---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: control-plane, namespace: istio-system}
spec:
  meshConfig:
    localityLbSetting:
      distribute: [{from: "eu-west/*", to: {"eu-west/eu-west-1a": 80, "eu-west/eu-west-1b": 20}}]
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: ledger-weights, namespace: other}
spec:
  host: ledger.legacy.example
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        distribute: [{from: "eu-west/*", to: {"eu-west/eu-west-1b": 100}}]
)";
  auto resources = model::parseManifests(manifests, "m.yaml");
  ASSERT_TRUE(resources) << resources.error().str();
  const CompiledMesh mesh = compiled(*resources);
  std::vector<std::string> notes;
  for (const auto& n : mesh.notSimulated) {
    if (n.what.find("distribute") != std::string::npos) notes.push_back(n.ref + ": " + n.what);
  }
  EXPECT_EQ(notes, (std::vector<std::string>{
                       "DestinationRule other/ledger-weights: spec.trafficPolicy.loadBalancer."
                       "localityLbSetting.distribute (locality weights) is not simulated",
                       "IstioOperator istio-system/control-plane: "
                       "meshConfig.localityLbSetting.distribute (locality weights) is not "
                       "simulated"}));
}

// §R5: a gateway's locality is its pod's `istio-locality` label (dots for slashes); its
// clusters rank endpoints from it like a sidecar's.
TEST(EndpointsPass, GatewayLocalityComesFromItsIstioLocalityLabel_R5) {
  auto resources = model::parseManifests(kManifests, "m.yaml");
  ASSERT_TRUE(resources) << resources.error().str();
  CompileInput in{*resources, model::IstioVersion::parse("1.22.0").value(), {}, {}, {}, {}, {}};
  model::GatewayWorkload gw;
  gw.name = "crm-egress";
  gw.ns = "istio-system";
  gw.egress = true;
  gw.podLabels = {
      {"app", "crm-egress"}, {"istio", "crm-egress"}, {"istio-locality", "eu-west.eu-west-1a"}};
  gw.servicePorts = {model::ServicePort{"http2", 80, 8080, "TCP", ""}};
  in.gateways = {gw};
  in.upstreams = {server("ledger.legacy.example", 80, "ledger-a", "198.51.100.21"),
                  server("ledger.legacy.example", 80, "ledger-b", "198.51.100.22")};
  auto mesh = compileMesh(in);
  ASSERT_TRUE(mesh.has_value()) << mesh.error().str();
  const ProxyConfig* proxy = mesh->findProxy("istio-system/crm-egress");
  ASSERT_NE(proxy, nullptr);
  const Cluster* ledger = proxy->findCluster("outbound|80||ledger.legacy.example");
  ASSERT_NE(ledger, nullptr);
  ASSERT_EQ(ledger->endpoints.size(), 2u);
  // The gateway is in eu-west-1a: that zone first (the sidecar in 1b ranks them the other way).
  EXPECT_EQ(ledger->endpoints[0].priority, 0u);
  EXPECT_EQ(ledger->endpoints[1].priority, 1u);
}

}  // namespace
}  // namespace egresslab::mesh
