#include "harness/sim/http_codec.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

namespace egresslab::sim {
namespace {

// A connected socket pair: one end wrapped as a Stream, the other written by the test.
struct Pair {
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    reader = std::make_unique<PlainStream>(Fd(fds[0]));
    writer = Fd(fds[1]);
  }
  void send(std::string_view s) {
    ASSERT_EQ(::send(writer.get(), s.data(), s.size(), 0), static_cast<ssize_t>(s.size()));
  }
  void closeWriter() { writer.reset(); }
  std::unique_ptr<PlainStream> reader;
  Fd writer;
};

TEST(HttpCodec, ParsesRequestWithContentLength) {
  Pair p;
  p.send("POST /anything?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  HttpReader r(*p.reader);
  auto req = r.readRequest();
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
  HttpReader r(*p.reader);
  auto a = r.readRequest();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->body, "abcde");
  auto b = r.readRequest();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->target, "/b");
  EXPECT_FALSE(b->keepAlive());
  p.closeWriter();
  EXPECT_EQ(r.readRequest().error(), CodecError::kClosed);
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
    HttpReader r(*p.reader);
    auto req = r.readRequest();
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
  HttpReader r(*p.reader, limits);
  auto req = r.readRequest();
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
  HttpReader r(*p.reader);
  auto a = r.readResponse("GET");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "ok");
  auto b = r.readResponse("GET");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->status, 503);
  EXPECT_EQ(b->body, "nope");
  auto c = r.readResponse("GET");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->status, 204);
  auto d = r.readResponse("GET");
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
