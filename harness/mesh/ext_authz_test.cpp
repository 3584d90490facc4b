// Istio's ext_authz provider build and Envoy's ext_authz rules (docs/istio-behaviour.md §X1).
#include "harness/mesh/ext_authz.h"

#include <gtest/gtest.h>

namespace egresslab::mesh {
namespace {

model::MeshConfig meshWith(std::vector<model::ExtensionProvider> providers) {
  model::MeshConfig mc;
  mc.extensionProviders = std::move(providers);
  return mc;
}

model::ExtensionProvider httpProvider() {
  model::ExtensionProvider p;
  p.name = "ext-http";
  p.kind = model::ExtensionProvider::Kind::kExtAuthzHttp;
  p.service = "ext-authz.authz.svc.cluster.local";
  p.port = 8000;
  return p;
}

Registry registryWith(const std::string& host, const std::string& ns) {
  Registry r;
  RegistryService s;
  s.hostname = host;
  s.ns = ns;
  r.services.push_back(s);
  return r;
}

TEST(CompileExtAuthzProviders, DefaultsAndCluster_X1) {
  const auto providers = compileExtAuthzProviders(
      meshWith({httpProvider()}), registryWith("ext-authz.authz.svc.cluster.local", "authz"));
  ASSERT_EQ(providers.size(), 1u);
  const ExtAuthzProvider& p = providers[0];
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.cluster, "outbound|8000||ext-authz.authz.svc.cluster.local");
  EXPECT_EQ(p.timeout, std::chrono::seconds(600));
  EXPECT_EQ(p.statusOnError, 403u);
  EXPECT_FALSE(p.failOpen);
}

TEST(CompileExtAuthzProviders, UnknownServiceOrStatusFailsTheProvider_X1) {
  model::ExtensionProvider wrongNs = httpProvider();
  wrongNs.service = "other/ext-authz.authz.svc.cluster.local";
  model::ExtensionProvider badStatus = httpProvider();
  badStatus.name = "bad-status";
  badStatus.statusOnError = "299";
  model::ExtensionProvider tracing;
  tracing.name = "zipkin";
  const auto providers =
      compileExtAuthzProviders(meshWith({wrongNs, badStatus, tracing}),
                               registryWith("ext-authz.authz.svc.cluster.local", "authz"));
  ASSERT_EQ(providers.size(), 2u);  // tracing providers are no ext_authz
  EXPECT_NE(providers[0].error.find("could not find service"), std::string::npos);
  EXPECT_NE(providers[1].error.find("unsupported statusOnError 299"), std::string::npos);
  // A server the run provides itself counts as registered.
  const auto provided = compileExtAuthzProviders(meshWith({httpProvider()}), Registry{},
                                                 {"ext-authz.authz.svc.cluster.local"});
  EXPECT_EQ(provided.at(0).error, "");
}

TEST(BuildHttpCheckRequest, MethodPrefixedPathHostAuthorizationAndSelectedHeaders_X1) {
  ExtAuthzProvider p;
  p.pathPrefix = "/check";
  p.allowedHeaders = {"x-user", "x-ext-*"};
  p.headersToAdd = {{"x-added", "1"}};
  const HeaderPairList headers = {{"Host", "api.example.com"},   {"Authorization", "Bearer t"},
                                  {"X-User", "alice"},           {"x-ext-authz", "allow"},
                                  {"x-other", "dropped"},        {"content-length", "5"},
                                  {"x-added", "from-the-client"}};
  RequestView view;
  view.authority = "api.example.com";
  view.path = "/status/200?x=1";
  view.method = "POST";
  view.headers = &headers;
  const HttpCheckRequest check = buildHttpCheckRequest(p, view);
  EXPECT_EQ(check.method, "POST");
  EXPECT_EQ(check.path, "/check/status/200?x=1");
  const HeaderPairList expected = {{"host", "api.example.com"},
                                   {"authorization", "Bearer t"},
                                   {"x-user", "alice"},
                                   {"x-ext-authz", "allow"},
                                   {"x-added", "1"},
                                   {"content-length", "0"}};
  EXPECT_EQ(check.headers, expected);
}

TEST(InterpretHttpCheckResponse, OkSelectsUpstreamAndDownstreamHeaders_X1) {
  ExtAuthzProvider p;
  p.upstreamHeaders = {"x-authz-*"};
  p.clientHeadersOnAllow = {"x-trace"};
  const auto out =
      interpretHttpCheckResponse(p, 200,
                                 {{"X-Authz-User", "alice"},
                                  {"x-trace", "t"},
                                  {"x-other", "no"},
                                  {"x-envoy-auth-headers-to-remove", "authorization, x-secret"}},
                                 "");
  EXPECT_EQ(out.kind, ExtAuthzOutcome::Kind::kAllow);
  EXPECT_EQ(out.upstreamSet, (HeaderPairList{{"x-authz-user", "alice"}}));
  EXPECT_EQ(out.downstreamHeaders, (HeaderPairList{{"x-trace", "t"}}));
  EXPECT_EQ(out.upstreamRemove, (std::vector<std::string>{"authorization", "x-secret"}));
}

TEST(InterpretHttpCheckResponse, DenyKeepsStatusBodyAndClientHeaders_X1) {
  ExtAuthzProvider all;
  const HeaderPairList answer = {{"x-reason", "no"}, {"x-other", "o"}, {"content-length", "2"}};
  const auto denied = interpretHttpCheckResponse(all, 401, answer, "no");
  EXPECT_EQ(denied.kind, ExtAuthzOutcome::Kind::kDeny);
  EXPECT_EQ(denied.status, 401u);
  EXPECT_EQ(denied.body, "no");
  EXPECT_EQ(denied.downstreamHeaders, (HeaderPairList{{"x-reason", "no"}, {"x-other", "o"}}));
  ExtAuthzProvider some;
  some.clientHeadersOnDeny = {"x-reason"};
  EXPECT_EQ(interpretHttpCheckResponse(some, 403, answer, "").downstreamHeaders,
            (HeaderPairList{{"x-reason", "no"}}));
  EXPECT_EQ(interpretHttpCheckResponse(some, 503, answer, "").kind,
            ExtAuthzOutcome::Kind::kError);  // 5xx is an error, not a deny
}

TEST(InterpretGrpcCheckResponse, OkAndDenied_X1) {
  GrpcCheckAnswer ok;
  ok.okHeaders = {{"X-A", "1", false}, {"x-b", "2", true}};
  ok.headersToRemove = {"authorization"};
  ok.responseHeadersToAdd = {{"x-c", "3", false}};
  const auto allowed = interpretGrpcCheckResponse(ok);
  EXPECT_EQ(allowed.kind, ExtAuthzOutcome::Kind::kAllow);
  EXPECT_EQ(allowed.upstreamSet, (HeaderPairList{{"x-a", "1"}}));
  EXPECT_EQ(allowed.upstreamAppend, (HeaderPairList{{"x-b", "2"}}));
  EXPECT_EQ(allowed.downstreamHeaders, (HeaderPairList{{"x-c", "3"}}));
  GrpcCheckAnswer no;
  no.code = 7;
  no.deniedBody = "denied";
  const auto denied = interpretGrpcCheckResponse(no);
  EXPECT_EQ(denied.kind, ExtAuthzOutcome::Kind::kDeny);
  EXPECT_EQ(denied.status, 403u);  // denied_response.status unset → 403
  no.deniedStatus = 401;
  EXPECT_EQ(interpretGrpcCheckResponse(no).status, 401u);
}

TEST(ExtAuthzLocalReply, DenyErrorAndFailOpen_X1) {
  ExtAuthzProvider p;
  ExtAuthzOutcome deny;
  deny.kind = ExtAuthzOutcome::Kind::kDeny;
  deny.status = 403;
  deny.body = "nope";
  const auto denied = extAuthzLocalReply(p, deny);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->status, 403u);
  EXPECT_TRUE(denied->flags.has(ResponseFlag::kUAEX));
  EXPECT_EQ(denied->details, "ext_authz_denied");
  EXPECT_EQ(denied->body, "nope");

  const ExtAuthzOutcome error = checkFailed("connect failure");
  const auto closed = extAuthzLocalReply(p, error);
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->status, 403u);  // statusOnError default
  EXPECT_EQ(closed->details, "ext_authz_error");
  EXPECT_TRUE(closed->flags.has(ResponseFlag::kUAEX));
  p.statusOnError = 503;
  EXPECT_EQ(extAuthzLocalReply(p, error)->status, 503u);
  p.failOpen = true;
  EXPECT_FALSE(extAuthzLocalReply(p, error).has_value());
  EXPECT_TRUE(extAuthzLocalReply(p, deny).has_value());  // failOpen never overrides a deny
}

// The network ext_authz filter (CUSTOM on TCP): gRPC providers only; a deny or an error closes
// the connection (failOpen lets an error through); UAEX and details on the line from 1.22
// (the boundary is [unconfirmed], docs/istio-behaviour.md §X1).
TEST(ExtAuthzConnectionDenial, GrpcOnlyAndCloseByVersion_X1) {
  ExtAuthzProvider p;
  EXPECT_FALSE(extAuthzAppliesOnTcp(p));
  p.protocol = ExtAuthzProvider::Protocol::kGrpc;
  EXPECT_TRUE(extAuthzAppliesOnTcp(p));
  const auto v122 = *model::IstioVersion::parse("1.22.0");
  const auto v19 = *model::IstioVersion::parse("1.9.0");
  ExtAuthzOutcome allow;
  allow.kind = ExtAuthzOutcome::Kind::kAllow;
  EXPECT_FALSE(extAuthzConnectionDenial(p, allow, v122).has_value());
  ExtAuthzOutcome deny;
  deny.kind = ExtAuthzOutcome::Kind::kDeny;
  const auto denied = extAuthzConnectionDenial(p, deny, v122);
  ASSERT_TRUE(denied.has_value());
  EXPECT_TRUE(denied->flags.has(ResponseFlag::kUAEX));
  EXPECT_EQ(denied->details, "ext_authz_denied");
  const auto old = extAuthzConnectionDenial(p, deny, v19);
  ASSERT_TRUE(old.has_value());
  EXPECT_FALSE(old->flags.has(ResponseFlag::kUAEX));
  EXPECT_EQ(old->details, "");
  const ExtAuthzOutcome error = checkFailed("refused");
  ASSERT_TRUE(extAuthzConnectionDenial(p, error, v122).has_value());
  EXPECT_EQ(extAuthzConnectionDenial(p, error, v122)->details, "ext_authz_error");
  p.failOpen = true;
  EXPECT_FALSE(extAuthzConnectionDenial(p, error, v122).has_value());
  EXPECT_TRUE(extAuthzConnectionDenial(p, deny, v122).has_value());
}

TEST(CustomActionBuilt, FromIstio19_X1) {
  EXPECT_FALSE(customActionBuilt(*model::IstioVersion::parse("1.8.6")));
  EXPECT_TRUE(customActionBuilt(*model::IstioVersion::parse("1.9.0")));
}

// The denial details reach the access log only where the default format prints
// %RESPONSE_CODE_DETAILS% (1.9+, docs/istio-behaviour.md §9): RBAC's
// rbac_access_denied_matched_policy[…] and ext_authz's ext_authz_denied alike.
TEST(DenialDetailsInTheAccessLog, PrintedFromIstio19_S1_X1) {
  for (const std::string details :
       {"rbac_access_denied_matched_policy[ns[httpbin]-policy[deny]-rule[0]]",
        "ext_authz_denied"}) {
    AccessLogEntry e;
    e.method = "GET";
    e.path = "/admin";
    e.responseCode = 403;
    e.responseCodeDetails = details;
    const auto v18 = *model::IstioVersion::parse("1.8.0");
    const auto v19 = *model::IstioVersion::parse("1.9.0");
    const auto v122 = *model::IstioVersion::parse("1.22.0");
    EXPECT_EQ(formatAccessLog(accessLogFormatFor(v18), e, v18).find(details), std::string::npos);
    EXPECT_NE(formatAccessLog(accessLogFormatFor(v19), e, v19).find(details), std::string::npos);
    EXPECT_NE(formatAccessLog(accessLogFormatFor(v122), e, v122).find(details), std::string::npos);
  }
}

TEST(ResponseFlags, UaexPrintsAndParses_X1) {
  const model::IstioVersion v{1, 22, 0};
  EXPECT_EQ(formatResponseFlags(ResponseFlag::kUAEX, v), "UAEX");
  EXPECT_TRUE(parseResponseFlags("UAEX").has(ResponseFlag::kUAEX));
}

}  // namespace
}  // namespace egresslab::mesh
