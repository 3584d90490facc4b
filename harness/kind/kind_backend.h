// The `kind` backend: runs a scenario on a real kind cluster with Istio installed by istioctl
// (issue 6, docs/kind.md). Everything it does to the cluster is a command through the
// CommandRunner seam, so tests substitute RecordingCommandRunner or the fakes in mocks/fakes.
//
// The work is split in two:
//   buildPlan()  — pure: scenario + options → the ordered commands of `up` (argv, stdin, what
//                  each waits for). `--dry-run` prints exactly this list (plus the step and
//                  teardown commands), and up() executes exactly this list.
//   KindBackend  — executes the plan, runs the upstream mocks in-process on the kind network's
//                  gateway address, keeps port-forwards alive, runs steps, tears down.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/backend/backend.h"
#include "harness/core/error.h"
#include "harness/kind/command_runner.h"
#include "harness/model/scenario.h"

namespace egresslab::kind {

// Where each planned command belongs; up() treats some phases specially.
enum class Phase {
  kPreflight,    // doctor checks: up() runs runPreflight() instead of these lines
  kCluster,      // kind create / export kubeconfig, CoreDNS wait
  kIstio,        // control plane by version (docs/istio-behaviour.md §10)
  kNamespaces,   // kubectl create ns (AlreadyExists is fine)
  kGateways,     // istioctl manifest generate -f X | kubectl apply -f -
  kSecrets,      // kubectl create secret tls
  kManifests,    // kubectl apply -f - with vars applied
  kInjection,    // kubectl label namespace … istio-injection=enabled
  kWorkloads,    // fixtures/kind/sleep.yaml per workload
  kTrust,        // the run's public CA mounted as the OS bundle of gateways and workloads
  kUpstreams,    // kind network gateway address, CoreDNS hosts block
  kReadiness,    // rollout status / wait with deadlines
  kAnalyze,      // istioctl analyze --all-namespaces (output kept, never fatal)
  kPortForward,  // long-running kubectl port-forward
};

// How up() builds a command's stdin when it depends on what an earlier command printed.
enum class StdinSource {
  kLiteral,          // Command::stdinData as planned
  kPatchedCorefile,  // the captured Corefile with the scenario's hosts block (docs/kind.md)
};

// A file a planned command reads, relative to the run directory (an IstioOperator with vars
// applied, helm values). up() writes it before the command runs; --plan-dir writes it too.
struct PlanFile {
  std::filesystem::path relative;
  std::string content;
};

struct PlannedCommand {
  Phase phase = Phase::kCluster;
  // One command, or the stages of a pipeline (`istioctl manifest generate … | kubectl apply`).
  std::vector<Command> stages;
  std::string stdinDescription;  // what stdin carries, e.g. "fixtures/seed/operator.yaml"
  std::string waitsFor;          // what the command waits for, empty when it does not wait
  StdinSource stdinSource = StdinSource::kLiteral;
  // up() stores the (trimmed) stdout under this name; later argv/stdin may say ${NAME}.
  std::string captureAs;
  // A failure whose stderr contains this is fine (`kubectl create ns` → "AlreadyExists").
  std::string okIfStderrContains;
  bool fatal = true;            // false: a failure is recorded, the run goes on (istioctl analyze)
  std::vector<PlanFile> files;  // written into the run directory before the command runs
  // >= 0: not a process — up() starts the mock of scenario.upstreams[mockUpstream] in-process
  // on ${KIND_GATEWAY}; the argv is the equivalent `egresslab mock httpbin` (plan.sh runs it).
  int mockUpstream = -1;
  // Run once per node of the cluster (${NODE} = each name in the captured ${NODES}): the DNAT
  // rules that send a server's address to its mock (docs/kind.md "Upstreams").
  bool perNode = false;

  // argv joined by spaces; pipeline stages joined by " | ".
  [[nodiscard]] std::string display() const;
};

struct KindOptions {
  std::string clusterName;              // empty: the scenario's cluster.name
  std::filesystem::path clusterConfig;  // empty: the scenario's cluster.config
  std::optional<std::string> context;   // reuse the cluster behind this kubeconfig context
  bool reuseCluster = false;            // reuse an existing kind cluster of that name
  bool keep = false;                    // do not delete the cluster at teardown
  // The run's private directory: kubeconfig, IstioOperators with vars applied, secrets' keys.
  std::filesystem::path runDir = "${RUN_DIR}";
  // Where sleep.yaml lives (fixtures/kind in the source tree).
  std::filesystem::path fixturesDir;
  std::string kindGatewayPlaceholder = "${KIND_GATEWAY}";
  // Upstream server i's mock listens on the kind network's gateway address at mockPortBase + i
  // (each server at its own address is DNATed to its own port); 0 = an ephemeral port each, read
  // back at run time as ${MOCK_PORT_i} (tests).
  std::uint32_t mockPortBase = 20000;
  std::chrono::seconds clusterWait{120};
  std::chrono::seconds readinessTimeout{300};
  std::chrono::seconds commandTimeout{120};
  // Added to a waiting command's own --timeout/--wait, so kubectl can report the expiry itself
  // before the runner kills it.
  std::chrono::seconds waitSlack{30};
  // After starting the port-forwards, wait (with this deadline) until each local port accepts
  // connections; zero = do not wait (tests with the recording runner have no listener).
  std::chrono::milliseconds portForwardReady{15000};
  // --dry-run --plan-dir: the directory the plan is written to (plan.sh, every document
  // applied, the scripts, the run's certificates); empty = print only.
  std::filesystem::path planDir;
  bool planDirPerScenario = false;  // several scenarios: each plan in planDir/<scenario name>/
};

// The fixtures/kind directory of this build (compile-time default, EGRESSLAB_FIXTURES_DIR wins).
std::filesystem::path defaultFixturesDir();

// The kubeconfig every kubectl/istioctl call of a run uses (KUBECONFIG, not shown in argv).
std::filesystem::path kubeconfigPath(const KindOptions& options);

// The ConfigMap holding the run's public CA as a bundle, and the path the OS bundle of the
// proxy and curl images lives at (docs/istio-behaviour.md §4: "system" trust on 1.21+).
inline constexpr std::string_view kPublicCaConfigMap = "egresslab-public-ca";
inline constexpr std::string_view kSystemBundlePath = "/etc/ssl/certs/ca-certificates.crt";

// The file in the run directory holding the public CA's certificate (PEM); up() writes it
// before the first command, and the same CA signs the upstream mocks' certificates.
std::filesystem::path publicCaPath(const KindOptions& options);

// The `kubectl patch deployment --type=json` document that mounts the public-CA ConfigMap over
// the OS bundle in containers[0]. `appendToExisting`: the pod spec already has volumes and the
// container volumeMounts (Istio's gateways), so ours are appended; otherwise (our sleep.yaml,
// which has neither) the arrays are created.
std::string trustBundlePatch(bool appendToExisting);

// Pure: the commands of up() in order (issue 6 §2). Reads manifests and fixtures from disk
// (vars applied to their text); no process is started.
Result<std::vector<PlannedCommand>> buildPlan(const model::Scenario& scenario,
                                              const KindOptions& options);

// The proxies whose access logs tell `via` and `flags`: the gateways
// model::deriveGatewayWorkloads finds in the IstioOperators (deployment name = component
// name; a listed gateway without `enabled: true` is not installed) and injected workloads'
// sidecars.
struct ProxyRef {
  std::string ns;
  std::string deployment;  // also the proxy's name in `via`
  bool sidecar = false;    // logs of container istio-proxy
};
std::vector<ProxyRef> proxiesOf(const model::Scenario& scenario);

// The Istio version the run installs, as precisely as the files say it: the control-plane
// IstioOperator's `tag` when it has the scenario's major.minor (istio.version "1.22" with
// tag 1.22.3 → 1.22.3), else istio.version. Preflight's istioctl hint names it.
model::IstioVersion installVersion(const model::Scenario& scenario);

// The control port `egresslab mock httpbin --control` gets for scenario.upstreams[index] in
// a written plan (fault commands POST there).
std::uint32_t mockControlPort(std::size_t index);

// The port scenario.upstreams[index]'s mock listens on ("${MOCK_PORT_i}" with mockPortBase 0).
std::string mockListenPort(const KindOptions& options, std::size_t index);

// The address each upstream server answers at, index for index — the simulator's
// (mesh::upstreamAddresses): its `address:`, an unclaimed A record of its host's `dns:`, else one
// the run chooses (docs/design.md "More than one server per upstream").
std::vector<std::string> serverAddresses(const model::Scenario& scenario);
// Every A record of every name the world's DNS answers: the scenario's `dns:` lists and each
// upstream host's servers (mesh::dnsAnswersWithUpstreams). CoreDNS's hosts block holds exactly
// these.
std::map<std::string, std::vector<std::string>> worldDnsAnswers(const model::Scenario& scenario);

// docker exec ${NODE} iptables -t nat OP PREROUTING … -d ADDRESS/32 -p tcp --dport PORT -j DNAT
// --to-destination ${KIND_GATEWAY}:MOCKPORT for server `index`; OP is -I (insert first) or -D.
std::vector<std::string> dnatArgv(const std::string& op, const model::Scenario& scenario,
                                  const std::vector<std::string>& addresses,
                                  const KindOptions& options, std::size_t index);

// The JSON a planned upstream fault POSTs to the mock's control port, or nullopt for an
// unknown action.
std::optional<std::string> upstreamFaultJson(const model::FaultSpec& fault);

// plan.sh for these lines: each entry a step, in order (see docs/kind.md "--plan-dir").
struct PlanStep {
  std::string description;
  std::string shell;  // the step's shell text, ${RUN_DIR}/${KIND_GATEWAY}/… left to the shell
};
// `ownKubeconfig`: export KUBECONFIG=$RUN_DIR/kubeconfig (false with --context: the commands
// name the user's context and use the user's kubeconfig).
std::string planScript(const std::string& scenarioName, const std::vector<PlanStep>& steps,
                       bool ownKubeconfig = true);
// A command as one shell line: argv quoted so that ${RUN_DIR}, ${KIND_GATEWAY},
// ${REQUEST_ID} and ${EGRESSLAB} expand and nothing else does.
std::string shellLine(const std::vector<std::string>& argv);

// The argv of a pod curl: kubectl exec -n NS deploy/NAME -c NAME -- curl … -H x-request-id:ID
// -w '\n%{local_ip}:%{local_port} %{http_code} %{exitcode}' (curl's own end joins the first TCP
// hop, docs/design.md "Every hop observable").
std::vector<std::string> podCurlArgv(const curl::CurlCommand& command, const std::string& from,
                                     const std::string& requestId);

// The status and exit code a pod curl printed with podCurlArgv's -w suffix; the body is the
// output before it. nullopt when the suffix is missing (kubectl itself failed).
struct PodCurlOutput {
  int status = 0;
  int exitCode = 0;
  std::string body;
  std::string localAddress;  // "IP:port" of curl's end; "" when it never connected
};
std::optional<PodCurlOutput> parsePodCurlOutput(const std::string& out);

// One access-log line of Envoy's TEXT format (1.8 … 1.28, §9): flags and start time, if the
// line carries `requestId` in its quoted x-request-id field.
struct AccessLogMatch {
  std::string startTime;  // "2020-12-16T10:00:00.000Z"
  int responseCode = 0;
  std::string flags;  // RESPONSE_FLAGS column ("-" when none)
  std::string line;
};
std::optional<AccessLogMatch> matchAccessLogLine(const std::string& line,
                                                 const std::string& requestId);

// The kind backend. Not thread-safe: one backend per scenario (the runner makes one each).
class KindBackend final : public backend::Backend {
 public:
  KindBackend(std::shared_ptr<CommandRunner> runner, KindOptions options);
  ~KindBackend() override;

  std::string_view name() const override { return "kind"; }
  Result<void> up(const model::Scenario& scenario, const backend::RunOptions& options) override;
  std::string expandCurlLine(const std::string& line) const override;
  Result<report::Observation> curl(const backend::CurlRequest& request) override;
  Result<void> fault(const model::FaultSpec& fault) override;
  // docs/kind.md "Loads": from a pod, a shell loop in the pod (kind_load.h); from the host, the
  // in-process generator through the port-forwards. servedBy from the mocks' accounting.
  Result<void> startLoad(const backend::LoadRequest& request) override;
  Result<backend::LoadRun> stopLoad(const std::string& loadName) override;
  std::vector<std::string> endpoints() const override;
  std::vector<std::string> plan() const override { return planLines_; }
  void down() override;

  // Commands run for diagnosis and their output (istioctl analyze, and on failure pods,
  // events, logs, proxy-config dumps); also written under runDir/diagnostics/.
  struct Diagnostic {
    std::string command;
    std::string output;
  };
  [[nodiscard]] const std::vector<Diagnostic>& collectedDiagnostics() const { return diagnostics_; }
  // backend::Backend: every diagnostic as "$ command" followed by its output.
  std::vector<std::string> diagnostics() const override;
  [[nodiscard]] const KindOptions& options() const { return options_; }
  // How long curl() looks for a request's access-log lines (Envoy flushes about every 1 s).
  void setAccessLogWait(std::chrono::milliseconds wait);

 private:
  // A command for the cluster (the run's kubeconfig or --context) and its plan.sh text ("" =
  // the argv as one shell line).
  struct ClusterStep {
    Command command;
    std::string shell;
  };
  Command clusterCommand(std::vector<std::string> argv, std::chrono::milliseconds timeout) const;
  // Runs the commands in order (error at the first failure), or plans them in a dry run.
  Result<void> runOrPlan(const std::vector<ClusterStep>& steps, const std::string& description);
  // scale deploy/NAME to 0 (kill) or 1 (restore), then rollout status.
  std::vector<ClusterStep> gatewayCommands(const std::string& ns, const std::string& name,
                                           bool up) const;
  // `dns` faults (docs/kind.md "World faults"): our Corefile block with these answers, applied,
  // then CoreDNS restarted.
  Result<void> dnsFault(const model::FaultSpec& fault);
  std::vector<ClusterStep> dnsCommands(
      const std::map<std::string, model::FaultSpec::DnsAnswer>& overrides);
  Result<void> applyDnsAnswers(const std::string& description);
  // A fault's ttl: `end` runs after the ttl (scaled by --time-scale) on a thread of its own,
  // under the fault lock, unless down() comes first; a dry run plans `plan` in the background.
  void scheduleTtlEnd(const model::FaultSpec& fault, const std::vector<ClusterStep>& plan,
                      std::function<void()> end);
  void collectDiagnosticsOnFailure();
  // Dry run: records a step (console line and plan.sh text) and rewrites plan.sh.
  Result<void> planStep(const std::string& display, const std::string& description,
                        const std::string& shell);
  Result<void> writePlanScript();
  struct State;
  std::shared_ptr<CommandRunner> runner_;
  KindOptions options_;
  std::vector<std::string> planLines_;
  std::vector<Diagnostic> diagnostics_;
  std::unique_ptr<State> state_;
};

// A ProcessCommandRunner on PATH with these options; unset context/reuse/cluster name fall back
// to EGRESSLAB_KIND_CONTEXT, EGRESSLAB_KIND_REUSE_CLUSTER=1 and EGRESSLAB_KIND_CLUSTER.
Result<std::unique_ptr<backend::Backend>> makeKindBackend(KindOptions options);
Result<std::unique_ptr<backend::Backend>> makeKindBackend();

}  // namespace egresslab::kind
