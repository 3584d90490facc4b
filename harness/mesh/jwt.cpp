#include "harness/mesh/jwt.h"

#include <fmt/core.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <set>

#include "harness/core/ascii.h"
#include "harness/mesh/authz.h"
#include "harness/mesh/config.h"

namespace egresslab::mesh {
namespace {

// ------------------------------------------------------------------ OpenSSL handles
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::unique_ptr<BIGNUM, BnFree> bignum(const std::string& bytes) {
  return std::unique_ptr<BIGNUM, BnFree>(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                static_cast<int>(bytes.size()), nullptr));
}

Pkey keyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return nullptr;
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return nullptr;
  }
  return Pkey(key);
}

Pkey rsaKey(const std::string& n, const std::string& e) {
  auto bn = bignum(n);
  auto be = bignum(e);
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bn || !be || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn.get()) == 0 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, be.get()) == 0) {
    return nullptr;
  }
  return keyFromParams("RSA", bld.get());
}

// crv → (OpenSSL group, coordinate size).
std::optional<std::pair<const char*, std::size_t>> curveOf(std::string_view crv) {
  if (crv == "P-256") return std::pair{"prime256v1", std::size_t{32}};
  if (crv == "P-384") return std::pair{"secp384r1", std::size_t{48}};
  if (crv == "P-521") return std::pair{"secp521r1", std::size_t{66}};
  return std::nullopt;
}

Pkey ecKey(std::string_view crv, const std::string& x, const std::string& y) {
  const auto curve = curveOf(crv);
  if (!curve || x.size() > curve->second || y.size() > curve->second) return nullptr;
  // Uncompressed point: 0x04 || X || Y, each left-padded to the coordinate size.
  std::string point(1, '\x04');
  point += std::string(curve->second - x.size(), '\0') + x;
  point += std::string(curve->second - y.size(), '\0') + y;
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve->first, 0) ==
          0 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) == 0) {
    return nullptr;
  }
  return keyFromParams("EC", bld.get());
}

const EVP_MD* digestFor(std::string_view alg) {
  if (alg.size() < 5) return EVP_sha256();
  const std::string_view bits = alg.substr(2);
  if (bits == "384") return EVP_sha384();
  if (bits == "512") return EVP_sha512();
  return EVP_sha256();
}

bool verifyWith(EVP_PKEY* key, std::string_view alg, const std::string& data,
                const std::string& signature) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!md || EVP_DigestVerifyInit(md.get(), &pctx, digestFor(alg), nullptr, key) <= 0) {
    return false;
  }
  std::string sig = signature;
  if (alg.substr(0, 2) == "PS") {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0) {
      return false;
    }
  } else if (alg.substr(0, 2) == "ES") {
    // JWS carries r || s; OpenSSL wants a DER ECDSA-Sig-Value.
    if (sig.size() % 2 != 0 || sig.empty()) return false;
    const std::size_t half = sig.size() / 2;
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> es(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()),
                          static_cast<int>(half), nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data() + half),
                          static_cast<int>(half), nullptr);
    if (!es || r == nullptr || s == nullptr || ECDSA_SIG_set0(es.get(), r, s) == 0) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    unsigned char* der = nullptr;
    const int len = i2d_ECDSA_SIG(es.get(), &der);
    if (len <= 0) return false;
    sig.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
  }
  return EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

// ------------------------------------------------------------------ JWKS
struct Jwk {
  std::string kty;
  std::string kid;
  std::string alg;
  std::string crv;
  Pkey key;
};

std::string strField(const nlohmann::json& j, const char* name) {
  return j.contains(name) && j[name].is_string() ? j[name].get<std::string>() : std::string();
}

// The keys Envoy keeps of an inline JWKS (RSA and EC; keys it cannot build are skipped, as
// jwt_verify_lib skips them).
std::vector<Jwk> parseJwks(const std::string& text) {
  std::vector<Jwk> out;
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return out;
  }
  for (const auto& k : doc["keys"]) {
    if (!k.is_object()) continue;
    Jwk jwk;
    jwk.kty = strField(k, "kty");
    jwk.kid = strField(k, "kid");
    jwk.alg = strField(k, "alg");
    jwk.crv = strField(k, "crv");
    if (jwk.kty == "RSA") {
      const auto n = base64UrlDecode(strField(k, "n"));
      const auto e = base64UrlDecode(strField(k, "e"));
      if (!n || !e || n->empty() || e->empty()) continue;
      jwk.key = rsaKey(*n, *e);
    } else if (jwk.kty == "EC") {
      const auto x = base64UrlDecode(strField(k, "x"));
      const auto y = base64UrlDecode(strField(k, "y"));
      if (!x || !y) continue;
      if (jwk.crv.empty()) jwk.crv = "P-256";
      jwk.key = ecKey(jwk.crv, *x, *y);
    }
    if (jwk.key) out.push_back(std::move(jwk));
  }
  return out;
}

// ------------------------------------------------------------------ JWT
struct ParsedJwt {
  std::string headerB64, payloadB64;
  std::string alg, kid;
  std::string signature;
  nlohmann::json payload;
  std::string iss, sub;
  std::vector<std::string> audiences;
  std::uint64_t exp = 0, nbf = 0;
};

bool implementedAlg(std::string_view alg) {
  static const std::set<std::string, std::less<>> kAlgs = {
      "ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "RS256",
      "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"};
  return kAlgs.contains(alg);
}

// jwt_verify_lib's Jwt::parseFromString: "" = ok, else the status string.
std::string_view parseJwt(std::string_view token, ParsedJwt& jwt) {
  const auto d1 = token.find('.');
  const auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return jwt_status::kBadFormat;
  }
  jwt.headerB64 = std::string(token.substr(0, d1));
  jwt.payloadB64 = std::string(token.substr(d1 + 1, d2 - d1 - 1));
  const auto header = base64UrlDecode(jwt.headerB64);
  if (!header) return jwt_status::kHeaderBadBase64;
  const nlohmann::json h = nlohmann::json::parse(*header, nullptr, false);
  if (h.is_discarded() || !h.is_object()) return jwt_status::kHeaderBadJson;
  if (!h.contains("alg") || !h["alg"].is_string()) return jwt_status::kHeaderBadAlg;
  jwt.alg = h["alg"].get<std::string>();
  if (!implementedAlg(jwt.alg)) return jwt_status::kHeaderNotImplementedAlg;
  if (h.contains("kid")) {
    if (!h["kid"].is_string()) return jwt_status::kHeaderBadKid;
    jwt.kid = h["kid"].get<std::string>();
  }
  const auto payload = base64UrlDecode(jwt.payloadB64);
  if (!payload) return jwt_status::kPayloadBadBase64;
  jwt.payload = nlohmann::json::parse(*payload, nullptr, false);
  if (jwt.payload.is_discarded() || !jwt.payload.is_object()) return jwt_status::kPayloadBadJson;
  const auto& p = jwt.payload;
  if (p.contains("iss")) {
    if (!p["iss"].is_string()) return jwt_status::kIssNotString;
    jwt.iss = p["iss"].get<std::string>();
  }
  if (p.contains("sub")) {
    if (!p["sub"].is_string()) return jwt_status::kSubNotString;
    jwt.sub = p["sub"].get<std::string>();
  }
  const auto time = [&](const char* name, std::uint64_t& out) {
    if (!p.contains(name)) return true;
    if (!p[name].is_number_integer() && !p[name].is_number_unsigned()) return false;
    if (p[name].is_number_unsigned()) {
      out = p[name].get<std::uint64_t>();
    } else {
      const auto v = p[name].get<std::int64_t>();
      if (v < 0) return false;
      out = static_cast<std::uint64_t>(v);
    }
    return true;
  };
  if (!time("nbf", jwt.nbf)) return jwt_status::kNbfNotInteger;
  if (!time("exp", jwt.exp)) return jwt_status::kExpNotInteger;
  if (p.contains("aud")) {
    if (p["aud"].is_string()) {
      jwt.audiences.push_back(p["aud"].get<std::string>());
    } else if (p["aud"].is_array()) {
      for (const auto& a : p["aud"]) {
        if (!a.is_string()) return jwt_status::kAudNotString;
        jwt.audiences.push_back(a.get<std::string>());
      }
    } else {
      return jwt_status::kAudNotString;
    }
  }
  const auto sig = base64UrlDecode(token.substr(d2 + 1));
  if (!sig) return jwt_status::kSignatureBadBase64;
  jwt.signature = *sig;
  return {};
}

// jwt_verify_lib's CheckAudience: scheme prefix and trailing slash ignored.
std::string sanitizeAudience(std::string_view aud) {
  if (aud.empty()) return std::string(aud);
  if (aud.substr(0, 7) == "http://") {
    aud.remove_prefix(7);
  } else if (aud.substr(0, 8) == "https://") {
    aud.remove_prefix(8);
  }
  if (!aud.empty() && aud.back() == '/') aud.remove_suffix(1);
  return std::string(aud);
}

bool audiencesAllowed(const std::vector<std::string>& configured,
                      const std::vector<std::string>& token) {
  if (configured.empty()) return true;
  return std::any_of(token.begin(), token.end(), [&](const std::string& a) {
    return std::any_of(configured.begin(), configured.end(), [&](const std::string& c) {
      return sanitizeAudience(c) == sanitizeAudience(a);
    });
  });
}

// verifyJwtWithoutTimeChecking: kid and alg select keys; RS/PS need RSA, ES needs EC.
std::string_view verifySignature(const ParsedJwt& jwt, const std::vector<Jwk>& keys) {
  const std::string data = jwt.headerB64 + "." + jwt.payloadB64;
  bool matched = false;
  for (const auto& k : keys) {
    if (!jwt.kid.empty() && !k.kid.empty() && k.kid != jwt.kid) continue;
    if (!k.alg.empty() && k.alg != jwt.alg) continue;
    matched = true;
    const std::string_view family = std::string_view(jwt.alg).substr(0, 2);
    const bool fits =
        (k.kty == "RSA" && (family == "RS" || family == "PS")) || (k.kty == "EC" && family == "ES");
    if (fits && verifyWith(k.key.get(), jwt.alg, data, jwt.signature)) return {};
  }
  return matched ? jwt_status::kVerificationFail : jwt_status::kKidAlgMismatch;
}

// ------------------------------------------------------------------ extraction
struct Token {
  std::string value;
  std::string header;             // lower-case header it came from; "" = query parameter
  std::string param;              // the query parameter it came from
  std::set<std::string> issuers;  // issuers whose rules name this location
};

// Envoy's extractJWT: from the first base64url/dot character after the prefix to the end.
std::string afterPrefix(std::string_view value, std::size_t after) {
  static constexpr std::string_view kChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
  const auto start = value.find_first_of(kChars, after);
  if (start == std::string_view::npos) return std::string(value);
  return std::string(value.substr(start));
}

// Envoy's PercentEncoding::decode: %XX with two hex digits; '+' stays '+'.
std::string percentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Envoy's QueryParamsMulti::parseAndDecodeQueryString: every parameter of the query by decoded
// name, in name order (Envoy keeps them in a btree_map), values decoded in order of appearance.
using QueryParams = std::map<std::string, std::vector<std::string>>;
QueryParams parseQuery(std::string_view path) {
  QueryParams out;
  const auto q = path.find('?');
  if (q == std::string_view::npos) return out;
  std::size_t start = q + 1;
  while (start < path.size()) {
    auto end = path.find('&', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view param = path.substr(start, end - start);
    const auto eq = param.find('=');
    out[percentDecode(param.substr(0, eq))].push_back(
        eq == std::string_view::npos ? std::string() : percentDecode(param.substr(eq + 1)));
    start = end + 1;
  }
  return out;
}

// JwtParamLocation::removeJwt (Envoy 1.31+): the parameter is dropped and the query rebuilt from
// what is left — sorted by name, decoded, `?` gone when nothing is left.
std::string withoutQueryParam(std::string_view path, const std::string& name) {
  QueryParams params = parseQuery(path);
  params.erase(name);
  std::string out(path.substr(0, path.find('?')));
  char delim = '?';
  for (const auto& [k, values] : params) {
    for (const auto& v : values) {
      out += delim + k + "=" + v;
      delim = '&';
    }
  }
  return out;
}

// The tokens the extractor of `providers` finds, in Envoy's order (header locations by
// name+prefix, then query parameters by name; the first value of a parameter).
std::vector<Token> extract(const std::vector<JwtProvider>& providers,
                           const std::vector<std::pair<std::string, std::string>>& headers,
                           std::string_view path) {
  std::map<std::string, std::pair<std::pair<std::string, std::string>, std::set<std::string>>>
      headerLocs;  // name+prefix → ((name, prefix), issuers)
  std::map<std::string, std::set<std::string>> paramLocs;
  for (const auto& p : providers) {
    const auto& r = p.rule;
    for (const auto& h : r.fromHeaders) {
      auto& loc = headerLocs[asciiLower(h.name) + h.prefix];
      loc.first = {asciiLower(h.name), h.prefix};
      loc.second.insert(r.issuer);
    }
    for (const auto& q : r.fromParams) paramLocs[q].insert(r.issuer);
    if (r.fromHeaders.empty() && r.fromParams.empty() && r.fromCookies.empty()) {
      auto& loc = headerLocs["authorizationBearer "];
      loc.first = {"authorization", "Bearer "};
      loc.second.insert(r.issuer);
      paramLocs["access_token"].insert(r.issuer);
    }
  }
  std::vector<Token> out;
  for (const auto& [key, loc] : headerLocs) {
    const auto& [name, prefix] = loc.first;
    for (const auto& [k, v] : headers) {
      if (asciiLower(k) != name) continue;
      std::string value = v;
      if (!prefix.empty()) {
        const auto pos = value.find(prefix);
        if (pos == std::string::npos) continue;
        value = afterPrefix(value, pos + prefix.size());
      }
      out.push_back(Token{value, name, "", loc.second});
    }
  }
  if (!paramLocs.empty()) {
    const QueryParams params = parseQuery(path);
    for (const auto& [name, issuers] : paramLocs) {
      if (const auto it = params.find(name); it != params.end()) {
        out.push_back(Token{it->second.front(), "", name, issuers});
      }
    }
  }
  return out;
}

// AuthenticatorImpl::handleGoodJwt: the edits of one verified token, by the rule that verified it.
void applyVerifiedToken(const Token& token, const ParsedJwt& jwt, const model::JwtRule& rule,
                        const JwtRequest& request) {
  auto& headers = *request.headers;
  if (!rule.outputPayloadToHeader.empty()) {
    headers.emplace_back(asciiLower(rule.outputPayloadToHeader), jwt.payloadB64);
  }
  for (const auto& c : rule.outputClaimToHeaders) {
    if (!jwt.payload.contains(c.claim)) continue;
    const auto& v = jwt.payload[c.claim];
    std::string text;
    if (v.is_string()) {
      text = v.get<std::string>();
    } else if (v.is_boolean()) {
      text = v.get<bool>() ? "true" : "false";
    } else if (v.is_number_integer() || v.is_number_unsigned()) {
      text = v.dump();
    }
    if (!text.empty()) headers.emplace_back(asciiLower(c.header), text);
  }
  if (rule.forwardOriginalToken) return;
  if (!token.header.empty()) {
    std::erase_if(headers, [&](const auto& h) { return asciiLower(h.first) == token.header; });
  } else if (request.path != nullptr && request.version.atLeast(1, 23)) {
    // Envoy 1.31 (envoy#34418, runtime jwt_authn_remove_jwt_from_query_params, on by default)
    // removes a query-parameter token too; before, it stayed in the forwarded path.
    *request.path = withoutQueryParam(*request.path, token.param);
  }
}

// The authenticator: every token must verify; tokens are taken from the back, and each verified
// one edits the request as it passes. "" = ok (the last verified token in `verified`), else the
// status of the first token that failed.
std::string_view verifyTokens(const std::vector<Token>& tokens, const std::vector<JwtProvider>& all,
                              const JwtRequest& request, std::optional<ParsedJwt>& verified) {
  for (auto it = tokens.rbegin(); it != tokens.rend(); ++it) {
    ParsedJwt jwt;
    if (const auto s = parseJwt(it->value, jwt); !s.empty()) return s;
    if (!it->issuers.contains(jwt.iss)) return jwt_status::kUnknownIssuer;
    const auto provider = std::find_if(
        all.begin(), all.end(), [&](const JwtProvider& p) { return p.rule.issuer == jwt.iss; });
    if (provider == all.end()) return jwt_status::kUnknownIssuer;
    // Default clock skew: 60 s.
    constexpr std::uint64_t kSkew = 60;
    const auto now = static_cast<std::uint64_t>(std::max<std::int64_t>(request.now, 0));
    if (now + kSkew < jwt.nbf) return jwt_status::kNotYetValid;
    if (jwt.exp != 0 && now > jwt.exp + kSkew) return jwt_status::kExpired;
    if (!audiencesAllowed(provider->rule.audiences, jwt.audiences)) {
      return jwt_status::kAudienceNotAllowed;
    }
    const std::vector<Jwk> keys = parseJwks(provider->rule.jwks);
    if (keys.empty()) return jwt_status::kNoValidKeys;
    if (const auto s = verifySignature(jwt, keys); !s.empty()) return s;
    applyVerifiedToken(*it, jwt, provider->rule, request);
    verified = std::move(jwt);
  }
  return {};
}

// filter.cc isCorsPreflightRequest: OPTIONS with a non-empty Origin and
// Access-Control-Request-Method.
bool isCorsPreflight(const JwtRequest& request) {
  if (request.method != "OPTIONS") return false;
  const auto nonEmpty = [&](std::string_view name) {
    return std::any_of(request.headers->begin(), request.headers->end(), [&](const auto& h) {
      return asciiLower(h.first) == name && !h.second.empty();
    });
  };
  return nonEmpty("origin") && nonEmpty("access-control-request-method");
}

std::string replaceSpaces(std::string_view s) {
  std::string out(s);
  std::replace(out.begin(), out.end(), ' ', '_');
  return out;
}

}  // namespace

std::optional<std::string> base64UrlDecode(std::string_view in) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  // Padding is tolerated at the end only.
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    const auto v = kAlphabet.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string base64UrlEncode(std::string_view in) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    acc = (acc << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

std::vector<std::string> claimPathOf(std::string_view key) {
  static constexpr std::string_view kPrefix = "request.auth.claims";
  if (key.substr(0, kPrefix.size()) != kPrefix) return {};
  std::string_view rest = key.substr(kPrefix.size());
  std::vector<std::string> out;
  while (!rest.empty()) {
    if (rest.front() != '[') return {};
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close == 1) return {};
    out.emplace_back(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
  }
  return out;
}

std::vector<std::string> claimStrings(const JwtIdentity& identity,
                                      const std::vector<std::string>& path) {
  const nlohmann::json* node = &identity.payload;
  for (const auto& name : path) {
    if (!node->is_object() || !node->contains(name)) return {};
    node = &(*node)[name];
  }
  std::vector<std::string> out;
  if (node->is_string()) {
    out.push_back(node->get<std::string>());
  } else if (node->is_array()) {
    for (const auto& v : *node) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

std::string unsimulatedJwtReason(const model::JwtRule& rule) {
  if (!rule.jwksUri.empty() && rule.jwks.empty()) {
    return fmt::format(
        "jwksUri \"{}\" is fetched over the network by istiod or Envoy, which the simulator "
        "cannot do: whether a token verifies is unknown (use inline `jwks` to simulate it)",
        rule.jwksUri);
  }
  if (rule.jwks.empty()) {
    return fmt::format(
        "no jwks or jwksUri: istiod looks the keys up through the issuer's OpenID discovery "
        "document ({}/.well-known/openid-configuration) over the network, which the simulator "
        "cannot do (use inline `jwks` to simulate it)",
        rule.issuer);
  }
  if (!rule.fromCookies.empty()) {
    return "fromCookies token locations are not simulated";
  }
  const nlohmann::json doc = nlohmann::json::parse(rule.jwks, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("keys") && doc["keys"].is_array()) {
    for (const auto& k : doc["keys"]) {
      const std::string kty = k.is_object() ? strField(k, "kty") : "";
      if (kty == "oct" || kty == "OKP") {
        return fmt::format("jwks key type \"{}\" (HMAC / EdDSA) is not simulated", kty);
      }
    }
  }
  return {};
}

JwtOutcome authenticateJwt(const std::vector<JwtProvider>& providers, const JwtRequest& request) {
  JwtOutcome out;
  if (providers.empty() || request.headers == nullptr) return out;
  // Istio sets bypass_cors_preflight from 1.14 (istio#36911): the preflight carries no
  // credentials, so the filter lets it through before extracting (or sanitizing) anything.
  if (request.version.atLeast(1, 14) && isCorsPreflight(request)) return out;
  auto& headers = *request.headers;
  // Sanitize: a client cannot send the headers a verified token fills in.
  for (const auto& p : providers) {
    std::vector<std::string> names;
    if (!p.rule.outputPayloadToHeader.empty())
      names.push_back(asciiLower(p.rule.outputPayloadToHeader));
    for (const auto& c : p.rule.outputClaimToHeaders) names.push_back(asciiLower(c.header));
    std::erase_if(headers, [&](const auto& h) {
      return std::find(names.begin(), names.end(), asciiLower(h.first)) != names.end();
    });
  }
  const std::string path = request.path != nullptr ? *request.path : std::string("/");
  const std::vector<Token> tokens = extract(providers, headers, path);
  if (tokens.empty()) return out;  // allow_missing: no token, no identity

  std::optional<ParsedJwt> verified;
  const std::string_view status = verifyTokens(tokens, providers, request, verified);
  if (!status.empty()) {
    out.allowed = false;
    out.status = status == jwt_status::kAudienceNotAllowed ? 403 : 401;
    out.body = std::string(status);
    out.details = "jwt_authn_access_denied{" + replaceSpaces(status) + "}";
    // The realm is the URI as the request arrived (Envoy builds it before verifying).
    out.wwwAuthenticate = fmt::format("Bearer realm=\"{}://{}{}\", error=\"invalid_token\"",
                                      request.scheme, request.authority, path.substr(0, 256));
    return out;
  }
  JwtIdentity id;
  id.issuer = verified->iss;
  id.subject = verified->sub;
  id.audiences = verified->audiences;
  id.istio = request.version;
  if (verified->payload.contains("azp") && verified->payload["azp"].is_string()) {
    id.presenter = verified->payload["azp"].get<std::string>();
  }
  id.payload = verified->payload;
  // From 1.21 Istio asks Envoy to split the space-delimited `scope` and `permission` claims.
  if (request.version.atLeast(1, 21)) {
    for (const char* name : {"scope", "permission"}) {
      if (!id.payload.contains(name) || !id.payload[name].is_string()) continue;
      nlohmann::json list = nlohmann::json::array();
      const std::string value = id.payload[name].get<std::string>();
      std::size_t from = 0;
      while (from <= value.size()) {
        const auto space = value.find(' ', from);
        const std::string part = value.substr(from, space - from);
        if (!part.empty()) list.push_back(part);
        if (space == std::string::npos) break;
        from = space + 1;
      }
      id.payload[name] = std::move(list);
    }
  }
  out.identity = std::move(id);
  return out;
}

std::vector<JwtProvider> compileProxyJwt(const std::vector<model::RequestAuthentication>& policies,
                                         std::string_view rootNamespace,
                                         std::string_view podNamespace,
                                         const model::Labels& podLabels) {
  std::vector<JwtProvider> out;
  for (const auto& ra : policies) {
    if (!ra.targetRefs.empty()) continue;  // Gateway API gateways / waypoints only
    const std::string ns = ra.meta.ns.empty() ? "default" : ra.meta.ns;
    if (ns != rootNamespace && ns != podNamespace) continue;
    if (ra.selector) {
      const bool match = std::all_of(ra.selector->begin(), ra.selector->end(), [&](const auto& kv) {
        const auto it = podLabels.find(kv.first);
        return it != podLabels.end() && it->second == kv.second;
      });
      if (!match) continue;
    }
    for (const auto& r : ra.jwtRules) out.push_back(JwtProvider{r, ra.ref()});
  }
  std::stable_sort(out.begin(), out.end(), [](const JwtProvider& a, const JwtProvider& b) {
    return a.rule.issuer < b.rule.issuer;
  });
  return out;
}

void attachJwtNotes(CompiledMesh& mesh,
                    const std::vector<model::RequestAuthentication>& requestAuthns) {
  for (const auto& ra : requestAuthns) {
    if (!ra.targetRefs.empty()) {
      NotSimulatedNote n;
      n.ref = ra.ref();
      n.what =
          "targetRef/targetRefs attach the policy to Gateway API gateways or waypoints, which are "
          "not simulated (it applies to no proxy here)";
      n.where = ra.origin.at(ra.targetRefs.front().path);
      n.reach = NotSimulatedNote::Reach::kNoProxy;
      mesh.notSimulated.push_back(std::move(n));
      continue;
    }
    for (const auto& rule : ra.jwtRules) {
      const std::string reason = unsimulatedJwtReason(rule);
      if (reason.empty()) continue;
      NotSimulatedNote n;
      n.ref = ra.ref();
      n.what = fmt::format("{}: {}", rule.path, reason);
      n.where = ra.origin.at(rule.path);
      n.reach = NotSimulatedNote::Reach::kProxies;
      for (const auto& proxy : mesh.proxies) {
        const bool has = std::any_of(
            proxy.authz.jwt.begin(), proxy.authz.jwt.end(),
            [&](const JwtProvider& p) { return p.origin == ra.ref() && p.rule.path == rule.path; });
        if (has) n.proxies.push_back(proxy.id.str());
      }
      if (!n.proxies.empty()) mesh.notSimulated.push_back(std::move(n));
    }
  }
}

}  // namespace egresslab::mesh
