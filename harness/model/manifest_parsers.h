// Readers shared by the manifest and scenario loaders (internal to harness/model).
#pragma once

#include <optional>
#include <string>

#include "harness/model/resources.h"
#include "harness/model/schema.h"
#include "harness/model/yaml_tree.h"

namespace egresslab::model::detail {

// A Kubernetes probe (exec/httpGet/tcpSocket + timings), strictly; `what` names it.
std::optional<Probe> readProbe(Ctx& ctx, const YNode& node, const std::string& what);

// AuthorizationPolicy spec (authz_policy_loader.cpp), with istiod's validation (§S1).
void readAuthorizationPolicy(Ctx& ctx, const YNode& spec, AuthorizationPolicy& policy);

}  // namespace egresslab::model::detail
