#include "mocks/httpbin/served_log.h"

#include <algorithm>
#include <atomic>

namespace egresslab::httpbin {
namespace {

// One counter for every mock in the process: answers of different servers are ordered.
std::atomic<std::uint64_t> nextSequence{1};

}  // namespace

void ServedLog::record(std::string_view requestId) {
  if (requestId.empty()) return;
  const std::uint64_t sequence = nextSequence.fetch_add(1);
  std::lock_guard lock(mu_);
  auto [it, fresh] = latest_.try_emplace(std::string(requestId), sequence);
  if (!fresh) {
    it->second = sequence;
    return;
  }
  order_.push_back(it->first);
  while (order_.size() > capacity_) {
    latest_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<std::uint64_t> ServedLog::lastServed(std::string_view requestId) const {
  std::lock_guard lock(mu_);
  const auto it = latest_.find(std::string(requestId));
  if (it == latest_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::pair<std::string, std::uint64_t>> ServedLog::entries() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, std::uint64_t>> out;
  out.reserve(order_.size());
  for (const auto& id : order_) out.emplace_back(id, latest_.at(id));
  return out;
}

}  // namespace egresslab::httpbin
