#include "mocks/httpbin/control_server.h"

#include <fmt/core.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>

#include "mocks/httpbin/handlers.h"
#include "mocks/httpbin/http_server.h"

namespace egresslab::httpbin {
namespace {

nlohmann::json faultsJson(const HttpbinServer& target) {
  nlohmann::json list = nlohmann::json::array();
  for (const Fault& f : target.activeFaults()) list.push_back(toJson(f));
  return nlohmann::json{{"faults", list}};
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool isJsonMediaType(const std::string& contentType) {
  std::string media = lower(contentType.substr(0, contentType.find(';')));
  media.erase(std::remove_if(media.begin(), media.end(),
                             [](unsigned char c) { return std::isspace(c) != 0; }),
              media.end());
  return media == "application/json";
}

// "https://host:port" → whether host is loopback; "null" and anything unparsable are foreign.
bool isLoopbackOrigin(const std::string& origin) {
  const size_t scheme = origin.find("://");
  if (scheme == std::string::npos) return false;
  return detail::isLoopbackHost(origin.substr(scheme + 3));
}

bool tokenMatches(const std::string& authorization, const std::string& token) {
  const std::string expected = "Bearer " + token;
  return authorization.size() == expected.size() &&
         CRYPTO_memcmp(authorization.data(), expected.data(), expected.size()) == 0;
}

// Who may talk to the control API (control_server.h). Empty when the request may proceed, else
// the refusal is already in `res`.
bool admitted(const ControlOptions& options, const httplib::Request& req, httplib::Response& res) {
  if (options.token.empty()) {
    if (!detail::isLoopbackHost(req.remote_addr)) {
      detail::writeError(res, 403,
                         "the fault-control API answers loopback clients only (start the mock "
                         "with --control-token to open it)");
      return false;
    }
    if (req.has_header("Host") && !detail::isLoopbackHost(req.get_header_value("Host"))) {
      detail::writeError(res, 403, "the Host header must name a loopback address");
      return false;
    }
  } else if (!tokenMatches(req.get_header_value("Authorization"), options.token)) {
    detail::writeError(res, 401, "Authorization: Bearer <control token> required");
    res.set_header("WWW-Authenticate", "Bearer");
    return false;
  }
  if (req.has_header("Origin") && !isLoopbackOrigin(req.get_header_value("Origin"))) {
    detail::writeError(res, 403, "cross-origin requests are refused");
    return false;
  }
  return true;
}

nlohmann::json faultsOf(const HttpbinServer& target) { return faultsJson(target); }

// The mock's own API (header comment): GET/POST/DELETE /faults.
ControlResponse serveFaults(HttpbinServer& target, const ControlRequest& req) {
  // GET /served → {"hostname":"crm-a","requests":{"<x-request-id>":<sequence>,…}} (served_log.h).
  if (req.path == "/served" && req.method == "GET") {
    nlohmann::json requests = nlohmann::json::object();
    for (const auto& [id, sequence] : target.served().entries()) requests[id] = sequence;
    return {.body = nlohmann::json{{"hostname", target.hostname()}, {"requests", requests}}};
  }
  if (req.path != "/faults") return {.status = 404};
  if (req.method == "GET") return {.body = faultsOf(target)};
  if (req.method == "DELETE") {
    target.clearFaults();
    return {.body = faultsOf(target)};
  }
  if (req.method != "POST") return {.status = 405, .allow = "GET, POST, DELETE"};
  const auto spec = nlohmann::json::parse(req.body, nullptr, false);
  if (spec.is_discarded()) {
    return {.status = 400,
            .detail = "the body must be one JSON object such as {\"action\":\"down\"}"};
  }
  auto fault = parseFault(spec);
  if (!fault) return {.status = 400, .detail = fault.error().message};
  if (auto applied = target.applyFault(*fault); !applied) {
    return {.status = applied.error().kind == ErrorKind::kInvalidInput ? 400 : 500,
            .detail = applied.error().message};
  }
  return {.body = faultsOf(target)};
}

void serveControl(const ControlHandler& handler, const httplib::Request& req,
                  httplib::Response& res) {
  const std::string path = req.target.substr(0, req.target.find('?'));
  if (req.method == "POST" && !isJsonMediaType(req.get_header_value("Content-Type"))) {
    return detail::writeError(res, 415, "POST " + path + " needs Content-Type: application/json");
  }
  const ControlResponse answer = handler({.method = req.method, .path = path, .body = req.body});
  if (answer.status >= 200 && answer.status < 300) {
    res.status = answer.status;
    res.set_content(answer.body.dump(2) + "\n", "application/json; charset=utf-8");
    return;
  }
  if (answer.detail.empty()) {
    detail::writeError(res, answer.status);
  } else {
    detail::writeError(res, answer.status, answer.detail);
  }
  if (!answer.allow.empty()) res.set_header("Allow", answer.allow);
}

}  // namespace

struct ControlServer::Impl {
  std::unique_ptr<detail::HttpServer> server;
  std::string host;
  int port = 0;
};

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControlServer::~ControlServer() { stop(); }

Result<std::unique_ptr<ControlServer>> ControlServer::start(ControlHandler handler,
                                                            const ControlOptions& options) {
  if (options.port < 0 || options.port > 65535) {
    return invalidInput(fmt::format("control port {} is not in [0, 65535]", options.port));
  }
  if (options.token.empty() && !detail::isLoopbackHost(options.host)) {
    return invalidInput(fmt::format(
        "the fault-control API on \"{}\" would be reachable beyond this machine: bind a loopback "
        "address, or open it deliberately with --control-token TOKEN (or "
        "EGRESSLAB_CONTROL_TOKEN)",
        options.host));
  }
  detail::HttpServerOptions o;
  o.host = options.host;
  o.port = options.port;
  o.limits.maxBody = 64 * 1024;
  o.limits.maxWorkers = 4;
  o.limits.maxConnections = 256;
  o.handler = [handler = std::move(handler), options](httplib::Request& req,
                                                      httplib::Response& res) {
    if (admitted(options, req, res)) serveControl(handler, req, res);
    return std::string{};
  };
  o.refuse = [](const httplib::Request&, httplib::Response& res, int status,
                const std::string& detail) { detail::writeError(res, status, detail); };
  auto server = detail::HttpServer::start(std::move(o));
  if (!server) {
    return environmentError(fmt::format("fault control: {}", server.error().message));
  }
  auto impl = std::make_unique<Impl>();
  impl->server = std::move(*server);
  impl->host = options.host;
  impl->port = impl->server->port();
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

int ControlServer::port() const { return impl_->port; }

std::string ControlServer::url() const {
  const bool v6 = impl_->host.find(':') != std::string::npos;
  return fmt::format("http://{}:{}", v6 ? "[" + impl_->host + "]" : impl_->host, impl_->port);
}

void ControlServer::stop() {
  if (impl_ && impl_->server) impl_->server->stop();
}

FaultControlServer::FaultControlServer(std::unique_ptr<ControlServer> server)
    : server_(std::move(server)) {}

FaultControlServer::~FaultControlServer() { stop(); }

Result<std::unique_ptr<FaultControlServer>> FaultControlServer::start(
    HttpbinServer& target, const ControlOptions& options) {
  auto server = ControlServer::start(
      [&target](const ControlRequest& req) { return serveFaults(target, req); }, options);
  if (!server) return std::unexpected(server.error());
  return std::unique_ptr<FaultControlServer>(new FaultControlServer(std::move(*server)));
}

int FaultControlServer::port() const { return server_->port(); }
std::string FaultControlServer::url() const { return server_->url(); }

void FaultControlServer::stop() {
  if (server_) server_->stop();
}

}  // namespace egresslab::httpbin
