#include "harness/report/results.h"

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
