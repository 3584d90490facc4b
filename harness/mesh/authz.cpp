#include "harness/mesh/authz.h"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <functional>
#include <map>
#include <regex>

#include "harness/core/ascii.h"
#include "harness/mesh/config.h"

namespace egresslab::mesh {
namespace {

using model::AuthzAction;

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool endsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

std::string regexEscape(std::string_view s) {
  static const std::string_view kSpecial = R"(\^$.|?*+()[]{}-/)";
  std::string out;
  for (const char c : s) {
    if (kSpecial.find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

bool fullRegexMatch(const std::string& pattern, std::string_view value) {
  try {
    return std::regex_match(value.begin(), value.end(), std::regex(pattern));
  } catch (const std::regex_error&) {
    return false;
  }
}

// ------------------------------------------------------------------ addresses
std::optional<std::array<std::uint8_t, 16>> parseIp(std::string_view s, bool& v6) {
  std::array<std::uint8_t, 16> out{};
  v6 = s.find(':') != std::string_view::npos;
  if (!v6) {
    std::size_t from = 0;
    for (int i = 0; i < 4; ++i) {
      const auto dot = s.find('.', from);
      if ((dot == std::string_view::npos) != (i == 3)) return std::nullopt;
      const std::string_view part = s.substr(from, i == 3 ? std::string_view::npos : dot - from);
      unsigned v = 0;
      const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
      if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || v > 255) {
        return std::nullopt;
      }
      out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
      from = dot + 1;
    }
    return out;
  }
  // IPv6: groups of hex, one "::" allowed.
  std::vector<std::uint16_t> head, tail;
  bool gap = false;
  std::size_t i = 0;
  if (startsWith(s, "::")) {
    gap = true;
    i = 2;
  }
  while (i < s.size()) {
    const auto colon = s.find(':', i);
    const std::string_view group =
        s.substr(i, colon == std::string_view::npos ? s.npos : colon - i);
    unsigned v = 0;
    const auto [ptr, ec] = std::from_chars(group.data(), group.data() + group.size(), v, 16);
    if (group.empty() || ec != std::errc() || ptr != group.data() + group.size() || v > 0xffff) {
      return std::nullopt;
    }
    (gap ? tail : head).push_back(static_cast<std::uint16_t>(v));
    if (colon == std::string_view::npos) break;
    i = colon + 1;
    if (i < s.size() && s[i] == ':') {
      if (gap) return std::nullopt;
      gap = true;
      ++i;
    }
  }
  if (head.size() + tail.size() > 8 || (!gap && head.size() != 8)) return std::nullopt;
  std::vector<std::uint16_t> all = head;
  all.resize(8 - tail.size(), 0);
  all.insert(all.end(), tail.begin(), tail.end());
  for (std::size_t g = 0; g < 8; ++g) {
    out[2 * g] = static_cast<std::uint8_t>(all[g] >> 8);
    out[2 * g + 1] = static_cast<std::uint8_t>(all[g] & 0xff);
  }
  return out;
}

// ------------------------------------------------------------------ header lookup
// Envoy's header matcher sees the values of repeated headers joined with ",".
std::optional<std::string> headerValue(const AuthzRequest& r, std::string_view name) {
  if (r.headers == nullptr) return std::nullopt;
  const std::string want = asciiLower(name);
  std::optional<std::string> out;
  for (const auto& [k, v] : *r.headers) {
    if (asciiLower(k) != want) continue;
    out = out ? *out + "," + v : v;
  }
  return out;
}

// ------------------------------------------------------------------ rules
// A field of a rule: values (OR) and notValues (NOT OR) against one attribute.
struct FieldCheck {
  const std::vector<std::string>* values;
  const std::vector<std::string>* notValues;
};

template <typename Match>
bool checkField(const std::vector<std::string>& values, const std::vector<std::string>& notValues,
                Match&& match) {
  if (!values.empty() &&
      std::none_of(values.begin(), values.end(), [&](const auto& v) { return match(v); })) {
    return false;
  }
  if (!notValues.empty() &&
      std::any_of(notValues.begin(), notValues.end(), [&](const auto& v) { return match(v); })) {
    return false;
  }
  return true;
}

bool hasAny(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return !a.empty() || !b.empty();
}

std::string_view whenHeaderName(std::string_view key) {
  const auto open = key.find('[');
  return key.substr(open + 1, key.size() - open - 2);
}

bool httpOnlyWhen(std::string_view key) {
  return startsWith(key, "request.headers") || startsWith(key, "request.auth.");
}

// serviceAccounts: "sa" (the policy's namespace) or "ns/sa".
bool serviceAccountMatches(std::string_view policyNs, std::string_view value,
                           std::string_view peer) {
  if (peer.empty()) return false;
  std::string_view ns = policyNs;
  std::string_view sa = value;
  if (const auto slash = value.find('/'); slash != std::string_view::npos) {
    ns = value.substr(0, slash);
    sa = value.substr(slash + 1);
  }
  return fullRegexMatch(
      "spiffe://.+/ns/" + regexEscape(ns) + "/(.+/|)sa/" + regexEscape(sa) + "(/.+)?", peer);
}

// How a rule is evaluated on a TCP filter chain (Istio's Generate(forTCP)): an HTTP-only field
// makes an ALLOW (and CUSTOM-as-ALLOW) rule match nothing; for DENY and AUDIT the HTTP-only
// field is dropped, so the rule matches more (deny-all when nothing else is left).
struct Mode {
  bool tcp = false;
  bool widen = false;  // DENY / AUDIT / CUSTOM: drop HTTP-only fields on TCP
};

bool sourceMatches(const model::AuthzSource& s, std::string_view policyNs, const AuthzRequest& r,
                   const Mode& mode, bool& skipRule) {
  const std::string_view peer = r.peerPrincipal;
  if (hasAny(s.requestPrincipals, s.notRequestPrincipals) && mode.tcp) {
    if (!mode.widen) skipRule = true;
  } else if (!checkField(s.requestPrincipals, s.notRequestPrincipals,
                         [&](const std::string& v) { return requestPrincipalMatches(v, r.jwt); })) {
    return false;
  }
  if (!checkField(s.principals, s.notPrincipals,
                  [&](const std::string& v) { return principalMatches(v, peer); })) {
    return false;
  }
  if (!checkField(s.namespaces, s.notNamespaces,
                  [&](const std::string& v) { return namespaceMatches(v, peer); })) {
    return false;
  }
  if (!checkField(s.serviceAccounts, s.notServiceAccounts,
                  [&](const std::string& v) { return serviceAccountMatches(policyNs, v, peer); })) {
    return false;
  }
  if (!checkField(s.ipBlocks, s.notIpBlocks,
                  [&](const std::string& v) { return ipBlockMatches(v, r.sourceIp); })) {
    return false;
  }
  if (!checkField(s.remoteIpBlocks, s.notRemoteIpBlocks,
                  [&](const std::string& v) { return ipBlockMatches(v, r.remoteIp); })) {
    return false;
  }
  return true;
}

bool operationMatches(const model::AuthzOperation& o, const AuthzRequest& r, const Mode& mode,
                      bool& skipRule) {
  const auto httpField = [&](const std::vector<std::string>& values,
                             const std::vector<std::string>& notValues, auto&& match) {
    if (!hasAny(values, notValues)) return true;
    if (mode.tcp) {
      if (!mode.widen) skipRule = true;
      return true;  // dropped (DENY/AUDIT) or the whole rule skipped (ALLOW)
    }
    return checkField(values, notValues, match);
  };
  if (!httpField(o.hosts, o.notHosts,
                 [&](const std::string& v) { return authzStringMatch(v, r.host, true); })) {
    return false;
  }
  const std::string path = normalizedPathForMatch(r.path);
  if (!httpField(o.paths, o.notPaths, [&](const std::string& v) {
        if (v.find('{') != std::string::npos) {
          // Path templates (Istio 1.19+): {*} one segment, {**} the rest.
          std::string re;
          for (std::size_t i = 0; i < v.size();) {
            if (v.compare(i, 4, "{**}") == 0) {
              re += ".*";
              i += 4;
            } else if (v.compare(i, 3, "{*}") == 0) {
              re += "[^/]+";
              i += 3;
            } else {
              re += regexEscape(v.substr(i, 1));
              ++i;
            }
          }
          return fullRegexMatch(re, path);
        }
        return authzStringMatch(v, path);
      })) {
    return false;
  }
  if (!httpField(o.methods, o.notMethods,
                 [&](const std::string& v) { return authzStringMatch(v, r.method); })) {
    return false;
  }
  const std::string port = std::to_string(r.destinationPort);
  return checkField(o.ports, o.notPorts, [&](const std::string& v) { return v == port; });
}

// request.auth.* against the verified token (none: no value matches, every notValue passes).
bool jwtConditionMatches(const model::AuthzCondition& c, const JwtIdentity* jwt) {
  if (c.key == "request.auth.principal") {
    // The same generator as requestPrincipals (§S3 "Request principals by version").
    return checkField(c.values, c.notValues,
                      [&](const std::string& v) { return requestPrincipalMatches(v, jwt); });
  }
  std::vector<std::string> attribute;
  if (jwt != nullptr) {
    if (c.key == "request.auth.audiences") {
      attribute = jwt->audiences;
    } else if (c.key == "request.auth.presenter") {
      if (!jwt->presenter.empty()) attribute.push_back(jwt->presenter);
    } else {
      attribute = claimStrings(*jwt, claimPathOf(c.key));
    }
  }
  return checkField(c.values, c.notValues, [&](const std::string& v) {
    return std::any_of(attribute.begin(), attribute.end(),
                       [&](const std::string& a) { return authzStringMatch(v, a); });
  });
}

bool conditionMatches(const model::AuthzCondition& c, const AuthzRequest& r, const Mode& mode,
                      bool& skipRule) {
  const std::string& k = c.key;
  if (httpOnlyWhen(k) && mode.tcp) {
    if (!mode.widen) skipRule = true;
    return true;
  }
  const auto check = [&](auto&& match) { return checkField(c.values, c.notValues, match); };
  if (startsWith(k, "request.headers")) {
    const auto value = headerValue(r, whenHeaderName(k));
    return check([&](const std::string& v) {
      if (!value) return false;
      return v == "*" || authzStringMatch(v, *value);
    });
  }
  if (startsWith(k, "request.auth.")) return jwtConditionMatches(c, r.jwt);
  if (k == "source.ip") {
    return check([&](const std::string& v) { return ipBlockMatches(v, r.sourceIp); });
  }
  if (k == "remote.ip") {
    return check([&](const std::string& v) { return ipBlockMatches(v, r.remoteIp); });
  }
  if (k == "source.namespace") {
    return check([&](const std::string& v) { return namespaceMatches(v, r.peerPrincipal); });
  }
  if (k == "source.principal") {
    return check([&](const std::string& v) { return principalMatches(v, r.peerPrincipal); });
  }
  if (k == "destination.ip") {
    return check([&](const std::string& v) { return ipBlockMatches(v, r.destinationIp); });
  }
  if (k == "destination.port") {
    const std::string port = std::to_string(r.destinationPort);
    return check([&](const std::string& v) { return v == port; });
  }
  if (k == "connection.sni") {
    return check([&](const std::string& v) { return authzStringMatch(v, r.sni); });
  }
  // experimental.envoy.filters.*: Envoy metadata is not simulated (noted); never matches.
  return check([](const std::string&) { return false; });
}

// True when rule `rule` of a policy in `policyNs` matches. On TCP an ALLOW rule with HTTP-only
// fields is skipped altogether (never matches).
bool ruleMatches(const model::AuthzRule& rule, std::string_view policyNs, const AuthzRequest& r,
                 const Mode& mode) {
  bool skip = false;
  bool from = rule.from.empty();
  for (const auto& s : rule.from) from = sourceMatches(s, policyNs, r, mode, skip) || from;
  bool to = rule.to.empty();
  for (const auto& o : rule.to) to = operationMatches(o, r, mode, skip) || to;
  bool when = true;
  for (const auto& c : rule.when) when = conditionMatches(c, r, mode, skip) && when;
  if (skip) return false;
  return from && to && when;
}

// Every (Envoy policy name, rule) of the policies with `action`, in Envoy's order (its policy map
// is ordered by name), and whether any such policy exists.
struct NamedRule {
  std::string name;
  const AuthzPolicy* policy = nullptr;
  const model::AuthzRule* rule = nullptr;  // null: a policy without rules (never matches)
};

std::vector<NamedRule> rulesOf(const ProxyAuthz& authz, AuthzAction action) {
  std::map<std::string, NamedRule> byName;
  for (const auto& p : authz.policies) {
    if (p.action != action) continue;
    if (p.rules.empty()) {
      const std::string name = envoyPolicyName(p.ns, p.name, 0);
      byName[name] = {name, &p, nullptr};
    }
    for (std::size_t i = 0; i < p.rules.size(); ++i) {
      const std::string name = envoyPolicyName(p.ns, p.name, i);
      byName[name] = {name, &p, &p.rules[i]};
    }
  }
  std::vector<NamedRule> out;
  for (auto& [name, rule] : byName) out.push_back(std::move(rule));
  return out;
}

std::optional<std::string> firstMatch(const std::vector<NamedRule>& rules, const AuthzRequest& r,
                                      const Mode& mode) {
  for (const auto& nr : rules) {
    if (nr.rule != nullptr && ruleMatches(*nr.rule, nr.policy->ns, r, mode)) return nr.name;
  }
  return std::nullopt;
}

// ------------------------------------------------------------------ path normalization
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

// RFC 3986 section 5.2.4.
std::string removeDotSegments(std::string_view in) {
  std::vector<std::string_view> out;
  const bool absolute = startsWith(in, "/");
  std::size_t i = absolute ? 1 : 0;
  bool trailingSlash = false;
  while (i <= in.size()) {
    const auto slash = in.find('/', i);
    const std::string_view seg =
        in.substr(i, slash == std::string_view::npos ? in.npos : slash - i);
    const bool last = slash == std::string_view::npos;
    if (seg == ".") {
      trailingSlash = last || trailingSlash;
    } else if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailingSlash = true;
    } else {
      out.push_back(seg);
      trailingSlash = false;
    }
    if (last) break;
    i = slash + 1;
  }
  std::string result = absolute ? "/" : "";
  for (std::size_t j = 0; j < out.size(); ++j) {
    if (j > 0) result += '/';
    result += out[j];
  }
  if (trailingSlash && !endsWith(result, "/")) result += '/';
  return result;
}

}  // namespace

// ------------------------------------------------------------------ public
bool ProxyAuthz::has(model::AuthzAction action) const {
  return std::any_of(policies.begin(), policies.end(),
                     [&](const AuthzPolicy& p) { return p.action == action; });
}

std::string rootNamespaceOf(const model::MeshConfig& meshConfig) {
  if (meshConfig.raw.is_object() && meshConfig.raw.contains("rootNamespace") &&
      meshConfig.raw["rootNamespace"].is_string()) {
    const std::string ns = meshConfig.raw["rootNamespace"].get<std::string>();
    if (!ns.empty()) return ns;
  }
  return "istio-system";
}

bool policySelects(const model::AuthorizationPolicy& policy, std::string_view rootNamespace,
                   std::string_view podNamespace, const model::Labels& podLabels) {
  if (!policy.targetRefs.empty()) return false;  // Gateway API gateways / waypoints only
  const std::string ns = policy.meta.ns.empty() ? "default" : policy.meta.ns;
  if (ns != rootNamespace && ns != podNamespace) return false;
  if (!policy.selector) return true;
  for (const auto& [key, value] : *policy.selector) {
    const auto it = podLabels.find(key);
    if (it == podLabels.end() || it->second != value) return false;
  }
  return true;
}

ProxyAuthz compileProxyAuthz(const std::vector<model::AuthorizationPolicy>& policies,
                             std::string_view rootNamespace, std::string_view podNamespace,
                             const model::Labels& podLabels) {
  ProxyAuthz out;
  for (const auto& p : policies) {
    if (!policySelects(p, rootNamespace, podNamespace, podLabels)) continue;
    // `istio.io/dry-run: "true"` puts the policy into Envoy's shadow rules: evaluated and
    // logged, never enforced.
    if (auto it = p.meta.annotations.find("istio.io/dry-run");
        it != p.meta.annotations.end() && asciiLower(it->second) == "true") {
      continue;
    }
    AuthzPolicy c;
    c.ns = p.meta.ns.empty() ? "default" : p.meta.ns;
    c.name = p.meta.name;
    c.action = p.action;
    c.provider = p.provider;
    c.rules = p.rules;
    c.origin = p.ref();
    out.policies.push_back(std::move(c));
  }
  return out;
}

std::string envoyPolicyName(std::string_view ns, std::string_view name, std::size_t rule) {
  return fmt::format("ns[{}]-policy[{}]-rule[{}]", ns, name, rule);
}

std::optional<CustomMatch> evaluateCustom(const ProxyAuthz& authz, const AuthzRequest& request) {
  const Mode mode{!request.http, true};  // CUSTOM is built like DENY (wider on TCP)
  for (const auto& nr : rulesOf(authz, AuthzAction::kCustom)) {
    if (nr.rule != nullptr && ruleMatches(*nr.rule, nr.policy->ns, request, mode)) {
      return CustomMatch{nr.policy->provider, nr.name};
    }
  }
  return std::nullopt;
}

AuthzDecision evaluateRbac(const ProxyAuthz& authz, const AuthzRequest& request) {
  AuthzDecision d;
  const bool tcp = !request.http;
  for (const auto& nr : rulesOf(authz, AuthzAction::kAudit)) {
    if (nr.rule != nullptr && ruleMatches(*nr.rule, nr.policy->ns, request, {tcp, true})) {
      d.audited.push_back(nr.name);
    }
  }
  if (auto deny = firstMatch(rulesOf(authz, AuthzAction::kDeny), request, {tcp, true})) {
    d.allowed = false;
    d.matchedPolicy = *deny;
  } else if (authz.has(AuthzAction::kAllow)) {
    if (!firstMatch(rulesOf(authz, AuthzAction::kAllow), request, {tcp, false})) {
      d.allowed = false;
      d.matchedPolicy = "none";
    }
  }
  if (!d.allowed) d.details = "rbac_access_denied_matched_policy[" + d.matchedPolicy + "]";
  return d;
}

bool authzStringMatch(std::string_view pattern, std::string_view value, bool ignoreCase) {
  std::string p(pattern);
  std::string v(value);
  if (ignoreCase) {
    p = asciiLower(p);
    v = asciiLower(v);
  }
  if (p == "*") return !v.empty();
  if (startsWith(p, "*")) return endsWith(v, std::string_view(p).substr(1));
  if (endsWith(p, "*")) return startsWith(v, std::string_view(p).substr(0, p.size() - 1));
  return p == v;
}

bool principalMatches(std::string_view pattern, std::string_view peer) {
  if (peer.empty()) return false;  // not mutual TLS: no authenticated principal
  static constexpr std::string_view kSpiffe = "spiffe://";
  if (pattern == "*") return true;
  if (startsWith(pattern, "*"))
    return startsWith(peer, kSpiffe) && endsWith(peer, pattern.substr(1));
  if (endsWith(pattern, "*")) {
    return startsWith(peer,
                      std::string(kSpiffe) + std::string(pattern.substr(0, pattern.size() - 1)));
  }
  return peer == std::string(kSpiffe) + std::string(pattern);
}

bool requestPrincipalMatches(std::string_view pattern, const JwtIdentity* jwt) {
  if (jwt == nullptr) return false;  // no verified token: no request principal
  const auto claim = [&](const char* name) -> std::optional<std::string> {
    const auto it = jwt->payload.find(name);
    if (it == jwt->payload.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  const std::optional<std::string> iss = claim("iss");
  const std::optional<std::string> sub = claim("sub");
  if (!jwt->istio.atLeast(1, 21)) {
    // Up to 1.20 the istio_authn filter sets the principal "iss/sub" only when the token has both
    // claims, and the value is matched against that one string (§S3).
    return iss && sub && authzStringMatch(pattern, *iss + "/" + *sub);
  }
  // From 1.21 istiod splits the value into issuer and subject and matches each against its claim
  // (a missing claim matches nothing; "*" is any non-empty value). 1.21.0 split at the first "/",
  // which cuts a URL issuer apart; 1.21.1 (istio#50082) splits at the last "/".
  const bool lastSlash = jwt->istio.atLeast(1, 21, 1);
  const auto slash = lastSlash ? pattern.rfind('/') : pattern.find('/');
  const bool found = slash != std::string_view::npos;
  const std::string_view patIss = found ? pattern.substr(0, slash) : pattern;
  const std::string_view patSub = found ? pattern.substr(slash + 1) : std::string_view();
  using Match = std::function<bool(const std::string&)>;
  const Match any = [](const std::string& v) { return !v.empty(); };
  const auto exact = [](std::string_view p) -> Match {
    return [p](const std::string& v) { return v == p; };
  };
  const auto prefix = [](std::string_view p) -> Match {
    return [p](const std::string& v) { return startsWith(v, p); };
  };
  const auto suffix = [](std::string_view p) -> Match {
    return [p](const std::string& v) { return endsWith(v, p); };
  };
  Match matchIss = exact(patIss);
  Match matchSub = exact(patSub);
  if (pattern == "*") {
    matchIss = any;
    matchSub = any;
  } else if (startsWith(pattern, "*")) {
    matchIss = !found ? any : patIss == "*" ? any : suffix(patIss.substr(1));
    matchSub = found ? exact(patSub) : suffix(pattern.substr(1));
  } else if (endsWith(pattern, "*")) {
    matchIss = found ? exact(patIss) : prefix(pattern.substr(0, pattern.size() - 1));
    matchSub = !found ? any : patSub == "*" ? any : prefix(patSub.substr(0, patSub.size() - 1));
  }
  return iss && sub && matchIss(*iss) && matchSub(*sub);
}

bool namespaceMatches(std::string_view pattern, std::string_view peer) {
  if (peer.empty()) return false;
  std::string re = ".*/ns/";
  for (const char c : pattern) re += c == '*' ? std::string(".*") : regexEscape(std::string(1, c));
  re += "/.*";
  return fullRegexMatch(re, peer);
}

bool ipBlockMatches(std::string_view block, std::string_view ip) {
  std::string_view addr = block;
  std::optional<unsigned> bits;
  if (const auto slash = block.find('/'); slash != std::string_view::npos) {
    addr = block.substr(0, slash);
    unsigned b = 0;
    const std::string_view len = block.substr(slash + 1);
    const auto [ptr, ec] = std::from_chars(len.data(), len.data() + len.size(), b);
    if (ec != std::errc() || ptr != len.data() + len.size()) return false;
    bits = b;
  }
  bool v6a = false;
  bool v6b = false;
  const auto a = parseIp(addr, v6a);
  const auto b = parseIp(ip, v6b);
  if (!a || !b || v6a != v6b) return false;
  const unsigned total = v6a ? 128 : 32;
  const unsigned n = std::min(bits.value_or(total), total);
  for (unsigned i = 0; i < n; ++i) {
    const auto byte = static_cast<std::size_t>(i / 8);
    const int shift = 7 - static_cast<int>(i % 8);
    if ((((*a)[byte] >> shift) & 1) != (((*b)[byte] >> shift) & 1)) return false;
  }
  return true;
}

std::string normalizedPathForMatch(std::string_view target) {
  const std::string_view path = target.substr(0, target.find_first_of("?#"));
  std::string decoded;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '%' && i + 2 < path.size()) {
      const int hi = hexValue(path[i + 1]);
      const int lo = hexValue(path[i + 2]);
      if (hi >= 0 && lo >= 0) {
        const char ch = static_cast<char>(hi * 16 + lo);
        if (unreserved(ch)) {
          decoded += ch;
          i += 2;
          continue;
        }
      }
    }
    decoded += c == '\\' ? '/' : c;
  }
  return removeDotSegments(decoded);
}

std::string formatXfccElement(const ClientCertDetails& d) {
  std::string out = "By=" + d.by + ";Hash=" + d.hash;
  if (d.withCert) {
    // Envoy's URL-encoded PEM: newline, space, '+', '/' and '=' are percent-encoded.
    std::string cert;
    for (const char c : d.pem) {
      switch (c) {
        case '\n':
          cert += "%0A";
          break;
        case ' ':
          cert += "%20";
          break;
        case '+':
          cert += "%2B";
          break;
        case '/':
          cert += "%2F";
          break;
        case '=':
          cert += "%3D";
          break;
        default:
          cert += c;
      }
    }
    out += ";Cert=\"" + cert + "\"";
  }
  out += ";Subject=\"\";URI=" + d.uri;
  return out;
}

void attachAuthorization(CompiledMesh& mesh,
                         const std::vector<model::AuthorizationPolicy>& policies,
                         const std::vector<model::RequestAuthentication>& requestAuthns) {
  const std::string root = rootNamespaceOf(mesh.meshConfig);
  for (auto& proxy : mesh.proxies) {
    const WorkloadInstance* pod = mesh.findWorkload(proxy.id.ns, proxy.id.name);
    const model::Labels& labels = pod != nullptr ? pod->labels : proxy.podLabels;
    proxy.authz = compileProxyAuthz(policies, root, proxy.id.ns, labels);
    proxy.authz.jwt = compileProxyJwt(requestAuthns, root, proxy.id.ns, labels);
  }
  attachJwtNotes(mesh, requestAuthns);
  const auto proxiesWith = [&](const model::AuthorizationPolicy& p) {
    std::vector<std::string> out;
    for (const auto& proxy : mesh.proxies) {
      for (const auto& c : proxy.authz.policies) {
        if (c.origin == p.ref()) out.push_back(proxy.id.str());
      }
    }
    return out;
  };
  const auto addNote = [&](const model::AuthorizationPolicy& p, std::string what,
                           std::string_view path, std::vector<std::string> proxies,
                           NotSimulatedNote::Reach reach = NotSimulatedNote::Reach::kProxies) {
    NotSimulatedNote n;
    n.ref = p.ref();
    n.what = std::move(what);
    n.where = p.origin.at(path);
    n.reach = reach;
    n.proxies = std::move(proxies);
    for (const auto& seen : mesh.notSimulated) {
      if (seen.ref == n.ref && seen.what == n.what) return;
    }
    mesh.notSimulated.push_back(std::move(n));
  };
  for (const auto& p : policies) {
    if (!p.targetRefs.empty()) {
      addNote(p,
              "targetRef/targetRefs attach the policy to Gateway API gateways or waypoints, "
              "which are not simulated (it applies to no proxy here)",
              p.targetRefs.size() == 1 && p.origin.fields.contains("spec.targetRef")
                  ? "spec.targetRef"
                  : "spec.targetRefs",
              {}, NotSimulatedNote::Reach::kNoProxy);
      continue;
    }
    const std::vector<std::string> reach = proxiesWith(p);
    if (reach.empty()) continue;
    // CUSTOM is enforced by the ext_authz filter (harness/sim/ext_authz_client.cpp, §X1).
    for (const auto& rule : p.rules) {
      for (const auto& c : rule.when) {
        if (startsWith(c.key, "experimental.envoy.filters.")) {
          addNote(p,
                  fmt::format("when key \"{}\" reads Envoy filter metadata, which is not "
                              "simulated: it never matches",
                              c.key),
                  c.path + ".key", reach);
        }
      }
    }
  }
  // meshConfig.pathNormalization other than the default BASE.
  if (mesh.meshConfig.raw.is_object() && mesh.meshConfig.raw.contains("pathNormalization")) {
    const auto& pn = mesh.meshConfig.raw["pathNormalization"];
    const std::string norm =
        pn.is_object() && pn.contains("normalization") && pn["normalization"].is_string()
            ? pn["normalization"].get<std::string>()
            : "";
    if (!norm.empty() && norm != "BASE" && norm != "DEFAULT") {
      NotSimulatedNote n;
      n.ref = "meshConfig.pathNormalization";
      n.what =
          fmt::format("normalization {} is not simulated (paths are normalized as BASE)", norm);
      n.reach = NotSimulatedNote::Reach::kEveryProxy;
      mesh.notSimulated.push_back(std::move(n));
    }
  }
}

}  // namespace egresslab::mesh
