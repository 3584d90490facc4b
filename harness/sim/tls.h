// TLS pieces of the simulated proxies: a TLS inspector (is this a ClientHello, which SNI does it
// carry — Envoy's tls_inspector listener filter, used to pick a filter chain before the
// handshake, §5), server contexts from PEM key pairs (optionally requiring a client certificate
// from a CA: ISTIO_MUTUAL, §6), and client handshakes that verify the way Envoy's upstream TLS
// does (§4: no verification, or a CA bundle plus SAN names / SPIFFE URIs).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/core/error.h"
#include "harness/pki/pki.h"
#include "harness/sim/io.h"
#include "harness/sim/net.h"

namespace egresslab::sim {

struct ClientHelloInfo {
  bool tls = false;  // the first bytes are a TLS handshake record
  std::string sni;   // server_name extension, "" = none
};

// Parses the start of a connection's byte stream. Returns nullopt while more bytes are needed
// to decide (a partial ClientHello). Anything that is not a TLS handshake record is plaintext.
std::optional<ClientHelloInfo> inspectClientHello(std::string_view bytes);

// Peeks (MSG_PEEK: the bytes stay for the handshake or the TCP proxy) at a new connection until
// inspectClientHello decides, the peer closes or `timeout` passes (then: plaintext, no SNI — as
// Envoy's inspector times out).
Task<ClientHelloInfo> peekClientHello(tcp::socket& socket, std::chrono::milliseconds timeout);

struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslDeleter>;
using SslContext = std::shared_ptr<asio::ssl::context>;
// Hands an OpenSSL context to Asio (which then owns it).
SslContext adoptContext(SslCtxPtr ctx);

// ALPN a server context offers: none, or Istio's `util.ALPNHttp` — `h2` then `http/1.1`, in the
// server's order of preference — which istiod sets on every TLS context of an HTTP listener it
// terminates (gateway SIMPLE/MUTUAL/ISTIO_MUTUAL servers, sidecar inbound mTLS;
// docs/istio-behaviour.md §5).
enum class ServerAlpn { kNone, kHttp };

// A server-side context presenting `identity`; when `clientCaPem` is set a client certificate
// signed by it is required.
Result<SslCtxPtr> makeServerContext(const pki::KeyPair& identity,
                                    const std::string& clientCaPem = {},
                                    ServerAlpn alpn = ServerAlpn::kNone);

// A client-side context. `trustPem` empty = no verification; otherwise the chain must verify
// against it. `clientIdentity` is presented when set (mesh certificates for ISTIO_MUTUAL).
Result<SslCtxPtr> makeClientContext(const std::string& trustPem,
                                    const std::optional<pki::KeyPair>& clientIdentity);

// Server handshake on an accepted socket within `timeout`. Null on failure (garbage, no
// certificate, …).
Task<std::unique_ptr<TlsStream>> acceptTls(tcp::socket socket, SslContext ctx,
                                           std::chrono::milliseconds timeout);

struct ClientHandshake {
  std::unique_ptr<TlsStream> stream;  // null on failure
  // Envoy-style transport failure reason on failure, e.g.
  // "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end".
  std::string failureReason;
};

// Client handshake within `timeout`. `sni` empty = no SNI extension (§4, 1.8–1.20 defaults).
// `verifyNames`: the certificate must match one DNS name (checked only when the context
// verifies); `spiffeIds`: one URI SAN must equal one of them.
Task<ClientHandshake> connectTls(tcp::socket socket, SslContext ctx, std::string sni,
                                 std::vector<std::string> verifyNames,
                                 std::vector<std::string> spiffeIds,
                                 std::chrono::milliseconds timeout);

// The client certificate a server-side TLS connection received (mutual TLS), as Envoy reports it
// to its filters: the first URI SAN (the peer principal of AuthorizationPolicy, e.g.
// spiffe://cluster.local/ns/httpbin/sa/sleep), and for x-forwarded-client-cert the SHA-256 of the
// DER certificate in hex and the PEM (docs/istio-behaviour.md §S2). nullopt: no client
// certificate (plaintext, or TLS without one).
struct PeerCertificate {
  std::string uriSan;     // "" when the certificate has no URI SAN
  std::string sha256Hex;  // lower-case hex
  std::string pem;
};
std::optional<PeerCertificate> peerCertificate(SSL* ssl);

// The first URI SAN of a PEM certificate ("" when none or unparsable): a proxy's own SPIFFE ID.
std::string uriSanOfPem(const std::string& pem);

}  // namespace egresslab::sim
