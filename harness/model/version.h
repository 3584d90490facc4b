// An Istio version (major.minor.patch) and the range EgressLab models.
#pragma once

#include <compare>
#include <optional>
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
  // Patch-aware, for behaviour that changed within a minor: v.atLeast(1, 8, 3).
  [[nodiscard]] bool atLeast(int maj, int min, int pat) const {
    return major != maj ? major > maj : minor != min ? minor > min : patch >= pat;
  }
  friend auto operator<=>(const IstioVersion&, const IstioVersion&) = default;
};

inline constexpr IstioVersion kOldestSupported{1, 8, 0};
inline constexpr IstioVersion kNewestSupported{1, 28, 0};

// How Istio and its gateways are installed on a cluster (docs/istio-behaviour.md §10): the
// in-cluster operator (`istioctl operator init` + `kubectl apply`, removed in 1.24),
// `istioctl install -f` per IstioOperator, or the Helm charts (gateways from `istio/gateway`,
// used here from 1.24, where the chart has a readinessProbe value). `render` and the kind
// backend both read it.
enum class InstallMethod { kIstioctl, kOperator, kHelm };
std::string_view installMethodName(InstallMethod m);
// "istioctl", "operator", "helm"; nullopt for anything else.
std::optional<InstallMethod> parseInstallMethod(std::string_view name);
// The method Istio's docs of that version lead with: the operator up to 1.17, `istioctl
// install -f` from 1.18. Helm is never the default (only when asked for, from 1.24).
InstallMethod defaultInstallMethod(const IstioVersion& v);
// Why `v` cannot be installed with `m` (operator on 1.24+, helm before 1.24), or "".
std::string installMethodProblem(InstallMethod m, const IstioVersion& v);

}  // namespace egresslab::model
