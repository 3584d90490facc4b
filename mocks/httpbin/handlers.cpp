#include "mocks/httpbin/handlers.h"

#include <fmt/core.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mocks/httpbin/codec.h"

namespace egresslab::httpbin::detail {
namespace {

using Json = nlohmann::ordered_json;
using codec::ValueMap;

constexpr const char* kJsonType = "application/json; charset=utf-8";
constexpr const char* kTextType = "text/plain; charset=utf-8";
constexpr const char* kHtmlType = "text/html; charset=utf-8";

// Headers httplib adds to every request: never echoed.
bool isInjectedHeader(std::string_view name) {
  for (const char* injected :
       {"REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR", "LOCAL_PORT", kSyntheticLengthHeader}) {
    if (name == injected) return true;
  }
  return false;
}

// The header name a client sent, undoing normaliseRequest's renames.
std::string_view wireName(std::string_view name) {
  if (name == kContentTypeHeader) return "Content-Type";
  if (name == kAcceptEncodingHeader) return "Accept-Encoding";
  return name;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether a request header reached us from the client (not added by httplib or by us).
bool isClientHeader(const httplib::Request& req, std::string_view name) {
  if (isInjectedHeader(name)) return false;
  if (req.has_header(kSyntheticLengthHeader) && lower(name) == "content-length") {
    return false;
  }
  return true;
}

// "text/html; charset=utf-8" → "text/html".
std::string mediaType(std::string_view contentType) {
  return lower(trim(contentType.substr(0, contentType.find(';'))));
}

// go-httpbin's isDangerousContentType: anything but these few gets HTML-escaped output.
bool isDangerousContentType(std::string_view contentType) {
  const std::string media = mediaType(contentType);
  return !(media == "text/plain" || media == "application/json" ||
           media == "application/octet-string");
}

std::string atoiSyntax(std::string_view s) {
  return fmt::format("strconv.Atoi: parsing \"{}\": invalid syntax", s);
}

std::string randomHex(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  RAND_bytes(raw.data(), static_cast<int>(raw.size()));
  std::string out;
  for (const unsigned char b : raw) out += fmt::format("{:02x}", b);
  return out;
}

std::uint64_t randomSeed() {
  std::uint64_t seed = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed);
  return seed;
}

// A uniform double in [0,1) from a thread-local generator (status weights, fault percentages).
double uniform01() {
  thread_local std::mt19937_64 rng(randomSeed());
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// Indented by two spaces, as go-httpbin; `compact` for echoes of deeply nested bodies, whose
// indentation would grow with the square of the depth (8 KB in, 32 MB out).
std::string dumpJson(const Json& body, bool compact = false) {
  return body.dump(compact ? -1 : 2, ' ', false, Json::error_handler_t::replace) + "\n";
}

void sendJson(httplib::Response& res, const Json& body, int status = 200, bool compact = false) {
  res.status = status;
  res.set_content(dumpJson(body, compact), kJsonType);
}

// The deepest nesting of arrays and objects in a JSON text, found without recursion; stops
// counting past `limit` (the caller rejects those). Brackets inside strings do not count.
size_t jsonDepth(std::string_view text, size_t limit) {
  size_t depth = 0;
  size_t deepest = 0;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (inString) {
      if (ch == '\\') {
        ++i;
      } else if (ch == '"') {
        inString = false;
      }
    } else if (ch == '"') {
      inString = true;
    } else if (ch == '[' || ch == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

void sendText(httplib::Response& res, int status, std::string body,
              const std::string& type = kTextType) {
  res.status = status;
  res.set_content(std::move(body), type);
}

// Go's ServeMux 404 and 405 (text/plain, §0.3).
void notFound(httplib::Response& res) {
  sendText(res, 404, "404 page not found\n");
  res.set_header("X-Content-Type-Options", "nosniff");
}

// One request being answered: the raw target split the way go-httpbin's mux sees it.
struct Call {
  const ServeContext& ctx;
  const httplib::Request& req;
  httplib::Response& res;
  std::string_view rawPath;
  std::string_view rawQuery;
  ValueMap args;
  std::vector<std::string> segments;  // decoded path segments; "/a/b" → {"a","b"}

  bool isHead() const { return req.method == "HEAD"; }

  std::string header(std::string_view name) const {
    return req.get_header_value(std::string(name));
  }
  std::string contentType() const { return req.get_header_value(kContentTypeHeader); }

  std::string arg(const std::string& name) const {
    const auto it = args.find(name);
    return it == args.end() || it->second.empty() ? std::string{} : it->second.front();
  }
  bool hasArg(const std::string& name) const { return args.count(name) > 0; }

  // §0.5 getURL's scheme.
  std::string scheme() const {
    if (auto v = header("X-Forwarded-Proto"); !v.empty()) return v;
    if (auto v = header("X-Forwarded-Protocol"); !v.empty()) return v;
    if (header("X-Forwarded-Ssl") == "on") return "https";
    return ctx.tls ? "https" : "http";
  }
  std::string url() const { return scheme() + "://" + header("Host") + std::string(req.target); }

  // §0.4 getClientIP.
  std::string origin() const {
    for (const char* name :
         {"Fly-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP", "True-Client-IP"}) {
      if (auto v = header(name); !v.empty()) return v;
    }
    if (auto xff = header("X-Forwarded-For"); !xff.empty()) {
      return std::string(trim(std::string_view(xff).substr(0, xff.find(','))));
    }
    return req.remote_addr;
  }

  Json headersJson() const {
    std::map<std::string, std::vector<std::string>> sorted;
    for (const auto& [name, value] : req.headers) {
      if (!isClientHeader(req, name)) continue;
      const std::string key = codec::canonicalHeaderKey(wireName(name));
      if (key == "Transfer-Encoding" && lower(value) == "identity") continue;
      sorted[key].push_back(value);
    }
    Json out = Json::object();
    for (auto& [key, values] : sorted) out[key] = values;
    return out;
  }

  Json argsJson() const {
    Json out = Json::object();
    for (const auto& [key, values] : args) out[key] = values;
    return out;
  }

  // noBodyResponse: args, headers, method, origin, url.
  Json noBody() const {
    Json out = Json::object();
    out["args"] = argsJson();
    out["headers"] = headersJson();
    out["method"] = req.method;
    out["origin"] = origin();
    out["url"] = url();
    return out;
  }
};

Json valueMapJson(const ValueMap& values) {
  Json out = Json::object();
  for (const auto& [key, list] : values) out[key] = list;
  return out;
}

// multipart/form-data: fields without a filename go to `form`, with one to `files`.
bool parseMultipart(std::string_view body, std::string_view contentType, ValueMap& form,
                    ValueMap& files) {
  std::string boundary;
  const std::string lowered = lower(contentType);
  const size_t at = lowered.find("boundary=");
  if (at == std::string::npos) return false;
  std::string_view rest = contentType.substr(at + 9);
  if (!rest.empty() && rest.front() == '"') {
    rest.remove_prefix(1);
    boundary = std::string(rest.substr(0, rest.find('"')));
  } else {
    boundary = std::string(trim(rest.substr(0, rest.find(';'))));
  }
  if (boundary.empty()) return false;
  const std::string delimiter = "--" + boundary;
  size_t pos = body.find(delimiter);
  if (pos == std::string_view::npos) return false;
  pos += delimiter.size();
  while (true) {
    if (body.substr(pos, 2) == "--") return true;
    if (body.substr(pos, 2) != "\r\n") return false;
    pos += 2;
    const size_t headersEnd = body.find("\r\n\r\n", pos);
    if (headersEnd == std::string_view::npos) return false;
    std::string name;
    std::optional<std::string> filename;
    std::string_view headerBlock = body.substr(pos, headersEnd - pos);
    while (!headerBlock.empty()) {
      const size_t eol = headerBlock.find("\r\n");
      const std::string_view line = headerBlock.substr(0, eol);
      headerBlock =
          eol == std::string_view::npos ? std::string_view{} : headerBlock.substr(eol + 2);
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) return false;
      if (lower(trim(line.substr(0, colon))) != "content-disposition") continue;
      // form-data; name="field"; filename="file.txt"
      std::string_view params = line.substr(colon + 1);
      while (!params.empty()) {
        const size_t semi = params.find(';');
        const std::string_view param = trim(params.substr(0, semi));
        params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
        const size_t eq = param.find('=');
        if (eq == std::string_view::npos) continue;
        const std::string key = lower(trim(param.substr(0, eq)));
        std::string_view value = trim(param.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
          value = value.substr(1, value.size() - 2);
        }
        if (key == "name") name = std::string(value);
        if (key == "filename") filename = std::string(value);
      }
    }
    const size_t contentStart = headersEnd + 4;
    const size_t next = body.find("\r\n" + delimiter, contentStart);
    if (next == std::string_view::npos) return false;
    std::string content(body.substr(contentStart, next - contentStart));
    if (!name.empty()) (filename ? files : form)[name].push_back(std::move(content));
    pos = next + 2 + delimiter.size();
  }
}

// bodyResponse: noBody + data, files, form, json (§1 POST table). On bad input, the detail of
// the 400 go-httpbin answers. `compact` is set for a JSON body nested deeper than
// kMaxPrettyJsonDepth.
std::optional<std::string> bodyResponse(const Call& c, Json& out, bool& compact) {
  out = c.noBody();
  const std::string& body = c.req.body;
  out["data"] = "";
  out["files"] = Json::object();
  out["form"] = Json::object();
  out["json"] = nullptr;
  if (body.empty()) return std::nullopt;
  const std::string contentType = c.contentType();
  const std::string media = mediaType(contentType);
  if (media == "text/html" || media == "text/plain") {
    out["data"] = body;
  } else if (media == "application/x-www-form-urlencoded") {
    auto form = codec::parseQuery(body, true);
    if (!form) return "error parsing request body: invalid URL escape in form body";
    out["data"] = body;
    out["form"] = valueMapJson(*form);
  } else if (media == "multipart/form-data") {
    ValueMap form;
    ValueMap files;
    if (!parseMultipart(body, contentType, form, files)) {
      return "error parsing request body: malformed multipart body";
    }
    out["data"] = body;
    out["files"] = valueMapJson(files);
    out["form"] = valueMapJson(form);
  } else if (media == "application/json") {
    // Go's decoder stops at 10000 levels; our echo (nlohmann's dump recurses) at
    // kMaxJsonDepth, checked before parsing so no recursion ever sees a deeper document.
    const size_t depth = jsonDepth(body, kMaxJsonDepth);
    if (depth > kMaxJsonDepth) {
      return fmt::format("error parsing request body: JSON nested deeper than {} levels",
                         kMaxJsonDepth);
    }
    compact = depth > kMaxPrettyJsonDepth;
    // Go decodes into map[string]any and re-encodes it: object keys come out sorted, which is
    // what nlohmann::json (std::map) gives; ordered_json then keeps that order.
    const auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_discarded()) return "error parsing request body: invalid JSON";
    out["data"] = body;
    out["json"] = Json::parse(parsed.dump());
  } else {
    out["data"] = "data:" + (media.empty() ? std::string("application/octet-stream") : media) +
                  ";base64," + codec::base64Encode(body, true);
  }
  return std::nullopt;
}

void sendBodyResponse(Call& c) {
  Json out;
  bool compact = false;
  if (auto error = bodyResponse(c, out, compact)) return writeError(c.res, 400, *error);
  sendJson(c.res, out, 200, compact);
}

// Go 1.22 mux method patterns: anything else is 405 with Allow.
bool requireMethod(Call& c, std::initializer_list<std::string_view> methods) {
  for (const auto m : methods) {
    if (c.req.method == m) return true;
  }
  std::string allow;
  for (const auto m : methods) allow += (allow.empty() ? "" : ", ") + std::string(m);
  sendText(c.res, 405, "Method Not Allowed\n");
  c.res.set_header("Allow", allow);
  c.res.set_header("X-Content-Type-Options", "nosniff");
  return false;
}

// A route "/name/{param}" matched only with exactly one non-empty parameter segment.
bool oneParam(const Call& c) { return c.segments.size() == 2 && !c.segments[1].empty(); }

// --- request inspection -------------------------------------------------------------------

void handleIndex(Call& c) {
  if (!requireMethod(c, {"GET", "HEAD"})) return;
  c.res.set_header("Content-Security-Policy",
                   "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' "
                   "camo.githubusercontent.com");
  sendText(c.res, 200,
           "<!DOCTYPE html>\n<html><head><title>EgressLab httpbin</title></head><body>\n"
           "<h1>EgressLab httpbin</h1>\n<p>A go-httpbin compatible mock upstream. Try "
           "<a href=\"/get\">/get</a>, <a href=\"/anything\">/anything</a>, "
           "<a href=\"/status/418\">/status/418</a>, <a href=\"/hostname\">/hostname</a>.</p>\n"
           "</body></html>\n",
           kHtmlType);
}

void handleGet(Call& c) {
  if (!requireMethod(c, {"GET", "HEAD"})) return;
  sendJson(c.res, c.noBody());
}

void handleHead(Call& c) {
  if (!requireMethod(c, {"HEAD"})) return;
  sendJson(c.res, c.noBody());
}

void handleMethodEcho(Call& c, std::string_view method) {
  if (!requireMethod(c, {method})) return;
  sendBodyResponse(c);
}

void handleAnything(Call& c) {
  if (c.isHead()) return sendJson(c.res, c.noBody());
  sendBodyResponse(c);
}

void handleHeaders(Call& c) {
  Json out = Json::object();
  out["headers"] = c.headersJson();
  sendJson(c.res, out);
}

void handleIp(Call& c) {
  if (c.arg("format") == "text") return sendText(c.res, 200, c.origin() + "\n");
  Json out = Json::object();
  out["origin"] = c.origin();
  sendJson(c.res, out);
}

void handleUserAgent(Call& c) {
  Json out = Json::object();
  out["user-agent"] = c.header("User-Agent");
  sendJson(c.res, out);
}

void handleUuid(Call& c) {
  std::string hex = randomHex(16);
  hex[12] = '4';                                                    // version 4
  hex[16] = "89ab"[std::stoi(hex.substr(16, 1), nullptr, 16) & 3];  // RFC 4122 variant
  Json out = Json::object();
  out["uuid"] = hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
                hex.substr(16, 4) + "-" + hex.substr(20);
  sendJson(c.res, out);
}

void handleHostname(Call& c) {
  Json out = Json::object();
  out["hostname"] = c.ctx.hostname;
  sendJson(c.res, out);
}

void handleEnv(Call& c) {
  Json out = Json::object();
  out["env"] = Json::object();
  sendJson(c.res, out);
}

void handleUpload(Call& c) {
  if (!requireMethod(c, {"POST", "PUT", "PATCH"})) return;
  Json out = c.noBody();
  out["bytes_received"] = c.req.body.size();
  sendJson(c.res, out);
}

void handleDumpRequest(Call& c) {
  std::string dump = c.req.method + " " + c.req.target + " HTTP/1.1\r\n";
  dump += "Host: " + c.header("Host") + "\r\n";
  std::map<std::string, std::vector<std::string>> sorted;
  for (const auto& [name, value] : c.req.headers) {
    if (!isClientHeader(c.req, name)) continue;
    const std::string key = codec::canonicalHeaderKey(wireName(name));
    if (key == "Host" || key == "Trailer") continue;
    sorted[key].push_back(value);
  }
  for (const auto& [key, values] : sorted) {
    for (const auto& value : values) dump += key + ": " + value + "\r\n";
  }
  dump += "\r\n" + c.req.body;
  sendText(c.res, 200, std::move(dump));
}

// --- status codes -----------------------------------------------------------------------

void writeStatus(Call& c, int code) {
  httplib::Response& res = c.res;
  // cpp-httplib cannot send an informational response before the final one: a 1xx becomes
  // the final 200 with an empty body that go-httpbin sends after its 1xx.
  res.status = code < 200 ? 200 : code;
  res.set_header("Content-Type", kTextType);
  static const std::string kMultipleChoices =
      "<!doctype html>\n<head>\n<title>Multiple Choices</title>\n</head>\n<body>\n<ul>\n"
      "<li><a href=\"/image/jpeg\">/image/jpeg</a></li>\n"
      "<li><a href=\"/image/png\">/image/png</a></li>\n"
      "<li><a href=\"/image/svg\">/image/svg</a></li>\n</body>\n</html>";
  static const std::string kPermanentRedirect =
      "<!doctype html>\n<head>\n<title>Permanent Redirect</title>\n</head>\n<body>Permanently "
      "redirected to <a href=\"/image/jpeg\">/image/jpeg</a>\n</body>\n</html>";
  switch (code) {
    case 300:
      res.set_header("Location", "/image/jpeg");
      res.body = kMultipleChoices;
      break;
    case 301:
    case 302:
    case 303:
    case 305:
    case 307:
      res.set_header("Location", "/redirect/1");
      break;
    case 308:
      res.set_header("Location", "/image/jpeg");
      res.body = kPermanentRedirect;
      break;
    case 401:
      res.set_header("WWW-Authenticate", "Basic realm=\"Fake Realm\"");
      break;
    case 402:
      res.set_header("X-More-Info", "http://vimeo.com/22053820");
      res.body = "Fuck you, pay me!";
      break;
    case 406:
      res.headers.erase("Content-Type");
      res.set_header("Content-Type", kJsonType);
      res.body =
          "{\n  \"message\": \"Client did not request a supported media type\",\n  \"accept\": "
          "[\n    \"image/webp\",\n    \"image/svg+xml\",\n    \"image/jpeg\",\n    "
          "\"image/png\",\n    \"image/\"\n  ]\n}\n";
      break;
    case 407:
      res.set_header("Proxy-Authenticate", "Basic realm=\"Fake Realm\"");
      break;
    case 418:
      res.set_header("X-More-Info", "http://tools.ietf.org/html/rfc2324");
      res.body = "I'm a teapot!";
      break;
    default:
      break;
  }
}

void handleStatus(Call& c) {
  if (!oneParam(c)) return notFound(c.res);
  const std::string& spec = c.segments[1];
  if (spec.find(',') == std::string::npos) {
    const auto code = codec::parseInt64(spec);
    if (!code) {
      return writeError(c.res, 400,
                        fmt::format("invalid status code: \"{}\": {}", spec, atoiSyntax(spec)));
    }
    if (*code < 100 || *code > 599) {
      return writeError(c.res, 400,
                        fmt::format("invalid status code: {} not in range [100, 599]", *code));
    }
    return writeStatus(c, static_cast<int>(*code));
  }
  // Weighted choice "200:0.7,429:0.2,503" (weight defaults to 1).
  std::vector<std::pair<int, double>> choices;
  double total = 0;
  std::string_view rest = spec;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const size_t colon = item.find(':');
    const std::string_view codeText = item.substr(0, colon);
    const auto code = codec::parseInt64(codeText);
    if (!code || *code < 100 || *code > 599) {
      return writeError(c.res, 400, fmt::format("invalid choice value: \"{}\"", codeText));
    }
    double weight = 1.0;
    if (colon != std::string_view::npos) {
      const std::string_view weightText = item.substr(colon + 1);
      const auto parsed = codec::parseFloat(weightText);
      if (!parsed || *parsed < 0) {
        return writeError(c.res, 400, fmt::format("invalid weight value: \"{}\"", weightText));
      }
      weight = *parsed;
    }
    choices.emplace_back(static_cast<int>(*code), weight);
    total += weight;
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  const double r = uniform01() * total;
  double cumulative = 0;
  for (const auto& [code, weight] : choices) {
    cumulative += weight;
    if (r < cumulative) return writeStatus(c, code);
  }
  writeStatus(c, choices.back().first);
}

void handleUnstable(Call& c) {
  double failureRate = 0.5;
  if (c.hasArg("failure_rate")) {
    const auto rate = codec::parseFloat(c.arg("failure_rate"));
    if (!rate || *rate < 0 || *rate > 1) {
      return writeError(c.res, 400,
                        fmt::format("invalid failure rate: \"{}\"", c.arg("failure_rate")));
    }
    failureRate = *rate;
  }
  double roll = uniform01();
  if (c.hasArg("seed")) {
    const auto seed = codec::parseInt64(c.arg("seed"));
    if (!seed) return writeError(c.res, 400, fmt::format("invalid seed: \"{}\"", c.arg("seed")));
    std::mt19937_64 rng(static_cast<std::uint64_t>(*seed));
    roll = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  }
  c.res.status = roll < failureRate ? 500 : 200;
  c.res.set_header("Content-Type", kTextType);
}

// --- redirects ---------------------------------------------------------------------------

enum class RedirectKind { kAuto, kRelative, kAbsolute };

void handleRedirect(Call& c, RedirectKind kind) {
  if (!oneParam(c)) return notFound(c.res);
  const auto n = codec::parseInt64(c.segments[1]);
  if (!n) {
    return writeError(c.res, 400, "invalid redirect count: " + atoiSyntax(c.segments[1]));
  }
  if (*n < 1) return writeError(c.res, 400, "redirect count must be > 0");
  bool absolute = kind == RedirectKind::kAbsolute;
  if (kind == RedirectKind::kAuto) absolute = lower(c.arg("absolute")) == "true";
  std::string location;
  if (absolute) {
    const std::string base = c.scheme() + "://" + c.header("Host");
    location = *n == 1 ? base + "/get" : fmt::format("{}/absolute-redirect/{}", base, *n - 1);
  } else {
    location = *n == 1 ? "/get" : fmt::format("/relative-redirect/{}", *n - 1);
  }
  c.res.status = 302;
  c.res.set_header("Location", location);
}

bool hasBadEscape(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      return true;
    }
  }
  return false;
}

void handleRedirectTo(Call& c) {
  const std::string target = c.arg("url");
  if (target.empty()) return writeError(c.res, 400, "missing required query parameter: url");
  if (hasBadEscape(target) || std::any_of(target.begin(), target.end(), [](char ch) {
        return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
      })) {
    return writeError(c.res, 400, fmt::format("invalid url: \"{}\"", target));
  }
  int status = 302;
  if (c.hasArg("status_code")) {
    const auto code = codec::parseInt64(c.arg("status_code"));
    if (!code || *code < 300 || *code > 399) {
      return writeError(c.res, 400,
                        fmt::format("invalid status code: must be in range [300, 399], got \"{}\"",
                                    c.arg("status_code")));
    }
    status = static_cast<int>(*code);
  }
  // v2.25.0: an absolute URL (scheme:…) or a root-relative path; "foo" and "//evil.com" → 403.
  bool absolute = false;
  const size_t colon = target.find(':');
  if (colon != std::string::npos && colon > 0 &&
      std::isalpha(static_cast<unsigned char>(target[0]))) {
    absolute = std::all_of(target.begin(), target.begin() + static_cast<std::ptrdiff_t>(colon),
                           [](char ch) {
                             return std::isalnum(static_cast<unsigned char>(ch)) || ch == '+' ||
                                    ch == '-' || ch == '.';
                           });
  }
  const bool rootRelative = target.size() >= 1 && target[0] == '/' &&
                            (target.size() == 1 || (target[1] != '/' && target[1] != '\\'));
  if (!absolute && !rootRelative) return sendText(c.res, 403, "");
  c.res.status = status;
  c.res.set_header("Location", target);
}

// --- auth --------------------------------------------------------------------------------

// Go's Request.BasicAuth.
std::optional<std::pair<std::string, std::string>> basicAuth(const Call& c) {
  const std::string auth = c.header("Authorization");
  if (auth.size() < 6 || lower(auth.substr(0, 6)) != "basic ") return std::nullopt;
  const auto decoded = codec::base64Decode(auth.substr(6), false);
  if (!decoded) return std::nullopt;
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(decoded->substr(0, colon), decoded->substr(colon + 1));
}

void handleBasicAuth(Call& c, bool hidden) {
  if (c.segments.size() != 3 || c.segments[1].empty() || c.segments[2].empty()) {
    return notFound(c.res);
  }
  const auto given = basicAuth(c);
  const bool ok = given && given->first == c.segments[1] && given->second == c.segments[2];
  if (!ok && hidden) return writeError(c.res, 404);
  Json out = Json::object();
  out["authenticated"] = ok;
  out["user"] = given ? given->first : std::string{};
  out["authorized"] = ok;
  if (!ok) c.res.set_header("WWW-Authenticate", "Basic realm=\"Fake Realm\"");
  sendJson(c.res, out, ok ? 200 : 401);
}

void handleBearer(Call& c) {
  std::vector<std::string> fields;
  const std::string auth = c.header("Authorization");
  for (size_t i = 0; i < auth.size();) {
    while (i < auth.size() && std::isspace(static_cast<unsigned char>(auth[i]))) ++i;
    size_t j = i;
    while (j < auth.size() && !std::isspace(static_cast<unsigned char>(auth[j]))) ++j;
    if (j > i) fields.push_back(auth.substr(i, j - i));
    i = j;
  }
  if (fields.size() != 2 || fields[0] != "Bearer") {
    c.res.set_header("WWW-Authenticate", "Bearer");
    return writeError(c.res, 401);
  }
  Json out = Json::object();
  out["authenticated"] = true;
  out["token"] = fields[1];
  sendJson(c.res, out);
}

// --- dynamic data --------------------------------------------------------------------------

// A duration parameter in [0, kMaxDuration]; on failure writes the 400 and returns nullopt.
std::optional<std::chrono::nanoseconds> durationParam(Call& c, std::string_view text) {
  const auto d = codec::parseDuration(text);
  if (!d) {
    writeError(
        c.res, 400,
        fmt::format("invalid duration: strconv.ParseFloat: parsing \"{}\": invalid syntax", text));
    return std::nullopt;
  }
  if (*d < std::chrono::nanoseconds(0)) {
    writeError(
        c.res, 400,
        fmt::format("invalid duration: duration {} shorter than 0s", codec::formatDuration(*d)));
    return std::nullopt;
  }
  if (*d > kMaxDuration) {
    writeError(c.res, 400,
               fmt::format("invalid duration: duration {} longer than {}",
                           codec::formatDuration(*d), codec::formatDuration(kMaxDuration)));
    return std::nullopt;
  }
  return d;
}

std::string millis(std::chrono::nanoseconds d) {
  return fmt::format("{:.2f}", static_cast<double>(d.count()) / 1e6);
}

void handleDelay(Call& c) {
  if (!oneParam(c)) return notFound(c.res);
  const auto delay = durationParam(c, c.segments[1]);
  if (!delay) return;
  if (!c.ctx.wait(*delay)) return writeError(c.res, 503, "server is stopping");
  c.res.set_header("Server-Timing",
                   fmt::format("initial_delay;dur={};desc=\"initial delay\"", millis(*delay)));
  sendBodyResponse(c);
}

// A byte count for /bytes and /stream-bytes: [0, kMaxBodySize].
std::optional<size_t> byteCount(Call& c) {
  const auto n = codec::parseInt64(c.segments[1]);
  if (!n) {
    writeError(c.res, 400, "invalid byte count: " + atoiSyntax(c.segments[1]));
    return std::nullopt;
  }
  if (*n < 0) {
    writeError(c.res, 400, fmt::format("invalid byte count: {} must be greater than 0", *n));
    return std::nullopt;
  }
  if (static_cast<std::uint64_t>(*n) > kMaxBodySize) {
    writeError(c.res, 400,
               fmt::format("invalid byte count: {} not in range [1, {}]", *n, kMaxBodySize));
    return std::nullopt;
  }
  return static_cast<size_t>(*n);
}

// `n` pseudo-random bytes, reproducible with ?seed= (not Go's math/rand sequence).
std::optional<std::string> randomBytes(Call& c, size_t n) {
  std::uint64_t seed = randomSeed();
  if (c.hasArg("seed")) {
    const auto parsed = codec::parseInt64(c.arg("seed"));
    if (!parsed) {
      writeError(c.res, 400, fmt::format("invalid seed: \"{}\"", c.arg("seed")));
      return std::nullopt;
    }
    seed = static_cast<std::uint64_t>(*parsed);
  }
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>(rng() & 0xff);
  return out;
}

void handleBytes(Call& c) {
  if (!oneParam(c)) return notFound(c.res);
  const auto n = byteCount(c);
  if (!n) return;
  auto data = randomBytes(c, *n);
  if (!data) return;
  c.res.status = 200;
  if (*n > 0) c.res.set_content(std::move(*data), "application/octet-stream");
}

void handleStreamBytes(Call& c) {
  if (!oneParam(c)) return notFound(c.res);
  const auto n = byteCount(c);
  if (!n) return;
  std::int64_t chunkSize = 10 * 1024;
  if (c.hasArg("chunk_size")) {
    const auto parsed = codec::parseInt64(c.arg("chunk_size"));
    if (!parsed) {
      return writeError(c.res, 400, fmt::format("invalid chunk_size: \"{}\"", c.arg("chunk_size")));
    }
    chunkSize = *parsed;
  }
  auto data = randomBytes(c, *n);
  if (!data) return;
  if (chunkSize <= 0 || static_cast<std::uint64_t>(chunkSize) > *n) {
    chunkSize = static_cast<std::int64_t>(std::max<size_t>(*n, 1));
  }
  auto shared = std::make_shared<std::string>(std::move(*data));
  const auto chunk = static_cast<size_t>(chunkSize);
  c.res.status = 200;
  c.res.set_chunked_content_provider(
      "application/octet-stream", [shared, chunk](size_t offset, httplib::DataSink& sink) {
        if (offset < shared->size()) {
          const size_t len = std::min(chunk, shared->size() - offset);
          if (!sink.write(shared->data() + offset, len)) return false;
        }
        if (offset + chunk >= shared->size()) sink.done();
        return true;
      });
}

void handleStream(Call& c) {
  if (!oneParam(c)) return notFound(c.res);
  const auto n = codec::parseInt64(c.segments[1]);
  if (!n) return writeError(c.res, 400, "invalid count: " + atoiSyntax(c.segments[1]));
  const auto lines = std::clamp<std::int64_t>(*n, 1, 100);
  auto body = std::make_shared<std::vector<std::string>>();
  Json line = Json::object();
  line["id"] = 0;
  line["args"] = c.argsJson();
  line["headers"] = c.headersJson();
  line["origin"] = c.origin();
  line["url"] = c.url();
  for (std::int64_t i = 0; i < lines; ++i) {
    line["id"] = i;
    body->push_back(line.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n");
  }
  c.res.status = 200;
  // No Content-Type set by go-httpbin: Go's sniffing calls JSON text/plain.
  c.res.set_chunked_content_provider(kTextType, [body](size_t, httplib::DataSink& sink) {
    for (const auto& l : *body) {
      if (!sink.write(l.data(), l.size())) return false;
    }
    sink.done();
    return true;
  });
}

void handleDrip(Call& c) {
  using std::chrono::nanoseconds;
  nanoseconds duration = std::chrono::seconds(2);
  nanoseconds delay = std::chrono::seconds(2);
  std::int64_t numBytes = 10;
  int code = 200;
  if (c.hasArg("duration")) {
    const auto d = durationParam(c, c.arg("duration"));
    if (!d) return;
    duration = *d;
  }
  if (c.hasArg("delay")) {
    const auto d = durationParam(c, c.arg("delay"));
    if (!d) return;
    delay = *d;
  }
  if (c.hasArg("numbytes")) {
    const auto n = codec::parseInt64(c.arg("numbytes"));
    if (!n || *n < 1 || static_cast<std::uint64_t>(*n) > kMaxBodySize) {
      return writeError(c.res, 400,
                        fmt::format("invalid numbytes: \"{}\" not in range [1, {}]",
                                    c.arg("numbytes"), kMaxBodySize));
    }
    numBytes = *n;
  }
  if (c.hasArg("code")) {
    const auto n = codec::parseInt64(c.arg("code"));
    if (!n || *n < 100 || *n > 599) {
      return writeError(
          c.res, 400,
          fmt::format("invalid status code: \"{}\" not in range [100, 599]", c.arg("code")));
    }
    code = static_cast<int>(*n);
  }
  if (duration + delay > kMaxDuration) {
    return writeError(
        c.res, 400,
        fmt::format("too much time: {}+{} > {}", codec::formatDuration(duration),
                    codec::formatDuration(delay), codec::formatDuration(kMaxDuration)));
  }
  const nanoseconds pause =
      numBytes == 1 ? duration : nanoseconds((duration.count() + numBytes - 2) / (numBytes - 1));
  c.res.set_header(
      "Server-Timing",
      fmt::format("total_duration;dur={};desc=\"total request duration\", initial_delay;dur={};"
                  "desc=\"initial delay\", write_duration;dur={};desc=\"duration of writes after "
                  "initial delay\", pause_per_write;dur={};desc=\"computed pause between writes\"",
                  millis(duration + delay), millis(delay), millis(duration), millis(pause)));
  if (!c.ctx.wait(delay)) return writeError(c.res, 503, "server is stopping");
  c.res.status = code < 200 ? 200 : code;
  // Byte i is due at `pause * i` after the delay (the last one at `duration`); each call writes
  // every byte already due in one write, then sleeps until the next is due. So the drip takes
  // its duration however many bytes it spreads (1 MiB over 1 s is not a million sleeps).
  const auto wait = c.ctx.wait;
  const auto total = static_cast<size_t>(numBytes);
  auto start = std::make_shared<std::chrono::steady_clock::time_point>();
  c.res.set_content_provider(
      total, kTextType,
      [wait, pause, total, start](size_t offset, size_t, httplib::DataSink& sink) {
        const auto now = std::chrono::steady_clock::now();
        if (offset == 0 && *start == std::chrono::steady_clock::time_point{}) *start = now;
        if (total == 1) {
          if (!wait(pause)) return false;
          return sink.write("*", 1);
        }
        size_t due = total;
        if (pause.count() > 0) {
          const auto elapsed = std::chrono::duration_cast<nanoseconds>(now - *start);
          due = std::min<size_t>(total, static_cast<size_t>(elapsed / pause) + 1);
        }
        if (due > offset) {
          const std::string stars(due - offset, '*');
          return sink.write(stars.data(), stars.size());
        }
        const auto next = *start + pause * static_cast<std::int64_t>(offset);
        return wait(std::chrono::duration_cast<nanoseconds>(next - now));
      });
}

// Range header specs resolved against `size`: (first, last) inclusive. nullopt = 416.
std::optional<std::vector<std::pair<size_t, size_t>>> resolveRanges(std::string_view header,
                                                                    size_t size) {
  std::vector<std::pair<size_t, size_t>> out;
  if (header.substr(0, 6) != "bytes=") return std::nullopt;
  std::string_view specs = header.substr(6);
  bool anySatisfiable = false;
  while (!specs.empty()) {
    const size_t comma = specs.find(',');
    const std::string_view spec = trim(specs.substr(0, comma));
    specs = comma == std::string_view::npos ? std::string_view{} : specs.substr(comma + 1);
    if (spec.empty()) continue;
    const size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    const std::string_view startText = trim(spec.substr(0, dash));
    const std::string_view endText = trim(spec.substr(dash + 1));
    if (startText.empty()) {  // suffix "-N": the last N bytes
      const auto n = codec::parseInt64(endText);
      if (!n || *n < 0) return std::nullopt;
      const size_t len = std::min<size_t>(static_cast<size_t>(*n), size);
      if (len == 0) continue;
      out.emplace_back(size - len, size - 1);
      anySatisfiable = true;
      continue;
    }
    const auto start = codec::parseInt64(startText);
    if (!start || *start < 0) return std::nullopt;
    std::int64_t end = static_cast<std::int64_t>(size) - 1;
    if (!endText.empty()) {
      const auto parsed = codec::parseInt64(endText);
      if (!parsed || *parsed < *start) return std::nullopt;
      end = std::min(*parsed, end);
    }
    if (static_cast<size_t>(*start) >= size) continue;  // unsatisfiable alone
    out.emplace_back(static_cast<size_t>(*start), static_cast<size_t>(end));
    anySatisfiable = true;
  }
  if (!anySatisfiable) return std::nullopt;
  return out;
}

void handleRange(Call& c) {
  if (!oneParam(c)) return notFound(c.res);
  const auto n = codec::parseInt64(c.segments[1]);
  if (!n) return writeError(c.res, 400, "invalid count: " + atoiSyntax(c.segments[1]));
  if (*n < 1 || static_cast<std::uint64_t>(*n) > kMaxBodySize) {
    return writeError(c.res, 400,
                      fmt::format("invalid count: {} not in range [1, {}]", *n, kMaxBodySize));
  }
  std::chrono::nanoseconds duration{0};
  if (c.hasArg("duration")) {
    const auto d = durationParam(c, c.arg("duration"));
    if (!d) return;
    duration = *d;
  }
  const auto size = static_cast<size_t>(*n);
  std::string body(size, 'a');
  for (size_t i = 0; i < size; ++i) body[i] = static_cast<char>('a' + i % 26);
  c.res.set_header("ETag", fmt::format("range{}", size));
  c.res.set_header("Accept-Ranges", "bytes");
  if (duration.count() > 0 && !c.ctx.wait(duration)) {
    return writeError(c.res, 503, "server is stopping");
  }
  const std::string rangeHeader = c.header("Range");
  if (rangeHeader.empty()) return sendText(c.res, 200, std::move(body));
  const auto ranges = resolveRanges(rangeHeader, size);
  if (!ranges) {
    c.res.set_header("Content-Range", fmt::format("bytes */{}", size));
    return sendText(c.res, 416, "invalid range\n");
  }
  if (ranges->size() == 1) {
    const auto [first, last] = ranges->front();
    c.res.set_header("Content-Range", fmt::format("bytes {}-{}/{}", first, last, size));
    return sendText(c.res, 206, body.substr(first, last - first + 1));
  }
  const std::string boundary = randomHex(16);
  std::string multipart;
  for (const auto& [first, last] : *ranges) {
    multipart +=
        fmt::format("{}--{}\r\nContent-Range: bytes {}-{}/{}\r\nContent-Type: {}\r\n\r\n",
                    multipart.empty() ? "" : "\r\n", boundary, first, last, size, kTextType);
    multipart += body.substr(first, last - first + 1);
  }
  multipart += fmt::format("\r\n--{}--\r\n", boundary);
  sendText(c.res, 206, std::move(multipart), "multipart/byteranges; boundary=" + boundary);
}

void handleLinks(Call& c) {
  if (c.segments.size() < 2 || c.segments.size() > 3 || c.segments[1].empty()) {
    return notFound(c.res);
  }
  const auto n = codec::parseInt64(c.segments[1]);
  if (!n || *n < 0 || *n > 256) {
    return writeError(c.res, 400, fmt::format("invalid link count: \"{}\"", c.segments[1]));
  }
  if (c.segments.size() == 2) {
    c.res.status = 302;
    std::string location = fmt::format("/links/{}/0", *n);
    if (!c.rawQuery.empty()) location += "?" + std::string(c.rawQuery);
    c.res.set_header("Location", location);
    return;
  }
  const auto offset = codec::parseInt64(c.segments[2]);
  if (!offset) return writeError(c.res, 400, fmt::format("invalid offset: \"{}\"", c.segments[2]));
  std::string html = "<html><head><title>Links</title></head><body>";
  for (std::int64_t i = 0; i < *n; ++i) {
    html += i == *offset ? fmt::format("{} ", i)
                         : fmt::format("<a href=\"/links/{}/{}\">{}</a> ", *n, i, i);
  }
  html += "</body></html>";
  sendText(c.res, 200, std::move(html), kHtmlType);
}

void handleBase64(Call& c) {
  std::string operation = "decode";
  std::string value;
  if (c.segments.size() == 2 && !c.segments[1].empty()) {
    value = c.segments[1];
  } else if (c.segments.size() == 3 && !c.segments[2].empty()) {
    operation = c.segments[1];
    value = c.segments[2];
  } else {
    return notFound(c.res);
  }
  if (operation != "decode" && operation != "encode") {
    return writeError(c.res, 400, "invalid operation: " + operation);
  }
  if (value.size() > kMaxBodySize) {
    return writeError(c.res, 400, fmt::format("input data exceeds max length of {}", kMaxBodySize));
  }
  std::string output;
  if (operation == "encode") {
    output = codec::base64Encode(value, true);
  } else {
    auto decoded = codec::base64Decode(value, true);
    if (!decoded) decoded = codec::base64Decode(value, false);
    if (!decoded) return writeError(c.res, 400, "base64 decode failed: illegal base64 data");
    output = std::move(*decoded);
  }
  const std::string contentType = c.hasArg("content-type") ? c.arg("content-type") : kTextType;
  if (isDangerousContentType(contentType)) output = codec::htmlEscape(output);
  sendText(c.res, 200, std::move(output), contentType);
}

// --- cookies -------------------------------------------------------------------------------

std::vector<std::pair<std::string, std::string>> requestCookies(const Call& c) {
  std::vector<std::pair<std::string, std::string>> out;
  const size_t count = c.req.get_header_value_count("Cookie");
  for (size_t i = 0; i < count; ++i) {
    std::string_view header = c.req.get_header_value("Cookie", i).c_str();
    const std::string copy(header);
    std::string_view rest = copy;
    while (!rest.empty()) {
      const size_t semi = rest.find(';');
      const std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos || eq == 0) continue;
      std::string_view value = pair.substr(eq + 1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      out.emplace_back(std::string(pair.substr(0, eq)), std::string(value));
    }
  }
  return out;
}

void handleCookies(Call& c) {
  Json cookies = Json::object();
  std::map<std::string, std::string> sorted;
  for (auto& [name, value] : requestCookies(c)) sorted[name] = value;
  for (auto& [name, value] : sorted) cookies[name] = value;
  Json out = Json::object();
  out["cookies"] = cookies;
  sendJson(c.res, out);
}

// Cookie attributes from `attr[Name]=…` parameters (case-insensitive names).
struct CookieAttributes {
  std::string path = "/";
  std::string domain;
  bool httpOnly = true;
  bool secure = false;
  std::string sameSite;
};

bool isAttrParam(std::string_view key) {
  return key.size() > 6 && lower(key.substr(0, 5)) == "attr[" && key.back() == ']';
}

CookieAttributes cookieAttributes(const Call& c) {
  CookieAttributes attrs;
  attrs.secure = c.scheme() == "https";
  for (const auto& [key, values] : c.args) {
    if (!isAttrParam(key) || values.empty()) continue;
    const std::string name = lower(std::string_view(key).substr(5, key.size() - 6));
    const std::string& value = values.front();
    const bool truthy = value == "1" || lower(value) == "true";
    if (name == "secure") attrs.secure = truthy;
    if (name == "httponly") attrs.httpOnly = truthy;
    if (name == "path") attrs.path = value;
    if (name == "domain") attrs.domain = value;
    if (name == "samesite") {
      const std::string v = lower(value);
      attrs.sameSite = v == "strict" ? "Strict" : v == "lax" ? "Lax" : v == "none" ? "None" : "";
    }
  }
  return attrs;
}

// Go's http.Cookie.String attribute order.
std::string setCookieValue(const std::string& name, const std::string& value,
                           const CookieAttributes& attrs, const std::string& expires) {
  const bool quote = value.find_first_of(" ,") != std::string::npos;
  std::string out = name + "=" + (quote ? "\"" + value + "\"" : value);
  if (!attrs.path.empty()) out += "; Path=" + attrs.path;
  if (!attrs.domain.empty()) out += "; Domain=" + attrs.domain;
  if (!expires.empty()) out += "; Expires=" + expires + "; Max-Age=0";
  if (attrs.httpOnly) out += "; HttpOnly";
  if (attrs.secure) out += "; Secure";
  if (!attrs.sameSite.empty()) out += "; SameSite=" + attrs.sameSite;
  return out;
}

void handleCookiesChange(Call& c, bool remove) {
  const CookieAttributes attrs = cookieAttributes(c);
  const std::string expires =
      remove ? codec::httpDate(std::chrono::system_clock::now() - std::chrono::hours(24 * 365))
             : std::string{};
  for (const auto& [key, values] : c.args) {
    if (isAttrParam(key)) continue;
    const std::string value = remove || values.empty() ? std::string{} : values.front();
    c.res.headers.emplace("Set-Cookie", setCookieValue(key, value, attrs, expires));
  }
  c.res.status = 302;
  c.res.set_header("Location", "/cookies");
}

// --- response inspection -------------------------------------------------------------------

void handleResponseHeaders(Call& c) {
  ValueMap echoed = c.args;
  if (!echoed.count("Content-Type")) echoed["Content-Type"] = {kJsonType};
  const std::string contentType = echoed["Content-Type"].front();
  const bool escape = isDangerousContentType(contentType);
  Json body = Json::object();
  for (const auto& [key, values] : echoed) {
    Json list = Json::array();
    for (const auto& v : values) list.push_back(escape ? codec::htmlEscape(v) : v);
    body[escape ? codec::htmlEscape(key) : key] = list;
    // Framing headers stay ours: a user-chosen Content-Length would corrupt the stream.
    const std::string k = lower(key);
    if (k == "content-length" || k == "transfer-encoding" || k == "connection") continue;
    for (const auto& v : values) c.res.set_header(key, v);
  }
  c.res.status = 200;
  c.res.body = dumpJson(body);
}

void handleCache(Call& c) {
  if (c.req.has_header("If-Modified-Since") || c.req.has_header("If-None-Match")) {
    c.res.status = 304;
    return;
  }
  const std::string lastModified = codec::httpDate(std::chrono::system_clock::now());
  // go-httpbin's sha1hash writes h.Sum(input): the input's hex followed by SHA-1("").
  std::string etag;
  for (const unsigned char ch : lastModified) etag += fmt::format("{:02x}", ch);
  etag += "da39a3ee5e6b4b0d3255bfef95601890afd80709";
  c.res.set_header("Last-Modified", lastModified);
  c.res.set_header("ETag", etag);
  sendJson(c.res, c.noBody());
}

void handleCacheControl(Call& c) {
  if (!oneParam(c)) return notFound(c.res);
  const auto n = codec::parseInt64(c.segments[1]);
  if (!n) return writeError(c.res, 400, "invalid seconds: " + atoiSyntax(c.segments[1]));
  c.res.set_header("Cache-Control", fmt::format("public, max-age={}", *n));
  sendJson(c.res, c.noBody());
}

// Entity tags of an If-Match / If-None-Match list, "*" kept as is.
std::vector<std::string> entityTags(std::string_view header) {
  std::vector<std::string> out;
  while (!header.empty()) {
    const size_t comma = header.find(',');
    std::string_view tag = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    if (!tag.empty()) out.emplace_back(tag);
  }
  return out;
}

void handleEtag(Call& c) {
  if (!oneParam(c)) return notFound(c.res);
  const std::string quoted = "\"" + c.segments[1] + "\"";
  c.res.set_header("ETag", quoted);
  c.res.set_header("Last-Modified", codec::httpDate(std::chrono::system_clock::now()));
  // http.ServeContent's checkPreconditions: If-Match (strong) first, then If-None-Match (weak).
  if (c.req.has_header("If-Match")) {
    bool matched = false;
    for (const auto& tag : entityTags(c.header("If-Match"))) {
      matched = matched || tag == "*" || tag == quoted;
    }
    if (!matched) return sendText(c.res, 412, "");
  }
  if (c.req.has_header("If-None-Match")) {
    for (const auto& tag : entityTags(c.header("If-None-Match"))) {
      const std::string_view weak =
          tag.rfind("W/", 0) == 0 ? std::string_view(tag).substr(2) : std::string_view(tag);
      if (tag == "*" || weak == quoted) {
        c.res.status = 304;
        c.res.headers.erase("Content-Type");
        return;
      }
    }
  }
  sendText(c.res, 200, dumpJson(c.noBody()));
}

void handleCompressed(Call& c, bool gzipFormat) {
  Json out = c.noBody();
  out["url"] = "";  // go-httpbin quirk (§1 /gzip)
  out[gzipFormat ? "gzipped" : "deflated"] = true;
  c.res.status = 200;
  c.res.set_header("Content-Encoding", gzipFormat ? "gzip" : "deflate");
  c.res.set_content(codec::compress(dumpJson(out), gzipFormat), kJsonType);
}

// --- static formats ------------------------------------------------------------------------

constexpr std::string_view kSampleJson = R"({
  "slideshow": {
    "author": "Yours Truly",
    "date": "date of publication",
    "slides": [
      {
        "title": "Wake up to WonderWidgets!",
        "type": "all"
      },
      {
        "items": [
          "Why <em>WonderWidgets</em> are great",
          "Who <em>buys</em> WonderWidgets"
        ],
        "title": "Overview",
        "type": "all"
      }
    ],
    "title": "Sample Slide Show"
  }
}
)";

constexpr std::string_view kSampleXml = R"(<?xml version='1.0' encoding='us-ascii'?>

<!--  A SAMPLE set of slides  -->

<slideshow 
    title="Sample Slide Show"
    date="Date of publication"
    author="Yours Truly"
    >

    <!-- TITLE SLIDE -->
    <slide type="all">
      <title>Wake up to WonderWidgets!</title>
    </slide>

    <!-- OVERVIEW -->
    <slide type="all">
        <title>Overview</title>
        <item>Why <em>WonderWidgets</em> are great</item>
        <item/>
        <item>Who <em>buys</em> WonderWidgets</item>
    </slide>

</slideshow>
)";

// An abridged Moby-Dick page: the same heading go-httpbin's /html carries.
constexpr std::string_view kSampleHtml = R"(<!DOCTYPE html>
<html>
  <head>
  </head>
  <body>
      <h1>Herman Melville - Moby-Dick</h1>

      <div>
        <p>
          Availing himself of the mild, summer-cool weather that now reigned in these latitudes,
          and in preparation for the peculiarly active pursuits shortly to be anticipated, Perth,
          the begrimed, blistered old blacksmith, had not removed his portable forge to the hold
          again, after concluding his contributory work for Ahab's leg, but still retained it on
          deck, fast lashed to ringbolts by the foremast.
        </p>
      </div>
  </body>
</html>
)";

constexpr std::string_view kUtf8Html = R"(<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>UTF-8 demo</title></head>
<body>
<h1>Unicode Demo</h1>
<p>Hello world, Καλημέρα κόσμε, コンニチハ</p>
</body>
</html>
)";

void sendStatic(Call& c, std::string_view body, const std::string& type) {
  sendText(c.res, 200, std::string(body), type);
}

using Handler = void (*)(Call&);

const std::unordered_map<std::string, Handler>& routes() {
  static const std::unordered_map<std::string, Handler> table{
      {"get", [](Call& c) { handleGet(c); }},
      {"head", [](Call& c) { handleHead(c); }},
      {"post", [](Call& c) { handleMethodEcho(c, "POST"); }},
      {"put", [](Call& c) { handleMethodEcho(c, "PUT"); }},
      {"patch", [](Call& c) { handleMethodEcho(c, "PATCH"); }},
      {"delete", [](Call& c) { handleMethodEcho(c, "DELETE"); }},
      {"anything", [](Call& c) { handleAnything(c); }},
      {"headers", [](Call& c) { handleHeaders(c); }},
      {"ip", [](Call& c) { handleIp(c); }},
      {"user-agent", [](Call& c) { handleUserAgent(c); }},
      {"uuid", [](Call& c) { handleUuid(c); }},
      {"hostname", [](Call& c) { handleHostname(c); }},
      {"env", [](Call& c) { handleEnv(c); }},
      {"upload", [](Call& c) { handleUpload(c); }},
      {"status", [](Call& c) { handleStatus(c); }},
      {"unstable", [](Call& c) { handleUnstable(c); }},
      {"delay", [](Call& c) { handleDelay(c); }},
      {"bytes", [](Call& c) { handleBytes(c); }},
      {"stream-bytes", [](Call& c) { handleStreamBytes(c); }},
      {"stream", [](Call& c) { handleStream(c); }},
      {"drip", [](Call& c) { handleDrip(c); }},
      {"range", [](Call& c) { handleRange(c); }},
      {"links", [](Call& c) { handleLinks(c); }},
      {"redirect", [](Call& c) { handleRedirect(c, RedirectKind::kAuto); }},
      {"relative-redirect", [](Call& c) { handleRedirect(c, RedirectKind::kRelative); }},
      {"absolute-redirect", [](Call& c) { handleRedirect(c, RedirectKind::kAbsolute); }},
      {"redirect-to", [](Call& c) { handleRedirectTo(c); }},
      {"basic-auth", [](Call& c) { handleBasicAuth(c, false); }},
      {"hidden-basic-auth", [](Call& c) { handleBasicAuth(c, true); }},
      {"bearer", [](Call& c) { handleBearer(c); }},
      {"response-headers", [](Call& c) { handleResponseHeaders(c); }},
      {"cookies", [](Call& c) { handleCookies(c); }},
      {"base64", [](Call& c) { handleBase64(c); }},
      {"gzip", [](Call& c) { handleCompressed(c, true); }},
      {"deflate", [](Call& c) { handleCompressed(c, false); }},
      {"brotli", [](Call& c) { writeError(c.res, 501); }},
      {"json", [](Call& c) { sendStatic(c, kSampleJson, kJsonType); }},
      {"html", [](Call& c) { sendStatic(c, kSampleHtml, kHtmlType); }},
      {"xml", [](Call& c) { sendStatic(c, kSampleXml, "application/xml"); }},
      {"robots.txt", [](Call& c) { sendStatic(c, "User-agent: *\nDisallow: /deny\n", kTextType); }},
      {"deny", [](Call& c) { sendStatic(c, "YOU SHOULDN'T BE HERE", kTextType); }},
      {"cache", [](Call& c) { handleCache(c); }},
      {"etag", [](Call& c) { handleEtag(c); }},
      {"dump", [](Call& c) { handleDumpRequest(c); }},
      {"encoding", [](Call& c) { sendStatic(c, kUtf8Html, kHtmlType); }},
  };
  return table;
}

// Routes with sub-paths, and routes that exist only at one exact depth.
void route(Call& c) {
  const auto& segs = c.segments;
  const std::string& first = segs.front();
  if (segs.size() == 1 && first.empty()) return handleIndex(c);
  if (first == "anything") return handleAnything(c);
  if (first == "cookies") {
    if (segs.size() == 1) return handleCookies(c);
    if (segs.size() == 2 && segs[1] == "set") return handleCookiesChange(c, false);
    if (segs.size() == 2 && segs[1] == "delete") return handleCookiesChange(c, true);
    return notFound(c.res);
  }
  if (first == "cache") {
    if (segs.size() == 1) return handleCache(c);
    return handleCacheControl(c);
  }
  if (first == "dump") {
    if (segs.size() == 2 && segs[1] == "request") return handleDumpRequest(c);
    return notFound(c.res);
  }
  if (first == "encoding") {
    if (segs.size() == 2 && segs[1] == "utf8" && requireMethod(c, {"GET", "HEAD"})) {
      sendStatic(c, kUtf8Html, kHtmlType);
      return;
    }
    if (c.res.status == 405) return;
    return notFound(c.res);
  }
  const auto it = routes().find(first);
  if (it == routes().end()) return notFound(c.res);
  // Parameterised routes check their own segment count; the rest exist only at depth 1.
  static const std::vector<std::string_view> kParameterised{"status",
                                                            "delay",
                                                            "bytes",
                                                            "stream-bytes",
                                                            "stream",
                                                            "range",
                                                            "links",
                                                            "redirect",
                                                            "relative-redirect",
                                                            "absolute-redirect",
                                                            "basic-auth",
                                                            "hidden-basic-auth",
                                                            "base64",
                                                            "etag"};
  const bool parameterised =
      std::find(kParameterised.begin(), kParameterised.end(), first) != kParameterised.end();
  if (!parameterised && segs.size() != 1) return notFound(c.res);
  it->second(c);
}

void preflight(const httplib::Request& req, httplib::Response& res) {
  res.status = 200;
  res.set_header("Access-Control-Allow-Methods", "GET, POST, HEAD, PUT, DELETE, PATCH, OPTIONS");
  res.set_header("Access-Control-Max-Age", "3600");
  if (auto h = req.get_header_value("Access-Control-Request-Headers"); !h.empty()) {
    res.set_header("Access-Control-Allow-Headers", h);
  }
}

}  // namespace

void normaliseRequest(httplib::Request& req) {
  // A client must not smuggle our internal names in.
  req.headers.erase(kContentTypeHeader);
  req.headers.erase(kAcceptEncodingHeader);
  req.headers.erase(kSyntheticLengthHeader);
  // With Transfer-Encoding the chunked body wins in httplib's reader; the synthetic length then
  // only makes httplib read a chunked DELETE body at all (0.11.4 reads DELETE bodies only when a
  // Content-Length is present).
  if (!req.has_header("Content-Length")) {
    req.headers.emplace("Content-Length", "0");
    req.headers.emplace(kSyntheticLengthHeader, "1");
  }
  for (const auto& [from, to] : {std::pair{"Content-Type", kContentTypeHeader},
                                 std::pair{"Accept-Encoding", kAcceptEncodingHeader}}) {
    auto range = req.headers.equal_range(from);
    std::vector<std::string> values;
    for (auto it = range.first; it != range.second; ++it) values.push_back(it->second);
    req.headers.erase(from);
    for (auto& v : values) req.headers.emplace(to, std::move(v));
  }
  req.ranges.clear();
  req.path = "/";
}

void serveRequest(const ServeContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (req.method == "OPTIONS") return preflight(req, res);
  const std::string_view target = req.target;
  const size_t q = target.find('?');
  Call c{ctx,
         req,
         res,
         target.substr(0, q),
         q == std::string_view::npos ? std::string_view{} : target.substr(q + 1),
         {},
         {}};
  c.args = codec::parseQuery(c.rawQuery, false).value_or(ValueMap{});
  if (c.rawPath.empty() || c.rawPath.front() != '/') return notFound(res);
  std::string_view rest = c.rawPath.substr(1);
  while (true) {
    const size_t slash = rest.find('/');
    auto segment = codec::percentDecode(rest.substr(0, slash), false);
    if (!segment) return writeError(res, 400, "invalid URL escape in path");
    c.segments.push_back(std::move(*segment));
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  route(c);
}

bool mayWait(const httplib::Request& req) {
  if (req.method == "OPTIONS") return false;
  std::string_view path = req.target;
  path = path.substr(0, path.find('?'));
  if (path.empty() || path.front() != '/') return false;
  path.remove_prefix(1);
  // The first segment as route() sees it (percent-decoded); one that cannot be decoded is a 400.
  const auto first = codec::percentDecode(path.substr(0, path.find('/')), false);
  if (!first) return false;
  return *first == "delay" || *first == "drip" || *first == "range";
}

void writeError(httplib::Response& res, int code, const std::string& detail) {
  Json out = Json::object();
  out["status_code"] = code;
  out["error"] = std::string(codec::statusText(code));
  if (!detail.empty()) out["detail"] = detail;
  res.headers.erase("Content-Type");
  sendJson(res, out, code);
}

void addCorsHeaders(const httplib::Request& req, httplib::Response& res) {
  const std::string origin = req.get_header_value("Origin");
  res.set_header("Access-Control-Allow-Origin", origin.empty() ? "*" : origin);
  res.set_header("Access-Control-Allow-Credentials", "true");
}

}  // namespace egresslab::httpbin::detail
