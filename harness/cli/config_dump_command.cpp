// `egresslab sim config-dump SCENARIO [--proxy NAMESPACE/NAME] [--istio-version V]`: the
// compiled per-proxy config as JSON (listeners, routes, clusters, endpoints), the way
// `istioctl proxy-config all` shows a real proxy's. Without --proxy: the mesh overview (proxies,
// registry, DNS, what is not simulated). Exit 0; 2 on invalid input or an unknown proxy (the
// message lists the proxies).
#include <iostream>
#include <memory>
#include <string>

#include "harness/cli/command.h"
#include "harness/mesh/compile.h"
#include "harness/mesh/config_json.h"
#include "harness/model/loader.h"

namespace egresslab::cli {
namespace {

struct ConfigDumpFlags {
  std::string scenario;
  std::string proxy;
  std::string istioVersion;
};

int runConfigDump(const ConfigDumpFlags& flags) {
  auto scenario = model::loadScenario(flags.scenario);
  if (!scenario) {
    std::cerr << scenario.error().str() << "\n";
    return exitCodeFor(scenario.error().kind);
  }
  if (!flags.istioVersion.empty()) {
    auto v = model::IstioVersion::parse(flags.istioVersion);
    if (!v) {
      std::cerr << "--istio-version: " << v.error().str() << "\n";
      return 2;
    }
    scenario->istioVersion = *v;
  }
  auto mesh = mesh::compileMesh(*scenario);
  if (!mesh) {
    std::cerr << mesh.error().str() << "\n";
    return exitCodeFor(mesh.error().kind);
  }
  for (const auto& note : mesh->notSimulated) {
    std::cerr << (note.where.file.empty() ? std::string() : note.where.str() + ": ") << note.ref
              << ": " << note.what << "\n";
  }
  if (flags.proxy.empty()) {
    std::cout << mesh::toJson(*mesh).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
    return 0;
  }
  const mesh::ProxyConfig* proxy = mesh->findProxy(flags.proxy);
  if (proxy == nullptr) {
    std::cerr << "unknown proxy \"" << flags.proxy << "\"; the scenario's proxies are:\n";
    for (const auto& p : mesh->proxies) {
      std::cerr << "  " << p.id.str() << " (" << mesh::proxyKindName(p.id.kind) << ")\n";
    }
    return 2;
  }
  std::cout << mesh::toJson(*proxy).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
            << "\n";
  return 0;
}

void addConfigDumpCommand(CLI::App& root, CommandTable& table) {
  auto flags = std::make_shared<ConfigDumpFlags>();
  CLI::App* cmd =
      parentCommand(root, "sim", "The loopback simulator: run a mesh, inspect its config")
          ->add_subcommand("config-dump",
                           "Print a proxy's compiled config (listeners, routes, clusters) as JSON");
  cmd->add_option("scenario", flags->scenario, "scenario file")->required();
  cmd->add_option("--proxy", flags->proxy,
                  "NAMESPACE/NAME of a gateway deployment or workload (sidecar); omit for the "
                  "mesh overview");
  cmd->add_option("--istio-version", flags->istioVersion,
                  "compile for this Istio version instead of the scenario's");
  table.on(cmd, [flags] { return runConfigDump(*flags); });
}

const CommandRegistration kConfigDumpRegistration{60, addConfigDumpCommand};

}  // namespace
}  // namespace egresslab::cli
