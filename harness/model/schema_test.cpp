// The schema helpers: did-you-mean, durations, Origin::at.
#include <gtest/gtest.h>

#include "harness/model/origin.h"
#include "harness/model/schema.h"

namespace egresslab::model::detail {
namespace {

TEST(DidYouMean, CloseTyposAreSuggested) {
  const std::vector<std::string> fields = {"hosts", "gateways", "http", "tls", "tcp", "exportTo"};
  EXPECT_EQ(closestMatch("hostz", fields), "hosts");
  EXPECT_EQ(closestMatch("gateway", fields), "gateways");
  EXPECT_EQ(closestMatch("exportto", fields), "exportTo");  // case-insensitive
  EXPECT_EQ(closestMatch("export", fields), "exportTo");    // truncated
  EXPECT_EQ(closestMatch("somethingElse", fields), "");
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
}

TEST(Durations, IstioDurationStrings) {
  EXPECT_EQ(parseDurationText("1s"), Duration{1000});
  EXPECT_EQ(parseDurationText("500ms"), Duration{500});
  EXPECT_EQ(parseDurationText("1m"), Duration{60000});
  EXPECT_EQ(parseDurationText("1h"), Duration{3600000});
  EXPECT_EQ(parseDurationText("1.5s"), Duration{1500});
  EXPECT_EQ(parseDurationText("1h30m"), Duration{5400000});
  EXPECT_EQ(parseDurationText("0s"), Duration{0});
  EXPECT_FALSE(parseDurationText("1"));
  EXPECT_FALSE(parseDurationText("s"));
  EXPECT_FALSE(parseDurationText("-1s"));
  EXPECT_FALSE(parseDurationText("1d"));
  EXPECT_FALSE(parseDurationText(""));
  EXPECT_FALSE(parseDurationText("1e999s"));
}

TEST(OriginAt, ExactThenParentThenObject) {
  Origin origin;
  origin.pos = {"f", 1, 1};
  origin.fields["spec"] = {"f", 5, 1};
  origin.fields["spec.http[0]"] = {"f", 7, 5};
  origin.fields["spec.http[0].route[0].destination.host"] = {"f", 9, 15};
  EXPECT_EQ(origin.at("spec.http[0].route[0].destination.host").line, 9);
  EXPECT_EQ(origin.at("spec.http[0].route[0].weight").line, 7);
  EXPECT_EQ(origin.at("spec.http[3]").line, 5);
  EXPECT_EQ(origin.at("metadata.name").line, 1);
  EXPECT_EQ(origin.at("").line, 1);
}

}  // namespace
}  // namespace egresslab::model::detail
