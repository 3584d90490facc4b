// EGL009: an AuthorizationPolicy with `action: CUSTOM` naming an extension provider that the
// mesh config does not define as an ext_authz provider. istiod then replaces the policy with a
// deny-all RBAC policy for the workloads it selects (docs/istio-behaviour.md §X1) — every
// request it covers gets 403, which the simulator shows too (harness/sim/ext_authz_client.cpp).
// Before 1.9 istiod ignores CUSTOM policies altogether: EGL009 warns that nothing is checked.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "harness/analyze/checks.h"
#include "harness/mesh/ext_authz.h"

namespace egresslab::analyze::detail {

void runExtAuthzChecks(const Cluster& /*cluster*/, const AnalysisInput& input, Reporter& report) {
  const model::ResourceSet& rs = *input.resources;
  std::vector<std::string> extAuthz;
  std::vector<std::string> others;
  for (const auto& iop : rs.istioOperators) {
    for (const auto& p : iop.meshConfig.extensionProviders) {
      (p.kind == model::ExtensionProvider::Kind::kOther ? others : extAuthz).push_back(p.name);
    }
  }
  const bool built = mesh::customActionBuilt(report.version());
  for (const auto& policy : rs.authorizationPolicies) {
    if (policy.action != model::AuthzAction::kCustom) continue;
    if (!built) {
      // istiod 1.8 ignores the policy: nothing it covers is checked (a gap, not a denial).
      report.egl("EGL009", Level::kWarning, originOf(policy), policy.origin.at("spec.action"),
                 fmt::format("AuthorizationPolicy {}/{} uses action CUSTOM, which istiod {}.{} "
                             "does not build (\"unsupported action\", CUSTOM arrived in 1.9): "
                             "the policy is ignored and no request it covers is checked "
                             "(docs/istio-behaviour.md §X1)",
                             policy.meta.ns, policy.meta.name, report.version().major,
                             report.version().minor),
                 "§X1",
                 "upgrade to Istio 1.9 or later, or express the rule as an ALLOW/DENY policy");
      continue;
    }
    if (std::find(extAuthz.begin(), extAuthz.end(), policy.provider) != extAuthz.end()) continue;
    const bool other = std::find(others.begin(), others.end(), policy.provider) != others.end();
    const std::string defined =
        extAuthz.empty() ? std::string("none") : fmt::format("{}", fmt::join(extAuthz, ", "));
    report.egl(
        "EGL009", Level::kError, originOf(policy), policy.origin.at("spec.provider.name"),
        fmt::format(
            "AuthorizationPolicy {}/{} (CUSTOM) names extension provider \"{}\", {} (ext_authz "
            "providers defined: {}): istiod replaces the policy with a deny-all, so every "
            "request its rules cover gets 403 \"RBAC: access denied\" (docs/istio-behaviour.md "
            "§X1)",
            policy.meta.ns, policy.meta.name, policy.provider,
            other ? "which is not an envoyExtAuthzHttp/envoyExtAuthzGrpc provider"
                  : "which meshConfig.extensionProviders does not define",
            defined),
        "§X1",
        fmt::format("define \"{}\" under meshConfig.extensionProviders (envoyExtAuthzHttp or "
                    "envoyExtAuthzGrpc), or name one of the defined providers",
                    policy.provider));
  }
}

}  // namespace egresslab::analyze::detail
