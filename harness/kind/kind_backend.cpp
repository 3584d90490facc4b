#include "harness/kind/kind_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "harness/curl/execute.h"
#include "harness/kind/preflight.h"
#include "harness/kind/process_groups.h"
#include "harness/model/loader.h"
#include "harness/pki/pki.h"
#include "mocks/httpbin/httpbin_server.h"

#ifndef EGRESSLAB_KIND_FIXTURES_DIR
#define EGRESSLAB_KIND_FIXTURES_DIR "fixtures/kind"
#endif

namespace egresslab::kind {
namespace {

const std::set<std::string> kPreexistingNamespaces{
    "default", "kube-system", "kube-public", "kube-node-lease", "istio-system", "istio-operator"};

Result<std::string> readText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalidInput("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// YAML documents of a file, split at `---` lines (the manifests are plain multi-doc YAML).
std::vector<std::string> splitDocuments(const std::string& text) {
  std::vector<std::string> docs;
  std::string current;
  std::istringstream in(text);
  std::string line;
  const std::regex separator(R"(^---\s*$)");
  while (std::getline(in, line)) {
    if (std::regex_match(line, separator)) {
      docs.push_back(std::move(current));
      current.clear();
      continue;
    }
    current += line + "\n";
  }
  docs.push_back(std::move(current));
  std::erase_if(docs, [](const std::string& d) {
    return std::all_of(d.begin(), d.end(), [](char c) { return std::isspace(c) != 0; }) ||
           d.find_first_not_of(" \t\r\n") == std::string::npos;
  });
  return docs;
}

std::string documentKind(const std::string& doc) {
  static const std::regex kindLine(R"re((^|\n)kind:\s*"?([A-Za-z]+)"?)re");
  std::smatch m;
  if (std::regex_search(doc, m, kindLine)) return m[2].str();
  return {};
}

bool isGatewayOnlyOperator(const std::string& doc) {
  static const std::regex emptyProfile(R"re(\n\s+profile:\s*"?empty"?\s*\n)re");
  return std::regex_search("\n" + doc, emptyProfile);
}

std::string seconds(std::chrono::seconds s) { return fmt::format("{}s", s.count()); }

std::string joinDocuments(const std::vector<std::string>& docs) {
  std::string out;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    if (i > 0) out += "---\n";
    out += docs[i];
  }
  return out;
}

void addUnique(std::vector<std::string>& list, const std::string& value) {
  if (value.empty()) return;
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

// Builds the commands; kubectl/istioctl get the run's kubeconfig (or --context).
class PlanWriter {
 public:
  PlanWriter(const KindOptions& options, std::vector<PlannedCommand>& out)
      : options_(options), out_(out) {}

  Command tool(std::vector<std::string> argv) const {
    Command c;
    if (options_.context && (argv.front() == "kubectl" || argv.front() == "istioctl")) {
      argv.insert(argv.begin() + 1, {"--context", *options_.context});
    } else if (argv.front() == "kubectl" || argv.front() == "istioctl") {
      c.env["KUBECONFIG"] = kubeconfigPath(options_).string();
    }
    c.argv = std::move(argv);
    c.timeout = options_.commandTimeout;
    return c;
  }

  PlannedCommand& add(Phase phase, std::vector<std::string> argv, std::string waitsFor = {},
                      std::optional<std::chrono::seconds> timeout = std::nullopt) {
    PlannedCommand p;
    p.phase = phase;
    p.stages.push_back(tool(std::move(argv)));
    // A waiting command gets its own deadline plus slack for kubectl to report it.
    if (timeout) p.stages.back().timeout = *timeout + options_.waitSlack;
    p.waitsFor = std::move(waitsFor);
    out_.push_back(std::move(p));
    return out_.back();
  }

 private:
  const KindOptions& options_;
  std::vector<PlannedCommand>& out_;
};

std::string renderWorkload(const std::string& tmpl, const model::WorkloadSpec& w) {
  std::string text;
  std::istringstream in(tmpl);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("#")) continue;
    if (!w.injected && (line.find("<inject>") != std::string::npos ||
                        line.find("annotations:") != std::string::npos)) {
      continue;
    }
    text += line + "\n";
  }
  const std::map<std::string, std::string> vars{
      {"<workload-name>", w.name},
      {"<namespace>", w.ns},
      {"<service-account>", w.serviceAccount.empty() ? w.name : w.serviceAccount},
      {"<inject>", w.injected.value_or(true) ? "true" : "false"}};
  for (const auto& [key, value] : vars) {
    for (auto at = text.find(key); at != std::string::npos;
         at = text.find(key, at + value.size())) {
      text.replace(at, key.size(), value);
    }
  }
  return text;
}

}  // namespace

std::string PlannedCommand::display() const {
  std::vector<std::string> parts;
  for (const auto& s : stages) parts.push_back(s.display());
  return fmt::format("{}", fmt::join(parts, " | "));
}

std::filesystem::path defaultFixturesDir() {
  if (const char* dir = std::getenv("EGRESSLAB_FIXTURES_DIR"); dir != nullptr && *dir != '\0') {
    return std::filesystem::path(dir) / "kind";
  }
  return EGRESSLAB_KIND_FIXTURES_DIR;
}

std::filesystem::path kubeconfigPath(const KindOptions& options) {
  return options.runDir / "kubeconfig";
}

std::vector<ProxyRef> proxiesOf(const model::Scenario& scenario) {
  std::vector<ProxyRef> proxies;
  const auto addGateway = [&](const model::GatewayComponent& g) {
    if (g.enabled == false) return;
    for (const auto& p : proxies) {
      if (p.ns == g.ns && p.deployment == g.name) return;
    }
    proxies.push_back({g.ns.empty() ? "istio-system" : g.ns, g.name, false});
  };
  for (const auto& iop : scenario.resources.istioOperators) {
    // The default profile installs istio-ingressgateway (§10); `empty` installs only what it lists.
    const bool defaultProfile =
        iop.profile.empty() || iop.profile == "default" || iop.profile == "demo";
    bool listsDefaultIngress = false;
    for (const auto& g : iop.ingressGateways) {
      if (g.name == "istio-ingressgateway") listsDefaultIngress = true;
    }
    if (defaultProfile && !listsDefaultIngress) {
      model::GatewayComponent ingress;
      ingress.name = "istio-ingressgateway";
      ingress.ns = "istio-system";
      addGateway(ingress);
    }
    for (const auto& g : iop.ingressGateways) addGateway(g);
    for (const auto& g : iop.egressGateways) addGateway(g);
  }
  for (const auto& w : scenario.workloads) {
    if (w.injected.value_or(true)) proxies.push_back({w.ns, w.name, true});
  }
  return proxies;
}

std::filesystem::path publicCaPath(const KindOptions& options) {
  return options.runDir / "public-ca.crt";
}

std::string trustBundlePatch(bool appendToExisting) {
  const nlohmann::json volume = {{"name", std::string(kPublicCaConfigMap)},
                                 {"configMap", {{"name", std::string(kPublicCaConfigMap)}}}};
  // subPath: only the bundle file is replaced; the rest of /etc/ssl/certs stays as it is.
  const nlohmann::json mount = {{"name", std::string(kPublicCaConfigMap)},
                                {"mountPath", std::string(kSystemBundlePath)},
                                {"subPath", "ca-certificates.crt"},
                                {"readOnly", true}};
  nlohmann::json patch = nlohmann::json::array();
  if (appendToExisting) {
    patch.push_back({{"op", "add"}, {"path", "/spec/template/spec/volumes/-"}, {"value", volume}});
    patch.push_back({{"op", "add"},
                     {"path", "/spec/template/spec/containers/0/volumeMounts/-"},
                     {"value", mount}});
  } else {
    patch.push_back({{"op", "add"},
                     {"path", "/spec/template/spec/volumes"},
                     {"value", nlohmann::json::array({volume})}});
    patch.push_back({{"op", "add"},
                     {"path", "/spec/template/spec/containers/0/volumeMounts"},
                     {"value", nlohmann::json::array({mount})}});
  }
  return patch.dump();
}

Result<std::vector<PlannedCommand>> buildPlan(const model::Scenario& scenario,
                                              const KindOptions& options) {
  std::vector<PlannedCommand> plan;
  PlanWriter w(options, plan);
  const std::string cluster =
      options.clusterName.empty() ? scenario.cluster.name : options.clusterName;
  const std::filesystem::path config =
      options.clusterConfig.empty() ? scenario.cluster.config : options.clusterConfig;
  const std::string kubeconfig = kubeconfigPath(options).string();
  const auto readiness = options.readinessTimeout;
  const std::string readinessFlag = "--timeout=" + seconds(readiness);

  // 1. Preflight (docs/kind.md "egresslab doctor"): up() runs runPreflight for these.
  w.add(Phase::kPreflight, {"docker", "info", "--format", "{{.ServerVersion}}"});
  w.add(Phase::kPreflight, {"kind", "version"});
  w.add(Phase::kPreflight, {"kubectl", "version", "--client", "-o", "json"});
  w.add(Phase::kPreflight, {"istioctl", "version", "--remote=false"});

  // 2. Cluster. `--wait` covers the control plane only (harness-anchors §7): wait for CoreDNS.
  if (!options.context) {
    if (options.reuseCluster) {
      w.add(Phase::kCluster,
            {"kind", "export", "kubeconfig", "--name", cluster, "--kubeconfig", kubeconfig});
    } else {
      std::vector<std::string> create{"kind", "create", "cluster", "--name", cluster};
      if (!config.empty()) {
        create.push_back("--config");
        create.push_back(config.string());
      }
      create.insert(create.end(),
                    {"--wait", seconds(options.clusterWait), "--kubeconfig", kubeconfig});
      w.add(Phase::kCluster, std::move(create), "the control plane", options.clusterWait);
    }
  }
  w.add(Phase::kCluster,
        {"kubectl", "-n", "kube-system", "rollout", "status", "deploy/coredns",
         "--timeout=" + seconds(options.clusterWait)},
        "CoreDNS", options.clusterWait);

  // Manifests with vars applied, split into control-plane IOPs, gateway IOPs and the rest.
  struct ManifestFile {
    std::filesystem::path path;
    std::vector<std::string> controlPlane;  // IstioOperator documents (install path §10)
    std::vector<std::string> gatewayIops;   // profile: empty IstioOperators
    std::vector<std::string> rest;
  };
  std::vector<ManifestFile> files;
  for (const auto& path : scenario.manifests) {
    auto text = readText(path);
    if (!text) return std::unexpected(std::move(text.error()));
    auto substituted =
        model::substituteYamlText(*text, scenario.vars, true, SourcePos{path.string(), 1, 1});
    if (!substituted) return std::unexpected(std::move(substituted.error()));
    ManifestFile file{path, {}, {}, {}};
    for (auto& doc : splitDocuments(*substituted)) {
      if (documentKind(doc) == "IstioOperator") {
        (isGatewayOnlyOperator(doc) ? file.gatewayIops : file.controlPlane).push_back(doc);
      } else if (documentKind(doc) == "Cluster") {
        continue;  // a kind config is cluster.config's business
      } else {
        file.rest.push_back(doc);
      }
    }
    files.push_back(std::move(file));
  }

  // 3. Istio by version (istio-semantics.md §10).
  const bool operatorFlow = !scenario.istioVersion.atLeast(1, 24);
  std::string controlPlaneNs = "istio-operator";
  std::string controlPlaneName = "istio-operator";
  for (const auto& iop : scenario.resources.istioOperators) {
    if (iop.profile != "empty") {
      if (!iop.meta.ns.empty()) controlPlaneNs = iop.meta.ns;
      if (!iop.meta.name.empty()) controlPlaneName = iop.meta.name;
      break;
    }
  }
  std::vector<const ManifestFile*> controlPlaneFiles;
  for (const auto& f : files) {
    if (!f.controlPlane.empty()) controlPlaneFiles.push_back(&f);
  }
  if (operatorFlow) {
    w.add(Phase::kIstio, {"istioctl", "operator", "init", "--watchedNamespaces=" + controlPlaneNs});
    w.add(Phase::kIstio, {"kubectl", "create", "ns", "istio-system"}).okIfStderrContains =
        "AlreadyExists";
    for (const ManifestFile* f : controlPlaneFiles) {
      auto& apply = w.add(Phase::kIstio, {"kubectl", "apply", "-f", "-"});
      apply.stages.back().stdinData = joinDocuments(f->controlPlane);
      apply.stdinDescription = f->path.string();
    }
    if (!controlPlaneFiles.empty()) {
      w.add(Phase::kIstio,
            {"kubectl", "-n", controlPlaneNs, "wait", "--for=jsonpath={.status.status}=HEALTHY",
             "istiooperator/" + controlPlaneName, readinessFlag},
            "the in-cluster operator to report the control plane HEALTHY", readiness);
    }
  } else {
    for (const ManifestFile* f : controlPlaneFiles) {
      const auto file = options.runDir / "manifests" / f->path.filename();
      auto& install = w.add(Phase::kIstio, {"istioctl", "install", "-y", "-f", file.string()},
                            "istioctl install's own readiness checks", readiness);
      install.stdinDescription = f->path.string() + " (vars applied) written to " + file.string();
    }
  }
  w.add(Phase::kIstio,
        {"kubectl", "-n", "istio-system", "rollout", "status", "deploy/istiod", readinessFlag},
        "istiod", readiness);

  // 4. Namespaces of the gateways, secrets, manifests and workloads, in first-use order.
  std::vector<std::string> namespaces;
  for (const auto& iop : scenario.resources.istioOperators) {
    for (const auto& g : iop.egressGateways) addUnique(namespaces, g.ns);
    for (const auto& g : iop.ingressGateways) addUnique(namespaces, g.ns);
  }
  for (const auto& s : scenario.secrets) addUnique(namespaces, s.ns);
  const auto& r = scenario.resources;
  const auto addMeta = [&](const auto& list) {
    for (const auto& item : list) addUnique(namespaces, item.meta.ns);
  };
  addMeta(r.gateways);
  addMeta(r.virtualServices);
  addMeta(r.serviceEntries);
  addMeta(r.destinationRules);
  addMeta(r.peerAuthentications);
  addMeta(r.secrets);
  addMeta(r.services);
  addMeta(r.deployments);
  addMeta(r.pods);
  addMeta(r.serviceAccounts);
  for (const auto& wl : scenario.workloads) addUnique(namespaces, wl.ns);
  for (const auto& ns : namespaces) {
    if (kPreexistingNamespaces.contains(ns)) continue;
    w.add(Phase::kNamespaces, {"kubectl", "create", "ns", ns}).okIfStderrContains = "AlreadyExists";
  }

  // Each gateway IstioOperator as in the post: generate | apply, which never prunes (§10).
  for (const auto& f : files) {
    if (f.gatewayIops.empty()) continue;
    const auto file = options.runDir / "manifests" / f.path.filename();
    PlannedCommand p;
    p.phase = Phase::kGateways;
    p.stages.push_back(w.tool({"istioctl", "manifest", "generate", "-f", file.string()}));
    p.stages.push_back(w.tool({"kubectl", "apply", "-f", "-"}));
    p.stdinDescription = f.path.string() + " (vars applied) written to " + file.string();
    plan.push_back(std::move(p));
  }

  // 5. Secrets from the run's PKI (or the files the scenario names).
  for (const auto& s : scenario.secrets) {
    const auto dir = options.runDir / "secrets" / s.ns;
    const std::string key =
        s.keyFile.empty() ? (dir / (s.name + ".key")).string() : s.keyFile.string();
    const std::string cert =
        s.certFile.empty() ? (dir / (s.name + ".crt")).string() : s.certFile.string();
    auto& c = w.add(Phase::kSecrets, {"kubectl", "create", "-n", s.ns, "secret", "tls", s.name,
                                      "--key=" + key, "--cert=" + cert});
    c.okIfStderrContains = "AlreadyExists";
  }

  // 6. Manifests with vars applied; the IstioOperators were handled above.
  for (const auto& f : files) {
    if (f.rest.empty()) continue;
    auto& apply = w.add(Phase::kManifests, {"kubectl", "apply", "-f", "-"});
    apply.stages.back().stdinData = joinDocuments(f.rest);
    apply.stdinDescription = f.path.string();
  }

  // 7. Injection labels and workloads (fixtures/kind/sleep.yaml).
  std::vector<std::string> injected;
  for (const auto& wl : scenario.workloads) {
    if (wl.injected == true) addUnique(injected, wl.ns);
  }
  for (const auto& ns : injected) {
    w.add(Phase::kInjection,
          {"kubectl", "label", "namespace", ns, "istio-injection=enabled", "--overwrite"});
  }
  if (!scenario.workloads.empty()) {
    const auto templatePath = options.fixturesDir / "sleep.yaml";
    auto tmpl = readText(templatePath);
    if (!tmpl) {
      return environmentError("the workload manifest " + templatePath.string() +
                              " is missing (set EGRESSLAB_FIXTURES_DIR to the repo's fixtures/)");
    }
    for (const auto& wl : scenario.workloads) {
      auto& apply = w.add(Phase::kWorkloads, {"kubectl", "apply", "-n", wl.ns, "-f", "-"});
      apply.stages.back().stdinData = renderWorkload(*tmpl, wl);
      apply.stdinDescription = templatePath.string() + " for " + wl.ns + "/" + wl.name;
    }
  }

  // 7b. Trust, as in a real world (DESIGN.md): gateways verify upstream certificates against
  //     the OS bundle on 1.21+ (istio-semantics.md §4), and pod curls use it too, so the run's
  //     public CA (which signs the mocks' certificates) replaces that bundle in every gateway
  //     and workload. Before the rollout waits below: the patch itself starts a rollout.
  std::vector<std::string> trustNamespaces;
  const auto trust = [&](const std::string& ns, const std::string& deployment, bool gateway) {
    if (std::find(trustNamespaces.begin(), trustNamespaces.end(), ns) == trustNamespaces.end()) {
      trustNamespaces.push_back(ns);
      // create --dry-run | apply: idempotent on a reused cluster, unlike a plain create.
      PlannedCommand p;
      p.phase = Phase::kTrust;
      p.stages.push_back(
          w.tool({"kubectl", "-n", ns, "create", "configmap", std::string(kPublicCaConfigMap),
                  "--from-file=ca-certificates.crt=" + publicCaPath(options).string(),
                  "--dry-run=client", "-o", "yaml"}));
      p.stages.push_back(w.tool({"kubectl", "apply", "-f", "-"}));
      p.stdinDescription = "ConfigMap " + ns + "/" + std::string(kPublicCaConfigMap) +
                           " with the run's public CA as ca-certificates.crt";
      plan.push_back(std::move(p));
    }
    auto& patch = w.add(Phase::kTrust, {"kubectl", "-n", ns, "patch", "deployment", deployment,
                                        "--type=json", "-p", trustBundlePatch(gateway)});
    // A reused cluster's gateway already has our volume (kubectl apply keeps it): appending it
    // again is rejected as a duplicate, which means the mount is already there.
    if (gateway) {
      patch.okIfStderrContains = "Duplicate value: \"" + std::string(kPublicCaConfigMap) + "\"";
    }
  };
  for (const auto& proxy : proxiesOf(scenario)) {
    if (!proxy.sidecar) trust(proxy.ns, proxy.deployment, true);
  }
  for (const auto& wl : scenario.workloads) trust(wl.ns, wl.name, false);

  // 8. Upstreams: the mock runs on the host at the kind network's gateway address; CoreDNS
  //    answers the upstream names and the scenario's dns: records (docs/kind.md).
  if (!scenario.upstreams.empty() || !scenario.dns.empty()) {
    w.add(Phase::kUpstreams, {"docker", "network", "inspect", "kind", "-f",
                              "{{range .IPAM.Config}}{{.Gateway}} {{end}}"})
        .captureAs = "KIND_GATEWAY";
    w.add(Phase::kUpstreams, {"kubectl", "-n", "kube-system", "get", "configmap", "coredns", "-o",
                              "jsonpath={.data.Corefile}"})
        .captureAs = "COREFILE";
    auto& patch = w.add(Phase::kUpstreams, {"kubectl", "-n", "kube-system", "apply", "-f", "-"});
    patch.stdinSource = StdinSource::kPatchedCorefile;
    std::vector<std::string> entries;
    for (const auto& u : scenario.upstreams) {
      entries.push_back(u.host + " → " + options.kindGatewayPlaceholder);
    }
    for (const auto& [host, ip] : scenario.dns) entries.push_back(host + " → " + ip);
    patch.stdinDescription = fmt::format("ConfigMap kube-system/coredns with a hosts block: {}",
                                         fmt::join(entries, ", "));
    w.add(Phase::kUpstreams,
          {"kubectl", "-n", "kube-system", "rollout", "restart", "deploy/coredns"});
    w.add(Phase::kUpstreams,
          {"kubectl", "-n", "kube-system", "rollout", "status", "deploy/coredns", readinessFlag},
          "CoreDNS with the hosts block", readiness);
  }

  // 9. Readiness with deadlines, never sleeps.
  for (const auto& proxy : proxiesOf(scenario)) {
    if (proxy.sidecar) continue;
    w.add(Phase::kReadiness,
          {"kubectl", "-n", proxy.ns, "rollout", "status", "deploy/" + proxy.deployment,
           readinessFlag},
          "gateway " + proxy.ns + "/" + proxy.deployment, readiness);
  }
  for (const auto& wl : scenario.workloads) {
    w.add(Phase::kReadiness,
          {"kubectl", "-n", wl.ns, "rollout", "status", "deploy/" + wl.name, readinessFlag},
          "workload " + wl.ns + "/" + wl.name, readiness);
    w.add(Phase::kReadiness,
          {"kubectl", "-n", wl.ns, "wait", "--for=condition=Ready", "pod", "-l", "app=" + wl.name,
           readinessFlag},
          "pods of " + wl.ns + "/" + wl.name + " Ready", readiness);
  }

  // 10. istioctl analyze: its findings go to the report, they do not stop the run.
  auto& analyze = w.add(Phase::kAnalyze, {"istioctl", "analyze", "--all-namespaces"});
  analyze.fatal = false;

  // 11. Port-forwards (long-running, restarted if they drop).
  for (const auto& pf : scenario.portForwards) {
    w.add(Phase::kPortForward,
          {"kubectl", "-n", pf.serviceNamespace, "port-forward", "svc/" + pf.serviceName,
           fmt::format("{}:{}", pf.local, pf.remote)});
  }
  return plan;
}

std::vector<std::string> podCurlArgv(const curl::CurlCommand& command, const std::string& from,
                                     const std::string& requestId) {
  const auto slash = from.find('/');
  const std::string ns = from.substr(0, slash);
  const std::string pod = slash == std::string::npos ? from : from.substr(slash + 1);
  std::vector<std::string> argv{"kubectl", "exec", "-n", ns, "deploy/" + pod, "-c", pod, "--"};
  curl::CurlCommand c = command;
  c.writeOut.reset();  // ours reads status and exit code; the user's -w is not observed here
  for (auto& word : curl::toArgv(c)) argv.push_back(std::move(word));
  argv.push_back("-H");
  argv.push_back("x-request-id:" + requestId);
  argv.push_back("-w");
  argv.push_back("\\n%{http_code} %{exitcode}");
  return argv;
}

std::optional<PodCurlOutput> parsePodCurlOutput(const std::string& out) {
  // The -w suffix is the last line: "<status> <exit>" (curl prints it even on failure).
  static const std::regex suffix(R"((?:^|\n)(\d{3}) (\d+)\s*$)");
  std::smatch m;
  if (!std::regex_search(out, m, suffix)) return std::nullopt;
  PodCurlOutput parsed;
  parsed.status = std::stoi(m[1].str());
  parsed.exitCode = std::stoi(m[2].str());
  parsed.body = out.substr(0, static_cast<std::size_t>(m.position(0)));
  return parsed;
}

std::optional<AccessLogMatch> matchAccessLogLine(const std::string& line,
                                                 const std::string& requestId) {
  if (requestId.empty() || line.find("\"" + requestId + "\"") == std::string::npos) {
    return std::nullopt;
  }
  // [START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS … in every TEXT format from 1.8 on (§9).
  static const std::regex head(R"re(^\[([^\]]+)\] "[^"]*" (\d+) (\S+))re");
  std::smatch m;
  if (!std::regex_search(line, m, head)) return std::nullopt;
  return AccessLogMatch{m[1].str(), std::stoi(m[2].str()), m[3].str(), line};
}

// ----------------------------------------------------------------------------- KindBackend

struct KindBackend::State {
  model::Scenario scenario;
  backend::RunOptions runOptions;
  std::optional<pki::RunDirectory> runDir;
  std::optional<pki::CertificateAuthority> scenarioCa;
  std::optional<pki::CertificateAuthority> publicCa;
  std::map<std::string, std::string> captured;
  bool clusterCreated = false;
  bool upCalled = false;
  bool down = false;
  struct PortForward {
    Command command;
    std::unique_ptr<BackgroundProcess> process;
    std::uint32_t local = 0;
  };
  std::vector<PortForward> portForwards;
  std::map<std::string, std::unique_ptr<httpbin::HttpbinServer>> mocks;  // "host:port"
  std::vector<ProxyRef> proxies;
  std::chrono::milliseconds accessLogWait{5000};
};

KindBackend::KindBackend(std::shared_ptr<CommandRunner> runner, KindOptions options)
    : runner_(std::move(runner)), options_(std::move(options)), state_(std::make_unique<State>()) {
  if (options_.fixturesDir.empty()) options_.fixturesDir = defaultFixturesDir();
  if (const char* wait = std::getenv("EGRESSLAB_KIND_ACCESS_LOG_WAIT_MS"); wait != nullptr) {
    state_->accessLogWait = std::chrono::milliseconds(std::atoll(wait));
  }
}

KindBackend::~KindBackend() { down(); }

void KindBackend::setAccessLogWait(std::chrono::milliseconds wait) { state_->accessLogWait = wait; }

namespace {

std::string substituteCaptured(std::string text, const std::map<std::string, std::string>& vars) {
  for (const auto& [name, value] : vars) {
    const std::string key = "${" + name + "}";
    for (auto at = text.find(key); at != std::string::npos;
         at = text.find(key, at + value.size())) {
      text.replace(at, key.size(), value);
    }
  }
  return text;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// The Corefile with our hosts block first in the `.:53` server block (replacing an older one
// from a reused cluster). `fallthrough` keeps every other name on the kubernetes/forward path.
std::string patchCorefile(const std::string& corefile,
                          const std::vector<std::pair<std::string, std::string>>& hosts) {
  std::string block = "    # egresslab hosts begin\n    hosts {\n";
  for (const auto& [host, ip] : hosts) block += fmt::format("       {} {}\n", ip, host);
  block += "       fallthrough\n    }\n    # egresslab hosts end\n";
  std::string out;
  std::istringstream in(corefile);
  std::string line;
  bool skipping = false;
  bool inserted = false;
  while (std::getline(in, line)) {
    if (line.find("# egresslab hosts begin") != std::string::npos) skipping = true;
    if (skipping) {
      if (line.find("# egresslab hosts end") != std::string::npos) skipping = false;
      continue;
    }
    out += line + "\n";
    if (!inserted && line.find(".:53") != std::string::npos &&
        line.find('{') != std::string::npos) {
      out += block;
      inserted = true;
    }
  }
  if (!inserted) out = ".:53 {\n" + block + "    forward . /etc/resolv.conf\n}\n" + out;
  return out;
}

std::string firstIpv4(const std::string& text) {
  std::istringstream in(text);
  std::string word;
  static const std::regex ipv4(R"(\d+\.\d+\.\d+\.\d+)");
  while (in >> word) {
    if (std::regex_match(word, ipv4)) return word;
  }
  return {};
}

// True when something accepts TCP connections on 127.0.0.1:port (a port-forward is up).
bool loopbackAccepts(std::uint32_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// Waits until every port-forward's local port accepts, restarting a forward that exited (it
// does when the service has no ready endpoint yet). Error at the deadline.
template <typename PortForwards, typename Restart>
Result<void> waitForPortForwards(PortForwards& forwards, std::chrono::milliseconds timeout,
                                 Restart restart) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& pf : forwards) {
    while (!loopbackAccepts(pf.local)) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return environmentError(
            fmt::format("`{}` did not accept connections on 127.0.0.1:{} "
                        "within {}ms",
                        pf.command.display(), pf.local, timeout.count()));
      }
      if (!pf.process->running()) {
        auto again = restart(pf.command);
        if (!again) return std::unexpected(std::move(again.error()));
        pf.process = std::move(*again);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return {};
}

std::optional<httpbin::Fault> toMockFault(const model::FaultSpec& f) {
  httpbin::Fault fault;
  if (f.action == "down") {
    fault.action = httpbin::Fault::Action::kDown;
  } else if (f.action == "up") {
    fault.action = httpbin::Fault::Action::kUp;
  } else if (f.action == "latency") {
    fault.action = httpbin::Fault::Action::kLatency;
    fault.ms = f.ms;
  } else if (f.action == "status") {
    fault.action = httpbin::Fault::Action::kStatus;
    fault.code = f.code;
    fault.percent = f.percent;
  } else if (f.action == "reset") {
    fault.action = httpbin::Fault::Action::kReset;
  } else if (f.action == "bad-cert") {
    fault.action = httpbin::Fault::Action::kBadCert;
  } else {
    return std::nullopt;
  }
  return fault;
}

}  // namespace

Result<void> KindBackend::up(const model::Scenario& scenario, const backend::RunOptions& options) {
  State& s = *state_;
  s.scenario = scenario;
  s.runOptions = options;
  s.upCalled = true;
  s.down = false;
  options_.keep = options_.keep || options.keep;
  s.proxies = proxiesOf(scenario);

  if (options.dryRun) {
    auto plan = buildPlan(scenario, options_);
    if (!plan) return std::unexpected(std::move(plan.error()));
    for (const auto& p : *plan) planLines_.push_back(p.display());
    return {};
  }

  auto runDir = pki::RunDirectory::create("egresslab-kind");
  if (!runDir) return std::unexpected(std::move(runDir.error()));
  s.runDir.emplace(std::move(*runDir));
  options_.runDir = s.runDir->path();
  auto plan = buildPlan(scenario, options_);
  if (!plan) return std::unexpected(std::move(plan.error()));
  // The run's public CA: written before the trust ConfigMaps read it, and the same CA signs the
  // upstream mocks' certificates below (one CA, so what the pods trust is what the mock shows).
  {
    auto ca = pki::CertificateAuthority::create("EgressLab public CA");
    if (!ca) return std::unexpected(std::move(ca.error()));
    s.publicCa = std::move(*ca);
    auto written = s.runDir->write(publicCaPath(options_).filename(), s.publicCa->certPem());
    if (!written) return std::unexpected(std::move(written.error()));
  }

  // SIGINT/SIGTERM while the cluster comes up: every child group is killed at once, then the
  // previous handler (the CLI's cancel flag) runs, and the runner tears down (issue 6 §2.10).
  struct sigaction previous {};
  ::sigaction(SIGINT, nullptr, &previous);
  std::unique_ptr<SignalCancellation> cancellation;
  if (auto installed = SignalCancellation::install({.onSignal = [previous](int signo) {
        if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN &&
            (previous.sa_flags & SA_SIGINFO) == 0) {
          previous.sa_handler(signo);
        }
      }})) {
    cancellation = std::move(*installed);
  }

  bool preflightDone = false;
  const auto fail = [&](auto failure) -> Result<void> {
    Error error = [&] {
      if constexpr (std::is_same_v<decltype(failure), Error>) {
        return failure;
      } else {
        return failure.error();
      }
    }();
    collectDiagnosticsOnFailure();
    error.message += fmt::format(" (diagnostics: {})", (s.runDir->path() / "diagnostics").string());
    s.runDir->keep();
    return std::unexpected(std::move(error));
  };

  for (auto& step : *plan) {
    if (step.phase == Phase::kPreflight) {
      if (preflightDone) continue;
      preflightDone = true;
      PreflightOptions pre;
      pre.istioVersion = ToolVersion{scenario.istioVersion.major, scenario.istioVersion.minor,
                                     scenario.istioVersion.patch};
      const PreflightReport report = runPreflight(*runner_, pre);
      if (!report.ok()) {
        // Exit 3 (DESIGN.md): say why on stderr too, where scripts look for it; the report
        // and console carry the full problems with install hints.
        std::vector<std::string> missing;
        for (const auto& check : report.checks) {
          if (!check.ok())
            missing.push_back(check.tool + " (" + std::string(toString(check.status)) + ")");
        }
        std::cerr << fmt::format(
            "egresslab: the kind backend cannot start: {}; run `egresslab doctor` for how to fix "
            "it\n",
            fmt::join(missing, ", "));
        return backendUnavailable("the kind backend cannot start:\n" + report.problems());
      }
      continue;
    }
    if (step.phase == Phase::kCluster && !step.stages.empty() &&
        step.stages.front().argv.size() > 2 && step.stages.front().argv[1] == "create") {
      s.clusterCreated = true;  // from here on, teardown deletes it (also if creation failed)
    }
    if (step.phase == Phase::kPortForward) {
      auto started =
          runner_->startBackground(step.stages.front(), s.runDir->path() / "port-forward.log");
      if (!started) return fail(std::move(started.error()));
      std::uint32_t local = 0;
      const std::string& mapping = step.stages.front().argv.back();
      local = static_cast<std::uint32_t>(std::stoul(mapping.substr(0, mapping.find(':'))));
      s.portForwards.push_back({step.stages.front(), std::move(*started), local});
      continue;
    }
    // Files the command reads: IstioOperators with vars applied, minted secrets.
    if (step.phase == Phase::kIstio || step.phase == Phase::kGateways) {
      for (const auto& stage : step.stages) {
        for (const auto& arg : stage.argv) {
          if (arg.starts_with(options_.runDir.string() + "/manifests/")) {
            const auto name = std::filesystem::path(arg).filename();
            for (const auto& m : scenario.manifests) {
              if (m.filename() != name) continue;
              auto text = readText(m);
              if (!text) return fail(std::move(text.error()));
              auto subst = model::substituteYamlText(*text, scenario.vars, true,
                                                     SourcePos{m.string(), 1, 1});
              if (!subst) return fail(std::move(subst.error()));
              auto written = s.runDir->write(std::filesystem::path("manifests") / name, *subst);
              if (!written) return fail(std::move(written.error()));
            }
          }
        }
      }
    }
    if (step.phase == Phase::kSecrets) {
      if (!s.scenarioCa) {
        auto ca = pki::CertificateAuthority::create("EgressLab scenario CA");
        if (!ca) return fail(std::move(ca.error()));
        s.scenarioCa = std::move(*ca);
        auto written = s.runDir->write("ca.crt", s.scenarioCa->certPem());
        if (!written) return fail(std::move(written.error()));
      }
      // `kubectl [--context C] create -n NS secret tls NAME …`
      const auto& argv = step.stages.front().argv;
      const auto nsFlag = std::find(argv.begin(), argv.end(), "-n");
      const auto tlsWord = std::find(argv.begin(), argv.end(), "tls");
      if (nsFlag == argv.end() || nsFlag + 1 == argv.end() || tlsWord == argv.end() ||
          tlsWord + 1 == argv.end()) {
        return fail(environmentError("malformed secret command `" + step.display() + "`"));
      }
      const std::string ns = *(nsFlag + 1);
      const std::string name = *(tlsWord + 1);
      for (const auto& secret : scenario.secrets) {
        if (secret.ns != ns || secret.name != name || !secret.certFile.empty()) continue;
        auto pair = s.scenarioCa->issueServer(secret.hosts);
        if (!pair) return fail(std::move(pair.error()));
        const auto dir = std::filesystem::path("secrets") / ns;
        auto key = s.runDir->writePrivate(dir / (name + ".key"), pair->keyPem);
        if (!key) return fail(std::move(key.error()));
        auto cert = s.runDir->write(dir / (name + ".crt"), pair->chainPem);
        if (!cert) return fail(std::move(cert.error()));
      }
    }
    if (step.stdinSource == StdinSource::kPatchedCorefile) {
      std::vector<std::pair<std::string, std::string>> hosts;
      for (const auto& u : scenario.upstreams)
        hosts.emplace_back(u.host, s.captured["KIND_GATEWAY"]);
      for (const auto& [host, ip] : scenario.dns) hosts.emplace_back(host, ip);
      nlohmann::json cm = {{"apiVersion", "v1"},
                           {"kind", "ConfigMap"},
                           {"metadata", {{"name", "coredns"}, {"namespace", "kube-system"}}},
                           {"data", {{"Corefile", patchCorefile(s.captured["COREFILE"], hosts)}}}};
      step.stages.front().stdinData = cm.dump(2);
    }
    for (auto& stage : step.stages) {
      for (auto& arg : stage.argv) arg = substituteCaptured(arg, s.captured);
      stage.stdinData = substituteCaptured(stage.stdinData, s.captured);
    }

    Result<PipelineResult> result = PipelineResult{};
    if (step.stages.size() == 1) {
      auto one = runner_->run(step.stages.front());
      if (one) {
        result->stages.push_back(std::move(*one));
      } else {
        result = std::unexpected(std::move(one.error()));
      }
    } else {
      result = runner_->runPipeline(step.stages);
    }
    if (!result) {
      if (result.error().kind == ErrorKind::kBackendUnavailable) {
        return std::unexpected(std::move(result.error()));
      }
      return fail(std::move(result.error()));
    }
    if (step.phase == Phase::kAnalyze) {
      const auto& r = result->stages.front();
      diagnostics_.push_back({step.display(), r.out + r.err});
      (void)s.runDir->write("diagnostics/istioctl-analyze.txt",
                            "$ " + step.display() + "\n" + r.out + r.err);
      continue;
    }
    if (!result->ok()) {
      const CommandResult* failed = result->firstFailure();
      if (!step.okIfStderrContains.empty() &&
          failed->err.find(step.okIfStderrContains) != std::string::npos) {
        continue;
      }
      if (!step.fatal) {
        diagnostics_.push_back({step.display(), failed->describe()});
        continue;
      }
      return fail(environmentError(
          fmt::format("{}{}", step.waitsFor.empty() ? "" : "waiting for " + step.waitsFor + ": ",
                      failed->describe())));
    }
    if (!step.captureAs.empty()) {
      std::string value = trim(result->stages.back().out);
      if (step.captureAs == "KIND_GATEWAY") {
        value = firstIpv4(value);
        if (value.empty()) {
          return fail(environmentError("`" + step.display() +
                                       "` printed no IPv4 gateway address for the kind network"));
        }
        s.captured[step.captureAs] = value;
        // The legacy upstreams, in-process on that address (docs/kind.md "Upstreams").
        if (!s.publicCa) {
          return fail(environmentError("the run's public CA was not created before the mocks"));
        }
        for (const auto& u : scenario.upstreams) {
          httpbin::HttpbinOptions mock;
          mock.host = value;
          mock.port = static_cast<int>(u.port);
          mock.hostname = u.name.empty() ? u.host : u.name;
          if (u.tls) {
            auto pair = s.publicCa->issueServer({u.host});
            if (!pair) return fail(std::move(pair.error()));
            mock.tls = *pair;
          }
          auto server = httpbin::HttpbinServer::start(mock);
          if (!server) return fail(std::move(server.error()));
          s.mocks[fmt::format("{}:{}", u.host, u.port)] = std::move(*server);
        }
        continue;
      }
      s.captured[step.captureAs] = value;
    }
  }
  if (options_.portForwardReady.count() > 0 && !s.portForwards.empty()) {
    auto ready =
        waitForPortForwards(s.portForwards, options_.portForwardReady, [&](const Command& c) {
          return runner_->startBackground(c, s.runDir->path() / "port-forward.log");
        });
    if (!ready) return fail(std::move(ready.error()));
  }
  if (!s.scenarioCa) {
    auto ca = pki::CertificateAuthority::create("EgressLab scenario CA");
    if (ca) {
      s.scenarioCa = std::move(*ca);
      (void)s.runDir->write("ca.crt", s.scenarioCa->certPem());
    }
  }
  return {};
}

std::string KindBackend::expandCurlLine(const std::string& line) const {
  const std::string ca = (options_.runDir / "ca.crt").string();
  std::string out = line;
  for (auto at = out.find("${ca}"); at != std::string::npos;
       at = out.find("${ca}", at + ca.size())) {
    out.replace(at, 5, ca);
  }
  return out;
}

Result<report::Observation> KindBackend::curl(const backend::CurlRequest& request) {
  State& s = *state_;
  const bool dry = s.runOptions.dryRun;
  const std::string requestId = dry ? std::string("${REQUEST_ID}") : request.requestId;
  report::Observation observed;
  observed.requestId = requestId;

  if (request.from) {
    Command exec;
    exec.argv = podCurlArgv(request.command, *request.from, requestId);
    if (options_.context) {
      exec.argv.insert(exec.argv.begin() + 1, {"--context", *options_.context});
    } else {
      exec.env["KUBECONFIG"] = kubeconfigPath(options_).string();
    }
    exec.timeout = request.timeout.value_or(std::chrono::milliseconds(60000)) +
                   std::chrono::milliseconds(15000);
    if (dry) {
      planLines_.push_back(exec.display());
    } else {
      auto result = runner_->run(exec);
      if (!result) return std::unexpected(std::move(result.error()));
      auto parsed = parsePodCurlOutput(result->out);
      if (!parsed) {
        return environmentError("the pod curl printed no status line: " + result->describe());
      }
      observed.exit = parsed->exitCode;
      if (parsed->status != 0) observed.status = parsed->status;
      observed.body = parsed->body;
      if (parsed->exitCode != 0) observed.curlError = trim(result->err);
    }
  } else {
    // Port-forward local ports are real here; restart any that dropped (issue 6 §2.7).
    for (auto& pf : s.portForwards) {
      if (!pf.process->running()) {
        auto restarted = runner_->startBackground(pf.command, options_.runDir / "port-forward.log");
        if (!restarted) return std::unexpected(std::move(restarted.error()));
        pf.process = std::move(*restarted);
      }
    }
    std::vector<std::string> argv = curl::toArgv(request.command);
    argv.push_back("-H");
    argv.push_back("x-request-id:" + requestId);
    if (dry) {
      planLines_.push_back(fmt::format("{}", fmt::join(argv, " ")));
    } else {
      curl::ExecOptions exec;
      exec.extraHeaders.emplace_back("x-request-id", requestId);
      if (request.timeout) exec.defaultTimeout = *request.timeout;
      const curl::CurlResult r = curl::execute(request.command, exec);
      observed.exit = r.exitCode;
      if (r.status != 0) observed.status = r.status;
      for (const auto& [k, v] : r.headers) observed.headers[k].push_back(v);
      observed.body = r.body;
      observed.curlError = r.errorMessage;
    }
  }

  // via/flags from the access logs of the gateways and of the caller's sidecar (§9).
  std::vector<ProxyRef> sources;
  for (const auto& p : s.proxies) {
    if (!p.sidecar) {
      sources.push_back(p);
    } else if (request.from && *request.from == p.ns + "/" + p.deployment) {
      sources.insert(sources.begin(), p);
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + s.accessLogWait;
  struct Seen {
    std::string proxy;
    AccessLogMatch match;
    std::size_t order;
  };
  std::vector<Seen> seen;
  for (int attempt = 0;; ++attempt) {
    seen.clear();
    for (std::size_t i = 0; i < sources.size(); ++i) {
      const auto& p = sources[i];
      Command logs;
      logs.argv = {"kubectl", "-n", p.ns, "logs", "deploy/" + p.deployment};
      if (p.sidecar) logs.argv.insert(logs.argv.end(), {"-c", "istio-proxy"});
      logs.argv.push_back("--since=10m");
      if (options_.context) {
        logs.argv.insert(logs.argv.begin() + 1, {"--context", *options_.context});
      } else {
        logs.env["KUBECONFIG"] = kubeconfigPath(options_).string();
      }
      logs.timeout = std::chrono::milliseconds(30000);
      if (dry) {
        if (attempt == 0) planLines_.push_back(logs.display());
        continue;
      }
      auto result = runner_->run(logs);
      if (!result || !result->ok()) continue;
      std::istringstream in(result->out);
      std::string line;
      while (std::getline(in, line)) {
        if (auto m = matchAccessLogLine(line, requestId)) {
          seen.push_back({p.deployment, *m, i});
          break;
        }
      }
    }
    if (dry || !seen.empty() || std::chrono::steady_clock::now() >= deadline) break;
    // Envoy flushes access logs about once a second: look again until the deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::stable_sort(seen.begin(), seen.end(), [](const Seen& a, const Seen& b) {
    return a.match.startTime != b.match.startTime ? a.match.startTime < b.match.startTime
                                                  : a.order < b.order;
  });
  for (const auto& v : seen) {
    observed.via.push_back(v.proxy);
    observed.flags[v.proxy] = v.match.flags;
    observed.accessLog.push_back(v.proxy + ": " + v.match.line);
  }
  return observed;
}

Result<void> KindBackend::fault(const model::FaultSpec& fault) {
  State& s = *state_;
  if (fault.targetKind == model::FaultSpec::TargetKind::kGateway) {
    const std::string deploy = "deploy/" + fault.gatewayName;
    std::vector<std::vector<std::string>> commands;
    const std::string timeout = "--timeout=" + seconds(options_.readinessTimeout);
    if (fault.action == "kill") {
      commands = {{"kubectl", "-n", fault.gatewayNamespace, "scale", deploy, "--replicas=0"},
                  {"kubectl", "-n", fault.gatewayNamespace, "rollout", "status", deploy, timeout}};
    } else if (fault.action == "restore") {
      commands = {{"kubectl", "-n", fault.gatewayNamespace, "scale", deploy, "--replicas=1"},
                  {"kubectl", "-n", fault.gatewayNamespace, "rollout", "status", deploy, timeout}};
    } else {
      return invalidInput("gateway fault `" + fault.action + "`: expected kill or restore",
                          fault.pos);
    }
    for (auto& argv : commands) {
      Command c;
      c.argv = std::move(argv);
      if (options_.context) {
        c.argv.insert(c.argv.begin() + 1, {"--context", *options_.context});
      } else {
        c.env["KUBECONFIG"] = kubeconfigPath(options_).string();
      }
      c.timeout = options_.readinessTimeout + std::chrono::seconds(30);
      if (s.runOptions.dryRun) {
        planLines_.push_back(c.display());
        continue;
      }
      auto r = runner_->run(c);
      if (!r) return std::unexpected(std::move(r.error()));
      if (!r->ok()) return environmentError(r->describe());
    }
    return {};
  }
  auto mockFault = toMockFault(fault);
  if (!mockFault) return invalidInput("unknown upstream fault `" + fault.action + "`", fault.pos);
  if (s.runOptions.dryRun) return {};
  for (auto& [key, server] : s.mocks) {
    const bool hostMatches = key.starts_with(fault.upstreamHost + ":");
    const bool portMatches =
        !fault.upstreamPort || key == fmt::format("{}:{}", fault.upstreamHost, *fault.upstreamPort);
    if (hostMatches && portMatches) {
      auto applied = server->applyFault(*mockFault);
      if (!applied) return applied;
      return {};
    }
  }
  return invalidInput("no upstream mock for " + fault.target, fault.pos);
}

std::vector<std::string> KindBackend::endpoints() const {
  std::vector<std::string> out;
  for (const auto& pf : state_->portForwards) {
    out.push_back(fmt::format("127.0.0.1:{} ({})", pf.local, pf.command.display()));
  }
  for (const auto& [key, server] : state_->mocks) {
    out.push_back(fmt::format("{} → {}", key, server->url()));
  }
  out.push_back("kubeconfig: " + kubeconfigPath(options_).string());
  return out;
}

void KindBackend::collectDiagnosticsOnFailure() {
  State& s = *state_;
  std::vector<std::vector<std::string>> commands{
      {"kubectl", "get", "pods", "-A", "-o", "wide"},
      {"kubectl", "get", "events", "-A", "--sort-by=.lastTimestamp"},
  };
  for (const auto& p : s.proxies) {
    std::vector<std::string> logs{"kubectl", "-n", p.ns, "logs", "deploy/" + p.deployment};
    if (p.sidecar) logs.insert(logs.end(), {"-c", "istio-proxy"});
    logs.push_back("--tail=200");
    commands.push_back(std::move(logs));
    commands.push_back(
        {"istioctl", "proxy-config", "all", "deploy/" + p.deployment, "-n", p.ns, "-o", "json"});
  }
  std::size_t index = 0;
  for (auto& argv : commands) {
    Command c;
    c.argv = std::move(argv);
    if (options_.context) {
      c.argv.insert(c.argv.begin() + 1, {"--context", *options_.context});
    } else {
      c.env["KUBECONFIG"] = kubeconfigPath(options_).string();
    }
    c.timeout = std::chrono::milliseconds(30000);
    auto r = runner_->run(c);
    const std::string output =
        r ? (r->out + r->err + (r->ok() ? "" : "\n" + r->describe())) : r.error().str();
    diagnostics_.push_back({c.display(), output});
    if (s.runDir) {
      (void)s.runDir->write(fmt::format("diagnostics/{:02}.txt", index++),
                            "$ " + c.display() + "\n" + output);
    }
  }
}

void KindBackend::down() {
  State& s = *state_;
  if (!s.upCalled || s.down) return;
  s.down = true;
  for (auto& pf : s.portForwards) pf.process->stop();
  s.portForwards.clear();
  for (auto& [key, server] : s.mocks) server->stop();
  s.mocks.clear();
  const bool deleteCluster = !options_.keep && !options_.context && !options_.reuseCluster &&
                             (s.clusterCreated || s.runOptions.dryRun);
  if (deleteCluster) {
    const std::string cluster =
        options_.clusterName.empty() ? s.scenario.cluster.name : options_.clusterName;
    Command del;
    del.argv = {"kind",
                "delete",
                "cluster",
                "--name",
                cluster,
                "--kubeconfig",
                kubeconfigPath(options_).string()};
    del.timeout = options_.commandTimeout;
    if (s.runOptions.dryRun) {
      planLines_.push_back(del.display());
    } else {
      auto r = runner_->run(del);
      if (!r || !r->ok()) {
        diagnostics_.push_back({del.display(), r ? r->describe() : r.error().str()});
      }
    }
  }
  if (s.runDir && options_.keep) s.runDir->keep();
}

Result<std::unique_ptr<backend::Backend>> makeKindBackend(KindOptions options) {
  // Flags win; the environment serves CI jobs that cannot change the command line.
  if (const char* context = std::getenv("EGRESSLAB_KIND_CONTEXT");
      !options.context && context != nullptr && *context != '\0') {
    options.context = context;
  }
  if (const char* reuse = std::getenv("EGRESSLAB_KIND_REUSE_CLUSTER");
      reuse != nullptr && std::string_view(reuse) == "1") {
    options.reuseCluster = true;
  }
  if (const char* name = std::getenv("EGRESSLAB_KIND_CLUSTER");
      options.clusterName.empty() && name != nullptr) {
    options.clusterName = name;
  }
  return std::unique_ptr<backend::Backend>(
      new KindBackend(std::make_shared<ProcessCommandRunner>(), std::move(options)));
}

Result<std::unique_ptr<backend::Backend>> makeKindBackend() { return makeKindBackend({}); }

}  // namespace egresslab::kind

namespace egresslab::kind {

std::vector<std::string> KindBackend::diagnostics() const {
  std::vector<std::string> out;
  out.reserve(diagnostics_.size());
  for (const auto& d : diagnostics_) out.push_back(fmt::format("$ {}\n{}", d.command, d.output));
  return out;
}

}  // namespace egresslab::kind
