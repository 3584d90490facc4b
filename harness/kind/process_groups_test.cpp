#include "harness/kind/process_groups.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace egresslab::kind {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Group ids far above any real pid (pid_max ≤ 2^22), so the kill(2) calls find nothing.
constexpr pid_t kGroupA = 2'000'000'001;
constexpr pid_t kGroupB = 2'000'000'002;

TEST(ProcessGroupRegistryTest, TracksGroupsBetweenAddAndRemove) {
  auto& registry = ProcessGroupRegistry::instance();
  const auto generation = registry.generation();
  EXPECT_TRUE(registry.add(kGroupA, generation));
  EXPECT_TRUE(registry.add(kGroupB, generation));
  EXPECT_THAT(registry.live(), ElementsAre(kGroupA, kGroupB));
  EXPECT_FALSE(registry.remove(kGroupA)) << "not signalled";
  EXPECT_FALSE(registry.remove(kGroupB));
  EXPECT_THAT(registry.live(), IsEmpty());
}

TEST(ProcessGroupRegistryTest, TerminateAllMarksGroupsAsCancelled) {
  auto& registry = ProcessGroupRegistry::instance();
  ASSERT_TRUE(registry.add(kGroupA, registry.generation()));
  EXPECT_EQ(registry.terminateAll(std::chrono::milliseconds(0)), 1u);
  EXPECT_TRUE(registry.remove(kGroupA)) << "the runner learns its group was cancelled";
}

TEST(ProcessGroupRegistryTest, SpawnRacingTerminateAllIsRefused) {
  // A runner samples the generation, spawns, and registers; if terminateAll ran meanwhile the
  // new group missed the broadcast and the runner must kill it itself.
  auto& registry = ProcessGroupRegistry::instance();
  const auto sampled = registry.generation();
  registry.terminateAll(std::chrono::milliseconds(0));
  EXPECT_FALSE(registry.add(kGroupA, sampled));
  EXPECT_THAT(registry.live(), IsEmpty());
  EXPECT_TRUE(registry.add(kGroupA, registry.generation()));
  registry.remove(kGroupA);
}

TEST(ProcessGroupRegistryTest, TerminateAllWithNothingLiveIsANoOp) {
  EXPECT_EQ(ProcessGroupRegistry::instance().terminateAll(std::chrono::milliseconds(100)), 0u);
}

}  // namespace
}  // namespace egresslab::kind
