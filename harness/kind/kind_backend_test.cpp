// The kind backend against RecordingCommandRunner and the stand-in tools (issue 6 §3).
#include "harness/kind/kind_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "harness/curl/execute.h"
#include "harness/kind/process_groups.h"
#include "harness/kind/recording_command_runner.h"
#include "harness/kind/test_support.h"
#include "harness/mesh/decisions.h"
#include "harness/model/loader.h"

namespace egresslab::kind {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

const std::filesystem::path kSource = EGRESSLAB_SOURCE_DIR;

// The seed scenario (`install: operator`), optionally on another version. From 1.24 the
// operator is gone, so the `install:` key is dropped there, as a user moving to 1.24 would.
model::Scenario seedScenario(const std::string& version = "") {
  auto scenario = model::loadScenario(kSource / "scenarios" / "seed-httpbin.yaml");
  EXPECT_TRUE(scenario.has_value()) << (scenario ? "" : scenario.error().str());
  if (!version.empty()) scenario->istioVersion = *model::IstioVersion::parse(version);
  if (scenario->istioVersion.atLeast(1, 24)) scenario->install.reset();
  return *scenario;
}

KindOptions testOptions() {
  KindOptions o;
  o.runDir = "/run";
  o.fixturesDir = kSource / "fixtures" / "kind";
  o.portForwardReady = std::chrono::milliseconds(0);  // no listener behind recorded commands
  o.mockPortBase = 0;  // each mock on an ephemeral port of 127.0.0.1 (the "kind gateway" here)
  return o;
}

std::vector<std::string> displays(const std::vector<PlannedCommand>& plan) {
  std::vector<std::string> out;
  for (const auto& p : plan) out.push_back(p.display());
  return out;
}

const std::string kConfig = (kSource / "fixtures/kind/config.yaml").string();

// The trust, upstream, readiness, analyze and port-forward tail every install method shares.
std::vector<std::string> seedTail() {
  return {
      "kubectl -n httpbin create configmap egresslab-public-ca "
      "--from-file=ca-certificates.crt=/run/public-ca.crt --dry-run=client -o yaml | "
      "kubectl apply -f -",
      "kubectl -n httpbin patch deployment httpbin-egress --type=json -p " + trustBundlePatch(true),
      "kubectl -n istio-system create configmap egresslab-public-ca "
      "--from-file=ca-certificates.crt=/run/public-ca.crt --dry-run=client -o yaml | "
      "kubectl apply -f -",
      "kubectl -n istio-system patch deployment istio-ingressgateway --type=json -p " +
          trustBundlePatch(true),
      "kubectl -n httpbin patch deployment sleep --type=json -p " + trustBundlePatch(false),
      "docker network inspect kind -f {{range .IPAM.Config}}{{.Gateway}} {{end}}",
      "egresslab mock httpbin --listen ${KIND_GATEWAY}:${MOCK_PORT_0} --tls-cert "
      "/run/upstreams/httpbin.org-443.crt --tls-key /run/upstreams/httpbin.org-443.key "
      "--hostname httpbin.org --control 127.0.0.1:19000",
      "kubectl get nodes -o jsonpath={.items[*].metadata.name}",
      "docker exec ${NODE} iptables -t nat -I PREROUTING 1 -d 198.51.10.10/32 -p tcp --dport 443 "
      "-m comment --comment egresslab httpbin.org -j DNAT --to-destination "
      "${KIND_GATEWAY}:${MOCK_PORT_0}",
      "kubectl -n kube-system get configmap coredns -o jsonpath={.data.Corefile}",
      "kubectl -n kube-system apply -f -",
      "kubectl -n kube-system rollout restart deploy/coredns",
      "kubectl -n kube-system rollout status deploy/coredns --timeout=300s",
      "kubectl -n httpbin rollout status deploy/httpbin-egress --timeout=300s",
      "kubectl -n istio-system rollout status deploy/istio-ingressgateway --timeout=300s",
      "kubectl -n httpbin rollout status deploy/sleep --timeout=300s",
      "kubectl -n httpbin wait --for=condition=Ready pod -l app=sleep --timeout=300s",
      "istioctl analyze --all-namespaces",
      "kubectl -n istio-system port-forward svc/istio-ingressgateway 15443:443",
      "kubectl -n istio-system port-forward svc/istio-ingressgateway 18080:80"};
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::string> preflightLines() {
  return {"docker info --format {{.ServerVersion}}", "kind version",
          "kubectl version --client -o json", "istioctl version --remote=false"};
}

std::vector<std::string> clusterLines() {
  return {"kind create cluster --name egresslab --config " + kConfig +
              " --wait 120s --kubeconfig /run/kubeconfig",
          "kubectl -n kube-system rollout status deploy/coredns --timeout=120s"};
}

std::vector<std::string> secretAndManifests() {
  return {
      "kubectl create -n istio-system secret tls httpbin-credential "
      "--key=/run/secrets/istio-system/httpbin-credential.key "
      "--cert=/run/secrets/istio-system/httpbin-credential.crt",
      "kubectl apply -f -",
      "kubectl apply -f -",
      "kubectl apply -f -",
      "kubectl apply -f -",
      "kubectl apply -f -",
      "kubectl apply -f -",
      "kubectl label namespace httpbin istio-injection=enabled --overwrite",
      "kubectl apply -n httpbin -f -"};
}

// §10: `install: operator` (the seed's key) installs with the in-cluster operator, as the post
// does; gateways are `manifest generate | kubectl apply`.
TEST(KindPlanTest, SeedOn18FollowsThePostsOperatorFlow_S10) {
  auto plan = buildPlan(seedScenario(), testOptions());
  ASSERT_TRUE(plan) << plan.error().str();
  const std::vector<std::string> istio = {
      "istioctl operator init --watchedNamespaces=istio-operator",
      "kubectl create ns istio-system",
      "kubectl apply -f -",
      "kubectl -n istio-operator wait --for=jsonpath={.status.status}=HEALTHY "
      "istiooperator/istio-operator --timeout=300s",
      "kubectl -n istio-system rollout status deploy/istiod --timeout=300s",
      "kubectl create ns httpbin",
      "istioctl manifest generate -f /run/manifests/egress.yaml | kubectl apply -f -"};
  EXPECT_THAT(displays(*plan),
              ElementsAreArray(concat(concat(concat(preflightLines(), clusterLines()),
                                             concat(istio, secretAndManifests())),
                                      seedTail())));
  // The control-plane IOP goes in on stdin with vars applied; the gateway IOP never does.
  EXPECT_THAT((*plan)[8].stages[0].stdinData, HasSubstr("kind: IstioOperator"));
  EXPECT_THAT((*plan)[8].stages[0].stdinData, HasSubstr("REGISTRY_ONLY"));
  for (std::size_t i = 14; i < 20; ++i) {
    EXPECT_THAT((*plan)[i].stages[0].stdinData, ::testing::Not(HasSubstr("IstioOperator")));
    EXPECT_THAT((*plan)[i].stages[0].stdinData, ::testing::Not(HasSubstr("<my-")));
  }
  EXPECT_THAT((*plan)[21].stages[0].stdinData, HasSubstr("image: curlimages/curl"));
  EXPECT_THAT((*plan)[21].stages[0].stdinData, HasSubstr("sidecar.istio.io/inject: \"true\""));
  EXPECT_THAT((*plan)[21].stages[0].stdinData, ::testing::Not(HasSubstr("<")));
  EXPECT_FALSE((*plan)[4].stages[0].env.contains("KUBECONFIG"));  // kind takes --kubeconfig
  EXPECT_EQ((*plan)[5].stages[0].env.at("KUBECONFIG"), "/run/kubeconfig");
  // The gateway IOP file the pipeline reads is part of the plan, vars applied.
  ASSERT_EQ((*plan)[12].files.size(), 1u);
  EXPECT_EQ((*plan)[12].files[0].relative, "manifests/egress.yaml");
  EXPECT_THAT((*plan)[12].files[0].content, HasSubstr("name: httpbin-egress"));
}

// §10: without `istio.install`, 1.18+ installs the way that version's docs do: `istioctl
// install -f` per IstioOperator, the control plane first, then each gateway-only
// (`profile: empty`) one. The gateway's own readiness wait is cut short (its probe reaches
// the upstream, trusted only after the public CA is mounted); the rollout waits decide.
TEST(KindPlanTest, On122WithoutInstallKeyUsesIstioctlInstallPerOperator_S10) {
  auto scenario = seedScenario("1.22.3");
  scenario.install.reset();
  ASSERT_EQ(scenario.installMethod(), model::InstallMethod::kIstioctl);
  auto plan = buildPlan(scenario, testOptions());
  ASSERT_TRUE(plan) << plan.error().str();
  const std::vector<std::string> istio = {
      "istioctl install -y -f /run/manifests/operator.yaml",
      "kubectl -n istio-system rollout status deploy/istiod --timeout=300s",
      "kubectl create ns httpbin",
      "istioctl install -y -f /run/manifests/egress.yaml --readiness-timeout=1s"};
  EXPECT_THAT(displays(*plan),
              ElementsAreArray(concat(concat(concat(preflightLines(), clusterLines()),
                                             concat(istio, secretAndManifests())),
                                      seedTail())));
  EXPECT_EQ((*plan)[6].files.at(0).relative, "manifests/operator.yaml");
  EXPECT_THAT((*plan)[6].files.at(0).content, HasSubstr("REGISTRY_ONLY"));
  EXPECT_EQ((*plan)[9].okIfStderrContains, "resources not ready");
  EXPECT_THAT((*plan)[9].files.at(0).content, HasSubstr("profile: empty"));
  for (const auto& line : displays(*plan)) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr("operator init")));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("manifest generate")));
  }
}

// §10: 1.24 removed the operator: without `install:` it is `istioctl install -y -f`.
TEST(KindPlanTest, SeedOn124UsesIstioctlInstall_S10) {
  auto plan = buildPlan(seedScenario("1.24.0"), testOptions());
  ASSERT_TRUE(plan) << plan.error().str();
  const auto lines = displays(*plan);
  ASSERT_GE(lines.size(), 12u);
  EXPECT_EQ(lines[6], "istioctl install -y -f /run/manifests/operator.yaml");
  EXPECT_EQ(lines[7], "kubectl -n istio-system rollout status deploy/istiod --timeout=300s");
  EXPECT_EQ(lines[8], "kubectl create ns httpbin");
  EXPECT_EQ(lines[9], "istioctl install -y -f /run/manifests/egress.yaml --readiness-timeout=1s");
  for (const auto& line : lines) EXPECT_THAT(line, ::testing::Not(HasSubstr("operator init")));
  // `install: operator` on 1.24 is refused, naming the key.
  auto scenario = seedScenario("1.24.0");
  scenario.install = model::InstallMethod::kOperator;
  auto refused = buildPlan(scenario, testOptions());
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().str(), HasSubstr("removed in 1.24"));
  EXPECT_THAT(refused.error().str(), HasSubstr("seed-httpbin.yaml:12:"));
}

// A revisioned control plane: istiod is `istiod-R`, and a gateway IstioOperator without a
// revision of its own joins R (`--revision R`), in both the istioctl and the operator flow.
TEST(KindPlanTest, RevisionedControlPlaneCarriesItsRevisionToTheGateways_S10) {
  auto scenario = seedScenario("1.22.3");
  scenario.install.reset();
  scenario.resources.istioOperators[0].revision = "1-22-3";
  auto plan = buildPlan(scenario, testOptions());
  ASSERT_TRUE(plan) << plan.error().str();
  const auto lines = displays(*plan);
  EXPECT_EQ(lines[6], "istioctl install -y -f /run/manifests/operator.yaml");
  EXPECT_EQ(lines[7], "kubectl -n istio-system rollout status deploy/istiod-1-22-3 --timeout=300s");
  EXPECT_EQ(lines[9],
            "istioctl install -y -f /run/manifests/egress.yaml --revision 1-22-3 "
            "--readiness-timeout=1s");
  scenario.install = model::InstallMethod::kOperator;
  plan = buildPlan(scenario, testOptions());
  ASSERT_TRUE(plan);
  EXPECT_THAT(displays(*plan),
              ::testing::Contains(
                  "istioctl operator init --watchedNamespaces=istio-operator --revision 1-22-3"));
  EXPECT_THAT(displays(*plan),
              ::testing::Contains("istioctl manifest generate -f /run/manifests/egress.yaml "
                                  "--revision 1-22-3 | kubectl apply -f -"));
}

// Versions pick their default; `install:` wins where the version has that method.
TEST(KindPlanTest, InstallMethodDefaultsByVersion_S10) {
  for (auto [version, want] : {std::pair{"1.8.0", model::InstallMethod::kOperator},
                               std::pair{"1.17.8", model::InstallMethod::kOperator},
                               std::pair{"1.18.0", model::InstallMethod::kIstioctl},
                               std::pair{"1.24.2", model::InstallMethod::kIstioctl},
                               std::pair{"1.28.0", model::InstallMethod::kIstioctl}}) {
    EXPECT_EQ(model::defaultInstallMethod(*model::IstioVersion::parse(version)), want) << version;
  }
  auto scenario = seedScenario();
  scenario.install = model::InstallMethod::kHelm;  // 1.8 has no gateway chart with probes
  auto plan = buildPlan(scenario, testOptions());
  ASSERT_FALSE(plan);
  EXPECT_THAT(plan.error().message, HasSubstr("helm needs Istio 1.24+"));
}

// §10 (b): `install: helm` on 1.24 — istio/base and istiod, then one istio/gateway release
// per gateway with values derived from its IstioOperator.
TEST(KindPlanTest, HelmOn124InstallsChartsWithValuesFromTheOperators_S10) {
  auto scenario = seedScenario("1.24.2");
  scenario.install = model::InstallMethod::kHelm;
  auto plan = buildPlan(scenario, testOptions());
  ASSERT_TRUE(plan) << plan.error().str();
  const std::vector<std::string> istio = {
      "helm repo add istio https://istio-release.storage.googleapis.com/charts --force-update",
      "helm upgrade --install istio-base istio/base -n istio-system --create-namespace "
      "--version 1.24.2",
      "helm upgrade --install istiod istio/istiod -n istio-system --version 1.24.2 -f "
      "/run/helm/istiod-values.yaml --wait --timeout 300s",
      "kubectl -n istio-system rollout status deploy/istiod --timeout=300s",
      "kubectl create ns httpbin",
      "helm upgrade --install httpbin-egress istio/gateway -n httpbin --version 1.24.2 -f "
      "/run/helm/httpbin-httpbin-egress-values.yaml",
      "helm upgrade --install istio-ingressgateway istio/gateway -n istio-system --version "
      "1.24.2 -f /run/helm/istio-system-istio-ingressgateway-values.yaml"};
  EXPECT_THAT(displays(*plan),
              ElementsAreArray(concat(
                  concat(concat(concat(preflightLines(), {"helm version --short"}), clusterLines()),
                         concat(istio, secretAndManifests())),
                  seedTail())));
  // helm reads the run's kubeconfig like kubectl.
  EXPECT_EQ((*plan)[7].stages[0].env.at("KUBECONFIG"), "/run/kubeconfig");
  const auto values = [&](std::size_t index) {
    const auto& files = (*plan)[index].files;
    EXPECT_EQ(files.size(), 1u);
    const std::string text = files.at(0).content;
    return nlohmann::json::parse(text.substr(text.find('{')));
  };
  const auto istiod = values(9);
  EXPECT_EQ(istiod.at("meshConfig").at("outboundTrafficPolicy").at("mode"), "REGISTRY_ONLY");
  EXPECT_EQ(istiod.at("meshConfig").at("accessLogFile"), "/dev/stdout");
  const auto egress = values(12);
  EXPECT_EQ(egress.at("name"), "httpbin-egress");
  EXPECT_EQ(egress.at("labels").at("app"), "istio-egressgateway");
  EXPECT_EQ(egress.at("labels").at("istio"), "egressgateway");
  EXPECT_EQ(egress.at("labels").at("custom-egress"), "httpbin-egress");
  EXPECT_EQ(egress.at("service").at("type"), "ClusterIP");
  std::vector<std::pair<int, int>> ports;
  for (const auto& p : egress.at("service").at("ports")) {
    ports.emplace_back(p.at("port").get<int>(), p.at("targetPort").get<int>());
  }
  EXPECT_THAT(ports, ::testing::Contains(std::pair{443, 8443}));
  // The IOP's exec probe (curl to the upstream) replaces the chart's httpGet one.
  EXPECT_TRUE(egress.at("readinessProbe").at("httpGet").is_null());
  EXPECT_THAT(egress.at("readinessProbe").at("exec").at("command").dump(),
              HasSubstr("https://httpbin.org/status/200"));
  EXPECT_EQ(egress.at("readinessProbe").at("failureThreshold"), 30);
  const auto ingress = values(13);
  EXPECT_EQ(ingress.at("labels").at("istio"), "ingressgateway");
  EXPECT_FALSE(ingress.contains("readinessProbe"));  // the chart's own
  EXPECT_FALSE(ingress.at("service").contains("type"));
}

// Issue 9: a listed gateway without `enabled: true` is not installed (model::
// deriveGatewayWorkloads); kind used to wait for it, observe it and patch it.
// docs/design.md "More than one server per upstream", §R5: each server its own mock, port and
// DNAT rule at the address the scenario gives it; a workload's locality is its pod's
// `istio-locality` label.
TEST(KindPlanTest, SeveralServersEachAtTheirAddressAndWorkloadLocality_R5) {
  auto scenario = model::loadScenario(kSource / "scenarios" / "locality-failover.yaml");
  ASSERT_TRUE(scenario) << scenario.error().str();
  auto plan = buildPlan(*scenario, testOptions());
  ASSERT_TRUE(plan) << plan.error().str();
  const auto lines = displays(*plan);
  EXPECT_THAT(lines,
              ::testing::Contains("egresslab mock httpbin --listen ${KIND_GATEWAY}:${MOCK_PORT_0} "
                                  "--hostname crm-a --control 127.0.0.1:19000"));
  EXPECT_THAT(lines,
              ::testing::Contains("egresslab mock httpbin --listen ${KIND_GATEWAY}:${MOCK_PORT_1} "
                                  "--hostname crm-b --control 127.0.0.1:19001"));
  for (const auto& [address, index] : {std::pair{"198.51.100.11", 0}, {"198.51.100.12", 1}}) {
    EXPECT_THAT(lines, ::testing::Contains(fmt::format(
                           "docker exec ${{NODE}} iptables -t nat -I PREROUTING 1 -d {}/32 -p "
                           "tcp --dport 80 -m comment --comment egresslab crm-{} -j DNAT "
                           "--to-destination ${{KIND_GATEWAY}}:${{MOCK_PORT_{}}}",
                           address, index == 0 ? "a" : "b", index)));
  }
  bool located = false;
  for (const auto& p : *plan) {
    if (p.phase == Phase::kWorkloads) {
      located = p.stages.front().stdinData.find(
                    "        app: client\n        istio-locality: eu-west.eu-west-1a\n") !=
                std::string::npos;
    }
  }
  EXPECT_TRUE(located);
}

TEST(KindPlanTest, GatewayWithoutEnabledIsNotAProxy_S10) {
  auto scenario = seedScenario();
  ASSERT_EQ(scenario.resources.istioOperators.size(), 2u);
  auto& gateway = scenario.resources.istioOperators[1].egressGateways.at(0);
  ASSERT_EQ(gateway.name, "httpbin-egress");
  gateway.enabled.reset();
  std::vector<std::string> names;
  for (const auto& p : proxiesOf(scenario)) names.push_back(p.ns + "/" + p.deployment);
  EXPECT_THAT(names, ElementsAre("istio-system/istio-ingressgateway", "httpbin/sleep"));
  auto plan = buildPlan(scenario, testOptions());
  ASSERT_TRUE(plan);
  for (const auto& line : displays(*plan)) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr("deploy/httpbin-egress")));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("deployment httpbin-egress")));
  }
  gateway.enabled = true;
  names.clear();
  for (const auto& p : proxiesOf(scenario)) names.push_back(p.ns + "/" + p.deployment);
  EXPECT_THAT(names, ElementsAre("httpbin/httpbin-egress", "istio-system/istio-ingressgateway",
                                 "httpbin/sleep"));
}

// Issue 15: a Gateway MUTUAL server reads the client CA from the credential's `ca.crt` (or a
// `<name>-cacert` secret); `kubectl create secret tls` has none. `caCertificate: true` makes
// the secret a generic one with tls.crt, tls.key and ca.crt (the scenario CA).
TEST(KindPlanTest, SecretWithCaCertificateCarriesCaCrtForMutual) {
  auto scenario = seedScenario();
  scenario.secrets.at(0).caCertificate = true;
  auto plan = buildPlan(scenario, testOptions());
  ASSERT_TRUE(plan);
  EXPECT_THAT(
      displays(*plan),
      ::testing::Contains("kubectl create -n istio-system secret generic httpbin-credential "
                          "--from-file=tls.crt=/run/secrets/istio-system/httpbin-credential.crt "
                          "--from-file=tls.key=/run/secrets/istio-system/httpbin-credential.key "
                          "--from-file=ca.crt=/run/ca.crt"));
  scenario.secrets.at(0).caFile = "/certs/client-ca.pem";
  plan = buildPlan(scenario, testOptions());
  ASSERT_TRUE(plan);
  EXPECT_THAT(displays(*plan),
              ::testing::Contains(HasSubstr("--from-file=ca.crt=/certs/client-ca.pem")));
}

// The preflight hint names the patch the IstioOperator's tag pins (issue 13 §7).
TEST(KindPlanTest, InstallVersionTakesThePatchFromTheControlPlaneTag) {
  auto scenario = seedScenario();
  scenario.istioVersion = *model::IstioVersion::parse("1.22");
  scenario.resources.istioOperators[0].tag = "1.22.3";
  EXPECT_EQ(installVersion(scenario).str(), "1.22.3");
  scenario.resources.istioOperators[0].tag = "1.8.0";  // another minor: the scenario's version
  EXPECT_EQ(installVersion(scenario).str(), "1.22.0");
}

// §4: 1.21+ gateways verify upstream certificates against the OS bundle ("system"), and pod
// curls use it too: the run's public CA is mounted over it before any rollout is waited for.
TEST(KindPlanTest, PublicCaReplacesTheOsBundleBeforeRolloutsOn122_S4) {
  auto plan = buildPlan(seedScenario("1.22.0"), testOptions());
  ASSERT_TRUE(plan) << plan.error().str();
  const auto lines = displays(*plan);
  const auto indexOf = [&](const std::string& line) -> std::ptrdiff_t {
    const auto it = std::find(lines.begin(), lines.end(), line);
    EXPECT_NE(it, lines.end()) << "missing: " << line;
    return it - lines.begin();
  };
  const std::string configMap =
      " create configmap egresslab-public-ca --from-file=ca-certificates.crt=/run/public-ca.crt "
      "--dry-run=client -o yaml | kubectl apply -f -";
  struct Target {
    std::string ns;
    std::string deployment;
    bool gateway;
  };
  const std::vector<Target> targets = {{"istio-system", "istio-ingressgateway", true},
                                       {"httpbin", "httpbin-egress", true},
                                       {"httpbin", "sleep", false}};
  for (const auto& t : targets) {
    SCOPED_TRACE(t.ns + "/" + t.deployment);
    const auto cm = indexOf("kubectl -n " + t.ns + configMap);
    const auto patchAt = indexOf("kubectl -n " + t.ns + " patch deployment " + t.deployment +
                                 " --type=json -p " + trustBundlePatch(t.gateway));
    const auto rollout = indexOf("kubectl -n " + t.ns + " rollout status deploy/" + t.deployment +
                                 " --timeout=300s");
    EXPECT_LT(cm, patchAt);
    EXPECT_LT(patchAt, rollout);
    // Gateways are installed before they are patched.
    EXPECT_LT(indexOf("istioctl manifest generate -f /run/manifests/egress.yaml | kubectl apply "
                      "-f -"),
              patchAt);
    // The ConfigMap is a two-stage pipeline; the JSON patch is one argv element.
    EXPECT_EQ((*plan)[static_cast<std::size_t>(cm)].stages.size(), 2u);
    // Re-patching a reused cluster's gateway is a duplicate, not a failure.
    EXPECT_EQ((*plan)[static_cast<std::size_t>(patchAt)].okIfStderrContains,
              t.gateway ? "Duplicate value: \"egresslab-public-ca\"" : "");
    const auto& argv = (*plan)[static_cast<std::size_t>(patchAt)].stages.front().argv;
    ASSERT_EQ(argv.size(), 9u);
    EXPECT_EQ(argv[7], "-p");
    const auto patch = nlohmann::json::parse(argv[8], nullptr, false);
    ASSERT_FALSE(patch.is_discarded()) << argv[8];
    ASSERT_TRUE(patch.is_array());
    ASSERT_EQ(patch.size(), 2u);
    for (const auto& op : patch) EXPECT_EQ(op.at("op"), "add");
    // Gateways already have volumes and mounts (append); our sleep.yaml has none (create).
    const std::string suffix = t.gateway ? "/-" : "";
    EXPECT_EQ(patch[0].at("path"), "/spec/template/spec/volumes" + suffix);
    EXPECT_EQ(patch[1].at("path"), "/spec/template/spec/containers/0/volumeMounts" + suffix);
    const auto& volume = t.gateway ? patch[0].at("value") : patch[0].at("value").at(0);
    const auto& mount = t.gateway ? patch[1].at("value") : patch[1].at("value").at(0);
    EXPECT_EQ(volume.at("configMap").at("name"), "egresslab-public-ca");
    EXPECT_EQ(mount.at("name"), volume.at("name"));
    EXPECT_EQ(mount.at("mountPath"), "/etc/ssl/certs/ca-certificates.crt");
    EXPECT_EQ(mount.at("subPath"), "ca-certificates.crt");
  }
  // One ConfigMap per namespace.
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& l) {
                            return l.find("create configmap egresslab-public-ca") !=
                                   std::string::npos;
                          }),
            2);
}

// The seed scenario's text with `edit` applied, loaded from a temp directory (fixture paths
// made absolute).
Result<model::Scenario> loadEditedSeed(const std::function<std::string(std::string)>& edit,
                                       const std::filesystem::path& dir) {
  std::string text = testing::readFile(kSource / "scenarios" / "seed-httpbin.yaml");
  for (auto at = text.find("../fixtures"); at != std::string::npos;
       at = text.find("../fixtures", at + 1)) {
    text.replace(at, 11, (kSource / "fixtures").string());
  }
  const auto file = dir / "seed.yaml";
  std::ofstream(file) << edit(text);
  return model::loadScenario(file);
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// `istio.install` (issue 13 §1): a typo gets a did-you-mean, a method the version lacks is an
// error at the key; `secrets[].caCertificate` is true or a PEM file that must exist.
TEST(KindScenarioKeysTest, InstallAndCaCertificateLoadWithPositions) {
  testing::TempDir dir;
  auto typo = loadEditedSeed(
      [](std::string t) { return replaced(t, "install: operator", "install: operater"); },
      dir.path());
  ASSERT_FALSE(typo);
  EXPECT_THAT(typo.error().str(), HasSubstr("seed.yaml:12:12: invalid value \"operater\" for "
                                            "istio.install; valid values: operator, istioctl, "
                                            "helm (did you mean \"operator\"?)"));
  auto removed = loadEditedSeed(
      [](std::string t) { return replaced(t, "version: \"1.8.0\"", "version: \"1.24.1\""); },
      dir.path());
  ASSERT_FALSE(removed);
  EXPECT_THAT(removed.error().str(), HasSubstr("seed.yaml:12:12: install: operator — the "
                                               "in-cluster operator was removed in 1.24"));
  auto none = loadEditedSeed([](std::string t) { return replaced(t, "  install: operator\n", ""); },
                             dir.path());
  ASSERT_TRUE(none) << none.error().str();
  EXPECT_FALSE(none->install);
  EXPECT_EQ(none->installMethod(), model::InstallMethod::kOperator);  // 1.8's default
  auto withCa = loadEditedSeed(
      [](std::string t) {
        return replaced(t, "hosts: [<my-proxied-service-hostname>]}",
                        "hosts: [<my-proxied-service-hostname>], caCertificate: true}");
      },
      dir.path());
  ASSERT_TRUE(withCa) << withCa.error().str();
  EXPECT_TRUE(withCa->secrets.at(0).caCertificate);
  EXPECT_TRUE(withCa->secrets.at(0).caFile.empty());
  auto missingFile = loadEditedSeed(
      [](std::string t) {
        return replaced(t, "hosts: [<my-proxied-service-hostname>]}",
                        "hosts: [<my-proxied-service-hostname>], caCertificate: client-ca.pem}");
      },
      dir.path());
  ASSERT_FALSE(missingFile);
  EXPECT_THAT(missingFile.error().str(),
              HasSubstr("CA certificate file \"client-ca.pem\" not found"));
  std::ofstream(dir.path() / "client-ca.pem") << "-----BEGIN CERTIFICATE-----\n";
  auto withFile = loadEditedSeed(
      [](std::string t) {
        return replaced(t, "hosts: [<my-proxied-service-hostname>]}",
                        "hosts: [<my-proxied-service-hostname>], caCertificate: client-ca.pem}");
      },
      dir.path());
  ASSERT_TRUE(withFile) << withFile.error().str();
  EXPECT_EQ(withFile->secrets.at(0).caFile, dir.path() / "client-ca.pem");
}

TEST(KindPlanTest, ReuseAndContextSkipClusterCreation) {
  auto options = testOptions();
  options.reuseCluster = true;
  auto plan = buildPlan(seedScenario(), options);
  ASSERT_TRUE(plan);
  EXPECT_EQ((*plan)[4].display(),
            "kind export kubeconfig --name egresslab --kubeconfig /run/kubeconfig");
  options.reuseCluster = false;
  options.context = "prod-like";
  plan = buildPlan(seedScenario(), options);
  ASSERT_TRUE(plan);
  EXPECT_EQ((*plan)[4].display(),
            "kubectl --context prod-like -n kube-system rollout status deploy/coredns "
            "--timeout=120s");
}

TEST(KindPodCurlTest, ArgvCarriesRequestIdAndStatusSuffix) {
  auto command = curl::parseCurlCommandLine("-sS http://httpbin.example.com/status/200");
  ASSERT_TRUE(command);
  EXPECT_EQ(fmt::format("{}", fmt::join(podCurlArgv(*command, "httpbin/sleep", "id-1"), " ")),
            "kubectl exec -n httpbin deploy/sleep -c sleep -- curl -s -S "
            "http://httpbin.example.com/status/200 -H x-request-id:id-1 -w "
            "\\n%{local_ip}:%{local_port} %{http_code} %{exitcode}");
}

TEST(KindPodCurlTest, ParsesStatusAndExitFromOutput) {
  auto ok = parsePodCurlOutput("{\"ok\":true}\n10.244.0.7:40312 200 0");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->exitCode, 0);
  EXPECT_EQ(ok->body, "{\"ok\":true}");
  EXPECT_EQ(ok->localAddress, "10.244.0.7:40312");
  auto failed = parsePodCurlOutput("\n10.244.0.7:40314 000 35");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 0);
  EXPECT_EQ(failed->exitCode, 35);
  EXPECT_EQ(failed->localAddress, "10.244.0.7:40314");
  // Never connected (exit 6): curl prints an empty local address and port 0.
  auto unresolved = parsePodCurlOutput("\n:0 000 6");
  ASSERT_TRUE(unresolved);
  EXPECT_EQ(unresolved->exitCode, 6);
  EXPECT_EQ(unresolved->localAddress, "");
  EXPECT_FALSE(parsePodCurlOutput("error: unable to upgrade connection"));
  EXPECT_FALSE(parsePodCurlOutput("{}\n200 0"));
}

std::string logLine(mesh::AccessLogFormatVersion format, const std::string& version,
                    const std::string& id, mesh::ResponseFlags flags, std::uint32_t code) {
  mesh::AccessLogEntry e;
  // Now: the backend reads only lines that started with the step (older ones are other
  // requests').
  e.startTime = std::chrono::system_clock::now();
  e.method = "GET";
  e.path = "/status/200";
  e.responseCode = code;
  e.flags = flags;
  e.requestId = id;
  e.authority = "httpbin.example.com";
  return mesh::formatAccessLog(format, e, *model::IstioVersion::parse(version));
}

// §9: the flags column sits after the response code in the 1.8 and 1.23 TEXT formats.
TEST(KindAccessLogTest, FlagsFromThe18And123Formats_S9) {
  for (auto [format, version] : {std::pair{mesh::AccessLogFormatVersion::kIstio18, "1.8.0"},
                                 std::pair{mesh::AccessLogFormatVersion::kIstio123, "1.23.0"}}) {
    const auto nr = logLine(format, version, "req-7", mesh::ResponseFlag::kNR, 404);
    auto m = matchAccessLogLine(nr, "req-7");
    ASSERT_TRUE(m) << nr;
    EXPECT_EQ(m->flags, "NR") << nr;
    EXPECT_EQ(m->responseCode, 404);
    EXPECT_FALSE(matchAccessLogLine(nr, "req-8"));
    const auto none = logLine(format, version, "req-9", {}, 200);
    ASSERT_TRUE(matchAccessLogLine(none, "req-9"));
    EXPECT_EQ(matchAccessLogLine(none, "req-9")->flags, "-");
  }
}

class KindBackendTest : public ::testing::Test {
 protected:
  std::shared_ptr<RecordingCommandRunner> runner = std::make_shared<RecordingCommandRunner>();
  void answerUpstreams() {
    runner->answer({"docker", "network", "inspect"}, {.out = "127.0.0.1 \n"});
  }
};

TEST_F(KindBackendTest, DryRunPlansEverythingAndRunsNothing) {
  runner->uninstall("kind");
  runner->uninstall("kubectl");
  KindBackend backend(runner, testOptions());
  backend::RunOptions options;
  options.dryRun = true;
  ASSERT_TRUE(backend.up(seedScenario(), options));
  backend::CurlRequest pod;
  pod.command = *curl::parseCurlCommandLine("-sS http://httpbin.example.com/status/200");
  pod.from = "httpbin/sleep";
  pod.requestId = "ignored";
  ASSERT_TRUE(backend.curl(pod));
  backend.down();
  EXPECT_TRUE(runner->recorded().empty());
  const auto plan = backend.plan();
  EXPECT_EQ(plan.front(), "docker info --format {{.ServerVersion}}");
  EXPECT_THAT(plan, ::testing::Contains(
                        HasSubstr("kubectl exec -n httpbin deploy/sleep -c sleep -- curl -s -S")));
  EXPECT_THAT(
      plan, ::testing::Contains("kubectl -n httpbin logs deploy/sleep -c istio-proxy --since=10m"));
  EXPECT_EQ(plan.back(), "kind delete cluster --name egresslab --kubeconfig /run/kubeconfig");
}

TEST_F(KindBackendTest, MissingToolIsBackendUnavailableNamingIt) {
  runner->answer({"istioctl", "version"}, {.out = "1.8.0\n"});
  runner->answer({"docker", "info"}, {.out = "24.0.5\n"});
  runner->answer({"kind", "version"}, {.out = "kind v0.20.0 go1.20.4 linux/amd64\n"});
  runner->answer({"kubectl", "version"},
                 {.out = R"({"clientVersion":{"gitVersion":"v1.27.3","major":"1","minor":"27"}})"});
  runner->uninstall("kind");
  KindBackend backend(runner, testOptions());
  auto up = backend.up(seedScenario(), {});
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().kind, ErrorKind::kBackendUnavailable);
  EXPECT_THAT(up.error().message, HasSubstr("kind"));
  backend.down();
  for (const auto& line : runner->displays())
    EXPECT_THAT(line, ::testing::Not(HasSubstr("create")));
}

// Issue 13 §7: `istio.version: "1.22"` is 1.22.0, but the IstioOperator says `tag: 1.22.3`:
// the missing-istioctl hint names the patch that will be installed.
TEST_F(KindBackendTest, MissingIstioctlHintNamesTheTagsPatch) {
  runner->answer({"docker", "info"}, {.out = "24.0.5\n"});
  runner->answer({"kind", "version"}, {.out = "kind v0.20.0 go1.20.4 linux/amd64\n"});
  runner->answer({"kubectl", "version"},
                 {.out = R"({"clientVersion":{"gitVersion":"v1.27.3","major":"1","minor":"27"}})"});
  runner->uninstall("istioctl");
  auto scenario = seedScenario();
  scenario.istioVersion = *model::IstioVersion::parse("1.22");
  scenario.resources.istioOperators[0].tag = "1.22.3";
  KindBackend backend(runner, testOptions());
  auto up = backend.up(scenario, {});
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().kind, ErrorKind::kBackendUnavailable);
  EXPECT_THAT(up.error().message, HasSubstr("istioctl-1.22.3-linux-amd64.tar.gz"));
  EXPECT_THAT(up.error().message, ::testing::Not(HasSubstr("1.22.0")));
  backend.down();
}

void answerPreflight(RecordingCommandRunner& runner, const std::string& istio = "1.8.0") {
  runner.answer({"istioctl", "version"}, {.out = istio + "\n"});
  runner.answer({"docker", "info"}, {.out = "24.0.5\n"});
  runner.answer({"kind", "version"}, {.out = "kind v0.20.0 go1.20.4 linux/amd64\n"});
  runner.answer({"kubectl", "version"},
                {.out = R"({"clientVersion":{"gitVersion":"v1.27.3","major":"1","minor":"27"}})"});
}

TEST_F(KindBackendTest, UpRunsThePlanInOrderAndTeardownDeletesTheCluster) {
  answerPreflight(*runner);
  answerUpstreams();
  runner->answer({"istioctl", "analyze"},
                 {.exitCode = 79,
                  .out = "Error [IST0101] (Gateway istio-system/my-ingressgateway) Referenced "
                         "credentialName not found\n"});
  runner->answer({"kubectl", "-n", "kube-system", "get", "configmap"},
                 {.out = ".:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n"});
  runner->answer({"kubectl", "get", "nodes"}, {.out = "egresslab-control-plane egresslab-worker"});
  KindBackend backend(runner, testOptions());
  auto scenario = seedScenario();
  auto up = backend.up(scenario, {});
  ASSERT_TRUE(up) << up.error().str();
  std::vector<std::string> seen;
  for (const auto& r : runner->recorded()) seen.push_back(r.command.display());
  // Exactly the plan, in order: preflight's four queries, then every planned command (a
  // pipeline recorded as its two stages), port-forwards started in the background; the
  // upstream mock is no process but the in-process server (checked below).
  auto plan = buildPlan(scenario, backend.options());
  ASSERT_TRUE(plan);
  std::string mockPort;  // the in-process mock's ephemeral port (endpoints, below)
  for (const auto& e : backend.endpoints()) {
    if (e.starts_with("httpbin.org:443")) mockPort = e.substr(e.rfind(':') + 1);
  }
  ASSERT_FALSE(mockPort.empty()) << fmt::format("{}", fmt::join(backend.endpoints(), "\n"));
  std::vector<std::string> expected;
  for (const auto& p : *plan) {
    if (p.mockUpstream >= 0) continue;
    if (p.perNode) {
      // Once per node, the captured values filled in.
      for (const std::string node : {"egresslab-control-plane", "egresslab-worker"}) {
        std::string line = p.display();
        for (const auto& [from, to] :
             std::vector<std::pair<std::string, std::string>>{{"${NODE}", node},
                                                              {"${KIND_GATEWAY}", "127.0.0.1"},
                                                              {"${MOCK_PORT_0}", mockPort}}) {
          line.replace(line.find(from), from.size(), to);
        }
        expected.push_back(line);
      }
      continue;
    }
    for (const auto& stage : p.stages) expected.push_back(stage.display());
  }
  EXPECT_EQ(seen, expected);
  // docs/design.md "More than one server per upstream": the server answers at the simulator's
  // address for it (httpbin.org has no `dns:` entry: the run's 198.51.10.10), DNATed to its mock.
  EXPECT_THAT(
      seen, ::testing::Contains("docker exec egresslab-worker iptables -t nat -I PREROUTING 1 -d "
                                "198.51.10.10/32 -p tcp --dport 443 -m comment --comment egresslab "
                                "httpbin.org -j DNAT --to-destination 127.0.0.1:" +
                                mockPort));
  EXPECT_THAT(seen, ::testing::Contains(HasSubstr("kind create cluster --name egresslab")));
  EXPECT_THAT(seen,
              ::testing::Contains("istioctl manifest generate -f " +
                                  (backend.options().runDir / "manifests/egress.yaml").string()));
  const auto dir = backend.options().runDir;
  EXPECT_TRUE(std::filesystem::exists(dir / "manifests/egress.yaml"));
  EXPECT_TRUE(std::filesystem::exists(dir / "secrets/istio-system/httpbin-credential.key"));
  // §4: the public CA the pods get as their OS bundle is the one that signs the mock's
  // certificate: curl with only that CA verifies the mock (httpbin.org on 127.0.0.1).
  ASSERT_TRUE(std::filesystem::exists(dir / "public-ca.crt"));
  auto verified = curl::parseCurlCommandLine(
      fmt::format("-sS --cacert {} --resolve httpbin.org:{}:127.0.0.1 https://httpbin.org:{}/get",
                  (dir / "public-ca.crt").string(), mockPort, mockPort));
  ASSERT_TRUE(verified);
  const auto trusted = curl::execute(*verified);
  EXPECT_EQ(trusted.exitCode, 0) << trusted.errorMessage;
  EXPECT_EQ(trusted.status, 200);
  // … and the scenario CA (ca.crt) does not: the two CAs stay distinct.
  auto other = curl::parseCurlCommandLine(
      fmt::format("-sS --cacert {} --resolve httpbin.org:{}:127.0.0.1 https://httpbin.org:{}/get",
                  (dir / "ca.crt").string(), mockPort, mockPort));
  ASSERT_TRUE(other);
  EXPECT_EQ(curl::execute(*other).exitCode, 60);
  // The trust ConfigMaps read the public CA from the run directory.
  EXPECT_THAT(seen, ::testing::Contains(HasSubstr("--from-file=ca-certificates.crt=" +
                                                  (dir / "public-ca.crt").string())));
  // The Corefile patch carries the hosts block: every record, a short TTL, no kind gateway.
  std::string corefile;
  for (const auto& r : runner->recorded()) {
    if (r.command.display() == "kubectl -n kube-system apply -f -") corefile = r.command.stdinData;
  }
  EXPECT_THAT(corefile, HasSubstr("203.0.113.10 httpbin.example.com"));
  EXPECT_THAT(corefile, HasSubstr("ttl 5\\n       203.0.113.10 httpbin.example.com\\n       "
                                  "198.51.10.10 httpbin.org\\n"));
  EXPECT_THAT(corefile, ::testing::Not(HasSubstr("127.0.0.1 httpbin.org")));
  EXPECT_EQ(runner->liveBackground(), 2);
  // istioctl analyze's findings are attached, never fatal.
  ASSERT_FALSE(backend.collectedDiagnostics().empty());
  EXPECT_EQ(backend.collectedDiagnostics().front().command, "istioctl analyze --all-namespaces");
  EXPECT_THAT(backend.collectedDiagnostics().front().output, HasSubstr("IST0101"));
  backend.down();
  EXPECT_EQ(runner->liveBackground(), 0);
  EXPECT_THAT(runner->displays().back(), HasSubstr("kind delete cluster --name egresslab"));
}

// Brings the seed up on the recording runner (mock upstream on an ephemeral port).
model::Scenario upSeed(KindBackend& backend, RecordingCommandRunner& runner,
                       const std::string& version = "1.8.0") {
  answerPreflight(runner, version);
  runner.answer({"docker", "network", "inspect"}, {.out = "127.0.0.1 \n"});
  runner.answer({"kubectl", "get", "nodes"}, {.out = "egresslab-control-plane"});
  runner.answer({"kubectl", "--context", "staging", "get", "nodes"},
                {.out = "egresslab-control-plane"});
  runner.answer({"kubectl", "-n", "kube-system", "get", "configmap"},
                {.out = ".:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n"});
  auto scenario = seedScenario(version);
  auto up = backend.up(scenario, {});
  EXPECT_TRUE(up) << up.error().str();
  return scenario;
}

TEST_F(KindBackendTest, UpOn124RunsIstioctlInstallWithTheWrittenOperator_S10) {
  KindBackend backend(runner, testOptions());
  upSeed(backend, *runner, "1.24.2");
  const auto seen = runner->displays();
  const auto file = backend.options().runDir / "manifests" / "operator.yaml";
  ASSERT_GE(seen.size(), 8u);
  EXPECT_EQ(seen[6], "istioctl install -y -f " + file.string());
  EXPECT_THAT(testing::readFile(file), HasSubstr("REGISTRY_ONLY"));
  for (const auto& line : seen) EXPECT_THAT(line, ::testing::Not(HasSubstr("operator init")));
  backend.down();
}

TEST_F(KindBackendTest, FailingCommandIsAnErrorWithItsStderrAndTeardownStillRuns) {
  runner->answer({"istioctl", "operator", "init"},
                 {.exitCode = 1, .err = "Error: failed to install operator: etcdserver timeout\n"});
  answerPreflight(*runner);
  KindBackend backend(runner, testOptions());
  auto up = backend.up(seedScenario(), {});
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().kind, ErrorKind::kEnvironment);
  EXPECT_THAT(up.error().message, HasSubstr("istioctl operator init"));
  EXPECT_THAT(up.error().message, HasSubstr("etcdserver timeout"));
  // Diagnostics were collected: pods, events, logs and proxy-config dumps.
  std::vector<std::string> diagnosed;
  for (const auto& d : backend.collectedDiagnostics()) diagnosed.push_back(d.command);
  EXPECT_THAT(diagnosed, ::testing::Contains("kubectl get pods -A -o wide"));
  EXPECT_THAT(diagnosed, ::testing::Contains(
                             "istioctl proxy-config all deploy/httpbin-egress -n httpbin -o json"));
  backend.down();
  EXPECT_THAT(runner->displays().back(), HasSubstr("kind delete cluster --name egresslab"));
  EXPECT_TRUE(std::filesystem::exists(backend.options().runDir / "diagnostics" / "00.txt"));
  std::filesystem::remove_all(backend.options().runDir);  // kept for the user after a failure
}

TEST_F(KindBackendTest, AlreadyExistingNamespaceIsFine) {
  runner->answer({"kubectl", "create", "ns"},
                 {.exitCode = 1, .err = "Error from server (AlreadyExists): namespaces exists\n"});
  KindBackend backend(runner, testOptions());
  upSeed(backend, *runner);
  backend.down();
}

TEST_F(KindBackendTest, KeepAndReuseLeaveTheClusterStanding) {
  for (int variant = 0; variant < 2; ++variant) {
    auto recording = std::make_shared<RecordingCommandRunner>();
    auto options = testOptions();
    (variant == 0 ? options.keep : options.reuseCluster) = true;
    KindBackend backend(recording, options);
    upSeed(backend, *recording);
    backend.down();
    for (const auto& line : recording->displays()) {
      EXPECT_THAT(line, ::testing::Not(HasSubstr("kind delete"))) << variant;
    }
    EXPECT_EQ(recording->liveBackground(), 0);
    if (variant == 0) {
      // --keep keeps the run directory (kubeconfig, keys) for the user.
      EXPECT_TRUE(std::filesystem::exists(kubeconfigPath(backend.options()).parent_path()));
      std::filesystem::remove_all(backend.options().runDir);
    }
  }
}

TEST_F(KindBackendTest, ContextModeTouchesNoKindClusterAndPassesTheContext) {
  auto options = testOptions();
  options.context = "staging";
  KindBackend backend(runner, options);
  upSeed(backend, *runner);
  backend.down();
  for (const auto& r : runner->recorded()) {
    const auto& argv = r.command.argv;
    EXPECT_FALSE(argv.front() == "kind" && argv.size() > 1 && argv[1] != "version")
        << r.command.display();
    if (argv.front() == "kubectl" && argv[1] != "version") {
      EXPECT_EQ(argv[1], "--context") << r.command.display();
    }
  }
  EXPECT_TRUE(std::filesystem::exists(backend.options().runDir / "secrets" / "istio-system" /
                                      "httpbin-credential.crt"));
}

TEST_F(KindBackendTest, PodCurlReadsStatusExitAndViaFlagsFromLogs_S9) {
  KindBackend backend(runner, testOptions());
  backend.setAccessLogWait(std::chrono::milliseconds(0));
  upSeed(backend, *runner);
  const std::string id = "0b7c3d1e-1111-4222-8333-444455556666";
  using mesh::AccessLogFormatVersion;
  runner->answer({"kubectl", "exec", "-n", "httpbin", "deploy/sleep"},
                 {.out = "{\"url\": \"x\"}\n10.244.0.7:40312 200 0"});
  runner->answer({"kubectl", "-n", "httpbin", "logs", "deploy/sleep", "-c", "istio-proxy"},
                 {.out = "other line\n" +
                         logLine(AccessLogFormatVersion::kIstio18, "1.8.0", id, {}, 200) + "\n"});
  auto egress = logLine(AccessLogFormatVersion::kIstio18, "1.8.0", id, {}, 200);
  runner->answer({"kubectl", "-n", "httpbin", "logs", "deploy/httpbin-egress"}, {.out = egress});
  backend::CurlRequest request;
  request.command = *curl::parseCurlCommandLine("-sS http://httpbin.example.com/status/200");
  request.from = "httpbin/sleep";
  request.requestId = id;
  auto observed = backend.curl(request);
  ASSERT_TRUE(observed) << observed.error().str();
  EXPECT_EQ(observed->status, 200);
  EXPECT_EQ(observed->exit, 0);
  EXPECT_EQ(observed->body, "{\"url\": \"x\"}");
  EXPECT_THAT(observed->via, ElementsAre("sleep", "httpbin-egress"));
  EXPECT_EQ(observed->flags.at("sleep"), "-");
  EXPECT_EQ(observed->accessLog.size(), 2u);
  // The exec carried the request id; the fake's exit-code line was read, not curl's stderr.
  bool sent = false;
  for (const auto& line : runner->displays()) {
    sent = sent || line.find("-H x-request-id:" + id) != std::string::npos;
  }
  EXPECT_TRUE(sent);

  runner->answer({"kubectl", "exec"},
                 {.out = "\n10.244.0.7:40314 000 35", .err = "curl: (35) SSL_ERROR"});
  request.command = *curl::parseCurlCommandLine("-sS https://unregistered.example.com/");
  observed = backend.curl(request);
  ASSERT_TRUE(observed);
  EXPECT_EQ(observed->exit, 35);
  EXPECT_FALSE(observed->status.has_value());
  EXPECT_THAT(observed->curlError, HasSubstr("(35)"));

  runner->answer({"kubectl", "exec"}, {.exitCode = 1, .err = "error: pod not found"});
  EXPECT_FALSE(backend.curl(request));
  backend.down();
}

TEST_F(KindBackendTest, DroppedPortForwardIsRestartedBeforeAHostCurl) {
  KindBackend backend(runner, testOptions());
  backend.setAccessLogWait(std::chrono::milliseconds(0));
  upSeed(backend, *runner);
  EXPECT_EQ(runner->liveBackground(), 2);
  runner->dropBackground();
  EXPECT_EQ(runner->liveBackground(), 0);
  backend::CurlRequest request;
  // A closed loopback port: curl exits 7 at once, nothing leaves 127.0.0.0/8.
  request.command = *curl::parseCurlCommandLine("-sS http://127.0.0.1:1/status/200");
  request.requestId = "id-host";
  auto observed = backend.curl(request);
  ASSERT_TRUE(observed) << observed.error().str();
  EXPECT_EQ(observed->exit, 7);
  EXPECT_EQ(runner->liveBackground(), 2);
  backend.down();
  EXPECT_EQ(runner->liveBackground(), 0);
}

TEST_F(KindBackendTest, GatewayKillScalesToZeroAndRestoreWaits) {
  KindBackend backend(runner, testOptions());
  upSeed(backend, *runner);
  const auto before = runner->displays().size();
  model::FaultSpec kill;
  kill.targetKind = model::FaultSpec::TargetKind::kGateway;
  kill.gatewayNamespace = "httpbin";
  kill.gatewayName = "httpbin-egress";
  kill.action = "kill";
  ASSERT_TRUE(backend.fault(kill));
  kill.action = "restore";
  ASSERT_TRUE(backend.fault(kill));
  auto seen = runner->displays();
  seen.erase(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(before));
  EXPECT_THAT(seen, ElementsAre("kubectl -n httpbin scale deploy/httpbin-egress --replicas=0",
                                "kubectl -n httpbin rollout status deploy/httpbin-egress "
                                "--timeout=300s",
                                "kubectl -n httpbin scale deploy/httpbin-egress --replicas=1",
                                "kubectl -n httpbin rollout status deploy/httpbin-egress "
                                "--timeout=300s"));
  backend.down();
}

// Every fault ends with the scenario: a gateway still killed at down() is scaled back up when
// the cluster outlives the run.
TEST_F(KindBackendTest, KilledGatewayIsRestoredAtDownWhenTheClusterStays) {
  auto recording = std::make_shared<RecordingCommandRunner>();
  auto options = testOptions();
  options.reuseCluster = true;
  KindBackend backend(recording, options);
  upSeed(backend, *recording);
  model::FaultSpec kill;
  kill.targetKind = model::FaultSpec::TargetKind::kGateway;
  kill.gatewayNamespace = "httpbin";
  kill.gatewayName = "httpbin-egress";
  kill.action = "kill";
  ASSERT_TRUE(backend.fault(kill));
  const auto before = recording->displays().size();
  backend.down();
  auto seen = recording->displays();
  seen.erase(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(before));
  EXPECT_THAT(seen, ::testing::Contains("kubectl -n httpbin scale deploy/httpbin-egress "
                                        "--replicas=1"));
}

// Issue 11: two servers of one host and port, each at its own address, are two mocks (two
// certificates, two ports), two DNAT rules, and two A records of the name in CoreDNS.
TEST_F(KindBackendTest, ServersSharingAHostAndPortAreDistinctEndpoints) {
  auto scenario = seedScenario();
  model::UpstreamSpec a{.host = "crm.legacy.example",
                        .port = 443,
                        .tls = true,
                        .name = "crm-a",
                        .address = "198.51.100.11",
                        .pos = {}};
  model::UpstreamSpec b = a;
  b.name = "crm-b";
  b.address = "198.51.100.12";
  scenario.upstreams = {a, b};
  scenario.dns["crm.legacy.example"] = "198.51.100.11";
  scenario.dnsAnswers["crm.legacy.example"] = {"198.51.100.11", "198.51.100.12"};
  answerPreflight(*runner);
  runner->answer({"docker", "network", "inspect"}, {.out = "127.0.0.1 \n"});
  runner->answer({"kubectl", "get", "nodes"}, {.out = "egresslab-control-plane"});
  runner->answer({"kubectl", "-n", "kube-system", "get", "configmap"},
                 {.out = ".:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n"});
  KindBackend backend(runner, testOptions());
  auto up = backend.up(scenario, {});
  ASSERT_TRUE(up) << up.error().str();
  std::vector<std::string> mocks;
  for (const auto& e : backend.endpoints()) {
    if (e.starts_with("crm.legacy.example:443")) mocks.push_back(e);
  }
  ASSERT_EQ(mocks.size(), 2u) << fmt::format("{}", fmt::join(backend.endpoints(), "\n"));
  EXPECT_THAT(mocks[0], HasSubstr("(crm-a)"));
  EXPECT_THAT(mocks[1], HasSubstr("(crm-b)"));
  EXPECT_NE(mocks[0].substr(mocks[0].rfind(':')), mocks[1].substr(mocks[1].rfind(':')));
  const auto dir = backend.options().runDir;
  EXPECT_TRUE(std::filesystem::exists(dir / "upstreams/crm.legacy.example-443-0.crt"));
  EXPECT_TRUE(std::filesystem::exists(dir / "upstreams/crm.legacy.example-443-1.crt"));
  int dnat = 0;
  for (const auto& line : runner->displays()) {
    dnat += line.find("-I PREROUTING 1 -d 198.51.100.1") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(dnat, 2);
  std::string corefile;
  for (const auto& r : runner->recorded()) {
    if (r.command.display() == "kubectl -n kube-system apply -f -") corefile = r.command.stdinData;
  }
  EXPECT_THAT(corefile, HasSubstr("198.51.100.11 crm.legacy.example\\n       198.51.100.12 "
                                  "crm.legacy.example\\n"));
  backend.down();
}

// The Corefile each `kubectl -n kube-system apply -f -` sent, in order (JSON-escaped).
std::vector<std::string> corefileApplies(const RecordingCommandRunner& runner) {
  std::vector<std::string> out;
  for (const auto& r : runner.recorded()) {
    if (r.command.display() == "kubectl -n kube-system apply -f -") {
      out.push_back(r.command.stdinData);
    }
  }
  return out;
}

// docs/kind.md "World faults", §R4: the world's DNS is CoreDNS's hosts block, so a `dns` fault
// rewrites it — NXDOMAIN and SERVFAIL as template rules for exactly that name, new answers as
// its hosts entries — and restarts CoreDNS; `up` and the scenario's end (on a cluster that
// stays) put the declared records back.
TEST_F(KindBackendTest, DnsFaultsRewriteCoreDnsAndAreUndoneAtTheEnd_R4) {
  auto options = testOptions();
  options.reuseCluster = true;  // the cluster outlives the run: every fault is undone
  KindBackend backend(runner, options);
  upSeed(backend, *runner);
  ASSERT_EQ(corefileApplies(*runner).size(), 1u);
  const auto before = runner->displays().size();

  auto nxdomain =
      model::parseFaultSpec("{target: dns/httpbin.org, action: dns, answer: nxdomain}", "t");
  ASSERT_TRUE(nxdomain);
  ASSERT_TRUE(backend.fault(*nxdomain));
  auto seen = runner->displays();
  seen.erase(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(before));
  EXPECT_THAT(seen, ElementsAre("kubectl -n kube-system apply -f -",
                                "kubectl -n kube-system rollout restart deploy/coredns",
                                "kubectl -n kube-system rollout status deploy/coredns "
                                "--timeout=300s"));
  auto applied = corefileApplies(*runner).back();
  EXPECT_THAT(applied, HasSubstr("template IN ANY httpbin.org {\\n       match "
                                 "\\\"^httpbin[.]org[.]$\\\"\\n       rcode NXDOMAIN\\n       "
                                 "fallthrough\\n    }\\n    hosts {"));
  EXPECT_THAT(applied, ::testing::Not(HasSubstr(" httpbin.org\\n")));   // no hosts entry left
  EXPECT_THAT(applied, HasSubstr("203.0.113.10 httpbin.example.com"));  // other names stay

  auto servfail =
      model::parseFaultSpec("{target: dns/httpbin.org, action: dns, answer: servfail}", "t");
  ASSERT_TRUE(servfail);
  ASSERT_TRUE(backend.fault(*servfail));
  EXPECT_THAT(corefileApplies(*runner).back(), HasSubstr("rcode SERVFAIL"));

  auto moved = model::parseFaultSpec(
      "{target: dns/httpbin.org, action: dns, answer: [198.51.100.7, 198.51.100.8]}", "t");
  ASSERT_TRUE(moved);
  ASSERT_TRUE(backend.fault(*moved));
  applied = corefileApplies(*runner).back();
  EXPECT_THAT(applied, HasSubstr("198.51.100.7 httpbin.org\\n       198.51.100.8 httpbin.org\\n"));
  EXPECT_THAT(applied, ::testing::Not(HasSubstr("template")));
  EXPECT_THAT(applied, ::testing::Not(HasSubstr("198.51.10.10 httpbin.org")));

  auto bad = model::parseFaultSpec("{target: dns/httpbin.org, action: down}", "t");
  if (bad) {
    EXPECT_FALSE(backend.fault(*bad));
  }

  backend.down();
  // The declared records again, and the DNAT rule taken out of the node.
  applied = corefileApplies(*runner).back();
  EXPECT_THAT(applied, HasSubstr("198.51.10.10 httpbin.org"));
  EXPECT_THAT(applied, ::testing::Not(HasSubstr("198.51.100.7")));
  EXPECT_THAT(runner->displays(),
              ::testing::Contains(::testing::StartsWith(
                  "docker exec egresslab-control-plane iptables -t nat -D PREROUTING -d "
                  "198.51.10.10/32 -p tcp --dport 443")));
}

// A fault's `ttl` ends exactly that fault after its time (scaled by --time-scale), on its own
// thread: an upstream fault at the in-process mock, a dns answer in CoreDNS, a killed gateway.
TEST_F(KindBackendTest, TtlEndsTheFaultAfterItsTime) {
  KindBackend backend(runner, testOptions());
  upSeed(backend, *runner);
  std::string mockPort;
  for (const auto& e : backend.endpoints()) {
    if (e.starts_with("httpbin.org:443")) mockPort = e.substr(e.rfind(':') + 1);
  }
  ASSERT_FALSE(mockPort.empty());
  const auto status = [&] {
    auto get = curl::parseCurlCommandLine(fmt::format(
        "-sS --cacert {} --resolve httpbin.org:{}:127.0.0.1 https://httpbin.org:{}/status/200",
        (backend.options().runDir / "public-ca.crt").string(), mockPort, mockPort));
    return curl::execute(*get).status;
  };
  ASSERT_EQ(status(), 200);
  auto lasting =
      model::parseFaultSpec("{target: upstream/httpbin.org, action: latency, ms: 1}", "t");
  auto brief = model::parseFaultSpec(
      "{target: upstream/httpbin.org, action: status, code: 503, ttl: 2s}", "t");
  ASSERT_TRUE(lasting && brief);
  ASSERT_TRUE(backend.fault(*lasting));
  ASSERT_TRUE(backend.fault(*brief));
  // Until the ttl (2 s; a loaded machine may take part of it to get here) the fault holds.
  const auto applied = std::chrono::steady_clock::now();
  const int during = status();
  if (std::chrono::steady_clock::now() - applied < std::chrono::milliseconds(1500)) {
    EXPECT_EQ(during, 503);
  }
  EXPECT_TRUE(testing::waitFor([&] { return status() == 200; }, std::chrono::seconds(30)));

  const auto applies = corefileApplies(*runner).size();
  auto dns = model::parseFaultSpec(
      "{target: dns/httpbin.org, action: dns, answer: nxdomain, ttl: 2s}", "t");
  ASSERT_TRUE(dns);
  ASSERT_TRUE(backend.fault(*dns));
  EXPECT_GE(corefileApplies(*runner).size(), applies + 1);
  ASSERT_TRUE(testing::waitFor([&] { return corefileApplies(*runner).size() == applies + 2; },
                               std::chrono::seconds(30)));
  EXPECT_THAT(corefileApplies(*runner).back(), ::testing::Not(HasSubstr("NXDOMAIN")));

  auto kill = model::parseFaultSpec(
      "{target: gateway/httpbin/httpbin-egress, action: kill, ttl: 200ms}", "t");
  ASSERT_TRUE(kill);
  ASSERT_TRUE(backend.fault(*kill));
  EXPECT_TRUE(testing::waitFor(
      [&] {
        const auto seen = runner->displays();
        return std::find(seen.begin(), seen.end(),
                         "kubectl -n httpbin scale deploy/httpbin-egress --replicas=1") !=
               seen.end();
      },
      std::chrono::seconds(20)));
  // A ttl still pending at down() is moot: down() does not wait for it.
  auto longer = model::parseFaultSpec("{target: upstream/httpbin.org, action: down, ttl: 1h}", "t");
  ASSERT_TRUE(longer);
  ASSERT_TRUE(backend.fault(*longer));
  backend.down();
}

// The dry run plans a ttl's end in the background, and plans dns faults.
TEST_F(KindBackendTest, DryRunPlansDnsFaultsAndTtlEnds) {
  KindBackend backend(runner, testOptions());
  backend::RunOptions options;
  options.dryRun = true;
  options.timeScale = 2;
  ASSERT_TRUE(backend.up(seedScenario(), options));
  auto fault = model::parseFaultSpec(
      "{target: upstream/httpbin.org, action: status, code: 503, ttl: 10s}", "t");
  ASSERT_TRUE(fault);
  ASSERT_TRUE(backend.fault(*fault));
  auto dns = model::parseFaultSpec(
      "{target: dns/httpbin.org, action: dns, answer: servfail, ttl: 4s}", "t");
  ASSERT_TRUE(dns);
  ASSERT_TRUE(backend.fault(*dns));
  backend.down();
  EXPECT_TRUE(runner->recorded().empty());
  const auto plan = backend.plan();
  EXPECT_THAT(plan, ::testing::Contains("after 5000ms (ttl of upstream/httpbin.org): curl -sS -f "
                                        "-XDELETE http://127.0.0.1:19000/faults"));
  EXPECT_THAT(plan, ::testing::Contains("kubectl -n kube-system rollout restart deploy/coredns"));
  EXPECT_THAT(plan, ::testing::Contains("after 2000ms (ttl of dns/httpbin.org): kubectl -n "
                                        "kube-system apply -f -"));
}

// The stand-in tools on a temp PATH through the real ProcessCommandRunner.
class KindBackendFakesTest : public ::testing::Test {
 protected:
  testing::FakeTools fakes;
  std::shared_ptr<ProcessCommandRunner> runner() {
    auto env = fakes.environment();
    env["EGRESSLAB_FAKE_ISTIOCTL_VERSION"] = "1.8.0";
    return std::make_shared<ProcessCommandRunner>(
        ProcessCommandRunner::Options{.searchPath = fakes.searchPath(), .environment = env});
  }
};

TEST_F(KindBackendFakesTest, SeedComesUpAndDownWithTheFakes) {
  fakes.script({"docker network inspect kind*\t0\t127.0.0.1\\n",
                "kubectl get nodes*\t0\tegresslab-control-plane",
                "kubectl -n istio-system port-forward*\t0\t\t300"});
  KindBackend backend(runner(), testOptions());
  auto scenario = seedScenario();
  auto up = backend.up(scenario, {});
  ASSERT_TRUE(up) << up.error().str();
  const auto log = fakes.log();
  ASSERT_GE(log.size(), 6u);
  EXPECT_THAT(log[4], HasSubstr("kind create cluster --name egresslab"));
  EXPECT_THAT(log,
              ::testing::Contains("istioctl operator init --watchedNamespaces=istio-operator"));
  EXPECT_THAT(log, ::testing::Contains(
                       "kubectl label namespace httpbin istio-injection=enabled --overwrite"));
  // The port-forwards run until teardown stops their process groups.
  ASSERT_TRUE(testing::waitFor([&] { return fakes.hungPids().size() == 4; }));
  backend.down();
  for (pid_t pid : fakes.hungPids()) {
    EXPECT_TRUE(testing::waitFor([&] { return testing::processGone(pid); })) << pid;
  }
  EXPECT_THAT(fakes.log().back(), HasSubstr("kind delete cluster --name egresslab"));
}

TEST_F(KindBackendFakesTest, HungCommandIsKilledAtItsTimeoutGroupIncluded) {
  fakes.script({"kind create cluster*\t0\t\t300"});
  auto options = testOptions();
  options.clusterWait = std::chrono::seconds(1);
  options.waitSlack = std::chrono::seconds(0);
  KindBackend backend(runner(), options);
  auto up = backend.up(seedScenario(), {});
  ASSERT_FALSE(up);
  EXPECT_THAT(up.error().message, HasSubstr("kind create cluster"));
  EXPECT_THAT(up.error().message, HasSubstr("timed out"));
  ASSERT_EQ(fakes.hungPids().size(), 2u);
  for (pid_t pid : fakes.hungPids()) EXPECT_TRUE(testing::processGone(pid)) << pid;
  backend.down();
  EXPECT_THAT(fakes.log().back(), HasSubstr("kind delete cluster --name egresslab"));
  std::filesystem::remove_all(backend.options().runDir);  // kept for the user after a failure
}

TEST_F(KindBackendFakesTest, MissingKubectlIsBackendUnavailableNamingIt) {
  testing::FakeTools partial({"kind", "istioctl", "docker"});
  auto env = partial.environment();
  env["EGRESSLAB_FAKE_ISTIOCTL_VERSION"] = "1.8.0";
  KindBackend backend(std::make_shared<ProcessCommandRunner>(ProcessCommandRunner::Options{
                          .searchPath = partial.searchPath(), .environment = env}),
                      testOptions());
  auto up = backend.up(seedScenario(), {});
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().kind, ErrorKind::kBackendUnavailable);
  EXPECT_THAT(up.error().message, HasSubstr("kubectl"));
  backend.down();
  for (const auto& line : partial.log()) EXPECT_THAT(line, ::testing::Not(HasSubstr("create")));
}

// `--dry-run --plan-dir` (issue 13 §1): every applied document and script is written beside a
// plan.sh that runs the planned commands in order, and the plan replays against the fakes.
TEST_F(KindBackendFakesTest, PlanDirWritesAPlanThatReplaysInOrder) {
  testing::TempDir out;
  const auto dir = out.path() / "plan";
  auto options = testOptions();
  options.runDir = "${RUN_DIR}";
  options.planDir = dir;
  options.mockPortBase = 20000;  // the default: plan.sh's mocks on fixed ports
  auto recording = std::make_shared<RecordingCommandRunner>();
  KindBackend backend(recording, options);
  backend::RunOptions run;
  run.dryRun = true;
  const auto scenario = seedScenario();
  ASSERT_TRUE(backend.up(scenario, run));
  backend::CurlRequest pod;
  pod.command = *curl::parseCurlCommandLine("-sS http://httpbin.example.com/status/200");
  pod.from = "httpbin/sleep";
  pod.line = "-sS http://httpbin.example.com/status/200";
  ASSERT_TRUE(backend.curl(pod));
  backend::CurlRequest host;
  host.command = *curl::parseCurlCommandLine("-sS http://127.0.0.1:1/status/200");
  host.line = "-sS http://127.0.0.1:1/status/200";
  ASSERT_TRUE(backend.curl(host));
  model::FaultSpec down;
  down.target = "upstream/httpbin.org";
  down.upstreamHost = "httpbin.org";
  down.action = "down";
  ASSERT_TRUE(backend.fault(down));
  model::FaultSpec kill;
  kill.targetKind = model::FaultSpec::TargetKind::kGateway;
  kill.target = "gateway/httpbin/httpbin-egress";
  kill.gatewayNamespace = "httpbin";
  kill.gatewayName = "httpbin-egress";
  kill.action = "kill";
  ASSERT_TRUE(backend.fault(kill));
  backend.down();
  EXPECT_TRUE(recording->recorded().empty());  // a dry run runs nothing

  // The run directory's files are there: a person's replay reads them.
  for (const char* file : {"plan.sh", "ca.crt", "public-ca.crt", "manifests/egress.yaml",
                           "secrets/istio-system/httpbin-credential.crt",
                           "secrets/istio-system/httpbin-credential.key",
                           "upstreams/httpbin.org-443.crt", "upstreams/httpbin.org-443.key"}) {
    EXPECT_TRUE(std::filesystem::exists(dir / file)) << file;
  }
  EXPECT_NE(
      std::filesystem::status(dir / "plan.sh").permissions() & std::filesystem::perms::owner_exec,
      std::filesystem::perms::none);
  EXPECT_EQ(
      std::filesystem::status(dir / "secrets/istio-system/httpbin-credential.key").permissions() &
          std::filesystem::perms::others_read,
      std::filesystem::perms::none);
  const std::string script = testing::readFile(dir / "plan.sh");
  EXPECT_THAT(script, HasSubstr("\nexport KUBECONFIG=\"${RUN_DIR}/kubeconfig\"\n"));

  // plan.sh holds every planned command in the plan's order, each stdin document as a
  // numbered file whose content is what the backend applies.
  auto plan = buildPlan(scenario, options);
  ASSERT_TRUE(plan);
  std::size_t at = 0;
  std::size_t documents = 0;
  for (std::size_t i = 0; i < plan->size(); ++i) {
    const auto& p = (*plan)[i];
    const std::string line = shellLine(p.stages.back().argv);
    const auto found = script.find(line, at);
    ASSERT_NE(found, std::string::npos) << "plan.sh lacks, in order: " << line;
    at = found;
    if (p.stdinSource == StdinSource::kLiteral && !p.stages.front().stdinData.empty()) {
      const auto file = std::find_if(
          std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator(),
          [&](const auto& e) {
            return e.path().filename().string().starts_with(fmt::format("{:02}-", i + 1));
          });
      ASSERT_NE(file, std::filesystem::directory_iterator()) << "no file for step " << i + 1;
      EXPECT_EQ(testing::readFile(file->path()), p.stages.front().stdinData) << file->path();
      EXPECT_THAT(script, HasSubstr("< \"${RUN_DIR}/" + file->path().filename().string() + "\""));
      ++documents;
    }
  }
  EXPECT_EQ(documents, 8u);  // the control-plane IOP, six manifests and the workload
  // The console names the files instead of a bare `kubectl apply -f -`.
  const auto lines = backend.plan();
  EXPECT_THAT(lines,
              ::testing::Contains("kubectl apply -f - < " + (dir / "09-operator.yaml").string()));
  EXPECT_THAT(lines, ::testing::Not(::testing::Contains("kubectl apply -f -")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("patch_corefile " + dir.string() + "/")));
  EXPECT_THAT(lines,
              ::testing::Contains(
                  "curl -sS -f -H Content-Type: application/json -XPOST -d {\"action\":\"down\"} "
                  "http://127.0.0.1:19000/faults"));

  // Replay: plan.sh against the stand-in tools runs to the end, in the plan's order.
  fakes.link("egresslab", std::filesystem::path(EGRESSLAB_FAKES_DIR) / "egresslab");
  {
    // curl too (the steps' host curls, the fault POSTs to the mock's control port).
    const auto wrapper = fakes.dir() / "curl-fake";
    std::ofstream(wrapper) << "#!/bin/bash\nexec " << EGRESSLAB_FAKES_DIR
                           << "/fake-tool.sh curl \"$@\"\n";
    std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
    fakes.link("curl", wrapper);
  }
  fakes.script({"docker network inspect kind*\t0\t172.18.0.1 \\n",
                "kubectl get nodes*\t0\tegresslab-control-plane",
                "kubectl -n kube-system get configmap coredns*\t0\t.:53 {\\n    errors\\n    "
                "forward . /etc/resolv.conf\\n}\\n",
                "kubectl exec *\t0\t{}\\n10.244.0.7:40312 200 0"});
  auto env = fakes.environment();
  env["EGRESSLAB_FAKE_ISTIOCTL_VERSION"] = "1.8.0";
  ProcessCommandRunner shell(ProcessCommandRunner::Options{
      .searchPath = fakes.searchPath() + ":/usr/bin:/bin", .environment = env});
  Command replay;
  replay.argv = {"bash", (dir / "plan.sh").string()};
  replay.timeout = std::chrono::seconds(120);
  auto replayed = shell.run(replay);
  ASSERT_TRUE(replayed) << replayed.error().str();
  EXPECT_TRUE(replayed->ok()) << replayed->describe() << "\n" << replayed->out;
  const auto log = fakes.log();
  std::size_t next = 0;
  for (const std::string& want : std::vector<std::string>{
           "kind create cluster --name egresslab", "istioctl operator init", "kubectl apply -f -",
           "istioctl manifest generate -f " + (dir / "manifests/egress.yaml").string(),
           "kubectl create -n istio-system secret tls httpbin-credential",
           "docker network inspect kind",
           "docker exec egresslab-control-plane iptables -t nat -I PREROUTING 1 -d "
           "198.51.10.10/32 -p tcp --dport 443 -m comment --comment egresslab\\ httpbin.org -j "
           "DNAT --to-destination 172.18.0.1:20000",
           "kubectl -n kube-system apply -f -", "istioctl analyze --all-namespaces",
           "kubectl exec -n httpbin deploy/sleep -c sleep -- curl",
           "curl -s -S http://127.0.0.1:1/status/200 -H x-request-id:",
           "curl -sS -f -H Content-Type:\\ application/json -XPOST -d "
           "\\{\\\"action\\\":\\\"down\\\"\\} http://127.0.0.1:19000/faults",
           "kubectl -n httpbin scale deploy/httpbin-egress --replicas=0",
           "kind delete cluster --name egresslab"}) {
    const auto it = std::find_if(log.begin() + static_cast<std::ptrdiff_t>(next), log.end(),
                                 [&](const std::string& l) { return l.starts_with(want); });
    ASSERT_NE(it, log.end()) << "the replay lacks, in order: " << want << "\n"
                             << fmt::format("{}", fmt::join(log, "\n"));
    next = static_cast<std::size_t>(it - log.begin()) + 1;
  }
  // Background processes (the mock, the port-forwards) log when they get to it: no order.
  for (const std::string& want :
       {"egresslab mock httpbin --listen 172.18.0.1:20000 --tls-cert " +
            (dir / "upstreams/httpbin.org-443.crt").string(),
        std::string("kubectl -n istio-system port-forward svc/istio-ingressgateway 15443:443")}) {
    EXPECT_THAT(log, ::testing::Contains(::testing::StartsWith(want)));
  }
  // The Corefile got the hosts block, the kind gateway address filled in.
  const std::string corefile = testing::readFile(dir / "Corefile.patched");
  EXPECT_THAT(corefile, HasSubstr(".:53 {\n    # egresslab hosts begin\n    hosts {\n"
                                  "       ttl 5\n       203.0.113.10 httpbin.example.com\n"
                                  "       198.51.10.10 httpbin.org\n"));
  EXPECT_THAT(corefile, HasSubstr("203.0.113.10 httpbin.example.com"));
  EXPECT_THAT(corefile, HasSubstr("fallthrough\n    }\n    # egresslab hosts end\n    errors"));
}

// SIGINT mid-run (issue 6 §2.10): the hung command's group is killed at once, up() fails,
// teardown deletes the cluster, and no child is left.
TEST_F(KindBackendFakesTest, SigintMidRunKillsChildrenAndTeardownRuns) {
  fakes.script({"kubectl -n kube-system rollout status*\t0\t\t300"});
  KindBackend backend(runner(), testOptions());
  std::thread interrupter([&] {
    if (testing::waitFor([&] { return fakes.hungPids().size() == 2; }, std::chrono::seconds(30))) {
      ::kill(::getpid(), SIGINT);
    }
  });
  auto up = backend.up(seedScenario(), {});
  interrupter.join();
  ASSERT_FALSE(up);
  EXPECT_THAT(up.error().message, HasSubstr("rollout status deploy/coredns"));
  for (pid_t pid : fakes.hungPids()) {
    EXPECT_TRUE(testing::waitFor([&] { return testing::processGone(pid); })) << pid;
  }
  backend.down();
  EXPECT_THAT(fakes.log().back(), HasSubstr("kind delete cluster --name egresslab"));
  EXPECT_TRUE(ProcessGroupRegistry::instance().live().empty());
  std::filesystem::remove_all(backend.options().runDir);
}

// A real port-forward stand-in: the fake's port-forward exits at once, so the wait restarts
// it until the deadline and then names it (a listener that never comes is an error, not a hang).
TEST_F(KindBackendFakesTest, PortForwardThatNeverListensIsAnErrorAtItsDeadline) {
  fakes.script({"docker network inspect kind*\t0\t127.0.0.1\\n",
                "kubectl get nodes*\t0\tegresslab-control-plane"});
  auto options = testOptions();
  options.portForwardReady = std::chrono::milliseconds(300);
  KindBackend backend(runner(), options);
  auto scenario = seedScenario();
  scenario.portForwards.resize(1);
  scenario.portForwards[0].local = 1;  // nothing listens on 127.0.0.1:1
  auto up = backend.up(scenario, {});
  ASSERT_FALSE(up);
  EXPECT_THAT(up.error().message, HasSubstr("did not accept connections on 127.0.0.1:1"));
  backend.down();
  std::filesystem::remove_all(backend.options().runDir);
}

}  // namespace
}  // namespace egresslab::kind
