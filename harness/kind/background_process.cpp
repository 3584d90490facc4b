// ProcessCommandRunner::startBackground: long-running children such as `kubectl port-forward`.
//
// posix_spawn with POSIX_SPAWN_SETPGROUP makes the child lead its own group before it execs,
// so stop() and the SIGINT/SIGTERM path (ProcessGroupRegistry) reach its whole tree. Signals
// are reset to their defaults and the mask is emptied in the child, as for run().
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "harness/kind/command_runner.h"
#include "harness/kind/process_groups.h"

extern char** environ;

namespace egresslab::kind {
namespace {

class SpawnedProcess final : public BackgroundProcess {
 public:
  SpawnedProcess(pid_t pid, std::string display) : pid_(pid), display_(std::move(display)) {}
  ~SpawnedProcess() override { stop(); }

  bool running() override {
    std::lock_guard lock(mutex_);
    return pollLocked();
  }

  void stop(std::chrono::milliseconds grace) override {
    std::lock_guard lock(mutex_);
    if (!pollLocked()) return;
    // Unregister before signalling and reaping: the registry must never hold a reaped pgid.
    ProcessGroupRegistry::instance().remove(pid_);
    ::kill(-pid_, SIGTERM);
    // Why a bounded poll: waitpid has no timeout, and the group leader may ignore SIGTERM.
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        reaped_ = true;
        ::kill(-pid_, SIGKILL);  // stragglers of the group (children of port-forward)
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    reaped_ = true;
  }
  void stop() { stop(std::chrono::milliseconds(3000)); }

  [[nodiscard]] std::string display() const override { return display_; }

 private:
  bool pollLocked() {
    if (reaped_) return false;
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      ProcessGroupRegistry::instance().remove(pid_);
      ::kill(-pid_, SIGKILL);
      reaped_ = true;
      return false;
    }
    return true;
  }

  std::mutex mutex_;
  pid_t pid_;
  bool reaped_ = false;
  std::string display_;
};

}  // namespace

Result<std::unique_ptr<BackgroundProcess>> ProcessCommandRunner::startBackground(
    const Command& command, const std::filesystem::path& logFile) {
  if (command.argv.empty()) return invalidInput("a command needs a program name (argv is empty)");
  auto program = locate(command.argv.front());
  if (!program) return std::unexpected(std::move(program.error()));

  std::map<std::string, std::string> vars;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string text(*entry);
    const auto eq = text.find('=');
    if (eq != std::string::npos) vars[text.substr(0, eq)] = text.substr(eq + 1);
  }
  if (options_.searchPath) vars["PATH"] = *options_.searchPath;
  for (const auto& [key, value] : options_.environment) vars[key] = value;
  for (const auto& [key, value] : command.env) vars[key] = value;
  std::vector<std::string> envStrings;
  for (const auto& [key, value] : vars) envStrings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& e : envStrings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = command.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  const std::string out = logFile.empty() ? std::string("/dev/null") : logFile.string();
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  if (!command.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, command.cwd.c_str());
  // Descriptors opened without O_CLOEXEC elsewhere (cpp-httplib's sockets) must not leak into
  // a child that outlives the request (docs/kind.md "File descriptors").
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGPIPE);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                     POSIX_SPAWN_SETSIGMASK));

  const unsigned long generation = ProcessGroupRegistry::instance().generation();
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, program->c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return environmentError(
        fmt::format("cannot start `{}`: {}", command.display(), std::strerror(rc)));
  }
  if (!ProcessGroupRegistry::instance().add(pid, generation)) {
    // A cancellation ran while we were spawning: this group missed the broadcast.
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return environmentError(fmt::format("`{}` was cancelled as it started", command.display()));
  }
  return std::unique_ptr<BackgroundProcess>(new SpawnedProcess(pid, command.display()));
}

}  // namespace egresslab::kind
