// ASCII case for protocol tokens: HTTP header names, Kubernetes kinds, DNS names, SNI, scheme and
// protocol names. These are ASCII by their specifications, so case folding is a table-free
// compare on bytes — not the C library's locale-dependent, per-call `std::tolower`, which showed
// in the data plane's profile (every header lookup folds every name it passes).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace egresslab {

constexpr char asciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

inline std::string asciiLower(std::string s) {
  for (char& c : s) c = asciiLower(c);
  return s;
}

inline std::string asciiLower(std::string_view s) { return asciiLower(std::string(s)); }
inline std::string asciiLower(const char* s) { return asciiLower(std::string(s)); }

constexpr bool asciiIEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return asciiLower(x) == asciiLower(y);
         });
}

}  // namespace egresslab
