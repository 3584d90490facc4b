// Strict typed reading of YNode trees: the loader's schema. Every map is read through a
// `Fields` view that knows every field name the real API has (modelled or merely accepted),
// so an unknown field is an error with a "did you mean", and every wrong type, missing
// required field and invalid enum is an error at its position. The first error wins and is
// kept in `Ctx`; reading continues harmlessly so parsers stay straight-line code.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/core/error.h"
#include "harness/model/resources.h"
#include "harness/model/yaml_tree.h"

namespace egresslab::model::detail {

// Collects the errors found while reading a file. Within one scope (a document, a scenario
// section, a list item) the first error wins and reading continues harmlessly, so parsers stay
// straight-line code; `scope()` starts a fresh one, so one file reports every broken part at
// once (up to kMaxErrors; later ones are only counted).
class Ctx {
 public:
  static constexpr std::size_t kMaxErrors = 20;

  void fail(std::string message, const SourcePos& pos) {
    if (scopeFailed_) return;
    scopeFailed_ = true;
    if (errors_.size() < kMaxErrors) {
      errors_.push_back(Error{ErrorKind::kInvalidInput, std::move(message), pos});
    } else {
      ++dropped_;
    }
  }
  // True while the current scope has no error.
  [[nodiscard]] bool ok() const { return !scopeFailed_; }
  // True when no scope failed.
  [[nodiscard]] bool clean() const { return errors_.empty(); }
  [[nodiscard]] const std::vector<Error>& errors() const { return errors_; }
  // All errors as one (see combineErrors). Only when !clean().
  [[nodiscard]] Error error() const;

  // Runs fn in a fresh scope: inside, ok() starts true even after earlier errors; afterwards
  // ok() is false if either the outer scope or fn failed.
  template <typename Fn>
  void scope(Fn&& fn) {
    const bool outer = scopeFailed_;
    scopeFailed_ = false;
    fn();
    scopeFailed_ = outer || scopeFailed_;
  }

  // Adds errors found elsewhere (another file's reader) to this report.
  void merge(const std::vector<Error>& errors, std::size_t dropped = 0);
  [[nodiscard]] std::size_t dropped() const { return dropped_; }

 private:
  std::vector<Error> errors_;
  std::size_t dropped_ = 0;
  bool scopeFailed_ = false;
};

// One Error for a report of several, sorted by position: the first error's kind, position and
// message, then one `FILE:LINE:COL: message` line per further error, then "(N more errors not
// shown)" when some were dropped. A single error is returned unchanged.
Error combineErrors(std::vector<Error> errors, std::size_t dropped = 0);

// Levenshtein distance, case-insensitive.
std::size_t editDistance(std::string_view a, std::string_view b);
// The closest candidate when it is close enough to be a typo, else "".
std::string closestMatch(std::string_view written, const std::vector<std::string>& candidates);
// "; did you mean "x"?" or "; valid fields: a, b, c".
std::string suggestion(std::string_view written, const std::vector<std::string>& candidates,
                       std::string_view listLabel);

// A declarative shape for blocks kept as raw JSON (loadBalancer, corsPolicy, IstioOperator
// k8s settings): the field names the API knows, recursively. `open` accepts any field.
struct Shape {
  std::vector<std::pair<std::string_view, const Shape*>> fields;  // nullptr child = any value
  bool open = false;
};
// Checks `node` (a map, or a list of maps) against `shape`; `what` names it in messages.
void checkShape(Ctx& ctx, const YNode& node, const Shape& shape, const std::string& what);

// A map being read field by field. Field names asked for (present or not) plus `accept`ed
// names are the known fields; `finish()` rejects the rest.
class Fields {
 public:
  // `node` must be a map (or null, read as empty); `what` names it: "VirtualService spec".
  Fields(Ctx& ctx, const YNode& node, std::string what);

  const YNode* get(std::string_view key);
  // Known fields the model does not type (kept only in raw JSON where the type has one).
  void accept(std::initializer_list<std::string_view> keys);
  // Reject unknown fields (strict) — Istio specs.
  void finish();
  [[nodiscard]] const std::string& what() const { return what_; }
  [[nodiscard]] const YNode& node() const { return node_; }

  // Typed getters: absent → nullopt/unchanged; wrong type → error.
  std::optional<std::string> str(std::string_view key);
  std::optional<bool> boolean(std::string_view key);
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<std::uint32_t> port(std::string_view key);  // 1..65535
  std::optional<double> number(std::string_view key);
  std::optional<Duration> duration(std::string_view key);
  std::vector<std::string> strList(std::string_view key);
  Labels strMap(std::string_view key);
  // A required field: error "missing required field" when absent or empty.
  std::string requiredStr(std::string_view key);

  Ctx& ctx() { return ctx_; }

 private:
  Ctx& ctx_;
  const YNode& node_;
  std::string what_;
  std::set<std::string, std::less<>> known_;
};

// Scalar readers on a single node; `field` names it in messages.
std::string readStr(Ctx& ctx, const YNode& node, std::string_view field);
std::optional<bool> readBool(Ctx& ctx, const YNode& node, std::string_view field);
std::optional<std::int64_t> readInt(Ctx& ctx, const YNode& node, std::string_view field,
                                    std::int64_t min, std::int64_t max);
std::optional<double> readDouble(Ctx& ctx, const YNode& node, std::string_view field);
std::vector<std::string> readStrList(Ctx& ctx, const YNode& node, std::string_view field);
Labels readStrMap(Ctx& ctx, const YNode& node, std::string_view field);
// "1s", "500ms", "1m", "1h", "1.5s", "1m30s" → milliseconds (Istio/protobuf durations).
std::optional<Duration> parseDurationText(std::string_view text);
std::optional<Duration> readDuration(Ctx& ctx, const YNode& node, std::string_view field);

// An enum value from a fixed list; invalid → error listing the valid values.
template <typename E>
std::optional<E> readEnum(Ctx& ctx, const YNode* node, std::string_view field,
                          std::initializer_list<std::pair<std::string_view, E>> values) {
  if (node == nullptr || node->isNull()) return std::nullopt;
  const std::string written = readStr(ctx, *node, field);
  std::vector<std::string> names;
  for (const auto& [name, value] : values) {
    if (name == written) return value;
    names.emplace_back(name);
  }
  std::string list;
  for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
  const std::string close = closestMatch(written, names);
  ctx.fail("invalid value \"" + written + "\" for " + std::string(field) + "; valid values: " +
               list + (close.empty() ? "" : " (did you mean \"" + close + "\"?)"),
           node->pos);
  return std::nullopt;
}

}  // namespace egresslab::model::detail
