// Loading Istio/Kubernetes manifests: the seed fixtures, Istio's load-time rules (§2, §5),
// positions, and every error class with its exact FILE:LINE:COL.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "harness/model/files.h"
#include "harness/model/loader.h"
#include "harness/model/regex.h"

namespace egresslab::model {
namespace {

const std::filesystem::path kSeedDir =
    std::filesystem::path(EGRESSLAB_SOURCE_DIR) / "fixtures/seed";

const Vars kSeedVars = {{"my-proxied-service-hostname", "httpbin.example.com"},
                        {"my-secret-name", "httpbin-credential"}};

ResourceSet loadSeed() {
  auto set = loadManifests({kSeedDir}, LoadOptions{.vars = kSeedVars});
  EXPECT_TRUE(set.has_value()) << (set ? "" : set.error().str());
  return set ? std::move(*set) : ResourceSet{};
}

// The error text of parsing `yaml` as file "t.yaml" (which must fail).
std::string errorOf(const std::string& yaml, const LoadOptions& options = {}) {
  auto set = parseManifests(yaml, "t.yaml", options);
  if (set) return "<loaded without error>";
  EXPECT_EQ(set.error().kind, ErrorKind::kInvalidInput);
  return set.error().str();
}

ResourceSet parseOk(const std::string& yaml, const LoadOptions& options = {}) {
  auto set = parseManifests(yaml, "t.yaml", options);
  EXPECT_TRUE(set.has_value()) << (set ? "" : set.error().str());
  return set ? std::move(*set) : ResourceSet{};
}

// ------------------------------------------------------------------------- seed fixtures
TEST(SeedFixtures, AllEightFilesLoad) {
  const ResourceSet set = loadSeed();
  EXPECT_EQ(set.istioOperators.size(), 2u);
  EXPECT_EQ(set.gateways.size(), 2u);
  EXPECT_EQ(set.virtualServices.size(), 1u);
  EXPECT_EQ(set.serviceEntries.size(), 1u);
  EXPECT_EQ(set.destinationRules.size(), 1u);
  EXPECT_EQ(set.peerAuthentications.size(), 1u);
  EXPECT_TRUE(set.unsimulated.empty());
}

TEST(SeedFixtures, OperatorMeshConfig) {
  const ResourceSet set = loadSeed();
  // Directory order is by name: egress.yaml before operator.yaml.
  ASSERT_EQ(set.istioOperators.size(), 2u);
  const IstioOperator& mesh = set.istioOperators[1];
  EXPECT_EQ(mesh.meta.name, "istio-operator");
  EXPECT_EQ(mesh.meta.ns, "istio-operator");
  EXPECT_EQ(mesh.profile, "default");
  EXPECT_EQ(mesh.tag, "1.8.0");
  EXPECT_EQ(mesh.meshConfig.accessLogFile, "/dev/stdout");
  EXPECT_EQ(mesh.meshConfig.outboundTrafficPolicy, OutboundTrafficPolicyMode::kRegistryOnly);
  EXPECT_EQ(mesh.meshConfig.raw["outboundTrafficPolicy"]["mode"], "REGISTRY_ONLY");
}

TEST(SeedFixtures, EgressOperatorOverlayProbeIsExecArgv_S7) {
  const ResourceSet set = loadSeed();
  const IstioOperator& egress = set.istioOperators[0];
  EXPECT_TRUE(egress.meta.name.empty());  // the post's egress IOP has no metadata at all
  EXPECT_EQ(egress.profile, "empty");
  EXPECT_EQ(egress.installNamespace, "httpbin");
  ASSERT_EQ(egress.egressGateways.size(), 1u);
  const GatewayComponent& gw = egress.egressGateways[0];
  EXPECT_EQ(gw.name, "httpbin-egress");
  EXPECT_EQ(gw.ns, "httpbin");  // spec.namespace, no component namespace
  EXPECT_EQ(gw.enabled, true);
  EXPECT_TRUE(gw.egress);
  EXPECT_EQ(gw.path, "spec.components.egressGateways[0]");
  EXPECT_EQ(gw.label.at("custom-egress"), "httpbin-egress");
  ASSERT_EQ(gw.overlays.size(), 1u);
  EXPECT_EQ(gw.overlays[0].kind, "Deployment");
  EXPECT_EQ(gw.overlays[0].name, "httpbin-egress");
  ASSERT_EQ(gw.overlays[0].patches.size(), 1u);
  EXPECT_EQ(gw.overlays[0].patches[0].path, "spec.template.spec.containers[0].readinessProbe");
  EXPECT_EQ(gw.overlays[0].patches[0].value["failureThreshold"], 30);
  ASSERT_TRUE(gw.overlayReadinessProbe.has_value());
  const Probe& probe = *gw.overlayReadinessProbe;
  EXPECT_EQ(probe.kind, Probe::Kind::kExec);
  EXPECT_EQ(probe.command,
            (std::vector<std::string>{"/bin/sh", "-c",
                                      "curl http://localhost:15021/healthz/ready && curl "
                                      "https://httpbin.org/status/200"}));
  EXPECT_EQ(probe.failureThreshold, 30);
  EXPECT_EQ(probe.periodSeconds, 2);
  EXPECT_EQ(probe.initialDelaySeconds, 1);
  EXPECT_EQ(probe.timeoutSeconds, 1);
  EXPECT_EQ(probe.pos.line, 22);  // the patch value's first line
  EXPECT_EQ(egress.values["gateways"]["istio-egressgateway"]["runAsRoot"], true);
}

TEST(SeedFixtures, IngressGatewayLowerCaseHttpsIsHttps_S5) {
  const ResourceSet set = loadSeed();
  const Gateway& ingress = set.gateways[1];  // ingress-gateway.yaml after egress-gateway.yaml
  EXPECT_EQ(ingress.ref(), "Gateway istio-system/my-ingressgateway");
  EXPECT_EQ(ingress.selector, (Labels{{"istio", "ingressgateway"}}));
  ASSERT_EQ(ingress.servers.size(), 2u);
  EXPECT_EQ(ingress.servers[0].port.number, 80u);
  EXPECT_EQ(ingress.servers[0].port.protocol, Protocol::kHttp);
  ASSERT_TRUE(ingress.servers[0].tls.has_value());
  EXPECT_TRUE(ingress.servers[0].tls->httpsRedirect);
  EXPECT_EQ(ingress.servers[0].hosts, (std::vector<std::string>{"httpbin.example.com"}));
  const GatewayServer& https = ingress.servers[1];
  EXPECT_EQ(https.port.protocolText, "https");
  EXPECT_EQ(https.port.protocol, Protocol::kHttps);
  EXPECT_EQ(https.tls->mode, ServerTlsMode::kSimple);
  EXPECT_EQ(https.tls->credentialName, "httpbin-credential");
  EXPECT_EQ(https.path, "spec.servers[1]");
}

TEST(SeedFixtures, EgressGatewaySelectorIncludesCanonicalName) {
  const ResourceSet set = loadSeed();
  const Gateway& egress = set.gateways[0];
  EXPECT_EQ(egress.ref(), "Gateway httpbin/httpbin-egress");
  EXPECT_EQ(egress.selector.at("service.istio.io/canonical-name"), "httpbin-egress");
  EXPECT_EQ(egress.servers[0].port.name, "http");
}

TEST(SeedFixtures, VirtualServiceRoutesAndGateways_S2) {
  const ResourceSet set = loadSeed();
  const VirtualService& vs = set.virtualServices[0];
  EXPECT_EQ(vs.hosts, (std::vector<std::string>{"httpbin.example.com"}));
  EXPECT_EQ(vs.gateways, (std::vector<std::string>{"mesh", "istio-system/my-ingressgateway",
                                                   "httpbin/httpbin-egress"}));
  ASSERT_EQ(vs.http.size(), 2u);
  EXPECT_EQ(vs.http[0].match[0].gateways,
            (std::vector<std::string>{"istio-system/my-ingressgateway", "mesh"}));
  EXPECT_EQ(vs.http[0].match[0].uri->kind, StringMatch::Kind::kPrefix);
  EXPECT_EQ(vs.http[0].route[0].destination.host, "httpbin-egress.httpbin.svc.cluster.local");
  EXPECT_EQ(vs.http[0].route[0].destination.port, 80u);
  EXPECT_EQ(vs.http[1].route[0].destination.subset, "http-egress-subset");
  EXPECT_EQ(vs.http[1].route[0].destination.port, 443u);
  EXPECT_EQ(vs.http[1].path, "spec.http[1]");
}

TEST(SeedFixtures, DestinationRuleSubsetPortLevelTlsWithoutSni_S4) {
  const ResourceSet set = loadSeed();
  const DestinationRule& dr = set.destinationRules[0];
  EXPECT_EQ(dr.host, "httpbin.org");
  EXPECT_FALSE(dr.trafficPolicy.has_value());
  ASSERT_EQ(dr.subsets.size(), 1u);
  const TrafficPolicy& tp = *dr.subsets[0].trafficPolicy;
  EXPECT_EQ(tp.path, "spec.subsets[0].trafficPolicy");
  EXPECT_EQ(tp.loadBalancer->simple, "ROUND_ROBIN");
  ASSERT_EQ(tp.portLevelSettings.size(), 1u);
  EXPECT_EQ(tp.portLevelSettings[0].port, 443u);
  EXPECT_EQ(tp.portLevelSettings[0].tls->mode, ClientTlsMode::kSimple);
  EXPECT_TRUE(tp.portLevelSettings[0].tls->sni.empty());
}

TEST(SeedFixtures, ServiceEntryAndPeerAuthentication) {
  const ResourceSet set = loadSeed();
  const ServiceEntry& se = set.serviceEntries[0];
  EXPECT_EQ(se.hosts, (std::vector<std::string>{"httpbin.org"}));
  EXPECT_EQ(se.location, Location::kMeshExternal);
  EXPECT_EQ(se.resolution, Resolution::kDns);
  ASSERT_EQ(se.ports.size(), 1u);
  EXPECT_EQ(se.ports[0].protocol, Protocol::kTls);
  const PeerAuthentication& pa = set.peerAuthentications[0];
  EXPECT_EQ(pa.apiVersion, "security.istio.io/v1beta1");
  EXPECT_EQ(pa.mode, MtlsMode::kStrict);
  EXPECT_TRUE(pa.selector.empty());
}

TEST(SeedFixtures, KindClusterConfigLoads) {
  auto set =
      loadManifests({std::filesystem::path(EGRESSLAB_SOURCE_DIR) / "fixtures/kind/config.yaml"});
  ASSERT_TRUE(set) << set.error().str();
  ASSERT_EQ(set->kindClusters.size(), 1u);
  EXPECT_EQ(set->kindClusters[0].spec["kubeadmConfigPatches"].size(), 1u);
}

TEST(SeedFixtures, UnresolvedPlaceholderIsErrorAtExactColumn) {
  auto set = loadManifests({kSeedDir / "ingress-gateway.yaml"},
                           LoadOptions{.vars = {{"my-secret-name", "x"}}});
  ASSERT_FALSE(set);
  // Line 11: `    - "<my-proxied-service-hostname>"` — the placeholder starts after the quote.
  EXPECT_EQ(set.error().str(),
            (kSeedDir / "ingress-gateway.yaml").string() +
                ":11:8: unresolved placeholder <my-proxied-service-hostname>: add "
                "\"my-proxied-service-hostname\" to the scenario's vars");
}

TEST(SeedFixtures, PlaceholdersKeptWhenNotRequired) {
  auto set = loadManifests({kSeedDir / "ingress-gateway.yaml"},
                           LoadOptions{.vars = {}, .requireAllPlaceholders = false});
  ASSERT_TRUE(set) << set.error().str();
  EXPECT_EQ(set->gateways[0].servers[1].tls->credentialName, "<my-secret-name>");
}

// ------------------------------------------------------------------------------ positions
TEST(Positions, FieldsAreRecordedByPath) {
  const ResourceSet set = loadSeed();
  const Gateway& ingress = set.gateways[1];
  EXPECT_EQ(ingress.origin.pos.line, 1);
  EXPECT_EQ(ingress.origin.pos.file, (kSeedDir / "ingress-gateway.yaml").string());
  const SourcePos cred = ingress.origin.at("spec.servers[1].tls.credentialName");
  EXPECT_EQ(cred.line, 26);
  EXPECT_EQ(cred.column, 23);
  EXPECT_EQ(ingress.origin.at("metadata.name").line, 4);
  EXPECT_EQ(ingress.origin.at("spec.servers[1].port.protocol").line, 21);
  // A path that is not written falls back to the closest recorded parent.
  EXPECT_EQ(ingress.origin.at("spec.servers[1].tls.sni").line, 24);
  EXPECT_EQ(ingress.origin.at("nothing.here"), ingress.origin.pos);
}

TEST(Positions, SelectorLabelWithDotsAndSlash) {
  const ResourceSet set = loadSeed();
  EXPECT_EQ(set.gateways[0].origin.at("spec.selector.service.istio.io/canonical-name").line, 9);
}

// -------------------------------------------------------------------------- §2 short names
TEST(GatewayShortNames_S2, ResolvedAgainstVirtualServiceNamespace) {
  const ResourceSet set = parseOk(R"(apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs, namespace: team}
spec:
  hosts: [a.example.com]
  gateways: [gw, ./gw2, other/gw3, gw4.ns4.svc.cluster.local, mesh]
  http:
  - match:
    - gateways: [gw, ./gw2]
    route:
    - destination: {host: a.example.com}
)");
  const VirtualService& vs = set.virtualServices[0];
  EXPECT_EQ(vs.gateways,
            (std::vector<std::string>{"team/gw", "team/gw2", "other/gw3", "ns4/gw4", "mesh"}));
  EXPECT_EQ(vs.gatewaysAsWritten[1], "./gw2");
  EXPECT_EQ(vs.http[0].match[0].gateways, (std::vector<std::string>{"team/gw", "team/gw2"}));
}

TEST(GatewayShortNames_S2, EmptyGatewaysMeansMesh) {
  const ResourceSet set = parseOk(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [a]
  tcp:
  - match: [{gateways: [gw]}]
    route: [{destination: {host: a}}]
)");
  EXPECT_EQ(set.virtualServices[0].gateways, (std::vector<std::string>{"mesh"}));
  EXPECT_TRUE(set.virtualServices[0].gatewaysAsWritten.empty());
  // No metadata.namespace: the apply's default namespace.
  EXPECT_EQ(set.virtualServices[0].tcp[0].match[0].gateways,
            (std::vector<std::string>{"default/gw"}));
}

// -------------------------------------------------------------------- normalisation rules
TEST(Normalisation, DurationsBecomeMilliseconds) {
  const ResourceSet set = parseOk(R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs, namespace: n}
spec:
  hosts: [a]
  http:
  - timeout: 1.5s
    retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,reset"}
    fault: {delay: {fixedDelay: 1m, percentage: {value: 12.5}}, abort: {httpStatus: 503}}
    route: [{destination: {host: a}}]
  - timeout: 1h
    route: [{destination: {host: a}}]
  - timeout: 1m30s
    route: [{destination: {host: a}}]
)");
  const auto& http = set.virtualServices[0].http;
  EXPECT_EQ(http[0].timeout, Duration{1500});
  EXPECT_EQ(http[0].retries->attempts, 3);
  EXPECT_EQ(http[0].retries->perTryTimeout, Duration{500});
  EXPECT_EQ(http[0].fault->delay->fixedDelay, Duration{60000});
  EXPECT_DOUBLE_EQ(http[0].fault->delay->percent, 12.5);
  EXPECT_EQ(http[0].fault->abort->httpStatus, 503);
  // §R7: no percentage → nothing is aborted.
  EXPECT_DOUBLE_EQ(http[0].fault->abort->percent, 0);
  EXPECT_EQ(http[1].timeout, Duration{3600000});
  EXPECT_EQ(http[2].timeout, Duration{90000});
}

TEST(Normalisation, BadDurationIsError) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [a]
  http:
  - timeout: 5x
    route: [{destination: {host: a}}]
)"),
            "t.yaml:7:14: invalid duration \"5x\" for timeout: use e.g. 500ms, 1s, 1.5s, 1m, 1h");
}

TEST(Normalisation, MatchHeaderNamesAreLowerCased) {
  const ResourceSet set = parseOk(R"(apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [a]
  http:
  - match:
    - headers: {X-Team: {exact: Blue}, Present: {}}
      withoutHeaders: {X-Debug: {regex: ".*"}}
      queryParams: {Mode: {exact: Fast}}
    route: [{destination: {host: a}}]
)");
  const HttpMatch& m = set.virtualServices[0].http[0].match[0];
  EXPECT_EQ(m.headers.at("x-team").value, "Blue");  // values keep their case
  EXPECT_EQ(m.headers.at("present").kind, StringMatch::Kind::kPrefix);
  EXPECT_EQ(m.withoutHeaders.at("x-debug").kind, StringMatch::Kind::kRegex);
  EXPECT_EQ(m.queryParams.at("Mode").value, "Fast");  // query parameter names are case-sensitive
}

TEST(Normalisation, ProtocolsAreCaseInsensitive_S5) {
  EXPECT_EQ(parseProtocol("https"), Protocol::kHttps);
  EXPECT_EQ(parseProtocol("HTTPS"), Protocol::kHttps);
  EXPECT_EQ(parseProtocol("Http2"), Protocol::kHttp2);
  EXPECT_EQ(parseProtocol("grpc-web"), Protocol::kGrpcWeb);
  EXPECT_EQ(parseProtocol("tls"), Protocol::kTls);
  EXPECT_EQ(parseProtocol("quic"), Protocol::kUnsupported);
  EXPECT_EQ(protocolName(Protocol::kHttps), "HTTPS");
  EXPECT_EQ(protocolName(Protocol::kGrpcWeb), "GRPC-WEB");
  EXPECT_TRUE(isHttpLike(Protocol::kHttp2));
  EXPECT_TRUE(isHttpLike(Protocol::kGrpc));
  EXPECT_FALSE(isHttpLike(Protocol::kHttps));
  EXPECT_FALSE(isHttpLike(Protocol::kTls));
}

// ----------------------------------------------------------------------- strict schema
TEST(StrictSchema, UnknownFieldSuggestsClosest) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs}
spec:
  hostz: [a]
)"),
            "t.yaml:5:3: unknown field \"hostz\" in VirtualService spec; did you mean \"hosts\"?");
}

TEST(StrictSchema, UnknownNestedFieldNamesItsPath) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: dr}
spec:
  host: a
  trafficPolicy:
    tls: {mode: SIMPLE, snii: a.example.com}
)"),
            "t.yaml:7:25: unknown field \"snii\" in DestinationRule spec.trafficPolicy.tls; did "
            "you mean \"sni\"?");
}

TEST(StrictSchema, UnknownFieldWithoutCloseMatchListsValidFields) {
  const std::string error = errorOf(R"(apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: pa}
spec:
  completelyDifferent: 1
)");
  EXPECT_EQ(error,
            "t.yaml:5:3: unknown field \"completelyDifferent\" in PeerAuthentication spec; valid "
            "fields: mtls, portLevelMtls, selector");
}

TEST(StrictSchema, UnknownMetadataFieldIsError) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata:
  name: gw
  namepsace: x
spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
)"),
            "t.yaml:5:3: unknown field \"namepsace\" in Gateway metadata; did you mean "
            "\"namespace\"?");
}

TEST(StrictSchema, EveryRealVirtualServiceFieldIsAccepted) {
  const ResourceSet set = parseOk(R"(apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs, namespace: n}
spec:
  hosts: [a.example.com]
  exportTo: ["."]
  http:
  - name: primary
    match:
    - name: m
      uri: {regex: "/v[0-9]+/.*"}
      scheme: {exact: https}
      method: {exact: GET}
      authority: {prefix: a}
      port: 8080
      sourceLabels: {app: web}
      sourceNamespace: web
      ignoreUriCase: true
      statPrefix: primary
      queryParams: {q: {exact: "1"}}
    route:
    - destination: {host: a.example.com, subset: v1, port: {number: 80}}
      weight: 90
      headers: {request: {set: {x-a: "1"}, add: {x-b: "2"}, remove: [x-c]}}
    - destination: {host: b.example.com}
      weight: 10
    mirror: {host: mirror.example.com, port: {number: 80}}
    mirrorPercentage: {value: 5.0}
    mirror_percent: 5
    mirrors: [{destination: {host: m2}, percentage: {value: 1}}]
    corsPolicy:
      allowOrigins: [{exact: "https://x"}]
      allowMethods: [GET]
      allowHeaders: [x]
      exposeHeaders: [y]
      maxAge: 24h
      allowCredentials: true
    rewrite: {uri: /, authority: b, uriRegexRewrite: {match: "^/a", rewrite: /b}}
    headers: {response: {remove: [server]}}
    retries: {attempts: 2, retryRemoteLocalities: true, backoff: 1s, retryIgnorePreviousHosts: false}
  - delegate: {name: child, namespace: other}
  - redirect: {uri: /new, redirectCode: 302, derivePort: FROM_REQUEST_PORT}
  - directResponse: {status: 418, body: {string: teapot}}
  tls:
  - match: [{sniHosts: [a.example.com], port: 443, destinationSubnets: [10.0.0.0/8]}]
    route: [{destination: {host: a.example.com}}]
  tcp:
  - match: [{port: 3306, sourceSubnet: 10.0.0.0/8}]
    route: [{destination: {host: db}}]
)");
  const VirtualService& vs = set.virtualServices.at(0);
  EXPECT_EQ(vs.http.size(), 4u);
  EXPECT_EQ(vs.http[0].route[0].weight, 90);
  EXPECT_EQ(vs.http[0].route[0].headers.request.set.at("x-a"), "1");
  EXPECT_EQ(vs.http[0].match[0].port, 8080u);
  EXPECT_TRUE(vs.http[0].match[0].ignoreUriCase);
  EXPECT_EQ(vs.http[0].rewrite->authority, "b");
  EXPECT_EQ(vs.http[2].redirect->redirectCode, 302u);
  EXPECT_EQ(vs.http[3].directResponse->status, 418u);
  EXPECT_EQ(vs.http[3].directResponse->body, "teapot");
  // 1.26+ HTTPRetry fields: backoff is a duration (§R2.2).
  EXPECT_EQ(vs.http[0].retries->backoff, Duration{1000});
  EXPECT_EQ(vs.http[0].retries->retryIgnorePreviousHosts, false);
  EXPECT_EQ(vs.tls[0].match[0].sniHosts[0], "a.example.com");
  EXPECT_EQ(vs.tcp[0].match[0].port, 3306u);
}

TEST(StrictSchema, EveryRealDestinationRuleFieldIsAccepted) {
  const ResourceSet set = parseOk(R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec:
  host: a.example.com
  exportTo: ["*"]
  workloadSelector: {matchLabels: {app: x}}
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpCookie: {name: c, ttl: 0s}, minimumRingSize: 1024}
      localityLbSetting: {enabled: true, failover: [{from: a, to: b}]}
      warmupDurationSecs: 10s
    connectionPool:
      tcp: {maxConnections: 100, connectTimeout: 30ms, tcpKeepalive: {time: 7200s, interval: 75s}}
      http: {http1MaxPendingRequests: 10, maxRequestsPerConnection: 1, idleTimeout: 1h,
             h2UpgradePolicy: UPGRADE, useClientProtocol: true}
    outlierDetection: {consecutive5xxErrors: 7, interval: 5m, baseEjectionTime: 15m,
                       maxEjectionPercent: 50, splitExternalLocalOriginErrors: true}
    tls: {mode: MUTUAL, clientCertificate: /c, privateKey: /k, caCertificates: /ca,
          subjectAltNames: [a], sni: a.example.com, insecureSkipVerify: false, caCrl: /crl}
    tunnel: {protocol: CONNECT, targetHost: a, targetPort: 443}
    proxyProtocol: {version: V2}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      portLevelSettings:
      - port: {number: 443}
        loadBalancer: {simple: LEAST_REQUEST}
        tls: {mode: ISTIO_MUTUAL, credentialName: cred}
)");
  const DestinationRule& dr = set.destinationRules.at(0);
  EXPECT_EQ(dr.workloadSelector.at("app"), "x");
  EXPECT_TRUE(dr.trafficPolicy->loadBalancer->consistentHash);
  EXPECT_EQ(dr.trafficPolicy->loadBalancer->raw["localityLbSetting"]["enabled"], true);
  EXPECT_EQ(dr.trafficPolicy->connectionPool->maxConnections, 100);
  EXPECT_EQ(dr.trafficPolicy->connectionPool->connectTimeout, Duration{30});
  EXPECT_EQ(dr.trafficPolicy->connectionPool->idleTimeout, Duration{3600000});
  EXPECT_EQ(dr.trafficPolicy->outlierDetection->consecutive5xxErrors, 7);
  EXPECT_EQ(dr.trafficPolicy->outlierDetection->baseEjectionTime, Duration{900000});
  EXPECT_EQ(dr.trafficPolicy->tls->mode, ClientTlsMode::kMutual);
  EXPECT_EQ(dr.trafficPolicy->tls->insecureSkipVerify, false);
  EXPECT_EQ(dr.subsets[0].trafficPolicy->portLevelSettings[0].loadBalancer->simple,
            "LEAST_REQUEST");
  EXPECT_EQ(dr.subsets[0].trafficPolicy->portLevelSettings[0].path,
            "spec.subsets[0].trafficPolicy.portLevelSettings[0]");
}

TEST(StrictSchema, UnknownFieldInsideRawBlockIsError) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec:
  host: a
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeader: x}
)"),
            "t.yaml:8:24: unknown field \"httpHeader\" in DestinationRule "
            "spec.trafficPolicy.loadBalancer.consistentHash; did you mean \"httpHeaderName\"?");
}

TEST(StrictSchema, GatewayAndServiceEntryRealFieldsAccepted) {
  const ResourceSet set = parseOk(R"(apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS, targetPort: 8443}
    hosts: ["ns/*.example.com"]
    bind: 0.0.0.0
    defaultEndpoint: 127.0.0.1:8080
    name: main
    tls:
      mode: MUTUAL
      serverCertificate: /etc/cert.pem
      privateKey: /etc/key.pem
      caCertificates: /etc/ca.pem
      minProtocolVersion: TLSV1_2
      maxProtocolVersion: TLSV1_3
      cipherSuites: [ECDHE-RSA-AES256-GCM-SHA384]
      verifyCertificateSpki: [abc]
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: [db.internal]
  addresses: [10.1.2.3/32]
  ports: [{number: 5432, name: tcp, protocol: TCP, targetPort: 5433}]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints:
  - {address: 10.1.2.3, ports: {tcp: 5433}, labels: {a: b}, locality: r/z, weight: 2,
     network: n1, serviceAccount: sa}
  exportTo: ["."]
  subjectAltNames: ["spiffe://x"]
)");
  EXPECT_EQ(set.gateways[0].servers[0].tls->minProtocolVersion, "TLSV1_2");
  EXPECT_EQ(set.gateways[0].servers[0].port.targetPort, 8443u);
  EXPECT_EQ(set.serviceEntries[0].resolution, Resolution::kStatic);
  EXPECT_EQ(set.serviceEntries[0].endpoints[0].ports.at("tcp"), 5433u);
  EXPECT_EQ(set.serviceEntries[0].endpoints[0].weight, 2u);
}

TEST(StrictSchema, IstioOperatorEveryK8sFieldAccepted) {
  const ResourceSet set = parseOk(R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: gws, namespace: istio-system}
spec:
  profile: empty
  hub: docker.io/istio
  tag: 1.22.3
  revision: canary
  meshConfig:
    accessLogFile: /dev/stdout
    accessLogEncoding: JSON
    accessLogFormat: "[%START_TIME%]"
    enableAutoMtls: false
    defaultConfig: {holdApplicationUntilProxyStarts: true}
    anyFutureField: {x: 1}
  components:
    base: {enabled: false}
    pilot: {enabled: false, k8s: {resources: {requests: {cpu: 10m}}}}
    cni: {enabled: false}
    ingressGateways:
    - name: istio-ingressgateway
      enabled: false
    egressGateways:
    - name: crm-egress
      namespace: crm
      enabled: true
      label: {istio: egressgateway, team: crm}
      hub: docker.io/istio
      tag: 1.22.3
      k8s:
        replicaCount: 2
        resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 1Gi}}
        hpaSpec: {minReplicas: 2, maxReplicas: 5, metrics: [{type: Resource}]}
        podAnnotations: {a: b}
        env: [{name: ISTIO_META_X, value: "1"}]
        nodeSelector: {pool: egress}
        tolerations: [{key: k, operator: Exists}]
        affinity: {podAntiAffinity: {}}
        strategy: {rollingUpdate: {maxSurge: 100%, maxUnavailable: 25%}}
        securityContext: {runAsUser: 1337}
        serviceAnnotations: {x: y}
        podDisruptionBudget: {minAvailable: 1}
        priorityClassName: high
        imagePullPolicy: IfNotPresent
        volumes: [{name: v, secret: {secretName: s}}]
        volumeMounts: [{name: v, mountPath: /v}]
        readinessProbe:
          httpGet: {path: /healthz/ready, port: 15021}
          periodSeconds: 5
        service:
          type: ClusterIP
          ports:
          - {port: 80, targetPort: 8080, name: http2}
          - {port: 443, targetPort: 8443, name: https, protocol: TCP}
        overlays:
        - apiVersion: apps/v1
          kind: Deployment
          name: crm-egress
          patches:
          - path: spec.template.spec.containers.[name:istio-proxy].lifecycle
            value: {preStop: {exec: {command: [sleep, "5"]}}}
  values:
    gateways:
      istio-egressgateway: {injectionTemplate: gateway}
  unvalidatedValues: {a: 1}
)");
  const IstioOperator& iop = set.istioOperators.at(0);
  EXPECT_EQ(iop.revision, "canary");
  EXPECT_EQ(iop.baseEnabled, false);
  EXPECT_EQ(iop.pilotEnabled, false);
  EXPECT_EQ(iop.meshConfig.accessLogEncoding, "JSON");
  EXPECT_EQ(iop.meshConfig.enableAutoMtls, false);
  EXPECT_EQ(iop.meshConfig.raw["anyFutureField"]["x"], 1);
  EXPECT_EQ(iop.ingressGateways.at(0).enabled, false);
  const GatewayComponent& gw = iop.egressGateways.at(0);
  EXPECT_EQ(gw.ns, "crm");
  EXPECT_EQ(gw.replicaCount, 2);
  ASSERT_TRUE(gw.readinessProbe);
  EXPECT_EQ(gw.readinessProbe->port, 15021u);
  EXPECT_EQ(gw.readinessProbe->periodSeconds, 5);
  ASSERT_EQ(gw.servicePorts.size(), 2u);
  EXPECT_EQ(gw.servicePorts[1].number, 443u);
  EXPECT_EQ(gw.servicePorts[1].targetPort, 8443u);
  EXPECT_FALSE(gw.overlayReadinessProbe);  // the patch targets lifecycle, not the probe
  EXPECT_EQ(gw.k8s["hpaSpec"]["maxReplicas"], 5);
}

TEST(StrictSchema, IstioOperatorUnknownComponentFieldIsError) {
  EXPECT_EQ(errorOf(R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  components:
    egressGateways:
    - name: e
      k8s:
        readinesProbe: {}
)"),
            "t.yaml:8:9: unknown field \"readinesProbe\" in IstioOperator "
            "spec.components.egressGateways[0].k8s; did you mean \"readinessProbe\"?");
}

TEST(StrictSchema, MeshConfigTypedFieldsAreChecked) {
  EXPECT_EQ(errorOf(R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig:
    outboundTrafficPolicy: {mode: REGISTRY}
)"),
            "t.yaml:5:35: invalid value \"REGISTRY\" for outboundTrafficPolicy.mode; valid values: "
            "ALLOW_ANY, REGISTRY_ONLY (did you mean \"REGISTRY_ONLY\"?)");
}

TEST(StrictSchema, KubernetesObjectsAreLenientBelowSpec) {
  const ResourceSet set = parseOk(R"(apiVersion: v1
kind: Namespace
metadata:
  name: httpbin
  labels: {istio-injection: enabled}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sleep, namespace: httpbin}
spec:
  replicas: 2
  selector: {matchLabels: {app: sleep}}
  revisionHistoryLimit: 3
  template:
    metadata:
      labels: {app: sleep}
      annotations: {sidecar.istio.io/inject: "true"}
    spec:
      serviceAccountName: sleep
      terminationGracePeriodSeconds: 0
      containers:
      - name: sleep
        image: curlimages/curl
        command: ["/bin/sleep", "infinity"]
        imagePullPolicy: IfNotPresent
        volumeMounts: [{mountPath: /etc/sleep/tls, name: secret-volume}]
        ports: [{containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 3}
      volumes: [{name: secret-volume, secret: {secretName: sleep-secret, optional: true}}]
---
apiVersion: v1
kind: Service
metadata: {name: sleep, namespace: httpbin}
spec:
  selector: {app: sleep}
  ports: [{port: 80, targetPort: 8080, name: http, appProtocol: http}]
  sessionAffinity: None
---
apiVersion: v1
kind: Secret
metadata: {name: cred, namespace: istio-system}
type: kubernetes.io/tls
data:
  tls.crt: aGVsbG8=
stringData:
  tls.key: secret
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sleep, namespace: httpbin}
---
apiVersion: v1
kind: Pod
metadata: {name: p, labels: {app: p}}
spec:
  containers: [{name: c, image: i}]
)");
  EXPECT_EQ(set.namespaces.at(0).meta.labels.at("istio-injection"), "enabled");
  const Deployment& dep = set.deployments.at(0);
  EXPECT_EQ(dep.replicas, 2);
  EXPECT_EQ(dep.selector.at("app"), "sleep");
  EXPECT_EQ(dep.pod.labels.at("app"), "sleep");
  EXPECT_EQ(dep.pod.serviceAccountName, "sleep");
  EXPECT_EQ(dep.pod.containers.at(0).command[1], "infinity");
  EXPECT_EQ(dep.pod.containers.at(0).ports, (std::vector<std::uint32_t>{8080}));
  EXPECT_EQ(dep.pod.containers.at(0).readinessProbe->kind, Probe::Kind::kTcpSocket);
  EXPECT_EQ(set.services.at(0).ports.at(0).targetPort, 8080u);
  EXPECT_EQ(set.services.at(0).type, "ClusterIP");
  EXPECT_EQ(set.secrets.at(0).type, "kubernetes.io/tls");
  EXPECT_EQ(set.secrets.at(0).data.at("tls.crt"), "hello");
  EXPECT_EQ(set.secrets.at(0).data.at("tls.key"), "secret");
  EXPECT_EQ(set.serviceAccounts.size(), 1u);
  EXPECT_EQ(set.pods.at(0).pod.labels.at("app"), "p");
}

TEST(StrictSchema, UnsimulatedKindsAreKeptNotIgnored) {
  const ResourceSet set = parseOk(R"(apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: ef, namespace: istio-system}
spec: {configPatches: []}
---
apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {name: default}
spec: {egress: [{hosts: ["./*"]}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny}
spec: {}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data: {a: b}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: c}
spec: {secretName: s}
---
---
)");
  ASSERT_EQ(set.unsimulated.size(), 4u);  // the AuthorizationPolicy is typed (§S1)
  EXPECT_EQ(set.unsimulated[0].ref(), "EnvoyFilter istio-system/ef");
  EXPECT_EQ(set.unsimulated[1].kind, "Sidecar");
  EXPECT_EQ(set.unsimulated[2].spec["data"]["a"], "b");
  EXPECT_EQ(set.authorizationPolicies.size(), 1u);
  EXPECT_EQ(set.unsimulated[3].spec["secretName"], "s");
}

TEST(StrictSchema, UnknownIstioKindSuggests) {
  EXPECT_EQ(errorOf("apiVersion: networking.istio.io/v1beta1\nkind: VirtualServce\n"),
            "t.yaml:2:7: unknown kind \"VirtualServce\" in networking.istio.io/v1beta1; did you "
            "mean \"VirtualService\"?");
}

TEST(StrictSchema, UnsupportedIstioApiVersionListsValid) {
  EXPECT_EQ(errorOf("apiVersion: networking.istio.io/v2\nkind: Gateway\n"),
            "t.yaml:1:13: unsupported apiVersion \"networking.istio.io/v2\" for "
            "networking.istio.io; valid versions: v1alpha3, v1beta1, v1");
}

// ----------------------------------------------------------------------- error classes
TEST(ErrorClasses, YamlSyntaxErrorHasPosition) {
  EXPECT_EQ(errorOf("apiVersion: v1\nkind: [Namespace\n"),
            "t.yaml:3:1: YAML syntax error: end of sequence flow not found");
}

TEST(ErrorClasses, DuplicateKeyIsError) {
  EXPECT_EQ(errorOf("apiVersion: v1\nkind: Namespace\nkind: Secret\n"),
            "t.yaml:3:1: duplicate field \"kind\"");
}

TEST(ErrorClasses, DocumentMustBeAMap) {
  EXPECT_EQ(errorOf("- a\n- b\n"),
            "t.yaml:1:1: a manifest document must be a map with apiVersion and kind, got a list");
}

TEST(ErrorClasses, MissingKind) {
  EXPECT_EQ(errorOf("apiVersion: v1\nmetadata: {name: x}\n"),
            "t.yaml:1:1: missing required field \"kind\"");
}

TEST(ErrorClasses, WrongTypeStringWhereListNeeded) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: a.example.com
)"),
            "t.yaml:5:10: hosts must be a list of strings, got \"a.example.com\"");
}

TEST(ErrorClasses, WrongTypeNonNumberPort) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw}
spec:
  servers:
  - port: {number: http, name: http, protocol: HTTP}
    hosts: ["*"]
)"),
            "t.yaml:6:20: spec.servers[0].port.number must be an integer, got \"http\"");
}

TEST(ErrorClasses, WrongTypeMapWhereStringNeeded) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: dr}
spec:
  host: {name: a}
)"),
            "t.yaml:5:9: host must be a string, got a map");
}

TEST(ErrorClasses, PortNumberZeroIsError) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: [a]
  ports: [{number: 0, name: tcp, protocol: TCP}]
  resolution: DNS
)"),
            "t.yaml:6:20: spec.ports[0].number must be between 1 and 65535, got 0");
}

TEST(DelegateVirtualService, WithoutHostsLoadsAsDelegate) {
  const ResourceSet set = parseOk(R"(apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: parent, namespace: shop}
spec:
  hosts: [shop.example.com]
  http:
  - delegate: {name: child}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: child, namespace: shop}
spec:
  http: [{route: [{destination: {host: a}}]}]
)");
  ASSERT_EQ(set.virtualServices.size(), 2u);
  EXPECT_FALSE(set.virtualServices[0].isDelegate());
  ASSERT_TRUE(set.virtualServices[0].http[0].delegatesTo.has_value());
  EXPECT_EQ(set.virtualServices[0].http[0].delegatesTo->name, "child");
  EXPECT_EQ(set.virtualServices[0].http[0].delegatesTo->ns, "shop");  // the parent's
  EXPECT_TRUE(set.virtualServices[1].isDelegate());
}

TEST(DelegateVirtualService, IstioValidationOfDelegates) {
  const std::string head = R"(apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs}
spec:
)";
  EXPECT_EQ(errorOf(head + R"(  gateways: [gw]
  http: [{route: [{destination: {host: a}}]}]
)"),
            "t.yaml:5:3: delegate VirtualService (no hosts): gateways must not be set (the parent "
            "VirtualService binds them)");
  EXPECT_EQ(errorOf(head + R"(  tcp: [{route: [{destination: {host: a}}]}]
)"),
            "t.yaml:5:3: delegate VirtualService (no hosts): tcp routes are not allowed");
  EXPECT_EQ(errorOf(head + R"(  http: [{delegate: {name: other}}]
)"),
            "t.yaml:5:11: delegate VirtualService (no hosts): its http routes cannot delegate "
            "again");
  EXPECT_EQ(errorOf(head + R"(  hosts: [a]
  http: [{delegate: {namespace: x}}]
)"),
            "t.yaml:6:21: missing required field \"name\" in VirtualService spec.http[0].delegate");
  EXPECT_EQ(errorOf(head + R"(  hosts: [a]
  http: [{delegate: {name: x}, route: [{destination: {host: a}}]}]
)"),
            "t.yaml:6:21: VirtualService spec.http[0]: a route with delegate takes no route, "
            "redirect or directResponse");
}

TEST(ErrorClasses, MissingRequiredGatewayServerPort) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw}
spec:
  servers:
  - hosts: ["*"]
)"),
            "t.yaml:6:5: missing required field \"port\" in Gateway spec.servers[0]");
}

TEST(ErrorClasses, MissingRequiredGatewayServerHosts) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw}
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
)"),
            "t.yaml:6:5: missing required field \"hosts\" in Gateway spec.servers[0]");
}

TEST(ErrorClasses, MissingRequiredDestinationRuleHost) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: dr}
spec:
  subsets: [{name: a}]
)"),
            "t.yaml:5:3: missing required field \"host\" in DestinationRule spec");
}

TEST(ErrorClasses, MissingRequiredDestinationHost) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [a]
  http:
  - route:
    - destination: {subset: v1}
)"),
            "t.yaml:8:20: missing required field \"host\" in VirtualService "
            "spec.http[0].route[0].destination");
}

TEST(ErrorClasses, MissingRequiredServiceEntryHostsAndPorts) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: se}
spec:
  ports: [{number: 443, name: https, protocol: TLS}]
)"),
            "t.yaml:5:3: missing required field \"hosts\" in ServiceEntry spec");
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: [a]
  resolution: DNS
)"),
            "t.yaml:5:3: missing required field \"ports\" in ServiceEntry spec: resolution DNS "
            "needs at least one port");
}

TEST(ErrorClasses, ServiceEntryPortNeedsNameAndProtocol) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: [a]
  ports: [{number: 443, protocol: TLS}]
)"),
            "t.yaml:6:11: missing required field \"name\" in ServiceEntry spec.ports[0]");
}

TEST(ErrorClasses, HttpsServerWithoutTlsIsError) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw}
spec:
  servers:
  - port: {number: 443, name: https, protocol: https}
    hosts: ["*"]
)"),
            "t.yaml:6:5: Gateway spec.servers[0]: a server with protocol https needs tls settings");
}

TEST(ErrorClasses, InvalidEnumServerTlsMode) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLEX}
)"),
            "t.yaml:8:17: invalid value \"SIMPLEX\" for tls.mode; valid values: PASSTHROUGH, "
            "SIMPLE, MUTUAL, AUTO_PASSTHROUGH, ISTIO_MUTUAL, OPTIONAL_MUTUAL (did you mean "
            "\"SIMPLE\"?)");
}

TEST(ErrorClasses, InvalidEnumResolutionAndLocation) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: [a]
  ports: [{number: 443, name: https, protocol: TLS}]
  resolution: DNSS
)"),
            "t.yaml:7:15: invalid value \"DNSS\" for resolution; valid values: NONE, STATIC, DNS, "
            "DNS_ROUND_ROBIN (did you mean \"DNS\"?)");
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: [a]
  location: X
)"),
            "t.yaml:6:13: invalid value \"X\" for location; valid values: MESH_EXTERNAL, "
            "MESH_INTERNAL");
}

TEST(ErrorClasses, InvalidProtocolListsValid_S5) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw}
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTPX}
    hosts: ["*"]
)"),
            "t.yaml:6:46: invalid value \"HTTPX\" for spec.servers[0].port.protocol; valid values: "
            "HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, TLS, TCP, MONGO, REDIS, MYSQL, UDP "
            "(case-insensitive)");
}

TEST(ErrorClasses, HttpRouteWithoutDestinationIsError) {
  EXPECT_EQ(errorOf(R"(apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [a]
  http:
  - timeout: 1s
)"),
            "t.yaml:7:5: VirtualService spec.http[0]: an HTTP route needs one of route, redirect, "
            "directResponse or delegate");
}

TEST(ErrorClasses, OverlayProbeIsValidatedAtItsPosition) {
  EXPECT_EQ(errorOf(R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  components:
    egressGateways:
    - name: e
      k8s:
        overlays:
        - kind: Deployment
          name: e
          patches:
          - path: spec.template.spec.containers[0].readinessProbe
            value:
              exec: {command: "curl -f http://localhost"}
)"),
            "t.yaml:14:31: command must be a list of strings, got \"curl -f http://localhost\"");
}

TEST(ErrorClasses, AliasBombIsRejectedNotExpanded) {
  std::string yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    yaml += std::string(1, c) + ": &" + std::string(1, c) + " [";
    for (int i = 0; i < 10; ++i) yaml += std::string(i ? ", *" : "*") + std::string(1, c - 1);
    yaml += "]\n";
  }
  auto set = parseManifests(yaml, "t.yaml");
  ASSERT_FALSE(set);
  EXPECT_NE(set.error().message.find("too large"), std::string::npos) << set.error().str();
}

// yaml-cpp 0.7 never consumes a stray ',' after these and LoadAll loops until out of memory.
TEST(ErrorClasses, StrayCommaThatHangsYamlCppIsAnError) {
  EXPECT_EQ(errorOf(","), "t.yaml:1:1: YAML syntax error: unexpected ','");
  EXPECT_EQ(errorOf(", a"), "t.yaml:1:1: YAML syntax error: unexpected ','");
  // The fuzzer's original find: stopped at its null key before the stray comma.
  EXPECT_EQ(errorOf(" : \n,"), "t.yaml:1:2: a mapping key must be a plain string");
}

TEST(ErrorClasses, AliasesExpandWithAnchorPositions) {
  const ResourceSet set = parseOk(R"(apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: &h [a.example.com]
  exportTo: *h
  http: [{route: [{destination: {host: a}}]}]
)");
  EXPECT_EQ(set.virtualServices[0].exportTo, (std::vector<std::string>{"a.example.com"}));
}

TEST(ErrorClasses, MissingFileIsError) {
  auto set = loadManifests({"/nonexistent/x.yaml"});
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().str(), "/nonexistent/x.yaml: no such file or directory");
}

// -------------------------------------------------------------------- placeholders
TEST(Placeholders, ResolvedInScalarsAndKeys) {
  auto s = substitutePlaceholders("https://<host>:<port>/x", {{"host", "a.b"}, {"port", "443"}},
                                  true, SourcePos{"f", 3, 10});
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "https://a.b:443/x");
  const ResourceSet set = parseOk(
      R"(apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw, labels: {<label-key>: v}}
spec:
  servers:
  - port: {number: <port>, name: http, protocol: HTTP}
    hosts: ["<host>"]
)",
      LoadOptions{.vars = {{"label-key", "team"}, {"port", "8080"}, {"host", "a.example.com"}}});
  EXPECT_EQ(set.gateways.at(0).meta.labels.at("team"), "v");
  EXPECT_EQ(set.gateways.at(0).servers.at(0).port.number, 8080u);
  EXPECT_EQ(set.gateways.at(0).servers.at(0).hosts.at(0), "a.example.com");
}

TEST(Placeholders, UnresolvedColumnInText) {
  auto s = substitutePlaceholders("a <known> and <unknown-1>", {{"known", "k"}}, true,
                                  SourcePos{"f", 3, 10});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().str(),
            "f:3:24: unresolved placeholder <unknown-1>: add \"unknown-1\" to the scenario's vars");
  auto multi = substitutePlaceholders("line1\n  <x>", {}, true, SourcePos{"f", 3, 10});
  ASSERT_FALSE(multi);
  EXPECT_EQ(multi.error().where->line, 4);
  EXPECT_EQ(multi.error().where->column, 3);
}

TEST(Placeholders, AngleBracketsThatAreNotPlaceholdersAreLeftAlone) {
  auto s = substitutePlaceholders("a < b > c <UPPER> <> <a b> <ok.v_1-x", {}, true, {});
  ASSERT_TRUE(s) << s.error().str();
  EXPECT_EQ(*s, "a < b > c <UPPER> <> <a b> <ok.v_1-x");
}

TEST(Placeholders, UnresolvedInBlockScalarPointsAtIt) {
  EXPECT_EQ(errorOf(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data:
  script: |
    echo hello
    curl https://<target>/x
)",
                    LoadOptions{.vars = {}, .requireAllPlaceholders = true}),
            "t.yaml:7:18: unresolved placeholder <target>: add \"target\" to the scenario's vars");
}

// ------------------------------------------------------------------------ small types
// ------------------------------------------------------------ hostile values (RE2, retryOn)
const std::string kVsHead = R"(apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [a.example.com]
  http:
)";

TEST(HostileValues, InvalidRegexIsALoadError) {
  EXPECT_EQ(errorOf(kVsHead + R"(  - match: [{uri: {regex: "/(a"}}]
    route: [{destination: {host: a}}]
)"),
            "t.yaml:7:27: spec.http[0].match[0].uri.regex: invalid regex \"/(a\" (RE2 syntax, as "
            "Istio): missing ): /(a");
  // Valid in ECMAScript, not in RE2 (Istio rejects lookaheads).
  EXPECT_NE(errorOf(kVsHead + R"(  - match: [{headers: {x-a: {regex: "(?!x).*"}}}]
    route: [{destination: {host: a}}]
)")
                .find("spec.http[0].match[0].headers.x-a.regex: invalid regex"),
            std::string::npos);
  EXPECT_EQ(errorOf(kVsHead + R"(  - match: [{authority: {regex: ""}}]
    route: [{destination: {host: a}}]
)"),
            "t.yaml:7:33: spec.http[0].match[0].authority.regex: a regex match must not be empty");
}

TEST(HostileValues, RegexMatchesLongInputInLinearTime) {
  // std::regex recursed once per character here and overflowed the stack (a segfault).
  const std::string path = "/" + std::string(40 * 1024, 'a');
  EXPECT_TRUE(regexFullMatch("/.*", path));
  EXPECT_FALSE(regexFullMatch("/.*b", path));
  EXPECT_TRUE(regexFullMatch("/A+", "/" + std::string(40 * 1024, 'a'), true));
  EXPECT_FALSE(regexFullMatch("(", "("));  // invalid: matches nothing
}

TEST(HostileValues, RetryOnIsValidatedAsIstioDoes) {
  const auto retry = [](const std::string& on) {
    return errorOf(kVsHead +
                   "  - route: [{destination: {host: a}}]\n    retries: {attempts: 2, "
                   "retryOn: \"" +
                   on + "\"}\n");
  };
  // Used to abort the process (std::out_of_range from std::stoul in the compiler).
  EXPECT_EQ(retry("connect-failure,99999999999999999999999"),
            "t.yaml:8:37: retries.retryOn: \"99999999999999999999999\" is not a valid retry "
            "condition (not an HTTP status code)");
  EXPECT_EQ(retry("5xx,999"),
            "t.yaml:8:37: retries.retryOn: \"999\" is not a valid retry condition (not an HTTP "
            "status code)");
  EXPECT_EQ(retry("connect-failure,").rfind("t.yaml:8:37: retries.retryOn: \"\" is not a valid", 0),
            0u);
  EXPECT_EQ(retry("5xxx").rfind("t.yaml:8:37: retries.retryOn: \"5xxx\" is not a valid", 0), 0u);
  const ResourceSet ok = parseOk(kVsHead + R"(  - route: [{destination: {host: a}}]
    retries: {attempts: 2, retryOn: "gateway-error,connect-failure,503,unavailable"}
)");
  EXPECT_EQ(ok.virtualServices.at(0).http.at(0).retries->retryOn,
            "gateway-error,connect-failure,503,unavailable");
}

// ------------------------------------------------------------ errors of a whole load
const std::string kTwoBrokenOneGood = R"(apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: egressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"], bogus: 1}]
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: good}
spec: {host: a.example.com}
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: se}
spec: {hosts: [a.example.com], resolution: DNZ, ports: [{number: 443, name: tls, protocol: TLS}]}
)";

TEST(StrictLoad, EverySchemaErrorOfAFileInOneReport) {
  EXPECT_EQ(errorOf(kTwoBrokenOneGood),
            "t.yaml:6:76: unknown field \"bogus\" in Gateway spec.servers[0]; valid fields: "
            "bind, defaultEndpoint, hosts, name, port, tls\n"
            "t.yaml:16:44: invalid value \"DNZ\" for resolution; valid values: NONE, STATIC, DNS, "
            "DNS_ROUND_ROBIN (did you mean \"DNS\"?)");
}

TEST(StrictLoad, ErrorsAreCappedWithACount) {
  std::string yaml;
  for (int i = 0; i < 25; ++i) {
    yaml += "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 0}]}\n---\n";
  }
  const std::string error = errorOf(yaml);
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 20);  // 20 errors + the count line
  EXPECT_NE(error.find("\n(5 more errors not shown)"), std::string::npos) << error;
}

TEST(LenientLoad, BrokenResourcesAreLeftOutWithTheirErrors) {
  const ResourceSet set = parseOk(
      kTwoBrokenOneGood, LoadOptions{.vars = {}, .requireAllPlaceholders = true, .lenient = true});
  EXPECT_TRUE(set.gateways.empty());
  EXPECT_TRUE(set.serviceEntries.empty());
  ASSERT_EQ(set.destinationRules.size(), 1u);
  EXPECT_EQ(set.destinationRules[0].meta.name, "good");
  ASSERT_EQ(set.invalid.size(), 2u);
  EXPECT_EQ(set.invalid[0].where->str(), "t.yaml:6:76");
  EXPECT_EQ(set.invalid[1].where->str(), "t.yaml:16:44");
}

TEST(LenientLoad, UnresolvedPlaceholderAndListItemsArePerResource) {
  const ResourceSet set =
      parseOk(R"(apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Service, metadata: {name: ok}, spec: {ports: [{port: 80}]}}
- {apiVersion: v1, kind: Service, metadata: {name: bad}, spec: {ports: [{port: x}]}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: <unset>}
spec: {host: a}
)",
              LoadOptions{.vars = {}, .requireAllPlaceholders = true, .lenient = true});
  ASSERT_EQ(set.services.size(), 1u);
  EXPECT_EQ(set.services[0].meta.name, "ok");
  EXPECT_TRUE(set.destinationRules.empty());
  ASSERT_EQ(set.invalid.size(), 2u);
  EXPECT_EQ(set.invalid[0].where->str(), "t.yaml:5:80");
  EXPECT_EQ(set.invalid[1].str(),
            "t.yaml:9:18: unresolved placeholder <unset>: add \"unset\" to the scenario's vars");
}

TEST(LenientLoad, YamlThatDoesNotParseIsStillAnError) {
  EXPECT_EQ(
      errorOf("a: [\n", LoadOptions{.vars = {}, .requireAllPlaceholders = true, .lenient = true})
          .substr(0, 7),
      "t.yaml:");
}

TEST(ManifestFiles, FifoDeviceAndOversizedAreErrorsNotHangs) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("egl-files-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path fifo = dir / "m.yaml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto set = loadManifests({fifo});
  ASSERT_FALSE(set.has_value());
  EXPECT_EQ(set.error().str(),
            fifo.string() + ": cannot read manifest: not a regular file (a FIFO)");
  set = loadManifests({"/dev/zero"});
  ASSERT_FALSE(set.has_value());
  EXPECT_EQ(set.error().str(),
            "/dev/zero: cannot read manifest: not a regular file (a character device)");
  const std::filesystem::path big = dir / "big.yaml";
  {
    std::FILE* f = std::fopen(big.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  std::filesystem::resize_file(big, kMaxManifestBytes + 1);
  set = loadManifests({big});
  ASSERT_FALSE(set.has_value());
  EXPECT_NE(set.error().message.find("file too large"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Types, ResourceRefAndSetAppend) {
  ResourceSet a = parseOk("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n");
  ResourceSet b = parseOk("apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n");
  a.append(std::move(b));
  ASSERT_EQ(a.namespaces.size(), 2u);
  EXPECT_EQ(a.namespaces[1].ref(), "Namespace b");
  EXPECT_TRUE(b.namespaces.empty());
}

TEST(Types, KubernetesListKindIsUnpacked) {
  const ResourceSet set = parseOk(R"(apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: a}}
- {apiVersion: v1, kind: Namespace, metadata: {name: b}}
)");
  EXPECT_EQ(set.namespaces.size(), 2u);
}

}  // namespace
}  // namespace egresslab::model
