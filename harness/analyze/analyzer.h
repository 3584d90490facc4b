// Static checks over a loaded model: istioctl-compatible IST codes plus EgressLab's EGL codes
// for the traps of the egress-gateway pattern, for one Istio version. Touches no network.
//
// The analyzer sees the cluster the manifests would create: gateway Deployments/Services
// derived from the IstioOperators (model::deriveGatewayWorkloads, §10 chart facts), the
// Deployments, Pods and Services in the input, and — for a scenario — its workloads, minted
// secrets and DNS records. So selectors, ports and secrets are checked without a cluster.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "harness/analyze/message.h"
#include "harness/model/resources.h"
#include "harness/model/scenario.h"
#include "harness/model/version.h"

namespace egresslab::analyze {

struct AnalysisInput {
  const model::ResourceSet* resources = nullptr;  // required
  model::IstioVersion version;
  // Secrets that exist without being in the manifests (a scenario's `secrets:`).
  std::vector<model::SecretSpec> extraSecrets;
  // Pods that exist without being in the manifests (a scenario's `workloads:`).
  std::vector<model::WorkloadSpec> workloads;
  // Host → IP records the cluster's DNS resolves beyond Services (a scenario's `dns:`).
  std::map<std::string, std::string> dns;
  // True for a scenario: `dns` is the whole of DNS, so a name missing from it does not
  // resolve (EGL005 is an Error). False for raw manifests: DNS is unknown (EGL005 is Info).
  bool dnsIsComplete = false;
  // istioctl on files adds the default profile's ingress gateway (a Pod
  // istio-system/istio-ingressgateway-dummypod labelled istio=ingressgateway and the Service
  // istio-system/istio-ingressgateway, ports 80, 443, 31400 and 15443 with targetPort = port).
  // Skipped when the input already has an istio-ingressgateway in istio-system.
  bool defaultIngress = true;
};

// True when analyzeResources adds istioctl's default ingress gateway for this input.
bool addsDefaultIngress(const AnalysisInput& input);

// Runs every check; messages are sorted and deduplicated (istioctl order). Codes that the
// version's istioctl does not have are not emitted; levels are the version's (§8).
std::vector<Message> analyzeResources(const AnalysisInput& input);

}  // namespace egresslab::analyze
