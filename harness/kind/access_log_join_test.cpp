// The kind backend's hop join (access_log_join.h) over lines in Istio's TEXT formats (§9, §R9).
#include "harness/kind/access_log_join.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/kind/test_support.h"
#include "harness/mesh/decisions.h"
#include "harness/model/version.h"

namespace egresslab::kind {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Ends {
  std::string upstreamHost;
  std::string upstreamLocal;
  std::string downstreamLocal;
  std::string downstreamRemote;
};

std::string line(mesh::AccessLogFormatVersion format, const std::string& version, bool tcp,
                 const std::string& id, const Ends& ends, int secondsIn = 0) {
  mesh::AccessLogEntry e;
  e.startTime = std::chrono::system_clock::time_point(std::chrono::seconds(1608112800 + secondsIn));
  e.tcp = tcp;
  if (!tcp) {
    e.method = "GET";
    e.path = "/status/200";
    e.responseCode = 200;
    e.requestId = id;
    e.authority = "httpbin.example.com";
    e.userAgent = "curl/8.5.0";
  }
  e.upstreamHost = ends.upstreamHost;
  e.upstreamCluster = "outbound|443||edition.cnn.com";
  e.upstreamLocalAddress = ends.upstreamLocal;
  e.downstreamLocalAddress = ends.downstreamLocal;
  e.downstreamRemoteAddress = ends.downstreamRemote;
  e.requestedServerName = tcp ? "edition.cnn.com" : "";
  return mesh::formatAccessLog(format, e, *model::IstioVersion::parse(version));
}

AccessLogRecord record(const std::string& proxy, std::size_t source, const std::string& text) {
  auto r = parseAccessLogRecord(text);
  EXPECT_TRUE(r) << text;
  AccessLogRecord out = r.value_or(AccessLogRecord{});
  out.proxy = proxy;
  out.source = source;
  return out;
}

std::vector<std::string> proxiesOf(const JoinedHops& joined) {
  std::vector<std::string> out;
  for (const auto& h : joined.hops) out.push_back(h.proxy);
  return out;
}

constexpr auto k18 = mesh::AccessLogFormatVersion::kIstio18;
constexpr auto k123 = mesh::AccessLogFormatVersion::kIstio123;

// §R9: the four addresses and the request id sit at the same place in 1.8 and 1.23+ lines,
// HTTP and TCP.
TEST(KindAccessLogJoinTest, ParsesAddressesOfHttpAndTcpLinesInThe18And123Formats_R9) {
  const Ends ends{"10.244.0.9:8443", "10.244.0.7:41000", "10.96.0.20:443", "10.244.0.7:40000"};
  for (auto [format, version] : {std::pair{k18, "1.8.0"}, std::pair{k123, "1.24.0"}}) {
    for (bool tcp : {false, true}) {
      const auto text = line(format, version, tcp, "rid-1", ends);
      auto r = parseAccessLogRecord(text);
      ASSERT_TRUE(r) << text;
      EXPECT_EQ(r->tcp, tcp) << text;
      EXPECT_EQ(r->requestId, tcp ? "" : "rid-1") << text;
      EXPECT_EQ(r->responseCode, tcp ? 0 : 200) << text;
      EXPECT_EQ(r->flags, "-") << text;
      EXPECT_EQ(r->upstreamHost, "10.244.0.9:8443") << text;
      EXPECT_EQ(r->upstreamLocal, "10.244.0.7:41000") << text;
      EXPECT_EQ(r->downstreamLocal, "10.96.0.20:443") << text;
      EXPECT_EQ(r->downstreamRemote, "10.244.0.7:40000") << text;
      EXPECT_EQ(r->startTime, "2020-12-16T10:00:00.000Z") << text;
    }
  }
  EXPECT_FALSE(parseAccessLogRecord("2020-12-16T10:00:00.000Z info envoy main starting"));
  EXPECT_FALSE(parseAccessLogRecord(""));
}

// docs/design.md "Every hop observable": the sidecar's TCP line is the one whose downstream
// remote address is curl's own end; the gateway's is the one whose downstream remote address
// is the sidecar's upstream local address. Other connections' lines are not hops.
TEST(KindAccessLogJoinTest, TcpHopsJoinByConnectionFromCurlsLocalAddress_R9) {
  std::vector<AccessLogRecord> lines{
      // Another connection of the same pod, a moment earlier.
      record("sleep", 0,
             line(k123, "1.24.0", true, "",
                  {"10.244.0.9:8443", "10.244.0.7:39001", "10.96.0.30:443", "10.244.0.7:39000"})),
      record("sleep", 0,
             line(k123, "1.24.0", true, "",
                  {"10.244.0.9:8443", "10.244.0.7:41000", "10.96.0.30:443", "10.244.0.7:40000"})),
      record(
          "istio-egressgateway", 1,
          line(k123, "1.24.0", true, "",
               {"198.51.100.21:443", "10.244.0.9:50000", "10.244.0.9:8443", "10.244.0.7:39001"})),
      record(
          "istio-egressgateway", 1,
          line(k123, "1.24.0", true, "",
               {"198.51.100.21:443", "10.244.0.9:50002", "10.244.0.9:8443", "10.244.0.7:41000"})),
  };
  HopJoinInput in;
  in.requestId = "rid-tcp";
  in.curlLocalAddress = "10.244.0.7:40000";
  in.firstProxy = "sleep";
  in.proxyByIp = {{"10.244.0.7", "sleep"}, {"10.244.0.9", "istio-egressgateway"}};
  const auto joined = joinHops(lines, in);
  EXPECT_THAT(proxiesOf(joined), ElementsAre("sleep", "istio-egressgateway"));
  ASSERT_EQ(joined.hops.size(), 2u);
  EXPECT_EQ(joined.hops[0].downstreamRemote, "10.244.0.7:40000");
  EXPECT_EQ(joined.hops[1].upstreamLocal, "10.244.0.9:50002");
  EXPECT_THAT(joined.waitingFor, IsEmpty());
}

// Issue 10: the path is complete only when every proxy on it has logged. The sidecar sent the
// connection to the gateway's pod: until the gateway's line shows up, the join waits for it.
TEST(KindAccessLogJoinTest, WaitsForEveryProxyOnThePathNotTheFirst_R9) {
  const auto sidecar =
      record("sleep", 0,
             line(k123, "1.24.0", true, "",
                  {"10.244.0.9:8443", "10.244.0.7:41000", "10.96.0.30:443", "10.244.0.7:40000"}));
  const auto gateway = record(
      "istio-egressgateway", 1,
      line(k123, "1.24.0", true, "",
           {"198.51.100.21:443", "10.244.0.9:50002", "10.244.0.9:8443", "10.244.0.7:41000"}));
  HopJoinInput in;
  in.curlLocalAddress = "10.244.0.7:40000";
  in.firstProxy = "sleep";
  in.proxyByIp = {{"10.244.0.7", "sleep"}, {"10.244.0.9", "istio-egressgateway"}};
  EXPECT_THAT(joinHops({}, in).waitingFor, ElementsAre("sleep"));
  const auto half = joinHops({sidecar}, in);
  EXPECT_THAT(proxiesOf(half), ElementsAre("sleep"));
  EXPECT_THAT(half.waitingFor, ElementsAre("istio-egressgateway"));
  EXPECT_THAT(joinHops({sidecar, gateway}, in).waitingFor, IsEmpty());
  // The gateway sent to the upstream (no pod of ours): nothing more to wait for.
  in.proxyByIp["198.51.100.21"] = "";
  EXPECT_THAT(joinHops({gateway, sidecar}, in).waitingFor, IsEmpty());
  // curl never connected (exit 6): no proxy can be on the path.
  in.curlConnected = false;
  in.curlLocalAddress.clear();
  EXPECT_THAT(joinHops({sidecar, gateway}, in).hops, IsEmpty());
  EXPECT_THAT(joinHops({}, in).waitingFor, IsEmpty());
}

// HTTP by request id, including a destination sidecar, whose inbound line's upstream host is its
// own pod (§R9, the istio.io access-log task); lines older than the step are not this request's
// even with a matching address.
TEST(KindAccessLogJoinTest, HttpHopsByRequestIdUpToTheDestinationSidecar_R9) {
  std::vector<AccessLogRecord> lines{
      record("httpbin", 2,
             line(k18, "1.8.0", false, "rid-7",
                  {"10.244.0.12:80", "127.0.0.1:41854", "10.244.0.12:80", "10.244.0.7:37652"}, 1)),
      record(
          "sleep", 0,
          line(k18, "1.8.0", false, "rid-7",
               {"10.244.0.12:80", "10.244.0.7:37652", "10.96.0.45:8000", "10.244.0.7:46520"}, 1)),
      record(
          "sleep", 0,
          line(k18, "1.8.0", false, "rid-6",
               {"10.244.0.12:80", "10.244.0.7:37652", "10.96.0.45:8000", "10.244.0.7:46000"}, 1)),
      // An old TCP line on the same address as curl's end (a reused port), before the step.
      record(
          "sleep", 0,
          line(k18, "1.8.0", true, "",
               {"10.244.0.9:8443", "10.244.0.7:30000", "10.96.0.30:443", "10.244.0.7:46520"}, -60)),
  };
  HopJoinInput in;
  in.requestId = "rid-7";
  in.curlLocalAddress = "10.244.0.7:46520";
  in.firstProxy = "sleep";
  in.notBefore = "2020-12-16T10:00:00.000Z";
  in.proxyByIp = {{"10.244.0.7", "sleep"}, {"10.244.0.12", "httpbin"}};
  const auto joined = joinHops(lines, in);
  EXPECT_THAT(proxiesOf(joined), ElementsAre("sleep", "httpbin"));
  EXPECT_THAT(joined.waitingFor, IsEmpty());
  // Without the destination sidecar's line the path is not complete.
  lines.erase(lines.begin());
  EXPECT_THAT(joinHops(lines, in).waitingFor, ElementsAre("httpbin"));
}

TEST(KindAccessLogJoinTest, PodListMapsIpsToTheirDeployments) {
  const auto map = proxyByPodIp(
      "httpbin/sleep-7d9f8c6b5-x2kqz 10.244.0.7\n"
      "istio-system/istio-egressgateway-5f4d7c9b8-abcde 10.244.0.9\n"
      "istio-system/istiod-6c8d5f7b9-zzzzz 10.244.0.3\n"
      "kube-system/coredns-5d78c9869d-q8w2m 10.244.0.2\n"
      "broken-line\n",
      {{"httpbin/sleep", "sleep"}, {"istio-system/istio-egressgateway", "istio-egressgateway"}});
  EXPECT_EQ(map.at("10.244.0.7"), "sleep");
  EXPECT_EQ(map.at("10.244.0.9"), "istio-egressgateway");
  EXPECT_EQ(map.at("10.244.0.3"), "");
  EXPECT_EQ(map.size(), 4u);
  EXPECT_EQ(addressIp("10.244.0.9:8443"), "10.244.0.9");
  EXPECT_EQ(addressIp("[fd00::1]:443"), "fd00::1");
  EXPECT_EQ(addressIp(""), "");
}

}  // namespace
}  // namespace egresslab::kind
