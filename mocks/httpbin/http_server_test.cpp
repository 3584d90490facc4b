// The mock's server loop (http_server.h) beyond what the endpoint tests exercise: the loopback
// checks the control API relies on, the connection cap, and requests served while connections
// wait on the cap's edge.
#include "mocks/httpbin/http_server.h"

#include <gtest/gtest.h>

#include <mutex>

#include "mocks/httpbin/httpbin_server.h"
#include "mocks/httpbin/test_support.h"

namespace egresslab::httpbin {
namespace {

TEST(LoopbackHost, NamesAndAddressesOfTheLoopbackInterface) {
  for (const char* host : {"localhost", "LOCALHOST:8081", "localhost.", "api.localhost:80",
                           "127.0.0.1", "127.1.2.3:9", "[::1]:8081", "::1", "[::ffff:127.0.0.1]"}) {
    EXPECT_TRUE(detail::isLoopbackHost(host)) << host;
  }
  for (const char* host : {"", "evil.example", "localhost.evil.example", "127.0.0.1.nip.io",
                           "0.0.0.0", "::", "[::]:80", "10.0.0.1:8081", "[::1", "128.0.0.1"}) {
    EXPECT_FALSE(detail::isLoopbackHost(host)) << host;
  }
}

TEST(ConnectionCap, ConnectionsOverTheCapAreClosedWithANotice) {
  std::mutex mutex;
  std::vector<std::string> lines;
  auto started = HttpbinServer::start({.maxConnections = 4, .accessLog = [&](const std::string& l) {
                                         std::lock_guard lock(mutex);
                                         lines.push_back(l);
                                       }});
  ASSERT_TRUE(started.has_value()) << started.error().str();
  const int port = (*started)->port();
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(testing::connectLoopback(port));
    ASSERT_GE(held.back(), 0);
    // Each held connection has been accepted once it answers a request.
    ASSERT_TRUE(testing::sendAll(held.back(), "GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\n"));
    char buf[256];
    ASSERT_GT(::recv(held.back(), buf, sizeof buf, 0), 0);
  }
  const auto over = testing::get(port, "/hostname");
  EXPECT_FALSE(over.complete) << "a fifth connection was served past a cap of 4";
  EXPECT_TRUE(testing::waitFor([&] {
    std::lock_guard lock(mutex);
    for (const auto& l : lines) {
      if (l.find("notice: connection cap of 4 reached") != std::string::npos) return true;
    }
    return false;
  }));
  close(held.back());
  held.pop_back();
  EXPECT_TRUE(testing::waitFor([&] { return testing::get(port, "/hostname").status == 200; }));
  for (const int fd : held) close(fd);
}

}  // namespace
}  // namespace egresslab::httpbin
