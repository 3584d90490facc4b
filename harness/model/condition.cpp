#include "harness/model/condition.h"

#include <fmt/core.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <string_view>

namespace egresslab::model {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view unitName(Condition::Unit unit) {
  switch (unit) {
    case Condition::Unit::kCount:
      return "a count (e.g. \"<= 3\")";
    case Condition::Unit::kPercent:
      return "a percentage (e.g. \">= 99%\")";
    case Condition::Unit::kDuration:
      return "a duration (e.g. \"< 500ms\")";
  }
  return "";
}

}  // namespace

bool Condition::holds(double observed) const {
  // Percentages and durations are compared at a precision finer than anyone writes them, so
  // 99.9% of 1000 requests (999) is ">= 99.9%" despite floating-point division.
  constexpr double kEpsilon = 1e-9;
  switch (op) {
    case Op::kGe:
      return observed >= value - kEpsilon;
    case Op::kGt:
      return observed > value + kEpsilon;
    case Op::kLe:
      return observed <= value + kEpsilon;
    case Op::kLt:
      return observed < value - kEpsilon;
    case Op::kEq:
      return std::fabs(observed - value) <= kEpsilon;
  }
  return false;
}

Result<Condition> parseCondition(const std::string& written, Condition::Unit expected,
                                 const std::string& key, SourcePos where) {
  const std::string_view all = trim(written);
  Condition c;
  c.text = std::string(all);
  c.unit = expected;
  const auto bad = [&](std::string_view why) -> Result<Condition> {
    return invalidInput(fmt::format("{}: invalid condition \"{}\": {}; write an operator (>=, >, "
                                    "<=, <, ==) then {}",
                                    key, written, why, unitName(expected)),
                        where);
  };
  std::string_view rest = all;
  if (rest.starts_with(">=")) {
    c.op = Condition::Op::kGe;
    rest.remove_prefix(2);
  } else if (rest.starts_with("<=")) {
    c.op = Condition::Op::kLe;
    rest.remove_prefix(2);
  } else if (rest.starts_with("==")) {
    c.op = Condition::Op::kEq;
    rest.remove_prefix(2);
  } else if (rest.starts_with(">")) {
    c.op = Condition::Op::kGt;
    rest.remove_prefix(1);
  } else if (rest.starts_with("<")) {
    c.op = Condition::Op::kLt;
    rest.remove_prefix(1);
  } else {
    return bad("it does not start with an operator");
  }
  rest = trim(rest);
  std::size_t numberEnd = 0;
  while (numberEnd < rest.size() &&
         (std::isdigit(static_cast<unsigned char>(rest[numberEnd])) || rest[numberEnd] == '.')) {
    ++numberEnd;
  }
  if (numberEnd == 0) return bad("no number after the operator");
  double number = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + numberEnd, number);
  if (ec != std::errc{} || end != rest.data() + numberEnd || !std::isfinite(number)) {
    return bad("the number does not parse");
  }
  const std::string_view unit = trim(rest.substr(numberEnd));
  switch (expected) {
    case Condition::Unit::kCount:
      if (!unit.empty()) return bad(fmt::format("\"{}\" is not a count", unit));
      if (number != std::floor(number)) return bad("a count is a whole number");
      c.value = number;
      break;
    case Condition::Unit::kPercent:
      if (unit != "%") return bad("the number needs a % sign");
      if (number > 100) return bad("a percentage is at most 100%");
      c.value = number;
      break;
    case Condition::Unit::kDuration:
      if (unit == "us") {
        c.value = number / 1000.0;
      } else if (unit == "ms") {
        c.value = number;
      } else if (unit == "s") {
        c.value = number * 1000.0;
      } else if (unit == "m") {
        c.value = number * 60000.0;
      } else {
        return bad(unit.empty() ? std::string("the duration needs a unit (us, ms, s or m)")
                                : fmt::format("unknown duration unit \"{}\"", unit));
      }
      break;
  }
  return c;
}

std::string formatConditionValue(double value, Condition::Unit unit) {
  switch (unit) {
    case Condition::Unit::kCount:
      return fmt::format("{}", static_cast<long long>(std::llround(value)));
    case Condition::Unit::kPercent:
      return fmt::format("{:.4g}%", value);
    case Condition::Unit::kDuration:
      if (value < 1.0) return fmt::format("{:.3g}ms", value);
      if (value < 10000.0) return fmt::format("{:.4g}ms", value);
      return fmt::format("{:.4g}s", value / 1000.0);
  }
  return "";
}

}  // namespace egresslab::model
