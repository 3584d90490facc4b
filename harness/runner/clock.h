// The runner's sense of time, as a seam (docs/design.md "Code conventions": `Clock` is one of the
// interfaces tests replace). `eventually` loops, per-step and per-scenario timeouts and step
// durations all read this clock, so unit tests drive them with FakeClock and never wait for real.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>

namespace egresslab::runner {

// Set by the CLI's SIGINT/SIGTERM handler (or a test); everything that waits checks it.
using CancelFlag = std::atomic<bool>;

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;

  [[nodiscard]] virtual TimePoint now() const = 0;

  // Returns at `deadline` or soon after `cancel` becomes true, whichever comes first.
  virtual void waitUntil(TimePoint deadline, const CancelFlag& cancel) = 0;
};

// Real time. Waits in short slices because a signal handler may only set an atomic flag, not
// notify a condition variable.
class SteadyClock final : public Clock {
 public:
  [[nodiscard]] TimePoint now() const override { return std::chrono::steady_clock::now(); }
  void waitUntil(TimePoint deadline, const CancelFlag& cancel) override;
};

// Test time: waiting jumps straight to the deadline, and tests (or fake backends) advance it to
// model slow requests. Thread-safe, so parallel-runner tests can share one.
class FakeClock final : public Clock {
 public:
  [[nodiscard]] TimePoint now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void waitUntil(TimePoint deadline, const CancelFlag& cancel) override {
    if (cancel.load()) return;
    std::lock_guard lock(mu_);
    if (deadline > now_) now_ = deadline;
  }
  void advance(std::chrono::milliseconds by) {
    std::lock_guard lock(mu_);
    now_ += by;
  }

 private:
  mutable std::mutex mu_;
  TimePoint now_{};  // the epoch; only differences matter
};

}  // namespace egresslab::runner
