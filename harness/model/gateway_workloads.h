// The gateway Deployments and Services that IstioOperators would create (§10 chart facts), so
// selectors, ports, probes and secrets can be checked and simulated without a cluster.
#pragma once

#include <string>
#include <vector>

#include "harness/model/resources.h"
#include "harness/model/version.h"

namespace egresslab::model {

struct GatewayWorkload {
  std::string name;  // deployment name = component name (e.g. httpbin-egress)
  std::string ns;    // where the pod runs (secrets are looked up here, §5)
  bool egress = false;
  Labels podLabels;  // chart labels + component `label` + service.istio.io/canonical-name
  std::vector<ServicePort> servicePorts;  // 80→8080 http2, 443→8443 https, (+15443 tls on 1.8)
  Probe readinessProbe;  // overlay patch > k8s.readinessProbe > chart default httpGet :15021
  std::int32_t replicas = 1;
  const IstioOperator* source = nullptr;  // null for the implicit default-profile ingress
  std::string componentPath;              // "spec.components.egressGateways[0]"
};

// Every enabled gateway of every IstioOperator, plus `istio-ingressgateway` in istio-system
// when a default-profile operator (profile "" or "default", or "demo") is present and does not
// disable it. Version-aware for chart ports.
std::vector<GatewayWorkload> deriveGatewayWorkloads(const ResourceSet& resources,
                                                    const IstioVersion& version);

}  // namespace egresslab::model
