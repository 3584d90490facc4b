// The pure decisions the loopback data plane asks for on every connection and request: which
// filter chain, which route, which cluster and endpoints, which upstream TLS, whether to retry,
// and which status, response flags and details to report — the way Envoy with istiod's config
// of the given version would decide (docs/istio-behaviour.md).
//
// No I/O, no clocks, no randomness (callers pass a random number where Envoy would pick), no
// allocation beyond the returned values. Pointers in results point into the ProxyConfig passed
// in and stay valid while it lives.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/mesh/config.h"

namespace egresslab::mesh {

// ------------------------------------------------------------------------ response flags
// Envoy response flags as a set (§9, §11.1: treat as a set; the printed order depends on the
// Envoy version).
enum class ResponseFlag : std::uint32_t {
  kNone = 0,
  kUH = 1u << 0,    // no healthy upstream
  kUF = 1u << 1,    // upstream connection failure
  kUO = 1u << 2,    // upstream overflow
  kNR = 1u << 3,    // no route / no matching filter chain
  kURX = 1u << 4,   // retry limit / max connect attempts reached
  kNC = 1u << 5,    // cluster not found (Envoy ≥1.18 = Istio ≥1.10; NR before, §11.6)
  kDC = 1u << 6,    // downstream connection termination
  kUT = 1u << 7,    // upstream request timeout
  kUC = 1u << 8,    // upstream connection termination
  kUR = 1u << 9,    // upstream remote reset
  kLR = 1u << 10,   // local reset
  kDPE = 1u << 11,  // downstream protocol error
  kUPE = 1u << 12,  // upstream protocol error
  kDI = 1u << 13,   // fault filter delay injected (§R7)
  kFI = 1u << 14,   // fault filter abort injected (§R7)
  // denied by the external authorization service (ext_authz, docs/istio-behaviour.md §X1)
  kUAEX = 1u << 15,
};

class ResponseFlags {
 public:
  ResponseFlags() = default;
  ResponseFlags(ResponseFlag f) : bits_(static_cast<std::uint32_t>(f)) {}  // NOLINT implicit
  ResponseFlags& operator|=(ResponseFlags other) {
    bits_ |= other.bits_;
    return *this;
  }
  friend ResponseFlags operator|(ResponseFlags a, ResponseFlags b) { return a |= b; }
  [[nodiscard]] bool has(ResponseFlag f) const {
    return (bits_ & static_cast<std::uint32_t>(f)) != 0;
  }
  [[nodiscard]] bool empty() const { return bits_ == 0; }
  [[nodiscard]] std::uint32_t bits() const { return bits_; }
  friend bool operator==(ResponseFlags, ResponseFlags) = default;

 private:
  std::uint32_t bits_ = 0;
};

inline ResponseFlags operator|(ResponseFlag a, ResponseFlag b) {
  return ResponseFlags(a) | ResponseFlags(b);
}

// "-" when empty; otherwise comma-separated in the order the proxy's Envoy prints them:
// UF,URX before Istio 1.22, URX,UF from 1.22 (§11.1).
std::string formatResponseFlags(ResponseFlags flags, const model::IstioVersion& version);
// Parses "UF,URX" / "-" (unknown names are ignored; returns the set).
ResponseFlags parseResponseFlags(std::string_view text);

// A response the proxy generates itself (local reply) or the final outcome of forwarding.
struct ProxyResponse {
  std::uint32_t status = 0;
  ResponseFlags flags;
  std::string details;   // %RESPONSE_CODE_DETAILS%: "route_not_found", "direct_response", …
  std::string body;      // "no healthy upstream", "" …
  std::string location;  // redirects
  std::string upstreamTransportFailureReason;
  bool viaUpstream = false;  // the status came from the upstream (details "via_upstream")
  // Extra headers of a local reply, e.g. `x-envoy-overloaded: true` on overflow (§R0).
  std::vector<std::pair<std::string, std::string>> headers;
};

// ------------------------------------------------------------------------ filter chains
// What a new downstream connection looks like to the listener.
struct ConnectionInfo {
  std::uint32_t localPort = 0;     // the port the proxy bound / the original destination port
  std::string destinationAddress;  // original destination IP (sidecar outbound); "" = unknown
  std::string sni;                 // from the ClientHello; "" = none
  bool tls = false;                // the first bytes are a TLS ClientHello
  ListenerDirection direction = ListenerDirection::kGateway;
};

struct ChainSelection {
  const Listener* listener = nullptr;  // null: nothing listens on that port (connection refused)
  const FilterChain* chain = nullptr;  // null with a listener: no matching filter chain → the
                                       // connection is closed (NR in the access log, §5)
};

// Gateways: the listener bound on `localPort`, chain by SNI (exact before longest wildcard
// suffix before chains without server names, §5). Sidecar outbound: the listener for the
// original destination port, chain by destination address and SNI; no listener or no chain →
// the virtualOutbound catch-all (BlackHole under REGISTRY_ONLY, Passthrough under ALLOW_ANY, §1).
// Sidecar inbound: the virtualInbound chain for the port (PeerAuthentication decided its TLS, §6).
ChainSelection selectFilterChain(const ProxyConfig& proxy, const ConnectionInfo& connection);

// True when a gateway listener would answer a TLS client at all on this chain: the
// credential was found, and for MUTUAL / OPTIONAL_MUTUAL its CA too (§5, §11.2). The data plane
// models warming/reset timing itself.
bool chainCredentialReady(const FilterChain& chain);

// ------------------------------------------------------------------------ routing
// A request as the router sees it. Header names compared case-insensitively.
struct RequestView {
  std::string_view authority;  // Host / :authority as received (may carry a port)
  std::string_view path;       // :path incl. query
  std::string_view method = "GET";
  std::string_view scheme = "http";  // "https" when the downstream connection is TLS
  const std::vector<std::pair<std::string, std::string>>* headers = nullptr;
};

struct RouteDecision {
  enum class Kind {
    kForward,         // send to `cluster` (picked by weight) with route's ForwardAction
    kRedirect,        // local 301/30x reply with `response.location`
    kDirectResponse,  // local reply (block_all 502 §1, VS directResponse)
    kNoRoute,         // 404 NR route_not_found (§1 gateways, §11.3)
  };
  Kind kind = Kind::kNoRoute;
  const RouteConfig* routeConfig = nullptr;  // null: the chain names an absent route config
  const VirtualHost* virtualHost = nullptr;
  const Route* route = nullptr;
  std::string routeName;  // %ROUTE_NAME%; "" prints "-"
  // kForward: the chosen weighted cluster (by `random`), the route's action.
  const WeightedCluster* cluster = nullptr;
  const ForwardAction* forward = nullptr;
  // The request Host after the route's host rewrite; the path after rewrites.
  std::string upstreamAuthority;
  std::string upstreamPath;
  // kRedirect / kDirectResponse / kNoRoute: what to answer.
  ProxyResponse response;
};

// Routes an HTTP request that arrived on `chain` (kind kHttp). Virtual host by the Host header
// (Envoy domain matching: exact, longest "*.suffix", longest "prefix*", "*"; the port is
// stripped when the route config ignores ports, §11.4); require_tls → 301 with Location from
// the Host as received (§5); first matching route; none → 404 NR route_not_found.
// `random` picks among weighted clusters (any value when there is one).
RouteDecision routeRequest(const ProxyConfig& proxy, const FilterChain& chain,
                           const RequestView& request, std::uint64_t random = 0);

// ------------------------------------------------------------------------ clusters
// Live readiness of an endpoint, from the data plane (probes, gateway kill). Null = use
// Endpoint::ready.
using EndpointReadiness = std::function<bool(const Endpoint&)>;

struct ClusterResolution {
  const Cluster* cluster = nullptr;      // null: cluster not found
  std::vector<const Endpoint*> healthy;  // ready endpoints, in config order
  // Set when the request cannot be sent: 503 NC cluster_not_found (NR before 1.10, §11.6), or
  // 503 UH no_healthy_upstream "no healthy upstream" with no retry (§7, §11.7).
  std::optional<ProxyResponse> localReply;
};

ClusterResolution resolveCluster(const ProxyConfig& proxy, std::string_view clusterName,
                                 const EndpointReadiness& readiness = nullptr);

// Picks one of the healthy endpoints without any load-balancer state: index = random % size.
// Null when none. The data plane picks as Envoy does instead — per proxy and cluster, by the
// cluster's policy, priorities and outlier detection (load_balancing.h ClusterLb).
const Endpoint* pickEndpoint(const ClusterResolution& resolved, std::uint64_t random);

// The TLS a connection to `endpoint` of `cluster` uses for a request with this downstream Host.
struct EffectiveUpstreamTls {
  UpstreamTlsMode mode = UpstreamTlsMode::kSimple;
  std::string sni;  // "" = send no SNI (1.8–1.20 defaults, §4)
  ServerVerification verify = ServerVerification::kNone;
  std::string caCertificates;
  // Names the server certificate must match; empty = chain only (or nothing when verify==kNone).
  // Auto SAN (1.21+): the downstream Host without port (§4). ISTIO_MUTUAL: spiffe IDs.
  std::vector<std::string> verifySubjectAltNames;
  bool presentMeshClientCert = false;  // ISTIO_MUTUAL
  std::string clientCredentialName;    // MUTUAL
};

// nullopt = plaintext. Explicit DR tls first; else auto mTLS by the endpoint's tlsMode (§6).
// `downstreamAuthority` is the Host as received by this proxy, `upstreamAuthority` the Host after
// the route's rewrite ("" = none). Auto SNI/SAN use the pre-rewrite Host before Istio 1.24
// (envoy#35330) and the rewritten one from 1.24 (UpstreamTls::autoSniFromRewrittenHost, §4).
std::optional<EffectiveUpstreamTls> upstreamTlsFor(const Cluster& cluster, const Endpoint& endpoint,
                                                   std::string_view downstreamAuthority,
                                                   std::string_view upstreamAuthority = {});

// ------------------------------------------------------------------------ retries / outcome
// What happened on one upstream attempt.
struct AttemptOutcome {
  enum class Kind {
    kResponse,         // headers received: `status`
    kConnectFailure,   // refused, unreachable, TLS handshake/verify failure → UF
    kConnectionReset,  // connected, reset before response headers → UC
    // The upstream broke its codec's protocol before response headers (an HTTP/2 cluster's
    // server answering in HTTP/1.1) → 502 UPE (docs/istio-behaviour.md §R9).
    kProtocolError,
    kTimeout,   // per-try timeout → UT
    kOverflow,  // a circuit breaker refused the request (§R6) → 503 UO, never retried
  };
  Kind kind = Kind::kResponse;
  std::uint32_t status = 0;
  std::string transportFailureReason;  // e.g. "TLS_error:|268435581:...CERTIFICATE_VERIFY_FAILED"
  std::string body;                    // the upstream's body, for kResponse
  // kResponse: the response carried `x-envoy-overloaded` (a 503 UO of the next proxy): never
  // retried (`wouldRetryFromHeaders`, §R0).
  bool overloaded = false;
};

struct RetryStep {
  bool retry = false;   // true: make another attempt (new endpoint pick)
  ProxyResponse final;  // when retry == false: what the proxy answers and logs
};

// After attempt number `attempt` (1 = the first) ended with `outcome`: retry per the policy
// (default policy by version §R2.1: 2 retries on connect-failure,refused-stream,unavailable,
// cancelled,retriable-status-codes[503 ≤1.23]) or finish. Exhausted retries of a retriable
// failure add URX (§R2.3, §11.1, §11.6); a final connect failure is 503 UF with Envoy's body; a
// per-try timeout is retried only with 5xx, gateway-error or reset (§R1) and otherwise ends as
// 504 UT upstream_per_try_timeout. Envoy's conditions (`retry_state_impl.cc`): any reset —
// connect failure, connection reset, per-try timeout — is retried under 5xx, gateway-error and
// reset; a connect failure also under connect-failure and reset-before-request; a response under
// 5xx (any 5xx), gateway-error (502/503/504), retriable-4xx (409) and retriable-status-codes —
// never when it carries x-envoy-overloaded.
RetryStep afterAttempt(const RetryPolicy& policy, std::uint32_t attempt,
                       const AttemptOutcome& outcome, const model::IstioVersion& version);

// The wait before retry number `retry` (1 = the first retry): fully jittered exponential
// back-off, `random % min(base·(2^retry − 1), 10·base)` (§R2.3). Simulated time: the data plane
// scales it like its other clocks.
std::chrono::milliseconds retryBackoff(const RetryPolicy& policy, std::uint32_t retry,
                                       std::uint64_t random);

// ------------------------------------------------------------------------ timeouts (§R1)
// The router's timers for one request: the route timeout covers every attempt from the end of
// the downstream request; the per-try timeout bounds one attempt. nullopt = none (0 disables).
// A per-try timeout ≥ a non-zero route timeout is ignored (`FilterUtility::finalTimeout`).
struct RouteTimeouts {
  std::optional<std::chrono::milliseconds> global;
  std::optional<std::chrono::milliseconds> perTry;
};
RouteTimeouts routeTimeouts(const ForwardAction& forward);

// `x-envoy-expected-rq-timeout-ms` for an attempt that starts `elapsed` after the route timer:
// the per-try timeout if set, else the route timeout, capped at what is left of the route
// timeout (at least 1); nullopt when neither applies (the header is then not sent, §R1).
std::optional<std::uint64_t> expectedRequestTimeoutMs(const RouteTimeouts& timeouts,
                                                      std::chrono::milliseconds elapsed);

// ------------------------------------------------------------------------ fault filter (§R7)
struct FaultDecision {
  std::chrono::milliseconds delay{0};  // > 0: hold the request this long first (flag DI)
  std::optional<ProxyResponse> abort;  // set: answer this instead of routing (flag FI)
};
// `delayRandom` / `abortRandom` draw the percentages (Envoy samples per million:
// random % 1000000 < percent × 10000).
FaultDecision decideFault(const FaultPolicy& fault, std::uint64_t delayRandom,
                          std::uint64_t abortRandom);
ProxyResponse faultAbortReply(std::uint32_t status);  // `status` FI fault_filter_abort

// Local replies, shared by the data plane and the decisions above.
ProxyResponse noRouteReply();                                      // 404 NR route_not_found
ProxyResponse clusterNotFoundReply(const model::IstioVersion& v);  // 503 NC (NR <1.10) §11.6
ProxyResponse noHealthyUpstreamReply();                            // 503 UH §7 §11.7
ProxyResponse upstreamTimeoutReply();  // 504 UT response_timeout (route timeout, §R0, §R1)
ProxyResponse blockAllReply();         // 502 direct_response §1

// TCP: a connection that landed on a BlackHole chain (§1): closed at once, logged UH with
// cluster BlackHoleCluster, "- - -" 0. Returns the log fields to fill.
struct TcpOutcome {
  ResponseFlags flags;
  std::string upstreamCluster;  // "BlackHoleCluster"
};
TcpOutcome tcpBlackHoleOutcome();

// ------------------------------------------------------------------------ access log
// One access-log line's fields (TEXT format, §9). Empty strings / nullopt print "-".
struct AccessLogEntry {
  std::chrono::system_clock::time_point startTime;
  bool tcp = false;  // TCP proxy line: method/path/protocol print "- - -", code 0
  std::string method;
  std::string path;  // X-ENVOY-ORIGINAL-PATH or :path
  std::string protocol = "HTTP/1.1";
  std::uint32_t responseCode = 0;
  ResponseFlags flags;
  std::string responseCodeDetails;
  std::string connectionTerminationDetails;
  std::string upstreamTransportFailureReason;
  std::uint64_t bytesReceived = 0;
  std::uint64_t bytesSent = 0;
  std::uint64_t durationMs = 0;
  std::optional<std::uint64_t> upstreamServiceTimeMs;
  std::string xForwardedFor;
  std::string userAgent;
  std::string requestId;
  std::string authority;
  std::string upstreamHost;  // "IP:port"
  std::string upstreamCluster;
  std::string upstreamLocalAddress;
  std::string downstreamLocalAddress;
  std::string downstreamRemoteAddress;
  std::string requestedServerName;
  std::string routeName;
};

AccessLogFormatVersion accessLogFormatFor(const model::IstioVersion& version);
// The Envoy format string of that version, exactly as istiod sets it (§9), for config dumps.
std::string_view accessLogFormatString(AccessLogFormatVersion format);
// One line, without the trailing newline. START_TIME as Envoy prints it:
// 2020-12-16T10:00:00.000Z.
std::string formatAccessLog(AccessLogFormatVersion format, const AccessLogEntry& entry,
                            const model::IstioVersion& version);

// ------------------------------------------------------------------------ DNS
// What a pod's resolver returns for `name` in namespace `podNamespace` (search suffixes
// "<ns>.svc.cluster.local", "svc.cluster.local", "cluster.local", then the name as is).
// nullopt = NXDOMAIN: curl exit 6 (§3: VS hosts are not resolvable through Istio).
std::optional<std::string> resolveName(const DnsView& dns, std::string_view podNamespace,
                                       std::string_view name);

}  // namespace egresslab::mesh
