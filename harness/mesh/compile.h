// The mini-pilot: compiles Istio manifests + an Istio version (+ the scenario's workloads,
// upstreams, DNS records and minted secrets) into per-proxy config (config.h), the way istiod
// of that version would (docs/istio-behaviour.md). Pure: no I/O.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "harness/core/error.h"
#include "harness/mesh/config.h"
#include "harness/model/gateway_workloads.h"
#include "harness/model/resources.h"
#include "harness/model/scenario.h"
#include "harness/model/version.h"

namespace egresslab::mesh {

// Everything the compiler reads. References must outlive the call only.
struct CompileInput {
  const model::ResourceSet& resources;
  model::IstioVersion version;
  // The gateway Deployments/Services the IstioOperators create (model::deriveGatewayWorkloads).
  std::vector<model::GatewayWorkload> gateways;
  std::vector<model::WorkloadSpec> workloads;  // scenario pods (sleep, …)
  std::vector<model::UpstreamSpec> upstreams;  // legacy services served by the httpbin mock
  std::map<std::string, std::string> dns;      // scenario `dns:` records
  std::vector<model::SecretSpec> secrets;      // TLS secrets the run mints
};

// Compiles the mesh. Errors only for input the compiler cannot make sense of (none of the
// Istio-level mistakes: those compile into the config Istio would build, traps included).
Result<CompiledMesh> compileMesh(const CompileInput& input);

// Convenience: the scenario's resources, version, workloads, upstreams, dns and secrets, with
// gateways from model::deriveGatewayWorkloads.
Result<CompiledMesh> compileMesh(const model::Scenario& scenario);

// Istio's default retry policy of the version (§9): 2 retries on
// connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes with 503 through
// 1.23; 1.24+ no longer retries 503 (§11.6).
RetryPolicy defaultRetryPolicy(const model::IstioVersion& version);

// Envoy's default load-balancing policy under Istio (§4): ROUND_ROBIN ≤1.13, LEAST_REQUEST 1.14+.
std::string defaultLbPolicy(const model::IstioVersion& version);

// `outbound|PORT|SUBSET|HOST`.
std::string outboundClusterName(std::uint32_t port, std::string_view subset, std::string_view host);

// Istio's protocol of a Service port: `appProtocol`, else the port name prefix ("http2-foo" →
// HTTP2), else TCP (sniffing is not simulated).
model::Protocol servicePortProtocol(std::string_view name, std::string_view appProtocol);

}  // namespace egresslab::mesh
