#include "harness/model/yaml_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <fmt/core.h>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "harness/model/loader.h"

namespace egresslab::model::detail {
namespace {

// Aliases are expanded into copies; these bounds keep a "billion laughs" document or a
// self-referencing anchor from exhausting memory or the stack.
constexpr int kMaxDepth = 200;
constexpr std::size_t kMaxNodes = 500000;

// Builds YNode trees straight from yaml-cpp's parser events. Using the event API (instead of
// YAML::LoadAll) lets us stop on errors early, bound alias expansion, and detect a yaml-cpp 0.7
// bug: after some malformed input (e.g. " : \n,") the parser never consumes a stray ',' and
// LoadAll keeps producing empty documents until memory runs out.
class TreeBuilder : public YAML::EventHandler {
 public:
  explicit TreeBuilder(const std::string& file) : file_(file) {}

  std::optional<Error> error;
  std::vector<YNode> docs;

  void OnDocumentStart(const YAML::Mark& mark) override {
    stack_.clear();
    root_.reset();
    docPos_ = posOf(mark, SourcePos{file_, 1, 1});
    docOffset_ = mark.pos >= 0 ? static_cast<std::size_t>(mark.pos) : 0;
  }

  void OnDocumentEnd() override {
    if (error) return;
    if (root_) {
      docs.push_back(std::move(*root_));
    } else {
      YNode null;
      null.pos = docPos_;
      null.offset = docOffset_;
      docs.push_back(std::move(null));
    }
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    YNode node;
    place(node, mark);
    add(std::move(node), anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (error) return;
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      fail("alias to an anchor that is not complete (a recursive alias?)", posOf(mark, docPos_));
      return;
    }
    const std::size_t size = countNodes(it->second);
    if (size > kMaxNodes || nodes_ + size > kMaxNodes) {
      fail("document too large (alias expansion?)", posOf(mark, docPos_));
      return;
    }
    nodes_ += size - 1;  // add() counts the root
    YNode copy = it->second;
    add(std::move(copy), YAML::NullAnchor);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    YNode node;
    node.kind = YNode::Kind::kScalar;
    node.scalar = value;
    node.quoted = tag == "!" || tag == "tag:yaml.org,2002:str";
    place(node, mark);
    add(std::move(node), anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(YNode::Kind::kSequence, mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(YNode::Kind::kMap, mark, anchor);
  }
  void OnMapEnd() override { close(); }

  [[nodiscard]] const SourcePos& docPos() const { return docPos_; }

  void fail(std::string message, SourcePos pos) {
    if (!error) error = Error{ErrorKind::kInvalidInput, std::move(message), std::move(pos)};
  }

  SourcePos posOf(const YAML::Mark& mark, const SourcePos& fallback) const {
    if (mark.line < 0 || mark.column < 0) return fallback;
    return SourcePos{file_, mark.line + 1, mark.column + 1};
  }

 private:
  struct Frame {
    YNode node;
    YAML::anchor_t anchor = YAML::NullAnchor;
    bool expectingKey = true;
    std::string key;
    SourcePos keyPos;
    std::size_t keyOffset = 0;
    std::set<std::string> keys;
  };

  static std::size_t countNodes(const YNode& node) {
    std::size_t n = 1;
    for (const auto& item : node.items) n += countNodes(item);
    for (const auto& entry : node.entries) n += countNodes(entry.value);
    return n;
  }

  void place(YNode& node, const YAML::Mark& mark) const {
    const SourcePos& parent = stack_.empty() ? docPos_ : stack_.back().node.pos;
    node.pos = posOf(mark, parent);
    node.offset = mark.pos >= 0 ? static_cast<std::size_t>(mark.pos)
                                : (stack_.empty() ? docOffset_ : stack_.back().node.offset);
  }

  void open(YNode::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (error) return;
    if (stack_.size() >= static_cast<std::size_t>(kMaxDepth)) {
      fail("YAML nested too deeply", posOf(mark, docPos_));
      return;
    }
    Frame frame;
    frame.node.kind = kind;
    place(frame.node, mark);
    frame.anchor = anchor;
    stack_.push_back(std::move(frame));
  }

  void close() {
    if (error || stack_.empty()) return;
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    add(std::move(frame.node), frame.anchor);
  }

  void add(YNode&& node, YAML::anchor_t anchor) {
    if (error) return;
    if (++nodes_ > kMaxNodes) {
      fail("document too large (alias expansion?)", node.pos);
      return;
    }
    if (anchor != YAML::NullAnchor) anchors_[anchor] = node;
    if (stack_.empty()) {
      root_ = std::move(node);
      return;
    }
    Frame& top = stack_.back();
    if (top.node.kind == YNode::Kind::kSequence) {
      top.node.items.push_back(std::move(node));
      return;
    }
    if (top.expectingKey) {
      if (!node.isScalar()) {
        fail("a mapping key must be a plain string", node.pos);
        return;
      }
      if (!top.keys.insert(node.scalar).second) {
        fail("duplicate field \"" + node.scalar + "\"", node.pos);
        return;
      }
      top.key = std::move(node.scalar);
      top.keyPos = node.pos;
      top.keyOffset = node.offset;
      top.expectingKey = false;
      return;
    }
    if (node.isNull()) {
      // yaml-cpp marks an empty value at the next token; the key is where the user looks.
      node.pos = top.keyPos;
      node.offset = top.keyOffset;
    }
    YNode::Entry entry;
    entry.key = std::move(top.key);
    entry.keyPos = top.keyPos;
    entry.keyOffset = top.keyOffset;
    entry.value = std::move(node);
    top.node.entries.push_back(std::move(entry));
    top.expectingKey = true;
  }

  const std::string& file_;
  std::vector<Frame> stack_;
  std::optional<YNode> root_;
  std::map<YAML::anchor_t, YNode> anchors_;
  std::size_t nodes_ = 0;
  SourcePos docPos_;
  std::size_t docOffset_ = 0;
};

bool isPlaceholderChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

// Position of source[target], given that source[base] is at `basePos`.
SourcePos positionAt(std::string_view source, std::size_t base, const SourcePos& basePos,
                     std::size_t target) {
  SourcePos pos = basePos;
  if (target < base || target > source.size()) return pos;
  for (std::size_t i = base; i < target; ++i) {
    if (source[i] == '\n') {
      ++pos.line;
      pos.column = 1;
    } else {
      ++pos.column;
    }
  }
  return pos;
}

Result<std::string> substituteScalar(const std::string& text, const PlaceholderVars& vars,
                                     bool requireAll, std::string_view source, std::size_t offset,
                                     const SourcePos& pos) {
  if (text.find('<') == std::string::npos) return text;
  auto result = substitutePlaceholders(text, vars, false, pos);
  if (!result || !requireAll) return result;
  // Find the first unresolved placeholder in the substituted text and point at it in the
  // source: search from the node's offset so block and quoted scalars get the exact column.
  const std::string& out = *result;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] != '<') continue;
    std::size_t j = i + 1;
    while (j < out.size() && isPlaceholderChar(out[j])) ++j;
    if (j == i + 1 || j >= out.size() || out[j] != '>') continue;
    const std::string placeholder = out.substr(i, j - i + 1);
    SourcePos where = pos;
    const std::size_t found =
        offset <= source.size() ? source.find(placeholder, offset) : std::string_view::npos;
    if (found != std::string_view::npos) where = positionAt(source, offset, pos, found);
    return invalidInput(fmt::format("unresolved placeholder {}: add \"{}\" to the scenario's vars",
                                    placeholder, placeholder.substr(1, placeholder.size() - 2)),
                        where);
  }
  return result;
}

std::optional<nlohmann::json> plainScalarJson(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  if (*begin == '+') ++begin;
  std::int64_t i = 0;
  if (auto [p, ec] = std::from_chars(begin, end, i); ec == std::errc{} && p == end) return i;
  const bool numberish = s.find_first_not_of("0123456789+-.eE") == std::string::npos &&
                         s.find_first_of("0123456789") != std::string::npos;
  if (numberish) {
    double d = 0;
    if (auto [p, ec] = std::from_chars(begin, end, d);
        ec == std::errc{} && p == end && std::isfinite(d)) {
      return d;
    }
  }
  return std::nullopt;
}

}  // namespace

const YNode* YNode::find(std::string_view key) const {
  for (const auto& entry : entries) {
    if (entry.key == key) return &entry.value;
  }
  return nullptr;
}

std::string_view describeKind(const YNode& node) {
  switch (node.kind) {
    case YNode::Kind::kNull:
      return "null";
    case YNode::Kind::kScalar:
      return "a scalar";
    case YNode::Kind::kSequence:
      return "a list";
    case YNode::Kind::kMap:
      return "a map";
  }
  return "a value";
}

Result<std::vector<YNode>> parseYamlDocuments(std::string_view text, const std::string& file) {
  std::istringstream in{std::string(text)};
  TreeBuilder builder(file);
  try {
    YAML::Parser parser(in);
    std::optional<SourcePos> previousStart;
    while (parser.HandleNextDocument(builder)) {
      if (builder.error) break;
      // A document that starts where the previous one did consumed nothing: the stuck-parser
      // bug described on TreeBuilder.
      if (previousStart && *previousStart == builder.docPos()) {
        return invalidInput("YAML syntax error: unexpected ','", builder.docPos());
      }
      previousStart = builder.docPos();
    }
  } catch (const YAML::Exception& e) {
    SourcePos pos{file, e.mark.line >= 0 ? e.mark.line + 1 : 0,
                  e.mark.column >= 0 ? e.mark.column + 1 : 0};
    return invalidInput(fmt::format("YAML syntax error: {}", e.msg), pos);
  }
  if (builder.error) return std::unexpected(*builder.error);
  return std::move(builder.docs);
}

nlohmann::json toJson(const YNode& node) {
  switch (node.kind) {
    case YNode::Kind::kNull:
      return nullptr;
    case YNode::Kind::kScalar:
      if (!node.quoted) {
        if (auto value = plainScalarJson(node.scalar)) return *value;
      }
      return node.scalar;
    case YNode::Kind::kSequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const auto& item : node.items) array.push_back(toJson(item));
      return array;
    }
    case YNode::Kind::kMap: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& entry : node.entries) object[entry.key] = toJson(entry.value);
      return object;
    }
  }
  return nullptr;
}

void recordPositions(const YNode& node, const std::string& prefix, Origin& origin) {
  if (node.isSequence()) {
    for (std::size_t i = 0; i < node.items.size(); ++i) {
      const std::string path = fmt::format("{}[{}]", prefix, i);
      origin.fields.emplace(path, node.items[i].pos);
      recordPositions(node.items[i], path, origin);
    }
  } else if (node.isMap()) {
    for (const auto& entry : node.entries) {
      const std::string path = prefix.empty() ? entry.key : prefix + "." + entry.key;
      // Scalars point at the value; collections at their key, the line a reader looks for.
      origin.fields.emplace(path, entry.value.isScalar() ? entry.value.pos : entry.keyPos);
      recordPositions(entry.value, path, origin);
    }
  }
}

Result<void> substituteTree(YNode& node, const PlaceholderVars& vars, bool requireAll,
                            std::string_view source) {
  switch (node.kind) {
    case YNode::Kind::kNull:
      return {};
    case YNode::Kind::kScalar: {
      auto value = substituteScalar(node.scalar, vars, requireAll, source, node.offset, node.pos);
      if (!value) return std::unexpected(value.error());
      node.scalar = std::move(*value);
      return {};
    }
    case YNode::Kind::kSequence:
      for (auto& item : node.items) {
        if (auto r = substituteTree(item, vars, requireAll, source); !r) return r;
      }
      return {};
    case YNode::Kind::kMap:
      for (auto& entry : node.entries) {
        auto key =
            substituteScalar(entry.key, vars, requireAll, source, entry.keyOffset, entry.keyPos);
        if (!key) return std::unexpected(key.error());
        entry.key = std::move(*key);
        if (auto r = substituteTree(entry.value, vars, requireAll, source); !r) return r;
      }
      return {};
  }
  return {};
}

}  // namespace egresslab::model::detail
