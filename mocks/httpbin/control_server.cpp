#include "mocks/httpbin/control_server.h"

#include <fmt/core.h>
#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "mocks/httpbin/handlers.h"

namespace egresslab::httpbin {
namespace {

nlohmann::json faultsJson(const HttpbinServer& target) {
  nlohmann::json list = nlohmann::json::array();
  for (const Fault& f : target.activeFaults()) list.push_back(toJson(f));
  return nlohmann::json{{"faults", list}};
}

void sendFaults(const HttpbinServer& target, httplib::Response& res) {
  res.status = 200;
  res.set_content(faultsJson(target).dump(2) + "\n", "application/json; charset=utf-8");
}

}  // namespace

struct FaultControlServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::string host;
  int port = 0;
  bool stopped = false;
};

FaultControlServer::FaultControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FaultControlServer::~FaultControlServer() { stop(); }

Result<std::unique_ptr<FaultControlServer>> FaultControlServer::start(HttpbinServer& target,
                                                                      const std::string& host,
                                                                      int port) {
  if (port < 0 || port > 65535) {
    return invalidInput(fmt::format("control port {} is not in [0, 65535]", port));
  }
  auto impl = std::make_unique<Impl>();
  impl->host = host;
  httplib::Server& svr = impl->server;
  svr.set_tcp_nodelay(true);
  svr.set_socket_options([](int sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  svr.new_task_queue = [] { return new httplib::ThreadPool(4); };
  svr.Get("/faults",
          [&target](const httplib::Request&, httplib::Response& res) { sendFaults(target, res); });
  svr.Post("/faults", [&target](const httplib::Request& req, httplib::Response& res) {
    const auto spec = nlohmann::json::parse(req.body, nullptr, false);
    if (spec.is_discarded()) {
      return detail::writeError(res, 400,
                                "the body must be one JSON object such as {\"action\":\"down\"}");
    }
    auto fault = parseFault(spec);
    if (!fault) return detail::writeError(res, 400, fault.error().message);
    if (auto applied = target.applyFault(*fault); !applied) {
      const int code = applied.error().kind == ErrorKind::kInvalidInput ? 400 : 500;
      return detail::writeError(res, code, applied.error().message);
    }
    sendFaults(target, res);
  });
  svr.Delete("/faults", [&target](const httplib::Request&, httplib::Response& res) {
    target.clearFaults();
    sendFaults(target, res);
  });
  svr.set_error_handler(
      httplib::Server::Handler([](const httplib::Request&, httplib::Response& res) {
        if (res.body.empty()) detail::writeError(res, res.status);
      }));
  errno = 0;
  bool bound = false;
  if (port == 0) {
    impl->port = svr.bind_to_any_port(host);
    bound = impl->port > 0;
  } else {
    impl->port = port;
    bound = svr.bind_to_port(host, port);
  }
  if (!bound) {
    return environmentError(fmt::format("cannot listen on {}:{} for fault control: {}", host, port,
                                        errno != 0 ? std::strerror(errno) : "bind failed"));
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!raw->server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  return std::unique_ptr<FaultControlServer>(new FaultControlServer(std::move(impl)));
}

int FaultControlServer::port() const { return impl_->port; }

std::string FaultControlServer::url() const {
  const bool v6 = impl_->host.find(':') != std::string::npos;
  return fmt::format("http://{}:{}", v6 ? "[" + impl_->host + "]" : impl_->host, impl_->port);
}

void FaultControlServer::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->server.stop();
  impl_->thread.join();
}

}  // namespace egresslab::httpbin
