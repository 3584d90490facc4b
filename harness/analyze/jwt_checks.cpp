// End-user authentication traps (docs/istio-behaviour.md §S3):
//   EGL040 — an AuthorizationPolicy decides on `requestPrincipals` / `request.auth.*` at a proxy
//            that no RequestAuthentication selects. No request there ever carries a request
//            principal: an ALLOW rule on it never matches (every request it alone would allow is
//            denied with 403), a DENY rule on it never fires — and the negated forms
//            (notRequestPrincipals, the usual "deny requests without a token") match everything.
//   EGL041 — an AuthorizationPolicy or RequestAuthentication attached with `targetRef(s)`: those
//            attach to Kubernetes Gateway API gateways and waypoints, never to an Istio gateway
//            deployment or a sidecar, so in a mesh of those it applies to no proxy at all.
//   EGL042 — a `requestPrincipals` / `request.auth.principal` value names the exact principal
//            "ISSUER/SUBJECT" of an issuer the proxy validates, but the Istio version splits the
//            value elsewhere (1.21.0 at the first "/", which cuts a URL issuer; from 1.21.1 at the
//            last "/", which cuts a subject holding one), so that token never matches it.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "harness/analyze/checks.h"
#include "harness/mesh/authz.h"
#include "harness/mesh/config.h"
#include "harness/mesh/jwt.h"

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
      const model::AuthorizationPolicy* ap = cluster.authorizationPolicy(p.origin);
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

// Every exact principal value of `rule` (requestPrincipals, notRequestPrincipals, and the values
// of a request.auth.principal condition) with the path of its field.
std::vector<std::pair<std::string, std::string>> principalValues(const model::AuthzRule& rule) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& s : rule.from) {
    for (const auto& v : s.requestPrincipals) out.emplace_back(v, s.path + ".requestPrincipals");
    for (const auto& v : s.notRequestPrincipals) {
      out.emplace_back(v, s.path + ".notRequestPrincipals");
    }
  }
  for (const auto& c : rule.when) {
    if (c.key != "request.auth.principal") continue;
    for (const auto& v : c.values) out.emplace_back(v, c.path + ".values");
    for (const auto& v : c.notValues) out.emplace_back(v, c.path + ".notValues");
  }
  return out;
}

// The principal value asks for subject `subject` of `issuer` — and mesh's matcher, as this
// version compiles it, says that very token does not match it.
void checkPrincipalSplit(const Cluster& cluster, Reporter& report) {
  const mesh::CompiledMesh* compiled = cluster.compiled();
  if (compiled == nullptr) return;
  std::set<std::string> reported;
  for (const mesh::ProxyConfig& proxy : compiled->proxies) {
    for (const mesh::AuthzPolicy& p : proxy.authz.policies) {
      const model::AuthorizationPolicy* ap = cluster.authorizationPolicy(p.origin);
      if (ap == nullptr) continue;
      for (const auto& rule : p.rules) {
        for (const auto& [value, path] : principalValues(rule)) {
          for (const mesh::JwtProvider& provider : proxy.authz.jwt) {
            const std::string& issuer = provider.rule.issuer;
            if (value.size() <= issuer.size() + 1 || value.compare(0, issuer.size(), issuer) != 0 ||
                value[issuer.size()] != '/') {
              continue;
            }
            const std::string subject = value.substr(issuer.size() + 1);
            if (subject.find('*') != std::string::npos) continue;
            mesh::JwtIdentity token;
            token.payload = {{"iss", issuer}, {"sub", subject}};
            token.istio = proxy.version;
            if (mesh::requestPrincipalMatches(value, &token)) continue;
            if (!reported.insert(p.origin + "|" + path + "|" + value).second) continue;
            const bool firstSlash = !proxy.version.atLeast(1, 21, 1);
            report.egl(
                "EGL042", Level::kWarning, originOf(*ap), ap->origin.at(path),
                fmt::format("{} {}: \"{}\" names subject \"{}\" of issuer \"{}\", but Istio {} "
                            "splits the value at its {} \"/\" and matches issuer and subject "
                            "apart, so a token of that issuer and subject never matches it (at {})",
                            model::authzActionName(p.action), fullName(*ap), value, subject, issuer,
                            proxy.version.str(), firstSlash ? "first" : "last", proxy.id.str()),
                "§S3",
                firstSlash ? "upgrade to 1.21.1 or later (it splits at the last \"/\"), or match "
                             "the claims: when request.auth.claims[iss] and "
                             "request.auth.claims[sub]"
                           : "match the subject with a condition instead: requestPrincipals "
                             "[\"ISSUER/*\"] and when request.auth.claims[sub]");
          }
        }
      }
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
  checkPrincipalSplit(cluster, report);
  for (const auto& p : input.resources->authorizationPolicies) checkTargetRefs(p, report);
  for (const auto& p : input.resources->requestAuthentications) checkTargetRefs(p, report);
}

}  // namespace egresslab::analyze::detail
