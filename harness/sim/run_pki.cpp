// The run's PKI and its simulated servers: a public root CA (what the OS bundle trusts), the
// scenario CA (`${ca}`, gateway credentials), the mesh CA (SPIFFE workload certificates, §6), an
// unrelated CA for bad-cert faults; one httpbin mock per upstream and one application per workload.
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "harness/mesh/endpoints.h"
#include "harness/sim/sim_impl.h"

namespace egresslab::sim {

Result<void> SimMesh::Impl::mintPki(const model::Scenario& sc) {
  auto dir = pki::RunDirectory::create("egresslab-sim");
  if (!dir) return std::unexpected(dir.error());
  runDir.emplace(std::move(*dir));
  auto pub = pki::CertificateAuthority::create("EgressLab Public Root CA");
  auto scen = pki::CertificateAuthority::create("EgressLab Scenario CA " + sc.name);
  auto meshRoot = pki::CertificateAuthority::create("cluster.local");
  auto other = pki::CertificateAuthority::create("Unrelated CA");
  for (auto* r : {&pub, &scen, &meshRoot, &other}) {
    if (!*r) return std::unexpected(r->error());
  }
  publicCa = *pub;
  scenarioCa = *scen;
  meshCa = *meshRoot;
  unrelatedCa = *other;
  publicCaPem = publicCa->certPem();
  credentialCaPem = scenarioCa->certPem();
  auto caFile = runDir->write("ca.pem", scenarioCa->certPem());
  if (!caFile) return std::unexpected(caFile.error());
  scenarioCaPath = *caFile;
  // Credentials: the scenario's minted secrets, then Secret manifests (§5 keys).
  for (const auto& s : sc.secrets) {
    pki::KeyPair kp;
    if (!s.certFile.empty()) {
      auto slurp = [](const std::filesystem::path& f) -> std::optional<std::string> {
        std::ifstream in(f);
        if (!in) return std::nullopt;
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
      };
      auto cert = slurp(s.certFile);
      auto key = slurp(s.keyFile);
      if (!cert || !key) {
        return invalidInput(fmt::format("secret {}/{}: cannot read {} / {}", s.ns, s.name,
                                        s.certFile.string(), s.keyFile.string()),
                            s.pos);
      }
      kp.certPem = *cert;
      kp.keyPem = *key;
      kp.chainPem = *cert;
    } else {
      auto minted = scenarioCa->issueServer(s.hosts);
      if (!minted) return std::unexpected(minted.error());
      kp = *minted;
    }
    credentials[s.ns + "/" + s.name] = kp;
  }
  for (const auto& s : sc.resources.secrets) {
    const std::string ns = s.meta.ns.empty() ? "default" : s.meta.ns;
    if (credentials.contains(ns + "/" + s.meta.name)) continue;
    auto get = [&](const char* a, const char* b) -> std::string {
      if (auto it = s.data.find(a); it != s.data.end()) return it->second;
      if (auto it = s.data.find(b); it != s.data.end()) return it->second;
      return {};
    };
    pki::KeyPair kp;
    kp.certPem = get("tls.crt", "cert");
    kp.keyPem = get("tls.key", "key");
    kp.chainPem = kp.certPem;
    if (!kp.certPem.empty() && !kp.keyPem.empty()) credentials[ns + "/" + s.meta.name] = kp;
  }
  return {};
}

Result<void> SimMesh::Impl::startMocks(const model::Scenario& sc) {
  // Each server answers at its own address (docs/design.md "More than one server per upstream").
  const std::vector<std::string> addresses =
      mesh::upstreamAddresses(sc.upstreams, mesh::scenarioDnsAnswers(sc.dns, sc.dnsAnswers));
  for (std::size_t i = 0; i < sc.upstreams.size(); ++i) {
    const model::UpstreamSpec& u = sc.upstreams[i];
    httpbin::HttpbinOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.hostname = u.name.empty() ? u.host : u.name;
    o.threads = 48;
    if (u.tls) {
      auto cert = publicCa->issueServer({u.host});
      if (!cert) return std::unexpected(cert.error());
      o.tls = *cert;
      auto bad = unrelatedCa->issueServer({u.host});
      if (!bad) return std::unexpected(bad.error());
      o.badCert = *bad;
      o.issuer = *publicCa;  // cert faults (expired, wrong-host, rotate) chain to the same CA
      o.certNames = {u.host};
    }
    auto server = httpbin::HttpbinServer::start(std::move(o));
    if (!server) return std::unexpected(server.error());
    mocks.push_back({u, std::move(*server), addresses[i]});
  }
  // Each scenario workload's application: a small httpbin answering its own name.
  for (const auto& w : compiled.registry.workloads) {
    if (w.gateway) continue;
    httpbin::HttpbinOptions o;
    o.hostname = w.name;
    o.threads = 4;
    auto server = httpbin::HttpbinServer::start(std::move(o));
    if (!server) return std::unexpected(server.error());
    apps[w.ns + "/" + w.name] = std::move(*server);
  }
  return {};
}

}  // namespace egresslab::sim
