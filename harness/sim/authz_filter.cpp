// The security side of a simulated proxy (docs/istio-behaviour.md §S1, §S2): the authorization
// filters on HTTP (CUSTOM → DENY → ALLOW, 403
// "RBAC: access denied") and the network RBAC filter on TCP chains (the connection is closed).
// The decisions are mesh::evaluateCustom / evaluateRbac; this file only gathers what Envoy
// would know of the request and acts on the answer.
#include <fmt/format.h>

#include "harness/sim/sim_impl.h"

namespace egresslab::sim {
namespace {

// Sidecars enforce AuthorizationPolicy on inbound traffic only; gateways on every listener.
bool enforces(const SimMesh::Impl::VirtualListener& vl) {
  return vl.direction == ListenerDirection::kGateway ||
         vl.direction == ListenerDirection::kSidecarInbound;
}

}  // namespace

Task<std::optional<bool>> SimMesh::Impl::authorizeHttp(
    Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain, const mesh::ConnectionInfo& ci,
    AsyncStream& stream, HttpRequest& req, const std::string& remote, bool keep, LiveSockets& live,
    mesh::AccessLogEntry& e, std::uint64_t s) {
  // Path normalization and x-forwarded-client-cert happened in the connection manager
  // (connectionManagerRequest, hcm_request.cpp).
  if (!enforces(vl) || p.cfg->authz.empty()) co_return std::nullopt;
  AuthzStrings owned;
  const mesh::AuthzRequest ar = httpAuthzRequest(vl, ci, stream, req, remote, live, e, owned);
  const mesh::AuthzDecision d = mesh::evaluateRbac(p.cfg->authz, ar);
  if (d.allowed) co_return std::nullopt;

  // Envoy's RBAC filter answers 403 with no response flag (docs/istio-behaviour.md §S1).
  // The connection manager picked the route before the filters ran: the line names it.
  mesh::RequestView view;
  view.authority = e.authority;
  view.path = req.target;
  view.method = req.method;
  view.scheme = stream.tls() ? "https" : "http";
  view.headers = &req.headers;
  e.routeName = mesh::routeRequest(*p.cfg, chain, view).routeName;
  e.responseCode = mesh::kRbacDeniedStatus;
  e.responseCodeDetails = d.details;
  e.bytesSent = mesh::kRbacDeniedBody.size();
  e.durationMs = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now() - e.startTime)
                                                .count());
  appendLog(p, s, e);
  HttpResponse out;
  out.status = static_cast<int>(mesh::kRbacDeniedStatus);
  out.headers = {
      {"date", httpDate()},
      {"server", vl.direction == ListenerDirection::kSidecarOutbound ? "envoy" : "istio-envoy"},
      {"content-type", "text/plain"}};
  out.body = std::string(mesh::kRbacDeniedBody);
  if (live.writeDeadline != nullptr) live.writeDeadline->arm(live.writeTimeout);
  const std::string wire = serializeResponse(out, req.method == "HEAD", !keep);
  const IoResult written = co_await stream.writeAll(asio::buffer(wire));
  if (live.writeDeadline != nullptr) live.writeDeadline->disarm();
  co_return !written.ec;
}

bool SimMesh::Impl::authorizeTcp(Proxy& p, VirtualListener& vl, const mesh::FilterChain& chain,
                                 const mesh::ConnectionInfo& ci, const std::string& remote,
                                 std::uint64_t s, std::chrono::system_clock::time_point startTime) {
  if (!enforces(vl) || p.cfg->authz.empty()) return true;
  const std::string source = sourceIpOf(remote);
  const std::string local =
      vl.direction == ListenerDirection::kSidecarOutbound ? vl.dstIp : p.cfg->podIp;
  mesh::AuthzRequest ar;
  ar.http = false;
  // TCP chains are not terminated here (SNI passthrough, tcp routes): no peer certificate.
  ar.sourceIp = source;
  ar.remoteIp = source;
  ar.destinationIp = local;
  ar.destinationPort = vl.dstPort;
  ar.sni = ci.sni;
  const mesh::AuthzDecision d = mesh::evaluateRbac(p.cfg->authz, ar);
  if (d.allowed) return true;
  // The network RBAC filter closes the connection; the tcp_proxy line shows the termination
  // details (docs/istio-behaviour.md §S1).
  mesh::AccessLogEntry e = tcpDenialLine(vl, chain, ci, local, remote, startTime);
  e.connectionTerminationDetails = d.details;
  appendLog(p, s, e);
  return false;
}

mesh::AccessLogEntry SimMesh::Impl::tcpDenialLine(const VirtualListener& vl,
                                                  const mesh::FilterChain& chain,
                                                  const mesh::ConnectionInfo& ci,
                                                  std::string_view local, const std::string& remote,
                                                  std::chrono::system_clock::time_point startTime) {
  mesh::AccessLogEntry e;
  e.startTime = startTime;
  e.tcp = true;
  e.requestedServerName = ci.sni;
  e.downstreamLocalAddress = fmt::format("{}:{}", local, vl.dstPort);
  e.downstreamRemoteAddress = remote;
  e.upstreamCluster = chain.statPrefix.empty() ? chain.cluster : chain.statPrefix;
  return e;
}

}  // namespace egresslab::sim
