// Which outbound clusters speak HTTP/2 (docs/istio-behaviour.md §R9): `http2`/`grpc` ports always;
// an `http` port when h2UpgradePolicy says UPGRADE (DestinationRule before meshConfig), not with
// DO_NOT_UPGRADE or useClientProtocol.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/mesh/compile.h"
#include "harness/mesh/seed_model_for_test.h"

namespace egresslab::mesh {
namespace {

constexpr const char* kLegacyCluster = "outbound|80||crm.legacy.example";

// The seed plus a ServiceEntry for an `http` port and, when `http` is an object, a
// DestinationRule whose connectionPool.http is that object.
struct LegacyMesh {
  explicit LegacyMesh(nlohmann::json meshRaw, nlohmann::json http = nullptr) {
    s.resources.istioOperators.front().meshConfig.raw = std::move(meshRaw);
    auto se = testing::meta<model::ServiceEntry>("ServiceEntry", "httpbin", "crm");
    se.hosts = {"crm.legacy.example"};
    se.location = model::Location::kMeshExternal;
    se.ports = {testing::port(80, "http", model::Protocol::kHttp, "HTTP")};
    se.resolution = model::Resolution::kDns;
    s.resources.serviceEntries.push_back(se);
    if (http.is_object()) {
      auto dr = testing::meta<model::DestinationRule>("DestinationRule", "httpbin", "crm");
      dr.host = "crm.legacy.example";
      model::TrafficPolicy tp;
      tp.path = "spec.trafficPolicy";
      tp.connectionPool = model::ConnectionPoolSettings{};
      tp.connectionPool->raw = nlohmann::json{{"http", std::move(http)}};
      dr.trafficPolicy = tp;
      s.resources.destinationRules.push_back(dr);
    }
  }
  UpstreamProtocol protocolAt(const CompiledMesh& m, std::string_view proxy,
                              std::string_view cluster) const {
    const Cluster* c = testing::proxy(m, proxy).findCluster(cluster);
    if (c == nullptr) throw std::runtime_error("no cluster " + std::string(cluster));
    return c->protocol;
  }
  testing::SeedSetup s{testing::version(22)};
};

TEST(H2Upgrade, Http2PortIsHttp2AndHttpPortIsHttp1ByDefault) {
  LegacyMesh t(nlohmann::json::object());
  const CompiledMesh m = t.s.compile();
  EXPECT_EQ(t.protocolAt(m, "httpbin/sleep", testing::kEgressCluster), UpstreamProtocol::kHttp2);
  EXPECT_EQ(t.protocolAt(m, "httpbin/sleep", kLegacyCluster), UpstreamProtocol::kHttp1);
  EXPECT_EQ(t.protocolAt(m, "httpbin/httpbin-egress", kLegacyCluster), UpstreamProtocol::kHttp1);
}

TEST(H2Upgrade, MeshUpgradeUpgradesHttpPorts) {
  LegacyMesh t(nlohmann::json{{"h2UpgradePolicy", "UPGRADE"}});
  const CompiledMesh m = t.s.compile();
  EXPECT_EQ(t.protocolAt(m, "httpbin/httpbin-egress", kLegacyCluster), UpstreamProtocol::kHttp2);
  // A TLS port is not an HTTP port: never upgraded by the mesh-wide policy.
  EXPECT_EQ(t.protocolAt(m, "httpbin/httpbin-egress", testing::kSubsetCluster),
            UpstreamProtocol::kTcp);
  for (const auto& n : m.notSimulated) {
    EXPECT_EQ(n.text().find("h2UpgradePolicy"), std::string::npos) << n.text();
  }
}

TEST(H2Upgrade, DestinationRuleOverridesTheMeshEitherWay) {
  {
    LegacyMesh t(nlohmann::json::object(), nlohmann::json{{"h2UpgradePolicy", "UPGRADE"}});
    EXPECT_EQ(t.protocolAt(t.s.compile(), "httpbin/httpbin-egress", kLegacyCluster),
              UpstreamProtocol::kHttp2);
  }
  {
    LegacyMesh t(nlohmann::json{{"h2UpgradePolicy", "UPGRADE"}},
                 nlohmann::json{{"h2UpgradePolicy", "DO_NOT_UPGRADE"}});
    EXPECT_EQ(t.protocolAt(t.s.compile(), "httpbin/httpbin-egress", kLegacyCluster),
              UpstreamProtocol::kHttp1);
  }
  {
    LegacyMesh t(nlohmann::json{{"h2UpgradePolicy", "UPGRADE"}},
                 nlohmann::json{{"h2UpgradePolicy", "DEFAULT"}});
    EXPECT_EQ(t.protocolAt(t.s.compile(), "httpbin/httpbin-egress", kLegacyCluster),
              UpstreamProtocol::kHttp2);
  }
}

TEST(H2Upgrade, UseClientProtocolPreventsTheUpgradeAndIsNoted) {
  LegacyMesh t(nlohmann::json::object(),
               {{"h2UpgradePolicy", "UPGRADE"}, {"useClientProtocol", true}});
  const CompiledMesh m = t.s.compile();
  EXPECT_EQ(t.protocolAt(m, "httpbin/httpbin-egress", kLegacyCluster), UpstreamProtocol::kHttp1);
  std::vector<std::string> whats;
  for (const auto& n : m.notSimulated) whats.push_back(n.what);
  EXPECT_THAT(whats,
              ::testing::Contains(::testing::HasSubstr("useClientProtocol is not simulated")));
  // The host has only an `http` port: the UPGRADE itself is modelled, not noted.
  EXPECT_THAT(whats, ::testing::Not(::testing::Contains(::testing::HasSubstr("h2UpgradePolicy"))));
}

// On a host with a TLS port, an UPGRADE is noted: newer Istio upgrades non-HTTP ports too.
TEST(H2Upgrade, UpgradeOnAHostWithATlsPortIsNoted) {
  LegacyMesh t(nlohmann::json::object());
  auto& dr = t.s.destinationRule();  // the seed's, for httpbin.org (port 443 TLS)
  model::TrafficPolicy tp;
  tp.path = "spec.trafficPolicy";
  tp.connectionPool = model::ConnectionPoolSettings{};
  tp.connectionPool->raw = nlohmann::json{{"http", {{"h2UpgradePolicy", "UPGRADE"}}}};
  dr.trafficPolicy = tp;
  const CompiledMesh m = t.s.compile();
  std::vector<std::string> whats;
  for (const auto& n : m.notSimulated) whats.push_back(n.what);
  EXPECT_THAT(whats, ::testing::Contains(::testing::HasSubstr(
                         "h2UpgradePolicy UPGRADE on a non-HTTP port is not simulated")));
}

}  // namespace
}  // namespace egresslab::mesh
