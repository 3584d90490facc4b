// Scenario curl lines cannot reach outside their sandbox (issue #14 item 6).
#include "harness/curl/sandbox.h"

#include <gtest/gtest.h>

namespace egresslab::curl {
namespace {

CurlCommand parse(const std::string& line) {
  auto c = parseCurlCommandLine(line);
  EXPECT_TRUE(c) << c.error().str();
  return c ? *c : CurlCommand{};
}

const FileSandbox kPod{.base = "/run/egl/pods/httpbin/sleep", .chroot = true, .writableRoots = {}};
const FileSandbox kHost{.base = "/work/scenarios", .chroot = false, .writableRoots = {"/run/egl"}};

TEST(Sandbox, PodStepFilesResolveInsideThePodsDirectory) {
  CurlCommand c = parse(
      "-o /etc/cron.d/x --cacert ca.pem --cert /certs/c.pem:secret --key k.pem "
      "--data-binary @/etc/shadow -d @body.txt --data-raw @kept http://a/");
  ASSERT_TRUE(confineFiles(c, kPod));
  EXPECT_EQ(c.output, "/run/egl/pods/httpbin/sleep/etc/cron.d/x");
  EXPECT_EQ(c.cacert, "/run/egl/pods/httpbin/sleep/ca.pem");
  EXPECT_EQ(c.cert, "/run/egl/pods/httpbin/sleep/certs/c.pem:secret");
  EXPECT_EQ(c.key, "/run/egl/pods/httpbin/sleep/k.pem");
  ASSERT_EQ(c.data.size(), 3u);
  EXPECT_EQ(c.data[0].value, "@/run/egl/pods/httpbin/sleep/etc/shadow");
  EXPECT_EQ(c.data[1].value, "@/run/egl/pods/httpbin/sleep/body.txt");
  EXPECT_EQ(c.data[2].value, "@kept");  // --data-raw never reads a file
}

TEST(Sandbox, PodStepCannotClimbOut) {
  CurlCommand c = parse("--cacert ../../../../etc/passwd http://a/");
  auto r = confineFiles(c, kPod, SourcePos{"s.yaml", 7, 11});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().str(),
            "s.yaml:7:11: --cacert ../../../../etc/passwd: leaves the pod's own directory (a pod "
            "sees only its own files)");
}

TEST(Sandbox, HostStepReadsRelativeToTheScenarioAndWritesOnlyInTheRunDirectory) {
  CurlCommand c = parse("--cacert certs/ca.pem -o /run/egl/out.txt http://a/");
  ASSERT_TRUE(confineFiles(c, kHost));
  EXPECT_EQ(c.cacert, "/work/scenarios/certs/ca.pem");
  EXPECT_EQ(c.output, "/run/egl/out.txt");

  CurlCommand escape = parse("-o /home/user/.bashrc http://a/");
  auto r = confineFiles(escape, kHost);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "-o /home/user/.bashrc: writes outside the run directory; give --output-dir DIR to "
            "allow a directory");
  CurlCommand climb = parse("-o /run/egl/../x http://a/");
  EXPECT_FALSE(confineFiles(climb, kHost));

  FileSandbox allowed = kHost;
  allowed.writableRoots.push_back("/home/user/out");
  CurlCommand ok = parse("-o /home/user/out/r.json http://a/");
  EXPECT_TRUE(confineFiles(ok, allowed));
  CurlCommand toStdout = parse("-o - http://a/");
  EXPECT_TRUE(confineFiles(toStdout, kHost));
}

}  // namespace
}  // namespace egresslab::curl
