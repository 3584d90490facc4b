// HTTP front end on the httpbin mock's server loop (mocks/httpbin/http_server.h: deadlines,
// limits, hostile input handled there); gRPC front end on grpc++'s synchronous server.
#include "mocks/extauthz/extauthz_server.h"

#include <fmt/core.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "mocks/extauthz/decide.h"
#include "mocks/httpbin/http_server.h"

namespace egresslab::extauthz {
namespace {

namespace auth = envoy::service::auth::v3;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string ruleName(const model::ExtAuthzRules& rules, const model::ExtAuthzRule& rule) {
  if (&rule == &rules.otherwise) return "default";
  return std::to_string(&rule - rules.rules.data());
}

void setHeaderOptions(
    const model::HeaderPairs& headers,
    google::protobuf::RepeatedPtrField<envoy::config::core::v3::HeaderValueOption>& out) {
  for (const auto& [k, v] : headers) {
    auto* option = out.Add();
    option->mutable_header()->set_key(k);
    option->mutable_header()->set_value(v);
  }
}

}  // namespace

struct ExtAuthzServer::Impl {
  ExtAuthzServerOptions options;
  std::atomic<std::uint64_t> checks{0};
  std::mutex mu;
  std::condition_variable stopCv;
  bool stopping = false;  // guarded by mu
  std::unique_ptr<httpbin::detail::HttpServer> http;
  std::unique_ptr<grpc::Server> grpcServer;
  std::unique_ptr<auth::Authorization::Service> grpcService;
  int grpcBoundPort = 0;

  // Waits out the configured latency; false when the server stops meanwhile.
  bool waitLatency() {
    if (options.rules.latency.count() <= 0) return true;
    std::unique_lock lock(mu);
    return !stopCv.wait_for(lock, options.rules.latency, [this] { return stopping; });
  }

  void log(std::string_view protocol, const CheckInput& in, const model::ExtAuthzRule& rule,
           std::uint32_t status) {
    ++checks;
    if (!options.accessLog) return;
    options.accessLog(fmt::format("extauthz {} \"{} {}\" {} {} principal={} rule={}", protocol,
                                  in.method, in.path, rule.allow ? "allowed" : "denied", status,
                                  in.principal.empty() ? "-" : in.principal,
                                  ruleName(options.rules, rule)));
  }

  std::string handleHttp(httplib::Request& req, httplib::Response& res) {
    CheckInput in;
    in.method = req.method;
    in.path = req.target;
    for (const auto& [k, v] : req.headers) in.headers.emplace_back(lower(k), v);
    if (req.has_header("x-forwarded-client-cert")) {
      in.principal = principalFromXfcc(req.get_header_value("x-forwarded-client-cert"));
    }
    if (!waitLatency()) {
      res.status = 503;
      return "stopping";
    }
    const model::ExtAuthzRule& rule = decide(options.rules, in);
    // Envoy's HTTP protocol: 200 allows and every response header is a candidate for the
    // upstream request; any other status denies, with this status, body and headers.
    res.status = rule.allow ? 200 : static_cast<int>(rule.status);
    for (const auto& [k, v] : rule.allow ? rule.upstreamHeaders : rule.downstreamHeaders) {
      res.set_header(k, v);
    }
    if (rule.allow) {
      for (const auto& [k, v] : rule.downstreamHeaders) {
        if (!res.has_header(k)) res.set_header(k, v);
      }
    }
    if (!rule.allow && !rule.body.empty()) res.set_content(rule.body, "text/plain");
    log("http", in, rule, static_cast<std::uint32_t>(res.status));
    return rule.allow ? "allowed" : "denied";
  }

  grpc::Status handleGrpc(const auth::CheckRequest& request, auth::CheckResponse& response) {
    const auto& attributes = request.attributes();
    const auto& httpAttributes = attributes.request().http();
    CheckInput in;
    in.method = httpAttributes.method();
    in.path = httpAttributes.path();
    in.principal = attributes.source().principal();
    for (const auto& [k, v] : httpAttributes.headers()) in.headers.emplace_back(lower(k), v);
    std::sort(in.headers.begin(), in.headers.end());
    if (!waitLatency()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stopping");
    const model::ExtAuthzRule& rule = decide(options.rules, in);
    if (rule.allow) {
      response.mutable_status()->set_code(0);  // google.rpc.Code OK
      auto* ok = response.mutable_ok_response();
      setHeaderOptions(rule.upstreamHeaders, *ok->mutable_headers());
      setHeaderOptions(rule.downstreamHeaders, *ok->mutable_response_headers_to_add());
    } else {
      response.mutable_status()->set_code(7);  // google.rpc.Code PERMISSION_DENIED
      auto* denied = response.mutable_denied_response();
      denied->mutable_status()->set_code(static_cast<envoy::type::v3::StatusCode>(rule.status));
      setHeaderOptions(rule.downstreamHeaders, *denied->mutable_headers());
      denied->set_body(rule.body);
    }
    log("grpc", in, rule, rule.allow ? 200 : rule.status);
    return grpc::Status::OK;
  }

  class Service final : public auth::Authorization::Service {
   public:
    explicit Service(Impl& impl) : impl_(impl) {}
    grpc::Status Check(grpc::ServerContext* /*context*/, const auth::CheckRequest* request,
                       auth::CheckResponse* response) override {
      return impl_.handleGrpc(*request, *response);
    }

   private:
    Impl& impl_;
  };
};

ExtAuthzServer::ExtAuthzServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ExtAuthzServer::~ExtAuthzServer() { stop(); }

Result<std::unique_ptr<ExtAuthzServer>> ExtAuthzServer::start(ExtAuthzServerOptions options) {
  if (!httpbin::detail::isLoopbackHost(options.host)) {
    return invalidInput(
        fmt::format("the ext-authz mock serves loopback addresses only, not \"{}\"", options.host));
  }
  if (!options.httpPort && !options.grpcPort) {
    return invalidInput("the ext-authz mock needs an HTTP or a gRPC port (or both)");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  Impl& self = *impl;
  if (self.options.httpPort) {
    httpbin::detail::HttpServerOptions httpOptions;
    httpOptions.host = self.options.host;
    httpOptions.port = *self.options.httpPort;
    httpOptions.limits.maxWorkers = 32;
    httpOptions.handler = [&self](httplib::Request& req, httplib::Response& res) {
      return self.handleHttp(req, res);
    };
    httpOptions.refuse = [](const httplib::Request&, httplib::Response& res, int status,
                            const std::string& detail) {
      res.status = status;
      res.set_content(detail + "\n", "text/plain");
    };
    auto server = httpbin::detail::HttpServer::start(std::move(httpOptions));
    if (!server) return std::unexpected(server.error());
    self.http = std::move(*server);
  }
  if (self.options.grpcPort) {
    self.grpcService = std::make_unique<Impl::Service>(self);
    grpc::ServerBuilder builder;
    const std::string host = self.options.host.find(':') != std::string::npos
                                 ? "[" + self.options.host + "]"
                                 : self.options.host;
    builder.AddListeningPort(fmt::format("{}:{}", host, *self.options.grpcPort),
                             grpc::InsecureServerCredentials(), &self.grpcBoundPort);
    builder.RegisterService(self.grpcService.get());
    self.grpcServer = builder.BuildAndStart();
    if (!self.grpcServer || self.grpcBoundPort == 0) {
      if (self.http) self.http->stop();
      return environmentError(fmt::format("the ext-authz mock cannot listen for gRPC on {}:{}",
                                          self.options.host, *self.options.grpcPort));
    }
  }
  return std::unique_ptr<ExtAuthzServer>(new ExtAuthzServer(std::move(impl)));
}

int ExtAuthzServer::httpPort() const { return impl_->http ? impl_->http->port() : 0; }
int ExtAuthzServer::grpcPort() const { return impl_->grpcServer ? impl_->grpcBoundPort : 0; }
const std::string& ExtAuthzServer::host() const { return impl_->options.host; }
std::uint64_t ExtAuthzServer::checks() const { return impl_->checks; }

void ExtAuthzServer::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->stopCv.notify_all();
  if (impl_->http) impl_->http->stop();
  if (impl_->grpcServer) {
    impl_->grpcServer->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    impl_->grpcServer->Wait();
  }
}

}  // namespace egresslab::extauthz
