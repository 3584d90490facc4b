#include "harness/analyze/analyze.h"

#include <fmt/format.h>
#include <algorithm>
#include <set>
#include <system_error>

#include "harness/model/loader.h"

namespace egresslab::analyze {
namespace {

namespace fs = std::filesystem;

bool isYaml(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

std::string canonicalKey(const fs::path& p) {
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal().string() : c.string();
}

// Inputs expanded to files, in order: a directory's *.yaml/*.yml sorted by name.
Result<std::vector<fs::path>> expandInputs(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> files;
  for (const fs::path& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<fs::path> entries;
      for (const auto& e : fs::directory_iterator(in, ec)) {
        if (e.is_regular_file() && isYaml(e.path())) entries.push_back(e.path());
      }
      if (ec)
        return invalidInput(fmt::format("cannot read directory: {}", ec.message()),
                            SourcePos{in.string(), 0, 0});
      std::sort(entries.begin(), entries.end());
      files.insert(files.end(), entries.begin(), entries.end());
    } else if (fs::is_regular_file(in, ec)) {
      files.push_back(in);
    } else {
      return invalidInput("no such file or directory", SourcePos{in.string(), 0, 0});
    }
  }
  return files;
}

// Several scenarios may share manifests (a rendered tree's mesh/ files): keep each object
// once, identified by where it was written.
template <typename T>
void dedupeByOrigin(std::vector<T>& items) {
  std::set<std::string> seen;
  std::vector<T> kept;
  for (T& item : items) {
    if (seen.insert(fmt::format("{}|{}|{}", item.kind, item.origin.pos.str(), item.meta.name))
            .second) {
      kept.push_back(std::move(item));
    }
  }
  items = std::move(kept);
}

void dedupe(model::ResourceSet& rs) {
  dedupeByOrigin(rs.istioOperators);
  dedupeByOrigin(rs.gateways);
  dedupeByOrigin(rs.virtualServices);
  dedupeByOrigin(rs.serviceEntries);
  dedupeByOrigin(rs.destinationRules);
  dedupeByOrigin(rs.peerAuthentications);
  dedupeByOrigin(rs.authorizationPolicies);
  dedupeByOrigin(rs.namespaces);
  dedupeByOrigin(rs.secrets);
  dedupeByOrigin(rs.services);
  dedupeByOrigin(rs.deployments);
  dedupeByOrigin(rs.pods);
  dedupeByOrigin(rs.serviceAccounts);
  dedupeByOrigin(rs.kindClusters);
  dedupeByOrigin(rs.unsimulated);
}

std::size_t countResources(const model::ResourceSet& rs) {
  return rs.istioOperators.size() + rs.gateways.size() + rs.virtualServices.size() +
         rs.serviceEntries.size() + rs.destinationRules.size() + rs.peerAuthentications.size() +
         rs.authorizationPolicies.size() + rs.namespaces.size() + rs.secrets.size() +
         rs.services.size() + rs.deployments.size() + rs.pods.size() + rs.serviceAccounts.size() +
         rs.kindClusters.size() + rs.unsimulated.size() + rs.invalid.size();
}

}  // namespace

Result<AnalyzeReport> analyzeInputs(const AnalyzeOptions& options) {
  if (options.inputs.empty()) return invalidInput("analyze needs at least one file or directory");
  std::optional<model::IstioVersion> version;
  std::string versionSource = "the newest supported";
  if (options.istioVersion) {
    versionSource = "--istio-version";
    auto parsed = model::IstioVersion::parse(*options.istioVersion);
    if (!parsed) return std::unexpected(parsed.error());
    version = *parsed;
  }
  auto files = expandInputs(options.inputs);
  if (!files) return std::unexpected(files.error());

  model::ResourceSet resources;
  AnalysisInput input;
  std::set<std::string> loadedByScenario;
  std::vector<fs::path> manifests;
  std::size_t scenarios = 0;
  for (const fs::path& file : *files) {
    if (!model::looksLikeScenario(file)) {
      manifests.push_back(file);
      continue;
    }
    auto scenario = model::loadScenario(file);
    if (!scenario) return std::unexpected(scenario.error());
    if (!version) {
      version = scenario->istioVersion;
      versionSource = fmt::format("scenario {}", file.string());
    }
    ++scenarios;
    for (const fs::path& m : scenario->manifests) loadedByScenario.insert(canonicalKey(m));
    resources.append(std::move(scenario->resources));
    input.extraSecrets.insert(input.extraSecrets.end(), scenario->secrets.begin(),
                              scenario->secrets.end());
    input.workloads.insert(input.workloads.end(), scenario->workloads.begin(),
                           scenario->workloads.end());
    input.dns.insert(scenario->dns.begin(), scenario->dns.end());
    // A scenario's dns: is its cluster's whole DNS beyond Services (docs/design.md).
    input.dnsIsComplete = true;
  }
  for (const fs::path& file : manifests) {
    if (loadedByScenario.contains(canonicalKey(file))) continue;
    model::LoadOptions load;
    load.requireAllPlaceholders = false;  // raw files: placeholders stay as written
    // istioctl reports a resource that breaks the schema (IST0106) and analyses the rest;
    // YAML that does not parse is still an error (exit 2).
    load.lenient = true;
    auto loaded = model::loadManifests({file}, load);
    if (!loaded) return std::unexpected(loaded.error());
    resources.append(std::move(*loaded));
  }
  if (!version) {
    for (const model::IstioOperator& iop : resources.istioOperators) {
      if (iop.tag.empty()) continue;
      auto parsed = model::IstioVersion::parse(iop.tag, iop.origin.at("spec.tag"));
      if (!parsed) return std::unexpected(parsed.error());
      version = *parsed;
      versionSource = fmt::format("spec.tag of {}", iop.ref());
      break;
    }
  }
  if (scenarios == 0 && countResources(resources) == 0) {
    return invalidInput(
        "no Kubernetes or Istio manifest found (expected *.yaml/*.yml files with at least one "
        "object, or a scenario file)",
        SourcePos{options.inputs.front().string(), 0, 0});
  }
  dedupe(resources);
  AnalyzeReport report;
  report.version = version.value_or(model::kNewestSupported);
  // What the API server of that version rejects (a security.istio.io/v1 policy before 1.22, a
  // targetRef before 1.20, …) is an IST0106 like any schema error: the same rule a scenario load
  // applies, known only now that the version is.
  model::setAsideSecurityPoliciesRejectedBy(resources, report.version);
  input.resources = &resources;
  input.version = report.version;
  input.defaultIngress = options.defaultIngress;
  report.messages = analyzeResources(input);
  // Resources left out for breaking the schema: IST0106 at their position, as istioctl does.
  if (const std::optional<Level> level = levelIn("IST0106", report.version)) {
    for (const Error& invalid : resources.invalid) {
      Message m;
      m.code = "IST0106";
      m.level = *level;
      m.text = fmt::format("Schema validation error: {}", invalid.message);
      m.origin = "Resource";
      m.reference = invalid.where.value_or(SourcePos{});
      report.messages.push_back(std::move(m));
    }
    sortAndDedupe(report.messages);
  }
  // A scenario's manifests are absolute paths; print them relative to where the user stands.
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  for (Message& m : report.messages) {
    const fs::path file = m.reference.file;
    if (ec || !file.is_absolute()) continue;
    const fs::path rel = file.lexically_relative(cwd);
    if (!rel.empty() && *rel.begin() != "..") m.reference.file = rel.string();
  }
  std::vector<std::string> names;
  for (const fs::path& p : options.inputs) names.push_back(p.string());
  report.target = fmt::format("{}", fmt::join(names, ", "));
  report.context = fmt::format(
      "Analyzing {} as Istio {} (from {}); {}.", report.target, report.version.str(), versionSource,
      addsDefaultIngress(input)
          ? "assuming the default profile's ingress gateway as istioctl does on files (Pod and "
            "Service istio-system/istio-ingressgateway, selector istio=ingressgateway; "
            "--no-default-ingress turns it off)"
          : "no implicit ingress gateway");
  return report;
}

std::string formatContext(const AnalyzeReport& report) { return report.context + "\n"; }

std::string formatText(const AnalyzeReport& report) {
  std::string out;
  for (const Message& m : report.messages) out += m.line() + "\n";
  return out;
}

std::string formatJson(const AnalyzeReport& report) {
  nlohmann::json array = nlohmann::json::array();
  for (const Message& m : report.messages) array.push_back(m.json());
  return array.dump(2) + "\n";
}

std::string formatSummary(const AnalyzeReport& report, Level threshold) {
  if (report.messages.empty()) {
    return fmt::format("\u2714 No validation issues found when analyzing {}.\n", report.target);
  }
  if (exitCodeFor(report, threshold) != 0) {
    return fmt::format("Error: Analyzers found issues when analyzing {}.\n", report.target);
  }
  return "";
}

int exitCodeFor(const AnalyzeReport& report, Level threshold) {
  for (const Message& m : report.messages) {
    if (m.level >= threshold) return kAnalyzerFoundIssues;
  }
  return 0;
}

}  // namespace egresslab::analyze
