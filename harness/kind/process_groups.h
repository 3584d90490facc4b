// "Cancel everything": the process groups EgressLab has started and not yet reaped, and the
// SIGINT/SIGTERM path that terminates them (docs/design.md reliability rules: every process the
// harness starts is gone when it exits, also on SIGINT/SIGTERM).
//
// ProcessCommandRunner registers each child's process group for exactly as long as it may
// be signalled: from just after the child has exec'd (it leads its own group by then) until
// just before it is reaped. Because removal happens before the reap, terminateAll never
// signals a process-group id the kernel could have handed to someone else.
//
// SignalCancellation installs handlers that only write the signal number to a self-pipe
// (async-signal-safe); a watcher thread reads it, terminates every registered group and then
// calls the owner's callback, so the kind backend can stop and run its teardown.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "harness/core/error.h"

namespace egresslab::kind {

class ProcessGroupRegistry {
 public:
  // The one registry of this process (signals are process-wide).
  static ProcessGroupRegistry& instance();

  // The cancellation generation; terminateAll increments it. A runner samples it before
  // spawning and calls add(); a changed generation means the group missed the broadcast.
  [[nodiscard]] unsigned long generation() const;
  // Registers `pgid`. Returns false — and registers nothing — when terminateAll ran since
  // `generationBeforeSpawn` was sampled: the caller must kill the group itself.
  bool add(pid_t pgid, unsigned long generationBeforeSpawn);
  // Unregisters `pgid`; true when terminateAll signalled it while registered.
  bool remove(pid_t pgid);

  // SIGTERM to every registered group, then SIGKILL to those still registered (not yet
  // reaped by their runner) after `grace`. Safe to call from any thread, never from a signal
  // handler. Returns how many groups were signalled.
  std::size_t terminateAll(std::chrono::milliseconds grace);

  [[nodiscard]] std::vector<pid_t> live() const;

 private:
  ProcessGroupRegistry() = default;
  mutable std::mutex mutex_;
  std::map<pid_t, bool> groups_;  // pgid → signalled by terminateAll
  unsigned long generation_ = 0;
};

// RAII: while alive, SIGINT and SIGTERM cancel every registered process group and then call
// `onSignal(signo)` on the watcher thread. At most one instance may exist at a time.
class SignalCancellation {
 public:
  struct Options {
    std::vector<int> signals{2 /*SIGINT*/, 15 /*SIGTERM*/};
    std::chrono::milliseconds grace{3000};  // SIGTERM → SIGKILL for the children's groups
    std::function<void(int)> onSignal{};    // runs on the watcher thread; may be empty
  };

  // Fails when another instance is installed or the self-pipe cannot be created.
  static Result<std::unique_ptr<SignalCancellation>> install(Options options);
  ~SignalCancellation();
  SignalCancellation(const SignalCancellation&) = delete;
  SignalCancellation& operator=(const SignalCancellation&) = delete;

  // How many signals the watcher has handled so far.
  [[nodiscard]] int handledCount() const;

 private:
  explicit SignalCancellation(Options options);
  void watch();

  Options options_;
  int readFd_ = -1;
  int writeFd_ = -1;
  std::thread watcher_;
  mutable std::mutex mutex_;
  int handled_ = 0;
  std::vector<std::pair<int, struct sigaction>> previous_;  // restored on destruction
};

}  // namespace egresslab::kind
