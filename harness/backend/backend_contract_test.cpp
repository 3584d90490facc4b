// The backend contract (issue 6 §3, docs/design.md "Code conventions"): one value-parameterised
// suite run against every Backend implementation — the in-process simulator, and the kind backend
// driven by a RecordingCommandRunner scripted to answer like a healthy cluster for the seed
// scenario.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/backend/backend.h"
#include "harness/curl/command.h"
#include "harness/kind/kind_backend.h"
#include "harness/kind/recording_command_runner.h"
#include "harness/mesh/decisions.h"
#include "harness/model/loader.h"
#include "harness/sim/sim_backend.h"

namespace egresslab::backend {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::filesystem::path kSource = EGRESSLAB_SOURCE_DIR;

// The seed step "in-mesh request from sleep through the egress gateway", vars applied.
constexpr const char* kPodCurlLine = "-sS http://httpbin.example.com/status/200";
constexpr const char* kRequestId = "0b7c3d1e-aaaa-4bbb-8ccc-contract0001";

model::Scenario seedScenario() {
  auto scenario = model::loadScenario(kSource / "scenarios" / "seed-httpbin.yaml");
  EXPECT_TRUE(scenario.has_value()) << (scenario ? "" : scenario.error().str());
  return scenario.value_or(model::Scenario{});
}

// One implementation under test: the backend plus what only its double can tell.
class BackendUnderTest {
 public:
  virtual ~BackendUnderTest() = default;
  virtual Backend& backend() = 0;
  // The seed scenario as this implementation needs it to come up on loopback.
  virtual model::Scenario scenario() { return seedScenario(); }
  // Called after up(), before down(): remembers what down() must release.
  virtual void noteWhatIsRunning() {}
  // Asserts that down() left nothing running (processes, listeners, the cluster).
  virtual void expectNothingLeftRunning() = 0;
};

// sim: the mesh runs in-process; probes run 200x faster so the egress gateway's readiness
// probe (initialDelay 1s, period 2s, §11) passes within milliseconds.
class SimUnderTest final : public BackendUnderTest {
 public:
  SimUnderTest() {
    sim::SimOptions options;
    options.timeScale = 200;
    backend_ = sim::makeSimBackend(options);
  }
  Backend& backend() override { return *backend_; }
  void noteWhatIsRunning() override {
    // "port-forward svc/NS/NAME LOCAL:REMOTE → 127.0.0.1:PORT": the loopback port it served.
    const std::string arrow = "\u2192 127.0.0.1:";
    for (const auto& endpoint : backend_->endpoints()) {
      if (!endpoint.starts_with("port-forward ")) continue;
      const auto at = endpoint.find(arrow);
      if (at == std::string::npos) continue;
      const int port = std::stoi(endpoint.substr(at + arrow.size()));
      EXPECT_TRUE(accepts(port)) << "up but not serving: " << endpoint;  // the check can fail
      servedPorts_.push_back(port);
    }
    EXPECT_THAT(servedPorts_, ::testing::Not(::testing::IsEmpty()));
  }
  void expectNothingLeftRunning() override {
    // Nothing the user could reach is advertised once the mesh is stopped…
    EXPECT_THAT(backend_->endpoints(), ::testing::IsEmpty());
    // …and the ports it served refuse connections.
    for (int port : servedPorts_) EXPECT_FALSE(accepts(port)) << "127.0.0.1:" << port;
  }

 private:
  static bool accepts(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool connected =
        ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    return connected;
  }

  std::unique_ptr<Backend> backend_;
  std::vector<int> servedPorts_;
};

// A §9 TEXT access-log line of Istio 1.8, as `kubectl logs` prints it: HTTP with `requestId`, or
// a TCP line ("- - -") when `requestId` is empty. START_TIME is now: the kind backend reads only
// lines that started with the step. Addresses as on a cluster (§R9): each hop's downstream
// remote address is the previous hop's upstream local address.
struct LogEnds {
  std::string upstreamHost, upstreamLocal, downstreamLocal, downstreamRemote;
};
std::string accessLogLine(const std::string& requestId, const LogEnds& ends = {},
                          mesh::ResponseFlags flags = {}, const std::string& cluster = "-") {
  mesh::AccessLogEntry e;
  e.startTime = std::chrono::system_clock::now();
  e.tcp = requestId.empty();
  if (!e.tcp) {
    e.method = "GET";
    e.path = "/status/200";
    e.responseCode = 200;
    e.requestId = requestId;
    e.authority = "httpbin.example.com";
  }
  e.flags = flags;
  e.upstreamHost = ends.upstreamHost;
  e.upstreamCluster = cluster;
  e.upstreamLocalAddress = ends.upstreamLocal;
  e.downstreamLocalAddress = ends.downstreamLocal;
  e.downstreamRemoteAddress = ends.downstreamRemote;
  return mesh::formatAccessLog(mesh::AccessLogFormatVersion::kIstio18, e,
                               *model::IstioVersion::parse("1.8.0"));
}

// kind: every command goes to a RecordingCommandRunner answering like a healthy cluster.
class KindUnderTest final : public BackendUnderTest {
 public:
  KindUnderTest() {
    kind::KindOptions options;
    options.fixturesDir = kSource / "fixtures" / "kind";
    options.portForwardReady = std::chrono::milliseconds(0);  // no listener behind records
    options.mockPortBase = 0;  // the mock on an ephemeral port of 127.0.0.1, the "kind gateway"
    scriptHealthyCluster();
    auto backend = std::make_unique<kind::KindBackend>(runner_, options);
    // Long enough for a second read of the logs (the egress gateway's line comes late).
    backend->setAccessLogWait(std::chrono::milliseconds(20000));
    backend_ = std::move(backend);
  }
  Backend& backend() override { return *backend_; }
  void expectNothingLeftRunning() override {
    EXPECT_EQ(runner_->liveBackground(), 0);
    int deletes = 0;
    for (const auto& line : runner_->displays()) {
      deletes += line.starts_with("kind delete cluster") ? 1 : 0;
    }
    EXPECT_EQ(deletes, 1);
  }

 private:
  void scriptHealthyCluster() {
    auto& r = *runner_;
    r.answer({"istioctl", "version"}, {.out = "1.8.0\n"});
    r.answer({"docker", "info"}, {.out = "24.0.5\n"});
    r.answer({"kind", "version"}, {.out = "kind v0.20.0 go1.20.4 linux/amd64\n"});
    r.answer({"kubectl", "version"},
             {.out = R"({"clientVersion":{"gitVersion":"v1.27.3","major":"1","minor":"27"}})"});
    r.answer({"docker", "network", "inspect"}, {.out = "127.0.0.1 \n"});
    r.answer({"kubectl", "get", "nodes"}, {.out = "egresslab-control-plane"});
    r.answer({"kubectl", "-n", "kube-system", "get", "configmap"},
             {.out = ".:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n"});
    // kubectl exec into a deployment that does not exist (real kubectl's answer).
    r.answer({"kubectl", "exec"},
             {.exitCode = 1,
              .err = "Error from server (NotFound): deployments.apps \"nothing\" not found\n"});
    // The sleep pod's curl: body, then podCurlArgv's -w suffix "\n%{local_ip}:%{local_port}
    // %{http_code} %{exitcode}".
    r.answer({"kubectl", "exec", "-n", "httpbin", "deploy/sleep"},
             {.out = "{\"status\": 200}\n10.244.0.7:40312 200 0"});
    // TLS to a host in no ServiceEntry (REGISTRY_ONLY, §1): the handshake is cut, exit 35.
    r.answer({"kubectl", "exec", "-n", "httpbin", "deploy/sleep", "-c", "sleep", "--", "curl", "-s",
              "-S", "https://unregistered.example.com/status/200"},
             {.exitCode = 35,
              .out = "\n10.244.0.7:40400 000 35",
              .err = "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL"});
    // Which pod is which proxy (the sidecar sent to the egress gateway's pod).
    r.answer({"kubectl", "get", "pods"},
             {.out = "httpbin/sleep-5d8f7c9b6-abcde 10.244.0.7\n"
                     "httpbin/httpbin-egress-7c9f8d6b5-fghij 10.244.0.9\n"});
    // The sidecar logged the HTTP request (§9) and the TCP connection to BlackHoleCluster (§R9,
    // joined by curl's own address), among unrelated lines and another connection's line.
    r.answer({"kubectl", "-n", "httpbin", "logs", "deploy/sleep", "-c", "istio-proxy"},
             {.out = "unrelated line\n" +
                     accessLogLine(kRequestId, {"10.244.0.9:8080", "10.244.0.7:41000",
                                                "203.0.113.10:80", "10.244.0.7:40312"}) +
                     "\n" +
                     accessLogLine("", {"10.244.0.9:8443", "10.244.0.7:39002", "198.51.100.1:443",
                                        "10.244.0.7:39001"}) +
                     "\n" +
                     accessLogLine("", {"", "", "203.0.113.20:443", "10.244.0.7:40400"},
                                   mesh::ResponseFlag::kUH, "BlackHoleCluster") +
                     "\n"});
    // Envoy flushes about once a second: the egress gateway's line is not there on the first
    // read, only on the next — the backend waits for every proxy on the path, not the first.
    r.answer({"kubectl", "-n", "httpbin", "logs", "deploy/httpbin-egress"},
             {.out = accessLogLine("some-other-request") + "\n" +
                     accessLogLine(kRequestId, {"172.18.0.1:443", "10.244.0.9:50000",
                                                "10.244.0.9:8080", "10.244.0.7:41000"}) +
                     "\n"});
    r.answerTimes({"kubectl", "-n", "httpbin", "logs", "deploy/httpbin-egress"},
                  {.out = accessLogLine("some-other-request") + "\n"}, 1);
  }

  std::shared_ptr<kind::RecordingCommandRunner> runner_ =
      std::make_shared<kind::RecordingCommandRunner>();
  std::unique_ptr<Backend> backend_;
};

struct Implementation {
  std::string name;  // Backend::name() of the implementation
  std::function<std::unique_ptr<BackendUnderTest>()> make;
};

void PrintTo(const Implementation& implementation, std::ostream* os) { *os << implementation.name; }

class BackendContract : public ::testing::TestWithParam<Implementation> {
 protected:
  void SetUp() override { subject_ = GetParam().make(); }
  void TearDown() override {
    if (subject_) subject_->backend().down();
  }
  Backend& backend() { return subject_->backend(); }

  void up() {
    auto upped = backend().up(subject_->scenario(), RunOptions{});
    ASSERT_TRUE(upped) << upped.error().str();
  }

  CurlRequest podCurl(const std::string& from) {
    CurlRequest request;
    request.line = backend().expandCurlLine(kPodCurlLine);
    auto parsed = curl::parseCurlCommandLine(request.line);
    EXPECT_TRUE(parsed);
    if (parsed) request.command = *parsed;
    request.from = from;
    request.requestId = kRequestId;
    request.timeout = std::chrono::milliseconds(5000);
    return request;
  }

  std::unique_ptr<BackendUnderTest> subject_;
};

TEST_P(BackendContract, NameIsTheImplementations) { EXPECT_EQ(backend().name(), GetParam().name); }

TEST_P(BackendContract, SeedScenarioComesUp) { ASSERT_NO_FATAL_FAILURE(up()); }

TEST_P(BackendContract, ExpandCurlLineNamesTheReadableScenarioCa) {
  ASSERT_NO_FATAL_FAILURE(up());
  const std::string line = backend().expandCurlLine("-sS --cacert ${ca} https://x.example/");
  EXPECT_THAT(line, ::testing::Not(HasSubstr("${ca}")));
  ASSERT_TRUE(line.starts_with("-sS --cacert ")) << line;
  const std::filesystem::path ca = line.substr(13, line.find(' ', 13) - 13);
  ASSERT_TRUE(std::filesystem::is_regular_file(ca)) << ca;
  std::ifstream in(ca);
  std::string first;
  ASSERT_TRUE(std::getline(in, first)) << ca;
  EXPECT_EQ(first, "-----BEGIN CERTIFICATE-----");
}

// §9: `via` is the hop order of the proxies whose access log carries the request id; both the
// caller's sidecar and the egress gateway log the in-mesh request with no response flags.
TEST_P(BackendContract, PodCurlThroughTheEgressGatewayObservesBothProxies_S9) {
  ASSERT_NO_FATAL_FAILURE(up());
  const CurlRequest request = podCurl("httpbin/sleep");
  // The sim's egress gateway may still be warming (probe clocks); its answer is an
  // observation either way, so ask again until the deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  Result<report::Observation> observed = backend().curl(request);
  while (observed && observed->status != 200 && std::chrono::steady_clock::now() < deadline) {
    observed = backend().curl(request);
  }
  ASSERT_TRUE(observed) << observed.error().str();
  EXPECT_EQ(observed->exit, 0) << observed->curlError;
  EXPECT_EQ(observed->status, 200);
  EXPECT_EQ(observed->requestId, kRequestId);
  EXPECT_THAT(observed->via, ElementsAre("sleep", "httpbin-egress"));
  ASSERT_TRUE(observed->flags.contains("sleep"));
  ASSERT_TRUE(observed->flags.contains("httpbin-egress"));
  EXPECT_EQ(observed->flags.at("sleep"), "-");
  EXPECT_EQ(observed->flags.at("httpbin-egress"), "-");
  ASSERT_FALSE(observed->accessLog.empty());
  for (const auto& line : observed->accessLog) EXPECT_THAT(line, HasSubstr(kRequestId));
}

// §R9, docs/design.md "Every hop observable, HTTP or not": TLS to a host in no ServiceEntry
// (REGISTRY_ONLY) lands on the sidecar's BlackHoleCluster; its TCP line carries no request id
// and is joined by connection (its downstream remote address is curl's own local address).
TEST_P(BackendContract, PodTlsToAnUnregisteredHostIsATcpHopJoinedByConnection_R9) {
  ASSERT_NO_FATAL_FAILURE(up());
  CurlRequest request = podCurl("httpbin/sleep");
  request.line = "-sS https://unregistered.example.com/status/200";
  request.command = *curl::parseCurlCommandLine(request.line);
  request.requestId = "0b7c3d1e-aaaa-4bbb-8ccc-contract0002";
  const auto observed = backend().curl(request);
  ASSERT_TRUE(observed) << observed.error().str();
  EXPECT_EQ(observed->exit, 35) << observed->curlError;
  EXPECT_THAT(observed->via, ElementsAre("sleep"));
  ASSERT_TRUE(observed->flags.contains("sleep"));
  EXPECT_EQ(observed->flags.at("sleep"), "UH");
  ASSERT_EQ(observed->accessLog.size(), 1u);
  EXPECT_THAT(observed->accessLog.front(), HasSubstr("\"- - -\" 0 UH"));
}

TEST_P(BackendContract, UnknownPodIsAnErrorNotAnObservation) {
  ASSERT_NO_FATAL_FAILURE(up());
  const auto observed = backend().curl(podCurl("nope/nothing"));
  EXPECT_FALSE(observed.has_value());
}

TEST_P(BackendContract, EndpointsDoNotThrowBeforeDuringOrAfter) {
  EXPECT_NO_THROW((void)backend().endpoints());
  ASSERT_NO_FATAL_FAILURE(up());
  EXPECT_NO_THROW((void)backend().endpoints());
  backend().down();
  EXPECT_NO_THROW((void)backend().endpoints());
}

TEST_P(BackendContract, DownIsIdempotentAndLeavesNothingRunning) {
  ASSERT_NO_FATAL_FAILURE(up());
  subject_->noteWhatIsRunning();
  backend().down();
  backend().down();
  subject_->expectNothingLeftRunning();
}

INSTANTIATE_TEST_SUITE_P(
    AllBackends, BackendContract,
    ::testing::Values(Implementation{"sim", [] { return std::make_unique<SimUnderTest>(); }},
                      Implementation{"kind", [] { return std::make_unique<KindUnderTest>(); }}),
    [](const ::testing::TestParamInfo<Implementation>& param) { return param.param.name; });

}  // namespace
}  // namespace egresslab::backend
