#include "harness/mesh/endpoints.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include "harness/core/ascii.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/load_balancing.h"
#include "harness/mesh/policy.h"

namespace egresslab::mesh {
namespace {

bool isIpv4Literal(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
  });
}

// The address a lone server of a host always had (compile's ipFrom("198.51", index)).
std::string runChosenAddress(std::size_t index) {
  return fmt::format("198.51.{}.{}", 10 + index / 240, 10 + index % 240);
}

std::optional<std::int64_t> rawInt(const nlohmann::json& raw, const char* key) {
  if (!raw.is_object()) return std::nullopt;
  auto it = raw.find(key);
  if (it == raw.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int64_t>();
}

// Istio's pod label `istio-locality` ("region.zone.subzone") → "region/zone/subzone".
std::string localityFromLabels(const Labels& labels) {
  auto it = labels.find("istio-locality");
  if (it == labels.end()) return {};
  std::string l = it->second;
  std::replace(l.begin(), l.end(), '.', '/');
  return l;
}

// The locality load-balancer settings in force for a cluster: the DR's loadBalancer
// `localityLbSetting`, else the mesh's (§R5). Locality LB is on unless `enabled: false`.
struct LocalitySettings {
  bool enabled = true;
  bool distribute = false;
  FailoverSettings failover;
};

LocalitySettings localitySettings(const nlohmann::json& mesh, const nlohmann::json& dr) {
  const nlohmann::json* block = nullptr;
  if (dr.is_object() && dr.contains("localityLbSetting")) {
    block = &dr["localityLbSetting"];
  } else if (mesh.is_object() && mesh.contains("localityLbSetting")) {
    block = &mesh["localityLbSetting"];
  }
  LocalitySettings s;
  if (block == nullptr || !block->is_object()) return s;
  if (auto e = block->find("enabled"); e != block->end() && e->is_boolean()) {
    s.enabled = e->get<bool>();
  }
  if (auto d = block->find("distribute"); d != block->end() && d->is_array() && !d->empty()) {
    s.distribute = true;
  }
  if (auto f = block->find("failover"); f != block->end() && f->is_array()) {
    for (const auto& rule : *f) {
      if (!rule.is_object()) continue;
      s.failover.failover.emplace_back(rule.value("from", ""), rule.value("to", ""));
    }
  }
  if (auto fp = block->find("failoverPriority"); fp != block->end() && fp->is_array()) {
    for (const auto& label : *fp) {
      if (label.is_string()) s.failover.failoverPriority.push_back(label.get<std::string>());
    }
  }
  return s;
}

}  // namespace

std::vector<std::string> upstreamAddresses(
    const std::vector<model::UpstreamSpec>& upstreams,
    const std::map<std::string, std::vector<std::string>>& dnsAnswers) {
  std::vector<std::string> out(upstreams.size());
  // Explicit addresses first; then each host's unclaimed A records, server by server.
  std::map<std::string, std::set<std::string>> claimed;  // host → addresses taken
  for (std::size_t i = 0; i < upstreams.size(); ++i) {
    if (upstreams[i].address.empty()) continue;
    out[i] = upstreams[i].address;
    claimed[upstreams[i].host].insert(out[i]);
  }
  // Servers of one host that share a name are one server on several ports: one address.
  std::map<std::pair<std::string, std::string>, std::string> byName;
  for (std::size_t i = 0; i < upstreams.size(); ++i) {
    if (!out[i].empty()) byName.emplace(std::pair(upstreams[i].host, upstreams[i].name), out[i]);
  }
  for (std::size_t i = 0; i < upstreams.size(); ++i) {
    if (!out[i].empty()) continue;
    const auto& u = upstreams[i];
    if (auto same = byName.find({u.host, u.name}); same != byName.end()) {
      out[i] = same->second;
      continue;
    }
    auto& taken = claimed[u.host];
    if (auto answers = dnsAnswers.find(u.host); answers != dnsAnswers.end()) {
      for (const auto& a : answers->second) {
        if (!taken.contains(a)) {
          out[i] = a;
          break;
        }
      }
    }
    if (out[i].empty()) {
      // A lone server of a host keeps the address it always had; further ones get their own.
      out[i] = runChosenAddress(i);
      if (taken.contains(out[i])) out[i] = runChosenAddress(i + 4096);
    }
    taken.insert(out[i]);
    byName.emplace(std::pair(u.host, u.name), out[i]);
  }
  return out;
}

std::map<std::string, std::vector<std::string>> dnsAnswersWithUpstreams(
    const std::vector<model::UpstreamSpec>& upstreams,
    const std::map<std::string, std::vector<std::string>>& dnsAnswers) {
  auto out = dnsAnswers;
  const auto addresses = upstreamAddresses(upstreams, dnsAnswers);
  for (std::size_t i = 0; i < upstreams.size(); ++i) {
    if (dnsAnswers.contains(upstreams[i].host)) continue;
    auto& answers = out[upstreams[i].host];
    if (std::find(answers.begin(), answers.end(), addresses[i]) == answers.end()) {
      answers.push_back(addresses[i]);
    }
  }
  return out;
}

std::map<std::string, std::vector<std::string>> scenarioDnsAnswers(
    const std::map<std::string, std::string>& dns,
    const std::map<std::string, std::vector<std::string>>& answers) {
  auto out = answers;
  for (const auto& [name, ip] : dns) {
    if (!out.contains(name)) out[name] = {ip};
  }
  return out;
}

std::vector<std::string> dnsAnswersFor(const DnsView& dns, std::string_view name) {
  if (isIpv4Literal(name)) return {std::string(name)};
  std::string n = asciiLower(name);
  if (!n.empty() && n.back() == '.') n.pop_back();
  if (auto it = dns.answers.find(n); it != dns.answers.end() && !it->second.empty()) {
    return it->second;
  }
  if (auto it = dns.records.find(n); it != dns.records.end()) return {it->second};
  return {};
}

std::vector<Endpoint> resolveDnsEndpoints(std::span<const Endpoint> endpoints, ClusterType type,
                                          const DnsView& dns) {
  if (type != ClusterType::kStrictDns && type != ClusterType::kLogicalDns) {
    return {endpoints.begin(), endpoints.end()};
  }
  std::vector<Endpoint> out;
  std::set<std::pair<std::string, std::uint32_t>> seen;  // (name, port): dedup per target
  for (const auto& e : endpoints) {
    if (!seen.emplace(e.address, e.port).second) continue;
    std::vector<std::string> answers = dnsAnswersFor(dns, e.address);
    if (answers.empty()) {
      out.push_back(e);  // does not resolve: kept as written
      continue;
    }
    if (type == ClusterType::kLogicalDns) answers.resize(1);  // §R4: the first address only
    for (const auto& ip : answers) {
      Endpoint host = e;
      host.dnsName = isIpv4Literal(e.address) ? e.dnsName : e.address;
      host.address = ip;
      out.push_back(std::move(host));
    }
  }
  return out;
}

OutlierDetection outlierDetectionFor(const model::OutlierDetection& od, std::string origin) {
  // §R3: each field only when given; enforcing 100 for a positive threshold, 0 for 0.
  OutlierDetection o;
  if (od.consecutive5xxErrors) {
    o.consecutive5xx = static_cast<std::uint32_t>(*od.consecutive5xxErrors);
    o.enforcingConsecutive5xx = *od.consecutive5xxErrors > 0;
  }
  if (od.consecutiveGatewayErrors) {
    o.consecutiveGatewayFailure = static_cast<std::uint32_t>(*od.consecutiveGatewayErrors);
    o.enforcingConsecutiveGatewayFailure = *od.consecutiveGatewayErrors > 0;
  }
  if (od.interval && od.interval->count() > 0) o.interval = *od.interval;
  if (od.baseEjectionTime && od.baseEjectionTime->count() > 0) {
    o.baseEjectionTime = *od.baseEjectionTime;
  }
  if (od.maxEjectionPercent && *od.maxEjectionPercent > 0) {
    o.maxEjectionPercent = static_cast<std::uint32_t>(*od.maxEjectionPercent);
  }
  o.origin = std::move(origin);
  return o;
}

std::uint32_t panicThresholdFor(const model::OutlierDetection& od) {
  // §R3: istiod always sets healthy_panic_threshold with outlierDetection: minHealthPercent,
  // 0 (panic disabled) when unset.
  const auto v = rawInt(od.raw, "minHealthPercent").value_or(0);
  return static_cast<std::uint32_t>(std::clamp<std::int64_t>(v, 0, 100));
}

CircuitBreakers circuitBreakersFor(const model::ConnectionPoolSettings& pool, std::string origin) {
  CircuitBreakers cb;
  auto set = [](std::uint64_t& field, const std::optional<std::int32_t>& v) {
    if (v && *v > 0) field = static_cast<std::uint64_t>(*v);
  };
  set(cb.maxConnections, pool.maxConnections);
  set(cb.maxPendingRequests, pool.http1MaxPendingRequests);
  set(cb.maxRequests, pool.http2MaxRequests);
  set(cb.maxRetries, pool.maxRetries);
  if (pool.maxRequestsPerConnection && *pool.maxRequestsPerConnection > 0) {
    cb.maxRequestsPerConnection = static_cast<std::uint32_t>(*pool.maxRequestsPerConnection);
  }
  cb.origin = std::move(origin);
  return cb;
}

void applyEndpointsAndResilience(CompiledMesh& mesh, const EndpointsInput& in) {
  // Localities of the pods: scenario workloads, gateways by their istio-locality label.
  for (auto& w : mesh.registry.workloads) {
    for (const auto& spec : in.workloads) {
      if (spec.name == w.name && (spec.ns.empty() ? "default" : spec.ns) == w.ns) {
        w.locality = spec.locality;
      }
    }
    if (w.locality.empty()) w.locality = localityFromLabels(w.labels);
  }
  // Every A record of every name.
  const auto answers = dnsAnswersWithUpstreams(in.upstreams, in.dnsAnswers);
  for (const auto& [name, list] : answers) {
    if (list.empty()) continue;
    mesh.dns.answers[name] = list;
    mesh.dns.records[name] = list.front();
  }
  const auto addresses = upstreamAddresses(in.upstreams, in.dnsAnswers);
  auto serverAt = [&](const std::string& ip, std::uint32_t port) -> const model::UpstreamSpec* {
    for (std::size_t i = 0; i < in.upstreams.size(); ++i) {
      if (addresses[i] == ip && in.upstreams[i].port == port) return &in.upstreams[i];
    }
    return nullptr;
  };
  auto addressOf = [&](const model::UpstreamSpec* u) {
    return addresses[static_cast<std::size_t>(u - in.upstreams.data())];
  };
  // ServiceEntry endpoint locality and weight, by (service host, address).
  auto seEndpoint = [&](const RegistryService& svc,
                        const std::string& address) -> const model::WorkloadEntrySpec* {
    for (const auto& se : in.resources.serviceEntries) {
      if (se.meta.name != svc.name || (se.meta.ns.empty() ? "default" : se.meta.ns) != svc.ns) {
        continue;
      }
      for (const auto& we : se.endpoints) {
        if (we.address == address) return &we;
      }
    }
    return nullptr;
  };

  for (auto& proxy : mesh.proxies) {
    const WorkloadInstance* self = nullptr;
    for (const auto& w : mesh.registry.workloads) {
      if (w.ns == proxy.id.ns && w.name == proxy.id.name) self = &w;
    }
    for (auto& c : proxy.clusters) {
      const RegistryService* svc =
          c.serviceHost.empty() ? nullptr : mesh.findService(c.serviceHost);
      if (svc == nullptr || c.name.rfind("outbound|", 0) != 0) continue;
      // Endpoint locality and weight: the ServiceEntry endpoint's, or the pod's node.
      for (auto& e : c.endpoints) {
        if (svc->fromServiceEntry) {
          if (const auto* we = seEndpoint(*svc, e.address)) {
            e.locality = we->locality;
            e.weight = we->weight == 0 ? 1 : we->weight;
          }
        } else if (const WorkloadInstance* pod = mesh.findWorkload(e.target.ns, e.target.name)) {
          e.locality = pod->locality;
        }
      }
      // §R4: DNS clusters resolve to one host per A record (LOGICAL_DNS: the first).
      c.endpoints = resolveDnsEndpoints(c.endpoints, c.type, mesh.dns);
      // Each upstream host answers at the server with that address.
      for (auto& e : c.endpoints) {
        if (e.target.kind != EndpointTarget::Kind::kUpstream &&
            e.target.kind != EndpointTarget::Kind::kUnknown) {
          continue;
        }
        if (const model::UpstreamSpec* u = serverAt(e.address, e.port)) {
          e.target.kind = EndpointTarget::Kind::kUpstream;
          e.target.host = u->host;
          e.target.port = u->port;
          e.target.address = addressOf(u);
        } else if (isIpv4Literal(e.address) && e.target.kind == EndpointTarget::Kind::kUpstream) {
          // An address no server answers at: nothing there (connect fails).
          e.target.kind = EndpointTarget::Kind::kUnknown;
          e.target.address = e.address;
        }
      }
      // DestinationRule outlierDetection / connectionPool (§R3, §R6).
      const model::DestinationRule* dr = findDestinationRule(
          in.resources.destinationRules, {svc->hostname, svc->ns, proxy.id.ns, kRootNamespace});
      if (dr == nullptr) continue;
      const model::Subset* subset = c.subset.empty() ? nullptr : findSubset(*dr, c.subset);
      const EffectivePolicy policy = mergeTrafficPolicy(*dr, subset, c.servicePort);
      if (policy.connectionPool) {
        c.circuitBreakers = circuitBreakersFor(*policy.connectionPool, dr->ref());
      }
      if (!policy.outlierDetection) continue;
      c.outlierDetection = outlierDetectionFor(*policy.outlierDetection, dr->ref());
      c.healthyPanicThreshold = panicThresholdFor(*policy.outlierDetection);
      // §R5: locality failover / failoverPriority, only with outlier detection.
      LocalitySettings ls =
          localitySettings(mesh.meshConfig.raw, policy.loadBalancer ? policy.loadBalancer->raw
                                                                    : nlohmann::json::object());
      if (!ls.enabled || ls.distribute) continue;
      if (!in.version.atLeast(1, 12) || c.type == ClusterType::kStrictDns ||
          c.type == ClusterType::kLogicalDns) {
        ls.failover.failoverPriority.clear();  // 1.12+, and never on DNS clusters (§R5)
      }
      const std::string clientLocality = self != nullptr ? self->locality : std::string();
      const Labels clientLabels = self != nullptr ? self->labels : proxy.podLabels;
      if (clientLocality.empty() && ls.failover.failoverPriority.empty()) continue;
      const auto priorities =
          endpointPriorities(c.endpoints, clientLocality, clientLabels, ls.failover);
      for (std::size_t i = 0; i < c.endpoints.size(); ++i) c.endpoints[i].priority = priorities[i];
      c.priorityFrom =
          ls.failover.failoverPriority.empty()
              ? "locality"
              : (ls.failover.failover.empty() ? "failoverPriority" : "failoverPriority+locality");
    }
    proxy.reindex();
  }
}

}  // namespace egresslab::mesh
