// Gateway proxies: listeners per server port, filter chains by SNI, credentials looked up in the
// gateway pod's namespace (docs/istio-behaviour.md §5).
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "harness/mesh/compile_internal.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/policy.h"
#include "harness/mesh/unsimulated.h"

namespace egresslab::mesh::compile_detail {

std::vector<std::string> Compiler::sniHosts(const model::GatewayServer& server) {
  // §5: the server's hosts without "ns/" become server_names, unless "*" is present.
  std::vector<std::string> out;
  for (const auto& h : server.hosts) {
    std::string host = stripNsPrefix(h);
    if (host == "*") return {};
    if (std::find(out.begin(), out.end(), host) == out.end()) out.push_back(host);
  }
  return out;
}

std::optional<CredentialRef> Compiler::credential(const std::string& name,
                                                  const WorkloadInstance& pod, bool needsCa) const {
  if (name.empty()) return std::nullopt;
  // §5: credentialName is looked up in the namespace of the gateway POD, not the Gateway's.
  CredentialRef c;
  c.ns = pod.ns;
  c.name = name;
  c.needsCa = needsCa;
  auto caKey = [](const model::Secret& s) -> std::string {
    for (const char* key : {"ca.crt", "cacert"}) {
      if (s.data.contains(key)) return key;
    }
    return {};
  };
  for (const auto& s : in_.resources.secrets) {
    if (nsOrDefault(s.meta.ns) == pod.ns && s.meta.name == name) {
      c.found = true;
      c.source = s.ref();
      if (std::string key = caKey(s); !key.empty()) {
        c.caFound = true;
        c.caSource = fmt::format("{} key {}", s.ref(), key);
      }
      break;
    }
  }
  if (!c.found) {
    for (std::size_t i = 0; i < in_.secrets.size(); ++i) {
      const auto& s = in_.secrets[i];
      if (nsOrDefault(s.ns) == pod.ns && s.name == name) {
        c.found = true;
        c.source = fmt::format("scenario secrets[{}]", i);
        // Like `kubectl create secret tls`, a minted secret has no CA unless the scenario asks
        // for one (`caCertificate`), which the kind backend writes as key ca.crt too.
        if (s.caCertificate || !s.caFile.empty()) {
          c.caFound = true;
          c.caSource = c.source + " key ca.crt";
        }
        break;
      }
    }
  }
  if (c.found && !c.caFound) {
    // GetCaCert: a separate `<name>-cacert` secret in the same namespace.
    for (const auto& s : in_.resources.secrets) {
      if (nsOrDefault(s.meta.ns) == pod.ns && s.meta.name == name + "-cacert") {
        if (std::string key = caKey(s); !key.empty()) {
          c.caFound = true;
          c.caSource = fmt::format("{} key {}", s.ref(), key);
        }
      }
    }
  }
  return c;
}

std::optional<DownstreamTls> Compiler::serverTls(const model::GatewayServer& s,
                                                 const WorkloadInstance& pod) const {
  if (!s.tls || !s.tls->mode) return std::nullopt;
  DownstreamTls t;
  switch (*s.tls->mode) {
    case model::ServerTlsMode::kSimple:
      t.mode = DownstreamTlsMode::kSimple;
      break;
    case model::ServerTlsMode::kMutual:
      t.mode = DownstreamTlsMode::kMutual;
      break;
    case model::ServerTlsMode::kIstioMutual:
      t.mode = DownstreamTlsMode::kIstioMutual;
      break;
    case model::ServerTlsMode::kOptionalMutual:
      t.mode = DownstreamTlsMode::kOptionalMutual;
      break;
    case model::ServerTlsMode::kPassthrough:
      t.mode = DownstreamTlsMode::kPassthrough;
      break;
    case model::ServerTlsMode::kAutoPassthrough:
      t.mode = DownstreamTlsMode::kAutoPassthrough;
      break;
  }
  t.credential = credential(
      s.tls->credentialName, pod,
      t.mode == DownstreamTlsMode::kMutual || t.mode == DownstreamTlsMode::kOptionalMutual);
  t.serverCertificate = s.tls->serverCertificate;
  t.privateKey = s.tls->privateKey;
  t.caCertificates = s.tls->caCertificates;
  t.subjectAltNames = s.tls->subjectAltNames;
  return t;
}

ProxyConfig Compiler::gatewayProxy(const model::GatewayWorkload& gw) {
  ProxyConfig p;
  p.id = {gw.ns, gw.name, gw.egress ? ProxyKind::kEgressGateway : ProxyKind::kIngressGateway};
  p.version = v_;
  const WorkloadInstance* pod = out_.findWorkload(gw.ns, gw.name);
  p.podIp = pod->ip;
  p.podLabels = pod->labels;
  p.accessLog = accessLogConfig();
  p.readinessProbe = gw.readinessProbe;
  p.outboundTrafficPolicy = out_.outboundTrafficPolicy;  // not applied to gateways (§1)

  // Gateways whose selector matches this pod (§11.1: none → no listener at all).
  std::map<std::uint32_t, std::vector<ServerRef>> byTargetPort;
  for (const auto& g : in_.resources.gateways) {
    if (!selectorMatches(g.selector, pod->labels)) continue;
    const std::string gwName = nsOrDefault(g.meta.ns) + "/" + g.meta.name;
    for (const auto& s : g.servers) {
      // §5 port mapping: listen on the Service's targetPort for the Gateway port.number.
      std::uint32_t target = s.port.number;
      for (const auto& sp : gw.servicePorts) {
        if (sp.port == s.port.number) target = sp.targetPort.value_or(sp.port);
      }
      byTargetPort[target].push_back({&g, &s, gwName});
    }
  }
  for (const auto& [target, servers] : byTargetPort) {
    Listener l;
    l.name = "0.0.0.0_" + portString(target);
    l.port = target;
    l.servicePort = servers.front().server->port.number;
    l.direction = ListenerDirection::kGateway;
    // Istio merges servers per port; the first server's protocol class wins the port.
    const Protocol first = servers.front().server->port.protocol;
    const bool plain = isHttpProtocol(first);
    std::vector<ServerRef> plainServers;
    std::size_t index = 0;
    for (const auto& ref : servers) {
      const model::GatewayServer& s = *ref.server;
      const std::string origin = fmt::format("Gateway {} {}", ref.gatewayName, s.path);
      if (isHttpProtocol(s.port.protocol) != plain) {
        noteAt(p.id, ref.gateway->ref(),
               fmt::format("{}: server conflicts with another protocol on port {} and is "
                           "dropped, as istiod does",
                           s.path, s.port.number),
               ref.gateway->origin.at(s.path));
        continue;
      }
      if (plain) {
        plainServers.push_back(ref);
        continue;
      }
      auto tls = serverTls(s, *pod);
      const bool passthrough = s.port.protocol == Protocol::kTls ||
                               (tls && (tls->mode == DownstreamTlsMode::kPassthrough ||
                                        tls->mode == DownstreamTlsMode::kAutoPassthrough));
      if (s.port.protocol == Protocol::kHttps && !passthrough) {
        FilterChain fc;
        fc.name = fmt::format("{}/{}/{}", l.name, ref.gatewayName, index++);
        fc.serverNames = sniHosts(s);
        fc.transportProtocol = "tls";
        fc.tls = tls;
        fc.kind = FilterChainKind::kHttp;
        // §11.3: each HTTPS server has its own route table.
        const std::string gwShort = ref.gateway->meta.name;
        fc.routeConfigName = fmt::format("https.{}.{}.{}.{}", s.port.number, s.port.name, gwShort,
                                         nsOrDefault(ref.gateway->meta.ns));
        fc.origin = origin;
        if (!s.tls || !s.tls->serverCertificate.empty()) {
          noteAt(p.id, ref.gateway->ref(),
                 fmt::format("{}: file-mounted server certificates are not simulated; use "
                             "credentialName",
                             s.path),
                 ref.gateway->origin.at(s.path));
        }
        if (p.findRouteConfig(fc.routeConfigName) == nullptr) {
          p.routeConfigs.push_back(gatewayRouteConfig(fc.routeConfigName, {ref}, *pod));
          p.reindex();
        }
        l.filterChains.push_back(std::move(fc));
      } else if (passthrough) {
        // SNI passthrough: tls routes of the VSs bound to this server — the server hosts must
        // intersect the VS hosts, a "ns/" prefix must name the VS's namespace
        // (pickMatchingGatewayHosts, 1.8 and 1.22); each match's sniHosts become the chain's
        // server names.
        for (const auto& vs : in_.resources.virtualServices) {
          if (!vsAttachedTo(vs, ref.gatewayName)) continue;
          if (matchingGatewayHosts(s, nsOrDefault(ref.gateway->meta.ns), vs).empty()) continue;
          for (const auto& tr : vs.tls) {
            for (const auto& m : tr.match) {
              if (!m.gateways.empty() && std::find(m.gateways.begin(), m.gateways.end(),
                                                   ref.gatewayName) == m.gateways.end()) {
                continue;
              }
              if (m.port && *m.port != s.port.number) continue;
              if (tr.route.empty()) continue;
              FilterChain fc;
              fc.name = fmt::format("{}/{}/{}", l.name, ref.gatewayName, index++);
              fc.serverNames = m.sniHosts;
              fc.transportProtocol = "tls";
              fc.kind = FilterChainKind::kSniPassthrough;
              const auto& d = tr.route.front().destination;
              const std::string host = resolveHost(d.host, nsOrDefault(vs.meta.ns));
              fc.cluster = outboundClusterName(
                  destinationPort(d, host, s.port.number).value_or(s.port.number), d.subset, host);
              fc.statPrefix = fc.cluster;
              fc.origin = vs.ref() + " " + tr.path;
              l.filterChains.push_back(std::move(fc));
            }
          }
        }
      } else {
        noteAt(p.id, ref.gateway->ref(),
               fmt::format("{}: {} gateway servers are not simulated", s.path,
                           model::protocolName(s.port.protocol)),
               ref.gateway->origin.at(s.path));
      }
    }
    if (!plainServers.empty()) {
      FilterChain fc;
      fc.name = l.name;
      fc.kind = FilterChainKind::kHttp;
      fc.routeConfigName = "http." + portString(target);
      for (const auto& ref : plainServers) {
        if (!fc.origin.empty()) fc.origin += ", ";
        fc.origin += fmt::format("Gateway {} {}", ref.gatewayName, ref.server->path);
      }
      p.routeConfigs.push_back(gatewayRouteConfig(fc.routeConfigName, plainServers, *pod));
      p.reindex();
      l.filterChains.push_back(std::move(fc));
    }
    p.listeners.push_back(std::move(l));
  }
  p.clusters = outboundClusters(gw.ns);
  return p;
}
}  // namespace egresslab::mesh::compile_detail
