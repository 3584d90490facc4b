#include "harness/sim/http2.h"

#include <gtest/gtest.h>

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
        Http2ClientConnection conn;
        for (const char* target : {"/headers", "/status/418"}) {
          HttpRequest req;
          req.method = "GET";
          req.target = target;
          req.version = "HTTP/1.1";
          req.headers = {{"Host", "httpbin.example.com"},
                         {"Connection", "keep-alive"},
                         {"X-Envoy-Attempt-Count", "1"},
                         {"Transfer-Encoding", "chunked"}};
          auto resp = co_await conn.exchange(*l.client, req, "http");
          EXPECT_TRUE(resp.has_value());
          if (resp) responses.push_back(std::move(*resp));
        }
        reusable = conn.reusable();
        l.client->close();
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
        Http2ClientConnection conn;
        HttpRequest req;
        req.method = "POST";
        req.target = "/anything";
        req.headers = {{"host", "h"}};
        req.body = std::string(kBig, 'a');
        auto resp = co_await conn.exchange(*l.client, req, "http");
        EXPECT_TRUE(resp.has_value());
        if (resp) response = std::move(*resp);
        l.client->close();
      },
      rethrow);
  l.run();
  ASSERT_EQ(seen.requests.size(), 1u);
  EXPECT_EQ(seen.requests[0].body.size(), kBig);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body.size(), kBig);
}

// A server that speaks only HTTP/1.1 (the legacy upstream mock) answers the preface with a 400:
// the HTTP/2 client reports a protocol failure, never an HTTP/1.1 response.
TEST(Http2, ClientAgainstAnHttp1ServerFails) {
  Loopback l;
  std::optional<std::expected<HttpResponse, CodecError>> result;
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
        Http2ClientConnection conn;
        HttpRequest req;
        req.method = "GET";
        req.target = "/";
        req.headers = {{"host", "h"}};
        result = co_await conn.exchange(*l.client, req, "http");
        EXPECT_FALSE(conn.reusable());
        l.client->close();
      },
      rethrow);
  l.run();
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->has_value());
  EXPECT_NE(result->error(), CodecError::kClosed);  // something answered: not "not processed"
}

// A pooled connection the server closed in the meantime: the request was not processed
// (kClosed), so the caller may retry it on a fresh connection.
TEST(Http2, ConnectionClosedBeforeAnyResponseIsReportedAsClosed) {
  Loopback l;
  std::optional<std::expected<HttpResponse, CodecError>> result;
  l.server->close();
  asio::co_spawn(
      l.ctx,
      [&]() -> Task<void> {
        Http2ClientConnection conn;
        HttpRequest req;
        req.method = "GET";
        req.target = "/";
        req.headers = {{"host", "h"}};
        result = co_await conn.exchange(*l.client, req, "http");
        l.client->close();
      },
      rethrow);
  l.run();
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->has_value());
  EXPECT_EQ(result->error(), CodecError::kClosed);
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
