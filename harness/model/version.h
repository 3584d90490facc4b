// An Istio version (major.minor.patch) and the range EgressLab models.
#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "harness/core/error.h"

namespace egresslab::model {

struct IstioVersion {
  int major = 1;
  int minor = 28;
  int patch = 0;

  // "1.8", "1.8.0", "v1.22.3", "1.22-dev" (suffix ignored). Outside 1.8–1.28 is an error.
  static Result<IstioVersion> parse(std::string_view text, SourcePos where = {});
  [[nodiscard]] std::string str() const;  // "1.8.0"
  // True when `text` names a patch ("1.22.3", "v1.22.3-rc.1"), false for a minor ("1.22").
  static bool hasPatch(std::string_view text);
  // True when this version is at least major.minor (patch ignored): v.atLeast(1, 21).
  [[nodiscard]] bool atLeast(int maj, int min) const {
    return major > maj || (major == maj && minor >= min);
  }
  friend auto operator<=>(const IstioVersion&, const IstioVersion&) = default;
};

inline constexpr IstioVersion kOldestSupported{1, 8, 0};
inline constexpr IstioVersion kNewestSupported{1, 28, 0};

}  // namespace egresslab::model
