// Listeners: binding (listening, or bound-but-refusing to keep a port through a kill or Envoy's
// warming, §11.2), accept loops that hand connections to workers round-robin, per-listener
// connection caps, EMFILE back-off, and per connection the filter-chain choice (§5) that sends it
// to the HTTP proxy, the TCP proxy, BlackHole or a reset.
#include <array>
#include <cerrno>
#include <cstdio>

#include <fmt/format.h>
#include <unistd.h>

#include "harness/sim/sim_impl.h"

namespace egresslab::sim {

void SimMesh::Impl::LiveSockets::closeAll() const {
  if (downstream != nullptr) {
    downstream->close();
  } else if (raw != nullptr) {
    ErrorCode ignored;
    raw->close(ignored);
  }
  if (upstream != nullptr) upstream->close();
}

Worker& SimMesh::Impl::pickWorker() { return *workers[nextWorker++ % workers.size()]; }

namespace {

// The network RBAC filter decides on the connection's first bytes and closes it without flushing
// (§S1): the bytes it read are gone, so the peer sees an orderly close (FIN), not a reset.
void closeDenied(tcp::socket& s) {
  ErrorCode ec;
  std::array<char, 16384> sink{};
  for (std::size_t n = s.available(ec); !ec && n > 0; n = s.available(ec)) {
    s.read_some(asio::buffer(sink.data(), std::min(n, sink.size())), ec);
  }
  s.shutdown(tcp::socket::shutdown_both, ec);
  s.close(ec);
}

std::string listenerKey(const void* p, ListenerDirection d, std::string_view ip, std::uint32_t port,
                        bool health) {
  return fmt::format("{}|{}|{}|{}|{}", p, static_cast<int>(d), ip, port, health ? 1 : 0);
}

// Decrements a listener's connection count when a handler ends.
struct ActiveConnection {
  explicit ActiveConnection(std::atomic<std::size_t>& n) : n_(n) {}
  ~ActiveConnection() { --n_; }
  ActiveConnection(const ActiveConnection&) = delete;
  ActiveConnection& operator=(const ActiveConnection&) = delete;
  std::atomic<std::size_t>& n_;
};

bool outOfDescriptors(const ErrorCode& ec) {
  const int v = ec.value();
  return ec.category() == boost::system::system_category() &&
         (v == EMFILE || v == ENFILE || v == ENOBUFS || v == ENOMEM);
}

}  // namespace

Result<SimMesh::Impl::VirtualListener*> SimMesh::Impl::bindListener(Proxy* p, ListenerDirection d,
                                                                    const std::string& ip,
                                                                    std::uint32_t port, bool health,
                                                                    bool listen) {
  std::lock_guard lock(listenersMu);
  const std::string key = listenerKey(p, d, ip, port, health);
  if (auto it = listenerIndex.find(key); it != listenerIndex.end()) return it->second;
  if (stopping) return environmentError("stopping");
  auto fd = bindLoopback(0, listen);
  if (!fd) return std::unexpected(fd.error());
  auto vl = std::make_unique<VirtualListener>();
  vl->proxy = p;
  vl->direction = d;
  vl->dstIp = ip;
  vl->dstPort = port;
  vl->health = health;
  vl->realPort = localPort(fd->get());
  vl->worker = &pickWorker();
  VirtualListener* raw = vl.get();
  if (listen) {
    startAccepting(*raw, std::move(*fd));
  } else {
    raw->reserved = std::move(*fd);
  }
  listeners.push_back(std::move(vl));
  listenerIndex.emplace(key, raw);
  return raw;
}

// Any thread: the acceptor is created here and from then on used only by its worker.
void SimMesh::Impl::startAccepting(VirtualListener& vl, Fd listeningFd) {
  auto acceptor = std::make_shared<tcp::acceptor>(vl.worker->context());
  ErrorCode ec;
  acceptor->assign(tcp::v4(), listeningFd.get(), ec);
  if (ec) {
    std::fprintf(stderr, "egresslab sim: listener 127.0.0.1:%u: %s\n", vl.realPort,
                 ec.message().c_str());
    return;  // listeningFd closes: connects are refused, as for a listener that failed
  }
  (void)listeningFd.release();
  vl.acceptor = acceptor;
  vl.listening = true;
  asio::co_spawn(vl.worker->context(), acceptLoop(&vl, std::move(acceptor)), logEscapedException);
}

void SimMesh::Impl::setListening(VirtualListener& vl, bool on) {
  if (stopping) return;
  vl.worker->runAndWait([this, &vl, on] { setListeningOnWorker(vl, on); });
}

void SimMesh::Impl::setListeningOnWorker(VirtualListener& vl, bool on) {
  if (vl.listening == on || stopping) return;
  if (on) {
    if (!vl.reserved.valid() || !startListening(vl.reserved.get())) return;
    startAccepting(vl, std::move(vl.reserved));
    return;
  }
  // A listening socket cannot stop listening: close it (the accept loop ends) and bind the same
  // port again without listen(), so the port stays ours and connects are refused.
  ErrorCode ignored;
  if (vl.acceptor) vl.acceptor->close(ignored);
  vl.acceptor.reset();
  vl.listening = false;
  auto fresh = bindLoopback(vl.realPort, false);
  if (fresh) vl.reserved = std::move(*fresh);
}

Task<void> SimMesh::Impl::acceptLoop(VirtualListener* vl, std::shared_ptr<tcp::acceptor> acceptor) {
  for (;;) {
    // Accepted on the acceptor's own loop, then handed to a worker: an accept pending on a peer
    // socket of another worker's loop would outlive that loop at shutdown (ThreadSanitizer found
    // the use after free when the loops are destroyed one by one).
    auto [ec, accepted] = co_await acceptor->async_accept(kAsTuple);
    if (stopping || !acceptor->is_open() || ec == asio::error::operation_aborted) co_return;
    Worker& w = pickWorker();
    tcp::socket socket(w.context());
    if (!ec) {
      const auto protocol = accepted.local_endpoint(ec).protocol();
      if (!ec) {
        const int fd = accepted.release(ec);
        if (!ec) {
          socket.assign(protocol, fd, ec);
          if (ec) ::close(fd);
        }
      }
    }
    if (ec) {
      if (outOfDescriptors(ec)) {
        // Out of descriptors: never leave the loop; wait for connections to end, then retry.
        if (!vl->emfileLogged) {
          std::fprintf(stderr,
                       "egresslab sim: listener %s:%u (127.0.0.1:%u): accept: %s; retrying every "
                       "%lld ms\n",
                       vl->dstIp.c_str(), vl->dstPort, vl->realPort, ec.message().c_str(),
                       static_cast<long long>(limits.acceptBackoff.count()));
          vl->emfileLogged = true;
        }
        co_await sleepFor(limits.acceptBackoff);
      }
      continue;
    }
    vl->emfileLogged = false;
    if (vl->active >= limits.maxConnectionsPerListener) {
      if (!vl->capLogged) {
        std::fprintf(stderr,
                     "egresslab sim: listener %s:%u (127.0.0.1:%u) of %s: %zu connections, the "
                     "cap; closing new connections until some end\n",
                     vl->dstIp.c_str(), vl->dstPort, vl->realPort,
                     vl->proxy != nullptr ? vl->proxy->display.c_str() : "port-forward",
                     limits.maxConnectionsPerListener);
        vl->capLogged = true;
      }
      resetAndClose(socket);
      continue;
    }
    vl->capLogged = false;
    ++vl->active;
    asio::co_spawn(w.context(), handleConnection(vl, std::move(socket), &w), logEscapedException);
  }
}

void SimMesh::Impl::appendLog(Proxy& p, std::uint64_t s, const mesh::AccessLogEntry& entry) {
  if (!p.cfg->accessLog.enabled) return;  // no meshConfig.accessLogFile → no lines (§9)
  LogRecord r;
  r.seq = s;
  r.proxy = p.display;
  r.requestId = entry.requestId;
  r.flags = mesh::formatResponseFlags(entry.flags, p.cfg->version);
  r.line = mesh::formatAccessLog(p.cfg->accessLog.format, entry, p.cfg->version);
  r.tcp = entry.tcp;
  r.downstreamRemoteAddress = entry.downstreamRemoteAddress;
  r.upstreamLocalAddress = entry.upstreamLocalAddress;
  {
    std::lock_guard lock(logMu);
    logs.push_back(std::move(r));
    if (logs.size() > kMaxLogs) logs.pop_front();
  }
  logCv.notify_all();
}

Task<void> SimMesh::Impl::handleConnection(VirtualListener* vlp, tcp::socket conn, Worker* worker) {
  VirtualListener& vl = *vlp;
  ActiveConnection active(vl.active);
  LiveSockets live;
  live.worker = worker;
  live.raw = &conn;
  Worker::Registration registration(*worker, vl.proxy, [&live] { live.closeAll(); });
  ErrorCode ignored;
  conn.set_option(tcp::no_delay(true), ignored);
  if (vl.forward) {
    co_await tunnel(*vl.forward, std::move(conn), live);
    co_return;
  }
  Proxy& p = *vl.proxy;
  if (vl.health) {
    TcpStream stream(std::move(conn));
    live.downstream = &stream;
    co_await serveHealth(p, stream);
    co_return;
  }
  const std::string remote = remoteOf(conn);
  const ClientHelloInfo hello = co_await peekClientHello(conn, limits.inspectorTimeout);
  if (stopping) co_return;
  mesh::ConnectionInfo ci;
  ci.localPort = vl.dstPort;
  ci.destinationAddress = vl.dstIp;
  ci.sni = hello.sni;
  ci.tls = hello.tls;
  ci.direction = vl.direction;
  const mesh::ChainSelection sel = mesh::selectFilterChain(*p.cfg, ci);
  const auto startTime = std::chrono::system_clock::now();
  const std::uint64_t s = ++seq;
  if (sel.listener == nullptr || sel.chain == nullptr) {
    // No filter chain matches (e.g. an SNI no server names, §5): the connection is closed.
    mesh::AccessLogEntry e;
    e.startTime = startTime;
    e.tcp = true;
    e.flags = mesh::ResponseFlag::kNR;
    e.requestedServerName = ci.sni;
    e.downstreamLocalAddress = fmt::format("{}:{}", p.cfg->podIp, vl.dstPort);
    e.downstreamRemoteAddress = remote;
    appendLog(p, s, e);
    resetAndClose(conn);
    co_return;
  }
  const mesh::FilterChain& chain = *sel.chain;
  switch (chain.kind) {
    case mesh::FilterChainKind::kBlackHole: {
      // §1: REGISTRY_ONLY catch-all: accepted, closed at once, logged UH BlackHoleCluster.
      const mesh::TcpOutcome out = mesh::tcpBlackHoleOutcome();
      mesh::AccessLogEntry e;
      e.startTime = startTime;
      e.tcp = true;
      e.flags = out.flags;
      e.upstreamCluster = out.upstreamCluster;
      e.requestedServerName = ci.sni;
      e.downstreamLocalAddress = fmt::format("{}:{}", vl.dstIp, vl.dstPort);
      e.downstreamRemoteAddress = remote;
      appendLog(p, s, e);
      resetAndClose(conn);
      co_return;
    }
    case mesh::FilterChainKind::kTcpProxy:
    case mesh::FilterChainKind::kPassthrough:
    case mesh::FilterChainKind::kSniPassthrough:
      // Network ext_authz (CUSTOM, §X1), then network RBAC (AuthorizationPolicy on TCP, §S1):
      // a denied connection is closed.
      if (!co_await customAuthzTcp(p, vl, chain, ci, remote, s, startTime) ||
          !authorizeTcp(p, vl, chain, ci, remote, s, startTime)) {
        closeDenied(conn);
        co_return;
      }
      co_await tcpProxy(p, vl, chain, ci, std::move(conn), remote, s, startTime, live);
      co_return;
    case mesh::FilterChainKind::kHttp:
      break;
  }
  if (chain.tls && !(chain.tls->allowPlaintext && !ci.tls)) {
    if (!mesh::chainCredentialReady(chain)) {
      // §5, §11.2: the credential never arrived: after warming the listener is active with a
      // not-ready TLS socket and resets connections at the handshake (curl 35).
      resetAndClose(conn);
      co_return;
    }
    SslContext ctx = serverContextFor(p, chain);
    if (!ctx) {
      resetAndClose(conn);
      co_return;
    }
    live.raw = nullptr;
    std::unique_ptr<TlsStream> stream =
        co_await acceptTls(std::move(conn), std::move(ctx), limits.handshakeTimeout);
    if (!stream) co_return;  // handshake failed (garbage, no client cert under STRICT, …)
    live.downstream = stream.get();
    co_await serveHttpAuto(p, vl, chain, ci, *stream, remote, live);
    co_return;
  }
  TcpStream stream(std::move(conn));
  live.raw = nullptr;
  live.downstream = &stream;
  co_await serveHttpAuto(p, vl, chain, ci, stream, remote, live);
}

Task<void> SimMesh::Impl::serveHttpAuto(Proxy& p, VirtualListener& vl,
                                        const mesh::FilterChain& chain,
                                        const mesh::ConnectionInfo& ci, AsyncStream& stream,
                                        const std::string& remote, LiveSockets& live) {
  // Istio's HTTP connection managers use codec_type AUTO: a connection that opens with the
  // HTTP/2 preface (a sidecar's h2c to a gateway's `http2` port, h2 after TLS) is HTTP/2.
  std::string first;
  {
    const asio::any_io_executor executor = co_await asio::this_coro::executor;
    auto watchdog = Watchdog::create(executor, [&stream] { stream.close(); });
    watchdog->arm(limits.requestTimeout);
    if (co_await stream.waitReadable()) co_return;
    std::array<char, 256> buf{};
    while (matchHttp2Preface(first) == PrefaceMatch::kPartial) {
      const IoResult r = co_await stream.readSome(asio::buffer(buf));
      if (r.ec) break;  // whatever arrived goes to the HTTP/1.1 reader (EOF, garbage)
      first.append(buf.data(), r.bytes);
    }
    watchdog->disarm();
    if (watchdog->fired() || first.empty()) co_return;
  }
  if (matchHttp2Preface(first) == PrefaceMatch::kYes) {
    co_await serveHttp2Connection(p, vl, chain, ci, stream, std::move(first), remote, live);
    co_return;
  }
  ReplayStream replay(stream, std::move(first));
  co_await serveHttp(p, vl, chain, ci, replay, remote, live);
}

Task<void> SimMesh::Impl::serveHttp2Connection(Proxy& p, VirtualListener& vl,
                                               const mesh::FilterChain& chain,
                                               const mesh::ConnectionInfo& ci, AsyncStream& stream,
                                               std::string alreadyRead, const std::string& remote,
                                               LiveSockets& live) {
  // Each stream is handled by its own coroutine (http2.h), with its own per-request socket state
  // (the upstream it uses, headers the filters add), registered so that a kill or shutdown also
  // closes the upstream connection it is using. handleRequest writes an HTTP/1.1 response to the
  // stream it is given; for an HTTP/2 stream that is a capture, whose response goes out as
  // HEADERS and DATA frames.
  if (stream.tlsLayer() != nullptr) downstreamPeer(stream, live);  // read once, shared by streams
  Http2Handler handler = [&](HttpRequest& req,
                             bool& closeAfter) -> Task<std::optional<HttpResponse>> {
    LiveSockets streamLive;
    streamLive.worker = live.worker;
    streamLive.downstream = &stream;
    streamLive.peer = live.peer;
    Worker::Registration registration(*live.worker, vl.proxy,
                                      [&streamLive] { streamLive.closeAll(); });
    ResponseCapture capture(stream);
    const bool keep = !stopping;
    const bool open =
        co_await handleRequest(p, vl, chain, ci, capture, req, remote, keep, streamLive);
    closeAfter = !open || !keep;
    if (capture.written().empty()) co_return std::nullopt;
    auto resp = co_await parseCapturedResponse(capture.written(), req.method);
    if (!resp) co_return std::nullopt;
    co_return std::move(*resp);
  };
  Http2ServerOptions h2;
  h2.idleTimeout = limits.requestTimeout;
  co_await serveHttp2(stream, std::move(alreadyRead), handler, h2);
}

Task<void> SimMesh::Impl::serveHealth(Proxy& p, AsyncStream& stream) {
  HttpReader reader(stream);
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto watchdog = Watchdog::create(executor, [&stream] { stream.close(); });
  for (;;) {
    watchdog->arm(limits.requestTimeout);
    auto req = co_await reader.readRequest();
    if (!req) co_return;
    HttpResponse resp;
    // §7: the agent answers ready once Envoy's listeners are up (not while warming).
    const bool ok = !p.killed && !p.warming;
    if (req->target.rfind("/healthz/ready", 0) == 0) {
      resp.status = ok ? 200 : 503;
    } else {
      resp.status = 404;
    }
    resp.headers = {{"date", httpDate()}, {"content-type", "text/plain"}};
    const std::string wire = serializeResponse(resp, req->method == "HEAD", !req->keepAlive());
    watchdog->arm(limits.writeTimeout);
    const IoResult written = co_await stream.writeAll(asio::buffer(wire));
    if (written.ec) co_return;
    if (!req->keepAlive()) co_return;
  }
}

Result<void> SimMesh::Impl::bindLiteralForwards() {
  for (const auto& pf : portForwards) {
    auto fd = bindLoopback(static_cast<std::uint16_t>(pf.local), true);
    if (!fd) return std::unexpected(fd.error());
    auto vl = std::make_unique<VirtualListener>();
    vl->dstPort = pf.local;
    vl->realPort = static_cast<std::uint16_t>(pf.local);
    vl->forward = pf;
    vl->worker = &pickWorker();
    VirtualListener* raw = vl.get();
    {
      std::lock_guard lock(listenersMu);
      listeners.push_back(std::move(vl));
    }
    startAccepting(*raw, std::move(*fd));
  }
  return {};
}

std::vector<SimMesh::Impl::VirtualListener*> SimMesh::Impl::listenersOf(const Proxy* p) {
  std::lock_guard lock(listenersMu);
  std::vector<VirtualListener*> out;
  for (auto& vl : listeners) {
    if (p == nullptr || vl->proxy == p) out.push_back(vl.get());
  }
  return out;
}

}  // namespace egresslab::sim
