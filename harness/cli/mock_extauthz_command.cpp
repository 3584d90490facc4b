// `egresslab mock extauthz`: serves the external authorization mock (mocks/extauthz) until SIGINT
// or SIGTERM — Envoy's HTTP ext_authz protocol on --http, gRPC Authorization/Check on --grpc —
// deciding by a rules file (docs/scenarios.md "External authorization"), else by the rules of
// Istio's sample ext-authz server. Loopback addresses only. One line per check on stdout.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "harness/cli/command.h"
#include "harness/model/ext_authz_server.h"
#include "mocks/extauthz/extauthz_server.h"

namespace egresslab::cli {
namespace {

struct MockExtAuthzFlags {
  std::string http;
  std::string grpc;
  std::string rules;
  bool quiet = false;
};

// "HOST:PORT" or "[V6]:PORT" into the options' host and port.
Result<void> readAddress(const std::string& text, const std::string& flag, std::string& host,
                         std::optional<int>& port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return invalidInput(flag + " expects HOST:PORT, got \"" + text + "\"");
  }
  std::string h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string portText = text.substr(colon + 1);
  int p = -1;
  try {
    size_t used = 0;
    p = std::stoi(portText, &used);
    if (used != portText.size()) p = -1;
  } catch (const std::exception&) {
    p = -1;  // not a number or out of range; reported below
  }
  if (p < 0 || p > 65535) {
    return invalidInput(flag + ": port \"" + portText + "\" is not a number in [0, 65535]");
  }
  if (!host.empty() && host != h) {
    return invalidInput("--http and --grpc must name the same host");
  }
  host = h;
  port = p;
  return {};
}

int fail(const Error& error) {
  std::cerr << "egresslab mock extauthz: " << error.str() << "\n";
  return 2;
}

int runMockExtAuthz(const MockExtAuthzFlags& flags) {
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  extauthz::ExtAuthzServerOptions options;
  options.host.clear();
  if (flags.http.empty() && flags.grpc.empty()) {
    options.host = "127.0.0.1";
    options.httpPort = 8000;
    options.grpcPort = 9000;  // the ports of Istio's sample ext-authz server
  }
  if (!flags.http.empty()) {
    if (auto r = readAddress(flags.http, "--http", options.host, options.httpPort); !r) {
      return fail(r.error());
    }
  }
  if (!flags.grpc.empty()) {
    if (auto r = readAddress(flags.grpc, "--grpc", options.host, options.grpcPort); !r) {
      return fail(r.error());
    }
  }
  if (flags.rules.empty()) {
    options.rules = model::sampleExtAuthzRules();
  } else {
    auto rules = model::loadExtAuthzRules(flags.rules);
    if (!rules) return fail(rules.error());
    options.rules = std::move(*rules);
  }
  if (!flags.quiet) {
    options.accessLog = [mutex = std::make_shared<std::mutex>()](const std::string& line) {
      std::lock_guard lock(*mutex);
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fputc('\n', stdout);
      std::fflush(stdout);
    };
  }
  auto server = extauthz::ExtAuthzServer::start(std::move(options));
  if (!server) {
    const int code = fail(server.error());
    return server.error().kind == ErrorKind::kInvalidInput ? code : 3;
  }
  if ((*server)->httpPort() != 0) {
    std::cout << "ext-authz mock: HTTP checks on " << (*server)->host() << ":"
              << (*server)->httpPort() << "\n";
  }
  if ((*server)->grpcPort() != 0) {
    std::cout << "ext-authz mock: gRPC envoy.service.auth.v3.Authorization on " << (*server)->host()
              << ":" << (*server)->grpcPort() << "\n";
  }
  std::cout << std::flush;
  int signal = 0;
  sigwait(&stopSignals, &signal);
  std::cerr << "egresslab mock extauthz: " << (signal == SIGINT ? "SIGINT" : "SIGTERM")
            << ", stopping\n";
  (*server)->stop();
  return 0;
}

void addMockExtAuthzCommand(CLI::App& root, CommandTable& table) {
  CLI::App* mock = parentCommand(root, "mock", "Run a mock upstream by itself");
  CLI::App* extauthz = mock->add_subcommand(
      "extauthz", "Serve the external authorization mock: Envoy ext_authz over HTTP and gRPC");
  auto flags = std::make_shared<MockExtAuthzFlags>();
  extauthz->add_option("--http", flags->http,
                       "HOST:PORT for HTTP checks (loopback; default 127.0.0.1:8000 when neither "
                       "--http nor --grpc is given)");
  extauthz->add_option("--grpc", flags->grpc,
                       "HOST:PORT for gRPC Authorization/Check (loopback; default "
                       "127.0.0.1:9000 when neither is given)");
  extauthz->add_option("--rules", flags->rules,
                       "YAML rules file (docs/scenarios.md); default: Istio's sample server rules");
  extauthz->add_flag("--quiet", flags->quiet, "Do not print a line per check");
  table.on(extauthz, [flags] { return runMockExtAuthz(*flags); });
}

// After `mock httpbin` (order 80), which creates the `mock` parent.
const CommandRegistration kMockExtAuthzCommand(81, addMockExtAuthzCommand);

}  // namespace
}  // namespace egresslab::cli
