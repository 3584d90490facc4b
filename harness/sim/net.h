// Loopback sockets for the simulated data plane: RAII file descriptors, sockets bound on
// 127.0.0.1 (listening or, to refuse connections while keeping the port, not), and blocking
// connects with a deadline for the few callers outside the event loops (kubelet probes, tests).
// The proxies' own I/O is event-driven (io.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

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

// OpenSSL writes to sockets with write(2): a peer that went away would raise SIGPIPE and end
// the process. Ignored process-wide, once (every TLS context constructor calls this).
void ignoreSigpipe();

// The OpenSSL error queue as one line ("error:0A000086:SSL routines::certificate verify failed"),
// cleared.
std::string drainSslErrors();

}  // namespace egresslab::sim
