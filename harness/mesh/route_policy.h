// What istiod puts on an HTTP route for VirtualService `timeout`, `retries` and `fault`, by
// version (docs/istio-behaviour.md §R1, §R2, §R7): pure conversions from the model to the
// compiled mesh, used by the compiler for every VirtualService route and default route.
#pragma once

#include <optional>
#include <string>

#include "harness/mesh/config.h"
#include "harness/mesh/decisions.h"
#include "harness/model/resources.h"
#include "harness/model/version.h"

namespace egresslab::mesh {

// Istio's built-in retry policy of `version` (§R2.1): 2 retries on
// connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes with status 503
// through 1.23 and without any status code from 1.24 (EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY
// default true in 1.24–1.26, the flag gone in 1.27); previous_hosts predicate.
RetryPolicy builtInRetryPolicy(const model::IstioVersion& version);

// The mesh-wide HTTPRetry istiod uses when a route sets none: meshConfig.defaultHttpRetryPolicy
// from 1.12 (ignored before, §R2.1); nullopt = none.
std::optional<model::HttpRetry> meshDefaultRetry(const model::MeshConfig& meshConfig,
                                                 const model::IstioVersion& version);

// Istio's `ConvertPolicy` (§R2.2): no `retries` → the mesh default (converted the same way) or
// the built-in policy; `attempts ≤ 0` → no retry policy (numRetries 0); otherwise the built-in
// policy with num_retries = attempts, `retryOn` (when given) replacing retry_on and the status
// codes (integer tokens become retriable status codes; `retriable-status-codes` appended when
// missing from 1.12), `perTryTimeout`, and from 1.26 `backoff` and `retryIgnorePreviousHosts`.
// `origin` names the VirtualService field for messages.
RetryPolicy routeRetryPolicy(const std::optional<model::HttpRetry>& retries,
                             const model::IstioVersion& version,
                             const std::optional<model::HttpRetry>& meshDefault,
                             const std::string& origin = {});

// The answer when the policy would retry attempt number `attempt` but the cluster's retry
// circuit breaker (`connectionPool.http.maxRetries` → max_retries, §R6) has no room: Envoy's
// RetryStateImpl checks the retry limit first (→ URX) and the breaker second, so an overflowed
// retry ends the request with what `outcome` would give without a retry — the upstream's response
// forwarded (`via_upstream`), or the reset's local reply (503 UF / UC, 504 UT per-try) — and the
// router adds `UO` (RetryStatus::NoOverflow), never `URX`; no `x-envoy-overloaded` header (that
// marks only a request the breakers refused outright) (§R0, §R2.3).
ProxyResponse retryOverflowReply(const RetryPolicy& policy, std::uint32_t attempt,
                                 const AttemptOutcome& outcome, const model::IstioVersion& version);

// VS `timeout` → route timeout; unset and 0 both mean none (§R1).
std::optional<std::chrono::milliseconds> routeTimeout(
    const std::optional<std::chrono::milliseconds>& timeout);

// VS `fault` → the fault filter's per-route config (§R7). nullopt when the route has none.
// `abort.grpcStatus` is not simulated (the caller keeps a note): such an abort is dropped here.
std::optional<FaultPolicy> routeFaultPolicy(const std::optional<model::HttpFaultInjection>& fault,
                                            const std::string& origin = {});

}  // namespace egresslab::mesh
