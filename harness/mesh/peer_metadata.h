// The metadata-exchange headers Istio's proxies put on HTTP requests (docs/istio-behaviour.md
// §R8.1): `x-envoy-peer-metadata-id` (the proxy's node id) and `x-envoy-peer-metadata` (base64 of
// a protobuf google.protobuf.Struct describing the proxy's workload). Every modelled version
// (1.8–1.28) has the filter on sidecar outbound listeners and on gateways, where it removes the
// incoming pair and adds its own — so the legacy upstream behind an egress gateway sees the
// gateway's — and no version removes them for external destinations by default.
//
// Choices where the references are unconfirmed (docs/fidelity.md, "Proxy headers"), kept here:
// - sidecar inbound removes both headers before the application (the native peer_metadata filter
//   of recent versions; 1.8's Wasm filter ran in every context and may have replaced them);
// - the Struct's keys by version: APP_CONTAINERS (sidecars), CLUSTER_ID, INSTANCE_IPS,
//   ISTIO_VERSION, LABELS, MESH_ID, NAME, NAMESPACE, OWNER, WORKLOAD_NAME up to 1.23; from 1.24
//   only CLUSTER_ID, LABELS, NAME, NAMESPACE, OWNER, WORKLOAD_NAME;
// - pod names are `<workload>-<10 chars>-<5 chars>`, derived from the namespace and workload name
//   (stable across runs), the shape of a Deployment's pods.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/mesh/config.h"

namespace egresslab::mesh {

inline constexpr std::string_view kPeerMetadataHeader = "x-envoy-peer-metadata";
inline constexpr std::string_view kPeerMetadataIdHeader = "x-envoy-peer-metadata-id";

// The pod name of a workload's (or gateway's) single pod: "sleep-6bdb595bcb-drr45".
std::string podNameOf(std::string_view ns, std::string_view workload);

// The proxy's node id: "sidecar~<pod IP>~<pod>.<ns>~<ns>.svc.cluster.local" for sidecars,
// "router~…" for gateways.
std::string proxyNodeId(const ProxyConfig& proxy);

// The Struct's entries, sorted by key. A value is a string, or (LABELS) a nested Struct of
// strings.
struct PeerMetadataEntry {
  std::string key;
  std::string value;                                        // when `labels` is empty
  std::vector<std::pair<std::string, std::string>> labels;  // LABELS
};
std::vector<PeerMetadataEntry> peerMetadataEntries(const ProxyConfig& proxy);

// The header's value: base64 (with padding) of the Struct's protobuf encoding (deterministic:
// keys sorted).
std::string peerMetadataValue(const ProxyConfig& proxy);

// What a proxy does with the pair on a request it forwards from a listener of `direction`.
enum class PeerMetadataOp {
  kReplace,  // sidecar outbound, gateways: remove the incoming pair, add the proxy's own
  kRemove,   // sidecar inbound: remove the incoming pair (the application sees none)
};
PeerMetadataOp peerMetadataOpFor(ListenerDirection direction);

// Standard base64 with padding (RFC 4648 §4).
std::string base64Encode(std::string_view bytes);

}  // namespace egresslab::mesh
