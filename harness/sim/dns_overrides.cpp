#include "harness/sim/dns_overrides.h"

#include <algorithm>
#include <cctype>

#include "harness/core/ascii.h"

namespace egresslab::sim {

DnsClusterHosts dnsClusterHosts(mesh::ClusterType type, const DnsAnswer* answer,
                                const std::optional<std::vector<std::string>>& lastGood) {
  DnsClusterHosts out;
  if (answer == nullptr) return out;
  const bool strict = type == mesh::ClusterType::kStrictDns;
  switch (answer->kind) {
    case DnsAnswer::Kind::kNxdomain:
      if (strict) {
        out.removed = true;
      } else {
        out.addresses = lastGood;  // LOGICAL_DNS "does not stabilize back to 0 hosts"
      }
      return out;
    case DnsAnswer::Kind::kServfail:
      out.addresses = lastGood;  // a failure: the hosts stay
      return out;
    case DnsAnswer::Kind::kAddresses:
      if (answer->addresses.empty()) {
        out.removed = strict;
        if (!strict) out.addresses = lastGood;
        return out;
      }
      out.addresses =
          strict ? answer->addresses : std::vector<std::string>{answer->addresses.front()};
      return out;
  }
  return out;
}

std::optional<std::string> resolverAnswer(const DnsAnswer& answer) {
  if (answer.kind != DnsAnswer::Kind::kAddresses || answer.addresses.empty()) return std::nullopt;
  return answer.addresses.front();
}

namespace {
std::string normalise(std::string name) {
  name = asciiLower(std::move(name));
  if (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}
}  // namespace

std::uint64_t DnsOverrides::set(const std::string& name, const DnsAnswer& answer) {
  std::lock_guard lock(mu_);
  const std::string key = normalise(name);
  Entry& e = entries_[key];
  e.answer = answer;
  // A successful answer becomes what clusters keep through later failures.
  if (answer.kind == DnsAnswer::Kind::kAddresses && !answer.addresses.empty()) {
    e.lastGood = answer.addresses;
  }
  e.generation = nextGeneration_++;
  any_ = true;
  return e.generation;
}

bool DnsOverrides::clear(const std::string& name, std::uint64_t generation) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(normalise(name));
  if (it == entries_.end()) return false;
  if (generation != 0 && it->second.generation != generation) return false;
  entries_.erase(it);
  any_ = !entries_.empty();
  return true;
}

void DnsOverrides::clearAll() {
  std::lock_guard lock(mu_);
  entries_.clear();
  any_ = false;
}

std::optional<DnsOverrides::Entry> DnsOverrides::find(std::string name) const {
  if (!any_) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = entries_.find(normalise(std::move(name)));
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, DnsOverrides::Entry> DnsOverrides::all() const {
  std::lock_guard lock(mu_);
  return entries_;
}

bool DnsOverrides::empty() const { return !any_; }

}  // namespace egresslab::sim
