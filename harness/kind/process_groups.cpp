#include "harness/kind/process_groups.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/core.h>

namespace egresslab::kind {

ProcessGroupRegistry& ProcessGroupRegistry::instance() {
  static ProcessGroupRegistry registry;
  return registry;
}

unsigned long ProcessGroupRegistry::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

bool ProcessGroupRegistry::add(pid_t pgid, unsigned long generationBeforeSpawn) {
  std::lock_guard lock(mutex_);
  if (generation_ != generationBeforeSpawn) return false;
  groups_[pgid] = false;
  return true;
}

bool ProcessGroupRegistry::remove(pid_t pgid) {
  std::lock_guard lock(mutex_);
  auto it = groups_.find(pgid);
  if (it == groups_.end()) return false;
  const bool signalled = it->second;
  groups_.erase(it);
  return signalled;
}

std::vector<pid_t> ProcessGroupRegistry::live() const {
  std::lock_guard lock(mutex_);
  std::vector<pid_t> out;
  for (const auto& [pgid, signalled] : groups_) out.push_back(pgid);
  return out;
}

std::size_t ProcessGroupRegistry::terminateAll(std::chrono::milliseconds grace) {
  std::vector<pid_t> targets;
  {
    std::lock_guard lock(mutex_);
    ++generation_;
    for (auto& [pgid, signalled] : groups_) {
      signalled = true;
      ::kill(-pgid, SIGTERM);
      targets.push_back(pgid);
    }
  }
  if (targets.empty()) return 0;

  // Signals go only to groups still registered: a runner unregisters a group before it
  // reaps the leader, so a registered id is still pinned by a live or zombie leader and
  // cannot name someone else's group. Polling here is bounded by `grace`; this runs on the
  // watcher thread (or a test), never in a signal handler.
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    bool anyLeft = false;
    {
      std::lock_guard lock(mutex_);
      for (pid_t pgid : targets) {
        if (groups_.contains(pgid) && ::kill(-pgid, 0) == 0) anyLeft = true;
      }
    }
    if (!anyLeft) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::lock_guard lock(mutex_);
  for (pid_t pgid : targets) {
    if (groups_.contains(pgid)) ::kill(-pgid, SIGKILL);
  }
  return targets.size();
}

namespace {

// The write end of the installed SignalCancellation's self-pipe, or -1. Lock-free atomics
// are async-signal-safe; the handler does nothing else but write(2), which is too.
std::atomic<int> gSignalPipeWrite{-1};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void writeSignalToSelfPipe(int signo) {
  const int savedErrno = errno;
  const int fd = gSignalPipeWrite.load();
  if (fd >= 0) {
    const auto byte = static_cast<unsigned char>(signo);
    [[maybe_unused]] const ssize_t written = ::write(fd, &byte, 1);
  }
  errno = savedErrno;
}

}  // namespace

SignalCancellation::SignalCancellation(Options options) : options_(std::move(options)) {}

Result<std::unique_ptr<SignalCancellation>> SignalCancellation::install(Options options) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return environmentError(fmt::format("cannot create the signal pipe: {}", std::strerror(errno)));
  }
  // The handler must never block: a full pipe just drops the extra byte (the first one
  // already cancels everything).
  ::fcntl(fds[1], F_SETFL, O_NONBLOCK);
  int expected = -1;
  if (!gSignalPipeWrite.compare_exchange_strong(expected, fds[1])) {
    ::close(fds[0]);
    ::close(fds[1]);
    return environmentError("a SignalCancellation is already installed");
  }
  std::unique_ptr<SignalCancellation> self(new SignalCancellation(std::move(options)));
  self->readFd_ = fds[0];
  self->writeFd_ = fds[1];
  self->watcher_ = std::thread([raw = self.get()] { raw->watch(); });
  for (int signo : self->options_.signals) {
    struct sigaction action {};
    action.sa_handler = writeSignalToSelfPipe;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    struct sigaction previous {};
    if (::sigaction(signo, &action, &previous) == 0) self->previous_.emplace_back(signo, previous);
  }
  return self;
}

SignalCancellation::~SignalCancellation() {
  for (const auto& [signo, previous] : previous_) ::sigaction(signo, &previous, nullptr);
  gSignalPipeWrite.store(-1);
  // Byte 0 is not a signal number: it tells the watcher to stop.
  const unsigned char stop = 0;
  while (::write(writeFd_, &stop, 1) < 0 && errno == EINTR) {
  }
  if (watcher_.joinable()) watcher_.join();
  ::close(readFd_);
  ::close(writeFd_);
}

int SignalCancellation::handledCount() const {
  std::lock_guard lock(mutex_);
  return handled_;
}

void SignalCancellation::watch() {
  for (;;) {
    unsigned char signo = 0;
    const ssize_t n = ::read(readFd_, &signo, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || signo == 0) return;
    ProcessGroupRegistry::instance().terminateAll(options_.grace);
    {
      std::lock_guard lock(mutex_);
      ++handled_;
    }
    if (options_.onSignal) options_.onSignal(signo);
  }
}

}  // namespace egresslab::kind
