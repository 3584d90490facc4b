// `egresslab mock httpbin`: serves the go-httpbin compatible mock upstream (mocks/httpbin) until
// SIGINT or SIGTERM, printing one access-log line per request to stdout. With --control, a
// second listener takes fault-control requests (docs/httpbin.md): loopback only, unless a
// bearer token is given with --control-token or EGRESSLAB_CONTROL_TOKEN.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>

#include "harness/cli/command.h"
#include "mocks/httpbin/control_server.h"
#include "mocks/httpbin/httpbin_server.h"

namespace egresslab::cli {
namespace {

struct MockHttpbinFlags {
  std::string listen = "127.0.0.1:8080";
  std::string tlsCert;
  std::string tlsKey;
  std::string control;
  std::string controlToken;
  std::string hostname = "httpbin";
  bool quiet = false;
};

struct HostPort {
  std::string host;
  int port = 0;
};

// "HOST:PORT", "[V6]:PORT" or ":PORT" (all addresses).
Result<HostPort> parseHostPort(const std::string& text, const std::string& flag) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return invalidInput(flag + " expects HOST:PORT, got \"" + text + "\"");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  const std::string portText = text.substr(colon + 1);
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(portText, &used);
    if (used != portText.size()) port = -1;
  } catch (const std::exception&) {
    port = -1;  // std::stoi: not a number or out of range; reported below
  }
  if (port < 0 || port > 65535) {
    return invalidInput(flag + ": port \"" + portText + "\" is not a number in [0, 65535]");
  }
  return HostPort{host, port};
}

Result<std::string> readFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalidInput(flag + ": cannot read \"" + path + "\"");
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

Result<httpbin::HttpbinOptions> toOptions(const MockHttpbinFlags& flags) {
  auto listen = parseHostPort(flags.listen, "--listen");
  if (!listen) return std::unexpected(listen.error());
  httpbin::HttpbinOptions options;
  options.host = listen->host;
  options.port = listen->port;
  options.hostname = flags.hostname;
  if (flags.tlsCert.empty() != flags.tlsKey.empty()) {
    return invalidInput("--tls-cert and --tls-key go together");
  }
  if (!flags.tlsCert.empty()) {
    auto cert = readFile(flags.tlsCert, "--tls-cert");
    if (!cert) return std::unexpected(cert.error());
    auto key = readFile(flags.tlsKey, "--tls-key");
    if (!key) return std::unexpected(key.error());
    options.tls = pki::KeyPair{.certPem = *cert, .keyPem = *key, .chainPem = *cert};
  }
  if (!flags.quiet) {
    options.accessLog = [mutex = std::make_shared<std::mutex>()](const std::string& line) {
      std::lock_guard lock(*mutex);
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fputc('\n', stdout);
      std::fflush(stdout);
    };
  }
  return options;
}

int fail(const Error& error) {
  std::cerr << "egresslab mock httpbin: " << error.str() << "\n";
  return 2;
}

int runMockHttpbin(const MockHttpbinFlags& flags) {
  // Block the stop signals before any server thread exists, so every thread inherits the mask
  // and sigwait below is the only receiver.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  auto options = toOptions(flags);
  if (!options) return fail(options.error());
  auto server = httpbin::HttpbinServer::start(std::move(*options));
  if (!server) return fail(server.error());
  std::unique_ptr<httpbin::FaultControlServer> control;
  if (!flags.control.empty()) {
    auto address = parseHostPort(flags.control, "--control");
    if (!address) return fail(address.error());
    std::string token = flags.controlToken;
    if (const char* env = std::getenv("EGRESSLAB_CONTROL_TOKEN"); token.empty() && env != nullptr) {
      token = env;
    }
    auto started = httpbin::FaultControlServer::start(
        **server, {.host = address->host, .port = address->port, .token = token});
    if (!started) return fail(started.error());
    control = std::move(*started);
  }
  std::cout << "httpbin mock \"" << (*server)->hostname() << "\" listening on " << (*server)->url()
            << "\n";
  if (control) std::cout << "fault control on " << control->url() << "/faults\n";
  std::cout << std::flush;

  int signal = 0;
  sigwait(&stopSignals, &signal);
  std::cerr << "egresslab mock httpbin: " << (signal == SIGINT ? "SIGINT" : "SIGTERM")
            << ", stopping\n";
  if (control) control->stop();
  (*server)->stop();
  return 0;
}

void addMockCommand(CLI::App& root, CommandTable& table) {
  CLI::App* mock = root.add_subcommand("mock", "Run a mock upstream by itself");
  mock->require_subcommand(1);
  CLI::App* httpbin =
      mock->add_subcommand("httpbin", "Serve the go-httpbin compatible mock (docs/httpbin.md)");
  auto flags = std::make_shared<MockHttpbinFlags>();
  httpbin->add_option("--listen", flags->listen, "HOST:PORT to serve on")->capture_default_str();
  httpbin->add_option("--tls-cert", flags->tlsCert, "PEM certificate chain: serve HTTPS");
  httpbin->add_option("--tls-key", flags->tlsKey, "PEM private key for --tls-cert");
  httpbin->add_option("--control", flags->control,
                      "HOST:PORT of the fault-control listener (GET/POST /faults); loopback "
                      "addresses only unless --control-token is given");
  httpbin->add_option("--control-token", flags->controlToken,
                      "Bearer token every fault-control request must carry; allows any "
                      "--control address (default: $EGRESSLAB_CONTROL_TOKEN)");
  httpbin->add_option("--hostname", flags->hostname, "The name /hostname answers")
      ->capture_default_str();
  httpbin->add_flag("--quiet", flags->quiet, "Do not print the access log");
  table.on(httpbin, [flags] { return runMockHttpbin(*flags); });
}

const CommandRegistration kMockCommand(80, addMockCommand);

}  // namespace
}  // namespace egresslab::cli
