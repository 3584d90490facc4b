#include "harness/mesh/peer_metadata.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

namespace egresslab::mesh {
namespace {

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Kubernetes' generated-name alphabet (no vowels, no look-alikes).
std::string suffix(std::uint64_t h, std::size_t n) {
  constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += kAlphabet[h % kAlphabet.size()];
    h /= kAlphabet.size();
  }
  return out;
}

// Protobuf wire format: a varint, a length-delimited field.
void varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void lengthDelimited(std::string& out, std::uint32_t field, std::string_view bytes) {
  varint(out, (static_cast<std::uint64_t>(field) << 3) | 2u);
  varint(out, bytes.size());
  out += bytes;
}

// google.protobuf.Value{string_value = 3} / {struct_value = 5}.
std::string stringValue(std::string_view s) {
  std::string v;
  lengthDelimited(v, 3, s);
  return v;
}

// google.protobuf.Struct{fields = 1: map<string, Value>}; one map entry {key = 1, value = 2}.
void structEntry(std::string& out, std::string_view key, std::string_view encodedValue) {
  std::string entry;
  lengthDelimited(entry, 1, key);
  lengthDelimited(entry, 2, encodedValue);
  lengthDelimited(out, 1, entry);
}

bool gateway(const ProxyConfig& proxy) { return proxy.id.kind != ProxyKind::kSidecar; }

}  // namespace

std::string podNameOf(std::string_view ns, std::string_view workload) {
  const std::uint64_t h = fnv1a(workload, fnv1a(ns));
  return fmt::format("{}-{}-{}", workload, suffix(h, 10), suffix(fnv1a("pod", h), 5));
}

std::string proxyNodeId(const ProxyConfig& proxy) {
  return fmt::format("{}~{}~{}.{}~{}.svc.cluster.local", gateway(proxy) ? "router" : "sidecar",
                     proxy.podIp, podNameOf(proxy.id.ns, proxy.id.name), proxy.id.ns, proxy.id.ns);
}

std::vector<PeerMetadataEntry> peerMetadataEntries(const ProxyConfig& proxy) {
  // The key set by version is a choice (docs/fidelity.md, "Proxy headers"): the full set of a
  // 1.22.1 sample up to 1.23, the reduced set of a late-2024 sample from 1.24.
  const bool full = !proxy.version.atLeast(1, 24);
  std::vector<PeerMetadataEntry> out;
  auto add = [&](std::string key, std::string value) {
    out.push_back({std::move(key), std::move(value), {}});
  };
  if (full && !gateway(proxy)) add("APP_CONTAINERS", proxy.id.name);
  add("CLUSTER_ID", "Kubernetes");
  if (full) add("INSTANCE_IPS", proxy.podIp);
  if (full) add("ISTIO_VERSION", proxy.version.str());
  PeerMetadataEntry labels;
  labels.key = "LABELS";
  for (const auto& [k, v] : proxy.podLabels) labels.labels.emplace_back(k, v);
  std::sort(labels.labels.begin(), labels.labels.end());
  out.push_back(std::move(labels));
  if (full) add("MESH_ID", "cluster.local");
  add("NAME", podNameOf(proxy.id.ns, proxy.id.name));
  add("NAMESPACE", proxy.id.ns);
  add("OWNER", fmt::format("kubernetes://apis/apps/v1/namespaces/{}/deployments/{}", proxy.id.ns,
                           proxy.id.name));
  add("WORKLOAD_NAME", proxy.id.name);
  std::sort(out.begin(), out.end(),
            [](const PeerMetadataEntry& a, const PeerMetadataEntry& b) { return a.key < b.key; });
  return out;
}

std::string peerMetadataValue(const ProxyConfig& proxy) {
  std::string encoded;
  for (const auto& e : peerMetadataEntries(proxy)) {
    if (e.key == "LABELS") {
      std::string labels;
      for (const auto& [k, v] : e.labels) structEntry(labels, k, stringValue(v));
      std::string value;
      lengthDelimited(value, 5, labels);
      structEntry(encoded, e.key, value);
    } else {
      structEntry(encoded, e.key, stringValue(e.value));
    }
  }
  return base64Encode(encoded);
}

PeerMetadataOp peerMetadataOpFor(ListenerDirection direction) {
  return direction == ListenerDirection::kSidecarInbound ? PeerMetadataOp::kRemove
                                                         : PeerMetadataOp::kReplace;
}

std::string base64Encode(std::string_view bytes) {
  constexpr std::string_view kTable =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n =
        (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
        (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
        static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    out += kTable[(n >> 18) & 63];
    out += kTable[(n >> 12) & 63];
    out += kTable[(n >> 6) & 63];
    out += kTable[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kTable[(n >> 18) & 63];
    out += kTable[(n >> 12) & 63];
    out += rest == 2 ? kTable[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace egresslab::mesh
