// AuthorizationPolicy CUSTOM through the simulated mesh over real sockets: the seed's egress
// gateway asks the scenario's ext-authz server (mocks/extauthz) over HTTP and over gRPC, and
// acts on allow, deny and no answer as Envoy's ext_authz filter does (docs/istio-behaviour.md
// §X1).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "harness/curl/command.h"
#include "harness/curl/execute.h"
#include "harness/model/loader.h"
#include "harness/sim/sim_backend.h"
#include "harness/sim/sim_mesh.h"
#include "harness/sim/sim_test_support.h"

namespace egresslab::sim {
namespace {

namespace fs = std::filesystem;
using sim_test::describe;
using sim_test::RunningMesh;

const fs::path kSource = EGRESSLAB_SOURCE_DIR;

struct MeshOptions {
  std::string provider;  // ext-authz-http, ext-authz-grpc, …-open
  bool down = false;     // the servers are not running
  std::string version = "1.18.0";
};

// The seed on 1.18 (its DestinationRule works there, §4) with CUSTOM at the egress gateway.
RunningMesh extAuthzMesh(const MeshOptions& o) {
  std::string manifests;
  const fs::path seed = kSource / "fixtures" / "seed";
  for (const auto& f :
       {kSource / "fixtures/extauthz/operator.yaml", seed / "egress.yaml",
        seed / "ingress-gateway.yaml", seed / "egress-gateway.yaml", seed / "virtual-service.yaml",
        seed / "service-entry.yaml", seed / "destination-rule.yaml",
        seed / "peer-authentication.yaml", kSource / "fixtures/extauthz/custom-policy.yaml"}) {
    manifests += fmt::format("  - {}\n", f.string());
  }
  const std::string yaml =
      fmt::format(R"(name: extauthz-sim-test
istio: {{version: "{version}"}}
vars:
  my-proxied-service-hostname: httpbin.example.com
  my-secret-name: httpbin-credential
  ext-authz-provider: {provider}
manifests:
{manifests}
secrets:
  - {{name: <my-secret-name>, namespace: istio-system, hosts: [<my-proxied-service-hostname>]}}
upstreams:
  - {{host: httpbin.org, port: 443, tls: true}}
dns:
  httpbin.example.com: 203.0.113.10
workloads:
  - {{name: sleep, namespace: httpbin, injected: true}}
extAuthz:
  - {{name: ext-authz, namespace: authz, protocol: http, down: {down}}}
  - {{name: ext-authz-grpc, namespace: authz, protocol: grpc, down: {down}}}
steps: [{{name: unused, curl: http://x}}]
)",
                  fmt::arg("provider", o.provider), fmt::arg("manifests", manifests),
                  fmt::arg("down", o.down ? "true" : "false"), fmt::arg("version", o.version));
  return RunningMesh(model::parseScenario(yaml, kSource / "scenarios" / "extauthz-sim-test.yaml"),
                     "extauthz-test");
}

std::string header(const report::Observation& o, const std::string& name) {
  auto it = o.headers.find(name);
  return it == o.headers.end() || it->second.empty() ? std::string("<none>") : it->second.front();
}

const char* kAllowed = "-sS -H 'x-ext-authz: allow' http://httpbin.example.com/headers";
const char* kPlain = "-sS http://httpbin.example.com/headers";
const std::vector<std::string> kVia{"sleep", "httpbin-egress"};
const std::string kSleep = "httpbin/sleep";

class CustomByProtocol : public ::testing::TestWithParam<std::string> {};

TEST_P(CustomByProtocol, AllowedRequestReachesTheUpstreamWithTheServersHeaders_X1) {
  RunningMesh mesh = extAuthzMesh({.provider = "ext-authz-" + GetParam()});
  ASSERT_TRUE(mesh.ok());
  const auto o = mesh.curl(kSleep, kAllowed);
  EXPECT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(o.via, kVia) << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "-") << describe(o);
  // HTTP: headersToUpstreamOnAllow lists it; gRPC: ok_response.headers always go upstream.
  EXPECT_NE(o.body.find("\"X-Ext-Authz-Check-Result\""), std::string::npos) << describe(o);
  EXPECT_NE(o.body.find("\"allowed\""), std::string::npos) << describe(o);
}

TEST_P(CustomByProtocol, DeniedRequestIsTheServersAnswerWithUaex_X1) {
  RunningMesh mesh = extAuthzMesh({.provider = "ext-authz-" + GetParam()});
  ASSERT_TRUE(mesh.ok());
  const auto o = mesh.curl(kSleep, kPlain);
  EXPECT_EQ(o.status, 403) << describe(o);
  EXPECT_EQ(o.via, kVia) << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "UAEX") << describe(o);
  EXPECT_EQ(o.body, "denied by ext_authz for not found header `x-ext-authz: allow` in the request")
      << describe(o);
  EXPECT_EQ(header(o, "x-ext-authz-check-result"), "denied") << describe(o);
  // The denial is the gateway's local reply: it never reached the upstream.
  ASSERT_FALSE(o.accessLog.empty());
  EXPECT_NE(o.accessLog.back().find("ext_authz_denied"), std::string::npos) << describe(o);
}

TEST_P(CustomByProtocol, RequestsOutsideThePolicysRulesAreNotChecked_X1) {
  RunningMesh mesh = extAuthzMesh({.provider = "ext-authz-" + GetParam(), .down = true});
  ASSERT_TRUE(mesh.ok());
  // The CUSTOM rule excludes /ip: no check, so a down server does not matter.
  const auto o = mesh.curl(kSleep, "-sS http://httpbin.example.com/ip");
  EXPECT_EQ(o.status, 200) << describe(o);
}

TEST_P(CustomByProtocol, ServerDownFailsClosedWith403Uaex_X1) {
  RunningMesh mesh = extAuthzMesh({.provider = "ext-authz-" + GetParam(), .down = true});
  ASSERT_TRUE(mesh.ok());
  const auto o = mesh.curl(kSleep, kAllowed);
  EXPECT_EQ(o.status, 403) << describe(o);  // statusOnError unset: Envoy's 403
  EXPECT_EQ(o.flags.at("httpbin-egress"), "UAEX") << describe(o);
  EXPECT_EQ(o.body, "") << describe(o);
  ASSERT_FALSE(o.accessLog.empty());
  EXPECT_NE(o.accessLog.back().find("ext_authz_error"), std::string::npos) << describe(o);
}

TEST_P(CustomByProtocol, ServerDownWithFailOpenLetsTheRequestThrough_X1) {
  RunningMesh mesh = extAuthzMesh({.provider = "ext-authz-" + GetParam() + "-open", .down = true});
  ASSERT_TRUE(mesh.ok());
  const auto o = mesh.curl(kSleep, kPlain);  // would be denied if the server answered
  EXPECT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "-") << describe(o);
}

INSTANTIATE_TEST_SUITE_P(Protocols, CustomByProtocol, ::testing::Values("http", "grpc"));

TEST(CustomProvider, UnknownProviderDeniesEverythingTheRuleCovers_X1) {
  RunningMesh mesh = extAuthzMesh({.provider = "no-such-provider"});
  ASSERT_TRUE(mesh.ok());
  const auto o = mesh.curl(kSleep, kAllowed);
  EXPECT_EQ(o.status, 403) << describe(o);
  EXPECT_EQ(o.body, "RBAC: access denied") << describe(o);
  ASSERT_FALSE(o.accessLog.empty());
  EXPECT_NE(o.accessLog.back().find("default-deny-all-due-to-bad-CUSTOM-action"), std::string::npos)
      << describe(o);
}

// istiod 1.8 ignores CUSTOM policies ("unsupported action"): the request the 1.9+ gateway would
// send for a check (and the server deny) goes through unchecked.
TEST(CustomProvider, Istio18IgnoresTheCustomPolicy_X1) {
  RunningMesh mesh = extAuthzMesh({.provider = "ext-authz-http", .version = "1.8.0"});
  ASSERT_TRUE(mesh.ok());
  const auto o = mesh.curl(kSleep, kPlain);
  EXPECT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(o.via, kVia) << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "-") << describe(o);
  EXPECT_EQ(header(o, "x-ext-authz-check-result"), "<none>") << describe(o);
}

// ---------------------------------------------------------------------------------------------
// CUSTOM on the caller's principal (§X1, §S2): the ext-authz mock decides by the principal the
// check carries — gRPC `attributes.source.principal`, HTTP the `URI=` of the x-forwarded-client-
// cert header the gateway set before its filters ran (includeRequestHeadersInCheck sends it). The
// principal exists only when the caller reached the gateway over mutual TLS.
struct PrincipalMeshOptions {
  std::string protocol;  // http | grpc
  bool mtls = true;      // Gateway + DestinationRule ISTIO_MUTUAL, else the seed's plain hop
  // meshConfig.defaultConfig.gatewayTopology.forwardClientCertDetails ("" = unset).
  std::string forwardClientCertDetails = {};
};

RunningMesh principalMesh(const PrincipalMeshOptions& o) {
  const sim_test::TempDir dir("extauthz-principal");
  const fs::path seed = kSource / "fixtures" / "seed";
  const fs::path authz = kSource / "scenarios" / "manifests" / "authz";
  const std::string topology =
      o.forwardClientCertDetails.empty()
          ? std::string()
          : fmt::format(
                "    defaultConfig:\n      gatewayTopology: {{forwardClientCertDetails: {}}}\n",
                o.forwardClientCertDetails);
  const fs::path operatorFile = dir.write("operator.yaml", R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: istio-operator, namespace: istio-operator}
spec:
  profile: default
  tag: 1.22.0
  meshConfig:
    accessLogFile: /dev/stdout
    outboundTrafficPolicy: {mode: REGISTRY_ONLY}
    extensionProviders:
      - name: by-principal-http
        envoyExtAuthzHttp:
          service: ext-authz.authz.svc.cluster.local
          port: 8000
          includeRequestHeadersInCheck: [x-forwarded-client-cert]
          headersToUpstreamOnAllow: [x-authz-principal]
      - name: by-principal-grpc
        envoyExtAuthzGrpc:
          service: ext-authz-grpc.authz.svc.cluster.local
          port: 9000
)" + topology);
  std::vector<fs::path> files{
      operatorFile,
      seed / "egress.yaml",
      seed / "ingress-gateway.yaml",
      o.mtls ? authz / "egress-gateway-mtls.yaml" : seed / "egress-gateway.yaml",
      seed / "virtual-service.yaml",
      seed / "service-entry.yaml",
      kSource / "scenarios/manifests/destination-rule-sni.yaml",
      kSource / "fixtures/extauthz/custom-policy.yaml"};
  if (o.mtls) files.push_back(authz / "destination-rule-gateway-mtls.yaml");
  std::string manifests;
  for (const auto& f : files) manifests += fmt::format("  - {}\n", f.string());
  // The same rules on both servers: teapots are refused whoever asks; sleep's principal is
  // allowed; anyone else (or a check without a principal) is refused.
  const std::string rules = R"(
    rules:
      - match: {paths: ["/status/418*"]}
        action: deny
        body: no teapots
      - match: {principals: ["spiffe://cluster.local/ns/httpbin/sa/sleep"]}
        action: allow
        upstreamHeaders: {x-authz-principal: sleep}
    default: {action: deny, status: 403, body: caller is not sleep})";
  const std::string yaml = fmt::format(R"(name: extauthz-principal-test
istio: {{version: "1.22"}}
vars:
  my-proxied-service-hostname: httpbin.example.com
  my-secret-name: httpbin-credential
  ext-authz-provider: by-principal-{protocol}
manifests:
{manifests}
secrets:
  - {{name: <my-secret-name>, namespace: istio-system, hosts: [<my-proxied-service-hostname>]}}
upstreams:
  - {{host: httpbin.org, port: 443, tls: true}}
dns:
  httpbin.example.com: 203.0.113.10
workloads:
  - {{name: sleep, namespace: httpbin, injected: true}}
  - {{name: intruder, namespace: httpbin, injected: true}}
  - {{name: direct, namespace: httpbin, injected: false}}
extAuthz:
  - name: ext-authz
    namespace: authz
    protocol: http{rules}
  - name: ext-authz-grpc
    namespace: authz
    protocol: grpc{rules}
steps: [{{name: unused, curl: http://x}}]
)",
                                       fmt::arg("protocol", o.protocol),
                                       fmt::arg("manifests", manifests), fmt::arg("rules", rules));
  return RunningMesh(model::parseScenario(yaml, dir.path / "scenario.yaml"), "extauthz-principal");
}

class CustomOnPrincipal : public ::testing::TestWithParam<std::string> {};

TEST_P(CustomOnPrincipal, MutualTlsCallerIsCheckedByItsPrincipal_X1_S2) {
  RunningMesh mesh = principalMesh({.protocol = GetParam(), .mtls = true});
  ASSERT_TRUE(mesh.ok());
  const auto ok = mesh.curlWhenReady("httpbin/sleep", "-sS http://httpbin.example.com/headers");
  EXPECT_EQ(ok.status, 200) << describe(ok);
  EXPECT_EQ(ok.via, kVia) << describe(ok);
  // The server's allow header reached the upstream (httpbin echoes it).
  const auto echoed = ok.body.find("\"X-Authz-Principal\"");
  ASSERT_NE(echoed, std::string::npos) << describe(ok);
  EXPECT_EQ(ok.body.find("\"sleep\"", echoed), ok.body.find('"', ok.body.find('[', echoed)))
      << describe(ok);

  const auto other = mesh.curl("httpbin/intruder", "-sS http://httpbin.example.com/headers");
  EXPECT_EQ(other.status, 403) << describe(other);
  EXPECT_EQ(other.body, "caller is not sleep") << describe(other);
  EXPECT_EQ(other.flags.at("httpbin-egress"), "UAEX") << describe(other);
}

// Plain HTTP to the gateway (the seed's port-80 hop): no client certificate, so the check carries
// no principal and the principal rule cannot match — the named caller is refused too.
TEST_P(CustomOnPrincipal, PlainTextCallerHasNoPrincipalSoTheRuleDoesNotMatch_X1_S2) {
  RunningMesh mesh = principalMesh({.protocol = GetParam(), .mtls = false});
  ASSERT_TRUE(mesh.ok());
  const auto o = mesh.curlWhenReady("httpbin/sleep", "-sS http://httpbin.example.com/headers");
  EXPECT_EQ(o.status, 403) << describe(o);
  EXPECT_EQ(o.body, "caller is not sleep") << describe(o);
  EXPECT_EQ(o.via, kVia) << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "UAEX") << describe(o);
}

// The connection manager normalizes the path (BASE) before the ext_authz filter: the check
// carries `/status/418` for `/x/%2E%2E/status/418`, so the server's path rule sees what the
// upstream would get. `%2F` is not decoded by BASE: `/status%2F418` is a different path for the
// check, for RBAC and for the upstream alike.
TEST_P(CustomOnPrincipal, CheckCarriesThePathAfterBaseNormalization_X1_S1) {
  RunningMesh mesh = principalMesh({.protocol = GetParam(), .mtls = true});
  ASSERT_TRUE(mesh.ok());
  const auto ready = mesh.curlWhenReady("httpbin/sleep", "-sS http://httpbin.example.com/ip");
  ASSERT_EQ(ready.status, 200) << describe(ready);
  for (const std::string path : {"/status/418", "/x/%2E%2E/status/418", "/status/%34%31%38"}) {
    const auto o = mesh.curl("httpbin/sleep", "-sS http://httpbin.example.com" + path);
    EXPECT_EQ(o.status, 403) << path << "\n" << describe(o);
    EXPECT_EQ(o.body, "no teapots") << path << "\n" << describe(o);
    EXPECT_EQ(o.flags.at("httpbin-egress"), "UAEX") << path << "\n" << describe(o);
  }
  const auto encodedSlash =
      mesh.curl("httpbin/sleep", "-sS http://httpbin.example.com/status%2F418");
  EXPECT_NE(encodedSlash.body, "no teapots") << describe(encodedSlash);
  EXPECT_EQ(encodedSlash.flags.at("httpbin-egress"), "-") << describe(encodedSlash);
}

// A caller without a sidecar sends the gateway a path no proxy has normalized yet: the gateway's
// own connection manager normalizes it before its ext_authz filter, so the check carries
// `/status/418` and the server's path rule decides (not the principal rule after it).
TEST_P(CustomOnPrincipal, GatewayNormalizesThePathBeforeItsCheck_X1_S1) {
  RunningMesh mesh = principalMesh({.protocol = GetParam(), .mtls = false});
  ASSERT_TRUE(mesh.ok());
  const std::string direct =
      "-sS -H 'Host: httpbin.example.com' http://httpbin-egress.httpbin.svc.cluster.local";
  const auto ready = mesh.curlWhenReady("httpbin/direct", direct + "/headers");
  ASSERT_EQ(ready.status, 403) << describe(ready);
  EXPECT_EQ(ready.body, "caller is not sleep") << describe(ready);
  const auto o = mesh.curl("httpbin/direct", direct + "/status/%34%31%38");
  EXPECT_EQ(o.status, 403) << describe(o);
  EXPECT_EQ(o.body, "no teapots") << describe(o);
  EXPECT_EQ(o.via, (std::vector<std::string>{"httpbin-egress"})) << describe(o);
}

// gatewayTopology.forwardClientCertDetails (§S2): by default (SANITIZE_SET) the gateway drops a
// client's own x-forwarded-client-cert on a plain-text connection before its filters run, so an
// HTTP provider that reads the principal from it cannot be fooled; ALWAYS_FORWARD_ONLY keeps the
// header as sent — a caller without a sidecar then names any principal it likes.
TEST(CustomOnPrincipal, ForgedXfccIsDroppedUnlessAlwaysForwardOnly_X1_S2) {
  const std::string forged =
      "-sS -H 'Host: httpbin.example.com' -H 'x-forwarded-client-cert: "
      "URI=spiffe://cluster.local/ns/httpbin/sa/sleep' "
      "http://httpbin-egress.httpbin.svc.cluster.local/headers";
  {
    RunningMesh mesh = principalMesh({.protocol = "http", .mtls = false});
    ASSERT_TRUE(mesh.ok());
    const auto o = mesh.curlWhenReady("httpbin/direct", forged);
    EXPECT_EQ(o.status, 403) << describe(o);
    EXPECT_EQ(o.body, "caller is not sleep") << describe(o);
  }
  {
    RunningMesh mesh = principalMesh(
        {.protocol = "http", .mtls = false, .forwardClientCertDetails = "ALWAYS_FORWARD_ONLY"});
    ASSERT_TRUE(mesh.ok());
    const auto o = mesh.curlWhenReady("httpbin/direct", forged);
    EXPECT_EQ(o.status, 200) << describe(o);
    EXPECT_NE(o.body.find("URI=spiffe://cluster.local/ns/httpbin/sa/sleep"), std::string::npos)
        << describe(o);
  }
}

// FORWARD_ONLY over mutual TLS: the gateway forwards what it received (nothing: the sidecar
// removed it) and adds no element of its own, so the HTTP provider sees no principal while the
// gRPC provider still gets source.principal from the connection.
TEST(CustomOnPrincipal, ForwardOnlyAddsNoElementForTheHttpProvider_X1_S2) {
  for (const std::string protocol : {"http", "grpc"}) {
    RunningMesh mesh = principalMesh(
        {.protocol = protocol, .mtls = true, .forwardClientCertDetails = "FORWARD_ONLY"});
    ASSERT_TRUE(mesh.ok());
    const auto o = mesh.curlWhenReady("httpbin/sleep", "-sS http://httpbin.example.com/headers");
    EXPECT_EQ(o.status, protocol == "http" ? 403 : 200) << protocol << "\n" << describe(o);
  }
}

INSTANTIATE_TEST_SUITE_P(Protocols, CustomOnPrincipal, ::testing::Values("http", "grpc"));

// ---------------------------------------------------------------------------------------------
// CUSTOM on a TCP chain (§X1): the egress gateway passes TLS through for httpbin.org; a CUSTOM
// policy on `/admin*` covers every connection there (HTTP-only fields are dropped on TCP, as for
// DENY). A gRPC provider is asked per connection by the network ext_authz filter, which closes
// a denied connection (curl: the handshake fails, exit 35); an HTTP provider does not apply on
// TCP; a provider istiod cannot build denies every connection.
const char* kTcpOperator = R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: istio-operator, namespace: istio-operator}
spec:
  profile: default
  tag: 1.22.0
  meshConfig:
    accessLogFile: /dev/stdout
    outboundTrafficPolicy: {mode: REGISTRY_ONLY}
    extensionProviders:
      - name: tcp-grpc
        envoyExtAuthzGrpc: {service: ext-authz-grpc.authz.svc.cluster.local, port: 9000}
      - name: tcp-grpc-open
        envoyExtAuthzGrpc:
          service: ext-authz-grpc.authz.svc.cluster.local
          port: 9000
          failOpen: true
      - name: tcp-http
        envoyExtAuthzHttp: {service: ext-authz.authz.svc.cluster.local, port: 8000}
)";

const char* kTcpPassthrough = R"(apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata: {name: passthrough, namespace: httpbin}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 443, name: tls, protocol: TLS}
    hosts: [httpbin.org]
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: passthrough, namespace: httpbin}
spec:
  hosts: [httpbin.org]
  gateways: [httpbin/passthrough]
  tls:
  - match:
    - port: 443
      sniHosts: [httpbin.org]
    route:
    - destination: {host: httpbin.org, port: {number: 443}}
)";

const char* kTcpCustom = R"(apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: ext-authz-admin, namespace: httpbin}
spec:
  selector: {matchLabels: {istio: egressgateway}}
  action: CUSTOM
  provider: {name: <tcp-provider>}
  rules:
  - to:
    - operation: {paths: ["/admin*"]}
)";

const char* kTcpScenario = R"(name: extauthz-tcp
istio: {{version: "{version}"}}
vars:
  tcp-provider: {provider}
manifests:
  - {dir}/operator.yaml
  - {root}/fixtures/seed/egress.yaml
  - {root}/fixtures/seed/service-entry.yaml
  - {dir}/passthrough.yaml
  - {dir}/custom.yaml
upstreams:
  - {{host: httpbin.org, port: 443, tls: true}}
portForwards:
  - {{service: httpbin/httpbin-egress, local: 17443, remote: 443}}
extAuthz:
  - {{name: ext-authz-grpc, namespace: authz, protocol: grpc, down: {down}, default: {answer}}}
  - {{name: ext-authz, namespace: authz, protocol: http, default: deny}}
)";

struct TcpCase {
  std::string provider;
  std::string answer = "deny";  // the gRPC server's answer to every check
  bool down = false;
  std::string version = "1.22";
};

// The curl exit of a TLS connection through the passthrough gateway: 0 when it reached
// httpbin.org (status 200), 35 when the gateway closed it.
report::Observation tcpThroughGateway(const TcpCase& c) {
  const sim_test::TempDir dir("extauthz-tcp");
  dir.write("operator.yaml", kTcpOperator);
  dir.write("passthrough.yaml", kTcpPassthrough);
  dir.write("custom.yaml", kTcpCustom);
  const fs::path file =
      dir.write("scenario.yaml",
                fmt::format(fmt::runtime(kTcpScenario), fmt::arg("root", kSource.string()),
                            fmt::arg("dir", dir.path.string()), fmt::arg("provider", c.provider),
                            fmt::arg("down", c.down ? "true" : "false"),
                            fmt::arg("answer", c.answer), fmt::arg("version", c.version)));
  RunningMesh mesh(file, "extauthz-tcp");
  if (!mesh.ok()) return {};
  // Wait until the gateway listens (a refused connect is exit 7), bounded.
  return mesh.curlUntil(
      "", "-sS --resolve httpbin.org:17443:127.0.0.1 https://httpbin.org:17443/status/200",
      [](const report::Observation& o) { return o.exit != 7; });
}

TEST(CustomOnTcp, GrpcProviderDenialClosesTheConnection_X1) {
  const auto o = tcpThroughGateway({.provider = "tcp-grpc", .answer = "deny"});
  EXPECT_EQ(o.exit, 35) << describe(o);
  EXPECT_FALSE(o.status.has_value() && *o.status != 0) << describe(o);
}

TEST(CustomOnTcp, GrpcProviderAllowLetsTheConnectionThrough_X1) {
  const auto o = tcpThroughGateway({.provider = "tcp-grpc", .answer = "allow"});
  EXPECT_EQ(o.exit, 0) << describe(o);
  EXPECT_EQ(o.status, 200) << describe(o);
}

TEST(CustomOnTcp, GrpcProviderDownFailsClosedUnlessFailOpen_X1) {
  const auto closed = tcpThroughGateway({.provider = "tcp-grpc", .answer = "allow", .down = true});
  EXPECT_EQ(closed.exit, 35) << describe(closed);
  const auto open =
      tcpThroughGateway({.provider = "tcp-grpc-open", .answer = "deny", .down = true});
  EXPECT_EQ(open.status, 200) << describe(open);
}

TEST(CustomOnTcp, HttpProviderDoesNotApplyOnTcp_X1) {
  // The HTTP server would deny everything: istiod leaves the policy out of TCP chains.
  const auto o = tcpThroughGateway({.provider = "tcp-http"});
  EXPECT_EQ(o.status, 200) << describe(o);
}

TEST(CustomOnTcp, UnknownProviderDeniesEveryConnection_X1) {
  const auto o = tcpThroughGateway({.provider = "no-such-provider", .answer = "allow"});
  EXPECT_EQ(o.exit, 35) << describe(o);
}

TEST(CustomOnTcp, Istio18IgnoresTheCustomPolicyOnTcp_X1) {
  const auto o = tcpThroughGateway({.provider = "tcp-grpc", .answer = "deny", .version = "1.8"});
  EXPECT_EQ(o.status, 200) << describe(o);
}

}  // namespace
}  // namespace egresslab::sim
