// Integration tests of the simulated data plane over real sockets and real TLS: every path of
// the seed setup (fixtures/seed, the blog's manifests verbatim) on Istio 1.8, 1.18, 1.22 and
// 1.24, as docs/istio-behaviour.md says real Istio behaves.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "harness/curl/command.h"
#include "harness/curl/execute.h"
#include "harness/mesh/decisions.h"
#include "harness/mesh/peer_metadata.h"
#include "harness/model/loader.h"
#include "harness/sim/net.h"
#include "harness/sim/sim_backend.h"
#include "harness/sim/sim_mesh.h"
#include "harness/sim/sim_test_support.h"

namespace egresslab::sim {
namespace {

namespace fs = std::filesystem;

const fs::path kSeed = fs::path(EGRESSLAB_SOURCE_DIR) / "fixtures" / "seed";

// A scratch directory for scenario files built by a test.
struct TempDir : sim_test::TempDir {
  TempDir() : sim_test::TempDir("simtest") {}
};

struct SeedOptions {
  std::string version = "1.8.0";
  std::string destinationRule;  // replaces fixtures/seed/destination-rule.yaml when set
  bool withSecret = true;
  std::string probeScript;  // replaces the egress gateway's `sh -c` probe script when set
};

SeedOptions seedOn(const std::string& version, const std::string& destinationRule = {}) {
  SeedOptions o;
  o.version = version;
  o.destinationRule = destinationRule;
  return o;
}

std::string seedScenarioYaml(const TempDir& dir, const SeedOptions& o) {
  fs::path dr = kSeed / "destination-rule.yaml";
  if (!o.destinationRule.empty()) dr = dir.write("destination-rule.yaml", o.destinationRule);
  fs::path egress = kSeed / "egress.yaml";
  if (!o.probeScript.empty()) {
    std::ifstream in(egress);
    std::stringstream text;
    text << in.rdbuf();
    std::string yaml = text.str();
    const std::string seedScript =
        "curl http://localhost:15021/healthz/ready && curl https://httpbin.org/status/200";
    const auto at = yaml.find(seedScript);
    EXPECT_NE(at, std::string::npos) << "the seed's probe script changed";
    if (at != std::string::npos) yaml.replace(at, seedScript.size(), o.probeScript);
    egress = dir.write("egress.yaml", yaml);
  }
  std::string manifests;
  for (const auto& f : {kSeed / "operator.yaml", egress, kSeed / "ingress-gateway.yaml",
                        kSeed / "egress-gateway.yaml", kSeed / "virtual-service.yaml",
                        kSeed / "service-entry.yaml", dr, kSeed / "peer-authentication.yaml"}) {
    manifests += fmt::format("  - {}\n", f.string());
  }
  return fmt::format(R"(name: seed-sim-test
istio: {{version: "{}"}}
vars:
  my-proxied-service-hostname: httpbin.example.com
  my-secret-name: httpbin-credential
manifests:
{}{}
upstreams:
  - {{host: httpbin.org, port: 443, tls: true}}
dns:
  httpbin.example.com: 203.0.113.10
  blocked.example.org: 203.0.113.20
workloads:
  - {{name: sleep, namespace: httpbin, injected: true}}
portForwards:
  - {{service: istio-system/istio-ingressgateway, local: 15443, remote: 443}}
  - {{service: istio-system/istio-ingressgateway, local: 15080, remote: 80}}
)",
                     o.version, manifests,
                     o.withSecret
                         ? "secrets:\n  - {name: <my-secret-name>, namespace: istio-system, "
                           "hosts: [<my-proxied-service-hostname>]}\n"
                         : "");
}

const char* kDrWithSni = R"(apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: "httpbin-egress"
  namespace: "httpbin"
spec:
  host: "httpbin.org"
  subsets:
  - name: "http-egress-subset"
    trafficPolicy:
      loadBalancer:
        simple: ROUND_ROBIN
      portLevelSettings:
      - port:
          number: 443
        tls:
          mode: SIMPLE
          sni: httpbin.org
)";

const char* kDrSubsetSelectsNothing = R"(apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: "httpbin-egress"
  namespace: "httpbin"
spec:
  host: "httpbin.org"
  subsets:
  - name: "http-egress-subset"
    labels:
      version: v1
    trafficPolicy:
      portLevelSettings:
      - port:
          number: 443
        tls:
          mode: SIMPLE
          sni: httpbin.org
)";

class Seed {
 public:
  explicit Seed(const SeedOptions& o = {}, SimOptions sim = {}) {
    const fs::path file = dir_.write("scenario.yaml", seedScenarioYaml(dir_, o));
    auto sc = model::loadScenario(file);
    if (!sc) {
      ADD_FAILURE() << sc.error().str();
      return;
    }
    scenario_ = std::move(*sc);
    auto m = SimMesh::start(scenario_, sim);
    if (!m) {
      ADD_FAILURE() << m.error().str();
      return;
    }
    mesh_ = std::move(*m);
  }
  SimMesh& mesh() { return *mesh_; }
  bool ok() const { return mesh_ != nullptr; }

  // Runs a curl line from the host (from == "") or a pod, as the backend does.
  report::Observation curl(const std::string& from, std::string line) {
    return sim_test::curlThrough(*mesh_, from, line, fmt::format("test-{}", ++n_),
                                 std::chrono::seconds(10));
  }

  // Waits (bounded) until `pred` holds, re-evaluating it; returns whether it did.
  template <typename Pred>
  bool eventually(Pred pred, std::chrono::milliseconds within = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pred();
  }

 private:
  TempDir dir_;
  model::Scenario scenario_;
  std::unique_ptr<SimMesh> mesh_;
  std::atomic<int> n_{0};  // request ids; tests may curl from several threads
};

const char* kExternal =
    "-sS --resolve httpbin.example.com:15443:127.0.0.1 --cacert ${ca} "
    "https://httpbin.example.com:15443/status/200";
const char* kInMesh = "-sS http://httpbin.example.com/status/200";

std::string describe(const report::Observation& o) {
  std::string s = fmt::format("exit={} status={} err={} body={}\n", o.exit.value_or(-1),
                              o.status.value_or(0), o.curlError, o.body.substr(0, 300));
  for (const auto& l : o.accessLog) s += "  " + l + "\n";
  return s;
}

bool atLeast121(const std::string& v) { return v == "1.22.0" || v == "1.24.0"; }

class SeedByVersion : public ::testing::TestWithParam<std::string> {};

// §4: the seed's DR works on 1.8–1.20 (no SNI, no verification) and fails on 1.21+ (auto SNI +
// auto SAN against the proxied Host) with 503 at the egress gateway.
TEST_P(SeedByVersion, ExternalHttpsThroughIngressAndEgress_S4) {
  Seed seed(seedOn(GetParam()));
  ASSERT_TRUE(seed.ok());
  const auto o = seed.curl("", kExternal);
  const std::vector<std::string> via{"istio-ingressgateway", "httpbin-egress"};
  EXPECT_EQ(o.via, via) << describe(o);
  if (!atLeast121(GetParam())) {
    EXPECT_EQ(o.exit, 0) << describe(o);
    EXPECT_EQ(o.status, 200) << describe(o);
    EXPECT_EQ(o.flags.at("httpbin-egress"), "-");
    EXPECT_EQ(o.flags.at("istio-ingressgateway"), "-");
  } else {
    EXPECT_EQ(o.status, 503) << describe(o);
    // §11.1: UF+URX, order by version (treat as a set).
    const auto parsed = mesh::parseResponseFlags(o.flags.at("httpbin-egress"));
    EXPECT_TRUE(parsed.has(mesh::ResponseFlag::kUF)) << describe(o);
    EXPECT_TRUE(parsed.has(mesh::ResponseFlag::kURX)) << describe(o);
    EXPECT_NE(o.body.find("CERTIFICATE_VERIFY_FAILED"), std::string::npos) << describe(o);
    // §11.6: the ingress retries the 503 through 1.23, not on 1.24+.
    EXPECT_EQ(o.flags.at("istio-ingressgateway"), GetParam() == "1.22.0" ? "URX" : "-")
        << describe(o);
  }
}

// §5: httpsRedirect → 301 with Location from the Host as received.
TEST_P(SeedByVersion, PlainHttpOnPort80Redirects_S5) {
  Seed seed(seedOn(GetParam()));
  ASSERT_TRUE(seed.ok());
  const auto o = seed.curl("",
                           "-sS --resolve httpbin.example.com:15080:127.0.0.1 "
                           "http://httpbin.example.com:15080/status/200");
  EXPECT_EQ(o.status, 301) << describe(o);
  ASSERT_TRUE(o.headers.contains("location"));
  EXPECT_EQ(o.headers.at("location").front(), "https://httpbin.example.com:15080/status/200");
  EXPECT_EQ(o.via, std::vector<std::string>{"istio-ingressgateway"});
}

// §3: the proxied host resolves through the scenario's DNS record, the sidecar routes by Host
// to the egress gateway (plaintext, §6), which originates TLS (§4).
TEST_P(SeedByVersion, InMeshThroughSidecarAndEgress_S3) {
  Seed seed(seedOn(GetParam()));
  ASSERT_TRUE(seed.ok());
  const auto o = seed.curl("httpbin/sleep", kInMesh);
  EXPECT_EQ(o.via, (std::vector<std::string>{"sleep", "httpbin-egress"})) << describe(o);
  EXPECT_EQ(o.status, atLeast121(GetParam()) ? 503 : 200) << describe(o);
}

// §1: REGISTRY_ONLY: HTTP to an unknown host → block_all 502 from the sidecar itself.
TEST_P(SeedByVersion, RegistryOnlyHttpIsBlockAll502_S1) {
  Seed seed(seedOn(GetParam()));
  ASSERT_TRUE(seed.ok());
  const auto o = seed.curl("httpbin/sleep", "-sS http://blocked.example.org/get");
  EXPECT_EQ(o.exit, 0);
  EXPECT_EQ(o.status, 502) << describe(o);
  EXPECT_EQ(o.via, std::vector<std::string>{"sleep"});
  EXPECT_EQ(o.flags.at("sleep"), "-");
  ASSERT_EQ(o.accessLog.size(), 1u);
  EXPECT_NE(o.accessLog[0].find("block_all"), std::string::npos) << describe(o);
  // A local reply of a sidecar outbound listener: Envoy's own server name (§R0).
  EXPECT_EQ(o.headers.count("server") ? o.headers.at("server") : std::vector<std::string>{},
            std::vector<std::string>{"envoy"})
      << describe(o);
}

// §1: TLS to an unknown destination → BlackHoleCluster: accepted and reset → curl 35.
TEST_P(SeedByVersion, RegistryOnlyTlsIsReset35_S1) {
  Seed seed(seedOn(GetParam()));
  ASSERT_TRUE(seed.ok());
  const auto o = seed.curl("httpbin/sleep", "-sS https://blocked.example.org/get");
  EXPECT_EQ(o.exit, 35) << describe(o);
  bool logged = false;
  for (const auto& r : seed.mesh().allLogs()) {
    logged |= r.proxy == "sleep" && r.line.find("BlackHoleCluster") != std::string::npos &&
              r.flags == "UH";
  }
  EXPECT_TRUE(logged);
}

// §3: DNS capture is off: a name nothing resolves → curl exit 6, no request reaches Envoy.
TEST_P(SeedByVersion, UnresolvableHostExits6_S3) {
  Seed seed(seedOn(GetParam()));
  ASSERT_TRUE(seed.ok());
  const auto o = seed.curl("httpbin/sleep", "-sS http://nowhere.example.net/get");
  EXPECT_EQ(o.exit, 6) << describe(o);
  EXPECT_TRUE(o.via.empty());
  // The host resolves only public names (the upstreams): the proxied name is not one.
  const auto h = seed.curl("", "-sS https://httpbin.example.com/status/200");
  EXPECT_EQ(h.exit, 6) << describe(h);
}

// §4: `sni: httpbin.org` fixes the 1.21+ trap (and changes nothing before).
TEST_P(SeedByVersion, SniInDestinationRuleFixesTheTrap_S4) {
  Seed seed(seedOn(GetParam(), kDrWithSni));
  ASSERT_TRUE(seed.ok());
  const auto o = seed.curl("", kExternal);
  EXPECT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(o.via, (std::vector<std::string>{"istio-ingressgateway", "httpbin-egress"}));
  const auto m = seed.curl("httpbin/sleep", kInMesh + std::string(" -o /dev/null"));
  EXPECT_EQ(m.status, 200) << describe(m);
}

// §11.6: a subset that selects no endpoint → 503 NC at the egress (NR before 1.10); the caller
// logs URX through 1.23 (it retried the 503) and `-` on 1.24+.
TEST_P(SeedByVersion, SubsetSelectingNothingIsNcAtTheEgress_S11_6) {
  Seed seed(seedOn(GetParam(), kDrSubsetSelectsNothing));
  ASSERT_TRUE(seed.ok());
  const auto o = seed.curl("httpbin/sleep", kInMesh);
  EXPECT_EQ(o.status, 503) << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), GetParam() == "1.8.0" ? "NR" : "NC") << describe(o);
  EXPECT_EQ(o.flags.at("sleep"), GetParam() == "1.24.0" ? "-" : "URX") << describe(o);
  EXPECT_TRUE(o.body.empty()) << describe(o);
}

// §7, §11.7: upstream down → 503 UF at the egress; the exec probe's `curl https://httpbin.org`
// then fails (transport error) → after failureThreshold the gateway is NotReady → callers get
// 503 UH; the upstream comes back → the probe passes → 200.
TEST_P(SeedByVersion, UpstreamDownThenReadinessThenRecovery_S7) {
  SimOptions sim;
  sim.timeScale = 200;  // period 2 s → 10 ms; 30 failures → ~300 ms
  Seed seed(seedOn(GetParam(), kDrWithSni), sim);
  ASSERT_TRUE(seed.ok());
  EXPECT_TRUE(seed.mesh().gatewayReady("httpbin/httpbin-egress"));
  model::FaultSpec down;
  down.target = "upstream/httpbin.org";
  down.upstreamHost = "httpbin.org";
  down.action = "down";
  ASSERT_TRUE(seed.mesh().fault(down).has_value());
  const auto uf = seed.curl("httpbin/sleep", kInMesh);
  EXPECT_EQ(uf.status, 503) << describe(uf);
  if (seed.mesh().gatewayReady("httpbin/httpbin-egress")) {
    const auto flags = mesh::parseResponseFlags(uf.flags.at("httpbin-egress"));
    EXPECT_TRUE(flags.has(mesh::ResponseFlag::kUF)) << describe(uf);
  }
  EXPECT_TRUE(seed.eventually([&] { return !seed.mesh().gatewayReady("httpbin/httpbin-egress"); }));
  const auto uh = seed.curl("httpbin/sleep", kInMesh);
  EXPECT_EQ(uh.status, 503) << describe(uh);
  EXPECT_EQ(uh.flags.at("sleep"), "UH") << describe(uh);
  EXPECT_EQ(uh.body, "no healthy upstream");
  EXPECT_EQ(uh.via, std::vector<std::string>{"sleep"});
  model::FaultSpec up = down;
  up.action = "up";
  ASSERT_TRUE(seed.mesh().fault(up).has_value());
  EXPECT_TRUE(seed.eventually([&] { return seed.curl("httpbin/sleep", kInMesh).status == 200; }));
}

INSTANTIATE_TEST_SUITE_P(Versions, SeedByVersion,
                         ::testing::Values("1.8.0", "1.18.0", "1.22.0", "1.24.0"),
                         [](const auto& param) {
                           std::string n = param.param;
                           std::replace(n.begin(), n.end(), '.', '_');
                           return "Istio_" + n;
                         });

// §6: STRICT PeerAuthentication in httpbin: a plaintext client is rejected by sleep's sidecar
// inbound (curl 56 / reset); the hop sidecar → sidecar uses auto mTLS and works.
TEST(SimMesh, StrictPeerAuthenticationRejectsPlaintextToSidecarInbound_S6) {
  Seed seed;
  ASSERT_TRUE(seed.ok());
  const mesh::WorkloadInstance* sleep = seed.mesh().compiled().findWorkload("httpbin", "sleep");
  ASSERT_NE(sleep, nullptr);
  // A non-injected pod talks directly: from the ingress gateway pod (gateways are not captured).
  const auto o = seed.curl("istio-system/istio-ingressgateway",
                           fmt::format("-sS http://{}:80/hostname", sleep->ip));
  EXPECT_NE(o.exit, 0) << describe(o);
  EXPECT_FALSE(o.status.has_value()) << describe(o);
}

TEST(SimMesh, GatewayKillGivesUhAndRestoreRecovers_S7) {
  Seed seed(seedOn("1.8.0"));
  ASSERT_TRUE(seed.ok());
  model::FaultSpec kill;
  kill.targetKind = model::FaultSpec::TargetKind::kGateway;
  kill.target = "gateway/httpbin/httpbin-egress";
  kill.gatewayNamespace = "httpbin";
  kill.gatewayName = "httpbin-egress";
  kill.action = "kill";
  ASSERT_TRUE(seed.mesh().fault(kill).has_value());
  const auto o = seed.curl("httpbin/sleep", kInMesh);
  EXPECT_EQ(o.status, 503) << describe(o);
  EXPECT_EQ(o.flags.at("sleep"), "UH");
  const auto viaIngress = seed.curl("", kExternal);
  EXPECT_EQ(viaIngress.status, 503);
  EXPECT_EQ(viaIngress.flags.at("istio-ingressgateway"), "UH");
  kill.action = "restore";
  ASSERT_TRUE(seed.mesh().fault(kill).has_value());
  EXPECT_TRUE(seed.eventually([&] { return seed.curl("httpbin/sleep", kInMesh).status == 200; }));
}

// §11.2: no credential: the gateway refuses (curl 7) while warming, then resets the handshake
// (curl 35).
TEST(SimMesh, MissingCredentialRefusesThenResets_S11_2) {
  SeedOptions o;
  o.withSecret = false;
  SimOptions sim;
  sim.warmingTimeout = std::chrono::milliseconds(400);
  Seed seed(o, sim);
  ASSERT_TRUE(seed.ok());
  const auto warming = seed.curl("", kExternal);
  EXPECT_EQ(warming.exit, 7) << describe(warming);
  EXPECT_TRUE(seed.eventually([&] { return seed.curl("", kExternal).exit == 35; }));
}

// Upstream faults through the mock: status and bad-cert (verification on, §4).
TEST(SimMesh, UpstreamStatusAndBadCertFaults) {
  Seed seed(seedOn("1.24.0", kDrWithSni));
  ASSERT_TRUE(seed.ok());
  model::FaultSpec f;
  f.target = "upstream/httpbin.org";
  f.upstreamHost = "httpbin.org";
  f.action = "status";
  f.code = 500;
  ASSERT_TRUE(seed.mesh().fault(f).has_value());
  auto o = seed.curl("httpbin/sleep", kInMesh);
  EXPECT_EQ(o.status, 500) << describe(o);
  f.action = "up";
  ASSERT_TRUE(seed.mesh().fault(f).has_value());
  f.action = "bad-cert";
  ASSERT_TRUE(seed.mesh().fault(f).has_value());
  o = seed.curl("httpbin/sleep", kInMesh);
  EXPECT_EQ(o.status, 503) << describe(o);
  EXPECT_TRUE(mesh::parseResponseFlags(o.flags.at("httpbin-egress")).has(mesh::ResponseFlag::kUF));
}

// §7: the seed's exec probe has no `-f`: an upstream answering 503 keeps the gateway Ready (only
// transport errors fail); the upstream down (connection refused) fails it after
// failureThreshold (30) consecutive probes. Probes driven by hand, no clock involved.
TEST(SimMesh, ExecProbeFailsOnlyOnTransportErrors_S7) {
  SimOptions sim;
  sim.periodicProbes = false;
  Seed seed(seedOn("1.8.0"), sim);
  ASSERT_TRUE(seed.ok());
  ASSERT_TRUE(seed.mesh().gatewayReady("httpbin/httpbin-egress"));
  model::FaultSpec f;
  f.target = "upstream/httpbin.org";
  f.upstreamHost = "httpbin.org";
  f.action = "status";
  f.code = 503;
  ASSERT_TRUE(seed.mesh().fault(f).has_value());
  for (int i = 0; i < 35; ++i) seed.mesh().probeNow();
  EXPECT_TRUE(seed.mesh().gatewayReady("httpbin/httpbin-egress"));
  f.action = "down";
  ASSERT_TRUE(seed.mesh().fault(f).has_value());
  for (int i = 0; i < 29; ++i) seed.mesh().probeNow();
  EXPECT_TRUE(seed.mesh().gatewayReady("httpbin/httpbin-egress")) << "29 failures < threshold 30";
  seed.mesh().probeNow();
  EXPECT_FALSE(seed.mesh().gatewayReady("httpbin/httpbin-egress"));
  f.action = "up";
  ASSERT_TRUE(seed.mesh().fault(f).has_value());
  seed.mesh().probeNow();  // successThreshold 1
  EXPECT_TRUE(seed.mesh().gatewayReady("httpbin/httpbin-egress"));
  // The ingress uses the chart default httpGet :15021/healthz/ready and stays Ready throughout.
  EXPECT_TRUE(seed.mesh().gatewayReady("istio-system/istio-ingressgateway"));
}

// §7: the exec probe's `sh -c` script runs with sh semantics (mesh/probe_command.h): `;` and
// `|| true` / `| true` decide by their last command, so a failing first curl (port 1 refuses)
// leaves the gateway Ready; `&&` and a program the simulation cannot run (exit 127) do not.
TEST(SimMesh, ExecProbeScriptHasShSemantics_S7) {
  struct Case {
    std::string script;
    bool ready;
  };
  const std::vector<Case> cases = {
      {"curl -f http://localhost:1/; curl -f http://localhost:15021/healthz/ready", true},
      {"curl -f http://localhost:15021/healthz/ready; curl -f http://localhost:1/", false},
      {"curl -f http://localhost:1/ || true", true},
      {"curl -f http://localhost:1/ | true", true},
      {"curl -f http://localhost:1/ && curl -f http://localhost:15021/healthz/ready", false},
      {"curl -f http://localhost:1/ || curl -sSf 'http://localhost:15021/healthz/ready'", true},
      {"wget -q -O- http://localhost:15021/healthz/ready", false},
      {"curl -f 'http://localhost:15021/healthz/ready", false},  // unterminated quote
  };
  for (const Case& c : cases) {
    SeedOptions o;
    o.probeScript = c.script;
    SimOptions sim;
    sim.periodicProbes = false;
    Seed seed(o, sim);
    ASSERT_TRUE(seed.ok()) << c.script;
    EXPECT_EQ(seed.mesh().gatewayReady("httpbin/httpbin-egress"), c.ready) << c.script;
  }
}

// /hostname proves which upstream answered.
TEST(SimMesh, HostnameNamesTheUpstream) {
  Seed seed;
  ASSERT_TRUE(seed.ok());
  const auto o = seed.curl("", std::string(kExternal).replace(
                                   std::string(kExternal).find("/status/200"), 11, "/hostname"));
  EXPECT_EQ(o.status, 200) << describe(o);
  EXPECT_NE(o.body.find("httpbin.org"), std::string::npos) << describe(o);
}

// Hostile clients never crash or wedge a proxy (docs/design.md reliability rules).
TEST(SimMesh, HostileInputLeavesProxiesServing) {
  Seed seed;
  ASSERT_TRUE(seed.ok());
  const auto tlsPort = seed.mesh().portForwardTarget(15443);
  const auto httpPort = seed.mesh().portForwardTarget(15080);
  ASSERT_TRUE(tlsPort && httpPort);
  auto send = [](const curl::SocketAddress& a, const std::string& bytes, bool waitReply) {
    auto fd = connectTcp(a.ip, static_cast<std::uint16_t>(a.port), std::chrono::seconds(2));
    ASSERT_TRUE(fd.has_value());
    ::send(fd->get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (waitReply) {
      setSocketTimeouts(fd->get(), std::chrono::seconds(5), std::chrono::seconds(5));
      char buf[256];
      const auto n = ::recv(fd->get(), buf, sizeof buf, 0);
      if (n > 0) {
        const std::string reply(buf, static_cast<std::size_t>(n));
        EXPECT_EQ(reply.rfind("HTTP/1.1 4", 0), 0u) << reply;
      }
    }
  };
  // TLS garbage, a truncated ClientHello, random bytes on the TLS port.
  send(*tlsPort, std::string("\x16\x03\x01\xff\xff garbage", 14), false);
  send(*tlsPort, std::string(5000, '\x17'), false);
  // Malformed and oversized HTTP on the plaintext port.
  send(*httpPort, "BLAH\r\n\r\n", true);
  send(*httpPort, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100000, 'a') + "\r\n\r\n",
       true);
  send(*httpPort, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n", true);
  // A slow client that never finishes its headers holds only its own connection.
  auto slow =
      connectTcp(httpPort->ip, static_cast<std::uint16_t>(httpPort->port), std::chrono::seconds(2));
  ASSERT_TRUE(slow.has_value());
  ::send(slow->get(), "GET / HTTP/1.1\r\nHo", 18, MSG_NOSIGNAL);
  const auto o = seed.curl("", kExternal);
  EXPECT_EQ(o.status, 200) << describe(o);
}

// The Backend contract: up → curl (via/flags from the access log) → fault → down.
TEST(SimBackend, ObservationCarriesViaFlagsAndLogLines) {
  TempDir dir;
  const fs::path file = dir.write("scenario.yaml", seedScenarioYaml(dir, SeedOptions{}));
  auto sc = model::loadScenario(file);
  ASSERT_TRUE(sc.has_value()) << sc.error().str();
  auto b = makeSimBackend();
  EXPECT_EQ(b->name(), "sim");
  ASSERT_TRUE(b->up(*sc, {}).has_value());
  const std::string line = b->expandCurlLine(kExternal);
  EXPECT_EQ(line.find("${ca}"), std::string::npos);
  backend::CurlRequest req;
  req.line = line;
  req.command = *curl::parseCurlCommandLine(line);
  req.requestId = "contract-1";
  auto o = b->curl(req);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->status, 200);
  EXPECT_EQ(o->via, (std::vector<std::string>{"istio-ingressgateway", "httpbin-egress"}));
  EXPECT_EQ(o->flags.at("httpbin-egress"), "-");
  ASSERT_EQ(o->accessLog.size(), 2u);
  EXPECT_EQ(o->accessLog[0].rfind("istio-ingressgateway: [", 0), 0u) << o->accessLog[0];
  EXPECT_NE(o->accessLog[1].find("\"contract-1\""), std::string::npos) << o->accessLog[1];
  EXPECT_NE(o->accessLog[1].find("outbound|443|http-egress-subset|httpbin.org"), std::string::npos)
      << o->accessLog[1];
  backend::CurlRequest bad = req;
  bad.from = "nope/nothing";
  EXPECT_FALSE(b->curl(bad).has_value());
  EXPECT_FALSE(b->endpoints().empty());
  b->down();
  b->down();  // idempotent
}

// ----------------------------------------------------------------- the event-driven data plane
// Connections cost sockets and a coroutine, not threads; limits are per listener and per
// request; stop() closes what is open.

std::size_t threadCount() {
  std::size_t n = 0;
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    (void)task;
    ++n;
  }
  return n;
}

SimOptions quietSim() {
  SimOptions sim;
  sim.periodicProbes = false;  // no prober curls (and their resolver threads) during the test
  return sim;
}

const char* kRedirect =
    "-sS --resolve httpbin.example.com:15080:127.0.0.1 http://httpbin.example.com:15080/get";

// 200 idle or half-sent connections (slow clients) leave the process's thread count unchanged and
// the mesh answering (the thread-per-connection data plane added one thread each).
TEST(DataPlane, IdleAndSlowConnectionsCostNoThreads) {
  Seed seed(SeedOptions{}, quietSim());
  ASSERT_TRUE(seed.ok());
  const auto httpPort = seed.mesh().portForwardTarget(15080);
  ASSERT_TRUE(httpPort.has_value());
  ASSERT_EQ(seed.curl("", kExternal).status, 200);  // listeners bound, pools warm
  const std::size_t before = threadCount();
  std::vector<Fd> held;
  for (int i = 0; i < 200; ++i) {
    auto fd = connectTcp(httpPort->ip, static_cast<std::uint16_t>(httpPort->port),
                         std::chrono::seconds(5));
    ASSERT_TRUE(fd.has_value()) << i;
    if (i % 2 == 1) ::send(fd->get(), "GET / HTTP/1.1\r\nHo", 18, MSG_NOSIGNAL);
    held.push_back(std::move(*fd));
  }
  const auto o = seed.curl("", kExternal);
  EXPECT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(seed.curl("", kRedirect).status, 301);
  EXPECT_EQ(threadCount(), before);
}

// Beyond the per-listener cap a connection is accepted and closed without an answer; when held
// connections end, the listener serves again.
TEST(DataPlane, ListenerConnectionCapClosesExtraConnectionsAndRecovers) {
  SimOptions sim = quietSim();
  sim.maxConnectionsPerListener = 4;
  Seed seed(SeedOptions{}, sim);
  ASSERT_TRUE(seed.ok());
  const auto httpPort = seed.mesh().portForwardTarget(15080);
  ASSERT_TRUE(httpPort.has_value());
  auto connect = [&] {
    return connectTcp(httpPort->ip, static_cast<std::uint16_t>(httpPort->port),
                      std::chrono::seconds(5));
  };
  std::vector<Fd> held;
  for (int i = 0; i < 4; ++i) {
    auto fd = connect();
    ASSERT_TRUE(fd.has_value());
    held.push_back(std::move(*fd));
  }
  // The fifth is accepted and reset: either before connect() returns here (then connect fails)
  // or after, when a request on it gets no answer.
  if (auto extra = connect(); extra.has_value()) {
    const std::string request = "GET / HTTP/1.1\r\nHost: httpbin.example.com\r\n\r\n";
    ::send(extra->get(), request.data(), request.size(), MSG_NOSIGNAL);
    setSocketTimeouts(extra->get(), std::chrono::seconds(10), std::chrono::seconds(10));
    char buf[64];
    errno = 0;
    const auto n = ::recv(extra->get(), buf, sizeof buf, 0);
    const int err = errno;
    EXPECT_LE(n, 0) << "the fifth connection was served";
    // Reset at once, not left waiting: a worker thread blocked by one of the held connections
    // (tls.cpp's peek once blocked on a wait that completed with nothing to read) stops the
    // accept loop it runs, and recv then times out (EAGAIN).
    EXPECT_NE(err, EAGAIN) << "the fifth connection was neither served nor closed";
  }
  held.clear();
  EXPECT_TRUE(seed.eventually([&] { return seed.curl("", kRedirect).status == 301; }));
}

// A request has one deadline: a client that sends a byte every 20 ms (each read well within the
// timeout) is still cut off once the whole request is late.
TEST(DataPlane, ARequestHasOneDeadlineNotOnePerRead) {
  SimOptions sim = quietSim();
  sim.requestTimeout = std::chrono::milliseconds(300);
  Seed seed(SeedOptions{}, sim);
  ASSERT_TRUE(seed.ok());
  const auto httpPort = seed.mesh().portForwardTarget(15080);
  ASSERT_TRUE(httpPort.has_value());
  auto fd =
      connectTcp(httpPort->ip, static_cast<std::uint16_t>(httpPort->port), std::chrono::seconds(5));
  ASSERT_TRUE(fd.has_value());
  const std::string head = "GET / HTTP/1.1\r\nHost: httpbin.example.com\r\nX-Slow: ";
  ASSERT_EQ(::send(fd->get(), head.data(), head.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(head.size()));
  bool closed = false;
  // At most 1,500 bytes (30 s); the proxy closes after 300 ms.
  for (int i = 0; i < 1500 && !closed; ++i) {
    if (::send(fd->get(), "a", 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    pollfd p{fd->get(), POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) {
      char buf[256];
      closed = ::recv(fd->get(), buf, sizeof buf, MSG_DONTWAIT) <= 0;
    }
  }
  EXPECT_TRUE(closed);
}

// stop() closes live downstream connections and returns; nothing waits for clients.
TEST(DataPlane, StopClosesLiveConnections) {
  Seed seed(SeedOptions{}, quietSim());
  ASSERT_TRUE(seed.ok());
  const auto httpPort = seed.mesh().portForwardTarget(15080);
  ASSERT_TRUE(httpPort.has_value());
  auto fd =
      connectTcp(httpPort->ip, static_cast<std::uint16_t>(httpPort->port), std::chrono::seconds(5));
  ASSERT_TRUE(fd.has_value());
  ::send(fd->get(), "GET / HTTP/1.1\r\nHo", 18, MSG_NOSIGNAL);
  // The proxy has the connection once it answers a request on another one.
  EXPECT_EQ(seed.curl("", kRedirect).status, 301);
  seed.mesh().stop();
  setSocketTimeouts(fd->get(), std::chrono::seconds(10), std::chrono::seconds(10));
  char buf[64];
  errno = 0;
  const auto n = ::recv(fd->get(), buf, sizeof buf, 0);
  EXPECT_LE(n, 0);
  EXPECT_NE(errno, EAGAIN) << "the connection outlived stop()";
}

// ----------------------------------------------------------------- every hop observable
// TCP hops carry no request id: the backend joins them by connection (docs/design.md "Every hop
// observable, HTTP or not") — curl's own local address is the first proxy's downstream remote
// address, each next hop's is the previous hop's upstream local address.

struct BackendRun {
  explicit BackendRun(const std::string& yaml) {
    const fs::path file = dir.write("scenario.yaml", yaml);
    auto sc = model::loadScenario(file);
    if (!sc) {
      ADD_FAILURE() << sc.error().str();
      return;
    }
    scenario = std::move(*sc);
    backend = makeSimBackend();
    auto ok = backend->up(scenario, {});
    if (!ok) ADD_FAILURE() << ok.error().str();
  }
  report::Observation curl(const std::string& from, const std::string& line,
                           const std::string& id) {
    backend::CurlRequest req;
    req.line = backend->expandCurlLine(line);
    req.command = *curl::parseCurlCommandLine(req.line);
    if (!from.empty()) req.from = from;
    req.requestId = id;
    req.timeout = std::chrono::seconds(10);
    auto o = backend->curl(req);
    EXPECT_TRUE(o.has_value());
    return o ? *o : report::Observation{};
  }
  TempDir dir;
  model::Scenario scenario;
  std::unique_ptr<backend::Backend> backend;
};

// ------------------------------------------------------ headers the upstream sees (§R8, §R0)
// The upstream mock's /headers echoes every request header it received (values as lists);
// the curl result carries the final response's headers.

// The echoed values of one request header, joined with "|"; "<absent>" when not sent.
std::string echoedHeader(const report::Observation& o, const std::string& canonicalName) {
  const auto j = nlohmann::json::parse(o.body, nullptr, false);
  if (j.is_discarded() || !j.contains("headers") || !j["headers"].contains(canonicalName)) {
    return "<absent>";
  }
  std::string out;
  for (const auto& v : j["headers"][canonicalName]) {
    if (!out.empty()) out += "|";
    out += v.get<std::string>();
  }
  return out;
}

std::string responseHeader(const report::Observation& o, const std::string& name) {
  const auto it = o.headers.find(name);
  if (it == o.headers.end() || it->second.empty()) return "<absent>";
  return it->second.front();
}

const char* kExternalHeaders =
    "-sS --resolve httpbin.example.com:15443:127.0.0.1 --cacert ${ca} "
    "https://httpbin.example.com:15443/headers";

class ProxyHeadersByVersion : public ::testing::TestWithParam<std::string> {};

// host → ingress (port-forward) → egress → upstream, with the DR that works on every version.
TEST_P(ProxyHeadersByVersion, UpstreamSeesTheGatewaysHeaders_R8) {
  Seed seed(seedOn(GetParam(), kDrWithSni));
  ASSERT_TRUE(seed.ok());
  const auto o = seed.curl("", kExternalHeaders);
  ASSERT_EQ(o.status, 200) << describe(o);
  // Responses through a gateway: `server` overwritten, the upstream time reported.
  EXPECT_EQ(responseHeader(o, "server"), "istio-envoy") << describe(o);
  const std::string ust = responseHeader(o, "x-envoy-upstream-service-time");
  EXPECT_FALSE(ust.empty());
  EXPECT_EQ(ust.find_first_not_of("0123456789"), std::string::npos) << ust;
  // The egress's router overwrites the ingress's attempt count: first try → 1.
  EXPECT_EQ(echoedHeader(o, "X-Envoy-Attempt-Count"), "1") << o.body;
  // The egress overwrites x-forwarded-proto with the scheme of its own downstream (the ingress
  // → egress hop is plaintext HTTP in the seed).
  EXPECT_EQ(echoedHeader(o, "X-Forwarded-Proto"), "http") << o.body;
  // Each gateway appends its client: curl through kubectl port-forward is 127.0.0.1 (§R9),
  // then the ingress by its pod IP (its log line's DOWNSTREAM_LOCAL_ADDRESS holds it).
  ASSERT_EQ(o.accessLog.size(), 2u) << describe(o);
  std::istringstream tail(o.accessLog[0].substr(o.accessLog[0].rfind('"') + 1));
  std::string cluster, upstreamLocal, downstreamLocal;
  tail >> cluster >> upstreamLocal >> downstreamLocal;
  const std::string ingressPodIp = downstreamLocal.substr(0, downstreamLocal.rfind(':'));
  EXPECT_NE(ingressPodIp, "127.0.0.1") << o.accessLog[0];
  EXPECT_EQ(echoedHeader(o, "X-Forwarded-For"), "127.0.0.1, " + ingressPodIp) << o.body;
  // The egress's route decorator overwrites the ingress's: one destination, no uri match.
  EXPECT_EQ(echoedHeader(o, "X-Envoy-Decorator-Operation"), "httpbin.org:443/*") << o.body;
  // B3: two Envoy hops (ingress, egress) through 1.21, nothing from 1.22 (§R8, §R11).
  const bool b3 = GetParam() == "1.8.0" || GetParam() == "1.21.0";
  if (b3) {
    const std::string trace = echoedHeader(o, "X-B3-Traceid");
    const std::string parent = echoedHeader(o, "X-B3-Parentspanid");
    const std::string span = echoedHeader(o, "X-B3-Spanid");
    EXPECT_EQ(trace.size(), 32u) << o.body;
    EXPECT_EQ(trace.find_first_not_of("0123456789abcdef"), std::string::npos) << o.body;
    // The ingress started the trace: its root span id is the trace id's low 64 bits, and the
    // egress's span is a child of it.
    EXPECT_EQ(parent, trace.substr(16)) << o.body;
    EXPECT_EQ(span.size(), 16u) << o.body;
    EXPECT_NE(span, parent) << o.body;
    const std::string sampled = echoedHeader(o, "X-B3-Sampled");
    EXPECT_TRUE(sampled == "0" || sampled == "1") << o.body;
  } else {
    EXPECT_EQ(echoedHeader(o, "X-B3-Traceid"), "<absent>") << o.body;
    EXPECT_EQ(echoedHeader(o, "X-B3-Spanid"), "<absent>") << o.body;
  }
  // Metadata exchange in every version: the egress gateway replaced the ingress's pair with its
  // own (§R8.1).
  EXPECT_EQ(echoedHeader(o, "X-Envoy-Peer-Metadata-Id").rfind("router~", 0), 0u) << o.body;
  EXPECT_NE(echoedHeader(o, "X-Envoy-Peer-Metadata-Id").find("~httpbin-egress-"), std::string::npos)
      << o.body;
  EXPECT_NE(echoedHeader(o, "X-Envoy-Peer-Metadata"), "<absent>") << o.body;
  // Private/loopback sources are internal up to 1.24, edge from 1.25 (§R8, §R11).
  const bool internal = GetParam() != "1.25.0";
  EXPECT_EQ(echoedHeader(o, "X-Envoy-Internal"), internal ? "true" : "<absent>") << o.body;
  if (internal) {
    EXPECT_EQ(echoedHeader(o, "X-Request-Id"), "test-1") << o.body;
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, ProxyHeadersByVersion,
                         ::testing::Values("1.8.0", "1.21.0", "1.22.0", "1.24.0", "1.25.0"),
                         [](const auto& param) {
                           std::string n = param.param;
                           std::replace(n.begin(), n.end(), '.', '_');
                           return "Istio_" + n;
                         });

// sleep → its sidecar → egress → upstream: the egress appends the sleep pod's IP (the sidecar
// adds no XFF), and x-forwarded-proto is the egress's own plaintext downstream (§R8). The
// client's own x-envoy-attempt-count is overwritten by each hop's router (§R2.3).
TEST(ProxyHeaders, EgressAppendsTheCallingPodsIp_R8) {
  Seed seed(seedOn("1.22.0", kDrWithSni));
  ASSERT_TRUE(seed.ok());
  std::string sleepIp;
  for (const auto& px : seed.mesh().compiled().proxies) {
    if (px.id.str() == "httpbin/sleep") sleepIp = px.podIp;
  }
  ASSERT_FALSE(sleepIp.empty());
  ASSERT_NE(sleepIp, "127.0.0.1");
  const auto o = seed.curl("httpbin/sleep",
                           "-sS -H 'X-Envoy-Attempt-Count: 7' http://httpbin.example.com/headers");
  ASSERT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(o.via, (std::vector<std::string>{"sleep", "httpbin-egress"})) << describe(o);
  EXPECT_EQ(echoedHeader(o, "X-Forwarded-For"), sleepIp) << o.body;
  EXPECT_EQ(echoedHeader(o, "X-Forwarded-Proto"), "http") << o.body;
  EXPECT_EQ(echoedHeader(o, "X-Envoy-Attempt-Count"), "1") << o.body;
  EXPECT_EQ(echoedHeader(o, "X-Envoy-Internal"), "true") << o.body;
}

// A sidecar straight to an `http` ServiceEntry upstream sets x-forwarded-proto only when the
// request has none: its own scheme without one, the client's value kept otherwise (§R8) — unlike
// gateways, which overwrite it (ProxyHeadersByVersion above).
TEST(ProxyHeaders, SidecarSetsForwardedProtoOnlyWhenAbsent_R8) {
  TempDir files;
  const fs::path op = files.write("operator.yaml", R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: istio-operator
  namespace: istio-operator
spec:
  profile: default
  tag: 1.22.0
  meshConfig:
    accessLogFile: /dev/stdout
)");
  const fs::path se = files.write("se.yaml", R"(apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata:
  name: crm
  namespace: demo
spec:
  hosts: [crm.legacy.example]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {number: 80, name: http, protocol: HTTP}
)");
  BackendRun run(fmt::format(R"(name: sidecar-forwarded-proto
istio: {{version: "1.22.0"}}
manifests:
  - {}
  - {}
upstreams:
  - {{host: crm.legacy.example, port: 80}}
workloads:
  - {{name: sleep, namespace: demo, injected: true}}
)",
                             op.string(), se.string()));
  const auto plain = run.curl("demo/sleep", "-sS http://crm.legacy.example/headers", "xfp-0");
  ASSERT_EQ(plain.status, 200) << describe(plain);
  EXPECT_EQ(plain.via, std::vector<std::string>{"sleep"}) << describe(plain);
  EXPECT_EQ(echoedHeader(plain, "X-Forwarded-Proto"), "http") << plain.body;
  const auto kept = run.curl(
      "demo/sleep", "-sS -H 'X-Forwarded-Proto: https' http://crm.legacy.example/headers", "xfp-1");
  ASSERT_EQ(kept.status, 200) << describe(kept);
  EXPECT_EQ(echoedHeader(kept, "X-Forwarded-Proto"), "https") << kept.body;
}

// §R8.1: the legacy upstream behind the egress gateway sees the gateway's metadata-exchange pair
// (the sidecar's was replaced at the gateway): id `router~<gateway pod IP>~<pod>.<ns>~…`, and the
// value the gateway's own config gives.
TEST(ProxyHeaders, UpstreamSeesTheEgressGatewaysPeerMetadata_R8) {
  Seed seed(seedOn("1.22.0", kDrWithSni));
  ASSERT_TRUE(seed.ok());
  const mesh::ProxyConfig* egress = seed.mesh().compiled().findProxy("httpbin/httpbin-egress");
  ASSERT_NE(egress, nullptr);
  const auto o = seed.curl("httpbin/sleep", "-sS http://httpbin.example.com/headers");
  ASSERT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(echoedHeader(o, "X-Envoy-Peer-Metadata-Id"),
            "router~" + egress->podIp + "~" + mesh::podNameOf("httpbin", "httpbin-egress") +
                ".httpbin~httpbin.svc.cluster.local")
      << o.body;
  EXPECT_EQ(echoedHeader(o, "X-Envoy-Peer-Metadata"), mesh::peerMetadataValue(*egress)) << o.body;
}

// §R8.1: sleep's sidecar adds its pair, and web's sidecar inbound removes it before web's
// application (a choice, docs/fidelity.md); the attempt count shows the app sees proxy headers.
TEST(ProxyHeaders, SidecarInboundRemovesPeerMetadataBeforeTheApp_R8) {
  TempDir files;
  const fs::path op = files.write("operator.yaml", R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: istio-operator
  namespace: istio-operator
spec:
  profile: default
  tag: 1.22.0
  meshConfig:
    accessLogFile: /dev/stdout
)");
  const fs::path svc = files.write("web.yaml", R"(apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  ports:
  - port: 80
    name: http
  selector:
    app: web
)");
  BackendRun run(fmt::format(R"(name: inbound-peer-metadata
istio: {{version: "1.22.0"}}
manifests:
  - {}
  - {}
workloads:
  - {{name: sleep, namespace: demo, injected: true}}
  - {{name: web, namespace: demo, injected: true}}
)",
                             op.string(), svc.string()));
  const auto o = run.curl("demo/sleep", "-sS http://web.demo.svc.cluster.local/headers", "inb-1");
  ASSERT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(o.via, (std::vector<std::string>{"sleep", "web"})) << describe(o);
  EXPECT_EQ(echoedHeader(o, "X-Envoy-Attempt-Count"), "1") << o.body;
  EXPECT_EQ(echoedHeader(o, "X-Envoy-Peer-Metadata-Id"), "<absent>") << o.body;
  EXPECT_EQ(echoedHeader(o, "X-Envoy-Peer-Metadata"), "<absent>") << o.body;
  // §S2: over auto mTLS web's inbound connection manager (APPEND_FORWARD) adds the caller's
  // element, By web's own identity, without the Cert field only gateways add.
  const std::string xfcc = echoedHeader(o, "X-Forwarded-Client-Cert");
  EXPECT_EQ(xfcc.rfind("By=spiffe://cluster.local/ns/demo/sa/web;Hash=", 0), 0u) << o.body;
  EXPECT_NE(xfcc.find(";URI=spiffe://cluster.local/ns/demo/sa/sleep"), std::string::npos) << xfcc;
  EXPECT_EQ(xfcc.find("Cert="), std::string::npos) << xfcc;
}

// A sidecar straight to a legacy service on an `http` ServiceEntry port (the mock speaks HTTP/1.1
// only, like the legacy service): HTTP/1.1 by default, and the upstream sees the sidecar's own
// metadata-exchange pair (§R8.1); with a DestinationRule `h2UpgradePolicy: UPGRADE` the sidecar
// speaks HTTP/2 to it and the request fails as against a real HTTP/1.1-only server — Envoy's
// codec protocol error, 502 UPE (§R9) — never a pass where the mesh fails.
TEST(Http2Hops, UpgradeToAnHttp1OnlyLegacyServiceFails_R9) {
  TempDir files;
  const std::string upgradeDr = R"(apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: crm
  namespace: demo
spec:
  host: crm.legacy.example
  trafficPolicy:
    connectionPool:
      http:
        h2UpgradePolicy: UPGRADE
)";
  for (const bool upgrade : {false, true}) {
    const fs::path op = files.write("operator.yaml", R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: istio-operator
  namespace: istio-operator
spec:
  profile: default
  tag: 1.22.0
  meshConfig:
    accessLogFile: /dev/stdout
)");
    const fs::path se =
        files.write("se.yaml", std::string(R"(apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata:
  name: crm
  namespace: demo
spec:
  hosts: [crm.legacy.example]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {number: 80, name: http, protocol: HTTP}
)") + (upgrade ? "---\n" + upgradeDr : std::string()));
    BackendRun run(fmt::format(R"(name: legacy-h2-upgrade
istio: {{version: "1.22.0"}}
manifests:
  - {}
  - {}
upstreams:
  - {{host: crm.legacy.example, port: 80}}
workloads:
  - {{name: sleep, namespace: demo, injected: true}}
)",
                               op.string(), se.string()));
    const auto o = run.curl("demo/sleep", "-sS http://crm.legacy.example/headers",
                            upgrade ? "h2-up-1" : "h2-up-0");
    EXPECT_EQ(o.via, std::vector<std::string>{"sleep"}) << describe(o);
    if (!upgrade) {
      ASSERT_EQ(o.status, 200) << describe(o);
      EXPECT_EQ(echoedHeader(o, "X-Envoy-Peer-Metadata-Id").rfind("sidecar~", 0), 0u) << o.body;
      EXPECT_NE(echoedHeader(o, "X-Envoy-Peer-Metadata-Id").find("~sleep-"), std::string::npos)
          << o.body;
    } else {
      // Envoy's HTTP/2 codec fails on the HTTP/1.1 answer: a protocol error, 502 UPE (§R9).
      EXPECT_EQ(o.status, 502) << describe(o);
      ASSERT_TRUE(o.flags.contains("sleep")) << describe(o);
      EXPECT_EQ(o.flags.at("sleep"), "UPE");
      EXPECT_EQ(o.body,
                "upstream connect error or disconnect/reset before headers. reset reason: "
                "protocol error");
      ASSERT_EQ(o.accessLog.size(), 1u) << describe(o);
      EXPECT_NE(o.accessLog[0].find("upstream_reset_before_response_started{protocol_error}"),
                std::string::npos)
          << describe(o);
    }
  }
}

// The access-log line of `proxy` ("<proxy>: [...] ..."), or "".
std::string lineOf(const report::Observation& o, const std::string& proxy) {
  for (const auto& l : o.accessLog) {
    if (l.rfind(proxy + ": ", 0) == 0) return l;
  }
  return {};
}

// §3, §R9: the hop to the egress gateway targets its Service's port 80, named `http2`, so the
// calling proxy speaks HTTP/2 and the gateway logs %PROTOCOL% `HTTP/2`; curl → sidecar and the
// gateway → legacy upstream (an `https` port: TLS origination, HTTP/1.1) stay HTTP/1.1 — the mock
// upstream speaks HTTP/1.1 only, so its 200 shows the gateway did not send it HTTP/2.
TEST(Http2Hops, SidecarToEgressGatewayIsHttp2ByThePortName_R9) {
  Seed seed(seedOn("1.22.0", kDrWithSni));
  ASSERT_TRUE(seed.ok());
  for (int i = 0; i < 2; ++i) {  // the second request reuses the pooled HTTP/2 connection
    const auto o = seed.curl("httpbin/sleep", "-sS http://httpbin.example.com/headers");
    ASSERT_EQ(o.status, 200) << describe(o);
    ASSERT_EQ(o.accessLog.size(), 2u) << describe(o);
    EXPECT_NE(lineOf(o, "sleep").find("\"GET /headers HTTP/1.1\""), std::string::npos)
        << describe(o);
    EXPECT_NE(lineOf(o, "httpbin-egress").find("\"GET /headers HTTP/2\""), std::string::npos)
        << describe(o);
    // Connection-specific headers never cross an HTTP/2 hop; the upstream's own request is
    // HTTP/1.1 again.
    EXPECT_EQ(echoedHeader(o, "X-Envoy-Attempt-Count"), "1") << o.body;
  }
  // ingress → egress targets the same port: HTTP/2 too. curl → ingress over HTTPS negotiates h2
  // by ALPN (the gateway's TLS offers h2,http/1.1, §5), as against a real ingress gateway;
  // `--http1.1` keeps it on HTTP/1.1.
  const auto ext = seed.curl("", kExternal);
  ASSERT_EQ(ext.status, 200) << describe(ext);
  EXPECT_NE(lineOf(ext, "istio-ingressgateway").find(" HTTP/2\""), std::string::npos)
      << describe(ext);
  EXPECT_NE(lineOf(ext, "httpbin-egress").find(" HTTP/2\""), std::string::npos) << describe(ext);
  const auto http11 = seed.curl("", std::string("--http1.1 ") + kExternal);
  ASSERT_EQ(http11.status, 200) << describe(http11);
  EXPECT_NE(lineOf(http11, "istio-ingressgateway").find(" HTTP/1.1\""), std::string::npos)
      << describe(http11);
}

// Keep-alive: a proxy reuses its idle upstream connection to the same destination. Nine
// requests through the ingress: its pools are per worker (at most 8), so without reuse every
// request would leave from a new local port; with reuse some upstream local addresses repeat.
TEST(ProxyHeaders, KeepAliveReusesUpstreamConnections) {
  Seed seed(seedOn("1.8.0"), quietSim());
  ASSERT_TRUE(seed.ok());
  std::set<std::string> locals;
  constexpr int kRequests = 9;
  for (int i = 0; i < kRequests; ++i) {
    const auto o = seed.curl("", kExternal);
    ASSERT_EQ(o.status, 200) << describe(o);
    ASSERT_FALSE(o.accessLog.empty()) << describe(o);
    const std::string& line = o.accessLog.front();
    ASSERT_EQ(line.rfind("istio-ingressgateway: ", 0), 0u) << line;
    // After the last quoted field: cluster, UPSTREAM_LOCAL_ADDRESS, … (§R9).
    std::istringstream tail(line.substr(line.rfind('"') + 1));
    std::string cluster, upstreamLocal;
    tail >> cluster >> upstreamLocal;
    ASSERT_EQ(upstreamLocal.rfind("127.0.0.1:", 0), 0u) << line;
    locals.insert(upstreamLocal);
  }
  EXPECT_LT(locals.size(), static_cast<std::size_t>(kRequests));
}

// §1: REGISTRY_ONLY TLS → BlackHoleCluster: the sidecar's TCP line (UH) is this curl's hop.
TEST(EveryHop, BlackHoleLineJoinsTheCurlByConnection) {
  TempDir seedDir;
  BackendRun run(seedScenarioYaml(seedDir, SeedOptions{}));
  const auto o = run.curl("httpbin/sleep", "-sS https://blocked.example.org/get", "tcp-1");
  EXPECT_EQ(o.exit, 35) << describe(o);
  EXPECT_EQ(o.via, std::vector<std::string>{"sleep"}) << describe(o);
  ASSERT_TRUE(o.flags.contains("sleep")) << describe(o);
  EXPECT_EQ(o.flags.at("sleep"), "UH");
  ASSERT_EQ(o.accessLog.size(), 1u) << describe(o);
  EXPECT_NE(o.accessLog[0].find("BlackHoleCluster"), std::string::npos) << describe(o);
  // The next curl does not inherit that line: HTTP hops by request id only.
  const auto h = run.curl("httpbin/sleep", kInMesh, "http-2");
  EXPECT_EQ(h.via, (std::vector<std::string>{"sleep", "httpbin-egress"})) << describe(h);
  for (const auto& l : h.accessLog) EXPECT_EQ(l.find("BlackHoleCluster"), std::string::npos) << l;
}

// §1: ALLOW_ANY: TLS to a host no ServiceEntry declares passes through the sidecar
// (PassthroughCluster, a TCP line with flag "-") and reaches the upstream.
TEST(EveryHop, PassthroughClusterLineJoinsTheCurlByConnection) {
  TempDir files;
  const fs::path op = files.write("operator.yaml", R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: istio-operator
  namespace: istio-operator
spec:
  profile: default
  tag: 1.22.0
  meshConfig:
    accessLogFile: /dev/stdout
    outboundTrafficPolicy:
      mode: ALLOW_ANY
)");
  BackendRun run(fmt::format(R"(name: allow-any
istio: {{version: "1.22.0"}}
manifests:
  - {}
upstreams:
  - {{host: api.example.org, port: 443, tls: true}}
workloads:
  - {{name: sleep, namespace: demo, injected: true}}
)",
                             op.string()));
  const auto o = run.curl("demo/sleep", "-sS https://api.example.org/hostname", "pass-1");
  EXPECT_EQ(o.exit, 0) << describe(o);
  EXPECT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(o.via, std::vector<std::string>{"sleep"}) << describe(o);
  ASSERT_TRUE(o.flags.contains("sleep")) << describe(o);
  EXPECT_EQ(o.flags.at("sleep"), "-");
  ASSERT_EQ(o.accessLog.size(), 1u) << describe(o);
  EXPECT_NE(o.accessLog[0].find("PassthroughCluster"), std::string::npos) << describe(o);
  EXPECT_NE(o.accessLog[0].find("\"- - -\" 0"), std::string::npos) << describe(o);
}

}  // namespace
}  // namespace egresslab::sim
