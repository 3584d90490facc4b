// The kind backend's ext-authz servers (a scenario's `extAuthz:`, docs/kind.md): each becomes a
// Namespace, Service and Deployment applied before the workloads. Without `rules` the server is
// Istio's sample image (whose fixed behaviour the sim's default rules reproduce); with `rules`
// it must be an OPA envoy plugin image, and the rules become its Rego policy (docs/opa.md).
#pragma once

#include <string>

#include "harness/core/error.h"
#include "harness/model/ext_authz_server.h"

namespace egresslab::kind {

// True for an image of the OPA envoy plugin (`openpolicyagent/opa…envoy…`).
bool isOpaEnvoyImage(const std::string& image);

// The YAML to `kubectl apply` for one server. kInvalidInput when the scenario's rules cannot be
// honoured by the image (rules with a non-OPA image, a `down` server — use a fault instead).
Result<std::string> extAuthzManifest(const model::ExtAuthzServerSpec& server);

// The Rego policy (package egresslab.authz, decision `result`) that answers like `rules` do:
// the first matching rule decides, else the default. Exposed for tests and docs/opa.md.
std::string regoPolicy(const model::ExtAuthzRules& rules);

}  // namespace egresslab::kind
