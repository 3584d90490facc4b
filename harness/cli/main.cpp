// `egresslab` — the command-line front door. Parses with CLI11, runs the selected subcommand,
// maps errors to the exit codes of docs/design.md (usage errors → 2).
#include <algorithm>
#include <csignal>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "harness/cli/command.h"
#include "harness/cli/version.h"
#include "harness/model/schema.h"

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

std::string unknownCommandMessage(const std::string& written,
                                  const std::vector<std::string>& commands) {
  std::string message = "egresslab: unknown command \"" + written + "\"";
  std::string best;
  std::size_t bestDistance = 0;
  for (const auto& name : commands) {
    const std::size_t d = egresslab::model::detail::editDistance(written, name);
    if (best.empty() || d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  // Close enough to be a typo ("rnu", "analyse"): two edits at most, and not the whole word.
  if (!best.empty() && bestDistance <= 2 && bestDistance < best.size()) {
    message += "; did you mean \"" + best + "\"?";
  }
  std::string list;
  for (const auto& name : commands) list += (list.empty() ? "" : ", ") + name;
  return message + " (commands: " + list + "; egresslab --help)";
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

  // `egresslab frobnicate`: CLI11 would only say that a subcommand is required.
  if (argc >= 2 && argv[1][0] != '-') {
    const std::string written = argv[1];
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), written) == names.end()) {
      std::cerr << unknownCommandMessage(written, names) << "\n";
      return 2;
    }
  }

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
