// docs/istio-behaviour.md §X1: Istio's extauthz builder (pilot/pkg/security/authz/builder) and
// Envoy's ext_authz filter and clients, as rules.
#include "harness/mesh/ext_authz.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "harness/core/ascii.h"
#include "harness/mesh/compile.h"

namespace egresslab::mesh {
namespace {

bool anyPattern(const std::vector<std::string>& patterns, std::string_view name) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return headerPatternMatches(p, name); });
}

// Istio accepts the codes Envoy's StatusCode enum names (type/v3/http_status.proto).
bool envoyKnowsStatus(std::uint32_t code) {
  static const std::vector<std::uint32_t> known = {
      100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308,
      400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421,
      422, 423, 424, 426, 428, 429, 431, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511};
  return std::find(known.begin(), known.end(), code) != known.end();
}

// Headers a local reply sets itself, never copied from the authorization server's answer.
bool ownedByLocalReply(std::string_view name) {
  return name == "content-length" || name == "transfer-encoding" || name == "connection" ||
         name == "keep-alive" || name == "date" || name == "server" || name == "host";
}

}  // namespace

bool headerPatternMatches(std::string_view pattern, std::string_view name) {
  const std::string p = asciiLower(pattern);
  const std::string n = asciiLower(name);
  if (p.size() > 1 && p.front() == '*') return n.ends_with(std::string_view(p).substr(1));
  if (p.size() > 1 && p.back() == '*') {
    return n.starts_with(std::string_view(p).substr(0, p.size() - 1));
  }
  return p == n;
}

std::vector<ExtAuthzProvider> compileExtAuthzProviders(const model::MeshConfig& meshConfig,
                                                       const Registry& registry,
                                                       const std::vector<std::string>& extraHosts) {
  std::vector<ExtAuthzProvider> out;
  for (std::size_t i = 0; i < meshConfig.extensionProviders.size(); ++i) {
    const model::ExtensionProvider& in = meshConfig.extensionProviders[i];
    if (in.kind == model::ExtensionProvider::Kind::kOther) continue;
    ExtAuthzProvider p;
    p.name = in.name;
    p.protocol = in.kind == model::ExtensionProvider::Kind::kExtAuthzHttp
                     ? ExtAuthzProvider::Protocol::kHttp
                     : ExtAuthzProvider::Protocol::kGrpc;
    p.port = in.port;
    p.origin = fmt::format("meshConfig.extensionProviders[{}] ({})", i, in.name);
    // `[NAMESPACE/]HOSTNAME` (extensionproviders.LookupCluster).
    std::string ns;
    std::string hostname = in.service;
    if (const auto slash = in.service.find('/'); slash != std::string::npos) {
      ns = in.service.substr(0, slash);
      hostname = in.service.substr(slash + 1);
    }
    const bool inRegistry = std::any_of(
        registry.services.begin(), registry.services.end(),
        [&](const auto& s) { return s.hostname == hostname && (ns.empty() || s.ns == ns); });
    const bool provided =
        std::find(extraHosts.begin(), extraHosts.end(), hostname) != extraHosts.end() &&
        (ns.empty() || hostname.find("." + ns + ".svc.") != std::string::npos);
    if (!inRegistry && !provided) {
      p.error = fmt::format("could not find service {} in Istio service registry", in.service);
    }
    p.host = hostname;
    p.cluster = outboundClusterName(p.port, "", p.host);
    if (in.timeout) p.timeout = *in.timeout;
    p.failOpen = in.failOpen;
    if (!in.statusOnError.empty()) {
      std::uint32_t code = 0;
      for (char c : in.statusOnError) {
        code = code * 10 + static_cast<std::uint32_t>(c - '0');
        if (code > 1000) break;
      }
      if (envoyKnowsStatus(code)) {
        p.statusOnError = code;
      } else if (p.error.empty()) {
        p.error = fmt::format("unsupported statusOnError {}", in.statusOnError);
      }
    }
    p.includeRequestBody = in.includeRequestBody;
    p.pathPrefix = in.pathPrefix;
    p.allowedHeaders = in.includeRequestHeadersInCheck;
    for (const auto& [k, v] : in.includeAdditionalHeadersInCheck) p.headersToAdd.emplace_back(k, v);
    p.upstreamHeaders = in.headersToUpstreamOnAllow;
    p.clientHeadersOnDeny = in.headersToDownstreamOnDeny;
    p.clientHeadersOnAllow = in.headersToDownstreamOnAllow;
    out.push_back(std::move(p));
  }
  return out;
}

const ExtAuthzProvider* findExtAuthzProvider(const std::vector<ExtAuthzProvider>& providers,
                                             std::string_view name) {
  for (const auto& p : providers) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

HttpCheckRequest buildHttpCheckRequest(const ExtAuthzProvider& provider,
                                       const RequestView& request) {
  HttpCheckRequest check;
  check.method = std::string(request.method);
  check.path = provider.pathPrefix + std::string(request.path);
  check.headers.emplace_back("host", std::string(request.authority));
  if (request.headers != nullptr) {
    for (const auto& [name, value] : *request.headers) {
      const std::string n = asciiLower(name);
      // Envoy always allows authorization (and the pseudo-headers :method, :path, :authority,
      // sent as the request line and Host); content-length is its own (0).
      if (n == "host" || n == "content-length" || n == "transfer-encoding" || n == "connection") {
        continue;
      }
      if (n == "authorization" || anyPattern(provider.allowedHeaders, n)) {
        check.headers.emplace_back(n, value);
      }
    }
  }
  for (const auto& [name, value] : provider.headersToAdd) {
    const std::string n = asciiLower(name);
    std::erase_if(check.headers, [&](const auto& h) { return h.first == n; });
    check.headers.emplace_back(n, value);
  }
  check.headers.emplace_back("content-length", "0");
  return check;
}

ExtAuthzOutcome interpretHttpCheckResponse(const ExtAuthzProvider& provider, int status,
                                           const HeaderPairList& headers, const std::string& body) {
  ExtAuthzOutcome out;
  if (status >= 500 && status <= 599) {
    return checkFailed(fmt::format("the authorization server answered {}", status));
  }
  if (status == 200) {
    out.kind = ExtAuthzOutcome::Kind::kAllow;
    for (const auto& [name, value] : headers) {
      const std::string n = asciiLower(name);
      if (n == "x-envoy-auth-headers-to-remove") {
        std::size_t from = 0;
        while (from <= value.size()) {
          std::size_t comma = value.find(',', from);
          if (comma == std::string::npos) comma = value.size();
          std::string item = value.substr(from, comma - from);
          item.erase(0, item.find_first_not_of(' '));
          item.erase(item.find_last_not_of(' ') + 1);
          if (!item.empty()) out.upstreamRemove.push_back(asciiLower(item));
          from = comma + 1;
        }
        continue;
      }
      if (anyPattern(provider.upstreamHeaders, n)) out.upstreamSet.emplace_back(n, value);
      if (anyPattern(provider.clientHeadersOnAllow, n)) {
        out.downstreamHeaders.emplace_back(n, value);
      }
    }
    return out;
  }
  out.kind = ExtAuthzOutcome::Kind::kDeny;
  out.status = status > 0 ? static_cast<std::uint32_t>(status) : 403;
  out.body = body;
  for (const auto& [name, value] : headers) {
    const std::string n = asciiLower(name);
    if (n == "x-envoy-auth-headers-to-remove" || ownedByLocalReply(n)) continue;
    const bool toClient = provider.clientHeadersOnDeny.empty()
                              ? true  // Envoy: every header but Host when the list is empty
                              : anyPattern(provider.clientHeadersOnDeny, n) ||
                                    n == "www-authenticate" || n == "location";
    if (toClient) out.downstreamHeaders.emplace_back(n, value);
  }
  return out;
}

ExtAuthzOutcome interpretGrpcCheckResponse(const GrpcCheckAnswer& answer) {
  ExtAuthzOutcome out;
  if (answer.code == 0) {
    out.kind = ExtAuthzOutcome::Kind::kAllow;
    for (const auto& h : answer.okHeaders) {
      (h.append ? out.upstreamAppend : out.upstreamSet).emplace_back(asciiLower(h.key), h.value);
    }
    for (const auto& name : answer.headersToRemove) out.upstreamRemove.push_back(asciiLower(name));
    for (const auto& h : answer.responseHeadersToAdd) {
      out.downstreamHeaders.emplace_back(asciiLower(h.key), h.value);
    }
    return out;
  }
  out.kind = ExtAuthzOutcome::Kind::kDeny;
  out.status = answer.deniedStatus != 0 ? answer.deniedStatus : 403;
  out.body = answer.deniedBody;
  for (const auto& h : answer.deniedHeaders) {
    out.downstreamHeaders.emplace_back(asciiLower(h.key), h.value);
  }
  return out;
}

ExtAuthzOutcome checkFailed(std::string detail) {
  ExtAuthzOutcome out;
  out.kind = ExtAuthzOutcome::Kind::kError;
  out.errorDetail = std::move(detail);
  return out;
}

std::optional<ProxyResponse> extAuthzLocalReply(const ExtAuthzProvider& provider,
                                                const ExtAuthzOutcome& outcome) {
  switch (outcome.kind) {
    case ExtAuthzOutcome::Kind::kAllow:
      return std::nullopt;
    case ExtAuthzOutcome::Kind::kDeny: {
      ProxyResponse r;
      r.status = outcome.status;
      r.flags = ResponseFlag::kUAEX;
      r.details = "ext_authz_denied";
      r.body = outcome.body;
      return r;
    }
    case ExtAuthzOutcome::Kind::kError:
      break;
  }
  if (provider.failOpen) return std::nullopt;
  ProxyResponse r;
  r.status = provider.statusOnError;
  r.flags = ResponseFlag::kUAEX;
  r.details = "ext_authz_error";
  return r;
}

ProxyResponse badCustomActionReply() {
  ProxyResponse r;
  r.status = 403;
  r.body = "RBAC: access denied";
  r.details = "rbac_access_denied_matched_policy[default-deny-all-due-to-bad-CUSTOM-action]";
  return r;
}

bool customActionBuilt(const model::IstioVersion& version) { return version.atLeast(1, 9); }

bool extAuthzAppliesOnTcp(const ExtAuthzProvider& provider) {
  return provider.protocol == ExtAuthzProvider::Protocol::kGrpc;
}

std::optional<ConnectionDenial> extAuthzConnectionDenial(const ExtAuthzProvider& provider,
                                                         const ExtAuthzOutcome& outcome,
                                                         const model::IstioVersion& version) {
  if (outcome.kind == ExtAuthzOutcome::Kind::kAllow) return std::nullopt;
  if (outcome.kind == ExtAuthzOutcome::Kind::kError && provider.failOpen) return std::nullopt;
  ConnectionDenial d;
  // [unconfirmed] The network filter of Envoy's 2020-2021 releases (Istio 1.9-era) only closes
  // the connection; current Envoy also marks the stream UAEX with details ext_authz_denied /
  // ext_authz_error. The boundary is assumed at Istio 1.22 (docs/istio-behaviour.md §X1).
  if (version.atLeast(1, 22)) {
    d.flags = ResponseFlag::kUAEX;
    d.details =
        outcome.kind == ExtAuthzOutcome::Kind::kDeny ? "ext_authz_denied" : "ext_authz_error";
  }
  return d;
}

}  // namespace egresslab::mesh
