#include "harness/pki/pki.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <thread>

namespace egresslab::pki {
namespace {

using namespace std::chrono_literals;

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::vector<X509Ptr> parseCerts(const std::string& pem) {
  std::vector<X509Ptr> certs;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) certs.emplace_back(cert);
  ERR_clear_error();  // the loop ends on "no start line"
  BIO_free(bio);
  return certs;
}

X509Ptr parseCert(const std::string& pem) {
  auto certs = parseCerts(pem);
  EXPECT_EQ(certs.size(), 1u);
  return certs.empty() ? nullptr : std::move(certs.front());
}

EVP_PKEY* parseKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return key;
}

// Verifies `leafPem` against `caPem` with OpenSSL's own chain builder; returns the
// X509_V_ERR_* code (X509_V_OK on success). purpose 0 checks the chain only.
int verifyAgainst(const std::string& leafPem, const std::string& caPem,
                  int purpose = X509_PURPOSE_SSL_SERVER) {
  X509Ptr leaf = parseCert(leafPem);
  X509Ptr ca = parseCert(caPem);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca.get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf.get(), nullptr);
  if (purpose != 0) X509_STORE_CTX_set_purpose(ctx, purpose);
  const int ok = X509_verify_cert(ctx);
  const int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok == 1 ? X509_V_OK : err;
}

std::vector<std::string> sansOfType(const std::string& pem, int type) {
  X509Ptr cert = parseCert(pem);
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != type) continue;
    const ASN1_STRING* s = gn->d.ia5;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  GENERAL_NAMES_free(names);
  return out;
}

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = CertificateAuthority::create("EgressLab scenario CA");
    ASSERT_TRUE(ca.has_value()) << ca.error().str();
    ca_ = std::make_unique<CertificateAuthority>(std::move(*ca));
    auto other = CertificateAuthority::create("Unrelated CA");
    ASSERT_TRUE(other.has_value()) << other.error().str();
    unrelated_ = std::make_unique<CertificateAuthority>(std::move(*other));
  }
  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<CertificateAuthority> unrelated_;
};

TEST_F(PkiTest, CaIsSelfSignedCaWithKeyCertSign) {
  X509Ptr ca = parseCert(ca_->certPem());
  ASSERT_TRUE(ca);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_NE(X509_get_extension_flags(ca.get()) & EXFLAG_SS, 0u);
  EXPECT_NE(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN, 0u);
  EXPECT_NE(X509_get_key_usage(ca.get()) & KU_CRL_SIGN, 0u);
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  // basicConstraints is critical
  const int idx = X509_get_ext_by_NID(ca.get(), NID_basic_constraints, -1);
  ASSERT_GE(idx, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(ca.get(), idx)), 1);
  EXPECT_EQ(verifyAgainst(ca_->certPem(), ca_->certPem(), /*purpose=*/0), X509_V_OK);
  EXPECT_EQ(ca_->commonName(), "EgressLab scenario CA");
  EXPECT_EQ(ca_->keyType(), KeyType::kEcP256);
  EXPECT_NE(ca_->keyPem().find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(ca.get())), EVP_PKEY_EC);
}

TEST_F(PkiTest, ServerLeafVerifiesAgainstItsCaOnly) {
  auto leaf = ca_->issueServer({"httpbin.example.com", "127.0.0.1"});
  ASSERT_TRUE(leaf.has_value()) << leaf.error().str();
  EXPECT_EQ(verifyAgainst(leaf->certPem, ca_->certPem()), X509_V_OK);
  EXPECT_EQ(verifyAgainst(leaf->certPem, unrelated_->certPem()),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(PkiTest, ServerLeafCarriesDnsAndIpSans) {
  auto leaf = ca_->issueServer({"httpbin.example.com", "*.apps.example.com", "127.0.0.7", "::1"});
  ASSERT_TRUE(leaf.has_value()) << leaf.error().str();
  X509Ptr cert = parseCert(leaf->certPem);
  EXPECT_EQ(X509_check_host(cert.get(), "httpbin.example.com", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "foo.apps.example.com", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "httpbin.org", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.7", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.8", 0), 0);
  // "127.0.0.7" went into an IP SAN, not a DNS SAN.
  EXPECT_EQ(sansOfType(leaf->certPem, GEN_DNS),
            (std::vector<std::string>{"httpbin.example.com", "*.apps.example.com"}));
  // CN = first name; EKU serverAuth; not a CA; authorityKeyIdentifier = issuer's SKI.
  char cn[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "httpbin.example.com");
  EXPECT_NE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER, 0u);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT, 0u);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  X509Ptr ca = parseCert(ca_->certPem());
  ASSERT_NE(X509_get0_authority_key_id(cert.get()), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert.get()),
                                  X509_get0_subject_key_id(ca.get())),
            0);
}

TEST_F(PkiTest, ChainPemIsLeafThenIssuer) {
  auto leaf = ca_->issueServer({"a.example"});
  ASSERT_TRUE(leaf.has_value());
  auto chain = parseCerts(leaf->chainPem);
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(X509_cmp(chain[0].get(), parseCert(leaf->certPem).get()), 0);
  EXPECT_EQ(X509_cmp(chain[1].get(), parseCert(ca_->certPem()).get()), 0);
}

TEST_F(PkiTest, KeyMatchesCertificate) {
  auto leaf = ca_->issueServer({"a.example"});
  ASSERT_TRUE(leaf.has_value());
  EVP_PKEY* key = parseKey(leaf->keyPem);
  ASSERT_NE(key, nullptr);
  X509Ptr cert = parseCert(leaf->certPem);
  EXPECT_EQ(X509_check_private_key(cert.get(), key), 1);
  EVP_PKEY_free(key);
}

// pki builds P-256 key encodings itself (OpenSSL 3.0's encoder path is slow): they must be
// exactly what OpenSSL writes.
TEST_F(PkiTest, EcKeyEncodingsMatchOpenSsl) {
  auto leaf = ca_->issueServer({"a.example"});
  ASSERT_TRUE(leaf.has_value());
  for (const std::string& keyPem : {leaf->keyPem, ca_->keyPem()}) {
    EVP_PKEY* key = parseKey(keyPem);
    ASSERT_NE(key, nullptr);
    BIO* bio = BIO_new(BIO_s_mem());
    ASSERT_EQ(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    EXPECT_EQ(keyPem, std::string(data, static_cast<size_t>(len)));
    BIO_free(bio);
    EVP_PKEY_free(key);
  }
  // The certificate's SubjectPublicKeyInfo is the key's.
  X509Ptr cert = parseCert(leaf->certPem);
  EVP_PKEY* key = parseKey(leaf->keyPem);
  unsigned char* fromCert = nullptr;
  unsigned char* fromKey = nullptr;
  const int certLen = i2d_PUBKEY(X509_get0_pubkey(cert.get()), &fromCert);
  const int keyLen = i2d_PUBKEY(key, &fromKey);
  ASSERT_GT(certLen, 0);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(fromCert), static_cast<size_t>(certLen)),
            std::string(reinterpret_cast<char*>(fromKey), static_cast<size_t>(keyLen)));
  OPENSSL_free(fromCert);
  OPENSSL_free(fromKey);
  EVP_PKEY_free(key);
}

TEST_F(PkiTest, SerialsAreRandomAndPositive) {
  std::set<std::string> serials;
  for (int i = 0; i < 8; ++i) {
    auto leaf = ca_->issueServer({"a.example"});
    ASSERT_TRUE(leaf.has_value());
    X509Ptr cert = parseCert(leaf->certPem);
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr);
    EXPECT_FALSE(BN_is_negative(bn));
    EXPECT_FALSE(BN_is_zero(bn));
    char* hex = BN_bn2hex(bn);
    serials.insert(hex);
    OPENSSL_free(hex);
    BN_free(bn);
  }
  EXPECT_EQ(serials.size(), 8u);
}

TEST_F(PkiTest, ExpiredLeafFailsVerification) {
  LeafRequest request;
  request.commonName = "expired.example";
  request.dnsNames = {"expired.example"};
  request.notBeforeOffset = -std::chrono::hours(48);
  request.validFor = std::chrono::hours(24);
  auto leaf = ca_->issue(request);
  ASSERT_TRUE(leaf.has_value()) << leaf.error().str();
  EXPECT_EQ(verifyAgainst(leaf->certPem, ca_->certPem()), X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_F(PkiTest, NotYetValidLeafFailsVerification) {
  LeafRequest request;
  request.commonName = "future.example";
  request.dnsNames = {"future.example"};
  request.notBeforeOffset = std::chrono::hours(24);
  auto leaf = ca_->issue(request);
  ASSERT_TRUE(leaf.has_value()) << leaf.error().str();
  EXPECT_EQ(verifyAgainst(leaf->certPem, ca_->certPem()), X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST_F(PkiTest, WorkloadCertificateCarriesSpiffeUriForBothSides) {
  auto workload = ca_->issueWorkload("httpbin", "sleep");
  ASSERT_TRUE(workload.has_value()) << workload.error().str();
  EXPECT_EQ(sansOfType(workload->certPem, GEN_URI),
            (std::vector<std::string>{"spiffe://cluster.local/ns/httpbin/sa/sleep"}));
  X509Ptr cert = parseCert(workload->certPem);
  const uint32_t xku = X509_get_extended_key_usage(cert.get());
  EXPECT_NE(xku & XKU_SSL_SERVER, 0u);
  EXPECT_NE(xku & XKU_SSL_CLIENT, 0u);
  // Empty subject like Istio's, so the SAN is critical (RFC 5280 §4.2.1.6).
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(cert.get())), 0);
  const int idx = X509_get_ext_by_NID(cert.get(), NID_subject_alt_name, -1);
  ASSERT_GE(idx, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(cert.get(), idx)), 1);
  EXPECT_EQ(verifyAgainst(workload->certPem, ca_->certPem(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(verifyAgainst(workload->certPem, ca_->certPem(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
}

TEST_F(PkiTest, ClientOnlyLeafIsRejectedForServerPurpose) {
  LeafRequest request;
  request.commonName = "client";
  request.serverAuth = false;
  request.clientAuth = true;
  auto leaf = ca_->issue(request);
  ASSERT_TRUE(leaf.has_value());
  EXPECT_EQ(verifyAgainst(leaf->certPem, ca_->certPem(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(verifyAgainst(leaf->certPem, ca_->certPem(), X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_INVALID_PURPOSE);
}

TEST(SpiffeIdTest, FollowsIstioFormat) {
  EXPECT_EQ(spiffeId("istio-system", "istio-egressgateway-service-account"),
            "spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account");
  EXPECT_EQ(spiffeId("a", "b", "example.org"), "spiffe://example.org/ns/a/sa/b");
}

TEST(RsaPkiTest, RsaCaIssuesRsaAndEcLeaves) {
  auto ca = CertificateAuthority::create("RSA CA", KeyType::kRsa2048);
  ASSERT_TRUE(ca.has_value()) << ca.error().str();
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(parseCert(ca->certPem()).get())), EVP_PKEY_RSA);
  LeafRequest request;
  request.commonName = "rsa.example";
  request.dnsNames = {"rsa.example"};
  request.keyType = KeyType::kRsa2048;
  auto rsaLeaf = ca->issue(request);
  ASSERT_TRUE(rsaLeaf.has_value()) << rsaLeaf.error().str();
  EXPECT_EQ(verifyAgainst(rsaLeaf->certPem, ca->certPem()), X509_V_OK);
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(parseCert(rsaLeaf->certPem).get())), 2048);
  auto ecLeaf = ca->issueServer({"ec.example"});
  ASSERT_TRUE(ecLeaf.has_value());
  EXPECT_EQ(verifyAgainst(ecLeaf->certPem, ca->certPem()), X509_V_OK);
}

TEST_F(PkiTest, RejectsBadRequests) {
  EXPECT_FALSE(ca_->issueServer({}).has_value());
  LeafRequest badIp;
  badIp.ipAddresses = {"not-an-ip"};
  auto r = ca_->issue(badIp);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("not-an-ip"), std::string::npos);
  LeafRequest zeroLifetime;
  zeroLifetime.validFor = 0s;
  EXPECT_FALSE(ca_->issue(zeroLifetime).has_value());
  EXPECT_FALSE(ca_->issueWorkload("", "sa").has_value());
}

TEST_F(PkiTest, LongNamesLiveOnlyInSans) {
  const std::string longName(70, 'a');
  const std::string host = longName + ".example.com";
  auto leaf = ca_->issueServer({host});
  ASSERT_TRUE(leaf.has_value()) << leaf.error().str();
  X509Ptr cert = parseCert(leaf->certPem);
  EXPECT_EQ(X509_check_host(cert.get(), host.c_str(), host.size(), 0, nullptr), 1);
}

TEST_F(PkiTest, CopiesShareTheSigningKey) {
  CertificateAuthority copy = *ca_;
  auto leaf = copy.issueServer({"copy.example"});
  ASSERT_TRUE(leaf.has_value());
  EXPECT_EQ(verifyAgainst(leaf->certPem, ca_->certPem()), X509_V_OK);
}

// --- A real TLS handshake over a socketpair: the chain a server presents verifies with SNI and
// hostname checking, the way curl and Envoy check it.

struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

SslCtxPtr serverContext(const KeyPair& pair, const std::string* clientCaPem) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  auto chain = parseCerts(pair.chainPem);
  EXPECT_EQ(SSL_CTX_use_certificate(ctx.get(), chain.at(0).get()), 1);
  for (size_t i = 1; i < chain.size(); ++i) SSL_CTX_add1_chain_cert(ctx.get(), chain[i].get());
  EVP_PKEY* key = parseKey(pair.keyPem);
  EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx.get(), key), 1);
  EVP_PKEY_free(key);
  if (clientCaPem != nullptr) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    X509_STORE_add_cert(store, parseCert(*clientCaPem).get());
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ctx;
}

SslCtxPtr clientContext(const std::string& caPem, const KeyPair* clientCert) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), parseCert(caPem).get());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (clientCert != nullptr) {
    SSL_CTX_use_certificate(ctx.get(), parseCert(clientCert->certPem).get());
    EVP_PKEY* key = parseKey(clientCert->keyPem);
    SSL_CTX_use_PrivateKey(ctx.get(), key);
    EVP_PKEY_free(key);
  }
  return ctx;
}

struct HandshakeOutcome {
  bool clientOk = false;
  long clientVerify = X509_V_OK;
  bool serverOk = false;
  std::string sniSeenByServer;
  std::vector<std::string> peerUrisSeenByServer;
};

std::string certToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

// Runs one TLS handshake between two contexts over a socketpair, the server in a thread. The
// client sends SNI `sni` and, when `checkHostname`, verifies that the certificate names it (as
// curl does); SPIFFE peers are checked by chain and URI SAN only (as Envoy does).
HandshakeOutcome handshake(SSL_CTX* serverCtx, SSL_CTX* clientCtx, const std::string& sni,
                           bool checkHostname = true) {
  // A side that writes after its peer rejected the handshake must get EPIPE, not die.
  std::signal(SIGPIPE, SIG_IGN);
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  HandshakeOutcome out;
  std::thread server([&] {
    SSL* ssl = SSL_new(serverCtx);
    SSL_set_fd(ssl, fds[0]);
    out.serverOk = SSL_accept(ssl) == 1;
    if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
      out.sniSeenByServer = name;
    }
    if (out.serverOk) {
      // TLS 1.3: the client's verdict on our certificate arrives with its first read.
      char byte = 0;
      out.serverOk = SSL_read(ssl, &byte, 1) == 1;
      if (X509* peer = SSL_get1_peer_certificate(ssl)) {
        out.peerUrisSeenByServer = sansOfType(certToPem(peer), GEN_URI);
        X509_free(peer);
      }
      if (out.serverOk) SSL_write(ssl, &byte, 1);
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ::shutdown(fds[0], SHUT_RDWR);
  });
  SSL* ssl = SSL_new(clientCtx);
  SSL_set_fd(ssl, fds[1]);
  SSL_set_tlsext_host_name(ssl, sni.c_str());
  if (checkHostname) SSL_set1_host(ssl, sni.c_str());
  out.clientOk = SSL_connect(ssl) == 1;
  out.clientVerify = SSL_get_verify_result(ssl);
  if (out.clientOk) {
    const char byte = 'x';
    char reply = 0;
    SSL_write(ssl, &byte, 1);
    // The echo proves the server accepted us; a rejected client certificate shows here.
    out.clientOk = SSL_read(ssl, &reply, 1) == 1 && reply == 'x';
  }
  SSL_free(ssl);
  ::shutdown(fds[1], SHUT_RDWR);
  server.join();
  ::close(fds[0]);
  ::close(fds[1]);
  ERR_clear_error();
  return out;
}

TEST_F(PkiTest, TlsHandshakeVerifiesServerChainWithSniAndHostname) {
  auto leaf = ca_->issueServer({"httpbin.example.com", "127.0.0.1"});
  ASSERT_TRUE(leaf.has_value());
  auto server = serverContext(*leaf, nullptr);
  auto client = clientContext(ca_->certPem(), nullptr);
  const auto ok = handshake(server.get(), client.get(), "httpbin.example.com");
  EXPECT_TRUE(ok.clientOk);
  EXPECT_TRUE(ok.serverOk);
  EXPECT_EQ(ok.clientVerify, X509_V_OK);
  EXPECT_EQ(ok.sniSeenByServer, "httpbin.example.com");

  const auto wrongName = handshake(server.get(), client.get(), "httpbin.org");
  EXPECT_FALSE(wrongName.clientOk);
  EXPECT_EQ(wrongName.clientVerify, X509_V_ERR_HOSTNAME_MISMATCH);

  auto untrusting = clientContext(unrelated_->certPem(), nullptr);
  const auto untrusted = handshake(server.get(), untrusting.get(), "httpbin.example.com");
  EXPECT_FALSE(untrusted.clientOk);
  // The server sends leaf + root (chainPem), so the client sees an untrusted self-signed root.
  EXPECT_EQ(untrusted.clientVerify, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN);
}

TEST_F(PkiTest, MutualTlsWithWorkloadCertificates) {
  auto meshCa = CertificateAuthority::create("mesh CA");
  ASSERT_TRUE(meshCa.has_value());
  auto serverCert = meshCa->issueWorkload("istio-system", "istio-egressgateway-service-account");
  auto clientCert = meshCa->issueWorkload("default", "sleep");
  ASSERT_TRUE(serverCert.has_value() && clientCert.has_value());
  auto server = serverContext(*serverCert, &meshCa->certPem());
  auto client = clientContext(meshCa->certPem(), &*clientCert);
  const auto mtls = handshake(server.get(), client.get(), "outbound_.443_._.httpbin.org", false);
  EXPECT_TRUE(mtls.clientOk);
  EXPECT_TRUE(mtls.serverOk);
  EXPECT_EQ(mtls.clientVerify, X509_V_OK);
  EXPECT_EQ(mtls.peerUrisSeenByServer,
            (std::vector<std::string>{"spiffe://cluster.local/ns/default/sa/sleep"}));

  // A client certificate from another CA is refused by the server.
  auto stranger = unrelated_->issueWorkload("default", "sleep");
  ASSERT_TRUE(stranger.has_value());
  auto strangerClient = clientContext(meshCa->certPem(), &*stranger);
  const auto refused = handshake(server.get(), strangerClient.get(), "x", false);
  EXPECT_FALSE(refused.serverOk);
  EXPECT_FALSE(refused.clientOk);
}

// --- RunDirectory

mode_t modeOf(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(RunDirectoryTest, PrivateDirectoryAndFileModes) {
  std::filesystem::path where;
  {
    auto dir = RunDirectory::create("pki-test");
    ASSERT_TRUE(dir.has_value()) << dir.error().str();
    where = dir->path();
    EXPECT_EQ(modeOf(where), 0700u);
    EXPECT_TRUE(where.filename().string().starts_with("pki-test-"));

    auto cert = dir->write("certs/ca.pem", "CERT");
    ASSERT_TRUE(cert.has_value()) << cert.error().str();
    EXPECT_EQ(*cert, where / "certs/ca.pem");
    EXPECT_EQ(modeOf(*cert), 0644u);
    EXPECT_EQ(modeOf(where / "certs"), 0700u);
    EXPECT_EQ(readFile(*cert), "CERT");

    auto key = dir->writePrivate("certs/ca.key", "KEY");
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(modeOf(*key), 0600u);
    EXPECT_EQ(readFile(*key), "KEY");

    // Overwriting replaces content and applies the new mode exactly.
    auto again = dir->write("certs/ca.key", "KEY2", 0640);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(modeOf(*again), 0640u);
    EXPECT_EQ(readFile(*again), "KEY2");
  }
  EXPECT_FALSE(std::filesystem::exists(where));
}

TEST(RunDirectoryTest, RejectsPathsOutsideTheDirectory) {
  auto dir = RunDirectory::create();
  ASSERT_TRUE(dir.has_value());
  EXPECT_FALSE(dir->write("../escape", "x").has_value());
  EXPECT_FALSE(dir->write("a/../../escape", "x").has_value());
  EXPECT_FALSE(dir->write("/etc/passwd", "x").has_value());
  EXPECT_FALSE(dir->write("", "x").has_value());
  EXPECT_TRUE(dir->write("a/../inside", "x").has_value());
  EXPECT_TRUE(std::filesystem::exists(dir->path() / "inside"));
}

TEST(RunDirectoryTest, KeepLeavesTheDirectory) {
  std::filesystem::path where;
  {
    auto dir = RunDirectory::create("pki-keep");
    ASSERT_TRUE(dir.has_value());
    where = dir->path();
    ASSERT_TRUE(dir->write("f", "x").has_value());
    EXPECT_TRUE(std::filesystem::exists(where / kRunDirectoryOwnerFile));
    dir->keep();
  }
  EXPECT_TRUE(std::filesystem::exists(where / "f"));
  // A kept directory loses its owner marker: no later run's cleanup deletes it.
  EXPECT_FALSE(std::filesystem::exists(where / kRunDirectoryOwnerFile));
  std::filesystem::remove_all(where);
}

TEST(RunDirectoryTest, MoveTransfersOwnership) {
  auto parent = RunDirectory::create("pki-parent");
  ASSERT_TRUE(parent.has_value());
  std::filesystem::path first;
  std::filesystem::path second;
  {
    auto a = RunDirectory::create("a", parent->path());
    auto b = RunDirectory::create("b", parent->path());
    ASSERT_TRUE(a.has_value() && b.has_value());
    first = a->path();
    second = b->path();
    EXPECT_EQ(first.parent_path(), parent->path());
    RunDirectory moved(std::move(*a));
    EXPECT_EQ(moved.path(), first);
    EXPECT_TRUE(std::filesystem::exists(first));  // the moved-from object did not delete it
    moved = std::move(*b);                        // the old directory goes away now
    EXPECT_FALSE(std::filesystem::exists(first));
    EXPECT_TRUE(std::filesystem::exists(second));
  }
  EXPECT_FALSE(std::filesystem::exists(second));
}

TEST(RunDirectoryTest, FailsUnderMissingParent) {
  auto dir = RunDirectory::create("x", "/nonexistent/egresslab/parent");
  ASSERT_FALSE(dir.has_value());
  EXPECT_EQ(dir.error().kind, ErrorKind::kEnvironment);
}

// --- stale run directories

// A pid that no longer names a process: a child that has exited and been reaped.
pid_t deadPid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  EXPECT_GT(child, 0);
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
  return child;
}

void makeDir(const std::filesystem::path& dir, const std::string& marker) {
  std::filesystem::create_directory(dir);
  if (!marker.empty()) std::ofstream(dir / kRunDirectoryOwnerFile) << marker;
  std::ofstream(dir / "file") << "x";
}

TEST(StaleRunDirectoryTest, RemovesOnlyDirectoriesOfDeadRuns) {
  auto parent = RunDirectory::create("pki-stale");
  ASSERT_TRUE(parent.has_value());
  const std::filesystem::path base = parent->path();

  auto live = RunDirectory::create("run", base);
  ASSERT_TRUE(live.has_value());
  const std::string liveMarker = readFile(live->path() / kRunDirectoryOwnerFile);
  const std::string ownPid = std::to_string(::getpid());
  ASSERT_TRUE(liveMarker.starts_with(ownPid + " ")) << liveMarker;
  ASSERT_TRUE(liveMarker.ends_with("\n"));
  const std::string ownStart =
      liveMarker.substr(ownPid.size() + 1, liveMarker.size() - 2 - ownPid.size());

  const std::string dead = std::to_string(deadPid());
  makeDir(base / "run-dead01", dead + " 12345\n");
  // Our own pid with another start time: the pid was reused, the owner is gone.
  makeDir(base / "run-reuse1", ownPid + " " + ownStart + "0\n");
  // Dead owners, but not this prefix's run directories.
  makeDir(base / "other-dead01", dead + " 12345\n");
  makeDir(base / "run-dead0123", dead + " 12345\n");
  makeDir(base / "run-dead.1", dead + " 12345\n");

  std::vector<std::string> lines;
  const auto removed = removeStaleRunDirectories(
      "run", base, [&](const std::string& line) { lines.push_back(line); });

  const std::set<std::filesystem::path> expected = {base / "run-dead01", base / "run-reuse1"};
  EXPECT_EQ(std::set<std::filesystem::path>(removed.begin(), removed.end()), expected);
  EXPECT_FALSE(std::filesystem::exists(base / "run-dead01"));
  EXPECT_FALSE(std::filesystem::exists(base / "run-reuse1"));
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) EXPECT_NE(line.find(base.string() + "/run-"), std::string::npos);
  EXPECT_EQ(readFile(live->path() / kRunDirectoryOwnerFile), liveMarker);
  EXPECT_TRUE(std::filesystem::exists(base / "other-dead01" / "file"));
  EXPECT_TRUE(std::filesystem::exists(base / "run-dead0123" / "file"));
  EXPECT_TRUE(std::filesystem::exists(base / "run-dead.1" / "file"));

  // A second pass finds nothing more.
  EXPECT_TRUE(removeStaleRunDirectories("run", base, nullptr).empty());
}

TEST(StaleRunDirectoryTest, CreateCleansUpTheSamePrefix) {
  auto parent = RunDirectory::create("pki-stale");
  ASSERT_TRUE(parent.has_value());
  const std::filesystem::path base = parent->path();
  makeDir(base / "run-dead02", std::to_string(deadPid()) + " 1\n");
  auto next = RunDirectory::create("run", base);
  ASSERT_TRUE(next.has_value());
  EXPECT_FALSE(std::filesystem::exists(base / "run-dead02"));
}

TEST(StaleRunDirectoryTest, NeverTouchesDirectoriesWithoutAValidMarker) {
  auto parent = RunDirectory::create("pki-stale");
  ASSERT_TRUE(parent.has_value());
  const std::filesystem::path base = parent->path();
  const std::string dead = std::to_string(deadPid());

  makeDir(base / "run-nomark", "");
  makeDir(base / "run-badmk1", "abc\n");
  makeDir(base / "run-badmk2", dead + "\n");
  makeDir(base / "run-badmk3", dead + " 1");  // no newline: not written by us
  makeDir(base / "run-badmk4", dead + " 1 2\n");
  // A symlink named like a run directory, pointing at a directory with a dead owner's marker.
  makeDir(base / "target", dead + " 1\n");
  std::filesystem::create_directory_symlink(base / "target", base / "run-link01");
  // A marker that is itself a symlink to a dead owner's marker.
  std::filesystem::create_directory(base / "run-lnkmk1");
  std::filesystem::create_symlink(base / "target" / kRunDirectoryOwnerFile,
                                  base / "run-lnkmk1" / kRunDirectoryOwnerFile);

  std::vector<std::string> lines;
  const auto removed = removeStaleRunDirectories(
      "run", base, [&](const std::string& line) { lines.push_back(line); });
  EXPECT_TRUE(removed.empty());
  EXPECT_TRUE(lines.empty());
  for (const char* name :
       {"run-nomark", "run-badmk1", "run-badmk2", "run-badmk3", "run-badmk4", "target"}) {
    EXPECT_TRUE(std::filesystem::exists(base / name / "file")) << name;
  }
  EXPECT_TRUE(std::filesystem::is_symlink(base / "run-link01"));
  EXPECT_TRUE(std::filesystem::exists(base / "run-lnkmk1"));
}

}  // namespace
}  // namespace egresslab::pki
