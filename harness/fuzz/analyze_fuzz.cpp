// Fuzz target: manifests (lenient load) → every analyzer check, for the oldest and the newest
// modelled Istio. Never a crash, an abort or an exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "harness/analyze/analyzer.h"
#include "harness/model/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace egresslab;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const model::LoadOptions lenient{.vars = {}, .requireAllPlaceholders = false, .lenient = true};
  auto set = model::parseManifests(text, "fuzz.yaml", lenient);
  if (!set) return 0;
  for (const model::IstioVersion version : {model::kOldestSupported, model::kNewestSupported}) {
    analyze::AnalysisInput input;
    input.resources = &*set;
    input.version = version;
    (void)analyze::analyzeResources(input);
  }
  return 0;
}
