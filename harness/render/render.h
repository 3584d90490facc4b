// `egresslab render`: an inventory of legacy upstreams → one directory per upstream with the
// manifests of the seed post's pattern, corrected for its traps, plus a scenario that tests
// that upstream; and a `mesh/` directory with the mesh IstioOperator and the shared ingress
// Gateway. Output is deterministic text (golden-file tested).
//
// Per upstream `<name>/`: namespace.yaml, egress-operator.yaml (a NAMED IstioOperator, §10;
// readiness probe `curl -f` against the upstream, §7 / EGL004) — or gateway-values.yaml plus
// gateway-workload.yaml for Helm on 1.24+ —, egress-gateway.yaml (ISTIO_MUTUAL server, §6),
// virtual-service.yaml, service-entry.yaml, destination-rule.yaml (upstream TLS with `sni`, §4
// / EGL001; ISTIO_MUTUAL to the gateway, §6 / EGL003), peer-authentication.yaml, scenario.yaml.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "harness/core/error.h"
#include "harness/render/inventory.h"

namespace egresslab::render {

struct RenderedFile {
  std::filesystem::path path;  // relative to the output directory
  std::string content;
};

// Every file the inventory renders to, in a stable order. `inventoryName` is how the files'
// header comments name the inventory (e.g. "fixtures/inventory.yaml").
std::vector<RenderedFile> renderInventory(const Inventory& inventory,
                                          const std::string& inventoryName);

// Writes the files under `outDir` (created as needed; existing files are overwritten).
// Returns the paths written, or an environment error.
Result<std::vector<std::filesystem::path>> writeRendered(const std::vector<RenderedFile>& files,
                                                         const std::filesystem::path& outDir);

}  // namespace egresslab::render
