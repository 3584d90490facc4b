#include "mocks/httpbin/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "mocks/httpbin/codec.h"

namespace egresslab::httpbin::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using ErrorCode = boost::system::error_code;
using TlsStream = asio::ssl::stream<tcp::socket>;

constexpr Clock::rep kNoDeadline = std::numeric_limits<Clock::rep>::max();
// After a refusal or `Connection: close`, how long and how much the server keeps reading (and
// discarding) after shutting its sending side, so the client reads the answer instead of a RST.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr size_t kLingerBytes = 1024 * 1024;

// Threads that run complete requests: one more is started whenever every thread is busy, up to
// `max`; they live until stop().
class WorkerPool {
 public:
  explicit WorkerPool(size_t max) : max_(std::max<size_t>(1, max)) {}

  void post(std::function<void()> task) {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
    if (tasks_.size() > idle_ && threads_.size() < max_) {
      threads_.emplace_back([this] { run(); });
    } else {
      cv_.notify_one();
    }
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (true) {
      ++idle_;
      cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      --idle_;
      if (tasks_.empty()) return;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  const size_t max_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

// What every connection shares with the server's registry: the socket to cut and its deadline.
struct Tracked {
  int fd = -1;
  std::atomic<Clock::rep> deadline{kNoDeadline};

  void setDeadline(std::chrono::milliseconds d) {
    deadline = (Clock::now() + d).time_since_epoch().count();
  }
  void clearDeadline() { deadline = kNoDeadline; }
};

struct Refusal {
  int status;
  std::string detail;
};

Refusal refusalFor(const ErrorCode& ec) {
  if (ec == http::error::body_limit) return {400, "http: request body too large"};
  if (ec == http::error::header_limit) return {431, "request header fields too large"};
  if (ec == http::error::bad_content_length || ec == http::error::multiple_content_length) {
    return {400, "invalid or conflicting Content-Length"};
  }
  if (ec == http::error::bad_transfer_encoding) {
    return {400, "invalid Transfer-Encoding (repeated, or together with Content-Length)"};
  }
  return {400, "malformed request: " + ec.message()};
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool isFramingHeader(std::string_view name) {
  return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
         iequals(name, "Connection");
}

std::string statusLine(int status) {
  const std::string_view text = codec::statusText(status);
  return fmt::format("HTTP/1.1 {} {}\r\n", status,
                     text.empty() ? fmt::format("status code {}", status) : std::string(text));
}

tcp::socket& lowest(tcp::socket& s) { return s; }
tcp::socket& lowest(TlsStream& s) { return s.next_layer(); }
SSL* sslOf(tcp::socket&) { return nullptr; }
SSL* sslOf(TlsStream& s) { return s.native_handle(); }

}  // namespace

struct ServerCore {
  explicit ServerCore(HttpServerOptions o)
      : options(std::move(o)), workers(options.limits.maxWorkers) {}

  HttpServerOptions options;
  asio::io_context io;
  // The acceptor and the timers are used from the I/O threads and from stop(): all through here.
  asio::strand<asio::io_context::executor_type> strand = asio::make_strand(io);
  std::optional<asio::ssl::context> tls;
  tcp::acceptor acceptor{io};
  asio::steady_timer reaper{io};
  asio::steady_timer backoff{io};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> ioThreads;
  WorkerPool workers;
  int port = 0;
  sockaddr_storage bound{};

  mutable std::mutex mutex;  // guards the fields below
  std::condition_variable drained;
  std::unordered_set<Tracked*> open;
  bool stopping = false;
  bool stopped = false;
  Clock::time_point lastCapNotice{};

  bool isStopping() const {
    std::lock_guard lock(mutex);
    return stopping;
  }

  void notice(const std::string& line) const {
    if (options.notice) options.notice(line);
  }

  // Adds a connection; false when the server is stopping or full (the caller closes it).
  bool track(Tracked& t) {
    std::lock_guard lock(mutex);
    if (stopping) return false;
    if (open.size() >= options.limits.maxConnections) {
      if (Clock::now() - lastCapNotice > std::chrono::seconds(1)) {
        lastCapNotice = Clock::now();
        notice(fmt::format("connection cap of {} reached: closing new connections",
                           options.limits.maxConnections));
      }
      return false;
    }
    open.insert(&t);
    return true;
  }

  void untrack(Tracked& t) {
    std::lock_guard lock(mutex);
    open.erase(&t);
    if (open.empty()) drained.notify_all();
  }

  // Shuts down every connection whose deadline passed (each ends on its own once its pending
  // operation fails).
  void reap() {
    const auto now = Clock::now().time_since_epoch().count();
    std::lock_guard lock(mutex);
    for (Tracked* t : open) {
      if (t->deadline.load() < now) {
        ::shutdown(t->fd, SHUT_RDWR);
        t->clearDeadline();
      }
    }
  }

  void armReaper() {
    reaper.expires_after(std::chrono::milliseconds(100));
    reaper.async_wait(asio::bind_executor(strand, [this](const ErrorCode& ec) {
      if (ec || isStopping()) return;
      reap();
      armReaper();
    }));
  }

  void doAccept();
  template <class Stream>
  void serve(tcp::socket socket);
};

namespace {

template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  template <class... Args>
  explicit Connection(ServerCore& core, Args&&... args)
      : core_(core), stream_(std::forward<Args>(args)...) {
    trackedStorage_.fd = lowest(stream_).native_handle();
    ErrorCode ec;
    const auto remote = lowest(stream_).remote_endpoint(ec);
    if (!ec) {
      remoteAddr_ = remote.address().to_string();
      remotePort_ = remote.port();
    }
    const auto local = lowest(stream_).local_endpoint(ec);
    if (!ec) {
      localAddr_ = local.address().to_string();
      localPort_ = local.port();
    }
  }

  ~Connection() {
    if (tracked_ != nullptr) core_.untrack(*tracked_);
  }

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // False when the server would not take the connection (stopping, or at its cap).
  bool track() {
    if (core_.track(trackedStorage_)) tracked_ = &trackedStorage_;
    return tracked_ != nullptr;
  }

  void start() {
    if constexpr (kTls) {
      tracked_->setDeadline(limits().handshakeTimeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](const ErrorCode& ec) {
                                if (ec) return;  // garbage, timeout or a closed socket
                                self->readRequest();
                              });
    } else {
      readRequest();
    }
  }

 private:
  enum class Phase { kIdle, kHeader, kBody };

  const ServerLimits& limits() const { return core_.options.limits; }

  std::string_view buffered() const {
    const auto data = buffer_.data();
    return {static_cast<const char*>(data.data()), data.size()};
  }

  void readRequest() {
    if (core_.isStopping()) return;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits().maxHeaderBytes));
    parser_->body_limit(limits().maxBody);
    parser_->eager(true);
    headerChecked_ = false;
    continueSent_ = false;
    base_ = 0;
    scanned_ = 0;
    lineLength_ = 0;
    lastWasCr_ = false;
    firstLine_ = true;
    headerEnded_ = false;
    phase_ = buffer_.size() == 0 ? Phase::kIdle : Phase::kHeader;
    tracked_->setDeadline(phase_ == Phase::kIdle ? limits().idleTimeout : limits().headerTimeout);
    process();
  }

  void doRead() {
    stream_.async_read_some(buffer_.prepare(16384),
                            [self = this->shared_from_this()](const ErrorCode& ec, size_t n) {
                              if (ec) return;  // EOF, reset, or cut by a deadline or stop(): close
                              self->buffer_.commit(n);
                              if (self->phase_ == Phase::kIdle) {
                                self->phase_ = Phase::kHeader;
                                self->tracked_->setDeadline(self->limits().headerTimeout);
                              }
                              self->process();
                            });
  }

  // Checks each header line's length as bytes arrive (Beast checks only the whole header). Beast
  // consumes the request line and complete fields early, so positions are counted from the start
  // of the request: `base_` is where the buffer starts, `scanned_` how far we looked.
  std::optional<Refusal> scanHeader() {
    const std::string_view data = buffered();
    const size_t maxLine = limits().maxLine;
    size_t i = scanned_ - base_;
    for (; i < data.size() && !headerEnded_; ++i) {
      const char ch = data[i];
      if (ch == '\n') {
        const size_t len = lineLength_ - (lastWasCr_ ? 1 : 0);
        if (firstLine_) {
          if (len > maxLine) return Refusal{414, "request line too long"};
          firstLine_ = false;
        } else if (len == 0) {
          headerEnded_ = true;
        } else if (len > maxLine) {
          return Refusal{431, "header line too long"};
        }
        lineLength_ = 0;
      } else {
        ++lineLength_;
      }
      lastWasCr_ = ch == '\r';
    }
    scanned_ = base_ + i;
    if (!headerEnded_ && lineLength_ > maxLine + 1) {
      return firstLine_ ? Refusal{414, "request line too long"}
                        : Refusal{431, "header line too long"};
    }
    return std::nullopt;
  }

  // Framing Beast accepts but a proxy in front of us might read differently.
  std::optional<Refusal> checkHeader() {
    const auto& msg = parser_->get();
    const auto te = msg.find(http::field::transfer_encoding);
    if (te != msg.end() && !parser_->chunked()) {
      return Refusal{400, "unsupported Transfer-Encoding: only chunked is accepted"};
    }
    return std::nullopt;
  }

  void process() {
    while (true) {
      if (!parser_->is_header_done()) {
        // RFC 9112 §2.2: empty lines before a request line are ignored.
        while (scanned_ == 0 && buffer_.size() > 0 &&
               (buffered().front() == '\r' || buffered().front() == '\n')) {
          buffer_.consume(1);
        }
        if (auto refusal = scanHeader()) return refuse(std::move(*refusal));
      }
      if (buffer_.size() == 0) return doRead();
      ErrorCode ec;
      const bool headerWasDone = parser_->is_header_done();
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (!headerWasDone) base_ += used;
      if (ec == http::error::need_more) return doRead();
      if (ec) return refuse(refusalFor(ec));
      if (parser_->is_header_done() && !headerChecked_) {
        headerChecked_ = true;
        if (auto refusal = checkHeader()) return refuse(std::move(*refusal));
        phase_ = Phase::kBody;
        tracked_->setDeadline(limits().bodyTimeout);
        // Like Go, 100 Continue whenever a body is expected, even if it is already buffered.
        if (!continueSent_ && expectsContinue() && hasBody()) {
          continueSent_ = true;
          return sendContinue();
        }
      }
      if (parser_->is_done()) return dispatch();
      if (used == 0) return doRead();
    }
  }

  bool hasBody() const {
    const auto length = parser_->content_length();
    return parser_->chunked() || (length && *length > 0);
  }

  bool expectsContinue() const {
    const auto& msg = parser_->get();
    const auto it = msg.find(http::field::expect);
    return it != msg.end() && iequals(it->value(), "100-continue");
  }

  void sendContinue() {
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(kContinue),
                      [self = this->shared_from_this()](const ErrorCode& ec, size_t) {
                        if (ec) return;
                        if (self->parser_->is_done()) return self->dispatch();
                        self->process();
                      });
  }

  // The httplib view of what was parsed (all of it once the message is complete).
  void fillRequest(httplib::Request& req, bool withBody) {
    req.remote_addr = remoteAddr_;
    req.remote_port = remotePort_;
    req.local_addr = localAddr_;
    req.local_port = localPort_;
    req.ssl = sslOf(stream_);
    if (!parser_ || !parser_->is_header_done()) return;
    auto& msg = parser_->get();
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.path = req.target.substr(0, req.target.find('?'));
    req.version = msg.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
    for (const auto& field : msg) {
      req.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    }
    if (withBody) req.body = std::move(msg.body());
  }

  // Answers a request the server will not hand to a handler, then closes the connection: the
  // rest of the stream cannot be trusted to start a request.
  void refuse(Refusal refusal) {
    auto req = std::make_shared<httplib::Request>();
    fillRequest(*req, false);
    httplib::Response res;
    res.status = refusal.status;
    if (core_.options.refuse) core_.options.refuse(*req, res, refusal.status, refusal.detail);
    keepAlive_ = false;
    auto out = std::make_shared<std::string>(head(res) + res.body);
    const size_t bytes = res.body.size();
    auto logged = std::make_shared<httplib::Response>(std::move(res));
    tracked_->setDeadline(limits().writeTimeout);
    asio::async_write(
        stream_, asio::buffer(*out),
        [self = this->shared_from_this(), out, req, logged, bytes](const ErrorCode& ec, size_t) {
          self->log(*req, *logged, bytes, 0, {});
          if (!ec) self->lingerClose();
        });
  }

  // Stops sending, then reads and discards what the client still sends for a moment, so the
  // last answer is not lost to a RST for unread data; the destructor closes.
  void lingerClose() {
    ErrorCode ec;
    lowest(stream_).shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return;
    tracked_->setDeadline(kLingerTime);
    drain();
  }

  void drain() {
    lowest(stream_).async_read_some(
        asio::buffer(discard_), [self = this->shared_from_this()](const ErrorCode& ec, size_t n) {
          self->drained_ += n;
          if (ec || self->drained_ > kLingerBytes) return;
          self->drain();
        });
  }

  void dispatch() {
    tracked_->clearDeadline();  // handlers may take long (/delay, the latency fault)
    auto req = std::make_shared<httplib::Request>();
    fillRequest(*req, true);
    keepAlive_ = parser_->keep_alive();
    parser_.reset();
    if (core_.options.inlineHandler && answerInline(req)) return;
    core_.workers.post([self = this->shared_from_this(), req] { self->handle(*req); });
  }

  // A handler bug answers 500 on this request instead of ending the process.
  void answerHandlerBug(const httplib::Request& req, httplib::Response& res, const char* what) {
    res = httplib::Response{};
    res.status = 500;
    if (core_.options.refuse) core_.options.refuse(req, res, 500, what);
  }

  static double msSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  }

  void continueAfterResponse() {
    if (keepAlive_) {
      readRequest();
    } else {
      lingerClose();
    }
  }

  // On the I/O thread: the inline handler, then the response written asynchronously. False when
  // the request needs a worker. A streamed body is still written by a worker (synchronously).
  bool answerInline(const std::shared_ptr<httplib::Request>& req) {
    const auto start = Clock::now();
    auto res = std::make_shared<httplib::Response>();
    std::optional<std::string> note;
    try {
      note = core_.options.inlineHandler(*req, *res);
    } catch (const std::exception& e) {
      answerHandlerBug(*req, *res, e.what());
      note.emplace();
    }
    if (!note) return false;
    auto self = this->shared_from_this();
    if (res->content_provider_) {
      core_.workers.post([self, req, res, note = std::move(*note), start]() mutable {
        self->finish(*req, *res, std::move(note), start);
      });
      return true;
    }
    if (core_.isStopping()) keepAlive_ = false;
    const bool noBody =
        req->method == "HEAD" || res->status < 200 || res->status == 204 || res->status == 304;
    auto out = std::make_shared<std::string>(head(*res));
    const size_t bytes = noBody ? 0 : res->body.size();
    if (!noBody) *out += res->body;
    tracked_->setDeadline(limits().writeTimeout);
    asio::async_write(stream_, asio::buffer(*out),
                      [self, out, req, res, note = std::move(*note), start, bytes](
                          const ErrorCode& ec, size_t) mutable {
                        self->tracked_->clearDeadline();
                        self->log(*req, *res, bytes, msSince(start), std::move(note));
                        if (!ec) self->continueAfterResponse();
                      });
    return true;
  }

  // On a worker thread: the handler, then the response written synchronously.
  void handle(httplib::Request& req) {
    const auto start = Clock::now();
    httplib::Response res;
    std::string note;
    try {
      if (core_.options.handler) note = core_.options.handler(req, res);
    } catch (const std::exception& e) {
      answerHandlerBug(req, res, e.what());
    }
    finish(req, res, std::move(note), start);
  }

  // On a worker thread: writes the response synchronously, logs it, and hands the connection
  // back to the I/O threads.
  void finish(const httplib::Request& req, httplib::Response& res, std::string note,
              Clock::time_point start) {
    if (core_.isStopping()) keepAlive_ = false;
    size_t bytes = 0;
    const bool written = writeResponse(req, res, bytes);
    log(req, res, bytes, msSince(start), std::move(note));
    if (!written) return;
    asio::post(core_.io, [self = this->shared_from_this()] { self->continueAfterResponse(); });
  }

  void log(const httplib::Request& req, const httplib::Response& res, size_t bytes, double ms,
           std::string note) {
    if (!core_.options.log) return;
    ExchangeInfo info;
    if constexpr (kTls) info.sni = SSL_get_servername(sslOf(stream_), TLSEXT_NAMETYPE_host_name);
    info.bytes = bytes;
    info.ms = ms;
    info.note = std::move(note);
    core_.options.log(req, res, info);
  }

  // Status line and headers. Framing headers are always ours.
  std::string head(const httplib::Response& res) const {
    const bool noBody = res.status < 200 || res.status == 204 || res.status == 304;
    std::string out = statusLine(res.status);
    for (const auto& [name, value] : res.headers) {
      if (isFramingHeader(name)) continue;
      out += name;
      out += ": ";
      out += value;
      out += "\r\n";
    }
    if (!keepAlive_) out += "Connection: close\r\n";
    if (res.content_provider_) {
      if (res.is_chunked_content_provider_) {
        out += "Transfer-Encoding: chunked\r\n";
      } else {
        out += fmt::format("Content-Length: {}\r\n", res.content_length_);
      }
    } else if (!noBody) {
      out += fmt::format("Content-Length: {}\r\n", res.body.size());
    }
    out += "\r\n";
    return out;
  }

  bool writeAll(std::string_view data) {
    tracked_->setDeadline(limits().writeTimeout);
    ErrorCode ec;
    asio::write(stream_, asio::buffer(data.data(), data.size()), ec);
    tracked_->clearDeadline();
    return !ec;
  }

  bool writeResponse(const httplib::Request& req, httplib::Response& res, size_t& bytes) {
    const bool noBody =
        req.method == "HEAD" || res.status < 200 || res.status == 204 || res.status == 304;
    std::string out = head(res);
    if (!res.content_provider_) {
      if (!noBody) {
        out += res.body;
        bytes = res.body.size();
      }
      return writeAll(out);
    }
    if (!writeAll(out)) return false;
    if (noBody) return true;
    bool failed = false;
    bool done = false;
    size_t offset = 0;
    const bool chunked = res.is_chunked_content_provider_;
    httplib::DataSink sink;
    sink.write = [&](const char* data, size_t n) {
      if (failed) return false;
      if (n == 0) return true;
      if (chunked) {
        std::string chunk = fmt::format("{:x}\r\n", n);
        chunk.append(data, n);
        chunk += "\r\n";
        failed = !writeAll(chunk);
      } else {
        failed = !writeAll({data, n});
      }
      if (!failed) offset += n;
      return !failed;
    };
    sink.done = [&] { done = true; };
    sink.is_writable = [&] { return !failed; };
    if (chunked) {
      while (!done) {
        if (!res.content_provider_(offset, 0, sink) || failed) return false;
      }
      if (!writeAll("0\r\n\r\n")) return false;
    } else {
      while (offset < res.content_length_ && !done) {
        if (!res.content_provider_(offset, res.content_length_ - offset, sink) || failed) {
          return false;
        }
      }
      if (offset < res.content_length_) return false;
    }
    res.content_provider_success_ = true;
    bytes = offset;
    return true;
  }

  ServerCore& core_;
  Stream stream_;
  Tracked trackedStorage_;
  Tracked* tracked_ = nullptr;
  std::string remoteAddr_;
  int remotePort_ = -1;
  std::string localAddr_;
  int localPort_ = -1;

  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Phase phase_ = Phase::kIdle;
  bool headerChecked_ = false;
  bool continueSent_ = false;
  size_t base_ = 0;
  size_t scanned_ = 0;
  size_t lineLength_ = 0;
  bool lastWasCr_ = false;
  bool firstLine_ = true;
  bool headerEnded_ = false;
  bool keepAlive_ = true;
  std::array<char, 16384> discard_{};
  size_t drained_ = 0;
};

void setCloseOnExec(int fd) { fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC); }

bool isTransientAcceptError(const ErrorCode& ec) {
  return ec == asio::error::no_descriptors || ec.value() == ENFILE || ec.value() == ENOBUFS ||
         ec.value() == ENOMEM;
}

}  // namespace

template <class Stream>
void ServerCore::serve(tcp::socket socket) {
  std::shared_ptr<Connection<Stream>> conn;
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    conn = std::make_shared<Connection<Stream>>(*this, std::move(socket), *tls);
  } else {
    conn = std::make_shared<Connection<Stream>>(*this, std::move(socket));
  }
  if (conn->track()) conn->start();
}

void ServerCore::doAccept() {
  acceptor.async_accept(
      asio::bind_executor(strand, [this](const ErrorCode& ec, tcp::socket socket) {
        if (!acceptor.is_open() || ec == asio::error::operation_aborted) return;
        if (ec) {
          if (isTransientAcceptError(ec)) {
            // Out of descriptors: back off and try again, never leave the accept loop.
            notice(fmt::format("accept failed ({}): retrying in 100 ms", ec.message()));
            backoff.expires_after(std::chrono::milliseconds(100));
            backoff.async_wait(asio::bind_executor(strand, [this](const ErrorCode& waited) {
              if (!waited) doAccept();
            }));
            return;
          }
          return doAccept();
        }
        setCloseOnExec(socket.native_handle());
        ErrorCode ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        if (tls) {
          serve<TlsStream>(std::move(socket));
        } else {
          serve<tcp::socket>(std::move(socket));
        }
        doAccept();
      }));
}

struct HttpServer::Impl {
  std::shared_ptr<ServerCore> core;
};

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::start(HttpServerOptions options) {
  auto core = std::make_shared<ServerCore>(std::move(options));
  ServerCore& c = *core;
  if (c.options.tls != nullptr) {
    SSL_CTX_up_ref(c.options.tls);  // asio's context frees its handle
    c.tls.emplace(c.options.tls);
  }
  ErrorCode ec;
  tcp::resolver resolver(c.io);
  const auto results =
      resolver.resolve(c.options.host, std::to_string(c.options.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  const auto where = [&] {
    const bool v6 = c.options.host.find(':') != std::string::npos;
    return fmt::format("{}:{}", v6 ? "[" + c.options.host + "]" : c.options.host, c.options.port);
  };
  if (ec || results.empty()) {
    return environmentError(
        fmt::format("cannot listen on {}: {}", where(), ec ? ec.message() : "no address"));
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  c.acceptor.open(endpoint.protocol(), ec);
  if (!ec) c.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) c.acceptor.bind(endpoint, ec);
  // cpp-httplib used a backlog of 5; a proxy opening a burst of connections overflowed it.
  if (!ec) c.acceptor.listen(1024, ec);
  if (ec) return environmentError(fmt::format("cannot listen on {}: {}", where(), ec.message()));
  setCloseOnExec(c.acceptor.native_handle());
  const auto local = c.acceptor.local_endpoint(ec);
  c.port = local.port();
  std::memcpy(&c.bound, local.data(), std::min<size_t>(local.size(), sizeof c.bound));
  c.work.emplace(c.io.get_executor());
  c.doAccept();
  c.armReaper();
  for (int i = 0; i < std::max(1, c.options.limits.ioThreads); ++i) {
    c.ioThreads.emplace_back([&c] { c.io.run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::make_shared<Impl>(Impl{core})));
}

int HttpServer::port() const { return impl_->core->port; }

const sockaddr_storage& HttpServer::boundAddress() const { return impl_->core->bound; }

size_t HttpServer::connections() const {
  std::lock_guard lock(impl_->core->mutex);
  return impl_->core->open.size();
}

void HttpServer::stop() {
  if (!impl_) return;
  ServerCore& c = *impl_->core;
  {
    std::lock_guard lock(c.mutex);
    if (c.stopping) return;
    c.stopping = true;
  }
  std::promise<void> closed;
  asio::post(c.strand, [&c, &closed] {
    ErrorCode ignored;
    c.acceptor.close(ignored);
    c.reaper.cancel();
    c.backoff.cancel();
    closed.set_value();
  });
  closed.get_future().wait();
  {
    std::unique_lock lock(c.mutex);
    for (Tracked* t : c.open) ::shutdown(t->fd, SHUT_RDWR);
    c.drained.wait(lock, [&c] { return c.open.empty(); });
  }
  c.work.reset();
  for (auto& t : c.ioThreads) t.join();
  c.ioThreads.clear();
  c.workers.stop();
  std::lock_guard lock(c.mutex);
  c.stopped = true;
}

bool isLoopback(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
    return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

bool isLoopbackHost(std::string_view hostPort) {
  std::string host;
  if (!hostPort.empty() && hostPort.front() == '[') {
    const size_t close = hostPort.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(hostPort.substr(1, close - 1));
  } else if (std::count(hostPort.begin(), hostPort.end(), ':') > 1) {
    host = std::string(hostPort);  // a bare IPv6 literal (a peer address, a bind address)
  } else {
    host = std::string(hostPort.substr(0, hostPort.find(':')));
  }
  for (char& ch : host) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!host.empty() && host.back() == '.') host.pop_back();
  if (host == "localhost" || host.ends_with(".localhost")) return true;
  ErrorCode ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return false;
  if (address.is_v4()) return (address.to_v4().to_uint() >> 24) == 127;
  const auto v6 = address.to_v6();
  return v6.is_loopback() || (v6.is_v4_mapped() && (v6.to_v4().to_uint() >> 24) == 127);
}

}  // namespace egresslab::httpbin::detail
