// Reading a scenario step's `fault:` (internal to harness/model; the public API is in
// scenario.h: parseFaultSpec, checkFaultTarget, faultTargetsServer, faultText).
#pragma once

#include <string>

#include "harness/model/scenario.h"
#include "harness/model/schema.h"
#include "harness/model/yaml_tree.h"

namespace egresslab::model::detail {

// One `fault:` map: every key known, every error at its own position.
FaultSpec readFault(Ctx& ctx, const YNode& node);

// Dotted-quad IPv4 text ("198.51.100.11").
bool isIpv4Text(const std::string& s);

}  // namespace egresslab::model::detail
