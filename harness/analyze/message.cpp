#include "harness/analyze/message.h"

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <tuple>

#include "harness/core/ascii.h"

namespace egresslab::analyze {
namespace {

struct VersionedLevel {
  int fromMinor;  // first 1.x minor where this level applies
  Level level;
};

struct CodeTable {
  CodeInfo info;
  int firstMinor;                      // present from 1.firstMinor …
  int lastMinor;                       // … through 1.lastMinor
  std::vector<VersionedLevel> levels;  // ascending fromMinor
};

// §8 table and appendix (levels from messages.yaml at each x.y.0 tag). EGL codes are ours.
const std::vector<CodeTable>& table() {
  static const std::vector<CodeTable> codes = {
      {{"IST0101", "ReferencedResourceNotFound"}, 8, 28, {{8, Level::kError}}},
      {{"IST0102", "NamespaceNotInjected"}, 8, 28, {{8, Level::kInfo}}},
      {{"IST0104", "GatewayPortNotOnWorkload"}, 8, 19, {{8, Level::kWarning}}},
      {{"IST0106", "SchemaValidationError"}, 8, 28, {{8, Level::kError}}},
      {{"IST0109", "ConflictingMeshGatewayVirtualServiceHosts"}, 8, 28, {{8, Level::kError}}},
      {{"IST0127", "NoMatchingWorkloadsFound"}, 8, 28, {{8, Level::kWarning}}},
      {{"IST0128", "NoServerCertificateVerificationDestinationLevel"},
       8,
       28,
       {{8, Level::kError}, {18, Level::kWarning}}},
      {{"IST0129", "NoServerCertificateVerificationPortLevel"},
       8,
       28,
       {{8, Level::kError}, {9, Level::kWarning}}},
      {{"IST0132", "VirtualServiceHostNotFoundInGateway"}, 9, 28, {{9, Level::kWarning}}},
      {{"IST0145", "ConflictingGateways"}, 11, 28, {{11, Level::kError}}},
      {{"IST0162", "GatewayPortNotDefinedOnService"}, 20, 28, {{20, Level::kWarning}}},
      {{"IST0165", "ReferencedInternalGateway"}, 21, 28, {{21, Level::kWarning}}},
      {{"IST0173", "DestinationRuleSubsetNotSelectPods"}, 27, 28, {{27, Level::kError}}},
      {{"IST0174", "UnknownDestinationRuleHost"}, 27, 28, {{27, Level::kWarning}}},
      // EgressLab's own codes exist in every version.
      {{"EGL001", "DestinationRuleTlsWithoutSni"}, 8, 28, {{8, Level::kInfo}, {21, Level::kError}}},
      {{"EGL002", "PortLevelSettingsReplacePolicy"}, 8, 28, {{8, Level::kWarning}}},
      {{"EGL003", "PeerAuthenticationDoesNotProtectEgressHop"}, 8, 28, {{8, Level::kWarning}}},
      {{"EGL004", "ReadinessProbeCurlWithoutFail"}, 8, 28, {{8, Level::kWarning}}},
      {{"EGL005", "MeshHostNotResolvable"}, 8, 28, {{8, Level::kError}}},
      {{"EGL006", "RegistryOnlyUndeclaredDestination"}, 8, 28, {{8, Level::kError}}},
      {{"EGL007", "InstallPathRemoved"}, 8, 28, {{8, Level::kError}}},
      {{"EGL008", "AuthorizationOnIdentityWithoutMutualTls"}, 8, 28, {{8, Level::kWarning}}},
      {{"EGL009", "CustomAuthorizationUnknownProvider"}, 9, 28, {{9, Level::kError}}},
  };
  return codes;
}

}  // namespace

std::string_view levelName(Level level) {
  switch (level) {
    case Level::kInfo:
      return "Info";
    case Level::kWarning:
      return "Warning";
    case Level::kError:
      return "Error";
  }
  return "Error";
}

std::optional<Level> parseLevel(std::string_view text) {
  const std::string l = asciiLower(text);
  if (l == "info") return Level::kInfo;
  if (l == "warning" || l == "warn") return Level::kWarning;
  if (l == "error") return Level::kError;
  return std::nullopt;
}

std::string Message::fullText() const {
  if (section.empty() && fix.empty()) return text;
  std::string out = text;
  if (!section.empty()) out += fmt::format(" (docs/istio-behaviour.md {})", section);
  if (!fix.empty()) out += fmt::format(" Fix: {}", fix);
  return out;
}

std::string Message::referenceText() const {
  if (reference.file.empty()) return "";
  if (reference.line <= 0) return reference.file;
  return fmt::format("{}:{}", reference.file, reference.line);
}

std::string Message::line() const {
  std::string where = origin;
  const std::string ref = referenceText();
  if (!ref.empty()) where += where.empty() ? ref : " " + ref;
  if (where.empty()) return fmt::format("{} [{}] {}", levelName(level), code, fullText());
  return fmt::format("{} [{}] ({}) {}", levelName(level), code, where, fullText());
}

nlohmann::json Message::json() const {
  return nlohmann::json{{"code", code},
                        {"level", std::string(levelName(level))},
                        {"message", fullText()},
                        {"origin", origin},
                        {"reference", referenceText()}};
}

std::optional<Level> levelIn(std::string_view code, const model::IstioVersion& version) {
  for (const CodeTable& entry : table()) {
    if (entry.info.code != code) continue;
    if (!version.atLeast(1, entry.firstMinor)) return std::nullopt;
    if (version.atLeast(1, entry.lastMinor + 1)) return std::nullopt;
    std::optional<Level> level;
    for (const VersionedLevel& l : entry.levels) {
      if (version.atLeast(1, l.fromMinor)) level = l.level;
    }
    return level;
  }
  return std::nullopt;
}

const std::vector<CodeInfo>& knownCodes() {
  static const std::vector<CodeInfo> codes = [] {
    std::vector<CodeInfo> out;
    for (const CodeTable& entry : table()) out.push_back(entry.info);
    return out;
  }();
  return codes;
}

void sortAndDedupe(std::vector<Message>& messages) {
  auto key = [](const Message& m) {
    return std::make_tuple(-static_cast<int>(m.level), m.code, m.origin, m.reference.file,
                           m.reference.line, m.fullText());
  };
  std::stable_sort(messages.begin(), messages.end(),
                   [&](const Message& a, const Message& b) { return key(a) < key(b); });
  messages.erase(std::unique(messages.begin(), messages.end(),
                             [&](const Message& a, const Message& b) { return key(a) == key(b); }),
                 messages.end());
}

}  // namespace egresslab::analyze
