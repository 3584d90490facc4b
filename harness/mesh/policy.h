// Istio's DestinationRule rules as pure functions: which DestinationRule applies to a service
// for a proxy (namespace precedence, exportTo, most specific host), how its traffic policy
// merges for a subset and port, and what upstream TLS (SNI, verification, SANs) istiod and
// Envoy of a version derive from it (docs/istio-behaviour.md §4, §6).
//
// The compiler (compile.cpp), the data plane's decisions (decisions.cpp) and the analyzer call
// these; nobody keeps a copy of the rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/mesh/config.h"
#include "harness/model/resources.h"
#include "harness/model/version.h"

namespace egresslab::mesh {

// meshConfig.rootNamespace as installed (not configurable in the model).
inline constexpr std::string_view kRootNamespace = "istio-system";

// ------------------------------------------------------------------------------ hosts
// Istio resolves a short host ("httpbin-egress") relative to the config's namespace
// (NAME.NS.svc.cluster.local); a host with a dot, "*" or "*.suffix" is taken as written.
std::string resolveHost(std::string_view host, std::string_view configNs);

// True when `pattern` ("*", "*.suffix" or an exact name) matches the exact name `host`. A
// wildcard needs at least one more label: "*.example.com" does not match "example.com".
bool wildcardMatches(std::string_view pattern, std::string_view host);

// Istio's host.Name.Matches: either side may be a wildcard; true when one covers the other.
bool hostsOverlap(std::string_view a, std::string_view b);

// Istio's host.MoreSpecific: an exact name beats a wildcard; between wildcards the longer one;
// "*" is the least specific.
bool moreSpecificHost(std::string_view a, std::string_view b);

// MostSpecificHostMatch (pilot/pkg/model/config.go): among `candidates` (resolved hosts, exact
// or wildcard), the one that matches `needle` most specifically — an exact equal first, else the
// most specific wildcard that covers it. A wildcard needle ("*.example.com") matches an equal
// wildcard first, then wider wildcards. nullopt when none matches.
std::optional<std::size_t> mostSpecificHostMatch(std::string_view needle,
                                                 const std::vector<std::string>& candidates);

// ------------------------------------------------------------------------------ DR lookup
struct DestinationRuleQuery {
  std::string_view serviceHost;  // the registry host (FQDN, SE host, or an SE wildcard)
  std::string_view serviceNs;    // the Service's / ServiceEntry's namespace
  std::string_view proxyNs;      // the namespace of the proxy that builds the cluster
  std::string_view rootNs = kRootNamespace;
};

// The DestinationRule istiod applies to `serviceHost` for a proxy in `proxyNs` (§4 DR lookup;
// pilot/pkg/model/push_context.go `destinationRule`, the same order in 1.8 and 1.22):
//  1. the proxy's namespace: DRs there visible to it (exportTo unset, "*", "." or its own ns) —
//     but for a proxy in the root namespace only root DRs exported to "." (or to the root
//     namespace alone) count here;
//  2. the service's namespace: DRs exported to the proxy's namespace (unset, "*", or naming it);
//  3. the root namespace: DRs exported to the proxy's namespace.
// Within a namespace the most specific host wins (`shop.example.com` beats `*.example.com`),
// and visibility is checked on that host only. DRs in any other namespace are never used.
// Several DRs of one namespace with the same host: Istio merges them; this returns the first
// (compileMesh notes the others as not simulated). nullptr when none applies.
const model::DestinationRule* findDestinationRule(const std::vector<model::DestinationRule>& rules,
                                                  const DestinationRuleQuery& query);

// The subset named `name`, nullptr when the DR defines none of that name.
const model::Subset* findSubset(const model::DestinationRule& dr, std::string_view name);

// ------------------------------------------------------------------------------ merge
// The traffic policy for one port of a subset (§4 precedence): DR top-level → top-level
// portLevelSettings → subset-level → subset portLevelSettings. A matching portLevelSettings
// entry replaces loadBalancer, connectionPool, outlierDetection and tls as a block (its unset
// fields fall back to defaults, nothing is inherited).
struct EffectivePolicy {
  std::optional<model::LoadBalancerSettings> loadBalancer;
  std::optional<model::ConnectionPoolSettings> connectionPool;
  std::optional<model::OutlierDetection> outlierDetection;
  std::optional<model::ClientTls> tls;
  std::string tlsPath;  // where the tls block came from: "spec.subsets[0].trafficPolicy.tls"
};

// `subset` nullptr = the service's non-subset cluster.
EffectivePolicy mergeTrafficPolicy(const model::DestinationRule& dr, const model::Subset* subset,
                                   std::uint32_t port);

// ------------------------------------------------------------------------------ upstream TLS
struct OriginationContext {
  std::string drRef;  // "DestinationRule ns/name", for UpstreamTls::origin
  std::uint32_t port = 0;
  std::string subset;
  std::string serviceHost;
  // SPIFFE identities of the cluster's endpoints (ISTIO_MUTUAL without subjectAltNames).
  std::vector<std::string> endpointIdentities;
  model::IstioVersion version;
};

// The upstream TLS istiod of `version` builds from the effective policy (§4, §6); nullopt when
// the policy has no tls or DISABLE. SIMPLE/MUTUAL: `sni` as written; verification with
// caCertificates always, else none on 1.8–1.20, system CAs from 1.21, insecureSkipVerify opts
// out; from 1.21 an empty `sni` turns on auto SNI, and auto SAN validation too when no
// subjectAltNames are given and verification is on. ISTIO_MUTUAL: mesh CA, SNI
// outbound_.PORT_.SUBSET_.HOST, SANs = the endpoints' SPIFFE IDs unless given.
std::optional<UpstreamTls> originationTls(const EffectivePolicy& policy,
                                          const OriginationContext& context);

// True when auto SNI / auto SAN validation take the Host after the route's host rewrite
// (VS rewrite.authority) rather than the Host as received: Envoy 1.32+ (runtime guard
// use_route_host_mutation_for_auto_sni_san, default on), i.e. Istio 1.24+ (Istio 1.24.x ships
// Envoy 1.32.x). Earlier: the pre-rewrite Host (envoy#35330). §4.
bool autoSniFollowsHostRewrite(const model::IstioVersion& version);

// What one connection's handshake uses, given the cluster's upstream TLS.
struct UpstreamHandshake {
  std::string sni;  // "" = no SNI
  // Names the server certificate must match; empty = chain only (or nothing when not verified).
  std::vector<std::string> verifySubjectAltNames;
};

// `downstreamAuthority` is the Host as received by the proxy, `rewrittenAuthority` the Host
// after the route's rewrite ("" = no rewrite). Auto SNI / auto SAN use the host part (no port)
// of the rewritten Host when `tls.autoSniFromRewrittenHost`, else of the Host as received.
UpstreamHandshake upstreamHandshake(const UpstreamTls& tls, std::string_view downstreamAuthority,
                                    std::string_view rewrittenAuthority = {});

}  // namespace egresslab::mesh
