// ProcessCommandRunner: Boost.Process v2 (1.81) launches, asio drives the pipes, the pidfd
// and the timers of one run on the calling thread.
//
// Why it looks the way it does (docs/kind.md):
// - Each child calls setpgid(0, 0) in the launcher's on_exec_setup hook, so it leads its own
//   process group and a timeout kills kubectl's / kind's / bash's children too. The launcher
//   only returns after the exec succeeded (it reads a close-on-exec error pipe), so the group
//   exists before anyone can try to signal it: no race between spawn and kill.
// - On a failed exec, 1.81's child calls exit() and flushes the parent's copied stdio buffers
//   a second time; our on_exec_error hook calls _exit first. 1.81 also looks the hook up
//   with a different arity than it calls it with, so the hook is variadic.
// - 1.81's Linux close_all() compares each whitelisted fd with itself and so never closes
//   the descriptors *between* 2 and its own error-pipe fd: our hook closes every gap itself.
// - We do not use basic_process's wait: it reaps at once. We watch our own pidfd instead, so
//   when the leader exits it is still a zombie that pins its process-group id; we SIGKILL
//   any stragglers in the group (e.g. a backgrounded `sleep`), unregister the group and only
//   then reap. Nothing can then ever signal a recycled id.
// - exit status and signal come from the raw wait status: 1.81's evaluate_exit_code maps
//   "killed by SIGKILL" and "exit(9)" to the same 9.
// The one translation unit that compiles Boost.Process v2's sources (1.81 refuses src.hpp in
// header-only mode). No other file of the project includes Boost.Process.
#define BOOST_PROCESS_V2_SEPARATE_COMPILATION 1
#include <boost/process/v2/src.hpp>
//
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <fmt/core.h>

#include "harness/kind/command_runner.h"
#include "harness/kind/process_groups.h"

extern char** environ;

namespace egresslab::kind {
namespace {

namespace asio = boost::asio;
namespace bp = boost::process::v2;
using Clock = std::chrono::steady_clock;

// After the leader exited and its group was SIGKILLed, how long we still wait for EOF on
// stdout/stderr (only a descendant that left the group, e.g. via setsid, can hold them).
constexpr std::chrono::milliseconds kDrainAfterExit{2000};

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~UniqueFd() { reset(); }
  [[nodiscard]] int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct PipeFds {
  UniqueFd read;
  UniqueFd write;
};

Result<PipeFds> makePipe() {
  int fds[2];
  // Close-on-exec on both ends: only the dup2'd copy (fd 0/1/2) reaches a child.
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return environmentError(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
  }
  return PipeFds{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// The launcher hook that makes a child what we need it to be; see the file comment. Runs in
// the forked child between fork and exec: only async-signal-safe calls after on_setup.
struct ChildSetup {
  const char* const* envp;
  const char* cwd;  // nullptr: inherit

  boost::system::error_code on_setup(bp::posix::default_launcher& launcher,
                                     const boost::filesystem::path&, const char* const*) {
    launcher.env = envp;
    return {};
  }

  boost::system::error_code on_exec_setup(bp::posix::default_launcher& launcher,
                                          const boost::filesystem::path&, const char* const*) {
    if (::setpgid(0, 0) != 0) return {errno, boost::system::system_category()};
    // Our blocked signals and ignored dispositions would survive exec: a child must die of
    // SIGTERM/SIGINT when we send them, and of SIGPIPE when its reader goes away (the
    // egresslab binary ignores SIGPIPE for itself).
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int signo : {SIGPIPE, SIGINT, SIGTERM}) ::signal(signo, SIG_DFL);
    if (cwd != nullptr && ::chdir(cwd) != 0) return {errno, boost::system::system_category()};
    closeInheritedDescriptors(launcher.fd_whitelist);
    return {};
  }

  // Variadic: 1.81 probes for this hook with five arguments and calls it with four.
  template <typename... Args>
  void on_exec_error(Args&&...) {
    ::_exit(127);
  }

  // Closes every descriptor that is not whitelisted (stdio and the launcher's error pipe),
  // including the gaps 1.81's close_all() skips.
  static void closeInheritedDescriptors(std::vector<int> keep) {
    std::sort(keep.begin(), keep.end());
    unsigned int next = 0;
    for (int fd : keep) {
      const auto ufd = static_cast<unsigned int>(fd);
      if (ufd > next) ::close_range(next, ufd - 1, 0);
      next = ufd + 1;
    }
    ::close_range(next, ~0u, 0);
  }
};

// Blocks SIGPIPE on the calling thread for the duration of a run: a child that exits
// without reading its stdin must surface as EPIPE on our write, not kill the harness.
// SIGPIPE raised by write(2) is directed at the writing thread — this one — so a pending
// one is consumed before the old mask comes back.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &set, &previous_);
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1 && sigismember(&previous_, SIGPIPE) == 0) {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGPIPE);
      const timespec zero{0, 0};
      ::sigtimedwait(&set, nullptr, &zero);
    }
    ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t previous_{};
};

// The child's environment: ours, with the command's overrides on top.
class ChildEnvironment {
 public:
  ChildEnvironment(const std::map<std::string, std::string>& overrides,
                   const ProcessCommandRunner::Options& options) {
    std::map<std::string, std::string> vars;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
      std::string_view kv(*entry);
      const auto eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      vars.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
    if (options.searchPath) vars["PATH"] = *options.searchPath;
    for (const auto& [key, value] : options.environment) vars[key] = value;
    for (const auto& [key, value] : overrides) vars[key] = value;
    for (const auto& [key, value] : vars) storage_.push_back(key + "=" + value);
    for (const auto& entry : storage_) pointers_.push_back(entry.c_str());
    pointers_.push_back(nullptr);
  }
  [[nodiscard]] const char* const* envp() const { return pointers_.data(); }

 private:
  std::vector<std::string> storage_;
  std::vector<const char*> pointers_;
};

std::string formatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{}ms", d.count());
}

// One stage of a run (a plain run is a pipeline of one).
struct Stage {
  const Command* command = nullptr;
  std::filesystem::path executable;
  CommandResult result;
  pid_t pid = -1;
  Clock::time_point started;
  std::unique_ptr<asio::posix::stream_descriptor> exitWatch;  // pidfd
  std::unique_ptr<asio::posix::stream_descriptor> out;        // null when piped onward
  std::unique_ptr<asio::posix::stream_descriptor> err;
  std::unique_ptr<asio::posix::stream_descriptor> in;  // null unless stdinData
  std::unique_ptr<asio::steady_timer> deadline;
  std::unique_ptr<asio::steady_timer> escalation;  // SIGTERM → SIGKILL
  std::unique_ptr<asio::steady_timer> drain;
  std::array<char, 65536> outBuffer{};
  std::array<char, 65536> errBuffer{};
  bool reaped = false;
  bool terminating = false;
  bool registered = false;

  [[nodiscard]] bool finished() const { return reaped && !out && !err; }
};

// Runs a set of already-validated stages to completion on one io_context.
class PipelineExecution {
 public:
  PipelineExecution(const std::vector<Command>& commands,
                    std::vector<std::filesystem::path> executables,
                    const ProcessCommandRunner::Options& options)
      : options_(options) {
    stages_.resize(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) {
      stages_[i].command = &commands[i];
      stages_[i].executable = std::move(executables[i]);
      stages_[i].result.argv = commands[i].argv;
    }
  }

  Result<PipelineResult> execute() {
    SigpipeBlock sigpipeBlock;
    // asio and Boost.Process report some failures (e.g. registering a descriptor) by
    // throwing: turn them into an error value here, at the adapter, after killing whatever
    // already started.
    try {
      return executeStages();
    } catch (const boost::system::system_error& e) {
      return abandon(Error{ErrorKind::kEnvironment,
                           fmt::format("running `{}` failed: {}", describeStages(), e.what()),
                           std::nullopt});
    }
  }

 private:
  std::string describeStages() const {
    std::string out;
    for (const Stage& stage : stages_) {
      if (!out.empty()) out += " | ";
      out += stage.command->display();
    }
    return out;
  }

  Result<PipelineResult> executeStages() {
    // Stage i's stdout feeds stage i+1's stdin.
    UniqueFd nextStdin;
    for (std::size_t i = 0; i < stages_.size(); ++i) {
      Stage& stage = stages_[i];
      const bool last = i + 1 == stages_.size();
      UniqueFd childIn;
      UniqueFd childOut;
      UniqueFd childErr;
      if (i > 0) {
        childIn = std::move(nextStdin);
      } else if (!stage.command->stdinData.empty()) {
        auto pipe = makePipe();
        if (!pipe) return abandon(pipe.error());
        childIn = std::move(pipe->read);
        stage.in = std::make_unique<asio::posix::stream_descriptor>(ctx_, pipe->write.release());
      } else {
        childIn = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      }
      auto outPipe = makePipe();
      auto errPipe = makePipe();
      if (!outPipe) return abandon(outPipe.error());
      if (!errPipe) return abandon(errPipe.error());
      childOut = std::move(outPipe->write);
      childErr = std::move(errPipe->write);
      if (last) {
        stage.out = std::make_unique<asio::posix::stream_descriptor>(ctx_, outPipe->read.release());
      } else {
        nextStdin = std::move(outPipe->read);
      }
      stage.err = std::make_unique<asio::posix::stream_descriptor>(ctx_, errPipe->read.release());

      if (auto spawned = spawn(stage, childIn.get(), childOut.get(), childErr.get()); !spawned) {
        return abandon(spawned.error());
      }
      // childIn/childOut/childErr close here: only the child holds them now, so EOF on
      // our read ends means every writer is gone.
    }
    for (Stage& stage : stages_) startIo(stage);
    ctx_.run();

    PipelineResult result;
    for (Stage& stage : stages_) result.stages.push_back(std::move(stage.result));
    return result;
  }

  Result<void> spawn(Stage& stage, int childIn, int childOut, int childErr) {
    const Command& command = *stage.command;
    ChildEnvironment environment(command.env, options_);
    std::vector<const char*> argv;
    for (const auto& arg : command.argv) argv.push_back(arg.c_str());
    argv.push_back(nullptr);
    const char** argvPointer = argv.data();
    const std::string cwd = command.cwd.string();
    ChildSetup setup{environment.envp(), cwd.empty() ? nullptr : cwd.c_str()};

    auto& registry = ProcessGroupRegistry::instance();
    const unsigned long generation = registry.generation();
    stage.started = Clock::now();
    bp::posix::default_launcher launcher;
    boost::system::error_code ec;
    auto process =
        launcher(ctx_.get_executor(), ec, boost::filesystem::path(stage.executable.string()),
                 argvPointer, bp::process_stdio{childIn, childOut, childErr}, setup);
    if (ec) {
      // 1.81 returns without waiting for a child whose exec failed: reap it here, or it
      // stays a zombie for the rest of the run.
      if (launcher.pid > 0) {
        int status = 0;
        while (::waitpid(launcher.pid, &status, 0) < 0 && errno == EINTR) {
        }
      }
      return environmentError(fmt::format("cannot start `{}` ({}): {}", command.argv.front(),
                                          stage.executable.string(), ec.message()));
    }
    stage.pid = process.id();
    {
      // Take the child away from basic_process, whose destructor would kill it and whose
      // wait would reap it before we could clean up its group.
      auto detached = std::move(process.handle());
    }
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, stage.pid, 0));
    if (pidfd < 0) {
      const int savedErrno = errno;
      ::kill(-stage.pid, SIGKILL);
      int status = 0;
      ::waitpid(stage.pid, &status, 0);
      return environmentError(fmt::format("pidfd_open for `{}` failed: {}", command.display(),
                                          std::strerror(savedErrno)));
    }
    stage.exitWatch = std::make_unique<asio::posix::stream_descriptor>(ctx_, pidfd);
    stage.registered = registry.add(stage.pid, generation);
    if (!stage.registered) {
      // terminateAll ran while we were spawning: this child missed the broadcast.
      stage.result.cancelled = true;
      cancelRequested_ = true;
    }
    return {};
  }

  // A later stage failed to start: kill and reap those already running.
  std::unexpected<Error> abandon(Error error) {
    for (Stage& stage : stages_) {
      if (stage.pid <= 0 || stage.reaped) continue;
      ::kill(-stage.pid, SIGKILL);
      if (stage.registered) ProcessGroupRegistry::instance().remove(stage.pid);
      int status = 0;
      ::waitpid(stage.pid, &status, 0);
      stage.pid = -1;
    }
    return std::unexpected(std::move(error));
  }

  void startIo(Stage& stage) {
    if (stage.in) writeStdin(stage);
    readInto(stage, stage.out, stage.outBuffer, stage.result.out, stage.result.outTruncated);
    readInto(stage, stage.err, stage.errBuffer, stage.result.err, stage.result.errTruncated);
    stage.exitWatch->async_wait(asio::posix::descriptor_base::wait_read,
                                [this, &stage](const boost::system::error_code& ec) {
                                  if (!ec) onLeaderExited(stage);
                                });
    stage.deadline = std::make_unique<asio::steady_timer>(ctx_, stage.command->timeout);
    stage.deadline->async_wait([this, &stage](const boost::system::error_code& ec) {
      if (ec || stage.reaped) return;
      stage.result.timedOut = true;
      terminateAll();
    });
    if (cancelRequested_) terminateAll();
  }

  void writeStdin(Stage& stage) {
    asio::async_write(*stage.in, asio::buffer(stage.command->stdinData),
                      [&stage](const boost::system::error_code&, std::size_t) {
                        // EPIPE (the child never read it) is not our failure: the child's
                        // exit status tells the story. Closing delivers EOF.
                        stage.in.reset();
                      });
  }

  void readInto(Stage& stage, std::unique_ptr<asio::posix::stream_descriptor>& stream,
                std::array<char, 65536>& buffer, std::string& sink, bool& truncated) {
    if (!stream) return;
    stream->async_read_some(
        asio::buffer(buffer), [this, &stage, &stream, &buffer, &sink, &truncated](
                                  const boost::system::error_code& ec, std::size_t n) {
          const std::size_t room = stage.command->maxCapturedBytes > sink.size()
                                       ? stage.command->maxCapturedBytes - sink.size()
                                       : 0;
          sink.append(buffer.data(), std::min(n, room));
          if (n > room) truncated = true;
          if (ec) {
            stream.reset();  // EOF (or an error: nothing more can come from this pipe)
            maybeFinish(stage);
            return;
          }
          readInto(stage, stream, buffer, sink, truncated);
        });
  }

  void onLeaderExited(Stage& stage) {
    // The leader is a zombie now, still pinning its group id: kill whatever it left behind,
    // unregister, then reap.
    ::kill(-stage.pid, SIGKILL);
    if (stage.registered && ProcessGroupRegistry::instance().remove(stage.pid)) {
      stage.result.cancelled = true;
    }
    stage.registered = false;
    int status = 0;
    while (::waitpid(stage.pid, &status, 0) < 0 && errno == EINTR) {
    }
    stage.reaped = true;
    stage.result.duration =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - stage.started);
    if (WIFEXITED(status)) {
      stage.result.exitCode = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      stage.result.signal = WTERMSIG(status);
    }
    stage.exitWatch.reset();
    if (stage.deadline) stage.deadline->cancel();
    if (stage.escalation) stage.escalation->cancel();
    if (!stage.finished()) {
      stage.drain = std::make_unique<asio::steady_timer>(ctx_, kDrainAfterExit);
      stage.drain->async_wait([this, &stage](const boost::system::error_code& ec) {
        if (ec) return;
        stage.out.reset();
        stage.err.reset();
        maybeFinish(stage);
      });
    }
    maybeFinish(stage);
  }

  void maybeFinish(Stage& stage) {
    if (!stage.finished()) return;
    if (stage.drain) stage.drain->cancel();
    bool all = true;
    for (const Stage& s : stages_) all = all && s.finished();
    if (all) {
      // Nothing may keep the io_context alive: a pending stdin write (the reader is gone).
      for (Stage& s : stages_) s.in.reset();
    }
  }

  // A timeout or a cancellation ends the whole pipeline: SIGTERM now, SIGKILL after grace.
  void terminateAll() {
    for (Stage& stage : stages_) {
      if (stage.reaped || stage.terminating) continue;
      stage.terminating = true;
      ::kill(-stage.pid, SIGTERM);
      stage.escalation = std::make_unique<asio::steady_timer>(ctx_, stage.command->killGrace);
      stage.escalation->async_wait([&stage](const boost::system::error_code& ec) {
        if (ec || stage.reaped) return;
        ::kill(-stage.pid, SIGKILL);
      });
    }
  }

  asio::io_context ctx_;
  std::vector<Stage> stages_;
  const ProcessCommandRunner::Options& options_;
  bool cancelRequested_ = false;
};

}  // namespace

std::string ProcessCommandRunner::effectiveSearchPath() const {
  if (options_.searchPath) return *options_.searchPath;
  const char* path = std::getenv("PATH");
  return path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
}

Result<std::filesystem::path> ProcessCommandRunner::locate(std::string_view program) const {
  const std::string searchPath = effectiveSearchPath();
  if (auto found = findProgram(program, searchPath)) return *found;
  return backendUnavailable(fmt::format("`{}` not found on PATH ({})", program, searchPath));
}

Result<CommandResult> ProcessCommandRunner::run(const Command& command) {
  auto pipeline = runPipeline(std::vector<Command>{command});
  if (!pipeline) return std::unexpected(std::move(pipeline.error()));
  return std::move(pipeline->stages.front());
}

Result<PipelineResult> ProcessCommandRunner::runPipeline(const std::vector<Command>& stages) {
  if (stages.empty()) return invalidInput("a pipeline needs at least one command");
  std::vector<std::filesystem::path> executables;
  // Validate everything before starting anything: a missing second tool must not leave the
  // first one half-run.
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const Command& command = stages[i];
    if (command.argv.empty() || command.argv.front().empty()) {
      return invalidInput("a command needs a program name (argv is empty)");
    }
    if (i > 0 && !command.stdinData.empty()) {
      return invalidInput(
          fmt::format("`{}` reads the previous command's output; it cannot also take stdinData",
                      command.display()));
    }
    if (!command.cwd.empty()) {
      std::error_code ec;
      if (!std::filesystem::is_directory(command.cwd, ec)) {
        return environmentError(fmt::format("working directory {} of `{}` does not exist",
                                            command.cwd.string(), command.display()));
      }
    }
    auto executable = locate(command.argv.front());
    if (!executable) {
      return backendUnavailable(
          fmt::format("cannot run `{}`: {}", command.display(), executable.error().message));
    }
    executables.push_back(std::move(*executable));
  }
  PipelineExecution execution(stages, std::move(executables), options_);
  return execution.execute();
}

std::string signalName(int signal) {
  if (const char* abbrev = ::sigabbrev_np(signal); abbrev != nullptr) {
    return fmt::format("SIG{}", abbrev);
  }
  return fmt::format("signal {}", signal);
}

std::string CommandResult::describe() const {
  std::string line;
  if (timedOut) {
    line = fmt::format("`{}` timed out and was killed ({})", display(),
                       signal != 0 ? signalName(signal) : fmt::format("exit {}", exitCode));
  } else if (cancelled) {
    line = fmt::format("`{}` was cancelled ({})", display(),
                       signal != 0 ? signalName(signal) : fmt::format("exit {}", exitCode));
  } else if (signal != 0) {
    line = fmt::format("`{}` was killed by {}", display(), signalName(signal));
  } else {
    line = fmt::format("`{}` exited {}", display(), exitCode);
  }
  line += fmt::format(" after {}", formatDuration(duration));
  if (!err.empty()) {
    // The tail of stderr is where tools put the reason.
    constexpr std::size_t kTail = 2000;
    std::string_view tail(err);
    if (tail.size() > kTail) tail = tail.substr(tail.size() - kTail);
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.remove_suffix(1);
    line += fmt::format(": {}", tail);
  }
  return line;
}

}  // namespace egresslab::kind
