#include "harness/backend/load_generator.h"

#include <fmt/format.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cmath>

namespace egresslab::backend {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t micros(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// CPU time the calling thread has used, in microseconds.
std::int64_t threadCpuUs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

}  // namespace

LoadGenerator::LoadGenerator(double rate, int concurrency, Send send)
    : rate_(rate > 0 ? rate : 1),
      concurrency_(static_cast<std::size_t>(std::max(1, concurrency))),
      send_(std::move(send)),
      start_(Clock::now()) {
  scheduler_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "egl-load-sched");
    schedule();
    const std::int64_t cpu = threadCpuUs();
    std::lock_guard lock(mu_);
    cpuUs_ += cpu;
  });
}

LoadGenerator::~LoadGenerator() { stop(); }

std::uint64_t LoadGenerator::issued() const {
  std::lock_guard lock(mu_);
  return issued_;
}

void LoadGenerator::schedule() {
  std::unique_lock lock(mu_);
  while (true) {
    const auto dueUs =
        static_cast<std::int64_t>(std::llround(static_cast<double>(issued_) * 1e6 / rate_));
    const auto due = start_ + std::chrono::microseconds(dueUs);
    // Every request due before the stop is issued, even when this thread wakes up late.
    if (stopping_ && due > stopAt_) break;
    if (!stopping_ && Clock::now() < due) {
      wake_.wait_until(lock, due, [this] { return stopping_; });
      continue;
    }
    // Every request that is due now (a late wake-up catches up; none is skipped).
    const std::uint64_t index = issued_++;
    if (inFlight_ >= concurrency_) {
      LoadSample dropped;
      dropped.index = index;
      dropped.startUs = dueUs;
      dropped.dropped = true;
      samples_.push_back(dropped);
      continue;
    }
    ++inFlight_;
    queue_.push_back(Task{index, dueUs});
    if (idle_ == 0 && workers_.size() < concurrency_) {
      workers_.emplace_back([this] { work(); });
    } else {
      work_.notify_one();
    }
    // Catching up after a late wake-up: let the workers take what is queued (and finish what
    // they ran) between two sends, so a burst is not dropped for want of the lock.
    lock.unlock();
    std::this_thread::yield();
    lock.lock();
  }
}

void LoadGenerator::work() {
  pthread_setname_np(pthread_self(), "egl-load");
  std::unique_lock lock(mu_);
  while (true) {
    ++idle_;
    work_.wait(lock, [this] { return ending_ || !queue_.empty(); });
    --idle_;
    if (queue_.empty()) {  // ending_
      cpuUs_ += threadCpuUs();
      return;
    }
    const Task task = queue_.front();
    queue_.pop_front();
    lock.unlock();
    const auto sent = Clock::now();
    const Answer answer = send_(task.index);
    const auto done = Clock::now();
    lock.lock();
    LoadSample s;
    s.index = task.index;
    s.startUs = task.dueUs;
    s.latencyUs = std::max<std::int64_t>(1, micros(done - sent));
    s.exit = answer.exit;
    s.status = answer.status;
    samples_.push_back(std::move(s));
    if (--inFlight_ == 0) finished_.notify_all();
  }
}

LoadRun LoadGenerator::stop() {
  LoadRun run;
  {
    std::unique_lock lock(mu_);
    if (stopped_) return run;
    stopped_ = true;
    stopping_ = true;
    stopAt_ = Clock::now();
    run.durationUs = micros(stopAt_ - start_);
  }
  wake_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  {
    std::unique_lock lock(mu_);
    finished_.wait(lock, [this] { return inFlight_ == 0; });
    ending_ = true;
  }
  work_.notify_all();
  for (auto& w : workers_) w.join();
  std::lock_guard lock(mu_);
  run.samples = std::move(samples_);
  // The generator's own cost (its threads run libcurl's client side too): the harness's CPU.
  run.notes.push_back(fmt::format(
      "load generator CPU {:.2f} s over {:.2f} s ({:.2f} cores), {} threads",
      static_cast<double>(cpuUs_) / 1e6, static_cast<double>(run.durationUs) / 1e6,
      run.durationUs > 0 ? static_cast<double>(cpuUs_) / static_cast<double>(run.durationUs) : 0.0,
      workers_.size() + 1));
  std::stable_sort(run.samples.begin(), run.samples.end(),
                   [](const LoadSample& a, const LoadSample& b) { return a.index < b.index; });
  return run;
}

}  // namespace egresslab::backend
