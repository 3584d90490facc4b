#include "harness/mesh/config_json.h"

#include "harness/mesh/decisions.h"

namespace egresslab::mesh {
namespace {

using nlohmann::json;

json matcherJson(const StringMatcher& m) {
  json j;
  switch (m.kind) {
    case StringMatcher::Kind::kExact:
      j["exact"] = m.value;
      break;
    case StringMatcher::Kind::kPrefix:
      j["prefix"] = m.value;
      break;
    case StringMatcher::Kind::kRegex:
      j["regex"] = m.value;
      break;
    case StringMatcher::Kind::kPresent:
      j["present"] = true;
      break;
  }
  if (m.ignoreCase) j["ignoreCase"] = true;
  return j;
}

json headerOpsJson(const HeaderOps& ops) {
  json j = json::object();
  if (!ops.set.empty()) j["set"] = ops.set;
  if (!ops.add.empty()) j["add"] = ops.add;
  if (!ops.remove.empty()) j["remove"] = ops.remove;
  return j;
}

json retryJson(const RetryPolicy& r) {
  json j{{"numRetries", r.numRetries},
         {"retryOn", r.retryOn},
         {"fromVirtualService", r.fromVirtualService}};
  if (!r.retriableStatusCodes.empty()) j["retriableStatusCodes"] = r.retriableStatusCodes;
  if (r.perTryTimeout) j["perTryTimeoutMs"] = r.perTryTimeout->count();
  return j;
}

json routeJson(const Route& r) {
  json j{{"name", r.name}, {"origin", r.origin}};
  json m{{"path", matcherJson(r.match.path)}};
  for (const auto& h : r.match.headers) {
    json hj{{"name", h.name}, {"match", matcherJson(h.match)}};
    if (h.invert) hj["invert"] = true;
    m["headers"].push_back(hj);
  }
  for (const auto& q : r.match.queryParams) {
    m["queryParams"].push_back({{"name", q.name}, {"match", matcherJson(q.match)}});
  }
  j["match"] = m;
  switch (r.kind) {
    case Route::ActionKind::kForward: {
      json f;
      for (const auto& c : r.forward.clusters) {
        json cj{{"cluster", c.cluster}, {"weight", c.weight}};
        if (!c.requestHeaders.empty()) cj["requestHeaders"] = headerOpsJson(c.requestHeaders);
        if (!c.responseHeaders.empty()) cj["responseHeaders"] = headerOpsJson(c.responseHeaders);
        f["clusters"].push_back(cj);
      }
      f["timeoutMs"] = r.forward.timeout ? r.forward.timeout->count() : 0;
      f["retryPolicy"] = retryJson(r.forward.retry);
      if (!r.forward.hostRewrite.empty()) f["hostRewrite"] = r.forward.hostRewrite;
      if (!r.forward.prefixRewrite.empty()) f["prefixRewrite"] = r.forward.prefixRewrite;
      if (!r.forward.fullPathRewrite.empty()) f["fullPathRewrite"] = r.forward.fullPathRewrite;
      if (!r.forward.requestHeaders.empty()) {
        f["requestHeaders"] = headerOpsJson(r.forward.requestHeaders);
      }
      if (!r.forward.responseHeaders.empty()) {
        f["responseHeaders"] = headerOpsJson(r.forward.responseHeaders);
      }
      j["route"] = f;
      break;
    }
    case Route::ActionKind::kRedirect:
      j["redirect"] = {{"scheme", r.redirect.scheme},
                       {"host", r.redirect.host},
                       {"port", r.redirect.port},
                       {"path", r.redirect.path},
                       {"code", r.redirect.code}};
      break;
    case Route::ActionKind::kDirectResponse:
      j["directResponse"] = {{"status", r.direct.status}, {"body", r.direct.body}};
      break;
  }
  return j;
}

json upstreamTlsJson(const UpstreamTls& t) {
  return {{"mode", upstreamTlsModeName(t.mode)},
          {"sni", t.sni},
          {"autoSni", t.autoSni},
          {"verify", serverVerificationName(t.verify)},
          {"caCertificates", t.caCertificates},
          {"subjectAltNames", t.subjectAltNames},
          {"autoSanValidation", t.autoSanValidation},
          {"autoSniFromRewrittenHost", t.autoSniFromRewrittenHost},
          {"insecureSkipVerify", t.insecureSkipVerify},
          {"credentialName", t.credentialName},
          {"origin", t.origin}};
}

std::string_view targetKindName(EndpointTarget::Kind k) {
  switch (k) {
    case EndpointTarget::Kind::kUpstream:
      return "upstream";
    case EndpointTarget::Kind::kGatewayWorkload:
      return "gateway";
    case EndpointTarget::Kind::kWorkload:
      return "workload";
    case EndpointTarget::Kind::kUnknown:
      return "unknown";
  }
  return "?";
}

json endpointJson(const Endpoint& e) {
  json target{{"kind", targetKindName(e.target.kind)}};
  if (!e.target.ns.empty()) target["workload"] = e.target.ns + "/" + e.target.name;
  if (!e.target.host.empty()) target["host"] = e.target.host;
  target["port"] = e.target.port;
  return {{"address", e.address}, {"port", e.port},   {"labels", e.labels},
          {"tlsMode", e.tlsMode}, {"ready", e.ready}, {"serviceAccount", e.serviceAccount},
          {"servedBy", target}};
}

json clusterJson(const Cluster& c) {
  json j{{"name", c.name},
         {"type", clusterTypeName(c.type)},
         {"protocol", upstreamProtocolName(c.protocol)},
         {"lbPolicy", c.lbPolicy},
         {"connectTimeoutMs", c.connectTimeout.count()},
         {"origin", c.origin},
         {"endpoints", json::array()}};
  for (const auto& e : c.endpoints) j["endpoints"].push_back(endpointJson(e));
  if (c.tls) j["tls"] = upstreamTlsJson(*c.tls);
  if (c.autoMtls) {
    j["autoMtls"] = true;
    if (c.autoMtlsTls) j["autoMtlsTls"] = upstreamTlsJson(*c.autoMtlsTls);
  }
  return j;
}

json chainJson(const FilterChain& fc) {
  json j{{"name", fc.name}, {"kind", filterChainKindName(fc.kind)}, {"origin", fc.origin}};
  json match = json::object();
  if (!fc.serverNames.empty()) match["serverNames"] = fc.serverNames;
  if (!fc.destinationAddresses.empty()) match["destinationAddresses"] = fc.destinationAddresses;
  if (fc.destinationPort != 0) match["destinationPort"] = fc.destinationPort;
  if (!fc.transportProtocol.empty()) match["transportProtocol"] = fc.transportProtocol;
  j["match"] = match;
  if (!fc.routeConfigName.empty()) j["routeConfig"] = fc.routeConfigName;
  if (!fc.cluster.empty()) j["cluster"] = fc.cluster;
  if (fc.tls) {
    json t{{"mode", downstreamTlsModeName(fc.tls->mode)}};
    if (fc.tls->credential) {
      t["credential"] = {{"namespace", fc.tls->credential->ns},
                         {"name", fc.tls->credential->name},
                         {"found", fc.tls->credential->found},
                         {"source", fc.tls->credential->source}};
      if (fc.tls->credential->needsCa) {
        t["credential"]["caFound"] = fc.tls->credential->caFound;
        t["credential"]["caSource"] = fc.tls->credential->caSource;
      }
    }
    if (fc.tls->allowPlaintext) t["allowPlaintext"] = true;
    j["tls"] = t;
  }
  return j;
}

}  // namespace

nlohmann::json toJson(const ProxyConfig& p) {
  json j{{"proxy", p.id.str()},
         {"kind", proxyKindName(p.id.kind)},
         {"istioVersion", p.version.str()},
         {"podIp", p.podIp},
         {"podLabels", p.podLabels},
         {"listeners", json::array()},
         {"routes", json::array()},
         {"clusters", json::array()}};
  for (const auto& l : p.listeners) {
    json lj{{"name", l.name},
            {"port", l.port},
            {"servicePort", l.servicePort},
            {"direction", listenerDirectionName(l.direction)},
            {"filterChains", json::array()}};
    for (const auto& fc : l.filterChains) lj["filterChains"].push_back(chainJson(fc));
    j["listeners"].push_back(lj);
  }
  for (const auto& rc : p.routeConfigs) {
    json rj{{"name", rc.name},
            {"ignorePortInHostMatching", rc.ignorePortInHostMatching},
            {"virtualHosts", json::array()}};
    for (const auto& vh : rc.virtualHosts) {
      json vj{{"name", vh.name}, {"domains", vh.domains}, {"routes", json::array()}};
      if (vh.requireTls) vj["requireTls"] = "ALL";
      for (const auto& r : vh.routes) vj["routes"].push_back(routeJson(r));
      rj["virtualHosts"].push_back(vj);
    }
    j["routes"].push_back(rj);
  }
  for (const auto& c : p.clusters) j["clusters"].push_back(clusterJson(c));
  j["accessLog"] = {{"enabled", p.accessLog.enabled},
                    {"path", p.accessLog.path},
                    {"encoding", p.accessLog.encoding},
                    {"format", accessLogFormatString(p.accessLog.format)}};
  if (p.readinessProbe) {
    const auto& pr = *p.readinessProbe;
    json probe{{"initialDelaySeconds", pr.initialDelaySeconds},
               {"periodSeconds", pr.periodSeconds},
               {"timeoutSeconds", pr.timeoutSeconds},
               {"successThreshold", pr.successThreshold},
               {"failureThreshold", pr.failureThreshold}};
    switch (pr.kind) {
      case model::Probe::Kind::kHttpGet:
        probe["httpGet"] = {{"path", pr.path}, {"port", pr.port}, {"scheme", pr.scheme}};
        break;
      case model::Probe::Kind::kExec:
        probe["exec"] = {{"command", pr.command}};
        break;
      case model::Probe::Kind::kTcpSocket:
        probe["tcpSocket"] = {{"port", pr.port}};
        break;
    }
    j["readinessProbe"] = probe;
  }
  if (!p.authz.empty()) {
    // AuthorizationPolicies attached to this proxy (§S1), with Envoy's rule names.
    json policies = json::array();
    for (const auto& ap : p.authz.policies) {
      json rules = json::array();  // empty: a policy without rules (matches nothing)
      for (std::size_t i = 0; i < ap.rules.size(); ++i) {
        rules.push_back(envoyPolicyName(ap.ns, ap.name, i));
      }
      json pj{
          {"policy", ap.origin}, {"action", model::authzActionName(ap.action)}, {"rules", rules}};
      if (!ap.provider.empty()) pj["provider"] = ap.provider;
      policies.push_back(pj);
    }
    j["authorizationPolicies"] = policies;
  }
  if (p.id.kind == ProxyKind::kSidecar) {
    j["outboundTrafficPolicy"] =
        p.outboundTrafficPolicy == model::OutboundTrafficPolicyMode::kRegistryOnly ? "REGISTRY_ONLY"
                                                                                   : "ALLOW_ANY";
  }
  return j;
}

nlohmann::json toJson(const CompiledMesh& mesh) {
  json j{{"istioVersion", mesh.version.str()},
         {"outboundTrafficPolicy",
          mesh.outboundTrafficPolicy == model::OutboundTrafficPolicyMode::kRegistryOnly
              ? "REGISTRY_ONLY"
              : "ALLOW_ANY"},
         {"proxies", json::array()},
         {"services", json::array()},
         {"dns", mesh.dns.records},
         {"notSimulated", json::array()}};
  for (const auto& p : mesh.proxies) {
    j["proxies"].push_back({{"proxy", p.id.str()}, {"kind", proxyKindName(p.id.kind)}});
  }
  for (const auto& s : mesh.registry.services) {
    json sj{{"hostname", s.hostname}, {"namespace", s.ns},
            {"address", s.address},   {"fromServiceEntry", s.fromServiceEntry},
            {"origin", s.origin},     {"ports", json::array()}};
    for (const auto& p : s.ports) {
      sj["ports"].push_back({{"name", p.name},
                             {"port", p.port},
                             {"targetPort", p.targetPort},
                             {"protocol", model::protocolName(p.protocol)}});
    }
    j["services"].push_back(sj);
  }
  for (const auto& n : mesh.notSimulated) {
    j["notSimulated"].push_back({{"ref", n.ref}, {"what", n.what}, {"where", n.where.str()}});
  }
  return j;
}

}  // namespace egresslab::mesh
