// A load through the sim backend (docs/scenarios.md "Load and SLOs"): the shipped seed scenario's
// in-mesh chain (sleep's sidecar → egress gateway → the httpbin.org mock), counts and servedBy
// from the mock's own accounting. No timing in the asserts: whatever number of requests ran,
// each one is accounted for exactly once.
#include <gtest/gtest.h>

#include "harness/curl/command.h"
#include "harness/model/loader.h"
#include "harness/sim/sim_backend.h"

namespace egresslab::sim {
namespace {

const std::filesystem::path kSeed =
    std::filesystem::path(EGRESSLAB_SOURCE_DIR) / "scenarios/seed-httpbin.yaml";
constexpr const char* kInMesh = "-sS http://httpbin.example.com/status/200";

backend::CurlRequest request(const std::string& line, const std::string& id) {
  backend::CurlRequest r;
  r.line = line;
  r.command = *curl::parseCurlCommandLine(line);
  r.from = "httpbin/sleep";
  r.requestId = id;
  return r;
}

// Steps the runner would run while the load runs: a few ordinary requests (they take real time;
// the load is not waited on).
void ordinarySteps(backend::Backend& b, int n) {
  for (int i = 0; i < n; ++i) {
    auto o = b.curl(request(kInMesh, "step-" + std::to_string(i)));
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->status, 200);
  }
}

TEST(SimLoad, EveryRequestIsCountedAndServedByTheUpstreamThatAnswered) {
  auto sc = model::loadScenario(kSeed);
  ASSERT_TRUE(sc.has_value()) << sc.error().str();
  SimOptions sim;
  sim.timeScale = 20;  // the egress gateway's readiness probe passes sooner
  auto b = makeSimBackend(sim);
  ASSERT_TRUE(b->up(*sc, {}).has_value());
  // Wait (with a deadline) until the chain answers, as the scenario's eventually does.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (b->curl(request(kInMesh, "ready"))->status != 200) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the seed chain never answered 200";
  }
  backend::LoadRequest load{
      .name = "bg", .request = request(kInMesh, "sim-load-test"), .rate = 500, .concurrency = 16};
  ASSERT_TRUE(b->startLoad(load).has_value());
  EXPECT_FALSE(b->startLoad(load).has_value());  // one load per name
  ordinarySteps(*b, 5);
  auto run = b->stopLoad("bg");
  ASSERT_TRUE(run.has_value()) << run.error().str();
  ASSERT_GE(run->samples.size(), 1u);
  std::size_t sent = 0;
  for (std::size_t i = 0; i < run->samples.size(); ++i) {
    const auto& s = run->samples[i];
    EXPECT_EQ(s.index, i);
    if (s.dropped) continue;
    ++sent;
    EXPECT_EQ(s.exit, 0) << i;
    EXPECT_EQ(s.status, 200) << i;
    // The upstream `name` (default: its host), from the mock's accounting of x-request-ids.
    EXPECT_EQ(s.servedBy, "httpbin.org") << i;
  }
  EXPECT_GE(sent, 1u);
  EXPECT_FALSE(b->stopLoad("bg").has_value());  // stopped once
  b->down();
}

TEST(SimLoad, AnUpstreamFaultMidLoadIsSeenInTheSamplesAndStillServedByItsMock) {
  auto sc = model::loadScenario(kSeed);
  ASSERT_TRUE(sc.has_value()) << sc.error().str();
  SimOptions sim;
  sim.timeScale = 20;
  auto b = makeSimBackend(sim);
  ASSERT_TRUE(b->up(*sc, {}).has_value());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (b->curl(request(kInMesh, "ready"))->status != 200) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the seed chain never answered 200";
  }
  model::FaultSpec fault;
  fault.target = "upstream/httpbin.org";
  fault.upstreamHost = "httpbin.org";
  fault.action = "status";
  fault.code = 418;
  ASSERT_TRUE(b->fault(fault).has_value());
  backend::LoadRequest load{
      .name = "bg", .request = request(kInMesh, "sim-load-fault"), .rate = 200, .concurrency = 8};
  ASSERT_TRUE(b->startLoad(load).has_value());
  auto run = b->stopLoad("bg");  // right away: request 0 was due, so it ran
  ASSERT_TRUE(run.has_value());
  ASSERT_GE(run->samples.size(), 1u);
  EXPECT_EQ(run->samples[0].status, 418);
  EXPECT_EQ(run->samples[0].servedBy, "httpbin.org");
  b->down();
}

TEST(SimLoad, DownStopsALoadNobodyStopped) {
  auto sc = model::loadScenario(kSeed);
  ASSERT_TRUE(sc.has_value()) << sc.error().str();
  auto b = makeSimBackend();
  ASSERT_TRUE(b->up(*sc, {}).has_value());
  backend::LoadRequest load{
      .name = "bg", .request = request(kInMesh, "sim-load-down"), .rate = 100, .concurrency = 4};
  ASSERT_TRUE(b->startLoad(load).has_value());
  b->down();  // returns: the load's threads are joined before the mesh stops
  EXPECT_FALSE(b->stopLoad("bg").has_value());
}

}  // namespace
}  // namespace egresslab::sim
