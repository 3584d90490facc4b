#include "mocks/extauthz/decide.h"

#include <algorithm>

namespace egresslab::extauthz {
namespace {

const std::string* header(const model::HeaderPairs& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

bool anyMatches(const std::vector<std::string>& patterns, std::string_view value) {
  return patterns.empty() || std::any_of(patterns.begin(), patterns.end(),
                                         [&](const auto& p) { return matchesPattern(p, value); });
}

bool matches(const model::ExtAuthzMatch& m, const CheckInput& c) {
  if (!anyMatches(m.paths, c.path)) return false;
  if (!m.methods.empty() &&
      std::find(m.methods.begin(), m.methods.end(), c.method) == m.methods.end()) {
    return false;
  }
  // A principal condition never matches a check that carries none (plain-text callers).
  if (!m.principals.empty() && (c.principal.empty() || !anyMatches(m.principals, c.principal))) {
    return false;
  }
  return std::all_of(m.headers.begin(), m.headers.end(), [&](const auto& h) {
    const std::string* value = header(c.headers, h.first);
    return value != nullptr && matchesPattern(h.second, *value);
  });
}

}  // namespace

bool matchesPattern(std::string_view pattern, std::string_view value) {
  if (pattern == "*") return !value.empty();
  if (pattern.size() > 1 && pattern.back() == '*') {
    return value.starts_with(pattern.substr(0, pattern.size() - 1));
  }
  if (pattern.size() > 1 && pattern.front() == '*') return value.ends_with(pattern.substr(1));
  return pattern == value;
}

const model::ExtAuthzRule& decide(const model::ExtAuthzRules& rules, const CheckInput& check) {
  for (const auto& rule : rules.rules) {
    if (matches(rule.match, check)) return rule;
  }
  return rules.otherwise;
}

std::string principalFromXfcc(std::string_view xfcc) {
  // Elements are `;`-separated key=value pairs; several certificates are `,`-separated.
  const std::string_view first = xfcc.substr(0, xfcc.find(','));
  std::size_t at = 0;
  while (at < first.size()) {
    std::size_t end = first.find(';', at);
    if (end == std::string_view::npos) end = first.size();
    std::string_view element = first.substr(at, end - at);
    while (!element.empty() && element.front() == ' ') element.remove_prefix(1);
    if (element.starts_with("URI=")) {
      element.remove_prefix(4);
      if (element.size() >= 2 && element.front() == '"' && element.back() == '"') {
        element = element.substr(1, element.size() - 2);
      }
      return std::string(element);
    }
    at = end + 1;
  }
  return {};
}

}  // namespace egresslab::extauthz
