// EgressLab checks of route resilience settings (docs/istio-behaviour.md §R1, §R2): traps where
// a VirtualService's timeouts and retries do not do what they read like. Each reads the route
// policy the way mesh builds it (route_policy.h) and asks mesh's retry decision, so the
// analyzer and the simulator cannot disagree.
#include <fmt/format.h>

#include "harness/analyze/checks.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/route_policy.h"

namespace egresslab::analyze::detail {
namespace {

// EGL020 — a per-try timeout its retryOn never retries (§R1): Envoy retries a per-try timeout
// only under 5xx, gateway-error or reset; Istio's default retryOn (kept when `retryOn` is not
// written) has none of them, so the first timed-out attempt ends the request with 504 UT.
void checkPerTryTimeoutNeverRetried(const Cluster& cluster, Reporter& report) {
  const model::IstioVersion& version = report.version();
  for (const model::VirtualService& vs : cluster.resources().virtualServices) {
    for (const model::HttpRoute& hr : vs.http) {
      if (!hr.retries || !hr.retries->perTryTimeout) continue;
      mesh::ForwardAction f;
      f.timeout = mesh::routeTimeout(hr.timeout);
      f.retry = mesh::routeRetryPolicy(hr.retries, version, std::nullopt);
      const mesh::RouteTimeouts timeouts = mesh::routeTimeouts(f);
      // No retry policy (attempts 0), or a per-try timeout the route timeout overrides.
      if (!timeouts.perTry) continue;
      mesh::AttemptOutcome timedOut;
      timedOut.kind = mesh::AttemptOutcome::Kind::kTimeout;
      if (mesh::afterAttempt(f.retry, 1, timedOut, version).retry) continue;
      const std::string retryOn = fmt::format("{}", fmt::join(f.retry.retryOn, ","));
      report.egl(
          "EGL020", Level::kWarning, originOf(vs), vs.origin.at(hr.path + ".retries.perTryTimeout"),
          fmt::format("{}.retries.perTryTimeout {}ms ends an attempt with 504 UT "
                      "(upstream_per_try_timeout), but retryOn \"{}\"{} has none of 5xx, "
                      "gateway-error, reset: a timed-out attempt is never retried, so attempts: "
                      "{} do not apply to slow answers",
                      hr.path, timeouts.perTry->count(), retryOn,
                      hr.retries->retryOn.empty() ? " (Istio's default, kept when retryOn is "
                                                    "not set)"
                                                  : "",
                      hr.retries->attempts),
          "§R1",
          fmt::format("add reset (or 5xx / gateway-error) to retries.retryOn, e.g. retryOn: "
                      "{},reset.",
                      retryOn));
    }
  }
}

}  // namespace

void runResilienceChecks(const Cluster& cluster, const AnalysisInput& /*input*/, Reporter& report) {
  checkPerTryTimeoutNeverRetried(cluster, report);
}

}  // namespace egresslab::analyze::detail
