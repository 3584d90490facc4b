// Fuzz target for the curl command-line parser: any input either parses or is an error value,
// and whatever parses survives a round trip through toArgv/shellJoin unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "harness/curl/command.h"
#include "harness/curl/write_out.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto parsed = egresslab::curl::parseCurlCommandLine(line, {"fuzz.yaml", 1, 1});
  if (!parsed) {
    if (parsed.error().message.empty()) std::abort();
    return 0;
  }
  const auto argv = egresslab::curl::toArgv(*parsed);
  auto again = egresslab::curl::parseCurlCommandLine(egresslab::curl::shellJoin(argv));
  if (!again) std::abort();
  auto a = *parsed;
  auto b = *again;
  a.tokens.clear();
  b.tokens.clear();
  if (!(a == b)) std::abort();
  if (a.writeOut) (void)egresslab::curl::renderWriteOut(*a.writeOut, {});
  return 0;
}
