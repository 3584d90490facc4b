#include "harness/sim/tls.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

namespace egresslab::sim {
namespace {

// Captures the ClientHello an OpenSSL client sends with `sni`.
std::string clientHelloBytes(const std::string& sni) {
  auto ctx = makeClientContext("", std::nullopt);
  EXPECT_TRUE(ctx.has_value());
  SslPtr ssl(SSL_new(ctx->get()));
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
  SSL_connect(ssl.get());  // wants to read: the hello is in wbio
  char* data = nullptr;
  long n = BIO_get_mem_data(wbio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

TEST(TlsInspector, ReadsSniFromARealClientHello) {
  const std::string hello = clientHelloBytes("httpbin.example.com");
  auto info = inspectClientHello(hello);
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(info->tls);
  EXPECT_EQ(info->sni, "httpbin.example.com");
}

TEST(TlsInspector, NoSniWhenClientSendsNone) {
  // §4: 1.8–1.20 originate TLS without SNI when the DR has no `sni`.
  auto info = inspectClientHello(clientHelloBytes(""));
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(info->tls);
  EXPECT_EQ(info->sni, "");
}

TEST(TlsInspector, PartialHelloNeedsMoreBytesAndPlaintextIsDecidedAtOnce) {
  const std::string hello = clientHelloBytes("a.example");
  EXPECT_FALSE(inspectClientHello(hello.substr(0, 20)).has_value());
  auto plain = inspectClientHello("GET / HTTP/1.1\r\n");
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(plain->tls);
}

TEST(TlsInspector, GarbageNeverCrashes) {
  std::string bytes = "\x16\x03\x01\x00\x30\x01";
  for (int i = 0; i < 2000; ++i) {
    bytes.push_back(static_cast<char>((i * 131) & 0xff));
    (void)inspectClientHello(bytes);
  }
  SUCCEED();
}

struct Handshake {
  bool serverOk = false;
  std::string clientFailure;
  bool clientOk = false;
};

// One handshake over loopback, server and client as coroutines on one io_context.
Handshake handshake(const pki::KeyPair& serverId, const std::string& clientCa,
                    const std::string& trust, const std::string& sni,
                    const std::vector<std::string>& names,
                    const std::optional<pki::KeyPair>& clientId = std::nullopt) {
  Handshake out;
  asio::io_context ctx;
  tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
  const tcp::endpoint at = acceptor.local_endpoint();
  auto sctx = makeServerContext(serverId, clientCa);
  EXPECT_TRUE(sctx.has_value());
  auto cctx = makeClientContext(trust, clientId);
  EXPECT_TRUE(cctx.has_value());
  if (!sctx || !cctx) return out;
  auto rethrow = [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  };
  asio::co_spawn(
      ctx,
      [&]() -> Task<void> {
        auto [ec, socket] = co_await acceptor.async_accept(kAsTuple);
        if (ec) co_return;
        auto s = co_await acceptTls(std::move(socket), adoptContext(std::move(*sctx)),
                                    std::chrono::seconds(5));
        out.serverOk = s != nullptr;
        if (s) {
          char b[8];
          co_await s->readSome(asio::buffer(b));  // wait for the client to finish
        }
      },
      rethrow);
  asio::co_spawn(
      ctx,
      [&]() -> Task<void> {
        tcp::socket socket(ctx);
        auto [ec] = co_await socket.async_connect(at, kAsTuple);
        EXPECT_FALSE(ec);
        auto hs = co_await connectTls(std::move(socket), adoptContext(std::move(*cctx)), sni, names,
                                      {}, std::chrono::seconds(5));
        out.clientOk = hs.stream != nullptr;
        out.clientFailure = hs.failureReason;
        hs.stream.reset();
      },
      rethrow);
  ctx.run();
  return out;
}

TEST(UpstreamTls, VerifiesAgainstTrustAndHostname) {
  auto ca = pki::CertificateAuthority::create("public");
  auto other = pki::CertificateAuthority::create("other");
  ASSERT_TRUE(ca && other);
  auto cert = ca->issueServer({"httpbin.org"});
  ASSERT_TRUE(cert);
  // §4 1.8–1.20 default: no verification → anything goes.
  EXPECT_TRUE(handshake(*cert, "", "", "", {}).clientOk);
  // System CA + matching name.
  EXPECT_TRUE(handshake(*cert, "", ca->certPem(), "httpbin.org", {"httpbin.org"}).clientOk);
  // §4 1.21+ trap: auto SAN against the proxied host fails with CERTIFICATE_VERIFY_FAILED.
  auto trap = handshake(*cert, "", ca->certPem(), "httpbin.example.com", {"httpbin.example.com"});
  EXPECT_FALSE(trap.clientOk);
  EXPECT_NE(trap.clientFailure.find("CERTIFICATE_VERIFY_FAILED"), std::string::npos);
  // Untrusted issuer (bad-cert fault).
  EXPECT_FALSE(handshake(*cert, "", other->certPem(), "httpbin.org", {}).clientOk);
}

TEST(UpstreamTls, MutualRequiresAClientCertificateFromTheMeshCa) {
  auto mesh = pki::CertificateAuthority::create("cluster.local");
  ASSERT_TRUE(mesh);
  auto server = mesh->issueWorkload("httpbin", "sleep");
  auto client = mesh->issueWorkload("httpbin", "httpbin-egress");
  ASSERT_TRUE(server && client);
  EXPECT_TRUE(handshake(*server, mesh->certPem(), mesh->certPem(), "", {}, *client).serverOk);
  // §6 STRICT: no client certificate → the server rejects the handshake.
  EXPECT_FALSE(handshake(*server, mesh->certPem(), mesh->certPem(), "", {}).serverOk);
}

// The protocol ALPN settles on when a client offering `offer` (wire format, "" = no ALPN) meets
// a server context with `alpn`: an in-memory handshake.
std::string negotiatedAlpn(ServerAlpn alpn, const std::string& offer) {
  auto ca = pki::CertificateAuthority::create("alpn");
  EXPECT_TRUE(ca.has_value());
  if (!ca) return "<no ca>";
  auto id = ca->issueServer({"gw.example"});
  EXPECT_TRUE(id.has_value());
  auto sctx = makeServerContext(*id, "", alpn);
  auto cctx = makeClientContext("", std::nullopt);
  EXPECT_TRUE(sctx && cctx);
  if (!id || !sctx || !cctx) return "<no context>";
  SslPtr server(SSL_new(sctx->get()));
  SslPtr client(SSL_new(cctx->get()));
  BIO* toServer = BIO_new(BIO_s_mem());
  BIO* toClient = BIO_new(BIO_s_mem());
  BIO_up_ref(toServer);
  BIO_up_ref(toClient);
  SSL_set_bio(server.get(), toServer, toClient);
  SSL_set_bio(client.get(), toClient, toServer);
  SSL_set_accept_state(server.get());
  SSL_set_connect_state(client.get());
  if (!offer.empty()) {
    SSL_set_alpn_protos(client.get(), reinterpret_cast<const unsigned char*>(offer.data()),
                        static_cast<unsigned int>(offer.size()));
  }
  for (int i = 0;
       i < 10 && (!SSL_is_init_finished(client.get()) || !SSL_is_init_finished(server.get()));
       ++i) {
    SSL_do_handshake(client.get());
    SSL_do_handshake(server.get());
  }
  EXPECT_TRUE(SSL_is_init_finished(client.get()));
  const unsigned char* selected = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(client.get(), &selected, &length);
  return std::string(reinterpret_cast<const char*>(selected), length);
}

// §5: an HTTP listener's TLS offers util.ALPNHttp in the server's order: a client offering both
// (curl over HTTPS) gets h2, one offering only http/1.1 (curl --http1.1) gets that, and without
// ALPN (a proxy's own TLS origination) nothing is negotiated. A context without ALPN selects
// nothing.
TEST(ServerTls, HttpListenersOfferH2ThenHttp11) {
  const std::string both("\x02h2\x08http/1.1", 12);
  const std::string http11("\x08http/1.1", 9);
  EXPECT_EQ(negotiatedAlpn(ServerAlpn::kHttp, both), "h2");
  EXPECT_EQ(negotiatedAlpn(ServerAlpn::kHttp, http11), "http/1.1");
  EXPECT_EQ(negotiatedAlpn(ServerAlpn::kHttp, ""), "");
  EXPECT_EQ(negotiatedAlpn(ServerAlpn::kNone, both), "");
}

}  // namespace
}  // namespace egresslab::sim
