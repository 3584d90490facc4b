#include "harness/kind/kind_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <stop_token>
#include <thread>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "harness/backend/load_generator.h"
#include "harness/curl/execute.h"
#include "harness/kind/access_log_join.h"
#include "harness/kind/ext_authz_manifests.h"
#include "harness/kind/kind_load.h"
#include "harness/kind/preflight.h"
#include "harness/kind/process_groups.h"
#include "harness/mesh/endpoints.h"
#include "harness/model/gateway_workloads.h"
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

// The file name of server i's certificate in <run dir>/upstreams/: HOST-PORT, with the server's
// index when another server shares its host and port (each has its own certificate).
std::string upstreamFileBase(const model::Scenario& scenario, std::size_t i) {
  const auto& u = scenario.upstreams.at(i);
  const auto shared = std::count_if(
      scenario.upstreams.begin(), scenario.upstreams.end(),
      [&](const model::UpstreamSpec& o) { return o.host == u.host && o.port == u.port; });
  if (shared > 1) return fmt::format("{}-{}-{}", u.host, u.port, i);
  return fmt::format("{}-{}", u.host, u.port);
}

// Builds the commands; kubectl/istioctl get the run's kubeconfig (or --context).
class PlanWriter {
 public:
  PlanWriter(const KindOptions& options, std::vector<PlannedCommand>& out)
      : options_(options), out_(out) {}

  Command tool(std::vector<std::string> argv) const {
    Command c;
    const bool clusterTool =
        argv.front() == "kubectl" || argv.front() == "istioctl" || argv.front() == "helm";
    if (options_.context && clusterTool) {
      argv.insert(argv.begin() + 1,
                  {argv.front() == "helm" ? "--kube-context" : "--context", *options_.context});
    } else if (clusterTool) {
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
    // The pod's locality (docs/istio-behaviour.md §R5): Istio takes the `istio-locality` label
    // over the node's topology labels ("/" written as "."), so each workload gets its own.
    if (!w.locality.empty() && line == "        app: <workload-name>") {
      std::string locality = w.locality;
      std::replace(locality.begin(), locality.end(), '/', '.');
      text += "        istio-locality: " + locality + "\n";
    }
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
  // The one model of what the IstioOperators install (issue 9): a listed gateway without
  // `enabled: true` is not installed, the default profile adds istio-ingressgateway.
  std::vector<ProxyRef> proxies;
  for (const auto& g : model::deriveGatewayWorkloads(scenario.resources, scenario.istioVersion)) {
    const bool seen = std::any_of(proxies.begin(), proxies.end(), [&](const ProxyRef& p) {
      return p.ns == g.ns && p.deployment == g.name;
    });
    if (!seen) proxies.push_back({g.ns, g.name, false});
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

namespace {

// The files a `manifests:` entry stands for: the file, or a directory's *.yaml/*.yml in name
// order (as the loader reads them).
std::vector<std::filesystem::path> manifestFiles(
    const std::vector<std::filesystem::path>& entries) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : entries) {
    std::error_code ec;
    if (!std::filesystem::is_directory(entry, ec)) {
      files.push_back(entry);
      continue;
    }
    std::vector<std::filesystem::path> inDir;
    for (const auto& e : std::filesystem::directory_iterator(entry, ec)) {
      const auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) inDir.push_back(e.path());
    }
    std::sort(inDir.begin(), inDir.end());
    files.insert(files.end(), inDir.begin(), inDir.end());
  }
  return files;
}

// One IstioOperator document of the manifests, with vars applied.
struct IopDoc {
  std::filesystem::path source;
  std::string text;
  const model::IstioOperator* iop = nullptr;  // the loaded object, when it could be matched
  bool gatewayOnly = false;                   // `profile: empty`: installed after the control plane
  std::filesystem::path file;                 // its own file in the run directory: manifests/…
};

nlohmann::json probeJson(const model::Probe& p) {
  nlohmann::json j;
  switch (p.kind) {
    case model::Probe::Kind::kExec:
      j["exec"] = {{"command", p.command}};
      break;
    case model::Probe::Kind::kTcpSocket:
      j["tcpSocket"] = {{"port", p.port}};
      break;
    case model::Probe::Kind::kHttpGet:
      j["httpGet"] = {{"path", p.path}, {"port", p.port}, {"scheme", p.scheme}};
      break;
  }
  j["initialDelaySeconds"] = p.initialDelaySeconds;
  j["periodSeconds"] = p.periodSeconds;
  j["timeoutSeconds"] = p.timeoutSeconds;
  j["successThreshold"] = p.successThreshold;
  j["failureThreshold"] = p.failureThreshold;
  return j;
}

// Values for the istiod chart from the control-plane IstioOperator: meshConfig, revision,
// hub/tag and the `values.global`/`values.pilot` blocks (same keys in the chart).
nlohmann::json istiodValues(const model::IstioOperator* cp) {
  nlohmann::json values = nlohmann::json::object();
  if (cp == nullptr) return values;
  if (cp->values.is_object()) {
    for (const char* key : {"global", "pilot"}) {
      if (cp->values.contains(key)) values[key] = cp->values.at(key);
    }
  }
  if (cp->meshConfig.raw.is_object() && !cp->meshConfig.raw.empty()) {
    values["meshConfig"] = cp->meshConfig.raw;
  }
  if (!cp->revision.empty()) values["revision"] = cp->revision;
  if (!cp->tag.empty()) values["global"]["tag"] = cp->tag;
  if (!cp->hub.empty()) values["global"]["hub"] = cp->hub;
  return values;
}

// Values for the istio/gateway chart from the gateway the IstioOperator describes
// (model::deriveGatewayWorkloads): name, labels (the chart's selector takes labels.app and
// labels.istio), service type and ports, a readiness probe written in the IOP, replicas.
nlohmann::json gatewayValues(const model::GatewayWorkload& g, const std::string& revision) {
  nlohmann::json values;
  values["name"] = g.name;
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [key, value] : g.podLabels) {
    if (key == "service.istio.io/canonical-name" || key == "sidecar.istio.io/inject") continue;
    labels[key] = value;
  }
  values["labels"] = labels;
  std::string type = g.egress ? "ClusterIP" : "";
  if (g.source != nullptr) {
    for (const auto* list : {&g.source->ingressGateways, &g.source->egressGateways}) {
      for (const auto& c : *list) {
        if (c.path == g.componentPath && c.k8s.is_object() && c.k8s.contains("service") &&
            c.k8s.at("service").is_object() && c.k8s.at("service").contains("type") &&
            c.k8s.at("service").at("type").is_string()) {
          type = c.k8s.at("service").at("type").get<std::string>();
        }
      }
    }
  }
  nlohmann::json service = nlohmann::json::object();
  if (!type.empty()) service["type"] = type;
  nlohmann::json ports = nlohmann::json::array();
  for (const auto& p : g.servicePorts) {
    nlohmann::json port = {{"name", p.name}, {"port", p.port}, {"protocol", p.protocol}};
    if (p.targetPort) port["targetPort"] = *p.targetPort;
    ports.push_back(port);
  }
  service["ports"] = ports;
  values["service"] = service;
  // A probe written in the IstioOperator (overlay or k8s.readinessProbe; the chart's own
  // default has no source position in a file). Helm merges maps: null the chart's httpGet.
  const bool written =
      g.source != nullptr && !g.readinessProbe.pos.file.empty() &&
      !(g.readinessProbe.kind == model::Probe::Kind::kHttpGet &&
        g.readinessProbe.path == "/healthz/ready" && g.readinessProbe.port == 15021);
  if (written) {
    nlohmann::json probe = probeJson(g.readinessProbe);
    if (g.readinessProbe.kind != model::Probe::Kind::kHttpGet) probe["httpGet"] = nullptr;
    values["readinessProbe"] = probe;
  }
  if (g.replicas != 1) values["replicaCount"] = g.replicas;
  if (!revision.empty()) values["revision"] = revision;
  return values;
}

std::string valuesFile(const std::string& what, const nlohmann::json& values) {
  // JSON is YAML; the comment says where the values came from.
  return "# helm values for " + what + ", derived from the scenario's IstioOperators\n" +
         values.dump(2) + "\n";
}

}  // namespace

model::IstioVersion installVersion(const model::Scenario& scenario) {
  for (const auto& iop : scenario.resources.istioOperators) {
    if (iop.profile == "empty") continue;
    if (iop.tag.empty()) break;
    auto tag = model::IstioVersion::parse(iop.tag);
    if (tag && tag->major == scenario.istioVersion.major &&
        tag->minor == scenario.istioVersion.minor) {
      return *tag;
    }
    break;
  }
  return scenario.istioVersion;
}

std::uint32_t mockControlPort(std::size_t index) {
  return 19000 + static_cast<std::uint32_t>(index);
}

std::string mockListenPort(const KindOptions& options, std::size_t index) {
  if (options.mockPortBase == 0) return fmt::format("${{MOCK_PORT_{}}}", index);
  return std::to_string(options.mockPortBase + static_cast<std::uint32_t>(index));
}

std::vector<std::string> serverAddresses(const model::Scenario& scenario) {
  return mesh::upstreamAddresses(scenario.upstreams,
                                 mesh::scenarioDnsAnswers(scenario.dns, scenario.dnsAnswers));
}

std::map<std::string, std::vector<std::string>> worldDnsAnswers(const model::Scenario& scenario) {
  return mesh::dnsAnswersWithUpstreams(scenario.upstreams,
                                       mesh::scenarioDnsAnswers(scenario.dns, scenario.dnsAnswers));
}

std::vector<std::string> dnatArgv(const std::string& op, const model::Scenario& scenario,
                                  const std::vector<std::string>& addresses,
                                  const KindOptions& options, std::size_t index) {
  const auto& u = scenario.upstreams.at(index);
  std::vector<std::string> argv{"docker", "exec", "${NODE}", "iptables",
                                "-t",     "nat",  op,        "PREROUTING"};
  if (op == "-I") argv.push_back("1");  // before kube-proxy's and kindnet's rules
  argv.insert(
      argv.end(),
      {"-d", addresses.at(index) + "/32", "-p", "tcp", "--dport", std::to_string(u.port), "-m",
       "comment", "--comment", "egresslab " + (u.name.empty() ? u.host : u.name), "-j", "DNAT",
       "--to-destination", options.kindGatewayPlaceholder + ":" + mockListenPort(options, index)});
  return argv;
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
  const model::InstallMethod method = scenario.installMethod();
  if (auto problem = model::installMethodProblem(method, scenario.istioVersion); !problem.empty()) {
    return invalidInput(problem, scenario.installPos);
  }
  const model::IstioVersion version = installVersion(scenario);

  // 1. Preflight (docs/kind.md "egresslab doctor"): up() runs runPreflight for these.
  w.add(Phase::kPreflight, {"docker", "info", "--format", "{{.ServerVersion}}"});
  w.add(Phase::kPreflight, {"kind", "version"});
  w.add(Phase::kPreflight, {"kubectl", "version", "--client", "-o", "json"});
  w.add(Phase::kPreflight, {"istioctl", "version", "--remote=false"});
  if (method == model::InstallMethod::kHelm)
    w.add(Phase::kPreflight, {"helm", "version", "--short"});

  // 2. Cluster. `--wait` covers the control plane only: wait for CoreDNS.
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

  // Manifests with vars applied: IstioOperator documents (installed by the method) and the rest.
  struct ManifestFile {
    std::filesystem::path path;
    std::vector<std::string> controlPlane;  // control-plane IstioOperator documents
    std::vector<std::string> rest;
  };
  std::vector<ManifestFile> files;
  std::vector<IopDoc> iops;
  for (const auto& path : manifestFiles(scenario.manifests)) {
    auto text = readText(path);
    if (!text) return std::unexpected(std::move(text.error()));
    auto substituted =
        model::substituteYamlText(*text, scenario.vars, true, SourcePos{path.string(), 1, 1});
    if (!substituted) return std::unexpected(std::move(substituted.error()));
    std::vector<const model::IstioOperator*> loaded;
    for (const auto& iop : scenario.resources.istioOperators) {
      if (iop.origin.pos.file == path.string()) loaded.push_back(&iop);
    }
    ManifestFile file{path, {}, {}};
    std::vector<IopDoc> here;
    for (auto& doc : splitDocuments(*substituted)) {
      if (documentKind(doc) == "IstioOperator") {
        IopDoc d;
        d.source = path;
        d.iop = here.size() < loaded.size() ? loaded[here.size()] : nullptr;
        d.gatewayOnly = d.iop != nullptr ? d.iop->profile == "empty" : isGatewayOnlyOperator(doc);
        if (!d.gatewayOnly) file.controlPlane.push_back(doc);
        d.text = std::move(doc);
        here.push_back(std::move(d));
      } else if (documentKind(doc) == "Cluster") {
        continue;  // a kind config is cluster.config's business
      } else {
        file.rest.push_back(doc);
      }
    }
    // One IstioOperator per file for `istioctl install -f` (istioctl reads one per file).
    for (std::size_t i = 0; i < here.size(); ++i) {
      std::string name = path.filename().string();
      if (here.size() > 1) {
        name = fmt::format("{}-{}{}", path.stem().string(), i + 1, path.extension().string());
      }
      here[i].file = std::filesystem::path("manifests") / name;
    }
    iops.insert(iops.end(), here.begin(), here.end());
    files.push_back(std::move(file));
  }
  const IopDoc* controlPlane = nullptr;
  for (const auto& d : iops) {
    if (!d.gatewayOnly) {
      controlPlane = &d;
      break;
    }
  }
  const std::string revision =
      controlPlane != nullptr && controlPlane->iop != nullptr ? controlPlane->iop->revision : "";
  const std::string istiod = revision.empty() ? "istiod" : "istiod-" + revision;
  // A gateway IstioOperator without a revision of its own joins the control plane's.
  const auto revisionArgs = [&](const IopDoc& d) -> std::vector<std::string> {
    if (revision.empty() || (d.iop != nullptr && !d.iop->revision.empty())) return {};
    return {"--revision", revision};
  };
  const auto runDirFile = [&](const std::filesystem::path& relative) {
    return (options.runDir / relative).string();
  };

  // 3. Istio by install method (docs/istio-behaviour.md §10).
  if (method == model::InstallMethod::kOperator) {
    std::string controlPlaneNs = "istio-operator";
    std::string controlPlaneName = "istio-operator";
    if (controlPlane != nullptr && controlPlane->iop != nullptr) {
      if (!controlPlane->iop->meta.ns.empty()) controlPlaneNs = controlPlane->iop->meta.ns;
      if (!controlPlane->iop->meta.name.empty()) controlPlaneName = controlPlane->iop->meta.name;
    }
    std::vector<std::string> init{"istioctl", "operator", "init",
                                  "--watchedNamespaces=" + controlPlaneNs};
    if (!revision.empty()) init.insert(init.end(), {"--revision", revision});
    w.add(Phase::kIstio, std::move(init));
    w.add(Phase::kIstio, {"kubectl", "create", "ns", "istio-system"}).okIfStderrContains =
        "AlreadyExists";
    bool applied = false;
    for (const auto& f : files) {
      if (f.controlPlane.empty()) continue;
      auto& apply = w.add(Phase::kIstio, {"kubectl", "apply", "-f", "-"});
      apply.stages.back().stdinData = joinDocuments(f.controlPlane);
      apply.stdinDescription = f.path.string();
      applied = true;
    }
    if (applied) {
      w.add(Phase::kIstio,
            {"kubectl", "-n", controlPlaneNs, "wait", "--for=jsonpath={.status.status}=HEALTHY",
             "istiooperator/" + controlPlaneName, readinessFlag},
            "the in-cluster operator to report the control plane HEALTHY", readiness);
    }
  } else if (method == model::InstallMethod::kIstioctl) {
    for (const auto& d : iops) {
      if (d.gatewayOnly) continue;
      auto& install = w.add(Phase::kIstio, {"istioctl", "install", "-y", "-f", runDirFile(d.file)},
                            "istioctl install's own readiness checks", readiness);
      install.files.push_back({d.file, d.text});
      install.stdinDescription =
          d.source.string() + " (vars applied) written to " + runDirFile(d.file);
    }
  } else {
    const std::string chartVersion = version.str();
    w.add(Phase::kIstio, {"helm", "repo", "add", "istio",
                          "https://istio-release.storage.googleapis.com/charts", "--force-update"});
    w.add(Phase::kIstio, {"helm", "upgrade", "--install", "istio-base", "istio/base", "-n",
                          "istio-system", "--create-namespace", "--version", chartVersion});
    const std::filesystem::path values = std::filesystem::path("helm") / "istiod-values.yaml";
    auto& istiodInstall = w.add(
        Phase::kIstio,
        {"helm", "upgrade", "--install", istiod, "istio/istiod", "-n", "istio-system", "--version",
         chartVersion, "-f", runDirFile(values), "--wait", "--timeout", seconds(readiness)},
        "helm's --wait for istiod", readiness);
    istiodInstall.files.push_back(
        {values, valuesFile("istio/istiod",
                            istiodValues(controlPlane != nullptr ? controlPlane->iop : nullptr))});
  }
  w.add(Phase::kIstio,
        {"kubectl", "-n", "istio-system", "rollout", "status", "deploy/" + istiod, readinessFlag},
        "istiod", readiness);

  // 4. Namespaces of the gateways, secrets, manifests and workloads, in first-use order.
  std::vector<std::string> namespaces;
  const auto gateways = model::deriveGatewayWorkloads(scenario.resources, scenario.istioVersion);
  for (const auto& g : gateways) addUnique(namespaces, g.ns);
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
  addMeta(r.authorizationPolicies);
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

  // Gateways after the control plane, each the way its method installs it.
  if (method == model::InstallMethod::kOperator) {
    // As in the post: generate | apply, which never prunes (§10).
    for (const auto& d : iops) {
      if (!d.gatewayOnly) continue;
      PlannedCommand p;
      p.phase = Phase::kGateways;
      std::vector<std::string> generate{"istioctl", "manifest", "generate", "-f",
                                        runDirFile(d.file)};
      for (auto& arg : revisionArgs(d)) generate.push_back(std::move(arg));
      p.stages.push_back(w.tool(std::move(generate)));
      p.stages.push_back(w.tool({"kubectl", "apply", "-f", "-"}));
      p.files.push_back({d.file, d.text});
      p.stdinDescription = d.source.string() + " (vars applied) written to " + runDirFile(d.file);
      plan.push_back(std::move(p));
    }
  } else if (method == model::InstallMethod::kIstioctl) {
    // `istioctl install -f` per gateway IstioOperator. Its readiness wait is cut short: a
    // gateway whose probe reaches an upstream is Ready only once the run's public CA is
    // mounted (below), so "resources not ready" is expected here; the rollout waits below
    // check readiness with the real deadline.
    for (const auto& d : iops) {
      if (!d.gatewayOnly) continue;
      std::vector<std::string> install{"istioctl", "install", "-y", "-f", runDirFile(d.file)};
      for (auto& arg : revisionArgs(d)) install.push_back(std::move(arg));
      install.push_back("--readiness-timeout=1s");
      auto& p = w.add(Phase::kGateways, std::move(install));
      p.okIfStderrContains = "resources not ready";
      p.files.push_back({d.file, d.text});
      p.stdinDescription = d.source.string() + " (vars applied) written to " + runDirFile(d.file);
    }
  } else {
    // One istio/gateway release per gateway, values derived from its IstioOperator. No
    // --wait: readiness is checked after the trust mount, below.
    for (const auto& g : gateways) {
      std::string gatewayRevision = revision;
      if (g.source != nullptr && !g.source->revision.empty()) gatewayRevision = g.source->revision;
      const std::filesystem::path values =
          std::filesystem::path("helm") / (g.ns + "-" + g.name + "-values.yaml");
      auto& p =
          w.add(Phase::kGateways, {"helm", "upgrade", "--install", g.name, "istio/gateway", "-n",
                                   g.ns, "--version", version.str(), "-f", runDirFile(values)});
      p.files.push_back({values, valuesFile("istio/gateway " + g.ns + "/" + g.name,
                                            gatewayValues(g, gatewayRevision))});
    }
  }

  // 5. Secrets from the run's PKI (or the files the scenario names). A secret with a CA (for
  //    MUTUAL servers) is a generic secret with tls.crt, tls.key and ca.crt, as Istio reads it.
  for (const auto& s : scenario.secrets) {
    const auto dir = options.runDir / "secrets" / s.ns;
    const std::string key =
        s.keyFile.empty() ? (dir / (s.name + ".key")).string() : s.keyFile.string();
    const std::string cert =
        s.certFile.empty() ? (dir / (s.name + ".crt")).string() : s.certFile.string();
    if (s.caCertificate) {
      const std::string ca =
          s.caFile.empty() ? (options.runDir / "ca.crt").string() : s.caFile.string();
      auto& c = w.add(Phase::kSecrets, {"kubectl", "create", "-n", s.ns, "secret", "generic",
                                        s.name, "--from-file=tls.crt=" + cert,
                                        "--from-file=tls.key=" + key, "--from-file=ca.crt=" + ca});
      c.okIfStderrContains = "AlreadyExists";
      continue;
    }
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

  // 6b. The scenario's ext-authz servers (ext_authz_manifests.h, docs/istio-behaviour.md §X1).
  for (const auto& server : scenario.extAuthz) {
    auto manifest = extAuthzManifest(server);
    if (!manifest) return std::unexpected(manifest.error());
    auto& apply = w.add(Phase::kManifests, {"kubectl", "apply", "-f", "-"});
    apply.stages.back().stdinData = *manifest;
    apply.stdinDescription = fmt::format("ext-authz server {} ({}) as {}:{}", server.name,
                                         server.image, server.host(), server.port);
    w.add(Phase::kReadiness,
          {"kubectl", "-n", server.ns, "rollout", "status", "deploy/" + server.name, readinessFlag},
          "ext-authz server " + server.ns + "/" + server.name, readiness);
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
      apply.stdinDescription =
          "workload " + wl.ns + "/" + wl.name + " from " + templatePath.string();
    }
  }

  // 7b. Trust, as in a real world (docs/design.md): gateways verify upstream certificates against
  //     the OS bundle on 1.21+ (docs/istio-behaviour.md §4), and pod curls use it too, so the run's
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
  const auto proxies = proxiesOf(scenario);
  for (const auto& proxy : proxies) {
    if (!proxy.sidecar) trust(proxy.ns, proxy.deployment, true);
  }
  for (const auto& wl : scenario.workloads) trust(wl.ns, wl.name, false);

  // 8. Upstreams (docs/kind.md "Upstreams"): every server at its own address, as the simulator
  //    places it (mesh::upstreamAddresses: `address:`, the host's `dns:` records, else one the
  //    run chooses). Its mock runs on the host at the kind network's gateway address on a port
  //    of its own; a DNAT rule in every node sends ADDRESS:PORT there. CoreDNS answers every A
  //    record of every name (the scenario's `dns:` lists and the upstream hosts).
  if (!scenario.upstreams.empty() || !scenario.dns.empty()) {
    w.add(Phase::kUpstreams, {"docker", "network", "inspect", "kind", "-f",
                              "{{range .IPAM.Config}}{{.Gateway}} {{end}}"})
        .captureAs = "KIND_GATEWAY";
    const auto addresses = serverAddresses(scenario);
    // The mocks: in-process in a run; `egresslab mock httpbin` in a written plan.
    for (std::size_t i = 0; i < scenario.upstreams.size(); ++i) {
      const auto& u = scenario.upstreams[i];
      PlannedCommand p;
      p.phase = Phase::kUpstreams;
      p.mockUpstream = static_cast<int>(i);
      Command mock;
      mock.argv = {
          "egresslab", "mock", "httpbin", "--listen",
          fmt::format("{}:{}", options.kindGatewayPlaceholder, mockListenPort(options, i))};
      if (u.tls) {
        const auto base = options.runDir / "upstreams" / upstreamFileBase(scenario, i);
        mock.argv.insert(mock.argv.end(), {"--tls-cert", base.string() + ".crt", "--tls-key",
                                           base.string() + ".key"});
      }
      mock.argv.insert(mock.argv.end(),
                       {"--hostname", u.name.empty() ? u.host : u.name, "--control",
                        fmt::format("127.0.0.1:{}", mockControlPort(i))});
      p.stages.push_back(std::move(mock));
      p.stdinDescription = fmt::format("the upstream {}:{} ({}) at {}:{}", u.host, u.port,
                                       u.name.empty() ? u.host : u.name, addresses[i], u.port);
      plan.push_back(std::move(p));
    }
    if (!scenario.upstreams.empty()) {
      // The nodes are the kind cluster's containers (kind names them after the cluster).
      w.add(Phase::kUpstreams,
            {"kubectl", "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"})
          .captureAs = "NODES";
      for (std::size_t i = 0; i < scenario.upstreams.size(); ++i) {
        auto& dnat = w.add(Phase::kUpstreams, dnatArgv("-I", scenario, addresses, options, i));
        dnat.perNode = true;
        dnat.stdinDescription =
            fmt::format("in every node: {}:{} → the mock of {} (iptables DNAT)", addresses[i],
                        scenario.upstreams[i].port,
                        scenario.upstreams[i].name.empty() ? scenario.upstreams[i].host
                                                           : scenario.upstreams[i].name);
      }
    }
    w.add(Phase::kUpstreams, {"kubectl", "-n", "kube-system", "get", "configmap", "coredns", "-o",
                              "jsonpath={.data.Corefile}"})
        .captureAs = "COREFILE";
    auto& patch = w.add(Phase::kUpstreams, {"kubectl", "-n", "kube-system", "apply", "-f", "-"});
    patch.stdinSource = StdinSource::kPatchedCorefile;
    std::vector<std::string> entries;
    for (const auto& [host, ips] : worldDnsAnswers(scenario)) {
      entries.push_back(host + " → " + fmt::format("{}", fmt::join(ips, " ")));
    }
    patch.stdinDescription = fmt::format("ConfigMap kube-system/coredns with a hosts block: {}",
                                         fmt::join(entries, ", "));
    w.add(Phase::kUpstreams,
          {"kubectl", "-n", "kube-system", "rollout", "restart", "deploy/coredns"});
    w.add(Phase::kUpstreams,
          {"kubectl", "-n", "kube-system", "rollout", "status", "deploy/coredns", readinessFlag},
          "CoreDNS with the hosts block", readiness);
  }

  // 9. Readiness with deadlines, never sleeps.
  for (const auto& proxy : proxies) {
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
  argv.push_back("\\n%{local_ip}:%{local_port} %{http_code} %{exitcode}");
  return argv;
}

std::optional<PodCurlOutput> parsePodCurlOutput(const std::string& out) {
  // The -w suffix is the last line: "<local ip>:<local port> <status> <exit>" (curl prints it
  // even on failure; ":0" when it never connected).
  static const std::regex suffix(R"((?:^|\n)(\S*):(\d+) (\d{3}) (\d+)\s*$)");
  std::smatch m;
  if (!std::regex_search(out, m, suffix)) return std::nullopt;
  PodCurlOutput parsed;
  if (m[2].str() != "0" && !m[1].str().empty()) parsed.localAddress = m[1].str() + ":" + m[2].str();
  parsed.status = std::stoi(m[3].str());
  parsed.exitCode = std::stoi(m[4].str());
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
  std::map<std::size_t, std::unique_ptr<httpbin::HttpbinServer>> mocks;  // by upstream index
  std::vector<Command> dnatRules;  // `iptables -D` of every rule up() inserted, for teardown
  // Names a `dns` fault answers for now (docs/kind.md "World faults"); undone at down().
  std::map<std::string, model::FaultSpec::DnsAnswer> dnsOverrides;
  // Faults change from the steps' thread and from ttl threads: one lock, and generations so a
  // ttl never ends a later fault of the same target.
  std::mutex faultMu;
  std::map<std::pair<std::string, std::string>, std::uint64_t> gatewayGeneration;
  std::map<std::string, std::uint64_t> dnsGeneration;
  std::vector<std::jthread> ttlThreads;  // stopped (and joined) first thing in down()
  std::set<std::pair<std::string, std::string>> killedGateways;  // (ns, name), undone at down()
  std::vector<ProxyRef> proxies;
  std::chrono::milliseconds accessLogWait{5000};
  std::map<std::size_t, pki::KeyPair> upstreamPairs;  // scenario.upstreams index → certificate
  std::vector<PlanStep> planSteps;                    // --plan-dir: plan.sh, in order
  std::filesystem::path planDir;                      // where this scenario's plan goes
  struct Load {
    std::optional<std::string> from;
    std::string prefix;  // x-request-id prefix
    double rate = 1;
    std::unique_ptr<BackgroundProcess> process;         // in the pod
    std::unique_ptr<backend::LoadGenerator> generator;  // from the host
  };
  std::map<std::string, Load> loads;
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

// The world's DNS records as hosts-file entries (name, address), every A record of every name.
std::vector<std::pair<std::string, std::string>> hostsEntries(const model::Scenario& scenario) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [host, ips] : worldDnsAnswers(scenario)) {
    for (const auto& ip : ips) out.emplace_back(host, ip);
  }
  return out;
}

// TTL of the records our hosts block answers. Envoy's DNS clusters re-resolve at the answer's
// TTL (respect_dns_ttl, docs/istio-behaviour.md §R4) and CoreDNS's cache keeps an answer at most
// that long, so a `dns` fault reaches the gateways within seconds (the hosts plugin's default,
// 3600 s, would hide it for an hour).
constexpr int kHostsTtlSeconds = 5;

// "crm.legacy.example" → "^crm[.]legacy[.]example[.]$" (the template plugin matches the FQDN).
std::string exactNameRegex(const std::string& name) {
  std::string out = "^";
  for (char c : name) {
    if (c == '.') {
      out += "[.]";
    } else {
      out += c;
    }
  }
  return out + "[.]$";
}

// What our block of the Corefile says: the hosts entries, and for each name a `dns` fault
// answers NXDOMAIN or SERVFAIL for, a `template` rule answering that code (the template plugin
// runs before hosts). A fault answering addresses replaces that name's records.
struct DnsBlock {
  std::vector<std::pair<std::string, std::string>> hosts;  // (name, address)
  std::string templates;                                   // Corefile lines, indented
};

DnsBlock dnsBlock(const model::Scenario& scenario,
                  const std::map<std::string, model::FaultSpec::DnsAnswer>& overrides) {
  using Kind = model::FaultSpec::DnsAnswer::Kind;
  DnsBlock block{hostsEntries(scenario), {}};
  for (const auto& [name, answer] : overrides) {
    std::erase_if(block.hosts, [&](const auto& entry) { return entry.first == name; });
    if (answer.kind == Kind::kAddresses) {
      for (const auto& ip : answer.addresses) block.hosts.emplace_back(name, ip);
      continue;
    }
    block.templates += fmt::format(
        "    template IN ANY {} {{\n       match \"{}\"\n       rcode {}\n       "
        "fallthrough\n    }}\n",
        name, exactNameRegex(name), answer.kind == Kind::kNxdomain ? "NXDOMAIN" : "SERVFAIL");
  }
  return block;
}

// The Corefile with our block first in the `.:53` server block (replacing an older one from a
// reused cluster). `fallthrough` keeps every other name on the kubernetes/forward path.
std::string patchCorefile(const std::string& corefile, const DnsBlock& dns) {
  std::string block = "    # egresslab hosts begin\n" + dns.templates;
  block += fmt::format("    hosts {{\n       ttl {}\n", kHostsTtlSeconds);
  for (const auto& [host, ip] : dns.hosts) block += fmt::format("       {} {}\n", ip, host);
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

// The coredns ConfigMap to apply: the captured Corefile with our block (patchCorefile).
std::string corefileConfigMap(const std::string& corefile, const model::Scenario& scenario,
                              const std::map<std::string, model::FaultSpec::DnsAnswer>& overrides) {
  nlohmann::json cm = {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", "coredns"}, {"namespace", "kube-system"}}},
      {"data", {{"Corefile", patchCorefile(corefile, dnsBlock(scenario, overrides))}}}};
  return cm.dump(2);
}

// A START_TIME as Envoy prints it (UTC, ms): lines older than this belong to earlier requests.
std::string startTimeBound(std::chrono::system_clock::time_point at) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", std::chrono::floor<std::chrono::seconds>(at),
                     ms);
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
  } else if (f.action == "close") {
    fault.action = httpbin::Fault::Action::kClose;
  } else if (f.action == "blackhole") {
    fault.action = httpbin::Fault::Action::kBlackhole;
  } else if (f.action == "cert") {
    fault.action = httpbin::Fault::Action::kCert;
    fault.cert = f.cert == "wrong-host" ? httpbin::Fault::Cert::kWrongHost
                 : f.cert == "rotate"   ? httpbin::Fault::Cert::kRotate
                                        : httpbin::Fault::Cert::kExpired;
  } else {
    return std::nullopt;
  }
  return fault;
}

}  // namespace

namespace {

Result<void> writeFileAt(const std::filesystem::path& dir, const std::filesystem::path& relative,
                         const std::string& content,
                         std::filesystem::perms mode = std::filesystem::perms::owner_read |
                                                       std::filesystem::perms::owner_write |
                                                       std::filesystem::perms::group_read |
                                                       std::filesystem::perms::others_read) {
  const auto path = dir / relative;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec)
    return environmentError("cannot create " + path.parent_path().string() + ": " + ec.message());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return environmentError("cannot write " + path.string());
  std::filesystem::permissions(path, mode, ec);
  if (ec) return environmentError("cannot set the mode of " + path.string() + ": " + ec.message());
  return {};
}

constexpr auto kPrivate = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;

// Everything the planned commands read from the run directory, written under `dir`: the two
// CAs (public-ca.crt signs the mocks, ca.crt the scenario's secrets), the secrets' keys, the
// upstream mocks' certificates and every PlannedCommand::files entry.
struct RunPki {
  std::optional<pki::CertificateAuthority> publicCa;
  std::optional<pki::CertificateAuthority> scenarioCa;
  std::map<std::size_t, pki::KeyPair> upstreamPairs;
};

Result<void> writeRunFiles(const std::filesystem::path& dir, const model::Scenario& scenario,
                           const std::vector<PlannedCommand>& plan, RunPki& out) {
  auto publicCa = pki::CertificateAuthority::create("EgressLab public CA");
  if (!publicCa) return std::unexpected(std::move(publicCa.error()));
  out.publicCa = std::move(*publicCa);
  if (auto w = writeFileAt(dir, "public-ca.crt", out.publicCa->certPem()); !w) return w;
  auto scenarioCa = pki::CertificateAuthority::create("EgressLab scenario CA");
  if (!scenarioCa) return std::unexpected(std::move(scenarioCa.error()));
  out.scenarioCa = std::move(*scenarioCa);
  if (auto w = writeFileAt(dir, "ca.crt", out.scenarioCa->certPem()); !w) return w;
  for (const auto& secret : scenario.secrets) {
    if (!secret.certFile.empty()) continue;
    auto pair = out.scenarioCa->issueServer(secret.hosts);
    if (!pair) return std::unexpected(std::move(pair.error()));
    const auto base = std::filesystem::path("secrets") / secret.ns / secret.name;
    if (auto w = writeFileAt(dir, base.string() + ".key", pair->keyPem, kPrivate); !w) return w;
    if (auto w = writeFileAt(dir, base.string() + ".crt", pair->chainPem); !w) return w;
  }
  for (std::size_t i = 0; i < scenario.upstreams.size(); ++i) {
    const auto& u = scenario.upstreams[i];
    if (!u.tls) continue;
    auto pair = out.publicCa->issueServer({u.host});
    if (!pair) return std::unexpected(std::move(pair.error()));
    const auto base = std::filesystem::path("upstreams") / upstreamFileBase(scenario, i);
    if (auto w = writeFileAt(dir, base.string() + ".key", pair->keyPem, kPrivate); !w) return w;
    if (auto w = writeFileAt(dir, base.string() + ".crt", pair->chainPem); !w) return w;
    out.upstreamPairs[i] = std::move(*pair);
  }
  for (const auto& step : plan) {
    for (const auto& f : step.files) {
      if (auto w = writeFileAt(dir, f.relative, f.content); !w) return w;
    }
  }
  return {};
}

std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool word = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.';
    if (word) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && (out.back() == '-' || out.back() == '.')) out.pop_back();
  return out.empty() ? "stdin" : out;
}

// The hosts block of the Corefile, as plan.sh's patch_corefile inserts it.
std::string hostsBlockTemplate(const model::Scenario& scenario) {
  std::string block;
  for (const auto& [host, ip] : hostsEntries(scenario)) block += ip + " " + host + "\n";
  return block;
}

std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

namespace {

// One line for `plan.sh --list`: what the step is for.
std::string describeStep(const PlannedCommand& p, const std::string& runDir) {
  const auto& argv = p.stages.front().argv;
  const std::string what = p.stdinDescription;
  if (!p.waitsFor.empty()) return "wait for " + p.waitsFor;
  if (p.mockUpstream >= 0) return "start the mock of " + what + " (egresslab mock httpbin)";
  switch (p.phase) {
    case Phase::kPreflight:
      return "preflight: is " + argv.front() + " installed and working?";
    case Phase::kIstio:
    case Phase::kGateways:
      if (!what.empty()) {
        return "install " +
               std::filesystem::path(what.substr(0, what.find(' '))).filename().string() +
               " (vars applied)";
      }
      break;
    case Phase::kManifests:
      return "apply " + std::filesystem::path(what).filename().string() + " (vars applied)";
    case Phase::kWorkloads:
      return "create " + what.substr(0, what.find(" from "));
    case Phase::kPortForward:
      return "port-forward " + argv.at(argv.size() - 2) + " " + argv.back() + " (background)";
    default:
      if (!what.empty()) return what;
      break;
  }
  return replaceAll(p.display(), runDir, "$RUN_DIR");
}

}  // namespace

std::optional<std::string> upstreamFaultJson(const model::FaultSpec& fault) {
  auto mock = toMockFault(fault);
  if (!mock) return std::nullopt;
  return httpbin::toJson(*mock).dump();
}

std::string shellLine(const std::vector<std::string>& argv) {
  static const std::vector<std::string> kExpanded = {"${RUN_DIR}", "${KIND_GATEWAY}",
                                                     "${REQUEST_ID}", "${EGRESSLAB}", "${NODE}"};
  std::string line;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string arg = argv[i];
    if (i == 0 && arg == "egresslab") arg = "${EGRESSLAB}";
    if (i > 0) line += ' ';
    const bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
             std::string_view("-_./:=,@+%").find(c) != std::string_view::npos;
    });
    if (plain) {
      line += arg;
      continue;
    }
    const bool expands = std::any_of(kExpanded.begin(), kExpanded.end(), [&](const auto& v) {
      return arg.find(v) != std::string::npos;
    });
    if (!expands) {
      line += "'" + replaceAll(arg, "'", "'\\''") + "'";
      continue;
    }
    // Double quotes: our variables expand, every other $, `, " and \ is escaped.
    std::string quoted = "\"";
    for (std::size_t at = 0; at < arg.size();) {
      const auto var = std::find_if(kExpanded.begin(), kExpanded.end(), [&](const auto& v) {
        return arg.compare(at, v.size(), v) == 0;
      });
      if (var != kExpanded.end()) {
        quoted += *var;
        at += var->size();
        continue;
      }
      const char c = arg[at++];
      if (c == '$' || c == '`' || c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    line += quoted + "\"";
  }
  return line;
}

std::string planScript(const std::string& scenarioName, const std::vector<PlanStep>& steps,
                       bool ownKubeconfig) {
  std::string out = replaceAll(R"SH(#!/usr/bin/env bash
# The kind plan of scenario @NAME@, written by `egresslab run --backend kind --dry-run
# --plan-dir`. Nothing in it has run yet. Every file it reads is in this directory.
#
#   ./plan.sh              run every step in order (stops at the first failing one)
#   ./plan.sh --step       show each step and ask before running it
#   ./plan.sh --from N     start at step N (after a fix, or on a cluster that is half up)
#   ./plan.sh --list       list the steps
#
# EGRESSLAB=/path/to/egresslab picks the binary that serves the upstream mocks.
set -euo pipefail
RUN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
@KUBECONFIG@
EGRESSLAB="${EGRESSLAB:-egresslab}"
REQUEST_ID=""
KIND_GATEWAY=""
COREFILE=""
NODES=""

# Values earlier steps captured (the kind network's gateway address, the Corefile) are kept in
# captured/, so ./plan.sh --from N finds them.
mkdir -p "${RUN_DIR}/captured"
for f in "${RUN_DIR}"/captured/*; do
  name=$(basename "$f")
  if [[ -f "$f" && $name =~ ^[A-Z_]+$ ]]; then printf -v "$name" '%s' "$(cat "$f")"; fi
done

# capture NAME COMMAND...: COMMAND's output (trimmed) becomes $NAME.
capture() {
  local name=$1 value
  shift
  value=$("$@")
  value="${value#"${value%%[![:space:]]*}"}"
  value="${value%"${value##*[![:space:]]}"}"
  if [[ $name == KIND_GATEWAY ]]; then
    value=$(printf '%s\n' $value | grep -E '^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$' | head -n 1 || true)
    if [[ -z $value ]]; then echo "no IPv4 gateway address for the kind network" >&2; return 1; fi
  fi
  printf -v "$name" '%s' "$value"
  printf '%s' "$value" >"${RUN_DIR}/captured/$name"
  echo "$name=$value"
}

# ok_if TEXT COMMAND...: a failure whose stderr contains TEXT is fine (AlreadyExists, ...).
ok_if() {
  local text=$1 err rc=0
  shift
  { err=$("$@" 2>&1 1>&3 3>&-) || rc=$?; } 3>&1
  if [[ -n $err ]]; then printf '%s\n' "$err" >&2; fi
  if ((rc != 0)) && [[ $err != *"$text"* ]]; then return "$rc"; fi
  return 0
}

# background LOG COMMAND...: a long-running command (port-forward, mock), stopped at teardown.
background() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  echo $! >>"${RUN_DIR}/captured/.pids"
  echo "started (pid $!), output in $log"
}

stop_background() {
  if [[ -f "${RUN_DIR}/captured/.pids" ]]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"${RUN_DIR}/captured/.pids"
    rm -f "${RUN_DIR}/captured/.pids"
  fi
}

# patch_corefile BLOCK [TEMPLATES]: the captured Corefile with BLOCK (${KIND_GATEWAY} filled in)
# as a hosts block in the .:53 server, TEMPLATES' lines (a dns fault's template rules) before it
# (an older egresslab block replaced), as the ConfigMap to apply.
patch_corefile() {
  local block templates=""
  block=$(sed "s/\${KIND_GATEWAY}/${KIND_GATEWAY}/g" "$1")
  if [[ $# -gt 1 ]]; then templates=$(cat "$2"); fi
  printf '%s\n' "$COREFILE" | awk -v block="$block" -v templates="$templates" '
    function hosts(   n, i, lines) {
      print "    # egresslab hosts begin"
      if (templates != "") print templates
      print "    hosts {"; print "       ttl 5"
      n = split(block, lines, "\n")
      for (i = 1; i <= n; i++) if (lines[i] != "") print "       " lines[i]
      print "       fallthrough"; print "    }"; print "    # egresslab hosts end"
    }
    /# egresslab hosts begin/ { skip = 1 }
    skip { if (/# egresslab hosts end/) skip = 0; next }
    { print }
    !done && /[.]:53/ && /[{]/ { hosts(); done = 1 }
    END { if (!done) { print ".:53 {"; hosts(); print "    forward . /etc/resolv.conf"; print "}" } }
  ' >"${RUN_DIR}/Corefile.patched"
  kubectl -n kube-system create configmap coredns \
    --from-file=Corefile="${RUN_DIR}/Corefile.patched" --dry-run=client -o yaml
}

new_request_id() {
  REQUEST_ID=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || echo "egresslab-$RANDOM$RANDOM")
}

)SH",
                               "@NAME@", scenarioName);
  out = replaceAll(out, "@KUBECONFIG@",
                   ownKubeconfig
                       ? "export KUBECONFIG=\"${RUN_DIR}/kubeconfig\""
                       : "# --context: the commands name the context; your KUBECONFIG is used");
  out += "STEPS=" + std::to_string(steps.size()) + "\n";
  out += "describe() {\n  case $1 in\n";
  for (std::size_t i = 0; i < steps.size(); ++i) {
    // Single quotes: a description is text, nothing in it expands.
    out += fmt::format("    {}) echo '{}' ;;\n", i + 1,
                       replaceAll(steps[i].description, "'", "'\\''"));
  }
  out += "  esac\n}\n\n";
  for (std::size_t i = 0; i < steps.size(); ++i) {
    out += fmt::format("step_{}() {{\n  {}\n}}\n", i + 1, steps[i].shell);
  }
  out += R"SH(
mode=run
from=1
while (($#)); do
  case $1 in
    --step) mode=step ;;
    --list) mode=list ;;
    --from) from=$2; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for ((i = from; i <= STEPS; i++)); do
  if [[ $mode == list ]]; then printf '%3d  %s\n' "$i" "$(describe "$i")"; continue; fi
  printf '\n[%d/%d] %s\n' "$i" "$STEPS" "$(describe "$i")"
  declare -f "step_$i" | sed -e '1,2d' -e '$d' -e 's/^    /  $ /'
  if [[ $mode == step ]]; then
    read -r -p "run it? [Y/n/q] " answer </dev/tty
    case $answer in
      [nN]*) continue ;;
      [qQ]*) exit 0 ;;
    esac
  fi
  "step_$i"
done
)SH";
  return out;
}

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
    if (options_.planDir.empty()) {
      for (const auto& p : *plan) planLines_.push_back(p.display());
      return {};
    }
    // --plan-dir: the run directory's files, each stdin document as a numbered file, and
    // plan.sh (docs/kind.md "A plan you can replay").
    s.planDir = std::filesystem::absolute(options_.planDir).lexically_normal();
    if (options_.planDirPerScenario) s.planDir /= scenario.name;
    RunPki files;
    if (auto written = writeRunFiles(s.planDir, scenario, *plan, files); !written) {
      return written;
    }
    for (const auto& p : *plan) {
      const std::size_t number = s.planSteps.size() + 1;
      std::vector<std::string> stages;
      for (const auto& stage : p.stages) stages.push_back(shellLine(stage.argv));
      std::string shell = fmt::format("{}", fmt::join(stages, " | "));
      std::string display = p.display();
      std::string description = describeStep(p, options_.runDir.string());
      if (p.stdinSource == StdinSource::kPatchedCorefile) {
        const auto block = std::filesystem::path(fmt::format("{:02}-coredns-hosts.txt", number));
        auto w = writeFileAt(s.planDir, block, hostsBlockTemplate(scenario));
        if (!w) return w;
        const std::string file = (options_.runDir / block).string();
        shell = "patch_corefile " + shellLine({file}) + " | " + shell;
        display = "patch_corefile " + file + " | " + display;
      } else if (!p.stages.front().stdinData.empty()) {
        const std::string& what = p.stdinDescription;
        const std::string name =
            p.phase == Phase::kWorkloads
                ? slug(what.substr(0, what.find(" from ")))  // "workload NS/NAME from …"
                : slug(std::filesystem::path(what).stem().string());
        const auto doc = std::filesystem::path(fmt::format("{:02}-{}.yaml", number, name));
        auto w = writeFileAt(s.planDir, doc, p.stages.front().stdinData);
        if (!w) return w;
        const std::string file = (options_.runDir / doc).string();
        shell += " < " + shellLine({file});
        display += " < " + file;
      }
      if (p.perNode) {
        shell = "for NODE in ${NODES}; do\n    " + shell + "\n  done";
      }
      if (p.mockUpstream >= 0 || p.phase == Phase::kPortForward) {
        const std::string log =
            (options_.runDir / fmt::format("{:02}-background.log", number)).string();
        shell = "background " + shellLine({log}) + " " + shell;
      } else if (!p.captureAs.empty()) {
        shell = "capture " + p.captureAs + " " + shell;
      } else if (!p.okIfStderrContains.empty()) {
        shell = "ok_if " + shellLine({p.okIfStderrContains}) + " " + shell;
      } else if (!p.fatal) {
        shell += " || true";
      }
      if (auto r = planStep(display, description, shell); !r) return r;
    }
    return writePlanScript();
  }

  auto runDir = pki::RunDirectory::create("egresslab-kind");
  if (!runDir) return std::unexpected(std::move(runDir.error()));
  s.runDir.emplace(std::move(*runDir));
  options_.runDir = s.runDir->path();
  auto plan = buildPlan(scenario, options_);
  if (!plan) return std::unexpected(std::move(plan.error()));
  // The run's files before the first command: the public CA (the trust ConfigMaps read it; it
  // signs the upstream mocks' certificates, so what the pods trust is what the mock shows),
  // the scenario CA and the secrets it signs, and the IstioOperators/helm values.
  {
    RunPki files;
    if (auto written = writeRunFiles(s.runDir->path(), scenario, *plan, files); !written) {
      return written;
    }
    s.publicCa = std::move(files.publicCa);
    s.scenarioCa = std::move(files.scenarioCa);
    s.upstreamPairs = std::move(files.upstreamPairs);
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
      // The patch the IstioOperator's tag names, so the hint says istioctl-1.22.3, not 1.22.0.
      const model::IstioVersion version = installVersion(scenario);
      pre.istioVersion = ToolVersion{version.major, version.minor, version.patch};
      pre.needHelm = scenario.installMethod() == model::InstallMethod::kHelm;
      const PreflightReport report = runPreflight(*runner_, pre);
      if (!report.ok()) {
        // Exit 3 (docs/design.md): say why on stderr too, where scripts look for it; the report
        // and console carry the full problems with install hints.
        std::vector<std::string> missing;
        for (const auto& check : report.checks) {
          if (!check.ok())
            missing.push_back(check.tool + " (" + std::string(toString(check.status)) + ")");
        }
        std::cerr << fmt::format(
            "egresslab: the kind backend cannot start: {}; run `egresslab doctor` for how to "
            "fix "
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
    if (step.mockUpstream >= 0) {
      // The legacy upstream, in-process on the kind network's gateway address (docs/kind.md
      // "Upstreams"); plan.sh runs the same mock as `egresslab mock httpbin`.
      const auto index = static_cast<std::size_t>(step.mockUpstream);
      const auto& u = scenario.upstreams.at(index);
      httpbin::HttpbinOptions mock;
      mock.host = s.captured["KIND_GATEWAY"];
      mock.port = options_.mockPortBase == 0
                      ? 0
                      : static_cast<int>(options_.mockPortBase + static_cast<std::uint32_t>(index));
      mock.hostname = u.name.empty() ? u.host : u.name;
      if (u.tls) {
        mock.tls = s.upstreamPairs.at(index);
        mock.issuer = s.publicCa;  // cert faults mint from the CA the pods trust
        mock.certNames = {u.host};
      }
      auto server = httpbin::HttpbinServer::start(mock);
      if (!server) return fail(std::move(server.error()));
      s.captured[fmt::format("MOCK_PORT_{}", index)] = std::to_string((*server)->port());
      s.mocks[index] = std::move(*server);
      continue;
    }
    if (step.stdinSource == StdinSource::kPatchedCorefile) {
      step.stages.front().stdinData = corefileConfigMap(s.captured["COREFILE"], scenario, {});
    }
    if (step.perNode) {
      // Once per node (the DNAT rules); each rule is taken out again at teardown when the cluster
      // outlives the run.
      for (auto& stage : step.stages) {
        for (auto& arg : stage.argv) arg = substituteCaptured(arg, s.captured);
      }
      std::istringstream nodes(s.captured["NODES"]);
      bool any = false;
      for (std::string node; nodes >> node;) {
        any = true;
        Command c = step.stages.front();
        for (auto& arg : c.argv) arg = replaceAll(arg, "${NODE}", node);
        auto r = runner_->run(c);
        if (!r) return fail(std::move(r.error()));
        if (!r->ok()) return fail(environmentError(r->describe()));
        Command undo = c;
        for (auto& arg : undo.argv) {
          if (arg == "-I") arg = "-D";
        }
        undo.argv.erase(std::find(undo.argv.begin(), undo.argv.end(), "PREROUTING") + 1);
        s.dnatRules.push_back(std::move(undo));
      }
      if (!any)
        return fail(environmentError("`kubectl get nodes` listed no node for the DNAT rules"));
      continue;
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
  const auto stepStart = std::chrono::system_clock::now();
  std::string curlLocal;      // curl's own end of its connection: the first TCP hop's peer
  bool curlConnected = !dry;  // false: curl reached nothing, no proxy can have logged

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
      if (s.planDir.empty()) {
        planLines_.push_back(exec.display());
      } else if (auto r =
                     planStep(exec.display(), "curl from " + *request.from + ": " + request.line,
                              "new_request_id\n  " + shellLine(exec.argv) + " || true");
                 !r) {
        return std::unexpected(std::move(r.error()));
      }
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
      curlLocal = parsed->localAddress;
      curlConnected = !curlLocal.empty();
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
      if (s.planDir.empty()) {
        planLines_.push_back(fmt::format("{}", fmt::join(argv, " ")));
      } else if (auto r = planStep(fmt::format("{}", fmt::join(argv, " ")),
                                   "curl from the host: " + request.line,
                                   "new_request_id\n  " + shellLine(argv) + " || true");
                 !r) {
        return std::unexpected(std::move(r.error()));
      }
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
      // Through a port-forward the gateway sees 127.0.0.1:<another port> (§R9): the address
      // joins nothing, but says whether curl connected at all.
      if (r.localPort > 0) curlLocal = fmt::format("{}:{}", r.localIp, r.localPort);
      curlConnected = r.localPort > 0;
    }
  }

  // via/flags: every hop of this curl, joined as in the simulator (access_log_join.h): the
  // logs of every proxy that can be on the path (the caller's sidecar first, every gateway,
  // every destination sidecar), read again until every proxy on the path has logged.
  std::vector<ProxyRef> sources;
  std::optional<std::string> firstProxy;
  std::map<std::string, std::string> proxyNames;  // "NS/DEPLOYMENT" → name in via
  for (const auto& p : s.proxies) {
    proxyNames[p.ns + "/" + p.deployment] = p.deployment;
    if (p.sidecar && request.from && *request.from == p.ns + "/" + p.deployment) {
      sources.insert(sources.begin(), p);
      firstProxy = p.deployment;
    } else {
      sources.push_back(p);
    }
  }
  constexpr std::chrono::milliseconds kReadTimeout{30000};
  // Which pod is which proxy: a hop whose UPSTREAM_HOST is a proxy's pod needs that proxy's line.
  const Command pods = clusterCommand(
      {"kubectl", "get", "pods", "-A", "-o", std::string(kPodIpJsonPath)}, kReadTimeout);
  if (dry) {
    if (s.planDir.empty()) {
      planLines_.push_back(pods.display());
    } else if (auto r =
                   planStep(pods.display(), "pod IPs: which proxy each hop sent this request to",
                            shellLine(pods.argv));
               !r) {
      return std::unexpected(std::move(r.error()));
    }
    for (const auto& p : sources) {
      std::vector<std::string> argv{"kubectl", "-n", p.ns, "logs", "deploy/" + p.deployment};
      if (p.sidecar) argv.insert(argv.end(), {"-c", "istio-proxy"});
      argv.push_back("--since=10m");
      const Command logs = clusterCommand(std::move(argv), kReadTimeout);
      if (s.planDir.empty()) {
        planLines_.push_back(logs.display());
      } else if (auto r = planStep(
                     logs.display(),
                     "the access log of " + p.ns + "/" + p.deployment +
                         ": this request's lines (by request id, or by connection) give via and "
                         "flags",
                     shellLine(logs.argv) + " | grep -F -- \"${REQUEST_ID}\" || true");
                 !r) {
        return std::unexpected(std::move(r.error()));
      }
    }
    return observed;
  }
  HopJoinInput join;
  join.requestId = requestId;
  join.curlLocalAddress = curlLocal;
  join.curlConnected = curlConnected;
  join.firstProxy = firstProxy;
  join.notBefore = startTimeBound(stepStart - std::chrono::seconds(5));
  if (auto listed = curlConnected ? runner_->run(pods) : Result<CommandResult>(CommandResult{});
      listed && listed->ok()) {
    join.proxyByIp = proxyByPodIp(listed->out, proxyNames);
  }
  const auto deadline = std::chrono::steady_clock::now() + s.accessLogWait;
  JoinedHops joined;
  while (curlConnected) {
    std::vector<AccessLogRecord> lines;
    for (std::size_t i = 0; i < sources.size(); ++i) {
      const auto& p = sources[i];
      std::vector<std::string> argv{"kubectl", "-n", p.ns, "logs", "deploy/" + p.deployment};
      if (p.sidecar) argv.insert(argv.end(), {"-c", "istio-proxy"});
      argv.push_back("--since=10m");
      auto result = runner_->run(clusterCommand(std::move(argv), kReadTimeout));
      if (!result || !result->ok()) continue;
      std::istringstream in(result->out);
      for (std::string line; std::getline(in, line);) {
        if (auto record = parseAccessLogRecord(line)) {
          record->proxy = p.deployment;
          record->source = i;
          lines.push_back(std::move(*record));
        }
      }
    }
    joined = joinHops(lines, join);
    if (joined.waitingFor.empty() || std::chrono::steady_clock::now() >= deadline) break;
    // Envoy flushes access logs about once a second, a TCP line when its connection ends.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  for (const auto& hop : joined.hops) {
    if (std::find(observed.via.begin(), observed.via.end(), hop.proxy) == observed.via.end()) {
      observed.via.push_back(hop.proxy);
    }
    observed.flags[hop.proxy] = hop.flags;
    observed.accessLog.push_back(hop.proxy + ": " + hop.line);
  }
  if (!joined.waitingFor.empty() && !joined.hops.empty()) {
    observed.accessLog.push_back(fmt::format(
        "(no line of {} for this request within {}ms: the path may be longer than `via`)",
        fmt::join(joined.waitingFor, ", "), s.accessLogWait.count()));
  }
  return observed;
}

Result<void> KindBackend::startLoad(const backend::LoadRequest& request) {
  State& s = *state_;
  if (s.loads.contains(request.name)) {
    return environmentError(fmt::format("load `{}` is already running", request.name));
  }
  State::Load load;
  load.from = request.request.from;
  load.prefix = s.runOptions.dryRun ? std::string("${REQUEST_ID}") : request.request.requestId;
  load.rate = request.rate;
  if (request.request.from) {
    Command exec;
    exec.argv = podLoadStartArgv(*request.request.from,
                                 podLoadScript(request.request.command, request.name, load.prefix,
                                               request.rate, request.concurrency));
    if (options_.context) {
      exec.argv.insert(exec.argv.begin() + 1, {"--context", *options_.context});
    } else {
      exec.env["KUBECONFIG"] = kubeconfigPath(options_).string();
    }
    if (s.runOptions.dryRun) {
      if (s.planDir.empty()) {
        planLines_.push_back(exec.display());
      } else if (auto r = planStep(exec.display(),
                                   "load " + request.name + " from " + *request.request.from +
                                       ": " + request.request.line,
                                   "new_request_id\n  background \"${RUN_DIR}/load-" +
                                       request.name + ".log\" " + shellLine(exec.argv));
                 !r) {
        return r;
      }
    } else {
      auto started =
          runner_->startBackground(exec, options_.runDir / ("load-" + request.name + ".log"));
      if (!started) return std::unexpected(std::move(started.error()));
      load.process = std::move(*started);
    }
  } else if (s.runOptions.dryRun) {
    // In-process from the host, through the port-forwards: the plan shows one of its requests.
    const std::string line = fmt::format("{} -H x-request-id:${{REQUEST_ID}}-N",
                                         fmt::join(curl::toArgv(request.request.command), " "));
    if (s.planDir.empty()) {
      planLines_.push_back(line);
    } else if (auto r = planStep(line,
                                 fmt::format("load {} from the host at {:g}/s (in-process; one of "
                                             "its requests)",
                                             request.name, request.rate),
                                 "new_request_id\n  " +
                                     shellLine(curl::toArgv(request.request.command)) + " || true");
               !r) {
      return r;
    }
  } else {
    curl::ExecOptions exec;
    exec.defaultTimeout = request.request.timeout.value_or(std::chrono::milliseconds(10000));
    const std::string prefix = load.prefix;
    load.generator = std::make_unique<backend::LoadGenerator>(
        request.rate, request.concurrency,
        [command = request.request.command, exec, prefix](std::uint64_t index) {
          curl::ExecOptions o = exec;
          o.extraHeaders.emplace_back("x-request-id", fmt::format("{}-{}", prefix, index));
          const curl::CurlResult r = curl::execute(command, o);
          return backend::LoadGenerator::Answer{r.exitCode, r.status};
        });
  }
  s.loads[request.name] = std::move(load);
  return {};
}

Result<backend::LoadRun> KindBackend::stopLoad(const std::string& loadName) {
  State& s = *state_;
  auto it = s.loads.find(loadName);
  if (it == s.loads.end()) return environmentError("no load `" + loadName + "` is running");
  State::Load load = std::move(it->second);
  s.loads.erase(it);
  backend::LoadRun run;
  if (load.generator) {
    run = load.generator->stop();
  } else if (load.from) {
    Command exec;
    exec.argv = podLoadStopArgv(*load.from, loadName);
    if (options_.context) {
      exec.argv.insert(exec.argv.begin() + 1, {"--context", *options_.context});
    } else {
      exec.env["KUBECONFIG"] = kubeconfigPath(options_).string();
    }
    exec.timeout = std::chrono::milliseconds(120000);
    if (s.runOptions.dryRun) {
      if (s.planDir.empty()) {
        planLines_.push_back(exec.display());
      } else if (auto r =
                     planStep(exec.display(), "stop load " + loadName + " and read its results",
                              shellLine(exec.argv));
                 !r) {
        return std::unexpected(std::move(r.error()));
      }
    } else {
      auto result = runner_->run(exec);
      if (load.process) load.process->stop();
      if (!result) return std::unexpected(std::move(result.error()));
      if (!result->ok()) {
        return environmentError("the pod's load loop did not stop cleanly: " + result->describe());
      }
      int malformed = 0;
      run = parsePodLoadOutput(result->out, load.rate, &malformed);
      if (malformed > 0) {
        run.notes.push_back(
            fmt::format("{} result lines of the pod's loop did not parse", malformed));
      }
    }
  }
  if (s.runOptions.dryRun) {
    // servedBy: the mocks' accounting, as plan.sh's mocks expose it on their control port.
    for (std::size_t i = 0; i < s.scenario.upstreams.size(); ++i) {
      const std::string line =
          fmt::format("curl -sS http://127.0.0.1:{}/served", mockControlPort(i));
      if (s.planDir.empty()) {
        planLines_.push_back(line);
      } else if (auto r = planStep(
                     line,
                     "which requests " + s.scenario.upstreams[i].name + " answered (servedBy)",
                     line);
                 !r) {
        return std::unexpected(std::move(r.error()));
      }
    }
    return run;
  }
  for (auto& sample : run.samples) {
    if (sample.dropped) continue;
    const std::string id = fmt::format("{}-{}", load.prefix, sample.index);
    std::uint64_t latest = 0;
    for (const auto& [key, server] : s.mocks) {
      if (const auto at = server->served().lastServed(id); at && *at > latest) {
        latest = *at;
        sample.servedBy = server->hostname();
      }
    }
  }
  return run;
}

namespace {

// A ttl's real duration: scenario time is scaled by --time-scale, like `wait:` (docs/design.md
// "Load and SLOs").
std::chrono::milliseconds realTtl(std::chrono::milliseconds ttl, double timeScale) {
  if (timeScale <= 0) return ttl;
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(static_cast<double>(ttl.count()) / timeScale));
}

}  // namespace

Command KindBackend::clusterCommand(std::vector<std::string> argv,
                                    std::chrono::milliseconds timeout) const {
  Command c;
  c.argv = std::move(argv);
  if (c.argv.front() == "kubectl" || c.argv.front() == "istioctl") {
    if (options_.context) {
      c.argv.insert(c.argv.begin() + 1, {"--context", *options_.context});
    } else {
      c.env["KUBECONFIG"] = kubeconfigPath(options_).string();
    }
  }
  c.timeout = timeout;
  return c;
}

Result<void> KindBackend::runOrPlan(const std::vector<ClusterStep>& steps,
                                    const std::string& description) {
  State& s = *state_;
  for (const auto& [c, shell] : steps) {
    if (s.runOptions.dryRun) {
      if (s.planDir.empty()) {
        planLines_.push_back(c.display());
      } else if (auto r =
                     planStep(c.display(), description, shell.empty() ? shellLine(c.argv) : shell);
                 !r) {
        return r;
      }
      continue;
    }
    auto r = runner_->run(c);
    if (!r) return std::unexpected(std::move(r.error()));
    if (!r->ok()) return environmentError(r->describe());
  }
  return {};
}

std::vector<KindBackend::ClusterStep> KindBackend::gatewayCommands(const std::string& ns,
                                                                   const std::string& name,
                                                                   bool up) const {
  const std::string deploy = "deploy/" + name;
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      options_.readinessTimeout + std::chrono::seconds(30));
  return {
      {clusterCommand({"kubectl", "-n", ns, "scale", deploy, up ? "--replicas=1" : "--replicas=0"},
                      timeout),
       {}},
      {clusterCommand({"kubectl", "-n", ns, "rollout", "status", deploy,
                       "--timeout=" + seconds(options_.readinessTimeout)},
                      timeout),
       {}}};
}

Result<void> KindBackend::fault(const model::FaultSpec& fault) {
  State& s = *state_;
  std::unique_lock lock(s.faultMu);  // a ttl's end runs on its own thread
  if (fault.targetKind == model::FaultSpec::TargetKind::kDns) return dnsFault(fault);
  if (fault.targetKind == model::FaultSpec::TargetKind::kGateway) {
    const std::pair<std::string, std::string> key{fault.gatewayNamespace, fault.gatewayName};
    if (fault.action != "kill" && fault.action != "restore") {
      return invalidInput("gateway fault `" + fault.action + "`: expected kill or restore",
                          fault.pos);
    }
    const bool kill = fault.action == "kill";
    const std::uint64_t generation = ++s.gatewayGeneration[key];
    if (kill) {
      s.killedGateways.insert(key);
    } else {
      s.killedGateways.erase(key);
    }
    const auto commands = gatewayCommands(key.first, key.second, !kill);
    if (auto r = runOrPlan(commands, "fault " + fault.target + " " + fault.action); !r) return r;
    if (kill && fault.ttl) {
      const auto restore = gatewayCommands(key.first, key.second, true);
      scheduleTtlEnd(fault, restore, [this, key, generation, restore] {
        State& st = *state_;
        if (st.gatewayGeneration[key] != generation) return;  // restored or killed again since
        st.killedGateways.erase(key);
        if (auto r = runOrPlan(restore, "ttl"); !r) {
          diagnostics_.push_back(
              {"ttl: restore gateway " + key.first + "/" + key.second, r.error().str()});
        }
      });
    }
    return {};
  }
  auto mockFault = toMockFault(fault);
  if (!mockFault) return invalidInput("unknown upstream fault `" + fault.action + "`", fault.pos);
  // Every server the target names (by name, host, host:port or address:port).
  const bool certFault = fault.action == "cert" || fault.action == "bad-cert";
  bool any = false;
  std::vector<std::size_t> hit;
  std::vector<ClusterStep> ends;  // plan.sh's ttl end: the hit mocks' DELETE /faults
  for (std::size_t i = 0; i < s.scenario.upstreams.size(); ++i) {
    const auto& u = s.scenario.upstreams[i];
    if (!model::faultTargetsServer(fault, u, model::explicitAddressOf(s.scenario, u))) continue;
    if (certFault && !u.tls) continue;
    any = true;
    hit.push_back(i);
    if (s.runOptions.dryRun) {
      // The mock's fault-control listener, as plan.sh starts it (mockControlPort); it takes JSON
      // only. `-f`: a fault the standalone mock refuses (a cert fault needs the CA key it does
      // not have) fails the plan loudly.
      const std::vector<std::string> argv{
          "curl",
          "-sS",
          "-f",
          "-H",
          "Content-Type: application/json",
          "-XPOST",
          "-d",
          *upstreamFaultJson(fault),
          fmt::format("http://127.0.0.1:{}/faults", mockControlPort(i))};
      Command end;
      end.argv = {"curl", "-sS", "-f", "-XDELETE",
                  fmt::format("http://127.0.0.1:{}/faults", mockControlPort(i))};
      ends.push_back({std::move(end), {}});
      const std::string display = fmt::format("{}", fmt::join(argv, " "));
      if (s.planDir.empty()) {
        planLines_.push_back(display);
      } else if (auto r = planStep(display, "fault " + fault.target + " " + fault.action,
                                   shellLine(argv));
                 !r) {
        return r;
      }
      continue;
    }
    auto server = s.mocks.find(i);
    if (server == s.mocks.end()) continue;
    auto applied = server->second->applyFault(*mockFault);
    if (!applied) return applied;
  }
  if (!any) return invalidInput("no upstream mock for " + fault.target, fault.pos);
  if (fault.ttl) {
    // In a run, exactly this fault ends (endFault, as on sim); plan.sh can only clear the
    // servers' faults (docs/kind.md "World faults").
    scheduleTtlEnd(fault, ends, [this, hit, ended = *mockFault] {
      for (const auto i : hit) {
        if (auto server = state_->mocks.find(i); server != state_->mocks.end()) {
          (void)server->second->endFault(ended);
        }
      }
    });
  }
  return {};
}

// docs/kind.md "World faults": what the world's DNS answers is CoreDNS's, so a `dns` fault
// rewrites our block of the Corefile (hosts entries, template rules for NXDOMAIN/SERVFAIL) and
// restarts CoreDNS, as up() does.
Result<void> KindBackend::dnsFault(const model::FaultSpec& fault) {
  State& s = *state_;
  const std::string& name = fault.dnsName;
  if (fault.action == "up") {
    s.dnsOverrides.erase(name);
  } else if (fault.action == "dns" && fault.answer) {
    s.dnsOverrides[name] = *fault.answer;
  } else {
    return invalidInput(
        fmt::format("dns faults are `dns` with an answer, or `up`; not \"{}\"", fault.action),
        fault.pos);
  }
  const std::uint64_t generation = ++s.dnsGeneration[name];
  if (auto r = applyDnsAnswers("fault " + fault.target + " " + fault.action); !r) return r;
  if (fault.action == "dns" && fault.ttl) {
    // plan.sh's ttl end: the answers without this override.
    auto after = s.dnsOverrides;
    after.erase(name);
    scheduleTtlEnd(fault, dnsCommands(after), [this, name, generation] {
      State& st = *state_;
      if (st.dnsGeneration[name] != generation) return;  // answered otherwise since
      st.dnsOverrides.erase(name);
      if (auto r = applyDnsAnswers("ttl"); !r) {
        diagnostics_.push_back({"ttl: dns/" + name, r.error().str()});
      }
    });
  }
  return {};
}

std::vector<KindBackend::ClusterStep> KindBackend::dnsCommands(
    const std::map<std::string, model::FaultSpec::DnsAnswer>& overrides) {
  State& s = *state_;
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      options_.readinessTimeout + options_.waitSlack);
  Command apply = clusterCommand({"kubectl", "-n", "kube-system", "apply", "-f", "-"},
                                 std::chrono::milliseconds(120000));
  std::string shell;  // plan.sh's line for the apply
  if (s.runOptions.dryRun) {
    if (!s.planDir.empty()) {
      // plan.sh: the same block from files (patch_corefile), as up()'s CoreDNS step.
      const DnsBlock block = dnsBlock(s.scenario, overrides);
      const std::size_t number = s.planSteps.size() + 1;
      const auto hostsFile = std::filesystem::path(fmt::format("{:02}-coredns-hosts.txt", number));
      const auto templatesFile =
          std::filesystem::path(fmt::format("{:02}-coredns-templates.txt", number));
      std::string hosts;
      for (const auto& [host, ip] : block.hosts) hosts += ip + " " + host + "\n";
      (void)writeFileAt(s.planDir, hostsFile, hosts);
      (void)writeFileAt(s.planDir, templatesFile, block.templates);
      shell = "patch_corefile " + shellLine({(options_.runDir / hostsFile).string()}) + " " +
              shellLine({(options_.runDir / templatesFile).string()}) + " | " +
              shellLine(apply.argv);
    }
  } else {
    const auto corefile = s.captured.find("COREFILE");  // read-only: a ttl thread gets here too
    apply.stdinData = corefileConfigMap(
        corefile == s.captured.end() ? std::string() : corefile->second, s.scenario, overrides);
  }
  return {{std::move(apply), std::move(shell)},
          {clusterCommand({"kubectl", "-n", "kube-system", "rollout", "restart", "deploy/coredns"},
                          std::chrono::milliseconds(120000)),
           {}},
          {clusterCommand({"kubectl", "-n", "kube-system", "rollout", "status", "deploy/coredns",
                           "--timeout=" + seconds(options_.readinessTimeout)},
                          timeout),
           {}}};
}

Result<void> KindBackend::applyDnsAnswers(const std::string& description) {
  return runOrPlan(dnsCommands(state_->dnsOverrides), description);
}

void KindBackend::scheduleTtlEnd(const model::FaultSpec& fault,
                                 const std::vector<ClusterStep>& plan, std::function<void()> end) {
  State& s = *state_;
  const auto after = realTtl(*fault.ttl, s.runOptions.timeScale);
  if (s.runOptions.dryRun) {
    // The plan is a list; the ttl's end runs in the background after its time.
    std::vector<std::string> shells;
    for (const auto& [c, shell] : plan) {
      planLines_.push_back(
          fmt::format("after {}ms (ttl of {}): {}", after.count(), fault.target, c.display()));
      shells.push_back(shell.empty() ? shellLine(c.argv) : shell);
    }
    if (!s.planDir.empty()) {
      planLines_.resize(planLines_.size() - plan.size());
      (void)planStep(
          fmt::format("after {}ms (ttl of {}): {}", after.count(), fault.target,
                      plan.empty() ? std::string("-") : plan.front().command.display()),
          fmt::format("the ttl of {} {} ends it after {}ms (in the background)", fault.target,
                      fault.action, after.count()),
          fmt::format("( sleep {:.3f}; {} ) >\"${{RUN_DIR}}/ttl.log\" 2>&1 &\n  echo $! "
                      ">>\"${{RUN_DIR}}/captured/.pids\"",
                      static_cast<double>(after.count()) / 1000.0, fmt::join(shells, " && ")));
    }
    return;
  }
  // One thread per ttl, woken early by down(); the end runs under the fault lock.
  s.ttlThreads.emplace_back([this, after, end = std::move(end)](std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, after, [] { return false; });
    if (stop.stop_requested()) return;
    std::lock_guard faults(state_->faultMu);
    end();
  });
}

std::vector<std::string> KindBackend::endpoints() const {
  std::vector<std::string> out;
  for (const auto& pf : state_->portForwards) {
    out.push_back(fmt::format("127.0.0.1:{} ({})", pf.local, pf.command.display()));
  }
  for (const auto& [index, server] : state_->mocks) {
    const auto& u = state_->scenario.upstreams.at(index);
    out.push_back(
        fmt::format("{}:{} ({}) → {}", u.host, u.port, server->hostname(), server->url()));
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
  // Pending ttls are moot: every fault ends now.
  for (auto& t : s.ttlThreads) t.request_stop();
  s.ttlThreads.clear();
  if (s.runOptions.dryRun && !s.planDir.empty()) {
    (void)planStep("", "stop the port-forwards and the upstream mocks", "stop_background");
  }
  // Loads nobody stopped (the runner stops them; this is the abort path): the pod loops end
  // with their exec, host loads before the port-forwards they use.
  for (auto& [name, load] : s.loads) {
    if (load.generator) load.generator->stop();
    if (load.process) load.process->stop();
  }
  s.loads.clear();
  for (auto& pf : s.portForwards) pf.process->stop();
  s.portForwards.clear();
  for (auto& [key, server] : s.mocks) server->stop();  // the mocks' faults end with them
  s.mocks.clear();
  const bool deleteCluster = !options_.keep && !options_.context && !options_.reuseCluster &&
                             (s.clusterCreated || s.runOptions.dryRun);
  // Every fault ends with the scenario: a gateway it killed is scaled back up when the cluster
  // outlives the run (--keep, --reuse-cluster, --context), also after Ctrl-C.
  if (!deleteCluster) {
    // The DNAT rules to the mocks (which are gone now) and any `dns` fault's CoreDNS answers.
    for (const auto& rule : s.dnatRules) {
      auto r = runner_->run(rule);
      if (!r || !r->ok())
        diagnostics_.push_back({rule.display(), r ? r->describe() : r.error().str()});
    }
    if (!s.dnsOverrides.empty()) {
      s.dnsOverrides.clear();
      if (auto r = applyDnsAnswers("the scenario's end"); !r) {
        diagnostics_.push_back({"restore CoreDNS's hosts block", r.error().str()});
      }
    }
    const auto killed = s.killedGateways;
    for (const auto& [ns, name] : killed) {
      model::FaultSpec restore;
      restore.targetKind = model::FaultSpec::TargetKind::kGateway;
      restore.target = "gateway/" + ns + "/" + name;
      restore.gatewayNamespace = ns;
      restore.gatewayName = name;
      restore.action = "restore";
      if (auto r = fault(restore); !r) {
        diagnostics_.push_back({"restore " + restore.target, r.error().str()});
      }
    }
  }
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
      if (s.planDir.empty()) {
        planLines_.push_back(del.display());
      } else {
        (void)planStep(del.display(), "delete the cluster", shellLine(del.argv));
      }
    } else {
      auto r = runner_->run(del);
      if (!r || !r->ok()) {
        diagnostics_.push_back({del.display(), r ? r->describe() : r.error().str()});
      }
    }
  }
  if (s.runDir && options_.keep) s.runDir->keep();
  if (s.runOptions.dryRun && !s.planDir.empty()) {
    if (auto written = writePlanScript(); !written) {
      diagnostics_.push_back({"write " + (s.planDir / "plan.sh").string(), written.error().str()});
    }
  }
}

Result<void> KindBackend::planStep(const std::string& display, const std::string& description,
                                   const std::string& shell) {
  State& s = *state_;
  if (!display.empty()) {
    planLines_.push_back(replaceAll(display, options_.runDir.string(), s.planDir.string()));
  }
  s.planSteps.push_back({description, shell});
  return {};
}

Result<void> KindBackend::writePlanScript() {
  State& s = *state_;
  using std::filesystem::perms;
  return writeFileAt(s.planDir, "plan.sh",
                     planScript(s.scenario.name, s.planSteps, !options_.context.has_value()),
                     perms::owner_all | perms::group_read | perms::group_exec | perms::others_read |
                         perms::others_exec);
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
