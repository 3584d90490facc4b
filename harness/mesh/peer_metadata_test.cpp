#include "harness/mesh/peer_metadata.h"

#include <google/protobuf/struct.pb.h>
#include <gtest/gtest.h>

#include <string>

#include "harness/mesh/compile.h"
#include "harness/mesh/seed_model_for_test.h"

namespace egresslab::mesh {
namespace {

std::string base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) break;  // padding
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

ProxyConfig proxy(ProxyKind kind, std::string ns, std::string name, std::string ip, int minor) {
  ProxyConfig p;
  p.id = {std::move(ns), std::move(name), kind};
  p.podIp = std::move(ip);
  p.version = model::IstioVersion{1, minor, 0};
  p.podLabels = {{"app", p.id.name}, {"version", "v1"}};
  return p;
}

TEST(PeerMetadata, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
}

TEST(PeerMetadata, NodeIdsOfSidecarsAndGateways) {
  const ProxyConfig sleep = proxy(ProxyKind::kSidecar, "httpbin", "sleep", "10.244.0.7", 22);
  const ProxyConfig gw =
      proxy(ProxyKind::kEgressGateway, "istio-system", "istio-egressgateway", "10.244.0.6", 22);
  const std::string pod = podNameOf("httpbin", "sleep");
  EXPECT_EQ(proxyNodeId(sleep), "sidecar~10.244.0.7~" + pod + ".httpbin~httpbin.svc.cluster.local");
  EXPECT_EQ(proxyNodeId(gw), "router~10.244.0.6~" +
                                 podNameOf("istio-system", "istio-egressgateway") +
                                 ".istio-system~istio-system.svc.cluster.local");
  // A Deployment pod's shape, stable across calls, different per workload.
  EXPECT_EQ(pod.rfind("sleep-", 0), 0u);
  EXPECT_EQ(pod.size(), std::string("sleep-").size() + 10 + 1 + 5);
  EXPECT_EQ(pod, podNameOf("httpbin", "sleep"));
  EXPECT_NE(pod, podNameOf("default", "sleep"));
}

TEST(PeerMetadata, ValueIsABase64ProtobufStructWithTheKeysOfTheVersion) {
  const ProxyConfig gw122 =
      proxy(ProxyKind::kEgressGateway, "istio-system", "istio-egressgateway", "10.244.0.6", 22);
  google::protobuf::Struct s;
  ASSERT_TRUE(s.ParseFromString(base64Decode(peerMetadataValue(gw122))));
  const auto& f = s.fields();
  EXPECT_EQ(f.at("NAME").string_value(), podNameOf("istio-system", "istio-egressgateway"));
  EXPECT_EQ(f.at("NAMESPACE").string_value(), "istio-system");
  EXPECT_EQ(f.at("WORKLOAD_NAME").string_value(), "istio-egressgateway");
  EXPECT_EQ(f.at("CLUSTER_ID").string_value(), "Kubernetes");
  EXPECT_EQ(f.at("INSTANCE_IPS").string_value(), "10.244.0.6");
  EXPECT_EQ(f.at("ISTIO_VERSION").string_value(), "1.22.0");
  EXPECT_EQ(f.at("MESH_ID").string_value(), "cluster.local");
  EXPECT_EQ(f.at("OWNER").string_value(),
            "kubernetes://apis/apps/v1/namespaces/istio-system/deployments/istio-egressgateway");
  EXPECT_EQ(f.at("LABELS").struct_value().fields().at("app").string_value(), "istio-egressgateway");
  EXPECT_FALSE(f.contains("APP_CONTAINERS"));  // a gateway pod has no application container

  const ProxyConfig sleep122 = proxy(ProxyKind::kSidecar, "httpbin", "sleep", "10.244.0.7", 22);
  ASSERT_TRUE(s.ParseFromString(base64Decode(peerMetadataValue(sleep122))));
  EXPECT_EQ(s.fields().at("APP_CONTAINERS").string_value(), "sleep");

  // From 1.24 the reduced set (docs/fidelity.md).
  const ProxyConfig sleep124 = proxy(ProxyKind::kSidecar, "httpbin", "sleep", "10.244.0.7", 24);
  ASSERT_TRUE(s.ParseFromString(base64Decode(peerMetadataValue(sleep124))));
  std::vector<std::string> keys;
  for (const auto& [k, v] : s.fields()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"CLUSTER_ID", "LABELS", "NAME", "NAMESPACE", "OWNER",
                                            "WORKLOAD_NAME"}));
}

TEST(PeerMetadata, OutboundAndGatewaysReplaceInboundRemoves) {
  EXPECT_EQ(peerMetadataOpFor(ListenerDirection::kSidecarOutbound), PeerMetadataOp::kReplace);
  EXPECT_EQ(peerMetadataOpFor(ListenerDirection::kSidecarVirtualOutbound),
            PeerMetadataOp::kReplace);
  EXPECT_EQ(peerMetadataOpFor(ListenerDirection::kGateway), PeerMetadataOp::kReplace);
  EXPECT_EQ(peerMetadataOpFor(ListenerDirection::kSidecarInbound), PeerMetadataOp::kRemove);
}

// The mesh-wide opt-out of these headers is not modelled: a note that reaches every proxy, never
// silently ignored.
TEST(PeerMetadata, MeshWideOptOutIsANotSimulatedNote) {
  testing::SeedSetup s(testing::version(22));
  s.resources.istioOperators.front().meshConfig.raw = {
      {"proxyHeaders", {{"metadataExchangeHeaders", {{"mode", "IN_MESH"}}}}}};
  const CompiledMesh m = s.compile();
  int seen = 0;
  for (const auto& n : m.notSimulated) {
    if (n.ref == "meshConfig.proxyHeaders.metadataExchangeHeaders") {
      ++seen;
      EXPECT_EQ(n.reach, NotSimulatedNote::Reach::kEveryProxy) << n.text();
      EXPECT_TRUE(n.affects("httpbin", "httpbin-egress")) << n.text();
    }
  }
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace egresslab::mesh
