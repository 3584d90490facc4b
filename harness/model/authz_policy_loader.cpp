// security.istio.io AuthorizationPolicy: the schema and the checks of istiod's validation webhook
// that a user meets on `kubectl apply` (docs/istio-behaviour.md §S1). Unknown fields, wrong types,
// an unknown `when` key, a `from`/`to` without a source/operation, an empty value, a port that is
// no port and an address block that is no IP/CIDR are errors at their FILE:LINE:COL.
#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <string>
#include <vector>

#include "harness/model/manifest_parsers.h"

namespace egresslab::model::detail {
namespace {

// The attribute keys the API knows in `when` (Istio's authz model, every version modelled).
// Keys with "[name]" take a header or claim name in brackets.
const std::vector<std::string>& plainWhenKeys() {
  static const std::vector<std::string> keys = {"source.ip",
                                                "remote.ip",
                                                "source.namespace",
                                                "source.principal",
                                                "destination.ip",
                                                "destination.port",
                                                "connection.sni",
                                                "request.auth.principal",
                                                "request.auth.audiences",
                                                "request.auth.presenter"};
  return keys;
}

bool bracketed(std::string_view key, std::string_view prefix) {
  return key.size() > prefix.size() + 2 && key.substr(0, prefix.size()) == prefix &&
         key[prefix.size()] == '[' && key.back() == ']';
}

std::string whenKeyProblem(const std::string& key) {
  const auto& plain = plainWhenKeys();
  if (std::find(plain.begin(), plain.end(), key) != plain.end()) return {};
  if (bracketed(key, "request.headers") || bracketed(key, "request.auth.claims")) return {};
  if (key.rfind("experimental.envoy.filters.", 0) == 0) return {};
  if (key == "request.headers" || key == "request.auth.claims") {
    return fmt::format("\"{}\" needs a name in brackets, e.g. \"{}[x-name]\"", key, key);
  }
  std::vector<std::string> names = plain;
  names.emplace_back("request.headers[NAME]");
  names.emplace_back("request.auth.claims[NAME]");
  return fmt::format("unknown attribute \"{}\" in when.key{}", key,
                     suggestion(key, names, "valid keys"));
}

bool validPort(std::string_view s) {
  unsigned value = 0;
  const auto* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, value);
  return ec == std::errc() && ptr == end && value <= 65535;
}

// An IPv4/IPv6 address, or one with a /prefix length (Istio: net.ParseIP / net.ParseCIDR).
bool validIpOrCidr(std::string_view s) {
  std::string_view addr = s;
  std::string_view len;
  if (const auto slash = s.find('/'); slash != std::string_view::npos) {
    addr = s.substr(0, slash);
    len = s.substr(slash + 1);
  }
  const bool v6 = addr.find(':') != std::string_view::npos;
  if (v6) {
    if (addr.size() < 2 || addr.find_first_not_of("0123456789abcdefABCDEF:.") != addr.npos) {
      return false;
    }
  } else {
    int parts = 0;
    std::size_t from = 0;
    for (;;) {
      const auto dot = addr.find('.', from);
      const std::string_view part =
          addr.substr(from, dot == std::string_view::npos ? std::string_view::npos : dot - from);
      unsigned octet = 0;
      const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), octet);
      if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || octet > 255) {
        return false;
      }
      ++parts;
      if (dot == std::string_view::npos) break;
      from = dot + 1;
    }
    if (parts != 4) return false;
  }
  if (s.find('/') == std::string_view::npos) return true;
  unsigned bits = 0;
  const auto [ptr, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
  return !len.empty() && ec == std::errc() && ptr == len.data() + len.size() &&
         bits <= (v6 ? 128u : 32u);
}

enum class ValueCheck { kNone, kPort, kIp };

// A list of strings; every value non-empty and of the right kind.
std::vector<std::string> readValues(Fields& f, std::string_view key, const std::string& path,
                                    ValueCheck check) {
  const YNode* node = f.get(key);
  std::vector<std::string> out = f.strList(key);
  if (node == nullptr || !f.ctx().ok() || !node->isSequence()) return out;
  for (std::size_t i = 0; i < out.size() && f.ctx().ok(); ++i) {
    const SourcePos& pos = node->items[i].pos;
    const std::string field = fmt::format("{}.{}[{}]", path, key, i);
    if (out[i].empty()) {
      f.ctx().fail(fmt::format("{}: empty value not allowed", field), pos);
    } else if (check == ValueCheck::kPort && !validPort(out[i])) {
      f.ctx().fail(fmt::format("{}: invalid port \"{}\" (0-65535)", field, out[i]), pos);
    } else if (check == ValueCheck::kIp && !validIpOrCidr(out[i])) {
      f.ctx().fail(fmt::format("{}: invalid IP address or CIDR block \"{}\"", field, out[i]), pos);
    }
  }
  return out;
}

AuthzSource readSource(Ctx& ctx, const YNode& node, const std::string& path) {
  Fields f(ctx, node, "AuthorizationPolicy " + path);
  AuthzSource s;
  s.path = path;
  s.principals = readValues(f, "principals", path, ValueCheck::kNone);
  s.notPrincipals = readValues(f, "notPrincipals", path, ValueCheck::kNone);
  s.requestPrincipals = readValues(f, "requestPrincipals", path, ValueCheck::kNone);
  s.notRequestPrincipals = readValues(f, "notRequestPrincipals", path, ValueCheck::kNone);
  s.namespaces = readValues(f, "namespaces", path, ValueCheck::kNone);
  s.notNamespaces = readValues(f, "notNamespaces", path, ValueCheck::kNone);
  s.ipBlocks = readValues(f, "ipBlocks", path, ValueCheck::kIp);
  s.notIpBlocks = readValues(f, "notIpBlocks", path, ValueCheck::kIp);
  s.remoteIpBlocks = readValues(f, "remoteIpBlocks", path, ValueCheck::kIp);
  s.notRemoteIpBlocks = readValues(f, "notRemoteIpBlocks", path, ValueCheck::kIp);
  s.serviceAccounts = readValues(f, "serviceAccounts", path, ValueCheck::kNone);
  s.notServiceAccounts = readValues(f, "notServiceAccounts", path, ValueCheck::kNone);
  f.finish();
  const bool empty =
      s.principals.empty() && s.notPrincipals.empty() && s.requestPrincipals.empty() &&
      s.notRequestPrincipals.empty() && s.namespaces.empty() && s.notNamespaces.empty() &&
      s.ipBlocks.empty() && s.notIpBlocks.empty() && s.remoteIpBlocks.empty() &&
      s.notRemoteIpBlocks.empty() && s.serviceAccounts.empty() && s.notServiceAccounts.empty();
  if (ctx.ok() && empty) {
    ctx.fail(fmt::format("{} must not be empty (istiod rejects a source without fields)", path),
             node.pos);
  }
  return s;
}

AuthzOperation readOperation(Ctx& ctx, const YNode& node, const std::string& path) {
  Fields f(ctx, node, "AuthorizationPolicy " + path);
  AuthzOperation o;
  o.path = path;
  o.hosts = readValues(f, "hosts", path, ValueCheck::kNone);
  o.notHosts = readValues(f, "notHosts", path, ValueCheck::kNone);
  o.ports = readValues(f, "ports", path, ValueCheck::kPort);
  o.notPorts = readValues(f, "notPorts", path, ValueCheck::kPort);
  o.methods = readValues(f, "methods", path, ValueCheck::kNone);
  o.notMethods = readValues(f, "notMethods", path, ValueCheck::kNone);
  o.paths = readValues(f, "paths", path, ValueCheck::kNone);
  o.notPaths = readValues(f, "notPaths", path, ValueCheck::kNone);
  f.finish();
  const bool empty = o.hosts.empty() && o.notHosts.empty() && o.ports.empty() &&
                     o.notPorts.empty() && o.methods.empty() && o.notMethods.empty() &&
                     o.paths.empty() && o.notPaths.empty();
  if (ctx.ok() && empty) {
    ctx.fail(fmt::format("{} must not be empty (istiod rejects an operation without fields)", path),
             node.pos);
  }
  return o;
}

AuthzCondition readCondition(Ctx& ctx, const YNode& node, const std::string& path) {
  Fields f(ctx, node, "AuthorizationPolicy " + path);
  AuthzCondition c;
  c.path = path;
  const YNode* keyNode = f.get("key");
  c.key = f.requiredStr("key");
  const bool ip = c.key == "source.ip" || c.key == "remote.ip" || c.key == "destination.ip";
  const ValueCheck check = ip                            ? ValueCheck::kIp
                           : c.key == "destination.port" ? ValueCheck::kPort
                                                         : ValueCheck::kNone;
  c.values = readValues(f, "values", path, check);
  c.notValues = readValues(f, "notValues", path, check);
  f.finish();
  if (!ctx.ok()) return c;
  if (const std::string problem = whenKeyProblem(c.key); !problem.empty()) {
    ctx.fail(fmt::format("{}: {}", path, problem), keyNode != nullptr ? keyNode->pos : node.pos);
  } else if (c.values.empty() && c.notValues.empty()) {
    ctx.fail(fmt::format("{}: at least one of values or notValues must be set for key \"{}\"", path,
                         c.key),
             node.pos);
  }
  return c;
}

}  // namespace

void readAuthorizationPolicy(Ctx& ctx, const YNode& spec, AuthorizationPolicy& ap) {
  Fields f(ctx, spec, "AuthorizationPolicy spec");
  const YNode* selector = f.get("selector");
  if (selector != nullptr && !selector->isNull()) {
    Fields sf(ctx, *selector, "AuthorizationPolicy spec.selector");
    ap.selector = sf.strMap("matchLabels");
    sf.finish();
  }
  readPolicyTargetRefs(ctx, f, "AuthorizationPolicy", ap.targetRefs);
  const YNode* actionNode = f.get("action");
  ap.action = readEnum<AuthzAction>(ctx, actionNode, "spec.action",
                                    {{"ALLOW", AuthzAction::kAllow},
                                     {"DENY", AuthzAction::kDeny},
                                     {"AUDIT", AuthzAction::kAudit},
                                     {"CUSTOM", AuthzAction::kCustom}})
                  .value_or(AuthzAction::kAllow);
  const YNode* providerNode = f.get("provider");
  if (providerNode != nullptr && !providerNode->isNull()) {
    Fields pf(ctx, *providerNode, "AuthorizationPolicy spec.provider");
    ap.provider = pf.requiredStr("name");
    pf.finish();
  }
  eachItem(ctx, f.get("rules"), "spec.rules", [&](const YNode& item, const std::string& p) {
    Fields rf(ctx, item, "AuthorizationPolicy " + p);
    AuthzRule rule;
    rule.path = p;
    eachItem(ctx, rf.get("from"), p + ".from", [&](const YNode& from, const std::string& fp) {
      Fields ff(ctx, from, "AuthorizationPolicy " + fp);
      const YNode* source = ff.get("source");
      ff.finish();
      if (source == nullptr || source->isNull()) {
        if (ctx.ok()) ctx.fail(fmt::format("{}.source must not be nil", fp), from.pos);
        return;
      }
      rule.from.push_back(readSource(ctx, *source, fp + ".source"));
    });
    eachItem(ctx, rf.get("to"), p + ".to", [&](const YNode& to, const std::string& tp) {
      Fields tf(ctx, to, "AuthorizationPolicy " + tp);
      const YNode* operation = tf.get("operation");
      tf.finish();
      if (operation == nullptr || operation->isNull()) {
        if (ctx.ok()) ctx.fail(fmt::format("{}.operation must not be nil", tp), to.pos);
        return;
      }
      rule.to.push_back(readOperation(ctx, *operation, tp + ".operation"));
    });
    eachItem(ctx, rf.get("when"), p + ".when", [&](const YNode& when, const std::string& wp) {
      rule.when.push_back(readCondition(ctx, when, wp));
    });
    rf.finish();
    ap.rules.push_back(std::move(rule));
  });
  f.finish();
  if (!ctx.ok()) return;
  // istiod's validation webhook (every version with the fields).
  if (ap.selector && !ap.targetRefs.empty()) {
    ctx.fail("only one of selector, targetRef or targetRefs can be set", selector->pos);
  } else if (ap.action == AuthzAction::kCustom && ap.provider.empty()) {
    ctx.fail("action CUSTOM needs spec.provider.name (an extension provider of meshConfig)",
             actionNode != nullptr ? actionNode->pos : spec.pos);
  } else if (ap.action != AuthzAction::kCustom && !ap.provider.empty()) {
    ctx.fail(fmt::format("spec.provider can only be used with action CUSTOM, not {}",
                         authzActionName(ap.action)),
             providerNode->pos);
  }
}

}  // namespace egresslab::model::detail
