// The mini-pilot's entry points, mesh config and notes (the rest of the compiler: the files listed
// in compile_internal.h). Each rule cites docs/istio-behaviour.md (§N) where Istio's behaviour is
// modelled; §11 corrects earlier sections.
#include "harness/mesh/compile.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "harness/mesh/compile_internal.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/endpoints.h"
#include "harness/mesh/policy.h"
#include "harness/mesh/route_policy.h"
#include "harness/mesh/unsimulated.h"

namespace egresslab::mesh {

using model::IstioVersion;
using model::Protocol;

// --------------------------------------------------------------------------- public helpers
RetryPolicy defaultRetryPolicy(const IstioVersion& version) {
  // §R2.1 (route_policy.h): 2 retries; status 503 retriable through 1.23 only (§11.6).
  return builtInRetryPolicy(version);
}

std::string defaultLbPolicy(const IstioVersion& version) {
  // §4: ROUND_ROBIN ≤1.13, LEAST_REQUEST from 1.14.
  return version.atLeast(1, 14) ? "LEAST_REQUEST" : "ROUND_ROBIN";
}

std::string outboundClusterName(std::uint32_t port, std::string_view subset,
                                std::string_view host) {
  return fmt::format("outbound|{}|{}|{}", port, subset, host);
}

Protocol servicePortProtocol(std::string_view name, std::string_view appProtocol) {
  if (!appProtocol.empty()) {
    Protocol p = model::parseProtocol(appProtocol);
    if (p != Protocol::kUnsupported) return p;
  }
  std::string_view prefix = name.substr(0, name.find('-'));
  Protocol p = model::parseProtocol(prefix);
  return p == Protocol::kUnsupported ? Protocol::kTcp : p;
}

// --------------------------------------------------------------------------- the compiler
namespace compile_detail {

Result<CompiledMesh> Compiler::run() {
  out_.version = v_;
  meshConfig();
  workloads();
  services();
  dnsView();
  notSimulated();
  for (const auto& gw : in_.gateways) out_.proxies.push_back(gatewayProxy(gw));
  for (const auto& w : out_.registry.workloads) {
    if (w.injected && !w.gateway) out_.proxies.push_back(sidecarProxy(w));
  }
  for (auto& p : out_.proxies) p.reindex();
  // AuthorizationPolicies per proxy and their notes (authz.h, docs/istio-behaviour.md §S1).
  attachAuthorization(out_, in_.resources.authorizationPolicies,
                      in_.resources.requestAuthentications);
  return std::move(out_);
}

void Compiler::note(std::string ref, std::string what, SourcePos where,
                    NotSimulatedNote::Reach reach) {
  NotSimulatedNote n;
  n.ref = std::move(ref);
  n.what = std::move(what);
  n.where = std::move(where);
  n.reach = reach;
  note(std::move(n));
}

void Compiler::noteAt(const ProxyId& proxy, std::string ref, std::string what, SourcePos where) {
  for (auto& seen : out_.notSimulated) {
    if (seen.ref != ref || seen.what != what) continue;
    if (seen.reach == NotSimulatedNote::Reach::kProxies &&
        std::find(seen.proxies.begin(), seen.proxies.end(), proxy.str()) == seen.proxies.end()) {
      seen.proxies.push_back(proxy.str());
    }
    return;
  }
  NotSimulatedNote n;
  n.ref = std::move(ref);
  n.what = std::move(what);
  n.where = std::move(where);
  n.reach = NotSimulatedNote::Reach::kProxies;
  n.proxies = {proxy.str()};
  out_.notSimulated.push_back(std::move(n));
}

void Compiler::note(NotSimulatedNote n) {
  for (const auto& seen : out_.notSimulated) {
    if (seen.ref == n.ref && seen.what == n.what) return;
  }
  out_.notSimulated.push_back(std::move(n));
}

void Compiler::meshConfig() {
  // The control-plane operator (not profile "empty") carries meshConfig; per-gateway
  // operators (profile: empty) do not change it.
  for (const auto& iop : in_.resources.istioOperators) {
    if (iop.profile == "empty") continue;
    out_.meshConfig = iop.meshConfig;
    if (iop.profile == "demo" && !iop.meshConfig.accessLogFile) {
      out_.meshConfig.accessLogFile = "/dev/stdout";
    }
    if (!iop.revision.empty()) {
      note(iop.ref(), "IstioOperator revision is not simulated (one control plane)",
           iop.origin.pos);
    }
    break;
  }
  out_.outboundTrafficPolicy =
      out_.meshConfig.outboundTrafficPolicy.value_or(model::OutboundTrafficPolicyMode::kAllowAny);
  if (out_.meshConfig.accessLogFormat && !out_.meshConfig.accessLogFormat->empty()) {
    note("meshConfig.accessLogFormat",
         "a custom access-log format is not simulated; the version's default TEXT format is used",
         {}, NotSimulatedNote::Reach::kNoProxy);
  }
  // The mesh-wide knobs of the proxy headers (docs/fidelity.md, "x-envoy-peer-metadata"): they
  // change what every proxy sends. (meshConfig.h2UpgradePolicy is modelled:
  // compile_clusters.cpp.)
  if (const nlohmann::json& raw = out_.meshConfig.raw; raw.is_object()) {
    if (auto ph = raw.find("proxyHeaders"); ph != raw.end() && ph->is_object()) {
      for (const auto& [key, value] : ph->items()) {
        note("meshConfig.proxyHeaders." + key,
             fmt::format("meshConfig.proxyHeaders.{} is not simulated", key));
      }
    }
  }
  if (out_.meshConfig.accessLogEncoding &&
      asciiLower(*out_.meshConfig.accessLogEncoding) == "json") {
    note("meshConfig.accessLogEncoding",
         "JSON access logs are not simulated; the version's default TEXT format is used", {},
         NotSimulatedNote::Reach::kNoProxy);
  }
}

AccessLogConfig Compiler::accessLogConfig() const {
  AccessLogConfig a;
  a.path = out_.meshConfig.accessLogFile.value_or("");
  a.enabled = !a.path.empty();
  a.encoding = out_.meshConfig.accessLogEncoding.value_or("TEXT");
  a.customFormat = out_.meshConfig.accessLogFormat.value_or("");
  a.format = accessLogFormatFor(v_);  // §9
  return a;
}

}  // namespace compile_detail

namespace {

// The compiler, then the endpoint and resilience pass (endpoints.h: servers per upstream, DNS
// clusters, outlier detection, circuit breakers, locality priorities) with every A record.
Result<CompiledMesh> compileWithDns(const CompileInput& input,
                                    const std::map<std::string, std::vector<std::string>>& dns) {
  if (input.version < model::kOldestSupported || input.version > model::kNewestSupported) {
    return invalidInput(fmt::format("Istio {} is outside the simulated range {}–{}",
                                    input.version.str(), model::kOldestSupported.str(),
                                    model::kNewestSupported.str()));
  }
  auto mesh = compile_detail::Compiler(input).run();
  if (mesh) {
    applyEndpointsAndResilience(*mesh, {input.resources, input.version, input.workloads,
                                        input.upstreams, scenarioDnsAnswers(input.dns, dns)});
  }
  return mesh;
}

}  // namespace

Result<CompiledMesh> compileMesh(const CompileInput& input) { return compileWithDns(input, {}); }

Result<CompiledMesh> compileMesh(const model::Scenario& scenario) {
  CompileInput in{scenario.resources,
                  scenario.istioVersion,
                  model::deriveGatewayWorkloads(scenario.resources, scenario.istioVersion),
                  scenario.workloads,
                  scenario.upstreams,
                  scenario.dns,
                  scenario.secrets};
  return compileWithDns(in, scenario.dnsAnswers);
}

}  // namespace egresslab::mesh
