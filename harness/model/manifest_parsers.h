// Readers shared by the manifest and scenario loaders (internal to harness/model).
#pragma once

#include <fmt/core.h>

#include <cctype>
#include <cstddef>
#include <optional>
#include <string>

#include "harness/core/ascii.h"
#include "harness/model/resources.h"
#include "harness/model/schema.h"
#include "harness/model/version.h"
#include "harness/model/yaml_tree.h"

namespace egresslab::model::detail {

// Calls fn(item, "path[i]") for each item of a list; an absent or null node is an empty list,
// anything else but a list an error at its position.
template <typename Fn>
void eachItem(Ctx& ctx, const YNode* node, const std::string& path, Fn&& fn) {
  if (node == nullptr || node->isNull()) return;
  if (!node->isSequence()) {
    ctx.fail(fmt::format("{} must be a list, got {}", path, describeKind(*node)), node->pos);
    return;
  }
  for (std::size_t i = 0; i < node->items.size() && ctx.ok(); ++i) {
    fn(node->items[i], fmt::format("{}[{}]", path, i));
  }
}

// A Kubernetes probe (exec/httpGet/tcpSocket + timings), strictly; `what` names it.
std::optional<Probe> readProbe(Ctx& ctx, const YNode& node, const std::string& what);

// AuthorizationPolicy spec (authz_policy_loader.cpp), with istiod's validation (§S1).
void readAuthorizationPolicy(Ctx& ctx, const YNode& spec, AuthorizationPolicy& policy);

// RequestAuthentication spec (request_authn_loader.cpp), with istiod's validation (§S3).
void readRequestAuthentication(Ctx& ctx, const YNode& spec, RequestAuthentication& ra);

// `targetRef` (1.20+) / `targetRefs` (1.22+) of one policy, checked as istiod of that version
// validates them (request_authn_loader.cpp).
void readPolicyTargetRefs(Ctx& ctx, Fields& spec, std::string_view kind,
                          std::vector<PolicyTargetRef>& out);

// What istiod and the API server of `version` reject in AuthorizationPolicy and
// RequestAuthentication: security.istio.io/v1 before 1.22, fields the CRD does not have yet
// (targetRef before 1.20, targetRefs before 1.22, …) and targetRef kinds its validation refuses.
Result<void> checkSecurityPolicyVersions(const ResourceSet& resources, const IstioVersion& version);

}  // namespace egresslab::model::detail
