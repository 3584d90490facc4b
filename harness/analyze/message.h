// An analyzer finding, istioctl-style: code, level, message, origin and source reference.
//
// Codes come in two families: istioctl's own (IST0xxx), reproduced with istioctl's templates
// and with the level each code has in the analysed Istio version (docs/istio-behaviour.md §8 and
// its appendix table), and EgressLab's (EGL0xx) for traps istioctl does not catch, each naming the
// reference section that explains it and a one-line fix.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/error.h"
#include "harness/model/version.h"

namespace egresslab::analyze {

// Ordered by severity, as istioctl's --failure-threshold compares them.
enum class Level { kInfo = 0, kWarning = 1, kError = 2 };

std::string_view levelName(Level level);  // "Info", "Warning", "Error"
// Case-insensitive "Info" | "Warning" | "Error".
std::optional<Level> parseLevel(std::string_view text);

struct Message {
  std::string code;  // "IST0101", "EGL001"
  Level level = Level::kError;
  std::string text;     // the message proper (istioctl's template filled in)
  std::string origin;   // "VirtualService httpbin/httpbin-egress", "Namespace httpbin"
  SourcePos reference;  // where in the user's files; printed "file:line"
  std::string section;  // EGL codes: the docs/istio-behaviour.md section, e.g. "§4"
  std::string fix;      // EGL codes: the one-line fix
  // Hosts whose requests this finding predicts fail (Host / URL host as a client writes it);
  // empty when it predicts no request failure. Not printed: the differential test
  // (harness/analyze/differential_test.cpp) matches it against the simulator's requests.
  std::vector<std::string> affectedHosts;

  // The full message: `text`, plus " (docs/istio-behaviour.md §N) Fix: …" for EgressLab codes.
  [[nodiscard]] std::string fullText() const;
  // "file:line", or "" when unknown.
  [[nodiscard]] std::string referenceText() const;
  // istioctl's line: `Error [IST0101] (VirtualService ns/name file.yaml:12) Referenced …`.
  [[nodiscard]] std::string line() const;
  // {"code","level","message","origin","reference"}.
  [[nodiscard]] nlohmann::json json() const;
};

// What a code is and, per Istio version, whether it exists and at which level.
struct CodeInfo {
  std::string_view code;
  std::string_view name;
};

// The level `code` has in `version`, or nullopt when that version's istioctl does not have
// the code (§8 appendix: presence and level are computed from each x.y.0 tag). EgressLab
// codes exist in every version; their default level is returned (checks may choose another,
// documented per code).
std::optional<Level> levelIn(std::string_view code, const model::IstioVersion& version);

// Every code the analyzer can emit, in code order (for docs and tests).
const std::vector<CodeInfo>& knownCodes();

// istioctl's ordering: Error before Warning before Info, then code, origin, reference, text;
// exact duplicates removed.
void sortAndDedupe(std::vector<Message>& messages);

}  // namespace egresslab::analyze
