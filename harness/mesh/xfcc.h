// x-forwarded-client-cert as Envoy's connection manager mutates it (`mutateXfccRequestHeader`),
// in the modes Istio configures (docs/istio-behaviour.md §S2): gateways SANITIZE_SET unless
// `meshConfig.defaultConfig.gatewayTopology.forwardClientCertDetails` says otherwise; sidecar
// inbound APPEND_FORWARD; sidecar outbound Envoy's default SANITIZE.
#pragma once

#include <optional>
#include <string>

#include "harness/mesh/authz.h"
#include "harness/model/resources.h"

namespace egresslab::mesh {

// Envoy's HttpConnectionManager.ForwardClientCertDetails.
enum class ForwardClientCert {
  kSanitize,
  kForwardOnly,
  kAppendForward,
  kSanitizeSet,
  kAlwaysForwardOnly
};

// A gateway's mode: gatewayTopology.forwardClientCertDetails of the mesh-wide proxy config
// (`meshConfig.defaultConfig`); UNDEFINED, unset or a value Istio does not name = SANITIZE_SET.
ForwardClientCert gatewayForwardClientCert(const model::MeshConfig& meshConfig);

// The mode of one connection manager: gateways as above, sidecar inbound APPEND_FORWARD,
// sidecar outbound SANITIZE.
ForwardClientCert forwardClientCertFor(const model::MeshConfig& meshConfig, bool gateway,
                                       bool inbound);

// Whether the mode adds the current hop's certificate (Istio sets set_current_client_cert_details
// only for these two).
bool setsCurrentClientCert(ForwardClientCert mode);

// The header's new value (nullopt = removed). `incoming`: the value received (nullopt when
// absent); `current`: the downstream's client certificate (nullopt without mutual TLS).
// ALWAYS_FORWARD_ONLY forwards as is; otherwise a connection without a client certificate loses
// the header, and with one: SANITIZE removes, FORWARD_ONLY forwards, APPEND_FORWARD appends the
// current element, SANITIZE_SET replaces the header with it.
std::optional<std::string> mutateXfcc(ForwardClientCert mode,
                                      const std::optional<std::string>& incoming,
                                      const std::optional<ClientCertDetails>& current);

}  // namespace egresslab::mesh
