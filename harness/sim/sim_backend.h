// The `sim` backend (docs/design.md): runs a scenario's mesh in-process on loopback with SimMesh
// and answers the runner's curl steps from the host or from a pod, reading `via` and `flags` from
// the proxies' access logs by x-request-id — the way the kind backend reads `kubectl logs`.
#pragma once

#include <memory>

#include "harness/backend/backend.h"
#include "harness/sim/sim_mesh.h"

namespace egresslab::sim {

std::unique_ptr<backend::Backend> makeSimBackend();

// The same backend with explicit simulator options (tests: time scale, probes; `sim up`:
// literal port-forward ports). RunOptions::timeScale overrides options.timeScale when not 1.
std::unique_ptr<backend::Backend> makeSimBackend(const SimOptions& options);

// Turns one curl result plus the run's access-log lines into the runner's Observation.
report::Observation observationFrom(const curl::CurlResult& result, const std::string& requestId,
                                    const std::vector<LogRecord>& logs);

}  // namespace egresslab::sim
