// SimMesh::servedBy: which upstream server answered a request, from the mocks' own accounting
// (docs/scenarios.md "Load and SLOs": servedBy), never from response bodies.
#include "harness/sim/sim_impl.h"

namespace egresslab::sim {

std::string SimMesh::servedBy(const std::string& requestId) const {
  std::string name;
  std::uint64_t latest = 0;
  for (const auto& mock : impl_->mocks) {
    if (!mock.server) continue;
    // Several answers (a retry after a 503): the latest is what the caller saw.
    if (const auto at = mock.server->served().lastServed(requestId); at && *at > latest) {
      latest = *at;
      name = mock.spec.name;
    }
  }
  return name;
}

}  // namespace egresslab::sim
