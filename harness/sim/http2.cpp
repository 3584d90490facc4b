// HTTP/2 sessions on AsyncStreams: nghttp2 does the framing, HPACK, flow control and stream
// state; this file moves its bytes with Asio (nghttp2_session_mem_recv/mem_send, no callbacks
// doing I/O) and converts streams to and from the HTTP/1.1 message types.
#include "harness/sim/http2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <vector>

#include "harness/core/ascii.h"

namespace egresslab::sim {
namespace {

// Flow-control windows we grant the peer (stream and connection): large enough that a request
// or response body up to the codec limit needs few WINDOW_UPDATEs.
constexpr std::int32_t kWindow = 16 * 1024 * 1024;
constexpr std::size_t kReadChunk = 16 * 1024;

// Headers HTTP/2 forbids (RFC 9113 §8.2.2); `host` travels as `:authority`.
bool dropOnHttp2(std::string_view lowerName, std::string_view value) {
  if (lowerName == "te") return value != "trailers";
  return lowerName == "connection" || lowerName == "keep-alive" ||
         lowerName == "proxy-connection" || lowerName == "transfer-encoding" ||
         lowerName == "upgrade" || lowerName == "host";
}

// Name/value pairs whose storage outlives the nghttp2_nv array pointing into it.
class NvList {
 public:
  void add(std::string name, std::string value) {
    names_.push_back(std::move(name));
    values_.push_back(std::move(value));
  }
  std::vector<nghttp2_nv> build() {
    std::vector<nghttp2_nv> nv;
    nv.reserve(names_.size());
    for (std::size_t i = 0; i < names_.size(); ++i) {
      nv.push_back({reinterpret_cast<std::uint8_t*>(names_[i].data()),
                    reinterpret_cast<std::uint8_t*>(values_[i].data()), names_[i].size(),
                    values_[i].size(), NGHTTP2_NV_FLAG_NONE});
    }
    return nv;
  }

 private:
  std::deque<std::string> names_;  // deque: references stay valid while adding
  std::deque<std::string> values_;
};

// A body handed to nghttp2 through a data provider.
struct Body {
  std::string data;
  std::size_t offset = 0;
};

ssize_t readBody(nghttp2_session* /*session*/, std::int32_t /*stream*/, std::uint8_t* buf,
                 std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                 void* /*user*/) {
  auto* b = static_cast<Body*>(source->ptr);
  const std::size_t n = std::min(length, b->data.size() - b->offset);
  if (n > 0) std::memcpy(buf, b->data.data() + b->offset, n);
  b->offset += n;
  if (b->offset == b->data.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

std::string_view view(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

// Writes everything nghttp2 has queued. False when the session failed or the write did.
Task<bool> flush(nghttp2_session* session, AsyncStream& stream) {
  std::string out;
  for (;;) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session, &data);
    if (n < 0) co_return false;
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  if (out.empty()) co_return true;
  const IoResult r = co_await stream.writeAll(asio::buffer(out));
  co_return !r.ec;
}

void submitSettings(nghttp2_session* session, std::uint32_t maxStreams) {
  std::array<nghttp2_settings_entry, 3> iv{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, maxStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(kWindow)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  }};
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
  nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, kWindow);
}

class Callbacks {
 public:
  Callbacks() { nghttp2_session_callbacks_new(&cb_); }
  ~Callbacks() { nghttp2_session_callbacks_del(cb_); }
  Callbacks(const Callbacks&) = delete;
  Callbacks& operator=(const Callbacks&) = delete;
  nghttp2_session_callbacks* get() { return cb_; }

 private:
  nghttp2_session_callbacks* cb_ = nullptr;
};

// An in-memory byte source for the HTTP/1.1 reader: the bytes, then EOF.
class MemoryStream final : public AsyncStream {
 public:
  explicit MemoryStream(std::string bytes) : bytes_(std::move(bytes)) {}
  Task<ErrorCode> waitReadable() override { co_return ErrorCode{}; }
  Task<IoResult> readSome(asio::mutable_buffer buffer) override {
    if (offset_ == bytes_.size()) co_return IoResult{asio::error::eof, 0};
    const std::size_t n = std::min(buffer.size(), bytes_.size() - offset_);
    std::memcpy(buffer.data(), bytes_.data() + offset_, n);
    offset_ += n;
    co_return IoResult{{}, n};
  }
  Task<IoResult> writeAll(asio::const_buffer data) override { co_return IoResult{{}, data.size()}; }
  void shutdownSend() override {}
  void close() override {}
  [[nodiscard]] bool tls() const override { return false; }
  tcp::socket& socket() override { std::abort(); }

 private:
  std::string bytes_;
  std::size_t offset_ = 0;
};

// Wakes a coroutine of the same executor: notify() before or during its wait(). Single-threaded
// (a connection's coroutines all run on its worker), so no lock.
class Wakeup {
 public:
  explicit Wakeup(const asio::any_io_executor& executor) : timer_(executor) {}
  void notify() {
    notified_ = true;
    timer_.cancel();
  }
  // Returns at once when notified since the last wait.
  friend Task<void> waitFor(Wakeup& w) {
    if (!w.notified_) {
      w.timer_.expires_at(std::chrono::steady_clock::time_point::max());
      co_await w.timer_.async_wait(kAsTuple);
    }
    w.notified_ = false;
  }

 private:
  asio::steady_timer timer_;
  bool notified_ = false;
};

// ------------------------------------------------------------------------------ server
struct ServerStream {
  HttpRequest request;
  std::string authority;
  std::size_t headerBytes = 0;
  int localError = 0;  // 431 / 413 / 400: answered without calling the handler
};

// The coroutines a served connection spawns. (No `co_await` inside a condition in these loops:
// GCC 12 corrupted the frame of a writer loop of the form `if (!co_await flush(…)) break;`.)
struct ServerSession;
Task<void> serverWriter(ServerSession* self);
Task<void> serverHandle(ServerSession* self, std::int32_t id);

// One served connection: the reading loop (run), a writer coroutine that alone writes to the
// stream, and one handler coroutine per complete request.
struct ServerSession {
  ServerSession(AsyncStream& stream, const Http2Handler& handler, Http2ServerOptions options,
                const asio::any_io_executor& executor)
      : stream_(stream),
        handler_(handler),
        options_(options),
        executor_(executor),
        writerWake_(executor),
        doneWake_(executor) {}
  ~ServerSession() {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  Task<void> run(std::string alreadyRead);

  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                      std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                      std::uint8_t flags, void* user);
  static int onData(nghttp2_session*, std::uint8_t flags, std::int32_t stream,
                    const std::uint8_t* data, std::size_t len, void* user);
  static int onFrame(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int onClose(nghttp2_session*, std::int32_t stream, std::uint32_t error, void* user);

  void startHandlers();
  void startWriter() {
    writerRunning_ = true;
    asio::co_spawn(executor_, serverWriter(this), logEscapedException);
  }
  // The session has nothing more to read or write and no handler runs.
  [[nodiscard]] bool over() const {
    return running_ == 0 && ready_.empty() && nghttp2_session_want_read(session_) == 0 &&
           nghttp2_session_want_write(session_) == 0;
  }
  void submitResponse(std::int32_t id, const HttpResponse& r, bool headOnly);

  AsyncStream& stream_;
  const Http2Handler& handler_;
  Http2ServerOptions options_;
  asio::any_io_executor executor_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, ServerStream> streams_;
  std::deque<std::int32_t> ready_;  // complete requests whose handler has not started
  std::map<std::int32_t, Body> responses_;
  std::size_t running_ = 0;  // handlers in progress
  bool writerRunning_ = false;
  bool writerStop_ = false;
  Wakeup writerWake_;
  Wakeup doneWake_;  // a handler or the writer ended
  std::shared_ptr<Watchdog> idle_;
};

int ServerSession::onBeginHeaders(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                                  void* user) {
  auto* self = static_cast<ServerSession*>(user);
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    ServerStream& s = self->streams_[frame->hd.stream_id];
    s.request.version = std::string(kHttp2Version);
  }
  return 0;
}

int ServerSession::onHeader(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                            const std::uint8_t* name, std::size_t namelen,
                            const std::uint8_t* value, std::size_t valuelen, std::uint8_t /*flags*/,
                            void* user) {
  auto* self = static_cast<ServerSession*>(user);
  auto it = self->streams_.find(frame->hd.stream_id);
  if (it == self->streams_.end()) return 0;
  ServerStream& s = it->second;
  if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: ignored
  s.headerBytes += namelen + valuelen;
  if (s.headerBytes > self->options_.limits.maxHeaderBytes ||
      s.request.headers.size() >= self->options_.limits.maxHeaders) {
    s.localError = 431;
    return 0;
  }
  const std::string_view n = view(name, namelen);
  const std::string_view v = view(value, valuelen);
  if (n == ":method") {
    s.request.method = std::string(v);
  } else if (n == ":path") {
    s.request.target = std::string(v);
  } else if (n == ":authority") {
    s.authority = std::string(v);
  } else if (!n.empty() && n.front() != ':') {
    s.request.headers.emplace_back(std::string(n), std::string(v));
  }
  return 0;
}

int ServerSession::onData(nghttp2_session* /*session*/, std::uint8_t /*flags*/, std::int32_t stream,
                          const std::uint8_t* data, std::size_t len, void* user) {
  auto* self = static_cast<ServerSession*>(user);
  auto it = self->streams_.find(stream);
  if (it == self->streams_.end()) return 0;
  ServerStream& s = it->second;
  if (s.request.body.size() + len > self->options_.limits.maxBodyBytes) {
    s.localError = s.localError != 0 ? s.localError : 413;
    return 0;
  }
  s.request.body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int ServerSession::onFrame(nghttp2_session* /*session*/, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<ServerSession*>(user);
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
      self->streams_.contains(frame->hd.stream_id)) {
    self->ready_.push_back(frame->hd.stream_id);
  }
  return 0;
}

int ServerSession::onClose(nghttp2_session* /*session*/, std::int32_t stream,
                           std::uint32_t /*error*/, void* user) {
  auto* self = static_cast<ServerSession*>(user);
  self->streams_.erase(stream);
  self->responses_.erase(stream);
  return 0;
}

// Converts a complete request stream to the HTTP/1.1 shape (host first, like Envoy's codec).
void finishRequest(ServerStream& s) {
  if (!s.authority.empty()) {
    removeHeader(s.request.headers, "host");
    s.request.headers.insert(s.request.headers.begin(), {"host", s.authority});
  }
  if (s.request.method.empty() || s.request.target.empty()) s.localError = 400;
}

void ServerSession::submitResponse(std::int32_t id, const HttpResponse& r, bool headOnly) {
  NvList nv;
  nv.add(":status", std::to_string(r.status));
  for (const auto& [k, v] : r.headers) {
    std::string name = asciiLower(k);
    if (dropOnHttp2(name, v)) continue;
    nv.add(std::move(name), v);
  }
  std::vector<nghttp2_nv> list = nv.build();
  if (headOnly || r.body.empty()) {
    nghttp2_submit_response(session_, id, list.data(), list.size(), nullptr);
    return;
  }
  Body& body = responses_[id];
  body.data = r.body;
  body.offset = 0;
  nghttp2_data_provider provider;
  provider.source.ptr = &body;
  provider.read_callback = readBody;
  nghttp2_submit_response(session_, id, list.data(), list.size(), &provider);
}

Task<void> serverWriter(ServerSession* self) {
  bool more = true;
  while (more) {
    co_await waitFor(self->writerWake_);
    const bool written = co_await flush(self->session_, self->stream_);
    if (!written || self->over()) {
      // A failed write, or GOAWAY sent and every stream done: the connection ends (the reading
      // loop too).
      self->stream_.close();
      more = false;
    } else if (self->writerStop_) {
      more = false;
    }
  }
  self->writerRunning_ = false;
  self->doneWake_.notify();
}

Task<void> serverHandle(ServerSession* self, std::int32_t id) {
  auto it = self->streams_.find(id);
  if (it == self->streams_.end()) co_return;  // reset by the client meanwhile
  finishRequest(it->second);
  HttpRequest request = std::move(it->second.request);
  const int localError = it->second.localError;
  std::optional<HttpResponse> response;
  bool closeAfter = false;
  if (localError != 0) {
    response.emplace();
    response->status = localError;
    response->headers = {{"server", "istio-envoy"}};
    closeAfter = localError == 400;
  } else {
    response = co_await self->handler_(request, closeAfter);
  }
  if (self->streams_.contains(id)) {  // still open: the client did not reset it meanwhile
    if (response) {
      self->submitResponse(id, *response, request.method == "HEAD");
    } else {
      nghttp2_submit_rst_stream(self->session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
    }
  }
  if (closeAfter) {
    nghttp2_submit_goaway(self->session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(self->session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
  }
}

void ServerSession::startHandlers() {
  while (!ready_.empty()) {
    const std::int32_t id = ready_.front();
    ready_.pop_front();
    ++running_;
    idle_->disarm();
    asio::co_spawn(executor_, serverHandle(this, id), [this](std::exception_ptr e) {
      --running_;
      if (running_ == 0) idle_->arm(options_.idleTimeout);
      writerWake_.notify();
      doneWake_.notify();
      logEscapedException(e);
    });
  }
}

Task<void> ServerSession::run(std::string alreadyRead) {
  Callbacks cb;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb.get(), onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cb.get(), onHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb.get(), onData);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb.get(), onFrame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb.get(), onClose);
  if (nghttp2_session_server_new(&session_, cb.get(), this) != 0) {
    session_ = nullptr;
    co_return;
  }
  submitSettings(session_, options_.maxConcurrentStreams);
  auto feed = [this](const char* data, std::size_t n) {
    return nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(data), n) >= 0;
  };
  if (!feed(alreadyRead.data(), alreadyRead.size())) {
    co_await flush(session_, stream_);
    co_return;
  }
  idle_ = Watchdog::create(executor_, [this] { stream_.close(); });
  startWriter();
  std::vector<char> buffer;
  for (;;) {
    startHandlers();
    writerWake_.notify();
    if (over()) break;
    if (running_ == 0) idle_->arm(options_.idleTimeout);
    const ErrorCode readable = co_await stream_.waitReadable();
    if (readable) break;
    if (buffer.empty()) buffer.resize(kReadChunk);
    const IoResult r = co_await stream_.readSome(asio::buffer(buffer));
    if (r.ec || idle_->fired()) break;
    if (!feed(buffer.data(), r.bytes)) break;  // a protocol error: nghttp2 queued GOAWAY
  }
  idle_->disarm();
  // Reading is over; handlers in progress finish (their streams are answered if the connection
  // still takes them), then the writer flushes what is left and stops.
  while (running_ > 0) co_await waitFor(doneWake_);
  writerStop_ = true;
  writerWake_.notify();
  while (writerRunning_) co_await waitFor(doneWake_);
}

// ------------------------------------------------------------------------------ client
// One exchange's stream, living in its exchange() frame while registered with the session.
struct ClientStream {
  explicit ClientStream(const asio::any_io_executor& executor) : wake(executor) {}
  int pendingStatus = 0;
  HeaderList pendingHeaders;
  bool final = false;  // the final (non-1xx) response headers arrived
  HttpResponse response;
  bool anyFrame = false;  // a frame of this stream arrived (it was processed)
  bool done = false;
  std::optional<Http2Error> error;
  asio::steady_timer wake;  // cancelled when done or failed
  void finish(std::optional<Http2Error> e) {
    if (done || error) return;
    if (e) {
      error = e;
    } else {
      done = true;
    }
    wake.cancel();
  }
};

}  // namespace

struct Http2ClientConnection::Session : std::enable_shared_from_this<Session> {
  Session(std::unique_ptr<AsyncStream> s, CodecLimits l, const asio::any_io_executor& executor)
      : stream(std::move(s)), limits(l), writerWake(executor) {}
  ~Session() {
    if (session != nullptr) nghttp2_session_del(session);
  }
  std::unique_ptr<AsyncStream> stream;
  CodecLimits limits;
  nghttp2_session* session = nullptr;
  bool started = false;
  bool ended = false;  // the connection is over: no reads, no writes, no new streams
  bool goaway = false;
  std::int32_t goawayLastStream = 0;
  // nghttp2 found a connection error in what the peer sent (e.g. HTTP/1.1 bytes where SETTINGS
  // must come): the connection ends with a protocol error once it closes.
  bool violation = false;
  std::map<std::int32_t, ClientStream*> streams;
  std::map<std::int32_t, std::unique_ptr<Body>> requestBodies;  // until the stream closes
  Wakeup writerWake;

  ClientStream* find(std::int32_t id) {
    auto it = streams.find(id);
    return it == streams.end() ? nullptr : it->second;
  }
  // The connection ended: every open stream fails — as not processed if nothing of it came
  // back, else as lost (or with the protocol error that ended it).
  void end(bool protocolError) {
    if (ended) return;
    ended = true;
    stream->close();
    for (auto& [id, cs] : streams) {
      if (protocolError) {
        cs->finish(Http2Error::kProtocolError);
      } else {
        cs->finish(cs->anyFrame ? Http2Error::kConnectionLost : Http2Error::kRefused);
      }
    }
    writerWake.notify();
  }
  Task<void> reader();
  Task<void> writer();
};

namespace {

using ClientSession = Http2ClientConnection::Session;

int clientHeader(nghttp2_session* /*session*/, const nghttp2_frame* frame, const std::uint8_t* name,
                 std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                 std::uint8_t /*flags*/, void* user) {
  auto* c = static_cast<ClientSession*>(user);
  ClientStream* cs = c->find(frame->hd.stream_id);
  if (cs == nullptr || cs->final) return 0;  // trailers are ignored
  cs->anyFrame = true;
  const std::string_view n = view(name, namelen);
  const std::string_view v = view(value, valuelen);
  if (n == ":status") {
    int status = 0;
    for (char ch : v) {
      if (ch < '0' || ch > '9') return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      status = status * 10 + (ch - '0');
    }
    cs->pendingStatus = status;
  } else if (!n.empty() && n.front() != ':') {
    if (cs->pendingHeaders.size() >= c->limits.maxHeaders) {
      cs->finish(Http2Error::kTooLarge);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets this stream
    }
    cs->pendingHeaders.emplace_back(std::string(n), std::string(v));
  }
  return 0;
}

int clientData(nghttp2_session* /*session*/, std::uint8_t /*flags*/, std::int32_t stream,
               const std::uint8_t* data, std::size_t len, void* user) {
  auto* c = static_cast<ClientSession*>(user);
  ClientStream* cs = c->find(stream);
  if (cs == nullptr) return 0;
  cs->anyFrame = true;
  if (cs->response.body.size() + len > c->limits.maxBodyBytes) {
    cs->finish(Http2Error::kTooLarge);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets this stream
  }
  cs->response.body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int clientFrame(nghttp2_session* /*session*/, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<ClientSession*>(user);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    c->goaway = true;
    c->goawayLastStream = frame->goaway.last_stream_id;
    return 0;
  }
  ClientStream* cs = c->find(frame->hd.stream_id);
  if (cs == nullptr) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && !cs->final) {
    if (cs->pendingStatus >= 200) {
      cs->final = true;
      cs->response.status = cs->pendingStatus;
      cs->response.headers = std::move(cs->pendingHeaders);
    }
    cs->pendingHeaders.clear();  // 1xx: interim, skipped
    cs->pendingStatus = 0;
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 && cs->final) {
    cs->finish(std::nullopt);
  }
  return 0;
}

int clientError(nghttp2_session* /*session*/, int /*libError*/, const char* /*message*/,
                std::size_t /*length*/, void* user) {
  static_cast<ClientSession*>(user)->violation = true;
  return 0;
}

int clientClose(nghttp2_session* /*session*/, std::int32_t stream, std::uint32_t error,
                void* user) {
  auto* c = static_cast<ClientSession*>(user);
  c->requestBodies.erase(stream);
  ClientStream* cs = c->find(stream);
  if (cs == nullptr) return 0;
  // Refused (REFUSED_STREAM, or above a GOAWAY's last stream id): the peer never processed it.
  const bool refused =
      error == NGHTTP2_REFUSED_STREAM || (c->goaway && stream > c->goawayLastStream);
  cs->finish(refused ? Http2Error::kRefused : Http2Error::kReset);
  return 0;
}

}  // namespace

Task<void> Http2ClientConnection::Session::reader() {
  const auto self = shared_from_this();  // the connection's state outlives its coroutines
  std::vector<char> buffer(kReadChunk);
  while (!ended) {
    const IoResult r = co_await stream->readSome(asio::buffer(buffer));
    if (ended) break;
    if (r.ec) {
      end(violation);
      break;
    }
    const ssize_t fed = nghttp2_session_mem_recv(
        session, reinterpret_cast<const std::uint8_t*>(buffer.data()), r.bytes);
    writerWake.notify();  // acknowledgements, window updates, a GOAWAY of ours
    if (fed < 0) {
      end(true);
      break;
    }
    if (nghttp2_session_want_read(session) == 0) {
      // Over: either the peer's GOAWAY and no stream left, or nghttp2 answered a protocol
      // violation with a GOAWAY of its own (e.g. the peer speaks HTTP/1.1).
      end(violation || !goaway);
      break;
    }
  }
}

Task<void> Http2ClientConnection::Session::writer() {
  const auto self = shared_from_this();
  while (!ended) {
    co_await waitFor(writerWake);
    if (ended) break;
    const bool written = co_await flush(session, *stream);
    if (!written) end(false);
  }
}

PrefaceMatch matchHttp2Preface(std::string_view firstBytes) {
  const std::size_t n = std::min(firstBytes.size(), kHttp2Preface.size());
  if (firstBytes.substr(0, n) != kHttp2Preface.substr(0, n)) return PrefaceMatch::kNo;
  return n == kHttp2Preface.size() ? PrefaceMatch::kYes : PrefaceMatch::kPartial;
}

Task<ErrorCode> ReplayStream::waitReadable() {
  if (offset_ < replay_.size()) co_return ErrorCode{};
  co_return co_await inner_.waitReadable();
}

Task<IoResult> ReplayStream::readSome(asio::mutable_buffer buffer) {
  if (offset_ < replay_.size()) {
    const std::size_t n = std::min(buffer.size(), replay_.size() - offset_);
    std::memcpy(buffer.data(), replay_.data() + offset_, n);
    offset_ += n;
    if (offset_ == replay_.size()) {
      std::string().swap(replay_);  // the replayed bytes are not kept for the connection's life
      offset_ = 0;
    }
    co_return IoResult{{}, n};
  }
  co_return co_await inner_.readSome(buffer);
}

Task<ErrorCode> ResponseCapture::waitReadable() { co_return asio::error::eof; }

Task<IoResult> ResponseCapture::readSome(asio::mutable_buffer /*buffer*/) {
  co_return IoResult{asio::error::eof, 0};
}

Task<IoResult> ResponseCapture::writeAll(asio::const_buffer data) {
  if (closed_) co_return IoResult{asio::error::broken_pipe, 0};
  written_.append(static_cast<const char*>(data.data()), data.size());
  co_return IoResult{{}, data.size()};
}

Task<std::expected<HttpResponse, CodecError>> parseCapturedResponse(std::string bytes,
                                                                    std::string method) {
  MemoryStream memory(std::move(bytes));
  HttpReader reader(memory);
  co_return co_await reader.readResponse(std::move(method));
}

Task<void> serveHttp2(AsyncStream& stream, std::string alreadyRead, const Http2Handler& handler,
                      Http2ServerOptions options) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  ServerSession session(stream, handler, options, executor);
  co_await session.run(std::move(alreadyRead));
}

Http2ClientConnection::Http2ClientConnection(std::unique_ptr<AsyncStream> stream,
                                             CodecLimits limits) {
  const asio::any_io_executor executor = stream->socket().get_executor();
  s_ = std::make_shared<Session>(std::move(stream), limits, executor);
  Callbacks cb;
  nghttp2_session_callbacks_set_on_header_callback(cb.get(), clientHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb.get(), clientData);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb.get(), clientFrame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb.get(), clientClose);
  nghttp2_session_callbacks_set_error_callback2(cb.get(), clientError);
  if (nghttp2_session_client_new(&s_->session, cb.get(), s_.get()) != 0) {
    s_->session = nullptr;
    s_->ended = true;
    return;
  }
  // The client's own SETTINGS: it accepts no pushed streams.
  submitSettings(s_->session, kEnvoyMaxConcurrentStreams);
}

Http2ClientConnection::~Http2ClientConnection() { close(); }

void Http2ClientConnection::close() {
  if (s_->ended) return;
  s_->end(false);
}

AsyncStream& Http2ClientConnection::stream() { return *s_->stream; }

bool Http2ClientConnection::reusable() const {
  return s_->session != nullptr && !s_->ended && !s_->goaway &&
         nghttp2_session_want_read(s_->session) != 0;
}

std::size_t Http2ClientConnection::activeStreams() const { return s_->streams.size(); }

std::uint32_t Http2ClientConnection::peerMaxConcurrentStreams() const {
  if (s_->session == nullptr) return 0;
  return nghttp2_session_get_remote_settings(s_->session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

Task<std::expected<HttpResponse, Http2Error>> Http2ClientConnection::exchange(
    const HttpRequest& request, std::string_view scheme,
    std::chrono::steady_clock::duration timeout) {
  const std::shared_ptr<Session> c = s_;  // lives through this exchange whatever the owner does
  if (c->ended || c->goaway) co_return std::unexpected(Http2Error::kRefused);
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  if (!c->started) {
    c->started = true;
    asio::co_spawn(executor, c->reader(), logEscapedException);
    asio::co_spawn(executor, c->writer(), logEscapedException);
  }
  NvList nv;
  nv.add(":method", request.method);
  nv.add(":scheme", std::string(scheme));
  const std::string* host = findHeader(request.headers, "host");
  nv.add(":authority", host != nullptr ? *host : std::string());
  nv.add(":path", request.target);
  for (const auto& [k, v] : request.headers) {
    std::string name = asciiLower(k);
    if (dropOnHttp2(name, v)) continue;
    nv.add(std::move(name), v);
  }
  std::vector<nghttp2_nv> list = nv.build();
  nghttp2_data_provider provider;
  const nghttp2_data_provider* bodyProvider = nullptr;
  std::unique_ptr<Body> body;
  if (!request.body.empty()) {
    body = std::make_unique<Body>();
    body->data = request.body;
    provider.source.ptr = body.get();
    provider.read_callback = readBody;
    bodyProvider = &provider;
  }
  const std::int32_t id =
      nghttp2_submit_request(c->session, nullptr, list.data(), list.size(), bodyProvider, nullptr);
  if (id < 0) co_return std::unexpected(Http2Error::kRefused);  // e.g. stream ids exhausted
  if (body) c->requestBodies[id] = std::move(body);
  ClientStream cs(executor);
  c->streams[id] = &cs;
  c->writerWake.notify();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cs.done && !cs.error && !c->ended) {
    cs.wake.expires_at(deadline);
    co_await cs.wake.async_wait(kAsTuple);
    if (!cs.done && !cs.error && std::chrono::steady_clock::now() >= deadline) {
      // The caller's deadline: this stream is reset, the connection and its other streams go on
      // (Envoy's router resets the upstream stream on a timeout).
      cs.error = Http2Error::kTimeout;
      if (!c->ended) {
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        c->writerWake.notify();
      }
    }
  }
  c->streams.erase(id);
  if (!cs.done) co_return std::unexpected(cs.error.value_or(Http2Error::kConnectionLost));
  HttpResponse out = std::move(cs.response);
  out.version = "HTTP/1.1";  // the shape the proxy serializes downstream
  out.reason = std::string(reasonPhrase(out.status));
  co_return out;
}

}  // namespace egresslab::sim
