#include "harness/sim/fault_timers.h"

namespace egresslab::sim {

void FaultTimers::schedule(Clock::time_point at, std::function<void()> action) {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    due_.emplace(at, std::move(action));
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  cv_.notify_all();
}

void FaultTimers::stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    due_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::size_t FaultTimers::pending() const {
  std::lock_guard lock(mu_);
  return due_.size();
}

void FaultTimers::run() {
  std::unique_lock lock(mu_);
  while (!stopped_) {
    if (due_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const auto next = due_.begin()->first;
    if (Clock::now() < next) {
      cv_.wait_until(lock, next);
      continue;
    }
    auto action = std::move(due_.begin()->second);
    due_.erase(due_.begin());
    lock.unlock();
    action();
    lock.lock();
  }
}

}  // namespace egresslab::sim
