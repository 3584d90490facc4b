#include "mocks/httpbin/fault.h"

#include <fmt/core.h>

#include <array>
#include <utility>

namespace egresslab::httpbin {
namespace {

constexpr std::array<std::pair<Fault::Action, std::string_view>, 9> kActions{{
    {Fault::Action::kDown, "down"},
    {Fault::Action::kUp, "up"},
    {Fault::Action::kLatency, "latency"},
    {Fault::Action::kStatus, "status"},
    {Fault::Action::kReset, "reset"},
    {Fault::Action::kBadCert, "bad-cert"},
    {Fault::Action::kCert, "cert"},
    {Fault::Action::kClose, "close"},
    {Fault::Action::kBlackhole, "blackhole"},
}};

constexpr std::array<std::pair<Fault::Cert, std::string_view>, 3> kCerts{{
    {Fault::Cert::kExpired, "expired"},
    {Fault::Cert::kWrongHost, "wrong-host"},
    {Fault::Cert::kRotate, "rotate"},
}};

constexpr std::string_view kActionList =
    "down, up, latency, status, reset, bad-cert, cert, close or blackhole";

// An integer field in [lo, hi]; `fallback` when absent (nullopt fallback = required).
Result<int> intField(const nlohmann::json& spec, std::string_view action, const char* key, int lo,
                     int hi, std::optional<int> fallback) {
  const auto it = spec.find(key);
  if (it == spec.end()) {
    if (fallback) return *fallback;
    return invalidInput(
        fmt::format("fault \"{}\" needs \"{}\": an integer in [{}, {}]", action, key, lo, hi));
  }
  if (!it->is_number_integer()) {
    return invalidInput(fmt::format("fault \"{}\": \"{}\" must be an integer in [{}, {}], got {}",
                                    action, key, lo, hi, it->dump()));
  }
  const auto value = it->get<long long>();
  if (value < lo || value > hi) {
    return invalidInput(fmt::format("fault \"{}\": \"{}\" must be in [{}, {}], got {}", action, key,
                                    lo, hi, value));
  }
  return static_cast<int>(value);
}

}  // namespace

std::string_view actionName(Fault::Action action) {
  for (const auto& [a, name] : kActions) {
    if (a == action) return name;
  }
  return "unknown";
}

std::string_view certName(Fault::Cert cert) {
  for (const auto& [c, name] : kCerts) {
    if (c == cert) return name;
  }
  return "unknown";
}

Result<Fault> parseFault(const nlohmann::json& spec) {
  if (!spec.is_object()) {
    return invalidInput("a fault must be a JSON object such as {\"action\":\"down\"}");
  }
  const auto actionIt = spec.find("action");
  if (actionIt == spec.end() || !actionIt->is_string()) {
    return invalidInput(fmt::format("a fault needs \"action\": one of {}", kActionList));
  }
  const std::string actionText = actionIt->get<std::string>();
  Fault fault;
  bool known = false;
  for (const auto& [a, name] : kActions) {
    if (name == actionText) {
      fault.action = a;
      known = true;
    }
  }
  if (!known) {
    return invalidInput(
        fmt::format("unknown fault action \"{}\": expected {}", actionText, kActionList));
  }
  // Which keys each action takes; anything else is a typo the user should hear about.
  std::vector<std::string_view> allowed{"action", "target"};
  if (fault.action == Fault::Action::kLatency) allowed.push_back("ms");
  if (fault.action == Fault::Action::kStatus) {
    allowed.push_back("code");
    allowed.push_back("percent");
  }
  if (fault.action == Fault::Action::kCert) allowed.push_back("cert");
  for (const auto& [key, value] : spec.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return invalidInput(fmt::format("fault \"{}\" does not take \"{}\"", actionText, key));
    }
  }
  if (fault.action == Fault::Action::kLatency) {
    auto ms = intField(spec, actionText, "ms", 0, kMaxFaultLatencyMs, std::nullopt);
    if (!ms) return std::unexpected(ms.error());
    fault.ms = *ms;
  }
  if (fault.action == Fault::Action::kStatus) {
    auto code = intField(spec, actionText, "code", 200, 599, std::nullopt);
    if (!code) return std::unexpected(code.error());
    auto percent = intField(spec, actionText, "percent", 0, 100, 100);
    if (!percent) return std::unexpected(percent.error());
    fault.code = *code;
    fault.percent = *percent;
  }
  if (fault.action == Fault::Action::kCert) {
    const auto it = spec.find("cert");
    bool knownCert = false;
    if (it != spec.end() && it->is_string()) {
      for (const auto& [c, name] : kCerts) {
        if (name == it->get<std::string>()) {
          fault.cert = c;
          knownCert = true;
        }
      }
    }
    if (!knownCert) {
      return invalidInput(
          fmt::format("fault \"cert\" needs \"cert\": one of expired, wrong-host or rotate, got {}",
                      it == spec.end() ? std::string("nothing") : it->dump()));
    }
  }
  return fault;
}

nlohmann::json toJson(const Fault& fault) {
  nlohmann::json out = nlohmann::json::object();
  out["action"] = actionName(fault.action);
  if (fault.action == Fault::Action::kLatency) out["ms"] = fault.ms;
  if (fault.action == Fault::Action::kStatus) {
    out["code"] = fault.code;
    out["percent"] = fault.percent;
  }
  if (fault.action == Fault::Action::kCert) out["cert"] = certName(fault.cert);
  return out;
}

}  // namespace egresslab::httpbin
