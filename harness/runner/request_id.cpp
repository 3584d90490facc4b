#include "harness/runner/request_id.h"

#include <fmt/core.h>

#include <cstdint>
#include <random>

namespace egresslab::runner {

std::string newRequestId() {
  // One engine per thread: no locking, and parallel scenarios never share a sequence.
  thread_local std::mt19937_64 engine{std::random_device{}()};
  std::uint64_t hi = engine();
  std::uint64_t lo = engine();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff,
                     hi & 0xffff, lo >> 48, lo & 0xffffffffffffULL);
}

}  // namespace egresslab::runner
