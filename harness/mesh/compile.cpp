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
#include "harness/mesh/policy.h"
#include "harness/mesh/unsimulated.h"

namespace egresslab::mesh {

using compile_detail::lower;
using model::IstioVersion;
using model::Protocol;

// --------------------------------------------------------------------------- public helpers
RetryPolicy defaultRetryPolicy(const IstioVersion& version) {
  // §9: attempts 2, retry_on connect-failure,refused-stream,unavailable,cancelled, plus
  // retriable-status-codes [503] through 1.23; 1.24+ excludes 503 (§11.6).
  RetryPolicy p;
  p.numRetries = 2;
  p.retryOn = {"connect-failure", "refused-stream", "unavailable", "cancelled"};
  if (!version.atLeast(1, 24)) {
    p.retryOn.emplace_back("retriable-status-codes");
    p.retriableStatusCodes = {503};
  }
  return p;
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
  if (out_.meshConfig.accessLogEncoding && lower(*out_.meshConfig.accessLogEncoding) == "json") {
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

Result<CompiledMesh> compileMesh(const CompileInput& input) {
  if (input.version < model::kOldestSupported || input.version > model::kNewestSupported) {
    return invalidInput(fmt::format("Istio {} is outside the simulated range {}–{}",
                                    input.version.str(), model::kOldestSupported.str(),
                                    model::kNewestSupported.str()));
  }
  return compile_detail::Compiler(input).run();
}

Result<CompiledMesh> compileMesh(const model::Scenario& scenario) {
  CompileInput in{scenario.resources,
                  scenario.istioVersion,
                  model::deriveGatewayWorkloads(scenario.resources, scenario.istioVersion),
                  scenario.workloads,
                  scenario.upstreams,
                  scenario.dns,
                  scenario.secrets};
  return compileMesh(in);
}

}  // namespace egresslab::mesh
