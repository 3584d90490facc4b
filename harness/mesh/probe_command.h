// The command of an exec readiness probe (docs/istio-behaviour.md §7), read the way kubelet runs
// it: argv as written, or `sh -c SCRIPT` with POSIX shell semantics for lists (`;`, newline),
// AND-OR lists (`&&`, `||`, equal precedence, left-associative), pipelines (`|`, the status of the
// last command; `!` negates) and quoting (single quotes, double quotes, backslash). Nothing is
// expanded (`$VAR` stays literal); constructs a probe has no business with — subshells, command
// substitution, `&` background jobs, `if`/`for`/`while`/`case` — are an error value, never a
// guess. The analyzer (EGL004) and the simulator's prober both read probes through this file.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/error.h"

namespace egresslab::mesh {

// `2>&1`, `>/dev/null`, `< file`: kept so the words stay the program's argv; not executed.
struct ShellRedirect {
  std::string op;      // ">", ">>", ">&", "<", "<&", "<>", ">|", with a leading fd if written
  std::string target;  // the word after the operator
  friend bool operator==(const ShellRedirect&, const ShellRedirect&) = default;
};

struct SimpleCommand {
  std::vector<std::string> assignments;  // leading NAME=value words
  std::vector<std::string> words;        // argv, quotes removed
  std::vector<ShellRedirect> redirects;
  friend bool operator==(const SimpleCommand&, const SimpleCommand&) = default;
};

struct ShellPipeline {
  bool negated = false;  // `! a | b`
  std::vector<SimpleCommand> commands;
  friend bool operator==(const ShellPipeline&, const ShellPipeline&) = default;
};

// How a pipeline joins the one before it. The first pipeline's connector is kSequence.
enum class ShellConnector { kSequence, kAnd, kOr };

struct ShellListItem {
  ShellConnector connector = ShellConnector::kSequence;
  ShellPipeline pipeline;
  friend bool operator==(const ShellListItem&, const ShellListItem&) = default;
};

struct ShellScript {
  std::vector<ShellListItem> items;
  bool errexit = false;   // `sh -e -c …`: stop at a failing pipeline outside an AND-OR list
  bool pipefail = false;  // `sh -o pipefail -c …`: a pipeline fails when any command fails
  friend bool operator==(const ShellScript&, const ShellScript&) = default;
};

// Parses the text of `sh -c SCRIPT`. Errors are kInvalidInput with `where.column` advanced to
// the offending character when `where` has a line.
Result<ShellScript> parseShellScript(std::string_view script, SourcePos where = {});

// An exec probe's `command`: `sh|bash|ash|dash [-e…] -c SCRIPT …` (any directory) parses SCRIPT;
// any other argv is one simple command, taken verbatim. An empty command or a shell without -c
// (a script file) is an error.
Result<ShellScript> parseProbeCommand(const std::vector<std::string>& command,
                                      SourcePos where = {});

// The program's argv of a simple command: the words after the wrappers `exec`, `command`,
// `env [NAME=value…]` and `timeout [-opts] DURATION` (which do not change what runs).
std::span<const std::string> programArgv(const SimpleCommand& command);

// The last path component of argv[0] ("/usr/bin/curl" → "curl"); "" for an empty argv.
std::string programName(std::span<const std::string> argv);

// Runs one simple command that is not a shell builtin and returns its exit status (127: the
// program cannot be run).
using RunSimpleCommand = std::function<int(const SimpleCommand&)>;

// The exit status of the script as sh computes it: `a; b` and `a && b || c` the status of the
// last command that ran, a pipeline the status of its last command (every command of it runs,
// in order). Builtins: `true` and `:` → 0, `false` → 1, `exit [N]` ends the script (a bad N → 2);
// `set -e`/`set -o pipefail` (and `+`) switch those options on/off; a command of assignments or
// redirections only → 0. Everything else goes to `run`.
int evaluateShellScript(const ShellScript& script, const RunSimpleCommand& run);

}  // namespace egresslab::mesh
