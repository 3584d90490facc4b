// The mock's own accounting of which requests it answered, by x-request-id (docs/httpbin.md
// "Served requests"): a load's `servedBy` (docs/scenarios.md "Load and SLOs") asks every
// upstream mock whether — and when — it answered a request, instead of parsing bodies.
//
// Every answer gets a sequence number from one process-wide counter, so when a request was
// answered by several servers (a 503 from one, then a retry to another), the latest answer is
// the one the caller saw. Bounded: the oldest entries are forgotten beyond `capacity`.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace egresslab::httpbin {

class ServedLog {
 public:
  explicit ServedLog(std::size_t capacity = 1'000'000) : capacity_(capacity) {}

  // Records an answer to `requestId` (ignored when empty).
  void record(std::string_view requestId);
  // The sequence number of this server's latest answer to `requestId`; nullopt when none.
  std::optional<std::uint64_t> lastServed(std::string_view requestId) const;
  // Every remembered request id with its latest sequence number, oldest first.
  std::vector<std::pair<std::string, std::uint64_t>> entries() const;

 private:
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::uint64_t> latest_;
  std::deque<std::string> order_;  // first answers, for eviction
};

}  // namespace egresslab::httpbin
