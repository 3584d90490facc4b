// The subcommand registry of the `egresslab` binary.
//
// Each subcommand lives in its own `*_command.cpp` beside main.cpp and registers itself with a
// static CommandRegistration, so commands can be added without touching main. A command only
// turns flags into an option struct and calls its module (docs/design.md: cli holds no logic); the
// action returns the process exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace egresslab::cli {

using CommandAction = std::function<int()>;

// Collects, for every leaf subcommand, the action to run when it is the one selected.
class CommandTable {
 public:
  void on(CLI::App* subcommand, CommandAction action) {
    entries_.push_back({subcommand, std::move(action)});
  }
  // The action of the deepest parsed subcommand, or nullptr.
  const CommandAction* selected() const {
    const CommandAction* found = nullptr;
    for (const auto& e : entries_) {
      if (e.app->parsed()) found = &e.action;
    }
    return found;
  }

 private:
  struct Entry {
    CLI::App* app;
    CommandAction action;
  };
  std::vector<Entry> entries_;
};

using CommandFactory = void (*)(CLI::App& root, CommandTable& table);

// Registers a factory at static-initialisation time; `order` sorts `--help`.
struct CommandRegistration {
  CommandRegistration(int order, CommandFactory factory);
};

// The subcommand `name` of `root`, created (requiring one child) if no file added it yet: for
// parents that several command files share, such as `sim` (`sim up`, `sim config-dump`).
CLI::App* parentCommand(CLI::App& root, const std::string& name, const std::string& description);

// Every registered factory, in order.
std::vector<CommandFactory> registeredCommands();

// `egresslab frobnicate`: "egresslab: unknown command "frobnicate" (commands: run, …)", with a
// did-you-mean when a command is close.
std::string unknownCommandMessage(const std::string& written,
                                  const std::vector<std::string>& commands);

}  // namespace egresslab::cli
