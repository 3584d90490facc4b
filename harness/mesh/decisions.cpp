// Envoy's per-connection and per-request decisions over compiled config. Behaviour citations
// (§N) point at docs/istio-behaviour.md.
#include "harness/mesh/decisions.h"
#include "harness/mesh/policy.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "harness/core/ascii.h"
#include "harness/model/regex.h"

namespace egresslab::mesh {
namespace {

// Host without ":port" (IPv6 literals in brackets keep their colons).
std::string_view stripPort(std::string_view host) {
  if (host.starts_with('[')) {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  auto colon = host.rfind(':');
  if (colon == std::string_view::npos) return host;
  std::string_view port = host.substr(colon + 1);
  if (port.empty() || !std::all_of(port.begin(), port.end(), ::isdigit)) return host;
  return host.substr(0, colon);
}

bool hostMatchesServerName(std::string_view name, std::string_view sni, bool* exact) {
  if (name.starts_with("*.")) {
    std::string_view suffix = name.substr(1);
    *exact = false;
    return sni.size() > suffix.size() && sni.ends_with(suffix);
  }
  *exact = true;
  return asciiIEquals(name, sni);
}

bool stringMatches(const StringMatcher& m, std::string_view value) {
  switch (m.kind) {
    case StringMatcher::Kind::kPresent:
      return true;
    case StringMatcher::Kind::kExact:
      return m.ignoreCase ? asciiIEquals(m.value, value) : m.value == value;
    case StringMatcher::Kind::kPrefix:
      return value.size() >= m.value.size() &&
             (m.ignoreCase ? asciiIEquals(value.substr(0, m.value.size()), m.value)
                           : value.starts_with(m.value));
    case StringMatcher::Kind::kRegex:
      // RE2, as Envoy's safe_regex: linear in the input (a 40 KB path is fine).
      return model::regexFullMatch(m.value, value, m.ignoreCase);
  }
  return false;
}

std::optional<std::string_view> headerValue(const RequestView& r, std::string_view name) {
  if (name == ":method") return r.method;
  if (name == ":authority" || name == "host") return r.authority;
  if (name == ":scheme") return r.scheme;
  if (name == ":path") return r.path;
  if (r.headers == nullptr) return std::nullopt;
  for (const auto& [k, v] : *r.headers) {
    if (asciiIEquals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

std::optional<std::string> queryValue(std::string_view path, std::string_view name) {
  auto q = path.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = path.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    if (kv.substr(0, eq) == name) {
      return std::string(eq == std::string_view::npos ? std::string_view{} : kv.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

bool routeMatches(const RouteMatch& m, const RequestView& r) {
  std::string_view path = r.path.substr(0, r.path.find('?'));
  if (!stringMatches(m.path, path)) return false;
  for (const auto& h : m.headers) {
    auto v = headerValue(r, h.name);
    bool ok = v.has_value() && stringMatches(h.match, *v);
    if (ok == h.invert) return false;
  }
  for (const auto& q : m.queryParams) {
    auto v = queryValue(r.path, q.name);
    if (!v || !stringMatches(q.match, *v)) return false;
  }
  return true;
}

// Envoy virtual-host selection: exact domain, then the longest suffix wildcard ("*.x" / "*x"),
// then the longest prefix wildcard ("x*"), then "*".
const VirtualHost* findVirtualHost(const RouteConfig& rc, std::string_view host) {
  const VirtualHost* suffixBest = nullptr;
  std::size_t suffixLen = 0;
  const VirtualHost* prefixBest = nullptr;
  std::size_t prefixLen = 0;
  const VirtualHost* any = nullptr;
  for (const auto& vh : rc.virtualHosts) {
    for (const auto& d : vh.domains) {
      if (d == "*") {
        if (any == nullptr) any = &vh;
      } else if (d.starts_with('*')) {
        std::string_view suffix = std::string_view(d).substr(1);
        if (host.size() > suffix.size() &&
            asciiIEquals(host.substr(host.size() - suffix.size()), suffix) &&
            suffix.size() > suffixLen) {
          suffixBest = &vh;
          suffixLen = suffix.size();
        }
      } else if (d.ends_with('*')) {
        std::string_view prefix = std::string_view(d).substr(0, d.size() - 1);
        if (host.size() > prefix.size() && asciiIEquals(host.substr(0, prefix.size()), prefix) &&
            prefix.size() > prefixLen) {
          prefixBest = &vh;
          prefixLen = prefix.size();
        }
      } else if (asciiIEquals(d, host)) {
        return &vh;
      }
    }
  }
  if (suffixBest != nullptr) return suffixBest;
  if (prefixBest != nullptr) return prefixBest;
  return any;
}

bool hasRetryOn(const RetryPolicy& p, std::string_view what) {
  return std::find(p.retryOn.begin(), p.retryOn.end(), what) != p.retryOn.end();
}

// Old Envoy prints flags in its enum order; Envoy after PR #31719 (Istio 1.22+) prints URX
// before UF (§11.1).
struct FlagName {
  ResponseFlag flag;
  std::string_view name;
};
constexpr std::array<FlagName, 16> kOldOrder{{{ResponseFlag::kUH, "UH"},
                                              {ResponseFlag::kUT, "UT"},
                                              {ResponseFlag::kLR, "LR"},
                                              {ResponseFlag::kUR, "UR"},
                                              {ResponseFlag::kUF, "UF"},
                                              {ResponseFlag::kUC, "UC"},
                                              {ResponseFlag::kUO, "UO"},
                                              {ResponseFlag::kNR, "NR"},
                                              {ResponseFlag::kDI, "DI"},
                                              {ResponseFlag::kFI, "FI"},
                                              {ResponseFlag::kUAEX, "UAEX"},
                                              {ResponseFlag::kDC, "DC"},
                                              {ResponseFlag::kURX, "URX"},
                                              {ResponseFlag::kDPE, "DPE"},
                                              {ResponseFlag::kUPE, "UPE"},
                                              {ResponseFlag::kNC, "NC"}}};

std::string dash(std::string_view s) { return s.empty() ? "-" : std::string(s); }

}  // namespace

// ------------------------------------------------------------------------ flags
std::string formatResponseFlags(ResponseFlags flags, const model::IstioVersion& version) {
  if (flags.empty()) return "-";
  std::string out;
  auto add = [&](std::string_view name) {
    if (!out.empty()) out += ',';
    out += name;
  };
  const bool newOrder = version.atLeast(1, 22);
  if (newOrder && flags.has(ResponseFlag::kURX)) add("URX");
  for (const auto& f : kOldOrder) {
    if (newOrder && f.flag == ResponseFlag::kURX) continue;
    if (flags.has(f.flag)) add(f.name);
  }
  return out;
}

ResponseFlags parseResponseFlags(std::string_view text) {
  ResponseFlags out;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    for (const auto& f : kOldOrder) {
      if (f.name == item) out |= f.flag;
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

// ------------------------------------------------------------------------ filter chains
namespace {

const FilterChain* matchChain(const Listener& l, const ConnectionInfo& c) {
  const FilterChain* best = nullptr;
  int bestScore = -1;
  for (const auto& fc : l.filterChains) {
    if (fc.destinationPort != 0 && fc.destinationPort != c.localPort) continue;
    int score = 0;
    if (!fc.destinationAddresses.empty()) {
      if (std::find(fc.destinationAddresses.begin(), fc.destinationAddresses.end(),
                    c.destinationAddress) == fc.destinationAddresses.end()) {
        continue;
      }
      score += 1000;
    }
    if (!fc.serverNames.empty()) {
      int sniScore = -1;
      for (const auto& n : fc.serverNames) {
        bool exact = false;
        if (hostMatchesServerName(n, c.sni, &exact)) {
          sniScore = std::max(sniScore, exact ? 500 : 100 + static_cast<int>(n.size()));
        }
      }
      if (sniScore < 0) continue;
      score += sniScore;
    }
    if (fc.transportProtocol == "tls" && !c.tls) continue;
    if (fc.transportProtocol == "raw_buffer" && c.tls) continue;
    if (!fc.transportProtocol.empty()) score += 1;
    if (score > bestScore) {
      best = &fc;
      bestScore = score;
    }
  }
  return best;
}

}  // namespace

ChainSelection selectFilterChain(const ProxyConfig& proxy, const ConnectionInfo& connection) {
  ChainSelection out;
  switch (connection.direction) {
    case ListenerDirection::kGateway:
      for (const auto& l : proxy.listeners) {
        if (l.direction == ListenerDirection::kGateway && l.port == connection.localPort) {
          out.listener = &l;
          out.chain = matchChain(l, connection);  // none → closed (§5 SNI matching)
          return out;
        }
      }
      return out;  // §11.1: no listener → connection refused
    case ListenerDirection::kSidecarOutbound:
    case ListenerDirection::kSidecarVirtualOutbound:
      for (const auto& l : proxy.listeners) {
        if (l.direction == ListenerDirection::kSidecarOutbound && l.port == connection.localPort) {
          if (const FilterChain* fc = matchChain(l, connection)) {
            out.listener = &l;
            out.chain = fc;
            return out;
          }
        }
      }
      // §1: unknown destinations land on the virtualOutbound catch-all.
      for (const auto& l : proxy.listeners) {
        if (l.direction == ListenerDirection::kSidecarVirtualOutbound && !l.filterChains.empty()) {
          out.listener = &l;
          out.chain = &l.filterChains.front();
          return out;
        }
      }
      return out;
    case ListenerDirection::kSidecarInbound:
      for (const auto& l : proxy.listeners) {
        if (l.direction == ListenerDirection::kSidecarInbound) {
          out.listener = &l;
          out.chain = matchChain(l, connection);
          return out;
        }
      }
      return out;
  }
  return out;
}

bool chainCredentialReady(const FilterChain& chain) {
  if (!chain.tls || !chain.tls->credential) return true;
  const CredentialRef& c = *chain.tls->credential;
  return c.found && (!c.needsCa || c.caFound);  // §5, §11.2; MUTUAL needs the CA too
}

// ------------------------------------------------------------------------ routing
ProxyResponse noRouteReply() {
  ProxyResponse r;
  r.status = 404;
  r.flags = ResponseFlag::kNR;
  r.details = "route_not_found";
  return r;
}

ProxyResponse clusterNotFoundReply(const model::IstioVersion& v) {
  ProxyResponse r;
  r.status = 503;
  // §11.6: NC from Envoy 1.18 (Istio 1.10); older Envoy reported a missing cluster as NR.
  r.flags = v.atLeast(1, 10) ? ResponseFlag::kNC : ResponseFlag::kNR;
  r.details = "cluster_not_found";
  return r;
}

ProxyResponse noHealthyUpstreamReply() {
  ProxyResponse r;
  r.status = 503;
  r.flags = ResponseFlag::kUH;  // §7, §11.7
  r.details = "no_healthy_upstream";
  r.body = "no healthy upstream";
  return r;
}

ProxyResponse upstreamTimeoutReply() {
  ProxyResponse r;
  r.status = 504;
  r.flags = ResponseFlag::kUT;
  r.details = "response_timeout";
  r.body = "upstream request timeout";
  return r;
}

ProxyResponse blockAllReply() {
  ProxyResponse r;
  r.status = 502;  // §1 block_all: direct_response, no flags, empty body
  r.details = "direct_response";
  return r;
}

RouteDecision routeRequest(const ProxyConfig& proxy, const FilterChain& chain,
                           const RequestView& request, std::uint64_t random) {
  RouteDecision d;
  d.routeConfig = proxy.findRouteConfig(chain.routeConfigName);
  if (d.routeConfig == nullptr) {
    d.response = noRouteReply();
    return d;
  }
  const std::string host = asciiLower(
      d.routeConfig->ignorePortInHostMatching ? stripPort(request.authority) : request.authority);
  d.virtualHost = findVirtualHost(*d.routeConfig, host);
  if (d.virtualHost == nullptr) {
    d.response = noRouteReply();  // §1 gateways, §11.3
    return d;
  }
  // §5: require_tls redirects plaintext before route matching, Location from the Host as
  // received.
  if (d.virtualHost->requireTls && request.scheme != "https") {
    d.kind = RouteDecision::Kind::kRedirect;
    d.response.status = 301;
    d.response.details = "direct_response";
    d.response.location = fmt::format("https://{}{}", request.authority, request.path);
    return d;
  }
  for (const auto& route : d.virtualHost->routes) {
    if (!routeMatches(route.match, request)) continue;
    d.route = &route;
    d.routeName = route.name;
    switch (route.kind) {
      case Route::ActionKind::kDirectResponse:
        d.kind = RouteDecision::Kind::kDirectResponse;
        d.response.status = route.direct.status;
        d.response.body = route.direct.body;
        d.response.details = "direct_response";
        return d;
      case Route::ActionKind::kRedirect: {
        const RedirectAction& r = route.redirect;
        d.kind = RouteDecision::Kind::kRedirect;
        d.response.status = r.code;
        d.response.details = "direct_response";
        std::string scheme = r.scheme.empty() ? std::string(request.scheme) : r.scheme;
        std::string hostPart = r.host.empty() ? std::string(request.authority) : r.host;
        if (r.port != 0) hostPart = fmt::format("{}:{}", stripPort(hostPart), r.port);
        std::string path = r.path.empty() ? std::string(request.path) : r.path;
        d.response.location = fmt::format("{}://{}{}", scheme, hostPart, path);
        return d;
      }
      case Route::ActionKind::kForward: {
        d.kind = RouteDecision::Kind::kForward;
        d.forward = &route.forward;
        const auto& clusters = route.forward.clusters;
        if (clusters.empty()) {
          d.kind = RouteDecision::Kind::kNoRoute;
          d.response = noRouteReply();
          return d;
        }
        std::uint64_t total = 0;
        for (const auto& c : clusters) total += c.weight;
        d.cluster = &clusters.front();
        if (total > 0) {
          std::uint64_t pick = random % total;
          for (const auto& c : clusters) {
            if (pick < c.weight) {
              d.cluster = &c;
              break;
            }
            pick -= c.weight;
          }
        }
        d.upstreamAuthority = route.forward.hostRewrite.empty() ? std::string(request.authority)
                                                                : route.forward.hostRewrite;
        d.upstreamPath = std::string(request.path);
        if (!route.forward.fullPathRewrite.empty()) {
          auto q = request.path.find('?');
          d.upstreamPath = route.forward.fullPathRewrite +
                           std::string(q == std::string_view::npos ? "" : request.path.substr(q));
        } else if (!route.forward.prefixRewrite.empty()) {
          const std::size_t n = route.match.path.kind == StringMatcher::Kind::kPrefix
                                    ? route.match.path.value.size()
                                    : request.path.substr(0, request.path.find('?')).size();
          d.upstreamPath = route.forward.prefixRewrite + std::string(request.path.substr(n));
        }
        return d;
      }
    }
  }
  d.response = noRouteReply();
  return d;
}

// ------------------------------------------------------------------------ clusters
ClusterResolution resolveCluster(const ProxyConfig& proxy, std::string_view clusterName,
                                 const EndpointReadiness& readiness) {
  ClusterResolution r;
  r.cluster = proxy.findCluster(clusterName);
  if (r.cluster == nullptr) {
    r.localReply = clusterNotFoundReply(proxy.version);  // §11.6
    return r;
  }
  // ORIGINAL_DST clusters (Passthrough, resolution NONE) connect to the original destination.
  if (r.cluster->type == ClusterType::kOriginalDst) return r;
  for (const auto& e : r.cluster->endpoints) {
    const bool ready = readiness ? readiness(e) : e.ready;
    if (ready) r.healthy.push_back(&e);
  }
  // §7, §11.7: no ready endpoint → 503 UH, no upstream attempt, so no retry. STATIC clusters
  // without endpoints (BlackHoleCluster) behave the same way.
  if (r.healthy.empty()) r.localReply = noHealthyUpstreamReply();
  return r;
}

const Endpoint* pickEndpoint(const ClusterResolution& resolved, std::uint64_t random) {
  if (resolved.healthy.empty()) return nullptr;
  return resolved.healthy[random % resolved.healthy.size()];
}

std::optional<EffectiveUpstreamTls> upstreamTlsFor(const Cluster& cluster, const Endpoint& endpoint,
                                                   std::string_view downstreamAuthority,
                                                   std::string_view upstreamAuthority) {
  const UpstreamTls* u = nullptr;
  if (cluster.tls) {
    u = &*cluster.tls;
  } else if (cluster.autoMtls && cluster.autoMtlsTls && endpoint.tlsMode == "istio") {
    u = &*cluster.autoMtlsTls;  // §6 auto mTLS by endpoint tlsMode
  }
  if (u == nullptr) return std::nullopt;
  EffectiveUpstreamTls e;
  e.mode = u->mode;
  // §4: auto SNI / auto SAN from the Host as received, or after the host rewrite (policy.h).
  UpstreamHandshake h = upstreamHandshake(*u, downstreamAuthority, upstreamAuthority);
  e.sni = std::move(h.sni);
  e.verify = u->verify;
  e.caCertificates = u->caCertificates;
  e.verifySubjectAltNames = std::move(h.verifySubjectAltNames);
  e.presentMeshClientCert = u->mode == UpstreamTlsMode::kIstioMutual;
  e.clientCredentialName = u->credentialName;
  return e;
}

// ------------------------------------------------------------------------ retries
RetryStep afterAttempt(const RetryPolicy& policy, std::uint32_t attempt,
                       const AttemptOutcome& outcome, const model::IstioVersion& version) {
  using Kind = AttemptOutcome::Kind;
  bool retriable = false;
  const bool any5xx = hasRetryOn(policy, "5xx");
  const bool gatewayError = hasRetryOn(policy, "gateway-error");
  switch (outcome.kind) {
    case Kind::kResponse: {
      // §R0: a response carrying x-envoy-overloaded is never retried.
      if (outcome.overloaded) break;
      const bool listed =
          hasRetryOn(policy, "retriable-status-codes") &&
          std::find(policy.retriableStatusCodes.begin(), policy.retriableStatusCodes.end(),
                    outcome.status) != policy.retriableStatusCodes.end();
      retriable = listed || (any5xx && outcome.status >= 500 && outcome.status <= 599) ||
                  (gatewayError &&
                   (outcome.status == 502 || outcome.status == 503 || outcome.status == 504)) ||
                  (hasRetryOn(policy, "retriable-4xx") && outcome.status == 409);
      break;
    }
    case Kind::kConnectFailure:
      retriable = hasRetryOn(policy, "connect-failure") || any5xx || gatewayError ||
                  hasRetryOn(policy, "reset") || hasRetryOn(policy, "reset-before-request");
      break;
    case Kind::kConnectionReset:
    case Kind::kProtocolError:
      retriable = hasRetryOn(policy, "reset") || any5xx || gatewayError;
      break;
    case Kind::kTimeout:
      retriable = any5xx || gatewayError || hasRetryOn(policy, "reset");
      break;
    case Kind::kOverflow:
      retriable = false;  // §R0: overflow is never retried
      break;
  }
  RetryStep step;
  if (retriable && policy.numRetries > 0 && attempt <= policy.numRetries) {
    step.retry = true;
    return step;
  }
  ProxyResponse& f = step.final;
  // §9, §11.1, §11.6: a retriable failure that ran out of retries carries URX.
  if (retriable && policy.numRetries > 0) f.flags |= ResponseFlag::kURX;
  const bool retried = attempt > 1;
  const std::string prefix = retried ? "upstream connect error or disconnect/reset before "
                                       "headers. retried and the latest reset reason: "
                                     : "upstream connect error or disconnect/reset before "
                                       "headers. reset reason: ";
  f.upstreamTransportFailureReason = outcome.transportFailureReason;
  switch (outcome.kind) {
    case Kind::kResponse:
      f.status = outcome.status;
      f.viaUpstream = true;
      f.details = "via_upstream";
      f.body = outcome.body;
      break;
    case Kind::kConnectFailure: {
      f.status = 503;
      f.flags |= ResponseFlag::kUF;
      // [inferred] Envoy's wording: "connection failure" in older proxies, "remote connection
      // failure, transport failure reason: …" in the 1.21+ era (§4 body example).
      const bool modern = version.atLeast(1, 21);
      std::string reason = modern ? "remote connection failure" : "connection failure";
      if (!outcome.transportFailureReason.empty() && version.atLeast(1, 9)) {
        reason += ", transport failure reason: " + outcome.transportFailureReason;
      }
      f.body = prefix + reason;
      f.details = modern ? "upstream_reset_before_response_started{remote_connection_failure}"
                         : "upstream_reset_before_response_started{connection_failure}";
      if (modern && !outcome.transportFailureReason.empty()) {
        f.details = "upstream_reset_before_response_started{remote_connection_failure|" +
                    outcome.transportFailureReason + "}";
      }
      break;
    }
    case Kind::kConnectionReset:
      f.status = 503;
      f.flags |= ResponseFlag::kUC;
      f.body = prefix + "connection termination";
      f.details = "upstream_reset_before_response_started{connection_termination}";
      break;
    case Kind::kProtocolError:
      // §R9: the router answers a codec protocol error with 502 (router.cc onUpstreamReset).
      f.status = 502;
      f.flags |= ResponseFlag::kUPE;
      f.body = prefix + "protocol error";
      f.details = "upstream_reset_before_response_started{protocol_error}";
      break;
    case Kind::kTimeout:
      f.status = 504;
      f.flags |= ResponseFlag::kUT;
      f.body = "upstream request timeout";
      f.details = "upstream_per_try_timeout";
      break;
    case Kind::kOverflow:
      // §R0, §R6: a circuit breaker's overflow, with the header that stops a downstream Envoy
      // from retrying it.
      f.status = 503;
      f.flags |= ResponseFlag::kUO;
      f.body = prefix + "overflow";
      f.details = "upstream_reset_before_response_started{overflow}";
      f.headers.emplace_back("x-envoy-overloaded", "true");
      break;
  }
  return step;
}

std::chrono::milliseconds retryBackoff(const RetryPolicy& policy, std::uint32_t retry,
                                       std::uint64_t random) {
  // §R2.3: retry n waits random % (base·(2^n − 1)), capped at 10 × base.
  const auto base =
      static_cast<std::uint64_t>(std::max<std::int64_t>(1, policy.backoffBase.count()));
  const std::uint64_t cap = 10 * base;
  const std::uint32_t n = std::clamp<std::uint32_t>(retry, 1, 16);
  const std::uint64_t window = std::min(cap, base * ((std::uint64_t{1} << n) - 1));
  return std::chrono::milliseconds(static_cast<std::int64_t>(random % window));
}

// ------------------------------------------------------------------------ timeouts
RouteTimeouts routeTimeouts(const ForwardAction& forward) {
  RouteTimeouts t;
  if (forward.timeout && forward.timeout->count() > 0) t.global = forward.timeout;
  const auto& perTry = forward.retry.perTryTimeout;
  // §R1: a per-try timeout at or above the route timeout is ignored (finalTimeout). Without a
  // retry policy there is no per-try timeout either.
  if (forward.retry.numRetries > 0 && perTry && perTry->count() > 0 &&
      (!t.global || *perTry < *t.global)) {
    t.perTry = perTry;
  }
  return t;
}

std::optional<std::uint64_t> expectedRequestTimeoutMs(const RouteTimeouts& timeouts,
                                                      std::chrono::milliseconds elapsed) {
  // §R1 (router.cc setTimeoutHeaders): per-try if set, else global; capped by what is left.
  std::optional<std::chrono::milliseconds> expected = timeouts.perTry;
  if (!expected) expected = timeouts.global;
  if (!expected) return std::nullopt;
  auto ms = static_cast<std::uint64_t>(expected->count());
  if (timeouts.global) {
    const auto global = static_cast<std::uint64_t>(timeouts.global->count());
    const auto spent = static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed.count()));
    ms = spent >= global ? 1 : std::min(ms, global - spent);
  }
  return ms;
}

// ------------------------------------------------------------------------ fault filter
namespace {
bool sampled(double percent, std::uint64_t random) {
  // Istio translates percentage.value into a per-million FractionalPercent (§R7).
  if (!(percent > 0)) return false;
  const auto perMillion = static_cast<std::uint64_t>(std::min(percent, 100.0) * 10000.0 + 0.5);
  return random % 1000000 < perMillion;
}
}  // namespace

ProxyResponse faultAbortReply(std::uint32_t status) {
  ProxyResponse r;
  r.status = status;
  r.flags = ResponseFlag::kFI;  // §R0, §R7
  r.details = "fault_filter_abort";
  r.body = "fault filter abort";
  return r;
}

FaultDecision decideFault(const FaultPolicy& fault, std::uint64_t delayRandom,
                          std::uint64_t abortRandom) {
  FaultDecision d;
  if (fault.delay && fault.delay->fixedDelay.count() > 0 &&
      sampled(fault.delay->percent, delayRandom)) {
    d.delay = fault.delay->fixedDelay;
  }
  if (fault.abort && fault.abort->httpStatus != 0 && sampled(fault.abort->percent, abortRandom)) {
    d.abort = faultAbortReply(fault.abort->httpStatus);
  }
  return d;
}

TcpOutcome tcpBlackHoleOutcome() {
  // §1: accepted and closed at once; the access log shows UH and BlackHoleCluster.
  return {ResponseFlag::kUH, "BlackHoleCluster"};
}

// ------------------------------------------------------------------------ access log
AccessLogFormatVersion accessLogFormatFor(const model::IstioVersion& version) {
  // §9: 1.8 format; 1.9+ adds response-code and connection-termination details; 1.23+ prints
  // UPSTREAM_CLUSTER_RAW.
  if (!version.atLeast(1, 9)) return AccessLogFormatVersion::kIstio18;
  if (!version.atLeast(1, 23)) return AccessLogFormatVersion::kIstio19;
  return AccessLogFormatVersion::kIstio123;
}

std::string_view accessLogFormatString(AccessLogFormatVersion format) {
  switch (format) {
    case AccessLogFormatVersion::kIstio18:
      return "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "
             "%RESPONSE_CODE% %RESPONSE_FLAGS% \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" "
             "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "
             "\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" "
             "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER% "
             "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
             "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";
    case AccessLogFormatVersion::kIstio19:
      return "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "
             "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% "
             "%CONNECTION_TERMINATION_DETAILS% \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" "
             "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "
             "\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" "
             "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER% "
             "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
             "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";
    case AccessLogFormatVersion::kIstio123:
      return "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "
             "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% "
             "%CONNECTION_TERMINATION_DETAILS% \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" "
             "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "
             "\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" "
             "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% "
             "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
             "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";
  }
  return {};
}

std::string formatAccessLog(AccessLogFormatVersion format, const AccessLogEntry& e,
                            const model::IstioVersion& version) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(e.startTime.time_since_epoch())
          .count() %
      1000;
  const std::string start = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z",
                                        std::chrono::floor<std::chrono::seconds>(e.startTime), ms);
  std::string out;
  out.reserve(320);
  if (e.tcp) {
    out += fmt::format("[{}] \"- - -\" 0 ", start);
  } else {
    out += fmt::format("[{}] \"{} {} {}\" {} ", start, dash(e.method), dash(e.path),
                       dash(e.protocol), e.responseCode);
  }
  out += formatResponseFlags(e.flags, version);
  if (format != AccessLogFormatVersion::kIstio18) {
    out += fmt::format(" {} {}", dash(e.responseCodeDetails), dash(e.connectionTerminationDetails));
  }
  out += fmt::format(
      " \"{}\" {} {} {} {} \"{}\" \"{}\" \"{}\" \"{}\" \"{}\" {} {} {} {} {} {}",
      dash(e.upstreamTransportFailureReason), e.bytesReceived, e.bytesSent, e.durationMs,
      e.upstreamServiceTimeMs ? std::to_string(*e.upstreamServiceTimeMs) : std::string("-"),
      dash(e.xForwardedFor), dash(e.userAgent), dash(e.requestId), dash(e.authority),
      dash(e.upstreamHost), dash(e.upstreamCluster), dash(e.upstreamLocalAddress),
      dash(e.downstreamLocalAddress), dash(e.downstreamRemoteAddress), dash(e.requestedServerName),
      dash(e.routeName));
  return out;
}

// ------------------------------------------------------------------------ DNS
std::optional<std::string> resolveName(const DnsView& dns, std::string_view podNamespace,
                                       std::string_view name) {
  std::string n = asciiLower(name);
  if (!n.empty() && n.back() == '.') {
    n.pop_back();
    auto it = dns.records.find(n);
    if (it == dns.records.end()) return std::nullopt;
    return it->second;
  }
  // An IPv4 literal resolves to itself.
  if (!n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
      })) {
    return n;
  }
  // resolv.conf in a pod: search <ns>.svc.cluster.local svc.cluster.local cluster.local,
  // ndots:5 — names with fewer than 5 dots try the search list first.
  const auto dots = std::count(n.begin(), n.end(), '.');
  auto lookup = [&](const std::string& candidate) -> std::optional<std::string> {
    auto it = dns.records.find(candidate);
    if (it == dns.records.end()) return std::nullopt;
    return it->second;
  };
  if (dots < 5) {
    if (auto r = lookup(n + "." + std::string(podNamespace) + ".svc.cluster.local")) return r;
    for (const auto& suffix : dns.searchSuffixes) {
      if (auto r = lookup(n + "." + suffix)) return r;
    }
  }
  return lookup(n);
}

}  // namespace egresslab::mesh
