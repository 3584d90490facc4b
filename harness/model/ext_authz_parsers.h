// Readers for external authorization: `meshConfig.extensionProviders` (called by the IstioOperator
// reader) and a scenario's `extAuthz:` servers (called by the scenario reader). Internal to
// harness/model.
#pragma once

#include <vector>

#include "harness/model/ext_authz_server.h"
#include "harness/model/extension_providers.h"
#include "harness/model/schema.h"
#include "harness/model/yaml_tree.h"

namespace egresslab::model::detail {

std::vector<ExtensionProvider> readExtensionProviders(Ctx& ctx, const YNode& node);
std::vector<ExtAuthzServerSpec> readExtAuthzServers(Ctx& ctx, const YNode& node);

}  // namespace egresslab::model::detail
