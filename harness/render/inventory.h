// An inventory of legacy upstreams to proxy through one Istio egress gateway each (the seed
// post's pattern), plus the Istio version and install method. `egresslab render` turns it
// into per-upstream manifests and scenarios (render.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/error.h"
#include "harness/model/version.h"

namespace egresslab::render {

// How the gateways are installed (§10): one definition, shared with the scenario key
// `istio.install` and the kind backend (harness/model/version.h).
using model::InstallMethod;
using model::installMethodName;

enum class UpstreamProtocol { kHttps, kHttp };

struct UpstreamTls {
  std::string sni;             // default: the upstream host (EGL001, §4)
  std::string caCertificates;  // optional CA file for verification
  std::vector<std::string> subjectAltNames;
  bool insecureSkipVerify = false;
};

struct Upstream {
  std::string name;  // [a-z0-9-]+, unique; names the gateway `<name>-egress`
  std::string host;  // the legacy service's DNS name (e.g. httpbin.org)
  std::uint32_t port = 443;
  UpstreamProtocol protocol = UpstreamProtocol::kHttps;
  std::string proxiedHostname;      // the name clients use (e.g. httpbin.example.com)
  std::string ns;                   // where the egress gateway and the routing live
  std::string readinessPath = "/";  // probed with curl -f on the upstream (EGL004, §7)
  UpstreamTls tls;
  SourcePos pos;
};

struct IngressSpec {
  std::string gatewayName = "egresslab-ingress";  // the shared ingress Gateway, in istio-system
  std::map<std::string, std::string> selector{{"istio", "ingressgateway"}};
  std::string credentialName = "egresslab-ingress-cert";  // TLS secret in istio-system (§5)
};

struct MeshSpec {
  bool registryOnly = true;  // meshConfig.outboundTrafficPolicy.mode
  std::string accessLogFile = "/dev/stdout";
};

struct Inventory {
  std::filesystem::path file;
  model::IstioVersion version;
  InstallMethod install = InstallMethod::kIstioctl;
  IngressSpec ingress;
  MeshSpec mesh;
  std::vector<Upstream> upstreams;
};

// Parses and validates an inventory. Every problem — YAML syntax, unknown field (with a
// "did you mean"), wrong type, missing field, bad enum, an install method the version does
// not have — is an invalid-input Error at its 1-based FILE:LINE:COL.
Result<Inventory> parseInventory(std::string_view yaml, const std::string& file);
Result<Inventory> loadInventory(const std::filesystem::path& file);

}  // namespace egresslab::render
