// exportTo scopes (docs/istio-behaviour.md §2) and Istio's host-name overlap.
#include "harness/mesh/visibility.h"

#include "harness/mesh/policy.h"

#include <gtest/gtest.h>

namespace egresslab::mesh {
namespace {

TEST(ExportScope, UnsetOrStarIsEveryNamespace) {
  EXPECT_TRUE(exportScope({}, "a").visibleFrom("b"));
  EXPECT_TRUE(exportScope({".", "*"}, "a").visibleFrom("b"));
}

TEST(ExportScope, DotIsTheOwnerNamespaceAndNamesAreExact) {
  const ExportScope dot = exportScope({"."}, "a");
  EXPECT_TRUE(dot.visibleFrom("a"));
  EXPECT_FALSE(dot.visibleFrom("b"));
  const ExportScope named = exportScope({".", "c"}, "a");
  EXPECT_TRUE(named.visibleFrom("c"));
  EXPECT_FALSE(named.visibleFrom("b"));
  EXPECT_TRUE(exportScope({"."}, "").visibleFrom("default"));
}

TEST(ExportScope, TildeExportsToNone) {
  const ExportScope none = exportScope({"~"}, "a");
  EXPECT_FALSE(none.visibleFrom("a"));
  EXPECT_FALSE(none.visibleFrom("b"));
}

TEST(ExportScope, ServiceAnnotationIsCommaSeparated) {
  model::Service svc;
  svc.meta.ns = "a";
  EXPECT_TRUE(serviceExportScope(svc).visibleFrom("z"));
  svc.meta.annotations[std::string(kExportToAnnotation)] = ". , c";
  const ExportScope scope = serviceExportScope(svc);
  EXPECT_TRUE(scope.visibleFrom("a"));
  EXPECT_TRUE(scope.visibleFrom("c"));
  EXPECT_FALSE(scope.visibleFrom("b"));
}

TEST(HostsOverlap, WildcardsOnEitherSideAsIst0109ComparesThem) {
  EXPECT_TRUE(hostsOverlap("*.productpage.d", "*.d"));
  EXPECT_TRUE(hostsOverlap("*.d", "*.productpage.d"));
  EXPECT_TRUE(hostsOverlap("a.d", "*.d"));
  EXPECT_TRUE(hostsOverlap("*", "a.d"));
  EXPECT_FALSE(hostsOverlap("*.e", "*.d"));
  EXPECT_FALSE(hostsOverlap("a.d", "b.d"));
  EXPECT_TRUE(hostsOverlap("a.d", "a.d"));
}

TEST(HostCovers, PatternMustContainTheWholeHost) {
  EXPECT_TRUE(hostCovers("*", "anything.example.com"));
  EXPECT_TRUE(hostCovers("*.d", "a.d"));
  EXPECT_TRUE(hostCovers("*.d", "*.b.d"));
  EXPECT_FALSE(hostCovers("*.b.d", "*.d"));
  EXPECT_FALSE(hostCovers("a.d", "*.d"));
  EXPECT_TRUE(hostCovers("a.d", "a.d"));
}

}  // namespace
}  // namespace egresslab::mesh
