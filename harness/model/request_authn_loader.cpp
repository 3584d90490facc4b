// security.istio.io RequestAuthentication: the schema and the checks of istiod's validation webhook
// (docs/istio-behaviour.md §S3), and the policy attachment fields every security policy shares
// (`targetRef` 1.20+, `targetRefs` 1.22+), whose availability depends on the Istio version and is
// checked once the scenario's version is known (checkSecurityPolicyVersions; for `analyze` of raw
// manifests setAsideSecurityPoliciesRejectedBy, the same rule).
#include <fmt/core.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "harness/model/loader.h"
#include "harness/model/manifest_parsers.h"

namespace egresslab::model::detail {
namespace {

// istiod's ParseJwksURI: an http or https URL with a host.
std::string jwksUriProblem(std::string_view uri) {
  std::string_view rest;
  if (uri.substr(0, 7) == "http://") {
    rest = uri.substr(7);
  } else if (uri.substr(0, 8) == "https://") {
    rest = uri.substr(8);
  } else {
    return fmt::format("jwksUri \"{}\": only http and https URIs are supported", uri);
  }
  const std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.empty() || host.front() == ':') {
    return fmt::format("jwksUri \"{}\" has no host", uri);
  }
  return {};
}

// istiod parses inline JWKS with a JWK library (jwk.Parse): a JSON key set or a single key, each
// key with a known `kty`. What Envoy then makes of the keys is mesh/jwt.cpp's business.
std::string jwksProblem(const std::string& text) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return "jwks parse error: not a JSON object";
  std::vector<const nlohmann::json*> keys;
  if (doc.contains("keys")) {
    if (!doc["keys"].is_array()) return "jwks parse error: \"keys\" must be a list";
    for (const auto& k : doc["keys"]) keys.push_back(&k);
  } else {
    keys.push_back(&doc);
  }
  for (const auto* k : keys) {
    if (!k->is_object() || !k->contains("kty") || !(*k)["kty"].is_string()) {
      return "jwks parse error: every key needs a string \"kty\"";
    }
    const std::string kty = (*k)["kty"].get<std::string>();
    if (kty != "RSA" && kty != "EC" && kty != "oct" && kty != "OKP") {
      return fmt::format("jwks parse error: unsupported \"kty\" \"{}\"", kty);
    }
  }
  return {};
}

PolicyTargetRef readTargetRef(Ctx& ctx, const YNode& node, std::string_view kind,
                              const std::string& path) {
  Fields f(ctx, node, fmt::format("{} {}", kind, path));
  PolicyTargetRef ref;
  ref.path = path;
  ref.group = f.str("group").value_or("");
  ref.kind = f.requiredStr("kind");
  ref.name = f.requiredStr("name");
  const YNode* ns = f.get("namespace");
  ref.ns = f.str("namespace").value_or("");
  f.finish();
  if (ctx.ok() && !ref.ns.empty()) {
    ctx.fail(fmt::format("{}: targetRef namespace must not be set; cross namespace referencing is "
                         "not supported",
                         path),
             ns->pos);
  }
  return ref;
}

JwtRule readJwtRule(Ctx& ctx, const YNode& node, const std::string& path) {
  Fields f(ctx, node, "RequestAuthentication " + path);
  JwtRule r;
  r.path = path;
  const YNode* issuer = f.get("issuer");
  r.issuer = f.str("issuer").value_or("");
  r.audiences = f.strList("audiences");
  const YNode* uri = f.get("jwksUri");
  r.jwksUri = f.str("jwksUri").value_or("");
  const YNode* jwks = f.get("jwks");
  r.jwks = f.str("jwks").value_or("");
  eachItem(ctx, f.get("fromHeaders"), path + ".fromHeaders",
           [&](const YNode& item, const std::string& p) {
             Fields hf(ctx, item, "RequestAuthentication " + p);
             JwtHeaderLocation loc;
             loc.name = hf.str("name").value_or("");
             loc.prefix = hf.str("prefix").value_or("");
             hf.finish();
             if (ctx.ok() && loc.name.empty()) {
               ctx.fail(fmt::format("{}: location header name must be non-empty string", p),
                        item.pos);
             }
             r.fromHeaders.push_back(std::move(loc));
           });
  r.fromParams = f.strList("fromParams");
  r.fromCookies = f.strList("fromCookies");
  r.outputPayloadToHeader = f.str("outputPayloadToHeader").value_or("");
  eachItem(ctx, f.get("outputClaimToHeaders"), path + ".outputClaimToHeaders",
           [&](const YNode& item, const std::string& p) {
             Fields cf(ctx, item, "RequestAuthentication " + p);
             JwtClaimToHeader c;
             c.header = cf.str("header").value_or("");
             c.claim = cf.str("claim").value_or("");
             cf.finish();
             if (ctx.ok() && (c.header.empty() || c.claim.empty())) {
               ctx.fail(fmt::format("{}: outputClaimToHeaders header and claim value must be "
                                    "non-empty string",
                                    p),
                        item.pos);
             }
             r.outputClaimToHeaders.push_back(std::move(c));
           });
  r.forwardOriginalToken = f.boolean("forwardOriginalToken").value_or(false);
  static_cast<void>(f.duration("timeout"));
  f.finish();
  if (!ctx.ok()) return r;
  // istiod's validateJwtRule.
  if (r.issuer.empty()) {
    ctx.fail(fmt::format("{}: issuer must be set", path),
             issuer != nullptr ? issuer->pos : node.pos);
    return r;
  }
  for (const auto& a : r.audiences) {
    if (a.empty()) {
      ctx.fail(fmt::format("{}: audience must be non-empty string", path), node.pos);
      return r;
    }
  }
  if (!r.jwksUri.empty()) {
    if (const std::string problem = jwksUriProblem(r.jwksUri); !problem.empty()) {
      ctx.fail(fmt::format("{}: {}", path, problem), uri->pos);
      return r;
    }
  }
  if (!r.jwks.empty()) {
    if (const std::string problem = jwksProblem(r.jwks); !problem.empty()) {
      ctx.fail(fmt::format("{}: {}", path, problem), jwks->pos);
      return r;
    }
  }
  for (const auto& p : r.fromParams) {
    if (p.empty()) {
      ctx.fail(fmt::format("{}: location query must be non-empty string", path), node.pos);
      return r;
    }
  }
  for (const auto& c : r.fromCookies) {
    if (c.empty()) {
      ctx.fail(fmt::format("{}: cookie name must be non-empty string", path), node.pos);
      return r;
    }
  }
  return r;
}

// The allowed targetRef kinds of istiod's validation, by version ("group/kind"; "" = core).
std::vector<std::pair<std::string, std::string>> allowedTargetKinds(const IstioVersion& v) {
  std::vector<std::pair<std::string, std::string>> out = {{"gateway.networking.k8s.io", "Gateway"}};
  if (v.atLeast(1, 22)) out.emplace_back("", "Service");
  if (v.atLeast(1, 24)) out.emplace_back("networking.istio.io", "ServiceEntry");
  if (v.atLeast(1, 26)) out.emplace_back("gateway.networking.k8s.io", "GatewayClass");
  return out;
}

template <typename Policy>
void checkPolicyVersion(Ctx& ctx, const Policy& p, const IstioVersion& v) {
  ctx.scope([&] {
    const auto unknownBefore = [&](const std::string& path, int minor) {
      if (!ctx.ok() || v.atLeast(1, minor) || !p.origin.fields.contains(path)) return;
      ctx.fail(fmt::format("{}: unknown field \"{}\" in Istio {} (the {} CRD has it from 1.{}; the "
                           "API server rejects the resource)",
                           p.ref(), path, v.str(), p.kind, minor),
               p.origin.at(path));
    };
    if (p.apiVersion == "security.istio.io/v1") {
      if (!v.atLeast(1, 22)) {
        ctx.fail(fmt::format("{}: no kind \"{}\" in version \"security.istio.io/v1\" in Istio {} "
                             "(served from 1.22; use security.istio.io/v1beta1)",
                             p.ref(), p.kind, v.str()),
                 p.origin.at("apiVersion"));
      }
    }
    unknownBefore("spec.targetRef", 20);
    unknownBefore("spec.targetRefs", 22);
    if constexpr (std::is_same_v<Policy, RequestAuthentication>) {
      for (const auto& r : p.jwtRules) {
        unknownBefore(r.path + ".outputClaimToHeaders", 17);
        unknownBefore(r.path + ".fromCookies", 21);
        unknownBefore(r.path + ".timeout", 22);
      }
    }
    const auto allowed = allowedTargetKinds(v);
    for (const auto& ref : p.targetRefs) {
      if (!ctx.ok()) break;
      const std::string group = ref.group == "core" ? "" : ref.group;
      const bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const auto& gk) {
        return gk.first == group && gk.second == ref.kind;
      });
      if (ok) continue;
      std::string list;
      for (const auto& [g, k] : allowed) {
        list += fmt::format("{}{}/{}", list.empty() ? "" : ", ", g.empty() ? "core" : g, k);
      }
      ctx.fail(fmt::format("{}: targetRef must be to one of [{}] in Istio {}, but was {}/{}",
                           p.ref(), list, v.str(), ref.group, ref.kind),
               p.origin.at(ref.path));
    }
  });
}

}  // namespace

void readPolicyTargetRefs(Ctx& ctx, Fields& spec, std::string_view kind,
                          std::vector<PolicyTargetRef>& out) {
  const YNode* targetRef = spec.get("targetRef");
  if (targetRef != nullptr && !targetRef->isNull()) {
    out.push_back(readTargetRef(ctx, *targetRef, kind, "spec.targetRef"));
  }
  eachItem(ctx, spec.get("targetRefs"), "spec.targetRefs",
           [&](const YNode& item, const std::string& p) {
             out.push_back(readTargetRef(ctx, item, kind, p));
           });
}

void readRequestAuthentication(Ctx& ctx, const YNode& spec, RequestAuthentication& ra) {
  Fields f(ctx, spec, "RequestAuthentication spec");
  const YNode* selector = f.get("selector");
  if (selector != nullptr && !selector->isNull()) {
    Fields sf(ctx, *selector, "RequestAuthentication spec.selector");
    ra.selector = sf.strMap("matchLabels");
    sf.finish();
  }
  readPolicyTargetRefs(ctx, f, "RequestAuthentication", ra.targetRefs);
  eachItem(ctx, f.get("jwtRules"), "spec.jwtRules", [&](const YNode& item, const std::string& p) {
    ra.jwtRules.push_back(readJwtRule(ctx, item, p));
  });
  f.finish();
  if (ctx.ok() && ra.selector && !ra.targetRefs.empty()) {
    ctx.fail("only one of selector, targetRef or targetRefs can be set", selector->pos);
  }
}

Result<void> checkSecurityPolicyVersions(const ResourceSet& resources,
                                         const IstioVersion& version) {
  Ctx ctx;
  for (const auto& p : resources.authorizationPolicies) checkPolicyVersion(ctx, p, version);
  for (const auto& p : resources.requestAuthentications) checkPolicyVersion(ctx, p, version);
  if (!ctx.clean()) return std::unexpected(ctx.error());
  return {};
}

}  // namespace egresslab::model::detail

namespace egresslab::model {

void setAsideSecurityPoliciesRejectedBy(ResourceSet& resources, const IstioVersion& version) {
  const auto setAside = [&](auto& policies) {
    std::erase_if(policies, [&](const auto& p) {
      detail::Ctx ctx;
      detail::checkPolicyVersion(ctx, p, version);
      if (ctx.clean()) return false;
      resources.invalid.push_back(ctx.error());
      return true;
    });
  };
  setAside(resources.authorizationPolicies);
  setAside(resources.requestAuthentications);
}

}  // namespace egresslab::model
