// Loopback sockets and byte streams for the simulated data plane: RAII file descriptors,
// listeners on 127.0.0.1 with ephemeral ports, connects with a deadline, and a Stream that is
// either plain TCP or an OpenSSL connection over it (blocking I/O with socket timeouts, one
// thread per connection — what a proxy in the simulation needs, nothing more).
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "harness/core/error.h"

namespace egresslab::sim {

// An owned file descriptor (-1 = none). Move-only.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A TCP socket bound to 127.0.0.1:`port` (0 = ephemeral). When `listen` is false the socket is
// bound but not listening: connects to it are refused (what a warming Envoy listener or a killed
// pod looks like, §11.2), and the port stays reserved. SO_REUSEADDR, no SO_REUSEPORT.
Result<Fd> bindLoopback(std::uint16_t port, bool listen, const std::string& ip = "127.0.0.1");
// Starts listening on a socket from bindLoopback(listen=false).
Result<void> startListening(int fd);
std::uint16_t localPort(int fd);
std::string peerAddress(int fd);  // "127.0.0.1:54321"

enum class ConnectError { kRefused, kTimeout, kOther };
// Connects to ip:port within `timeout`; TCP_NODELAY set; close-on-exec.
std::expected<Fd, ConnectError> connectTcp(const std::string& ip, std::uint16_t port,
                                           std::chrono::milliseconds timeout);

// Sets SO_RCVTIMEO/SO_SNDTIMEO (0 = none) and TCP_NODELAY.
void setSocketTimeouts(int fd, std::chrono::milliseconds receive, std::chrono::milliseconds send);

// A byte stream: plain TCP or TLS over TCP. Reads return >0 bytes, 0 at EOF, -1 on error or
// timeout. Not thread-safe except shutdown(), which any thread may call to unblock a reader.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual long read(char* buffer, std::size_t size) = 0;
  virtual bool writeAll(std::string_view data) = 0;
  virtual int fd() const = 0;
  virtual bool tls() const { return false; }
  // Unblocks readers/writers (shutdown(2)); the destructor closes.
  void shutdown();
};

class PlainStream final : public Stream {
 public:
  explicit PlainStream(Fd fd) : fd_(std::move(fd)) {}
  long read(char* buffer, std::size_t size) override;
  bool writeAll(std::string_view data) override;
  int fd() const override { return fd_.get(); }

 private:
  Fd fd_;
};

struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslDeleter>;

class TlsStream final : public Stream {
 public:
  TlsStream(Fd fd, SslPtr ssl) : fd_(std::move(fd)), ssl_(std::move(ssl)) {}
  ~TlsStream() override;
  long read(char* buffer, std::size_t size) override;
  bool writeAll(std::string_view data) override;
  int fd() const override { return fd_.get(); }
  bool tls() const override { return true; }
  SSL* ssl() const { return ssl_.get(); }

 private:
  Fd fd_;
  SslPtr ssl_;
};

// OpenSSL writes to sockets with write(2): a peer that went away would raise SIGPIPE and end
// the process. Ignored process-wide, once (every TLS context constructor calls this).
void ignoreSigpipe();

// The OpenSSL error queue as one line ("error:0A000086:SSL routines::certificate verify failed"),
// cleared.
std::string drainSslErrors();

}  // namespace egresslab::sim
