// The TCP side of the simulated proxies: tcp_proxy filter chains (tcp routes, PassthroughCluster
// for ALLOW_ANY, SNI passthrough at gateways, §1, §5), and `sim up`'s literal port-forward tunnels.
// Bytes are copied both ways by two coroutines on the connection's worker, half-close aware.
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <fmt/format.h>

#include "harness/sim/sim_impl.h"

namespace egresslab::sim {

Task<void> SimMesh::Impl::tcpProxy(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                                   const mesh::ConnectionInfo& ci, tcp::socket conn,
                                   const std::string& remote, std::uint64_t s,
                                   std::chrono::system_clock::time_point startTime,
                                   LiveSockets& live) {
  mesh::AccessLogEntry e;
  e.startTime = startTime;
  e.tcp = true;
  e.requestedServerName = ci.sni;
  e.downstreamLocalAddress = fmt::format("{}:{}", vl.dstIp, vl.dstPort);
  e.downstreamRemoteAddress = remote;
  e.upstreamCluster = chain.statPrefix.empty() ? chain.cluster : chain.statPrefix;
  const auto t0 = Clock::now();
  {
    std::lock_guard lock(logMu);
    openTcp.insert(remote);
  }
  auto finish = [&] {
    e.durationMs = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
    // Log first, then close the hop: a reader joining this curl's hops (logsForCurl) must never
    // see the connection neither open nor logged.
    appendLog(p, s, e);
    {
      std::lock_guard lock(logMu);
      if (auto it = openTcp.find(remote); it != openTcp.end()) openTcp.erase(it);
    }
    logCv.notify_all();
  };
  curl::SocketAddress target = refusedAddress();
  std::optional<mesh::EffectiveUpstreamTls> tls;
  std::chrono::milliseconds connectTimeout{10000};  // PassthroughCluster: the mesh's 10 s
  // The chosen host (least request counts it only while connecting: tcp_proxy holds no request)
  // and the connection's slot under the cluster's max_connections (§R6).
  std::optional<HostLease> lease;
  std::optional<ConnectionSlot> slot;
  if (chain.kind == mesh::FilterChainKind::kPassthrough) {
    target = mapLogical(ci.destinationAddress, ci.localPort, nullptr);
    e.upstreamCluster = "PassthroughCluster";
  } else {
    const mesh::ClusterResolution r = mesh::resolveCluster(
        *p.cfg, chain.cluster, [this](const mesh::Endpoint& ep) { return endpointReady(ep); });
    if (r.localReply) {
      e.flags = r.localReply->flags;
      finish();
      resetAndClose(conn);
      co_return;
    }
    connectTimeout = r.cluster->connectTimeout;
    // tcp_proxy asks the cluster's max_connections first: at the limit the connection is closed
    // with UO (§R6; the log line is inferred, docs/istio-behaviour.md §R6).
    ClusterState& state = p.clusters.get(*r.cluster, simNow());
    if (!state.tryOpenConnection()) {
      e.flags = mesh::ResponseFlag::kUO;
      finish();
      resetAndClose(conn);
      co_return;
    }
    slot.emplace(state);
    // Envoy's pick on this proxy's cluster state: policy, priorities, ejections (§R3–§R5).
    lease.emplace(pickHost(p, r, {}));
    const mesh::Endpoint* ep = lease->endpoint();
    if (ep == nullptr && r.cluster->type != mesh::ClusterType::kOriginalDst) {
      // Every host ejected and no panic routing: no healthy upstream (§R3).
      e.flags = mesh::ResponseFlag::kUH;
      finish();
      resetAndClose(conn);
      co_return;
    }
    if (ep == nullptr) {
      target = mapLogical(ci.destinationAddress, ci.localPort, nullptr);
    } else {
      target = endpointAddress(p, *r.cluster, *ep, &ci);
      e.upstreamHost = fmt::format("{}:{}", upstreamHostIp(*ep), ep->port);
      tls = mesh::upstreamTlsFor(*r.cluster, *ep, ci.sni);
    }
  }
  mesh::AttemptOutcome failure;
  std::unique_ptr<AsyncStream> upstream =
      co_await openUpstream(p, target, tls, connectTimeout, failure);
  {
    // The connect's result for outlier detection: a failure counts as a 503, success as a 200
    // (tcp_proxy's LocalOriginConnectFailed / LocalOriginConnectSuccessFinal, §R3).
    mesh::AttemptOutcome connected;
    connected.kind = mesh::AttemptOutcome::Kind::kResponse;
    connected.status = 200;
    if (lease) lease->report(upstream ? connected : failure, simNow());
    lease.reset();
  }
  if (!upstream) {
    // Istio sets no max_connect_attempts (Envoy's default 1): the failed attempt was the last,
    // and tcp_proxy's onConnectMaxAttempts adds URX to UF (docs/istio-behaviour.md §R2.1, §R9).
    e.flags = mesh::ResponseFlag::kUF | mesh::ResponseFlag::kURX;
    e.upstreamTransportFailureReason = failure.transportFailureReason;
    finish();
    resetAndClose(conn);
    co_return;
  }
  e.upstreamLocalAddress = localOf(upstream->socket());
  const SourceRegistration source(*this, e.upstreamLocalAddress, p.cfg->podIp);
  TcpStream down(std::move(conn));
  live.raw = nullptr;
  live.downstream = &down;
  live.upstream = upstream.get();
  const auto [rx, tx] = co_await splice(down, *upstream);
  live.downstream = nullptr;
  live.upstream = nullptr;
  e.bytesReceived = rx;
  e.bytesSent = tx;
  finish();
}

Task<void> SimMesh::Impl::tunnel(const model::PortForwardSpec& spec, tcp::socket conn,
                                 LiveSockets& live) {
  // kubectl port-forward is a TCP tunnel to the pod's port.
  const curl::SocketAddress t = portForwardTargetOf(spec);
  std::optional<tcp::socket> up = co_await connectTcpAsync(t, std::chrono::seconds(5));
  if (!up) co_return;
  TcpStream down(std::move(conn));
  TcpStream upstream(std::move(*up));
  live.raw = nullptr;
  live.downstream = &down;
  live.upstream = &upstream;
  co_await splice(down, upstream);
  live.downstream = nullptr;
  live.upstream = nullptr;
}

Task<std::pair<std::uint64_t, std::uint64_t>> SimMesh::Impl::splice(AsyncStream& a,
                                                                    AsyncStream& b) {
  using namespace asio::experimental::awaitable_operators;
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto idle = Watchdog::create(executor, [&a, &b] {
    a.close();
    b.close();
  });
  idle->arm(limits.tcpIdleTimeout);
  std::uint64_t ab = 0, ba = 0;
  // One direction: EOF is passed on as a half-close; an error ends both directions.
  auto pump = [&](AsyncStream& from, AsyncStream& to, std::uint64_t& count) -> Task<void> {
    std::vector<char> buf;  // allocated once bytes flow: an idle tunnel holds no buffer
    for (;;) {
      const ErrorCode readable = co_await from.waitReadable();
      if (readable) {
        from.close();
        to.close();
        co_return;
      }
      if (buf.empty()) buf.resize(16384);
      const IoResult r = co_await from.readSome(asio::buffer(buf));
      if (r.ec || r.bytes == 0) {
        if (AsyncStream::isEof(r.ec) || (!r.ec && r.bytes == 0)) {
          to.shutdownSend();
        } else {
          from.close();
          to.close();
        }
        co_return;
      }
      idle->arm(limits.tcpIdleTimeout);
      const IoResult written = co_await to.writeAll(asio::buffer(buf.data(), r.bytes));
      if (written.ec) {
        from.close();
        to.close();
        co_return;
      }
      count += r.bytes;
    }
  };
  co_await (pump(a, b, ab) && pump(b, a, ba));
  idle->disarm();
  co_return std::pair{ab, ba};
}

}  // namespace egresslab::sim
