// kubelet's readiness probes of gateway pods (httpGet, tcpSocket, exec curl; §7) and the end of
// Envoy's warming (§11.2), on prober threads (never on a data-plane worker: an exec probe runs a
// blocking curl through the mesh).
#include <sys/socket.h>

#include <fmt/format.h>

#include "harness/curl/command.h"
#include "harness/mesh/probe_command.h"
#include "harness/sim/sim_impl.h"

namespace egresslab::sim {
namespace {

// sh's status for a program it cannot find (the simulation runs curl only).
constexpr int kCommandNotFound = 127;

// Sends `request` on a connected blocking socket and parses the response head (probes need the
// status only).
std::expected<HttpResponse, CodecError> blockingExchange(int fd, const std::string& request) {
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return std::unexpected(CodecError::kIo);
  }
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
    if (head.size() > 65536) return std::unexpected(CodecError::kHeadersTooLarge);
  }
  const auto end = head.find("\r\n\r\n");
  if (end == std::string::npos) return std::unexpected(CodecError::kIo);
  return parseResponseHead(std::string_view(head).substr(0, end));
}

}  // namespace

// One readiness probe of a gateway pod (§7). True = success.
bool SimMesh::Impl::runProbe(Proxy& p) {
  if (p.killed) return false;
  if (!p.probe) return !p.warming;
  const model::Probe& probe = *p.probe;
  const auto timeout = probeTimeout(probe);
  switch (probe.kind) {
    case model::Probe::Kind::kHttpGet: {
      const curl::SocketAddress a = podPort(*p.pod, probe.port, false);
      auto fd = connectTcp(a.ip, static_cast<std::uint16_t>(a.port), timeout);
      if (!fd) return false;
      setSocketTimeouts(fd->get(), timeout, timeout);
      HttpRequest r;
      r.method = "GET";
      r.target = probe.path.empty() ? "/" : probe.path;
      r.headers = {{"host", fmt::format("{}:{}", p.pod->ip, probe.port)},
                   {"user-agent", "kube-probe/1.28"},
                   {"connection", "close"}};
      auto resp = blockingExchange(fd->get(), serializeRequest(r));
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

std::chrono::milliseconds SimMesh::Impl::probeTimeout(const model::Probe& probe) const {
  // timeoutSeconds scaled like every probe clock, but never below 250 ms of real time (or the
  // unscaled value when smaller): a loopback request must not fail for lack of CPU.
  const auto unscaled = std::chrono::milliseconds(std::max(1, probe.timeoutSeconds) * 1000);
  const auto scaled = std::chrono::duration_cast<std::chrono::milliseconds>(clock.real(unscaled));
  return std::max(scaled, std::min(unscaled, std::chrono::milliseconds(250)));
}

// §7: the probe's command as kubelet runs it: argv, or `sh -c SCRIPT` with sh semantics for `;`,
// `&&`, `||` and pipes (mesh/probe_command.h), inside the gateway pod. Each curl runs with curl
// semantics (no -f → only transport errors fail); gateway pods are not captured (§1). `true`,
// `false`, `:`, `exit`, `set` are the shell's builtins. Any other program cannot run in the
// simulation: it exits 127 as sh's "command not found" does (so `… || true` still passes, and a
// probe that needs it fails); `egresslab analyze` warns about such probes (EGL004). A command
// that does not parse fails the probe.
bool SimMesh::Impl::runExecProbe(Proxy& p, const model::Probe& probe,
                                 std::chrono::milliseconds timeout) {
  const auto script = mesh::parseProbeCommand(probe.command, probe.pos);
  if (!script) return false;
  const int status = mesh::evaluateShellScript(*script, [&](const mesh::SimpleCommand& c) {
    const auto argv = mesh::programArgv(c);
    if (mesh::programName(argv) != "curl") return kCommandNotFound;
    auto parsed = curl::parseCurlArguments(std::vector<std::string>(argv.begin() + 1, argv.end()));
    // curl exits 2 when it cannot read its command line.
    if (!parsed) return 2;
    return runProbeCurl(p, *parsed, timeout);
  });
  return status == 0;
}

int SimMesh::Impl::runProbeCurl(Proxy& p, curl::CurlCommand command,
                                std::chrono::milliseconds timeout) {
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
  return curl::execute(command, o).exitCode;
}

void SimMesh::Impl::recordProbe(Proxy& p, bool ok, bool initial) {
  std::lock_guard lock(p.probeMu);
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
  // The rollout's first probe: a pod that has never passed is not Ready, whatever the failure
  // threshold.
  if (initial && !ok) p.ready = false;
}

void SimMesh::Impl::endWarmingIfDue(Proxy& p) {
  if (!p.warming || Clock::now() < p.warmUntil) return;
  if (!p.warming.exchange(false)) return;  // another prober ended it
  if (p.killed) return;
  for (VirtualListener* vl : listenersOf(&p)) setListening(*vl, true);
}

void SimMesh::Impl::proberLoop(Proxy& p) {
  const model::Probe* probe = p.probe ? &*p.probe : nullptr;
  const auto period =
      clock.real(std::chrono::milliseconds(std::max(1, probe ? probe->periodSeconds : 10) * 1000));
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

void SimMesh::Impl::startReadiness() {
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
void SimMesh::Impl::probeRound(bool initial) {
  std::vector<std::thread> ts;
  for (auto& p : proxies) {
    if (!p->gateway || p->pod == nullptr) continue;
    endWarmingIfDue(*p);
    Proxy* raw = p.get();
    ts.emplace_back([this, raw, initial] { recordProbe(*raw, runProbe(*raw), initial); });
  }
  for (auto& t : ts) t.join();
}

}  // namespace egresslab::sim
