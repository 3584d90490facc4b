// Istio's regexes: RE2 syntax, as istiod validates them (Go's regexp is RE2) and Envoy matches
// them (safe_regex is Google RE2). Linear time in the input whatever the pattern, so a hostile
// path or header cannot blow the stack or the CPU the way std::regex's backtracking does.
#pragma once

#include <string>
#include <string_view>

namespace egresslab::model {

// "" when `pattern` is a valid RE2 pattern, else RE2's description of what is wrong.
std::string regexProblem(std::string_view pattern);

// True when the whole of `value` matches `pattern` (Envoy's full-match semantics). Patterns are
// compiled once and cached (thread-safe); an invalid pattern matches nothing (load-time
// validation reports it first).
bool regexFullMatch(std::string_view pattern, std::string_view value, bool ignoreCase = false);

}  // namespace egresslab::model
