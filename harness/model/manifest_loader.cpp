// parseManifests/loadManifests: YAML documents → typed Istio/Kubernetes resources.
//
// Strictness follows the API server: Istio CRD specs are validated by their OpenAPI schema
// and istiod's validation webhook, so unknown fields, wrong types, missing required fields
// and invalid enum values are errors here too. Kubernetes built-in objects are huge and
// users' production files use fields we never model, so below `spec` they are read leniently.
#include <fmt/core.h>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "harness/model/ext_authz_parsers.h"
#include "harness/model/files.h"
#include "harness/model/loader.h"
#include "harness/model/manifest_parsers.h"
#include "harness/model/regex.h"
#include "harness/model/schema.h"
#include "harness/model/yaml_tree.h"

namespace egresslab::model {

using detail::Ctx;
using detail::Fields;
using detail::Shape;
using detail::YNode;

namespace {

// ------------------------------------------------------------------ shapes of raw blocks
const Shape kAny{{}, true};
const Shape kPercentage{{{"value", nullptr}}};
const Shape kPortSelector{{{"number", nullptr}}};
const Shape kDestinationShape{{{"host", nullptr}, {"subset", nullptr}, {"port", &kPortSelector}}};
const Shape kStringMatchShape{{{"exact", nullptr}, {"prefix", nullptr}, {"regex", nullptr}}};
const Shape kCorsShape{{{"allowOrigin", nullptr},
                        {"allowOrigins", &kStringMatchShape},
                        {"allowMethods", nullptr},
                        {"allowHeaders", nullptr},
                        {"exposeHeaders", nullptr},
                        {"maxAge", nullptr},
                        {"allowCredentials", nullptr},
                        {"unmatchedPreflights", nullptr}}};
const Shape kMirrorsShape{{{"destination", &kDestinationShape}, {"percentage", &kPercentage}}};
const Shape kDelegateShape{{{"name", nullptr}, {"namespace", nullptr}}};
const Shape kUriRegexRewrite{{{"match", nullptr}, {"rewrite", nullptr}}};
const Shape kHttpCookie{
    {{"name", nullptr}, {"path", nullptr}, {"ttl", nullptr}, {"attributes", nullptr}}};
const Shape kRingHash{{{"minimumRingSize", nullptr}}};
const Shape kMaglev{{{"tableSize", nullptr}}};
const Shape kConsistentHash{{{"httpHeaderName", nullptr},
                             {"httpCookie", &kHttpCookie},
                             {"useSourceIp", nullptr},
                             {"httpQueryParameterName", nullptr},
                             {"ringHash", &kRingHash},
                             {"maglev", &kMaglev},
                             {"minimumRingSize", nullptr}}};
const Shape kFromTo{{{"from", nullptr}, {"to", nullptr}}};
const Shape kLocalityLb{{{"distribute", &kFromTo},
                         {"failover", &kFromTo},
                         {"failoverPriority", nullptr},
                         {"enabled", nullptr}}};
const Shape kWarmup{{{"duration", nullptr}, {"minimumPercent", nullptr}, {"aggression", nullptr}}};
const Shape kTcpKeepalive{{{"probes", nullptr}, {"time", nullptr}, {"interval", nullptr}}};
const Shape kTunnel{{{"protocol", nullptr}, {"targetHost", nullptr}, {"targetPort", nullptr}}};
const Shape kProxyProtocol{{{"version", nullptr}}};
const Shape kRetryBudget{{{"percent", nullptr}, {"minRetryConcurrency", nullptr}}};

// One document being read: its kind (for messages) and namespace (for §2 resolution).
struct Doc {
  Ctx& ctx;
  std::string kind;
  std::string ns;  // metadata.namespace, or "default" when unset

  std::string what(const std::string& path) const { return kind + " " + path; }
};

// ------------------------------------------------------------------------- common pieces
void readMeta(Ctx& ctx, const YNode* node, ObjectMeta& meta, const std::string& kind) {
  if (node == nullptr) return;
  Fields f(ctx, *node, kind + " metadata");
  meta.name = f.str("name").value_or("");
  meta.ns = f.str("namespace").value_or("");
  meta.labels = f.strMap("labels");
  meta.annotations = f.strMap("annotations");
  f.accept({"generateName", "uid", "resourceVersion", "generation", "creationTimestamp",
            "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "finalizers",
            "managedFields", "selfLink", "clusterName"});
  f.finish();
}

// Istio's validation compiles every regex with RE2 (Go's regexp); Envoy matches with RE2.
void checkRegex(Doc& d, const YNode* node, const std::string& pattern, const std::string& path) {
  if (node == nullptr || !d.ctx.ok()) return;
  if (pattern.empty()) {
    d.ctx.fail(fmt::format("{}: a regex match must not be empty", path), node->pos);
  } else if (std::string problem = regexProblem(pattern); !problem.empty()) {
    d.ctx.fail(
        fmt::format("{}: invalid regex \"{}\" (RE2 syntax, as Istio): {}", path, pattern, problem),
        node->pos);
  }
}

// Istio's retryOn validation: comma-separated Envoy retry conditions (HTTP and gRPC) or HTTP
// status codes Go knows (http.StatusText).
bool knownStatusCode(std::int64_t code) {
  static const std::set<std::int64_t> kCodes = {
      100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301,
      302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409,
      410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428,
      429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511};
  return kCodes.contains(code);
}

void checkRetryOn(Doc& d, const YNode* node, const std::string& retryOn) {
  static const std::set<std::string, std::less<>> kPolicies = {"5xx",
                                                               "gateway-error",
                                                               "reset",
                                                               "reset-before-request",
                                                               "connect-failure",
                                                               "envoy-ratelimited",
                                                               "retriable-4xx",
                                                               "refused-stream",
                                                               "retriable-status-codes",
                                                               "retriable-headers",
                                                               "http3-post-connect-failure",
                                                               "cancelled",
                                                               "deadline-exceeded",
                                                               "internal",
                                                               "resource-exhausted",
                                                               "unavailable"};
  if (node == nullptr || retryOn.empty()) return;
  std::string_view rest = retryOn;
  for (;;) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    std::int64_t code = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), code);
    const bool numeric =
        !item.empty() && ec != std::errc::invalid_argument && end == item.data() + item.size();
    if (numeric ? (ec != std::errc{} || !knownStatusCode(code)) : !kPolicies.contains(item)) {
      d.ctx.fail(fmt::format("retries.retryOn: \"{}\" is not a valid retry condition{}", item,
                             numeric ? " (not an HTTP status code)"
                                     : "; use 5xx, gateway-error, reset, connect-failure, "
                                       "retriable-4xx, refused-stream, retriable-status-codes, "
                                       "retriable-headers, envoy-ratelimited, a gRPC status "
                                       "(cancelled, deadline-exceeded, internal, "
                                       "resource-exhausted, unavailable) or an HTTP status code"),
                 node->pos);
      return;
    }
    if (comma == std::string_view::npos) return;
    rest.remove_prefix(comma + 1);
  }
}

std::optional<StringMatch> readStringMatch(Doc& d, const YNode* node, const std::string& path) {
  if (node == nullptr || node->isNull()) return std::nullopt;
  Fields f(d.ctx, *node, d.what(path));
  StringMatch m;
  int count = 0;
  if (auto v = f.str("exact")) {
    m = {StringMatch::Kind::kExact, *v};
    ++count;
  }
  if (auto v = f.str("prefix")) {
    m = {StringMatch::Kind::kPrefix, *v};
    ++count;
  }
  if (auto v = f.str("regex")) {
    m = {StringMatch::Kind::kRegex, *v};
    ++count;
    checkRegex(d, f.get("regex"), *v, path + ".regex");
  }
  f.finish();
  if (count > 1) {
    d.ctx.fail(fmt::format("{}: set only one of exact, prefix, regex", path), node->pos);
  }
  // `{}` (no kind) matches any present value: an empty prefix does exactly that.
  if (count == 0) m = {StringMatch::Kind::kPrefix, ""};
  return m;
}

std::map<std::string, StringMatch> readStringMatchMap(Doc& d, const YNode* node,
                                                      const std::string& path, bool lowerKeys) {
  std::map<std::string, StringMatch> out;
  if (node == nullptr || node->isNull()) return out;
  if (!node->isMap()) {
    d.ctx.fail(fmt::format("{} must be a map, got {}", path, detail::describeKind(*node)),
               node->pos);
    return out;
  }
  for (const auto& entry : node->entries) {
    auto m = readStringMatch(d, &entry.value, path + "." + entry.key);
    if (m) out[lowerKeys ? asciiLower(entry.key) : entry.key] = *m;
  }
  return out;
}

// §2: "name"/"./name" → "<vs-ns>/name", "name.ns.svc.cluster.local" → "ns/name", "mesh" kept.
std::string resolveGatewayName(const std::string& written, const std::string& vsNamespace) {
  if (written == "mesh") return written;
  if (auto slash = written.find('/'); slash != std::string::npos) {
    if (written.substr(0, slash) == ".") return vsNamespace + written.substr(slash);
    return written;
  }
  if (auto dot = written.find('.'); dot != std::string::npos) {
    const std::string name = written.substr(0, dot);
    const std::string rest = written.substr(dot + 1);
    return rest.substr(0, rest.find('.')) + "/" + name;
  }
  return vsNamespace + "/" + written;
}

std::vector<std::string> resolveGateways(const std::vector<std::string>& written,
                                         const std::string& vsNamespace) {
  std::vector<std::string> out;
  for (const auto& g : written) out.push_back(resolveGatewayName(g, vsNamespace));
  return out;
}

Destination readDestination(Doc& d, const YNode* node, const std::string& path) {
  Destination dest;
  if (node == nullptr) {
    return dest;
  }
  Fields f(d.ctx, *node, d.what(path));
  dest.host = f.requiredStr("host");
  dest.subset = f.str("subset").value_or("");
  if (const YNode* port = f.get("port")) {
    Fields pf(d.ctx, *port, d.what(path + ".port"));
    dest.port = pf.port("number");
    pf.finish();
  }
  f.finish();
  return dest;
}

HeaderOperations readHeaderOps(Doc& d, const YNode* node, const std::string& path) {
  HeaderOperations ops;
  if (node == nullptr) return ops;
  Fields f(d.ctx, *node, d.what(path));
  ops.set = f.strMap("set");
  ops.add = f.strMap("add");
  ops.remove = f.strList("remove");
  f.finish();
  return ops;
}

Headers readHeaders(Doc& d, const YNode* node, const std::string& path) {
  Headers h;
  if (node == nullptr) return h;
  Fields f(d.ctx, *node, d.what(path));
  h.request = readHeaderOps(d, f.get("request"), path + ".request");
  h.response = readHeaderOps(d, f.get("response"), path + ".response");
  f.finish();
  return h;
}

template <typename Fn>
void forEachItem(Doc& d, const YNode* node, const std::string& path, Fn&& fn) {
  if (node == nullptr || node->isNull()) return;
  if (!node->isSequence()) {
    d.ctx.fail(fmt::format("{} must be a list, got {}", path, detail::describeKind(*node)),
               node->pos);
    return;
  }
  for (std::size_t i = 0; i < node->items.size() && d.ctx.ok(); ++i) {
    fn(node->items[i], fmt::format("{}[{}]", path, i));
  }
}

std::vector<RouteDestination> readRouteDestinations(Doc& d, const YNode* node,
                                                    const std::string& path, bool http) {
  std::vector<RouteDestination> out;
  forEachItem(d, node, path, [&](const YNode& item, const std::string& p) {
    Fields f(d.ctx, item, d.what(p));
    RouteDestination rd;
    const YNode* destination = f.get("destination");
    if (destination == nullptr && d.ctx.ok()) {
      d.ctx.fail(fmt::format("missing required field \"destination\" in {}", d.what(p)), item.pos);
    }
    rd.destination = readDestination(d, destination, p + ".destination");
    if (auto w = f.integer("weight", 0, 100)) rd.weight = static_cast<std::int32_t>(*w);
    if (http) rd.headers = readHeaders(d, f.get("headers"), p + ".headers");
    f.finish();
    out.push_back(std::move(rd));
  });
  return out;
}

// An HTTPRetry: VirtualService `http[].retries`, meshConfig.defaultHttpRetryPolicy.
HttpRetry readHttpRetry(Doc& d, const YNode& node, const std::string& what) {
  Fields rf(d.ctx, node, what);
  HttpRetry retry;
  if (auto a = rf.integer("attempts", 0, 1000000)) retry.attempts = static_cast<std::int32_t>(*a);
  retry.perTryTimeout = rf.duration("perTryTimeout");
  retry.retryOn = rf.str("retryOn").value_or("");
  checkRetryOn(d, rf.get("retryOn"), retry.retryOn);
  retry.retryRemoteLocalities = rf.boolean("retryRemoteLocalities");
  // 1.26+: `backoff` is a duration (retry_back_off.base_interval), §R2.2.
  retry.retryIgnorePreviousHosts = rf.boolean("retryIgnorePreviousHosts");
  retry.backoff = rf.duration("backoff");
  rf.finish();
  return retry;
}

// Unset = 0 %: Istio sends the fault filter no percentage and nothing is injected
// (docs/istio-behaviour.md §R7).
double readPercent(Doc& d, Fields& f, const std::string& path) {
  double percent = 0;
  if (auto p = f.integer("percent", 0, 100)) percent = static_cast<double>(*p);
  if (const YNode* pct = f.get("percentage")) {
    Fields pf(d.ctx, *pct, d.what(path + ".percentage"));
    if (auto v = pf.number("value")) {
      if (*v < 0 || *v > 100) {
        d.ctx.fail("percentage.value must be between 0 and 100", pct->pos);
      }
      percent = *v;
    }
    pf.finish();
  }
  return percent;
}

HttpRoute readHttpRoute(Doc& d, const YNode& node, const std::string& path) {
  HttpRoute r;
  r.path = path;
  Fields f(d.ctx, node, d.what(path));
  r.name = f.str("name").value_or("");
  forEachItem(d, f.get("match"), path + ".match", [&](const YNode& item, const std::string& p) {
    Fields mf(d.ctx, item, d.what(p));
    HttpMatch m;
    m.name = mf.str("name").value_or("");
    m.uri = readStringMatch(d, mf.get("uri"), p + ".uri");
    m.scheme = readStringMatch(d, mf.get("scheme"), p + ".scheme");
    m.method = readStringMatch(d, mf.get("method"), p + ".method");
    m.authority = readStringMatch(d, mf.get("authority"), p + ".authority");
    m.headers = readStringMatchMap(d, mf.get("headers"), p + ".headers", true);
    m.withoutHeaders = readStringMatchMap(d, mf.get("withoutHeaders"), p + ".withoutHeaders", true);
    m.queryParams = readStringMatchMap(d, mf.get("queryParams"), p + ".queryParams", false);
    m.port = mf.port("port");
    m.gateways = resolveGateways(mf.strList("gateways"), d.ns);
    m.sourceLabels = mf.strMap("sourceLabels");
    m.sourceNamespace = mf.str("sourceNamespace").value_or("");
    m.ignoreUriCase = mf.boolean("ignoreUriCase").value_or(false);
    mf.accept({"statPrefix"});
    mf.finish();
    r.match.push_back(std::move(m));
  });
  r.route = readRouteDestinations(d, f.get("route"), path + ".route", true);
  if (const YNode* n = f.get("redirect")) {
    Fields rf(d.ctx, *n, d.what(path + ".redirect"));
    HttpRedirect redirect;
    redirect.uri = rf.str("uri").value_or("");
    redirect.authority = rf.str("authority").value_or("");
    redirect.scheme = rf.str("scheme").value_or("");
    redirect.port = rf.port("port");
    if (auto code = rf.integer("redirectCode", 300, 399)) {
      redirect.redirectCode = static_cast<std::uint32_t>(*code);
    }
    detail::readEnum<int>(d.ctx, rf.get("derivePort"), "redirect.derivePort",
                          {{"FROM_PROTOCOL_DEFAULT", 0}, {"FROM_REQUEST_PORT", 1}});
    rf.finish();
    r.redirect = redirect;
  }
  if (const YNode* n = f.get("directResponse")) {
    Fields df(d.ctx, *n, d.what(path + ".directResponse"));
    HttpDirectResponse response;
    const YNode* status = df.get("status");
    if (status == nullptr && d.ctx.ok()) {
      d.ctx.fail("missing required field \"status\" in " + d.what(path + ".directResponse"),
                 n->pos);
    } else if (status != nullptr) {
      if (auto s = detail::readInt(d.ctx, *status, "directResponse.status", 200, 599)) {
        response.status = static_cast<std::uint32_t>(*s);
      }
    }
    if (const YNode* body = df.get("body")) {
      Fields bf(d.ctx, *body, d.what(path + ".directResponse.body"));
      response.body = bf.str("string").value_or(bf.str("bytes").value_or(""));
      bf.finish();
    }
    df.finish();
    r.directResponse = response;
  }
  if (const YNode* n = f.get("rewrite")) {
    Fields rf(d.ctx, *n, d.what(path + ".rewrite"));
    HttpRewrite rewrite;
    rewrite.uri = rf.str("uri").value_or("");
    rewrite.authority = rf.str("authority").value_or("");
    if (const YNode* rr = rf.get("uriRegexRewrite")) {
      detail::checkShape(d.ctx, *rr, kUriRegexRewrite, d.what(path + ".rewrite.uriRegexRewrite"));
      if (const YNode* match = rr->isMap() ? rr->find("match") : nullptr;
          match != nullptr && match->isScalar()) {
        checkRegex(d, match, match->scalar, path + ".rewrite.uriRegexRewrite.match");
      }
    }
    rf.finish();
    r.rewrite = rewrite;
  }
  r.timeout = f.duration("timeout");
  if (const YNode* n = f.get("retries"))
    r.retries = readHttpRetry(d, *n, d.what(path + ".retries"));
  if (const YNode* n = f.get("fault")) {
    Fields ff(d.ctx, *n, d.what(path + ".fault"));
    HttpFaultInjection fault;
    if (const YNode* delay = ff.get("delay")) {
      Fields df(d.ctx, *delay, d.what(path + ".fault.delay"));
      HttpFaultInjection::Delay value;
      value.fixedDelay = df.duration("fixedDelay").value_or(Duration{0});
      df.duration("exponentialDelay");
      value.percent = readPercent(d, df, path + ".fault.delay");
      df.finish();
      fault.delay = value;
    }
    if (const YNode* abort = ff.get("abort")) {
      Fields af(d.ctx, *abort, d.what(path + ".fault.abort"));
      HttpFaultInjection::Abort value;
      if (auto s = af.integer("httpStatus", 200, 599)) {
        value.httpStatus = static_cast<std::int32_t>(*s);
      }
      value.grpcStatus = af.get("grpcStatus") != nullptr;
      af.accept({"grpcStatus", "http2Error"});
      value.percent = readPercent(d, af, path + ".fault.abort");
      af.finish();
      fault.abort = value;
    }
    ff.finish();
    r.fault = fault;
  }
  r.headers = readHeaders(d, f.get("headers"), path + ".headers");
  if (const YNode* n = f.get("mirror")) {
    const bool clean = d.ctx.ok();
    detail::checkShape(d.ctx, *n, kDestinationShape, d.what(path + ".mirror"));
    if (clean && d.ctx.ok() && n->kind == YNode::Kind::kMap) {
      r.mirrors.push_back({readDestination(d, n, path + ".mirror"), path + ".mirror"});
    }
  }
  if (const YNode* n = f.get("mirrors")) {
    const bool clean = d.ctx.ok();
    detail::checkShape(d.ctx, *n, kMirrorsShape, d.what(path + ".mirrors"));
    if (clean && d.ctx.ok() && n->kind == YNode::Kind::kSequence) {
      for (std::size_t i = 0; i < n->items.size(); ++i) {
        const YNode* dest = n->items[i].find("destination");
        if (dest == nullptr || dest->kind != YNode::Kind::kMap) continue;
        const std::string at = fmt::format("{}.mirrors[{}].destination", path, i);
        r.mirrors.push_back({readDestination(d, dest, at), at});
      }
    }
  }
  if (const YNode* n = f.get("mirrorPercentage")) {
    detail::checkShape(d.ctx, *n, kPercentage, d.what(path + ".mirrorPercentage"));
  }
  if (const YNode* n = f.get("corsPolicy")) {
    detail::checkShape(d.ctx, *n, kCorsShape, d.what(path + ".corsPolicy"));
    r.corsPolicy = true;
  }
  const YNode* delegate = f.get("delegate");
  if (delegate != nullptr) {
    detail::checkShape(d.ctx, *delegate, kDelegateShape, d.what(path + ".delegate"));
    if (d.ctx.ok() && delegate->isMap()) {
      Delegate target;
      if (const YNode* name = delegate->find("name")) {
        target.name = detail::readStr(d.ctx, *name, "delegate.name");
      }
      if (const YNode* ns = delegate->find("namespace")) {
        target.ns = detail::readStr(d.ctx, *ns, "delegate.namespace");
      }
      if (target.name.empty() && d.ctx.ok()) {
        d.ctx.fail(fmt::format("missing required field \"name\" in {}", d.what(path + ".delegate")),
                   delegate->pos);
      }
      if (target.ns.empty()) target.ns = d.ns;
      r.delegatesTo = target;
    }
    if (d.ctx.ok() && (!r.route.empty() || r.redirect || r.directResponse)) {
      d.ctx.fail(fmt::format("{}: a route with delegate takes no route, redirect or "
                             "directResponse",
                             d.what(path)),
                 delegate->pos);
    }
  }
  f.accept({"mirrorPercent", "mirror_percent"});
  f.finish();
  // Istio validation: an HTTP route needs somewhere to go.
  if (d.ctx.ok() && r.route.empty() && !r.redirect && !r.directResponse && delegate == nullptr) {
    d.ctx.fail(fmt::format("{}: an HTTP route needs one of route, redirect, directResponse or "
                           "delegate",
                           d.what(path)),
               node.pos);
  }
  return r;
}

L4Route readL4Route(Doc& d, const YNode& node, const std::string& path, bool tls) {
  L4Route r;
  r.path = path;
  Fields f(d.ctx, node, d.what(path));
  forEachItem(d, f.get("match"), path + ".match", [&](const YNode& item, const std::string& p) {
    Fields mf(d.ctx, item, d.what(p));
    L4Match m;
    m.destinationSubnets = mf.strList("destinationSubnets");
    m.port = mf.port("port");
    if (tls) {
      m.sniHosts = mf.strList("sniHosts");
      if (m.sniHosts.empty() && d.ctx.ok()) {
        d.ctx.fail(fmt::format("missing required field \"sniHosts\" in {}", d.what(p)), item.pos);
      }
    } else {
      mf.accept({"sourceSubnet"});
    }
    m.sourceLabels = mf.strMap("sourceLabels");
    m.gateways = resolveGateways(mf.strList("gateways"), d.ns);
    m.sourceNamespace = mf.str("sourceNamespace").value_or("");
    mf.finish();
    r.match.push_back(std::move(m));
  });
  r.route = readRouteDestinations(d, f.get("route"), path + ".route", false);
  f.finish();
  return r;
}

void readVirtualService(Doc& d, const YNode& spec, VirtualService& vs) {
  Fields f(d.ctx, spec, d.what("spec"));
  vs.hosts = f.strList("hosts");
  vs.gatewaysAsWritten = f.strList("gateways");
  // §2: resolved at load as istiod does; no gateways means the mesh.
  vs.gateways = resolveGateways(vs.gatewaysAsWritten, d.ns);
  if (vs.gateways.empty()) vs.gateways = {"mesh"};
  forEachItem(d, f.get("http"), "spec.http", [&](const YNode& item, const std::string& p) {
    vs.http.push_back(readHttpRoute(d, item, p));
  });
  forEachItem(d, f.get("tls"), "spec.tls", [&](const YNode& item, const std::string& p) {
    vs.tls.push_back(readL4Route(d, item, p, true));
  });
  forEachItem(d, f.get("tcp"), "spec.tcp", [&](const YNode& item, const std::string& p) {
    vs.tcp.push_back(readL4Route(d, item, p, false));
  });
  vs.exportTo = f.strList("exportTo");
  f.finish();
  if (!d.ctx.ok() || !vs.isDelegate()) return;
  // A VS without hosts is a delegate (Istio's validation, delegation on by default since 1.6):
  // it may only hold http routes, bound through the parent, and no further delegation.
  const auto failAt = [&](const std::string& message, const std::string& path) {
    d.ctx.fail(fmt::format("delegate VirtualService (no hosts): {}", message), vs.origin.at(path));
  };
  if (!vs.gatewaysAsWritten.empty()) {
    failAt("gateways must not be set (the parent VirtualService binds them)", "spec.gateways");
  } else if (!vs.tls.empty()) {
    failAt("tls routes are not allowed", "spec.tls");
  } else if (!vs.tcp.empty()) {
    failAt("tcp routes are not allowed", "spec.tcp");
  } else {
    for (const auto& r : vs.http) {
      if (r.delegatesTo) {
        failAt("its http routes cannot delegate again", r.path + ".delegate");
        break;
      }
    }
  }
}

Port readPort(Doc& d, const YNode& node, const std::string& path, bool nameRequired) {
  Port port;
  Fields f(d.ctx, node, d.what(path));
  const YNode* number = f.get("number");
  if (number == nullptr && d.ctx.ok()) {
    d.ctx.fail(fmt::format("missing required field \"number\" in {}", d.what(path)), node.pos);
  } else if (number != nullptr) {
    if (auto n = detail::readInt(d.ctx, *number, path + ".number", 1, 65535)) {
      port.number = static_cast<std::uint32_t>(*n);
    }
  }
  port.name = nameRequired ? f.requiredStr("name") : f.str("name").value_or("");
  const YNode* protocol = f.get("protocol");
  if (protocol != nullptr) {
    port.protocolText = detail::readStr(d.ctx, *protocol, path + ".protocol");
    port.protocol = parseProtocol(port.protocolText);  // §5: case-insensitive
    if (port.protocol == Protocol::kUnsupported && d.ctx.ok()) {
      d.ctx.fail(fmt::format("invalid value \"{}\" for {}.protocol; valid values: HTTP, HTTPS, "
                             "HTTP2, GRPC, GRPC-WEB, TLS, TCP, MONGO, REDIS, MYSQL, UDP "
                             "(case-insensitive)",
                             port.protocolText, path),
                 protocol->pos);
    }
  } else if (nameRequired && d.ctx.ok()) {
    d.ctx.fail(fmt::format("missing required field \"protocol\" in {}", d.what(path)), node.pos);
  }
  port.targetPort = f.port("targetPort");
  f.finish();
  return port;
}

void readGateway(Doc& d, const YNode& spec, Gateway& gw) {
  Fields f(d.ctx, spec, d.what("spec"));
  gw.selector = f.strMap("selector");
  const YNode* servers = f.get("servers");
  forEachItem(d, servers, "spec.servers", [&](const YNode& item, const std::string& p) {
    Fields sf(d.ctx, item, d.what(p));
    GatewayServer server;
    server.path = p;
    const YNode* port = sf.get("port");
    if (port == nullptr && d.ctx.ok()) {
      d.ctx.fail(fmt::format("missing required field \"port\" in {}", d.what(p)), item.pos);
    } else if (port != nullptr) {
      server.port = readPort(d, *port, p + ".port", true);
    }
    server.hosts = sf.strList("hosts");
    if (server.hosts.empty() && d.ctx.ok()) {
      d.ctx.fail(fmt::format("missing required field \"hosts\" in {}", d.what(p)), item.pos);
    }
    if (const YNode* tls = sf.get("tls")) {
      Fields tf(d.ctx, *tls, d.what(p + ".tls"));
      ServerTls t;
      t.httpsRedirect = tf.boolean("httpsRedirect").value_or(false);
      t.mode =
          detail::readEnum<ServerTlsMode>(d.ctx, tf.get("mode"), "tls.mode",
                                          {{"PASSTHROUGH", ServerTlsMode::kPassthrough},
                                           {"SIMPLE", ServerTlsMode::kSimple},
                                           {"MUTUAL", ServerTlsMode::kMutual},
                                           {"AUTO_PASSTHROUGH", ServerTlsMode::kAutoPassthrough},
                                           {"ISTIO_MUTUAL", ServerTlsMode::kIstioMutual},
                                           {"OPTIONAL_MUTUAL", ServerTlsMode::kOptionalMutual}});
      t.credentialName = tf.str("credentialName").value_or("");
      t.serverCertificate = tf.str("serverCertificate").value_or("");
      t.privateKey = tf.str("privateKey").value_or("");
      t.caCertificates = tf.str("caCertificates").value_or("");
      t.subjectAltNames = tf.strList("subjectAltNames");
      const auto tlsVersion = [&](std::string_view key) {
        const YNode* n = tf.get(key);
        detail::readEnum<int>(
            d.ctx, n, "tls." + std::string(key),
            {{"TLS_AUTO", 0}, {"TLSV1_0", 1}, {"TLSV1_1", 2}, {"TLSV1_2", 3}, {"TLSV1_3", 4}});
        return n != nullptr ? detail::readStr(d.ctx, *n, key) : std::string();
      };
      t.minProtocolVersion = tlsVersion("minProtocolVersion");
      t.maxProtocolVersion = tlsVersion("maxProtocolVersion");
      tf.accept({"caCrl", "credentialNames", "tlsCertificates", "verifyCertificateSpki",
                 "verifyCertificateHash", "cipherSuites"});
      tf.finish();
      server.tls = t;
    } else if ((server.port.protocol == Protocol::kHttps ||
                server.port.protocol == Protocol::kTls) &&
               d.ctx.ok()) {
      d.ctx.fail(fmt::format("{}: a server with protocol {} needs tls settings", d.what(p),
                             server.port.protocolText),
                 item.pos);
    }
    server.name = sf.str("name").value_or("");
    server.bind = sf.str("bind").value_or("");
    sf.accept({"defaultEndpoint"});
    sf.finish();
    gw.servers.push_back(std::move(server));
  });
  f.finish();
  if (d.ctx.ok() && gw.servers.empty()) {
    d.ctx.fail("missing required field \"servers\" in Gateway spec",
               servers != nullptr ? servers->pos : spec.pos);
  }
}

void readServiceEntry(Doc& d, const YNode& spec, ServiceEntry& se) {
  Fields f(d.ctx, spec, d.what("spec"));
  se.hosts = f.strList("hosts");
  se.addresses = f.strList("addresses");
  const YNode* ports = f.get("ports");
  forEachItem(d, ports, "spec.ports", [&](const YNode& item, const std::string& p) {
    // Istio's ServiceEntry validation: every port needs a DNS-label name and a known protocol.
    se.ports.push_back(readPort(d, item, p, true));
  });
  se.location = detail::readEnum<Location>(d.ctx, f.get("location"), "location",
                                           {{"MESH_EXTERNAL", Location::kMeshExternal},
                                            {"MESH_INTERNAL", Location::kMeshInternal}})
                    .value_or(Location::kMeshExternal);
  se.resolution = detail::readEnum<Resolution>(d.ctx, f.get("resolution"), "resolution",
                                               {{"NONE", Resolution::kNone},
                                                {"STATIC", Resolution::kStatic},
                                                {"DNS", Resolution::kDns},
                                                {"DNS_ROUND_ROBIN", Resolution::kDnsRoundRobin}})
                      .value_or(Resolution::kNone);
  forEachItem(
      d, f.get("endpoints"), "spec.endpoints", [&](const YNode& item, const std::string& p) {
        Fields ef(d.ctx, item, d.what(p));
        WorkloadEntrySpec e;
        e.address = ef.str("address").value_or("");
        if (const YNode* portMap = ef.get("ports"); portMap != nullptr && portMap->isMap()) {
          for (const auto& entry : portMap->entries) {
            if (auto n = detail::readInt(d.ctx, entry.value, p + ".ports." + entry.key, 1, 65535)) {
              e.ports[entry.key] = static_cast<std::uint32_t>(*n);
            }
          }
        } else if (portMap != nullptr && !portMap->isNull()) {
          d.ctx.fail(p + ".ports must be a map of port name to number", portMap->pos);
        }
        e.labels = ef.strMap("labels");
        e.network = ef.str("network").value_or("");
        e.locality = ef.str("locality").value_or("");
        if (auto w = ef.integer("weight", 0, 4294967295LL))
          e.weight = static_cast<std::uint32_t>(*w);
        e.serviceAccount = ef.str("serviceAccount").value_or("");
        ef.finish();
        se.endpoints.push_back(std::move(e));
      });
  if (const YNode* selector = f.get("workloadSelector")) {
    Fields wf(d.ctx, *selector, d.what("spec.workloadSelector"));
    se.workloadSelector = wf.strMap("labels");
    wf.finish();
  }
  se.exportTo = f.strList("exportTo");
  se.subjectAltNames = f.strList("subjectAltNames");
  f.finish();
  if (!d.ctx.ok()) return;
  if (se.hosts.empty()) {
    d.ctx.fail("missing required field \"hosts\" in ServiceEntry spec", spec.pos);
  } else if (se.ports.empty() && se.resolution != Resolution::kNone) {
    d.ctx.fail("missing required field \"ports\" in ServiceEntry spec: resolution " +
                   std::string(se.resolution == Resolution::kStatic ? "STATIC" : "DNS") +
                   " needs at least one port",
               spec.pos);
  } else if (se.resolution == Resolution::kStatic && se.endpoints.empty() &&
             se.workloadSelector.empty()) {
    d.ctx.fail("ServiceEntry spec: resolution STATIC needs endpoints or a workloadSelector",
               spec.pos);
  }
}

std::optional<ClientTls> readClientTls(Doc& d, const YNode* node, const std::string& path) {
  if (node == nullptr) return std::nullopt;
  Fields f(d.ctx, *node, d.what(path));
  ClientTls tls;
  tls.mode = detail::readEnum<ClientTlsMode>(d.ctx, f.get("mode"), "tls.mode",
                                             {{"DISABLE", ClientTlsMode::kDisable},
                                              {"SIMPLE", ClientTlsMode::kSimple},
                                              {"MUTUAL", ClientTlsMode::kMutual},
                                              {"ISTIO_MUTUAL", ClientTlsMode::kIstioMutual}})
                 .value_or(ClientTlsMode::kDisable);
  tls.sni = f.str("sni").value_or("");
  tls.caCertificates = f.str("caCertificates").value_or("");
  tls.credentialName = f.str("credentialName").value_or("");
  tls.clientCertificate = f.str("clientCertificate").value_or("");
  tls.privateKey = f.str("privateKey").value_or("");
  tls.subjectAltNames = f.strList("subjectAltNames");
  tls.insecureSkipVerify = f.boolean("insecureSkipVerify");
  f.accept({"caCrl"});
  f.finish();
  return tls;
}

std::optional<LoadBalancerSettings> readLoadBalancer(Doc& d, const YNode* node,
                                                     const std::string& path) {
  if (node == nullptr) return std::nullopt;
  Fields f(d.ctx, *node, d.what(path));
  LoadBalancerSettings lb;
  const YNode* simple = f.get("simple");
  detail::readEnum<int>(d.ctx, simple, "loadBalancer.simple",
                        {{"UNSPECIFIED", 0},
                         {"LEAST_CONN", 1},
                         {"RANDOM", 2},
                         {"PASSTHROUGH", 3},
                         {"ROUND_ROBIN", 4},
                         {"LEAST_REQUEST", 5}});
  if (simple != nullptr) lb.simple = detail::readStr(d.ctx, *simple, "simple");
  if (const YNode* n = f.get("consistentHash")) {
    detail::checkShape(d.ctx, *n, kConsistentHash, d.what(path + ".consistentHash"));
    lb.consistentHash = true;
  }
  if (const YNode* n = f.get("localityLbSetting")) {
    detail::checkShape(d.ctx, *n, kLocalityLb, d.what(path + ".localityLbSetting"));
  }
  if (const YNode* n = f.get("warmup")) {
    detail::checkShape(d.ctx, *n, kWarmup, d.what(path + ".warmup"));
  }
  f.accept({"warmupDurationSecs"});
  f.finish();
  lb.raw = detail::toJson(*node);
  return lb;
}

std::optional<ConnectionPoolSettings> readConnectionPool(Doc& d, const YNode* node,
                                                         const std::string& path) {
  if (node == nullptr) return std::nullopt;
  Fields f(d.ctx, *node, d.what(path));
  ConnectionPoolSettings cp;
  constexpr std::int64_t kMax = 2147483647;
  if (const YNode* tcp = f.get("tcp")) {
    Fields tf(d.ctx, *tcp, d.what(path + ".tcp"));
    if (auto v = tf.integer("maxConnections", 0, kMax)) {
      cp.maxConnections = static_cast<std::int32_t>(*v);
    }
    cp.connectTimeout = tf.duration("connectTimeout");
    cp.idleTimeout = tf.duration("idleTimeout");
    tf.duration("maxConnectionDuration");
    if (const YNode* ka = tf.get("tcpKeepalive")) {
      detail::checkShape(d.ctx, *ka, kTcpKeepalive, d.what(path + ".tcp.tcpKeepalive"));
    }
    tf.finish();
  }
  if (const YNode* http = f.get("http")) {
    Fields hf(d.ctx, *http, d.what(path + ".http"));
    if (auto v = hf.integer("http1MaxPendingRequests", 0, kMax)) {
      cp.http1MaxPendingRequests = static_cast<std::int32_t>(*v);
    }
    if (auto v = hf.integer("http2MaxRequests", 0, kMax)) {
      cp.http2MaxRequests = static_cast<std::int32_t>(*v);
    }
    if (auto v = hf.integer("maxRequestsPerConnection", 0, kMax)) {
      cp.maxRequestsPerConnection = static_cast<std::int32_t>(*v);
    }
    if (auto v = hf.integer("maxRetries", 0, kMax)) cp.maxRetries = static_cast<std::int32_t>(*v);
    if (auto idle = hf.duration("idleTimeout")) cp.idleTimeout = idle;
    detail::readEnum<int>(d.ctx, hf.get("h2UpgradePolicy"), "http.h2UpgradePolicy",
                          {{"DEFAULT", 0}, {"DO_NOT_UPGRADE", 1}, {"UPGRADE", 2}});
    hf.accept({"useClientProtocol", "maxConcurrentStreams"});
    hf.finish();
  }
  f.finish();
  cp.raw = detail::toJson(*node);
  return cp;
}

std::optional<OutlierDetection> readOutlier(Doc& d, const YNode* node, const std::string& path) {
  if (node == nullptr) return std::nullopt;
  Fields f(d.ctx, *node, d.what(path));
  OutlierDetection od;
  constexpr std::int64_t kMax = 2147483647;
  if (auto v = f.integer("consecutive5xxErrors", 0, kMax)) {
    od.consecutive5xxErrors = static_cast<std::int32_t>(*v);
  }
  if (auto v = f.integer("consecutiveGatewayErrors", 0, kMax)) {
    od.consecutiveGatewayErrors = static_cast<std::int32_t>(*v);
  }
  od.interval = f.duration("interval");
  od.baseEjectionTime = f.duration("baseEjectionTime");
  if (auto v = f.integer("maxEjectionPercent", 0, 100)) {
    od.maxEjectionPercent = static_cast<std::int32_t>(*v);
  }
  f.accept({"splitExternalLocalOriginErrors", "consecutiveLocalOriginFailures", "consecutiveErrors",
            "minHealthPercent"});
  f.finish();
  od.raw = detail::toJson(*node);
  return od;
}

std::optional<TrafficPolicy> readTrafficPolicy(Doc& d, const YNode* node, const std::string& path) {
  if (node == nullptr) return std::nullopt;
  Fields f(d.ctx, *node, d.what(path));
  TrafficPolicy tp;
  tp.path = path;
  tp.loadBalancer = readLoadBalancer(d, f.get("loadBalancer"), path + ".loadBalancer");
  tp.connectionPool = readConnectionPool(d, f.get("connectionPool"), path + ".connectionPool");
  tp.outlierDetection = readOutlier(d, f.get("outlierDetection"), path + ".outlierDetection");
  tp.tls = readClientTls(d, f.get("tls"), path + ".tls");
  forEachItem(
      d, f.get("portLevelSettings"), path + ".portLevelSettings",
      [&](const YNode& item, const std::string& p) {
        Fields pf(d.ctx, item, d.what(p));
        PortTrafficPolicy ptp;
        ptp.path = p;
        const YNode* port = pf.get("port");
        if (port == nullptr && d.ctx.ok()) {
          d.ctx.fail(fmt::format("missing required field \"port\" in {}", d.what(p)), item.pos);
        } else if (port != nullptr) {
          Fields portFields(d.ctx, *port, d.what(p + ".port"));
          if (auto n = portFields.port("number")) ptp.port = *n;
          portFields.finish();
        }
        ptp.loadBalancer = readLoadBalancer(d, pf.get("loadBalancer"), p + ".loadBalancer");
        ptp.connectionPool = readConnectionPool(d, pf.get("connectionPool"), p + ".connectionPool");
        ptp.outlierDetection = readOutlier(d, pf.get("outlierDetection"), p + ".outlierDetection");
        ptp.tls = readClientTls(d, pf.get("tls"), p + ".tls");
        pf.finish();
        tp.portLevelSettings.push_back(std::move(ptp));
      });
  if (const YNode* n = f.get("tunnel"))
    detail::checkShape(d.ctx, *n, kTunnel, d.what(path + ".tunnel"));
  if (const YNode* n = f.get("proxyProtocol")) {
    detail::checkShape(d.ctx, *n, kProxyProtocol, d.what(path + ".proxyProtocol"));
  }
  if (const YNode* n = f.get("retryBudget")) {
    detail::checkShape(d.ctx, *n, kRetryBudget, d.what(path + ".retryBudget"));
  }
  f.finish();
  return tp;
}

void readDestinationRule(Doc& d, const YNode& spec, DestinationRule& dr) {
  Fields f(d.ctx, spec, d.what("spec"));
  dr.host = f.requiredStr("host");
  dr.trafficPolicy = readTrafficPolicy(d, f.get("trafficPolicy"), "spec.trafficPolicy");
  forEachItem(d, f.get("subsets"), "spec.subsets", [&](const YNode& item, const std::string& p) {
    Fields sf(d.ctx, item, d.what(p));
    Subset subset;
    subset.path = p;
    subset.name = sf.requiredStr("name");
    subset.labels = sf.strMap("labels");
    subset.trafficPolicy = readTrafficPolicy(d, sf.get("trafficPolicy"), p + ".trafficPolicy");
    sf.finish();
    dr.subsets.push_back(std::move(subset));
  });
  dr.exportTo = f.strList("exportTo");
  if (const YNode* selector = f.get("workloadSelector")) {
    Fields wf(d.ctx, *selector, d.what("spec.workloadSelector"));
    dr.workloadSelector = wf.strMap("matchLabels");
    wf.finish();
  }
  f.finish();
}

std::optional<MtlsMode> readMtlsMode(Doc& d, const YNode& node, const std::string& path) {
  Fields f(d.ctx, node, d.what(path));
  auto mode = detail::readEnum<MtlsMode>(d.ctx, f.get("mode"), "mtls.mode",
                                         {{"UNSET", MtlsMode::kUnset},
                                          {"DISABLE", MtlsMode::kDisable},
                                          {"PERMISSIVE", MtlsMode::kPermissive},
                                          {"STRICT", MtlsMode::kStrict}});
  f.finish();
  return mode;
}

void readPeerAuthentication(Doc& d, const YNode& spec, PeerAuthentication& pa) {
  Fields f(d.ctx, spec, d.what("spec"));
  if (const YNode* selector = f.get("selector")) {
    Fields sf(d.ctx, *selector, d.what("spec.selector"));
    pa.selector = sf.strMap("matchLabels");
    sf.finish();
  }
  if (const YNode* mtls = f.get("mtls")) {
    pa.mode = readMtlsMode(d, *mtls, "spec.mtls").value_or(MtlsMode::kUnset);
  }
  if (const YNode* ports = f.get("portLevelMtls")) {
    if (!ports->isMap() && !ports->isNull()) {
      d.ctx.fail("portLevelMtls must be a map of port number to {mode}", ports->pos);
    }
    for (const auto& entry : ports->entries) {
      YNode keyNode;
      keyNode.kind = YNode::Kind::kScalar;
      keyNode.scalar = entry.key;
      keyNode.pos = entry.keyPos;
      auto port = detail::readInt(d.ctx, keyNode, "portLevelMtls port", 1, 65535);
      auto mode = readMtlsMode(d, entry.value, "spec.portLevelMtls." + entry.key);
      if (port)
        pa.portLevelMtls[static_cast<std::uint32_t>(*port)] = mode.value_or(MtlsMode::kUnset);
    }
  }
  f.finish();
}

// ------------------------------------------------------------------- Kubernetes objects
}  // namespace

namespace detail {

std::optional<Probe> readProbe(Ctx& ctx, const YNode& node, const std::string& what) {
  Fields f(ctx, node, what);
  Probe probe;
  probe.pos = node.pos;
  int handlers = 0;
  if (const YNode* exec = f.get("exec")) {
    Fields ef(ctx, *exec, what + ".exec");
    probe.kind = Probe::Kind::kExec;
    probe.command = ef.strList("command");
    ef.finish();
    ++handlers;
  }
  const auto portOf = [&](Fields& pf) {
    if (const YNode* port = pf.get("port")) {
      // A named port ("http-envoy-prom") stays 0: only numbers are modelled.
      if (port->isScalar() && !port->scalar.empty() &&
          std::isdigit(static_cast<unsigned char>(port->scalar[0]))) {
        if (auto n = readInt(ctx, *port, "port", 1, 65535)) {
          probe.port = static_cast<std::uint32_t>(*n);
        }
      } else if (!port->isScalar()) {
        ctx.fail(what + ": probe port must be a number or a port name", port->pos);
      }
    }
  };
  if (const YNode* http = f.get("httpGet")) {
    Fields hf(ctx, *http, what + ".httpGet");
    probe.kind = Probe::Kind::kHttpGet;
    probe.path = hf.str("path").value_or("");
    portOf(hf);
    probe.scheme = hf.str("scheme").value_or("HTTP");
    hf.accept({"host", "httpHeaders"});
    hf.finish();
    ++handlers;
  }
  if (const YNode* tcp = f.get("tcpSocket")) {
    Fields tf(ctx, *tcp, what + ".tcpSocket");
    probe.kind = Probe::Kind::kTcpSocket;
    portOf(tf);
    tf.accept({"host"});
    tf.finish();
    ++handlers;
  }
  f.accept({"grpc", "terminationGracePeriodSeconds"});
  constexpr std::int64_t kMax = 2147483647;
  if (auto v = f.integer("initialDelaySeconds", 0, kMax)) {
    probe.initialDelaySeconds = static_cast<std::int32_t>(*v);
  }
  if (auto v = f.integer("periodSeconds", 1, kMax))
    probe.periodSeconds = static_cast<std::int32_t>(*v);
  if (auto v = f.integer("timeoutSeconds", 1, kMax)) {
    probe.timeoutSeconds = static_cast<std::int32_t>(*v);
  }
  if (auto v = f.integer("successThreshold", 1, kMax)) {
    probe.successThreshold = static_cast<std::int32_t>(*v);
  }
  if (auto v = f.integer("failureThreshold", 1, kMax)) {
    probe.failureThreshold = static_cast<std::int32_t>(*v);
  }
  f.finish();
  if (!ctx.ok()) return std::nullopt;
  if (handlers > 1) {
    ctx.fail(what + ": a probe takes exactly one of exec, httpGet, tcpSocket", node.pos);
    return std::nullopt;
  }
  if (handlers == 0 && f.get("grpc") == nullptr) {
    ctx.fail(what + ": a probe needs one of exec, httpGet, tcpSocket", node.pos);
    return std::nullopt;
  }
  if (probe.kind == Probe::Kind::kExec && probe.command.empty()) {
    ctx.fail(what + ": exec.command must not be empty", node.pos);
    return std::nullopt;
  }
  return probe;
}

}  // namespace detail

namespace {

PodSpec readPodTemplate(Ctx& ctx, const YNode* metadata, const YNode* spec, const std::string& kind,
                        const std::string& path) {
  PodSpec pod;
  if (metadata != nullptr) {
    ObjectMeta meta;
    readMeta(ctx, metadata, meta, kind + " " + path);
    pod.labels = meta.labels;
    pod.annotations = meta.annotations;
  }
  if (spec == nullptr) return pod;
  Fields f(ctx, *spec, kind + " " + path + ".spec");
  pod.serviceAccountName =
      f.str("serviceAccountName").value_or(f.str("serviceAccount").value_or(""));
  const YNode* containers = f.get("containers");
  if (containers != nullptr && !containers->isSequence() && !containers->isNull()) {
    ctx.fail("containers must be a list", containers->pos);
    return pod;
  }
  if (containers == nullptr) return pod;
  for (std::size_t i = 0; i < containers->items.size() && ctx.ok(); ++i) {
    const std::string cpath = fmt::format("{} {}.spec.containers[{}]", kind, path, i);
    Fields cf(ctx, containers->items[i], cpath);
    Container c;
    c.name = cf.str("name").value_or("");
    c.image = cf.str("image").value_or("");
    c.command = cf.strList("command");
    c.args = cf.strList("args");
    if (const YNode* probe = cf.get("readinessProbe")) {
      c.readinessProbe = detail::readProbe(ctx, *probe, cpath + ".readinessProbe");
    }
    if (const YNode* ports = cf.get("ports"); ports != nullptr && ports->isSequence()) {
      for (const auto& port : ports->items) {
        Fields pf(ctx, port, cpath + ".ports");
        if (auto n = pf.port("containerPort")) c.ports.push_back(*n);
      }
    }
    // Containers have dozens of fields (env, resources, volumeMounts…): lenient.
    pod.containers.push_back(std::move(c));
  }
  return pod;
}

void readSecret(Ctx& ctx, const YNode& doc, Secret& secret) {
  Fields f(ctx, doc, "Secret");
  secret.type = f.str("type").value_or("Opaque");
  if (const YNode* data = f.get("data")) {
    for (const auto& [key, value] : detail::readStrMap(ctx, *data, "data")) {
      // base64 decode; bad base64 is an error at the value.
      static constexpr std::string_view kAlphabet =
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      std::string decoded;
      std::uint32_t buffer = 0;
      int bits = 0;
      bool bad = false;
      for (char ch : value) {
        if (ch == '=' || ch == '\n' || ch == '\r' || ch == ' ') continue;
        const auto idx = kAlphabet.find(ch);
        if (idx == std::string_view::npos) {
          bad = true;
          break;
        }
        buffer = (buffer << 6) | static_cast<std::uint32_t>(idx);
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          decoded.push_back(static_cast<char>((buffer >> bits) & 0xFF));
        }
      }
      if (bad) {
        const YNode* valueNode = data->find(key);
        ctx.fail(fmt::format("Secret data.{} is not valid base64", key),
                 valueNode != nullptr ? valueNode->pos : data->pos);
        return;
      }
      secret.data[key] = decoded;
    }
  }
  if (const YNode* stringData = f.get("stringData")) {
    for (auto& [key, value] : detail::readStrMap(ctx, *stringData, "stringData")) {
      secret.data[key] = value;
    }
  }
}

void readService(Ctx& ctx, const YNode* spec, Service& svc) {
  if (spec == nullptr) return;
  Fields f(ctx, *spec, "Service spec");
  svc.selector = f.strMap("selector");
  svc.type = f.str("type").value_or("ClusterIP");
  const YNode* ports = f.get("ports");
  if (ports == nullptr || ports->isNull()) return;
  if (!ports->isSequence()) {
    ctx.fail("Service spec.ports must be a list", ports->pos);
    return;
  }
  for (std::size_t i = 0; i < ports->items.size() && ctx.ok(); ++i) {
    Fields pf(ctx, ports->items[i], fmt::format("Service spec.ports[{}]", i));
    ServicePort port;
    port.name = pf.str("name").value_or("");
    const YNode* number = pf.get("port");
    if (number == nullptr) {
      ctx.fail(fmt::format("missing required field \"port\" in Service spec.ports[{}]", i),
               ports->items[i].pos);
      return;
    }
    if (auto n = detail::readInt(ctx, *number, "port", 1, 65535)) {
      port.port = static_cast<std::uint32_t>(*n);
    }
    if (const YNode* target = pf.get("targetPort");
        target != nullptr && target->isScalar() && !target->scalar.empty() &&
        std::isdigit(static_cast<unsigned char>(target->scalar[0]))) {
      if (auto n = detail::readInt(ctx, *target, "targetPort", 1, 65535)) {
        port.targetPort = static_cast<std::uint32_t>(*n);
      }
    }
    port.protocol = pf.str("protocol").value_or("TCP");
    port.appProtocol = pf.str("appProtocol").value_or("");
    svc.ports.push_back(std::move(port));
  }
}

// --------------------------------------------------------------------- IstioOperator
MeshConfig readMeshConfig(Doc& d, const YNode& node) {
  MeshConfig mc;
  // meshConfig has hundreds of fields across versions: free-form; the modelled ones typed.
  if (!node.isMap()) {
    if (!node.isNull()) d.ctx.fail("spec.meshConfig must be a map", node.pos);
    return mc;
  }
  if (const YNode* n = node.find("accessLogFile")) {
    mc.accessLogFile = detail::readStr(d.ctx, *n, "meshConfig.accessLogFile");
  }
  if (const YNode* n = node.find("accessLogEncoding")) {
    auto encoding = detail::readEnum<std::string>(d.ctx, n, "meshConfig.accessLogEncoding",
                                                  {{"TEXT", "TEXT"}, {"JSON", "JSON"}});
    if (encoding) mc.accessLogEncoding = *encoding;
  }
  if (const YNode* n = node.find("accessLogFormat")) {
    mc.accessLogFormat = detail::readStr(d.ctx, *n, "meshConfig.accessLogFormat");
  }
  if (const YNode* n = node.find("outboundTrafficPolicy")) {
    Fields f(d.ctx, *n, "IstioOperator spec.meshConfig.outboundTrafficPolicy");
    mc.outboundTrafficPolicy = detail::readEnum<OutboundTrafficPolicyMode>(
        d.ctx, f.get("mode"), "outboundTrafficPolicy.mode",
        {{"ALLOW_ANY", OutboundTrafficPolicyMode::kAllowAny},
         {"REGISTRY_ONLY", OutboundTrafficPolicyMode::kRegistryOnly}});
    f.accept({"egressProxy"});
    f.finish();
  }
  if (const YNode* n = node.find("enableAutoMtls")) {
    mc.enableAutoMtls = detail::readBool(d.ctx, *n, "meshConfig.enableAutoMtls");
  }
  if (const YNode* n = node.find("defaultHttpRetryPolicy")) {
    mc.defaultHttpRetryPolicy =
        readHttpRetry(d, *n, "IstioOperator spec.meshConfig.defaultHttpRetryPolicy");
  }
  if (const YNode* n = node.find("extensionProviders")) {
    mc.extensionProviders = detail::readExtensionProviders(d.ctx, *n);
  }
  mc.raw = detail::toJson(node);
  return mc;
}

constexpr std::string_view kReadinessPatchPath = "spec.template.spec.containers[0].readinessProbe";

void readK8s(Doc& d, const YNode& node, const std::string& path, GatewayComponent* gateway) {
  Fields f(d.ctx, node, d.what(path));
  // Values are Kubernetes structures (affinity, resources, hpaSpec…): accepted as written.
  f.accept({"affinity", "env", "hpaSpec", "imagePullPolicy", "nodeSelector", "podDisruptionBudget",
            "podAnnotations", "priorityClassName", "resources", "strategy", "tolerations",
            "serviceAnnotations", "securityContext", "volumes", "volumeMounts",
            "imagePullSecrets"});
  std::optional<Probe> probe;
  if (const YNode* n = f.get("readinessProbe")) {
    probe = detail::readProbe(d.ctx, *n, d.what(path + ".readinessProbe"));
  }
  std::optional<std::int32_t> replicas;
  if (auto v = f.integer("replicaCount", 0, 100000)) replicas = static_cast<std::int32_t>(*v);
  std::vector<Port> servicePorts;
  if (const YNode* service = f.get("service")) {
    Fields sf(d.ctx, *service, d.what(path + ".service"));
    forEachItem(d, sf.get("ports"), path + ".service.ports",
                [&](const YNode& item, const std::string& p) {
                  Fields pf(d.ctx, item, d.what(p));
                  Port port;
                  if (auto n = pf.port("port")) port.number = *n;
                  if (port.number == 0 && d.ctx.ok()) {
                    d.ctx.fail("missing required field \"port\" in " + d.what(p), item.pos);
                  }
                  if (const YNode* target = pf.get("targetPort");
                      target != nullptr && target->isScalar() && !target->scalar.empty() &&
                      std::isdigit(static_cast<unsigned char>(target->scalar[0]))) {
                    if (auto n = detail::readInt(d.ctx, *target, "targetPort", 1, 65535)) {
                      port.targetPort = static_cast<std::uint32_t>(*n);
                    }
                  }
                  port.name = pf.str("name").value_or("");
                  port.protocolText = pf.str("protocol").value_or("TCP");
                  port.protocol = parseProtocol(port.protocolText);
                  pf.accept({"nodePort", "appProtocol"});
                  // Kubernetes ServicePort: lenient beyond these.
                  servicePorts.push_back(std::move(port));
                });
    // The rest of a Service spec (type, loadBalancerIP, externalTrafficPolicy…) is free-form.
  }
  std::vector<K8sOverlay> overlays;
  std::optional<Probe> overlayProbe;
  forEachItem(
      d, f.get("overlays"), path + ".overlays", [&](const YNode& item, const std::string& p) {
        Fields of(d.ctx, item, d.what(p));
        K8sOverlay overlay;
        overlay.kind = of.requiredStr("kind");
        overlay.name = of.requiredStr("name");
        of.accept({"apiVersion"});
        forEachItem(d, of.get("patches"), p + ".patches",
                    [&](const YNode& patchNode, const std::string& pp) {
                      Fields pf(d.ctx, patchNode, d.what(pp));
                      K8sPatch patch;
                      patch.pos = patchNode.pos;
                      patch.path = pf.requiredStr("path");
                      if (const YNode* value = pf.get("value")) {
                        patch.value = detail::toJson(*value);
                        // The readiness probe users set this way is what the gateway runs (§7):
                        // validate it here, where its position is known.
                        if (gateway != nullptr && overlay.kind == "Deployment" &&
                            overlay.name == gateway->name && patch.path == kReadinessPatchPath) {
                          overlayProbe = detail::readProbe(d.ctx, *value, d.what(pp + ".value"));
                        }
                      }
                      pf.finish();
                      overlay.patches.push_back(std::move(patch));
                    });
        of.finish();
        overlays.push_back(std::move(overlay));
      });
  f.finish();
  if (gateway != nullptr) {
    gateway->readinessProbe = probe;
    gateway->replicaCount = replicas;
    gateway->servicePorts = std::move(servicePorts);
    gateway->overlays = std::move(overlays);
    gateway->overlayReadinessProbe = overlayProbe;
    gateway->k8s = detail::toJson(node);
  }
}

void readComponent(Doc& d, const YNode& node, const std::string& path,
                   std::optional<bool>* enabled) {
  Fields f(d.ctx, node, d.what(path));
  auto e = f.boolean("enabled");
  if (enabled != nullptr) *enabled = e;
  f.str("namespace");
  f.str("hub");
  f.get("tag");
  f.accept({"spec", "label"});
  if (const YNode* k8s = f.get("k8s")) readK8s(d, *k8s, path + ".k8s", nullptr);
  f.finish();
}

void readGatewayComponents(Doc& d, const YNode* node, const std::string& path, bool egress,
                           const std::string& installNamespace,
                           std::vector<GatewayComponent>& out) {
  forEachItem(d, node, path, [&](const YNode& item, const std::string& p) {
    Fields f(d.ctx, item, d.what(p));
    GatewayComponent g;
    g.egress = egress;
    g.path = p;
    g.name = f.str("name").value_or("");
    const std::string ns = f.str("namespace").value_or("");
    g.ns = !ns.empty() ? ns : !installNamespace.empty() ? installNamespace : "istio-system";
    g.enabled = f.boolean("enabled");
    g.label = f.strMap("label");
    f.str("hub");
    f.get("tag");
    if (const YNode* k8s = f.get("k8s")) readK8s(d, *k8s, p + ".k8s", &g);
    f.finish();
    out.push_back(std::move(g));
  });
}

void readIstioOperator(Doc& d, const YNode& spec, IstioOperator& iop) {
  Fields f(d.ctx, spec, d.what("spec"));
  iop.profile = f.str("profile").value_or("");
  iop.tag = f.str("tag").value_or("");
  iop.hub = f.str("hub").value_or("");
  iop.installNamespace = f.str("namespace").value_or("");
  iop.revision = f.str("revision").value_or("");
  if (const YNode* mc = f.get("meshConfig")) iop.meshConfig = readMeshConfig(d, *mc);
  if (const YNode* components = f.get("components")) {
    Fields cf(d.ctx, *components, d.what("spec.components"));
    if (const YNode* base = cf.get("base")) {
      readComponent(d, *base, "spec.components.base", &iop.baseEnabled);
    }
    if (const YNode* pilot = cf.get("pilot")) {
      readComponent(d, *pilot, "spec.components.pilot", &iop.pilotEnabled);
    }
    for (std::string_view other : {"cni", "ztunnel", "istiodRemote", "policy", "telemetry",
                                   "citadel", "galley", "sidecarInjector", "nodeAgent", "proxy"}) {
      if (const YNode* n = cf.get(other)) {
        readComponent(d, *n, "spec.components." + std::string(other), nullptr);
      }
    }
    readGatewayComponents(d, cf.get("ingressGateways"), "spec.components.ingressGateways", false,
                          iop.installNamespace, iop.ingressGateways);
    readGatewayComponents(d, cf.get("egressGateways"), "spec.components.egressGateways", true,
                          iop.installNamespace, iop.egressGateways);
    cf.finish();
  }
  if (const YNode* values = f.get("values")) iop.values = detail::toJson(*values);
  f.accept({"installPackagePath", "resourceSuffix", "compatibilityVersion", "defaultRevision",
            "addonComponents", "unvalidatedValues"});
  f.finish();
}

// ------------------------------------------------------------------------- dispatch
struct KindInfo {
  std::string_view group;
  std::vector<std::string_view> versions;  // empty: any
  std::vector<std::string_view> kinds;
  std::vector<std::string_view> unsimulatedKinds;
};

const std::vector<KindInfo>& knownGroups() {
  static const std::vector<KindInfo> groups = {
      {"networking.istio.io",
       {"v1alpha3", "v1beta1", "v1"},
       {"Gateway", "VirtualService", "ServiceEntry", "DestinationRule"},
       {"Sidecar", "EnvoyFilter", "WorkloadEntry", "WorkloadGroup", "ProxyConfig"}},
      {"security.istio.io",
       {"v1beta1", "v1"},
       {"PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication"},
       {}},
      {"telemetry.istio.io", {"v1alpha1", "v1"}, {}, {"Telemetry"}},
      {"extensions.istio.io", {"v1alpha1"}, {}, {"WasmPlugin"}},
      {"install.istio.io", {"v1alpha1"}, {"IstioOperator"}, {}},
      {"kind.x-k8s.io", {"v1alpha4"}, {"Cluster"}, {}},
  };
  return groups;
}

template <typename T>
T& initBase(T& resource, const std::string& apiVersion, const std::string& kind, Ctx& ctx,
            const YNode& doc, const std::string& file) {
  resource.apiVersion = apiVersion;
  resource.kind = kind;
  resource.origin.pos = doc.pos;
  resource.origin.pos.file = file;
  readMeta(ctx, doc.find("metadata"), resource.meta, kind);
  detail::recordPositions(doc, "", resource.origin);
  return resource;
}

void checkTopLevel(Ctx& ctx, const YNode& doc, const std::string& kind) {
  Fields f(ctx, doc, kind);
  f.accept({"apiVersion", "kind", "metadata", "spec", "status"});
  f.finish();
}

const YNode& specOf(Ctx& ctx, const YNode& doc, const std::string& kind, bool required) {
  static const YNode kEmpty{};
  const YNode* spec = doc.find("spec");
  if (spec == nullptr) {
    if (required) ctx.fail(fmt::format("missing required field \"spec\" in {}", kind), doc.pos);
    return kEmpty;
  }
  return *spec;
}

void parseUnit(const YNode& doc, const std::string& file, ResourceSet& out,
               std::vector<Error>& errors);

void parseObject(Ctx& ctx, const YNode& doc, const std::string& file, ResourceSet& out,
                 std::vector<Error>& errors) {
  Fields top(ctx, doc, "document");
  const std::string apiVersion = top.str("apiVersion").value_or("");
  const std::string kind = top.str("kind").value_or("");
  if (!ctx.ok()) return;
  if (apiVersion.empty()) {
    ctx.fail("missing required field \"apiVersion\"", doc.pos);
    return;
  }
  if (kind.empty()) {
    ctx.fail("missing required field \"kind\"", doc.pos);
    return;
  }
  const auto slash = apiVersion.find('/');
  const std::string group = slash == std::string::npos ? "" : apiVersion.substr(0, slash);
  const std::string version =
      slash == std::string::npos ? apiVersion : apiVersion.substr(slash + 1);
  const YNode* apiNode = doc.find("apiVersion");
  const YNode* kindNode = doc.find("kind");

  if (kind == "List" && group.empty()) {
    if (const YNode* items = doc.find("items"); items != nullptr && items->isSequence()) {
      // Each item is a resource of its own: one broken item leaves the others in.
      for (const auto& item : items->items) parseUnit(item, file, out, errors);
    }
    return;
  }

  for (const auto& info : knownGroups()) {
    if (info.group != group) continue;
    if (std::find(info.versions.begin(), info.versions.end(), version) == info.versions.end()) {
      std::string list;
      for (auto v : info.versions) list += (list.empty() ? "" : ", ") + std::string(v);
      ctx.fail(fmt::format("unsupported apiVersion \"{}\" for {}; valid versions: {}", apiVersion,
                           group, list),
               apiNode->pos);
      return;
    }
    const bool typed = std::find(info.kinds.begin(), info.kinds.end(), kind) != info.kinds.end();
    const bool unsimulated = std::find(info.unsimulatedKinds.begin(), info.unsimulatedKinds.end(),
                                       kind) != info.unsimulatedKinds.end();
    if (!typed && !unsimulated) {
      std::vector<std::string> names(info.kinds.begin(), info.kinds.end());
      names.insert(names.end(), info.unsimulatedKinds.begin(), info.unsimulatedKinds.end());
      ctx.fail(fmt::format("unknown kind \"{}\" in {}{}", kind, apiVersion,
                           detail::suggestion(kind, names, "known kinds")),
               kindNode->pos);
      return;
    }
    if (unsimulated) break;
    if (group == "kind.x-k8s.io") {
      KindCluster& cluster =
          initBase(out.kindClusters.emplace_back(), apiVersion, kind, ctx, doc, file);
      cluster.spec = detail::toJson(doc);
      return;
    }
    checkTopLevel(ctx, doc, kind);
    Doc d{ctx, kind, ""};
    if (kind == "IstioOperator") {
      IstioOperator& iop =
          initBase(out.istioOperators.emplace_back(), apiVersion, kind, ctx, doc, file);
      readIstioOperator(d, specOf(ctx, doc, kind, false), iop);
      return;
    }
    if (const YNode* meta = doc.find("metadata"); meta != nullptr && meta->isMap()) {
      if (const YNode* ns = meta->find("namespace"); ns != nullptr && ns->isScalar()) {
        d.ns = ns->scalar;
      }
    }
    if (d.ns.empty()) d.ns = "default";
    // An AuthorizationPolicy without spec is valid: ALLOW with no rules, "allow nothing" (§S1).
    const YNode& spec = specOf(ctx, doc, kind, kind != "AuthorizationPolicy");
    if (!ctx.ok()) return;
    if (kind == "Gateway") {
      readGateway(d, spec, initBase(out.gateways.emplace_back(), apiVersion, kind, ctx, doc, file));
    } else if (kind == "VirtualService") {
      readVirtualService(
          d, spec, initBase(out.virtualServices.emplace_back(), apiVersion, kind, ctx, doc, file));
    } else if (kind == "ServiceEntry") {
      readServiceEntry(
          d, spec, initBase(out.serviceEntries.emplace_back(), apiVersion, kind, ctx, doc, file));
    } else if (kind == "DestinationRule") {
      readDestinationRule(
          d, spec, initBase(out.destinationRules.emplace_back(), apiVersion, kind, ctx, doc, file));
    } else if (kind == "PeerAuthentication") {
      readPeerAuthentication(
          d, spec,
          initBase(out.peerAuthentications.emplace_back(), apiVersion, kind, ctx, doc, file));
    } else if (kind == "AuthorizationPolicy") {
      detail::readAuthorizationPolicy(
          ctx, spec,
          initBase(out.authorizationPolicies.emplace_back(), apiVersion, kind, ctx, doc, file));
    } else if (kind == "RequestAuthentication") {
      detail::readRequestAuthentication(
          ctx, spec,
          initBase(out.requestAuthentications.emplace_back(), apiVersion, kind, ctx, doc, file));
    }
    return;
  }

  // Core Kubernetes objects: read what the model needs, leniently.
  if (group.empty() && version == "v1") {
    if (kind == "Namespace") {
      initBase(out.namespaces.emplace_back(), apiVersion, kind, ctx, doc, file);
      return;
    }
    if (kind == "Secret") {
      readSecret(ctx, doc, initBase(out.secrets.emplace_back(), apiVersion, kind, ctx, doc, file));
      return;
    }
    if (kind == "Service") {
      readService(ctx, doc.find("spec"),
                  initBase(out.services.emplace_back(), apiVersion, kind, ctx, doc, file));
      return;
    }
    if (kind == "ServiceAccount") {
      initBase(out.serviceAccounts.emplace_back(), apiVersion, kind, ctx, doc, file);
      return;
    }
    if (kind == "Pod") {
      Pod& pod = initBase(out.pods.emplace_back(), apiVersion, kind, ctx, doc, file);
      pod.pod = readPodTemplate(ctx, doc.find("metadata"), doc.find("spec"), kind, "");
      return;
    }
  }
  if (group == "apps" && version == "v1" && kind == "Deployment") {
    Deployment& dep = initBase(out.deployments.emplace_back(), apiVersion, kind, ctx, doc, file);
    if (const YNode* spec = doc.find("spec")) {
      Fields f(ctx, *spec, "Deployment spec");
      if (auto r = f.integer("replicas", 0, 1000000)) dep.replicas = static_cast<std::int32_t>(*r);
      if (const YNode* selector = f.get("selector")) {
        Fields sf(ctx, *selector, "Deployment spec.selector");
        dep.selector = sf.strMap("matchLabels");
      }
      if (const YNode* tmpl = f.get("template")) {
        Fields tf(ctx, *tmpl, "Deployment spec.template");
        dep.pod = readPodTemplate(ctx, tf.get("metadata"), tf.get("spec"), kind, "spec.template");
      }
    }
    return;
  }
  // Anything else (ConfigMap, other CRDs…) is kept as written and reported as not simulated.
  UnsimulatedResource& other =
      initBase(out.unsimulated.emplace_back(), apiVersion, kind, ctx, doc, file);
  if (const YNode* spec = doc.find("spec")) {
    other.spec = detail::toJson(*spec);
  } else {
    other.spec = detail::toJson(doc);
  }
}

void parseDocument(Ctx& ctx, const YNode& doc, const std::string& file, ResourceSet& out,
                   std::vector<Error>& errors) {
  if (doc.isNull()) return;  // an empty document between `---` separators
  if (!doc.isMap()) {
    ctx.fail(fmt::format("a manifest document must be a map with apiVersion and kind, got {}",
                         detail::describeKind(doc)),
             doc.pos);
    return;
  }
  parseObject(ctx, doc, file, out, errors);
}

// One resource: read into a set of its own, kept only when it has no error (its first error
// goes to `errors`), so a broken resource never half-appears in the result.
void parseUnit(const YNode& doc, const std::string& file, ResourceSet& out,
               std::vector<Error>& errors) {
  Ctx ctx;
  ResourceSet one;
  parseDocument(ctx, doc, file, one, errors);
  if (ctx.clean()) {
    out.append(std::move(one));
  } else {
    errors.insert(errors.end(), ctx.errors().begin(), ctx.errors().end());
  }
}

// Parses one file's text into `out`; schema errors (one per resource) go to `errors`. Only a
// file that is not YAML at all is an error of its own.
Result<void> parseInto(std::string_view yaml, const std::string& file, const LoadOptions& options,
                       ResourceSet& out, std::vector<Error>& errors) {
  auto docs = detail::parseYamlDocuments(yaml, file);
  if (!docs) return std::unexpected(docs.error());
  for (auto& doc : *docs) {
    // Per scalar, after parsing: positions stay those of the file as written.
    if (auto r = detail::substituteTree(doc, options.vars, options.requireAllPlaceholders, yaml);
        !r) {
      errors.push_back(r.error());
      continue;
    }
    parseUnit(doc, file, out, errors);
  }
  return {};
}

// Strict: every error of the load in one report. Lenient: the errors ride along in the set.
Result<ResourceSet> finishLoad(ResourceSet&& out, std::vector<Error>&& errors,
                               const LoadOptions& options) {
  if (options.lenient) {
    out.invalid.insert(out.invalid.end(), std::make_move_iterator(errors.begin()),
                       std::make_move_iterator(errors.end()));
    return std::move(out);
  }
  if (!errors.empty()) return std::unexpected(detail::combineErrors(std::move(errors)));
  return std::move(out);
}

}  // namespace

Result<std::string> substitutePlaceholders(std::string_view text, const Vars& vars, bool requireAll,
                                           SourcePos where) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  int line = where.line;
  int column = where.column;
  std::size_t lineStart = 0;
  while (i < text.size()) {
    if (text[i] == '<') {
      std::size_t j = i + 1;
      while (j < text.size() &&
             ((text[j] >= 'a' && text[j] <= 'z') || (text[j] >= '0' && text[j] <= '9') ||
              text[j] == '-' || text[j] == '_' || text[j] == '.')) {
        ++j;
      }
      if (j > i + 1 && j < text.size() && text[j] == '>') {
        const std::string key(text.substr(i + 1, j - i - 1));
        if (auto it = vars.find(key); it != vars.end()) {
          out += it->second;
          i = j + 1;
          continue;
        }
        if (requireAll) {
          SourcePos pos = where;
          if (pos.line > 0) {
            pos.line = line;
            pos.column =
                (line == where.line ? column - 1 : 0) + static_cast<int>(i - lineStart) + 1;
          }
          return invalidInput(
              fmt::format("unresolved placeholder <{}>: add \"{}\" to the scenario's vars", key,
                          key),
              pos);
        }
      }
    }
    if (text[i] == '\n') {
      ++line;
      lineStart = i + 1;
    }
    out += text[i];
    ++i;
  }
  return out;
}

namespace {

// Splits raw YAML into runs of content and comment, by a line scanner that knows quotes and
// block scalars (enough for manifests; the parser remains the judge of validity).
std::vector<std::pair<std::string_view, bool>> yamlContentAndComments(std::string_view text) {
  std::vector<std::pair<std::string_view, bool>> out;  // (run, isComment)
  std::size_t runStart = 0;
  const auto emit = [&](std::size_t end, bool comment) {
    if (end > runStart) out.emplace_back(text.substr(runStart, end - runStart), comment);
    runStart = end;
  };
  char quote = 0;        // inside a '…' or "…" scalar (may span lines)
  int blockIndent = -1;  // inside a block scalar: lines indented more than this are text
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    const std::size_t firstNonSpace = line.find_first_not_of(' ');
    const int indent =
        firstNonSpace == std::string_view::npos ? -1 : static_cast<int>(firstNonSpace);
    if (blockIndent >= 0 && quote == 0) {
      if (indent < 0 || indent > blockIndent) {
        pos = eol + 1;
        continue;  // block scalar text, '#' included
      }
      blockIndent = -1;
    }
    std::size_t commentAt = std::string_view::npos;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quote != 0) {
        if (quote == '\'' && c == '\'' && i + 1 < line.size() && line[i + 1] == '\'') {
          ++i;  // '' inside single quotes
        } else if (quote == '"' && c == '\\') {
          ++i;
        } else if (c == quote) {
          quote = 0;
        }
        continue;
      }
      const bool tokenStart = i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t' ||
                              line[i - 1] == '[' || line[i - 1] == '{' || line[i - 1] == ',' ||
                              line[i - 1] == ':' || line[i - 1] == '-';
      if ((c == '\'' || c == '"') && tokenStart) {
        quote = c;
      } else if (c == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        commentAt = i;
        break;
      }
    }
    const std::string_view content = line.substr(0, commentAt);
    // A block scalar header ends its content: "key: |", "- >-", "key: |2".
    const std::size_t last = content.find_last_not_of(" \t");
    if (quote == 0 && last != std::string_view::npos) {
      std::size_t j = last;
      while (j > 0 && (content[j] == '-' || content[j] == '+' ||
                       std::isdigit(static_cast<unsigned char>(content[j])))) {
        --j;
      }
      if ((content[j] == '|' || content[j] == '>') &&
          (j == 0 || content[j - 1] == ' ' || content[j - 1] == '\t')) {
        blockIndent = indent;
      }
    }
    if (commentAt != std::string_view::npos) {
      emit(pos + commentAt, false);
      emit(eol, true);
    }
    pos = eol + 1;
  }
  emit(text.size(), false);
  return out;
}

}  // namespace

Result<std::string> substituteYamlText(std::string_view text, const Vars& vars, bool requireAll,
                                       SourcePos where) {
  std::string out;
  out.reserve(text.size());
  SourcePos at = where;  // the position of the current run, so columns stay exact
  for (const auto& [run, comment] : yamlContentAndComments(text)) {
    if (comment) {
      out += run;
    } else {
      auto substituted = substitutePlaceholders(run, vars, requireAll, at);
      if (!substituted) return std::unexpected(substituted.error());
      out += *substituted;
    }
    if (at.line > 0) {
      for (char c : run) {
        if (c == '\n') {
          ++at.line;
          at.column = 1;
        } else {
          ++at.column;
        }
      }
    }
  }
  return out;
}

Result<ResourceSet> parseManifests(std::string_view yaml, const std::string& file,
                                   const LoadOptions& options) {
  ResourceSet out;
  std::vector<Error> errors;
  if (auto r = parseInto(yaml, file, options, out, errors); !r) return std::unexpected(r.error());
  return finishLoad(std::move(out), std::move(errors), options);
}

Result<ResourceSet> loadManifests(const std::vector<std::filesystem::path>& paths,
                                  const LoadOptions& options) {
  ResourceSet out;
  std::vector<Error> errors;
  const auto loadFile = [&](const std::filesystem::path& path) -> Result<void> {
    auto text = readUserFile(path, "manifest", kMaxManifestBytes);
    if (!text) return std::unexpected(text.error());
    return parseInto(*text, path.string(), options, out, errors);
  };
  for (const auto& path : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
        const auto ext = entry.path().extension();
        if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml")) {
          files.push_back(entry.path());
        }
      }
      std::sort(files.begin(), files.end());
      for (const auto& file : files) {
        if (auto r = loadFile(file); !r) return std::unexpected(r.error());
      }
    } else if (auto r = loadFile(path); !r) {
      return std::unexpected(r.error());
    }
  }
  return finishLoad(std::move(out), std::move(errors), options);
}

}  // namespace egresslab::model
