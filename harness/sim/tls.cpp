#include "harness/sim/tls.h"

#include <sys/socket.h>

#include <cerrno>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

namespace egresslab::sim {

std::optional<ClientHelloInfo> inspectClientHello(std::string_view b) {
  auto u8 = [&](std::size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(b[i])); };
  if (b.empty()) return std::nullopt;
  if (u8(0) != 0x16) return ClientHelloInfo{false, ""};  // not a handshake record
  if (b.size() < 3) return std::nullopt;
  if (u8(1) != 0x03) return ClientHelloInfo{false, ""};
  if (b.size() < 5) return std::nullopt;
  const std::size_t recordLen = (u8(3) << 8) | u8(4);
  ClientHelloInfo info{true, ""};
  // Only the first record is inspected; a ClientHello split over records keeps an empty SNI.
  if (b.size() < 5 + std::min<std::size_t>(recordLen, 4)) return std::nullopt;
  if (u8(5) != 0x01) return info;  // not a ClientHello: TLS, but nothing to read
  if (b.size() < 5 + recordLen) return std::nullopt;
  std::size_t p = 5 + 4;  // handshake header
  const std::size_t end = 5 + recordLen;
  auto need = [&](std::size_t n) { return p + n <= end; };
  if (!need(2 + 32)) return info;
  p += 2 + 32;  // version, random
  if (!need(1)) return info;
  p += 1 + u8(p);  // session id
  if (!need(2)) return info;
  p += 2 + ((u8(p) << 8) | u8(p + 1));  // cipher suites
  if (!need(1)) return info;
  p += 1 + u8(p);  // compression methods
  if (!need(2)) return info;
  const std::size_t extEnd = std::min(end, p + 2 + ((u8(p) << 8) | u8(p + 1)));
  p += 2;
  while (p + 4 <= extEnd) {
    const unsigned type = (u8(p) << 8) | u8(p + 1);
    const std::size_t len = (u8(p + 2) << 8) | u8(p + 3);
    p += 4;
    if (p + len > extEnd) return info;
    if (type == 0 && len >= 5) {  // server_name
      std::size_t q = p + 2;
      if (u8(q) == 0) {
        const std::size_t nameLen = (u8(q + 1) << 8) | u8(q + 2);
        if (q + 3 + nameLen <= p + len) info.sni = std::string(b.substr(q + 3, nameLen));
      }
      return info;
    }
    p += len;
  }
  return info;
}

Task<ClientHelloInfo> peekClientHello(tcp::socket& socket, std::chrono::milliseconds timeout) {
  // The timeout cancels the wait; the socket stays open for whatever comes next.
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto watchdog = Watchdog::create(executor, [&socket] {
    ErrorCode ignored;
    socket.cancel(ignored);
  });
  watchdog->arm(timeout);
  std::vector<char> buf;  // allocated once bytes arrive: an idle connection holds none
  std::size_t seen = 0;
  for (;;) {
    auto [wec] = co_await socket.async_wait(tcp::socket::wait_read, kAsTuple);
    if (wec || watchdog->fired()) co_return ClientHelloInfo{};
    if (buf.empty()) buf.resize(16384);
    // Never a blocking peek: Asio's wait can complete with nothing to read (seen about once in
    // a hundred runs of DataPlane.ListenerConnectionCap…), and a blocking receive then holds the
    // worker's thread — every connection and accept loop on it — until this peer sends.
    const ssize_t got =
        ::recv(socket.native_handle(), buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (got <= 0) co_return ClientHelloInfo{};
    const auto n = static_cast<std::size_t>(got);
    if (auto info = inspectClientHello(std::string_view(buf.data(), n))) co_return *info;
    if (n == buf.size()) co_return ClientHelloInfo{true, ""};
    // The socket stays readable while the peeked bytes are queued: back off briefly until more
    // bytes than those arrive.
    if (n == seen) co_await sleepFor(std::chrono::milliseconds(1));
    seen = n;
  }
}

SslContext adoptContext(SslCtxPtr ctx) {
  return std::make_shared<asio::ssl::context>(ctx.release());
}

namespace {

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};

Result<void> addCertsToStore(X509_STORE* store, const std::string& pem) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
    ++added;
  }
  ERR_clear_error();
  if (added == 0) return invalidInput("no certificate in the CA bundle");
  return {};
}

Result<void> useIdentity(SSL_CTX* ctx, const pki::KeyPair& id) {
  const std::string& chain = id.chainPem.empty() ? id.certPem : id.chainPem;
  std::unique_ptr<BIO, BioDeleter> bio(
      BIO_new_mem_buf(chain.data(), static_cast<int>(chain.size())));
  X509* leaf = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (leaf == nullptr) return invalidInput("unreadable certificate: " + drainSslErrors());
  int ok = SSL_CTX_use_certificate(ctx, leaf);
  X509_free(leaf);
  if (ok != 1) return invalidInput("unusable certificate: " + drainSslErrors());
  while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    SSL_CTX_add_extra_chain_cert(ctx, extra);  // takes ownership
  }
  ERR_clear_error();
  std::unique_ptr<BIO, BioDeleter> kbio(
      BIO_new_mem_buf(id.keyPem.data(), static_cast<int>(id.keyPem.size())));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) return invalidInput("unreadable private key: " + drainSslErrors());
  ok = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (ok != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return invalidInput("private key does not match: " + drainSslErrors());
  }
  return {};
}

}  // namespace

namespace {

// util.ALPNHttp in ALPN wire format (length-prefixed names).
constexpr unsigned char kAlpnHttpWire[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// The first of the server's protocols the client offers (server preference, as Envoy selects);
// none in common: no ALPN in the handshake, the connection goes on.
int selectHttpAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                   const unsigned char* in, unsigned int inlen, void* /*arg*/) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnHttpWire, sizeof kAlpnHttpWire, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

Result<SslCtxPtr> makeServerContext(const pki::KeyPair& identity, const std::string& clientCaPem,
                                    ServerAlpn alpn) {
  ignoreSigpipe();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return environmentError("SSL_CTX_new: " + drainSslErrors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  // Idle connections hold no read/write buffers (thousands of idle downstream connections).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  static const unsigned char kSidCtx[] = "egresslab-sim";
  SSL_CTX_set_session_id_context(ctx.get(), kSidCtx, sizeof kSidCtx - 1);
  if (auto ok = useIdentity(ctx.get(), identity); !ok) return std::unexpected(ok.error());
  if (!clientCaPem.empty()) {
    if (auto ok = addCertsToStore(SSL_CTX_get_cert_store(ctx.get()), clientCaPem); !ok) {
      return std::unexpected(ok.error());
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  if (alpn == ServerAlpn::kHttp) SSL_CTX_set_alpn_select_cb(ctx.get(), selectHttpAlpn, nullptr);
  return ctx;
}

Result<SslCtxPtr> makeClientContext(const std::string& trustPem,
                                    const std::optional<pki::KeyPair>& clientIdentity) {
  ignoreSigpipe();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return environmentError("SSL_CTX_new: " + drainSslErrors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  if (!trustPem.empty()) {
    if (auto ok = addCertsToStore(SSL_CTX_get_cert_store(ctx.get()), trustPem); !ok) {
      return std::unexpected(ok.error());
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  if (clientIdentity) {
    if (auto ok = useIdentity(ctx.get(), *clientIdentity); !ok) return std::unexpected(ok.error());
  }
  return ctx;
}

Task<std::unique_ptr<TlsStream>> acceptTls(tcp::socket socket, SslContext ctx,
                                           std::chrono::milliseconds timeout) {
  auto stream = std::make_unique<TlsStream>(std::move(socket), std::move(ctx));
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto watchdog = Watchdog::create(executor, [s = stream.get()] { s->close(); });
  watchdog->arm(timeout);
  auto [ec] = co_await stream->ssl().async_handshake(asio::ssl::stream_base::server, kAsTuple);
  watchdog->disarm();
  ERR_clear_error();
  if (ec || watchdog->fired()) {
    // A failed handshake ends in a reset, as Envoy's does: a plaintext client of a TLS-only
    // (e.g. STRICT mTLS) listener sees curl 56, not an orderly close (§6).
    resetAndClose(stream->socket());
    co_return nullptr;
  }
  co_return stream;
}

namespace {

const char* const kVerifyFailed =
    "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end";

bool peerHasSpiffeId(SSL* ssl, const std::vector<std::string>& spiffeIds) {
  bool matched = false;
  X509* peer = SSL_get1_peer_certificate(ssl);
  if (peer == nullptr) return false;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(peer, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type != GEN_URI) continue;
    std::string uri(
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier)),
        static_cast<std::size_t>(ASN1_STRING_length(g->d.uniformResourceIdentifier)));
    for (const auto& want : spiffeIds) matched = matched || uri == want;
  }
  GENERAL_NAMES_free(names);
  X509_free(peer);
  return matched;
}

}  // namespace

Task<ClientHandshake> connectTls(tcp::socket socket, SslContext ctx, std::string sni,
                                 std::vector<std::string> verifyNames,
                                 std::vector<std::string> spiffeIds,
                                 std::chrono::milliseconds timeout) {
  ClientHandshake out;
  SSL_CTX* native = ctx->native_handle();
  auto stream = std::make_unique<TlsStream>(std::move(socket), std::move(ctx));
  SSL* ssl = stream->ssl().native_handle();
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  const bool verifying = SSL_CTX_get_verify_mode(native) != SSL_VERIFY_NONE;
  if (verifying && !verifyNames.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    bool first = true;
    for (const auto& n : verifyNames) {
      if (first) {
        X509_VERIFY_PARAM_set1_host(param, n.c_str(), n.size());
      } else {
        X509_VERIFY_PARAM_add1_host(param, n.c_str(), n.size());
      }
      first = false;
    }
  }
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto watchdog = Watchdog::create(executor, [s = stream.get()] { s->close(); });
  watchdog->arm(timeout);
  auto [ec] = co_await stream->ssl().async_handshake(asio::ssl::stream_base::client, kAsTuple);
  watchdog->disarm();
  if (ec || watchdog->fired()) {
    const long verify = SSL_get_verify_result(ssl);
    ERR_clear_error();
    // Envoy (BoringSSL) reports verification failures as 268435581 CERTIFICATE_VERIFY_FAILED
    // (§4 example body); other handshake failures as a generic TLS error.
    out.failureReason = verify != X509_V_OK
                            ? kVerifyFailed
                            : "TLS_error:|268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_"
                              "NUMBER:TLS_error_end";
    co_return out;
  }
  if (verifying && !spiffeIds.empty() && !peerHasSpiffeId(ssl, spiffeIds)) {
    out.failureReason = kVerifyFailed;
    co_return out;
  }
  out.stream = std::move(stream);
  co_return out;
}

namespace {

std::string firstUriSan(X509* cert) {
  std::string out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names) && out.empty(); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type != GEN_URI) continue;
    out.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier)),
               static_cast<std::size_t>(ASN1_STRING_length(g->d.uniformResourceIdentifier)));
  }
  GENERAL_NAMES_free(names);
  return out;
}

}  // namespace

std::optional<PeerCertificate> peerCertificate(SSL* ssl) {
  if (ssl == nullptr) return std::nullopt;
  X509* peer = SSL_get1_peer_certificate(ssl);
  if (peer == nullptr) return std::nullopt;
  PeerCertificate out;
  out.uriSan = firstUriSan(peer);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(peer, EVP_sha256(), digest, &len) == 1) {
    static const char* kHex = "0123456789abcdef";
    for (unsigned int i = 0; i < len; ++i) {
      out.sha256Hex += kHex[digest[i] >> 4];
      out.sha256Hex += kHex[digest[i] & 0xf];
    }
  }
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio != nullptr && PEM_write_bio_X509(bio, peer) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n > 0) out.pem.assign(data, static_cast<std::size_t>(n));
  }
  BIO_free(bio);
  X509_free(peer);
  return out;
}

std::string uriSanOfPem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return {};
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return {};
  std::string out = firstUriSan(cert);
  X509_free(cert);
  return out;
}

}  // namespace egresslab::sim
