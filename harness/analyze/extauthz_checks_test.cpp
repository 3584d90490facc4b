// EGL009: a CUSTOM AuthorizationPolicy naming an ext_authz provider the mesh config does not
// define (docs/istio-behaviour.md §X1).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/analyze/analyzer.h"
#include "harness/model/loader.h"

namespace egresslab::analyze {
namespace {

using ::testing::HasSubstr;

const char* kOperator = R"(apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: cp, namespace: istio-system}
spec:
  meshConfig:
    extensionProviders:
      - name: ext-authz-http
        envoyExtAuthzHttp: {service: ext-authz.authz.svc.cluster.local, port: 8000}
      - name: zipkin
        zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
---
)";

std::string policy(const std::string& provider) {
  return "apiVersion: security.istio.io/v1beta1\n"
         "kind: AuthorizationPolicy\n"
         "metadata: {name: ext, namespace: httpbin}\n"
         "spec:\n"
         "  action: CUSTOM\n"
         "  provider:\n"
         "    name: " +
         provider +
         "\n"
         "  rules: [{}]\n";
}

std::vector<Message> analyze(const std::string& yaml, const char* version = "1.22.0") {
  auto set = model::parseManifests(yaml, "t.yaml", {});
  EXPECT_TRUE(set.has_value()) << (set ? "" : set.error().str());
  if (!set) return {};
  AnalysisInput input;
  input.resources = &*set;
  input.version = *model::IstioVersion::parse(version);
  std::vector<Message> out;
  for (auto& m : analyzeResources(input)) {
    if (m.code == "EGL009") out.push_back(m);
  }
  return out;
}

TEST(ExtAuthzChecks, UnknownProviderIsEgl009Error_X1) {
  const auto found = analyze(std::string(kOperator) + policy("ext-authz-grpc"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].level, Level::kError);
  EXPECT_THAT(found[0].text, HasSubstr("\"ext-authz-grpc\", which meshConfig.extensionProviders "
                                       "does not define (ext_authz providers defined: "
                                       "ext-authz-http)"));
  EXPECT_EQ(found[0].reference.line, 18);  // spec.provider.name
}

TEST(ExtAuthzChecks, NonExtAuthzProviderIsEgl009_X1) {
  const auto found = analyze(std::string(kOperator) + policy("zipkin"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_THAT(found[0].text, HasSubstr("not an envoyExtAuthzHttp/envoyExtAuthzGrpc provider"));
}

TEST(ExtAuthzChecks, DefinedProviderIsClean_X1) {
  EXPECT_TRUE(analyze(std::string(kOperator) + policy("ext-authz-http")).empty());
}

// istiod 1.8 drops CUSTOM policies ("unsupported action"): a warning that nothing is checked,
// not the deny-all error of a bad provider.
TEST(ExtAuthzChecks, CustomOnIstio18IsIgnoredWarning_X1) {
  const auto found = analyze(std::string(kOperator) + policy("ext-authz-http"), "1.8.0");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].level, Level::kWarning);
  EXPECT_THAT(found[0].text, HasSubstr("istiod 1.8 does not build"));
  EXPECT_THAT(found[0].text, HasSubstr("no request it covers is checked"));
  EXPECT_TRUE(analyze(std::string(kOperator) + policy("ext-authz-http"), "1.9.0").empty());
}

}  // namespace
}  // namespace egresslab::analyze
