// Upstream connections of the simulated proxies: connect with the cluster's connect timeout,
// originate TLS the way the cluster's effective TLS says (§4), and keep idle HTTP/1.1
// connections per worker and destination for reuse (one request at a time on each, as Envoy's
// HTTP/1.1 pool). A pooled connection that the upstream closed is retried once on a fresh one.
// Per proxy and cluster (cluster_state.h): Envoy's host choice, outlier detection, and the
// circuit breakers — a request over max_requests, or one that finds no connection under
// max_connections and no room under max_pending_requests, is overflow (503 UO, §R6); one with
// room waits for a connection to close.
// A cluster istiod configures for HTTP/2 gets HTTP/2 connections (http2.h) pooled as Envoy's
// HTTP/2 pool does (§R6): concurrent requests are streams of one connection, up to the peer's
// SETTINGS_MAX_CONCURRENT_STREAMS and maxRequestsPerConnection; a request that finds no ready
// connection waits as pending (max_pending_requests) while one connects; max_requests
// (http2MaxRequests) is checked when a request gets its stream; a worker's pool with no
// connection to the host opens one even at max_connections.
#include <fmt/format.h>

#include "harness/sim/sim_impl.h"

namespace egresslab::sim {
namespace {

std::string poolKey(const curl::SocketAddress& target,
                    const std::optional<mesh::EffectiveUpstreamTls>& tls, bool http2) {
  const char* codec = http2 ? "h2" : "h1";
  if (!tls) return fmt::format("{}:{}|{}|plain", target.ip, target.port, codec);
  std::string k = fmt::format("{}:{}|{}|tls|{}|{}|{}|", target.ip, target.port, codec, tls->sni,
                              static_cast<int>(tls->verify), tls->presentMeshClientCert);
  for (const auto& n : tls->verifySubjectAltNames) k += n + ",";
  return k;
}

using OutcomeKind = mesh::AttemptOutcome::Kind;

mesh::AttemptOutcome outcome(OutcomeKind kind) {
  mesh::AttemptOutcome o;
  o.kind = kind;
  return o;
}

mesh::AttemptOutcome overflow() { return outcome(OutcomeKind::kOverflow); }

// An attempt that got a whole response (any status: the router decides what it means).
mesh::AttemptOutcome answered(const HttpResponse& r) {
  mesh::AttemptOutcome o = outcome(OutcomeKind::kResponse);
  o.status = static_cast<std::uint32_t>(r.status);
  o.body = r.body;
  return o;
}

// Ends a request's hold on a circuit-breaker resource when the attempt ends, however it ends.
struct Release {
  ClusterState& state;
  void (ClusterState::*finish)();
  ~Release() { (state.*finish)(); }
};

}  // namespace

mesh::LbTime SimMesh::Impl::simNow() const {
  // The simulation clock runs timeScale times faster than the wall clock.
  const auto real = std::chrono::duration<double, std::milli>(Clock::now() - epoch);
  return mesh::LbTime(static_cast<std::int64_t>(real.count() * clock.timeScale()));
}

HostLease SimMesh::Impl::pickHost(Proxy& p, const mesh::ClusterResolution& resolved,
                                  const std::vector<const mesh::Endpoint*>& tried) {
  if (resolved.cluster == nullptr || resolved.healthy.empty()) return {};
  ClusterState& state = p.clusters.get(*resolved.cluster, simNow());
  const mesh::Endpoint* e = state.pick(resolved.healthy, tried, randomU64, simNow());
  return HostLease(&state, e);
}

SslContext SimMesh::Impl::clientContextFor(Proxy& p, const mesh::EffectiveUpstreamTls& tls) {
  std::string trust;
  std::string key;
  switch (tls.verify) {
    case mesh::ServerVerification::kNone:
      key = "none";
      break;
    case mesh::ServerVerification::kSystemCa:
    case mesh::ServerVerification::kCaFile:
      // A caCertificates file path names a file inside the pod; the simulation trusts the run's
      // public CA for it (docs/fidelity.md).
      trust = publicCaPem;
      key = "public";
      break;
    case mesh::ServerVerification::kMeshCa:
      trust = meshCa->certPem();
      key = "mesh";
      break;
  }
  if (tls.presentMeshClientCert) key += "+meshcert";
  std::lock_guard lock(p.ctxMu);
  auto it = p.clientCtx.find(key);
  if (it != p.clientCtx.end()) return it->second;
  auto ctx = makeClientContext(trust, tls.presentMeshClientCert
                                          ? std::optional<pki::KeyPair>(p.meshIdentity)
                                          : std::nullopt);
  if (!ctx) return nullptr;
  SslContext adopted = adoptContext(std::move(*ctx));
  p.clientCtx.emplace(key, adopted);
  return adopted;
}

Task<std::optional<tcp::socket>> SimMesh::Impl::connectTcpAsync(const curl::SocketAddress& target,
                                                                std::chrono::milliseconds timeout) {
  ErrorCode ec;
  const auto address = asio::ip::make_address_v4(target.ip, ec);
  if (ec) co_return std::nullopt;
  tcp::socket socket(co_await asio::this_coro::executor);
  auto watchdog = Watchdog::create(socket.get_executor(), [&socket] {
    ErrorCode ignored;
    socket.close(ignored);
  });
  watchdog->arm(timeout);
  auto [cec] = co_await socket.async_connect(
      tcp::endpoint(address, static_cast<std::uint16_t>(target.port)), kAsTuple);
  watchdog->disarm();
  if (cec || watchdog->fired() || !socket.is_open()) co_return std::nullopt;
  socket.set_option(tcp::no_delay(true), ec);
  co_return std::optional<tcp::socket>(std::move(socket));
}

Task<std::unique_ptr<AsyncStream>> SimMesh::Impl::openUpstream(
    Proxy& p, const curl::SocketAddress& target,
    const std::optional<mesh::EffectiveUpstreamTls>& tls, std::chrono::milliseconds timeout,
    mesh::AttemptOutcome& failure) {
  const auto connectStart = Clock::now();
  std::optional<tcp::socket> socket = co_await connectTcpAsync(target, timeout);
  if (!socket) {
    // Refused, unreachable or a connect timeout are all connect failures (UF) to Envoy; no TLS
    // was involved, so no transport failure reason is reported.
    failure.kind = mesh::AttemptOutcome::Kind::kConnectFailure;
    co_return nullptr;
  }
  if (!tls) co_return std::make_unique<TcpStream>(std::move(*socket));
  SslContext ctx = clientContextFor(p, *tls);
  if (!ctx) {
    failure.kind = mesh::AttemptOutcome::Kind::kConnectFailure;
    co_return nullptr;
  }
  std::vector<std::string> names, spiffe;
  for (const auto& n : tls->verifySubjectAltNames) {
    (n.rfind("spiffe://", 0) == 0 ? spiffe : names).push_back(n);
  }
  // Envoy's connect timeout runs until the transport socket is connected: for TLS, until the
  // handshake is done (docs/istio-behaviour.md §R1, §R6).
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(
      std::chrono::milliseconds(timeout) - (Clock::now() - connectStart));
  const std::chrono::milliseconds handshake =
      std::clamp(left, std::chrono::milliseconds(1), limits.handshakeTimeout);
  ClientHandshake hs = co_await connectTls(std::move(*socket), std::move(ctx), tls->sni,
                                           std::move(names), std::move(spiffe), handshake);
  if (!hs.stream) {
    failure.kind = mesh::AttemptOutcome::Kind::kConnectFailure;
    failure.transportFailureReason = hs.failureReason;
    co_return nullptr;
  }
  co_return std::move(hs.stream);
}

Task<mesh::AttemptOutcome> SimMesh::Impl::attemptUpstream(
    Proxy& p, const mesh::Cluster& cluster, const curl::SocketAddress& target,
    const std::optional<mesh::EffectiveUpstreamTls>& tls, const HttpRequest& req,
    AttemptTimers& timers, HttpResponse& out, LiveSockets& live) {
  // The codec is istiod's choice for the cluster (from the Service port's protocol, §R9): HTTP/2
  // with prior knowledge (attemptHttp2), or HTTP/1.1.
  if (cluster.protocol == mesh::UpstreamProtocol::kHttp2) {
    co_return co_await attemptHttp2(p, cluster, target, tls, req, timers, out, live);
  }
  auto& pool = p.pools[live.worker->index()].http1;
  const std::string key = poolKey(target, tls, false);
  const std::string wire = serializeRequest(req);
  const std::uint64_t generation = poolGeneration;
  live.upstreamLocal.clear();  // set once this attempt has a connection
  ClusterState& state = p.clusters.get(cluster, simNow());
  // §R6 max_requests (http2MaxRequests; Envoy applies it to HTTP/1.1 too).
  if (!state.tryStartRequest()) co_return overflow();
  const Release requestDone{state, &ClusterState::finishRequest};
  // Under a connection limit, connections are not kept idle across requests: the limit then
  // counts exactly the connections in use, which no worker can strand in its own pool.
  const bool pooled = !state.limitsConnections();
  const std::uint32_t perConnection = cluster.circuitBreakers.maxRequestsPerConnection;
  for (int fresh = 0; fresh < 2; ++fresh) {
    std::optional<UpstreamConn> c;
    if (fresh == 0 && pooled) {
      auto it = pool.find(key);
      while (it != pool.end() && !it->second.empty() && !c) {
        UpstreamConn candidate = std::move(it->second.back());
        it->second.pop_back();
        if (candidate.generation == generation) c = std::move(candidate);
      }
    }
    const bool reused = c.has_value();
    if (!c) {
      std::shared_ptr<ConnectionSlot> slot;
      if (state.tryOpenConnection()) {
        slot = std::make_shared<ConnectionSlot>(state);
      } else {
        // No connection: wait as a pending request if there is room, else overflow (§R6).
        if (!state.tryStartPending()) co_return overflow();
        const Release pendingDone{state, &ClusterState::finishPending};
        const asio::any_io_executor executor = co_await asio::this_coro::executor;
        // A pending request waits at most until the route timer fires (§R1, §R6).
        const auto deadline = timers.pendingDeadline(limits.defaultUpstreamTimeout);
        while (!slot) {
          auto timer = std::make_shared<asio::steady_timer>(executor);
          timer->expires_at(deadline);
          state.waitForConnection(timer);
          if (state.tryOpenConnection()) {
            slot = std::make_shared<ConnectionSlot>(state);
            break;
          }
          co_await timer->async_wait(kAsTuple);
          if (state.tryOpenConnection()) {
            slot = std::make_shared<ConnectionSlot>(state);
          } else if (Clock::now() >= deadline || stopping) {
            if (timers.routeDeadline) timers.routeTimeoutFired = true;
            co_return outcome(OutcomeKind::kTimeout);
          }
        }
      }
      mesh::AttemptOutcome failure;
      // The route timer runs during the connect too: it bounds the cluster's connect timeout.
      std::chrono::milliseconds connectTimeout = cluster.connectTimeout;
      if (const auto left = timers.routeLeft()) {
        connectTimeout =
            std::min(connectTimeout, std::chrono::ceil<std::chrono::milliseconds>(*left));
      }
      std::unique_ptr<AsyncStream> stream =
          co_await openUpstream(p, target, tls, connectTimeout, failure);
      if (!stream && timers.routeDeadline && Clock::now() >= *timers.routeDeadline) {
        timers.routeTimeoutFired = true;
      }
      if (!stream) co_return failure;
      c.emplace();
      c->stream = std::move(stream);
      c->reader = std::make_unique<HttpReader>(*c->stream);
      c->generation = generation;
      c->source =
          std::make_unique<SourceRegistration>(*this, localOf(c->stream->socket()), p.cfg->podIp);
      c->slot = std::move(slot);
    }
    // The per-try timeout starts with the ready connection and covers sending the request and
    // receiving the whole response; the route timer keeps running. Whichever ends first closes
    // the connection.
    AsyncStream* s = c->stream.get();
    live.upstreamLocal = c->source->local();
    const asio::any_io_executor executor = co_await asio::this_coro::executor;
    auto watchdog = Watchdog::create(executor, [s] { s->close(); });
    const AttemptTimers::TryBound bound = timers.tryBound(limits.defaultUpstreamTimeout);
    watchdog->arm(bound.timeout);
    live.upstream = s;
    std::expected<HttpResponse, CodecError> resp = std::unexpected(CodecError::kIo);
    const IoResult written = co_await s->writeAll(asio::buffer(wire));
    const bool wrote = !written.ec;
    if (wrote) resp = co_await c->reader->readResponse(req.method);
    live.upstream = nullptr;
    watchdog->disarm();
    if (!resp) {
      if (watchdog->fired()) {
        timers.routeTimeoutFired = bound.routeBound;
        co_return outcome(OutcomeKind::kTimeout);
      }
      if (reused && (resp.error() == CodecError::kClosed || !wrote)) continue;  // stale
      co_return outcome(OutcomeKind::kConnectionReset);
    }
    const mesh::AttemptOutcome o = answered(*resp);
    ++c->requests;
    // maxRequestsPerConnection (§R6): the connection closes after that many requests.
    const bool open = resp->keepAlive() && c->reader->buffered() == 0;
    const bool reusable = pooled && open && !stopping && !p.killed &&
                          c->generation == poolGeneration &&
                          (perConnection == 0 || c->requests < perConnection);
    out = std::move(*resp);
    if (reusable) {
      auto& idle = pool[key];
      if (idle.size() < limits.maxPooledPerKey) idle.push_back(std::move(*c));
    }
    co_return o;
  }
  co_return outcome(OutcomeKind::kConnectionReset);
}

void SimMesh::Impl::Http2Pool::wakeAll() {
  for (const auto& w : waiters) {
    if (auto timer = w.lock()) timer->cancel();
  }
  waiters.clear();
}

Task<void> SimMesh::Impl::connectHttp2(Proxy& p, std::size_t worker, std::string key,
                                       std::shared_ptr<Http2Upstream> client,
                                       curl::SocketAddress target,
                                       std::optional<mesh::EffectiveUpstreamTls> tls,
                                       std::chrono::milliseconds timeout) {
  // The connection is the pool's, not one request's: the cluster's connect timeout bounds it,
  // and requests waiting for it give up on their own timers (§R1, §R6).
  mesh::AttemptOutcome failure;
  std::unique_ptr<AsyncStream> stream = co_await openUpstream(p, target, tls, timeout, failure);
  Http2Pool& pool = p.pools[worker].http2[key];
  if (stream) {
    client->source =
        std::make_unique<SourceRegistration>(*this, localOf(stream->socket()), p.cfg->podIp);
    client->conn = std::make_unique<Http2ClientConnection>(std::move(stream));
  } else {
    // Envoy purges the pool's pending requests with the connect failure (conn_pool_base.cc
    // onConnectionEvent).
    std::erase(pool.clients, client);
    ++pool.connectFailures;
    pool.lastConnectFailure = failure;
  }
  pool.wakeAll();
}

Task<mesh::AttemptOutcome> SimMesh::Impl::attemptHttp2(
    Proxy& p, const mesh::Cluster& cluster, const curl::SocketAddress& target,
    const std::optional<mesh::EffectiveUpstreamTls>& tls, const HttpRequest& req,
    AttemptTimers& timers, HttpResponse& out, LiveSockets& live) {
  const std::size_t worker = live.worker->index();
  const std::string key = poolKey(target, tls, true);
  Http2Pool& pool = p.pools[worker].http2[key];
  ClusterState& state = p.clusters.get(cluster, simNow());
  live.upstreamLocal.clear();  // set once this attempt has a stream
  const std::uint32_t perConnection = cluster.circuitBreakers.maxRequestsPerConnection;
  // Envoy's remaining_streams of a new connection: maxRequestsPerConnection, else 2^29.
  const std::uint64_t streamsPerConnection = perConnection != 0 ? perConnection : (1u << 29);
  // Connections that take no new stream leave the pool (closed once their streams are done).
  auto prune = [&] {
    std::erase_if(pool.clients, [&](const std::shared_ptr<Http2Upstream>& c) {
      if (c->generation != poolGeneration || stopping || p.killed) return true;
      return c->conn != nullptr && (!c->conn->reusable() || c->remainingStreams == 0);
    });
  };
  // A connected client with room for one more stream (Envoy's ready list).
  auto ready = [&]() -> std::shared_ptr<Http2Upstream> {
    prune();
    for (const auto& c : pool.clients) {
      if (c->conn != nullptr && c->conn->activeStreams() < c->conn->peerMaxConcurrentStreams()) {
        return c;
      }
    }
    return nullptr;
  };
  // Envoy's tryCreateNewConnection: a connection is opened when the pending requests exceed what
  // the connections still connecting will carry, under max_connections — or at the limit when
  // the pool has none at all.
  auto maybeConnect = [&] {
    std::uint64_t connectingCapacity = 0;
    for (const auto& c : pool.clients) {
      if (c->conn == nullptr) connectingCapacity += c->remainingStreams;
    }
    if (pool.pending <= connectingCapacity) return;
    if (!state.tryOpenConnection(pool.clients.empty())) return;
    auto client = std::make_shared<Http2Upstream>();
    client->slot = std::make_shared<ConnectionSlot>(state);
    client->generation = poolGeneration;
    client->remainingStreams = streamsPerConnection;
    pool.clients.push_back(client);
    asio::co_spawn(live.worker->context(),
                   connectHttp2(p, worker, key, client, target, tls, cluster.connectTimeout),
                   logEscapedException);
  };

  for (int attempt = 0; attempt < 2; ++attempt) {
    std::shared_ptr<Http2Upstream> client = ready();
    if (!client) {
      // No ready connection: the request waits as pending, if the breaker has room (§R6).
      if (!state.tryStartPending()) co_return overflow();
      const Release pendingDone{state, &ClusterState::finishPending};
      ++pool.pending;
      struct Pending {
        Http2Pool& pool;
        ~Pending() { --pool.pending; }
      } const counted{pool};
      const std::uint64_t failuresBefore = pool.connectFailures;
      const asio::any_io_executor executor = co_await asio::this_coro::executor;
      // A pending request waits at most until the route timer fires (§R1, §R6).
      const auto deadline = timers.pendingDeadline(limits.defaultUpstreamTimeout);
      for (;;) {
        client = ready();
        if (client) break;
        if (pool.connectFailures != failuresBefore) co_return pool.lastConnectFailure;
        if (Clock::now() >= deadline || stopping) {
          if (timers.routeDeadline) timers.routeTimeoutFired = true;
          co_return outcome(OutcomeKind::kTimeout);
        }
        maybeConnect();
        auto timer = std::make_shared<asio::steady_timer>(executor);
        timer->expires_at(deadline);
        pool.waiters.push_back(timer);
        state.waitForConnection(timer);  // a slot freed elsewhere (max_connections)
        co_await timer->async_wait(kAsTuple);
      }
    }
    // attachStreamToClient: max_requests (http2MaxRequests) is checked as the stream starts.
    if (!state.tryStartRequest()) co_return overflow();
    const Release requestDone{state, &ClusterState::finishRequest};
    --client->remainingStreams;  // at 0 the connection drains: closed after its last stream
    Http2ClientConnection& conn = *client->conn;
    live.upstreamLocal = client->source->local();
    // The per-try timeout starts with the stream; the route timer keeps running (§R1).
    const AttemptTimers::TryBound bound = timers.tryBound(limits.defaultUpstreamTimeout);
    live.upstream = &conn.stream();
    auto resp = co_await conn.exchange(req, conn.stream().tls() ? "https" : "http", bound.timeout);
    live.upstream = nullptr;
    // A stream ended: a request waiting for room on a busy connection may take it.
    pool.wakeAll();
    if (!resp) {
      switch (resp.error()) {
        case Http2Error::kTimeout:
          timers.routeTimeoutFired = bound.routeBound;
          co_return outcome(OutcomeKind::kTimeout);
        case Http2Error::kRefused:
          // Not processed (GOAWAY, a connection that ended first): sent once more on another.
          if (attempt == 0) continue;
          break;
        case Http2Error::kProtocolError:
          // A codec protocol error (e.g. the upstream answered in HTTP/1.1): 502 UPE (§R9).
          co_return outcome(OutcomeKind::kProtocolError);
        case Http2Error::kReset:
        case Http2Error::kConnectionLost:
        case Http2Error::kTooLarge:
          break;
      }
      co_return outcome(OutcomeKind::kConnectionReset);
    }
    const mesh::AttemptOutcome o = answered(*resp);
    out = std::move(*resp);
    co_return o;
  }
  co_return outcome(OutcomeKind::kConnectionReset);
}

std::optional<Clock::duration> SimMesh::Impl::AttemptTimers::routeLeft() const {
  if (!routeDeadline) return std::nullopt;
  return std::max(Clock::duration::zero(), *routeDeadline - Clock::now());
}

Clock::time_point SimMesh::Impl::AttemptTimers::pendingDeadline(
    std::chrono::milliseconds fallback) const {
  return Clock::now() + routeLeft().value_or(std::chrono::duration_cast<Clock::duration>(fallback));
}

SimMesh::Impl::AttemptTimers::TryBound SimMesh::Impl::AttemptTimers::tryBound(
    std::chrono::milliseconds fallback) const {
  TryBound b{perTry ? Clock::duration(*perTry) : Clock::duration(fallback)};
  const auto left = routeLeft();
  b.routeBound = left && (!perTry || *left <= b.timeout);
  if (b.routeBound) b.timeout = *left;
  return b;
}

SimMesh::Impl::SourceRegistration::SourceRegistration(Impl& impl, std::string local,
                                                      std::string podIp)
    : impl_(impl), local_(std::move(local)) {
  if (local_.empty()) return;
  std::lock_guard lock(impl_.sourcesMu);
  id_ = ++impl_.nextSourceId;
  impl_.sourcesByLocal[local_] = {std::move(podIp), id_};
}

SimMesh::Impl::SourceRegistration::~SourceRegistration() {
  if (local_.empty()) return;
  std::lock_guard lock(impl_.sourcesMu);
  // A later connection may have taken the same local port: erase only our own entry.
  const auto it = impl_.sourcesByLocal.find(local_);
  if (it != impl_.sourcesByLocal.end() && it->second.second == id_) {
    impl_.sourcesByLocal.erase(it);
  }
}

std::string SimMesh::Impl::sourceIpOf(const std::string& remote) {
  {
    std::lock_guard lock(sourcesMu);
    const auto it = sourcesByLocal.find(remote);
    if (it != sourcesByLocal.end()) return it->second.first;
  }
  return hostOfAuthority(remote);
}

}  // namespace egresslab::sim
