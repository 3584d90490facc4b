// External authorization servers a scenario runs (`extAuthz:` in a scenario file,
// docs/scenarios.md) and the decision rules they answer by, also read from a rules file by
// `egresslab mock extauthz --rules FILE` (docs/cli.md).
//
// A server is reachable in the mesh as the Service `SERVICE.NAMESPACE.svc.cluster.local:PORT`;
// `meshConfig.extensionProviders` entries point at it (extension_providers.h). Without `rules`,
// a server answers the way Istio's `samples/extauthz` server does, so the same scenario holds on
// kind with that image (docs/istio-behaviour.md §X1).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "harness/core/error.h"
#include "harness/model/origin.h"

namespace egresslab::model {

using HeaderPairs = std::vector<std::pair<std::string, std::string>>;

// What a rule matches. Every list given must match (AND); within a list any entry (OR). Strings
// match as in AuthorizationPolicy: exact, `prefix*`, `*suffix`, or `*` (anything present).
struct ExtAuthzMatch {
  std::vector<std::string> paths;       // the check request's path, query included
  std::vector<std::string> methods;     // exact, upper case
  std::vector<std::string> principals;  // the caller's SPIFFE identity (see docs/scenarios.md)
  HeaderPairs headers;                  // lower-case name → value pattern
};

struct ExtAuthzRule {
  ExtAuthzMatch match;
  bool allow = false;
  std::uint32_t status = 403;  // a deny's status
  std::string body;            // a deny's body
  // On allow: headers for the upstream request (gRPC `ok_response.headers`; HTTP: response
  // headers that `headersToUpstreamOnAllow` picks).
  HeaderPairs upstreamHeaders;
  // Headers for the caller: on deny (gRPC `denied_response.headers`; HTTP: response headers
  // `headersToDownstreamOnDeny` picks) and on allow (gRPC `response_headers_to_add`).
  HeaderPairs downstreamHeaders;
  SourcePos pos;
};

struct ExtAuthzRules {
  std::vector<ExtAuthzRule> rules;       // first match decides
  ExtAuthzRule otherwise;                // when no rule matches (`default: allow|deny`)
  std::chrono::milliseconds latency{0};  // every check waits this long before answering
};

// The rules of Istio's `samples/extauthz` server: allow when `x-ext-authz: allow`; with that
// header absent, allow a caller whose principal ends in `/sa/a` (gRPC only: the HTTP check
// carries no principal); else 403 with the sample's body. Each answer carries
// `x-ext-authz-check-result: allowed|denied`.
ExtAuthzRules sampleExtAuthzRules();

enum class ExtAuthzProtocol { kHttp, kGrpc };

struct ExtAuthzServerSpec {
  std::string name;        // [a-z0-9-]+, unique in the scenario
  std::string ns;          // default "default"
  std::string service;     // default: name
  std::uint32_t port = 0;  // default 8000 (http) / 9000 (grpc), as the Istio sample
  ExtAuthzProtocol protocol = ExtAuthzProtocol::kHttp;
  // kind only: the container image (default Istio's sample; an OPA envoy plugin image when the
  // scenario names one — docs/opa.md).
  std::string image;
  bool rulesGiven = false;  // `rules:` written (else the sample's rules)
  ExtAuthzRules policy;
  bool down = false;  // the server is not running: checks fail to connect
  SourcePos pos;

  // `SERVICE.NAMESPACE.svc.cluster.local`.
  [[nodiscard]] std::string host() const;
};

inline constexpr std::string_view kIstioSampleExtAuthzImage =
    "gcr.io/istio-testing/ext-authz:latest";

// A rules file for `egresslab mock extauthz --rules FILE`: a map with `rules`, `default` and
// `latency`, the same syntax as a scenario's `extAuthz[].rules` (docs/scenarios.md).
Result<ExtAuthzRules> loadExtAuthzRules(const std::filesystem::path& file);
Result<ExtAuthzRules> parseExtAuthzRules(std::string_view yaml, const std::string& fileName);

}  // namespace egresslab::model
