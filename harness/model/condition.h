// A load expectation's condition (docs/scenarios.md "Load and SLOs"): an operator (`>=`, `>`,
// `<=`, `<`, `==`) then a number, a percentage (`99%`, `99.9 %`) or a duration (`500ms`, `1.5s`,
// `800us`), e.g. ">= 99%", "< 500ms", "<= 3". Parsing is strict: each expectation key takes one
// kind of value (successRate and servedBy a percentage, p50/p90/p99 a duration, errors and
// statuses a count), so "p99: < 99%" is an error, not a silent comparison.
#pragma once

#include <string>

#include "harness/core/error.h"

namespace egresslab::model {

struct Condition {
  enum class Op { kGe, kGt, kLe, kLt, kEq };
  enum class Unit { kCount, kPercent, kDuration };
  Op op = Op::kGe;
  Unit unit = Unit::kCount;
  // kCount: the number; kPercent: percent (99.5 for "99.5%"); kDuration: milliseconds.
  double value = 0;
  std::string text;  // as written, trimmed: ">= 99%"

  // `observed` in the condition's unit (percent 0-100, milliseconds, or a count).
  [[nodiscard]] bool holds(double observed) const;
};

// `expected` is the unit the key takes; `key` names it in messages ("expect.p99").
Result<Condition> parseCondition(const std::string& written, Condition::Unit expected,
                                 const std::string& key, SourcePos where = {});

// "99%", "500ms", "3": a value in a condition's unit, as messages print it.
std::string formatConditionValue(double value, Condition::Unit unit);

}  // namespace egresslab::model
