// Typed Istio and Kubernetes resources, as users write them, with their source positions.
//
// These are the simulator's and analyzer's input: values exactly as written (after
// `<placeholder>` substitution and Istio's own load-time normalisation, e.g. gateway
// short-name resolution §2 and case-insensitive protocols §5). Nothing here is derived
// mesh state — that is mesh/'s job. Optional fields stay optional so "unset" and "set to the
// default" can be told apart (the analyzer needs it).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/model/extension_providers.h"
#include "harness/model/origin.h"

namespace egresslab::model {

using Labels = std::map<std::string, std::string>;
using Duration = std::chrono::milliseconds;

struct ObjectMeta {
  std::string name;
  std::string ns;  // metadata.namespace as written; empty = the default namespace of the apply
  Labels labels;
  Labels annotations;
};

// Common header of every loaded object.
struct ResourceBase {
  std::string apiVersion;
  std::string kind;
  ObjectMeta meta;
  Origin origin;
  // "Kind ns/name" as istioctl prints it, e.g. "VirtualService httpbin/httpbin-egress".
  [[nodiscard]] std::string ref() const;
};

// Port protocols, parsed case-insensitively as Istio's protocol.Parse does (§5).
enum class Protocol {
  kHttp,
  kHttps,
  kHttp2,
  kGrpc,
  kGrpcWeb,
  kTls,
  kTcp,
  kMongo,
  kRedis,
  kMysql,
  kUdp,
  kUnsupported
};
Protocol parseProtocol(std::string_view name);  // unknown → kUnsupported
std::string_view protocolName(Protocol p);      // canonical upper-case name
bool isHttpLike(Protocol p);                    // HTTP, HTTP2, GRPC, GRPC-WEB

struct Port {
  std::uint32_t number = 0;
  std::string name;
  std::string protocolText;  // as written
  Protocol protocol = Protocol::kUnsupported;
  std::optional<std::uint32_t> targetPort;
};

// ---------------------------------------------------------------- networking.istio.io Gateway
enum class ServerTlsMode {
  kPassthrough,
  kSimple,
  kMutual,
  kAutoPassthrough,
  kIstioMutual,
  kOptionalMutual
};

struct ServerTls {
  bool httpsRedirect = false;
  std::optional<ServerTlsMode> mode;
  std::string credentialName;
  std::string serverCertificate;
  std::string privateKey;
  std::string caCertificates;
  std::vector<std::string> subjectAltNames;
  std::string minProtocolVersion;
  std::string maxProtocolVersion;
};

struct GatewayServer {
  Port port;
  std::vector<std::string> hosts;  // as written: "host", "ns/host", "*/host", "*"
  std::optional<ServerTls> tls;
  std::string name;
  std::string bind;
  std::string path;  // field path of this server, e.g. "spec.servers[1]", for positions
};

struct Gateway : ResourceBase {
  Labels selector;
  std::vector<GatewayServer> servers;
};

// ------------------------------------------------------------------------ VirtualService
struct StringMatch {
  enum class Kind { kExact, kPrefix, kRegex };
  Kind kind = Kind::kExact;
  std::string value;
};

struct HttpMatch {
  std::string name;
  std::optional<StringMatch> uri;
  std::optional<StringMatch> scheme;
  std::optional<StringMatch> method;
  std::optional<StringMatch> authority;
  std::map<std::string, StringMatch> headers;  // header names lower-cased
  std::map<std::string, StringMatch> withoutHeaders;
  std::map<std::string, StringMatch> queryParams;
  std::optional<std::uint32_t> port;
  std::vector<std::string> gateways;  // resolved to "ns/name" or "mesh" (§2)
  Labels sourceLabels;
  std::string sourceNamespace;
  bool ignoreUriCase = false;
};

struct Destination {
  std::string host;
  std::string subset;
  std::optional<std::uint32_t> port;
};

struct HeaderOperations {
  std::map<std::string, std::string> set;
  std::map<std::string, std::string> add;
  std::vector<std::string> remove;
};

struct Headers {
  HeaderOperations request;
  HeaderOperations response;
};

struct RouteDestination {
  Destination destination;
  std::optional<std::int32_t> weight;
  Headers headers;
};

struct HttpRewrite {
  std::string uri;
  std::string authority;
};

struct HttpRedirect {
  std::string uri;
  std::string authority;
  std::string scheme;
  std::optional<std::uint32_t> port;
  std::uint32_t redirectCode = 301;
};

struct HttpDirectResponse {
  std::uint32_t status = 200;
  std::string body;
};

struct HttpRetry {
  std::int32_t attempts = 0;
  std::optional<Duration> perTryTimeout;
  std::string retryOn;
  std::optional<bool> retryRemoteLocalities;
  // Istio 1.26+ (api 1.26 HTTPRetry fields 5 and 6): ignored by older istiod.
  std::optional<bool> retryIgnorePreviousHosts;
  std::optional<Duration> backoff;  // retry_back_off.base_interval
};

struct HttpFaultInjection {
  // `percentage.value` (or the deprecated integer `percent`); unset = 0: nothing is injected
  // (docs/istio-behaviour.md §R7).
  struct Delay {
    double percent = 0;
    Duration fixedDelay{0};
  };
  struct Abort {
    double percent = 0;
    std::int32_t httpStatus = 0;
    bool grpcStatus = false;  // `grpcStatus` given (not simulated)
  };
  std::optional<Delay> delay;
  std::optional<Abort> abort;
};

// `http[].delegate`: the VirtualService (without hosts) whose routes replace this one's.
struct Delegate {
  std::string name;
  std::string ns;  // defaults to the delegating VirtualService's namespace
};

// A mirror target of an HTTP route: `mirror` or one entry of `mirrors` (not simulated; the
// analyzer checks its host and subset).
struct MirrorDestination {
  Destination destination;
  std::string path;  // "spec.http[0].mirror" / "spec.http[0].mirrors[1].destination"
};

struct HttpRoute {
  std::string name;
  std::vector<HttpMatch> match;
  std::vector<RouteDestination> route;
  std::optional<HttpRedirect> redirect;
  std::optional<HttpDirectResponse> directResponse;
  std::optional<HttpRewrite> rewrite;
  std::optional<Duration> timeout;
  std::optional<HttpRetry> retries;
  std::optional<HttpFaultInjection> fault;
  Headers headers;
  std::optional<Delegate> delegatesTo;
  std::vector<MirrorDestination> mirrors;  // `mirror`, then `mirrors`, as written
  bool corsPolicy = false;                 // `corsPolicy` is set (not simulated: noted)
  std::string path;                        // "spec.http[1]"
};

struct L4Match {
  std::vector<std::string> destinationSubnets;
  std::optional<std::uint32_t> port;
  std::vector<std::string> sniHosts;  // TLS routes only
  Labels sourceLabels;
  std::vector<std::string> gateways;  // resolved (§2)
  std::string sourceNamespace;
};

struct L4Route {
  std::vector<L4Match> match;
  std::vector<RouteDestination> route;
  std::string path;  // "spec.tls[0]" / "spec.tcp[0]"
};

struct VirtualService : ResourceBase {
  std::vector<std::string> hosts;
  // Top-level gateways, resolved at load time as istiod does (§2): "name" and "./name" →
  // "<vs-ns>/name", "name.ns.svc.cluster.local" → "ns/name", "mesh" kept; empty → {"mesh"}.
  std::vector<std::string> gateways;
  std::vector<std::string> gatewaysAsWritten;
  std::vector<HttpRoute> http;
  std::vector<L4Route> tls;
  std::vector<L4Route> tcp;
  std::vector<std::string> exportTo;

  // A delegate VirtualService (no hosts): only reachable through another VS's
  // `http[].delegate`; it builds no virtual host of its own.
  [[nodiscard]] bool isDelegate() const { return hosts.empty(); }
};

// ------------------------------------------------------------------------ ServiceEntry
enum class Location { kMeshExternal, kMeshInternal };
enum class Resolution { kNone, kStatic, kDns, kDnsRoundRobin };

struct WorkloadEntrySpec {
  std::string address;
  std::map<std::string, std::uint32_t> ports;
  Labels labels;
  std::string network;
  std::string locality;
  std::uint32_t weight = 0;
  std::string serviceAccount;
};

struct ServiceEntry : ResourceBase {
  std::vector<std::string> hosts;
  std::vector<std::string> addresses;
  std::vector<Port> ports;
  Location location = Location::kMeshExternal;
  Resolution resolution = Resolution::kNone;
  std::vector<WorkloadEntrySpec> endpoints;
  Labels workloadSelector;
  std::vector<std::string> exportTo;
  std::vector<std::string> subjectAltNames;
};

// --------------------------------------------------------------------- DestinationRule
enum class ClientTlsMode { kDisable, kSimple, kMutual, kIstioMutual };

struct ClientTls {
  ClientTlsMode mode = ClientTlsMode::kDisable;
  std::string sni;
  std::string caCertificates;
  std::string credentialName;
  std::string clientCertificate;
  std::string privateKey;
  std::vector<std::string> subjectAltNames;
  std::optional<bool> insecureSkipVerify;
};

struct LoadBalancerSettings {
  std::string simple;  // ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN, RANDOM, PASSTHROUGH; "" if other
  bool consistentHash = false;
  nlohmann::json raw;  // the whole block as written
};

struct ConnectionPoolSettings {
  std::optional<std::int32_t> maxConnections;
  std::optional<Duration> connectTimeout;
  std::optional<std::int32_t> http1MaxPendingRequests;
  std::optional<std::int32_t> http2MaxRequests;
  std::optional<std::int32_t> maxRequestsPerConnection;
  std::optional<std::int32_t> maxRetries;
  std::optional<Duration> idleTimeout;
  nlohmann::json raw;
};

struct OutlierDetection {
  std::optional<std::int32_t> consecutive5xxErrors;
  std::optional<std::int32_t> consecutiveGatewayErrors;
  std::optional<Duration> interval;
  std::optional<Duration> baseEjectionTime;
  std::optional<std::int32_t> maxEjectionPercent;
  nlohmann::json raw;
};

struct PortTrafficPolicy {
  std::uint32_t port = 0;
  std::optional<LoadBalancerSettings> loadBalancer;
  std::optional<ConnectionPoolSettings> connectionPool;
  std::optional<OutlierDetection> outlierDetection;
  std::optional<ClientTls> tls;
  std::string path;  // "spec.subsets[0].trafficPolicy.portLevelSettings[0]"
};

struct TrafficPolicy {
  std::optional<LoadBalancerSettings> loadBalancer;
  std::optional<ConnectionPoolSettings> connectionPool;
  std::optional<OutlierDetection> outlierDetection;
  std::optional<ClientTls> tls;
  std::vector<PortTrafficPolicy> portLevelSettings;
  std::string path;  // "spec.trafficPolicy" or "spec.subsets[0].trafficPolicy"
};

struct Subset {
  std::string name;
  Labels labels;
  std::optional<TrafficPolicy> trafficPolicy;
  std::string path;  // "spec.subsets[0]"
};

struct DestinationRule : ResourceBase {
  std::string host;
  std::optional<TrafficPolicy> trafficPolicy;
  std::vector<Subset> subsets;
  std::vector<std::string> exportTo;
  Labels workloadSelector;
};

// ------------------------------------------------------------------ PeerAuthentication
enum class MtlsMode { kUnset, kDisable, kPermissive, kStrict };

struct PeerAuthentication : ResourceBase {
  Labels selector;  // empty = namespace-wide (or mesh-wide in the root namespace)
  MtlsMode mode = MtlsMode::kUnset;
  std::map<std::uint32_t, MtlsMode> portLevelMtls;
};

// ---------------------------------------------------------------- AuthorizationPolicy
// security.istio.io AuthorizationPolicy as written (docs/istio-behaviour.md §S1). Lists keep the
// user's strings; matching semantics live in mesh/authz.h. Every list item knows its field path
// ("spec.rules[0].from[1].source") so messages point at the user's file.
enum class AuthzAction { kAllow, kDeny, kAudit, kCustom };
std::string_view authzActionName(AuthzAction action);  // "ALLOW", "DENY", "AUDIT", "CUSTOM"

struct AuthzSource {
  std::vector<std::string> principals, notPrincipals;
  std::vector<std::string> requestPrincipals, notRequestPrincipals;
  std::vector<std::string> namespaces, notNamespaces;
  std::vector<std::string> ipBlocks, notIpBlocks;
  std::vector<std::string> remoteIpBlocks, notRemoteIpBlocks;
  std::vector<std::string> serviceAccounts, notServiceAccounts;  // "sa" or "ns/sa"
  std::string path;                                              // "spec.rules[0].from[0].source"
};

struct AuthzOperation {
  std::vector<std::string> hosts, notHosts;
  std::vector<std::string> ports, notPorts;  // strings, as the API has them
  std::vector<std::string> methods, notMethods;
  std::vector<std::string> paths, notPaths;
  std::string path;  // "spec.rules[0].to[0].operation"
};

struct AuthzCondition {
  std::string key;  // "request.headers[x-team]", "source.ip", …
  std::vector<std::string> values, notValues;
  std::string path;  // "spec.rules[0].when[0]"
};

struct AuthzRule {
  std::vector<AuthzSource> from;
  std::vector<AuthzOperation> to;
  std::vector<AuthzCondition> when;
  std::string path;  // "spec.rules[0]"
};

// A `targetRef` / `targetRefs` entry (Gateway API gateways, waypoints, Services).
struct PolicyTargetRef {
  std::string group;
  std::string kind;
  std::string name;
  std::string ns;
  std::string path;  // "spec.targetRef" or "spec.targetRefs[0]"
};

struct AuthorizationPolicy : ResourceBase {
  std::optional<Labels> selector;           // spec.selector.matchLabels; nullopt = no selector
  std::vector<PolicyTargetRef> targetRefs;  // targetRef, then targetRefs
  AuthzAction action = AuthzAction::kAllow;
  std::string provider;  // CUSTOM: spec.provider.name
  std::vector<AuthzRule> rules;
};

// ---------------------------------------------------------------- RequestAuthentication
// security.istio.io RequestAuthentication as written (docs/istio-behaviour.md §S3): the JWTs a
// proxy validates. Semantics (extraction, verification, Envoy's replies) live in mesh/jwt.h.
struct JwtHeaderLocation {
  std::string name;    // "authorization"
  std::string prefix;  // "Bearer "
};

struct JwtClaimToHeader {
  std::string header;
  std::string claim;
};

struct JwtRule {
  std::string issuer;
  std::vector<std::string> audiences;
  std::string jwksUri;
  std::string jwks;  // inline JWKS (JSON text)
  std::vector<JwtHeaderLocation> fromHeaders;
  std::vector<std::string> fromParams;
  std::vector<std::string> fromCookies;  // 1.21+
  std::string outputPayloadToHeader;
  std::vector<JwtClaimToHeader> outputClaimToHeaders;  // 1.17+
  bool forwardOriginalToken = false;
  std::string path;  // "spec.jwtRules[0]"
};

struct RequestAuthentication : ResourceBase {
  std::optional<Labels> selector;           // spec.selector.matchLabels; nullopt = no selector
  std::vector<PolicyTargetRef> targetRefs;  // targetRef, then targetRefs
  std::vector<JwtRule> jwtRules;
};

// ---------------------------------------------------------------- install.istio.io IstioOperator
// A Kubernetes probe (readinessProbe) as written in an IstioOperator overlay or k8s block.
struct Probe {
  enum class Kind { kHttpGet, kExec, kTcpSocket };
  Kind kind = Kind::kHttpGet;
  std::vector<std::string> command;  // exec
  std::string path;                  // httpGet
  std::uint32_t port = 0;            // httpGet/tcpSocket
  std::string scheme = "HTTP";       // httpGet
  std::int32_t initialDelaySeconds = 0;
  std::int32_t periodSeconds = 10;
  std::int32_t timeoutSeconds = 1;
  std::int32_t successThreshold = 1;
  std::int32_t failureThreshold = 3;
  SourcePos pos;  // where the user wrote it (or the IstioOperator for the chart default)
};

struct K8sPatch {
  std::string path;      // "spec.template.spec.containers[0].readinessProbe"
  nlohmann::json value;  // the YAML value converted to JSON
  SourcePos pos;
};

struct K8sOverlay {
  std::string kind;
  std::string name;
  std::vector<K8sPatch> patches;
};

struct GatewayComponent {
  std::string name;
  std::string ns;  // component namespace, else spec.namespace, else istio-system
  std::optional<bool> enabled;
  Labels label;
  std::vector<K8sOverlay> overlays;
  std::optional<Probe> readinessProbe;  // components.*.k8s.readinessProbe
  std::vector<Port> servicePorts;       // components.*.k8s.service.ports (port, targetPort, name)
  std::optional<std::int32_t> replicaCount;
  bool egress = false;
  std::string path;  // "spec.components.egressGateways[0]"
  // The probe set by an overlay patch `spec.template.spec.containers[0].readinessProbe` on the
  // Deployment overlay named like this component (validated at load; see gateway_workloads.h).
  std::optional<Probe> overlayReadinessProbe;
  nlohmann::json k8s;  // the component's whole `k8s` block as written
};

enum class OutboundTrafficPolicyMode { kAllowAny, kRegistryOnly };

struct MeshConfig {
  std::optional<std::string> accessLogFile;
  std::optional<std::string> accessLogEncoding;  // TEXT | JSON
  std::optional<std::string> accessLogFormat;
  std::optional<OutboundTrafficPolicyMode> outboundTrafficPolicy;
  std::optional<bool> enableAutoMtls;
  // An HTTPRetry replacing Istio's default retry policy (1.12+, docs/istio-behaviour.md §R2.1).
  std::optional<HttpRetry> defaultHttpRetryPolicy;
  std::vector<ExtensionProvider> extensionProviders;  // extension_providers.h
  nlohmann::json raw;  // spec.meshConfig as written (every field, typed or not)
};

struct IstioOperator : ResourceBase {
  std::string profile;  // "" = default
  std::string tag;
  std::string hub;
  std::string installNamespace;  // spec.namespace
  std::string revision;
  MeshConfig meshConfig;
  std::optional<bool> baseEnabled;
  std::optional<bool> pilotEnabled;
  std::vector<GatewayComponent> ingressGateways;
  std::vector<GatewayComponent> egressGateways;
  nlohmann::json values;  // spec.values as written
};

// ------------------------------------------------------------------------- Kubernetes
struct Namespace : ResourceBase {};

struct Secret : ResourceBase {
  std::string type;                         // kubernetes.io/tls, Opaque
  std::map<std::string, std::string> data;  // key → decoded value (data base64-decoded, stringData)
};

struct ServicePort {
  std::string name;
  std::uint32_t port = 0;
  std::optional<std::uint32_t> targetPort;
  std::string protocol = "TCP";
  std::string appProtocol;
};

struct Service : ResourceBase {
  Labels selector;
  std::vector<ServicePort> ports;
  std::string type;  // ClusterIP (default), NodePort, LoadBalancer, ExternalName
};

struct Container {
  std::string name;
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::optional<Probe> readinessProbe;
  std::vector<std::uint32_t> ports;
};

struct PodSpec {
  Labels labels;
  Labels annotations;
  std::string serviceAccountName;
  std::vector<Container> containers;
};

struct Deployment : ResourceBase {
  std::int32_t replicas = 1;
  Labels selector;
  PodSpec pod;  // spec.template
};

struct Pod : ResourceBase {
  PodSpec pod;
};

struct ServiceAccount : ResourceBase {};

// kind.x-k8s.io/v1alpha4 Cluster (fixtures/kind/config.yaml).
struct KindCluster : ResourceBase {
  nlohmann::json spec;  // the whole document as JSON (nodes, kubeadmConfigPatches, …)
};

// Kinds EgressLab loads and keeps but does not simulate (Sidecar,
// EnvoyFilter, Telemetry, RequestAuthentication, WorkloadEntry, …). The simulator and the
// analyzer report them as "not simulated" where they matter — never silently ignored.
struct UnsimulatedResource : ResourceBase {
  nlohmann::json spec;
};

// Everything loaded from a scenario's manifests (or from `analyze` inputs), in file order.
struct ResourceSet {
  std::vector<IstioOperator> istioOperators;
  std::vector<Gateway> gateways;
  std::vector<VirtualService> virtualServices;
  std::vector<ServiceEntry> serviceEntries;
  std::vector<DestinationRule> destinationRules;
  std::vector<PeerAuthentication> peerAuthentications;
  std::vector<AuthorizationPolicy> authorizationPolicies;
  std::vector<RequestAuthentication> requestAuthentications;
  std::vector<Namespace> namespaces;
  std::vector<Secret> secrets;
  std::vector<Service> services;
  std::vector<Deployment> deployments;
  std::vector<Pod> pods;
  std::vector<ServiceAccount> serviceAccounts;
  std::vector<KindCluster> kindClusters;
  std::vector<UnsimulatedResource> unsimulated;
  // Lenient loading only (LoadOptions::lenient): one error per resource that parsed as YAML
  // but broke the schema, at its FILE:LINE:COL. Those resources are left out of the set.
  std::vector<Error> invalid;

  // Appends every resource (and every invalid-resource error) of `other`.
  void append(ResourceSet&& other);
};

}  // namespace egresslab::model
