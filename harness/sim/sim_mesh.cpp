// Wiring of the loopback data plane: start (compile, PKI, mocks, workers, proxies, listeners,
// readiness), stop, and the public API. The seams themselves live in their own files (sim_impl.h).
#include "harness/sim/sim_mesh.h"

#include <algorithm>
#include <random>
#include <set>

#include <fmt/format.h>

#include "harness/mesh/compile.h"
#include "harness/sim/sim_impl.h"

namespace egresslab::sim {

SimClock::SimClock(double timeScale) : scale_(timeScale > 0 ? timeScale : 1.0) {}

std::chrono::steady_clock::duration SimClock::real(std::chrono::milliseconds simulated) const {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double, std::milli>(static_cast<double>(simulated.count()) / scale_));
}

std::uint64_t randomU64() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

std::string newRequestId() {
  const std::uint64_t a = randomU64(), b = randomU64();
  return fmt::format("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", a >> 32, (a >> 16) & 0xffff,
                     a & 0xfff, b >> 52, b & 0xffffffffffffULL);
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

std::string httpDate() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

Result<void> SimMesh::Impl::startWorkers() {
  // Workers = cores (at least 2, so that one slow handler never stalls a whole mesh), like
  // Envoy's --concurrency defaulting to the machine's.
  const std::size_t n = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 2, 8);
  for (std::size_t i = 0; i < n; ++i) workers.push_back(std::make_unique<Worker>(i));
  return {};
}

Result<void> SimMesh::Impl::startProxies() {
  // Display names: the bare name unless two proxies share it (docs/design.md expectations).
  std::map<std::string, int> nameCount;
  for (const auto& cfg : compiled.proxies) ++nameCount[cfg.id.name];
  for (const auto& cfg : compiled.proxies) {
    auto p = std::make_unique<Proxy>();
    p->cfg = &cfg;
    p->display = nameCount[cfg.id.name] > 1 ? cfg.id.str() : cfg.id.name;
    p->pod = compiled.findWorkload(cfg.id.ns, cfg.id.name);
    p->gateway = cfg.id.kind != mesh::ProxyKind::kSidecar;
    p->pools.resize(workers.size());
    const std::string sa =
        p->pod != nullptr && !p->pod->serviceAccount.empty() ? p->pod->serviceAccount : cfg.id.name;
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

void SimMesh::Impl::shutdown() {
  faultTimers.stop();  // no fault's ttl fires into a mesh going away
  {
    std::lock_guard lock(proberMu);  // no prober misses the wake-up between check and wait
    if (stopping.exchange(true)) return;
  }
  proberCv.notify_all();
  // Close every acceptor and connection on its own worker: pending operations end at once, and a
  // prober's curl in flight fails fast instead of waiting out its timeout.
  std::vector<VirtualListener*> all = listenersOf(nullptr);
  for (auto& w : workers) {
    Worker* raw = w.get();
    raw->runAndWait(
        [raw, all] {
          for (VirtualListener* vl : all) {
            if (vl->worker != raw || !vl->acceptor) continue;
            ErrorCode ignored;
            vl->acceptor->close(ignored);
          }
          raw->closeAll(nullptr);
        },
        std::chrono::milliseconds(100));
  }
  for (auto& t : probers) {
    if (t.joinable()) t.join();
  }
  stopExtAuthz();  // gRPC completions post to the workers: drained before they go
  // Handlers still suspended (timers, closed sockets) are destroyed with their io_context: stop
  // the loops, join the threads, then drop what belongs to the loops before the loops themselves.
  for (auto& w : workers) w->stop();
  for (auto& w : workers) w->join();
  for (auto& p : proxies) p->pools.clear();
  for (VirtualListener* vl : all) vl->acceptor.reset();
  workers.clear();
  for (auto& m : mocks) m.server->stop();
  for (auto& [k, a] : apps) a->stop();
}

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
  impl->limits.maxConnectionsPerListener = options.maxConnectionsPerListener;
  impl->limits.requestTimeout = options.requestTimeout;
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
  auto publicCa = m.runDir->write("public-ca.pem", m.publicCaPem);
  if (!publicCa) return std::unexpected(publicCa.error());
  m.publicCaPath = *publicCa;
  if (auto ok = m.startMocks(scenario); !ok) return std::unexpected(ok.error());
  if (auto ok = m.startExtAuthz(scenario); !ok) return std::unexpected(ok.error());
  if (auto ok = m.startWorkers(); !ok) return std::unexpected(ok.error());
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
const std::filesystem::path& SimMesh::publicCaPath() const { return impl_->publicCaPath; }

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

std::uint64_t SimMesh::logSequence() const { return impl_->seq; }

std::vector<LogRecord> SimMesh::logsForCurl(const std::string& requestId,
                                            const std::string& curlLocalAddress,
                                            std::uint64_t sinceSeq,
                                            std::chrono::milliseconds wait) const {
  const Impl& m = *impl_;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::unique_lock lock(m.logMu);
  for (;;) {
    std::vector<LogRecord> out;
    std::set<std::string> ends;  // connection ends of this curl's hops
    if (!curlLocalAddress.empty()) ends.insert(curlLocalAddress);
    std::vector<bool> taken(m.logs.size(), false);
    for (std::size_t i = 0; i < m.logs.size(); ++i) {
      const LogRecord& r = m.logs[i];
      if (r.seq <= sinceSeq || requestId.empty() || r.requestId != requestId) continue;
      taken[i] = true;
      out.push_back(r);
      if (!r.upstreamLocalAddress.empty()) ends.insert(r.upstreamLocalAddress);
    }
    // TCP hops by connection, to a fixed point (a TCP hop may follow an HTTP or a TCP hop).
    for (bool grew = true; grew;) {
      grew = false;
      for (std::size_t i = 0; i < m.logs.size(); ++i) {
        const LogRecord& r = m.logs[i];
        if (taken[i] || !r.tcp || r.seq <= sinceSeq || !ends.contains(r.downstreamRemoteAddress)) {
          continue;
        }
        taken[i] = true;
        out.push_back(r);
        if (!r.upstreamLocalAddress.empty()) grew |= ends.insert(r.upstreamLocalAddress).second;
      }
    }
    bool open = false;
    for (const auto& end : ends) open |= m.openTcp.contains(end);
    if (!open || std::chrono::steady_clock::now() >= deadline) {
      std::sort(out.begin(), out.end(),
                [](const LogRecord& a, const LogRecord& b) { return a.seq < b.seq; });
      return out;
    }
    m.logCv.wait_until(lock, deadline);
  }
}

std::vector<LogRecord> SimMesh::allLogs() const {
  std::lock_guard lock(impl_->logMu);
  return {impl_->logs.begin(), impl_->logs.end()};
}

Result<void> SimMesh::fault(const model::FaultSpec& f) {
  switch (f.targetKind) {
    case model::FaultSpec::TargetKind::kGateway:
      return impl_->gatewayFault(f);
    case model::FaultSpec::TargetKind::kDns:
      return impl_->dnsFault(f);
    case model::FaultSpec::TargetKind::kUpstream:
      break;
  }
  return impl_->upstreamFault(f);
}

void SimMesh::undoFaults() { impl_->undoFaults(); }

nlohmann::json SimMesh::faultState() const {
  Impl& m = *impl_;
  nlohmann::json upstreams = nlohmann::json::array();
  for (const auto& mock : m.mocks) {
    nlohmann::json faults = nlohmann::json::array();
    for (const auto& f : mock.server->activeFaults()) faults.push_back(httpbin::toJson(f));
    upstreams.push_back({{"name", mock.spec.name.empty() ? mock.spec.host : mock.spec.name},
                         {"host", mock.spec.host},
                         {"port", mock.spec.port},
                         {"address", m.serverAddress(mock)},
                         {"tls", mock.spec.tls},
                         {"target", fmt::format("upstream/{}:{}", mock.spec.host, mock.spec.port)},
                         {"faults", faults}});
  }
  nlohmann::json gateways = nlohmann::json::array();
  for (const auto& p : m.proxies) {
    if (!p->gateway) continue;
    gateways.push_back({{"target", "gateway/" + p->cfg->id.str()},
                        {"killed", p->killed.load()},
                        {"ready", p->ready.load() && !p->killed.load()}});
  }
  nlohmann::json dns = nlohmann::json::array();
  for (const auto& [name, entry] : m.dnsOverrides.all()) {
    nlohmann::json answer;
    switch (entry.answer.kind) {
      case model::FaultSpec::DnsAnswer::Kind::kNxdomain:
        answer = "nxdomain";
        break;
      case model::FaultSpec::DnsAnswer::Kind::kServfail:
        answer = "servfail";
        break;
      case model::FaultSpec::DnsAnswer::Kind::kAddresses:
        answer = entry.answer.addresses;
        break;
    }
    dns.push_back({{"target", "dns/" + name}, {"answer", answer}});
  }
  return {{"upstreams", upstreams}, {"gateways", gateways}, {"dns", dns}};
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
  out.push_back(
      fmt::format("public CA (upstream certificates chain to it): {}", m.publicCaPath.string()));
  return out;
}

}  // namespace egresslab::sim
