// `egresslab` — the command-line front door. Parses with CLI11, runs the selected subcommand,
// maps errors to the exit codes of DESIGN.md (usage errors → 2).
#include <algorithm>
#include <csignal>
#include <iostream>
#include <map>

#include "harness/cli/command.h"
#include "harness/cli/version.h"

namespace egresslab::cli {
namespace {

std::multimap<int, CommandFactory>& registry() {
  static std::multimap<int, CommandFactory> factories;
  return factories;
}

}  // namespace

CommandRegistration::CommandRegistration(int order, CommandFactory factory) {
  registry().emplace(order, factory);
}

CLI::App* parentCommand(CLI::App& root, const std::string& name, const std::string& description) {
  for (CLI::App* sub : root.get_subcommands([&](CLI::App* a) { return a->get_name() == name; })) {
    return sub;
  }
  CLI::App* parent = root.add_subcommand(name, description);
  parent->require_subcommand(1);
  return parent;
}

std::vector<CommandFactory> registeredCommands() {
  std::vector<CommandFactory> out;
  for (const auto& [order, factory] : registry()) out.push_back(factory);
  return out;
}

}  // namespace egresslab::cli

int main(int argc, char** argv) {
  using namespace egresslab::cli;
  // A peer closing a socket must surface as an error value, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"EgressLab — end-to-end tests and a simulator for Istio egress gateways",
               "egresslab"};
  app.set_version_flag("--version", std::string(kVersion));
  app.require_subcommand(1);
  CommandTable table;
  for (CommandFactory factory : registeredCommands()) factory(app, table);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports --help/--version as "errors" with exit code 0.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  const CommandAction* action = table.selected();
  if (action == nullptr) {
    std::cerr << app.help();
    return 2;
  }
  return (*action)();
}
