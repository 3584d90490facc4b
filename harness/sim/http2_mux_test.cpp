// Envoy's HTTP/2 upstream pool and circuit breakers over real sockets (docs/istio-behaviour.md
// §R6, §R9): the seed's sleep sidecar speaks HTTP/2 to the egress gateway (its Service port is
// `http2`); an application that itself speaks HTTP/2 to the sidecar sends several requests at
// once on one connection, so they all reach the sidecar on one worker, and the sidecar's cluster
// to the gateway carries them as concurrent streams.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "harness/model/loader.h"
#include "harness/sim/http2.h"
#include "harness/sim/sim_mesh.h"
#include "harness/sim/sim_test_support.h"

namespace egresslab::sim {
namespace {

namespace fs = std::filesystem;

const fs::path kSeed = fs::path(EGRESSLAB_SOURCE_DIR) / "fixtures" / "seed";

struct TempDir : sim_test::TempDir {
  TempDir() : sim_test::TempDir("h2mux") {}
};

// The seed on Istio 1.22 with its DestinationRule (sni set), `extra` manifests, and
// `virtualService` instead of the seed's when set.
class SeedMesh {
 public:
  explicit SeedMesh(const std::string& extra, const std::string& virtualService = {}) {
    const fs::path dr = dir_.write("dr.yaml", R"(apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: httpbin-egress, namespace: httpbin}
spec:
  host: httpbin.org
  subsets:
  - name: http-egress-subset
    trafficPolicy:
      portLevelSettings:
      - port: {number: 443}
        tls: {mode: SIMPLE, sni: httpbin.org}
)");
    const fs::path more = dir_.write("extra.yaml", extra);
    const fs::path vs = virtualService.empty() ? kSeed / "virtual-service.yaml"
                                               : dir_.write("vs.yaml", virtualService);
    std::string manifests;
    for (const auto& f :
         {kSeed / "operator.yaml", kSeed / "egress.yaml", kSeed / "ingress-gateway.yaml",
          kSeed / "egress-gateway.yaml", vs, kSeed / "service-entry.yaml", dr,
          kSeed / "peer-authentication.yaml", more}) {
      manifests += fmt::format("  - {}\n", f.string());
    }
    const fs::path file = dir_.write("scenario.yaml", fmt::format(R"(name: h2-mux
istio: {{version: "1.22.0"}}
vars:
  my-proxied-service-hostname: httpbin.example.com
  my-secret-name: httpbin-credential
manifests:
{}secrets:
  - {{name: <my-secret-name>, namespace: istio-system, hosts: [<my-proxied-service-hostname>]}}
upstreams:
  - {{host: httpbin.org, port: 443, tls: true}}
dns:
  httpbin.example.com: 203.0.113.10
workloads:
  - {{name: sleep, namespace: httpbin, injected: true}}
)",
                                                                  manifests));
    running_.emplace(file, "h2-mux", SimOptions{.periodicProbes = false});
  }
  bool ok() const { return running_ && running_->ok(); }
  SimMesh& mesh() { return running_->mesh(); }

  // The real listener sleep's sidecar captures httpbin.example.com:80 on.
  std::optional<curl::SocketAddress> sidecarListener() {
    auto opts = mesh().execOptionsFor(std::string("httpbin/sleep"));
    if (!opts || !opts->resolve || !opts->mapConnection) return std::nullopt;
    const auto ip = opts->resolve("httpbin.example.com");
    if (!ip) return std::nullopt;
    return opts->mapConnection({*ip, 80});
  }

 private:
  TempDir dir_;
  std::optional<sim_test::RunningMesh> running_;
};

// What one stream of the application's connection got.
struct StreamResult {
  std::string requestId;
  int status = 0;  // 0: no response
  std::string body;
  std::string overloaded;  // x-envoy-overloaded
};

// Sends each batch of `targets` at once, as streams of ONE HTTP/2 connection from sleep to its
// sidecar (like a gRPC client would), one batch after the other; each request has its own
// x-request-id. Results in the order of the targets, batch after batch.
std::vector<StreamResult> sendConcurrently(SeedMesh& m,
                                           const std::vector<std::vector<std::string>>& batches,
                                           const std::string& idPrefix) {
  std::vector<StreamResult> results;
  const auto listener = m.sidecarListener();
  EXPECT_TRUE(listener.has_value());
  if (!listener) return results;
  asio::io_context ctx;
  tcp::socket socket(ctx);
  ErrorCode ec;
  socket.connect(tcp::endpoint(asio::ip::make_address_v4(listener->ip),
                               static_cast<std::uint16_t>(listener->port)),
                 ec);
  EXPECT_FALSE(ec) << ec.message();
  if (ec) return results;
  Http2ClientConnection conn(std::make_unique<TcpStream>(std::move(socket)));
  std::size_t answered = 0;
  auto one = [&](StreamResult& out, std::string target) -> Task<void> {
    HttpRequest req;
    req.method = "GET";
    req.target = std::move(target);
    req.headers = {{"host", "httpbin.example.com"}, {"x-request-id", out.requestId}};
    auto resp = co_await conn.exchange(req, "http", std::chrono::seconds(20));
    ++answered;
    if (!resp) co_return;
    out.status = resp->status;
    out.body = resp->body;
    if (const std::string* o = findHeader(resp->headers, "x-envoy-overloaded")) {
      out.overloaded = *o;
    }
  };
  for (const auto& batch : batches) {
    const std::size_t first = results.size();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      results.push_back({fmt::format("{}-{}", idPrefix, first + i), 0, "", ""});
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      asio::co_spawn(ctx, one(results[first + i], batch[i]), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
    }
    // Until every stream of the batch is answered (the connection's own reader and writer
    // keep the context busy).
    while (answered < results.size() && ctx.run_one() > 0) {
    }
  }
  conn.close();
  ctx.restart();
  ctx.run();
  return results;
}

// The sidecar's access-log record of one request.
std::optional<LogRecord> sidecarLine(SeedMesh& m, const std::string& requestId) {
  for (const auto& r : m.mesh().logsFor(requestId)) {
    if (r.proxy == "sleep") return r;
  }
  return std::nullopt;
}

std::string linesOf(SeedMesh& m, const std::vector<StreamResult>& results) {
  std::string s;
  for (const auto& r : results) {
    s += fmt::format("{} status={} body={}\n", r.requestId, r.status, r.body.substr(0, 120));
    for (const auto& l : m.mesh().logsFor(r.requestId)) s += "  " + l.proxy + ": " + l.line + "\n";
  }
  return s;
}

std::string egressPool(const std::string& pool) {
  return fmt::format(R"(apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {{name: egress-gateway-pool, namespace: httpbin}}
spec:
  host: httpbin-egress.httpbin.svc.cluster.local
  trafficPolicy:
    connectionPool: {}
)",
                     pool);
}

// §R6: on an HTTP/2 cluster `maxConnections: 1` does not queue or overflow concurrent requests:
// Envoy sends them as streams of its one connection. Once the connection is up, four at once all
// succeed — even with http1MaxPendingRequests: 1 — and the sidecar's lines show one
// UPSTREAM_LOCAL_ADDRESS for all of them (with one stream per connection the limit would
// serialize them over a new connection each, or overflow).
TEST(Http2Pool_R6, MaxConnectionsOneCarriesConcurrentRequestsAsStreamsOfOneConnection) {
  SeedMesh m(egressPool("{tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}"));
  ASSERT_TRUE(m.ok());
  const std::vector<std::string> four(4, "/delay/1");
  const auto results = sendConcurrently(m, {{"/get"}, four}, "mux-one");
  ASSERT_EQ(results.size(), 5u);
  std::set<std::string> locals;
  for (const auto& r : results) {
    ASSERT_EQ(r.status, 200) << linesOf(m, results);
    const auto line = sidecarLine(m, r.requestId);
    ASSERT_TRUE(line.has_value()) << linesOf(m, results);
    EXPECT_EQ(line->flags, "-") << line->line;
    locals.insert(line->upstreamLocalAddress);
  }
  EXPECT_EQ(locals.size(), 1u) << linesOf(m, results);
  // The gateway's lines: HTTP/2, and all from that one connection.
  std::set<std::string> remotes;
  for (const auto& r : results) {
    for (const auto& l : m.mesh().logsFor(r.requestId)) {
      if (l.proxy != "httpbin-egress") continue;
      EXPECT_NE(l.line.find(" HTTP/2\""), std::string::npos) << l.line;
      remotes.insert(l.downstreamRemoteAddress);
    }
  }
  EXPECT_EQ(remotes, locals) << linesOf(m, results);
}

// §R6: max_pending_requests (http1MaxPendingRequests) applies while the connection is being
// established: of four requests at once on a cold pool, the first waits for the connection it
// opens, the others find the pending queue full and overflow (503 UO).
TEST(Http2Pool_R6, PendingRequestsOverflowOnlyWhileTheConnectionIsBeingEstablished) {
  SeedMesh m(egressPool("{tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}"));
  ASSERT_TRUE(m.ok());
  const auto results = sendConcurrently(m, {std::vector<std::string>(4, "/get")}, "mux-cold");
  int ok = 0;
  int overflow = 0;
  for (const auto& r : results) {
    if (r.status == 200) ++ok;
    if (r.status != 503) continue;
    ++overflow;
    EXPECT_EQ(r.overloaded, "true");
    const auto line = sidecarLine(m, r.requestId);
    ASSERT_TRUE(line.has_value()) << linesOf(m, results);
    EXPECT_EQ(line->flags, "UO") << line->line;
  }
  EXPECT_EQ(ok, 1) << linesOf(m, results);
  EXPECT_EQ(overflow, 3) << linesOf(m, results);
}

// §R6: http2MaxRequests (max_requests) bounds concurrent streams: of four concurrent requests
// one gets its stream, the others overflow at once with Envoy's 503 UO and x-envoy-overloaded.
TEST(Http2Pool_R6, Http2MaxRequestsOneOverflowsConcurrentStreams) {
  SeedMesh m(egressPool("{http: {http2MaxRequests: 1}}"));
  ASSERT_TRUE(m.ok());
  const auto results = sendConcurrently(m, {std::vector<std::string>(4, "/delay/1")}, "mux-maxrq");
  int ok = 0;
  int overflow = 0;
  for (const auto& r : results) {
    if (r.status == 200) {
      ++ok;
      continue;
    }
    ++overflow;
    EXPECT_EQ(r.status, 503) << linesOf(m, results);
    EXPECT_EQ(r.overloaded, "true");
    EXPECT_EQ(r.body,
              "upstream connect error or disconnect/reset before headers. reset reason: overflow");
    const auto line = sidecarLine(m, r.requestId);
    ASSERT_TRUE(line.has_value()) << linesOf(m, results);
    EXPECT_EQ(line->flags, "UO") << line->line;
  }
  EXPECT_EQ(ok, 1) << linesOf(m, results);
  EXPECT_EQ(overflow, 3) << linesOf(m, results);
}

// §R6: maxRequestsPerConnection is the streams an HTTP/2 connection carries (remaining_streams):
// with 1 every request opens a new connection; without it they all share one.
TEST(Http2Pool_R6, MaxRequestsPerConnectionBoundsTheStreamsOfAConnection) {
  for (const bool one : {true, false}) {
    SeedMesh m(egressPool(one ? "{http: {maxRequestsPerConnection: 1}}"
                              : "{http: {maxRequestsPerConnection: 0}}"));
    ASSERT_TRUE(m.ok());
    const auto results = sendConcurrently(m, {{"/get"}, {"/get"}, {"/get"}}, "mux-perconn");
    std::set<std::string> locals;
    for (const auto& r : results) {
      ASSERT_EQ(r.status, 200) << linesOf(m, results);
      const auto line = sidecarLine(m, r.requestId);
      ASSERT_TRUE(line.has_value()) << linesOf(m, results);
      locals.insert(line->upstreamLocalAddress);
    }
    EXPECT_EQ(locals.size(), one ? 3u : 1u) << linesOf(m, results);
  }
}

// §R1, §R6: a route timeout resets the timed-out request's stream only: the request beside it
// on the same upstream connection is answered, and the connection carries the next ones.
TEST(Http2Pool_R6, ATimedOutStreamIsResetAloneOnItsConnection) {
  // The seed's VirtualService with a 1 s timeout on /delay/3 for the sidecar (gateway `mesh`).
  const char* timeoutVs = R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: httpbin-egress, namespace: httpbin}
spec:
  hosts: [<my-proxied-service-hostname>]
  gateways: [mesh, istio-system/my-ingressgateway, httpbin/httpbin-egress]
  http:
  - match: [{gateways: [mesh], uri: {prefix: /delay/3}}]
    timeout: 1s
    route: [{destination: {host: httpbin-egress.httpbin.svc.cluster.local, port: {number: 80}}}]
  - match: [{gateways: [istio-system/my-ingressgateway, mesh], uri: {prefix: /}}]
    route: [{destination: {host: httpbin-egress.httpbin.svc.cluster.local, port: {number: 80}}}]
  - match: [{gateways: [httpbin/httpbin-egress], uri: {prefix: /}}]
    route:
    - destination: {host: httpbin.org, subset: http-egress-subset, port: {number: 443}}
)";
  SeedMesh m(egressPool("{tcp: {maxConnections: 1}}"), timeoutVs);
  ASSERT_TRUE(m.ok());
  const auto results = sendConcurrently(m, {{"/delay/3", "/delay/1", "/get"}}, "mux-timeout");
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].status, 504) << linesOf(m, results);
  EXPECT_EQ(results[1].status, 200) << linesOf(m, results);
  EXPECT_EQ(results[2].status, 200) << linesOf(m, results);
  std::set<std::string> locals;
  for (const auto& r : results) {
    const auto line = sidecarLine(m, r.requestId);
    ASSERT_TRUE(line.has_value()) << linesOf(m, results);
    locals.insert(line->upstreamLocalAddress);
  }
  EXPECT_EQ(sidecarLine(m, results[0].requestId)->flags, "UT");
  EXPECT_EQ(locals.size(), 1u) << linesOf(m, results);
}

}  // namespace
}  // namespace egresslab::sim
