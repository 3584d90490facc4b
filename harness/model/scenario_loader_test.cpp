// Scenario files: the complete example in testdata/, and one broken scenario per error class
// in fixtures/broken/model/, each with its exact FILE:LINE:COL message.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "harness/model/loader.h"

namespace egresslab::model {
namespace {

const std::filesystem::path kSource(EGRESSLAB_SOURCE_DIR);
const std::filesystem::path kComplete = kSource / "harness/model/testdata/seed-httpbin.yaml";
const std::filesystem::path kBroken = kSource / "fixtures/broken/model";

Scenario loadComplete() {
  auto sc = loadScenario(kComplete);
  EXPECT_TRUE(sc) << sc.error().str();
  return sc ? std::move(*sc) : Scenario{};
}

// The error of a broken fixture, with the path made relative for readable expectations.
std::string brokenError(const std::string& name) {
  auto sc = loadScenario(kBroken / name);
  if (sc) return "<loaded without error>";
  EXPECT_EQ(sc.error().kind, ErrorKind::kInvalidInput);
  EXPECT_EQ(exitCodeFor(sc.error().kind), 2);
  std::string text = sc.error().str();
  const std::string prefix = kBroken.string() + "/";
  for (auto at = text.find(prefix); at != std::string::npos; at = text.find(prefix)) {
    text.erase(at, prefix.size());
  }
  return text;
}

std::string textError(const std::string& yaml) {
  auto sc = parseScenario(yaml, kBroken / "inline.yaml");
  if (sc) return "<loaded without error>";
  std::string text = sc.error().str();
  const std::string prefix = kBroken.string() + "/";
  if (text.rfind(prefix, 0) == 0) text.erase(0, prefix.size());
  return text;
}

// ------------------------------------------------------------------------ the complete file
TEST(ScenarioComplete, TopLevelKeys) {
  const Scenario sc = loadComplete();
  EXPECT_EQ(sc.file, kComplete);
  EXPECT_EQ(sc.name, "seed-httpbin-complete");
  EXPECT_EQ(sc.description, "The post's setup, one egress gateway in front of httpbin.org");
  EXPECT_EQ(sc.labels, (std::vector<std::string>{"seed", "smoke"}));
  EXPECT_EQ(sc.istioVersion.str(), "1.8.0");
  EXPECT_TRUE(sc.istioVersionFromFile);
  EXPECT_EQ(sc.vars.at("my-secret-name"), "httpbin-credential");
  EXPECT_EQ(sc.cluster.name, "egresslab");
  EXPECT_EQ(sc.cluster.config, kSource / "fixtures/kind/config.yaml");
  ASSERT_EQ(sc.manifests.size(), 8u);
  EXPECT_EQ(sc.manifests[0], kSource / "fixtures/seed/operator.yaml");
  EXPECT_EQ(sc.timeout, std::chrono::minutes(5));
  EXPECT_TRUE(sc.hasFaults());
}

TEST(ScenarioComplete, ManifestsLoadedWithVars) {
  const Scenario sc = loadComplete();
  EXPECT_EQ(sc.resources.istioOperators.size(), 2u);
  EXPECT_EQ(sc.resources.gateways.size(), 2u);
  EXPECT_EQ(sc.resources.gateways[0].servers[1].tls->credentialName, "httpbin-credential");
  EXPECT_EQ(sc.resources.virtualServices[0].hosts[0], "httpbin.example.com");
  // Apply order is the manifests: order, not file names.
  EXPECT_EQ(sc.resources.istioOperators[0].meta.name, "istio-operator");
}

TEST(ScenarioComplete, SecretsUpstreamsDnsWorkloadsPortForwards) {
  const Scenario sc = loadComplete();
  ASSERT_EQ(sc.secrets.size(), 2u);
  EXPECT_EQ(sc.secrets[0].name, "httpbin-credential");  // vars applied to the scenario itself
  EXPECT_EQ(sc.secrets[0].ns, "istio-system");
  EXPECT_EQ(sc.secrets[0].hosts, (std::vector<std::string>{"httpbin.example.com"}));
  EXPECT_EQ(sc.secrets[0].pos.line, 22);
  EXPECT_EQ(sc.secrets[1].certFile, kSource / "harness/model/testdata/certs/tls.crt");
  EXPECT_EQ(sc.secrets[1].keyFile, kSource / "harness/model/testdata/certs/tls.key");
  ASSERT_EQ(sc.upstreams.size(), 3u);
  EXPECT_EQ(sc.upstreams[0].port, 443u);
  EXPECT_TRUE(sc.upstreams[0].tls);
  EXPECT_EQ(sc.upstreams[0].name, "httpbin.org");
  EXPECT_EQ(sc.upstreams[1].port, 80u);
  EXPECT_FALSE(sc.upstreams[1].tls);  // default: TLS only on 443
  EXPECT_TRUE(sc.upstreams[2].tls);
  EXPECT_EQ(sc.upstreams[2].name, "legacy-1");
  EXPECT_EQ(sc.dns.at("httpbin.example.com"), "203.0.113.10");
  ASSERT_EQ(sc.workloads.size(), 2u);
  EXPECT_EQ(sc.workloads[0].injected, true);
  EXPECT_EQ(sc.workloads[0].labels, (Labels{{"app", "sleep"}}));
  EXPECT_EQ(sc.workloads[0].serviceAccount, "sleep");
  EXPECT_EQ(sc.workloads[1].labels, (Labels{{"role", "probe"}}));
  EXPECT_EQ(sc.workloads[1].serviceAccount, "probe-sa");
  ASSERT_EQ(sc.portForwards.size(), 1u);
  EXPECT_EQ(sc.portForwards[0].serviceNamespace, "istio-system");
  EXPECT_EQ(sc.portForwards[0].serviceName, "istio-ingressgateway");
  EXPECT_EQ(sc.portForwards[0].local, 15443u);  // from a var
  EXPECT_EQ(sc.portForwards[0].remote, 443u);
}

TEST(ScenarioComplete, CurlStepsKeepCaAndApplyVars) {
  const Scenario sc = loadComplete();
  ASSERT_EQ(sc.steps.size(), 9u);
  const Step& first = sc.steps[0];
  EXPECT_EQ(*first.curl,
            "-sS --resolve httpbin.example.com:15443:127.0.0.1 --cacert ${ca} "
            "https://httpbin.example.com:15443/status/200");
  EXPECT_EQ(first.curlPos.line, 38);
  EXPECT_EQ(first.curlPos.column, 11);
  EXPECT_FALSE(first.from);
  EXPECT_EQ(first.expect->status, (std::vector<int>{200}));
  EXPECT_EQ(*first.expect->via,
            (std::vector<std::string>{"istio-ingressgateway", "httpbin-egress"}));
}

TEST(ScenarioComplete, EveryExpectationKey) {
  const Scenario sc = loadComplete();
  const Step& step = sc.steps[1];
  EXPECT_EQ(step.from, "httpbin/sleep");
  EXPECT_EQ(step.timeout, std::chrono::seconds(10));
  const Expectation& e = *step.expect;
  EXPECT_EQ(e.exit, 0);
  EXPECT_EQ(e.status, (std::vector<int>{200, 203}));
  ASSERT_TRUE(e.headers.contains("content-type"));  // names lower-cased
  EXPECT_TRUE(e.headers.at("content-type").isRegex);
  EXPECT_TRUE(e.headers.at("content-type").matches("application/json; charset=utf-8"));
  EXPECT_FALSE(e.headers.at("server").isRegex);
  EXPECT_TRUE(e.headers.at("server").matches("envoy"));
  EXPECT_EQ(e.body->contains, (std::vector<std::string>{"\"Host\"", "httpbin"}));
  EXPECT_EQ((*e.body->json)["headers"]["Host"], "httpbin.example.com");
  EXPECT_EQ(e.flags.at("sleep").str(), "-");
  EXPECT_EQ(e.flags.at("httpbin-egress").str(), "/^(-|UF)$/");
  EXPECT_TRUE(e.flags.at("httpbin-egress").matches("UF"));
  const Step& down = sc.steps[5];
  EXPECT_EQ(down.expect->body->contains, (std::vector<std::string>{"no healthy upstream"}));
  EXPECT_EQ(down.eventually->within, std::chrono::seconds(90));
  EXPECT_EQ(down.eventually->every, std::chrono::seconds(1));
  EXPECT_EQ(down.eventually->successes, 2);
  EXPECT_EQ(sc.steps[8].expect->exit, 6);
}

TEST(ScenarioComplete, FaultSteps) {
  const Scenario sc = loadComplete();
  const FaultSpec& slow = *sc.steps[2].fault;
  EXPECT_EQ(slow.targetKind, FaultSpec::TargetKind::kUpstream);
  EXPECT_EQ(slow.upstreamHost, "httpbin.org");
  EXPECT_EQ(slow.upstreamPort, 443u);
  EXPECT_EQ(slow.action, "latency");
  EXPECT_EQ(slow.ms, 1500);
  const FaultSpec& errors = *sc.steps[3].fault;
  EXPECT_FALSE(errors.upstreamPort);
  EXPECT_EQ(errors.code, 503);
  EXPECT_EQ(errors.percent, 50);
  const FaultSpec& kill = *sc.steps[6].fault;
  EXPECT_EQ(kill.targetKind, FaultSpec::TargetKind::kGateway);
  EXPECT_EQ(kill.gatewayNamespace, "httpbin");
  EXPECT_EQ(kill.gatewayName, "httpbin-egress");
  EXPECT_EQ(kill.target, "gateway/httpbin/httpbin-egress");
  EXPECT_FALSE(sc.steps[6].curl);
}

TEST(ScenarioDefaults, VersionFromFirstIstioOperatorTag) {
  auto sc = parseScenario(R"(name: from-tag
manifests: [../../seed/operator.yaml]
steps: [{name: a, curl: http://x}]
)",
                          kBroken / "inline.yaml");
  ASSERT_TRUE(sc) << sc.error().str();
  EXPECT_EQ(sc->istioVersion.str(), "1.8.0");
  EXPECT_FALSE(sc->istioVersionFromFile);
}

TEST(ScenarioDefaults, VersionDefaultsToNewestSupported) {
  auto sc =
      parseScenario("name: plain\nsteps: [{name: a, curl: http://x}]\n", kBroken / "inline.yaml");
  ASSERT_TRUE(sc) << sc.error().str();
  EXPECT_EQ(sc->istioVersion, kNewestSupported);
  EXPECT_FALSE(sc->hasFaults());
  EXPECT_FALSE(sc->steps[0].expect);
}

TEST(ScenarioDefaults, LooksLikeScenario) {
  EXPECT_TRUE(looksLikeScenario(kComplete));
  EXPECT_TRUE(looksLikeScenario(kBroken / "duplicate-step.yaml"));
  EXPECT_FALSE(looksLikeScenario(kSource / "fixtures/seed/operator.yaml"));
  EXPECT_FALSE(looksLikeScenario(kSource / "fixtures/seed/README.md"));
  EXPECT_FALSE(looksLikeScenario("/nonexistent.yaml"));
}

// ------------------------------------------------------------- one fixture per error class
TEST(ScenarioErrors, UnknownTopLevelKey) {
  EXPECT_EQ(brokenError("unknown-key.yaml"),
            "unknown-key.yaml:3:1: unknown field \"stepz\" in scenario; did you mean \"steps\"?");
}

TEST(ScenarioErrors, UnknownExpectKey) {
  EXPECT_EQ(brokenError("unknown-expect-key.yaml"),
            "unknown-expect-key.yaml:5:27: unknown field \"stauts\" in expect; did you mean "
            "\"status\"?");
}

TEST(ScenarioErrors, WrongTypeLabels) {
  EXPECT_EQ(brokenError("wrong-type.yaml"),
            "wrong-type.yaml:2:9: labels must be a list of strings, got \"smoke\"");
}

TEST(ScenarioErrors, WrongTypeStatus) {
  EXPECT_EQ(brokenError("wrong-type-status.yaml"),
            "wrong-type-status.yaml:5:22: expect.status must be an integer, got \"ok\"");
}

TEST(ScenarioErrors, MissingManifestFileAtItsEntry) {
  const std::string error = brokenError("missing-manifest.yaml");
  EXPECT_EQ(error.rfind("missing-manifest.yaml:4:5: manifest \"../../seed/no-such-file.yaml\" "
                        "not found (looked for ",
                        0),
            0u)
      << error;
}

TEST(ScenarioErrors, DuplicateStepName) {
  EXPECT_EQ(brokenError("duplicate-step.yaml"),
            "duplicate-step.yaml:5:11: duplicate step name \"same\"");
}

TEST(ScenarioErrors, FromPodNotDeclared) {
  EXPECT_EQ(brokenError("undeclared-from.yaml"),
            "undeclared-from.yaml:6:11: from \"httpbin/curl\": no such pod in workloads");
}

TEST(ScenarioErrors, CurlAndFaultInOneStep) {
  EXPECT_EQ(brokenError("curl-and-fault.yaml"),
            "curl-and-fault.yaml:4:5: step \"both\" needs exactly one of curl or fault");
}

TEST(ScenarioErrors, FaultActionInvalidForTarget) {
  EXPECT_EQ(brokenError("bad-fault-action.yaml"),
            "bad-fault-action.yaml:5:51: invalid fault action \"kill\" for upstream/httpbin.org; "
            "valid actions: down, up, latency, status, reset, bad-cert, cert, close, blackhole");
}

TEST(ScenarioErrors, LatencyNeedsMs) {
  EXPECT_EQ(brokenError("latency-without-ms.yaml"),
            "latency-without-ms.yaml:5:12: fault action latency needs ms");
}

TEST(ScenarioErrors, StatusNeedsCode) {
  EXPECT_EQ(brokenError("status-without-code.yaml"),
            "status-without-code.yaml:5:12: fault action status needs code");
}

TEST(ScenarioErrors, FaultOnUndeclaredUpstream) {
  EXPECT_EQ(brokenError("unknown-fault-upstream.yaml"),
            "unknown-fault-upstream.yaml:5:12: fault target \"upstream/other.org\" is not one of "
            "the scenario's upstreams (by name, host, host:port or address:port)");
}

TEST(ScenarioErrors, FaultOnUnknownGateway) {
  EXPECT_EQ(
      brokenError("unknown-fault-gateway.yaml"),
      "unknown-fault-gateway.yaml:5:12: fault target \"gateway/istio-system/httpbin-egress\": "
      "no such gateway in the manifests");
}

TEST(ScenarioErrors, UnresolvedPlaceholderInScenarioAtItsColumn) {
  EXPECT_EQ(brokenError("unresolved-placeholder.yaml"),
            "unresolved-placeholder.yaml:6:29: unresolved placeholder <path-var>: add \"path-var\" "
            "to the scenario's vars");
}

TEST(ScenarioErrors, UnresolvedPlaceholderInManifest) {
  const std::string error = brokenError("unresolved-manifest-placeholder.yaml");
  EXPECT_NE(error.find("fixtures/seed/ingress-gateway.yaml:26:23: unresolved placeholder "
                       "<my-secret-name>"),
            std::string::npos)
      << error;
}

TEST(ScenarioErrors, ManifestSchemaErrorPointsIntoTheManifest) {
  EXPECT_EQ(brokenError("bad-manifest.yaml"),
            "bad-manifest.manifest.yml:9:13: invalid value \"SIMPLEX\" for tls.mode; valid "
            "values: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL (did you mean \"SIMPLE\"?)");
}

TEST(ScenarioErrors, BadScenarioName) {
  EXPECT_EQ(brokenError("bad-name.yaml"),
            "bad-name.yaml:1:7: invalid scenario name \"Seed_HTTPBin\": use lower-case letters, "
            "digits and '-'");
}

TEST(ScenarioErrors, MissingName) {
  EXPECT_EQ(brokenError("missing-name.yaml"),
            "missing-name.yaml:1:1: missing required field \"name\" in scenario");
}

TEST(ScenarioErrors, UnsupportedIstioVersion) {
  EXPECT_EQ(brokenError("unsupported-version.yaml"),
            "unsupported-version.yaml:3:12: Istio version 1.7.4 is not supported: EgressLab "
            "models Istio 1.8 to 1.28");
}

TEST(ScenarioErrors, BadRegexInExpectation) {
  const std::string error = brokenError("bad-regex.yaml");
  EXPECT_EQ(error.rfind("bad-regex.yaml:5:32: invalid regular expression /envoy(/: ", 0), 0u)
      << error;
}

TEST(ScenarioErrors, BadDuration) {
  EXPECT_EQ(brokenError("bad-duration.yaml"),
            "bad-duration.yaml:5:26: invalid duration \"90 seconds\" for within: use e.g. 500ms, "
            "1s, 1.5s, 1m, 1h");
}

TEST(ScenarioErrors, YamlSyntax) {
  EXPECT_EQ(brokenError("yaml-syntax.yaml"),
            "yaml-syntax.yaml:5:1: YAML syntax error: end of sequence flow not found");
}

TEST(ScenarioErrors, DnsNeedsIpv4) {
  EXPECT_EQ(brokenError("bad-dns.yaml"),
            "bad-dns.yaml:3:24: dns.httpbin.example.com: \"203.0.113.300\" is not an IPv4 address");
}

TEST(ScenarioErrors, PortForwardServiceNeedsNamespace) {
  EXPECT_EQ(brokenError("bad-port-forward.yaml"),
            "bad-port-forward.yaml:3:15: portForwards service \"istio-ingressgateway\" must be "
            "NAMESPACE/NAME");
}

// docs/design.md "More than one server per upstream": servers sharing host:port, each with its
// own name and address; `dns:` values that are one address or a list; workload localities.
TEST(ScenarioUpstreams, SeveralServersPerHostAndDnsLists) {
  auto sc = parseScenario(R"(name: a
upstreams:
  - {host: crm.legacy.example, port: 443, name: crm-a, address: 198.51.100.11}
  - {host: crm.legacy.example, port: 443, name: crm-b, address: 198.51.100.12}
  - {host: crm.legacy.example, port: 80, name: crm-a}
dns:
  crm.legacy.example: [198.51.100.11, 198.51.100.12]
  one.example: 203.0.113.9
workloads:
  - {name: client, namespace: apps, locality: eu-west/eu-west-1a}
  - {name: other, namespace: apps}
)",
                          kBroken / "inline.yaml");
  ASSERT_TRUE(sc) << sc.error().str();
  ASSERT_EQ(sc->upstreams.size(), 3u);
  EXPECT_EQ(sc->upstreams[0].address, "198.51.100.11");
  EXPECT_EQ(sc->upstreams[1].name, "crm-b");
  EXPECT_EQ(sc->upstreams[2].address, "");                       // chosen by the run
  EXPECT_EQ(sc->dns.at("crm.legacy.example"), "198.51.100.11");  // the first A record
  EXPECT_EQ(sc->dnsAnswers.at("crm.legacy.example"),
            (std::vector<std::string>{"198.51.100.11", "198.51.100.12"}));
  EXPECT_EQ(sc->dnsAnswers.at("one.example"), (std::vector<std::string>{"203.0.113.9"}));
  EXPECT_EQ(sc->workloads[0].locality, "eu-west/eu-west-1a");
  EXPECT_EQ(sc->workloads[1].locality, "");
}

TEST(ScenarioUpstreams, Errors) {
  EXPECT_EQ(textError("name: a\nupstreams: [{host: h}, {host: h}]\n"),
            "inline.yaml:2:24: duplicate upstream h:443 (give each server a name and an address)");
  EXPECT_EQ(textError("name: a\nupstreams: [{host: h, name: x}, {host: g, name: x}]\n"),
            "inline.yaml:2:49: duplicate upstream name \"x\" on port 443");
  EXPECT_EQ(textError("name: a\nupstreams: [{host: h, address: 10.0.0.300}]\n"),
            "inline.yaml:2:32: upstreams[0].address: \"10.0.0.300\" is not an IPv4 address");
  EXPECT_EQ(textError("name: a\nupstreams: [{host: h, name: a, address: 10.0.0.1}, "
                      "{host: h, name: b, address: 10.0.0.1}]\n"),
            "inline.yaml:2:80: upstreams a and b both answer at 10.0.0.1:443");
  EXPECT_EQ(textError("name: a\ndns: {h: [10.0.0.1, nope]}\n"),
            "inline.yaml:2:21: dns.h: \"nope\" is not an IPv4 address");
  EXPECT_EQ(textError("name: a\ndns: {h: []}\n"),
            "inline.yaml:2:10: dns.h: needs at least one address");
  EXPECT_EQ(textError("name: a\ndns: [a]\n"),
            "inline.yaml:2:6: dns must be a map of host to address (or list of addresses), not a "
            "list");
  EXPECT_EQ(textError("name: a\nworkloads: [{name: w, locality: a//b}]\n"),
            "inline.yaml:2:33: workloads[0].locality \"a//b\" must be REGION[/ZONE[/SUBZONE]]");
}

TEST(ScenarioErrors, InlineTextErrors) {
  EXPECT_EQ(textError("name: a\nsteps: [{name: s}]\n"),
            "inline.yaml:2:9: step \"s\" needs exactly one of curl or fault");
  EXPECT_EQ(textError("name: a\nsteps: [{name: s, curl: x, expect: {exit: 300}}]\n"),
            "inline.yaml:2:43: exit must be between 0 and 255, got 300");
  EXPECT_EQ(textError("name: a\nupstreams: [{host: h, port: 0}]\n"),
            "inline.yaml:2:29: port must be between 1 and 65535, got 0");
  EXPECT_EQ(textError("- a\n"), "inline.yaml:1:1: a scenario must be a map, got a list");
  EXPECT_EQ(textError("name: a\n---\nname: b\n"),
            "inline.yaml:3:1: a scenario file holds exactly one YAML document");
  EXPECT_EQ(textError(""), "inline.yaml: empty scenario file");
  EXPECT_EQ(textError("name: a\nvars: {BAD: x}\n"),
            "inline.yaml:2:7: invalid var name \"BAD\": use [a-z0-9-_.] so <BAD> can name it");
  EXPECT_EQ(textError("name: a\nsteps: [{name: s, fault: {target: pod/x, action: down}}]\n"),
            "inline.yaml:2:35: invalid fault target \"pod/x\": use upstream/NAME, "
            "upstream/HOST[:PORT], upstream/ADDRESS:PORT, gateway/NAMESPACE/NAME or dns/NAME");
  EXPECT_EQ(textError("name: a\nsecrets: [{name: s, namespace: n}]\n"),
            "inline.yaml:2:11: a minted secret needs hosts (or give cert and key files)");
}

TEST(ScenarioErrors, EveryBrokenPartOfAFileInOneReport) {
  EXPECT_EQ(brokenError("many-errors.yaml"),
            "many-errors.yaml:1:7: invalid scenario name \"Many_Errors\": use lower-case letters, "
            "digits and '-'\n"
            "many-errors.yaml:3:33: port must be between 1 and 65535, got 0\n"
            "many-errors.yaml:4:32: tls must be true or false, got \"maybe\"\n"
            "many-errors.yaml:8:22: expect.status must be between 100 and 599, got 99\n"
            "many-errors.yaml:11:14: unknown field \"stauts\" in expect; did you mean \"status\"?\n"
            "many-errors.yaml:12:56: invalid duration \"forever\" for within: use e.g. 500ms, 1s, "
            "1.5s, 1m, 1h\n"
            "many-errors.yaml:13:10: invalid duration \"soon\" for timeout: use e.g. 500ms, 1s, "
            "1.5s, 1m, 1h");
}

TEST(ScenarioErrors, ManifestThatIsADeviceOrFifo) {
  EXPECT_EQ(brokenError("device-manifest.yaml"),
            "device-manifest.yaml:2:13: manifest \"/dev/zero\" (/dev/zero): not a regular file (a "
            "character device)");
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("egl-scn-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_EQ(::mkfifo((dir / "m.yaml").c_str(), 0600), 0);
  auto sc = parseScenario("name: a\nmanifests: [m.yaml]\nsteps: [{name: s, curl: http://x}]\n",
                          dir / "s.yaml");
  ASSERT_FALSE(sc);
  EXPECT_EQ(sc.error().str(), (dir / "s.yaml").string() + ":2:13: manifest \"m.yaml\" (" +
                                  (dir / "m.yaml").string() + "): not a regular file (a FIFO)");
  // The scenario file itself: no hang on a FIFO, no read of a device.
  auto fifo = loadScenario(dir / "m.yaml");
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error().message, "cannot read scenario file: not a regular file (a FIFO)");
  EXPECT_FALSE(looksLikeScenario(dir / "m.yaml"));
  EXPECT_FALSE(loadScenario("/dev/zero"));
  std::filesystem::remove_all(dir);
}

TEST(ScenarioErrors, SecretCertificateMustBeValidPem) {
  const std::string error = brokenError("garbage-cert.yaml");
  EXPECT_EQ(
      error.rfind("garbage-cert.yaml:3:53: secret istio-system/own-cert: certificate file ", 0), 0u)
      << error;
  EXPECT_NE(error.find("garbage.crt: no PEM certificate"), std::string::npos) << error;
}

TEST(ScenarioErrors, SecretKeyMustMatchCertificate) {
  const std::string error = brokenError("mismatched-key.yaml");
  EXPECT_EQ(error.rfind("mismatched-key.yaml:3:68: secret istio-system/own-cert: key file ", 0), 0u)
      << error;
  EXPECT_NE(error.find("other.key: the private key does not match the certificate"),
            std::string::npos)
      << error;
}

TEST(ScenarioVersion, MinorTakesThePatchOfAMatchingOperatorTag) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("egl-ver-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "iop.yaml") << "apiVersion: install.istio.io/v1alpha1\n"
                                       "kind: IstioOperator\nmetadata: {name: a}\n"
                                       "spec: {tag: 1.22.3}\n";
  }
  const auto versionOf = [&](const std::string& version, bool withIop) {
    auto sc = parseScenario("name: a\nistio: {version: \"" + version + "\"}\n" +
                                (withIop ? "manifests: [iop.yaml]\n" : "") +
                                "steps: [{name: s, curl: http://x}]\n",
                            dir / "s.yaml");
    EXPECT_TRUE(sc) << sc.error().str();
    return sc ? sc->istioVersion.str() : std::string();
  };
  EXPECT_EQ(versionOf("1.22", true), "1.22.3");    // the IstioOperators' patch
  EXPECT_EQ(versionOf("1.22.1", true), "1.22.1");  // a patch as written wins
  EXPECT_EQ(versionOf("1.22", false), "1.22.0");   // documented default: the .0 release
  EXPECT_EQ(versionOf("1.21", true), "1.21.0");    // another minor's tag says nothing
  std::filesystem::remove_all(dir);
}

TEST(Placeholders, CommentsAreNotContent) {
  const std::string yaml = R"(# replace <your-host> below
apiVersion: v1  # <not-a-var>
kind: ConfigMap
metadata: {name: "<host> #1"}
data:
  script: |
    echo <host> # <host> stays text in a block scalar
  url: 'http://<host>/#<host>'
# <host> in a comment is left alone
)";
  auto out = substituteYamlText(yaml, {{"host", "h.example"}}, true, SourcePos{"t.yaml", 1, 1});
  ASSERT_TRUE(out) << out.error().str();
  EXPECT_EQ(*out, R"(# replace <your-host> below
apiVersion: v1  # <not-a-var>
kind: ConfigMap
metadata: {name: "h.example #1"}
data:
  script: |
    echo h.example # h.example stays text in a block scalar
  url: 'http://h.example/#h.example'
# <host> in a comment is left alone
)");
  auto missing = substituteYamlText("a: 1 # <x>\nb: <y>\n", {}, true, SourcePos{"t.yaml", 1, 1});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().str(),
            "t.yaml:2:4: unresolved placeholder <y>: add \"y\" to the scenario's vars");
}

// ----------------------------------------------------------------------- Matcher, version
TEST(Matcher, ExactAndRegex) {
  auto exact = Matcher::parse("UF,URX");
  ASSERT_TRUE(exact);
  EXPECT_TRUE(exact->matches("UF,URX"));
  EXPECT_FALSE(exact->matches("UF"));
  auto regex = Matcher::parse("/U[FH]/");
  ASSERT_TRUE(regex);
  EXPECT_TRUE(regex->isRegex);
  EXPECT_TRUE(regex->matches("UH"));
  EXPECT_FALSE(regex->matches("xUHx"));  // full match
  EXPECT_EQ(regex->str(), "/U[FH]/");
  auto slash = Matcher::parse("/");
  ASSERT_TRUE(slash);
  EXPECT_FALSE(slash->isRegex);
  auto bad = Matcher::parse("/[/", SourcePos{"f", 2, 3});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().where->line, 2);
}

TEST(IstioVersion, ParsesSupportedRange) {
  EXPECT_EQ(IstioVersion::parse("1.8")->str(), "1.8.0");
  EXPECT_EQ(IstioVersion::parse("v1.22.3")->str(), "1.22.3");
  EXPECT_EQ(IstioVersion::parse("1.22-dev")->str(), "1.22.0");
  EXPECT_EQ(IstioVersion::parse("1.28.1")->str(), "1.28.1");
  EXPECT_TRUE(IstioVersion::parse("1.21.0")->atLeast(1, 21));
  EXPECT_FALSE(IstioVersion::parse("1.20.9")->atLeast(1, 21));
  EXPECT_EQ(IstioVersion::parse("1.7.0").error().message,
            "Istio version 1.7.0 is not supported: EgressLab models Istio 1.8 to 1.28");
  EXPECT_FALSE(IstioVersion::parse("1.29"));
  EXPECT_FALSE(IstioVersion::parse("2.0"));
  EXPECT_EQ(IstioVersion::parse("latest", SourcePos{"f", 1, 2}).error().str(),
            "f:1:2: invalid Istio version \"latest\": expected MAJOR.MINOR[.PATCH], e.g. 1.22.3");
  EXPECT_FALSE(IstioVersion::parse("1.x"));
  EXPECT_FALSE(IstioVersion::parse(""));
}

}  // namespace
}  // namespace egresslab::model
