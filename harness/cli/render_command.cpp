// `egresslab render INVENTORY --out DIR`: per-upstream manifests and scenarios from an
// inventory (harness/render). Exit 0 written, 2 invalid inventory (FILE:LINE:COL on stderr).
#include <iostream>
#include <memory>
#include <string>

#include "harness/cli/command.h"
#include "harness/render/inventory.h"
#include "harness/render/render.h"

namespace egresslab::cli {
namespace {

struct RenderFlags {
  std::string inventory;
  std::string out;
};

int runRender(const RenderFlags& flags) {
  const auto inventory = render::loadInventory(flags.inventory);
  if (!inventory) {
    std::cerr << inventory.error().str() << "\n";
    return exitCodeFor(inventory.error().kind);
  }
  const auto files = render::renderInventory(*inventory, flags.inventory);
  const auto written = render::writeRendered(files, flags.out);
  if (!written) {
    std::cerr << written.error().str() << "\n";
    return exitCodeFor(written.error().kind);
  }
  for (const auto& path : *written) std::cout << path.string() << "\n";
  return 0;
}

void addRenderCommand(CLI::App& root, CommandTable& table) {
  auto flags = std::make_shared<RenderFlags>();
  CLI::App* cmd = root.add_subcommand(
      "render", "Render per-upstream egress-gateway manifests and scenarios from an inventory");
  cmd->add_option("inventory", flags->inventory, "inventory YAML")->required();
  cmd->add_option("--out", flags->out, "output directory")->required();
  table.on(cmd, [flags] { return runRender(*flags); });
}

const CommandRegistration kRenderRegistration{40, addRenderCommand};

}  // namespace
}  // namespace egresslab::cli
