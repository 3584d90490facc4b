// World faults in a scenario (docs/scenarios.md "Faults"): per-server targets, dns answers,
// cert faults, close/blackhole, ttl — parsed, and every bad one an error at FILE:LINE:COL.
#include <gtest/gtest.h>

#include "harness/model/loader.h"

namespace egresslab::model {
namespace {

// Two servers of one host (by address in `dns:` and by name), a plain one, a DNS name.
const std::string kHead =
    "name: world\n"
    "upstreams:\n"
    "  - {host: crm.legacy.example, port: 443, name: crm-a}\n"
    "  - {host: crm.legacy.example, port: 8443, tls: true, name: crm-b}\n"
    "  - {host: plain.example, port: 80, tls: false}\n"
    "dns:\n"
    "  crm.legacy.example: 198.51.100.11\n"
    "  db.corp.example: 203.0.113.5\n"
    "steps:\n";

Result<Scenario> parse(const std::string& steps) {
  return parseScenario(kHead + steps, "/scenarios/world.yaml");
}

std::string errorOf(const std::string& steps) {
  auto sc = parse(steps);
  if (sc) return "<loaded without error>";
  EXPECT_EQ(exitCodeFor(sc.error().kind), 2);
  return sc.error().str();
}

FaultSpec faultOf(const std::string& steps) {
  auto sc = parse(steps);
  EXPECT_TRUE(sc) << sc.error().str();
  if (!sc || sc->steps.empty() || !sc->steps.front().fault) return {};
  return *sc->steps.front().fault;
}

TEST(FaultSpecParse, UpstreamTargetsByNameHostPortAndAddress) {
  FaultSpec byName = faultOf("  - {name: f, fault: {target: upstream/crm-a, action: down}}\n");
  EXPECT_EQ(byName.targetKind, FaultSpec::TargetKind::kUpstream);
  EXPECT_EQ(byName.upstreamHost, "crm-a");
  EXPECT_FALSE(byName.upstreamPort);
  FaultSpec byHostPort =
      faultOf("  - {name: f, fault: {target: upstream/crm.legacy.example:8443, action: close}}\n");
  EXPECT_EQ(byHostPort.upstreamHost, "crm.legacy.example");
  EXPECT_EQ(byHostPort.upstreamPort, 8443u);
  EXPECT_EQ(byHostPort.action, "close");
  FaultSpec byAddress =
      faultOf("  - {name: f, fault: {target: upstream/198.51.100.11:443, action: blackhole}}\n");
  EXPECT_EQ(byAddress.upstreamHost, "198.51.100.11");
  EXPECT_EQ(byAddress.upstreamPort, 443u);
}

TEST(FaultSpecParse, DnsAnswersAndTtl) {
  FaultSpec nx = faultOf(
      "  - {name: f, fault: {target: dns/crm.legacy.example, action: dns, answer: nxdomain, "
      "ttl: 30s}}\n");
  EXPECT_EQ(nx.targetKind, FaultSpec::TargetKind::kDns);
  EXPECT_EQ(nx.dnsName, "crm.legacy.example");
  ASSERT_TRUE(nx.answer);
  EXPECT_EQ(nx.answer->kind, FaultSpec::DnsAnswer::Kind::kNxdomain);
  EXPECT_EQ(nx.ttl, std::chrono::milliseconds(30000));
  EXPECT_EQ(faultText(nx), "dns/crm.legacy.example dns nxdomain ttl 30s");
  FaultSpec sf = faultOf(
      "  - {name: f, fault: {target: dns/DB.corp.example, action: dns, answer: servfail}}\n");
  EXPECT_EQ(sf.dnsName, "db.corp.example");
  EXPECT_EQ(sf.answer->kind, FaultSpec::DnsAnswer::Kind::kServfail);
  FaultSpec moved = faultOf(
      "  - {name: f, fault: {target: dns/crm.legacy.example, action: dns, answer: [198.51.100.12, "
      "198.51.100.13]}}\n");
  EXPECT_EQ(moved.answer->kind, FaultSpec::DnsAnswer::Kind::kAddresses);
  EXPECT_EQ(moved.answer->addresses, (std::vector<std::string>{"198.51.100.12", "198.51.100.13"}));
  EXPECT_EQ(faultText(moved), "dns/crm.legacy.example dns 198.51.100.12,198.51.100.13");
  FaultSpec up = faultOf("  - {name: f, fault: {target: dns/crm.legacy.example, action: up}}\n");
  EXPECT_EQ(up.action, "up");
}

TEST(FaultSpecParse, CertFaults) {
  for (const std::string cert : {"expired", "wrong-host", "rotate"}) {
    FaultSpec f =
        faultOf("  - {name: f, fault: {target: upstream/crm-b, action: cert, cert: " + cert +
                ", ttl: 1500ms}}\n");
    EXPECT_EQ(f.cert, cert);
    EXPECT_EQ(faultText(f), "upstream/crm-b cert " + cert + " ttl 1500ms");
  }
}

TEST(FaultSpecErrors, PositionedMessages) {
  // Bad answers.
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: dns/db.corp.example, action: dns, answer: "
                    "nxdomian}}\n"),
            "/scenarios/world.yaml:10:73: fault.answer \"nxdomian\": use nxdomain, servfail or a "
            "list of IPv4 addresses");
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: dns/db.corp.example, action: dns, answer: "
                    "[10.0.0.1, 10.0.0]}}\n"),
            "/scenarios/world.yaml:10:84: fault.answer: \"10.0.0\" is not an IPv4 address");
  EXPECT_EQ(
      errorOf("  - {name: f, fault: {target: dns/db.corp.example, action: dns, answer: []}}\n"),
      "/scenarios/world.yaml:10:73: fault.answer: an empty list; write nxdomain for a name "
      "with no records");
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: dns/db.corp.example, action: dns}}\n"),
            "/scenarios/world.yaml:10:22: fault action dns needs answer");
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: upstream/crm-a, action: down, answer: "
                    "nxdomain}}\n"),
            "/scenarios/world.yaml:10:69: answer applies only to action dns, not down");
  // Bad targets.
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: dns/nowhere.example, action: dns, answer: "
                    "nxdomain}}\n"),
            "/scenarios/world.yaml:10:22: fault target \"dns/nowhere.example\": the scenario has "
            "no such name (not in dns:, upstreams or a ServiceEntry)");
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: dns/10.0.0.1, action: dns, answer: "
                    "nxdomain}}\n"),
            "/scenarios/world.yaml:10:31: invalid fault target \"dns/10.0.0.1\": use dns/NAME "
            "with a DNS name such as dns/crm.legacy.example");
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: upstream/crm-a/x, action: down}}\n"),
            "/scenarios/world.yaml:10:31: invalid fault target \"upstream/crm-a/x\": use "
            "upstream/NAME, upstream/HOST, upstream/HOST:PORT or upstream/ADDRESS:PORT");
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: upstream/198.51.100.99:443, action: down}}\n"),
            "/scenarios/world.yaml:10:22: fault target \"upstream/198.51.100.99:443\" is not one "
            "of the scenario's upstreams (by name, host, host:port or address:port)");
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: upstream/crm-a:443, action: down}}\n"),
            "/scenarios/world.yaml:10:22: fault target \"upstream/crm-a:443\" is not one of the "
            "scenario's upstreams (by name, host, host:port or address:port)");
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: upstream/crm-a:0, action: down}}\n"),
            "/scenarios/world.yaml:10:31: fault target port must be between 1 and 65535, got 0");
  // Certificates.
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: upstream/crm-a, action: cert, cert: old}}\n"),
            "/scenarios/world.yaml:10:67: fault cert \"old\": use expired, wrong-host or rotate");
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: upstream/crm-a, action: cert}}\n"),
            "/scenarios/world.yaml:10:22: fault action cert needs cert");
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: upstream/plain.example, action: cert, cert: "
                    "expired}}\n"),
            "/scenarios/world.yaml:10:22: fault cert on \"upstream/plain.example\": that upstream "
            "serves plain HTTP, it has no certificate");
  // ttl.
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: upstream/crm-a, action: up, ttl: 5s}}\n"),
            "/scenarios/world.yaml:10:64: ttl ends a fault; action up is not one");
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: upstream/crm-a, action: close, ttl: 0s}}\n"),
            "/scenarios/world.yaml:10:67: ttl must be a positive duration such as 30s");
  EXPECT_EQ(errorOf("  - {name: f, fault: {target: upstream/crm-a, action: close, ttl: soon}}\n")
                .substr(0, 27),
            "/scenarios/world.yaml:10:67");
}

TEST(FaultSpecTargets, ServerMatching) {
  UpstreamSpec a;
  a.host = "crm.legacy.example";
  a.port = 443;
  a.name = "crm-a";
  FaultSpec f;
  f.upstreamHost = "crm-a";
  EXPECT_TRUE(faultTargetsServer(f, a, "198.51.100.11"));
  f.upstreamHost = "crm.legacy.example";
  EXPECT_TRUE(faultTargetsServer(f, a, ""));
  f.upstreamPort = 443;
  EXPECT_TRUE(faultTargetsServer(f, a, ""));
  f.upstreamPort = 8443;
  EXPECT_FALSE(faultTargetsServer(f, a, ""));
  f.upstreamHost = "198.51.100.11";
  f.upstreamPort = 443;
  EXPECT_TRUE(faultTargetsServer(f, a, "198.51.100.11"));
  EXPECT_FALSE(faultTargetsServer(f, a, "198.51.100.12"));
  EXPECT_FALSE(faultTargetsServer(f, a, ""));
}

TEST(FaultSpecJson, TheControlApiForm) {
  auto f = parseFaultSpec(R"({"target":"upstream/crm-a","action":"status","code":503,"ttl":"2s"})",
                          "POST /faults");
  ASSERT_TRUE(f) << f.error().str();
  EXPECT_EQ(f->code, 503);
  EXPECT_EQ(f->ttl, std::chrono::milliseconds(2000));
  auto bad = parseFaultSpec(R"({"target":"upstream/crm-a","action":"explode"})", "POST /faults");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().str(),
            "POST /faults:1:37: invalid fault action \"explode\" for upstream/crm-a; valid "
            "actions: down, up, latency, status, reset, bad-cert, cert, close, blackhole");
  EXPECT_FALSE(parseFaultSpec("[1]", "POST /faults"));
  EXPECT_FALSE(parseFaultSpec("{", "POST /faults"));
}

}  // namespace
}  // namespace egresslab::model
