// Test PKI for a run: certificate authorities, server leaves, SPIFFE workload certificates.
//
// Every TLS hop of a scenario gets its certificates here (docs/design.md "Trust, as in a real
// world"): a *public* CA signs the upstream mocks (trusted as the system store), a *scenario*
// CA signs the `secrets:` it mints, a *mesh* CA signs workload (SPIFFE) certificates, and an
// unrelated CA backs the `bad-cert` fault. All material is PEM text in memory; RunDirectory
// puts it on disk with safe modes when a file is needed (curl --cacert, kubectl create secret).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/core/error.h"

namespace egresslab::pki {

enum class KeyType { kEcP256, kRsa2048 };

// A certificate with its private key, both PEM. `chainPem` is the leaf followed by its issuer
// (what a server should present); for a CA it equals certPem.
struct KeyPair {
  std::string certPem;
  std::string keyPem;
  std::string chainPem;
};

struct LeafRequest {
  std::string commonName;
  std::vector<std::string> dnsNames;     // subjectAltName DNS entries (wildcards allowed)
  std::vector<std::string> ipAddresses;  // subjectAltName IP entries, IPv4 or IPv6 text
  std::vector<std::string> uris;         // subjectAltName URI entries (SPIFFE IDs)
  bool serverAuth = true;                // extendedKeyUsage serverAuth
  bool clientAuth = false;               // extendedKeyUsage clientAuth
  KeyType keyType = KeyType::kEcP256;
  // Validity relative to now: notBefore = now + notBeforeOffset, notAfter = notBefore + validFor.
  // Negative offsets and short lifetimes make expired / not-yet-valid certificates for faults.
  std::chrono::seconds notBeforeOffset{-std::chrono::hours(1)};
  std::chrono::seconds validFor{std::chrono::hours(24 * 30)};
};

// A self-signed certificate authority that issues leaves. Copyable (shares the key).
class CertificateAuthority {
 public:
  static Result<CertificateAuthority> create(const std::string& commonName,
                                             KeyType keyType = KeyType::kEcP256);

  Result<KeyPair> issue(const LeafRequest& request) const;

  // A server certificate: CN = first name, SANs split into DNS and IP entries by their form.
  Result<KeyPair> issueServer(const std::vector<std::string>& namesAndIps) const;

  // A workload certificate for spiffe://<trustDomain>/ns/<ns>/sa/<sa>, serverAuth+clientAuth,
  // as Istio's CA issues to sidecars and gateways.
  Result<KeyPair> issueWorkload(const std::string& ns, const std::string& serviceAccount,
                                const std::string& trustDomain = "cluster.local") const;

  const std::string& certPem() const;
  // The CA's private key (PKCS#8 PEM), for a component that signs on its own (an istiod stand-in).
  const std::string& keyPem() const;
  const std::string& commonName() const;
  KeyType keyType() const;

 private:
  struct State;
  explicit CertificateAuthority(std::shared_ptr<const State> state);
  std::shared_ptr<const State> state_;
};

// The SPIFFE ID Istio gives a workload: spiffe://cluster.local/ns/NS/sa/SA.
std::string spiffeId(const std::string& ns, const std::string& serviceAccount,
                     const std::string& trustDomain = "cluster.local");

// The owner marker in every run directory: "PID STARTTIME\n" of the process that created it,
// STARTTIME being field 22 of /proc/PID/stat (so a reused pid does not look like the owner).
inline constexpr const char* kRunDirectoryOwnerFile = ".egresslab-owner";

// Removes the run directories a killed run left behind: directories directly under `parent`
// (default: $TMPDIR or /tmp) named prefix-XXXXXX (six letters or digits, as mkdtemp makes them),
// not symlinks, owned by this user, holding a well-formed owner marker whose process no longer
// runs (no such pid, or the pid now belongs to a process with another start time). Anything
// else — no marker, a malformed one, a live owner, a kept directory — is never touched. Calls
// `log` with one line per removed directory and returns the removed paths. Does nothing when
// /proc is unreadable (liveness cannot be told).
std::vector<std::filesystem::path> removeStaleRunDirectories(
    const std::string& prefix, const std::filesystem::path& parent,
    const std::function<void(const std::string&)>& log);

// A private 0700 directory for one run's files; keys are written 0600. Removed (recursively)
// when the object is destroyed unless keep() was called. Move-only.
class RunDirectory {
 public:
  // Creates a fresh directory under `parent` (default: $TMPDIR or /tmp) named prefix-XXXXXX and
  // writes its owner marker. First removes stale directories of the same prefix left by dead
  // runs (removeStaleRunDirectories), logging one line per removed directory to stderr.
  static Result<RunDirectory> create(const std::string& prefix = "egresslab",
                                     const std::filesystem::path& parent = {});
  RunDirectory(RunDirectory&&) noexcept;
  RunDirectory& operator=(RunDirectory&&) noexcept;
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;
  ~RunDirectory();

  const std::filesystem::path& path() const { return path_; }
  // Writes `content` to path()/relative (creating parent dirs 0700) with the given mode.
  Result<std::filesystem::path> write(const std::filesystem::path& relative,
                                      const std::string& content, unsigned mode = 0644) const;
  // write() with mode 0600, for private keys.
  Result<std::filesystem::path> writePrivate(const std::filesystem::path& relative,
                                             const std::string& content) const;
  // Leaves the directory in place on destruction; also removes the owner marker, so a later
  // run's stale-directory cleanup never deletes a kept directory.
  void keep();

 private:
  explicit RunDirectory(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace egresslab::pki
