#include "harness/sim/sim_mesh.h"

#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "harness/curl/command.h"
#include "harness/mesh/compile.h"
#include "harness/mesh/decisions.h"
#include "harness/pki/pki.h"
#include "harness/sim/http_codec.h"
#include "harness/sim/net.h"
#include "harness/sim/tls.h"
#include "mocks/httpbin/httpbin_server.h"

namespace egresslab::sim {

SimClock::SimClock(double timeScale) : scale_(timeScale > 0 ? timeScale : 1.0) {}

std::chrono::steady_clock::duration SimClock::real(std::chrono::milliseconds simulated) const {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double, std::milli>(static_cast<double>(simulated.count()) / scale_));
}

namespace {

using Clock = std::chrono::steady_clock;
using mesh::ListenerDirection;

std::uint64_t randomU64() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

std::string newRequestId() {
  const std::uint64_t a = randomU64(), b = randomU64();
  return fmt::format("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", a >> 32, (a >> 16) & 0xffff,
                     a & 0xfff, b >> 52, b & 0xffffffffffffULL);
}

std::string lowerCopy(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A set of sockets in use by one owner, so that stop()/kill can unblock them all.
class ActiveFds {
 public:
  void add(int fd) {
    std::lock_guard lock(mu_);
    fds_.insert(fd);
  }
  void remove(int fd) {
    std::lock_guard lock(mu_);
    fds_.erase(fd);
  }
  void shutdownAll() {
    std::lock_guard lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  std::mutex mu_;
  std::set<int> fds_;
};

// Counts running handler threads so stop() can wait for them.
class ThreadCounter {
 public:
  void enter() {
    std::lock_guard lock(mu_);
    ++n_;
  }
  void leave() {
    std::lock_guard lock(mu_);
    if (--n_ == 0) cv_.notify_all();
  }
  bool waitIdle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

void resetAndClose(Fd& fd) {
  // SO_LINGER 0: close sends RST — what a BlackHole / not-ready TLS socket looks like to curl
  // (exit 35 "Connection reset by peer", §1, §11.2).
  linger l{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  fd.reset();
}

std::string hostOfAuthority(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    return std::string(
        authority.substr(0, close == std::string_view::npos ? authority.size() : close + 1));
  }
  auto colon = authority.rfind(':');
  return std::string(colon == std::string_view::npos ? authority : authority.substr(0, colon));
}

std::string isoNow() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

}  // namespace

// ==================================================================================== Impl
struct SimMesh::Impl {
  struct Proxy;

  // A real listening socket standing for one logical listener: a gateway's port, a sidecar's
  // captured original destination (outbound), or an injected pod's port (inbound).
  struct VirtualListener {
    Proxy* proxy = nullptr;
    ListenerDirection direction = ListenerDirection::kGateway;
    std::string dstIp;
    std::uint32_t dstPort = 0;
    bool health = false;  // a gateway's :15021 status listener (§7)
    Fd fd;
    std::uint16_t realPort = 0;
    std::atomic<bool> listening{false};
    std::thread acceptThread;
    std::mutex mu;  // guards fd transitions (kill/restore/warm)
  };

  struct PooledConn {
    std::unique_ptr<Stream> stream;
    std::unique_ptr<HttpReader> reader;
  };

  struct Proxy {
    const mesh::ProxyConfig* cfg = nullptr;
    std::string display;
    const mesh::WorkloadInstance* pod = nullptr;
    pki::KeyPair meshIdentity;
    ActiveFds fds;
    // Gateways.
    bool gateway = false;
    std::atomic<bool> killed{false};
    std::atomic<bool> ready{true};
    std::atomic<bool> warming{false};
    Clock::time_point warmUntil{};
    int consecutiveOk = 0;
    int consecutiveFail = 0;
    std::optional<model::Probe> probe;
    std::map<std::string, SslCtxPtr> serverCtx;  // by filter chain name
    std::mutex ctxMu;
    // Upstream keep-alive pool, by target+TLS settings.
    std::mutex poolMu;
    std::unordered_map<std::string, std::vector<PooledConn>> pool;
    std::map<std::string, SslCtxPtr> clientCtx;  // by verification/identity key
    std::mutex clientCtxMu;
  };

  struct Mock {
    model::UpstreamSpec spec;
    std::unique_ptr<httpbin::HttpbinServer> server;
  };

  SimOptions options;
  SimClock clock;
  mesh::CompiledMesh compiled;
  const model::Scenario* scenario = nullptr;  // valid during start() only
  std::vector<model::PortForwardSpec> portForwards;
  std::optional<pki::RunDirectory> runDir;
  std::optional<pki::CertificateAuthority> publicCa, scenarioCa, meshCa, unrelatedCa;
  std::string publicCaPem;
  std::filesystem::path scenarioCaPath;
  std::map<std::string, pki::KeyPair> credentials;  // "ns/name" → key pair
  std::string credentialCaPem;  // client CA for MUTUAL gateway servers (the scenario CA)
  std::vector<Mock> mocks;
  std::map<std::string, std::unique_ptr<httpbin::HttpbinServer>> apps;  // "ns/name" → app
  std::vector<std::unique_ptr<Proxy>> proxies;
  Fd refused;  // bound, never listening: connects are refused
  std::uint16_t refusedPort = 0;

  std::mutex listenersMu;
  std::vector<std::unique_ptr<VirtualListener>> listeners;
  std::map<std::string, VirtualListener*> listenerIndex;
  std::vector<std::unique_ptr<VirtualListener>> literalForwards;
  ActiveFds forwardFds;  // connections accepted on literal port-forward ports (`sim up`)

  ThreadCounter handlers;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> seq{0};

  mutable std::mutex logMu;
  std::deque<LogRecord> logs;
  static constexpr std::size_t kMaxLogs = 20000;

  std::mutex proberMu;
  std::condition_variable proberCv;
  std::vector<std::thread> probers;

  // ------------------------------------------------------------------------ lookup helpers
  Proxy* proxyFor(std::string_view ns, std::string_view name) {
    for (auto& p : proxies) {
      if (p->cfg->id.ns == ns && p->cfg->id.name == name) return p.get();
    }
    return nullptr;
  }

  const Mock* mockFor(std::string_view host, std::uint32_t port) const {
    for (const auto& m : mocks) {
      if (m.spec.host == host && m.spec.port == port) return &m;
    }
    return nullptr;
  }

  curl::SocketAddress refusedAddress() const { return {"127.0.0.1", refusedPort}; }

  // ------------------------------------------------------------------------ listeners
  static std::string listenerKey(const Proxy* p, ListenerDirection d, std::string_view ip,
                                 std::uint32_t port, bool health) {
    return fmt::format("{}|{}|{}|{}|{}", p->cfg->id.str(), static_cast<int>(d), ip, port,
                       health ? 1 : 0);
  }

  Result<VirtualListener*> bindListener(Proxy* p, ListenerDirection d, const std::string& ip,
                                        std::uint32_t port, bool health, bool listen) {
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
    vl->fd = std::move(*fd);
    vl->listening = listen;
    VirtualListener* raw = vl.get();
    raw->acceptThread = std::thread([this, raw] { acceptLoop(*raw); });
    listeners.push_back(std::move(vl));
    listenerIndex.emplace(key, raw);
    return raw;
  }

  // Moves a listener between "listening" and "bound but refusing" without changing its port.
  void setListening(VirtualListener& vl, bool on) {
    std::lock_guard lock(vl.mu);
    if (vl.listening == on) return;
    if (on) {
      if (startListening(vl.fd.get())) vl.listening = true;
      return;
    }
    // A listening socket cannot stop listening: close it and bind the same port again,
    // without listen(), so the port stays ours and connects are refused.
    ::shutdown(vl.fd.get(), SHUT_RDWR);
    vl.listening = false;
    auto fresh = bindLoopback(vl.realPort, false);
    if (fresh) {
      // The accept thread still blocks on the old descriptor until it sees the shutdown.
      int old = vl.fd.release();
      vl.fd = std::move(*fresh);
      std::thread([old] { ::close(old); }).detach();
    }
  }

  void acceptLoop(VirtualListener& vl) {
    for (;;) {
      int lfd;
      {
        std::unique_lock lock(vl.mu);
        lfd = vl.fd.get();
      }
      if (stopping) return;
      if (!vl.listening) {
        std::unique_lock lock(proberMu);
        proberCv.wait_for(lock, std::chrono::milliseconds(5));
        continue;
      }
      int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stopping) return;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        // EINVAL after shutdown (kill): wait for the state to change.
        std::unique_lock lock(proberMu);
        proberCv.wait_for(lock, std::chrono::milliseconds(5));
        continue;
      }
      Fd conn(c);
      if (stopping || !vl.listening) continue;
      handlers.enter();
      std::thread([this, &vl, conn = std::move(conn)]() mutable {
        Proxy* p = vl.proxy;
        const int raw = conn.get();
        p->fds.add(raw);
        handleConnection(vl, std::move(conn));
        p->fds.remove(raw);
        handlers.leave();
      }).detach();
    }
  }

  // ------------------------------------------------------------------------ virtual network
  // What serves a logical ip:port when nothing captures the connection (kube-proxy, pod
  // networking, the public internet of the run).
  curl::SocketAddress mapLogical(const std::string& ip, std::uint32_t port,
                                 const mesh::WorkloadInstance* fromPod, int depth = 0) {
    if (depth > 4) return refusedAddress();
    if ((ip == "127.0.0.1" || ip == "::1") && fromPod != nullptr) {
      return podPort(*fromPod, port, /*viaSidecarInbound=*/false);
    }
    for (const auto& w : compiled.registry.workloads) {
      if (w.ip == ip) return podPort(w, port, /*viaSidecarInbound=*/true);
    }
    for (const auto& s : compiled.registry.services) {
      if (s.fromServiceEntry || s.address != ip) continue;
      // kube-proxy: a ready endpoint of the service port (not-ready pods are removed, §7).
      for (const auto& e : s.endpoints) {
        if (e.servicePort != port || !endpointReady(e)) continue;
        return mapLogical(e.address, e.port, nullptr, depth + 1);
      }
      return refusedAddress();
    }
    for (const auto& m : mocks) {
      auto rec = compiled.dns.records.find(m.spec.host);
      if (rec != compiled.dns.records.end() && rec->second == ip && m.spec.port == port) {
        return {"127.0.0.1", m.server->port()};
      }
    }
    return refusedAddress();
  }

  // A pod's own port: a gateway's listener or status port; an injected pod's sidecar inbound;
  // otherwise its application.
  curl::SocketAddress podPort(const mesh::WorkloadInstance& w, std::uint32_t port,
                              bool viaSidecarInbound) {
    Proxy* p = proxyFor(w.ns, w.name);
    if (w.gateway) {
      if (p == nullptr) return refusedAddress();
      if (port == 15021) {
        auto vl = bindListener(p, ListenerDirection::kGateway, w.ip, 15021, true,
                               !p->killed && !p->warming);
        return vl ? curl::SocketAddress{"127.0.0.1", (*vl)->realPort} : refusedAddress();
      }
      for (const auto& l : p->cfg->listeners) {
        if (l.direction == ListenerDirection::kGateway && l.port == port) {
          auto vl = bindListener(p, ListenerDirection::kGateway, w.ip, port, false,
                                 !p->killed && !p->warming);
          return vl ? curl::SocketAddress{"127.0.0.1", (*vl)->realPort} : refusedAddress();
        }
      }
      // §11.1: no listener on that port → connection refused.
      return refusedAddress();
    }
    if (w.injected && viaSidecarInbound && p != nullptr) {
      auto vl = bindListener(p, ListenerDirection::kSidecarInbound, w.ip, port, false, true);
      return vl ? curl::SocketAddress{"127.0.0.1", (*vl)->realPort} : refusedAddress();
    }
    auto app = apps.find(w.ns + "/" + w.name);
    if (app == apps.end()) return refusedAddress();
    return {"127.0.0.1", app->second->port()};
  }

  curl::SocketAddress mapFromPod(const mesh::WorkloadInstance& w, const curl::SocketAddress& dst) {
    const bool loopback = dst.ip == "127.0.0.1" || dst.ip == "::1";
    Proxy* p = proxyFor(w.ns, w.name);
    if (w.injected && !loopback && p != nullptr) {
      // iptables REDIRECT: the sidecar's outbound listener sees the original destination.
      auto vl = bindListener(p, ListenerDirection::kSidecarOutbound, dst.ip,
                             static_cast<std::uint32_t>(dst.port), false, true);
      return vl ? curl::SocketAddress{"127.0.0.1", (*vl)->realPort} : refusedAddress();
    }
    return mapLogical(dst.ip, static_cast<std::uint32_t>(dst.port), &w);
  }

  curl::SocketAddress mapFromHost(const curl::SocketAddress& dst) {
    if (dst.ip == "127.0.0.1" || dst.ip == "::1") {
      // kubectl port-forward: local port → service port → targetPort on one pod.
      for (const auto& pf : portForwards) {
        if (pf.local != static_cast<std::uint32_t>(dst.port)) continue;
        return portForwardTargetOf(pf);
      }
      return refusedAddress();
    }
    // The host reaches only the public internet: the upstream mocks.
    for (const auto& m : mocks) {
      auto rec = compiled.dns.records.find(m.spec.host);
      if (rec != compiled.dns.records.end() && rec->second == dst.ip &&
          m.spec.port == static_cast<std::uint32_t>(dst.port)) {
        return {"127.0.0.1", m.server->port()};
      }
    }
    return refusedAddress();
  }

  curl::SocketAddress portForwardTargetOf(const model::PortForwardSpec& pf) {
    for (const auto& s : compiled.registry.services) {
      if (s.fromServiceEntry || s.ns != pf.serviceNamespace || s.name != pf.serviceName) continue;
      for (const auto& sp : s.ports) {
        if (sp.port != pf.remote) continue;
        // kubectl port-forward picks one pod of the service, ready or not.
        for (const auto& e : s.endpoints) {
          if (e.servicePort != sp.port) continue;
          for (const auto& w : compiled.registry.workloads) {
            if (w.ip == e.address) return podPort(w, e.port, true);
          }
        }
      }
    }
    return refusedAddress();
  }

  std::optional<std::string> resolveFromHost(const std::string& name) const {
    if (name == "localhost") return "127.0.0.1";
    // The host resolves only public names: the upstreams (DESIGN.md virtual network).
    for (const auto& m : mocks) {
      if (lowerCopy(m.spec.host) == lowerCopy(name)) {
        auto rec = compiled.dns.records.find(m.spec.host);
        if (rec != compiled.dns.records.end()) return rec->second;
      }
    }
    return std::nullopt;
  }

  std::optional<std::string> resolveFromPod(const mesh::WorkloadInstance& w,
                                            const std::string& name) const {
    if (name == "localhost") return "127.0.0.1";
    return mesh::resolveName(compiled.dns, w.ns, name);  // §3
  }

  // ------------------------------------------------------------------------ readiness
  bool endpointReady(const mesh::Endpoint& e) {
    if (e.target.kind == mesh::EndpointTarget::Kind::kGatewayWorkload) {
      Proxy* p = proxyFor(e.target.ns, e.target.name);
      if (p != nullptr) return e.ready && p->ready && !p->killed;
    }
    return e.ready;
  }

  // Where an endpoint of a cluster really is, from `proxy`'s point of view.
  curl::SocketAddress endpointAddress(Proxy& proxy, const mesh::Cluster& cluster,
                                      const mesh::Endpoint& e,
                                      const mesh::ConnectionInfo* original) {
    using K = mesh::EndpointTarget::Kind;
    if (cluster.type == mesh::ClusterType::kOriginalDst && original != nullptr) {
      return mapLogical(original->destinationAddress, original->localPort, nullptr);
    }
    if (proxy.cfg->id.kind == mesh::ProxyKind::kSidecar && e.address == "127.0.0.1") {
      // Sidecar inbound → the application in the same pod.
      auto app = apps.find(proxy.cfg->id.str());
      if (app != apps.end()) return {"127.0.0.1", app->second->port()};
      return refusedAddress();
    }
    switch (e.target.kind) {
      case K::kUpstream:
        if (const Mock* m = mockFor(e.target.host, e.target.port)) {
          return {"127.0.0.1", m->server->port()};
        }
        return refusedAddress();
      case K::kGatewayWorkload:
      case K::kWorkload:
        for (const auto& w : compiled.registry.workloads) {
          if (w.ns == e.target.ns && w.name == e.target.name) return podPort(w, e.port, true);
        }
        return refusedAddress();
      case K::kUnknown:
        break;
    }
    return refusedAddress();
  }

  // ------------------------------------------------------------------------ logging
  void appendLog(Proxy& p, std::uint64_t s, const mesh::AccessLogEntry& entry) {
    if (!p.cfg->accessLog.enabled) return;  // no meshConfig.accessLogFile → no lines (§9)
    LogRecord r;
    r.seq = s;
    r.proxy = p.display;
    r.requestId = entry.requestId;
    r.flags = mesh::formatResponseFlags(entry.flags, p.cfg->version);
    r.line = mesh::formatAccessLog(p.cfg->accessLog.format, entry, p.cfg->version);
    std::lock_guard lock(logMu);
    logs.push_back(std::move(r));
    if (logs.size() > kMaxLogs) logs.pop_front();
  }

  // ------------------------------------------------------------------------ connections
  void handleConnection(VirtualListener& vl, Fd conn) {
    Proxy& p = *vl.proxy;
    setSocketTimeouts(conn.get(), std::chrono::seconds(60), std::chrono::seconds(60));
    if (vl.health) {
      serveHealth(p, std::make_unique<PlainStream>(std::move(conn)));
      return;
    }
    const std::string remote = peerAddress(conn.get());
    const ClientHelloInfo hello = peekClientHello(conn.get(), std::chrono::seconds(5));
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
      return;
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
        return;
      }
      case mesh::FilterChainKind::kTcpProxy:
      case mesh::FilterChainKind::kPassthrough:
      case mesh::FilterChainKind::kSniPassthrough:
        tcpProxy(p, vl, chain, ci, std::move(conn), remote, s, startTime);
        return;
      case mesh::FilterChainKind::kHttp:
        break;
    }
    std::unique_ptr<Stream> stream;
    if (chain.tls && !(chain.tls->allowPlaintext && !ci.tls)) {
      if (!mesh::chainCredentialReady(chain)) {
        // §5, §11.2: the credential never arrived: after warming the listener is active with
        // a not-ready TLS socket and resets connections at the handshake (curl 35).
        resetAndClose(conn);
        return;
      }
      SSL_CTX* ctx = serverContextFor(p, chain);
      if (ctx == nullptr) {
        resetAndClose(conn);
        return;
      }
      stream = acceptTls(std::move(conn), ctx, std::chrono::seconds(10));
      if (!stream) return;  // handshake failed (garbage, no client cert under STRICT, …)
      setSocketTimeouts(stream->fd(), std::chrono::seconds(60), std::chrono::seconds(60));
    } else {
      stream = std::make_unique<PlainStream>(std::move(conn));
    }
    serveHttp(p, vl, chain, ci, *stream, remote);
  }

  SSL_CTX* serverContextFor(Proxy& p, const mesh::FilterChain& chain) {
    std::lock_guard lock(p.ctxMu);
    auto it = p.serverCtx.find(chain.name);
    if (it != p.serverCtx.end()) return it->second.get();
    const mesh::DownstreamTls& t = *chain.tls;
    Result<SslCtxPtr> ctx = invalidInput("unsupported downstream TLS");
    switch (t.mode) {
      case mesh::DownstreamTlsMode::kIstioMutual:
        // §6: mesh certificates both ways (sidecar inbound STRICT, ISTIO_MUTUAL servers).
        ctx = makeServerContext(p.meshIdentity, meshCa->certPem());
        break;
      case mesh::DownstreamTlsMode::kSimple:
      case mesh::DownstreamTlsMode::kOptionalMutual:
      case mesh::DownstreamTlsMode::kMutual: {
        if (!t.credential) break;
        auto cred = credentials.find(t.credential->ns + "/" + t.credential->name);
        if (cred == credentials.end()) break;
        ctx = makeServerContext(cred->second, t.mode == mesh::DownstreamTlsMode::kMutual
                                                  ? credentialCaPem
                                                  : std::string());
        break;
      }
      default:
        break;
    }
    if (!ctx) return nullptr;
    SSL_CTX* raw = ctx->get();
    p.serverCtx.emplace(chain.name, std::move(*ctx));
    return raw;
  }

  void serveHealth(Proxy& p, std::unique_ptr<Stream> stream) {
    HttpReader reader(*stream);
    for (;;) {
      auto req = reader.readRequest();
      if (!req) return;
      HttpResponse resp;
      // §7: the agent answers ready once Envoy's listeners are up (not while warming).
      const bool ok = !p.killed && !p.warming;
      if (req->target.rfind("/healthz/ready", 0) == 0) {
        resp.status = ok ? 200 : 503;
      } else {
        resp.status = 404;
      }
      resp.headers = {{"date", isoNow()}, {"content-type", "text/plain"}};
      if (!stream->writeAll(serializeResponse(resp, req->method == "HEAD", !req->keepAlive()))) {
        return;
      }
      if (!req->keepAlive()) return;
    }
  }

  void sendLocal(Stream& out, const HttpRequest* req, int status, const std::string& body,
                 const std::string& location, bool close) {
    HttpResponse r;
    r.status = status;
    r.headers = {{"date", isoNow()}, {"server", "istio-envoy"}};
    if (!location.empty()) r.headers.emplace_back("location", location);
    if (!body.empty()) r.headers.emplace_back("content-type", "text/plain");
    r.body = body;
    out.writeAll(serializeResponse(r, req != nullptr && req->method == "HEAD", close));
  }

  void serveHttp(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                 const mesh::ConnectionInfo& ci, Stream& stream, const std::string& remote) {
    HttpReader reader(stream);
    for (;;) {
      auto req = reader.readRequest();
      if (!req) {
        switch (req.error()) {
          case CodecError::kClosed:
          case CodecError::kIo:
            return;
          case CodecError::kHeadersTooLarge:
            sendLocal(stream, nullptr, 431, "", "", true);
            return;
          case CodecError::kBodyTooLarge:
            sendLocal(stream, nullptr, 413, "", "", true);
            return;
          case CodecError::kBadMessage:
            sendLocal(stream, nullptr, 400, "", "", true);
            return;
        }
        return;
      }
      const bool keep = req->keepAlive() && !stopping;
      if (!handleRequest(p, vl, chain, ci, stream, *req, remote, keep)) return;
      if (!keep) return;
    }
  }

  // One request through one proxy. False when the downstream connection must close.
  bool handleRequest(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                     const mesh::ConnectionInfo& ci, Stream& stream, HttpRequest& req,
                     const std::string& remote, bool keep) {
    const auto t0 = Clock::now();
    const std::uint64_t s = ++seq;
    mesh::AccessLogEntry e;
    e.startTime = std::chrono::system_clock::now();
    e.method = req.method;
    e.path = req.target;
    e.protocol = req.version;
    e.bytesReceived = req.body.size();
    e.requestedServerName = ci.sni;
    e.downstreamLocalAddress = fmt::format(
        "{}:{}", vl.direction == ListenerDirection::kSidecarOutbound ? vl.dstIp : p.cfg->podIp,
        vl.dstPort);
    e.downstreamRemoteAddress = remote;
    if (const std::string* ua = findHeader(req.headers, "user-agent")) e.userAgent = *ua;
    if (const std::string* xff = findHeader(req.headers, "x-forwarded-for")) {
      e.xForwardedFor = *xff;
    }
    // Envoy generates x-request-id when absent and forwards it hop to hop.
    const std::string* rid = findHeader(req.headers, "x-request-id");
    if (rid == nullptr) setHeader(req.headers, "x-request-id", newRequestId());
    e.requestId = *findHeader(req.headers, "x-request-id");
    std::string authority;
    if (const std::string* h = findHeader(req.headers, "host")) authority = *h;
    if (authority.empty()) {
      // HTTP/1.1 without Host: Envoy answers 400 (missing host header).
      e.responseCode = 400;
      e.flags = mesh::ResponseFlag::kDPE;
      e.responseCodeDetails = "missing_host_header";
      e.durationMs = 0;
      appendLog(p, s, e);
      sendLocal(stream, &req, 400, "", "", true);
      return false;
    }
    e.authority = authority;

    mesh::RequestView view;
    view.authority = authority;
    view.path = req.target;
    view.method = req.method;
    view.scheme = stream.tls() ? "https" : "http";
    view.headers = &req.headers;
    const mesh::RouteDecision d = mesh::routeRequest(*p.cfg, chain, view, randomU64());
    e.routeName = d.routeName;

    auto finishLocal = [&](const mesh::ProxyResponse& r) {
      e.responseCode = r.status;
      e.flags = r.flags;
      e.responseCodeDetails = r.details;
      e.upstreamTransportFailureReason = r.upstreamTransportFailureReason;
      e.bytesSent = r.body.size();
      e.durationMs = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
      appendLog(p, s, e);
      HttpResponse out;
      out.status = static_cast<int>(r.status);
      out.headers = {{"date", isoNow()}, {"server", "istio-envoy"}};
      if (!r.location.empty()) out.headers.emplace_back("location", r.location);
      if (!r.body.empty()) out.headers.emplace_back("content-type", "text/plain");
      out.body = r.body;
      return stream.writeAll(serializeResponse(out, req.method == "HEAD", !keep));
    };

    if (d.kind != mesh::RouteDecision::Kind::kForward) return finishLocal(d.response);

    const mesh::ClusterResolution resolved = mesh::resolveCluster(
        *p.cfg, d.cluster->cluster, [this](const mesh::Endpoint& ep) { return endpointReady(ep); });
    if (resolved.cluster != nullptr) e.upstreamCluster = resolved.cluster->name;
    if (resolved.localReply) return finishLocal(*resolved.localReply);

    // The upstream request: the downstream one with the route's rewrites and header ops.
    HttpRequest up;
    up.method = req.method;
    up.target = d.upstreamPath.empty() ? req.target : d.upstreamPath;
    up.version = "HTTP/1.1";
    up.headers = req.headers;
    up.body = req.body;
    if (!d.upstreamAuthority.empty() && d.upstreamAuthority != authority) {
      setHeader(up.headers, "host", d.upstreamAuthority);
    }
    setHeader(up.headers, "x-forwarded-proto", std::string(view.scheme));
    if (p.gateway) {
      // Edge proxies append the client address to x-forwarded-for.
      const std::string client = hostOfAuthority(remote);
      const std::string* xff = findHeader(up.headers, "x-forwarded-for");
      setHeader(up.headers, "x-forwarded-for", xff ? *xff + ", " + client : client);
    }
    applyHeaderOps(up.headers, d.forward->requestHeaders);
    applyHeaderOps(up.headers, d.cluster->requestHeaders);

    std::optional<std::chrono::milliseconds> tryTimeout = d.forward->retry.perTryTimeout;
    if (d.forward->timeout && d.forward->timeout->count() > 0 &&
        (!tryTimeout || *d.forward->timeout < *tryTimeout)) {
      tryTimeout = d.forward->timeout;
    }
    mesh::ProxyResponse final;
    std::optional<HttpResponse> upstreamResponse;
    for (std::uint32_t attempt = 1;; ++attempt) {
      const mesh::Endpoint* ep = mesh::pickEndpoint(resolved, randomU64());
      if (ep == nullptr && resolved.cluster->type != mesh::ClusterType::kOriginalDst) {
        final = mesh::noHealthyUpstreamReply();
        break;
      }
      mesh::Endpoint originalDst;
      if (ep == nullptr) {
        originalDst.address = ci.destinationAddress;
        originalDst.port = ci.localPort;
        ep = &originalDst;
      }
      const auto tls = mesh::upstreamTlsFor(*resolved.cluster, *ep, authority, d.upstreamAuthority);
      const curl::SocketAddress target = endpointAddress(p, *resolved.cluster, *ep, &ci);
      e.upstreamHost = fmt::format("{}:{}", upstreamHostIp(*ep), ep->port);
      HttpResponse resp;
      const mesh::AttemptOutcome outcome =
          attemptUpstream(p, *resolved.cluster, target, tls, up, tryTimeout, resp);
      const mesh::RetryStep step =
          mesh::afterAttempt(d.forward->retry, attempt, outcome, p.cfg->version);
      if (step.retry) continue;
      final = step.final;
      if (outcome.kind == mesh::AttemptOutcome::Kind::kResponse) upstreamResponse = std::move(resp);
      break;
    }
    if (!final.viaUpstream || !upstreamResponse) return finishLocal(final);

    HttpResponse& r = *upstreamResponse;
    e.responseCode = static_cast<std::uint32_t>(r.status);
    e.flags = final.flags;
    e.responseCodeDetails = final.details.empty() ? "via_upstream" : final.details;
    e.bytesSent = r.body.size();
    const auto elapsed = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
    e.durationMs = elapsed;
    e.upstreamServiceTimeMs = elapsed;
    appendLog(p, s, e);
    // Envoy (Istio) overwrites `server` and reports the upstream time.
    setHeader(r.headers, "server", "istio-envoy");
    setHeader(r.headers, "x-envoy-upstream-service-time", std::to_string(elapsed));
    applyHeaderOps(r.headers, d.forward->responseHeaders);
    applyHeaderOps(r.headers, d.cluster->responseHeaders);
    const bool headOnly = req.method == "HEAD";
    if (headOnly) {
      if (!findHeader(r.headers, "content-length")) {
        r.headers.emplace_back("content-length", "0");
      }
    }
    return stream.writeAll(serializeResponse(r, headOnly, !keep));
  }

  std::string upstreamHostIp(const mesh::Endpoint& ep) const {
    // STRICT_DNS endpoints are names; the log shows the resolved address.
    auto rec = compiled.dns.records.find(ep.address);
    return rec != compiled.dns.records.end() ? rec->second : ep.address;
  }

  static void applyHeaderOps(HeaderList& h, const mesh::HeaderOps& ops) {
    for (const auto& name : ops.remove) removeHeader(h, name);
    for (const auto& [k, v] : ops.set) setHeader(h, k, v);
    for (const auto& [k, v] : ops.add) h.emplace_back(k, v);
  }

  // ------------------------------------------------------------------------ upstream
  SSL_CTX* clientContextFor(Proxy& p, const mesh::EffectiveUpstreamTls& tls) {
    std::string trust;
    std::string key;
    switch (tls.verify) {
      case mesh::ServerVerification::kNone:
        key = "none";
        break;
      case mesh::ServerVerification::kSystemCa:
      case mesh::ServerVerification::kCaFile:
        // A caCertificates file path names a file inside the pod; the simulation trusts the
        // run's public CA for it (docs/fidelity-sim.md).
        trust = publicCaPem;
        key = "public";
        break;
      case mesh::ServerVerification::kMeshCa:
        trust = meshCa->certPem();
        key = "mesh";
        break;
    }
    if (tls.presentMeshClientCert) key += "+meshcert";
    std::lock_guard lock(p.clientCtxMu);
    auto it = p.clientCtx.find(key);
    if (it != p.clientCtx.end()) return it->second.get();
    auto ctx = makeClientContext(trust, tls.presentMeshClientCert
                                            ? std::optional<pki::KeyPair>(p.meshIdentity)
                                            : std::nullopt);
    if (!ctx) return nullptr;
    SSL_CTX* raw = ctx->get();
    p.clientCtx.emplace(key, std::move(*ctx));
    return raw;
  }

  static std::string poolKey(const curl::SocketAddress& target,
                             const std::optional<mesh::EffectiveUpstreamTls>& tls) {
    if (!tls) return fmt::format("{}:{}|plain", target.ip, target.port);
    std::string k = fmt::format("{}:{}|tls|{}|{}|{}|", target.ip, target.port, tls->sni,
                                static_cast<int>(tls->verify), tls->presentMeshClientCert);
    for (const auto& n : tls->verifySubjectAltNames) k += n + ",";
    return k;
  }

  std::optional<PooledConn> takePooled(Proxy& p, const std::string& key) {
    std::lock_guard lock(p.poolMu);
    auto it = p.pool.find(key);
    if (it == p.pool.end() || it->second.empty()) return std::nullopt;
    PooledConn c = std::move(it->second.back());
    it->second.pop_back();
    return c;
  }

  void returnPooled(Proxy& p, const std::string& key, PooledConn c) {
    if (stopping || p.killed) return;
    std::lock_guard lock(p.poolMu);
    auto& v = p.pool[key];
    if (v.size() < 64) v.push_back(std::move(c));
  }

  // Opens a connection per the cluster's TLS; sets `failure` on error.
  std::optional<PooledConn> openUpstream(Proxy& p, const mesh::Cluster& cluster,
                                         const curl::SocketAddress& target,
                                         const std::optional<mesh::EffectiveUpstreamTls>& tls,
                                         mesh::AttemptOutcome& failure) {
    auto fd =
        connectTcp(target.ip, static_cast<std::uint16_t>(target.port), cluster.connectTimeout);
    if (!fd) {
      // Refused, unreachable or a connect timeout are all connect failures (UF) to Envoy; no TLS
      // was involved, so no transport failure reason is reported.
      failure.kind = mesh::AttemptOutcome::Kind::kConnectFailure;
      return std::nullopt;
    }
    PooledConn c;
    if (tls) {
      SSL_CTX* ctx = clientContextFor(p, *tls);
      if (ctx == nullptr) {
        failure.kind = mesh::AttemptOutcome::Kind::kConnectFailure;
        return std::nullopt;
      }
      std::vector<std::string> names, spiffe;
      for (const auto& n : tls->verifySubjectAltNames) {
        (n.rfind("spiffe://", 0) == 0 ? spiffe : names).push_back(n);
      }
      ClientHandshake hs =
          connectTls(std::move(*fd), ctx, tls->sni, names, spiffe, std::chrono::seconds(10));
      if (!hs.stream) {
        failure.kind = mesh::AttemptOutcome::Kind::kConnectFailure;
        failure.transportFailureReason = hs.failureReason;
        return std::nullopt;
      }
      c.stream = std::move(hs.stream);
    } else {
      c.stream = std::make_unique<PlainStream>(std::move(*fd));
    }
    c.reader = std::make_unique<HttpReader>(*c.stream);
    return c;
  }

  mesh::AttemptOutcome attemptUpstream(Proxy& p, const mesh::Cluster& cluster,
                                       const curl::SocketAddress& target,
                                       const std::optional<mesh::EffectiveUpstreamTls>& tls,
                                       const HttpRequest& req,
                                       std::optional<std::chrono::milliseconds> timeout,
                                       HttpResponse& out) {
    const std::string key = poolKey(target, tls);
    const std::string wire = serializeRequest(req);
    const auto readTimeout = timeout.value_or(std::chrono::milliseconds(120000));
    for (int fresh = 0; fresh < 2; ++fresh) {
      std::optional<PooledConn> c = fresh == 0 ? takePooled(p, key) : std::nullopt;
      const bool reused = c.has_value();
      if (!c) {
        mesh::AttemptOutcome failure;
        c = openUpstream(p, cluster, target, tls, failure);
        if (!c) return failure;
      }
      const int fd = c->stream->fd();
      p.fds.add(fd);
      setSocketTimeouts(fd, readTimeout, std::chrono::seconds(60));
      bool wrote = c->stream->writeAll(wire);
      std::expected<HttpResponse, CodecError> resp =
          wrote ? c->reader->readResponse(req.method) : std::unexpected(CodecError::kIo);
      p.fds.remove(fd);
      if (!resp) {
        if (reused && (resp.error() == CodecError::kClosed || !wrote)) continue;  // stale
        mesh::AttemptOutcome o;
        const bool timedOut = resp.error() == CodecError::kIo && errno == EAGAIN;
        o.kind = timedOut ? mesh::AttemptOutcome::Kind::kTimeout
                          : mesh::AttemptOutcome::Kind::kConnectionReset;
        return o;
      }
      mesh::AttemptOutcome o;
      o.kind = mesh::AttemptOutcome::Kind::kResponse;
      o.status = static_cast<std::uint32_t>(resp->status);
      o.body = resp->body;
      const bool reusable = resp->keepAlive() && c->reader->buffered() == 0;
      out = std::move(*resp);
      if (reusable) returnPooled(p, key, std::move(*c));
      return o;
    }
    mesh::AttemptOutcome o;
    o.kind = mesh::AttemptOutcome::Kind::kConnectionReset;
    return o;
  }

  // ------------------------------------------------------------------------ tcp_proxy
  void tcpProxy(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                const mesh::ConnectionInfo& ci, Fd conn, const std::string& remote, std::uint64_t s,
                std::chrono::system_clock::time_point startTime) {
    mesh::AccessLogEntry e;
    e.startTime = startTime;
    e.tcp = true;
    e.requestedServerName = ci.sni;
    e.downstreamLocalAddress = fmt::format("{}:{}", vl.dstIp, vl.dstPort);
    e.downstreamRemoteAddress = remote;
    e.upstreamCluster = chain.statPrefix.empty() ? chain.cluster : chain.statPrefix;
    const auto t0 = Clock::now();
    auto finish = [&] {
      e.durationMs = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
      appendLog(p, s, e);
    };
    curl::SocketAddress target = refusedAddress();
    std::optional<mesh::EffectiveUpstreamTls> tls;
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
        return;
      }
      const mesh::Endpoint* ep = mesh::pickEndpoint(r, randomU64());
      if (ep == nullptr) {
        target = mapLogical(ci.destinationAddress, ci.localPort, nullptr);
      } else {
        target = endpointAddress(p, *r.cluster, *ep, &ci);
        e.upstreamHost = fmt::format("{}:{}", upstreamHostIp(*ep), ep->port);
        tls = mesh::upstreamTlsFor(*r.cluster, *ep, ci.sni);
      }
    }
    auto fd =
        connectTcp(target.ip, static_cast<std::uint16_t>(target.port), std::chrono::seconds(10));
    if (!fd) {
      e.flags = mesh::ResponseFlag::kUF;
      finish();
      resetAndClose(conn);
      return;
    }
    std::unique_ptr<Stream> upstream;
    if (tls) {
      mesh::AttemptOutcome failure;
      SSL_CTX* ctx = clientContextFor(p, *tls);
      std::vector<std::string> names, spiffe;
      for (const auto& n : tls->verifySubjectAltNames) {
        (n.rfind("spiffe://", 0) == 0 ? spiffe : names).push_back(n);
      }
      ClientHandshake hs =
          ctx ? connectTls(std::move(*fd), ctx, tls->sni, names, spiffe, std::chrono::seconds(10))
              : ClientHandshake{};
      if (!hs.stream) {
        e.flags = mesh::ResponseFlag::kUF;
        e.upstreamTransportFailureReason = hs.failureReason;
        finish();
        resetAndClose(conn);
        return;
      }
      upstream = std::move(hs.stream);
    } else {
      upstream = std::make_unique<PlainStream>(std::move(*fd));
    }
    PlainStream down(std::move(conn));
    p.fds.add(upstream->fd());
    const auto [rx, tx] = splice(down, *upstream);
    p.fds.remove(upstream->fd());
    e.bytesReceived = rx;
    e.bytesSent = tx;
    finish();
  }

  // Copies bytes both ways until either side closes. Returns (downstream→upstream,
  // upstream→downstream) byte counts.
  static std::pair<std::uint64_t, std::uint64_t> splice(Stream& a, Stream& b) {
    std::uint64_t ab = 0, ba = 0;
    char buf[32768];
    auto pending = [](Stream& s) {
      auto* t = dynamic_cast<TlsStream*>(&s);
      return t != nullptr && SSL_pending(t->ssl()) > 0;
    };
    for (;;) {
      pollfd fds[2] = {{a.fd(), POLLIN, 0}, {b.fd(), POLLIN, 0}};
      if (!pending(a) && !pending(b)) {
        int n = ::poll(fds, 2, 300000);
        if (n <= 0) return {ab, ba};
      } else {
        fds[0].revents = pending(a) ? POLLIN : 0;
        fds[1].revents = pending(b) ? POLLIN : 0;
      }
      if (fds[0].revents != 0) {
        long n = a.read(buf, sizeof buf);
        if (n <= 0 || !b.writeAll(std::string_view(buf, static_cast<std::size_t>(n)))) {
          b.shutdown();
          return {ab, ba};
        }
        ab += static_cast<std::uint64_t>(n);
      }
      if (fds[1].revents != 0) {
        long n = b.read(buf, sizeof buf);
        if (n <= 0 || !a.writeAll(std::string_view(buf, static_cast<std::size_t>(n)))) {
          a.shutdown();
          return {ab, ba};
        }
        ba += static_cast<std::uint64_t>(n);
      }
    }
  }

  // ------------------------------------------------------------------------ probes
  // One readiness probe of a gateway pod (§7). True = success.
  bool runProbe(Proxy& p) {
    if (p.killed) return false;
    if (!p.probe) return !p.warming;
    const model::Probe& probe = *p.probe;
    const auto timeout = probeTimeout(probe);
    switch (probe.kind) {
      case model::Probe::Kind::kHttpGet: {
        const curl::SocketAddress a = podPort(*p.pod, probe.port, false);
        auto fd = connectTcp(a.ip, static_cast<std::uint16_t>(a.port), timeout);
        if (!fd) return false;
        PlainStream s(std::move(*fd));
        setSocketTimeouts(s.fd(), timeout, timeout);
        HttpRequest r;
        r.method = "GET";
        r.target = probe.path.empty() ? "/" : probe.path;
        r.headers = {{"host", fmt::format("{}:{}", p.pod->ip, probe.port)},
                     {"user-agent", "kube-probe/1.28"},
                     {"connection", "close"}};
        if (!s.writeAll(serializeRequest(r))) return false;
        HttpReader reader(s);
        auto resp = reader.readResponse("GET");
        // kubelet: 200–399 is success.
        return resp && resp->status >= 200 && resp->status < 400;
      }
      case model::Probe::Kind::kTcpSocket: {
        const curl::SocketAddress a = podPort(*p.pod, probe.port, false);
        return connectTcp(a.ip, static_cast<std::uint16_t>(a.port), timeout).has_value();
      }
      case model::Probe::Kind::kExec:
        return runExecProbe(p, probe, timeout);
    }
    return false;
  }

  std::chrono::milliseconds probeTimeout(const model::Probe& probe) const {
    // timeoutSeconds scaled like every probe clock, but never below 250 ms of real time (or the
    // unscaled value when smaller): a loopback request must not fail for lack of CPU.
    const auto unscaled = std::chrono::milliseconds(std::max(1, probe.timeoutSeconds) * 1000);
    const auto scaled = std::chrono::duration_cast<std::chrono::milliseconds>(clock.real(unscaled));
    return std::max(scaled, std::min(unscaled, std::chrono::milliseconds(250)));
  }

  // §7: `sh -c 'curl … && curl …'` run inside the gateway pod with curl semantics (no -f →
  // only transport errors fail). Gateway pods are not captured (§1).
  bool runExecProbe(Proxy& p, const model::Probe& probe, std::chrono::milliseconds timeout) {
    std::string script;
    const auto& cmd = probe.command;
    if (cmd.size() >= 3 &&
        (cmd[0] == "/bin/sh" || cmd[0] == "sh" || cmd[0] == "/bin/bash" || cmd[0] == "bash") &&
        cmd[1] == "-c") {
      script = cmd[2];
    } else {
      std::vector<std::string> words(cmd.begin(), cmd.end());
      if (words.empty() || (words[0] != "curl" && words[0] != "/usr/bin/curl")) return false;
      words.erase(words.begin());
      auto parsed = curl::parseCurlArguments(words);
      return parsed && runProbeCurl(p, *parsed, timeout);
    }
    std::size_t from = 0;
    for (;;) {
      const std::size_t amp = script.find("&&", from);
      std::string part =
          script.substr(from, amp == std::string::npos ? std::string::npos : amp - from);
      auto parsed = curl::parseCurlCommandLine(part);
      // Anything other than a curl the simulation can run counts as a failing command.
      if (!parsed) return false;
      if (!runProbeCurl(p, *parsed, timeout)) return false;
      if (amp == std::string::npos) return true;
      from = amp + 2;
    }
  }

  bool runProbeCurl(Proxy& p, curl::CurlCommand command, std::chrono::milliseconds timeout) {
    curl::ExecOptions o;
    o.systemCaPem = publicCaPem;
    const mesh::WorkloadInstance* pod = p.pod;
    o.resolve = [this, pod](const std::string& name) { return resolveFromPod(*pod, name); };
    o.mapConnection = [this, pod](const curl::SocketAddress& dst) {
      return std::optional<curl::SocketAddress>(
          mapLogical(dst.ip, static_cast<std::uint32_t>(dst.port), pod));
    };
    o.defaultTimeout = timeout;
    if (!command.maxTime || command.maxTime->count() == 0 || *command.maxTime > timeout) {
      command.maxTime = timeout;
    }
    return curl::execute(command, o).exitCode == 0;
  }

  void recordProbe(Proxy& p, bool ok) {
    const model::Probe* probe = p.probe ? &*p.probe : nullptr;
    const int successThreshold = probe ? std::max(1, probe->successThreshold) : 1;
    const int failureThreshold = probe ? std::max(1, probe->failureThreshold) : 3;
    if (ok) {
      p.consecutiveFail = 0;
      if (++p.consecutiveOk >= successThreshold) p.ready = true;
    } else {
      p.consecutiveOk = 0;
      if (++p.consecutiveFail >= failureThreshold) p.ready = false;
    }
  }

  void endWarmingIfDue(Proxy& p) {
    if (!p.warming || Clock::now() < p.warmUntil) return;
    p.warming = false;
    if (p.killed) return;
    std::lock_guard lock(listenersMu);
    for (auto& vl : listeners) {
      if (vl->proxy == &p) setListening(*vl, true);
    }
  }

  void proberLoop(Proxy& p) {
    const model::Probe* probe = p.probe ? &*p.probe : nullptr;
    const auto period = clock.real(
        std::chrono::milliseconds(std::max(1, probe ? probe->periodSeconds : 10) * 1000));
    auto next = Clock::now() + period;
    for (;;) {
      {
        std::unique_lock lock(proberMu);
        auto wake = next;
        if (p.warming && p.warmUntil < wake) wake = p.warmUntil;
        proberCv.wait_until(lock, wake, [&] { return stopping.load(); });
        if (stopping) return;
      }
      endWarmingIfDue(p);
      if (Clock::now() < next) continue;
      next = Clock::now() + period;
      if (p.killed) continue;
      recordProbe(p, runProbe(p));
    }
  }

  // ------------------------------------------------------------------------ faults
  Result<void> killGateway(Proxy& p) {
    p.killed = true;
    p.ready = false;  // the pod is gone: its endpoint is removed at once (§7)
    {
      std::lock_guard lock(listenersMu);
      for (auto& vl : listeners) {
        if (vl->proxy == &p) setListening(*vl, false);
      }
    }
    p.fds.shutdownAll();
    std::lock_guard lock(p.poolMu);
    p.pool.clear();
    return {};
  }

  Result<void> restoreGateway(Proxy& p) {
    p.killed = false;
    p.consecutiveOk = 0;
    p.consecutiveFail = 0;
    if (!p.warming) {
      std::lock_guard lock(listenersMu);
      for (auto& vl : listeners) {
        if (vl->proxy == &p) setListening(*vl, true);
      }
    }
    // A new pod is NotReady until its probe passes.
    p.ready = false;
    recordProbe(p, runProbe(p));
    return {};
  }

  // ------------------------------------------------------------------------ setup
  Result<void> mintPki(const model::Scenario& sc) {
    auto dir = pki::RunDirectory::create("egresslab-sim");
    if (!dir) return std::unexpected(dir.error());
    runDir.emplace(std::move(*dir));
    auto pub = pki::CertificateAuthority::create("EgressLab Public Root CA");
    auto scen = pki::CertificateAuthority::create("EgressLab Scenario CA " + sc.name);
    auto meshRoot = pki::CertificateAuthority::create("cluster.local");
    auto other = pki::CertificateAuthority::create("Unrelated CA");
    for (auto* r : {&pub, &scen, &meshRoot, &other}) {
      if (!*r) return std::unexpected(r->error());
    }
    publicCa = *pub;
    scenarioCa = *scen;
    meshCa = *meshRoot;
    unrelatedCa = *other;
    publicCaPem = publicCa->certPem();
    credentialCaPem = scenarioCa->certPem();
    auto caFile = runDir->write("ca.pem", scenarioCa->certPem());
    if (!caFile) return std::unexpected(caFile.error());
    scenarioCaPath = *caFile;
    // Credentials: the scenario's minted secrets, then Secret manifests (§5 keys).
    for (const auto& s : sc.secrets) {
      pki::KeyPair kp;
      if (!s.certFile.empty()) {
        auto slurp = [](const std::filesystem::path& f) -> std::optional<std::string> {
          std::ifstream in(f);
          if (!in) return std::nullopt;
          std::stringstream ss;
          ss << in.rdbuf();
          return ss.str();
        };
        auto cert = slurp(s.certFile);
        auto key = slurp(s.keyFile);
        if (!cert || !key) {
          return invalidInput(fmt::format("secret {}/{}: cannot read {} / {}", s.ns, s.name,
                                          s.certFile.string(), s.keyFile.string()),
                              s.pos);
        }
        kp.certPem = *cert;
        kp.keyPem = *key;
        kp.chainPem = *cert;
      } else {
        auto minted = scenarioCa->issueServer(s.hosts);
        if (!minted) return std::unexpected(minted.error());
        kp = *minted;
      }
      credentials[s.ns + "/" + s.name] = kp;
    }
    for (const auto& s : sc.resources.secrets) {
      const std::string ns = s.meta.ns.empty() ? "default" : s.meta.ns;
      if (credentials.contains(ns + "/" + s.meta.name)) continue;
      auto get = [&](const char* a, const char* b) -> std::string {
        if (auto it = s.data.find(a); it != s.data.end()) return it->second;
        if (auto it = s.data.find(b); it != s.data.end()) return it->second;
        return {};
      };
      pki::KeyPair kp;
      kp.certPem = get("tls.crt", "cert");
      kp.keyPem = get("tls.key", "key");
      kp.chainPem = kp.certPem;
      if (!kp.certPem.empty() && !kp.keyPem.empty()) credentials[ns + "/" + s.meta.name] = kp;
    }
    return {};
  }

  Result<void> startMocks(const model::Scenario& sc) {
    for (const auto& u : sc.upstreams) {
      httpbin::HttpbinOptions o;
      o.host = "127.0.0.1";
      o.port = 0;
      o.hostname = u.name.empty() ? u.host : u.name;
      o.threads = 48;
      if (u.tls) {
        auto cert = publicCa->issueServer({u.host});
        if (!cert) return std::unexpected(cert.error());
        o.tls = *cert;
        auto bad = unrelatedCa->issueServer({u.host});
        if (!bad) return std::unexpected(bad.error());
        o.badCert = *bad;
      }
      auto server = httpbin::HttpbinServer::start(std::move(o));
      if (!server) return std::unexpected(server.error());
      mocks.push_back({u, std::move(*server)});
    }
    // Each scenario workload's application: a small httpbin answering its own name.
    for (const auto& w : compiled.registry.workloads) {
      if (w.gateway) continue;
      httpbin::HttpbinOptions o;
      o.hostname = w.name;
      o.threads = 4;
      auto server = httpbin::HttpbinServer::start(std::move(o));
      if (!server) return std::unexpected(server.error());
      apps[w.ns + "/" + w.name] = std::move(*server);
    }
    return {};
  }

  Result<void> startProxies() {
    // Display names: the bare name unless two proxies share it (DESIGN.md expectations).
    std::map<std::string, int> nameCount;
    for (const auto& cfg : compiled.proxies) ++nameCount[cfg.id.name];
    for (const auto& cfg : compiled.proxies) {
      auto p = std::make_unique<Proxy>();
      p->cfg = &cfg;
      p->display = nameCount[cfg.id.name] > 1 ? cfg.id.str() : cfg.id.name;
      p->pod = compiled.findWorkload(cfg.id.ns, cfg.id.name);
      p->gateway = cfg.id.kind != mesh::ProxyKind::kSidecar;
      const std::string sa = p->pod != nullptr && !p->pod->serviceAccount.empty()
                                 ? p->pod->serviceAccount
                                 : cfg.id.name;
      auto id = meshCa->issueWorkload(cfg.id.ns, sa);
      if (!id) return std::unexpected(id.error());
      p->meshIdentity = *id;
      if (p->gateway) {
        p->probe = cfg.readinessProbe;
        // §11.2: a gateway pod that starts while a credentialName secret is missing refuses on
        // every port and is NotReady until Envoy's initial fetch times out.
        bool missing = false;
        for (const auto& l : cfg.listeners) {
          for (const auto& fc : l.filterChains) missing |= !mesh::chainCredentialReady(fc);
        }
        if (missing) {
          p->warming = true;
          p->warmUntil = Clock::now() + clock.real(options.warmingTimeout);
        }
      }
      proxies.push_back(std::move(p));
    }
    // Gateways bind their listeners now (sidecar listeners are bound lazily per destination).
    for (auto& p : proxies) {
      if (!p->gateway || p->pod == nullptr) continue;
      for (const auto& l : p->cfg->listeners) {
        if (l.direction != ListenerDirection::kGateway) continue;
        auto vl = bindListener(p.get(), ListenerDirection::kGateway, p->pod->ip, l.port, false,
                               !p->warming);
        if (!vl) return std::unexpected(vl.error());
      }
      auto health =
          bindListener(p.get(), ListenerDirection::kGateway, p->pod->ip, 15021, true, !p->warming);
      if (!health) return std::unexpected(health.error());
    }
    return {};
  }

  void startReadiness() {
    // The mesh is up the way `kubectl rollout status` sees it: one probe round now, then the
    // periodic prober (initialDelaySeconds has passed by the time a rollout completes).
    probeRound(/*initial=*/true);
    if (!options.periodicProbes) return;
    for (auto& p : proxies) {
      if (!p->gateway || p->pod == nullptr) continue;
      Proxy* raw = p.get();
      probers.emplace_back([this, raw] { proberLoop(*raw); });
    }
  }

  // One probe for every gateway, in parallel. `initial`: the rollout's first probe — a pod that
  // has never passed is not Ready, whatever the failure threshold.
  void probeRound(bool initial = false) {
    std::vector<std::thread> ts;
    for (auto& p : proxies) {
      if (!p->gateway || p->pod == nullptr) continue;
      endWarmingIfDue(*p);
      Proxy* raw = p.get();
      ts.emplace_back([this, raw, initial] {
        const bool ok = runProbe(*raw);
        recordProbe(*raw, ok);
        if (initial && !ok) raw->ready = false;
      });
    }
    for (auto& t : ts) t.join();
  }

  Result<void> bindLiteralForwards() {
    for (const auto& pf : portForwards) {
      auto fd = bindLoopback(static_cast<std::uint16_t>(pf.local), true);
      if (!fd) return std::unexpected(fd.error());
      auto vl = std::make_unique<VirtualListener>();
      vl->dstPort = pf.local;
      vl->realPort = static_cast<std::uint16_t>(pf.local);
      vl->fd = std::move(*fd);
      vl->listening = true;
      VirtualListener* raw = vl.get();
      const model::PortForwardSpec spec = pf;
      raw->acceptThread = std::thread([this, raw, spec] {
        for (;;) {
          int c = ::accept4(raw->fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
          if (c < 0) {
            if (stopping) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;
          }
          handlers.enter();
          std::thread([this, c, spec] {
            // kubectl port-forward is a TCP tunnel to the pod's port.
            PlainStream down{Fd(c)};
            forwardFds.add(c);
            const curl::SocketAddress t = portForwardTargetOf(spec);
            auto up = connectTcp(t.ip, static_cast<std::uint16_t>(t.port), std::chrono::seconds(5));
            if (up) {
              PlainStream upstream(std::move(*up));
              splice(down, upstream);
            }
            forwardFds.remove(c);
            handlers.leave();
          }).detach();
        }
      });
      literalForwards.push_back(std::move(vl));
    }
    return {};
  }

  void shutdown() {
    if (stopping.exchange(true)) return;
    proberCv.notify_all();
    for (auto& t : probers) {
      if (t.joinable()) t.join();
    }
    {
      std::lock_guard lock(listenersMu);
      for (auto& vl : listeners) ::shutdown(vl->fd.get(), SHUT_RDWR);
      for (auto& vl : literalForwards) ::shutdown(vl->fd.get(), SHUT_RDWR);
    }
    for (auto& p : proxies) p->fds.shutdownAll();
    for (auto& m : mocks) m.server->stop();
    for (auto& [k, a] : apps) a->stop();
    // Handlers blocked on a connection see the shutdown; give them a moment to unwind.
    // Every blocking socket a handler uses is registered, so this converges quickly; the bound
    // (30 s) only guards against a bug, since handlers must not outlive the Impl they use.
    for (int i = 0; i < 600 && !handlers.waitIdle(std::chrono::milliseconds(50)); ++i) {
      for (auto& p : proxies) p->fds.shutdownAll();
      forwardFds.shutdownAll();
    }
    for (auto& vl : listeners) {
      if (vl->acceptThread.joinable()) vl->acceptThread.join();
    }
    for (auto& vl : literalForwards) {
      if (vl->acceptThread.joinable()) vl->acceptThread.join();
    }
    for (auto& p : proxies) {
      std::lock_guard lock(p->poolMu);
      p->pool.clear();
    }
  }
};

// ==================================================================================== SimMesh
SimMesh::SimMesh(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SimMesh::~SimMesh() { stop(); }

void SimMesh::stop() {
  if (impl_) impl_->shutdown();
}

Result<std::unique_ptr<SimMesh>> SimMesh::start(const model::Scenario& scenario,
                                                const SimOptions& options) {
  ignoreSigpipe();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->clock = SimClock(options.timeScale);
  auto compiled = mesh::compileMesh(scenario);
  if (!compiled) return std::unexpected(compiled.error());
  impl->compiled = std::move(*compiled);
  for (auto& p : impl->compiled.proxies) p.reindex();
  impl->portForwards = scenario.portForwards;
  auto refused = bindLoopback(0, false);
  if (!refused) return std::unexpected(refused.error());
  impl->refusedPort = localPort(refused->get());
  impl->refused = std::move(*refused);
  std::unique_ptr<SimMesh> mesh(new SimMesh(std::move(impl)));
  Impl& m = *mesh->impl_;
  if (auto ok = m.mintPki(scenario); !ok) return std::unexpected(ok.error());
  if (auto ok = m.startMocks(scenario); !ok) return std::unexpected(ok.error());
  if (auto ok = m.startProxies(); !ok) return std::unexpected(ok.error());
  if (options.bindLiteralPortForwards) {
    if (auto ok = m.bindLiteralForwards(); !ok) return std::unexpected(ok.error());
  }
  m.startReadiness();
  return mesh;
}

const mesh::CompiledMesh& SimMesh::compiled() const { return impl_->compiled; }
const std::string& SimMesh::publicCaPem() const { return impl_->publicCaPem; }
const std::filesystem::path& SimMesh::scenarioCaPath() const { return impl_->scenarioCaPath; }

Result<curl::ExecOptions> SimMesh::execOptionsFor(const std::optional<std::string>& from) const {
  Impl* m = impl_.get();
  curl::ExecOptions o;
  o.systemCaPem = m->publicCaPem;
  if (!from) {
    o.resolve = [m](const std::string& name) { return m->resolveFromHost(name); };
    o.mapConnection = [m](const curl::SocketAddress& dst) {
      return std::optional<curl::SocketAddress>(m->mapFromHost(dst));
    };
    return o;
  }
  const auto slash = from->find('/');
  if (slash == std::string::npos) {
    return invalidInput(fmt::format("from: \"{}\" must be NAMESPACE/POD", *from));
  }
  const mesh::WorkloadInstance* pod =
      m->compiled.findWorkload(from->substr(0, slash), from->substr(slash + 1));
  if (pod == nullptr) {
    return invalidInput(
        fmt::format("from: no pod {} in the scenario (workloads: or a gateway)", *from));
  }
  o.resolve = [m, pod](const std::string& name) { return m->resolveFromPod(*pod, name); };
  o.mapConnection = [m, pod](const curl::SocketAddress& dst) {
    return std::optional<curl::SocketAddress>(m->mapFromPod(*pod, dst));
  };
  return o;
}

std::vector<LogRecord> SimMesh::logsFor(const std::string& requestId) const {
  std::vector<LogRecord> out;
  {
    std::lock_guard lock(impl_->logMu);
    for (const auto& r : impl_->logs) {
      if (r.requestId == requestId) out.push_back(r);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const LogRecord& a, const LogRecord& b) { return a.seq < b.seq; });
  return out;
}

std::vector<LogRecord> SimMesh::allLogs() const {
  std::lock_guard lock(impl_->logMu);
  return {impl_->logs.begin(), impl_->logs.end()};
}

Result<void> SimMesh::fault(const model::FaultSpec& f) {
  Impl& m = *impl_;
  if (f.targetKind == model::FaultSpec::TargetKind::kGateway) {
    Impl::Proxy* p = m.proxyFor(f.gatewayNamespace, f.gatewayName);
    if (p == nullptr || !p->gateway) {
      return invalidInput(fmt::format("fault target {}: no such gateway in the scenario", f.target),
                          f.pos);
    }
    if (f.action == "kill") return m.killGateway(*p);
    if (f.action == "restore") return m.restoreGateway(*p);
    return invalidInput(fmt::format("gateway faults are kill|restore, not \"{}\"", f.action),
                        f.pos);
  }
  nlohmann::json spec = {{"action", f.action}};
  if (f.action == "latency") spec["ms"] = f.ms;
  if (f.action == "status") {
    spec["code"] = f.code;
    spec["percent"] = f.percent;
  }
  auto parsed = httpbin::parseFault(spec);
  if (!parsed) {
    Error e = parsed.error();
    e.where = f.pos;
    return std::unexpected(e);
  }
  bool any = false;
  for (auto& mock : m.mocks) {
    if (mock.spec.host != f.upstreamHost) continue;
    if (f.upstreamPort && mock.spec.port != *f.upstreamPort) continue;
    if (auto ok = mock.server->applyFault(*parsed); !ok) {
      Error e = ok.error();
      e.where = f.pos;
      return std::unexpected(e);
    }
    any = true;
  }
  if (!any) {
    return invalidInput(fmt::format("fault target {}: no such upstream in the scenario", f.target),
                        f.pos);
  }
  // A fault changes the upstream's connections: pooled ones must not outlive it.
  for (auto& p : m.proxies) {
    std::lock_guard lock(p->poolMu);
    p->pool.clear();
  }
  return {};
}

bool SimMesh::gatewayReady(std::string_view nsName) const {
  const auto slash = nsName.find('/');
  if (slash == std::string_view::npos) return false;
  Impl::Proxy* p = impl_->proxyFor(nsName.substr(0, slash), nsName.substr(slash + 1));
  return p != nullptr && p->ready && !p->killed;
}

void SimMesh::probeNow() { impl_->probeRound(); }

std::optional<curl::SocketAddress> SimMesh::portForwardTarget(std::uint32_t localPort) const {
  for (const auto& pf : impl_->portForwards) {
    if (pf.local == localPort) return impl_->portForwardTargetOf(pf);
  }
  return std::nullopt;
}

std::vector<std::string> SimMesh::endpoints() const {
  std::vector<std::string> out;
  Impl& m = *impl_;
  for (const auto& pf : m.portForwards) {
    const curl::SocketAddress t = m.portForwardTargetOf(pf);
    out.push_back(fmt::format("port-forward svc/{}/{} {}:{} → 127.0.0.1:{}{}", pf.serviceNamespace,
                              pf.serviceName, pf.local, pf.remote, t.port,
                              m.options.bindLiteralPortForwards
                                  ? fmt::format(" (also 127.0.0.1:{})", pf.local)
                                  : std::string()));
  }
  for (const auto& p : m.proxies) {
    if (!p->gateway) continue;
    for (const auto& l : p->cfg->listeners) {
      if (l.direction != ListenerDirection::kGateway || p->pod == nullptr) continue;
      const curl::SocketAddress a = m.podPort(*p->pod, l.port, false);
      out.push_back(fmt::format("gateway {} port {} (service port {}) → 127.0.0.1:{}",
                                p->cfg->id.str(), l.port, l.servicePort, a.port));
    }
  }
  for (const auto& mock : m.mocks) {
    out.push_back(fmt::format("upstream {}:{} ({}) → {}", mock.spec.host, mock.spec.port,
                              mock.spec.tls ? "https" : "http", mock.server->url()));
  }
  out.push_back(fmt::format("scenario CA: {}", m.scenarioCaPath.string()));
  return out;
}

}  // namespace egresslab::sim
