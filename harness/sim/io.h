// The event-driven I/O of the simulated data plane (Boost.Asio with C++20 coroutines): worker
// event loops, byte streams that are plain TCP or TLS over TCP, and a per-connection watchdog
// that closes a stream when its deadline passes.
//
// Threading model (docs/dependencies.md, "Data plane"): like Envoy, a fixed set of workers, each
// one thread running its own io_context. A connection is accepted for one worker and never leaves
// it: its coroutine, its watchdog and the upstream connections it opens all run on that thread, so
// per-connection state needs no locks. State shared across connections (readiness, listeners,
// logs) is atomic or guarded by the owner's mutex.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace egresslab::sim {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;
template <typename T>
using Task = asio::awaitable<T>;
// Completion token for coroutines that want error codes as values, not exceptions.
inline constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

struct IoResult {
  ErrorCode ec;
  std::size_t bytes = 0;
};

class TlsStream;

// A byte stream of one connection: plain TCP or TLS over TCP. Used from one worker thread.
class AsyncStream {
 public:
  virtual ~AsyncStream() = default;
  // Waits until bytes can be read without allocating a buffer (idle plain connections cost no
  // buffer; TLS streams return at once, their engine buffers on its own).
  virtual Task<ErrorCode> waitReadable() = 0;
  virtual Task<IoResult> readSome(asio::mutable_buffer buffer) = 0;
  virtual Task<IoResult> writeAll(asio::const_buffer data) = 0;
  // Half-close: no more bytes will be written (FIN).
  virtual void shutdownSend() = 0;
  // Cancels pending operations (they complete with operation_aborted) and closes; idempotent.
  virtual void close() = 0;
  [[nodiscard]] virtual bool tls() const = 0;
  virtual tcp::socket& socket() = 0;
  // The TLS connection underneath (peer certificate), or nullptr for plain TCP. Wrappers (a
  // replayed prefix, one HTTP/2 stream's response capture; http2.h) pass their connection's.
  virtual TlsStream* tlsLayer() { return nullptr; }
  // True when the read failed only because the peer closed (EOF, TLS truncation).
  static bool isEof(const ErrorCode& ec);
};

class TcpStream final : public AsyncStream {
 public:
  explicit TcpStream(tcp::socket socket) : s_(std::move(socket)) {}
  Task<ErrorCode> waitReadable() override;
  Task<IoResult> readSome(asio::mutable_buffer buffer) override;
  Task<IoResult> writeAll(asio::const_buffer data) override;
  void shutdownSend() override;
  void close() override;
  [[nodiscard]] bool tls() const override { return false; }
  tcp::socket& socket() override { return s_; }

 private:
  tcp::socket s_;
};

class TlsStream final : public AsyncStream {
 public:
  // `ctx` must outlive the stream: it is kept alive here.
  TlsStream(tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx)
      : ctx_(std::move(ctx)), s_(std::move(socket), *ctx_) {}
  Task<ErrorCode> waitReadable() override;
  Task<IoResult> readSome(asio::mutable_buffer buffer) override;
  Task<IoResult> writeAll(asio::const_buffer data) override;
  void shutdownSend() override;
  void close() override;
  [[nodiscard]] bool tls() const override { return true; }
  tcp::socket& socket() override { return s_.next_layer(); }
  TlsStream* tlsLayer() override { return this; }
  asio::ssl::stream<tcp::socket>& ssl() { return s_; }

 private:
  std::shared_ptr<asio::ssl::context> ctx_;
  asio::ssl::stream<tcp::socket> s_;
};

// Calls `onExpire` once when the armed deadline passes. Re-arming moves the deadline (a deadline
// per request or per attempt, not per read). Must be created with std::make_shared and used on
// its executor's thread only.
class Watchdog : public std::enable_shared_from_this<Watchdog> {
 public:
  Watchdog(const asio::any_io_executor& executor, std::function<void()> onExpire)
      : timer_(executor), onExpire_(std::move(onExpire)) {}
  static std::shared_ptr<Watchdog> create(const asio::any_io_executor& executor,
                                          std::function<void()> onExpire);
  void arm(std::chrono::steady_clock::duration after);
  void disarm();
  [[nodiscard]] bool fired() const { return fired_; }

 private:
  asio::steady_timer timer_;
  std::function<void()> onExpire_;
  std::uint64_t generation_ = 0;
  bool fired_ = false;
};

// Waits `d` on the current coroutine's executor (back-off, pacing). No thread sleeps.
Task<void> sleepFor(std::chrono::steady_clock::duration d);

// "127.0.0.1:54321" (or "" when the endpoint is unknown).
std::string endpointString(const tcp::endpoint& e);
std::string remoteOf(const tcp::socket& s);
std::string localOf(const tcp::socket& s);
// The IP of an "ip:port" address as remoteOf/localOf write it (the whole string without a colon).
std::string ipOf(const std::string& address);

// Closes with SO_LINGER 0: the peer sees a reset (curl 35/56), what Envoy's BlackHole and
// not-ready TLS sockets look like (§1, §11.2).
void resetAndClose(tcp::socket& s);

// One worker: a thread running its own io_context, plus the connections it owns so that a
// gateway kill or shutdown can close them.
class Worker {
 public:
  explicit Worker(std::size_t index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  asio::io_context& context() { return ctx_; }
  [[nodiscard]] std::size_t index() const { return index_; }
  [[nodiscard]] bool inThisThread() { return ctx_.get_executor().running_in_this_thread(); }

  // A live connection, registered for the lifetime of its handler (RAII).
  struct Live {
    const void* owner = nullptr;  // the proxy it belongs to (nullptr = the mesh itself)
    std::function<void()> close;
  };
  class Registration {
   public:
    Registration(Worker& w, const void* owner, std::function<void()> close);
    ~Registration();
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

   private:
    Worker& w_;
    std::list<Live>::iterator it_;
  };
  // Closes every live connection of `owner` (all when nullptr). Worker thread only.
  void closeAll(const void* owner);
  [[nodiscard]] std::size_t liveCount() const { return live_.size(); }

  // Runs `fn` on this worker and waits for it (inline when already on it). False when the worker
  // did not run it within `timeout` (stopped).
  bool runAndWait(std::function<void()> fn,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Lets run() return once no work is left; stop() makes it return at once. join() waits.
  void releaseWork() { guard_.reset(); }
  void stop() { ctx_.stop(); }
  // Waits up to `timeout` for the thread to finish on its own; false if it did not.
  bool waitFinished(std::chrono::milliseconds timeout);
  void join();

 private:
  std::size_t index_;
  // Declared before the context: handlers destroyed with the context unregister from it.
  std::list<Live> live_;
  asio::io_context ctx_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

// Logs an exception that escaped a connection coroutine (a bug) and keeps the worker running.
void logEscapedException(std::exception_ptr e);

}  // namespace egresslab::sim
