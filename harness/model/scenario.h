// A scenario file (docs/design.md "Scenario file"), loaded and validated.
//
// Paths are absolute (resolved against the scenario file's directory); `vars` are applied to
// the scenario's own strings and to its manifests; `${ca}` in curl lines is left for the
// backend, which knows where the run's scenario CA lives.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/core/error.h"
#include "harness/model/condition.h"
#include "harness/model/ext_authz_server.h"
#include "harness/model/resources.h"
#include "harness/model/version.h"

namespace egresslab::model {

// An exact value or a `/regex/` (RE2 syntax as in Istio, full match), as expectations allow.
struct Matcher {
  std::string text;  // the exact value, or the regex body without slashes
  bool isRegex = false;

  static Result<Matcher> parse(const std::string& written, SourcePos where = {});
  [[nodiscard]] bool matches(const std::string& value) const;
  [[nodiscard]] std::string str() const;  // as written: "x" or "/x/"
};

struct BodyExpectation {
  std::vector<std::string> contains;   // `contains:` a string or a list of strings
  std::optional<nlohmann::json> json;  // `json:` a subset the response JSON must contain
};

struct Expectation {
  std::optional<int> exit;                 // curl exit code; when absent: 0 unless stated otherwise
  std::vector<int> status;                 // acceptable HTTP codes; empty = not checked
  std::map<std::string, Matcher> headers;  // lower-cased name → value
  std::optional<BodyExpectation> body;
  std::optional<std::vector<std::string>> via;  // proxies crossed, in order
  std::map<std::string, Matcher> flags;         // proxy → response flags (exact or regex)
  SourcePos pos;
};

struct Eventually {
  std::chrono::milliseconds within{30000};
  std::chrono::milliseconds every{1000};
  int successes = 1;  // consecutive passing attempts required
};

// A world fault (docs/scenarios.md "Faults"; docs/design.md "More than one server per upstream").
//   upstream/NAME          one server, by its `name`
//   upstream/HOST          every server of that host
//   upstream/HOST:PORT     every server of that host and port
//   upstream/ADDRESS:PORT  the server answering at that address (an explicit `dns:` or `address`)
//   gateway/NS/NAME        a gateway pod (kill|restore)
//   dns/NAME               what the world's DNS answers for NAME (action dns)
struct FaultSpec {
  enum class TargetKind { kUpstream, kGateway, kDns };
  TargetKind targetKind = TargetKind::kUpstream;
  std::string target;        // as written: "upstream/httpbin.org[:443]" or "gateway/NS/NAME"
  std::string upstreamHost;  // kUpstream: the part before any ":PORT" (a name, host or IPv4)
  std::optional<std::uint32_t> upstreamPort;
  std::string gatewayNamespace;  // kGateway
  std::string gatewayName;
  std::string dnsName;  // kDns, lower-case
  // upstream: down|up|latency|status|reset|bad-cert|cert|close|blackhole; gateway:
  // kill|restore; dns: dns|up
  std::string action;
  int ms = 0;         // latency
  int code = 0;       // status
  int percent = 100;  // status
  // action dns: `answer: nxdomain | servfail | [ADDRESS, …]`.
  struct DnsAnswer {
    enum class Kind { kNxdomain, kServfail, kAddresses };
    Kind kind = Kind::kNxdomain;
    std::vector<std::string> addresses;  // kAddresses, IPv4, at least one
    friend bool operator==(const DnsAnswer&, const DnsAnswer&) = default;
  };
  std::optional<DnsAnswer> answer;
  // action cert: `cert: expired | wrong-host | rotate`.
  std::string cert;
  // `ttl:` the fault ends by itself this long after it began (scenario time, scaled by
  // --time-scale); absent = it lasts until undone or the scenario ends.
  std::optional<std::chrono::milliseconds> ttl;
  SourcePos pos;
};

// `load: {start: NAME, from: NS/POD, curl: …, rate: N, concurrency: M}` or `load: {stop: NAME}`
// (docs/scenarios.md "Load and SLOs"): the curl line in the background at `rate` requests per
// real second (open model), at most `concurrency` in flight; other steps run meanwhile.
struct LoadSpec {
  enum class Action { kStart, kStop };
  Action action = Action::kStart;
  std::string name;
  std::string curl;  // start: the command line, vars applied
  SourcePos curlPos;
  std::optional<std::string> from;  // start: "NS/POD"; absent = the host
  double rate = 0;                  // start: requests per second (real time)
  int concurrency = 64;             // start: in-flight cap; beyond it a request is dropped
  SourcePos pos;
};

// A `load.stop` step's `expect:` — conditions over every request of the load.
struct LoadExpectation {
  std::optional<Condition> successRate;       // share of 2xx/3xx answers, percent
  std::optional<Condition> p50, p90, p99;     // latency
  std::optional<Condition> errors;            // requests without a 2xx/3xx answer, count
  std::map<int, Condition> statuses;          // HTTP code → count
  std::map<std::string, Condition> servedBy;  // upstream `name` → share of requests, percent
  SourcePos pos;
};

struct Step {
  std::string name;
  SourcePos pos;
  std::optional<std::string> curl;  // the command line, vars applied
  SourcePos curlPos;
  std::optional<std::string> from;  // "NS/POD"; absent = the host
  std::optional<Expectation> expect;
  std::optional<Eventually> eventually;
  std::optional<FaultSpec> fault;
  std::optional<std::chrono::milliseconds> timeout;
  // Load and SLOs: a `load:` step (with `loadExpect` from `expect:` on a stop), or `wait:`.
  std::optional<LoadSpec> load;
  std::optional<LoadExpectation> loadExpect;
  std::optional<std::chrono::milliseconds> wait;  // scaled by --time-scale
};

struct SecretSpec {
  std::string name;
  std::string ns;
  std::vector<std::string> hosts;
  std::filesystem::path certFile;  // when given, used instead of minting
  std::filesystem::path keyFile;
  // `caCertificate`: the secret also carries a CA as `ca.crt`, which a Gateway server with
  // `tls.mode: MUTUAL` verifies client certificates against (Istio reads `ca.crt` from the
  // credential or a `<name>-cacert` secret; without one, MUTUAL has no CA). `true` = the run's
  // scenario CA; a path = that PEM file (caFile).
  bool caCertificate = false;
  std::filesystem::path caFile;
  SourcePos pos;
};

struct UpstreamSpec {
  std::string host;
  std::uint32_t port = 443;
  bool tls = true;
  std::string name;  // what /hostname answers; default: host
  // The IPv4 address this server answers at (several servers may share host:port, each at its
  // own address); "" = one chosen by the run (mesh::upstreamAddresses).
  std::string address;
  SourcePos pos;
};

struct WorkloadSpec {
  std::string name;
  std::string ns;
  std::optional<bool> injected;  // absent: the namespace's istio-injection label decides
  Labels labels;                 // default {app: name}
  std::string serviceAccount;    // default: name
  // The pod's locality "region/zone/subzone" (zone and subzone optional), as the node's
  // topology labels give it; "" = none (docs/istio-behaviour.md §R5).
  std::string locality;
  SourcePos pos;
};

struct PortForwardSpec {
  std::string serviceNamespace;
  std::string serviceName;
  std::uint32_t local = 0;
  std::uint32_t remote = 0;
  SourcePos pos;
};

struct ClusterSpec {
  std::string name = "egresslab";
  std::filesystem::path config;  // kind config; empty = kind's default
};

struct Scenario {
  std::filesystem::path file;  // absolute
  std::string name;
  std::string description;
  std::vector<std::string> labels;
  IstioVersion istioVersion;
  bool istioVersionFromFile = false;  // written in `istio.version` (else derived)
  // `istio.install` as written; the kind backend installs with installMethod().
  std::optional<InstallMethod> install;
  SourcePos installPos;
  std::map<std::string, std::string> vars;
  ClusterSpec cluster;
  std::vector<std::filesystem::path> manifests;  // absolute, in apply order
  std::vector<SecretSpec> secrets;
  std::vector<UpstreamSpec> upstreams;
  std::map<std::string, std::string> dns;  // host → IP (the first A record)
  // host → every A record, in order (a `dns:` value may be a list); same keys as `dns`.
  std::map<std::string, std::vector<std::string>> dnsAnswers;
  std::vector<WorkloadSpec> workloads;
  std::vector<PortForwardSpec> portForwards;
  std::vector<ExtAuthzServerSpec> extAuthz;  // external authorization servers (ext_authz_server.h)
  std::vector<Step> steps;
  std::optional<std::chrono::milliseconds> timeout;  // whole scenario
  ResourceSet resources;                             // the manifests, loaded with vars applied

  [[nodiscard]] bool hasFaults() const;
  // `istio.install`, else what the version's docs recommend (defaultInstallMethod).
  [[nodiscard]] InstallMethod installMethod() const {
    return install.value_or(defaultInstallMethod(istioVersion));
  }
};

// Whether an upstream fault target (upstreamHost, upstreamPort) names the server `u`, whose
// address is `address` (its explicit address; "" when the run chooses one): NAME or HOST without
// a port, HOST:PORT or ADDRESS:PORT with one.
bool faultTargetsServer(const FaultSpec& fault, const UpstreamSpec& u, std::string_view address);

// "upstream/crm-a down", "dns/crm.example dns nxdomain ttl 30000ms": a fault in one line
// (reports, logs).
std::string faultText(const FaultSpec& fault);

// Parses one fault written as YAML or JSON (`{"target":"upstream/crm-a","action":"down"}`), as a
// scenario step's `fault:` takes it; `origin` names the text in positions. The target is not
// checked against a scenario: see checkFaultTarget.
Result<FaultSpec> parseFaultSpec(std::string_view text, const std::string& origin);

// Whether `fault` names something `scenario` has (an upstream server, a gateway of its
// manifests, a DNS name it knows); an error at fault.pos otherwise.
Result<void> checkFaultTarget(const Scenario& scenario, const FaultSpec& fault);
// The explicit address of an upstream server (its `address:`, else its host's `dns:` entry), ""
// when the run chooses one.
std::string explicitAddressOf(const Scenario& scenario, const UpstreamSpec& upstream);

}  // namespace egresslab::model
