// The DestinationRule rules of policy.h as pure functions (docs/istio-behaviour.md §4).
#include "harness/mesh/policy.h"

#include <gtest/gtest.h>

namespace egresslab::mesh {
namespace {

model::DestinationRule dr(std::string ns, std::string name, std::string host,
                          std::vector<std::string> exportTo = {}) {
  model::DestinationRule d;
  d.kind = "DestinationRule";
  d.meta.ns = std::move(ns);
  d.meta.name = std::move(name);
  d.host = std::move(host);
  d.exportTo = std::move(exportTo);
  return d;
}

std::string found(const std::vector<model::DestinationRule>& rules, const DestinationRuleQuery& q) {
  const model::DestinationRule* d = findDestinationRule(rules, q);
  return d == nullptr ? "none" : d->meta.ns + "/" + d->meta.name;
}

// Item 1: a DR outside the proxy's, the service's and the root namespace is never consulted.
TEST(Sec4_DrLookup, RuleInAnUnrelatedNamespaceIsNeverUsed) {
  std::vector<model::DestinationRule> rules{dr("other", "elsewhere", "httpbin.org")};
  EXPECT_EQ(found(rules, {"httpbin.org", "httpbin", "httpbin"}), "none");
  EXPECT_EQ(found(rules, {"httpbin.org", "httpbin", "sleep-ns"}), "none");
  EXPECT_EQ(found(rules, {"httpbin.org", "other", "httpbin"}), "other/elsewhere");
}

TEST(Sec4_DrLookup, ProxyNamespaceThenServiceNamespaceThenRoot) {
  std::vector<model::DestinationRule> rules{dr("istio-system", "root", "httpbin.org"),
                                            dr("svc", "service", "httpbin.org"),
                                            dr("proxy", "local", "httpbin.org")};
  EXPECT_EQ(found(rules, {"httpbin.org", "svc", "proxy"}), "proxy/local");
  EXPECT_EQ(found(rules, {"httpbin.org", "svc", "third"}), "svc/service");
  rules.erase(rules.begin() + 1);
  EXPECT_EQ(found(rules, {"httpbin.org", "svc", "third"}), "istio-system/root");
}

// Item 2: a proxy in the root namespace (the ingress gateway) prefers the service's namespace
// over a public root DR; only root DRs exported to "." come first.
TEST(Sec4_DrLookup, RootNamespaceProxyPrefersServiceNamespaceOverPublicRootRule) {
  std::vector<model::DestinationRule> rules{dr("istio-system", "root", "httpbin.org"),
                                            dr("httpbin", "service", "httpbin.org")};
  EXPECT_EQ(found(rules, {"httpbin.org", "httpbin", "istio-system"}), "httpbin/service");
  rules.push_back(dr("istio-system", "private", "httpbin.org", {"."}));
  EXPECT_EQ(found(rules, {"httpbin.org", "httpbin", "istio-system"}), "istio-system/private");
  // The private root DR is not visible to other namespaces.
  EXPECT_EQ(found(rules, {"httpbin.org", "elsewhere", "sleep"}), "istio-system/root");
}

// Item 3: within one namespace the most specific host wins, whatever the file order.
TEST(Sec4_DrLookup, MostSpecificHostWinsWithinANamespace) {
  std::vector<model::DestinationRule> rules{
      dr("shop", "wide", "*.example.com"), dr("shop", "any", "*"),
      dr("shop", "exact", "shop.example.com"), dr("shop", "narrow", "*.eu.example.com")};
  EXPECT_EQ(found(rules, {"shop.example.com", "shop", "shop"}), "shop/exact");
  EXPECT_EQ(found(rules, {"a.eu.example.com", "shop", "shop"}), "shop/narrow");
  EXPECT_EQ(found(rules, {"b.example.com", "shop", "shop"}), "shop/wide");
  EXPECT_EQ(found(rules, {"example.com", "shop", "shop"}), "shop/any");
}

TEST(Sec4_DrLookup, ExportToLimitsWhoSeesTheServiceNamespaceRule) {
  std::vector<model::DestinationRule> rules{dr("svc", "private", "httpbin.org", {"."})};
  EXPECT_EQ(found(rules, {"httpbin.org", "svc", "client"}), "none");
  EXPECT_EQ(found(rules, {"httpbin.org", "svc", "svc"}), "svc/private");
  rules.front().exportTo = {"client"};
  EXPECT_EQ(found(rules, {"httpbin.org", "svc", "client"}), "svc/private");
  EXPECT_EQ(found(rules, {"httpbin.org", "svc", "third"}), "none");
}

TEST(Sec4_DrLookup, ShortHostResolvesInTheRuleNamespace) {
  std::vector<model::DestinationRule> rules{dr("httpbin", "short", "httpbin-egress")};
  EXPECT_EQ(found(rules, {"httpbin-egress.httpbin.svc.cluster.local", "httpbin", "sleep"}),
            "httpbin/short");
}

TEST(Hosts, MostSpecificHostMatchSemantics) {
  std::vector<std::string> hosts{"*", "*.example.com", "a.example.com", "*.a.example.com"};
  EXPECT_EQ(mostSpecificHostMatch("a.example.com", hosts), 2U);
  EXPECT_EQ(mostSpecificHostMatch("x.a.example.com", hosts), 3U);
  EXPECT_EQ(mostSpecificHostMatch("b.example.com", hosts), 1U);
  EXPECT_EQ(mostSpecificHostMatch("example.org", hosts), 0U);
  EXPECT_EQ(mostSpecificHostMatch("*.a.example.com", hosts), 3U);
  EXPECT_EQ(mostSpecificHostMatch("*.b.example.com", hosts), 1U);
  EXPECT_FALSE(mostSpecificHostMatch("example.com", {"*.example.com"}).has_value());
}

// Item 12: auto SNI / SAN follow the route's host rewrite from Istio 1.24 (Envoy 1.32).
TEST(Sec4_AutoSni, FollowsHostRewriteFromIstio1_24Only) {
  EffectivePolicy p;
  p.tls = model::ClientTls{};
  p.tls->mode = model::ClientTlsMode::kSimple;
  for (int minor : {21, 23, 24, 28}) {
    auto tls =
        originationTls(p, {"DestinationRule a/b", 443, "", "httpbin.org", {}, {1, minor, 0}});
    ASSERT_TRUE(tls.has_value());
    UpstreamHandshake h = upstreamHandshake(*tls, "proxied.example.com:80", "httpbin.org");
    const std::string want = minor >= 24 ? "httpbin.org" : "proxied.example.com";
    EXPECT_EQ(h.sni, want) << minor;
    ASSERT_EQ(h.verifySubjectAltNames.size(), 1U);
    EXPECT_EQ(h.verifySubjectAltNames.front(), want) << minor;
    // Without a rewrite both use the Host as received.
    EXPECT_EQ(upstreamHandshake(*tls, "proxied.example.com", "").sni, "proxied.example.com");
  }
}

}  // namespace
}  // namespace egresslab::mesh
