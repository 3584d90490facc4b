// The HTTP connection manager and router of one simulated proxy: a request is routed by the
// mesh's decisions (route, cluster, endpoints, retries, timeouts), answered locally or forwarded
// through the upstream pool, and logged once per proxy it crosses.
#include <fmt/format.h>

#include "harness/mesh/peer_metadata.h"
#include "harness/mesh/route_policy.h"
#include "harness/sim/sim_impl.h"

namespace egresslab::sim {
namespace {

// Writes a complete response within the connection's write deadline. False when the
// connection broke.
Task<bool> writeResponse(AsyncStream& stream, std::string wire,
                         const SimMesh::Impl::LiveSockets& live) {
  if (live.writeDeadline != nullptr) live.writeDeadline->arm(live.writeTimeout);
  const IoResult written = co_await stream.writeAll(asio::buffer(wire));
  const bool ok = !written.ec;
  if (live.writeDeadline != nullptr) live.writeDeadline->disarm();
  co_return ok;
}

// A reply of the proxy itself with no route decision behind it (malformed request, limits).
Task<bool> sendLocal(AsyncStream& out, const HttpRequest* req, int status, bool close,
                     const SimMesh::Impl::LiveSockets& live) {
  HttpResponse r;
  r.status = status;
  r.headers = {{"date", httpDate()}, {"server", "istio-envoy"}};
  const bool ok = co_await writeResponse(
      out, serializeResponse(r, req != nullptr && req->method == "HEAD", close), live);
  co_return ok;
}

// Zipkin (B3) propagation by one Envoy hop, the default tracer through Istio 1.21
// (docs/istio-behaviour.md §R8, §R11): without an incoming trace the hop starts one (128-bit
// trace id whose low 64 bits are the root span id, sampling 1 %, pilot's default); with one it
// keeps the trace id and sampling decision and sends a child span of the incoming span.
void propagateB3(HeaderList& h) {
  const std::string* trace = findHeader(h, "x-b3-traceid");
  const std::string* span = findHeader(h, "x-b3-spanid");
  if (trace != nullptr && span != nullptr) {
    const std::string parent = *span;
    setHeader(h, "x-b3-parentspanid", parent);
    setHeader(h, "x-b3-spanid", fmt::format("{:016x}", randomU64()));
    if (findHeader(h, "x-b3-sampled") == nullptr) setHeader(h, "x-b3-sampled", "0");
    return;
  }
  const std::uint64_t root = randomU64();
  removeHeader(h, "x-b3-parentspanid");
  setHeader(h, "x-b3-traceid", fmt::format("{:016x}{:016x}", randomU64(), root));
  setHeader(h, "x-b3-spanid", fmt::format("{:016x}", root));
  setHeader(h, "x-b3-sampled", randomU64() % 100 == 0 ? "1" : "0");
}

// The route decorator Istio writes (`GetRouteOperation`): with one destination cluster
// `<host>:<port><path>` from the cluster name `outbound|<port>|<subset>|<host>`, where the path
// is the route's match (prefix → `prefix*`, exact, regex; `/*` without one). Empty when the
// route splits over several clusters (Istio then names the VirtualService; not modelled) or the
// cluster is not a service cluster (docs/istio-behaviour.md §R8).
std::string decoratorOperation(const mesh::Route& route) {
  if (route.forward.clusters.size() != 1) return {};
  const std::string& name = route.forward.clusters.front().cluster;
  std::vector<std::string> parts;
  std::size_t from = 0;
  for (std::size_t bar = name.find('|'); bar != std::string::npos; bar = name.find('|', from)) {
    parts.push_back(name.substr(from, bar - from));
    from = bar + 1;
  }
  parts.push_back(name.substr(from));
  if (parts.size() != 4 || parts[0] != "outbound" || parts[1].empty() || parts[3].empty()) {
    return {};
  }
  const mesh::StringMatcher& m = route.match.path;
  std::string path = "/*";
  if (m.kind == mesh::StringMatcher::Kind::kPrefix) path = m.value + "*";
  if (m.kind == mesh::StringMatcher::Kind::kExact || m.kind == mesh::StringMatcher::Kind::kRegex) {
    path = m.value;
  }
  return parts[3] + ":" + parts[1] + path;
}

}  // namespace

// Every TLS context an HTTP chain terminates offers ALPN h2,http/1.1 (util.ALPNHttp, §5).
SslContext SimMesh::Impl::serverContextFor(Proxy& p, const mesh::FilterChain& chain) {
  std::lock_guard lock(p.ctxMu);
  auto it = p.serverCtx.find(chain.name);
  if (it != p.serverCtx.end()) return it->second;
  const mesh::DownstreamTls& t = *chain.tls;
  Result<SslCtxPtr> ctx = invalidInput("unsupported downstream TLS");
  switch (t.mode) {
    case mesh::DownstreamTlsMode::kIstioMutual:
      // §6: mesh certificates both ways (sidecar inbound STRICT, ISTIO_MUTUAL servers).
      ctx = makeServerContext(p.meshIdentity, meshCa->certPem(), ServerAlpn::kHttp);
      break;
    case mesh::DownstreamTlsMode::kSimple:
    case mesh::DownstreamTlsMode::kOptionalMutual:
    case mesh::DownstreamTlsMode::kMutual: {
      if (!t.credential) break;
      auto cred = credentials.find(t.credential->ns + "/" + t.credential->name);
      if (cred == credentials.end()) break;
      ctx = makeServerContext(
          cred->second,
          t.mode == mesh::DownstreamTlsMode::kMutual ? credentialCaPem : std::string(),
          ServerAlpn::kHttp);
      break;
    }
    default:
      break;
  }
  if (!ctx) return nullptr;
  SslContext adopted = adoptContext(std::move(*ctx));
  p.serverCtx.emplace(chain.name, adopted);
  return adopted;
}

Task<void> SimMesh::Impl::serveHttp(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                                    const mesh::ConnectionInfo& ci, AsyncStream& stream,
                                    const std::string& remote, LiveSockets& live) {
  HttpReader reader(stream);
  // One deadline per request: reading it (from the first wait on a keep-alive connection) and
  // writing its response each have a bound; reads in between do not restart it.
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto watchdog = Watchdog::create(executor, [&stream] { stream.close(); });
  live.writeDeadline = watchdog.get();
  live.writeTimeout = limits.writeTimeout;
  auto local = [&](int status) -> Task<void> {
    co_await sendLocal(stream, nullptr, status, true, live);
  };
  for (;;) {
    watchdog->arm(limits.requestTimeout);
    auto req = co_await reader.readRequest();
    watchdog->disarm();
    if (!req) {
      switch (req.error()) {
        case CodecError::kClosed:
        case CodecError::kIo:
          co_return;
        case CodecError::kHeadersTooLarge:
          co_await local(431);
          co_return;
        case CodecError::kBodyTooLarge:
          co_await local(413);
          co_return;
        case CodecError::kBadMessage:
          co_await local(400);
          co_return;
      }
      co_return;
    }
    const bool keep = req->keepAlive() && !stopping;
    const bool open = co_await handleRequest(p, vl, chain, ci, stream, *req, remote, keep, live);
    if (!open) co_return;
    if (!keep) co_return;
  }
}

// One request through one proxy. False when the downstream connection must close.
Task<bool> SimMesh::Impl::handleRequest(Proxy& p, VirtualListener& vl,
                                        const mesh::FilterChain& chain,
                                        const mesh::ConnectionInfo& ci, AsyncStream& stream,
                                        HttpRequest& req, const std::string& remote, bool keep,
                                        LiveSockets& live) {
  const auto t0 = Clock::now();
  const std::uint64_t s = ++seq;
  live.responseHeadersToAdd.clear();
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
    co_await sendLocal(stream, &req, 400, true, live);
    co_return false;
  }
  e.authority = authority;
  // The connection manager normalizes the path and sets x-forwarded-client-cert before any
  // filter (hcm_request.cpp); then the authorization filters before routing, in Envoy's order:
  // the ext_authz filter for AuthorizationPolicy CUSTOM (§X1), then RBAC DENY/ALLOW (§S1, §S2;
  // authz_filter.cpp).
  connectionManagerRequest(p, vl, stream, req, live, e);
  // RequestAuthentication's jwt_authn filter runs first of the HTTP filters (§S3; jwt_filter.cpp).
  if (const auto answered = co_await jwtAuthn(p, vl, chain, stream, req, keep, live, e, s)) {
    co_return *answered;
  }
  if (const auto answered =
          co_await customAuthz(p, vl, chain, ci, stream, req, remote, keep, live, e, s)) {
    co_return *answered;
  }
  const std::optional<bool> denied =
      co_await authorizeHttp(p, vl, chain, ci, stream, req, remote, keep, live, e, s);
  if (denied) co_return *denied;

  mesh::RequestView view;
  view.authority = authority;
  view.path = req.target;
  view.method = req.method;
  view.scheme = stream.tls() ? "https" : "http";
  view.headers = &req.headers;
  const mesh::RouteDecision d = mesh::routeRequest(*p.cfg, chain, view, randomU64());
  e.routeName = d.routeName;
  // Flags of filters before the router (fault delay DI), added to whatever ends the request.
  mesh::ResponseFlags filterFlags;

  auto finishLocal = [&](const mesh::ProxyResponse& r) -> Task<bool> {
    e.responseCode = r.status;
    e.flags = r.flags | filterFlags;
    live.upstreamLocal.clear();
    e.responseCodeDetails = r.details;
    e.upstreamTransportFailureReason = r.upstreamTransportFailureReason;
    e.bytesSent = r.body.size();
    e.durationMs = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
    appendLog(p, s, e);
    HttpResponse out;
    out.status = static_cast<int>(r.status);
    // Istio leaves the server name empty on sidecar outbound listeners, so Envoy's own `envoy`
    // answers there; gateways and inbound listeners say `istio-envoy` (docs/istio-behaviour.md
    // §R0).
    out.headers = {
        {"date", httpDate()},
        {"server", vl.direction == ListenerDirection::kSidecarOutbound ? "envoy" : "istio-envoy"}};
    if (!r.location.empty()) out.headers.emplace_back("location", r.location);
    for (const auto& [name, value] : r.headers) out.headers.emplace_back(name, value);
    if (!r.body.empty()) out.headers.emplace_back("content-type", "text/plain");
    for (const auto& h : live.responseHeadersToAdd) out.headers.push_back(h);  // ext_authz (§X1)
    out.body = r.body;
    const bool ok =
        co_await writeResponse(stream, serializeResponse(out, req.method == "HEAD", !keep), live);
    co_return ok;
  };

  // The fault filter (docs/istio-behaviour.md §R7) runs before the router on the route's own
  // config: a delay holds the request (not counted in the route timeout), an abort answers it.
  // Real time, not scaled: it competes with real upstream latency and curl's own timeouts.
  if (d.route != nullptr && d.route->fault) {
    const mesh::FaultDecision fault = mesh::decideFault(*d.route->fault, randomU64(), randomU64());
    if (fault.delay.count() > 0) {
      co_await sleepFor(fault.delay);
      filterFlags |= mesh::ResponseFlag::kDI;
    }
    if (fault.abort) {
      // The route's cluster is logged although nothing goes upstream (§R7).
      if (d.kind == mesh::RouteDecision::Kind::kForward) e.upstreamCluster = d.cluster->cluster;
      const bool ok = co_await finishLocal(*fault.abort);
      co_return ok;
    }
  }

  if (d.kind != mesh::RouteDecision::Kind::kForward) {
    const bool ok = co_await finishLocal(d.response);
    co_return ok;
  }

  const mesh::ClusterResolution resolved = mesh::resolveCluster(
      *p.cfg, d.cluster->cluster, [this](const mesh::Endpoint& ep) { return endpointReady(ep); });
  if (resolved.cluster != nullptr) e.upstreamCluster = resolved.cluster->name;
  if (resolved.localReply) {
    const bool ok = co_await finishLocal(*resolved.localReply);
    co_return ok;
  }

  // The upstream request: the downstream one with the route's rewrites and header ops. Its
  // headers and body move over: past this point the downstream request is only its method.
  HttpRequest up;
  up.method = req.method;
  up.target = d.upstreamPath.empty() ? req.target : d.upstreamPath;
  up.version = "HTTP/1.1";
  up.headers = std::move(req.headers);
  up.body = std::move(req.body);
  if (!d.upstreamAuthority.empty() && d.upstreamAuthority != authority) {
    setHeader(up.headers, "host", d.upstreamAuthority);
  }
  if (p.gateway) {
    // Gateways (use_remote_address) overwrite x-forwarded-proto with the scheme of their own
    // downstream and append the client's address — the caller's pod IP — to x-forwarded-for
    // (docs/istio-behaviour.md §R8).
    setHeader(up.headers, "x-forwarded-proto", std::string(view.scheme));
    const std::string client = sourceIpOf(remote);
    const std::string* xff = findHeader(up.headers, "x-forwarded-for");
    setHeader(up.headers, "x-forwarded-for", xff ? *xff + ", " + client : client);
    // A private (or loopback) source is internal to Envoy up to Istio 1.24; from 1.25 private
    // addresses are no longer internal by default (§R8, §R11; inferred there, chosen here).
    if (!p.cfg->version.atLeast(1, 25)) setHeader(up.headers, "x-envoy-internal", "true");
  } else if (findHeader(up.headers, "x-forwarded-proto") == nullptr) {
    // Sidecars set x-forwarded-proto only when it is absent (§R8).
    setHeader(up.headers, "x-forwarded-proto", std::string(view.scheme));
  }
  // Metadata exchange (§R8.1): sidecar outbound and gateways replace the pair with their own,
  // sidecar inbound removes it (peer_metadata.h).
  removeHeader(up.headers, mesh::kPeerMetadataHeader);
  removeHeader(up.headers, mesh::kPeerMetadataIdHeader);
  if (mesh::peerMetadataOpFor(vl.direction) == mesh::PeerMetadataOp::kReplace) {
    std::call_once(p.peerMetadataOnce, [&p] {
      p.peerMetadata = mesh::peerMetadataValue(*p.cfg);
      p.peerMetadataId = mesh::proxyNodeId(*p.cfg);
    });
    setHeader(up.headers, mesh::kPeerMetadataHeader, p.peerMetadata);
    setHeader(up.headers, mesh::kPeerMetadataIdHeader, p.peerMetadataId);
  }
  if (d.route != nullptr) {
    if (const std::string op = decoratorOperation(*d.route); !op.empty()) {
      setHeader(up.headers, "x-envoy-decorator-operation", op);
    }
  }
  // 1.22+ installs no tracer by default: no B3 headers are added (§R8, §R11).
  if (!p.cfg->version.atLeast(1, 22)) propagateB3(up.headers);
  applyHeaderOps(up.headers, d.forward->requestHeaders);
  applyHeaderOps(up.headers, d.cluster->requestHeaders);

  // The router (§R1, §R2): the route timer starts now — the whole downstream request has been
  // read — and covers every attempt and back-off; the per-try timer bounds each attempt.
  // Timeouts run in real time (they race real upstream latency); the back-off is simulated
  // time, scaled like the other mesh clocks (docs/fidelity.md).
  const mesh::RetryPolicy& policy = d.forward->retry;
  const mesh::RouteTimeouts timeouts = mesh::routeTimeouts(*d.forward);
  const auto routeStart = Clock::now();
  std::optional<Clock::time_point> routeDeadline;
  if (timeouts.global) routeDeadline = routeStart + *timeouts.global;
  // Endpoints already tried, for the retry host predicate (previous_hosts, §R2.1).
  std::vector<const mesh::Endpoint*> tried;
  // The request's scheduled retry under the cluster's max_retries breaker (§R6).
  RetrySlot retrySlot;
  mesh::ProxyResponse final;
  std::optional<HttpResponse> upstreamResponse;
  for (std::uint32_t attempt = 1;; ++attempt) {
    if (attempt > 1) {
      const auto wait = clock.real(mesh::retryBackoff(policy, attempt - 1, randomU64()));
      if (routeDeadline && Clock::now() + wait >= *routeDeadline) {
        // The route timer fires during the back-off.
        co_await sleepFor(std::max(Clock::duration::zero(), *routeDeadline - Clock::now()));
        final = mesh::upstreamTimeoutReply();
        break;
      }
      co_await sleepFor(wait);
    }
    // Envoy's pick on this proxy's cluster state: policy, priorities, ejections, and the retry
    // host predicate over `tried` (§R3–§R5).
    const HostLease lease = pickHost(p, resolved, tried);
    const mesh::Endpoint* ep = lease.endpoint();
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
    // Istio enables include_request_attempt_count on every vhost: each try carries its number,
    // and each hop's router overwrites the previous hop's (docs/istio-behaviour.md §R2.3, §R8).
    setHeader(up.headers, "x-envoy-attempt-count", std::to_string(attempt));
    // §R1: the timeout the upstream may expect, when one applies (router setTimeoutHeaders).
    if (const auto expected = mesh::expectedRequestTimeoutMs(
            timeouts,
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - routeStart))) {
      setHeader(up.headers, "x-envoy-expected-rq-timeout-ms", std::to_string(*expected));
    }
    const auto tls = mesh::upstreamTlsFor(*resolved.cluster, *ep, authority, d.upstreamAuthority);
    const curl::SocketAddress target = endpointAddress(p, *resolved.cluster, *ep, &ci);
    e.upstreamHost = fmt::format("{}:{}", upstreamHostIp(*ep), ep->port);
    // Only with the previous_hosts predicate (off by VS `retryIgnorePreviousHosts: false`, 1.26+).
    if (ep != &originalDst && policy.previousHosts) tried.push_back(ep);
    HttpResponse resp;
    AttemptTimers timers;
    timers.routeDeadline = routeDeadline;
    timers.perTry = timeouts.perTry;
    mesh::AttemptOutcome outcome =
        co_await attemptUpstream(p, *resolved.cluster, target, tls, up, timers, resp, live);
    lease.report(outcome, simNow());  // outlier detection (§R3)
    if (!live.upstreamLocal.empty()) e.upstreamLocalAddress = live.upstreamLocal;
    if (timers.routeTimeoutFired) {
      // §R1: the route timer ended the in-flight attempt (its connection is closed): 504 UT
      // response_timeout, never retried.
      final = mesh::upstreamTimeoutReply();
      break;
    }
    // §R0: a response that says the next proxy was overloaded is never retried.
    if (outcome.kind == mesh::AttemptOutcome::Kind::kResponse &&
        findHeader(resp.headers, "x-envoy-overloaded") != nullptr) {
      outcome.overloaded = true;
    }
    const mesh::RetryStep step = mesh::afterAttempt(policy, attempt, outcome, p.cfg->version);
    // Envoy releases the previous retry's slot at each decision, then asks the breaker for the
    // next one: no room is retry overflow — no retry, the attempt's own answer with UO (§R2.3).
    retrySlot.release();
    if (step.retry) {
      if (retrySlot.acquire(p.clusters.get(*resolved.cluster, simNow()))) continue;
      final = mesh::retryOverflowReply(policy, attempt, outcome, p.cfg->version);
    } else {
      final = step.final;
    }
    if (outcome.kind == mesh::AttemptOutcome::Kind::kResponse) upstreamResponse = std::move(resp);
    break;
  }
  retrySlot.release();  // the router's retry state ends with the final answer
  if (!final.viaUpstream || !upstreamResponse) {
    const bool ok = co_await finishLocal(final);
    co_return ok;
  }

  HttpResponse& r = *upstreamResponse;
  e.responseCode = static_cast<std::uint32_t>(r.status);
  e.flags = final.flags | filterFlags;
  e.responseCodeDetails = final.details.empty() ? "via_upstream" : final.details;
  e.bytesSent = r.body.size();
  const auto now = Clock::now();
  e.durationMs = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now - t0).count());
  // The upstream's time starts with the router (a fault delay before it is not counted).
  const auto elapsed = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now - routeStart).count());
  e.upstreamServiceTimeMs = elapsed;
  appendLog(p, s, e);
  // Envoy (Istio) overwrites `server` and reports the upstream time.
  setHeader(r.headers, "server", "istio-envoy");
  setHeader(r.headers, "x-envoy-upstream-service-time", std::to_string(elapsed));
  applyHeaderOps(r.headers, d.forward->responseHeaders);
  applyHeaderOps(r.headers, d.cluster->responseHeaders);
  for (const auto& h : live.responseHeadersToAdd) r.headers.push_back(h);  // ext_authz (§X1)
  const bool headOnly = req.method == "HEAD";
  if (headOnly) {
    if (!findHeader(r.headers, "content-length")) {
      r.headers.emplace_back("content-length", "0");
    }
  }
  const bool ok = co_await writeResponse(stream, serializeResponse(r, headOnly, !keep), live);
  co_return ok;
}

void SimMesh::Impl::applyHeaderOps(HeaderList& h, const mesh::HeaderOps& ops) {
  for (const auto& name : ops.remove) removeHeader(h, name);
  for (const auto& [k, v] : ops.set) setHeader(h, k, v);
  for (const auto& [k, v] : ops.add) h.emplace_back(k, v);
}

}  // namespace egresslab::sim
