// The ext_authz filter of a simulated proxy (AuthorizationPolicy CUSTOM,
// docs/istio-behaviour.md §X1): the scenario's ext-authz servers (mocks/extauthz), and the check
// call of one request — HTTP through the data plane's own non-blocking HTTP/1.1 code, gRPC as a
// blocking grpc++ call on a thread of its own whose end resumes the request's coroutine on its
// worker (no worker thread ever blocks). What the check carries and what an answer means are
// mesh/ext_authz.h decisions; this file only does the I/O and writes the local reply.
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include <boost/asio/post.hpp>

#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "harness/mesh/ext_authz.h"
#include "harness/sim/sim_impl.h"
#include "mocks/extauthz/extauthz_server.h"

namespace egresslab::sim {
namespace {

namespace auth = envoy::service::auth::v3;

std::uint32_t portOf(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return 0;
  std::uint32_t port = 0;
  for (char c : address.substr(colon + 1)) {
    if (c < '0' || c > '9') return 0;
    port = port * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return port;
}

// One gRPC call's state, alive until its completion callback has run.
struct GrpcCall {
  std::unique_ptr<auth::Authorization::Stub> stub;
  grpc::ClientContext context;
  auth::CheckRequest request;
  auth::CheckResponse response;
};

// AttributeContext.request.http of an HTTP request's check (the network filter sends none).
void fillHttpAttributes(const mesh::ExtAuthzProvider& provider, const HttpRequest& req,
                        const mesh::RequestView& view, auth::AttributeContext& attributes) {
  auto* http = attributes.mutable_request()->mutable_http();
  if (const std::string* id = findHeader(req.headers, "x-request-id")) http->set_id(*id);
  http->set_method(std::string(view.method));
  http->set_path(std::string(view.path));
  http->set_host(std::string(view.authority));
  http->set_scheme(std::string(view.scheme));
  http->set_protocol(req.version);
  http->set_size(findHeader(req.headers, "content-length") != nullptr
                     ? static_cast<std::int64_t>(req.body.size())
                     : -1);
  auto& headers = *http->mutable_headers();
  // Envoy's headers map: lower-case names (pseudo-headers included), repeated ones joined by ",".
  headers[":authority"] = std::string(view.authority);
  headers[":method"] = std::string(view.method);
  headers[":path"] = std::string(view.path);
  headers[":scheme"] = std::string(view.scheme);
  for (const auto& [k, v] : req.headers) {
    const std::string name = asciiLower(k);
    if (name == "host") continue;
    auto it = headers.find(name);
    if (it == headers.end()) {
      headers[name] = v;
    } else {
      it->second += "," + v;
    }
  }
  if (provider.includeRequestBody) http->set_body(req.body);
}

}  // namespace

struct SimMesh::Impl::ExtAuthzState {
  struct Server {
    model::ExtAuthzServerSpec spec;
    std::unique_ptr<extauthz::ExtAuthzServer> server;  // null while `down`
  };
  std::vector<mesh::ExtAuthzProvider> providers;
  std::vector<Server> servers;
  // CUSTOM AuthorizationPolicies per proxy ("NS/NAME"), read here until the compiler attaches
  // AuthorizationPolicies to ProxyConfig::authz (see customAuthz).
  std::map<std::string, mesh::ProxyAuthz> custom;

  std::mutex mu;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;  // by "ip:port"
  // Calls in flight: cancelled and drained at shutdown, before the workers their completions
  // post to are destroyed.
  std::map<const GrpcCall*, std::shared_ptr<GrpcCall>> inFlight;
  std::condition_variable drained;
  bool stopping = false;

  std::shared_ptr<grpc::Channel> channel(const curl::SocketAddress& target) {
    const std::string key = fmt::format("{}:{}", target.ip, target.port);
    std::lock_guard lock(mu);
    auto& c = channels[key];
    if (!c) c = grpc::CreateChannel(key, grpc::InsecureChannelCredentials());
    return c;
  }
};

Result<void> SimMesh::Impl::startExtAuthz(const model::Scenario& sc) {
  extAuthz = std::make_shared<ExtAuthzState>();
  std::vector<std::string> hosts;
  for (const auto& spec : sc.extAuthz) hosts.push_back(spec.host());
  extAuthz->providers =
      mesh::compileExtAuthzProviders(compiled.meshConfig, compiled.registry, hosts);
  for (const auto& spec : sc.extAuthz) {
    ExtAuthzState::Server s{spec, nullptr};
    if (!spec.down) {
      extauthz::ExtAuthzServerOptions o;
      o.host = "127.0.0.1";
      (spec.protocol == model::ExtAuthzProtocol::kHttp ? o.httpPort : o.grpcPort) = 0;
      o.rules = spec.policy;
      auto server = extauthz::ExtAuthzServer::start(std::move(o));
      if (!server) return std::unexpected(server.error());
      s.server = std::move(*server);
    }
    extAuthz->servers.push_back(std::move(s));
  }
  std::vector<model::AuthorizationPolicy> customPolicies;
  for (const auto& policy : sc.resources.authorizationPolicies) {
    if (policy.action == model::AuthzAction::kCustom) customPolicies.push_back(policy);
  }
  if (!customPolicies.empty()) {
    const std::string root = mesh::rootNamespaceOf(compiled.meshConfig);
    for (const auto& proxy : compiled.proxies) {
      const mesh::WorkloadInstance* pod = compiled.findWorkload(proxy.id.ns, proxy.id.name);
      const model::Labels& labels = pod != nullptr ? pod->labels : proxy.podLabels;
      mesh::ProxyAuthz authz = mesh::compileProxyAuthz(customPolicies, root, proxy.id.ns, labels);
      if (!authz.empty()) extAuthz->custom.emplace(proxy.id.str(), std::move(authz));
    }
  }
  // A provider whose service no scenario server plays: its checks fail to connect, which is
  // what a Service without ready pods gives too — but the scenario may mean a real server.
  for (const auto& p : extAuthz->providers) {
    if (!p.error.empty()) continue;
    const bool played = std::any_of(sc.extAuthz.begin(), sc.extAuthz.end(), [&](const auto& spec) {
      return spec.host() == p.host && spec.port == p.port;
    });
    if (!played) {
      mesh::NotSimulatedNote note;
      note.ref = fmt::format("extension provider {}", p.name);
      note.what = fmt::format(
          "{}:{} is not one of the scenario's extAuthz servers: the simulated checks fail to "
          "connect (add an extAuthz entry for it, docs/scenarios.md)",
          p.host, p.port);
      note.reach = mesh::NotSimulatedNote::Reach::kNoProxy;
      compiled.notSimulated.push_back(std::move(note));
    }
  }
  return {};
}

void SimMesh::Impl::stopExtAuthz() {
  if (!extAuthz) return;
  ExtAuthzState& st = *extAuthz;
  std::vector<std::shared_ptr<GrpcCall>> calls;
  {
    std::lock_guard lock(st.mu);
    st.stopping = true;
    for (const auto& [key, call] : st.inFlight) calls.push_back(call);
  }
  // Outside the lock: a cancelled call may complete on this very thread.
  for (const auto& call : calls) call->context.TryCancel();
  calls.clear();
  {
    std::unique_lock lock(st.mu);
    st.drained.wait_for(lock, std::chrono::seconds(5), [&] { return st.inFlight.empty(); });
  }
  for (auto& s : st.servers) {
    if (s.server) s.server->stop();
  }
}

const mesh::ExtAuthzProvider* SimMesh::Impl::extAuthzProvider(std::string_view name) const {
  return extAuthz ? mesh::findExtAuthzProvider(extAuthz->providers, name) : nullptr;
}

curl::SocketAddress SimMesh::Impl::extAuthzTarget(const mesh::ExtAuthzProvider& provider) const {
  for (const auto& s : extAuthz->servers) {
    if (s.spec.host() != provider.host || s.spec.port != provider.port) continue;
    if (!s.server) break;  // down: connection refused
    const int port = s.server->httpPort() != 0 ? s.server->httpPort() : s.server->grpcPort();
    return {"127.0.0.1", port};
  }
  return refusedAddress();
}

Task<mesh::ExtAuthzOutcome> SimMesh::Impl::httpCheck(const mesh::ExtAuthzProvider& provider,
                                                     const curl::SocketAddress& target,
                                                     const mesh::RequestView& view) {
  const mesh::HttpCheckRequest check = mesh::buildHttpCheckRequest(provider, view);
  std::optional<tcp::socket> socket = co_await connectTcpAsync(target, provider.timeout);
  if (!socket) co_return mesh::checkFailed("connection to the authorization server failed");
  TcpStream stream(std::move(*socket));
  HttpReader reader(stream);
  HttpRequest request;
  request.method = check.method;
  request.target = check.path;
  request.version = "HTTP/1.1";
  for (const auto& [k, v] : check.headers) {
    if (k != "content-length") request.headers.emplace_back(k, v);
  }
  // One timeout for the whole check (Envoy's HttpUri timeout).
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto watchdog = Watchdog::create(executor, [&stream] { stream.close(); });
  watchdog->arm(provider.timeout);
  const std::string wire = serializeRequest(request);
  const IoResult written = co_await stream.writeAll(asio::buffer(wire));
  std::expected<HttpResponse, CodecError> response = std::unexpected(CodecError::kIo);
  if (!written.ec) response = co_await reader.readResponse(request.method);
  watchdog->disarm();
  stream.close();
  if (!response) {
    co_return mesh::checkFailed(watchdog->fired() ? "the check timed out"
                                                  : "the authorization server closed or reset");
  }
  co_return mesh::interpretHttpCheckResponse(provider, response->status, response->headers,
                                             response->body);
}

Task<mesh::ExtAuthzOutcome> SimMesh::Impl::grpcCheck(const mesh::ExtAuthzProvider& provider,
                                                     const curl::SocketAddress& target,
                                                     const HttpRequest* req,
                                                     const mesh::RequestView* view,
                                                     const ExtAuthzPeer& peer) {
  std::shared_ptr<ExtAuthzState> st = extAuthz;
  // The channel (and with it gRPC's library) before the call's ClientContext.
  std::shared_ptr<grpc::Channel> channel = st->channel(target);
  auto call = std::make_shared<GrpcCall>();
  call->context.set_deadline(std::chrono::system_clock::now() + provider.timeout);
  auto* attributes = call->request.mutable_attributes();
  auto* source = attributes->mutable_source()->mutable_address()->mutable_socket_address();
  source->set_address(peer.sourceIp);
  source->set_port_value(peer.sourcePort);
  attributes->mutable_source()->set_principal(peer.principal);
  auto* destination =
      attributes->mutable_destination()->mutable_address()->mutable_socket_address();
  destination->set_address(peer.destinationIp);
  destination->set_port_value(peer.destinationPort);
  attributes->mutable_destination()->set_principal(peer.destinationPrincipal);
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  auto* time = attributes->mutable_request()->mutable_time();
  time->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  time->set_nanos(static_cast<std::int32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now % std::chrono::seconds(1)).count()));
  if (req != nullptr && view != nullptr) fillHttpAttributes(provider, *req, *view, *attributes);

  {
    std::lock_guard lock(st->mu);
    if (st->stopping) co_return mesh::checkFailed("the mesh is stopping");
    st->inFlight.emplace(call.get(), call);
  }
  call->stub = auth::Authorization::NewStub(std::move(channel));
  // A blocking call on a thread of its own (never a worker); its end hands the status to the
  // request's own worker, where the coroutine resumes.
  // Named locals, no temporaries in the co_await expression: GCC 12 destroys captured
  // temporaries of a co_await full-expression twice.
  auto initiation = [call, st](auto handler) {
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    std::thread([shared, call, st] {
      grpc::Status s = call->stub->Check(&call->context, call->request, &call->response);
      auto ex = asio::get_associated_executor(*shared);
      asio::post(ex, [shared, s]() mutable { std::move (*shared)(s); });
      std::lock_guard lock(st->mu);
      st->inFlight.erase(call.get());
      st->drained.notify_all();
    }).detach();
  };
  auto checked = asio::async_initiate<decltype(asio::use_awaitable), void(grpc::Status)>(
      std::move(initiation), asio::use_awaitable);
  const grpc::Status status = co_await std::move(checked);
  if (!status.ok()) {
    co_return mesh::checkFailed(
        fmt::format("gRPC {}: {}", static_cast<int>(status.error_code()), status.error_message()));
  }
  mesh::GrpcCheckAnswer answer;
  const auto& r = call->response;
  answer.code = r.status().code();
  auto toHeaders = [](const auto& list) {
    std::vector<mesh::GrpcCheckAnswer::Header> out;
    for (const auto& o : list) {
      out.push_back(
          {o.header().key(), o.header().value(), o.has_append() ? o.append().value() : false});
    }
    return out;
  };
  if (r.has_ok_response()) {
    answer.okHeaders = toHeaders(r.ok_response().headers());
    for (const auto& h : r.ok_response().headers_to_remove()) answer.headersToRemove.push_back(h);
    answer.responseHeadersToAdd = toHeaders(r.ok_response().response_headers_to_add());
  }
  if (r.has_denied_response()) {
    answer.deniedStatus = static_cast<std::uint32_t>(r.denied_response().status().code());
    answer.deniedHeaders = toHeaders(r.denied_response().headers());
    answer.deniedBody = r.denied_response().body();
  }
  co_return mesh::interpretGrpcCheckResponse(answer);
}

Task<std::optional<bool>> SimMesh::Impl::customAuthz(
    Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain, const mesh::ConnectionInfo& ci,
    AsyncStream& stream, HttpRequest& req, const std::string& remote, bool keep, LiveSockets& live,
    mesh::AccessLogEntry& e, std::uint64_t s) {
  // Gateways enforce AuthorizationPolicy on every listener, sidecars on inbound only (§S1).
  const bool enforces = vl.direction == ListenerDirection::kGateway ||
                        vl.direction == ListenerDirection::kSidecarInbound;
  if (!enforces || !extAuthz) co_return std::nullopt;
  // istiod before 1.9 ignores CUSTOM policies: nothing is checked.
  if (!mesh::customActionBuilt(p.cfg->version)) co_return std::nullopt;
  // The compiler's attachment when it has one, else this file's own (CUSTOM only).
  const mesh::ProxyAuthz* authz = &p.cfg->authz;
  if (!authz->has(model::AuthzAction::kCustom)) {
    auto it = extAuthz->custom.find(p.cfg->id.str());
    if (it == extAuthz->custom.end()) co_return std::nullopt;
    authz = &it->second;
  }
  // jwt_authn ran before ext_authz: requestPrincipals / request.auth.* of a CUSTOM rule read the
  // verified token (§S3; jwt_filter.cpp).
  AuthzStrings owned;
  const mesh::AuthzRequest ar = httpAuthzRequest(vl, ci, stream, req, remote, live, e, owned);
  const auto match = mesh::evaluateCustom(*authz, ar);
  if (!match) co_return std::nullopt;
  co_return co_await extAuthzFilter(p, vl, chain, stream, req, remote, keep, live, e, s,
                                    match->provider, ar.peerPrincipal);
}

Task<std::optional<bool>> SimMesh::Impl::extAuthzFilter(
    Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain, AsyncStream& stream,
    HttpRequest& req, const std::string& remote, bool keep, LiveSockets& live,
    mesh::AccessLogEntry& e, std::uint64_t s, std::string_view providerName,
    std::string_view peerPrincipal) {
  mesh::RequestView view;
  view.authority = e.authority;
  view.path = req.target;
  view.method = req.method;
  view.scheme = stream.tls() ? "https" : "http";
  view.headers = &req.headers;

  const mesh::ExtAuthzProvider* provider = extAuthzProvider(providerName);
  std::optional<mesh::ProxyResponse> reply;
  mesh::HeaderPairList replyHeaders;
  if (provider == nullptr || !provider->error.empty()) {
    // istiod replaces a CUSTOM policy it cannot build with a deny-all RBAC policy.
    reply = mesh::badCustomActionReply();
  } else {
    const curl::SocketAddress target = extAuthzTarget(*provider);
    mesh::ExtAuthzOutcome outcome;
    if (provider->protocol == mesh::ExtAuthzProvider::Protocol::kHttp) {
      outcome = co_await httpCheck(*provider, target, view);
    } else {
      ExtAuthzPeer peer;
      peer.sourceIp = sourceIpOf(remote);
      peer.sourcePort = portOf(remote);
      peer.principal = std::string(peerPrincipal);
      peer.destinationIp = ipOf(e.downstreamLocalAddress);
      peer.destinationPort = portOf(e.downstreamLocalAddress);
      if (!peerPrincipal.empty()) {
        // This proxy's own identity, known to its peer only over mutual TLS.
        const std::string sa = p.pod != nullptr && !p.pod->serviceAccount.empty()
                                   ? p.pod->serviceAccount
                                   : p.cfg->id.name;
        peer.destinationPrincipal =
            fmt::format("spiffe://cluster.local/ns/{}/sa/{}", p.cfg->id.ns, sa);
      }
      outcome = co_await grpcCheck(*provider, target, &req, &view, peer);
    }
    reply = mesh::extAuthzLocalReply(*provider, outcome);
    if (!reply) {
      // Allowed (or failed open): the server's headers go upstream, and to the client later.
      for (const auto& name : outcome.upstreamRemove) {
        if (name != "host" && !name.starts_with(":")) removeHeader(req.headers, name);
      }
      for (const auto& [k, v] : outcome.upstreamSet) setHeader(req.headers, k, v);
      for (const auto& [k, v] : outcome.upstreamAppend) req.headers.emplace_back(k, v);
      for (const auto& h : outcome.downstreamHeaders) live.responseHeadersToAdd.push_back(h);
      co_return std::nullopt;
    }
    if (outcome.kind == mesh::ExtAuthzOutcome::Kind::kDeny)
      replyHeaders = outcome.downstreamHeaders;
  }

  // The connection manager picked the route before the filters ran: the line names it.
  e.routeName = mesh::routeRequest(*p.cfg, chain, view).routeName;
  e.responseCode = reply->status;
  e.flags = reply->flags;
  e.responseCodeDetails = reply->details;
  e.bytesSent = reply->body.size();
  e.durationMs = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now() - e.startTime)
                                                .count());
  appendLog(p, s, e);
  HttpResponse out;
  out.status = static_cast<int>(reply->status);
  out.headers = {
      {"date", httpDate()},
      {"server", vl.direction == ListenerDirection::kSidecarOutbound ? "envoy" : "istio-envoy"}};
  for (const auto& [k, v] : replyHeaders) setHeader(out.headers, k, v);
  if (!reply->body.empty() && findHeader(out.headers, "content-type") == nullptr) {
    out.headers.emplace_back("content-type", "text/plain");
  }
  out.body = reply->body;
  if (live.writeDeadline != nullptr) live.writeDeadline->arm(live.writeTimeout);
  const std::string wire = serializeResponse(out, req.method == "HEAD", !keep);
  const IoResult written = co_await stream.writeAll(asio::buffer(wire));
  if (live.writeDeadline != nullptr) live.writeDeadline->disarm();
  co_return !written.ec;
}

Task<bool> SimMesh::Impl::customAuthzTcp(Proxy& p, VirtualListener& vl,
                                         const mesh::FilterChain& chain,
                                         const mesh::ConnectionInfo& ci, const std::string& remote,
                                         std::uint64_t s,
                                         std::chrono::system_clock::time_point startTime) {
  const bool enforces = vl.direction == ListenerDirection::kGateway ||
                        vl.direction == ListenerDirection::kSidecarInbound;
  if (!enforces || !extAuthz || !mesh::customActionBuilt(p.cfg->version)) co_return true;
  const mesh::ProxyAuthz* authz = &p.cfg->authz;
  if (!authz->has(model::AuthzAction::kCustom)) {
    auto it = extAuthz->custom.find(p.cfg->id.str());
    if (it == extAuthz->custom.end()) co_return true;
    authz = &it->second;
  }
  const std::string source = sourceIpOf(remote);
  const std::string local =
      vl.direction == ListenerDirection::kSidecarOutbound ? vl.dstIp : p.cfg->podIp;
  mesh::AuthzRequest ar;
  ar.http = false;  // HTTP-only fields of a CUSTOM rule are dropped (built like DENY, §S1)
  // TCP chains are not terminated here (SNI passthrough, tcp routes): no peer certificate.
  ar.sourceIp = source;
  ar.remoteIp = source;
  ar.destinationIp = local;
  ar.destinationPort = vl.dstPort;
  ar.sni = ci.sni;
  const auto match = mesh::evaluateCustom(*authz, ar);
  if (!match) co_return true;

  mesh::AccessLogEntry e = tcpDenialLine(vl, chain, ci, local, remote, startTime);
  const mesh::ExtAuthzProvider* provider = extAuthzProvider(match->provider);
  if (provider == nullptr || !provider->error.empty()) {
    // istiod's deny-all for a CUSTOM policy it cannot build, as a network RBAC filter.
    e.connectionTerminationDetails = mesh::badCustomActionReply().details;
    appendLog(p, s, e);
    co_return false;
  }
  if (!mesh::extAuthzAppliesOnTcp(*provider)) co_return true;
  ExtAuthzPeer peer;
  peer.sourceIp = source;
  peer.sourcePort = portOf(remote);
  peer.destinationIp = local;
  peer.destinationPort = vl.dstPort;
  const mesh::ExtAuthzOutcome outcome =
      co_await grpcCheck(*provider, extAuthzTarget(*provider), nullptr, nullptr, peer);
  const auto denial = mesh::extAuthzConnectionDenial(*provider, outcome, p.cfg->version);
  if (!denial) co_return true;
  e.flags = denial->flags;
  e.responseCodeDetails = denial->details;
  appendLog(p, s, e);
  co_return false;
}

}  // namespace egresslab::sim
