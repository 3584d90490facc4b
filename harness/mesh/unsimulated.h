// How far an Istio resource the simulator does not model reaches: which proxies it would change
// in a real mesh (docs/design.md "Nothing unmodelled passes silently"). The runner refuses to trust
// a request that crosses one of them.
#pragma once

#include <vector>

#include "harness/mesh/config.h"
#include "harness/mesh/policy.h"  // kRootNamespace
#include "harness/model/resources.h"

namespace egresslab::mesh {

// The note for one unmodelled resource (Sidecar, EnvoyFilter, AuthorizationPolicy, …), with
// the proxies istiod would attach it to:
// - a selector (`spec.selector.matchLabels`; `spec.workloadSelector.labels` for EnvoyFilter and
//   Sidecar) picks the proxies of matching pods in the resource's namespace, or in every
//   namespace when the resource lives in the root namespace (istio-system);
// - no selector: every proxy of its namespace, or of the mesh in the root namespace;
// - a Sidecar never applies to gateways;
// - `targetRef`/`targetRefs`, WorkloadEntry, WorkloadGroup and unknown kinds reach every proxy
//   (not worked out: the safe answer).
// `workloads` are the mesh's pods (Registry::workloads): gateways and injected pods have proxies.
NotSimulatedNote unsimulatedResourceNote(const model::UnsimulatedResource& resource,
                                         const std::vector<WorkloadInstance>& workloads);

}  // namespace egresslab::mesh
