// External authorization (AuthorizationPolicy `action: CUSTOM`): the ext_authz filter config
// Istio builds from `meshConfig.extensionProviders`, and the pure rules of Envoy's ext_authz
// filter — what the check request carries, how an answer or a failure becomes the request's fate
// (docs/istio-behaviour.md §X1). The sim's client (harness/sim/ext_authz_client.cpp) only does
// the I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/mesh/config.h"
#include "harness/mesh/decisions.h"
#include "harness/model/resources.h"

namespace egresslab::mesh {

using HeaderPairList = std::vector<std::pair<std::string, std::string>>;

struct ExtAuthzProvider {
  enum class Protocol { kHttp, kGrpc };
  std::string name;
  Protocol protocol = Protocol::kHttp;
  std::string host;  // the resolved service hostname
  std::uint32_t port = 0;
  std::string cluster;                        // outbound|PORT||HOST
  std::chrono::milliseconds timeout{600000};  // Istio's default when unset: 600 s
  bool failOpen = false;                      // failure_mode_allow
  std::uint32_t statusOnError = 403;          // Envoy's default: 403 Forbidden
  bool includeRequestBody = false;
  // HTTP only. Header patterns are Istio's: exact, `prefix*` or `*suffix`, case-insensitive.
  std::string pathPrefix;
  std::vector<std::string> allowedHeaders;        // includeRequestHeadersInCheck
  HeaderPairList headersToAdd;                    // includeAdditionalHeadersInCheck, sorted by name
  std::vector<std::string> upstreamHeaders;       // headersToUpstreamOnAllow
  std::vector<std::string> clientHeadersOnDeny;   // headersToDownstreamOnDeny (empty: all)
  std::vector<std::string> clientHeadersOnAllow;  // headersToDownstreamOnAllow
  // Why istiod could not build this provider ("" = built). Every CUSTOM policy naming a
  // provider that failed denies every request it covers (Istio's deny-all fallback).
  std::string error;
  std::string origin;  // "IstioOperator istio-system/x meshConfig.extensionProviders[0]"
};

// One provider per typed ext_authz entry of `meshConfig`, resolved against the registry: the
// service is `HOSTNAME` or `NAMESPACE/HOSTNAME` and must be a Service or ServiceEntry host
// (`extraHosts` adds hosts the run provides itself, e.g. the scenario's ext-authz servers).
std::vector<ExtAuthzProvider> compileExtAuthzProviders(
    const model::MeshConfig& meshConfig, const Registry& registry,
    const std::vector<std::string>& extraHosts = {});

const ExtAuthzProvider* findExtAuthzProvider(const std::vector<ExtAuthzProvider>& providers,
                                             std::string_view name);

// Istio's header pattern match (exact, `prefix*`, `*suffix`), case-insensitive.
bool headerPatternMatches(std::string_view pattern, std::string_view name);

// ------------------------------------------------------------------------ the check request
// The HTTP check Envoy sends for a request: the original method, the provider's pathPrefix +
// the original path, `Host` (the original authority), `authorization` when present, the headers
// `includeRequestHeadersInCheck` selects, then the `includeAdditionalHeadersInCheck` headers;
// `content-length: 0` (no body unless includeRequestBodyInCheck).
struct HttpCheckRequest {
  std::string method;
  std::string path;
  HeaderPairList headers;
};
HttpCheckRequest buildHttpCheckRequest(const ExtAuthzProvider& provider,
                                       const RequestView& request);

// ------------------------------------------------------------------------ the answer
// What one check came back with, independent of the protocol.
struct ExtAuthzOutcome {
  enum class Kind { kAllow, kDeny, kError };
  Kind kind = Kind::kError;
  std::uint32_t status = 0;                 // a deny's status
  std::string body;                         // a deny's body
  HeaderPairList upstreamSet;               // allow: set on the upstream request (overwrite)
  HeaderPairList upstreamAppend;            // allow: appended to the upstream request
  std::vector<std::string> upstreamRemove;  // allow: removed from the upstream request
  HeaderPairList downstreamHeaders;  // deny: on the local reply; allow: added to the response
  std::string errorDetail;           // kError: what went wrong (connect failure, timeout, 5xx)
};

// Envoy's HTTP protocol: 5xx is an error; 200 allows (the answer's headers that
// headersToUpstreamOnAllow selects go upstream, x-envoy-auth-headers-to-remove names headers to
// drop, those headersToDownstreamOnAllow selects go to the client); any other status denies with
// that status and body and the headers headersToDownstreamOnDeny selects (all but Host when it
// is empty).
ExtAuthzOutcome interpretHttpCheckResponse(const ExtAuthzProvider& provider, int status,
                                           const HeaderPairList& headers, const std::string& body);

// A gRPC CheckResponse, proto-free: google.rpc.Status code 0 allows, anything else denies.
struct GrpcCheckAnswer {
  int code = 0;  // CheckResponse.status.code
  struct Header {
    std::string key;
    std::string value;
    bool append = false;  // HeaderValueOption.append (unset = false in this API)
  };
  // ok_response
  std::vector<Header> okHeaders;
  std::vector<std::string> headersToRemove;
  std::vector<Header> responseHeadersToAdd;
  // denied_response
  std::uint32_t deniedStatus = 0;  // 0 = unset → 403
  std::vector<Header> deniedHeaders;
  std::string deniedBody;
};
ExtAuthzOutcome interpretGrpcCheckResponse(const GrpcCheckAnswer& answer);

// A check that got no answer (connect failure, timeout, reset, gRPC error status).
ExtAuthzOutcome checkFailed(std::string detail);

// The request's fate: continue (nullopt) or this local reply. Deny → the server's status and
// body, flag UAEX, details `ext_authz_denied`; error → continue when failOpen, else
// statusOnError with an empty body, flag UAEX, details `ext_authz_error`.
std::optional<ProxyResponse> extAuthzLocalReply(const ExtAuthzProvider& provider,
                                                const ExtAuthzOutcome& outcome);

// The local reply Istio's deny-all fallback gives when a CUSTOM policy names a provider that
// does not exist or failed to build: 403 `RBAC: access denied`, details
// `rbac_access_denied_matched_policy[default-deny-all-due-to-bad-CUSTOM-action]`.
ProxyResponse badCustomActionReply();

// Whether istiod of `version` builds AuthorizationPolicy CUSTOM at all. Istio 1.8's CRD already
// accepts `action: CUSTOM` and `provider`, but its istiod sorts policies into ALLOW/DENY/AUDIT
// only and drops any other action with the log line "ignored authorization policy NS.NAME with
// unsupported action: CUSTOM" (istio@1.8.0 pilot/pkg/model/authorization.go): the policy has no
// effect, no request is checked. CUSTOM and meshConfig.extensionProviders arrived in 1.9.
bool customActionBuilt(const model::IstioVersion& version);

// ------------------------------------------------------------------------ TCP filter chains
// istiod builds CUSTOM on TCP chains (tcp_proxy, TLS passthrough) as Envoy's *network* ext_authz
// filter, which speaks gRPC only: a gRPC provider checks each connection (source/destination
// address and principal, no request.http); an HTTP provider is skipped on TCP ("ignored CUSTOM
// action with HTTP provider on TCP filter chain", builder.go 1.9 to 1.28), so the policy does
// not apply there. A provider that is undefined or failed still gets the deny-all RBAC policy.
bool extAuthzAppliesOnTcp(const ExtAuthzProvider& provider);

// What the network filter does with an answer: nullopt = the connection goes on (allowed, or an
// error with failOpen); else it is closed (no bytes flushed) and the tcp_proxy line carries
// `flags` and `details`.
struct ConnectionDenial {
  ResponseFlags flags;
  std::string details;  // %RESPONSE_CODE_DETAILS%
};
std::optional<ConnectionDenial> extAuthzConnectionDenial(const ExtAuthzProvider& provider,
                                                         const ExtAuthzOutcome& outcome,
                                                         const model::IstioVersion& version);

}  // namespace egresslab::mesh
