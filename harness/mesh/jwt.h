// RequestAuthentication in the mini-pilot and Envoy's jwt_authn filter (docs/istio-behaviour.md
// §S3): which jwtRules istiod gives a proxy, and a pure evaluation of one request against them.
//
// Istio builds one Envoy provider per jwtRule (sorted by issuer) and the requirement
// "any provider, or no token at all" (allow_missing): a request without a token goes on with no
// request principal; a request with a token whose verification fails is answered by the filter
// (401, or 403 for a wrong audience) with the reason as body. A verified token gives the request
// its principal `iss/sub`, audiences, presenter (`azp`) and claims, which AuthorizationPolicy
// `requestPrincipals` and `request.auth.*` conditions read (mesh/authz.h).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/model/resources.h"
#include "harness/model/version.h"

namespace egresslab::mesh {

struct CompiledMesh;

// One jwtRule as attached to one proxy.
struct JwtProvider {
  model::JwtRule rule;
  std::string origin;  // "RequestAuthentication httpbin/jwt"
};

// The identity a verified token gives a request.
struct JwtIdentity {
  std::string issuer;
  std::string subject;
  std::vector<std::string> audiences;
  std::string presenter;   // azp
  nlohmann::json payload;  // the claims as Envoy keeps them (see normalizeScopes)
  // The Istio version of the proxy that verified it: how `requestPrincipals` match it depends on
  // it (requestPrincipalMatches in mesh/authz.h, docs/istio-behaviour.md §S3).
  model::IstioVersion istio;
  [[nodiscard]] std::string principal() const { return issuer + "/" + subject; }
};

// jwt_verify_lib's status strings (the body of Envoy's reply), the ones the simulator produces.
namespace jwt_status {
inline constexpr std::string_view kMissing = "Jwt is missing";
inline constexpr std::string_view kNotYetValid = "Jwt not yet valid";
inline constexpr std::string_view kExpired = "Jwt is expired";
inline constexpr std::string_view kBadFormat =
    "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections";
inline constexpr std::string_view kHeaderBadBase64 = "Jwt header is an invalid Base64url encoded";
inline constexpr std::string_view kHeaderBadJson = "Jwt header is an invalid JSON";
inline constexpr std::string_view kHeaderBadAlg =
    "Jwt header [alg] field is required and must be a string";
inline constexpr std::string_view kHeaderNotImplementedAlg = "Jwt header [alg] is not supported";
inline constexpr std::string_view kHeaderBadKid = "Jwt header [kid] field is not a string";
inline constexpr std::string_view kPayloadBadBase64 = "Jwt payload is an invalid Base64url encoded";
inline constexpr std::string_view kPayloadBadJson = "Jwt payload is an invalid JSON";
inline constexpr std::string_view kIssNotString = "Jwt payload [iss] field is not a string";
inline constexpr std::string_view kSubNotString = "Jwt payload [sub] field is not a string";
inline constexpr std::string_view kExpNotInteger = "Jwt payload [exp] field is not an integer";
inline constexpr std::string_view kNbfNotInteger = "Jwt payload [nbf] field is not an integer";
inline constexpr std::string_view kAudNotString =
    "Jwt payload [aud] field is not a string or string list";
inline constexpr std::string_view kSignatureBadBase64 =
    "Jwt signature is an invalid Base64url encoded";
inline constexpr std::string_view kUnknownIssuer = "Jwt issuer is not configured";
inline constexpr std::string_view kAudienceNotAllowed = "Audiences in Jwt are not allowed";
inline constexpr std::string_view kVerificationFail = "Jwt verification fails";
inline constexpr std::string_view kKidAlgMismatch =
    "Jwks doesn't have key to match kid or alg from Jwt";
inline constexpr std::string_view kNoValidKeys = "Jwks doesn't have any valid public key";
}  // namespace jwt_status

// The filter's answer for one request.
struct JwtOutcome {
  bool allowed = true;
  std::optional<JwtIdentity> identity;  // a token was verified
  // A denial: Envoy's local reply.
  std::uint32_t status = 0;     // 401, or 403 for audiences
  std::string body;             // the status string
  std::string details;          // "jwt_authn_access_denied{Jwt_is_expired}"
  std::string wwwAuthenticate;  // `Bearer realm="http://host/path", error="invalid_token"`
};

// What the filter sees of the request and may change in it.
struct JwtRequest {
  std::vector<std::pair<std::string, std::string>>* headers = nullptr;  // edited in place
  std::string* path = nullptr;  // :path with query, edited in place (a query-parameter token)
  std::string_view method;      // "GET"; a CORS preflight is "OPTIONS"
  std::string_view scheme;      // "http"
  std::string_view authority;   // :authority
  std::int64_t now = 0;         // seconds since the epoch
  model::IstioVersion version;
};

// Runs the jwt_authn filter as Istio configures it for `providers` (one proxy's, in
// compileProxyJwt order). On success the request is edited as Envoy does for each verified token,
// with the settings of the rule that verified it: outputPayloadToHeader / outputClaimToHeaders
// set (after removing any client-sent value), and unless forwardOriginalToken the token removed —
// its header, or from 1.23 (Envoy 1.31) its query parameter. From 1.14 a CORS preflight passes
// untouched (bypass_cors_preflight).
JwtOutcome authenticateJwt(const std::vector<JwtProvider>& providers, const JwtRequest& request);

// True when `providers` hold a rule the simulator cannot evaluate (a jwksUri, whose keys real
// istiod or Envoy fetches over the network; oct/OKP keys): the reason, else "".
std::string unsimulatedJwtReason(const model::JwtRule& rule);

// ------------------------------------------------------------------------ helpers (tests)
// base64url without padding (RFC 4648 §5); nullopt when `in` is not base64url.
std::optional<std::string> base64UrlDecode(std::string_view in);
std::string base64UrlEncode(std::string_view in);

// Istio's request.auth.claims lookup: the claim at `path` (["groups"], ["a", "b"] for nested),
// as the strings an AuthorizationPolicy value can match: a string claim gives itself, a list of
// strings its elements; anything else nothing.
std::vector<std::string> claimStrings(const JwtIdentity& identity,
                                      const std::vector<std::string>& path);

// "request.auth.claims[a][b]" → {"a", "b"}; empty when malformed.
std::vector<std::string> claimPathOf(std::string_view key);

// The RequestAuthentications that apply to a pod (same attachment rules as AuthorizationPolicy:
// own namespace or root namespace, selector; targetRef(s) attach to no simulated proxy), their
// jwtRules sorted by issuer as istiod sorts them.
std::vector<JwtProvider> compileProxyJwt(const std::vector<model::RequestAuthentication>& policies,
                                         std::string_view rootNamespace,
                                         std::string_view podNamespace,
                                         const model::Labels& podLabels);

// The notes for what of `requestAuthns` is not simulated, after every proxy's jwt providers are
// compiled: targetRef(s) (attach to no simulated proxy), and rules unsimulatedJwtReason names
// (they block the steps through the proxies that have them).
void attachJwtNotes(CompiledMesh& mesh,
                    const std::vector<model::RequestAuthentication>& requestAuthns);

}  // namespace egresslab::mesh
