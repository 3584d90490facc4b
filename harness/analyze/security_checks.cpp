// Security checks (docs/istio-behaviour.md §S1, §S2): AuthorizationPolicy selectors that match no
// pod (istioctl's IST0127) and policies that decide on the caller's identity at a gateway the
// callers reach without mutual TLS (EGL008). Data-plane facts come from the compiled mesh: which
// proxies a policy is attached to (mesh::attachAuthorization) and whether each caller's cluster
// to the gateway originates ISTIO_MUTUAL.
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "harness/analyze/checks.h"
#include "harness/mesh/authz.h"
#include "harness/mesh/config.h"
#include "harness/mesh/decisions.h"

namespace egresslab::analyze::detail {
namespace {

// IST0127 NoMatchingWorkloadsFound: a policy with a selector that picks no pod of its namespace
// (of any namespace for a policy in the root namespace).
void checkSelectorMatchesNothing(const Cluster& cluster, Reporter& report) {
  const mesh::CompiledMesh* compiled = cluster.compiled();
  const std::string root =
      compiled != nullptr ? mesh::rootNamespaceOf(compiled->meshConfig) : "istio-system";
  for (const model::AuthorizationPolicy& ap : cluster.resources().authorizationPolicies) {
    if (!ap.selector || ap.selector->empty()) continue;
    const std::string ns = namespaceOf(ap);
    const bool any = std::any_of(cluster.pods().begin(), cluster.pods().end(), [&](const auto& p) {
      return (ns == root || p.ns == ns) && selectorMatches(*ap.selector, p.labels);
    });
    if (any) continue;
    std::vector<std::string> labels;
    for (const auto& [k, v] : *ap.selector) labels.push_back(k + "=" + v);
    report.ist("IST0127", ap, "spec.selector",
               fmt::format("No matching workloads for this resource with the following labels: {}",
                           fmt::join(labels, ",")));
  }
}

// True when the rule decides on who the caller is: principals, namespaces, serviceAccounts or the
// when keys source.principal / source.namespace — all known only over mutual TLS (§S1).
bool usesPeerIdentity(const model::AuthzRule& rule) {
  for (const auto& s : rule.from) {
    if (!s.principals.empty() || !s.notPrincipals.empty() || !s.namespaces.empty() ||
        !s.notNamespaces.empty() || !s.serviceAccounts.empty() || !s.notServiceAccounts.empty()) {
      return true;
    }
  }
  return std::any_of(rule.when.begin(), rule.when.end(), [](const model::AuthzCondition& c) {
    return c.key == "source.principal" || c.key == "source.namespace";
  });
}

// The first rule path that uses the peer identity ("spec.rules[0].from[0].source"), for the
// message position.
std::string identityPath(const model::AuthorizationPolicy& ap) {
  for (const auto& rule : ap.rules) {
    if (!usesPeerIdentity(rule)) continue;
    for (const auto& s : rule.from) {
      if (!s.principals.empty()) return s.path + ".principals";
      if (!s.notPrincipals.empty()) return s.path + ".notPrincipals";
      if (!s.namespaces.empty()) return s.path + ".namespaces";
      if (!s.notNamespaces.empty()) return s.path + ".notNamespaces";
      if (!s.serviceAccounts.empty() || !s.notServiceAccounts.empty()) return s.path;
    }
    for (const auto& c : rule.when) {
      if (c.key == "source.principal" || c.key == "source.namespace") return c.path;
    }
  }
  return "spec.rules";
}

// Does a connection through `cluster` to `endpoint` carry a client certificate? Explicit
// ISTIO_MUTUAL/MUTUAL from a DestinationRule, or auto mTLS to an endpoint labelled
// tlsMode=istio — never a gateway pod (§6, §S2).
bool presentsClientCert(const mesh::Cluster& c, const mesh::Endpoint& e) {
  const auto tls = mesh::upstreamTlsFor(c, e, c.serviceHost);
  return tls && (tls->presentMeshClientCert || tls->mode == mesh::UpstreamTlsMode::kMutual);
}

// EGL008: an ALLOW/DENY policy on `principals`/`namespaces` at a gateway that some caller reaches
// in plaintext. The gateway never learns that caller's identity: an ALLOW rule on it never
// matches (403 for everyone who only fits that rule), a DENY rule on it never fires.
void checkPlaintextPrincipal(const Cluster& cluster, Reporter& report) {
  const mesh::CompiledMesh* compiled = cluster.compiled();
  if (compiled == nullptr) return;
  std::set<std::string> reported;
  for (const mesh::ProxyConfig& gw : compiled->proxies) {
    if (gw.id.kind == mesh::ProxyKind::kSidecar || gw.authz.empty()) continue;
    // Callers: every other proxy with a cluster whose endpoint is this gateway's pod, and whether
    // that cluster presents a client certificate.
    std::vector<std::string> plaintextCallers;
    const auto listensOn = [&](std::uint32_t servicePort) {
      return std::any_of(gw.listeners.begin(), gw.listeners.end(),
                         [&](const mesh::Listener& l) { return l.servicePort == servicePort; });
    };
    for (const mesh::ProxyConfig& caller : compiled->proxies) {
      if (caller.id == gw.id) continue;
      for (const mesh::Cluster& c : caller.clusters) {
        // Only ports the gateway serves (a Gateway server on that Service port).
        if (!listensOn(c.servicePort)) continue;
        for (const mesh::Endpoint& e : c.endpoints) {
          if (e.target.kind != mesh::EndpointTarget::Kind::kGatewayWorkload ||
              e.target.ns != gw.id.ns || e.target.name != gw.id.name) {
            continue;
          }
          if (!presentsClientCert(c, e)) {
            plaintextCallers.push_back(fmt::format("{} ({})", caller.id.str(), c.name));
          }
          break;
        }
      }
    }
    // Callers from outside the mesh (no proxy) never present a mesh certificate either; they are
    // not listed (unknown), the mesh callers are enough to show the trap.
    if (plaintextCallers.empty()) continue;
    std::sort(plaintextCallers.begin(), plaintextCallers.end());
    plaintextCallers.erase(std::unique(plaintextCallers.begin(), plaintextCallers.end()),
                           plaintextCallers.end());
    for (const mesh::AuthzPolicy& p : gw.authz.policies) {
      if (p.action != model::AuthzAction::kAllow && p.action != model::AuthzAction::kDeny) {
        continue;
      }
      const model::AuthorizationPolicy* ap = cluster.authorizationPolicy(p.origin);
      if (ap == nullptr) continue;
      if (std::none_of(p.rules.begin(), p.rules.end(), usesPeerIdentity)) continue;
      if (!reported.insert(p.origin + "|" + gw.id.str()).second) continue;
      const bool allow = p.action == model::AuthzAction::kAllow;
      report.egl(
          "EGL008", Level::kWarning, originOf(*ap), ap->origin.at(identityPath(*ap)),
          fmt::format("{} {} decides on the caller's principal or namespace at gateway {}, but {} "
                      "reach{} it without mutual TLS, so the gateway never learns who they are: {}",
                      model::authzActionName(p.action), fullName(*ap), gw.id.str(),
                      fmt::join(plaintextCallers, ", "), plaintextCallers.size() == 1 ? "es" : "",
                      allow ? "their requests match no ALLOW rule on identity and are denied "
                              "(403 RBAC: access denied, rbac_access_denied_matched_policy[none])"
                            : "the DENY rule on identity never matches them, so it denies nothing"),
          "§S1",
          fmt::format("serve the gateway's Gateway server with tls.mode ISTIO_MUTUAL and add a "
                      "DestinationRule for {}.{}.svc.cluster.local with tls.mode ISTIO_MUTUAL "
                      "(and sni), or decide on ipBlocks instead of identities.",
                      gw.id.name, gw.id.ns));
    }
  }
}

}  // namespace

void runSecurityChecks(const Cluster& cluster, const AnalysisInput& /*input*/, Reporter& report) {
  checkSelectorMatchesNothing(cluster, report);
  checkPlaintextPrincipal(cluster, report);
}

}  // namespace egresslab::analyze::detail
