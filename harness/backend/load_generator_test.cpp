// The in-process open-model load generator: counts, order, the in-flight cap. No timing in the
// asserts: tests wait for conditions (requests issued), with a deadline.
#include "harness/backend/load_generator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace egresslab::backend {
namespace {

// Waits until `n` requests were issued (or dropped); false after a generous deadline.
bool waitIssued(const LoadGenerator& g, std::uint64_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (g.issued() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(LoadGenerator, SendsEveryDueRequestAndReturnsThemInOrder) {
  std::atomic<int> sent{0};
  LoadGenerator g(2000, 64, [&](std::uint64_t index) {
    ++sent;
    return LoadGenerator::Answer{0, index % 2 == 0 ? 200 : 503};
  });
  ASSERT_TRUE(waitIssued(g, 40));
  const LoadRun run = g.stop();
  ASSERT_GE(run.samples.size(), 40u);
  EXPECT_GT(run.durationUs, 0);
  // Every due request is a sample exactly once: sent, or dropped at the cap (a loaded machine
  // may run the workers late; the accounting holds either way).
  int notDropped = 0;
  for (std::size_t i = 0; i < run.samples.size(); ++i) {
    const LoadSample& s = run.samples[i];
    EXPECT_EQ(s.index, i);
    // Due times follow the rate: request n at n/rate (500 µs apart at 2000/s).
    EXPECT_EQ(s.startUs, static_cast<std::int64_t>(i) * 500) << i;
    if (s.dropped) {
      EXPECT_EQ(s.latencyUs, 0);
      EXPECT_EQ(s.status, 0);
      continue;
    }
    ++notDropped;
    EXPECT_GT(s.latencyUs, 0);
    EXPECT_EQ(s.exit, 0);
    EXPECT_EQ(s.status, i % 2 == 0 ? 200 : 503);
  }
  EXPECT_EQ(notDropped, sent.load());
  ASSERT_FALSE(run.notes.empty());
  EXPECT_NE(run.notes[0].find("load generator CPU"), std::string::npos);
  EXPECT_TRUE(g.stop().samples.empty());  // idempotent
}

TEST(LoadGenerator, RequestsDueWhileTheCapIsInFlightAreDropped) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> sent{0};
  LoadGenerator g(1000, 1, [&](std::uint64_t) {
    ++sent;
    released.wait();
    return LoadGenerator::Answer{0, 200};
  });
  ASSERT_TRUE(waitIssued(g, 6));
  release.set_value();
  const LoadRun run = g.stop();
  ASSERT_GE(run.samples.size(), 6u);
  EXPECT_FALSE(run.samples[0].dropped);
  EXPECT_EQ(run.samples[0].status, 200);
  for (std::size_t i = 1; i < 6; ++i) {
    EXPECT_TRUE(run.samples[i].dropped) << i;
    EXPECT_EQ(run.samples[i].latencyUs, 0);
    EXPECT_EQ(run.samples[i].status, 0);
  }
  std::size_t notDropped = 0;
  for (const auto& s : run.samples) notDropped += s.dropped ? 0 : 1;
  EXPECT_EQ(static_cast<int>(notDropped), sent.load());
}

TEST(LoadGenerator, StopRightAfterStartStillSendsWhatWasDue) {
  LoadGenerator g(1, 64, [](std::uint64_t) { return LoadGenerator::Answer{7, 0}; });
  const LoadRun run = g.stop();
  ASSERT_GE(run.samples.size(), 1u);  // request 0 was due at the start: it is always sent
  EXPECT_EQ(run.samples[0].exit, 7);
}

}  // namespace
}  // namespace egresslab::backend
