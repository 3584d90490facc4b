// Checks a secret's certificate and key as the API server and the gateway would read them, so a
// broken credential is an error at load time instead of a TLS failure (curl exit 35) later,
// where a "missing credential" step could pass for the wrong reason.
#pragma once

#include <string>
#include <string_view>

namespace egresslab::model {

// Why this certificate chain and private key are not a usable TLS credential ("" when they
// are): no PEM certificate, no PEM private key (or an encrypted one), or a key that does not
// match the first certificate.
struct CredentialProblem {
  enum class In { kNone, kCert, kKey };
  In in = In::kNone;
  std::string message;
};
CredentialProblem checkCredential(std::string_view certPem, std::string_view keyPem);

}  // namespace egresslab::model
