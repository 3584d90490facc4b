// Timers that end faults (a scenario fault's `ttl`, docs/scenarios.md "Faults"): one thread,
// started on first use, running each action at its time, never on a data-plane worker (ending a
// gateway kill runs a readiness probe).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace egresslab::sim {

class FaultTimers {
 public:
  using Clock = std::chrono::steady_clock;
  FaultTimers() = default;
  ~FaultTimers() { stop(); }
  FaultTimers(const FaultTimers&) = delete;
  FaultTimers& operator=(const FaultTimers&) = delete;

  // Runs `action` at `at` (on the timer thread) unless stop() comes first.
  void schedule(Clock::time_point at, std::function<void()> action);
  // Drops every pending action and joins the thread (waits for one that is running). Idempotent;
  // schedule() after stop() does nothing.
  void stop();
  std::size_t pending() const;

 private:
  void run();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<Clock::time_point, std::function<void()>> due_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace egresslab::sim
