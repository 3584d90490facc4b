// deriveGatewayWorkloads: the gateway pods IstioOperators would create (§10 chart facts, §7
// readiness probes), from the seed manifests and small operators.
#include <gtest/gtest.h>

#include "harness/model/gateway_workloads.h"
#include "harness/model/loader.h"

namespace egresslab::model {
namespace {

const std::filesystem::path kSeedDir =
    std::filesystem::path(EGRESSLAB_SOURCE_DIR) / "fixtures/seed";

ResourceSet seed() {
  auto set = loadManifests({kSeedDir},
                           LoadOptions{.vars = {{"my-proxied-service-hostname", "h.example.com"},
                                                {"my-secret-name", "cred"}}});
  EXPECT_TRUE(set) << set.error().str();
  return set ? std::move(*set) : ResourceSet{};
}

ResourceSet parse(const std::string& yaml) {
  auto set = parseManifests(yaml, "iop.yaml");
  EXPECT_TRUE(set) << set.error().str();
  return set ? std::move(*set) : ResourceSet{};
}

const GatewayWorkload* find(const std::vector<GatewayWorkload>& ws, const std::string& name) {
  for (const auto& w : ws) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

std::vector<std::uint32_t> portNumbers(const GatewayWorkload& w) {
  std::vector<std::uint32_t> out;
  for (const auto& p : w.servicePorts) out.push_back(p.port);
  return out;
}

TEST(GatewayWorkloads_S10, SeedOn18HasEgressAndDefaultIngress) {
  const ResourceSet set = seed();
  const auto ws = deriveGatewayWorkloads(set, {1, 8, 0});
  ASSERT_EQ(ws.size(), 2u);
  const GatewayWorkload* egress = find(ws, "httpbin-egress");
  ASSERT_NE(egress, nullptr);
  EXPECT_TRUE(egress->egress);
  EXPECT_EQ(egress->ns, "httpbin");  // spec.namespace of the post's egress IOP
  EXPECT_EQ(egress->podLabels, (Labels{{"app", "istio-egressgateway"},
                                       {"istio", "egressgateway"},
                                       {"custom-egress", "httpbin-egress"},
                                       {"service.istio.io/canonical-name", "httpbin-egress"},
                                       {"sidecar.istio.io/inject", "false"}}));
  EXPECT_EQ(portNumbers(*egress), (std::vector<std::uint32_t>{80, 443, 15443}));
  EXPECT_EQ(egress->servicePorts[0].name, "http2");
  EXPECT_EQ(egress->servicePorts[0].targetPort, 8080u);
  EXPECT_EQ(egress->servicePorts[1].name, "https");
  EXPECT_EQ(egress->servicePorts[1].targetPort, 8443u);
  EXPECT_EQ(egress->servicePorts[2].name, "tls");
  EXPECT_EQ(egress->source, &set.istioOperators[0]);
  EXPECT_EQ(egress->componentPath, "spec.components.egressGateways[0]");
  EXPECT_EQ(egress->replicas, 1);
}

TEST(GatewayWorkloads_S7, SeedEgressProbeComesFromTheOverlay) {
  const ResourceSet set = seed();
  const auto ws = deriveGatewayWorkloads(set, {1, 8, 0});
  const GatewayWorkload* egress = find(ws, "httpbin-egress");
  ASSERT_NE(egress, nullptr);
  EXPECT_EQ(egress->readinessProbe.kind, Probe::Kind::kExec);
  ASSERT_EQ(egress->readinessProbe.command.size(), 3u);
  EXPECT_EQ(egress->readinessProbe.command[2],
            "curl http://localhost:15021/healthz/ready && curl https://httpbin.org/status/200");
  EXPECT_EQ(egress->readinessProbe.failureThreshold, 30);
  EXPECT_EQ(egress->readinessProbe.periodSeconds, 2);
  EXPECT_EQ(egress->readinessProbe.pos.file, (kSeedDir / "egress.yaml").string());
  EXPECT_EQ(egress->readinessProbe.pos.line, 22);
}

TEST(GatewayWorkloads_S10, SeedOn122HasNo15443) {
  const auto ws = deriveGatewayWorkloads(seed(), {1, 22, 0});
  const GatewayWorkload* egress = find(ws, "httpbin-egress");
  ASSERT_NE(egress, nullptr);
  EXPECT_EQ(portNumbers(*egress), (std::vector<std::uint32_t>{80, 443}));
  EXPECT_EQ(egress->podLabels.at("service.istio.io/canonical-name"), "httpbin-egress");
  EXPECT_EQ(egress->ns, "httpbin");
  EXPECT_EQ(egress->readinessProbe.kind, Probe::Kind::kExec);
}

TEST(GatewayWorkloads_S10, DefaultProfileAddsIstioIngressGateway) {
  const ResourceSet set = seed();
  const auto ws = deriveGatewayWorkloads(set, {1, 22, 0});
  const GatewayWorkload* ingress = find(ws, "istio-ingressgateway");
  ASSERT_NE(ingress, nullptr);
  EXPECT_FALSE(ingress->egress);
  EXPECT_EQ(ingress->ns, "istio-system");
  EXPECT_EQ(ingress->source, nullptr);
  EXPECT_EQ(ingress->podLabels.at("app"), "istio-ingressgateway");
  EXPECT_EQ(ingress->podLabels.at("istio"), "ingressgateway");
  EXPECT_EQ(ingress->podLabels.at("service.istio.io/canonical-name"), "istio-ingressgateway");
  EXPECT_EQ(portNumbers(*ingress), (std::vector<std::uint32_t>{15021, 80, 443}));
  // §7 chart default probe.
  EXPECT_EQ(ingress->readinessProbe.kind, Probe::Kind::kHttpGet);
  EXPECT_EQ(ingress->readinessProbe.path, "/healthz/ready");
  EXPECT_EQ(ingress->readinessProbe.port, 15021u);
  EXPECT_EQ(ingress->readinessProbe.failureThreshold, 30);
  EXPECT_EQ(ingress->readinessProbe.periodSeconds, 2);
  EXPECT_EQ(ingress->readinessProbe.initialDelaySeconds, 1);
  EXPECT_EQ(ingress->readinessProbe.timeoutSeconds, 1);
  // It points at the operator that implies it.
  EXPECT_EQ(ingress->readinessProbe.pos.file, (kSeedDir / "operator.yaml").string());
}

TEST(GatewayWorkloads_S10, EmptyProfileAddsNothing) {
  const auto ws = deriveGatewayWorkloads(
      parse("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec: {profile: empty}\n"),
      {1, 22, 0});
  EXPECT_TRUE(ws.empty());
}

TEST(GatewayWorkloads_S10, DefaultProfileIngressCanBeDisabled) {
  const auto ws = deriveGatewayWorkloads(parse(R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  components:
    ingressGateways: [{name: istio-ingressgateway, enabled: false}]
)"),
                                         {1, 22, 0});
  EXPECT_TRUE(ws.empty());
}

TEST(GatewayWorkloads_S10, DemoProfileAddsIngressAndEgress) {
  const auto ws = deriveGatewayWorkloads(
      parse("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec: {profile: demo}\n"),
      {1, 8, 0});
  ASSERT_EQ(ws.size(), 2u);
  EXPECT_NE(find(ws, "istio-ingressgateway"), nullptr);
  const GatewayWorkload* egress = find(ws, "istio-egressgateway");
  ASSERT_NE(egress, nullptr);
  EXPECT_EQ(egress->podLabels.at("istio"), "egressgateway");
  EXPECT_EQ(egress->ns, "istio-system");
}

TEST(GatewayWorkloads_S10, ComponentOverridesPortsProbeNamespaceAndLabels) {
  const ResourceSet set = parse(R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: crm}
spec:
  profile: empty
  components:
    egressGateways:
    - name: crm-egress
      namespace: crm
      enabled: true
      label: {istio: crm-egress}
      k8s:
        replicaCount: 3
        readinessProbe: {httpGet: {path: /ready, port: 15021}, failureThreshold: 5}
        service:
          ports: [{port: 8080, targetPort: 9090, name: http}]
    - name: disabled-egress
      enabled: false
)");
  const auto ws = deriveGatewayWorkloads(set, {1, 8, 0});
  ASSERT_EQ(ws.size(), 1u);
  const GatewayWorkload& w = ws[0];
  EXPECT_EQ(w.ns, "crm");
  EXPECT_EQ(w.podLabels.at("istio"), "crm-egress");  // the component label overrides the chart's
  EXPECT_EQ(w.podLabels.at("app"), "istio-egressgateway");
  EXPECT_EQ(w.replicas, 3);
  ASSERT_EQ(w.servicePorts.size(), 1u);
  EXPECT_EQ(w.servicePorts[0].port, 8080u);
  EXPECT_EQ(w.servicePorts[0].targetPort, 9090u);
  EXPECT_EQ(w.readinessProbe.path, "/ready");
  EXPECT_EQ(w.readinessProbe.failureThreshold, 5);
  EXPECT_EQ(w.readinessProbe.periodSeconds, 10);  // Kubernetes default, not the chart's
}

TEST(GatewayWorkloads_S10, OverlayProbeWinsOverK8sProbe) {
  const ResourceSet set = parse(R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  profile: empty
  components:
    egressGateways:
    - name: e
      enabled: true
      k8s:
        readinessProbe: {httpGet: {path: /k8s, port: 15021}}
        overlays:
        - kind: Deployment
          name: e
          patches:
          - path: spec.template.spec.containers[0].readinessProbe
            value: {exec: {command: [curl, -f, http://localhost:15021/healthz/ready]}}
)");
  const auto ws = deriveGatewayWorkloads(set, {1, 22, 0});
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].readinessProbe.kind, Probe::Kind::kExec);
  EXPECT_EQ(ws[0].readinessProbe.command[1], "-f");
}

TEST(GatewayWorkloads_S10, OverlayOnAnotherDeploymentDoesNotApply) {
  const ResourceSet set = parse(R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  profile: empty
  components:
    egressGateways:
    - name: e
      enabled: true
      k8s:
        overlays:
        - kind: Deployment
          name: some-other-name
          patches:
          - path: spec.template.spec.containers[0].readinessProbe
            value: {exec: {command: [curl, http://x]}}
)");
  const auto ws = deriveGatewayWorkloads(set, {1, 22, 0});
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].readinessProbe.kind, Probe::Kind::kHttpGet);  // the chart default
  EXPECT_EQ(ws[0].readinessProbe.path, "/healthz/ready");
}

TEST(GatewayWorkloads_S10, ListedGatewayNeedsEnabledTrue) {
  const ResourceSet set = parse(R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  profile: empty
  namespace: team
  components:
    egressGateways: [{name: team-egress}, {name: on-egress, enabled: true}]
)");
  const auto ws = deriveGatewayWorkloads(set, {1, 22, 0});
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].name, "on-egress");
  EXPECT_EQ(ws[0].ns, "team");
}

}  // namespace
}  // namespace egresslab::model
