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

const fs::path kSource = EGRESSLAB_SOURCE_DIR;

struct TempDir : sim_test::TempDir {
  TempDir() : sim_test::TempDir("extauthz") {}
};

struct MeshOptions {
  std::string provider;  // ext-authz-http, ext-authz-grpc, …-open
  bool down = false;     // the servers are not running
};

// The seed on 1.18 (its DestinationRule works there, §4) with CUSTOM at the egress gateway.
class ExtAuthzMesh {
 public:
  explicit ExtAuthzMesh(const MeshOptions& o) {
    std::string manifests;
    const fs::path seed = kSource / "fixtures" / "seed";
    for (const auto& f : {kSource / "fixtures/extauthz/operator.yaml", seed / "egress.yaml",
                          seed / "ingress-gateway.yaml", seed / "egress-gateway.yaml",
                          seed / "virtual-service.yaml", seed / "service-entry.yaml",
                          seed / "destination-rule.yaml", seed / "peer-authentication.yaml",
                          kSource / "fixtures/extauthz/custom-policy.yaml"}) {
      manifests += fmt::format("  - {}\n", f.string());
    }
    const std::string yaml =
        fmt::format(R"(name: extauthz-sim-test
istio: {{version: "1.18.0"}}
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
                    fmt::arg("down", o.down ? "true" : "false"));
    const fs::path file = dir_.path / "scenario.yaml";
    std::ofstream(file) << yaml;
    auto sc = model::loadScenario(file);
    if (!sc) {
      ADD_FAILURE() << sc.error().str();
      return;
    }
    scenario_ = std::move(*sc);
    auto m = SimMesh::start(scenario_, {});
    if (!m) {
      ADD_FAILURE() << m.error().str();
      return;
    }
    mesh_ = std::move(*m);
  }
  bool ok() const { return mesh_ != nullptr; }
  SimMesh& mesh() { return *mesh_; }

  report::Observation curl(const std::string& line) {
    return sim_test::curlThrough(*mesh_, "httpbin/sleep", line,
                                 fmt::format("extauthz-test-{}", ++n_), std::chrono::seconds(10));
  }

 private:
  TempDir dir_;
  model::Scenario scenario_;
  std::unique_ptr<SimMesh> mesh_;
  int n_ = 0;
};

std::string describe(const report::Observation& o) {
  std::string s = fmt::format("exit={} status={} err={} body={}\n", o.exit.value_or(-1),
                              o.status.value_or(0), o.curlError, o.body.substr(0, 400));
  for (const auto& l : o.accessLog) s += "  " + l + "\n";
  return s;
}

std::string header(const report::Observation& o, const std::string& name) {
  auto it = o.headers.find(name);
  return it == o.headers.end() || it->second.empty() ? std::string("<none>") : it->second.front();
}

const char* kAllowed = "-sS -H 'x-ext-authz: allow' http://httpbin.example.com/headers";
const char* kPlain = "-sS http://httpbin.example.com/headers";
const std::vector<std::string> kVia{"sleep", "httpbin-egress"};

class CustomByProtocol : public ::testing::TestWithParam<std::string> {};

TEST_P(CustomByProtocol, AllowedRequestReachesTheUpstreamWithTheServersHeaders_X1) {
  ExtAuthzMesh mesh({.provider = "ext-authz-" + GetParam()});
  ASSERT_TRUE(mesh.ok());
  const auto o = mesh.curl(kAllowed);
  EXPECT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(o.via, kVia) << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "-") << describe(o);
  // HTTP: headersToUpstreamOnAllow lists it; gRPC: ok_response.headers always go upstream.
  EXPECT_NE(o.body.find("\"X-Ext-Authz-Check-Result\""), std::string::npos) << describe(o);
  EXPECT_NE(o.body.find("\"allowed\""), std::string::npos) << describe(o);
}

TEST_P(CustomByProtocol, DeniedRequestIsTheServersAnswerWithUaex_X1) {
  ExtAuthzMesh mesh({.provider = "ext-authz-" + GetParam()});
  ASSERT_TRUE(mesh.ok());
  const auto o = mesh.curl(kPlain);
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
  ExtAuthzMesh mesh({.provider = "ext-authz-" + GetParam(), .down = true});
  ASSERT_TRUE(mesh.ok());
  // The CUSTOM rule excludes /ip: no check, so a down server does not matter.
  const auto o = mesh.curl("-sS http://httpbin.example.com/ip");
  EXPECT_EQ(o.status, 200) << describe(o);
}

TEST_P(CustomByProtocol, ServerDownFailsClosedWith403Uaex_X1) {
  ExtAuthzMesh mesh({.provider = "ext-authz-" + GetParam(), .down = true});
  ASSERT_TRUE(mesh.ok());
  const auto o = mesh.curl(kAllowed);
  EXPECT_EQ(o.status, 403) << describe(o);  // statusOnError unset: Envoy's 403
  EXPECT_EQ(o.flags.at("httpbin-egress"), "UAEX") << describe(o);
  EXPECT_EQ(o.body, "") << describe(o);
  ASSERT_FALSE(o.accessLog.empty());
  EXPECT_NE(o.accessLog.back().find("ext_authz_error"), std::string::npos) << describe(o);
}

TEST_P(CustomByProtocol, ServerDownWithFailOpenLetsTheRequestThrough_X1) {
  ExtAuthzMesh mesh({.provider = "ext-authz-" + GetParam() + "-open", .down = true});
  ASSERT_TRUE(mesh.ok());
  const auto o = mesh.curl(kPlain);  // would be denied if the server answered
  EXPECT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "-") << describe(o);
}

INSTANTIATE_TEST_SUITE_P(Protocols, CustomByProtocol, ::testing::Values("http", "grpc"));

TEST(CustomProvider, UnknownProviderDeniesEverythingTheRuleCovers_X1) {
  ExtAuthzMesh mesh({.provider = "no-such-provider"});
  ASSERT_TRUE(mesh.ok());
  const auto o = mesh.curl(kAllowed);
  EXPECT_EQ(o.status, 403) << describe(o);
  EXPECT_EQ(o.body, "RBAC: access denied") << describe(o);
  ASSERT_FALSE(o.accessLog.empty());
  EXPECT_NE(o.accessLog.back().find("default-deny-all-due-to-bad-CUSTOM-action"), std::string::npos)
      << describe(o);
}

}  // namespace
}  // namespace egresslab::sim
