// Fuzz target: parseManifests on arbitrary bytes must return a value or an Error, never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "harness/model/gateway_workloads.h"
#include "harness/model/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  egresslab::model::LoadOptions lenient{.vars = {}, .requireAllPlaceholders = false};
  auto set = egresslab::model::parseManifests(text, "fuzz.yaml", lenient);
  if (set) {
    // Exercise what consumers do next with a loaded set.
    auto workloads = egresslab::model::deriveGatewayWorkloads(*set, {1, 8, 0});
    for (const auto& vs : set->virtualServices) (void)vs.origin.at("spec.http[0].route[0]");
    (void)workloads;
  }
  egresslab::model::LoadOptions strict{.vars = {{"my-proxied-service-hostname", "h.example.com"}},
                                       .requireAllPlaceholders = true};
  (void)egresslab::model::parseManifests(text, "fuzz.yaml", strict);
  return 0;
}
