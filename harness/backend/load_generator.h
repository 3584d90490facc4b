// The open-model load generator a backend runs in-process (docs/scenarios.md "Load and SLOs"):
// request n is due at start + n/rate whether or not earlier ones answered; a pool of worker
// threads (grown on demand, at most `concurrency`) sends them; a request due while
// `concurrency` are in flight is recorded as dropped and not sent.
//
// The generator knows nothing about curl or meshes: `send` runs one request on a worker thread
// and says what came back. Thread-safe; stop() may be called from any thread but a worker.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "harness/backend/backend.h"

namespace egresslab::backend {

class LoadGenerator {
 public:
  struct Answer {
    int exit = 0;
    int status = 0;
  };
  // Runs request `index` (0, 1, …) and returns when it finished.
  using Send = std::function<Answer(std::uint64_t index)>;

  // Starts issuing at once. `rate` > 0 requests per second, `concurrency` >= 1.
  LoadGenerator(double rate, int concurrency, Send send);
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Issues what was due before now, stops issuing, waits for every request in flight, and
  // returns all samples in index order (request 0 is due at the start: a run has at least one).
  // Idempotent: a second call returns an empty run.
  LoadRun stop();

  // Requests issued or dropped so far (tests wait on it; never timing).
  std::uint64_t issued() const;

 private:
  struct Task {
    std::uint64_t index;
    std::int64_t dueUs;
  };
  void schedule();
  void work();

  const double rate_;
  const std::size_t concurrency_;
  const Send send_;
  const std::chrono::steady_clock::time_point start_;

  mutable std::mutex mu_;
  std::condition_variable wake_;      // scheduler: stop requested
  std::condition_variable work_;      // workers: a task or the end
  std::condition_variable finished_;  // stop(): in-flight count reached 0
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stopAt_;
  bool ending_ = false;
  bool stopped_ = false;
  std::uint64_t issued_ = 0;
  std::size_t inFlight_ = 0;  // queued + running
  std::size_t idle_ = 0;
  std::int64_t cpuUs_ = 0;  // CPU time of finished generator threads
  std::deque<Task> queue_;
  std::vector<LoadSample> samples_;
  std::vector<std::thread> workers_;
  std::thread scheduler_;
};

}  // namespace egresslab::backend
