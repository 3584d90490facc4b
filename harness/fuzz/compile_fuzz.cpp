// Fuzz target: manifests (lenient load, as `analyze` reads them) → compileMesh for the oldest
// and the newest modelled Istio → every HTTP filter chain of every proxy routes a request with a
// long path and hostile headers. Never a crash, an abort or an exception. (The 40 KB path of the
// regex-route crash is hostile_model_test; here 4 KB keeps 20,000 runs within ctest's budget.)
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/mesh/compile.h"
#include "harness/mesh/decisions.h"
#include "harness/model/gateway_workloads.h"
#include "harness/model/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace egresslab;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const model::LoadOptions lenient{.vars = {}, .requireAllPlaceholders = false, .lenient = true};
  auto set = model::parseManifests(text, "fuzz.yaml", lenient);
  if (!set) return 0;
  // A long path (the regex-route crash) and headers every matcher kind looks at.
  static const std::string kLongPath = "/" + std::string(4 * 1024, 'a');
  static const std::vector<std::pair<std::string, std::string>> kHeaders = {
      {"x-a", std::string(1024, 'b')}, {"user-agent", "curl/8"}, {"end-user", "jason"}};
  for (const model::IstioVersion version : {model::kOldestSupported, model::kNewestSupported}) {
    mesh::CompileInput input{.resources = *set,
                             .version = version,
                             .gateways = model::deriveGatewayWorkloads(*set, version),
                             .workloads = {},
                             .upstreams = {},
                             .dns = {},
                             .secrets = {}};
    auto compiled = mesh::compileMesh(input);
    if (!compiled) continue;
    for (const auto& proxy : compiled->proxies) {
      for (const auto& listener : proxy.listeners) {
        for (const auto& chain : listener.filterChains) {
          if (chain.kind != mesh::FilterChainKind::kHttp) continue;
          for (const std::string_view authority : {"a.example.com", "httpbin.example.com:443"}) {
            mesh::RequestView request{.authority = authority,
                                      .path = kLongPath,
                                      .method = "GET",
                                      .scheme = "http",
                                      .headers = &kHeaders};
            (void)mesh::routeRequest(proxy, chain, request, 7);
          }
        }
      }
    }
  }
  return 0;
}
