#include "harness/sim/http1.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <optional>
#include <thread>

#include "harness/sim/net.h"

namespace egresslab::sim {
namespace {

// A loopback TCP connection: the accepted end read through HttpReader on an io_context, the
// other end written by the test with blocking sends.
struct Pair {
  Pair() {
    auto listener = bindLoopback(0, true);
    EXPECT_TRUE(listener.has_value());
    auto w = connectTcp("127.0.0.1", localPort(listener->get()), std::chrono::seconds(5));
    EXPECT_TRUE(w.has_value());
    writer = std::move(*w);
    tcp::socket s(ctx);
    s.assign(tcp::v4(), ::accept(listener->get(), nullptr, nullptr));
    stream = std::make_unique<TcpStream>(std::move(s));
  }
  void send(std::string_view s) {
    ASSERT_EQ(::send(writer.get(), s.data(), s.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(s.size()));
  }
  void closeWriter() { writer.reset(); }
  // Runs one read to completion on this thread.
  template <typename T>
  T run(Task<T> task) {
    std::optional<T> out;
    asio::co_spawn(ctx, std::move(task), [&](std::exception_ptr e, T v) {
      if (e) std::rethrow_exception(e);
      out = std::move(v);
    });
    ctx.restart();
    ctx.run();
    return std::move(*out);
  }
  asio::io_context ctx;
  std::unique_ptr<TcpStream> stream;
  Fd writer;
};

TEST(HttpCodec, ParsesRequestWithContentLength) {
  Pair p;
  p.send("POST /anything?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  HttpReader r(*p.stream);
  auto req = p.run(r.readRequest());
  ASSERT_TRUE(req.has_value());
  EXPECT_EQ(req->method, "POST");
  EXPECT_EQ(req->target, "/anything?a=1");
  EXPECT_EQ(*findHeader(req->headers, "HOST"), "h");
  EXPECT_EQ(req->body, "hello");
  EXPECT_TRUE(req->keepAlive());
}

TEST(HttpCodec, ParsesChunkedBodyAndPipelinedRequests) {
  Pair p;
  p.send(
      "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
      "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  HttpReader r(*p.stream);
  auto a = p.run(r.readRequest());
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->body, "abcde");
  auto b = p.run(r.readRequest());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->target, "/b");
  EXPECT_FALSE(b->keepAlive());
  p.closeWriter();
  EXPECT_EQ(p.run(r.readRequest()).error(), CodecError::kClosed);
}

TEST(HttpCodec, RejectsMalformedInput) {
  for (std::string_view bad : {
           "GET\r\n\r\n",
           "GET / HTTP/9.9\r\n\r\n",
           "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
           "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
           "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
       }) {
    Pair p;
    p.send(bad);
    p.closeWriter();
    HttpReader r(*p.stream);
    auto req = p.run(r.readRequest());
    ASSERT_FALSE(req.has_value()) << bad;
    EXPECT_TRUE(req.error() == CodecError::kBadMessage || req.error() == CodecError::kIo) << bad;
  }
}

TEST(HttpCodec, OversizedHeadersAreRejectedNotBuffered) {
  Pair p;
  CodecLimits limits;
  limits.maxHeaderBytes = 1024;
  std::thread writer([&] {
    std::string big = "GET / HTTP/1.1\r\nX-Big: " + std::string(4096, 'a');
    ::send(p.writer.get(), big.data(), big.size(), MSG_NOSIGNAL);
  });
  HttpReader r(*p.stream, limits);
  auto req = p.run(r.readRequest());
  writer.join();
  ASSERT_FALSE(req.has_value());
  EXPECT_EQ(req.error(), CodecError::kHeadersTooLarge);
}

TEST(HttpCodec, TooManyHeaders) {
  std::string head = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 150; ++i) head += "X-H" + std::to_string(i) + ": v\r\n";
  auto req = parseRequestHead(head);
  ASSERT_FALSE(req.has_value());
  EXPECT_EQ(req.error(), CodecError::kHeadersTooLarge);
}

TEST(HttpCodec, ReadsResponsesByLengthChunkedAndClose) {
  Pair p;
  p.send(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
      "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n"
      "HTTP/1.0 200 OK\r\n\r\nuntil close");
  p.closeWriter();
  HttpReader r(*p.stream);
  auto a = p.run(r.readResponse("GET"));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "ok");
  auto b = p.run(r.readResponse("GET"));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->status, 503);
  EXPECT_EQ(b->body, "nope");
  auto c = p.run(r.readResponse("GET"));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->status, 204);
  auto d = p.run(r.readResponse("GET"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->body, "until close");
  EXPECT_FALSE(d->keepAlive());
}

TEST(HttpCodec, SerializesWithContentLengthAndDropsHopByHop) {
  HttpResponse r;
  r.status = 301;
  r.headers = {{"Location", "https://h/"}, {"Transfer-Encoding", "chunked"}, {"Connection", "x"}};
  const std::string wire = serializeResponse(r, false, true);
  EXPECT_EQ(wire,
            "HTTP/1.1 301 Moved Permanently\r\nLocation: https://h/\r\nconnection: close\r\n"
            "content-length: 0\r\n\r\n");
  HttpRequest q;
  q.method = "GET";
  q.target = "/x";
  q.headers = {{"Host", "h"}, {"Keep-Alive", "1"}};
  EXPECT_EQ(serializeRequest(q), "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST(HttpCodec, HeaderHelpers) {
  HeaderList h{{"A", "1"}, {"a", "2"}, {"B", "3"}};
  EXPECT_EQ(*findHeader(h, "a"), "1");
  setHeader(h, "A", "9");
  EXPECT_EQ(h.size(), 2u);
  EXPECT_EQ(*findHeader(h, "a"), "9");
  removeHeader(h, "b");
  EXPECT_EQ(findHeader(h, "B"), nullptr);
}

}  // namespace
}  // namespace egresslab::sim
