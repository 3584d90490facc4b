#include "harness/runner/expectation.h"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace egresslab::runner {
namespace {

std::string list(const std::vector<std::string>& items) {
  return fmt::format("[{}]", fmt::join(items, ", "));
}

std::string statusList(const std::vector<int>& codes) {
  if (codes.size() == 1) return std::to_string(codes.front());
  return fmt::format("one of [{}]", fmt::join(codes, ", "));
}

// A body quoted in a message: long enough to recognise, short enough to read.
std::string excerpt(const std::string& body) {
  constexpr std::size_t kMax = 200;
  if (body.empty()) return "an empty body";
  std::string text = body.size() > kMax ? body.substr(0, kMax) + "…" : body;
  std::replace(text.begin(), text.end(), '\n', ' ');
  return fmt::format("\"{}\"", text);
}

std::set<std::string> flagSet(const std::string& flags) {
  std::set<std::string> out;
  std::size_t start = 0;
  while (start <= flags.size()) {
    const std::size_t comma = flags.find(',', start);
    std::string part =
        flags.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    if (!part.empty() && part != "-") out.insert(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string observedResponse(const report::Observation& o) {
  if (o.status) return std::to_string(*o.status);
  const int exit = o.exit.value_or(0);
  std::string text = fmt::format("no HTTP response (curl exit {}", exit);
  if (!o.curlError.empty()) text += ": " + o.curlError;
  return text + ")";
}

// The observed value for a proxy named as the expectation names it.
const std::string* findFlags(const report::Observation& o, const std::string& proxy) {
  if (const auto it = o.flags.find(proxy); it != o.flags.end()) return &it->second;
  for (const auto& [name, value] : o.flags) {
    if (proxyNameMatches(proxy, name)) return &value;
  }
  return nullptr;
}

std::string proxiesSeen(const report::Observation& o) {
  std::vector<std::string> names;
  for (const auto& [name, value] : o.flags) names.push_back(name);
  if (names.empty()) return "no proxy logged this request";
  return fmt::format("proxies that logged it: {}", fmt::join(names, ", "));
}

void checkHeaders(const model::Expectation& e, const report::Observation& o,
                  std::vector<Mismatch>& out) {
  for (const auto& [name, matcher] : e.headers) {
    const auto it = o.headers.find(name);
    const std::string key = "headers." + name;
    if (it == o.headers.end() || it->second.empty()) {
      out.push_back({key, fmt::format("header {}: expected {}, observed no such header", name,
                                      matcher.str())});
      continue;
    }
    // A repeated header matches when one of its values does, or their comma-joined form does
    // (what a client folding the header would see).
    const auto& values = it->second;
    const std::string joined = fmt::format("{}", fmt::join(values, ", "));
    const bool ok = std::any_of(values.begin(), values.end(),
                                [&](const std::string& v) { return matcher.matches(v); }) ||
                    matcher.matches(joined);
    if (!ok) {
      out.push_back({key, fmt::format("header {}: expected {}, observed \"{}\"", name,
                                      matcher.str(), joined)});
    }
  }
}

void checkBody(const model::Expectation& e, const report::Observation& o,
               std::vector<Mismatch>& out) {
  if (!e.body) return;
  for (const auto& needle : e.body->contains) {
    if (o.body.find(needle) == std::string::npos) {
      out.push_back(
          {"body.contains", fmt::format("body: expected it to contain \"{}\", observed {}", needle,
                                        excerpt(o.body))});
    }
  }
  if (e.body->json) {
    const nlohmann::json parsed =
        nlohmann::json::parse(o.body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
      out.push_back({"body.json", fmt::format("body: expected JSON containing {}, observed {} "
                                              "(not JSON)",
                                              e.body->json->dump(), excerpt(o.body))});
    } else if (std::string where; !jsonContains(parsed, *e.body->json, &where)) {
      out.push_back({"body.json", fmt::format("body: expected JSON containing {}, but {}",
                                              e.body->json->dump(), where)});
    }
  }
}

bool viaMatches(const std::vector<std::string>& expected, const std::vector<std::string>& seen) {
  if (expected.size() != seen.size()) return false;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (!proxyNameMatches(expected[i], seen[i])) return false;
  }
  return true;
}

std::string jsonPath(const std::string& parent, const std::string& child) {
  return parent + "/" + child;
}

bool jsonContainsAt(const nlohmann::json& value, const nlohmann::json& subset,
                    const std::string& path, std::string* difference) {
  const std::string where = path.empty() ? "/" : path;
  if (subset.is_object()) {
    if (!value.is_object()) {
      if (difference)
        *difference = fmt::format("at {} observed {} (not an object)", where, value.dump());
      return false;
    }
    for (const auto& [key, expected] : subset.items()) {
      const auto it = value.find(key);
      if (it == value.end()) {
        if (difference) *difference = fmt::format("{} is missing", jsonPath(path, key));
        return false;
      }
      if (!jsonContainsAt(*it, expected, jsonPath(path, key), difference)) return false;
    }
    return true;
  }
  if (subset.is_array()) {
    if (!value.is_array() || value.size() != subset.size()) {
      if (difference) {
        *difference =
            fmt::format("at {} expected {} observed {}", where, subset.dump(), value.dump());
      }
      return false;
    }
    for (std::size_t i = 0; i < subset.size(); ++i) {
      if (!jsonContainsAt(value[i], subset[i], jsonPath(path, std::to_string(i)), difference)) {
        return false;
      }
    }
    return true;
  }
  if (value != subset) {
    if (difference) {
      *difference =
          fmt::format("at {} expected {} observed {}", where, subset.dump(), value.dump());
    }
    return false;
  }
  return true;
}

}  // namespace

bool proxyNameMatches(const std::string& expected, const std::string& observed) {
  if (expected == observed) return true;
  const auto bare = [](const std::string& name) {
    const auto slash = name.rfind('/');
    return slash == std::string::npos ? name : name.substr(slash + 1);
  };
  const bool expectedQualified = expected.find('/') != std::string::npos;
  const bool observedQualified = observed.find('/') != std::string::npos;
  // Two qualified names must be equal; one bare name matches the other's name part.
  if (expectedQualified && observedQualified) return false;
  return bare(expected) == bare(observed);
}

bool flagsMatch(const model::Matcher& expected, const std::string& observed) {
  if (expected.isRegex) return expected.matches(observed);
  return flagSet(expected.text) == flagSet(observed);
}

bool jsonContains(const nlohmann::json& value, const nlohmann::json& subset,
                  std::string* firstDifference) {
  return jsonContainsAt(value, subset, "", firstDifference);
}

std::vector<Mismatch> evaluate(const model::Expectation& e, const report::Observation& o) {
  std::vector<Mismatch> out;
  const int expectedExit = e.exit.value_or(0);
  const int observedExit = o.exit.value_or(0);
  if (expectedExit != observedExit) {
    std::string text =
        fmt::format("exit: expected curl to exit {}, observed {}", expectedExit, observedExit);
    if (!o.curlError.empty()) text += fmt::format(" ({})", o.curlError);
    out.push_back({"exit", std::move(text)});
  }
  if (!e.status.empty() &&
      (!o.status || std::find(e.status.begin(), e.status.end(), *o.status) == e.status.end())) {
    out.push_back({"status", fmt::format("status: expected {}, observed {}", statusList(e.status),
                                         observedResponse(o))});
  }
  checkHeaders(e, o, out);
  checkBody(e, o, out);
  if (e.via && !viaMatches(*e.via, o.via)) {
    out.push_back({"via", fmt::format("via: expected the request to cross {}, observed {}",
                                      list(*e.via), list(o.via))});
  }
  for (const auto& [proxy, matcher] : e.flags) {
    const std::string key = "flags." + proxy;
    const std::string* seen = findFlags(o, proxy);
    if (seen == nullptr) {
      out.push_back({key, fmt::format("flags {}: expected {}, observed no access-log line from {} "
                                      "for this request ({})",
                                      proxy, matcher.str(), proxy, proxiesSeen(o))});
    } else if (!flagsMatch(matcher, *seen)) {
      out.push_back(
          {key, fmt::format("flags {}: expected {}, observed {}", proxy, matcher.str(), *seen)});
    }
  }
  return out;
}

std::string describeExpectation(const model::Expectation& e) {
  std::vector<std::string> parts;
  parts.push_back(fmt::format("exit {}", e.exit.value_or(0)));
  if (!e.status.empty()) parts.push_back("status " + statusList(e.status));
  for (const auto& [name, matcher] : e.headers) {
    parts.push_back(fmt::format("header {} {}", name, matcher.str()));
  }
  if (e.body) {
    for (const auto& needle : e.body->contains) {
      parts.push_back(fmt::format("body contains \"{}\"", needle));
    }
    if (e.body->json) parts.push_back("body json ⊇ " + e.body->json->dump());
  }
  if (e.via) parts.push_back("via " + list(*e.via));
  if (!e.flags.empty()) {
    std::map<std::string, std::string> flags;
    for (const auto& [proxy, matcher] : e.flags) flags[proxy] = matcher.str();
    parts.push_back("flags " + flagsText(flags));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

nlohmann::json expectationJson(const model::Expectation& e) {
  nlohmann::json out = nlohmann::json::object();
  if (e.exit) out["exit"] = *e.exit;
  if (e.status.size() == 1) out["status"] = e.status.front();
  if (e.status.size() > 1) out["status"] = e.status;
  if (!e.headers.empty()) {
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [name, matcher] : e.headers) headers[name] = matcher.str();
    out["headers"] = std::move(headers);
  }
  if (e.body) {
    nlohmann::json body = nlohmann::json::object();
    if (!e.body->contains.empty()) body["contains"] = e.body->contains;
    if (e.body->json) body["json"] = *e.body->json;
    out["body"] = std::move(body);
  }
  if (e.via) out["via"] = *e.via;
  if (!e.flags.empty()) {
    nlohmann::json flags = nlohmann::json::object();
    for (const auto& [proxy, matcher] : e.flags) flags[proxy] = matcher.str();
    out["flags"] = std::move(flags);
  }
  return out;
}

std::string flagsText(const std::map<std::string, std::string>& flags) {
  std::vector<std::string> parts;
  for (const auto& [proxy, value] : flags) parts.push_back(proxy + ": " + value);
  return fmt::format("{{{}}}", fmt::join(parts, ", "));
}

std::string explainMismatches(const std::vector<Mismatch>& mismatches,
                              const report::Observation& observed) {
  std::vector<std::string> lines;
  for (const auto& m : mismatches) lines.push_back(m.message);
  // Glossary for what the observation shows: the codes are what newcomers get stuck on.
  const int exit = observed.exit.value_or(0);
  if (exit != 0) {
    if (const std::string meaning = curlExitMeaning(exit); !meaning.empty()) {
      lines.push_back(fmt::format("  curl exit {} = {}", exit, meaning));
    }
  }
  std::set<std::string> explained;
  for (const auto& [proxy, flags] : observed.flags) {
    for (const auto& flag : flagSet(flags)) {
      if (!explained.insert(flag).second) continue;
      if (const std::string meaning = responseFlagMeaning(flag); !meaning.empty()) {
        lines.push_back(fmt::format("  {} = {}", flag, meaning));
      }
    }
  }
  if (observed.accessLog.empty() && !observed.requestId.empty()) {
    lines.push_back(fmt::format("  no proxy logged x-request-id {}", observed.requestId));
  }
  return fmt::format("{}", fmt::join(lines, "\n"));
}

std::string curlExitMeaning(int exitCode) {
  switch (exitCode) {
    case 0:
      return "success";
    case 3:
      return "malformed URL";
    case 6:
      return "could not resolve host (the name is in no DNS the client uses)";
    case 7:
      return "failed to connect (connection refused: nothing listens there, or a listener is "
             "still warming)";
    case 22:
      return "HTTP error status with -f/--fail";
    case 28:
      return "operation timed out (-m/--max-time or --connect-timeout)";
    case 35:
      return "TLS handshake failed (e.g. no filter chain for this SNI, or the server's "
             "certificate secret is missing)";
    case 47:
      return "too many redirects";
    case 52:
      return "empty reply from server";
    case 56:
      return "failure receiving data (connection reset; with TLS 1.3 also a rejected client "
             "certificate)";
    case 58:
      return "problem with the local client certificate";
    case 60:
      return "the server's certificate could not be verified (pass --cacert ${ca}, or -k)";
    default:
      return "";
  }
}

std::string responseFlagMeaning(const std::string& flag) {
  static const std::map<std::string, std::string> kMeanings = {
      {"UH", "no healthy upstream: the cluster has no ready endpoint"},
      {"UF", "upstream connection failure (refused, or a failed TLS handshake)"},
      {"UO", "upstream overflow (circuit breaker)"},
      {"NR", "no route configured for this Host/path (or no matching filter chain)"},
      {"URX", "retry limit reached: the default 2 retries were used up"},
      {"NC", "cluster not found (e.g. a subset that selects no endpoint)"},
      {"DC", "downstream connection terminated"},
      {"UT", "upstream request timeout"},
      {"UC", "upstream connection terminated"},
      {"UR", "upstream remote reset"},
      {"LR", "local reset"},
      {"DPE", "downstream protocol error"},
      {"UPE", "upstream protocol error"},
      {"FI", "fault injected (VirtualService fault)"},
  };
  const auto it = kMeanings.find(flag);
  return it == kMeanings.end() ? std::string() : it->second;
}

}  // namespace egresslab::runner
