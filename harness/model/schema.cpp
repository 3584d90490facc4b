#include "harness/model/schema.h"

#include <fmt/core.h>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <tuple>

#include "harness/core/ascii.h"

namespace egresslab::model::detail {
namespace {

void typeError(Ctx& ctx, const YNode& node, std::string_view field, std::string_view expected) {
  if (node.isScalar()) {
    ctx.fail(fmt::format("{} must be {}, got \"{}\"", field, expected, node.scalar), node.pos);
  } else {
    ctx.fail(fmt::format("{} must be {}, got {}", field, expected, describeKind(node)), node.pos);
  }
}

}  // namespace

Error Ctx::error() const { return combineErrors(errors_, dropped_); }

void Ctx::merge(const std::vector<Error>& errors, std::size_t dropped) {
  for (const auto& e : errors) {
    if (errors_.size() < kMaxErrors) {
      errors_.push_back(e);
    } else {
      ++dropped_;
    }
  }
  dropped_ += dropped;
  if (!errors.empty()) scopeFailed_ = true;
}

Error combineErrors(std::vector<Error> errors, std::size_t dropped) {
  if (errors.empty()) return Error{ErrorKind::kInvalidInput, "invalid input", std::nullopt};
  // Files keep their load order; positions sort within a file; unpositioned errors go last.
  std::vector<std::string> files;
  for (const auto& e : errors) {
    const std::string file = e.where ? e.where->file : std::string();
    if (std::find(files.begin(), files.end(), file) == files.end()) files.push_back(file);
  }
  const auto key = [&](const Error& e) {
    if (!e.where) return std::make_tuple(files.size(), 0, 0);
    const auto index = static_cast<std::size_t>(
        std::find(files.begin(), files.end(), e.where->file) - files.begin());
    return std::make_tuple(index, e.where->line, e.where->column);
  };
  std::stable_sort(errors.begin(), errors.end(),
                   [&](const Error& a, const Error& b) { return key(a) < key(b); });
  if (errors.size() > Ctx::kMaxErrors) {
    dropped += errors.size() - Ctx::kMaxErrors;
    errors.resize(Ctx::kMaxErrors);
  }
  Error out = errors.front();
  for (std::size_t i = 1; i < errors.size(); ++i) out.message += "\n" + errors[i].str();
  if (dropped > 0) {
    out.message += fmt::format("\n({} more error{} not shown)", dropped, dropped == 1 ? "" : "s");
  }
  return out;
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  const std::string x = asciiLower(a);
  const std::string y = asciiLower(b);
  std::vector<std::size_t> prev(y.size() + 1);
  std::vector<std::size_t> cur(y.size() + 1);
  for (std::size_t j = 0; j <= y.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= x.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= y.size(); ++j) {
      const std::size_t substitution = prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitution});
    }
    std::swap(prev, cur);
  }
  return prev[y.size()];
}

std::string closestMatch(std::string_view written, const std::vector<std::string>& candidates) {
  // Typos are a character or two; long names tolerate a third.
  const std::size_t limit = written.size() <= 3 ? 1 : std::max<std::size_t>(2, written.size() / 4);
  std::string best;
  std::size_t bestDistance = limit + 1;
  const std::string writtenLower = asciiLower(written);
  for (const auto& candidate : candidates) {
    // A truncated name ("httpHeader" for "httpHeaderName") is a typo too.
    if (written.size() >= 4 && asciiLower(candidate).rfind(writtenLower, 0) == 0) return candidate;
  }
  for (const auto& candidate : candidates) {
    const std::size_t d = editDistance(written, candidate);
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best;
}

std::string suggestion(std::string_view written, const std::vector<std::string>& candidates,
                       std::string_view listLabel) {
  const std::string close = closestMatch(written, candidates);
  if (!close.empty()) return fmt::format("; did you mean \"{}\"?", close);
  std::string list;
  for (const auto& c : candidates) list += (list.empty() ? "" : ", ") + c;
  return fmt::format("; {}: {}", listLabel, list);
}

void checkShape(Ctx& ctx, const YNode& node, const Shape& shape, const std::string& what) {
  if (!ctx.ok() || shape.open) return;
  if (node.isSequence()) {
    for (const auto& item : node.items) checkShape(ctx, item, shape, what);
    return;
  }
  if (node.isNull()) return;
  if (!node.isMap()) {
    typeError(ctx, node, what, "a map");
    return;
  }
  for (const auto& entry : node.entries) {
    auto it = std::find_if(shape.fields.begin(), shape.fields.end(),
                           [&](const auto& f) { return f.first == entry.key; });
    if (it == shape.fields.end()) {
      std::vector<std::string> names;
      for (const auto& f : shape.fields) names.emplace_back(f.first);
      ctx.fail(fmt::format("unknown field \"{}\" in {}{}", entry.key, what,
                           suggestion(entry.key, names, "valid fields")),
               entry.keyPos);
      return;
    }
    if (it->second != nullptr) {
      checkShape(ctx, entry.value, *it->second, what + "." + entry.key);
    }
  }
}

Fields::Fields(Ctx& ctx, const YNode& node, std::string what)
    : ctx_(ctx), node_(node), what_(std::move(what)) {
  if (!node.isMap() && !node.isNull()) typeError(ctx, node, what_, "a map");
}

const YNode* Fields::get(std::string_view key) {
  known_.emplace(key);
  if (!node_.isMap()) return nullptr;
  return node_.find(key);
}

void Fields::accept(std::initializer_list<std::string_view> keys) {
  for (auto key : keys) known_.emplace(key);
}

void Fields::finish() {
  if (!node_.isMap() || !ctx_.ok()) return;
  for (const auto& entry : node_.entries) {
    if (known_.contains(entry.key)) continue;
    const std::vector<std::string> names(known_.begin(), known_.end());
    ctx_.fail(fmt::format("unknown field \"{}\" in {}{}", entry.key, what_,
                          suggestion(entry.key, names, "valid fields")),
              entry.keyPos);
    return;
  }
}

std::optional<std::string> Fields::str(std::string_view key) {
  const YNode* node = get(key);
  if (node == nullptr || node->isNull()) return std::nullopt;
  return readStr(ctx_, *node, key);
}

std::optional<bool> Fields::boolean(std::string_view key) {
  const YNode* node = get(key);
  if (node == nullptr) return std::nullopt;
  return readBool(ctx_, *node, key);
}

std::optional<std::int64_t> Fields::integer(std::string_view key, std::int64_t min,
                                            std::int64_t max) {
  const YNode* node = get(key);
  if (node == nullptr) return std::nullopt;
  return readInt(ctx_, *node, key, min, max);
}

std::optional<std::uint32_t> Fields::port(std::string_view key) {
  auto value = integer(key, 1, 65535);
  if (!value) return std::nullopt;
  return static_cast<std::uint32_t>(*value);
}

std::optional<double> Fields::number(std::string_view key) {
  const YNode* node = get(key);
  if (node == nullptr) return std::nullopt;
  return readDouble(ctx_, *node, key);
}

std::optional<Duration> Fields::duration(std::string_view key) {
  const YNode* node = get(key);
  if (node == nullptr) return std::nullopt;
  return readDuration(ctx_, *node, key);
}

std::vector<std::string> Fields::strList(std::string_view key) {
  const YNode* node = get(key);
  if (node == nullptr) return {};
  return readStrList(ctx_, *node, key);
}

Labels Fields::strMap(std::string_view key) {
  const YNode* node = get(key);
  if (node == nullptr) return {};
  return readStrMap(ctx_, *node, key);
}

std::string Fields::requiredStr(std::string_view key) {
  const YNode* node = get(key);
  std::string value = node != nullptr ? readStr(ctx_, *node, key) : std::string();
  if (value.empty() && ctx_.ok()) {
    ctx_.fail(fmt::format("missing required field \"{}\" in {}", key, what_),
              node != nullptr ? node->pos : node_.pos);
  }
  return value;
}

std::string readStr(Ctx& ctx, const YNode& node, std::string_view field) {
  if (node.isScalar()) return node.scalar;
  if (node.isNull()) return {};
  typeError(ctx, node, field, "a string");
  return {};
}

std::optional<bool> readBool(Ctx& ctx, const YNode& node, std::string_view field) {
  if (node.isNull()) return std::nullopt;
  if (node.isScalar() && !node.quoted) {
    const std::string v = asciiLower(node.scalar);
    if (v == "true") return true;
    if (v == "false") return false;
  }
  typeError(ctx, node, field, "true or false");
  return std::nullopt;
}

std::optional<std::int64_t> readInt(Ctx& ctx, const YNode& node, std::string_view field,
                                    std::int64_t min, std::int64_t max) {
  if (node.isNull()) return std::nullopt;
  if (node.isScalar()) {
    // protobuf JSON accepts quoted integers too ("80"), so Istio does.
    const std::string& s = node.scalar;
    std::int64_t value = 0;
    const char* begin = s.data();
    const char* end = s.data() + s.size();
    if (begin != end && *begin == '+') ++begin;
    auto [p, ec] = std::from_chars(begin, end, value);
    if (ec == std::errc{} && p == end) {
      if (value < min || value > max) {
        ctx.fail(fmt::format("{} must be between {} and {}, got {}", field, min, max, value),
                 node.pos);
        return std::nullopt;
      }
      return value;
    }
  }
  typeError(ctx, node, field, "an integer");
  return std::nullopt;
}

std::optional<double> readDouble(Ctx& ctx, const YNode& node, std::string_view field) {
  if (node.isNull()) return std::nullopt;
  if (node.isScalar()) {
    double value = 0;
    const char* begin = node.scalar.data();
    const char* end = begin + node.scalar.size();
    auto [p, ec] = std::from_chars(begin, end, value);
    if (ec == std::errc{} && p == end && std::isfinite(value)) return value;
  }
  typeError(ctx, node, field, "a number");
  return std::nullopt;
}

std::vector<std::string> readStrList(Ctx& ctx, const YNode& node, std::string_view field) {
  std::vector<std::string> out;
  if (node.isNull()) return out;
  if (!node.isSequence()) {
    typeError(ctx, node, field, "a list of strings");
    return out;
  }
  for (const auto& item : node.items) {
    if (!item.isScalar()) {
      typeError(ctx, item, fmt::format("each entry of {}", field), "a string");
      return out;
    }
    out.push_back(item.scalar);
  }
  return out;
}

Labels readStrMap(Ctx& ctx, const YNode& node, std::string_view field) {
  Labels out;
  if (node.isNull()) return out;
  if (!node.isMap()) {
    typeError(ctx, node, field, "a map of strings");
    return out;
  }
  for (const auto& entry : node.entries) {
    if (entry.value.isNull()) {
      out[entry.key] = "";
    } else if (!entry.value.isScalar()) {
      typeError(ctx, entry.value, fmt::format("{}.{}", field, entry.key), "a string");
      return out;
    } else {
      out[entry.key] = entry.value.scalar;
    }
  }
  return out;
}

std::optional<Duration> parseDurationText(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double totalMs = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (i == start) return std::nullopt;
    double value = 0;
    auto [p, ec] = std::from_chars(text.data() + start, text.data() + i, value);
    if (ec != std::errc{} || p != text.data() + i) return std::nullopt;
    const std::size_t unitStart = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const std::string_view unit = text.substr(unitStart, i - unitStart);
    double scale = 0;
    if (unit == "h") {
      scale = 3600000;
    } else if (unit == "m") {
      scale = 60000;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "ms") {
      scale = 1;
    } else if (unit == "us") {
      scale = 0.001;
    } else if (unit == "ns") {
      scale = 0.000001;
    } else {
      return std::nullopt;
    }
    totalMs += value * scale;
  }
  if (!std::isfinite(totalMs) || totalMs > 1e15) return std::nullopt;
  return Duration{static_cast<std::int64_t>(std::llround(totalMs))};
}

std::optional<Duration> readDuration(Ctx& ctx, const YNode& node, std::string_view field) {
  if (node.isNull()) return std::nullopt;
  if (node.isScalar()) {
    if (auto d = parseDurationText(node.scalar)) return d;
    ctx.fail(fmt::format("invalid duration \"{}\" for {}: use e.g. 500ms, 1s, 1.5s, 1m, 1h",
                         node.scalar, field),
             node.pos);
    return std::nullopt;
  }
  typeError(ctx, node, field, "a duration such as \"1s\"");
  return std::nullopt;
}

}  // namespace egresslab::model::detail
