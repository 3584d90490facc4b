// DestinationRule lookup, merge and upstream TLS (docs/istio-behaviour.md §4, §6).
#include "harness/mesh/policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "harness/core/ascii.h"

namespace egresslab::mesh {
namespace {

constexpr std::string_view kClusterDomain = "svc.cluster.local";

std::string_view hostWithoutPort(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  auto colon = authority.rfind(':');
  if (colon == std::string_view::npos) return authority;
  std::string_view port = authority.substr(colon + 1);
  if (port.empty() || !std::all_of(port.begin(), port.end(), [](char ch) {
        return std::isdigit(static_cast<unsigned char>(ch)) != 0;
      })) {
    return authority;
  }
  return authority.substr(0, colon);
}

bool isWildcard(std::string_view h) { return !h.empty() && h.front() == '*'; }

std::string nsOf(const model::ResourceBase& r) { return r.meta.ns.empty() ? "default" : r.meta.ns; }

// exportTo as istiod reads it (visibility.Instance): "*" public, "." private, else namespaces.
// An unset exportTo is meshConfig.defaultDestinationRuleExportTo, which the model leaves at
// its default "*".
bool exportedPublicly(const std::vector<std::string>& exportTo) {
  return exportTo.empty() || std::find(exportTo.begin(), exportTo.end(), "*") != exportTo.end();
}

bool exportLists(const std::vector<std::string>& exportTo, std::string_view ns) {
  return std::find(exportTo.begin(), exportTo.end(), ns) != exportTo.end();
}

// setDestinationRules: a DR joins its namespace's local index when exported to ".", "*", its own
// namespace, or unset.
bool inNamespaceLocal(const model::DestinationRule& dr) {
  const std::string ns = nsOf(dr);
  return exportedPublicly(dr.exportTo) || exportLists(dr.exportTo, ".") ||
         exportLists(dr.exportTo, ns);
}

// Private only: exportTo is exactly "." or exactly its own namespace.
bool privateOnly(const model::DestinationRule& dr) {
  return dr.exportTo.size() == 1 && (dr.exportTo.front() == "." || dr.exportTo.front() == nsOf(dr));
}

// The most specific DR of `pool` for the host (first in file order among equal hosts).
const model::DestinationRule* mostSpecific(const std::vector<const model::DestinationRule*>& pool,
                                           std::string_view host) {
  std::vector<std::string> hosts;
  hosts.reserve(pool.size());
  for (const auto* dr : pool) hosts.push_back(resolveHost(dr->host, nsOf(*dr)));
  auto i = mostSpecificHostMatch(host, hosts);
  return i ? pool[*i] : nullptr;
}

}  // namespace

// ------------------------------------------------------------------------------ hosts
std::string resolveHost(std::string_view host, std::string_view configNs) {
  if (host.empty() || host == "*" || host.find('.') != std::string_view::npos) {
    return std::string(host);
  }
  return fmt::format("{}.{}.{}", host, configNs, kClusterDomain);
}

bool wildcardMatches(std::string_view pattern, std::string_view host) {
  if (pattern == "*") return true;
  if (pattern.starts_with("*.")) {
    std::string_view suffix = pattern.substr(1);  // ".suffix"
    return host.size() > suffix.size() && host.ends_with(suffix);
  }
  return pattern == host;
}

bool hostsOverlap(std::string_view a, std::string_view b) {
  if (isWildcard(a) && isWildcard(b)) {
    std::string_view sa = a.substr(1);
    std::string_view sb = b.substr(1);
    return sa.size() > sb.size() ? sa.ends_with(sb) : sb.ends_with(sa);
  }
  if (isWildcard(a)) return wildcardMatches(a, b);
  if (isWildcard(b)) return wildcardMatches(b, a);
  return a == b;
}

bool moreSpecificHost(std::string_view a, std::string_view b) {
  const bool aw = isWildcard(a);
  const bool bw = isWildcard(b);
  if (aw != bw) return !aw;
  if (aw) return a.size() > b.size();
  return false;  // two exact names: neither is more specific
}

std::optional<std::size_t> mostSpecificHostMatch(std::string_view needle,
                                                 const std::vector<std::string>& candidates) {
  // An equal host first (exact for exact needles, the same wildcard for wildcard needles).
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i] == needle) return i;
  }
  // Then the most specific wildcard whose suffix covers the needle (for a wildcard needle, its
  // suffix after "*").
  const std::string_view n = isWildcard(needle) ? needle.substr(1) : needle;
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const std::string& h = candidates[i];
    if (!isWildcard(h)) continue;
    std::string_view suffix = std::string_view(h).substr(1);
    if (!n.ends_with(suffix)) continue;
    if (!isWildcard(needle) && h != "*" && n.size() <= suffix.size()) continue;
    if (!best || moreSpecificHost(h, candidates[*best])) best = i;
  }
  return best;
}

// ------------------------------------------------------------------------------ DR lookup
const model::DestinationRule* findDestinationRule(const std::vector<model::DestinationRule>& rules,
                                                  const DestinationRuleQuery& q) {
  const std::string_view host = q.serviceHost;
  auto pool = [&](auto keep) {
    std::vector<const model::DestinationRule*> out;
    for (const auto& dr : rules) {
      if (keep(dr)) out.push_back(&dr);
    }
    return out;
  };
  // 1. The proxy's namespace (root-namespace proxies: only root DRs private to it).
  if (q.proxyNs != q.rootNs) {
    auto local = pool([&](const model::DestinationRule& dr) {
      return nsOf(dr) == q.proxyNs && inNamespaceLocal(dr);
    });
    if (const auto* dr = mostSpecific(local, host)) return dr;
  } else {
    auto rootLocal = pool(
        [&](const model::DestinationRule& dr) { return nsOf(dr) == q.rootNs && privateOnly(dr); });
    if (const auto* dr = mostSpecific(rootLocal, host)) return dr;
  }
  // 2./3. Exported rules of the service's namespace, then of the root namespace: the most
  // specific host there, if it is exported to the proxy's namespace.
  auto exportedFrom = [&](std::string_view ns) -> const model::DestinationRule* {
    if (ns.empty()) return nullptr;
    auto exported =
        pool([&](const model::DestinationRule& dr) { return nsOf(dr) == ns && !privateOnly(dr); });
    const auto* dr = mostSpecific(exported, host);
    if (dr == nullptr) return nullptr;
    if (exportedPublicly(dr->exportTo) || exportLists(dr->exportTo, q.proxyNs)) return dr;
    return nullptr;
  };
  if (const auto* dr = exportedFrom(q.serviceNs)) return dr;
  return exportedFrom(q.rootNs);
}

const model::Subset* findSubset(const model::DestinationRule& dr, std::string_view name) {
  for (const auto& s : dr.subsets) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// ------------------------------------------------------------------------------ merge
namespace {
void applyPortLevel(EffectivePolicy& p, const model::TrafficPolicy& tp, std::uint32_t port) {
  for (const auto& pl : tp.portLevelSettings) {
    if (pl.port != port) continue;
    p.loadBalancer = pl.loadBalancer;
    p.connectionPool = pl.connectionPool;
    p.outlierDetection = pl.outlierDetection;
    p.tls = pl.tls;
    p.tlsPath = pl.path + ".tls";
    return;
  }
}
}  // namespace

EffectivePolicy mergeTrafficPolicy(const model::DestinationRule& dr, const model::Subset* subset,
                                   std::uint32_t port) {
  EffectivePolicy p;
  if (dr.trafficPolicy) {
    const model::TrafficPolicy& top = *dr.trafficPolicy;
    p.loadBalancer = top.loadBalancer;
    p.connectionPool = top.connectionPool;
    p.outlierDetection = top.outlierDetection;
    p.tls = top.tls;
    p.tlsPath = top.path + ".tls";
    applyPortLevel(p, top, port);
  }
  if (subset != nullptr && subset->trafficPolicy) {
    const model::TrafficPolicy& st = *subset->trafficPolicy;
    if (st.loadBalancer) p.loadBalancer = st.loadBalancer;
    if (st.connectionPool) p.connectionPool = st.connectionPool;
    if (st.outlierDetection) p.outlierDetection = st.outlierDetection;
    if (st.tls) {
      p.tls = st.tls;
      p.tlsPath = st.path + ".tls";
    }
    applyPortLevel(p, st, port);
  }
  return p;
}

// ------------------------------------------------------------------------------ upstream TLS
bool autoSniFollowsHostRewrite(const model::IstioVersion& version) {
  return version.atLeast(1, 24);
}

std::optional<UpstreamTls> originationTls(const EffectivePolicy& policy,
                                          const OriginationContext& c) {
  if (!policy.tls || policy.tls->mode == model::ClientTlsMode::kDisable) return std::nullopt;
  const model::ClientTls& t = *policy.tls;
  const model::IstioVersion& v = c.version;
  UpstreamTls u;
  u.origin = c.drRef + " " + policy.tlsPath;
  u.subjectAltNames = t.subjectAltNames;
  u.insecureSkipVerify = t.insecureSkipVerify.value_or(false);
  if (t.mode == model::ClientTlsMode::kIstioMutual) {
    // §6: ISTIO_MUTUAL uses mesh certificates; SNI outbound_.PORT_.SUBSET_.HOST.
    u.mode = UpstreamTlsMode::kIstioMutual;
    u.sni = t.sni.empty() ? fmt::format("outbound_.{}_.{}_.{}", c.port, c.subset, c.serviceHost)
                          : t.sni;
    u.verify = ServerVerification::kMeshCa;
    if (u.subjectAltNames.empty()) u.subjectAltNames = c.endpointIdentities;
    return u;
  }
  u.mode =
      t.mode == model::ClientTlsMode::kMutual ? UpstreamTlsMode::kMutual : UpstreamTlsMode::kSimple;
  u.sni = t.sni;
  u.credentialName = t.credentialName;
  u.clientCertificate = t.clientCertificate;
  u.privateKey = t.privateKey;
  // §4 certificate verification: caCertificates always verifies; otherwise none on 1.8–1.20,
  // system CAs on 1.21–1.23 (VERIFY_CERTIFICATE_AT_CLIENT default true) and always on 1.24+;
  // insecureSkipVerify opts out.
  if (!t.caCertificates.empty()) {
    u.verify =
        t.caCertificates == "system" ? ServerVerification::kSystemCa : ServerVerification::kCaFile;
    u.caCertificates = t.caCertificates;
  } else if (!u.insecureSkipVerify && v.atLeast(1, 21)) {
    u.verify = ServerVerification::kSystemCa;
    u.caCertificates = "system";
  }
  if (u.insecureSkipVerify) u.verify = ServerVerification::kNone;
  // §4 auto SNI (ENABLE_AUTO_SNI default true from 1.21) and auto SAN validation when neither
  // sni nor subjectAltNames is set and verification is on.
  if (t.sni.empty() && v.atLeast(1, 21)) {
    u.autoSni = true;
    u.autoSanValidation =
        !u.insecureSkipVerify && t.subjectAltNames.empty() && u.verify != ServerVerification::kNone;
    u.autoSniFromRewrittenHost = autoSniFollowsHostRewrite(v);
  }
  return u;
}

UpstreamHandshake upstreamHandshake(const UpstreamTls& tls, std::string_view downstreamAuthority,
                                    std::string_view rewrittenAuthority) {
  const std::string_view authority = tls.autoSniFromRewrittenHost && !rewrittenAuthority.empty()
                                         ? rewrittenAuthority
                                         : downstreamAuthority;
  const std::string host = asciiLower(hostWithoutPort(authority));
  UpstreamHandshake h;
  h.sni = !tls.sni.empty() ? tls.sni : (tls.autoSni ? host : std::string());
  h.verifySubjectAltNames = tls.subjectAltNames;
  if (h.verifySubjectAltNames.empty() && tls.autoSanValidation) {
    h.verifySubjectAltNames.push_back(host);
  }
  return h;
}

}  // namespace egresslab::mesh
