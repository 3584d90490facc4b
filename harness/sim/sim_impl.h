// The state of one simulated run and the seams it is built from (internal to harness/sim).
// SimMesh::Impl is one object because every piece answers to the same compiled mesh, but its
// functions live in one file per seam:
//   virtual_network.cpp  logical addresses (pod IPs, ClusterIPs, DNS answers, port-forwards) →
//                        the listeners this run bound; pod and host DNS; capture (§1, §3)
//   listeners.cpp        bind/listen/refuse, accept loops with connection caps and EMFILE
//                        back-off, filter-chain choice per connection, the :15021 status port
//   http_proxy.cpp       one HTTP request (HTTP/1.1, or one HTTP/2 stream) through one proxy:
//   route, cluster, retries,
//                        local replies, header rewrites, access log
//   tcp_proxy.cpp        tcp_proxy / passthrough / SNI chains, BlackHole, port-forward tunnels
//   upstream_pool.cpp    upstream connections: connect, TLS origination (§4), keep-alive pool
//   prober.cpp           kubelet readiness probes and Envoy's warming (§7, §11.2)
//   run_pki.cpp          the run's CAs, credentials and upstream/application mocks
//   faults.cpp           gateway kill/restore, upstream faults, dns faults, ttl, undo
//   dns_overrides.cpp    what the world's DNS answers during a dns fault (§R4)
//   sim_mesh.cpp         wiring: start, stop, the public API
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "harness/core/ascii.h"
#include "harness/curl/command.h"
#include "harness/curl/execute.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/ext_authz.h"
#include "harness/pki/pki.h"
#include "harness/sim/cluster_state.h"
#include "harness/sim/dns_overrides.h"
#include "harness/sim/fault_timers.h"
#include "harness/sim/http1.h"
#include "harness/sim/http2.h"
#include "harness/sim/io.h"
#include "harness/sim/net.h"
#include "harness/sim/sim_mesh.h"
#include "harness/sim/tls.h"
#include "mocks/httpbin/httpbin_server.h"

namespace egresslab::sim {

using Clock = std::chrono::steady_clock;
using mesh::ListenerDirection;

std::uint64_t randomU64();
std::string newRequestId();
std::string hostOfAuthority(std::string_view authority);
std::string httpDate();  // "Tue, 01 Dec 2026 21:00:00 GMT"

// Limits of the data plane (docs/fidelity.md, "Data plane limits").
struct DataPlaneLimits {
  // Connections one listener serves at once; further ones are accepted and closed at once, with
  // one log line per episode (Envoy has no per-listener default; this bounds a runaway test).
  std::size_t maxConnectionsPerListener = 16384;
  // A request (headers and body) must arrive within this, from the first wait on a keep-alive
  // connection; a slow client costs its own connection only.
  std::chrono::milliseconds requestTimeout{60000};
  // A response must be written within this.
  std::chrono::milliseconds writeTimeout{60000};
  // TLS handshakes (downstream and upstream) and the TLS inspector (Envoy's default 15 s; 5 s
  // here as before).
  std::chrono::milliseconds handshakeTimeout{10000};
  std::chrono::milliseconds inspectorTimeout{5000};
  // Upstream response wait when the route sets no timeout.
  std::chrono::milliseconds defaultUpstreamTimeout{120000};
  // A TCP proxy connection idle in both directions is closed.
  std::chrono::milliseconds tcpIdleTimeout{300000};
  // accept() failing for lack of descriptors (EMFILE): wait this long, then accept again.
  std::chrono::milliseconds acceptBackoff{50};
  // Idle upstream connections kept per proxy, worker and destination.
  std::size_t maxPooledPerKey = 64;
};

struct SimMesh::Impl {
  struct Proxy;

  // A real listening socket standing for one logical listener: a gateway's port, a sidecar's
  // captured original destination (outbound), an injected pod's port (inbound), or a literal
  // port-forward port of `sim up`. Its acceptor is touched only on its worker.
  struct VirtualListener {
    Proxy* proxy = nullptr;  // null for literal port-forwards
    ListenerDirection direction = ListenerDirection::kGateway;
    std::string dstIp;
    std::uint32_t dstPort = 0;
    bool health = false;                            // a gateway's :15021 status listener (§7)
    std::optional<model::PortForwardSpec> forward;  // literal port-forward: tunnel to its target
    std::uint16_t realPort = 0;
    Worker* worker = nullptr;
    std::shared_ptr<tcp::acceptor> acceptor;  // while listening
    Fd reserved;                              // bound, not listening, while refusing
    std::atomic<bool> listening{false};
    std::atomic<std::size_t> active{0};
    bool capLogged = false;     // worker-only
    bool emfileLogged = false;  // worker-only
  };

  // While alive, records that the connection leaving from `local` (127.0.0.1:port) was opened by
  // the proxy of the pod `podIp`, so that the next proxy sees its caller's pod IP where a real
  // mesh shows it (X-Forwarded-For, docs/istio-behaviour.md §R8).
  class SourceRegistration {
   public:
    SourceRegistration(Impl& impl, std::string local, std::string podIp);
    ~SourceRegistration();
    SourceRegistration(const SourceRegistration&) = delete;
    SourceRegistration& operator=(const SourceRegistration&) = delete;
    // The connection's local address ("ip:port"), read once when it connected: the access log's
    // UPSTREAM_LOCAL_ADDRESS of every request it carries.
    [[nodiscard]] const std::string& local() const { return local_; }

   private:
    Impl& impl_;
    std::string local_;
    std::uint64_t id_ = 0;
  };
  // The pod IP behind a downstream remote address (ip:port): the pod of the proxy whose live
  // upstream connection it is, else the address's own IP (curl on the host, port-forwards).
  std::string sourceIpOf(const std::string& remote);

  // An HTTP/1.1 upstream connection, owned by one worker's pool or by the request using it.
  struct UpstreamConn {
    std::unique_ptr<AsyncStream> stream;
    std::unique_ptr<HttpReader> reader;
    std::uint64_t generation = 0;
    std::unique_ptr<SourceRegistration> source;
    std::shared_ptr<ConnectionSlot> slot;  // max_connections accounting (§R6)
    std::uint32_t requests = 0;            // requests sent on it (maxRequestsPerConnection)
  };
  // An HTTP/2 upstream connection (Envoy's multiplexed ActiveClient, §R6): shared by the worker's
  // pool and every request with a stream on it; closed when the last of them lets go.
  struct Http2Upstream {
    std::unique_ptr<Http2ClientConnection> conn;  // null while connecting
    std::uint64_t generation = 0;
    std::unique_ptr<SourceRegistration> source;
    std::shared_ptr<ConnectionSlot> slot;
    // Streams it may still carry (maxRequestsPerConnection; Envoy's remaining_streams).
    std::uint64_t remainingStreams = 0;
  };
  // The HTTP/2 connections of one worker to one destination, and the requests waiting for a
  // stream on one (Envoy's pending streams, §R6).
  struct Http2Pool {
    std::vector<std::shared_ptr<Http2Upstream>> clients;
    std::size_t pending = 0;
    std::vector<std::weak_ptr<asio::steady_timer>> waiters;  // woken when a client may be ready
    std::uint64_t connectFailures = 0;  // a failed connect fails the pending requests (purge)
    mesh::AttemptOutcome lastConnectFailure;
    void wakeAll();
  };
  struct Pool {
    std::unordered_map<std::string, std::vector<UpstreamConn>> http1;  // idle connections
    std::unordered_map<std::string, Http2Pool> http2;
  };

  // The sockets one downstream connection uses, so that a gateway kill or shutdown can close
  // them (registered with the worker for the handler's lifetime).
  struct LiveSockets {
    Worker* worker = nullptr;  // the connection's worker (its upstream pool)
    tcp::socket* raw = nullptr;
    AsyncStream* downstream = nullptr;
    AsyncStream* upstream = nullptr;
    std::string upstreamLocal;  // local end of the last upstream connection a request used
    // The downstream connection's deadline, armed around each response write.
    Watchdog* writeDeadline = nullptr;
    std::chrono::milliseconds writeTimeout{60000};
    // Headers the ext_authz filter adds to this request's response (§X1); reset per request.
    HeaderList responseHeadersToAdd;
    // The token the jwt_authn filter verified for this request (jwt_filter.cpp); reset per request.
    std::optional<mesh::JwtIdentity> jwtIdentity;
    // The downstream's client certificate, read once per connection by downstreamPeer() (the
    // inner nullopt: plain text, or no certificate).
    std::optional<std::optional<PeerCertificate>> peer;
    void closeAll() const;
  };

  struct Proxy {
    const mesh::ProxyConfig* cfg = nullptr;
    std::string display;
    const mesh::WorkloadInstance* pod = nullptr;
    pki::KeyPair meshIdentity;
    // Gateways.
    bool gateway = false;
    std::atomic<bool> killed{false};
    std::atomic<bool> ready{true};
    std::atomic<bool> warming{false};
    Clock::time_point warmUntil{};
    std::mutex probeMu;  // guards the counters below (prober threads and probeNow)
    int consecutiveOk = 0;
    int consecutiveFail = 0;
    std::optional<model::Probe> probe;
    std::mutex ctxMu;                             // guards both context maps
    std::map<std::string, SslContext> serverCtx;  // by filter chain name
    std::map<std::string, SslContext> clientCtx;  // by verification/identity key
    ClusterStates clusters;  // load balancer, outlier detection, circuit breakers (§R3–§R6)
    // x-envoy-peer-metadata(-id) of this proxy (§R8.1), computed once on first use.
    std::once_flag peerMetadataOnce;
    std::string peerMetadata, peerMetadataId;
    std::vector<Pool> pools;  // by worker index; worker-only
  };

  struct Mock {
    model::UpstreamSpec spec;
    std::unique_ptr<httpbin::HttpbinServer> server;
    std::string address;  // the IP it answers at (spec.address or the run's choice)
  };

  SimOptions options;
  // Live proxy upstream connections by local address → (pod IP, registration id). Declared
  // before every member that owns connections, so it outlives them.
  std::mutex sourcesMu;
  std::unordered_map<std::string, std::pair<std::string, std::uint64_t>> sourcesByLocal;
  std::uint64_t nextSourceId = 0;  // guarded by sourcesMu
  SimClock clock;
  const Clock::time_point epoch = Clock::now();  // simulated time 0 (simNow)
  DataPlaneLimits limits;
  mesh::CompiledMesh compiled;
  std::vector<model::PortForwardSpec> portForwards;
  std::optional<pki::RunDirectory> runDir;
  std::optional<pki::CertificateAuthority> publicCa, scenarioCa, meshCa, unrelatedCa;
  std::string publicCaPem;
  std::filesystem::path scenarioCaPath;
  std::filesystem::path publicCaPath;  // the CA upstream certificates chain to (sim up prints it)
  std::map<std::string, pki::KeyPair> credentials;  // "ns/name" → key pair
  std::string credentialCaPem;  // client CA for MUTUAL gateway servers (the scenario CA)
  std::vector<Mock> mocks;
  std::map<std::string, std::unique_ptr<httpbin::HttpbinServer>> apps;  // "ns/name" → app
  std::vector<std::unique_ptr<Proxy>> proxies;
  Fd refused;  // bound, never listening: connects are refused
  std::uint16_t refusedPort = 0;

  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<std::size_t> nextWorker{0};
  // Bumped by faults and kills: pooled upstream connections from before are not reused.
  std::atomic<std::uint64_t> poolGeneration{0};

  std::mutex listenersMu;
  std::vector<std::unique_ptr<VirtualListener>> listeners;
  std::map<std::string, VirtualListener*> listenerIndex;

  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> seq{0};

  mutable std::mutex logMu;
  mutable std::condition_variable logCv;  // a line was appended or a TCP hop ended
  std::deque<LogRecord> logs;
  // Downstream remote addresses of TCP proxy connections still open (their line comes at the
  // end), so that a join by connection can wait for them.
  std::multiset<std::string> openTcp;
  static constexpr std::size_t kMaxLogs = 20000;

  std::mutex proberMu;
  std::condition_variable proberCv;
  std::vector<std::thread> probers;

  // ---------------------------------------------------------------- virtual_network.cpp
  Proxy* proxyFor(std::string_view ns, std::string_view name);
  // The server of host:port at `address` ("" = the first of host:port).
  const Mock* mockFor(std::string_view host, std::uint32_t port,
                      std::string_view address = {}) const;
  // The server answering at ip:port, if any.
  const Mock* mockAt(std::string_view ip, std::uint32_t port) const;
  curl::SocketAddress refusedAddress() const { return {"127.0.0.1", refusedPort}; }
  curl::SocketAddress mapLogical(const std::string& ip, std::uint32_t port,
                                 const mesh::WorkloadInstance* fromPod, int depth = 0);
  curl::SocketAddress podPort(const mesh::WorkloadInstance& w, std::uint32_t port,
                              bool viaSidecarInbound);
  curl::SocketAddress mapFromPod(const mesh::WorkloadInstance& w, const curl::SocketAddress& dst);
  curl::SocketAddress mapFromHost(const curl::SocketAddress& dst);
  curl::SocketAddress portForwardTargetOf(const model::PortForwardSpec& pf);
  std::optional<std::string> resolveFromHost(const std::string& name) const;
  std::optional<std::string> resolveFromPod(const mesh::WorkloadInstance& w,
                                            const std::string& name) const;
  bool endpointReady(const mesh::Endpoint& e);
  curl::SocketAddress endpointAddress(Proxy& proxy, const mesh::Cluster& cluster,
                                      const mesh::Endpoint& e,
                                      const mesh::ConnectionInfo* original);
  std::string upstreamHostIp(const mesh::Endpoint& ep) const;

  // ---------------------------------------------------------------- listeners.cpp
  Worker& pickWorker();
  Result<VirtualListener*> bindListener(Proxy* p, ListenerDirection d, const std::string& ip,
                                        std::uint32_t port, bool health, bool listen);
  // Moves a listener between "listening" and "bound but refusing" without changing its port.
  void setListening(VirtualListener& vl, bool on);
  void setListeningOnWorker(VirtualListener& vl, bool on);
  void startAccepting(VirtualListener& vl, Fd listeningFd);
  Task<void> acceptLoop(VirtualListener* vl, std::shared_ptr<tcp::acceptor> acceptor);
  Task<void> handleConnection(VirtualListener* vl, tcp::socket socket, Worker* worker);
  Task<void> serveHealth(Proxy& p, AsyncStream& stream);
  // Envoy's codec AUTO on an HTTP filter chain: HTTP/2 when the connection starts with the
  // client preface (serveHttp2Connection), HTTP/1.1 otherwise (serveHttp).
  Task<void> serveHttpAuto(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                           const mesh::ConnectionInfo& ci, AsyncStream& stream,
                           const std::string& remote, LiveSockets& live);
  // Each HTTP/2 stream goes through handleRequest like an HTTP/1.1 request (http2.h).
  Task<void> serveHttp2Connection(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                                  const mesh::ConnectionInfo& ci, AsyncStream& stream,
                                  std::string alreadyRead, const std::string& remote,
                                  LiveSockets& live);
  Result<void> bindLiteralForwards();
  void appendLog(Proxy& p, std::uint64_t s, const mesh::AccessLogEntry& entry);

  // ---------------------------------------------------------------- http_proxy.cpp
  SslContext serverContextFor(Proxy& p, const mesh::FilterChain& chain);
  Task<void> serveHttp(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                       const mesh::ConnectionInfo& ci, AsyncStream& stream,
                       const std::string& remote, LiveSockets& live);
  Task<bool> handleRequest(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                           const mesh::ConnectionInfo& ci, AsyncStream& stream, HttpRequest& req,
                           const std::string& remote, bool keep, LiveSockets& live);
  static void applyHeaderOps(HeaderList& h, const mesh::HeaderOps& ops);

  // ---------------------------------------------------------------- hcm_request.cpp
  // The connection manager's own changes to a request before any HTTP filter (§S1, §S2): BASE
  // path normalization (`req.target`, `e.path`) and x-forwarded-client-cert by proxy kind.
  void connectionManagerRequest(Proxy& p, const VirtualListener& vl, AsyncStream& stream,
                                HttpRequest& req, LiveSockets& live, mesh::AccessLogEntry& e);
  // The client certificate of a mutual-TLS downstream connection (§S2), read on first use.
  static const std::optional<PeerCertificate>& downstreamPeer(AsyncStream& stream,
                                                              LiveSockets& live);
  // What the HTTP authorization filters (ext_authz for CUSTOM, RBAC for DENY/ALLOW) know of a
  // request after the connection manager and jwt_authn (§S1, §S3, §X1). The request views
  // `owned`, `req`, `e` and `live`, which must outlive it.
  struct AuthzStrings {
    std::string source;
    std::string local;
  };
  mesh::AuthzRequest httpAuthzRequest(const VirtualListener& vl, const mesh::ConnectionInfo& ci,
                                      AsyncStream& stream, const HttpRequest& req,
                                      const std::string& remote, LiveSockets& live,
                                      const mesh::AccessLogEntry& e, AuthzStrings& owned);
  // ---------------------------------------------------------------- jwt_filter.cpp
  // RequestAuthentication (§S3) before the authorization filters: nullopt = go on (a verified
  // token's identity in live.jwtIdentity); a value = answered with Envoy's 401/403 and logged:
  // whether the connection is still open.
  Task<std::optional<bool>> jwtAuthn(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                                     AsyncStream& stream, HttpRequest& req, bool keep,
                                     LiveSockets& live, mesh::AccessLogEntry& e, std::uint64_t s);
  // ---------------------------------------------------------------- authz_filter.cpp
  // Before routing (§S1, §S2), after connectionManagerRequest and the ext_authz filter: the
  // AuthorizationPolicies of `p`. nullopt = go on; a value = the request was denied and answered
  // (403 "RBAC: access denied", logged): whether the connection is still open.
  Task<std::optional<bool>> authorizeHttp(Proxy& p, VirtualListener& vl,
                                          const mesh::FilterChain& chain,
                                          const mesh::ConnectionInfo& ci, AsyncStream& stream,
                                          HttpRequest& req, const std::string& remote, bool keep,
                                          LiveSockets& live, mesh::AccessLogEntry& e,
                                          std::uint64_t s);
  // A new connection on a TCP chain (network RBAC filter): false = denied, the line is logged and
  // the caller closes the connection.
  bool authorizeTcp(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                    const mesh::ConnectionInfo& ci, const std::string& remote, std::uint64_t s,
                    std::chrono::system_clock::time_point startTime);
  // The tcp_proxy line of a connection a network authorization filter (RBAC, ext_authz) closes;
  // the caller sets the termination details or flags (docs/istio-behaviour.md §S1, §X1).
  static mesh::AccessLogEntry tcpDenialLine(const VirtualListener& vl,
                                            const mesh::FilterChain& chain,
                                            const mesh::ConnectionInfo& ci, std::string_view local,
                                            const std::string& remote,
                                            std::chrono::system_clock::time_point startTime);
  // ---------------------------------------------------------------- ext_authz_client.cpp
  // The scenario's ext-authz servers, the compiled providers and the gRPC channels (§X1).
  struct ExtAuthzState;
  std::shared_ptr<ExtAuthzState> extAuthz;
  // What a gRPC check tells of the connection (AttributeContext source/destination).
  struct ExtAuthzPeer {
    std::string sourceIp;
    std::uint32_t sourcePort = 0;
    std::string principal;  // the downstream's URI SAN over mutual TLS, else ""
    std::string destinationIp;
    std::uint32_t destinationPort = 0;
    std::string destinationPrincipal;
  };
  Result<void> startExtAuthz(const model::Scenario& sc);
  // Cancels checks in flight and waits for their completions, then stops the servers. Before
  // the workers are destroyed.
  void stopExtAuthz();
  const mesh::ExtAuthzProvider* extAuthzProvider(std::string_view name) const;
  // The real address of the provider's server (refused when none plays it or it is down).
  curl::SocketAddress extAuthzTarget(const mesh::ExtAuthzProvider& provider) const;
  Task<mesh::ExtAuthzOutcome> httpCheck(const mesh::ExtAuthzProvider& provider,
                                        const curl::SocketAddress& target,
                                        const mesh::RequestView& view);
  // `req`/`view` null: a connection's check (network ext_authz filter), no `request.http`.
  Task<mesh::ExtAuthzOutcome> grpcCheck(const mesh::ExtAuthzProvider& provider,
                                        const curl::SocketAddress& target, const HttpRequest* req,
                                        const mesh::RequestView* view, const ExtAuthzPeer& peer);
  // AuthorizationPolicy CUSTOM on a TCP chain (Envoy's network ext_authz filter, before the
  // network RBAC filters): true = go on; false = denied, the line is logged and the caller
  // closes the connection.
  Task<bool> customAuthzTcp(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                            const mesh::ConnectionInfo& ci, const std::string& remote,
                            std::uint64_t s, std::chrono::system_clock::time_point startTime);
  // AuthorizationPolicy CUSTOM before routing: when a CUSTOM rule of `p` matches the request, the
  // ext_authz filter below runs. Same contract as extAuthzFilter. (Enforced here until the
  // AuthorizationPolicy filter chain calls extAuthzFilter from its CUSTOM branch.)
  Task<std::optional<bool>> customAuthz(Proxy& p, VirtualListener& vl,
                                        const mesh::FilterChain& chain,
                                        const mesh::ConnectionInfo& ci, AsyncStream& stream,
                                        HttpRequest& req, const std::string& remote, bool keep,
                                        LiveSockets& live, mesh::AccessLogEntry& e,
                                        std::uint64_t s);
  // The ext_authz filter for a request a CUSTOM policy selected: nullopt = go on (the server's
  // headers applied to `req` and `live.responseHeadersToAdd`); a value = answered with a local
  // reply (deny, error, or a provider istiod could not build) and logged: whether the
  // connection is still open.
  Task<std::optional<bool>> extAuthzFilter(Proxy& p, VirtualListener& vl,
                                           const mesh::FilterChain& chain, AsyncStream& stream,
                                           HttpRequest& req, const std::string& remote, bool keep,
                                           LiveSockets& live, mesh::AccessLogEntry& e,
                                           std::uint64_t s, std::string_view providerName,
                                           std::string_view peerPrincipal);

  // ---------------------------------------------------------------- upstream_pool.cpp
  // Time on the simulation clock (scaled by --time-scale), for outlier detection (§R3).
  mesh::LbTime simNow() const;
  // Envoy's host choice for one attempt on this proxy's cluster (§R4, §R5), avoiding `tried`
  // (previous-hosts predicate) where it can. An empty lease = no host (503 UH), or an
  // ORIGINAL_DST cluster (no endpoints to choose from).
  HostLease pickHost(Proxy& p, const mesh::ClusterResolution& resolved,
                     const std::vector<const mesh::Endpoint*>& tried);
  SslContext clientContextFor(Proxy& p, const mesh::EffectiveUpstreamTls& tls);
  // Connects within `timeout`; nullopt when refused, unreachable or timed out.
  Task<std::optional<tcp::socket>> connectTcpAsync(const curl::SocketAddress& target,
                                                   std::chrono::milliseconds timeout);
  // TCP connect plus, when `tls` is set, the client handshake (§4). Sets `failure` on error.
  Task<std::unique_ptr<AsyncStream>> openUpstream(
      Proxy& p, const curl::SocketAddress& target,
      const std::optional<mesh::EffectiveUpstreamTls>& tls, std::chrono::milliseconds timeout,
      mesh::AttemptOutcome& failure);
  // The router's timers for one attempt (docs/istio-behaviour.md §R1): the route timer's deadline
  // (it covers every attempt and bounds the connect too) and the per-try timeout, which starts
  // once the connection is ready. Neither: limits.defaultUpstreamTimeout bounds the response.
  struct AttemptTimers {
    std::optional<Clock::time_point> routeDeadline;
    std::optional<std::chrono::milliseconds> perTry;
    bool routeTimeoutFired = false;  // out: the route timer ended this attempt

    // Time left on the route timer, never negative (nullopt: the route sets none).
    [[nodiscard]] std::optional<Clock::duration> routeLeft() const;
    // Until when a pending request waits for a connection: the route timer, else `fallback`.
    [[nodiscard]] Clock::time_point pendingDeadline(std::chrono::milliseconds fallback) const;
    // The bound of a try that starts now: the per-try timeout (else `fallback`), or what is left
    // of the route timer when that ends first (`routeBound`: its firing is the route's timeout).
    struct TryBound {
      Clock::duration timeout;
      bool routeBound = false;
    };
    [[nodiscard]] TryBound tryBound(std::chrono::milliseconds fallback) const;
  };
  // An attempt on an HTTP/2 cluster: a stream on a pooled connection (attemptUpstream's
  // contract; a timed-out stream is reset, its connection stays).
  Task<mesh::AttemptOutcome> attemptHttp2(Proxy& p, const mesh::Cluster& cluster,
                                          const curl::SocketAddress& target,
                                          const std::optional<mesh::EffectiveUpstreamTls>& tls,
                                          const HttpRequest& req, AttemptTimers& timers,
                                          HttpResponse& out, LiveSockets& live);
  // Connects `client` of the pool `key` of `worker` and wakes the pool's waiters.
  Task<void> connectHttp2(Proxy& p, std::size_t worker, std::string key,
                          std::shared_ptr<Http2Upstream> client, curl::SocketAddress target,
                          std::optional<mesh::EffectiveUpstreamTls> tls,
                          std::chrono::milliseconds timeout);
  // One attempt; a timed-out attempt closes its connection (never pooled).
  Task<mesh::AttemptOutcome> attemptUpstream(Proxy& p, const mesh::Cluster& cluster,
                                             const curl::SocketAddress& target,
                                             const std::optional<mesh::EffectiveUpstreamTls>& tls,
                                             const HttpRequest& req, AttemptTimers& timers,
                                             HttpResponse& out, LiveSockets& live);

  // ---------------------------------------------------------------- tcp_proxy.cpp
  Task<void> tcpProxy(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                      const mesh::ConnectionInfo& ci, tcp::socket conn, const std::string& remote,
                      std::uint64_t s, std::chrono::system_clock::time_point startTime,
                      LiveSockets& live);
  Task<void> tunnel(const model::PortForwardSpec& spec, tcp::socket conn, LiveSockets& live);
  // Copies bytes both ways until both directions ended (half-close aware) or the connection
  // was idle for limits.tcpIdleTimeout. Returns (a→b, b→a) byte counts.
  Task<std::pair<std::uint64_t, std::uint64_t>> splice(AsyncStream& a, AsyncStream& b);

  // ---------------------------------------------------------------- prober.cpp
  bool runProbe(Proxy& p);
  std::chrono::milliseconds probeTimeout(const model::Probe& probe) const;
  bool runExecProbe(Proxy& p, const model::Probe& probe, std::chrono::milliseconds timeout);
  // curl's exit status.
  int runProbeCurl(Proxy& p, curl::CurlCommand command, std::chrono::milliseconds timeout);
  void recordProbe(Proxy& p, bool ok, bool initial = false);
  void endWarmingIfDue(Proxy& p);
  void proberLoop(Proxy& p);
  void startReadiness();
  void probeRound(bool initial = false);

  // ---------------------------------------------------------------- run_pki.cpp
  Result<void> mintPki(const model::Scenario& sc);
  Result<void> startMocks(const model::Scenario& sc);

  // ---------------------------------------------------------------- faults.cpp
  DnsOverrides dnsOverrides;
  FaultTimers faultTimers;  // ttl; stopped first in shutdown()
  std::mutex faultMu;       // guards the two maps below
  std::map<const Proxy*, std::uint64_t> killGeneration;
  std::map<const mesh::Endpoint*, mesh::ClusterType> dnsEndpointTypes;  // built once
  bool dnsEndpointTypesBuilt = false;
  Result<void> killGateway(Proxy& p);
  Result<void> restoreGateway(Proxy& p);
  Result<void> upstreamFault(const model::FaultSpec& f);
  Result<void> dnsFault(const model::FaultSpec& f);
  Result<void> gatewayFault(const model::FaultSpec& f);
  void undoFaults();
  // The address a server answers at (its DNS record; docs/design.md "More than one server").
  std::string serverAddress(const Mock& m) const;
  // DNS clusters under a dns fault (§R4), consulted by virtual_network.cpp: whether the
  // endpoint still has hosts, where a connection to it goes, and the address the log shows.
  std::optional<mesh::ClusterType> dnsClusterTypeOf(const mesh::Endpoint& e);
  std::optional<DnsClusterHosts> dnsHostsOf(const mesh::Endpoint& e);
  bool dnsEndpointLive(const mesh::Endpoint& e);
  std::optional<curl::SocketAddress> dnsEndpointTarget(const mesh::Endpoint& e);
  std::optional<std::string> dnsEndpointIp(const mesh::Endpoint& e);
  // Closes every live connection of `p` (all when null) on every worker.
  void closeConnections(const Proxy* p);
  std::vector<VirtualListener*> listenersOf(const Proxy* p);

  // ---------------------------------------------------------------- sim_mesh.cpp
  Result<void> startWorkers();
  Result<void> startProxies();
  void shutdown();
};

}  // namespace egresslab::sim
