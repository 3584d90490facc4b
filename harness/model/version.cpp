#include "harness/model/version.h"

#include <fmt/core.h>
#include <algorithm>
#include <charconv>

namespace egresslab::model {
namespace {

std::optional<int> number(std::string_view s) {
  int value = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return value;
}

}  // namespace

Result<IstioVersion> IstioVersion::parse(std::string_view text, SourcePos where) {
  std::string_view s = text;
  if (!s.empty() && (s.front() == 'v' || s.front() == 'V')) s.remove_prefix(1);
  // "1.22-dev", "1.22.3-rc.1": the suffix after the numbers does not matter here.
  if (auto dash = s.find_first_of("-+"); dash != std::string_view::npos) s = s.substr(0, dash);
  const auto bad = [&]() {
    return invalidInput(
        fmt::format("invalid Istio version \"{}\": expected MAJOR.MINOR[.PATCH], e.g. 1.22.3",
                    text),
        where);
  };
  IstioVersion v{};
  const auto dot1 = s.find('.');
  if (dot1 == std::string_view::npos) return bad();
  const auto major = number(s.substr(0, dot1));
  std::string_view rest = s.substr(dot1 + 1);
  const auto dot2 = rest.find('.');
  const auto minor = number(rest.substr(0, dot2));
  std::optional<int> patch = 0;
  if (dot2 != std::string_view::npos) patch = number(rest.substr(dot2 + 1));
  if (!major || !minor || !patch) return bad();
  v.major = *major;
  v.minor = *minor;
  v.patch = *patch;
  const IstioVersion floor{v.major, v.minor, 0};
  if (floor < kOldestSupported || floor > kNewestSupported) {
    return invalidInput(
        fmt::format("Istio version {} is not supported: EgressLab models Istio {}.{} to {}.{}",
                    text, kOldestSupported.major, kOldestSupported.minor, kNewestSupported.major,
                    kNewestSupported.minor),
        where);
  }
  return v;
}

bool IstioVersion::hasPatch(std::string_view text) {
  if (auto dash = text.find_first_of("-+"); dash != std::string_view::npos) {
    text = text.substr(0, dash);
  }
  return std::count(text.begin(), text.end(), '.') >= 2;
}

std::string IstioVersion::str() const { return fmt::format("{}.{}.{}", major, minor, patch); }

std::string_view installMethodName(InstallMethod m) {
  switch (m) {
    case InstallMethod::kIstioctl:
      return "istioctl";
    case InstallMethod::kOperator:
      return "operator";
    case InstallMethod::kHelm:
      return "helm";
  }
  return "istioctl";
}

std::optional<InstallMethod> parseInstallMethod(std::string_view name) {
  for (InstallMethod m :
       {InstallMethod::kOperator, InstallMethod::kIstioctl, InstallMethod::kHelm}) {
    if (name == installMethodName(m)) return m;
  }
  return std::nullopt;
}

InstallMethod defaultInstallMethod(const IstioVersion& v) {
  return v.atLeast(1, 18) ? InstallMethod::kIstioctl : InstallMethod::kOperator;
}

std::string installMethodProblem(InstallMethod m, const IstioVersion& v) {
  if (m == InstallMethod::kOperator && v.atLeast(1, 24)) {
    return fmt::format(
        "install: operator — the in-cluster operator was removed in 1.24 (istio {}); use "
        "istioctl or helm (docs/istio-behaviour.md §10)",
        v.str());
  }
  if (m == InstallMethod::kHelm && !v.atLeast(1, 24)) {
    return fmt::format(
        "install: helm needs Istio 1.24+ (the istio/gateway chart has no readinessProbe value "
        "before 1.24; istio {}), use istioctl",
        v.str());
  }
  return {};
}

}  // namespace egresslab::model
