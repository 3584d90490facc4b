// The compiled mesh: per-proxy, Envoy-like configuration that the mini-pilot (compile.h) builds
// from Istio manifests and an Istio version, and that the loopback data plane (harness/sim)
// executes through the pure decision functions in decisions.h.
//
// The shapes follow what istiod pushes to Envoy (listeners → filter chains → route configs →
// virtual hosts → routes → clusters → endpoints), reduced to what decides the outcome of a
// request in the egress-gateway setup (docs/istio-behaviour.md). Names are Istio's where
// users see them (cluster `outbound|443|http-egress-subset|httpbin.org`, route `block_all`,
// vhost `blackhole:80`), so a config dump reads like `istioctl proxy-config`.
//
// Everything here is plain data: copyable values, no pointers into other objects (lookups go by
// name through the small indexes ProxyConfig keeps). Only additive changes after first release.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "harness/mesh/authz.h"
#include "harness/model/resources.h"
#include "harness/model/version.h"

namespace egresslab::mesh {

using Labels = model::Labels;

// ------------------------------------------------------------------------------ proxies
enum class ProxyKind { kIngressGateway, kEgressGateway, kSidecar };
std::string_view proxyKindName(ProxyKind kind);  // "ingress-gateway", "egress-gateway", "sidecar"

// A proxy is named by its gateway deployment or workload name (docs/design.md), e.g.
// istio-system/istio-ingressgateway, httpbin/httpbin-egress, httpbin/sleep (sleep's sidecar).
struct ProxyId {
  std::string ns;
  std::string name;
  ProxyKind kind = ProxyKind::kSidecar;

  [[nodiscard]] std::string str() const { return ns + "/" + name; }  // "NS/NAME"
  friend bool operator==(const ProxyId& a, const ProxyId& b) {
    return a.ns == b.ns && a.name == b.name;
  }
};

// ------------------------------------------------------------------------------ listeners
// Downstream (server-side) TLS of a filter chain.
enum class DownstreamTlsMode {
  kSimple,       // gateway server tls.mode SIMPLE: terminate with the credential
  kMutual,       // gateway server MUTUAL: terminate and require a client cert from `caCertificates`
  kIstioMutual,  // gateway server ISTIO_MUTUAL, or a sidecar inbound STRICT chain (§6): mesh certs
  kOptionalMutual,   // gateway server OPTIONAL_MUTUAL
  kPassthrough,      // gateway server PASSTHROUGH: SNI-routed, not terminated
  kAutoPassthrough,  // gateway server AUTO_PASSTHROUGH
};
std::string_view downstreamTlsModeName(DownstreamTlsMode mode);

// A TLS secret referenced by credentialName, looked up in the gateway POD's namespace (§5).
struct CredentialRef {
  std::string ns;    // the gateway workload's namespace, not the Gateway resource's
  std::string name;  // credentialName
  // False: istiod sends no secret. The listener is still built; the data plane models the 15 s
  // warming (connection refused, curl 7) and then a reset handshake (curl 35) (§5, §11.2).
  bool found = false;
  // Where it was found: "Secret NS/NAME" (manifest) or "scenario secrets[i]" (minted by the run).
  std::string source;
  // MUTUAL / OPTIONAL_MUTUAL: the CA that verifies client certificates comes from the same
  // credential — key `ca.crt` (or `cacert`) of the secret, else a secret `<name>-cacert` (Istio's
  // GetCaCert). A scenario `secrets:` entry carries the scenario CA as `ca.crt`. Without a CA
  // istiod sends no validation context and the chain behaves like a missing credential (§5).
  bool needsCa = false;
  bool caFound = false;
  std::string caSource;  // "Secret NS/NAME key ca.crt", "scenario secrets[i] key ca.crt"
};

struct DownstreamTls {
  DownstreamTlsMode mode = DownstreamTlsMode::kSimple;
  std::optional<CredentialRef> credential;  // credentialName (SDS)
  std::string serverCertificate;            // file-mounted certs (not simulated: noted)
  std::string privateKey;
  std::string caCertificates;
  std::vector<std::string> subjectAltNames;  // client SANs accepted (MUTUAL)
  // Sidecar inbound PERMISSIVE (§6): TLS is detected; plaintext is accepted too.
  bool allowPlaintext = false;
};

enum class FilterChainKind {
  kHttp,            // HTTP connection manager with `routeConfigName`
  kTcpProxy,        // tcp_proxy to `cluster`
  kBlackHole,       // tcp_proxy to BlackHoleCluster: accept, close at once, log UH (§1)
  kPassthrough,     // tcp_proxy to PassthroughCluster: connect to the original destination (§1)
  kSniPassthrough,  // gateway PASSTHROUGH: tcp_proxy by SNI to `cluster` without terminating
};
std::string_view filterChainKindName(FilterChainKind kind);

struct FilterChain {
  std::string
      name;  // e.g. "0.0.0.0_8443/my-ingressgateway.istio-system/0", "virtualOutbound-blackhole"
  // Filter-chain match. Empty server_names = any SNI (and no SNI). Entries are exact names or
  // suffix wildcards "*.example.com" (§5: a TLS server's hosts minus "ns/", unless "*").
  std::vector<std::string> serverNames;
  // Destination IPs this chain matches on a sidecar outbound listener (TCP services with a
  // ClusterIP/address); empty = any destination.
  std::vector<std::string> destinationAddresses;
  // Destination port this chain matches (sidecar virtualInbound chains); 0 = any.
  std::uint32_t destinationPort = 0;
  // Transport protocol match: "tls" = only TLS ClientHellos, "raw_buffer" = only plaintext,
  // "" = any.
  std::string transportProtocol;
  std::optional<DownstreamTls> tls;  // downstream TLS (termination); absent = plaintext/opaque
  FilterChainKind kind = FilterChainKind::kHttp;
  std::string routeConfigName;  // kHttp
  std::string cluster;          // kTcpProxy / kSniPassthrough / kBlackHole / kPassthrough
  std::string statPrefix;       // tcp_proxy stat prefix (what %UPSTREAM_CLUSTER% shows on TCP)
  // Where it came from, for config dumps and messages: "Gateway istio-system/my-ingressgateway
  // spec.servers[1]".
  std::string origin;
};

enum class ListenerDirection {
  kGateway,                 // a gateway's listener on the server's targetPort (§5)
  kSidecarOutbound,         // a sidecar's outbound listener for a service port (0.0.0.0_80, …)
  kSidecarVirtualOutbound,  // 15001 catch-all: BlackHole (REGISTRY_ONLY) or Passthrough (§1)
  kSidecarInbound,  // 15006 virtualInbound: the workload's own ports, PeerAuthentication (§6)
};
std::string_view listenerDirectionName(ListenerDirection d);

struct Listener {
  std::string name;  // "0.0.0.0_8080", "0.0.0.0_80", "virtualOutbound", "virtualInbound"
  // The port the proxy binds: the Gateway server's targetPort on gateways (80→8080, 443→8443,
  // §5); the service port on sidecar outbound listeners (iptables keeps the original destination
  // port); 15001/15006 for the virtual listeners.
  std::uint32_t port = 0;
  // Gateways: the Gateway `port.number` (= Service port) the listener was built for.
  std::uint32_t servicePort = 0;
  ListenerDirection direction = ListenerDirection::kGateway;
  std::vector<FilterChain> filterChains;  // in match-priority order
};

// ------------------------------------------------------------------------------ routes
struct StringMatcher {
  enum class Kind { kExact, kPrefix, kRegex, kPresent };
  Kind kind = Kind::kExact;
  std::string value;
  bool ignoreCase = false;
};

struct HeaderMatcher {
  std::string name;  // lower-case; pseudo headers ":method", ":authority", ":scheme"
  StringMatcher match;
  bool invert = false;  // VS withoutHeaders
};

struct QueryParamMatcher {
  std::string name;
  StringMatcher match;
};

struct RouteMatch {
  // Path match: prefix "/" when the VS route has no uri match.
  StringMatcher path{StringMatcher::Kind::kPrefix, "/", false};
  std::vector<HeaderMatcher> headers;
  std::vector<QueryParamMatcher> queryParams;
};

// Header manipulation of a route or weighted cluster (VS `headers`).
struct HeaderOps {
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::pair<std::string, std::string>> add;
  std::vector<std::string> remove;
  [[nodiscard]] bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};

// Envoy retry policy as Istio builds it (default: §9).
struct RetryPolicy {
  std::uint32_t numRetries = 0;      // retries after the first attempt
  std::vector<std::string> retryOn;  // "connect-failure", "5xx", "retriable-status-codes", …
  std::vector<std::uint32_t> retriableStatusCodes;  // with "retriable-status-codes"
  std::optional<std::chrono::milliseconds> perTryTimeout;
  bool fromVirtualService = false;  // false = Istio's default policy of the version (§9)
};

struct WeightedCluster {
  std::string cluster;  // outbound|PORT|SUBSET|HOST
  std::uint32_t weight = 100;
  HeaderOps requestHeaders;
  HeaderOps responseHeaders;
};

struct ForwardAction {
  std::vector<WeightedCluster> clusters;  // one entry with weight 100 when not split
  // Route timeout; nullopt = Istio's default (0 = disabled, no route timeout).
  std::optional<std::chrono::milliseconds> timeout;
  RetryPolicy retry;
  std::string hostRewrite;    // VS rewrite.authority (host_rewrite_literal); "" = keep Host (§4)
  std::string prefixRewrite;  // VS rewrite.uri on a prefix match; full path otherwise
  std::string fullPathRewrite;
  HeaderOps requestHeaders;
  HeaderOps responseHeaders;
};

struct RedirectAction {
  std::string scheme;      // "" = keep
  std::string host;        // "" = keep the Host as received
  std::uint32_t port = 0;  // 0 = keep
  std::string path;        // "" = keep
  std::uint32_t code = 301;
  bool httpsRedirect = false;  // vhost require_tls: `https://{Host as received}{path}` (§5)
};

struct DirectResponseAction {
  std::uint32_t status = 200;
  std::string body;
};

struct Route {
  enum class ActionKind { kForward, kRedirect, kDirectResponse };
  std::string name;  // ROUTE_NAME in the access log: the VS http route name, "block_all", …
  RouteMatch match;
  ActionKind kind = ActionKind::kForward;
  ForwardAction forward;        // kForward
  RedirectAction redirect;      // kRedirect
  DirectResponseAction direct;  // kDirectResponse
  std::string origin;           // "VirtualService httpbin/httpbin-egress spec.http[0]"
};

struct VirtualHost {
  std::string name;                  // "httpbin.example.com:80", "block_all", "blackhole:80"
  std::vector<std::string> domains;  // Envoy domains: exact, "*.suffix", "prefix*", "*"
  bool requireTls = false;           // httpsRedirect: 301 to https before route matching (§5)
  std::vector<Route> routes;         // first match wins
};

struct RouteConfig {
  std::string name;  // "80" (sidecar), "http.8080" / "https.443.https.GW.NS" (gateway)
  std::vector<VirtualHost> virtualHosts;
  // Gateways on 1.15+: the port in Host is ignored when matching domains (§11.4).
  bool ignorePortInHostMatching = false;
  // Gateway route configs do not validate clusters (a route may name a missing cluster → NC,
  // §11.6); informational.
  bool validateClusters = false;
};

// ------------------------------------------------------------------------------ clusters
enum class ClusterType { kEds, kStrictDns, kStatic, kOriginalDst, kLogicalDns };
std::string_view clusterTypeName(ClusterType t);

// From the port's name/protocol: HTTP2/GRPC → kHttp2; HTTP → kHttp1; TLS/HTTPS/TCP → kTcp (an HTTP
// route that forwards to a kTcp cluster, e.g. TLS origination to an SE `TLS` port, speaks
// HTTP/1.1 upstream).
enum class UpstreamProtocol { kHttp1, kHttp2, kTcp };
std::string_view upstreamProtocolName(UpstreamProtocol p);

// What actually answers for an endpoint in the simulation.
struct EndpointTarget {
  enum class Kind {
    kUpstream,         // a scenario `upstreams:` mock: host:port (legacy service outside k8s)
    kGatewayWorkload,  // a gateway Deployment's pod: ns/name
    kWorkload,         // a scenario workload's pod (its sidecar inbound): ns/name
    kUnknown,          // an address nothing in the scenario serves (connect fails)
  };
  Kind kind = Kind::kUnknown;
  std::string ns;          // gateway/workload
  std::string name;        // gateway/workload
  std::string host;        // upstream host
  std::uint32_t port = 0;  // upstream port, or the pod's target port
};

struct Endpoint {
  std::string address;  // logical: pod IP, SE endpoint address, or the DNS name (STRICT_DNS)
  std::uint32_t port = 0;
  Labels labels;
  // EDS metadata tlsMode: "istio" when the pod has an injected sidecar (label
  // security.istio.io/tlsMode); "disabled"/"" otherwise (gateway pods, §6). Drives auto mTLS.
  std::string tlsMode;
  std::string serviceAccount;  // for ISTIO_MUTUAL SANs (spiffe://cluster.local/ns/NS/sa/SA)
  // Compile-time readiness. The data plane overlays live readiness (probes, faults): a
  // not-ready endpoint is not sent by istiod (§7), so callers see 503 UH.
  bool ready = true;
  EndpointTarget target;
  // The service port this endpoint serves (registry bookkeeping; clusters hold only their own).
  std::uint32_t servicePort = 0;
};

enum class UpstreamTlsMode { kSimple, kMutual, kIstioMutual };
std::string_view upstreamTlsModeName(UpstreamTlsMode mode);

// Certificate verification of an originated TLS connection (§4).
enum class ServerVerification {
  kNone,      // 1.8–1.20 defaults without caCertificates; or insecureSkipVerify
  kSystemCa,  // caCertificates "system" (1.21+ default, always on 1.24+)
  kCaFile,    // DR caCertificates file / credentialName CA
  kMeshCa,    // ISTIO_MUTUAL: the mesh root
};
std::string_view serverVerificationName(ServerVerification v);

// Upstream TLS of a cluster as istiod builds it for the proxy's version (§4, §6).
struct UpstreamTls {
  UpstreamTlsMode mode = UpstreamTlsMode::kSimple;
  std::string sni;       // fixed SNI (DR `sni`, or the ISTIO_MUTUAL outbound_.PORT_.SUBSET_.HOST)
  bool autoSni = false;  // 1.21+ with empty sni: SNI from the downstream Host (§4)
  ServerVerification verify = ServerVerification::kNone;
  std::string caCertificates;                // kCaFile
  std::vector<std::string> subjectAltNames;  // explicit SANs (DR, or spiffe for ISTIO_MUTUAL)
  bool autoSanValidation = false;  // 1.21+: verify the cert against the downstream Host (§4)
  // Auto SNI / auto SAN take the Host after the route's host rewrite (Istio 1.24+, Envoy 1.32:
  // policy.h autoSniFollowsHostRewrite); false = the Host as received (envoy#35330).
  bool autoSniFromRewrittenHost = false;
  bool insecureSkipVerify = false;
  std::string credentialName;  // MUTUAL client certificate (not simulated beyond naming)
  std::string clientCertificate;
  std::string privateKey;
  std::string
      origin;  // "DestinationRule httpbin/httpbin-egress spec.subsets[0]...portLevelSettings[0]"
};

struct Cluster {
  std::string name;         // outbound|PORT|SUBSET|HOST, inbound|PORT||, BlackHoleCluster, …
  std::string serviceHost;  // the registry host (FQDN or SE host)
  std::uint32_t servicePort = 0;
  std::string subset;
  ClusterType type = ClusterType::kEds;
  UpstreamProtocol protocol = UpstreamProtocol::kHttp1;
  // Envoy LB policy: "ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", …. Default by version (§4):
  // ROUND_ROBIN ≤1.13, LEAST_REQUEST 1.14+; a portLevelSettings block replaces the subset's.
  std::string lbPolicy;
  std::chrono::milliseconds connectTimeout{10000};
  std::vector<Endpoint> endpoints;
  // Explicit upstream TLS from a DestinationRule (after precedence, §4). Takes priority over
  // auto mTLS.
  std::optional<UpstreamTls> tls;
  // Auto mTLS (§6): without an explicit DR tls, endpoints whose tlsMode is "istio" get
  // ISTIO_MUTUAL (`autoMtlsTls`), others plaintext.
  bool autoMtls = false;
  std::optional<UpstreamTls> autoMtlsTls;
  std::string origin;  // "ServiceEntry httpbin/httpbin-egress", "Service httpbin/httpbin-egress", …
};

// ------------------------------------------------------------------------------ registry
// A service in istiod's registry (a Kubernetes Service or a ServiceEntry host).
struct ServicePortInfo {
  std::string name;
  std::uint32_t port = 0;
  std::uint32_t targetPort = 0;  // pods' port (Services); SE endpoint port defaults to `port`
  model::Protocol protocol = model::Protocol::kTcp;  // from protocol or name prefix
};

struct RegistryService {
  std::string hostname;  // FQDN "httpbin-egress.httpbin.svc.cluster.local" or SE host
  std::string ns;
  std::string name;  // k8s Service name; SE name for ServiceEntries
  bool fromServiceEntry = false;
  model::Resolution resolution = model::Resolution::kStatic;  // k8s Services: EDS-like
  model::Location location = model::Location::kMeshInternal;
  std::string address;  // ClusterIP (virtual) or SE address; "" = none
  std::vector<ServicePortInfo> ports;
  Labels selector;  // k8s Services
  Labels labels;
  std::vector<Endpoint> endpoints;  // all endpoints over all ports, port = target port
  std::string origin;  // "Service httpbin/httpbin-egress (IstioOperator … component)"
};

// A pod of the scenario (gateway pod or workload), with a logical IP.
struct WorkloadInstance {
  std::string ns;
  std::string name;  // deployment/workload name
  std::string ip;    // logical pod IP, e.g. 10.244.0.5
  Labels labels;
  std::string serviceAccount;
  bool injected = false;  // has a sidecar
  bool gateway = false;
  bool egressGateway = false;
};

struct Registry {
  std::vector<RegistryService> services;
  std::vector<WorkloadInstance> workloads;
};

// Names the cluster DNS and public DNS answer, as seen from a pod (§3: VS hosts are NOT
// resolvable through Istio; ISTIO_META_DNS_CAPTURE is off by default).
struct DnsView {
  std::map<std::string, std::string> records;  // FQDN / public name → IP
  std::vector<std::string> searchSuffixes{"svc.cluster.local", "cluster.local"};
};

// ------------------------------------------------------------------------------ per proxy
enum class AccessLogFormatVersion {
  kIstio18,   // 1.8 TEXT default (§9)
  kIstio19,   // 1.9+: + %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
  kIstio123,  // 1.23+: %UPSTREAM_CLUSTER_RAW%
};

struct AccessLogConfig {
  bool enabled = false;  // meshConfig.accessLogFile set
  std::string path;      // "/dev/stdout"
  std::string encoding = "TEXT";
  std::string customFormat;  // meshConfig.accessLogFormat (not simulated: noted)
  AccessLogFormatVersion format = AccessLogFormatVersion::kIstio19;
};

struct ProxyConfig {
  ProxyId id;
  model::IstioVersion version;  // the proxy's Istio version (= the scenario's)
  std::string podIp;
  Labels podLabels;
  std::vector<Listener> listeners;
  std::vector<RouteConfig> routeConfigs;
  std::vector<Cluster> clusters;
  AccessLogConfig accessLog;
  std::optional<model::Probe> readinessProbe;  // gateways (model::GatewayWorkload)
  model::OutboundTrafficPolicyMode outboundTrafficPolicy =
      model::OutboundTrafficPolicyMode::kAllowAny;  // sidecars only (§1)
  // AuthorizationPolicies istiod attaches to this proxy (§S1; authz.h). Gateways enforce them on
  // every listener, sidecars on inbound only.
  ProxyAuthz authz;

  // Lookups by name (nullptr when absent). Indexes are rebuilt by reindex(); the compiler calls
  // it, and anyone who edits the vectors must call it again.
  [[nodiscard]] const Cluster* findCluster(std::string_view name) const;
  [[nodiscard]] const RouteConfig* findRouteConfig(std::string_view name) const;
  [[nodiscard]] const Listener* findListener(std::string_view name) const;
  void reindex();

 private:
  std::unordered_map<std::string, std::size_t> clusterIndex_;
  std::unordered_map<std::string, std::size_t> routeIndex_;
};

// Something in the manifests that the simulator does not model (EnvoyFilter, Sidecar,
// AuthorizationPolicy, VS fault/mirror/corsPolicy, DR outlierDetection, …). Never silently
// ignored (docs/design.md "Nothing unmodelled passes silently"): the runner prints and reports
// these, and a request that crosses a proxy the note affects is an error, not a pass.
struct NotSimulatedNote {
  std::string ref;  // "EnvoyFilter istio-system/foo", "VirtualService httpbin/x spec.http[0].fault"
  std::string what;  // "not simulated", "spec.http[0].fault (fault injection) is not simulated"
  SourcePos where;

  // Which proxies the unmodelled thing would change. kEveryProxy when it is mesh-wide or its
  // reach is not known (the safe default); kProxies for exactly `proxies`; kNoProxy when it
  // changes no request anywhere (e.g. the access-log format).
  enum class Reach { kEveryProxy, kProxies, kNoProxy };
  Reach reach = Reach::kEveryProxy;
  std::vector<std::string> proxies;  // "NS/NAME" (ProxyId::str()) when reach is kProxies

  [[nodiscard]] bool affects(std::string_view ns, std::string_view name) const;
  [[nodiscard]] std::string text() const;  // "AuthorizationPolicy httpbin/deny-all: not simulated"
};

struct CompiledMesh {
  model::IstioVersion version;
  model::MeshConfig meshConfig;  // effective mesh config (control-plane IstioOperator)
  model::OutboundTrafficPolicyMode outboundTrafficPolicy =
      model::OutboundTrafficPolicyMode::kAllowAny;
  std::vector<ProxyConfig> proxies;
  Registry registry;
  DnsView dns;
  std::vector<NotSimulatedNote> notSimulated;

  // "NS/NAME" or a bare NAME when unique; nullptr if none.
  [[nodiscard]] const ProxyConfig* findProxy(std::string_view nsOrNsName) const;
  [[nodiscard]] const ProxyConfig* findProxy(std::string_view ns, std::string_view name) const;
  [[nodiscard]] const RegistryService* findService(std::string_view hostname) const;
  [[nodiscard]] const WorkloadInstance* findWorkload(std::string_view ns,
                                                     std::string_view name) const;
};

}  // namespace egresslab::mesh
