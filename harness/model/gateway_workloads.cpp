#include "harness/model/gateway_workloads.h"

namespace egresslab::model {
namespace {

// §10 chart facts: the istio-ingress/istio-egress charts' default pod labels.
Labels chartLabels(bool egress) {
  if (egress) return {{"app", "istio-egressgateway"}, {"istio", "egressgateway"}};
  return {{"app", "istio-ingressgateway"}, {"istio", "ingressgateway"}};
}

// §10: 80→8080 http2, 443→8443 https, +15443 tls in 1.8; the ingress chart also exposes the
// status port 15021 (the egress chart does not).
std::vector<ServicePort> chartPorts(bool egress, const IstioVersion& version) {
  std::vector<ServicePort> ports;
  if (!egress) ports.push_back({"status-port", 15021, 15021, "TCP", ""});
  ports.push_back({"http2", 80, 8080, "TCP", ""});
  ports.push_back({"https", 443, 8443, "TCP", ""});
  if (!version.atLeast(1, 9)) ports.push_back({"tls", 15443, 15443, "TCP", ""});
  return ports;
}

// §7: the chart default readiness probe.
Probe chartProbe(SourcePos pos) {
  Probe probe;
  probe.kind = Probe::Kind::kHttpGet;
  probe.path = "/healthz/ready";
  probe.port = 15021;
  probe.scheme = "HTTP";
  probe.failureThreshold = 30;
  probe.periodSeconds = 2;
  probe.initialDelaySeconds = 1;
  probe.timeoutSeconds = 1;
  probe.pos = std::move(pos);
  return probe;
}

GatewayWorkload fromComponent(const IstioOperator& iop, const GatewayComponent& component,
                              const IstioVersion& version) {
  GatewayWorkload w;
  w.name = component.name.empty()
               ? (component.egress ? "istio-egressgateway" : "istio-ingressgateway")
               : component.name;
  w.ns = component.ns.empty() ? "istio-system" : component.ns;
  w.egress = component.egress;
  w.podLabels = chartLabels(component.egress);
  for (const auto& [key, value] : component.label) w.podLabels[key] = value;
  w.podLabels["service.istio.io/canonical-name"] = w.name;
  w.podLabels["sidecar.istio.io/inject"] = "false";
  if (!component.servicePorts.empty()) {
    for (const auto& port : component.servicePorts) {
      w.servicePorts.push_back({port.name, port.number, port.targetPort,
                                port.protocolText.empty() ? "TCP" : port.protocolText, ""});
    }
  } else {
    w.servicePorts = chartPorts(component.egress, version);
  }
  if (component.overlayReadinessProbe) {
    w.readinessProbe = *component.overlayReadinessProbe;
  } else if (component.readinessProbe) {
    w.readinessProbe = *component.readinessProbe;
  } else {
    w.readinessProbe = chartProbe(iop.origin.at(component.path));
  }
  w.replicas = component.replicaCount.value_or(1);
  w.source = &iop;
  w.componentPath = component.path;
  return w;
}

bool isEnabled(const GatewayComponent& component, bool profileDefault) {
  return component.enabled.value_or(profileDefault);
}

}  // namespace

std::vector<GatewayWorkload> deriveGatewayWorkloads(const ResourceSet& resources,
                                                    const IstioVersion& version) {
  std::vector<GatewayWorkload> out;
  // The profile's own gateways, added once for the first operator whose profile has them.
  const IstioOperator* implicitIngress = nullptr;
  const IstioOperator* implicitEgress = nullptr;
  for (const auto& iop : resources.istioOperators) {
    const bool defaultProfile = iop.profile.empty() || iop.profile == "default";
    const bool demoProfile = iop.profile == "demo";
    const bool hasProfileGateways = defaultProfile || demoProfile;
    bool ingressListed = false;
    bool egressListed = false;
    for (const auto& component : iop.ingressGateways) {
      const bool isDefaultName = component.name.empty() || component.name == "istio-ingressgateway";
      if (isDefaultName) ingressListed = true;
      // istioctl installs a listed gateway only with `enabled: true` (an unset BoolValue is
      // false); the profile's own gateway, merged by name, follows the profile.
      if (isEnabled(component, isDefaultName && hasProfileGateways)) {
        out.push_back(fromComponent(iop, component, version));
      }
    }
    for (const auto& component : iop.egressGateways) {
      const bool isDefaultName = component.name.empty() || component.name == "istio-egressgateway";
      if (isDefaultName) egressListed = true;
      if (isEnabled(component, isDefaultName && demoProfile)) {
        out.push_back(fromComponent(iop, component, version));
      }
    }
    if (hasProfileGateways && !ingressListed && implicitIngress == nullptr) implicitIngress = &iop;
    if (demoProfile && !egressListed && implicitEgress == nullptr) implicitEgress = &iop;
  }
  const auto addImplicit = [&](const IstioOperator& iop, bool egress) {
    GatewayComponent component;
    component.egress = egress;
    component.name = egress ? "istio-egressgateway" : "istio-ingressgateway";
    component.ns = iop.installNamespace.empty() ? "istio-system" : iop.installNamespace;
    GatewayWorkload w = fromComponent(iop, component, version);
    w.source = nullptr;  // the profile's gateway, not written in any file
    w.componentPath.clear();
    w.readinessProbe.pos = iop.origin.pos;
    out.push_back(std::move(w));
  };
  if (implicitIngress != nullptr) addImplicit(*implicitIngress, false);
  if (implicitEgress != nullptr) addImplicit(*implicitEgress, true);
  return out;
}

}  // namespace egresslab::model
