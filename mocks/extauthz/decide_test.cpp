#include "mocks/extauthz/decide.h"

#include <gtest/gtest.h>

namespace egresslab::extauthz {
namespace {

TEST(MatchesPattern, ExactPrefixSuffixAndPresence) {
  EXPECT_TRUE(matchesPattern("/a", "/a"));
  EXPECT_FALSE(matchesPattern("/a", "/ab"));
  EXPECT_TRUE(matchesPattern("/admin*", "/admin/users"));
  EXPECT_FALSE(matchesPattern("/admin*", "/status"));
  EXPECT_TRUE(matchesPattern("*/sa/a", "spiffe://cluster.local/ns/x/sa/a"));
  EXPECT_FALSE(matchesPattern("*/sa/a", "spiffe://cluster.local/ns/x/sa/b"));
  EXPECT_TRUE(matchesPattern("*", "anything"));
  EXPECT_FALSE(matchesPattern("*", ""));
}

TEST(Decide, FirstMatchingRuleElseDefault) {
  model::ExtAuthzRules rules;
  model::ExtAuthzRule admin;
  admin.match.paths = {"/admin*"};
  admin.allow = false;
  model::ExtAuthzRule alice;
  alice.match.headers = {{"x-user", "alice"}};
  alice.match.methods = {"GET"};
  alice.allow = true;
  rules.rules = {admin, alice};
  rules.otherwise.allow = false;

  CheckInput in{.method = "GET", .path = "/status/200", .principal = "", .headers = {}};
  EXPECT_EQ(&decide(rules, in), &rules.otherwise);
  in.headers = {{"x-user", "alice"}};
  EXPECT_EQ(&decide(rules, in), &rules.rules[1]);
  in.method = "POST";
  EXPECT_EQ(&decide(rules, in), &rules.otherwise);
  in.method = "GET";
  in.path = "/admin/x";
  EXPECT_EQ(&decide(rules, in), &rules.rules[0]);
}

TEST(Decide, PrincipalConditionNeedsAPrincipal) {
  model::ExtAuthzRules rules;
  model::ExtAuthzRule any;
  any.match.principals = {"*"};
  any.allow = true;
  rules.rules = {any};
  CheckInput plain{.method = "GET", .path = "/", .principal = "", .headers = {}};
  EXPECT_FALSE(decide(rules, plain).allow);
  plain.principal = "spiffe://cluster.local/ns/a/sa/b";
  EXPECT_TRUE(decide(rules, plain).allow);
}

TEST(Decide, IstioSampleRules_X1) {
  const model::ExtAuthzRules sample = model::sampleExtAuthzRules();
  CheckInput in{.method = "GET", .path = "/", .principal = "", .headers = {}};
  EXPECT_FALSE(decide(sample, in).allow);
  EXPECT_EQ(decide(sample, in).status, 403u);
  in.headers = {{"x-ext-authz", "allow"}};
  EXPECT_TRUE(decide(sample, in).allow);
  in.headers = {{"x-ext-authz", "deny"}};
  in.principal = "spiffe://cluster.local/ns/x/sa/a";
  EXPECT_FALSE(decide(sample, in).allow);  // the header, when present, decides
  in.headers.clear();
  EXPECT_TRUE(decide(sample, in).allow);
}

TEST(PrincipalFromXfcc, UriElementOfTheFirstCertificate) {
  EXPECT_EQ(principalFromXfcc("By=spiffe://cluster.local/ns/istio-system/sa/egress;Hash=ab;"
                              "Subject=\"\";URI=spiffe://cluster.local/ns/app/sa/client"),
            "spiffe://cluster.local/ns/app/sa/client");
  EXPECT_EQ(principalFromXfcc("Hash=ab;URI=\"spiffe://a/ns/b/sa/c\",URI=spiffe://x"),
            "spiffe://a/ns/b/sa/c");
  EXPECT_EQ(principalFromXfcc("Hash=ab"), "");
}

}  // namespace
}  // namespace egresslab::extauthz
