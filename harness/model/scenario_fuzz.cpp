// Fuzz target: scenario text must load or fail with an Error, never crash. Manifests are
// resolved relative to a directory that does not exist, so named files just produce errors.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "harness/model/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto scenario =
      egresslab::model::parseScenario(text, "/nonexistent-egresslab-fuzz/scenario.yaml");
  if (scenario) (void)scenario->hasFaults();
  return 0;
}
