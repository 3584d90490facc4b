// A YAML document as a plain tree with exact source positions: the loader's view of the user's
// file. yaml-cpp nodes are converted once (its exceptions caught here, at the adapter), so the
// typed readers never see a yaml-cpp type and every node keeps its 1-based FILE:LINE:COL and
// byte offset (for placeholder columns inside a scalar).
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/error.h"
#include "harness/model/origin.h"

namespace egresslab::model::detail {

struct YNode {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  struct Entry;

  Kind kind = Kind::kNull;
  std::string scalar;
  bool quoted = false;  // quoted or block scalar: always a string, never a number/bool/null
  SourcePos pos;
  std::size_t offset = 0;  // byte offset of the node in its source text
  std::vector<YNode> items;
  std::vector<Entry> entries;

  [[nodiscard]] const YNode* find(std::string_view key) const;
  [[nodiscard]] bool isMap() const { return kind == Kind::kMap; }
  [[nodiscard]] bool isScalar() const { return kind == Kind::kScalar; }
  [[nodiscard]] bool isSequence() const { return kind == Kind::kSequence; }
  [[nodiscard]] bool isNull() const { return kind == Kind::kNull; }
};

struct YNode::Entry {
  std::string key;
  SourcePos keyPos;
  std::size_t keyOffset = 0;
  YNode value;
};

// "a map", "a list", "a string", "null": for wrong-type messages.
std::string_view describeKind(const YNode& node);

// Parses every document of `text`. YAML syntax errors, duplicate keys, non-scalar keys and
// runaway nesting/alias expansion are errors at their position.
Result<std::vector<YNode>> parseYamlDocuments(std::string_view text, const std::string& file);

// The node as JSON: plain scalars become null/bool/int/float where YAML 1.2 core says so.
nlohmann::json toJson(const YNode& node);

// Records the position of every node below `node` into origin.fields, keyed by path
// ("spec.servers[0].port.number"). `prefix` is the path of `node` itself ("" at the root).
void recordPositions(const YNode& node, const std::string& prefix, Origin& origin);

using PlaceholderVars = std::map<std::string, std::string>;

// Substitutes `<key>` placeholders in every scalar and map key of `node`. An unresolved
// placeholder is an error at its exact column in `source` when `requireAll`.
Result<void> substituteTree(YNode& node, const PlaceholderVars& vars, bool requireAll,
                            std::string_view source);

}  // namespace egresslab::model::detail
