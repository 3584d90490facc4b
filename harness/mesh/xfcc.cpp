#include "harness/mesh/xfcc.h"

namespace egresslab::mesh {

ForwardClientCert gatewayForwardClientCert(const model::MeshConfig& meshConfig) {
  const nlohmann::json& raw = meshConfig.raw;
  if (!raw.is_object()) return ForwardClientCert::kSanitizeSet;
  const auto dc = raw.find("defaultConfig");
  if (dc == raw.end() || !dc->is_object()) return ForwardClientCert::kSanitizeSet;
  const auto gt = dc->find("gatewayTopology");
  if (gt == dc->end() || !gt->is_object()) return ForwardClientCert::kSanitizeSet;
  const auto f = gt->find("forwardClientCertDetails");
  if (f == gt->end() || !f->is_string()) return ForwardClientCert::kSanitizeSet;
  const std::string v = f->get<std::string>();
  if (v == "SANITIZE") return ForwardClientCert::kSanitize;
  if (v == "FORWARD_ONLY") return ForwardClientCert::kForwardOnly;
  if (v == "APPEND_FORWARD") return ForwardClientCert::kAppendForward;
  if (v == "ALWAYS_FORWARD_ONLY") return ForwardClientCert::kAlwaysForwardOnly;
  return ForwardClientCert::kSanitizeSet;  // SANITIZE_SET, UNDEFINED
}

ForwardClientCert forwardClientCertFor(const model::MeshConfig& meshConfig, bool gateway,
                                       bool inbound) {
  if (gateway) return gatewayForwardClientCert(meshConfig);
  return inbound ? ForwardClientCert::kAppendForward : ForwardClientCert::kSanitize;
}

bool setsCurrentClientCert(ForwardClientCert mode) {
  return mode == ForwardClientCert::kAppendForward || mode == ForwardClientCert::kSanitizeSet;
}

std::optional<std::string> mutateXfcc(ForwardClientCert mode,
                                      const std::optional<std::string>& incoming,
                                      const std::optional<ClientCertDetails>& current) {
  if (mode == ForwardClientCert::kAlwaysForwardOnly) return incoming;
  if (mode == ForwardClientCert::kSanitize || !current) return std::nullopt;
  switch (mode) {
    case ForwardClientCert::kForwardOnly:
      return incoming;
    case ForwardClientCert::kAppendForward:
      if (!incoming || incoming->empty()) return formatXfccElement(*current);
      return *incoming + "," + formatXfccElement(*current);
    case ForwardClientCert::kSanitizeSet:
      return formatXfccElement(*current);
    case ForwardClientCert::kSanitize:
    case ForwardClientCert::kAlwaysForwardOnly:
      break;
  }
  return std::nullopt;
}

}  // namespace egresslab::mesh
