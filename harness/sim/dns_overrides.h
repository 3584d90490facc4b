// What the world's DNS answers during a `dns` fault (docs/scenarios.md "Faults"), and what an
// Envoy DNS cluster holds after such an answer (docs/istio-behaviour.md §R4).
//
// The simulator's resolvers (a pod's or the host's, for curl and probes) and its DNS clusters
// (STRICT_DNS, LOGICAL_DNS) consult DnsOverrides before the scenario's declared records. An
// override is in force from the fault until its ttl, an `up` on the name, or the end of the run.
//
// Simplification (docs/fidelity.md): Envoy sees a new answer at its next refresh — the previous
// answer's TTL, or dnsRefreshRate (5 s up to 1.13, 60 s since 1.14) after a failure; the
// simulator applies it at once, so scenarios should wait with `eventually`.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "harness/mesh/config.h"
#include "harness/model/scenario.h"

namespace egresslab::sim {

using DnsAnswer = model::FaultSpec::DnsAnswer;

// The hosts of a DNS cluster's endpoint after the current answer (§R4).
struct DnsClusterHosts {
  bool removed = false;  // STRICT_DNS after NXDOMAIN: no host left (503 UH no_healthy_upstream)
  // The addresses the hosts now have; nullopt = as the scenario declares them.
  std::optional<std::vector<std::string>> addresses;
};

// Pure: Envoy's rule for one answer. `answer` null = no override. `lastGood` = the addresses of
// the last successful overriding answer for the name (nullopt: the declared ones).
//  - NXDOMAIN (c-ares: success with no records): STRICT_DNS removes every host; LOGICAL_DNS
//    ignores empty answers and keeps its last address.
//  - SERVFAIL (a resolution failure): both keep their hosts.
//  - addresses: STRICT_DNS has one host per address; LOGICAL_DNS one, the first address.
DnsClusterHosts dnsClusterHosts(mesh::ClusterType type, const DnsAnswer* answer,
                                const std::optional<std::vector<std::string>>& lastGood);

// Pure: what a stub resolver (curl in a pod or on the host, getaddrinfo) gets: nullopt for
// NXDOMAIN and SERVFAIL (curl exit 6, "Could not resolve host"), else the first address.
std::optional<std::string> resolverAnswer(const DnsAnswer& answer);

// The live overrides of one run. Thread-safe.
class DnsOverrides {
 public:
  // Sets the answer for `name` (lower-case, no trailing dot); returns its generation, which
  // clear() needs so that a ttl never ends a later answer for the same name.
  std::uint64_t set(const std::string& name, const DnsAnswer& answer);
  // Removes the override of `name` if `generation` is still current (0 = whatever is current).
  // True when something was removed.
  bool clear(const std::string& name, std::uint64_t generation = 0);
  void clearAll();

  struct Entry {
    DnsAnswer answer;
    std::optional<std::vector<std::string>> lastGood;
    std::uint64_t generation = 0;
  };
  // The override of `name` (case-insensitive, a trailing dot ignored), if any.
  std::optional<Entry> find(std::string name) const;
  std::map<std::string, Entry> all() const;
  bool empty() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::atomic<bool> any_{false};  // lets the data plane skip the lock when nothing is overridden
  std::uint64_t nextGeneration_ = 1;
};

}  // namespace egresslab::sim
