// The process seam of the kind backend: every kind, kubectl, istioctl, docker and helm
// invocation goes through a CommandRunner (docs/design.md "Code conventions": processes only
// through this seam).
//
// A Command is an argv vector — never a shell string — with optional environment overrides,
// working directory, stdin content and a timeout. Running it yields a CommandResult: exit
// code and terminating signal reported separately, stdout/stderr captured up to a bound for
// the report. `run` returns an error value only when the command could not start (program
// not on PATH, exec failed); a non-zero exit, a signal or a timeout is a result, not an error.
//
// ProcessCommandRunner is the real implementation (Boost.Process v2 launcher + asio pipes,
// docs/kind.md "Processes"): each child leads its own process group, so a timeout or a
// cancellation kills the whole tree (kubectl's and kind's own children included), and every
// live group is listed in the ProcessGroupRegistry that SIGINT/SIGTERM handling drains.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/error.h"

namespace egresslab::kind {

// One program invocation.
struct Command {
  // argv[0] is the program: a bare name is looked up on the runner's search path, a name with
  // a '/' is used as given. Arguments are passed verbatim (no shell, no globbing).
  std::vector<std::string> argv{};
  // Variables set (or replaced) on top of the runner's own environment.
  std::map<std::string, std::string> env{};
  // Working directory of the child; empty = the runner's.
  std::filesystem::path cwd{};
  // Written to the child's stdin, which is then closed (`kubectl apply -f -`). When empty the
  // child's stdin is /dev/null, so no tool can ever wait on the user's terminal.
  std::string stdinData{};
  // From start to the first SIGTERM to the child's process group.
  std::chrono::milliseconds timeout{60000};
  // After SIGTERM, how long the group gets before SIGKILL.
  std::chrono::milliseconds killGrace{5000};
  // Captured bytes kept per stream; the rest is read and dropped (the child never blocks).
  std::size_t maxCapturedBytes = 16u << 20;

  // argv joined by spaces, the form the dry-run plan and the report print.
  [[nodiscard]] std::string display() const;
};

// What happened to one command that did start.
struct CommandResult {
  std::vector<std::string> argv{};  // as requested (argv[0] not resolved)
  int exitCode = -1;                // the exit status when the child exited, else -1
  int signal = 0;                   // the signal that terminated the child, else 0
  bool timedOut = false;            // the runner killed it at Command::timeout
  bool cancelled = false;           // killed by ProcessGroupRegistry::terminateAll (SIGINT/SIGTERM)
  std::string out{};                // captured stdout (empty for a pipeline stage feeding the next)
  std::string err{};                // captured stderr
  bool outTruncated = false;        // more than Command::maxCapturedBytes was written
  bool errTruncated = false;
  std::chrono::milliseconds duration{0};

  // Exited on its own with status 0.
  [[nodiscard]] bool ok() const { return exitCode == 0 && signal == 0 && !timedOut; }
  // argv joined by spaces.
  [[nodiscard]] std::string display() const;
  // One line for a report: "`kubectl apply -f -` exited 1", "... killed by SIGKILL after its
  // 30s timeout", followed by the captured stderr's last lines when there are any.
  [[nodiscard]] std::string describe() const;
};

// The stages of a pipeline, in order. Like `set -o pipefail`: ok only when every stage is.
struct PipelineResult {
  std::vector<CommandResult> stages{};
  [[nodiscard]] bool ok() const;
  // The first stage that is not ok, or nullptr.
  [[nodiscard]] const CommandResult* firstFailure() const;
};

// A long-running child (`kubectl port-forward`) started by CommandRunner::startBackground. It
// leads its own process group, listed in the ProcessGroupRegistry while it runs, so SIGINT/
// SIGTERM and stop() end the whole tree. The owner checks running() and restarts it if it
// dropped (docs/kind.md "Port-forwards").
class BackgroundProcess {
 public:
  virtual ~BackgroundProcess() = default;
  // False once the child has exited (it is reaped then).
  virtual bool running() = 0;
  // SIGTERM to the group, SIGKILL after `grace`; idempotent. The destructor calls it.
  virtual void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000)) = 0;
  [[nodiscard]] virtual std::string display() const = 0;
};

// The seam the kind backend (and preflight) talks to; tests substitute RecordingCommandRunner.
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;

  // Runs one command to completion (or to its timeout). Error only if it could not start.
  virtual Result<CommandResult> run(const Command& command) = 0;

  // Runs commands connected stdout → stdin (`istioctl manifest generate -f X | kubectl apply
  // -f -`). Only the first stage may carry stdinData. If any stage times out or is cancelled,
  // every stage is killed (a truncated manifest must not be applied further). A stage's `out`
  // is empty when it fed the next stage.
  virtual Result<PipelineResult> runPipeline(const std::vector<Command>& stages) = 0;

  // Where `program` would be found, or a kBackendUnavailable error naming it.
  virtual Result<std::filesystem::path> locate(std::string_view program) const = 0;

  // Starts `command` without waiting for it (stdin /dev/null; stdout and stderr appended to
  // `logFile` when given, else dropped). Command::timeout does not apply. Error only if it
  // could not start.
  virtual Result<std::unique_ptr<BackgroundProcess>> startBackground(
      const Command& command, const std::filesystem::path& logFile = {}) = 0;
};

// Looks `program` up in a PATH-style list (':'-separated; empty entries mean "."), returning
// the first regular, executable file. A name containing '/' is checked as given.
std::optional<std::filesystem::path> findProgram(std::string_view program,
                                                 std::string_view searchPath);
// Same, on this process's PATH.
std::optional<std::filesystem::path> findProgram(std::string_view program);

// The real runner. Thread-safe: run/runPipeline may be called from several threads at once.
class ProcessCommandRunner final : public CommandRunner {
 public:
  struct Options {
    // Where bare program names are looked up; nullopt = this process's PATH at each call.
    // When set, children also get it as PATH unless the Command overrides PATH.
    std::optional<std::string> searchPath{};
    // Set on every child on top of this process's environment (e.g. KUBECONFIG for a whole
    // run); a Command's own env wins over these.
    std::map<std::string, std::string> environment{};
  };

  ProcessCommandRunner() = default;
  explicit ProcessCommandRunner(Options options) : options_(std::move(options)) {}

  Result<CommandResult> run(const Command& command) override;
  Result<PipelineResult> runPipeline(const std::vector<Command>& stages) override;
  Result<std::filesystem::path> locate(std::string_view program) const override;
  Result<std::unique_ptr<BackgroundProcess>> startBackground(
      const Command& command, const std::filesystem::path& logFile = {}) override;

 private:
  [[nodiscard]] std::string effectiveSearchPath() const;
  Options options_;
};

// The signal name for a report ("SIGKILL"), or "signal N".
std::string signalName(int signal);

}  // namespace egresslab::kind
