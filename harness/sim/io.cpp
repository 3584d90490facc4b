#include "harness/sim/io.h"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include <cstdio>
#include <future>

#include <fmt/format.h>

namespace egresslab::sim {

bool AsyncStream::isEof(const ErrorCode& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

Task<ErrorCode> TcpStream::waitReadable() {
  auto [ec] = co_await s_.async_wait(tcp::socket::wait_read, kAsTuple);
  co_return ec;
}

Task<IoResult> TcpStream::readSome(asio::mutable_buffer buffer) {
  auto [ec, n] = co_await s_.async_read_some(buffer, kAsTuple);
  co_return IoResult{ec, n};
}

Task<IoResult> TcpStream::writeAll(asio::const_buffer data) {
  auto [ec, n] = co_await asio::async_write(s_, data, kAsTuple);
  co_return IoResult{ec, n};
}

void TcpStream::shutdownSend() {
  ErrorCode ignored;
  s_.shutdown(tcp::socket::shutdown_send, ignored);
}

void TcpStream::close() {
  ErrorCode ignored;
  s_.close(ignored);
}

Task<ErrorCode> TlsStream::waitReadable() {
  // Asio's TLS engine may already hold bytes it read from the socket (e.g. the request that
  // arrived with the handshake's last flight) where neither the socket nor SSL_pending shows
  // them: never wait on the socket for a TLS stream, let the read find out.
  co_return ErrorCode{};
}

Task<IoResult> TlsStream::readSome(asio::mutable_buffer buffer) {
  auto [ec, n] = co_await s_.async_read_some(buffer, kAsTuple);
  co_return IoResult{ec, n};
}

Task<IoResult> TlsStream::writeAll(asio::const_buffer data) {
  auto [ec, n] = co_await asio::async_write(s_, data, kAsTuple);
  co_return IoResult{ec, n};
}

void TlsStream::shutdownSend() {
  ErrorCode ignored;
  s_.next_layer().shutdown(tcp::socket::shutdown_send, ignored);
}

void TlsStream::close() {
  ErrorCode ignored;
  s_.next_layer().close(ignored);
}

std::shared_ptr<Watchdog> Watchdog::create(const asio::any_io_executor& executor,
                                           std::function<void()> onExpire) {
  return std::make_shared<Watchdog>(executor, std::move(onExpire));
}

void Watchdog::arm(std::chrono::steady_clock::duration after) {
  timer_.expires_after(after);  // cancels the previous wait
  const std::uint64_t gen = ++generation_;
  timer_.async_wait([weak = weak_from_this(), gen](const ErrorCode& ec) {
    if (ec) return;  // re-armed, disarmed or destroyed
    auto self = weak.lock();
    if (!self || self->generation_ != gen) return;
    self->fired_ = true;
    self->onExpire_();
  });
}

void Watchdog::disarm() {
  ++generation_;
  timer_.cancel();
}

Task<void> sleepFor(std::chrono::steady_clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  auto [ec] = co_await t.async_wait(kAsTuple);
  (void)ec;
}

std::string endpointString(const tcp::endpoint& e) {
  return fmt::format("{}:{}", e.address().to_string(), e.port());
}

std::string remoteOf(const tcp::socket& s) {
  ErrorCode ec;
  const auto e = s.remote_endpoint(ec);
  return ec ? std::string() : endpointString(e);
}

std::string ipOf(const std::string& address) {
  const auto colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

std::string localOf(const tcp::socket& s) {
  ErrorCode ec;
  const auto e = s.local_endpoint(ec);
  return ec ? std::string() : endpointString(e);
}

void resetAndClose(tcp::socket& s) {
  ErrorCode ignored;
  s.set_option(asio::socket_base::linger(true, 0), ignored);
  s.close(ignored);
}

Worker::Worker(std::size_t index) : index_(index), guard_(asio::make_work_guard(ctx_)) {
  thread_ = std::thread([this] {
    // Handlers never throw out of run(): connection coroutines catch at their spawn point.
    ctx_.run();
    finished_ = true;
    finished_.notify_all();
  });
}

Worker::~Worker() {
  stop();
  join();
}

Worker::Registration::Registration(Worker& w, const void* owner, std::function<void()> close)
    : w_(w) {
  w_.live_.push_front(Live{owner, std::move(close)});
  it_ = w_.live_.begin();
}

Worker::Registration::~Registration() { w_.live_.erase(it_); }

void Worker::closeAll(const void* owner) {
  for (auto& l : live_) {
    if (owner == nullptr || l.owner == owner) l.close();
  }
}

bool Worker::runAndWait(std::function<void()> fn, std::chrono::milliseconds timeout) {
  if (inThisThread()) {
    fn();
    return true;
  }
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  asio::post(ctx_, [fn = std::move(fn), done] {
    fn();
    done->set_value();
  });
  return future.wait_for(timeout) == std::future_status::ready;
}

bool Worker::waitFinished(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // atomic wait has no timeout: poll the flag in small steps (shutdown only).
  while (!finished_.load()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void logEscapedException(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "egresslab sim: connection handler failed: %s\n", x.what());
  }
}

}  // namespace egresslab::sim
