// `meshConfig.extensionProviders` (Istio's MeshConfig.ExtensionProvider): the external
// authorization providers an AuthorizationPolicy with `action: CUSTOM` names
// (docs/istio-behaviour.md §X1). Only `envoyExtAuthzHttp` and `envoyExtAuthzGrpc` are typed;
// the tracing, logging and metrics providers are accepted and kept as written.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/model/origin.h"

namespace egresslab::model {

struct ExtensionProvider {
  enum class Kind { kExtAuthzHttp, kExtAuthzGrpc, kOther };
  std::string name;
  Kind kind = Kind::kOther;
  std::string otherKind;  // the provider field written for kOther ("zipkin", …)
  // Both ext_authz kinds.
  std::string service;  // `[NAMESPACE/]HOSTNAME`
  std::uint32_t port = 0;
  std::optional<std::chrono::milliseconds> timeout;  // unset: Istio's 600 s
  bool failOpen = false;
  std::string statusOnError;        // as written; "" = Envoy's 403
  bool includeRequestBody = false;  // includeRequestBodyInCheck given
  // envoyExtAuthzHttp only.
  std::string pathPrefix;
  std::vector<std::string> includeRequestHeadersInCheck;  // or deprecated includeHeadersInCheck
  std::map<std::string, std::string> includeAdditionalHeadersInCheck;
  std::vector<std::string> headersToUpstreamOnAllow;
  std::vector<std::string> headersToDownstreamOnDeny;
  std::vector<std::string> headersToDownstreamOnAllow;
  SourcePos pos;
};

}  // namespace egresslab::model
