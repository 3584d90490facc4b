// World faults over real sockets (docs/scenarios.md "Faults"): dns answers against STRICT_DNS and
// LOGICAL_DNS clusters (docs/istio-behaviour.md §R4), certificate faults at TLS origination (§4),
// close and blackhole, per-server targets, ttl, and undoing every fault. The seed's manifests
// (fixtures/seed) with scenario-level changes; faults written as a scenario writes them.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "harness/curl/command.h"
#include "harness/curl/execute.h"
#include "harness/mesh/decisions.h"
#include "harness/model/loader.h"
#include "harness/sim/dns_overrides.h"
#include "harness/sim/fault_api.h"
#include "harness/sim/sim_backend.h"
#include "harness/sim/sim_mesh.h"
#include "harness/sim/sim_test_support.h"

namespace egresslab::sim {
namespace {

namespace fs = std::filesystem;

const fs::path kSeed = fs::path(EGRESSLAB_SOURCE_DIR) / "fixtures" / "seed";

struct TempDir : sim_test::TempDir {
  TempDir() : sim_test::TempDir("worldfaults") {}
};

// §4: SNI set, so 1.21+ verifies the upstream against the system CA (the run's public CA).
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
      portLevelSettings:
      - port:
          number: 443
        tls:
          mode: SIMPLE
          sni: httpbin.org
)";

// The same with subjectAltNames: the host name is verified too (§4).
const char* kDrWithSniAndSan = R"(apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: "httpbin-egress"
  namespace: "httpbin"
spec:
  host: "httpbin.org"
  subsets:
  - name: "http-egress-subset"
    trafficPolicy:
      portLevelSettings:
      - port:
          number: 443
        tls:
          mode: SIMPLE
          sni: httpbin.org
          subjectAltNames: [httpbin.org]
)";

// The seed's ServiceEntry with DNS_ROUND_ROBIN: a LOGICAL_DNS cluster (1.12+, §R4).
const char* kSeLogicalDns = R"(apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: "httpbin-egress"
  namespace: "httpbin"
spec:
  hosts:
  - "httpbin.org"
  location: MESH_EXTERNAL
  ports:
  - number: 443
    name: https
    protocol: TLS
  resolution: DNS_ROUND_ROBIN
)";

struct WorldOptions {
  std::string version = "1.8.0";
  bool sniDr = false;
  bool sanDr = false;
  bool logicalDns = false;
};

class World {
 public:
  explicit World(const WorldOptions& o = {}, SimOptions sim = {}) {
    fs::path dr = kSeed / "destination-rule.yaml";
    if (o.sniDr) dr = dir_.write("destination-rule.yaml", kDrWithSni);
    if (o.sanDr) dr = dir_.write("destination-rule.yaml", kDrWithSniAndSan);
    fs::path se = kSeed / "service-entry.yaml";
    if (o.logicalDns) se = dir_.write("service-entry.yaml", kSeLogicalDns);
    std::string manifests;
    for (const auto& f :
         {kSeed / "operator.yaml", kSeed / "egress.yaml", kSeed / "ingress-gateway.yaml",
          kSeed / "egress-gateway.yaml", kSeed / "virtual-service.yaml", se, dr,
          kSeed / "peer-authentication.yaml"}) {
      manifests += fmt::format("  - {}\n", f.string());
    }
    const std::string yaml = fmt::format(R"(name: world-faults-test
istio: {{version: "{}"}}
vars:
  my-proxied-service-hostname: httpbin.example.com
  my-secret-name: httpbin-credential
manifests:
{}
secrets:
  - {{name: <my-secret-name>, namespace: istio-system, hosts: [<my-proxied-service-hostname>]}}
upstreams:
  - {{host: httpbin.org, port: 443, tls: true, name: httpbin-a}}
  - {{host: spare.example.org, port: 443, tls: true, name: spare}}
dns:
  httpbin.example.com: 203.0.113.10
  httpbin.org: 198.51.100.10
  spare.example.org: 198.51.100.20
workloads:
  - {{name: sleep, namespace: httpbin, injected: true}}
steps:
  - {{name: s, curl: -sS http://httpbin.example.com/}}
)",
                                         o.version, manifests);
    const fs::path file = dir_.write("scenario.yaml", yaml);
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
  const model::Scenario& scenario() const { return scenario_; }
  bool ok() const { return mesh_ != nullptr; }

  // A fault as a scenario step writes it (YAML flow map), checked against the scenario.
  Result<void> fault(const std::string& yaml) {
    auto f = model::parseFaultSpec(yaml, "test");
    if (!f) return std::unexpected(f.error());
    if (auto known = model::checkFaultTarget(scenario_, *f); !known) return known;
    return mesh_->fault(*f);
  }

  report::Observation curl(const std::string& from, std::string line) {
    return sim_test::curlThrough(*mesh_, from, line, fmt::format("world-{}", ++n_),
                                 std::chrono::seconds(10));
  }

  template <typename Pred>
  bool eventually(Pred pred, std::chrono::milliseconds within = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
  }

 private:
  TempDir dir_;
  model::Scenario scenario_;
  std::unique_ptr<SimMesh> mesh_;
  std::atomic<int> n_{0};  // request ids; tests may curl from several threads
};

const char* kInMesh = "-sS http://httpbin.example.com/status/200";
const char* kSleep = "httpbin/sleep";

std::string describe(const report::Observation& o) {
  std::string s = fmt::format("exit={} status={} err={} body={}\n", o.exit.value_or(-1),
                              o.status.value_or(0), o.curlError, o.body.substr(0, 300));
  for (const auto& l : o.accessLog) s += "  " + l + "\n";
  return s;
}

bool hasFlag(const report::Observation& o, const std::string& proxy, mesh::ResponseFlag flag) {
  auto it = o.flags.find(proxy);
  return it != o.flags.end() && mesh::parseResponseFlags(it->second).has(flag);
}

// ------------------------------------------------------------------------ pure rules (§R4)
TEST(DnsClusterHosts_R4, EnvoysRulePerClusterTypeAndAnswer) {
  using K = DnsAnswer::Kind;
  const DnsAnswer nx{K::kNxdomain, {}};
  const DnsAnswer sf{K::kServfail, {}};
  const DnsAnswer two{K::kAddresses, {"10.0.0.1", "10.0.0.2"}};
  const std::optional<std::vector<std::string>> declared;
  const std::optional<std::vector<std::string>> moved = std::vector<std::string>{"10.0.0.9"};
  EXPECT_TRUE(dnsClusterHosts(mesh::ClusterType::kStrictDns, &nx, declared).removed);
  EXPECT_FALSE(dnsClusterHosts(mesh::ClusterType::kLogicalDns, &nx, declared).removed);
  EXPECT_EQ(dnsClusterHosts(mesh::ClusterType::kLogicalDns, &nx, moved).addresses, moved);
  EXPECT_FALSE(dnsClusterHosts(mesh::ClusterType::kStrictDns, &sf, declared).removed);
  EXPECT_EQ(dnsClusterHosts(mesh::ClusterType::kStrictDns, &sf, moved).addresses, moved);
  EXPECT_EQ(dnsClusterHosts(mesh::ClusterType::kStrictDns, &two, declared).addresses,
            two.addresses);
  EXPECT_EQ(dnsClusterHosts(mesh::ClusterType::kLogicalDns, &two, declared).addresses,
            (std::vector<std::string>{"10.0.0.1"}));
  EXPECT_EQ(resolverAnswer(nx), std::nullopt);
  EXPECT_EQ(resolverAnswer(sf), std::nullopt);
  EXPECT_EQ(resolverAnswer(two), "10.0.0.1");
}

TEST(DnsOverrides, AGenerationOnlyClearsItsOwnAnswer) {
  DnsOverrides o;
  const auto first = o.set("Crm.Example.", DnsAnswer{DnsAnswer::Kind::kAddresses, {"10.0.0.1"}});
  const auto second = o.set("crm.example", DnsAnswer{DnsAnswer::Kind::kNxdomain, {}});
  EXPECT_FALSE(o.clear("crm.example", first));
  ASSERT_TRUE(o.find("CRM.example."));
  EXPECT_EQ(o.find("crm.example")->lastGood, (std::vector<std::string>{"10.0.0.1"}));
  EXPECT_TRUE(o.clear("crm.example", second));
  EXPECT_TRUE(o.empty());
}

// ------------------------------------------------------------------------ dns faults (§R4)
TEST(WorldFaults, DnsNxdomainEmptiesTheStrictDnsClusterAtTheEgress_R4) {
  World w;
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w.curl(kSleep, kInMesh).status, 200);
  ASSERT_TRUE(w.fault("{target: dns/httpbin.org, action: dns, answer: nxdomain}").has_value());
  // The egress gateway's STRICT_DNS cluster outbound|443||httpbin.org has no host left.
  const auto o = w.curl(kSleep, kInMesh);
  EXPECT_EQ(o.status, 503) << describe(o);
  EXPECT_EQ(o.flags.at("httpbin-egress"), "UH") << describe(o);
  EXPECT_EQ(o.body, "no healthy upstream");
  // A pod's own resolver gets NXDOMAIN too: curl exit 6.
  const auto direct = w.curl(kSleep, "-sS https://httpbin.org/status/200");
  EXPECT_EQ(direct.exit, 6) << describe(direct);
  ASSERT_TRUE(w.fault("{target: dns/httpbin.org, action: up}").has_value());
  const auto back = w.curl(kSleep, kInMesh);
  EXPECT_EQ(back.status, 200) << describe(back);
}

TEST(WorldFaults, DnsServfailKeepsTheHostsServing_R4) {
  World w;
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.fault("{target: dns/httpbin.org, action: dns, answer: servfail}").has_value());
  const auto o = w.curl(kSleep, kInMesh);
  EXPECT_EQ(o.status, 200) << describe(o);
  const auto direct = w.curl(kSleep, "-sS https://httpbin.org/status/200");
  EXPECT_EQ(direct.exit, 6) << describe(direct);
}

TEST(WorldFaults, DnsNewAnswerMovesTheHosts_R4) {
  World w;
  ASSERT_TRUE(w.ok());
  // Nothing answers at 198.51.100.99: the egress's connection fails.
  ASSERT_TRUE(
      w.fault("{target: dns/httpbin.org, action: dns, answer: [198.51.100.99]}").has_value());
  const auto none = w.curl(kSleep, kInMesh);
  EXPECT_EQ(none.status, 503) << describe(none);
  EXPECT_TRUE(hasFlag(none, "httpbin-egress", mesh::ResponseFlag::kUF)) << describe(none);
  // The name now points at the spare server: it answers (/hostname names it).
  ASSERT_TRUE(
      w.fault("{target: dns/httpbin.org, action: dns, answer: [198.51.100.20]}").has_value());
  const auto spare = w.curl(kSleep, "-sS http://httpbin.example.com/hostname");
  EXPECT_EQ(spare.status, 200) << describe(spare);
  EXPECT_NE(spare.body.find("spare"), std::string::npos) << describe(spare);
}

TEST(WorldFaults, LogicalDnsKeepsItsLastAddressOnNxdomain_R4) {
  World w({.version = "1.24.0", .sniDr = true, .logicalDns = true});
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w.curl(kSleep, kInMesh).status, 200);
  ASSERT_TRUE(w.fault("{target: dns/httpbin.org, action: dns, answer: nxdomain}").has_value());
  const auto o = w.curl(kSleep, kInMesh);
  EXPECT_EQ(o.status, 200) << describe(o);
}

// ------------------------------------------------------------------------ certificates (§4)
TEST(WorldFaults, ExpiredCertFailsVerifyingProxiesAndCurl_S4) {
  World w({.version = "1.24.0", .sniDr = true});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.fault("{target: upstream/httpbin-a, action: cert, cert: expired}").has_value());
  // The egress verifies against the system CA (1.24): the handshake fails → 503 UF with the TLS
  // failure in the reason.
  const auto o = w.curl(kSleep, kInMesh);
  EXPECT_EQ(o.status, 503) << describe(o);
  EXPECT_TRUE(hasFlag(o, "httpbin-egress", mesh::ResponseFlag::kUF)) << describe(o);
  EXPECT_NE(o.body.find("TLS"), std::string::npos) << describe(o);
  // The host's curl trusts the public CA, which signed it: exit 60 (expired).
  const auto host = w.curl("", "-sS https://httpbin.org/get");
  EXPECT_EQ(host.exit, 60) << describe(host);
}

TEST(WorldFaults, ExpiredCertIsNotNoticedWhereIstioDoesNotVerify_S4) {
  World w;  // 1.8, the seed's DR: no SNI, no verification (§4)
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.fault("{target: upstream/httpbin-a, action: cert, cert: expired}").has_value());
  const auto o = w.curl(kSleep, kInMesh);
  EXPECT_EQ(o.status, 200) << describe(o);
}

// §4: with `sni` set and no subjectAltNames Istio verifies the chain only, not the name — a
// wrong-host certificate from a trusted CA passes; with subjectAltNames it fails.
TEST(WorldFaults, WrongHostPassesSniOnlyAndFailsWithSubjectAltNames_S4) {
  {
    World w({.version = "1.24.0", .sniDr = true});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w.fault("{target: upstream/httpbin.org, action: cert, cert: wrong-host}"));
    const auto passes = w.curl(kSleep, kInMesh);
    EXPECT_EQ(passes.status, 200) << describe(passes);
    // curl checks the name: exit 60.
    const auto host = w.curl("", "-sS https://httpbin.org/get");
    EXPECT_EQ(host.exit, 60) << describe(host);
  }
  World w({.version = "1.24.0", .sanDr = true});
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w.curl(kSleep, kInMesh).status, 200);
  ASSERT_TRUE(w.fault("{target: upstream/httpbin.org, action: cert, cert: wrong-host}"));
  const auto wrong = w.curl(kSleep, kInMesh);
  EXPECT_EQ(wrong.status, 503) << describe(wrong);
  EXPECT_TRUE(hasFlag(wrong, "httpbin-egress", mesh::ResponseFlag::kUF)) << describe(wrong);
}

TEST(WorldFaults, RotateIsInvisibleToVerifyingCallers_S4) {
  World w({.version = "1.24.0", .sanDr = true});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.fault("{target: upstream/httpbin.org:443, action: cert, cert: rotate}"));
  const auto rotated = w.curl(kSleep, kInMesh);
  EXPECT_EQ(rotated.status, 200) << describe(rotated);
  EXPECT_EQ(w.curl("", "-sS https://httpbin.org/get").exit, 0);
}

// ------------------------------------------------------------------------ close, blackhole
TEST(WorldFaults, CloseIsAConnectionFailureAtTheOriginatingProxy) {
  World w;
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.fault("{target: upstream/198.51.100.10:443, action: close}").has_value());
  // The egress originates TLS: the server closing before the handshake is a connect failure.
  const auto o = w.curl(kSleep, kInMesh);
  EXPECT_EQ(o.status, 503) << describe(o);
  EXPECT_TRUE(hasFlag(o, "httpbin-egress", mesh::ResponseFlag::kUF) ||
              hasFlag(o, "httpbin-egress", mesh::ResponseFlag::kUC))
      << describe(o);
  // The other server is untouched (a per-server target).
  const auto spare = w.curl("", "-sS https://spare.example.org/hostname");
  EXPECT_EQ(spare.status, 200) << describe(spare);
}

TEST(WorldFaults, BlackholeTimesCallersOut) {
  World w;
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.fault("{target: upstream/httpbin-a, action: blackhole}").has_value());
  const auto host = w.curl("", "-sS -m 1 https://httpbin.org/get");
  EXPECT_EQ(host.exit, 28) << describe(host);
  const auto inMesh = w.curl(kSleep, "-sS -m 1 http://httpbin.example.com/status/200");
  EXPECT_EQ(inMesh.exit, 28) << describe(inMesh);
}

// ------------------------------------------------------------------------ ttl and undo
TEST(WorldFaults, TtlEndsAFaultScaledByTheTimeScale) {
  SimOptions sim;
  sim.timeScale = 10;  // ttl 20s → 2 s of wall time
  World w({}, sim);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(
      w.fault("{target: upstream/httpbin-a, action: status, code: 503, ttl: 20s}").has_value());
  ASSERT_TRUE(w.fault("{target: dns/spare.example.org, action: dns, answer: nxdomain, ttl: 20s}"));
  const nlohmann::json during = w.mesh().faultState();
  EXPECT_EQ(during["upstreams"][0]["faults"].size(), 1u) << during.dump();
  EXPECT_EQ(during["dns"].size(), 1u) << during.dump();
  EXPECT_TRUE(w.eventually([&] { return w.curl(kSleep, kInMesh).status == 200; }));
  EXPECT_TRUE(w.eventually([&] { return w.mesh().faultState()["dns"].empty(); }));
  EXPECT_TRUE(w.mesh().faultState()["upstreams"][0]["faults"].empty());
}

TEST(WorldFaults, TtlOfAnEarlierFaultNeverEndsALaterOne) {
  SimOptions sim;
  sim.timeScale = 20;
  World w({}, sim);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.fault("{target: upstream/httpbin-a, action: latency, ms: 5, ttl: 2s}"));
  ASSERT_TRUE(w.fault("{target: upstream/httpbin-a, action: latency, ms: 7}"));
  ASSERT_TRUE(w.fault("{target: dns/spare.example.org, action: dns, answer: servfail, ttl: 2s}"));
  ASSERT_TRUE(w.fault("{target: dns/spare.example.org, action: dns, answer: nxdomain}"));
  // Both ttls (100 ms of wall time) have long passed once a 20 s-scaled wait ends.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const nlohmann::json state = w.mesh().faultState();
  EXPECT_EQ(state["upstreams"][0]["faults"],
            nlohmann::json::parse(R"([{"action":"latency","ms":7}])"))
      << state.dump();
  ASSERT_EQ(state["dns"].size(), 1u) << state.dump();
  EXPECT_EQ(state["dns"][0]["answer"], "nxdomain");
}

TEST(WorldFaults, GatewayKillWithTtlIsRestored_S7) {
  SimOptions sim;
  sim.timeScale = 50;
  World w({}, sim);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.fault("{target: gateway/httpbin/httpbin-egress, action: kill, ttl: 10s}"));
  EXPECT_FALSE(w.mesh().gatewayReady("httpbin/httpbin-egress"));
  EXPECT_TRUE(w.eventually([&] { return w.mesh().gatewayReady("httpbin/httpbin-egress"); }));
  EXPECT_TRUE(w.eventually([&] { return w.curl(kSleep, kInMesh).status == 200; }));
}

TEST(WorldFaults, UndoFaultsEndsEveryFault) {
  World w;
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.fault("{target: upstream/httpbin.org, action: down}"));
  ASSERT_TRUE(w.fault("{target: upstream/spare, action: cert, cert: expired}"));
  ASSERT_TRUE(w.fault("{target: dns/httpbin.org, action: dns, answer: nxdomain}"));
  ASSERT_TRUE(w.fault("{target: gateway/httpbin/httpbin-egress, action: kill}"));
  EXPECT_EQ(w.curl(kSleep, kInMesh).status, 503);
  w.mesh().undoFaults();
  const nlohmann::json state = w.mesh().faultState();
  for (const auto& u : state["upstreams"]) EXPECT_TRUE(u["faults"].empty()) << state.dump();
  EXPECT_TRUE(state["dns"].empty()) << state.dump();
  for (const auto& g : state["gateways"]) EXPECT_FALSE(g["killed"].get<bool>()) << state.dump();
  EXPECT_TRUE(w.eventually([&] { return w.curl(kSleep, kInMesh).status == 200; }));
  EXPECT_EQ(w.curl("", "-sS https://spare.example.org/get").exit, 0);
}

TEST(WorldFaults, UnknownTargetsAreErrorsNotSilence) {
  World w;
  ASSERT_TRUE(w.ok());
  auto f = model::parseFaultSpec("{target: upstream/nothing.example, action: down}", "t");
  ASSERT_TRUE(f);
  EXPECT_FALSE(w.mesh().fault(*f).has_value());
}

// ------------------------------------------------------------------------ sim up's fault API
TEST(FaultApi, DrivesEveryTargetOverLoopbackHttp) {
  World w;
  ASSERT_TRUE(w.ok());
  auto api = startFaultApi(w.mesh(), w.scenario(), {.host = "127.0.0.1", .port = 0});
  ASSERT_TRUE(api) << api.error().str();
  httplib::Client client("127.0.0.1", (*api)->port());
  auto state = client.Get("/faults");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, 200);
  const auto initial = nlohmann::json::parse(state->body);
  EXPECT_EQ(initial["upstreams"].size(), 2u) << initial.dump();
  EXPECT_EQ(initial["upstreams"][0]["name"], "httpbin-a");
  EXPECT_EQ(initial["upstreams"][0]["address"], "198.51.100.10");
  EXPECT_FALSE(initial["gateways"].empty());
  // A gateway, then the DNS: the same JSON a scenario step takes.
  auto kill =
      client.Post("/faults", R"({"target":"gateway/httpbin/httpbin-egress","action":"kill"})",
                  "application/json");
  ASSERT_TRUE(kill);
  EXPECT_EQ(kill->status, 200) << kill->body;
  EXPECT_FALSE(w.mesh().gatewayReady("httpbin/httpbin-egress"));
  auto nx =
      client.Post("/faults", R"({"target":"dns/httpbin.org","action":"dns","answer":"nxdomain"})",
                  "application/json");
  ASSERT_TRUE(nx);
  EXPECT_EQ(nlohmann::json::parse(nx->body)["dns"][0]["answer"], "nxdomain");
  // Bad input: positioned in the body; a target the scenario lacks.
  auto bad = client.Post("/faults", R"({"target":"upstream/httpbin-a","action":"explode"})",
                         "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("POST /faults:1:"), std::string::npos) << bad->body;
  auto unknown = client.Post("/faults", R"({"target":"upstream/nowhere","action":"down"})",
                             "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
  // JSON only, same rules as the mock's control API.
  auto text =
      client.Post("/faults", R"({"target":"upstream/httpbin-a","action":"down"})", "text/plain");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 415);
  auto foreign = client.Get("/faults", {{"Origin", "https://evil.example"}});
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 403);
  // DELETE ends everything.
  auto undo = client.Delete("/faults");
  ASSERT_TRUE(undo);
  EXPECT_EQ(undo->status, 200);
  EXPECT_TRUE(nlohmann::json::parse(undo->body)["dns"].empty());
  EXPECT_TRUE(w.eventually([&] { return w.curl(kSleep, kInMesh).status == 200; }));
}

TEST(FaultApi, LoopbackOnly) {
  World w;
  ASSERT_TRUE(w.ok());
  auto open =
      startFaultApi(w.mesh(), w.scenario(), {.host = "0.0.0.0", .port = 0, .token = "s3cret"});
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().kind, ErrorKind::kInvalidInput);
}

}  // namespace
}  // namespace egresslab::sim
