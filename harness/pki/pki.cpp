#include "harness/pki/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>
#include <system_error>

namespace egresslab::pki {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct ExtensionFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// The OpenSSL error queue drained into one line, so a failure says which call and why.
std::string opensslError(std::string_view what) {
  std::string detail;
  while (const unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!detail.empty()) detail += "; ";
    detail += buf;
  }
  if (detail.empty()) return fmt::format("pki: {} failed", what);
  return fmt::format("pki: {} failed: {}", what, detail);
}

Result<PkeyPtr> generateKey(KeyType type) {
  // EC P-256 keys take well under a millisecond; RSA-2048 takes tens of milliseconds, which is
  // why EC is the default (the simulator mints a mesh's worth of certificates at every start).
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::kEcP256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kRsa2048:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
      break;
  }
  if (key == nullptr) return environmentError(opensslError("key generation"));
  return PkeyPtr(key);
}

Result<std::string> toPem(const std::function<int(BIO*)>& writer, std::string_view what) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || writer(bio.get()) != 1) return environmentError(opensslError(what));
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Result<std::string> certToPem(X509* cert) {
  return toPem([cert](BIO* b) { return PEM_write_bio_X509(b, cert); }, "PEM_write_bio_X509");
}

// The uncompressed public point of a P-256 key (65 bytes, 0x04 || X || Y), or empty.
std::string ecP256PublicPoint(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC || EVP_PKEY_get_bits(key) != 256) return {};
  unsigned char* point = nullptr;
  const size_t len = EVP_PKEY_get1_encoded_public_key(key, &point);
  std::string out;
  if (len == 65 && point[0] == 0x04) out.assign(reinterpret_cast<char*>(point), len);
  OPENSSL_free(point);
  return out;
}

// OpenSSL 3.0 routes X509_set_pubkey and private-key PEM writing through its provider
// encoders/decoders, ~0.9 ms and ~0.3 ms per key (measured) — most of a certificate's cost, and
// the simulator mints a mesh's worth at every scenario start. For P-256 both encodings are fixed
// DER layouts, so they are built directly; every other key type takes OpenSSL's path.
bool setEcP256PublicKey(X509* cert, EVP_PKEY* key) {
  const std::string point = ecP256PublicPoint(key);
  if (point.empty()) return false;
  auto* bits = static_cast<unsigned char*>(OPENSSL_memdup(point.data(), point.size()));
  if (bits == nullptr) return false;
  if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                             V_ASN1_OBJECT, OBJ_nid2obj(NID_X9_62_prime256v1), bits,
                             static_cast<int>(point.size())) != 1) {
    OPENSSL_free(bits);
    return false;
  }
  return true;
}

Result<void> setPublicKey(X509* cert, EVP_PKEY* key) {
  if (setEcP256PublicKey(cert, key)) return {};
  if (X509_set_pubkey(cert, key) != 1) return environmentError(opensslError("X509_set_pubkey"));
  return {};
}

// PKCS#8 PrivateKeyInfo of a P-256 key, holding an RFC 5915 ECPrivateKey without parameters
// (they are in the AlgorithmIdentifier), as OpenSSL itself writes it.
std::optional<std::string> ecP256Pkcs8Pem(EVP_PKEY* key) {
  const std::string point = ecP256PublicPoint(key);
  if (point.empty()) return std::nullopt;
  BIGNUM* priv = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &priv) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::string der;
  der.reserve(138);
  // PrivateKeyInfo SEQUENCE (135 bytes), version 0, AlgorithmIdentifier {id-ecPublicKey,
  // prime256v1}, OCTET STRING (109 bytes) wrapping the ECPrivateKey.
  static constexpr unsigned char kHeader[] = {
      0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
      0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d,
      // ECPrivateKey SEQUENCE (107 bytes), version 1, privateKey OCTET STRING (32 bytes)
      0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20};
  der.append(reinterpret_cast<const char*>(kHeader), sizeof kHeader);
  unsigned char scalar[32];
  const bool ok = BN_bn2binpad(priv, scalar, sizeof scalar) == sizeof scalar;
  BN_clear_free(priv);
  if (!ok) return std::nullopt;
  der.append(reinterpret_cast<const char*>(scalar), sizeof scalar);
  OPENSSL_cleanse(scalar, sizeof scalar);
  // [1] publicKey BIT STRING (66 bytes: no unused bits, then the point)
  static constexpr unsigned char kPublicKeyHeader[] = {0xa1, 0x44, 0x03, 0x42, 0x00};
  der.append(reinterpret_cast<const char*>(kPublicKeyHeader), sizeof kPublicKeyHeader);
  der += point;
  BioPtr bio(BIO_new(BIO_s_mem()));
  const bool written = bio && PEM_write_bio(bio.get(), "PRIVATE KEY", "",
                                            reinterpret_cast<const unsigned char*>(der.data()),
                                            static_cast<long>(der.size())) > 0;
  OPENSSL_cleanse(der.data(), der.size());
  if (!written) return std::nullopt;
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Result<std::string> keyToPem(EVP_PKEY* key) {
  if (auto fast = ecP256Pkcs8Pem(key)) return std::move(*fast);
  // PKCS#8, unencrypted: what Envoy, cpp-httplib, curl and kubectl all read.
  return toPem(
      [key](BIO* b) {
        return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
      },
      "PEM_write_bio_PrivateKey");
}

// A random positive 127-bit serial (RFC 5280 allows up to 20 octets; the top bit stays clear
// so the DER integer is never negative).
Result<void> setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return environmentError(opensslError("RAND_bytes"));
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;  // never zero
  std::unique_ptr<BIGNUM, BnFree> bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return environmentError(opensslError("serial number"));
  }
  return {};
}

Result<void> setValidity(X509* cert, std::chrono::seconds notBeforeOffset,
                         std::chrono::seconds validFor) {
  if (validFor.count() <= 0) return invalidInput("pki: certificate validity must be positive");
  if (X509_gmtime_adj(X509_getm_notBefore(cert), static_cast<long>(notBeforeOffset.count())) ==
          nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert),
                      static_cast<long>((notBeforeOffset + validFor).count())) == nullptr) {
    return environmentError(opensslError("validity"));
  }
  return {};
}

// X.509 caps commonName at 64 characters; a longer name (a long DNS name) lives only in the SANs.
Result<void> setSubject(X509* cert, const std::vector<std::pair<std::string, std::string>>& rdns) {
  X509_NAME* name = X509_get_subject_name(cert);
  for (const auto& [field, value] : rdns) {
    if (value.empty() || (field == "CN" && value.size() > 64)) continue;
    if (X509_NAME_add_entry_by_txt(name, field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0) != 1) {
      return invalidInput(opensslError(fmt::format("subject {}={}", field, value)));
    }
  }
  return {};
}

Result<void> addConfExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  std::unique_ptr<X509_EXTENSION, ExtensionFree> ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return environmentError(opensslError(fmt::format("extension {}={}", OBJ_nid2sn(nid), value)));
  }
  return {};
}

Result<void> appendName(GENERAL_NAMES* names, int type, const std::string& value) {
  GENERAL_NAME* gn = nullptr;
  if (type == GEN_IPADD) {
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(value.c_str());
    if (ip == nullptr) {
      ERR_clear_error();
      return invalidInput(fmt::format("pki: \"{}\" is not an IP address", value));
    }
    gn = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
  } else {
    ASN1_IA5STRING* text = ASN1_IA5STRING_new();
    if (text == nullptr ||
        ASN1_STRING_set(text, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_IA5STRING_free(text);
      return environmentError(opensslError("subjectAltName"));
    }
    gn = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(gn, type, text);
  }
  if (sk_GENERAL_NAME_push(names, gn) == 0) {
    GENERAL_NAME_free(gn);
    return environmentError(opensslError("subjectAltName"));
  }
  return {};
}

// Built from GENERAL_NAME values rather than a "DNS:a,IP:b" config string so that no name can
// be misread as config syntax.
Result<void> addSubjectAltNames(X509* cert, const LeafRequest& request, bool critical) {
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(sk_GENERAL_NAME_new_null());
  for (const auto& dns : request.dnsNames) {
    if (auto r = appendName(names.get(), GEN_DNS, dns); !r) return r;
  }
  for (const auto& ip : request.ipAddresses) {
    if (auto r = appendName(names.get(), GEN_IPADD, ip); !r) return r;
  }
  for (const auto& uri : request.uris) {
    if (auto r = appendName(names.get(), GEN_URI, uri); !r) return r;
  }
  if (sk_GENERAL_NAME_num(names.get()) == 0) return {};
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), critical ? 1 : 0,
                        X509V3_ADD_DEFAULT) != 1) {
    return environmentError(opensslError("subjectAltName"));
  }
  return {};
}

bool isIpAddress(const std::string& text) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

}  // namespace

struct CertificateAuthority::State {
  std::string commonName;
  KeyType keyType = KeyType::kEcP256;
  PkeyPtr key;
  X509Ptr cert;
  std::string certPem;
  std::string keyPem;
};

CertificateAuthority::CertificateAuthority(std::shared_ptr<const State> state)
    : state_(std::move(state)) {}

Result<CertificateAuthority> CertificateAuthority::create(const std::string& commonName,
                                                          KeyType keyType) {
  auto state = std::make_shared<State>();
  state->commonName = commonName;
  state->keyType = keyType;
  auto key = generateKey(keyType);
  if (!key) return std::unexpected(key.error());
  state->key = std::move(*key);

  state->cert.reset(X509_new());
  X509* cert = state->cert.get();
  if (cert == nullptr || X509_set_version(cert, X509_VERSION_3) != 1) {
    return environmentError(opensslError("X509_new"));
  }
  if (auto r = setRandomSerial(cert); !r) return std::unexpected(r.error());
  if (auto r = setValidity(cert, -std::chrono::hours(1), std::chrono::hours(24 * 365)); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = setSubject(cert, {{"O", "EgressLab"}, {"CN", commonName}}); !r) {
    return std::unexpected(r.error());
  }
  if (X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1) {
    return environmentError(opensslError("CA issuer"));
  }
  if (auto r = setPublicKey(cert, state->key.get()); !r) return std::unexpected(r.error());
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                                   std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                                   std::pair{NID_subject_key_identifier, "hash"},
                                   std::pair{NID_authority_key_identifier, "keyid:always"}}) {
    if (auto r = addConfExtension(cert, &ctx, nid, value); !r) return std::unexpected(r.error());
  }
  if (X509_sign(cert, state->key.get(), EVP_sha256()) == 0) {
    return environmentError(opensslError("X509_sign (CA)"));
  }
  auto certPem = certToPem(cert);
  if (!certPem) return std::unexpected(certPem.error());
  auto keyPem = keyToPem(state->key.get());
  if (!keyPem) return std::unexpected(keyPem.error());
  state->certPem = std::move(*certPem);
  state->keyPem = std::move(*keyPem);
  return CertificateAuthority(std::move(state));
}

Result<KeyPair> CertificateAuthority::issue(const LeafRequest& request) const {
  auto key = generateKey(request.keyType);
  if (!key) return std::unexpected(key.error());

  X509Ptr holder(X509_new());
  X509* cert = holder.get();
  if (cert == nullptr || X509_set_version(cert, X509_VERSION_3) != 1) {
    return environmentError(opensslError("X509_new"));
  }
  if (auto r = setRandomSerial(cert); !r) return std::unexpected(r.error());
  if (auto r = setValidity(cert, request.notBeforeOffset, request.validFor); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = setSubject(cert, {{"CN", request.commonName}}); !r) {
    return std::unexpected(r.error());
  }
  if (X509_set_issuer_name(cert, X509_get_subject_name(state_->cert.get())) != 1) {
    return environmentError(opensslError("leaf issuer"));
  }
  if (auto r = setPublicKey(cert, key->get()); !r) return std::unexpected(r.error());

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, state_->cert.get(), cert, nullptr, nullptr, 0);
  // RSA key exchange (TLS 1.2 static RSA) needs keyEncipherment; EC keys only sign.
  const char* keyUsage = request.keyType == KeyType::kRsa2048
                             ? "critical,digitalSignature,keyEncipherment"
                             : "critical,digitalSignature";
  std::string eku;
  if (request.serverAuth) eku = "serverAuth";
  if (request.clientAuth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
  if (auto r = addConfExtension(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE"); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = addConfExtension(cert, &ctx, NID_key_usage, keyUsage); !r) {
    return std::unexpected(r.error());
  }
  if (!eku.empty()) {
    if (auto r = addConfExtension(cert, &ctx, NID_ext_key_usage, eku.c_str()); !r) {
      return std::unexpected(r.error());
    }
  }
  if (auto r = addConfExtension(cert, &ctx, NID_subject_key_identifier, "hash"); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = addConfExtension(cert, &ctx, NID_authority_key_identifier, "keyid:always"); !r) {
    return std::unexpected(r.error());
  }
  // RFC 5280 §4.2.1.6: with an empty subject (Istio's workload certificates) the SAN is critical.
  const bool emptySubject = X509_NAME_entry_count(X509_get_subject_name(cert)) == 0;
  if (auto r = addSubjectAltNames(cert, request, emptySubject); !r) {
    return std::unexpected(r.error());
  }
  if (X509_sign(cert, state_->key.get(), EVP_sha256()) == 0) {
    return environmentError(opensslError("X509_sign (leaf)"));
  }

  auto certPem = certToPem(cert);
  if (!certPem) return std::unexpected(certPem.error());
  auto keyPem = keyToPem(key->get());
  if (!keyPem) return std::unexpected(keyPem.error());
  KeyPair pair;
  pair.chainPem = *certPem + state_->certPem;
  pair.certPem = std::move(*certPem);
  pair.keyPem = std::move(*keyPem);
  return pair;
}

Result<KeyPair> CertificateAuthority::issueServer(
    const std::vector<std::string>& namesAndIps) const {
  if (namesAndIps.empty()) return invalidInput("pki: a server certificate needs at least one name");
  LeafRequest request;
  request.commonName = namesAndIps.front();
  for (const auto& name : namesAndIps) {
    (isIpAddress(name) ? request.ipAddresses : request.dnsNames).push_back(name);
  }
  return issue(request);
}

Result<KeyPair> CertificateAuthority::issueWorkload(const std::string& ns,
                                                    const std::string& serviceAccount,
                                                    const std::string& trustDomain) const {
  if (ns.empty() || serviceAccount.empty() || trustDomain.empty()) {
    return invalidInput(
        "pki: a workload certificate needs a namespace, a service account and a "
        "trust domain");
  }
  // Istio's CA issues workload certificates with an empty subject and the SPIFFE ID as the only
  // SAN, usable for both sides of mTLS.
  LeafRequest request;
  request.uris.push_back(spiffeId(ns, serviceAccount, trustDomain));
  request.serverAuth = true;
  request.clientAuth = true;
  return issue(request);
}

const std::string& CertificateAuthority::certPem() const { return state_->certPem; }
const std::string& CertificateAuthority::keyPem() const { return state_->keyPem; }
const std::string& CertificateAuthority::commonName() const { return state_->commonName; }
KeyType CertificateAuthority::keyType() const { return state_->keyType; }

std::string spiffeId(const std::string& ns, const std::string& serviceAccount,
                     const std::string& trustDomain) {
  return fmt::format("spiffe://{}/ns/{}/sa/{}", trustDomain, ns, serviceAccount);
}

// ---------------------------------------------------------------------------------------------
// RunDirectory

namespace {

std::filesystem::path runDirectoryBase(const std::filesystem::path& parent) {
  if (!parent.empty()) return parent;
  const char* tmp = std::getenv("TMPDIR");
  return (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
}

// Reads at most `limit` bytes of a regular file without following a symlink.
std::optional<std::string> readSmallFile(const std::filesystem::path& path, size_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::string text;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  char buffer[512];
  while (ok && text.size() <= limit) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  if (!ok || text.size() > limit) return std::nullopt;
  return text;
}

// Field 22 (starttime) of /proc/PID/stat; nullopt when the process does not exist.
std::optional<std::string> processStartTime(const std::string& pid) {
  auto stat = readSmallFile(std::filesystem::path("/proc") / pid / "stat", 4096);
  if (!stat) return std::nullopt;
  // Field 2 (comm) is parenthesised and may hold spaces or ')': the fields after it start past
  // the last ')'. Field 3 is the first of them, so starttime is the 20th.
  const size_t close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  size_t pos = close + 1;
  std::string field;
  for (int index = 3; index <= 22; ++index) {
    while (pos < stat->size() && (*stat)[pos] == ' ') ++pos;
    const size_t end = stat->find(' ', pos);
    field = stat->substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (end == std::string::npos && index < 22) return std::nullopt;
    pos = end;
  }
  while (!field.empty() && field.back() == '\n') field.pop_back();
  return field;
}

bool allDigits(std::string_view text) {
  return !text.empty() && text.size() <= 20 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "PID STARTTIME\n" for this process.
std::optional<std::string> ownMarker() {
  const std::string pid = std::to_string(::getpid());
  auto start = processStartTime(pid);
  if (!start || !allDigits(*start)) return std::nullopt;
  return pid + " " + *start + "\n";
}

bool isRunDirectoryName(const std::string& name, const std::string& prefix) {
  if (name.size() != prefix.size() + 7 || !name.starts_with(prefix + "-")) return false;
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size() + 1), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

}  // namespace

std::vector<std::filesystem::path> removeStaleRunDirectories(
    const std::string& prefix, const std::filesystem::path& parent,
    const std::function<void(const std::string&)>& log) {
  std::vector<std::filesystem::path> removed;
  if (prefix.empty() || prefix.find('/') != std::string::npos) return removed;
  if (!ownMarker()) return removed;  // no readable /proc: cannot tell a dead owner from a live one
  const std::filesystem::path base = runDirectoryBase(parent);
  std::error_code ec;
  std::filesystem::directory_iterator it(base, ec);
  if (ec) return removed;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const std::filesystem::path dir = it->path();
    if (!isRunDirectoryName(dir.filename().string(), prefix)) continue;
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
      continue;
    }
    const auto marker = readSmallFile(dir / kRunDirectoryOwnerFile, 64);
    if (!marker || marker->empty() || marker->back() != '\n') continue;
    const std::string line = marker->substr(0, marker->size() - 1);
    const size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    const std::string pid = line.substr(0, space);
    const std::string start = line.substr(space + 1);
    if (!allDigits(pid) || !allDigits(start) || pid == "0") continue;
    const auto liveStart = processStartTime(pid);
    if (liveStart && *liveStart == start) continue;  // the owner still runs
    std::error_code removeError;
    std::filesystem::remove_all(dir, removeError);
    if (removeError) continue;  // e.g. another run removed it first
    removed.push_back(dir);
    if (log) {
      log(fmt::format("egresslab: removed stale run directory {} (process {} {})", dir.string(),
                      pid, liveStart ? "was replaced by another" : "has ended"));
    }
  }
  return removed;
}

Result<RunDirectory> RunDirectory::create(const std::string& prefix,
                                          const std::filesystem::path& parent) {
  if (prefix.empty() || prefix.find('/') != std::string::npos) {
    return invalidInput(
        fmt::format("pki: run directory prefix \"{}\" must be a plain name", prefix));
  }
  const std::filesystem::path base = runDirectoryBase(parent);
  removeStaleRunDirectories(prefix, base,
                            [](const std::string& line) { fmt::print(stderr, "{}\n", line); });
  std::string templ = (base / (prefix + "-XXXXXX")).string();
  // mkdtemp creates the directory 0700 regardless of umask.
  if (mkdtemp(templ.data()) == nullptr) {
    return environmentError(fmt::format("pki: cannot create a run directory under {}: {}",
                                        base.string(), std::strerror(errno)));
  }
  RunDirectory dir{std::filesystem::path(templ)};
  // Without /proc there is no start time to record; such a directory has no marker and is
  // then never cleaned up by a later run (the safe side).
  if (const auto marker = ownMarker()) {
    auto written = dir.write(kRunDirectoryOwnerFile, *marker, 0600);
    if (!written) return std::unexpected(written.error());
  }
  return dir;
}

void RunDirectory::keep() {
  keep_ = true;
  if (path_.empty()) return;
  std::error_code ignored;  // a kept directory without a marker is the goal; absent is fine
  std::filesystem::remove(path_ / kRunDirectoryOwnerFile, ignored);
}

RunDirectory::RunDirectory(RunDirectory&& other) noexcept
    : path_(std::move(other.path_)), keep_(other.keep_) {
  other.path_.clear();
}

RunDirectory& RunDirectory::operator=(RunDirectory&& other) noexcept {
  if (this != &other) {
    RunDirectory old(std::move(*this));  // removes what this owned, unless kept
    path_ = std::move(other.path_);
    keep_ = other.keep_;
    other.path_.clear();
  }
  return *this;
}

RunDirectory::~RunDirectory() {
  if (path_.empty() || keep_) return;
  std::error_code ignored;  // a destructor cannot report; a leftover temp dir is harmless
  std::filesystem::remove_all(path_, ignored);
}

Result<std::filesystem::path> RunDirectory::write(const std::filesystem::path& relative,
                                                  const std::string& content, unsigned mode) const {
  if (path_.empty()) return environmentError("pki: write to a moved-from run directory");
  const std::filesystem::path clean = relative.lexically_normal();
  if (clean.empty() || clean.is_absolute() || *clean.begin() == ".." || clean == ".") {
    return invalidInput(
        fmt::format("pki: \"{}\" is not a path inside the run directory", relative.string()));
  }
  const std::filesystem::path target = path_ / clean;

  // Parent directories are private too: they may hold keys.
  std::filesystem::path dir = path_;
  for (auto it = clean.begin(); std::next(it) != clean.end(); ++it) {
    dir /= *it;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return environmentError(
          fmt::format("pki: cannot create {}: {}", dir.string(), std::strerror(errno)));
    }
  }

  const mode_t fileMode = static_cast<mode_t>(mode & 07777);
  const int fd =
      ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, fileMode);
  if (fd < 0) {
    return environmentError(
        fmt::format("pki: cannot open {}: {}", target.string(), std::strerror(errno)));
  }
  // open() applies the umask and keeps an existing file's mode; fchmod makes the mode exact.
  bool ok = ::fchmod(fd, fileMode) == 0;
  size_t written = 0;
  while (ok && written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    written += static_cast<size_t>(n);
  }
  const int savedErrno = errno;
  if (::close(fd) != 0) ok = false;
  if (!ok) {
    return environmentError(
        fmt::format("pki: cannot write {}: {}", target.string(), std::strerror(savedErrno)));
  }
  return target;
}

Result<std::filesystem::path> RunDirectory::writePrivate(const std::filesystem::path& relative,
                                                         const std::string& content) const {
  return write(relative, content, 0600);
}

}  // namespace egresslab::pki
