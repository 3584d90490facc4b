// The endpoints behind a cluster and the resilience settings istiod puts on it, as a pass over the
// compiled mesh (docs/istio-behaviour.md §R3–§R6):
//   - which address each scenario upstream server answers at, and the A records of its host
//     (docs/design.md "More than one server per upstream");
//   - STRICT_DNS clusters get one host per A record, LOGICAL_DNS one (the first address), STATIC
//     (EDS) ServiceEntry endpoints keep their address, each with its locality, weight and labels;
//   - DestinationRule outlierDetection → Cluster::outlierDetection and the panic threshold,
//     connectionPool → Cluster::circuitBreakers;
//   - locality failover and failoverPriority → endpoint priorities relative to each proxy's
//     locality, only where the cluster has outlier detection.
// Pure: model and compiled mesh in, compiled mesh out.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "harness/mesh/config.h"
#include "harness/model/resources.h"
#include "harness/model/scenario.h"

namespace egresslab::mesh {

// The address each `upstreams[]` entry answers at, index for index: its `address`; else the next
// A record of its host's `dns:` answers that no other server of the host claims; else a
// documentation address chosen by the run (198.51.x.y from its index — the address a lone server
// of the host always had).
std::vector<std::string> upstreamAddresses(
    const std::vector<model::UpstreamSpec>& upstreams,
    const std::map<std::string, std::vector<std::string>>& dnsAnswers);

// The A records of every name: the scenario's `dns:` answers, plus, for each upstream host the
// scenario's `dns:` does not name, the distinct addresses of its servers in order.
std::map<std::string, std::vector<std::string>> dnsAnswersWithUpstreams(
    const std::vector<model::UpstreamSpec>& upstreams,
    const std::map<std::string, std::vector<std::string>>& dnsAnswers);

// A scenario's records as lists: `answers` (every A record), completed by the single-address
// `dns` map for names it lacks (scenarios built in code fill only `dns`).
std::map<std::string, std::vector<std::string>> scenarioDnsAnswers(
    const std::map<std::string, std::string>& dns,
    const std::map<std::string, std::vector<std::string>>& answers);

// Every A record of `name` (an IPv4 literal is its own answer); empty when it does not resolve.
std::vector<std::string> dnsAnswersFor(const DnsView& dns, std::string_view name);

// §R4: STRICT_DNS → one host per A record of each endpoint's address, deduplicated per name,
// each inheriting the endpoint's locality, weight, labels (and `dnsName` = the name);
// LOGICAL_DNS → one host per endpoint, its first address. Other types: unchanged. An endpoint
// whose name does not resolve is kept as written (the data plane then fails to connect).
std::vector<Endpoint> resolveDnsEndpoints(std::span<const Endpoint> endpoints, ClusterType type,
                                          const DnsView& dns);

// What the pass needs beside the compiled mesh.
struct EndpointsInput {
  const model::ResourceSet& resources;
  model::IstioVersion version;
  std::vector<model::WorkloadSpec> workloads;  // localities
  std::vector<model::UpstreamSpec> upstreams;
  std::map<std::string, std::vector<std::string>> dnsAnswers;  // scenario `dns:` (all records)
};

// The DestinationRule outlierDetection as istiod translates it (§R3), with the panic threshold
// (`minHealthPercent`, 0 when unset) it sets alongside.
OutlierDetection outlierDetectionFor(const model::OutlierDetection& od, std::string origin);
std::uint32_t panicThresholdFor(const model::OutlierDetection& od);
// The connectionPool as circuit breakers (§R6): Istio's 2^32-1 for what is unset or 0.
CircuitBreakers circuitBreakersFor(const model::ConnectionPoolSettings& pool, std::string origin);

// Runs the whole pass over `mesh` (compileMesh calls it last).
void applyEndpointsAndResilience(CompiledMesh& mesh, const EndpointsInput& in);

}  // namespace egresslab::mesh
