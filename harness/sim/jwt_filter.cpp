// Envoy's jwt_authn filter on a simulated proxy (docs/istio-behaviour.md §S3): the jwtRules of
// the RequestAuthentications that apply to the proxy, on the listeners that enforce
// AuthorizationPolicy (gateways, sidecar inbound), before the authorization filters. The decision
// is mesh::authenticateJwt; this file gathers the request and sends Envoy's local reply.
#include <fmt/format.h>

#include "harness/sim/sim_impl.h"

namespace egresslab::sim {

Task<std::optional<bool>> SimMesh::Impl::jwtAuthn(Proxy& p, VirtualListener& vl,
                                                  const mesh::FilterChain& chain,
                                                  AsyncStream& stream, HttpRequest& req, bool keep,
                                                  LiveSockets& live, mesh::AccessLogEntry& e,
                                                  std::uint64_t s) {
  live.jwtIdentity.reset();
  const bool enforcing = vl.direction == ListenerDirection::kGateway ||
                         vl.direction == ListenerDirection::kSidecarInbound;
  if (!enforcing || p.cfg->authz.jwt.empty()) co_return std::nullopt;
  mesh::JwtRequest jr;
  jr.headers = &req.headers;
  // Envoy's original URI for the realm uses x-forwarded-proto (set by the client's sidecar), else
  // the downstream connection's scheme.
  const std::string* xfp = findHeader(req.headers, "x-forwarded-proto");
  const std::string scheme = xfp != nullptr ? *xfp : (stream.tls() ? "https" : "http");
  jr.scheme = scheme;
  jr.authority = e.authority;
  jr.path = &req.target;
  jr.method = req.method;
  jr.now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  jr.version = compiled.version;
  mesh::JwtOutcome outcome = mesh::authenticateJwt(p.cfg->authz.jwt, jr);
  if (outcome.allowed) {
    live.jwtIdentity = std::move(outcome.identity);
    // The access log reads :path after the filters: without a removed query-parameter token.
    e.path = req.target;
    co_return std::nullopt;
  }
  // The local reply: the status string as body, WWW-Authenticate, no response flag.
  mesh::RequestView view;
  view.authority = e.authority;
  view.path = req.target;
  view.method = req.method;
  view.scheme = jr.scheme;
  view.headers = &req.headers;
  e.routeName = mesh::routeRequest(*p.cfg, chain, view).routeName;
  e.responseCode = outcome.status;
  e.responseCodeDetails = outcome.details;
  e.bytesSent = outcome.body.size();
  e.durationMs = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now() - e.startTime)
                                                .count());
  appendLog(p, s, e);
  HttpResponse out;
  out.status = static_cast<int>(outcome.status);
  out.headers = {
      {"www-authenticate", outcome.wwwAuthenticate},
      {"date", httpDate()},
      {"server", vl.direction == ListenerDirection::kSidecarOutbound ? "envoy" : "istio-envoy"},
      {"content-type", "text/plain"}};
  out.body = outcome.body;
  if (live.writeDeadline != nullptr) live.writeDeadline->arm(live.writeTimeout);
  const std::string wire = serializeResponse(out, req.method == "HEAD", !keep);
  const IoResult written = co_await stream.writeAll(asio::buffer(wire));
  if (live.writeDeadline != nullptr) live.writeDeadline->disarm();
  co_return !written.ec;
}

}  // namespace egresslab::sim
