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

namespace egresslab::sim {
namespace {

// Flow-control windows we grant the peer (stream and connection): large enough that a request
// or response body up to the codec limit needs few WINDOW_UPDATEs.
constexpr std::int32_t kWindow = 16 * 1024 * 1024;
constexpr std::size_t kReadChunk = 16 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

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

// ------------------------------------------------------------------------------ server
struct ServerStream {
  HttpRequest request;
  std::string authority;
  std::size_t headerBytes = 0;
  int localError = 0;  // 431 / 413 / 400: answered without calling the handler
};

struct ServerState {
  CodecLimits limits;
  std::map<std::int32_t, ServerStream> streams;
  std::deque<std::int32_t> ready;  // complete requests, oldest first
  std::map<std::int32_t, Body> responses;
};

int serverBeginHeaders(nghttp2_session* /*session*/, const nghttp2_frame* frame, void* user) {
  auto* st = static_cast<ServerState*>(user);
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    ServerStream& s = st->streams[frame->hd.stream_id];
    s.request.version = std::string(kHttp2Version);
  }
  return 0;
}

int serverHeader(nghttp2_session* /*session*/, const nghttp2_frame* frame, const std::uint8_t* name,
                 std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                 std::uint8_t /*flags*/, void* user) {
  auto* st = static_cast<ServerState*>(user);
  auto it = st->streams.find(frame->hd.stream_id);
  if (it == st->streams.end()) return 0;
  ServerStream& s = it->second;
  if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: ignored
  s.headerBytes += namelen + valuelen;
  if (s.headerBytes > st->limits.maxHeaderBytes ||
      s.request.headers.size() >= st->limits.maxHeaders) {
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

int serverData(nghttp2_session* /*session*/, std::uint8_t /*flags*/, std::int32_t stream,
               const std::uint8_t* data, std::size_t len, void* user) {
  auto* st = static_cast<ServerState*>(user);
  auto it = st->streams.find(stream);
  if (it == st->streams.end()) return 0;
  ServerStream& s = it->second;
  if (s.request.body.size() + len > st->limits.maxBodyBytes) {
    s.localError = s.localError != 0 ? s.localError : 413;
    return 0;
  }
  s.request.body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int serverFrame(nghttp2_session* /*session*/, const nghttp2_frame* frame, void* user) {
  auto* st = static_cast<ServerState*>(user);
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
      st->streams.contains(frame->hd.stream_id)) {
    st->ready.push_back(frame->hd.stream_id);
  }
  return 0;
}

int serverClose(nghttp2_session* /*session*/, std::int32_t stream, std::uint32_t /*error*/,
                void* user) {
  auto* st = static_cast<ServerState*>(user);
  st->streams.erase(stream);
  st->responses.erase(stream);
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

void submitResponse(nghttp2_session* session, ServerState& st, std::int32_t stream,
                    const HttpResponse& r, bool headOnly) {
  NvList nv;
  nv.add(":status", std::to_string(r.status));
  for (const auto& [k, v] : r.headers) {
    std::string name = lower(k);
    if (dropOnHttp2(name, v)) continue;
    nv.add(std::move(name), v);
  }
  std::vector<nghttp2_nv> list = nv.build();
  if (headOnly || r.body.empty()) {
    nghttp2_submit_response(session, stream, list.data(), list.size(), nullptr);
    return;
  }
  Body& body = st.responses[stream];
  body.data = r.body;
  body.offset = 0;
  nghttp2_data_provider provider;
  provider.source.ptr = &body;
  provider.read_callback = readBody;
  nghttp2_submit_response(session, stream, list.data(), list.size(), &provider);
}

// ------------------------------------------------------------------------------ client
}  // namespace

struct Http2ClientConnection::Session {
  CodecLimits limits;
  nghttp2_session* session = nullptr;
  bool failed = false;
  bool goaway = false;
  std::int32_t goawayLastStream = 0;
  // The stream in flight.
  std::int32_t stream = -1;
  bool anyFrame = false;  // a frame of this stream arrived (it was processed)
  int pendingStatus = 0;
  HeaderList pendingHeaders;
  bool final = false;
  HttpResponse response;
  bool done = false;
  bool reset = false;
  bool tooLarge = false;
  Body requestBody;

  ~Session() {
    if (session != nullptr) nghttp2_session_del(session);
  }
};

namespace {

using ClientSession = Http2ClientConnection::Session;

int clientHeader(nghttp2_session* /*session*/, const nghttp2_frame* frame, const std::uint8_t* name,
                 std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                 std::uint8_t /*flags*/, void* user) {
  auto* c = static_cast<ClientSession*>(user);
  if (frame->hd.stream_id != c->stream || c->final) return 0;  // trailers are ignored
  c->anyFrame = true;
  const std::string_view n = view(name, namelen);
  const std::string_view v = view(value, valuelen);
  if (n == ":status") {
    int status = 0;
    for (char ch : v) {
      if (ch < '0' || ch > '9') return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      status = status * 10 + (ch - '0');
    }
    c->pendingStatus = status;
  } else if (!n.empty() && n.front() != ':') {
    if (c->pendingHeaders.size() >= c->limits.maxHeaders) {
      c->tooLarge = true;
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    c->pendingHeaders.emplace_back(std::string(n), std::string(v));
  }
  return 0;
}

int clientData(nghttp2_session* /*session*/, std::uint8_t /*flags*/, std::int32_t stream,
               const std::uint8_t* data, std::size_t len, void* user) {
  auto* c = static_cast<ClientSession*>(user);
  if (stream != c->stream) return 0;
  c->anyFrame = true;
  if (c->response.body.size() + len > c->limits.maxBodyBytes) {
    c->tooLarge = true;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  c->response.body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int clientFrame(nghttp2_session* /*session*/, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<ClientSession*>(user);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    c->goaway = true;
    c->goawayLastStream = frame->goaway.last_stream_id;
    return 0;
  }
  if (frame->hd.stream_id != c->stream) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && !c->final) {
    if (c->pendingStatus >= 200) {
      c->final = true;
      c->response.status = c->pendingStatus;
      c->response.headers = std::move(c->pendingHeaders);
    }
    c->pendingHeaders.clear();  // 1xx: interim, skipped
    c->pendingStatus = 0;
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 && c->final) {
    c->done = true;
  }
  return 0;
}

int clientClose(nghttp2_session* /*session*/, std::int32_t stream, std::uint32_t /*error*/,
                void* user) {
  auto* c = static_cast<ClientSession*>(user);
  if (stream == c->stream && !c->done) c->reset = true;
  return 0;
}

}  // namespace

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
  ServerState st;
  st.limits = options.limits;
  Callbacks cb;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb.get(), serverBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cb.get(), serverHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb.get(), serverData);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb.get(), serverFrame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb.get(), serverClose);
  nghttp2_session* raw = nullptr;
  if (nghttp2_session_server_new(&raw, cb.get(), &st) != 0) co_return;
  std::unique_ptr<nghttp2_session, decltype(&nghttp2_session_del)> session(raw,
                                                                           nghttp2_session_del);
  submitSettings(raw, options.maxConcurrentStreams);
  auto feed = [&](const char* data, std::size_t n) {
    return nghttp2_session_mem_recv(raw, reinterpret_cast<const std::uint8_t*>(data), n) >= 0;
  };
  if (!feed(alreadyRead.data(), alreadyRead.size())) {
    co_await flush(raw, stream);
    co_return;
  }
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto watchdog = Watchdog::create(executor, [&stream] { stream.close(); });
  std::vector<char> buffer;
  for (;;) {
    if (!co_await flush(raw, stream)) co_return;
    if (!st.ready.empty()) {
      const std::int32_t id = st.ready.front();
      st.ready.pop_front();
      auto it = st.streams.find(id);
      if (it == st.streams.end()) continue;  // reset by the client meanwhile
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
        response = co_await handler(request, closeAfter);
      }
      if (!response) {
        nghttp2_session_terminate_session(raw, NGHTTP2_NO_ERROR);
        co_await flush(raw, stream);
        co_return;
      }
      if (st.streams.contains(id)) submitResponse(raw, st, id, *response, request.method == "HEAD");
      if (closeAfter) {
        nghttp2_submit_goaway(raw, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(raw),
                              NGHTTP2_NO_ERROR, nullptr, 0);
      }
      continue;
    }
    if (nghttp2_session_want_read(raw) == 0 && nghttp2_session_want_write(raw) == 0) co_return;
    watchdog->arm(options.idleTimeout);
    ErrorCode ready = co_await stream.waitReadable();
    if (ready) co_return;
    if (buffer.empty()) buffer.resize(kReadChunk);
    const IoResult r = co_await stream.readSome(asio::buffer(buffer));
    watchdog->disarm();
    if (r.ec || watchdog->fired()) co_return;
    if (!feed(buffer.data(), r.bytes)) {
      co_await flush(raw, stream);
      co_return;
    }
  }
}

Http2ClientConnection::Http2ClientConnection(CodecLimits limits) : s_(std::make_unique<Session>()) {
  s_->limits = limits;
}

Http2ClientConnection::~Http2ClientConnection() = default;

bool Http2ClientConnection::reusable() const {
  return s_->session != nullptr && !s_->failed && !s_->goaway &&
         nghttp2_session_want_read(s_->session) != 0;
}

Task<std::expected<HttpResponse, CodecError>> Http2ClientConnection::exchange(
    AsyncStream& stream, const HttpRequest& request, std::string_view scheme) {
  Session& c = *s_;
  if (c.session == nullptr) {
    Callbacks cb;
    nghttp2_session_callbacks_set_on_header_callback(cb.get(), clientHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb.get(), clientData);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb.get(), clientFrame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb.get(), clientClose);
    if (nghttp2_session_client_new(&c.session, cb.get(), &c) != 0) {
      c.session = nullptr;
      co_return std::unexpected(CodecError::kIo);
    }
    submitSettings(c.session, 100);
  }
  if (c.failed || c.goaway) co_return std::unexpected(CodecError::kClosed);
  c.stream = -1;
  c.anyFrame = false;
  c.pendingStatus = 0;
  c.pendingHeaders.clear();
  c.final = false;
  c.response = HttpResponse{};
  c.done = false;
  c.reset = false;
  c.tooLarge = false;

  NvList nv;
  nv.add(":method", request.method);
  nv.add(":scheme", std::string(scheme));
  const std::string* host = findHeader(request.headers, "host");
  nv.add(":authority", host != nullptr ? *host : std::string());
  nv.add(":path", request.target);
  for (const auto& [k, v] : request.headers) {
    std::string name = lower(k);
    if (dropOnHttp2(name, v)) continue;
    nv.add(std::move(name), v);
  }
  std::vector<nghttp2_nv> list = nv.build();
  nghttp2_data_provider provider;
  const nghttp2_data_provider* body = nullptr;
  if (!request.body.empty()) {
    c.requestBody.data = request.body;
    c.requestBody.offset = 0;
    provider.source.ptr = &c.requestBody;
    provider.read_callback = readBody;
    body = &provider;
  }
  c.stream = nghttp2_submit_request(c.session, nullptr, list.data(), list.size(), body, nullptr);
  if (c.stream < 0) {
    c.failed = true;
    co_return std::unexpected(CodecError::kIo);
  }
  // kClosed only while nothing of this stream came back: the request was not processed.
  auto lost = [&c] { return c.anyFrame ? CodecError::kIo : CodecError::kClosed; };
  std::vector<char> buffer(kReadChunk);
  for (;;) {
    if (!co_await flush(c.session, stream)) {
      c.failed = true;
      co_return std::unexpected(lost());
    }
    if (c.done) break;
    if (c.tooLarge) {
      c.failed = true;
      co_return std::unexpected(CodecError::kBodyTooLarge);
    }
    if (c.reset) co_return std::unexpected(lost());
    if (c.goaway && c.stream > c.goawayLastStream) co_return std::unexpected(CodecError::kClosed);
    if (nghttp2_session_want_read(c.session) == 0) {
      // The session ended: nghttp2 answered a protocol violation with GOAWAY (e.g. the peer
      // speaks HTTP/1.1).
      c.failed = true;
      co_return std::unexpected(c.anyFrame ? CodecError::kIo : CodecError::kBadMessage);
    }
    const IoResult r = co_await stream.readSome(asio::buffer(buffer));
    if (r.ec) {
      c.failed = true;
      co_return std::unexpected(lost());
    }
    const ssize_t fed = nghttp2_session_mem_recv(
        c.session, reinterpret_cast<const std::uint8_t*>(buffer.data()), r.bytes);
    if (fed < 0) {
      c.failed = true;
      co_return std::unexpected(c.anyFrame ? CodecError::kIo : CodecError::kBadMessage);
    }
  }
  // Acknowledgements and window updates of this exchange.
  if (!co_await flush(c.session, stream)) c.failed = true;
  HttpResponse out = std::move(c.response);
  out.version = "HTTP/1.1";  // the shape the proxy serializes downstream
  out.reason = std::string(reasonPhrase(out.status));
  co_return out;
}

}  // namespace egresslab::sim
