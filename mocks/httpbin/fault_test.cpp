// parseFault / toJson: the fault grammar shared by the control API and the simulator.
#include "mocks/httpbin/fault.h"

#include <gtest/gtest.h>

namespace egresslab::httpbin {
namespace {

using nlohmann::json;

Fault parsed(const char* text) {
  auto fault = parseFault(json::parse(text));
  EXPECT_TRUE(fault.has_value()) << text << ": " << (fault ? "" : fault.error().message);
  return fault.value_or(Fault{});
}

std::string errorOf(const char* text) {
  auto fault = parseFault(json::parse(text));
  EXPECT_FALSE(fault.has_value()) << text;
  if (fault) return {};
  EXPECT_EQ(fault.error().kind, ErrorKind::kInvalidInput);
  return fault.error().message;
}

TEST(ParseFault, EveryAction) {
  EXPECT_EQ(parsed(R"({"action":"down"})"), Fault{.action = Fault::Action::kDown});
  EXPECT_EQ(parsed(R"({"action":"up"})"), Fault{.action = Fault::Action::kUp});
  EXPECT_EQ(parsed(R"({"action":"reset"})"), Fault{.action = Fault::Action::kReset});
  EXPECT_EQ(parsed(R"({"action":"bad-cert"})"), Fault{.action = Fault::Action::kBadCert});
  EXPECT_EQ(parsed(R"({"action":"close"})"), Fault{.action = Fault::Action::kClose});
  EXPECT_EQ(parsed(R"({"action":"blackhole"})"), Fault{.action = Fault::Action::kBlackhole});
  EXPECT_EQ(parsed(R"({"action":"cert","cert":"expired"})"),
            (Fault{.action = Fault::Action::kCert, .cert = Fault::Cert::kExpired}));
  EXPECT_EQ(parsed(R"({"action":"cert","cert":"wrong-host"})"),
            (Fault{.action = Fault::Action::kCert, .cert = Fault::Cert::kWrongHost}));
  EXPECT_EQ(parsed(R"({"action":"cert","cert":"rotate"})"),
            (Fault{.action = Fault::Action::kCert, .cert = Fault::Cert::kRotate}));
  EXPECT_EQ(parsed(R"({"action":"latency","ms":250})"),
            (Fault{.action = Fault::Action::kLatency, .ms = 250}));
  EXPECT_EQ(parsed(R"({"action":"status","code":503,"percent":50})"),
            (Fault{.action = Fault::Action::kStatus, .code = 503, .percent = 50}));
}

TEST(ParseFault, StatusPercentDefaultsTo100) {
  EXPECT_EQ(parsed(R"({"action":"status","code":500})").percent, 100);
}

TEST(ParseFault, TargetKeyOfAScenarioStepIsIgnored) {
  EXPECT_EQ(parsed(R"({"target":"upstream/httpbin.org","action":"down"})").action,
            Fault::Action::kDown);
}

TEST(ParseFault, RejectsWithAReason) {
  EXPECT_NE(errorOf(R"([1,2])").find("JSON object"), std::string::npos);
  EXPECT_NE(errorOf(R"({})").find("needs \"action\""), std::string::npos);
  EXPECT_NE(errorOf(R"({"action":7})").find("needs \"action\""), std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"explode"})").find("unknown fault action \"explode\""),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"latency"})").find("needs \"ms\""), std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"latency","ms":"100"})").find("must be an integer"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"latency","ms":1.5})").find("must be an integer"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"latency","ms":-1})").find("must be in [0, 600000]"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"status"})").find("needs \"code\""), std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"status","code":99})").find("[200, 599]"), std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"status","code":503,"percent":101})").find("[0, 100]"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"down","ms":5})").find("does not take \"ms\""), std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"cert"})").find("needs \"cert\": one of expired"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"cert","cert":"old"})").find("got \"old\""), std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"close","cert":"expired"})").find("does not take \"cert\""),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"action":"latency","ms":5,"code":1})").find("does not take \"code\""),
            std::string::npos);
}

TEST(FaultJson, RoundTripsThroughParseFault) {
  for (const Fault& f :
       {Fault{.action = Fault::Action::kDown}, Fault{.action = Fault::Action::kLatency, .ms = 7},
        Fault{.action = Fault::Action::kStatus, .code = 429, .percent = 30},
        Fault{.action = Fault::Action::kBadCert},
        Fault{.action = Fault::Action::kCert, .cert = Fault::Cert::kWrongHost},
        Fault{.action = Fault::Action::kBlackhole}}) {
    auto back = parseFault(toJson(f));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, f);
  }
  EXPECT_EQ(toJson(Fault{.action = Fault::Action::kStatus, .code = 503}).dump(),
            R"({"action":"status","code":503,"percent":100})");
}

}  // namespace
}  // namespace egresslab::httpbin
