// VirtualService http routes translated into Envoy routes, and the route configs of gateways
// (docs/istio-behaviour.md §2, §5).
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "harness/mesh/compile_internal.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/policy.h"
#include "harness/mesh/route_policy.h"
#include "harness/mesh/unsimulated.h"

namespace egresslab::mesh::compile_detail {

std::optional<std::uint32_t> Compiler::destinationPort(const model::Destination& d,
                                                       const std::string& host,
                                                       std::uint32_t fallback) const {
  if (d.port) return *d.port;
  if (const RegistryService* s = out_.findService(host); s != nullptr && s->ports.size() == 1) {
    return s->ports.front().port;
  }
  return fallback;
}

std::vector<Route> Compiler::translateRoute(const model::VirtualService& vs,
                                            const model::HttpRoute& hr,
                                            const RouteContext& ctx) const {
  const std::string vsNs = nsOrDefault(vs.meta.ns);
  std::vector<const model::HttpMatch*> matches;
  if (hr.match.empty()) {
    matches.push_back(nullptr);
  } else {
    for (const auto& m : hr.match) {
      // §2 sourceMatchHTTP: match.gateways (when set) must name the proxy's gateway ("mesh"
      // for sidecars); otherwise sourceLabels/sourceNamespace decide.
      if (!m.gateways.empty()) {
        if (std::find(m.gateways.begin(), m.gateways.end(), ctx.gatewayName) == m.gateways.end()) {
          continue;
        }
      } else {
        if (!m.sourceLabels.empty() && !selectorMatches(m.sourceLabels, ctx.proxyLabels)) {
          continue;
        }
        if (!m.sourceNamespace.empty() && m.sourceNamespace != ctx.proxyNs) continue;
      }
      if (m.port && *m.port != ctx.port) continue;
      matches.push_back(&m);
    }
    if (matches.empty()) return {};
  }
  std::vector<Route> out;
  for (const model::HttpMatch* m : matches) {
    Route r;
    r.name = hr.name;
    if (m != nullptr && !m->name.empty()) {
      r.name = hr.name.empty() ? m->name : hr.name + "." + m->name;
    }
    r.origin = vs.ref() + " " + hr.path;
    // §R7: the fault filter's per-route config, whatever the route's action.
    r.fault = routeFaultPolicy(hr.fault, fmt::format("{} {}.fault", vs.ref(), hr.path));
    if (m != nullptr) {
      if (m->uri) r.match.path = toMatcher(*m->uri, m->ignoreUriCase);
      for (const auto& [name, sm] : m->headers)
        r.match.headers.push_back({asciiLower(name), toMatcher(sm)});
      for (const auto& [name, sm] : m->withoutHeaders) {
        r.match.headers.push_back({asciiLower(name), toMatcher(sm), true});
      }
      if (m->method) r.match.headers.push_back({":method", toMatcher(*m->method)});
      if (m->authority) r.match.headers.push_back({":authority", toMatcher(*m->authority)});
      if (m->scheme) r.match.headers.push_back({":scheme", toMatcher(*m->scheme)});
      for (const auto& [name, sm] : m->queryParams)
        r.match.queryParams.push_back({name, toMatcher(sm)});
    }
    if (hr.redirect) {
      r.kind = Route::ActionKind::kRedirect;
      r.redirect.path = hr.redirect->uri;
      r.redirect.host = hr.redirect->authority;
      r.redirect.scheme = hr.redirect->scheme;
      r.redirect.port = hr.redirect->port.value_or(0);
      r.redirect.code = hr.redirect->redirectCode;
    } else if (hr.directResponse) {
      r.kind = Route::ActionKind::kDirectResponse;
      r.direct.status = hr.directResponse->status;
      r.direct.body = hr.directResponse->body;
    } else {
      r.kind = Route::ActionKind::kForward;
      ForwardAction& f = r.forward;
      for (const auto& rd : hr.route) {
        const std::string host = resolveHost(rd.destination.host, vsNs);
        const std::uint32_t port =
            destinationPort(rd.destination, host, ctx.port).value_or(ctx.port);
        WeightedCluster wc;
        wc.cluster = outboundClusterName(port, rd.destination.subset, host);
        wc.weight = rd.weight ? static_cast<std::uint32_t>(std::max(0, *rd.weight))
                              : (hr.route.size() == 1 ? 100u : 0u);
        wc.requestHeaders = toHeaderOps(rd.headers.request);
        wc.responseHeaders = toHeaderOps(rd.headers.response);
        f.clusters.push_back(std::move(wc));
      }
      // §R1, §R2: route timeout and retry policy (route_policy.h).
      f.timeout = routeTimeout(hr.timeout);
      f.retry = routeRetryPolicy(hr.retries, v_, meshDefaultRetry(out_.meshConfig, v_),
                                 fmt::format("{} {}.retries", vs.ref(), hr.path));
      if (hr.rewrite) {
        f.hostRewrite = hr.rewrite->authority;
        if (!hr.rewrite->uri.empty()) {
          if (m != nullptr && m->uri && m->uri->kind == model::StringMatch::Kind::kRegex) {
            f.fullPathRewrite = hr.rewrite->uri;
          } else {
            f.prefixRewrite = hr.rewrite->uri;
          }
        }
      }
      f.requestHeaders = toHeaderOps(hr.headers.request);
      f.responseHeaders = toHeaderOps(hr.headers.response);
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> Compiler::gatewayDomains(const std::string& host,
                                                  std::uint32_t port) const {
  std::vector<std::string> d{host};
  if (v_.atLeast(1, 15) || host == "*") return d;
  if (host.starts_with("*.")) {
    d.push_back(host + ":" + portString(port));
  } else {
    d.push_back(host + ":*");
  }
  return d;
}

bool Compiler::vsAttachedTo(const model::VirtualService& vs, const std::string& gatewayName) {
  if (vs.gateways.empty()) return gatewayName == "mesh";
  return std::find(vs.gateways.begin(), vs.gateways.end(), gatewayName) != vs.gateways.end();
}

std::string Compiler::stripNsPrefix(const std::string& host, std::string* nsOut) {
  auto slash = host.find('/');
  if (slash == std::string::npos) {
    if (nsOut != nullptr) *nsOut = "*";
    return host;
  }
  if (nsOut != nullptr) *nsOut = host.substr(0, slash);
  return host.substr(slash + 1);
}

std::vector<std::string> Compiler::matchingGatewayHosts(const model::GatewayServer& server,
                                                        const std::string& gwNs,
                                                        const model::VirtualService& vs) const {
  const std::string vsNs = nsOrDefault(vs.meta.ns);
  std::vector<std::string> hosts;
  for (const auto& serverHost : server.hosts) {
    std::string hostNs;
    std::string h = stripNsPrefix(serverHost, &hostNs);
    if (hostNs == ".") hostNs = gwNs;
    if (hostNs != "*" && hostNs != vsNs) continue;
    for (const auto& vsHost : vs.hosts) {
      if (auto i = intersectHosts(h, resolveHost(vsHost, vsNs))) {
        if (std::find(hosts.begin(), hosts.end(), *i) == hosts.end()) hosts.push_back(*i);
      }
    }
  }
  return hosts;
}

bool Compiler::isCatchAllRoute(const Route& r) {
  const bool anyPath =
      (r.match.path.kind == StringMatcher::Kind::kPrefix && r.match.path.value == "/") ||
      (r.match.path.kind == StringMatcher::Kind::kRegex && r.match.path.value == "*");
  return anyPath && r.match.headers.empty() && r.match.queryParams.empty();
}

void Compiler::sortCatchAllRoutesLast(std::vector<Route>& routes) {
  std::stable_partition(routes.begin(), routes.end(),
                        [](const Route& r) { return !isCatchAllRoute(r); });
}

RouteConfig Compiler::gatewayRouteConfig(const std::string& name,
                                         const std::vector<ServerRef>& servers,
                                         const WorkloadInstance& pod) const {
  RouteConfig rc;
  rc.name = name;
  rc.ignorePortInHostMatching = v_.atLeast(1, 15);  // §11.4
  rc.validateClusters = false;                      // §11.6
  const std::uint32_t port = servers.front().server->port.number;
  std::map<std::string, std::size_t> byHost;
  auto vhostFor = [&](const std::string& host) -> VirtualHost& {
    auto it = byHost.find(host);
    if (it != byHost.end()) return rc.virtualHosts[it->second];
    VirtualHost vh;
    vh.name = host + ":" + portString(port);
    vh.domains = gatewayDomains(host, port);
    rc.virtualHosts.push_back(std::move(vh));
    byHost[host] = rc.virtualHosts.size() - 1;
    return rc.virtualHosts.back();
  };
  std::set<std::string> gatewaysWithVs;
  // §5: 1.8.0–1.8.2 build every httpsRedirect server's hosts as route-less redirect vhosts and
  // ignore the VirtualServices bound to that server; 1.8.3 (istio/istio#29895) builds the VS
  // vhosts with require_tls instead.
  const bool redirectIgnoresVs = !v_.atLeast(1, 8, 3);
  for (const auto& ref : servers) {
    const bool redirect = ref.server->tls && ref.server->tls->httpsRedirect;
    if (redirect && redirectIgnoresVs) continue;
    const std::string gwNs = nsOrDefault(ref.gateway->meta.ns);
    for (const auto& vs : in_.resources.virtualServices) {
      if (!vsAttachedTo(vs, ref.gatewayName)) continue;
      gatewaysWithVs.insert(ref.gatewayName);
      // §5 (1.8.3–1.11): a plaintext redirect server with any VS bound still builds VS vhosts
      // with require_tls; with none bound it builds route-less redirect vhosts (below).
      const std::string vsNs = nsOrDefault(vs.meta.ns);
      std::vector<std::string> hosts = matchingGatewayHosts(*ref.server, gwNs, vs);
      if (hosts.empty()) continue;
      RouteContext ctx{ref.gatewayName, pod.ns, pod.labels, ref.server->port.number};
      std::vector<Route> routes;
      for (const auto& hr : vs.http) {
        auto rs = translateRoute(vs, hr, ctx);
        routes.insert(routes.end(), rs.begin(), rs.end());
      }
      // A VS with no route for this proxy and port ("no routes matched") builds no vhost: the
      // host stays free for another VS (a wildcard) or the redirect vhost (gateway.go `err →
      // continue`, 1.8 and 1.22).
      if (routes.empty()) continue;
      for (const auto& h : hosts) {
        VirtualHost& vh = vhostFor(h);
        const bool merged = !vh.routes.empty();
        vh.routes.insert(vh.routes.end(), routes.begin(), routes.end());
        // Several VSs merged into one vhost: catch-all routes go last, the others keep their
        // order (SortVHostRoutes 1.22, CombineVHostRoutes 1.8).
        if (merged) sortCatchAllRoutesLast(vh.routes);
        if (redirect) vh.requireTls = true;  // §5 require_tls: ALL
      }
    }
  }
  // httpsRedirect vhosts without routes (§5, §11.5): 1.8.0–1.8.2 for every redirect server
  // host; 1.12+ for every server host that has no vhost yet; 1.8.3–1.11 only when no
  // VirtualService at all is bound to that Gateway (so a bound VS that yields no route for
  // this port leaves the host without a vhost: 404 NR, istio/istio#32033).
  for (const auto& ref : servers) {
    if (!ref.server->tls || !ref.server->tls->httpsRedirect) continue;
    if (!redirectIgnoresVs && !v_.atLeast(1, 12) && gatewaysWithVs.contains(ref.gatewayName)) {
      continue;
    }
    for (const auto& serverHost : ref.server->hosts) {
      std::string h = stripNsPrefix(serverHost);
      if (byHost.contains(h)) {
        if (redirectIgnoresVs) vhostFor(h).requireTls = true;
        continue;
      }
      vhostFor(h).requireTls = true;
    }
  }
  // §1: no vhost at all → "blackhole:<port>", domain "*", no routes → 404 NR.
  if (rc.virtualHosts.empty()) {
    VirtualHost vh;
    vh.name = "blackhole:" + portString(port);
    vh.domains = {"*"};
    rc.virtualHosts.push_back(std::move(vh));
  }
  return rc;
}
}  // namespace egresslab::mesh::compile_detail
