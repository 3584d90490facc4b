// The analyzer on small manifests (fixtures/broken/analyze): one case per code and per version
// boundary; the seed's manifests on 1.8, 1.20, 1.22 and 1.24 against golden output.
#include "harness/analyze/analyze.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/analyze/message.h"

namespace egresslab::analyze {
namespace {

namespace fs = std::filesystem;
using ::testing::IsEmpty;

const fs::path kSource = EGRESSLAB_SOURCE_DIR;

// Analyses files under fixtures/broken/analyze (paths printed relative to the repo root, so
// references are stable) at `version`.
AnalyzeReport analyzeFixture(const std::vector<std::string>& names, const std::string& version) {
  fs::current_path(kSource);
  AnalyzeOptions options;
  for (const std::string& n : names) options.inputs.push_back("fixtures/broken/analyze/" + n);
  options.istioVersion = version;
  auto report = analyzeInputs(options);
  EXPECT_TRUE(report.has_value()) << (report ? "" : report.error().str());
  return report ? *report : AnalyzeReport{};
}

std::vector<const Message*> withCode(const AnalyzeReport& r, const std::string& code) {
  std::vector<const Message*> out;
  for (const Message& m : r.messages) {
    if (m.code == code) out.push_back(&m);
  }
  return out;
}

std::string dump(const AnalyzeReport& r) { return formatText(r); }

// Exactly one message with `code`, at `level`; returns a copy (reports are often temporaries).
Message single(const AnalyzeReport& r, const std::string& code, Level level) {
  const auto found = withCode(r, code);
  EXPECT_EQ(found.size(), 1u) << code << " in:\n" << dump(r);
  if (found.empty()) return Message{};
  EXPECT_EQ(found.front()->level, level) << dump(r);
  return *found.front();
}

TEST(AnalyzeIst0101, MissingGatewayIsReportedWithIstioctlTemplateAndOrigin_Section2) {
  const auto r = analyzeFixture({"ist0101-gateway.yaml"}, "1.22");
  const Message& m = single(r, "IST0101", Level::kError);
  EXPECT_EQ(m.line(),
            "Error [IST0101] (VirtualService crm/crm-egress "
            "fixtures/broken/analyze/ist0101-gateway.yaml:30) Referenced gateway not found: "
            "\"istio-system/corp-ingres\"");
  // Since 1.9 the same loop reports IST0132 for the missing gateway too (§2).
  const Message& hostNotFound = single(r, "IST0132", Level::kWarning);
  EXPECT_EQ(hostNotFound.text,
            "one or more host [crm.example.com] defined in VirtualService crm/crm-egress not "
            "found in Gateway istio-system/corp-ingres.");
  EXPECT_EQ(exitCodeFor(r, Level::kError), kAnalyzerFoundIssues);
}

TEST(AnalyzeIst0132, AbsentBefore19_Section8) {
  const auto r = analyzeFixture({"ist0101-gateway.yaml"}, "1.8");
  EXPECT_THAT(withCode(r, "IST0132"), IsEmpty());
  single(r, "IST0101", Level::kError);
}

TEST(AnalyzeIst0101, UnknownDestinationHost) {
  const auto r = analyzeFixture({"ist0101-host.yaml"}, "1.22");
  const Message& m = single(r, "IST0101", Level::kError);
  EXPECT_EQ(m.text, "Referenced host not found: \"billing.legacy.internal\"");
  EXPECT_EQ(m.origin, "VirtualService billing/billing");
}

TEST(AnalyzeIst0101, MissingSubset) {
  const auto r = analyzeFixture({"ist0101-subset.yaml"}, "1.22");
  const Message& m = single(r, "IST0101", Level::kError);
  EXPECT_EQ(m.text,
            "Referenced host+subset in destinationrule not found: \"httpbin.org+tls-origination\"");
}

TEST(AnalyzeIst0101, CredentialMustLiveInTheGatewayPodNamespace_Section5) {
  const auto r = analyzeFixture({"ist0101-credential.yaml"}, "1.22");
  const Message& m = single(r, "IST0101", Level::kError);
  EXPECT_EQ(m.text, "Referenced credentialName not found: \"corp-cert\"");
  EXPECT_EQ(m.origin, "Gateway corp/corp-ingress");
}

TEST(AnalyzeIst0101, SelectorMatchingNoDerivedGatewayWorkload) {
  const auto r = analyzeFixture({"ist0101-selector.yaml"}, "1.22");
  const Message& m = single(r, "IST0101", Level::kError);
  EXPECT_EQ(m.text, "Referenced selector not found: \"istio=egresgateway\"");
}

TEST(AnalyzeIst0102, NamespaceWithoutInjectionLabelIsInfo) {
  const auto r = analyzeFixture({"ist0102-namespace.yaml"}, "1.22");
  const Message& m = single(r, "IST0102", Level::kInfo);
  EXPECT_EQ(m.origin, "Namespace httpbin");
  EXPECT_EQ(exitCodeFor(r, Level::kError), 0);
  EXPECT_EQ(exitCodeFor(r, Level::kInfo), kAnalyzerFoundIssues);
}

TEST(AnalyzeGatewayPort, Ist0104Through119ThenIst0162_Section8) {
  const auto old = analyzeFixture({"ist0104-port.yaml"}, "1.19");
  const Message& m104 = single(old, "IST0104", Level::kWarning);
  EXPECT_EQ(m104.text,
            "The gateway refers to a port that is not exposed on the workload (pod selector "
            "istio=ingressgateway; port 9443)");
  EXPECT_THAT(withCode(old, "IST0162"), IsEmpty());
  const auto current = analyzeFixture({"ist0104-port.yaml"}, "1.20");
  EXPECT_THAT(withCode(current, "IST0104"), IsEmpty());
  const Message& m162 = single(current, "IST0162", Level::kWarning);
  EXPECT_THAT(m162.text, ::testing::StartsWith("The gateway is listening on a target port (port "
                                               "9443) that is not defined in the Service"));
}

TEST(AnalyzeIst0106, WildcardHostOnMeshVirtualService) {
  const auto r = analyzeFixture({"ist0106-schema.yaml"}, "1.22");
  const Message& m = single(r, "IST0106", Level::kError);
  EXPECT_THAT(m.text, ::testing::HasSubstr("wildcard host * is not allowed"));
}

TEST(AnalyzeIst0109, TwoMeshVirtualServicesForOneHost) {
  const auto r = analyzeFixture({"ist0109-conflict.yaml"}, "1.22");
  const auto found = withCode(r, "IST0109");
  ASSERT_EQ(found.size(), 2u) << dump(r);
  EXPECT_THAT(found[0]->text, ::testing::HasSubstr("The VirtualServices "
                                                   "httpbin/httpbin-a,httpbin/httpbin-b "
                                                   "associated with mesh gateway define the same "
                                                   "host */httpbin.org"));
}

// ---- exportTo and host overlap (docs/istio-behaviour.md §2), issue 16 items 1 and 2.

TEST(AnalyzeExportTo, LocalCatchAllServiceEntryHidesNothingElsewhere_Section2) {
  const auto r = analyzeFixture({"exportto-se-local-wildcard.yaml"}, "1.22");
  const Message& m = single(r, "IST0101", Level::kError);
  EXPECT_EQ(m.origin, "VirtualService billing/billing");
  EXPECT_EQ(m.text, "Referenced host not found: \"billing.legacy.internal\"");
}

TEST(AnalyzeExportTo, ServiceAnnotationLimitsWhoSeesTheService_Section2) {
  const auto r = analyzeFixture({"exportto-service-annotation.yaml"}, "1.22");
  const Message& m = single(r, "IST0101", Level::kError);
  EXPECT_EQ(m.origin, "VirtualService billing/ledger-from-billing");
}

TEST(AnalyzeIst0109, VirtualServicesThatCannotSeeEachOtherDoNotConflict_Section2) {
  for (const char* version : {"1.8", "1.22", "1.28"}) {
    const auto r = analyzeFixture({"ist0109-exportto.yaml"}, version);
    EXPECT_THAT(withCode(r, "IST0109"), IsEmpty()) << version << "\n" << dump(r);
  }
}

TEST(AnalyzeIst0109, WildcardOverlapFrom115_Section2) {
  EXPECT_THAT(withCode(analyzeFixture({"ist0109-wildcard.yaml"}, "1.14"), "IST0109"), IsEmpty());
  const auto r = analyzeFixture({"ist0109-wildcard.yaml"}, "1.15");
  const auto found = withCode(r, "IST0109");
  ASSERT_EQ(found.size(), 2u) << dump(r);
  EXPECT_EQ(found[0]->text,
            "The VirtualServices shop/shop,edge/catch-all associated with mesh gateway define the "
            "same host shop/*.shop.example.com which can lead to undefined behavior. This can be "
            "fixed by merging the conflicting VirtualServices into a single resource.");
}

// ---- IST0104/IST0162 by patch version (docs/istio-behaviour.md §5, §8), item 4.

std::vector<std::uint32_t> reportedGatewayPorts(const std::string& version) {
  const auto r = analyzeFixture({"ist0162-target-port.yaml"}, version);
  std::vector<std::uint32_t> ports;
  for (const Message& m : r.messages) {
    if (m.code != "IST0104" && m.code != "IST0162") continue;
    for (const std::uint32_t p : {80u, 8443u}) {
      if (m.text.find(fmt::format("port {}", p)) != std::string::npos) ports.push_back(p);
    }
  }
  return ports;
}

TEST(AnalyzeGatewayPort, ServicePortThrough118_Section8) {
  EXPECT_THAT(reportedGatewayPorts("1.18"), ::testing::ElementsAre(8443u));
}

TEST(AnalyzeGatewayPort, OnlyTheTargetPortFrom1190To1221_Section8) {
  for (const char* version : {"1.19.0", "1.20.8", "1.21.3", "1.22.0", "1.22.1"}) {
    EXPECT_THAT(reportedGatewayPorts(version), ::testing::ElementsAre(80u, 8443u)) << version;
  }
}

TEST(AnalyzeGatewayPort, EitherPortFrom1214And1222_Section8) {
  for (const char* version : {"1.21.4", "1.22.2", "1.23.0", "1.28.0"}) {
    EXPECT_THAT(reportedGatewayPorts(version), ::testing::ElementsAre(8443u)) << version;
  }
}

// ---- item 3: ambient namespaces.

TEST(AnalyzeIst0102, AmbientNamespaceSkippedFrom118) {
  single(analyzeFixture({"ist0102-ambient.yaml"}, "1.17"), "IST0102", Level::kInfo);
  EXPECT_THAT(withCode(analyzeFixture({"ist0102-ambient.yaml"}, "1.18"), "IST0102"), IsEmpty());
}

// ---- item 5: gateways whose selectors differ but pick the same pods.

TEST(AnalyzeIst0145, DifferentSelectorsSamePodsFrom124_Section8) {
  EXPECT_THAT(withCode(analyzeFixture({"ist0145-same-pods.yaml"}, "1.23"), "IST0145"), IsEmpty());
  const auto r = analyzeFixture({"ist0145-same-pods.yaml"}, "1.24");
  const auto found = withCode(r, "IST0145");
  ASSERT_EQ(found.size(), 2u) << dump(r);
  EXPECT_EQ(found[0]->origin, "Gateway istio-system/team-a");
  EXPECT_EQ(found[0]->text,
            "Conflict with gateways istio-system/team-b (workload selector istio=ingressgateway, "
            "port 80, hosts shared.example.com).");
}

// ---- item 7: istioctl's implicit default ingress gateway.

TEST(AnalyzeDefaultIngress, GatewayAloneSelectsTheAssumedIngress) {
  const auto r = analyzeFixture({"default-ingress.yaml"}, "1.22");
  EXPECT_THAT(withCode(r, "IST0101"), IsEmpty()) << dump(r);
  EXPECT_THAT(withCode(r, "IST0162"), IsEmpty()) << dump(r);
  EXPECT_THAT(r.context, ::testing::HasSubstr("assuming the default profile's ingress gateway"));
  EXPECT_THAT(r.context, ::testing::HasSubstr("as Istio 1.22.0 (from --istio-version)"));
}

TEST(AnalyzeDefaultIngress, FlagTurnsItOff) {
  fs::current_path(kSource);
  AnalyzeOptions options;
  options.inputs = {"fixtures/broken/analyze/default-ingress.yaml"};
  options.istioVersion = "1.22";
  options.defaultIngress = false;
  const auto r = analyzeInputs(options);
  ASSERT_TRUE(r.has_value()) << r.error().str();
  const Message& m = single(*r, "IST0101", Level::kError);
  EXPECT_EQ(m.text, "Referenced selector not found: \"istio=ingressgateway\"");
  EXPECT_THAT(r->context, ::testing::HasSubstr("no implicit ingress gateway"));
}

// ---- item 6: Gateways generated from the Kubernetes Gateway API.

TEST(AnalyzeIst0165, InternalGatewayReferenceFrom121) {
  const auto old = analyzeFixture({"ist0165-internal-gateway.yaml"}, "1.20");
  single(old, "IST0101", Level::kError);
  EXPECT_THAT(withCode(old, "IST0165"), IsEmpty());
  const auto r = analyzeFixture({"ist0165-internal-gateway.yaml"}, "1.21");
  EXPECT_THAT(withCode(r, "IST0101"), IsEmpty()) << dump(r);
  EXPECT_THAT(withCode(r, "IST0132"), IsEmpty()) << dump(r);
  const Message& m = single(r, "IST0165", Level::kWarning);
  EXPECT_EQ(m.text,
            "Gateway reference in VirtualService web/web is to an implementation-generated "
            "internal Gateway: web/web-istio-autogenerated-k8s-gateway-http.");
}

// ---- item 8: incomplete resources are IST0106 messages, the rest is analysed.

TEST(AnalyzeIst0106, SchemaErrorsAreMessagesAndTheRestIsAnalysed) {
  const auto r = analyzeFixture({"ist0106-incomplete.yaml"}, "1.22");
  const auto schema = withCode(r, "IST0106");
  ASSERT_EQ(schema.size(), 2u) << dump(r);
  for (const Message* m : schema) {
    EXPECT_EQ(m->level, Level::kError);
    EXPECT_THAT(m->text, ::testing::StartsWith("Schema validation error: "));
    EXPECT_EQ(m->reference.file, "fixtures/broken/analyze/ist0106-incomplete.yaml");
    EXPECT_GT(m->reference.line, 0);
  }
  // The valid VirtualService is still analysed; the delegate (no hosts) gets nothing.
  const Message& gateway = single(r, "IST0101", Level::kError);
  EXPECT_EQ(gateway.origin, "VirtualService web/web");
  EXPECT_EQ(exitCodeFor(r, Level::kError), kAnalyzerFoundIssues);
}

TEST(AnalyzeInput, YamlThatDoesNotParseIsStillInvalidInput) {
  const fs::path file = fs::temp_directory_path() / "egresslab-analyze-bad.yaml";
  std::ofstream(file) << "apiVersion: v1\nkind: Service\nmetadata: {name: x\n  bad: [\n";
  AnalyzeOptions options;
  options.inputs = {file};
  const auto r = analyzeInputs(options);
  fs::remove(file);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidInput);
  EXPECT_TRUE(r.error().where.has_value());
}

// ---- item 9: destination ports.

TEST(AnalyzeIst0101, MirrorHostAndMirrorsSubsetFrom120) {
  const auto old = analyzeFixture({"ist0101-mirror.yaml"}, "1.19");
  const Message& host = single(old, "IST0101", Level::kError);
  EXPECT_EQ(host.text, "Referenced mirror host not found: \"shadow.example.com\"");
  const auto r = analyzeFixture({"ist0101-mirror.yaml"}, "1.20");
  const auto found = withCode(r, "IST0101");
  ASSERT_EQ(found.size(), 2u) << dump(r);
  EXPECT_EQ(found[1]->text,
            "Referenced mirror+subset in destinationrule not found: "
            "\"shop.example.com+canary\"");
}

TEST(AnalyzeIst0101, DestinationPortTheHostDoesNotHave) {
  const auto r = analyzeFixture({"ist0101-destination-port.yaml"}, "1.22");
  const Message& m = single(r, "IST0101", Level::kError);
  EXPECT_EQ(m.text, "Referenced host:port not found: \"crm.legacy.example.net:8443\"");
}

TEST(AnalyzeIst0128, ErrorThrough117WarningFrom118_Section8) {
  const auto old = analyzeFixture({"ist0128-top-level-tls.yaml"}, "1.17");
  const Message& m = single(old, "IST0128", Level::kError);
  EXPECT_EQ(m.text,
            "DestinationRule httpbin/httpbin in namespace httpbin has TLS mode set to SIMPLE but "
            "no caCertificates are set to validate server identity for host: httpbin.org");
  single(analyzeFixture({"ist0128-top-level-tls.yaml"}, "1.18"), "IST0128", Level::kWarning);
}

TEST(AnalyzeIst0129, ErrorOn18WarningFrom19_Section8) {
  const Message& m =
      single(analyzeFixture({"ist0129-port-level-tls.yaml"}, "1.8"), "IST0129", Level::kError);
  EXPECT_THAT(m.text, ::testing::EndsWith("for host: httpbin.org at port number:443"));
  single(analyzeFixture({"ist0129-port-level-tls.yaml"}, "1.9"), "IST0129", Level::kWarning);
}

TEST(AnalyzeIst0128, SubsetTlsTriggersNeither0128Nor0129_Section8) {
  // The seed's shape: tls inside a subset's portLevelSettings.
  const auto r = analyzeFixture({"egl002-port-level.yaml"}, "1.8");
  EXPECT_THAT(withCode(r, "IST0128"), IsEmpty());
  EXPECT_THAT(withCode(r, "IST0129"), IsEmpty());
}

TEST(AnalyzeIst0145, ConflictingGatewaysFrom111_Section8) {
  EXPECT_THAT(withCode(analyzeFixture({"ist0145-conflicting-gateways.yaml"}, "1.10"), "IST0145"),
              IsEmpty());
  const auto r = analyzeFixture({"ist0145-conflicting-gateways.yaml"}, "1.11");
  const auto found = withCode(r, "IST0145");
  ASSERT_EQ(found.size(), 2u) << dump(r);
  EXPECT_EQ(found[0]->text,
            "Conflict with gateways istio-system/team-b (workload selector istio=ingressgateway, "
            "port 80, hosts shared.example.com).");
}

TEST(AnalyzeIst0173, SubsetSelectingNoPodFrom127_Section8) {
  EXPECT_THAT(withCode(analyzeFixture({"ist0173-subset-selects-nothing.yaml"}, "1.26"), "IST0173"),
              IsEmpty());
  const Message& m = single(analyzeFixture({"ist0173-subset-selects-nothing.yaml"}, "1.27"),
                            "IST0173", Level::kError);
  EXPECT_EQ(m.text,
            "The Subset v2 defined in the DestinationRule does not select any pods. Which may "
            "lead to 503 UH (NoHealthyUpstream).");
}

TEST(AnalyzeIst0174, UnknownDestinationRuleHostFrom127_Section8) {
  EXPECT_THAT(withCode(analyzeFixture({"ist0174-unknown-dr-host.yaml"}, "1.26"), "IST0174"),
              IsEmpty());
  const Message& m =
      single(analyzeFixture({"ist0174-unknown-dr-host.yaml"}, "1.27"), "IST0174", Level::kWarning);
  EXPECT_EQ(m.text,
            "The host ghost.example.com defined in the DestinationRule does not match any "
            "services in the mesh.");
}

TEST(AnalyzeEgl001, InfoThrough120ErrorFrom121_Section4) {
  const Message& info = single(analyzeFixture({"egl001-sni.yaml"}, "1.20"), "EGL001", Level::kInfo);
  EXPECT_THAT(info.fullText(), ::testing::HasSubstr("no SNI is sent at all"));
  const Message& error =
      single(analyzeFixture({"egl001-sni.yaml"}, "1.21"), "EGL001", Level::kError);
  EXPECT_THAT(error.fullText(), ::testing::HasSubstr("auto SNI sends \"crm.example.com\""));
  EXPECT_THAT(
      error.fullText(),
      ::testing::HasSubstr("(docs/istio-behaviour.md §4) Fix: set `sni: crm.legacy.example.net`"));
  EXPECT_EQ(error.origin, "DestinationRule crm/crm");
}

TEST(AnalyzeEgl001, SubjectAltNamesWithoutSniIsAWarningLikeTheSimulatorsSuccess_Section4) {
  // The simulator answers 200 here (auto SNI, verification against the SANs): no Error.
  const Message& m =
      single(analyzeFixture({"egl001-san-without-sni.yaml"}, "1.22"), "EGL001", Level::kWarning);
  EXPECT_THAT(m.text, ::testing::HasSubstr("verified against subjectAltNames "
                                           "crm.legacy.example.net"));
  single(analyzeFixture({"egl001-san-without-sni.yaml"}, "1.20"), "EGL001", Level::kInfo);
}

TEST(AnalyzeEgl001, SniSetIsClean_Section4) {
  const auto r = analyzeFixture({"egl001-sni-fixed.yaml"}, "1.24");
  EXPECT_THAT(r.messages, IsEmpty()) << dump(r);
}

TEST(AnalyzeEgl002, PortLevelDropsRoundRobinWarningFrom114InfoBefore_Section4) {
  const Message& w =
      single(analyzeFixture({"egl002-port-level.yaml"}, "1.14"), "EGL002", Level::kWarning);
  EXPECT_THAT(w.text, ::testing::HasSubstr("loadBalancer (ROUND_ROBIN) set beside it does not "
                                           "apply to port 443"));
  EXPECT_THAT(w.text, ::testing::HasSubstr("LEAST_REQUEST"));
  single(analyzeFixture({"egl002-port-level.yaml"}, "1.13"), "EGL002", Level::kInfo);
}

TEST(AnalyzeEgl002, PortLevelDropsTlsNamesPlaintextNotTheLoadBalancer_Section4) {
  const Message& w =
      single(analyzeFixture({"egl002-port-level-tls.yaml"}, "1.24"), "EGL002", Level::kWarning);
  EXPECT_THAT(w.text,
              ::testing::HasSubstr("tls (SIMPLE) set beside it does not apply to port 443"));
  EXPECT_THAT(w.text, ::testing::HasSubstr("no TLS origination: plaintext to the upstream"));
  EXPECT_THAT(w.text, ::testing::Not(::testing::HasSubstr("LEAST_REQUEST")));
}

TEST(AnalyzeEgl003, StrictDoesNotProtectThePlaintextEgressHop_Section6) {
  const Message& m =
      single(analyzeFixture({"egl003-strict.yaml"}, "1.22"), "EGL003", Level::kWarning);
  EXPECT_THAT(m.text, ::testing::HasSubstr("port 80 HTTP accepts plaintext"));
  EXPECT_EQ(m.origin, "PeerAuthentication crm/default");
  const auto fixed = analyzeFixture({"egl003-strict-fixed.yaml"}, "1.22");
  EXPECT_THAT(withCode(fixed, "EGL003"), IsEmpty()) << dump(fixed);
}

TEST(AnalyzeEgl004, ProbeCurlWithoutFailOnly_Section7) {
  const auto r = analyzeFixture({"egl004-probe.yaml"}, "1.22");
  const Message& m = single(r, "EGL004", Level::kWarning);
  // The second curl has -fsS: only the first is reported.
  EXPECT_THAT(m.text, ::testing::HasSubstr("\"curl -sS http://localhost:15021/healthz/ready\""));
  EXPECT_EQ(m.origin, "IstioOperator istio-system/crm-egress");
}

// The probe read with sh semantics (mesh/probe_command.h), as the simulator runs it.
TEST(AnalyzeEgl004, ProbeCommandsWhoseFailureCannotFailTheProbe_Section7) {
  const auto r = analyzeFixture({"egl004-probe-masked.yaml"}, "1.22");
  const auto found = withCode(r, "EGL004");
  ASSERT_EQ(found.size(), 3u) << dump(r);
  std::vector<std::string> texts;
  for (const Message* m : found) texts.push_back(m->text);
  EXPECT_THAT(
      texts,
      ::testing::UnorderedElementsAre(
          ::testing::HasSubstr("cannot fail on \"curl -f http://localhost:15021/healthz/ready\""),
          ::testing::HasSubstr(
              "cannot fail on \"curl -fsS https://crm.legacy.example.net/health\""),
          ::testing::HasSubstr("runs \"wget -q -O- http://localhost:15000/ready\": the "
                               "simulator runs only curl")));
}

TEST(AnalyzeEgl005, InfoForRawManifestsErrorInAScenario_Section3) {
  single(analyzeFixture({"egl005-unresolvable.yaml"}, "1.22"), "EGL005", Level::kInfo);
  const auto scenario = analyzeFixture({"egl005-scenario.yaml"}, "1.22");
  const Message& m = single(scenario, "EGL005", Level::kError);
  EXPECT_THAT(m.text, ::testing::HasSubstr("exit 6"));
}

TEST(AnalyzeEgl006, RegistryOnlyUndeclaredDestination_Section1) {
  const Message& m =
      single(analyzeFixture({"egl006-registry-only.yaml"}, "1.22"), "EGL006", Level::kError);
  EXPECT_THAT(m.text, ::testing::HasSubstr("\"payments.legacy.example.net\""));
  EXPECT_THAT(m.text, ::testing::HasSubstr("502 (block_all)"));
}

TEST(AnalyzeEgl007, InstallPathFrom124_Section10) {
  EXPECT_THAT(withCode(analyzeFixture({"egl007-install.yaml"}, "1.22"), "EGL007"), IsEmpty());
  const auto deprecated = analyzeFixture({"egl007-install.yaml"}, "1.23");
  single(deprecated, "EGL007", Level::kInfo);
  const auto r = analyzeFixture({"egl007-install.yaml"}, "1.24");
  const auto found = withCode(r, "EGL007");
  ASSERT_EQ(found.size(), 2u) << dump(r);
  EXPECT_EQ(found[0]->level, Level::kError);
  EXPECT_THAT(found[0]->text, ::testing::HasSubstr("removed in 1.24"));
  EXPECT_EQ(found[1]->level, Level::kWarning);
  EXPECT_THAT(found[1]->text, ::testing::HasSubstr("without metadata.name"));
}

// EGL020 (§R1): a per-try timeout that the route's retryOn never retries.
TEST(AnalyzeEgl020, PerTryTimeoutTheDefaultRetryOnNeverRetries_SectionR1) {
  const auto r = analyzeFixture({"egl020-per-try-timeout.yaml"}, "1.22");
  const Message& m = single(r, "EGL020", Level::kWarning);
  EXPECT_THAT(m.text, ::testing::HasSubstr("spec.http[0].retries.perTryTimeout 500ms"));
  EXPECT_THAT(m.text, ::testing::HasSubstr("Istio's default"));
  EXPECT_THAT(m.fix, ::testing::HasSubstr("reset"));
}

TEST(AnalyzeOutput, JsonHasExactlyTheContractKeys) {
  const auto r = analyzeFixture({"ist0101-host.yaml"}, "1.22");
  const auto json = nlohmann::json::parse(formatJson(r));
  ASSERT_TRUE(json.is_array());
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0],
            (nlohmann::json{{"code", "IST0101"},
                            {"level", "Error"},
                            {"message",
                             "Referenced host not found: "
                             "\"billing.legacy.internal\""},
                            {"origin", "VirtualService billing/billing"},
                            {"reference", "fixtures/broken/analyze/ist0101-host.yaml:12"}}));
}

TEST(AnalyzeOutput, CleanRunSaysSoLikeIstioctl) {
  // 1.22.2: the gateway's port 80 (targetPort 8080) is accepted from this patch on.
  const auto r = analyzeFixture({"egl001-sni-fixed.yaml"}, "1.22.2");
  EXPECT_EQ(formatText(r), "");
  EXPECT_EQ(formatSummary(r, Level::kError),
            "\u2714 No validation issues found when analyzing "
            "fixtures/broken/analyze/egl001-sni-fixed.yaml.\n");
  EXPECT_EQ(exitCodeFor(r, Level::kInfo), 0);
}

TEST(AnalyzeInput, BadVersionIsInvalidInput) {
  fs::current_path(kSource);
  AnalyzeOptions options;
  options.inputs = {"fixtures/seed"};
  options.istioVersion = "2.0";
  const auto r = analyzeInputs(options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidInput);
}

TEST(AnalyzeInput, MissingFileIsInvalidInput) {
  fs::current_path(kSource);
  AnalyzeOptions options;
  options.inputs = {"fixtures/broken/analyze/does-not-exist.yaml"};
  const auto r = analyzeInputs(options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidInput);
}

TEST(AnalyzeInput, NoManifestAtThePathIsInvalidInput) {
  // issue 9: a path that holds no manifest is exit 2, not "No validation issues found".
  const fs::path dir = fs::temp_directory_path() / "egresslab-analyze-empty";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "notes.txt") << "not a manifest\n";
  std::ofstream(dir / "comments.yaml") << "# only a comment\n";
  AnalyzeOptions options;
  options.inputs = {dir};
  const auto r = analyzeInputs(options);
  fs::remove_all(dir);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidInput);
  EXPECT_THAT(r.error().str(), ::testing::HasSubstr("no Kubernetes or Istio manifest found"));
}

TEST(AnalyzeVersion, LevelsFollowTheAppendixTable_Section8) {
  EXPECT_FALSE(levelIn("IST0132", {1, 8, 0}).has_value());
  EXPECT_EQ(levelIn("IST0132", {1, 9, 0}), Level::kWarning);
  EXPECT_EQ(levelIn("IST0104", {1, 19, 0}), Level::kWarning);
  EXPECT_FALSE(levelIn("IST0104", {1, 20, 0}).has_value());
  EXPECT_FALSE(levelIn("IST0162", {1, 19, 0}).has_value());
  EXPECT_EQ(levelIn("IST0128", {1, 17, 0}), Level::kError);
  EXPECT_EQ(levelIn("IST0128", {1, 18, 0}), Level::kWarning);
  EXPECT_EQ(levelIn("IST0145", {1, 11, 0}), Level::kError);
  EXPECT_FALSE(levelIn("IST0145", {1, 10, 0}).has_value());
  EXPECT_EQ(levelIn("EGL001", {1, 20, 0}), Level::kInfo);
  EXPECT_EQ(levelIn("EGL001", {1, 21, 0}), Level::kError);
}

// ---- the seed's manifests, placeholders passed through, against golden files.

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class SeedGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(SeedGolden, MatchesGoldenOutput) {
  fs::current_path(kSource);
  AnalyzeOptions options;
  options.inputs = {"fixtures/seed"};
  options.istioVersion = GetParam();
  const auto r = analyzeInputs(options);
  ASSERT_TRUE(r.has_value()) << r.error().str();
  const fs::path golden = kSource / "harness/analyze/testdata" / ("seed-" + GetParam() + ".txt");
  const std::string actual = formatText(*r);
  if (std::getenv("EGRESSLAB_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(golden, std::ios::binary) << actual;
  }
  EXPECT_EQ(actual, readFile(golden)) << "regenerate with EGRESSLAB_UPDATE_GOLDEN=1";
}

INSTANTIATE_TEST_SUITE_P(Versions, SeedGolden, ::testing::Values("1.8", "1.20", "1.22", "1.24"),
                         [](const auto& param_info) {
                           std::string name = "v" + param_info.param;
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

}  // namespace
}  // namespace egresslab::analyze
