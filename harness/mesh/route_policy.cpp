#include "harness/mesh/route_policy.h"

#include <charconv>
#include <set>
#include <string_view>

namespace egresslab::mesh {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Go's http.StatusText knows the code (Istio's parseRetryOn treats only those as codes).
bool isHttpStatusCode(std::uint32_t code) {
  static const std::set<std::uint32_t> kCodes = {
      100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301,
      302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409,
      410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428,
      429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511};
  return kCodes.contains(code);
}

}  // namespace

RetryPolicy builtInRetryPolicy(const model::IstioVersion& version) {
  RetryPolicy p;
  p.numRetries = 2;
  p.retryOn = {"connect-failure", "refused-stream", "unavailable", "cancelled",
               "retriable-status-codes"};
  // §R2.1: 503 is a retriable status through 1.23 only (EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY).
  if (!version.atLeast(1, 24)) p.retriableStatusCodes = {503};
  return p;
}

std::optional<model::HttpRetry> meshDefaultRetry(const model::MeshConfig& meshConfig,
                                                 const model::IstioVersion& version) {
  if (!version.atLeast(1, 12)) return std::nullopt;  // §R2.1: read by istiod from 1.12
  return meshConfig.defaultHttpRetryPolicy;
}

RetryPolicy routeRetryPolicy(const std::optional<model::HttpRetry>& retries,
                             const model::IstioVersion& version,
                             const std::optional<model::HttpRetry>& meshDefault,
                             const std::string& origin) {
  const std::optional<model::HttpRetry>& in = retries ? retries : meshDefault;
  RetryPolicy out = builtInRetryPolicy(version);
  if (!in) return out;
  out.fromVirtualService = retries.has_value();
  out.origin = retries ? origin : "meshConfig.defaultHttpRetryPolicy";
  if (in->attempts <= 0) {
    // §R2.2: the retry policy is removed altogether.
    RetryPolicy none;
    none.fromVirtualService = out.fromVirtualService;
    none.origin = out.origin;
    none.previousHosts = false;
    return none;
  }
  out.numRetries = static_cast<std::uint32_t>(in->attempts);
  if (!in->retryOn.empty()) {
    out.retryOn.clear();
    out.retriableStatusCodes.clear();
    std::string_view rest = in->retryOn;
    for (;;) {
      const std::size_t comma = rest.find(',');
      const std::string_view item = trim(rest.substr(0, comma));
      std::uint32_t code = 0;
      const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), code);
      if (!item.empty() && ec == std::errc{} && end == item.data() + item.size() &&
          isHttpStatusCode(code)) {
        out.retriableStatusCodes.push_back(code);
      } else if (!item.empty()) {
        out.retryOn.emplace_back(item);
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    // §R2.2: from 1.12 the token is appended when codes are given without it; before, such
    // codes are never used (Envoy only reads them under retriable-status-codes).
    bool hasToken = false;
    for (const auto& t : out.retryOn) hasToken |= t == "retriable-status-codes";
    if (!out.retriableStatusCodes.empty() && !hasToken && version.atLeast(1, 12)) {
      out.retryOn.emplace_back("retriable-status-codes");
    }
  }
  out.perTryTimeout = in->perTryTimeout;
  if (version.atLeast(1, 26)) {
    // §R2.2: backoff and retryIgnorePreviousHosts exist from 1.26.
    if (in->retryIgnorePreviousHosts) out.previousHosts = *in->retryIgnorePreviousHosts;
    if (in->backoff && in->backoff->count() > 0) out.backoffBase = *in->backoff;
  }
  return out;
}

ProxyResponse retryOverflowReply(const RetryPolicy& policy, std::uint32_t attempt,
                                 const AttemptOutcome& outcome,
                                 const model::IstioVersion& version) {
  // The final answer of the same attempt under a policy with no retries left: the same body,
  // details and flags, without URX.
  RetryPolicy noneLeft = policy;
  noneLeft.numRetries = 0;
  ProxyResponse f = afterAttempt(noneLeft, attempt, outcome, version).final;
  f.flags |= ResponseFlag::kUO;
  return f;
}

std::optional<std::chrono::milliseconds> routeTimeout(
    const std::optional<std::chrono::milliseconds>& timeout) {
  if (!timeout || timeout->count() <= 0) return std::nullopt;  // §R1: 0 = disabled
  return timeout;
}

std::optional<FaultPolicy> routeFaultPolicy(const std::optional<model::HttpFaultInjection>& fault,
                                            const std::string& origin) {
  if (!fault) return std::nullopt;
  FaultPolicy out;
  out.origin = origin;
  if (fault->delay) {
    out.delay = FaultPolicy::Delay{fault->delay->fixedDelay, fault->delay->percent};
  }
  if (fault->abort && fault->abort->httpStatus > 0 && !fault->abort->grpcStatus) {
    out.abort = FaultPolicy::Abort{static_cast<std::uint32_t>(fault->abort->httpStatus),
                                   fault->abort->percent};
  }
  return out;
}

}  // namespace egresslab::mesh
