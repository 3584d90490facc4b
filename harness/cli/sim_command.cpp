// `egresslab sim up SCENARIO [--time-scale F] [--istio-version V] [--control HOST:PORT]`: runs the
// scenario's simulated mesh (harness/sim) with the scenario's port-forwards bound on their
// LITERAL local ports of 127.0.0.1, prints the endpoints, the scenario CA, the public CA the
// upstream certificates chain to, the fault-control API (harness/sim/fault_api.h) and a sample
// curl, and serves until SIGINT or SIGTERM — so users can rehearse failures with their own curl
// (docs/cli.md). Every fault is undone before it exits.
#include <pthread.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "harness/cli/command.h"
#include "harness/model/loader.h"
#include "harness/model/version.h"
#include "harness/sim/fault_api.h"
#include "harness/sim/sim_mesh.h"

namespace egresslab::cli {
namespace {

struct SimUpFlags {
  std::string scenario;
  double timeScale = 1.0;
  std::string istioVersion;
  std::string control = "127.0.0.1:0";
  std::string controlToken;
};

// "HOST:PORT" or "[V6]:PORT" of --control.
std::optional<std::pair<std::string, int>> splitHostPort(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string portText = text.substr(colon + 1);
  if (portText.empty() || portText.size() > 5 ||
      portText.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const int port = std::stoi(portText);
  if (port > 65535) return std::nullopt;
  return std::pair{host, port};
}

int simUpFail(const Error& error, int code) {
  std::cerr << "egresslab sim up: " << error.str() << "\n";
  return code;
}

// A curl line that exercises the first HTTPS (else HTTP) port-forward, using the first step's
// Host when the scenario has none better to offer.
std::string sampleCurl(const model::Scenario& sc, const std::string& caPath) {
  if (sc.portForwards.empty()) return {};
  const model::PortForwardSpec* pick = &sc.portForwards.front();
  for (const auto& pf : sc.portForwards) {
    if (pf.remote == 443) pick = &pf;
  }
  std::string host = "localhost";
  if (!sc.secrets.empty() && !sc.secrets.front().hosts.empty()) host = sc.secrets.front().hosts[0];
  if (pick->remote == 443) {
    return "curl -sS --resolve " + host + ":" + std::to_string(pick->local) +
           ":127.0.0.1 --cacert " + caPath + " https://" + host + ":" +
           std::to_string(pick->local) + "/status/200";
  }
  return "curl -sS -H 'Host: " + host + "' http://127.0.0.1:" + std::to_string(pick->local) +
         "/status/200";
}

int runSimUp(const SimUpFlags& flags) {
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  auto scenario = model::loadScenario(flags.scenario);
  if (!scenario) return simUpFail(scenario.error(), exitCodeFor(scenario.error().kind));
  if (!flags.istioVersion.empty()) {
    auto v = model::IstioVersion::parse(flags.istioVersion);
    if (!v) return simUpFail(v.error(), 2);
    scenario->istioVersion = *v;
  }
  sim::SimOptions options;
  options.timeScale = flags.timeScale;
  options.bindLiteralPortForwards = true;
  const auto started = std::chrono::steady_clock::now();
  auto mesh = sim::SimMesh::start(*scenario, options);
  const auto startMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  if (!mesh) {
    const int code = mesh.error().kind == ErrorKind::kInvalidInput ? 2 : 3;
    return simUpFail(mesh.error(), code);
  }
  const auto control = splitHostPort(flags.control);
  if (!control) {
    (*mesh)->stop();
    return simUpFail(invalidInput("--control must be HOST:PORT, e.g. 127.0.0.1:15000").error(), 2);
  }
  std::string token = flags.controlToken;
  if (const char* env = std::getenv("EGRESSLAB_CONTROL_TOKEN"); token.empty() && env != nullptr) {
    token = env;
  }
  auto api = sim::startFaultApi(**mesh, *scenario,
                                {.host = control->first, .port = control->second, .token = token});
  if (!api) {
    (*mesh)->stop();
    return simUpFail(api.error(), api.error().kind == ErrorKind::kInvalidInput ? 2 : 3);
  }
  std::cout << "simulated mesh \"" << scenario->name << "\" (Istio " << scenario->istioVersion.str()
            << ") is up (mesh start " << startMs << " ms)\n";
  for (const auto& e : (*mesh)->endpoints()) std::cout << "  " << e << "\n";
  std::cout << "fault control: " << (*api)->url()
            << "/faults (GET the state, POST a fault as a scenario step writes it, DELETE ends "
               "all; JSON, loopback only)\n";
  const std::string sample = sampleCurl(*scenario, (*mesh)->scenarioCaPath().string());
  if (!sample.empty()) std::cout << "try:\n  " << sample << "\n";
  std::cout << "Ctrl-C to stop\n" << std::flush;

  int signal = 0;
  sigwait(&stopSignals, &signal);
  std::cerr << "egresslab sim up: " << (signal == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping\n";
  (*api)->stop();
  (*mesh)->undoFaults();  // faults end with the rehearsal
  (*mesh)->stop();
  return 0;
}

void addSimUpCommand(CLI::App& root, CommandTable& table) {
  auto flags = std::make_shared<SimUpFlags>();
  CLI::App* up =
      parentCommand(root, "sim", "The loopback simulator: run a mesh, inspect its config")
          ->add_subcommand(
              "up", "Keep the simulated mesh running on the scenario's literal port-forward ports");
  up->add_option("scenario", flags->scenario, "scenario file")->required();
  up->add_option("--time-scale", flags->timeScale,
                 "run probe clocks and Envoy's warming this many times faster")
      ->capture_default_str();
  up->add_option("--istio-version", flags->istioVersion, "simulate this Istio version instead");
  up->add_option("--control", flags->control,
                 "HOST:PORT of the fault-control API (loopback only; port 0 = any free port)")
      ->capture_default_str();
  up->add_option("--control-token", flags->controlToken,
                 "every fault-control request must carry Authorization: Bearer TOKEN (default: "
                 "$EGRESSLAB_CONTROL_TOKEN)");
  table.on(up, [flags] { return runSimUp(*flags); });
}

const CommandRegistration kSimUpRegistration{61, addSimUpCommand};

}  // namespace
}  // namespace egresslab::cli
