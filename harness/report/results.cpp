#include "harness/report/results.h"

#include <algorithm>
#include <iterator>

namespace egresslab::report {

std::string_view outcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPassed:
      return "passed";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kError:
      return "error";
    case Outcome::kSkipped:
      return "skipped";
  }
  return "error";
}

std::vector<std::pair<std::string, std::vector<std::string>>> logsByProxy(
    const std::vector<std::string>& accessLog) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& entry : accessLog) {
    const auto colon = entry.find(": ");
    std::string proxy = colon == std::string::npos ? std::string() : entry.substr(0, colon);
    std::string line = colon == std::string::npos ? entry : entry.substr(colon + 2);
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == proxy; });
    if (it == out.end()) {
      out.emplace_back(std::move(proxy), std::vector<std::string>{});
      it = std::prev(out.end());
    }
    it->second.push_back(std::move(line));
  }
  return out;
}

Summary RunReport::summary() const {
  Summary s;
  for (const auto& scenario : scenarios) {
    switch (scenario.outcome) {
      case Outcome::kPassed:
        ++s.passed;
        break;
      case Outcome::kFailed:
        ++s.failed;
        break;
      case Outcome::kError:
        ++s.error;
        break;
      case Outcome::kSkipped:
        ++s.skipped;
        break;
    }
  }
  return s;
}

}  // namespace egresslab::report
