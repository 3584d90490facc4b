// End-user authentication traps (docs/istio-behaviour.md §S3):
//   EGL040 — an AuthorizationPolicy decides on `requestPrincipals` / `request.auth.*` at a proxy
//            that no RequestAuthentication selects. No request there ever carries a request
//            principal: an ALLOW rule on it never matches (every request it alone would allow is
//            denied with 403), a DENY rule on it never fires — and the negated forms
//            (notRequestPrincipals, the usual "deny requests without a token") match everything.
//   EGL041 — an AuthorizationPolicy or RequestAuthentication attached with `targetRef(s)`: those
//            attach to Kubernetes Gateway API gateways and waypoints, never to an Istio gateway
//            deployment or a sidecar, so in a mesh of those it applies to no proxy at all.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "harness/analyze/checks.h"
#include "harness/mesh/authz.h"
#include "harness/mesh/config.h"

namespace egresslab::analyze::detail {
namespace {

// The first field of a rule that reads the request principal: its path ("" = none) and whether
// it is a negated form (notRequestPrincipals, a condition with notValues only).
struct IdentityField {
  std::string path;
  bool negated = false;
};

IdentityField requestIdentityField(const model::AuthzRule& rule) {
  for (const auto& s : rule.from) {
    if (!s.requestPrincipals.empty()) return {s.path + ".requestPrincipals", false};
    if (!s.notRequestPrincipals.empty()) return {s.path + ".notRequestPrincipals", true};
  }
  for (const auto& c : rule.when) {
    if (c.key.rfind("request.auth.", 0) == 0) return {c.path + ".key", c.values.empty()};
  }
  return {};
}

std::string consequence(bool allow, bool negated) {
  if (allow) {
    return negated ? "its negated condition matches every request"
                   : "the rule never matches and requests that only it would allow are denied "
                     "with 403 \"RBAC: access denied\"";
  }
  return negated ? "the DENY rule matches every request it covers (403 \"RBAC: access denied\")"
                 : "the DENY rule never fires";
}

void checkRequestPrincipalsWithoutJwt(const Cluster& cluster, Reporter& report) {
  const mesh::CompiledMesh* compiled = cluster.compiled();
  if (compiled == nullptr) return;
  std::set<std::string> reported;
  for (const mesh::ProxyConfig& proxy : compiled->proxies) {
    if (proxy.authz.empty() || !proxy.authz.jwt.empty()) continue;
    for (const mesh::AuthzPolicy& p : proxy.authz.policies) {
      if (p.action != model::AuthzAction::kAllow && p.action != model::AuthzAction::kDeny) {
        continue;
      }
      IdentityField field;
      for (const auto& rule : p.rules) {
        field = requestIdentityField(rule);
        if (!field.path.empty()) break;
      }
      if (field.path.empty()) continue;
      const model::AuthorizationPolicy* ap = nullptr;
      for (const auto& candidate : cluster.resources().authorizationPolicies) {
        if (candidate.ref() == p.origin) ap = &candidate;
      }
      if (ap == nullptr || !reported.insert(p.origin + "|" + proxy.id.str()).second) continue;
      const bool allow = p.action == model::AuthzAction::kAllow;
      report.egl(
          "EGL040", Level::kWarning, originOf(*ap), ap->origin.at(field.path),
          fmt::format("{} {} decides on the request principal (JWT) at {}, but no "
                      "RequestAuthentication selects that workload, so no request there carries "
                      "one: {}",
                      model::authzActionName(p.action), fullName(*ap), proxy.id.str(),
                      consequence(allow, field.negated)),
          "§S3",
          "add a RequestAuthentication (jwtRules with the token's issuer) whose selector matches "
          "this workload, in its namespace or the root namespace");
    }
  }
}

template <typename Policy>
void checkTargetRefs(const Policy& p, Reporter& report) {
  if (p.targetRefs.empty()) return;
  const auto& ref = p.targetRefs.front();
  report.egl(
      "EGL041", Level::kWarning, originOf(p), p.origin.at(ref.path),
      fmt::format("{} {} is attached with targetRef to {}/{} \"{}\": targetRefs attach to "
                  "Kubernetes Gateway API gateways and waypoints only, never to an Istio "
                  "gateway deployment or a sidecar, so it applies to no proxy here",
                  p.kind, fullName(p), ref.group.empty() ? "core" : ref.group, ref.kind, ref.name),
      "§S1",
      "use spec.selector.matchLabels (e.g. {istio: egressgateway}) to attach the policy to "
      "the egress gateway's pods");
}

}  // namespace

void runJwtChecks(const Cluster& cluster, const AnalysisInput& input, Reporter& report) {
  checkRequestPrincipalsWithoutJwt(cluster, report);
  for (const auto& p : input.resources->authorizationPolicies) checkTargetRefs(p, report);
  for (const auto& p : input.resources->requestAuthentications) checkTargetRefs(p, report);
}

}  // namespace egresslab::analyze::detail
