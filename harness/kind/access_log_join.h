// Joining the access-log lines of one curl into its hops on a real cluster (docs/design.md
// "Every hop observable, HTTP or not"; docs/istio-behaviour.md §R9), as the simulator does:
//   - HTTP lines by x-request-id;
//   - TCP lines ("- - -", no request id) by connection: the first proxy's
//     DOWNSTREAM_REMOTE_ADDRESS is curl's own local address, each next hop's is the previous
//     hop's UPSTREAM_LOCAL_ADDRESS (to a fixed point: a TCP hop may follow an HTTP hop).
// And when the path is complete: every hop whose UPSTREAM_HOST is the pod of another proxy we
// read logs from needs that proxy's line (the one whose downstream remote address is the hop's
// upstream local address), so the backend waits for every proxy on the path, not the first.
// Pure functions; KindBackend::curl feeds them `kubectl logs` output (docs/kind.md "Steps").
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace egresslab::kind {

// One access-log line of Envoy's TEXT format as Istio sets it, 1.8 … 1.28 (§9, §R9). Every
// field the join needs; "-" fields are "".
struct AccessLogRecord {
  std::string proxy;         // who logged it (the Deployment's name, as in `via`)
  std::size_t source = 0;    // the proxy's position in the read order (a tie-break only)
  std::string startTime;     // "2020-12-16T10:00:00.000Z"
  int responseCode = 0;      // 0 on TCP lines
  std::string flags;         // RESPONSE_FLAGS ("-" when none)
  bool tcp = false;          // "- - -": a tcp_proxy line, joined by connection
  std::string requestId;     // x-request-id
  std::string upstreamHost;  // "IP:port" the proxy sent to
  std::string upstreamLocal;
  std::string downstreamLocal;
  std::string downstreamRemote;
  std::string line;
};

// nullopt for a line that is not an access-log line (Envoy's own messages, blank lines).
std::optional<AccessLogRecord> parseAccessLogRecord(std::string_view line);

struct HopJoinInput {
  std::string requestId;
  // curl's own end of its first connection ("10.244.0.7:51234"), "" when curl never connected
  // (then no proxy can be on the path).
  std::string curlLocalAddress;
  bool curlConnected = true;
  // The caller's sidecar, when curl ran in an injected pod: every connection it makes goes
  // through it, so it must have logged.
  std::optional<std::string> firstProxy;
  // Lines that started before this START_TIME are older requests' ("" = no bound).
  std::string notBefore;
  // Pod IP → the proxy running there ("" for a pod that is no proxy we read).
  std::map<std::string, std::string> proxyByIp;
};

struct JoinedHops {
  std::vector<AccessLogRecord> hops;  // in hop order
  // Proxies on the path that have not logged yet (Envoy flushes about once a second; a TCP
  // line is written when its connection ends). Empty: the path is complete.
  std::vector<std::string> waitingFor;
};

JoinedHops joinHops(const std::vector<AccessLogRecord>& lines, const HopJoinInput& input);

// The IP of "IP:port" ("[v6]:port" keeps the brackets off); "" for "".
std::string addressIp(std::string_view address);

// `kubectl get pods -A -o jsonpath=…` lines "NS/POD IP" → pod IP → proxy name, for the proxies
// in `proxies` ("NS/DEPLOYMENT" → name in via); a Deployment's pods are named
// DEPLOYMENT-<template hash>-<suffix>. Pods of no listed proxy map to "".
std::map<std::string, std::string> proxyByPodIp(std::string_view podList,
                                                const std::map<std::string, std::string>& proxies);

// The jsonpath argument that prints those lines.
inline constexpr std::string_view kPodIpJsonPath =
    "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.status.podIP}{\"\\n\"}"
    "{end}";

}  // namespace egresslab::kind
