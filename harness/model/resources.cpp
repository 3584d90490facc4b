#include "harness/model/resources.h"

#include <algorithm>
#include <cctype>
#include <iterator>

#include "harness/core/ascii.h"

namespace egresslab::model {

SourcePos Origin::at(std::string_view path) const {
  std::string key(path);
  while (!key.empty()) {
    if (auto it = fields.find(key); it != fields.end()) return it->second;
    // Strip the last component: ".name" or "[3]".
    const auto cut = key.find_last_of(".[");
    if (cut == std::string::npos) break;
    key.resize(cut);
  }
  return pos;
}

std::string_view authzActionName(AuthzAction action) {
  switch (action) {
    case AuthzAction::kAllow:
      return "ALLOW";
    case AuthzAction::kDeny:
      return "DENY";
    case AuthzAction::kAudit:
      return "AUDIT";
    case AuthzAction::kCustom:
      return "CUSTOM";
  }
  return "ALLOW";
}

std::string ResourceBase::ref() const {
  if (meta.ns.empty()) return kind + " " + meta.name;
  return kind + " " + meta.ns + "/" + meta.name;
}

Protocol parseProtocol(std::string_view name) {
  // §5: Istio's protocol.Parse switches on strings.ToLower.
  const std::string lower = asciiLower(name);
  if (lower == "http") return Protocol::kHttp;
  if (lower == "https") return Protocol::kHttps;
  if (lower == "http2") return Protocol::kHttp2;
  if (lower == "grpc") return Protocol::kGrpc;
  if (lower == "grpc-web") return Protocol::kGrpcWeb;
  if (lower == "tls") return Protocol::kTls;
  if (lower == "tcp") return Protocol::kTcp;
  if (lower == "mongo") return Protocol::kMongo;
  if (lower == "redis") return Protocol::kRedis;
  if (lower == "mysql") return Protocol::kMysql;
  if (lower == "udp") return Protocol::kUdp;
  return Protocol::kUnsupported;
}

std::string_view protocolName(Protocol p) {
  switch (p) {
    case Protocol::kHttp:
      return "HTTP";
    case Protocol::kHttps:
      return "HTTPS";
    case Protocol::kHttp2:
      return "HTTP2";
    case Protocol::kGrpc:
      return "GRPC";
    case Protocol::kGrpcWeb:
      return "GRPC-WEB";
    case Protocol::kTls:
      return "TLS";
    case Protocol::kTcp:
      return "TCP";
    case Protocol::kMongo:
      return "MONGO";
    case Protocol::kRedis:
      return "REDIS";
    case Protocol::kMysql:
      return "MYSQL";
    case Protocol::kUdp:
      return "UDP";
    case Protocol::kUnsupported:
      return "UNSUPPORTED";
  }
  return "UNSUPPORTED";
}

bool isHttpLike(Protocol p) {
  return p == Protocol::kHttp || p == Protocol::kHttp2 || p == Protocol::kGrpc ||
         p == Protocol::kGrpcWeb;
}

namespace {
template <typename T>
void moveAppend(std::vector<T>& to, std::vector<T>& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}
}  // namespace

void ResourceSet::append(ResourceSet&& other) {
  moveAppend(istioOperators, other.istioOperators);
  moveAppend(gateways, other.gateways);
  moveAppend(virtualServices, other.virtualServices);
  moveAppend(serviceEntries, other.serviceEntries);
  moveAppend(destinationRules, other.destinationRules);
  moveAppend(peerAuthentications, other.peerAuthentications);
  moveAppend(authorizationPolicies, other.authorizationPolicies);
  moveAppend(requestAuthentications, other.requestAuthentications);
  moveAppend(namespaces, other.namespaces);
  moveAppend(secrets, other.secrets);
  moveAppend(services, other.services);
  moveAppend(deployments, other.deployments);
  moveAppend(pods, other.pods);
  moveAppend(serviceAccounts, other.serviceAccounts);
  moveAppend(kindClusters, other.kindClusters);
  moveAppend(unsimulated, other.unsimulated);
  moveAppend(invalid, other.invalid);
  other = ResourceSet{};
}

}  // namespace egresslab::model
