// AuthorizationPolicy and mutual TLS to the egress gateway over real sockets
// (docs/istio-behaviour.md §S1, §S2): the shipped authz scenarios' meshes, driven with curl from
// the pods, plus a TLS-passthrough gateway whose connection a DENY policy closes.
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
const fs::path kRoot = fs::path(EGRESSLAB_SOURCE_DIR);

using sim_test::describe;
using sim_test::logHas;
using sim_test::RunningMesh;

// §S1/§S2: over ISTIO_MUTUAL both ways the gateway knows the caller: the named principal passes,
// another service account gets Envoy's 403, and XFCC carries the caller's SPIFFE ID upstream.
TEST(AuthzSim, AllowByPrincipalOverMutualTlsToTheEgressGateway_S1_S2) {
  RunningMesh m(kRoot / "scenarios/authz-allow-principal-mtls.yaml", "authz");
  ASSERT_TRUE(m.ok());
  const std::string url = "-sS http://httpbin.example.com/status/200";
  const auto ok = m.curlUntil("httpbin/sleep", url, [](const auto& o) { return o.status == 200; });
  EXPECT_EQ(ok.status, 200) << describe(ok);
  EXPECT_EQ(ok.via, (std::vector<std::string>{"sleep", "httpbin-egress"})) << describe(ok);

  const auto headers = m.curl("httpbin/sleep", "-sS http://httpbin.example.com/headers");
  EXPECT_NE(headers.body.find("By=spiffe://cluster.local/ns/httpbin/sa/"
                              "httpbin-egress-service-account;Hash="),
            std::string::npos)
      << describe(headers);
  EXPECT_NE(headers.body.find("URI=spiffe://cluster.local/ns/httpbin/sa/sleep"), std::string::npos)
      << describe(headers);
  EXPECT_NE(headers.body.find("Cert=\\\"-----BEGIN%20CERTIFICATE-----%0A"), std::string::npos)
      << describe(headers);

  const auto denied = m.curl("httpbin/intruder", url);
  EXPECT_EQ(denied.status, 403) << describe(denied);
  EXPECT_EQ(denied.body, "RBAC: access denied") << describe(denied);
  EXPECT_EQ(denied.via, (std::vector<std::string>{"intruder", "httpbin-egress"}))
      << describe(denied);
  EXPECT_EQ(denied.flags.at("httpbin-egress"), "-") << describe(denied);
  EXPECT_TRUE(logHas(denied, "rbac_access_denied_matched_policy[none]")) << describe(denied);
}

// §S1: DENY by path at the egress gateway, matched after BASE normalization.
TEST(AuthzSim, DenyByPathAtTheEgressGateway_S1) {
  RunningMesh m(kRoot / "scenarios/authz-deny-path-egress.yaml", "authz");
  ASSERT_TRUE(m.ok());
  const auto ok = m.curlUntil("httpbin/sleep", "-sS http://httpbin.example.com/status/200",
                              [](const auto& o) { return o.status == 200; });
  EXPECT_EQ(ok.status, 200) << describe(ok);
  for (const std::string path : {"/status/418", "/status/%34%31%38"}) {
    const auto o = m.curl("httpbin/sleep", "-sS http://httpbin.example.com" + path);
    EXPECT_EQ(o.status, 403) << path << "\n" << describe(o);
    EXPECT_EQ(o.body, "RBAC: access denied") << describe(o);
    EXPECT_TRUE(
        logHas(o, "rbac_access_denied_matched_policy[ns[httpbin]-policy[deny-status-418]-rule[0]]"))
        << describe(o);
    EXPECT_EQ(o.via, (std::vector<std::string>{"sleep", "httpbin-egress"})) << describe(o);
  }
}

// §S1 trap (EGL008): ALLOW on principals at a gateway reached in plaintext denies even the named
// caller — the gateway never sees a client certificate.
TEST(AuthzSim, PlaintextPrincipalTrapDeniesTheNamedCaller_S1) {
  RunningMesh m(kRoot / "scenarios/traps/egl008-plaintext-principal.yaml", "authz");
  ASSERT_TRUE(m.ok());
  const auto o = m.curlUntil("httpbin/sleep", "-sS http://httpbin.example.com/status/200",
                             [](const auto& r) { return r.status == 403; });
  EXPECT_EQ(o.status, 403) << describe(o);
  EXPECT_EQ(o.body, "RBAC: access denied") << describe(o);
  EXPECT_TRUE(logHas(o, "rbac_access_denied_matched_policy[none]")) << describe(o);
}

// §S1: on a TLS-passthrough (TCP) chain a DENY rule's HTTP-only fields are dropped, so it denies
// every connection: the network RBAC filter closes it (curl sees the handshake fail, exit 35).
const char* kPassthroughScenario = R"(name: authz-tcp-deny
istio: {{version: "1.22"}}
manifests:
  - {root}/fixtures/seed/operator.yaml
  - {root}/fixtures/seed/egress.yaml
  - {root}/fixtures/seed/service-entry.yaml
  - {dir}/passthrough.yaml
{policy}upstreams:
  - {{host: httpbin.org, port: 443, tls: true}}
portForwards:
  - {{service: httpbin/httpbin-egress, local: 15443, remote: 443}}
)";

const char* kPassthroughGateway = R"(apiVersion: networking.istio.io/v1alpha3
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

const char* kDenyAdminPaths = R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: httpbin}
spec:
  selector: {matchLabels: {istio: egressgateway}}
  action: DENY
  rules:
  - to:
    - operation: {paths: ["/admin*"]}
)";

struct TempDir : sim_test::TempDir {
  TempDir() : sim_test::TempDir("authztest") {}
};

TEST(AuthzSim, TcpDenyClosesTheConnection_S1) {
  const std::string curlLine =
      "-sS --resolve httpbin.org:15443:127.0.0.1 https://httpbin.org:15443/status/200";
  for (const bool withPolicy : {false, true}) {
    TempDir dir;
    dir.write("passthrough.yaml", kPassthroughGateway);
    dir.write("deny.yaml", kDenyAdminPaths);
    const std::string policy =
        withPolicy ? fmt::format("  - {}/deny.yaml\n", dir.path.string()) : std::string();
    const fs::path file =
        dir.write("scenario.yaml",
                  fmt::format(fmt::runtime(kPassthroughScenario), fmt::arg("root", kRoot.string()),
                              fmt::arg("dir", dir.path.string()), fmt::arg("policy", policy)));
    RunningMesh m(file, "authz");
    ASSERT_TRUE(m.ok());
    if (!withPolicy) {
      const auto o = m.curlUntil("", curlLine, [](const auto& r) { return r.status == 200; });
      EXPECT_EQ(o.status, 200) << "control without the policy\n" << describe(o);
      continue;
    }
    // Wait until the gateway listens (a refused connect is exit 7), then expect the close.
    const auto o = m.curlUntil("", curlLine, [](const auto& r) { return r.exit != 7; });
    EXPECT_EQ(o.exit, 35) << describe(o);
    EXPECT_FALSE(o.status.has_value() && *o.status != 0) << describe(o);
  }
}

}  // namespace
}  // namespace egresslab::sim
