#include "mocks/httpbin/httpbin_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

#include "mocks/httpbin/handlers.h"
#include "mocks/httpbin/http_server.h"

namespace egresslab::httpbin {
namespace {

using Clock = std::chrono::steady_clock;

// Sleeps that end early when the listener generation that started them is being torn down, so
// `down` never waits for a /delay/10 to finish.
class StopSignal {
 public:
  bool waitFor(std::chrono::nanoseconds d) {
    std::unique_lock lock(mutex_);
    return !cv_.wait_for(lock, d, [&] { return stopped_; });
  }
  void trigger() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

double percentRoll() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::uniform_real_distribution<double>(0.0, 100.0)(rng);
}

std::string endpointText(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    port = ntohs(in->sin_port);
    return fmt::format("{}:{}", buf, port);
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    port = ntohs(in6->sin6_port);
    return fmt::format("[{}]:{}", buf, port);
  }
  return "?";
}

std::string opensslErrors() {
  std::string out;
  while (const unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out += out.empty() ? "" : "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

// Loads a certificate chain (leaf first) and key into `ctx`, TLS 1.2 minimum. Returns an error
// message, empty on success.
std::string configureTls(SSL_CTX& ctx, const pki::KeyPair& pair) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  const std::string& chain = pair.chainPem.empty() ? pair.certPem : pair.chainPem;
  BIO* bio = BIO_new_mem_buf(chain.data(), static_cast<int>(chain.size()));
  bool first = true;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    const long ok =
        first ? SSL_CTX_use_certificate(&ctx, cert) : SSL_CTX_add1_chain_cert(&ctx, cert);
    X509_free(cert);
    if (ok != 1) {
      BIO_free(bio);
      return "cannot use the TLS certificate: " + opensslErrors();
    }
    first = false;
  }
  BIO_free(bio);
  ERR_clear_error();  // PEM_read_bio_X509 leaves "no start line" at the end of the chain
  if (first) return "no PEM certificate found in the TLS certificate";
  BIO* keyBio = BIO_new_mem_buf(pair.keyPem.data(), static_cast<int>(pair.keyPem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(keyBio, nullptr, nullptr, nullptr);
  BIO_free(keyBio);
  if (key == nullptr) return "cannot read the TLS private key: " + opensslErrors();
  const int ok = SSL_CTX_use_PrivateKey(&ctx, key);
  EVP_PKEY_free(key);
  if (ok != 1 || SSL_CTX_check_private_key(&ctx) != 1) {
    return "the TLS private key does not match the certificate: " + opensslErrors();
  }
  return {};
}

// The listener of the connection-level faults: accepts every connection, then
//   kReset      closes it at once with SO_LINGER 0: the client sees a TCP RST, no response;
//   kClose      sends a FIN at once: the client sees the connection closed before any byte;
//   kBlackhole  holds it open and answers nothing, until the fault ends.
// Connections it holds (close: until the peer closes too; blackhole: until then or the end) are
// read and the bytes dropped; at most kMaxHeld, beyond that it stops accepting, so new
// connects hang in the backlog.
class RawListener {
 public:
  enum class Behaviour { kReset, kClose, kBlackhole };
  static constexpr std::size_t kMaxHeld = 4096;

  static Result<std::unique_ptr<RawListener>> start(const sockaddr_storage& addr,
                                                    Behaviour behaviour,
                                                    std::function<void(std::string)> log) {
    const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return environmentError(fmt::format("socket: {}", std::strerror(errno)));
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    const socklen_t len = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 || listen(fd, 1024) != 0) {
      const int err = errno;
      close(fd);
      return environmentError(
          fmt::format("cannot listen on {}: {}", endpointText(addr), std::strerror(err)));
    }
    const int wake = eventfd(0, EFD_CLOEXEC);
    return std::unique_ptr<RawListener>(new RawListener(fd, wake, behaviour, std::move(log)));
  }
  ~RawListener() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = write(wake_, &one, sizeof one);
    thread_.join();
    for (const int held : held_) close(held);
    close(fd_);
    close(wake_);
  }

 private:
  RawListener(int fd, int wake, Behaviour behaviour, std::function<void(std::string)> log)
      : fd_(fd), wake_(wake), behaviour_(behaviour), log_(std::move(log)), thread_([this] {
          run();
        }) {}

  void run() {
    std::vector<pollfd> fds;
    while (true) {
      const bool accepting = held_.size() < kMaxHeld;
      fds.clear();
      fds.push_back({wake_, POLLIN, 0});
      fds.push_back({fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
      for (const int held : held_) fds.push_back({held, POLLIN, 0});
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents != 0) return;
      // Held connections: what the peer sends is read and dropped; its close ends ours.
      std::vector<int> still;
      for (std::size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) {
          still.push_back(fds[i].fd);
          continue;
        }
        char sink[4096];
        const ssize_t n = recv(fds[i].fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
          still.push_back(fds[i].fd);
        } else {
          close(fds[i].fd);
        }
      }
      held_ = std::move(still);
      if ((fds[1].revents & POLLIN) == 0) continue;
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      const int conn = accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
      if (conn < 0) continue;
      switch (behaviour_) {
        case Behaviour::kReset: {
          const linger hard{.l_onoff = 1, .l_linger = 0};
          setsockopt(conn, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
          close(conn);
          break;
        }
        case Behaviour::kClose:
          // A FIN before any byte; the connection is dropped once the peer closes too (closing
          // with its request unread would turn the FIN into a reset).
          shutdown(conn, SHUT_WR);
          held_.push_back(conn);
          break;
        case Behaviour::kBlackhole:
          held_.push_back(conn);
          break;
      }
      if (log_) log_(endpointText(peer));
    }
  }

  int fd_;
  int wake_;
  Behaviour behaviour_;
  std::function<void(std::string)> log_;
  std::vector<int> held_;  // kBlackhole; touched by the thread, then by the destructor
  std::thread thread_;
};

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

struct HttpbinServer::Impl {
  enum class Mode { kServe, kDown, kReset, kClose, kBlackhole };
  // The certificate served: the configured one, or a fault's (bad-cert, cert …).
  enum class CertMode { kValid, kBad, kExpired, kWrongHost, kRotate };

  HttpbinOptions options;
  std::atomic<int> port{0};  // read by port() without the mutex; rewritten on a restart

  mutable std::mutex mutex;  // listener state and fault bookkeeping; never taken by handlers
  Mode mode = Mode::kDown;
  CertMode cert = CertMode::kValid;
  bool stopped = false;
  std::unique_ptr<detail::HttpServer> server;
  std::unique_ptr<SSL_CTX, SslCtxFree> sslCtx;
  std::shared_ptr<StopSignal> signal;
  sockaddr_storage boundAddr{};
  std::unique_ptr<RawListener> rawListener;
  std::optional<pki::KeyPair> badCertPair;
  std::optional<pki::KeyPair> faultCertPair;  // kExpired, kWrongHost, kRotate

  // Read by handlers on every request.
  std::atomic<int> latencyMs{-1};  // -1 = no latency fault
  std::atomic<int> statusCode{0};  // 0 = no status fault
  std::atomic<int> statusPercent{100};
  ServedLog served;  // served_log.h

  void log(const std::string& line) const {
    if (options.accessLog) options.accessLog(line);
  }

  detail::HttpServerOptions serverOptions(const std::shared_ptr<StopSignal>& stopSignal) {
    detail::HttpServerOptions o;
    o.host = options.host;
    o.port = port;
    o.limits.maxBody = detail::kMaxBodySize;
    o.limits.maxWorkers = static_cast<size_t>(std::max(1, options.threads));
    o.limits.maxConnections = static_cast<size_t>(std::max(1, options.maxConnections));
    o.limits.ioThreads = 2;
    o.limits.idleTimeout = options.idleTimeout;
    o.limits.headerTimeout = options.headerTimeout;
    o.limits.bodyTimeout = options.bodyTimeout;
    o.limits.handshakeTimeout = options.headerTimeout;
    auto context = std::make_shared<detail::ServeContext>();
    context->hostname = options.hostname;
    context->tls = options.tls.has_value();
    context->wait = [stopSignal](std::chrono::nanoseconds d) { return stopSignal->waitFor(d); };
    o.handler = [this, context, stopSignal](httplib::Request& req, httplib::Response& res) {
      return serveOne(*context, *stopSignal, latencyMs.load(), req, res);
    };
    // Requests that need no wait are answered on the I/O thread: no hand-off to a worker. The
    // inline context's `wait` throws, so an endpoint that waits but that detail::mayWait misses
    // answers 500 (loudly) instead of stalling an I/O thread.
    auto quick = std::make_shared<detail::ServeContext>(*context);
    quick->wait = [](std::chrono::nanoseconds d) -> bool {
      if (d.count() <= 0) return true;
      throw std::logic_error("an endpoint that waits ran on an I/O thread (see detail::mayWait)");
    };
    o.inlineHandler = [this, quick, stopSignal](
                          httplib::Request& req,
                          httplib::Response& res) -> std::optional<std::string> {
      const int latency = latencyMs.load();
      if (latency > 0 || detail::mayWait(req)) return std::nullopt;
      return serveOne(*quick, *stopSignal, latency, req, res);
    };
    // Requests refused before a handler ran (framing, limits): go-httpbin's JSON error shape.
    o.refuse = [](const httplib::Request& req, httplib::Response& res, int status,
                  const std::string& detail) {
      detail::writeError(res, status,
                         detail == "http: request body too large"
                             ? "error parsing request body: http: request body too large"
                             : detail);
      detail::addCorsHeaders(req, res);
    };
    o.log = [this](const httplib::Request& req, const httplib::Response& res,
                   const detail::ExchangeInfo& info) {
      if (!options.accessLog) return;
      const std::string ua = req.get_header_value("User-Agent");
      log(fmt::format("{} {}:{} \"{} {} {}\" {} {} {:.1f}ms sni={} fault={} ua=\"{}\"",
                      options.hostname, req.remote_addr, req.remote_port,
                      req.method.empty() ? "-" : req.method, req.target.empty() ? "-" : req.target,
                      req.version.empty() ? "HTTP/1.1" : req.version, res.status, info.bytes,
                      info.ms, info.sni != nullptr ? info.sni : "-",
                      info.note.empty() ? "-" : info.note, ua.empty() ? "-" : ua));
    };
    o.notice = [this](const std::string& line) {
      log(fmt::format("{} notice: {}", options.hostname, line));
    };
    return o;
  }

  // One request, with the latency fault as read by the caller (-1 = none). Returns the faults
  // applied.
  std::string serveOne(const detail::ServeContext& context, StopSignal& stopSignal, int latency,
                       httplib::Request& req, httplib::Response& res) {
    detail::normaliseRequest(req);
    std::string fault = serveWithFaults(context, stopSignal, latency, req, res);
    detail::addCorsHeaders(req, res);
    served.record(req.get_header_value("x-request-id"));
    return fault;
  }

  // Applies the latency and status faults, then the endpoint. Returns the faults applied.
  std::string serveWithFaults(const detail::ServeContext& context, StopSignal& stopSignal,
                              int latency, const httplib::Request& req, httplib::Response& res) {
    std::string fault;
    if (const int ms = latency; ms >= 0) {
      fault = "latency";
      if (ms > 0 && !stopSignal.waitFor(std::chrono::milliseconds(ms))) {
        detail::writeError(res, 503, "server is stopping");
        return fault;
      }
    }
    if (const int code = statusCode.load(); code > 0 && percentRoll() < statusPercent.load()) {
      fault += fault.empty() ? "status" : ",status";
      detail::writeError(res, code, "injected by the mock's status fault");
      return fault;
    }
    detail::serveRequest(context, req, res);
    return fault;
  }

  Result<void> startServing(CertMode withCert) {
    auto stopSignal = std::make_shared<StopSignal>();
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx;
    if (options.tls) {
      ctx.reset(SSL_CTX_new(TLS_server_method()));
      if (!ctx) return invalidInput("cannot create the TLS context: " + opensslErrors());
      const pki::KeyPair& pair = withCert == CertMode::kValid ? *options.tls
                                 : withCert == CertMode::kBad ? *badCertPair
                                                              : *faultCertPair;
      if (std::string error = configureTls(*ctx, pair); !error.empty()) return invalidInput(error);
    }
    detail::HttpServerOptions o = serverOptions(stopSignal);
    o.tls = ctx.get();
    auto started = detail::HttpServer::start(std::move(o));
    if (!started) return std::unexpected(started.error());
    server = std::move(*started);
    sslCtx = std::move(ctx);
    signal = stopSignal;
    port = server->port();
    boundAddr = server->boundAddress();
    return {};
  }

  void stopListener() {
    if (server) {
      signal->trigger();  // handlers asleep in /delay or a latency fault give up first
      server->stop();     // then every connection is cut, idle keep-alive ones included
      server.reset();
      sslCtx.reset();
      signal.reset();
    }
    rawListener.reset();
  }

  // Puts the data port into `next` with certificate `nextCert` (restarting the listener only
  // when something changed, or when `force`: a new certificate of the same mode).
  Result<void> setListener(Mode next, CertMode nextCert, bool force = false) {
    if (next == mode && nextCert == cert && !force) return {};
    stopListener();
    mode = Mode::kDown;
    cert = nextCert;
    if (next == Mode::kServe) {
      if (auto started = startServing(nextCert); !started) return started;
    } else if (next != Mode::kDown) {
      const auto behaviour = next == Mode::kReset   ? RawListener::Behaviour::kReset
                             : next == Mode::kClose ? RawListener::Behaviour::kClose
                                                    : RawListener::Behaviour::kBlackhole;
      const std::string note = next == Mode::kReset   ? "reset"
                               : next == Mode::kClose ? "close"
                                                      : "blackhole";
      auto listener =
          RawListener::start(boundAddr, behaviour, [this, note](const std::string& peer) {
            log(fmt::format("{} {} \"-\" 000 0 0.0ms sni=- fault={} ua=\"-\"", options.hostname,
                            peer, note));
          });
      if (!listener) return std::unexpected(listener.error());
      rawListener = std::move(*listener);
    }
    mode = next;
    return {};
  }

  // A certificate of the server's own CA for a cert fault: expired (valid until yesterday), for
  // another host, or a fresh one (rotate).
  Result<void> mintFaultCert(Fault::Cert which) {
    if (!options.issuer) {
      return invalidInput(
          "cert faults need the CA that issued this server's certificate; this mock was started "
          "without one (the simulator and the kind backend pass it; use bad-cert for a "
          "certificate from an unrelated CA)");
    }
    pki::LeafRequest request;
    std::vector<std::string> names = options.certNames;
    if (names.empty()) names = {options.hostname, "localhost", "127.0.0.1"};
    if (which == Fault::Cert::kWrongHost) names = {"wrong-host.invalid"};
    request.commonName = names.front();
    for (const auto& n : names) {
      const bool ip = n.find_first_not_of("0123456789.") == std::string::npos ||
                      n.find(':') != std::string::npos;
      (ip ? request.ipAddresses : request.dnsNames).push_back(n);
    }
    if (which == Fault::Cert::kExpired) {
      request.notBeforeOffset = -std::chrono::hours(24 * 30);
      request.validFor = std::chrono::hours(24 * 29);  // ended a day ago
    }
    auto leaf = options.issuer->issue(request);
    if (!leaf) return std::unexpected(leaf.error());
    faultCertPair = std::move(*leaf);
    return {};
  }

  Result<void> ensureBadCert() {
    if (badCertPair) return {};
    auto ca = pki::CertificateAuthority::create("EgressLab unrelated CA (bad-cert fault)");
    if (!ca) return std::unexpected(ca.error());
    std::vector<std::string> names{options.hostname, "localhost", "127.0.0.1"};
    if (options.host != "127.0.0.1" && options.host != "localhost") names.push_back(options.host);
    auto leaf = ca->issueServer(names);
    if (!leaf) return std::unexpected(leaf.error());
    badCertPair = std::move(*leaf);
    return {};
  }
};

HttpbinServer::HttpbinServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpbinServer::~HttpbinServer() { stop(); }

Result<std::unique_ptr<HttpbinServer>> HttpbinServer::start(HttpbinOptions options) {
  if (options.port < 0 || options.port > 65535) {
    return invalidInput(fmt::format("port {} is not in [0, 65535]", options.port));
  }
  if (options.threads < 1) return invalidInput("threads must be at least 1");
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->port = impl->options.port;
  impl->badCertPair = impl->options.badCert;
  {
    std::lock_guard lock(impl->mutex);
    if (auto started = impl->setListener(Impl::Mode::kServe, Impl::CertMode::kValid); !started) {
      return std::unexpected(started.error());
    }
  }
  return std::unique_ptr<HttpbinServer>(new HttpbinServer(std::move(impl)));
}

std::string HttpbinServer::host() const { return impl_->options.host; }
int HttpbinServer::port() const { return impl_->port; }
bool HttpbinServer::tls() const { return impl_->options.tls.has_value(); }
const std::string& HttpbinServer::hostname() const { return impl_->options.hostname; }

const ServedLog& HttpbinServer::served() const { return impl_->served; }

std::string HttpbinServer::url() const {
  return fmt::format("{}://{}:{}", tls() ? "https" : "http", bracketed(host()), port());
}

Result<void> HttpbinServer::applyFault(const Fault& fault) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->stopped) return environmentError("the httpbin mock has been stopped");
  using Action = Fault::Action;
  using Mode = Impl::Mode;
  using CertMode = Impl::CertMode;
  switch (fault.action) {
    case Action::kUp:
      impl_->latencyMs = -1;
      impl_->statusCode = 0;
      return impl_->setListener(Mode::kServe, CertMode::kValid);
    case Action::kDown:
      return impl_->setListener(Mode::kDown, impl_->cert);
    case Action::kReset:
      return impl_->setListener(Mode::kReset, impl_->cert);
    case Action::kClose:
      return impl_->setListener(Mode::kClose, impl_->cert);
    case Action::kBlackhole:
      return impl_->setListener(Mode::kBlackhole, impl_->cert);
    case Action::kBadCert:
      if (!impl_->options.tls) {
        return invalidInput("bad-cert needs an HTTPS upstream; this mock serves plain HTTP");
      }
      if (auto minted = impl_->ensureBadCert(); !minted) return minted;
      return impl_->setListener(impl_->mode, CertMode::kBad);
    case Action::kCert: {
      if (!impl_->options.tls) {
        return invalidInput("cert faults need an HTTPS upstream; this mock serves plain HTTP");
      }
      if (auto minted = impl_->mintFaultCert(fault.cert); !minted) return minted;
      const CertMode next = fault.cert == Fault::Cert::kExpired     ? CertMode::kExpired
                            : fault.cert == Fault::Cert::kWrongHost ? CertMode::kWrongHost
                                                                    : CertMode::kRotate;
      return impl_->setListener(impl_->mode, next, /*force=*/true);
    }
    case Action::kLatency:
      if (fault.ms < 0 || fault.ms > kMaxFaultLatencyMs) {
        return invalidInput(fmt::format("latency ms must be in [0, {}]", kMaxFaultLatencyMs));
      }
      impl_->latencyMs = fault.ms;
      return {};
    case Action::kStatus:
      if (fault.code < 200 || fault.code > 599 || fault.percent < 0 || fault.percent > 100) {
        return invalidInput("status fault needs code in [200, 599] and percent in [0, 100]");
      }
      impl_->statusPercent = fault.percent;
      impl_->statusCode = fault.code;
      return {};
  }
  return invalidInput("unknown fault action");
}

Result<bool> HttpbinServer::endFault(const Fault& fault) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->stopped) return false;
  using Action = Fault::Action;
  using Mode = Impl::Mode;
  using CertMode = Impl::CertMode;
  const auto modeOf = [](Action a) {
    return a == Action::kDown    ? Mode::kDown
           : a == Action::kReset ? Mode::kReset
           : a == Action::kClose ? Mode::kClose
                                 : Mode::kBlackhole;
  };
  switch (fault.action) {
    case Action::kUp:
      return false;
    case Action::kDown:
    case Action::kReset:
    case Action::kClose:
    case Action::kBlackhole:
      if (impl_->mode != modeOf(fault.action)) return false;
      if (auto ok = impl_->setListener(Mode::kServe, impl_->cert); !ok) {
        return std::unexpected(ok.error());
      }
      return true;
    case Action::kBadCert:
    case Action::kCert: {
      const CertMode expected = fault.action == Action::kBadCert        ? CertMode::kBad
                                : fault.cert == Fault::Cert::kExpired   ? CertMode::kExpired
                                : fault.cert == Fault::Cert::kWrongHost ? CertMode::kWrongHost
                                                                        : CertMode::kRotate;
      if (impl_->cert != expected) return false;
      if (auto ok = impl_->setListener(impl_->mode, CertMode::kValid); !ok) {
        return std::unexpected(ok.error());
      }
      return true;
    }
    case Action::kLatency:
      if (impl_->latencyMs.load() != fault.ms) return false;
      impl_->latencyMs = -1;
      return true;
    case Action::kStatus:
      if (impl_->statusCode.load() != fault.code || impl_->statusPercent.load() != fault.percent) {
        return false;
      }
      impl_->statusCode = 0;
      return true;
  }
  return false;
}

void HttpbinServer::clearFaults() {
  [[maybe_unused]] auto ignored = applyFault(Fault{.action = Fault::Action::kUp});
}

std::vector<Fault> HttpbinServer::activeFaults() const {
  std::lock_guard lock(impl_->mutex);
  using Mode = Impl::Mode;
  using CertMode = Impl::CertMode;
  std::vector<Fault> out;
  if (impl_->mode == Mode::kDown) out.push_back({.action = Fault::Action::kDown});
  if (impl_->mode == Mode::kReset) out.push_back({.action = Fault::Action::kReset});
  if (impl_->mode == Mode::kClose) out.push_back({.action = Fault::Action::kClose});
  if (impl_->mode == Mode::kBlackhole) out.push_back({.action = Fault::Action::kBlackhole});
  switch (impl_->cert) {
    case CertMode::kValid:
      break;
    case CertMode::kBad:
      out.push_back({.action = Fault::Action::kBadCert});
      break;
    case CertMode::kExpired:
      out.push_back({.action = Fault::Action::kCert, .cert = Fault::Cert::kExpired});
      break;
    case CertMode::kWrongHost:
      out.push_back({.action = Fault::Action::kCert, .cert = Fault::Cert::kWrongHost});
      break;
    case CertMode::kRotate:
      out.push_back({.action = Fault::Action::kCert, .cert = Fault::Cert::kRotate});
      break;
  }
  if (const int ms = impl_->latencyMs.load(); ms >= 0) {
    out.push_back({.action = Fault::Action::kLatency, .ms = ms});
  }
  if (const int code = impl_->statusCode.load(); code > 0) {
    out.push_back(
        {.action = Fault::Action::kStatus, .code = code, .percent = impl_->statusPercent.load()});
  }
  return out;
}

void HttpbinServer::stop() {
  if (!impl_) return;
  std::lock_guard lock(impl_->mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->stopListener();
  impl_->mode = Impl::Mode::kDown;
}

}  // namespace egresslab::httpbin
