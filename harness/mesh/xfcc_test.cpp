// x-forwarded-client-cert by mode, as Envoy's mutateXfccRequestHeader (docs/istio-behaviour.md
// §S2), and the gateway mode from gatewayTopology.forwardClientCertDetails.
#include "harness/mesh/xfcc.h"

#include <gtest/gtest.h>

namespace egresslab::mesh {
namespace {

model::MeshConfig withGatewayTopology(const std::string& value) {
  model::MeshConfig m;
  m.raw = nlohmann::json::parse(
      R"({"defaultConfig": {"gatewayTopology": {"forwardClientCertDetails": ")" + value +
      R"("}}})");
  return m;
}

ClientCertDetails sleepCert() {
  ClientCertDetails d;
  d.by = "spiffe://cluster.local/ns/httpbin/sa/gw";
  d.hash = "ab12";
  d.uri = "spiffe://cluster.local/ns/httpbin/sa/sleep";
  return d;
}

TEST(ForwardClientCertDetails, GatewayModeFromGatewayTopology_S2) {
  EXPECT_EQ(gatewayForwardClientCert({}), ForwardClientCert::kSanitizeSet);
  EXPECT_EQ(gatewayForwardClientCert(withGatewayTopology("UNDEFINED")),
            ForwardClientCert::kSanitizeSet);
  EXPECT_EQ(gatewayForwardClientCert(withGatewayTopology("SANITIZE")),
            ForwardClientCert::kSanitize);
  EXPECT_EQ(gatewayForwardClientCert(withGatewayTopology("FORWARD_ONLY")),
            ForwardClientCert::kForwardOnly);
  EXPECT_EQ(gatewayForwardClientCert(withGatewayTopology("APPEND_FORWARD")),
            ForwardClientCert::kAppendForward);
  EXPECT_EQ(gatewayForwardClientCert(withGatewayTopology("ALWAYS_FORWARD_ONLY")),
            ForwardClientCert::kAlwaysForwardOnly);
  // Sidecars are not governed by gatewayTopology.
  const auto m = withGatewayTopology("ALWAYS_FORWARD_ONLY");
  EXPECT_EQ(forwardClientCertFor(m, false, true), ForwardClientCert::kAppendForward);
  EXPECT_EQ(forwardClientCertFor(m, false, false), ForwardClientCert::kSanitize);
  EXPECT_EQ(forwardClientCertFor(m, true, false), ForwardClientCert::kAlwaysForwardOnly);
}

TEST(ForwardClientCertDetails, EnvoyMutationByMode_S2) {
  const std::optional<std::string> forged = "URI=spiffe://cluster.local/ns/x/sa/admin";
  const std::string element = formatXfccElement(sleepCert());
  // Without a client certificate only ALWAYS_FORWARD_ONLY keeps a client's header.
  for (auto mode : {ForwardClientCert::kSanitize, ForwardClientCert::kForwardOnly,
                    ForwardClientCert::kAppendForward, ForwardClientCert::kSanitizeSet}) {
    EXPECT_EQ(mutateXfcc(mode, forged, std::nullopt), std::nullopt);
  }
  EXPECT_EQ(mutateXfcc(ForwardClientCert::kAlwaysForwardOnly, forged, std::nullopt), forged);
  // Over mutual TLS.
  const auto cert = std::optional(sleepCert());
  EXPECT_EQ(mutateXfcc(ForwardClientCert::kSanitize, forged, cert), std::nullopt);
  EXPECT_EQ(mutateXfcc(ForwardClientCert::kForwardOnly, forged, cert), forged);
  EXPECT_EQ(mutateXfcc(ForwardClientCert::kForwardOnly, std::nullopt, cert), std::nullopt);
  EXPECT_EQ(mutateXfcc(ForwardClientCert::kAppendForward, forged, cert), *forged + "," + element);
  EXPECT_EQ(mutateXfcc(ForwardClientCert::kAppendForward, std::nullopt, cert), element);
  EXPECT_EQ(mutateXfcc(ForwardClientCert::kSanitizeSet, forged, cert), element);
  EXPECT_TRUE(setsCurrentClientCert(ForwardClientCert::kAppendForward));
  EXPECT_TRUE(setsCurrentClientCert(ForwardClientCert::kSanitizeSet));
  EXPECT_FALSE(setsCurrentClientCert(ForwardClientCert::kForwardOnly));
}

}  // namespace
}  // namespace egresslab::mesh
