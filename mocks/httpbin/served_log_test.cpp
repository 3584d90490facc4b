// The mock's accounting of answered requests (served_log.h): in-process, through a real server,
// and over the control API's GET /served.
#include "mocks/httpbin/served_log.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "mocks/httpbin/control_server.h"
#include "mocks/httpbin/httpbin_server.h"

namespace egresslab::httpbin {
namespace {

TEST(ServedLog, LatestAnswerWinsAcrossLogsAndEmptyIdsAreIgnored) {
  ServedLog a;
  ServedLog b;
  a.record("r1");
  b.record("r1");  // a retry answered by another server
  a.record("");
  ASSERT_TRUE(a.lastServed("r1"));
  ASSERT_TRUE(b.lastServed("r1"));
  EXPECT_LT(*a.lastServed("r1"), *b.lastServed("r1"));
  EXPECT_FALSE(a.lastServed("r2"));
  EXPECT_EQ(a.entries().size(), 1u);
}

TEST(ServedLog, ForgetsTheOldestBeyondItsCapacity) {
  ServedLog log(2);
  log.record("a");
  log.record("b");
  log.record("a");  // again: still the first entry for eviction
  log.record("c");
  EXPECT_FALSE(log.lastServed("a"));
  EXPECT_TRUE(log.lastServed("b"));
  EXPECT_TRUE(log.lastServed("c"));
  ASSERT_EQ(log.entries().size(), 2u);
  EXPECT_EQ(log.entries()[0].first, "b");
}

TEST(ServedLog, TheServerRecordsEveryAnswerByRequestIdAndTheControlApiListsThem) {
  HttpbinOptions options;
  options.hostname = "crm-a";
  auto server = HttpbinServer::start(options);
  ASSERT_TRUE(server) << server.error().str();
  httplib::Client client("127.0.0.1", (*server)->port());
  auto ok = client.Get("/status/200", {{"x-request-id", "load-1"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  ASSERT_TRUE((*server)->applyFault(Fault{.action = Fault::Action::kStatus, .code = 503}));
  auto failed = client.Get("/status/200", {{"x-request-id", "load-2"}});
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 503);   // a fault's answer is an answer too
  ASSERT_TRUE(client.Get("/get"));  // no id: not recorded
  EXPECT_TRUE((*server)->served().lastServed("load-1"));
  EXPECT_TRUE((*server)->served().lastServed("load-2"));
  EXPECT_EQ((*server)->served().entries().size(), 2u);

  auto control = FaultControlServer::start(**server, "127.0.0.1", 0);
  ASSERT_TRUE(control) << control.error().str();
  httplib::Client controlClient("127.0.0.1", (*control)->port());
  auto listed = controlClient.Get("/served");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->status, 200);
  const auto body = nlohmann::json::parse(listed->body);
  EXPECT_EQ(body["hostname"], "crm-a");
  EXPECT_TRUE(body["requests"].contains("load-1"));
  EXPECT_TRUE(body["requests"].contains("load-2"));
  EXPECT_EQ(body["requests"].size(), 2u);
}

}  // namespace
}  // namespace egresslab::httpbin
