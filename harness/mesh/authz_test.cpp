// AuthorizationPolicy selection and evaluation (docs/istio-behaviour.md §S1): every matcher,
// the CUSTOM → DENY → ALLOW order, TCP rules with HTTP-only fields, and Envoy's policy names.
#include "harness/mesh/authz.h"

#include <gtest/gtest.h>

#include "harness/model/loader.h"

namespace egresslab::mesh {
namespace {

using model::AuthzAction;

// Policies from YAML (multi-document), as the loader reads them.
std::vector<model::AuthorizationPolicy> load(const std::string& yaml) {
  auto set = model::parseManifests(yaml, "p.yaml", {});
  EXPECT_TRUE(set.has_value()) << (set ? "" : set.error().str());
  return set ? set->authorizationPolicies : std::vector<model::AuthorizationPolicy>{};
}

ProxyAuthz attach(const std::string& yaml, const std::string& ns = "httpbin",
                  const model::Labels& labels = {{"istio", "egressgateway"}}) {
  return compileProxyAuthz(load(yaml), "istio-system", ns, labels);
}

std::string policy(const std::string& name, const std::string& ns, const std::string& spec) {
  return "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: " +
         name + "\n  namespace: " + ns + "\nspec:\n" + spec;
}

const std::string kSleep = "spiffe://cluster.local/ns/httpbin/sa/sleep";

AuthzRequest httpRequest(std::string_view path = "/status/200", std::string_view peer = kSleep) {
  AuthzRequest r;
  r.host = "httpbin.example.com";
  r.path = path;
  r.method = "GET";
  r.peerPrincipal = peer;
  r.sourceIp = "10.244.0.7";
  r.remoteIp = "10.244.0.7";
  r.destinationIp = "10.244.0.6";
  r.destinationPort = 8080;
  return r;
}

// ------------------------------------------------------------------ selection
TEST(AuthzSelect, NamespaceRootSelectorAndTargetRef) {
  const std::string yaml =
      policy("ns-wide", "httpbin", "  action: DENY\n  rules: [{}]\n") +
      policy("other-ns", "crm", "  action: DENY\n  rules: [{}]\n") +
      policy("root", "istio-system", "  action: AUDIT\n  rules: [{}]\n") +
      policy("selected", "httpbin",
             "  selector: {matchLabels: {istio: egressgateway}}\n  action: DENY\n  rules: [{}]\n") +
      policy("not-selected", "httpbin",
             "  selector: {matchLabels: {app: sleep}}\n  action: DENY\n  rules: [{}]\n") +
      policy("target", "httpbin",
             "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: g}]\n"
             "  action: DENY\n  rules: [{}]\n");
  const ProxyAuthz a = attach(yaml);
  std::vector<std::string> names;
  for (const auto& p : a.policies) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"ns-wide", "root", "selected"}));
}

TEST(AuthzSelect, DryRunIsNeverEnforced) {
  const ProxyAuthz a = attach(
      "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: d\n"
      "  namespace: httpbin\n  annotations: {istio.io/dry-run: \"true\"}\nspec:\n"
      "  action: DENY\n  rules: [{}]\n");
  EXPECT_TRUE(a.empty());
}

// ------------------------------------------------------------------ evaluation order
TEST(AuthzEvaluate, NoPolicyAllows) { EXPECT_TRUE(evaluateRbac({}, httpRequest()).allowed); }

TEST(AuthzEvaluate, AllowPoliciesPresentAndNoneMatchDeniesWithNone) {
  const ProxyAuthz a = attach(policy(
      "allow-crm", "httpbin",
      "  rules:\n  - from:\n    - source: {principals: [cluster.local/ns/crm/sa/client]}\n"));
  const AuthzDecision d = evaluateRbac(a, httpRequest());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.matchedPolicy, "none");
  EXPECT_EQ(d.details, "rbac_access_denied_matched_policy[none]");
}

TEST(AuthzEvaluate, AllowNothingAndAllowAll) {
  EXPECT_FALSE(evaluateRbac(attach(policy("nothing", "httpbin", "  {}\n")), httpRequest()).allowed);
  EXPECT_TRUE(
      evaluateRbac(attach(policy("all", "httpbin", "  rules: [{}]\n")), httpRequest()).allowed);
}

TEST(AuthzEvaluate, DenyBeatsAllowAndNamesTheRule) {
  const ProxyAuthz a =
      attach(policy("allow-all", "httpbin", "  rules: [{}]\n") +
             policy("deny-admin", "httpbin",
                    "  action: DENY\n  rules:\n  - to:\n    - operation: {paths: [/status/418]}\n"
                    "  - to:\n    - operation: {paths: [\"/admin*\"]}\n"));
  EXPECT_TRUE(evaluateRbac(a, httpRequest("/status/200")).allowed);
  const AuthzDecision d = evaluateRbac(a, httpRequest("/admin/users"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.details, "rbac_access_denied_matched_policy[ns[httpbin]-policy[deny-admin]-rule[1]]");
}

TEST(AuthzEvaluate, AuditNeverDecides) {
  const ProxyAuthz a = attach(policy("audit", "httpbin", "  action: AUDIT\n  rules: [{}]\n"));
  const AuthzDecision d = evaluateRbac(a, httpRequest());
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.audited, std::vector<std::string>{"ns[httpbin]-policy[audit]-rule[0]"});
}

TEST(AuthzEvaluate, CustomIsSelectedSeparatelyWithItsProvider) {
  const ProxyAuthz a =
      attach(policy("ext", "httpbin",
                    "  action: CUSTOM\n  provider: {name: opa}\n  rules:\n  - to:\n"
                    "    - operation: {paths: [\"/api/*\"]}\n") +
             policy("deny", "httpbin",
                    "  action: DENY\n  rules: [{to: [{operation: {methods: [POST]}}]}]\n"));
  const auto custom = evaluateCustom(a, httpRequest("/api/x"));
  ASSERT_TRUE(custom.has_value());
  EXPECT_EQ(custom->provider, "opa");
  EXPECT_EQ(custom->matchedPolicy, "ns[httpbin]-policy[ext]-rule[0]");
  EXPECT_FALSE(evaluateCustom(a, httpRequest("/other")).has_value());
  // evaluateRbac ignores CUSTOM policies.
  EXPECT_TRUE(evaluateRbac(a, httpRequest("/api/x")).allowed);
}

// ------------------------------------------------------------------ sources
TEST(AuthzSources, PrincipalsNeedMutualTls) {
  const ProxyAuthz a = attach(policy(
      "allow-sleep", "httpbin",
      "  rules:\n  - from:\n    - source: {principals: [cluster.local/ns/httpbin/sa/sleep]}\n"));
  EXPECT_TRUE(evaluateRbac(a, httpRequest()).allowed);
  EXPECT_FALSE(evaluateRbac(a, httpRequest("/", "")).allowed);  // plaintext caller
  EXPECT_FALSE(
      evaluateRbac(a, httpRequest("/", "spiffe://cluster.local/ns/httpbin/sa/other")).allowed);
}

TEST(AuthzSources, NotPrincipalsMatchPlaintextCallers) {
  const ProxyAuthz a = attach(
      policy("deny-others", "httpbin",
             "  action: DENY\n  rules:\n  - from:\n    - source: {notPrincipals: [\"*\"]}\n"));
  EXPECT_TRUE(evaluateRbac(a, httpRequest()).allowed);
  EXPECT_FALSE(evaluateRbac(a, httpRequest("/", "")).allowed);
}

TEST(AuthzMatchers, Principal) {
  EXPECT_TRUE(principalMatches("*", kSleep));
  EXPECT_FALSE(principalMatches("*", ""));
  EXPECT_TRUE(principalMatches("cluster.local/ns/httpbin/sa/sleep", kSleep));
  EXPECT_TRUE(principalMatches("cluster.local/ns/httpbin/*", kSleep));
  EXPECT_TRUE(principalMatches("*/sa/sleep", kSleep));
  EXPECT_FALSE(principalMatches("*/sa/other", kSleep));
  EXPECT_FALSE(principalMatches("spiffe://cluster.local/ns/httpbin/sa/sleep", kSleep));
}

TEST(AuthzMatchers, Namespace) {
  EXPECT_TRUE(namespaceMatches("httpbin", kSleep));
  EXPECT_FALSE(namespaceMatches("http", kSleep));
  EXPECT_TRUE(namespaceMatches("http*", kSleep));
  EXPECT_TRUE(namespaceMatches("*bin", kSleep));
  EXPECT_FALSE(namespaceMatches("httpbin", ""));
}

TEST(AuthzSources, NamespacesServiceAccountsAndIpBlocks) {
  const ProxyAuthz a = attach(policy(
      "ns", "httpbin",
      "  rules:\n  - from:\n    - source: {namespaces: [httpbin], ipBlocks: [10.244.0.0/16]}\n"
      "  - from:\n    - source: {serviceAccounts: [crm/client]}\n"
      "  - from:\n    - source: {remoteIpBlocks: [203.0.113.0/24]}\n"));
  EXPECT_TRUE(evaluateRbac(a, httpRequest()).allowed);
  AuthzRequest outside = httpRequest();
  outside.sourceIp = "10.245.0.1";
  EXPECT_FALSE(evaluateRbac(a, outside).allowed);
  EXPECT_TRUE(evaluateRbac(a, httpRequest("/", "spiffe://cluster.local/ns/crm/sa/client")).allowed);
  AuthzRequest remote = httpRequest("/", "");
  remote.remoteIp = "203.0.113.9";
  EXPECT_TRUE(evaluateRbac(a, remote).allowed);
}

TEST(AuthzSources, RequestPrincipalsNeverMatchWithoutJwt) {
  const ProxyAuthz a = attach(policy(
      "jwt", "httpbin", "  rules:\n  - from:\n    - source: {requestPrincipals: [\"*\"]}\n"));
  EXPECT_FALSE(evaluateRbac(a, httpRequest()).allowed);
}

TEST(AuthzMatchers, IpBlocks) {
  EXPECT_TRUE(ipBlockMatches("10.0.0.0/8", "10.244.0.7"));
  EXPECT_FALSE(ipBlockMatches("10.0.0.0/8", "11.0.0.1"));
  EXPECT_TRUE(ipBlockMatches("10.244.0.7", "10.244.0.7"));
  EXPECT_FALSE(ipBlockMatches("10.244.0.7", "10.244.0.8"));
  EXPECT_TRUE(ipBlockMatches("2001:db8::/32", "2001:db8::1"));
  EXPECT_FALSE(ipBlockMatches("2001:db8::/32", "10.0.0.1"));
  EXPECT_FALSE(ipBlockMatches("10.0.0.0/8", "not-an-ip"));
}

// ------------------------------------------------------------------ operations
TEST(AuthzMatchers, StringMatchExactPrefixSuffixPresence) {
  EXPECT_TRUE(authzStringMatch("/status/200", "/status/200"));
  EXPECT_FALSE(authzStringMatch("/status", "/status/200"));
  EXPECT_TRUE(authzStringMatch("/status/*", "/status/200"));
  EXPECT_TRUE(authzStringMatch("*/200", "/status/200"));
  EXPECT_TRUE(authzStringMatch("*", "x"));
  EXPECT_FALSE(authzStringMatch("*", ""));
  EXPECT_TRUE(authzStringMatch("HTTPBIN.example.com", "httpbin.EXAMPLE.com", true));
  EXPECT_FALSE(authzStringMatch("HTTPBIN.example.com", "httpbin.EXAMPLE.com", false));
}

TEST(AuthzOperations, HostsMatchTheHostHeaderWithItsPort) {
  const ProxyAuthz a = attach(policy(
      "hosts", "httpbin", "  rules:\n  - to:\n    - operation: {hosts: [HTTPBIN.example.com]}\n"));
  EXPECT_TRUE(evaluateRbac(a, httpRequest()).allowed);
  AuthzRequest withPort = httpRequest();
  withPort.host = "httpbin.example.com:80";
  EXPECT_FALSE(evaluateRbac(a, withPort).allowed);
}

TEST(AuthzOperations, PortsMethodsAndNotPaths) {
  const ProxyAuthz a =
      attach(policy("ops", "httpbin",
                    "  rules:\n  - to:\n    - operation: {ports: [\"8080\"], methods: [GET, HEAD], "
                    "notPaths: [\"/admin*\"]}\n"));
  EXPECT_TRUE(evaluateRbac(a, httpRequest("/status/200")).allowed);
  EXPECT_FALSE(evaluateRbac(a, httpRequest("/admin")).allowed);
  AuthzRequest post = httpRequest();
  post.method = "POST";
  EXPECT_FALSE(evaluateRbac(a, post).allowed);
  AuthzRequest port80 = httpRequest();
  port80.destinationPort = 80;  // at a gateway the port is the targetPort (8080), not 80
  EXPECT_FALSE(evaluateRbac(a, port80).allowed);
}

TEST(AuthzOperations, PathsAreNormalizedAndQueryStripped) {
  EXPECT_EQ(normalizedPathForMatch("/a/./b/../admin?x=1"), "/a/admin");
  EXPECT_EQ(normalizedPathForMatch("/%61dmin/%2fx"), "/admin/%2fx");
  EXPECT_EQ(normalizedPathForMatch("/a\\b"), "/a/b");
  EXPECT_EQ(normalizedPathForMatch("/a//b"), "/a//b");  // BASE does not merge slashes
  const ProxyAuthz a =
      attach(policy("deny", "httpbin",
                    "  action: DENY\n  rules:\n  - to:\n    - operation: {paths: [/admin]}\n"));
  EXPECT_FALSE(evaluateRbac(a, httpRequest("/public/../%61dmin?debug=1")).allowed);
  EXPECT_TRUE(evaluateRbac(a, httpRequest("/admin/x")).allowed);
}

TEST(AuthzOperations, PathTemplates) {
  const ProxyAuthz a =
      attach(policy("tpl", "httpbin",
                    "  rules:\n  - to:\n    - operation: {paths: [\"/api/{*}/items/{**}\"]}\n"));
  EXPECT_TRUE(evaluateRbac(a, httpRequest("/api/v1/items/a/b")).allowed);
  EXPECT_FALSE(evaluateRbac(a, httpRequest("/api/v1/x/items/a")).allowed);
}

// ------------------------------------------------------------------ conditions
TEST(AuthzConditions, HeadersPrincipalNamespaceIpPortSni) {
  const ProxyAuthz a = attach(policy("when", "httpbin",
                                     "  rules:\n  - when:\n"
                                     "    - {key: \"request.headers[X-Team]\", values: [blue]}\n"
                                     "    - {key: source.principal, values: [\"*/sa/sleep\"]}\n"
                                     "    - {key: source.namespace, notValues: [crm]}\n"
                                     "    - {key: source.ip, values: [10.244.0.0/16]}\n"
                                     "    - {key: remote.ip, values: [10.244.0.7]}\n"
                                     "    - {key: destination.ip, values: [10.244.0.6]}\n"
                                     "    - {key: destination.port, values: [\"8080\"]}\n"
                                     "    - {key: connection.sni, values: [\"*.example.com\"]}\n"));
  const std::vector<std::pair<std::string, std::string>> blue = {{"x-team", "blue"}};
  AuthzRequest r = httpRequest();
  r.headers = &blue;
  r.sni = "httpbin.example.com";
  EXPECT_TRUE(evaluateRbac(a, r).allowed);
  const std::vector<std::pair<std::string, std::string>> red = {{"x-team", "red"}};
  AuthzRequest other = r;
  other.headers = &red;
  EXPECT_FALSE(evaluateRbac(a, other).allowed);
  AuthzRequest noSni = r;
  noSni.sni = "";
  EXPECT_FALSE(evaluateRbac(a, noSni).allowed);
  AuthzRequest plaintext = r;
  plaintext.peerPrincipal = "";
  EXPECT_FALSE(evaluateRbac(a, plaintext).allowed);
}

TEST(AuthzConditions, HeaderPresence) {
  const ProxyAuthz a = attach(
      policy("present", "httpbin",
             "  rules:\n  - when:\n    - {key: \"request.headers[x-token]\", values: [\"*\"]}\n"));
  const std::vector<std::pair<std::string, std::string>> token = {{"X-Token", "t"}};
  AuthzRequest r = httpRequest();
  EXPECT_FALSE(evaluateRbac(a, r).allowed);
  r.headers = &token;
  EXPECT_TRUE(evaluateRbac(a, r).allowed);
}

// ------------------------------------------------------------------ TCP
AuthzRequest tcpConnection() {
  AuthzRequest r;
  r.http = false;
  r.sourceIp = "10.244.0.7";
  r.remoteIp = "10.244.0.7";
  r.destinationIp = "10.244.0.6";
  r.destinationPort = 8443;
  r.sni = "httpbin.org";
  return r;
}

TEST(AuthzTcp, AllowRuleWithHttpOnlyFieldsIsSkipped) {
  // The rule never matches on TCP, and as the only ALLOW rule it leaves nothing allowed.
  const ProxyAuthz a =
      attach(policy("allow-get", "httpbin",
                    "  rules:\n  - to:\n    - operation: {methods: [GET], ports: [\"8443\"]}\n"));
  const AuthzDecision d = evaluateRbac(a, tcpConnection());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.matchedPolicy, "none");
}

TEST(AuthzTcp, DenyRuleDropsHttpOnlyFieldsAndDeniesMore) {
  const ProxyAuthz a =
      attach(policy("deny-admin", "httpbin",
                    "  action: DENY\n  rules:\n  - to:\n    - operation: {paths: [/admin]}\n"));
  const AuthzDecision d = evaluateRbac(a, tcpConnection());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.details, "rbac_access_denied_matched_policy[ns[httpbin]-policy[deny-admin]-rule[0]]");
}

TEST(AuthzTcp, PortsAndSniWork) {
  const ProxyAuthz a =
      attach(policy("allow-sni", "httpbin",
                    "  rules:\n  - to:\n    - operation: {ports: [\"8443\"]}\n    when:\n"
                    "    - {key: connection.sni, values: [httpbin.org]}\n"));
  EXPECT_TRUE(evaluateRbac(a, tcpConnection()).allowed);
  AuthzRequest other = tcpConnection();
  other.sni = "evil.example";
  EXPECT_FALSE(evaluateRbac(a, other).allowed);
}

// ------------------------------------------------------------------ XFCC (§S2)
TEST(Xfcc, ElementOfAGatewayCarriesTheUrlEncodedCertificate) {
  ClientCertDetails d;
  d.by = "spiffe://cluster.local/ns/httpbin/sa/httpbin-egress-service-account";
  d.hash = "ab12";
  d.pem = "-----BEGIN CERTIFICATE-----\nMIIB+a/b=\n-----END CERTIFICATE-----\n";
  d.uri = kSleep;
  d.withCert = true;
  EXPECT_EQ(formatXfccElement(d),
            "By=spiffe://cluster.local/ns/httpbin/sa/httpbin-egress-service-account;Hash=ab12;"
            "Cert=\"-----BEGIN%20CERTIFICATE-----%0AMIIB%2Ba%2Fb%3D%0A-----END%20CERTIFICATE-----"
            "%0A\";Subject=\"\";URI=spiffe://cluster.local/ns/httpbin/sa/sleep");
}

TEST(AuthzNames, EnvoyPolicyName) {
  EXPECT_EQ(envoyPolicyName("ns1", "p", 3), "ns[ns1]-policy[p]-rule[3]");
}

}  // namespace
}  // namespace egresslab::mesh
