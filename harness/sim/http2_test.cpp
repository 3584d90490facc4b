#include "harness/sim/http2.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace egresslab::sim {
namespace {

TEST(Http2Preface, MatchesWholePartialAndOther) {
  EXPECT_EQ(matchHttp2Preface(""), PrefaceMatch::kPartial);
  EXPECT_EQ(matchHttp2Preface("PRI * HTTP/2"), PrefaceMatch::kPartial);
  EXPECT_EQ(matchHttp2Preface(kHttp2Preface), PrefaceMatch::kYes);
  EXPECT_EQ(matchHttp2Preface(std::string(kHttp2Preface) + "\x00\x00\x12"), PrefaceMatch::kYes);
  EXPECT_EQ(matchHttp2Preface("GET / HTTP/1.1\r\n"), PrefaceMatch::kNo);
  EXPECT_EQ(matchHttp2Preface("PRI * HTTP/1.1"), PrefaceMatch::kNo);
}

// A loopback connection whose two ends live on one io_context run by the test thread.
struct Loopback {
  Loopback() {
    tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
    tcp::socket c(ctx);
    c.connect(acceptor.local_endpoint());
    tcp::socket s = acceptor.accept();
    client = std::make_unique<TcpStream>(std::move(c));
    server = std::make_unique<TcpStream>(std::move(s));
  }
  void run() {
    ctx.restart();
    ctx.run();
  }
  asio::io_context ctx;
  std::unique_ptr<TcpStream> client;
  std::unique_ptr<TcpStream> server;
};

void rethrow(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

// A bound on every exchange, so that a broken implementation fails instead of hanging.
constexpr std::chrono::seconds kDeadline{10};

// What the server saw, per request.
struct Seen {
  std::vector<HttpRequest> requests;
  std::string firstBytes;
};

// The listener side: reads the first bytes, checks the preface, serves HTTP/2 with a handler
// that echoes what it received.
Task<void> serveEcho(AsyncStream& stream, Seen& seen, std::size_t bodyBytes) {
  std::string first;
  std::vector<char> buf(64);
  while (matchHttp2Preface(first) == PrefaceMatch::kPartial) {
    const IoResult r = co_await stream.readSome(asio::buffer(buf));
    if (r.ec) co_return;
    first.append(buf.data(), r.bytes);
  }
  seen.firstBytes = first.substr(0, kHttp2Preface.size());
  if (matchHttp2Preface(first) != PrefaceMatch::kYes) co_return;
  Http2Handler handler = [&seen, bodyBytes](
                             HttpRequest& req,
                             bool& /*closeAfter*/) -> Task<std::optional<HttpResponse>> {
    seen.requests.push_back(req);
    HttpResponse r;
    r.status = req.target == "/status/418" ? 418 : 200;
    r.headers = {{"Content-Type", "text/plain"},
                 {"X-Seen-Version", req.version},
                 {"Connection", "keep-alive"}};
    r.body = bodyBytes > 0 ? std::string(bodyBytes, 'b') : req.method + " " + req.target;
    co_return r;
  };
  co_await serveHttp2(stream, std::move(first), handler, Http2ServerOptions{});
}

TEST(Http2, ClientAndServerSpeakHttp2OnTheWireAndReuseTheConnection) {
  Loopback l;
  Seen seen;
  std::vector<HttpResponse> responses;
  bool reusable = false;
  asio::co_spawn(l.ctx, serveEcho(*l.server, seen, 0), rethrow);
  asio::co_spawn(
      l.ctx,
      [&]() -> Task<void> {
        Http2ClientConnection conn(std::move(l.client));
        for (const char* target : {"/headers", "/status/418"}) {
          HttpRequest req;
          req.method = "GET";
          req.target = target;
          req.version = "HTTP/1.1";
          req.headers = {{"Host", "httpbin.example.com"},
                         {"Connection", "keep-alive"},
                         {"X-Envoy-Attempt-Count", "1"},
                         {"Transfer-Encoding", "chunked"}};
          auto resp = co_await conn.exchange(req, "http", kDeadline);
          EXPECT_TRUE(resp.has_value());
          if (resp) responses.push_back(std::move(*resp));
        }
        reusable = conn.reusable();
        conn.close();
      },
      rethrow);
  l.run();
  EXPECT_EQ(seen.firstBytes, kHttp2Preface);
  ASSERT_EQ(seen.requests.size(), 2u);
  const HttpRequest& first = seen.requests[0];
  EXPECT_EQ(first.version, "HTTP/2");
  EXPECT_EQ(first.method, "GET");
  EXPECT_EQ(first.target, "/headers");
  ASSERT_FALSE(first.headers.empty());
  // :authority arrives as the first header, `host`; names are lower case on HTTP/2.
  EXPECT_EQ(first.headers.front(),
            (std::pair<std::string, std::string>{"host", "httpbin.example.com"}));
  ASSERT_NE(findHeader(first.headers, "x-envoy-attempt-count"), nullptr);
  EXPECT_EQ(findHeader(first.headers, "x-envoy-attempt-count")->front(), '1');
  // Connection-specific headers never go on an HTTP/2 wire.
  EXPECT_EQ(findHeader(first.headers, "connection"), nullptr);
  EXPECT_EQ(findHeader(first.headers, "transfer-encoding"), nullptr);
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(responses[0].version, "HTTP/1.1");  // the shape the proxy writes downstream
  EXPECT_EQ(responses[0].body, "GET /headers");
  ASSERT_NE(findHeader(responses[0].headers, "x-seen-version"), nullptr);
  EXPECT_EQ(*findHeader(responses[0].headers, "x-seen-version"), "HTTP/2");
  EXPECT_EQ(findHeader(responses[0].headers, "connection"), nullptr);
  EXPECT_EQ(responses[1].status, 418);
  EXPECT_EQ(responses[1].body, "GET /status/418");
  EXPECT_TRUE(reusable);
}

TEST(Http2, BodiesLargerThanTheDefaultWindowCrossBothWays) {
  Loopback l;
  Seen seen;
  constexpr std::size_t kBig = 300 * 1024;  // > 65,535: flow control must work both ways
  std::optional<HttpResponse> response;
  asio::co_spawn(l.ctx, serveEcho(*l.server, seen, kBig), rethrow);
  asio::co_spawn(
      l.ctx,
      [&]() -> Task<void> {
        Http2ClientConnection conn(std::move(l.client));
        HttpRequest req;
        req.method = "POST";
        req.target = "/anything";
        req.headers = {{"host", "h"}};
        req.body = std::string(kBig, 'a');
        auto resp = co_await conn.exchange(req, "http", kDeadline);
        EXPECT_TRUE(resp.has_value());
        if (resp) response = std::move(*resp);
        conn.close();
      },
      rethrow);
  l.run();
  ASSERT_EQ(seen.requests.size(), 1u);
  EXPECT_EQ(seen.requests[0].body.size(), kBig);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body.size(), kBig);
}

// A gate the server's handlers wait at, on the test's io_context: open() lets every waiter go.
// Waiting is bounded, so a server that runs handlers one at a time fails the test, not hangs it.
struct Gate {
  explicit Gate(asio::io_context& ctx) : timer(ctx, std::chrono::seconds(5)) {}
  Task<void> wait() {
    if (!opened) co_await timer.async_wait(kAsTuple);  // cancelled by open(), or the bound
  }
  void open() {
    opened = true;
    timer.cancel();
  }
  asio::steady_timer timer;
  bool opened = false;
};

HttpRequest get(std::string target) {
  HttpRequest req;
  req.method = "GET";
  req.target = std::move(target);
  req.headers = {{"host", "h"}};
  return req;
}

// Serves the HTTP/2 connection on `stream` with `handler` (the preface is read first).
Task<void> serveWith(AsyncStream& stream, Http2Handler handler) {
  std::string first;
  std::vector<char> buf(64);
  while (matchHttp2Preface(first) == PrefaceMatch::kPartial) {
    const IoResult r = co_await stream.readSome(asio::buffer(buf));
    if (r.ec) co_return;
    first.append(buf.data(), r.bytes);
  }
  co_await serveHttp2(stream, std::move(first), handler, Http2ServerOptions{});
}

// Multiplexing both ways: five requests sent at once on one client connection are all in the
// server's handlers at the same time (each handler waits until all five arrived), and each
// response comes back on its own stream of that connection.
TEST(Http2, ConcurrentRequestsAreStreamsOfOneConnectionHandledAtOnce) {
  constexpr int kStreams = 5;
  Loopback l;
  Gate allArrived(l.ctx);
  int inHandlers = 0;
  int maxInHandlers = 0;
  Http2Handler handler = [&](HttpRequest& req, bool&) -> Task<std::optional<HttpResponse>> {
    maxInHandlers = std::max(maxInHandlers, ++inHandlers);
    if (inHandlers == kStreams) allArrived.open();
    co_await allArrived.wait();
    --inHandlers;
    HttpResponse r;
    r.status = 200;
    r.body = req.target;
    co_return r;
  };
  asio::co_spawn(l.ctx, serveWith(*l.server, handler), rethrow);
  std::vector<std::string> bodies;
  auto conn = std::make_shared<Http2ClientConnection>(std::move(l.client));
  int done = 0;
  for (int i = 0; i < kStreams; ++i) {
    asio::co_spawn(
        l.ctx,
        [&, i]() -> Task<void> {
          auto resp = co_await conn->exchange(get("/r" + std::to_string(i)), "http", kDeadline);
          EXPECT_TRUE(resp.has_value());
          if (resp) bodies.push_back(resp->body);
          if (++done == kStreams) {
            EXPECT_TRUE(conn->reusable());
            EXPECT_EQ(conn->activeStreams(), 0u);
            conn->close();
          }
        },
        rethrow);
  }
  l.run();
  EXPECT_EQ(maxInHandlers, kStreams);
  ASSERT_EQ(bodies.size(), static_cast<std::size_t>(kStreams));
  // Every response belongs to its own request, in whatever order the streams finished.
  std::vector<std::string> sorted = bodies;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::string>{"/r0", "/r1", "/r2", "/r3", "/r4"}));
}

// A stream the server resets (its handler answers nothing) fails that request alone: the other
// streams in flight on the connection get their responses and the connection stays usable.
TEST(Http2, AStreamResetFailsOnlyThatRequest) {
  Loopback l;
  Gate allArrived(l.ctx);
  int arrived = 0;
  Http2Handler handler = [&](HttpRequest& req, bool&) -> Task<std::optional<HttpResponse>> {
    if (++arrived == 3) allArrived.open();
    co_await allArrived.wait();
    if (req.target == "/reset") co_return std::nullopt;
    HttpResponse r;
    r.status = 200;
    r.body = req.target;
    co_return r;
  };
  asio::co_spawn(l.ctx, serveWith(*l.server, handler), rethrow);
  auto conn = std::make_shared<Http2ClientConnection>(std::move(l.client));
  std::map<std::string, std::expected<HttpResponse, Http2Error>> results;
  for (const char* target : {"/a", "/reset", "/b"}) {
    asio::co_spawn(
        l.ctx,
        [&, target]() -> Task<void> {
          auto resp = co_await conn->exchange(get(target), "http", kDeadline);
          results.emplace(target, std::move(resp));
          if (results.size() < 3) co_return;
          // The connection still carries new streams.
          auto after = co_await conn->exchange(get("/after"), "http", kDeadline);
          EXPECT_TRUE(after.has_value());
          conn->close();
        },
        rethrow);
  }
  l.run();
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results.at("/a").has_value());
  EXPECT_EQ(results.at("/a")->body, "/a");
  ASSERT_TRUE(results.at("/b").has_value());
  EXPECT_EQ(results.at("/b")->body, "/b");
  ASSERT_FALSE(results.at("/reset").has_value());
  EXPECT_EQ(results.at("/reset").error(), Http2Error::kReset);
}

// A server's GOAWAY (a handler asks to close after its response) lets the streams it already
// took finish; the connection then takes no new stream, and one sent anyway is refused (not
// processed: the caller may send it on another connection).
TEST(Http2, GoawayLetsTheStreamsInFlightFinishAndRefusesNewOnes) {
  Loopback l;
  Gate allArrived(l.ctx);
  int arrived = 0;
  Http2Handler handler = [&](HttpRequest& req,
                             bool& closeAfter) -> Task<std::optional<HttpResponse>> {
    if (++arrived == 3) allArrived.open();
    co_await allArrived.wait();
    closeAfter = req.target == "/close";
    HttpResponse r;
    r.status = 200;
    r.body = req.target;
    co_return r;
  };
  asio::co_spawn(l.ctx, serveWith(*l.server, handler), rethrow);
  auto conn = std::make_shared<Http2ClientConnection>(std::move(l.client));
  std::map<std::string, std::expected<HttpResponse, Http2Error>> results;
  std::optional<std::expected<HttpResponse, Http2Error>> late;
  bool reusableAfter = true;
  for (const char* target : {"/close", "/a", "/b"}) {
    asio::co_spawn(
        l.ctx,
        [&, target]() -> Task<void> {
          auto resp = co_await conn->exchange(get(target), "http", kDeadline);
          results.emplace(target, std::move(resp));
          if (results.size() < 3) co_return;
          reusableAfter = conn->reusable();
          late = co_await conn->exchange(get("/late"), "http", kDeadline);
          conn->close();
        },
        rethrow);
  }
  l.run();
  ASSERT_EQ(results.size(), 3u);
  for (const char* target : {"/close", "/a", "/b"}) {
    ASSERT_TRUE(results.at(target).has_value()) << target;
    EXPECT_EQ(results.at(target)->body, target);
  }
  EXPECT_FALSE(reusableAfter);
  ASSERT_TRUE(late.has_value());
  ASSERT_FALSE(late->has_value());
  EXPECT_EQ(late->error(), Http2Error::kRefused);
}

// The caller's deadline on one stream resets that stream only (RST_STREAM CANCEL, as Envoy's
// router does on a timeout): a request on the same connection is answered meanwhile and after.
TEST(Http2, ADeadlineResetsOnlyItsStream) {
  Loopback l;
  Gate release(l.ctx);
  Http2Handler handler = [&](HttpRequest& req, bool&) -> Task<std::optional<HttpResponse>> {
    if (req.target == "/slow") co_await release.wait();
    HttpResponse r;
    r.status = 200;
    r.body = req.target;
    co_return r;
  };
  asio::co_spawn(l.ctx, serveWith(*l.server, handler), rethrow);
  auto conn = std::make_shared<Http2ClientConnection>(std::move(l.client));
  std::optional<std::expected<HttpResponse, Http2Error>> slow, fast, after;
  asio::co_spawn(
      l.ctx,
      [&]() -> Task<void> {
        slow = co_await conn->exchange(get("/slow"), "http", std::chrono::milliseconds(200));
        after = co_await conn->exchange(get("/after"), "http", kDeadline);
        release.open();
        conn->close();
      },
      rethrow);
  asio::co_spawn(
      l.ctx,
      [&]() -> Task<void> { fast = co_await conn->exchange(get("/fast"), "http", kDeadline); },
      rethrow);
  l.run();
  ASSERT_TRUE(slow && !slow->has_value());
  EXPECT_EQ(slow->error(), Http2Error::kTimeout);
  ASSERT_TRUE(fast && fast->has_value());
  EXPECT_EQ((*fast)->body, "/fast");
  ASSERT_TRUE(after && after->has_value());
  EXPECT_EQ((*after)->body, "/after");
}

// A server that speaks only HTTP/1.1 (the legacy upstream mock) answers the preface with a 400:
// the HTTP/2 client reports a protocol failure, never an HTTP/1.1 response.
TEST(Http2, ClientAgainstAnHttp1ServerFails) {
  Loopback l;
  std::optional<std::expected<HttpResponse, Http2Error>> result;
  asio::co_spawn(
      l.ctx,
      [&]() -> Task<void> {
        std::vector<char> buf(256);
        co_await l.server->readSome(asio::buffer(buf));
        const std::string reply =
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        co_await l.server->writeAll(asio::buffer(reply));
        l.server->close();
      },
      rethrow);
  asio::co_spawn(
      l.ctx,
      [&]() -> Task<void> {
        Http2ClientConnection conn(std::move(l.client));
        HttpRequest req;
        req.method = "GET";
        req.target = "/";
        req.headers = {{"host", "h"}};
        result = co_await conn.exchange(req, "http", kDeadline);
        EXPECT_FALSE(conn.reusable());
      },
      rethrow);
  l.run();
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->has_value());
  // Something answered, in the wrong protocol: a codec protocol error, not "not processed".
  EXPECT_EQ(result->error(), Http2Error::kProtocolError);
}

// A pooled connection the server closed in the meantime: the request was not processed
// (kRefused), so the caller may send it again on a fresh connection.
TEST(Http2, ConnectionClosedBeforeAnyResponseIsReportedAsRefused) {
  Loopback l;
  std::optional<std::expected<HttpResponse, Http2Error>> result;
  l.server->close();
  asio::co_spawn(
      l.ctx,
      [&]() -> Task<void> {
        Http2ClientConnection conn(std::move(l.client));
        HttpRequest req;
        req.method = "GET";
        req.target = "/";
        req.headers = {{"host", "h"}};
        result = co_await conn.exchange(req, "http", kDeadline);
      },
      rethrow);
  l.run();
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->has_value());
  EXPECT_EQ(result->error(), Http2Error::kRefused);
}

// Hostile input on a listener: a preface followed by bytes that are no HTTP/2 frame ends the
// connection (GOAWAY) without a request reaching the proxy.
TEST(Http2, GarbageAfterThePrefaceEndsTheConnectionWithoutARequest) {
  Loopback l;
  int calls = 0;
  bool served = false;
  std::string reply;
  Http2Handler handler = [&calls](HttpRequest&, bool&) -> Task<std::optional<HttpResponse>> {
    ++calls;
    co_return HttpResponse{};
  };
  asio::co_spawn(
      l.ctx,
      [&]() -> Task<void> {
        co_await serveHttp2(*l.server,
                            std::string(kHttp2Preface) + std::string(64, '\xff') + "GET / HTTP/1.1",
                            handler, Http2ServerOptions{});
        served = true;
        l.server->close();
      },
      rethrow);
  asio::co_spawn(
      l.ctx,
      [&]() -> Task<void> {
        std::vector<char> buf(4096);
        for (;;) {
          const IoResult r = co_await l.client->readSome(asio::buffer(buf));
          if (r.ec) break;
          reply.append(buf.data(), r.bytes);
        }
        l.client->close();
      },
      rethrow);
  l.run();
  EXPECT_TRUE(served);
  EXPECT_EQ(calls, 0);
  // The server's SETTINGS then a GOAWAY frame (type 0x7) before it closed.
  EXPECT_NE(reply.find('\x07'), std::string::npos);
}

TEST(Http2, ReplayStreamHandsBackTheBytesAlreadyRead) {
  Loopback l;
  std::optional<std::expected<HttpRequest, CodecError>> req;
  asio::co_spawn(
      l.ctx,
      [&]() -> Task<void> {
        const std::string rest = "Host: h\r\n\r\n";
        co_await l.client->writeAll(asio::buffer(rest));
      },
      rethrow);
  asio::co_spawn(
      l.ctx,
      [&]() -> Task<void> {
        ReplayStream replay(*l.server, "GET /get HTTP/1.1\r\n");
        HttpReader reader(replay);
        req = co_await reader.readRequest();
      },
      rethrow);
  l.run();
  ASSERT_TRUE(req.has_value());
  ASSERT_TRUE(req->has_value());
  EXPECT_EQ((*req)->target, "/get");
  EXPECT_EQ(*findHeader((*req)->headers, "host"), "h");
}

TEST(Http2, CapturedResponseParsesBack) {
  asio::io_context ctx;
  std::optional<std::expected<HttpResponse, CodecError>> head, get;
  HttpResponse r;
  r.status = 503;
  r.headers = {{"server", "istio-envoy"}};
  r.body = "no healthy upstream";
  asio::co_spawn(
      ctx,
      [&]() -> Task<void> {
        get = co_await parseCapturedResponse(serializeResponse(r), "GET");
        head = co_await parseCapturedResponse(serializeResponse(r, true), "HEAD");
      },
      rethrow);
  ctx.run();
  ASSERT_TRUE(get && get->has_value());
  EXPECT_EQ((*get)->status, 503);
  EXPECT_EQ((*get)->body, "no healthy upstream");
  ASSERT_TRUE(head && head->has_value());
  EXPECT_EQ((*head)->status, 503);
  EXPECT_TRUE((*head)->body.empty());
}

}  // namespace
}  // namespace egresslab::sim
