// JSON views of compiled config, for `egresslab sim config-dump` (like `istioctl proxy-config
// all`) and for reports.
#pragma once

#include <nlohmann/json.hpp>

#include "harness/mesh/config.h"

namespace egresslab::mesh {

// {"proxy", "kind", "version", "podIp", "listeners", "routes", "clusters", "accessLog", …}
nlohmann::json toJson(const ProxyConfig& proxy);

// {"version", "outboundTrafficPolicy", "proxies": [names], "services", "dns", "notSimulated"}
nlohmann::json toJson(const CompiledMesh& mesh);

}  // namespace egresslab::mesh
