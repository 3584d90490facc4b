// What a simulated proxy's HTTP connection manager does to a request before any HTTP filter runs
// (docs/istio-behaviour.md §S1, §S2, §X1): path normalization (BASE) and x-forwarded-client-cert.
// Envoy does both in the connection manager, so the ext_authz filter (AuthorizationPolicy CUSTOM),
// the RBAC filters (DENY/ALLOW), routing and the upstream all see the same normalized path and the
// same sanitized XFCC: a CUSTOM rule, the check request and an RBAC rule never disagree about
// `/a/../admin` or a forged x-forwarded-client-cert.
#include "harness/mesh/xfcc.h"
#include "harness/sim/sim_impl.h"

namespace egresslab::sim {

const std::optional<PeerCertificate>& SimMesh::Impl::downstreamPeer(AsyncStream& stream,
                                                                    LiveSockets& live) {
  if (!live.peer) {
    TlsStream* tlsStream = stream.tlsLayer();
    live.peer =
        tlsStream != nullptr ? peerCertificate(tlsStream->ssl().native_handle()) : std::nullopt;
  }
  return *live.peer;
}

mesh::AuthzRequest SimMesh::Impl::httpAuthzRequest(const VirtualListener& vl,
                                                   const mesh::ConnectionInfo& ci,
                                                   AsyncStream& stream, const HttpRequest& req,
                                                   const std::string& remote, LiveSockets& live,
                                                   const mesh::AccessLogEntry& e,
                                                   AuthzStrings& owned) {
  owned.source = sourceIpOf(remote);
  owned.local = ipOf(e.downstreamLocalAddress);
  const std::optional<PeerCertificate>& peer = downstreamPeer(stream, live);
  mesh::AuthzRequest ar;
  ar.http = true;
  ar.host = e.authority;
  ar.path = req.target;
  ar.method = req.method;
  ar.headers = &req.headers;
  // The URI SAN of a mutual-TLS caller's certificate; "" for plain-text callers (the seed's
  // port-80 hop to the egress gateway, §S2).
  ar.peerPrincipal = peer ? std::string_view(peer->uriSan) : std::string_view();
  ar.sourceIp = owned.source;
  // use_remote_address with no trusted hops at gateways: the original client is the peer.
  ar.remoteIp = owned.source;
  ar.destinationIp = owned.local;
  ar.destinationPort = vl.dstPort;
  ar.sni = ci.sni;
  ar.jwt = live.jwtIdentity ? &*live.jwtIdentity : nullptr;  // jwt_filter.cpp (§S3)
  return ar;
}

void SimMesh::Impl::connectionManagerRequest(Proxy& p, const VirtualListener& vl,
                                             AsyncStream& stream, HttpRequest& req,
                                             LiveSockets& live, mesh::AccessLogEntry& e) {
  // The normalized path is forwarded too (default BASE normalization; the query is kept).
  {
    const auto query = req.target.find_first_of("?#");
    std::string normalized = mesh::normalizedPathForMatch(req.target);
    if (query != std::string::npos) normalized += req.target.substr(query);
    if (!req.target.empty() && req.target.front() == '/' && normalized != req.target) {
      req.target = normalized;
      e.path = normalized;
    }
  }
  const std::optional<PeerCertificate>& peer = downstreamPeer(stream, live);
  std::optional<mesh::ClientCertDetails> current;
  if (peer) {
    mesh::ClientCertDetails d;
    d.by = uriSanOfPem(p.meshIdentity.certPem);
    d.hash = peer->sha256Hex;
    d.pem = peer->pem;
    d.uri = peer->uriSan;
    d.withCert = p.gateway;
    current = std::move(d);
  }
  const mesh::ForwardClientCert mode = mesh::forwardClientCertFor(
      compiled.meshConfig, p.gateway, vl.direction == ListenerDirection::kSidecarInbound);
  const std::string* incoming = findHeader(req.headers, "x-forwarded-client-cert");
  const auto xfcc = mesh::mutateXfcc(
      mode, incoming != nullptr ? std::optional<std::string>(*incoming) : std::nullopt, current);
  if (xfcc) {
    setHeader(req.headers, "x-forwarded-client-cert", *xfcc);
  } else {
    removeHeader(req.headers, "x-forwarded-client-cert");
  }
}

}  // namespace egresslab::sim
