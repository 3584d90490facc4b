// AuthorizationPolicy in the mini-pilot (docs/istio-behaviour.md §S1): which policies istiod
// attaches to a proxy, and a pure evaluation of one request or connection against them, the way
// Envoy's RBAC filters (and the ext_authz filter for CUSTOM) decide it.
//
// Compile: a policy applies to a proxy when it lives in the proxy's namespace or in the root
// namespace (mesh-wide), and its `selector` matches the pod's labels (no selector = every proxy
// of that scope). Policies with `targetRef(s)` attach to Gateway API gateways, waypoints (and, from
// 1.22, Services' waypoints) only, which EgressLab does not model: they select no proxy here (a
// note, and an analyzer warning). RequestAuthentication attaches the same way (mesh/jwt.h); a
// token it verified gives the request the principal `requestPrincipals` and `request.auth.*` read.
// Sidecars enforce on inbound traffic only; gateways on every listener.
//
// Evaluate: CUSTOM first (the caller asks the provider, see evaluateCustom), then DENY, then
// ALLOW: a matching DENY rule denies; when ALLOW policies apply and none of their rules match,
// the request is denied (`[none]`); no ALLOW policy = allowed. AUDIT never changes a decision.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/mesh/jwt.h"
#include "harness/model/resources.h"
#include "harness/model/version.h"

namespace egresslab::mesh {

struct CompiledMesh;

// One policy as attached to one proxy.
struct AuthzPolicy {
  std::string ns;
  std::string name;
  model::AuthzAction action = model::AuthzAction::kAllow;
  std::string provider;                 // CUSTOM
  std::vector<model::AuthzRule> rules;  // as written; empty = a rule that never matches
  std::string origin;                   // "AuthorizationPolicy httpbin/deny-admin"
};

// Every policy istiod attaches to a proxy, in manifest order, and the jwtRules of the
// RequestAuthentications that apply to it (Envoy's jwt_authn filter, sorted by issuer).
struct ProxyAuthz {
  std::vector<AuthzPolicy> policies;
  std::vector<JwtProvider> jwt;
  // No AuthorizationPolicy (jwtRules alone never deny a request without a token).
  [[nodiscard]] bool empty() const { return policies.empty(); }
  [[nodiscard]] bool has(model::AuthzAction action) const;
};

// The root namespace of the mesh: meshConfig.rootNamespace, else istio-system.
std::string rootNamespaceOf(const model::MeshConfig& meshConfig);

// True when `policy` applies to the proxy of a pod in `podNamespace` with `podLabels`.
bool policySelects(const model::AuthorizationPolicy& policy, std::string_view rootNamespace,
                   std::string_view podNamespace, const model::Labels& podLabels);

// The policies of `policies` that apply to that proxy.
ProxyAuthz compileProxyAuthz(const std::vector<model::AuthorizationPolicy>& policies,
                             std::string_view rootNamespace, std::string_view podNamespace,
                             const model::Labels& podLabels);

// Fills ProxyConfig::authz of every proxy of `mesh` (gateways by their pod; sidecars by their
// workload) from `policies` and `requestAuthns`, and adds the notes for what is not simulated
// (targetRef, a jwksUri, Envoy metadata keys, non-default path normalization). Call once after
// compiling.
void attachAuthorization(CompiledMesh& mesh,
                         const std::vector<model::AuthorizationPolicy>& policies,
                         const std::vector<model::RequestAuthentication>& requestAuthns = {});

// ------------------------------------------------------------------------ evaluation
// What the RBAC filters see of one request (HTTP) or connection (TCP).
struct AuthzRequest {
  bool http = true;  // false: a TCP / TLS-passthrough connection (network RBAC filter)
  // HTTP only.
  std::string_view host;    // :authority as received (with a port when the client sent one)
  std::string_view path;    // :path as received, with query (normalized here, see below)
  std::string_view method;  // "GET"
  const std::vector<std::pair<std::string, std::string>>* headers = nullptr;
  // Peer identity from the client certificate's URI SAN, e.g.
  // "spiffe://cluster.local/ns/httpbin/sa/sleep"; "" when the connection is not mutual TLS
  // (principals and namespaces are then unknown, §S1).
  std::string_view peerPrincipal;
  std::string_view sourceIp;          // the downstream peer's IP (source.ip, ipBlocks)
  std::string_view remoteIp;          // the original client IP (remote.ip, remoteIpBlocks)
  std::string_view destinationIp;     // the proxy's local address (destination.ip)
  std::uint32_t destinationPort = 0;  // the port the proxy listens on (targetPort at gateways)
  std::string_view sni;               // connection.sni
  // The identity of a token the jwt_authn filter verified (HTTP only); null = no token
  // (requestPrincipals and request.auth.* then match nothing).
  const JwtIdentity* jwt = nullptr;
};

struct AuthzDecision {
  bool allowed = true;
  // The Envoy policy name that decided: "ns[NS]-policy[NAME]-rule[I]" of the DENY rule that
  // matched, "none" when no ALLOW rule matched; "" when allowed.
  std::string matchedPolicy;
  // Envoy's response code details (HTTP) / connection termination details (TCP) for a denial:
  // "rbac_access_denied_matched_policy[…]".
  std::string details;
  std::vector<std::string> audited;  // AUDIT rules that matched (Envoy names)
};

// The CUSTOM policy whose rule matches first, as Envoy's shadow RBAC filter marks it for the
// ext_authz filter: the provider to ask and the Envoy policy name. nullopt = no CUSTOM rule
// matches (the request goes on to DENY/ALLOW without an ext_authz call).
struct CustomMatch {
  std::string provider;
  std::string matchedPolicy;  // "ns[NS]-policy[NAME]-rule[I]"
};
std::optional<CustomMatch> evaluateCustom(const ProxyAuthz& authz, const AuthzRequest& request);

// DENY, then ALLOW (and AUDIT for the record). CUSTOM policies are not looked at here.
AuthzDecision evaluateRbac(const ProxyAuthz& authz, const AuthzRequest& request);

// The Envoy policy name of rule `rule` of a policy: "ns[NS]-policy[NAME]-rule[I]".
std::string envoyPolicyName(std::string_view ns, std::string_view name, std::size_t rule);

// The body and status of an HTTP denial: 403 "RBAC: access denied".
inline constexpr std::uint32_t kRbacDeniedStatus = 403;
inline constexpr std::string_view kRbacDeniedBody = "RBAC: access denied";

// ------------------------------------------------------------------------ x-forwarded-client-cert
// The details of the current client certificate, and the element a proxy adds for them (the
// modes that decide when: xfcc.h, docs/istio-behaviour.md §S2). Gateways add Cert (the URL-encoded
// PEM); sidecars do not. Subject is always "" (Istio workload certificates have an empty subject)
// and there is no DNS element (no DNS SANs).
struct ClientCertDetails {
  std::string by;    // the proxy's own SPIFFE ID
  std::string hash;  // SHA-256 of the peer certificate (DER), hex
  std::string pem;   // the peer certificate (only used when `withCert`)
  std::string uri;   // the peer's URI SAN
  bool withCert = false;
};
std::string formatXfccElement(const ClientCertDetails& details);

// ------------------------------------------------------------------------ matchers (exposed for
// tests and the analyzer)
// Istio's string match of a policy value: "*" = any non-empty value, "*suffix", "prefix*", exact.
// `ignoreCase` for hosts.
bool authzStringMatch(std::string_view pattern, std::string_view value, bool ignoreCase = false);
// A principal value ("cluster.local/ns/x/sa/y", "*", "*/sa/y", …) against the peer URI SAN.
bool principalMatches(std::string_view pattern, std::string_view peerPrincipal);
// A `requestPrincipals` / `request.auth.principal` value ("iss/sub", "*", "iss/*", "*/sub")
// against a verified token, as the Istio version of jwt->istio compiles it (§S3): up to 1.20 one
// string "iss/sub" (none without both claims); from 1.21 issuer and subject apart.
bool requestPrincipalMatches(std::string_view pattern, const JwtIdentity* jwt);
// A `namespaces` value (may hold "*") against the namespace in the peer's SPIFFE ID.
bool namespaceMatches(std::string_view pattern, std::string_view peerPrincipal);
// An IP or CIDR block against an address (IPv4 or IPv6); false for an unparsable address.
bool ipBlockMatches(std::string_view block, std::string_view ip);
// The path as Envoy matches it under the default normalization (BASE: RFC 3986 dot segments,
// backslashes to slashes, percent-decoding of unreserved characters), without the query.
std::string normalizedPathForMatch(std::string_view target);

}  // namespace egresslab::mesh
