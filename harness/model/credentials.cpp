#include "harness/model/credentials.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace egresslab::model {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> memBio(std::string_view pem) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Never prompt for a passphrase: an encrypted key is unusable by a gateway anyway.
int noPassword(char*, int, int, void*) { return -1; }

}  // namespace

CredentialProblem checkCredential(std::string_view certPem, std::string_view keyPem) {
  using In = CredentialProblem::In;
  std::unique_ptr<X509, X509Free> cert;
  if (auto bio = memBio(certPem)) {
    cert.reset(PEM_read_bio_X509(bio.get(), nullptr, noPassword, nullptr));
  }
  ERR_clear_error();
  if (!cert) return {In::kCert, "no PEM certificate (-----BEGIN CERTIFICATE-----) could be read"};
  std::unique_ptr<EVP_PKEY, PkeyFree> key;
  if (auto bio = memBio(keyPem)) {
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassword, nullptr));
  }
  ERR_clear_error();
  if (!key) {
    return {In::kKey, "no unencrypted PEM private key (-----BEGIN PRIVATE KEY-----) could be read"};
  }
  const int matches = X509_check_private_key(cert.get(), key.get());
  ERR_clear_error();
  if (matches != 1) return {In::kKey, "the private key does not match the certificate"};
  return {};
}

}  // namespace egresslab::model
