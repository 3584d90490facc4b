#include "harness/runner/clock.h"

#include <algorithm>
#include <thread>

namespace egresslab::runner {

void SteadyClock::waitUntil(TimePoint deadline, const CancelFlag& cancel) {
  // 20 ms slices: Ctrl-C is noticed promptly without a busy loop.
  constexpr auto kSlice = std::chrono::milliseconds(20);
  while (!cancel.load()) {
    const TimePoint current = now();
    if (current >= deadline) return;
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(deadline - current, kSlice));
  }
}

}  // namespace egresslab::runner
