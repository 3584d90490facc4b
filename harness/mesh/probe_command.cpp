#include "harness/mesh/probe_command.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <optional>

#include <fmt/format.h>

namespace egresslab::mesh {
namespace {

bool isBlank(char c) { return c == ' ' || c == '\t'; }

// Characters that end an unquoted word.
bool isMeta(char c) {
  return isBlank(c) || c == '\n' || c == ';' || c == '&' || c == '|' || c == '<' || c == '>' ||
         c == '(' || c == ')';
}

bool isAssignment(const std::string& word, std::size_t firstQuote) {
  const auto eq = word.find('=');
  if (eq == std::string::npos || eq == 0 || eq > firstQuote) return false;
  if (std::isdigit(static_cast<unsigned char>(word[0])) != 0) return false;
  return std::all_of(word.begin(), word.begin() + static_cast<std::ptrdiff_t>(eq), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

constexpr std::array<std::string_view, 14> kKeywords = {"if",    "then", "else", "elif", "fi",
                                                        "do",    "done", "case", "esac", "while",
                                                        "until", "for",  "{",    "}"};

class Parser {
 public:
  Parser(std::string_view s, SourcePos where) : s_(s), where_(std::move(where)) {}

  Result<ShellScript> run() {
    for (;;) {
      skipBlanks();
      if (i_ >= s_.size()) break;
      const char c = s_[i_];
      if (c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
        continue;
      }
      if (c == '\n') {
        ++i_;
        // After `&&`, `||` or `|` a newline continues the list, as in sh.
        if (pending_ != Pending::kNone) continue;
        if (auto e = endPipeline(ShellConnector::kSequence, /*newline=*/true); !e) return fail(e);
        continue;
      }
      if (c == ';') {
        if (i_ + 1 < s_.size() && s_[i_ + 1] == ';') return error("';;' outside a case");
        ++i_;
        if (auto e = endPipeline(ShellConnector::kSequence, false); !e) return fail(e);
        continue;
      }
      if (c == '&') {
        if (i_ + 1 < s_.size() && s_[i_ + 1] == '&') {
          i_ += 2;
          if (auto e = endPipeline(ShellConnector::kAnd, false); !e) return fail(e);
          continue;
        }
        return error("a background job ('&') is not supported in a probe");
      }
      if (c == '|') {
        if (i_ + 1 < s_.size() && s_[i_ + 1] == '|') {
          i_ += 2;
          if (auto e = endPipeline(ShellConnector::kOr, false); !e) return fail(e);
          continue;
        }
        if (auto e = endCommand("|"); !e) return fail(e);
        ++i_;
        pending_ = Pending::kPipe;
        continue;
      }
      if (c == '(' || c == ')') return error("subshells ('(' … ')') are not supported");
      if (c == '<' || c == '>') {
        if (auto e = redirect(""); !e) return fail(e);
        continue;
      }
      if (auto e = word(); !e) return fail(e);
    }
    if (pending_ == Pending::kPipe) return error("'|' without a command after it");
    if (pending_ == Pending::kAndOr) return error("'&&' or '||' without a command after it");
    if (!commandEmpty() || !pipeline_.commands.empty() || pipeline_.negated) {
      if (auto e = endPipeline(ShellConnector::kSequence, false); !e) return fail(e);
    }
    if (out_.items.empty()) return error("the script runs no command");
    return out_;
  }

 private:
  enum class Pending { kNone, kPipe, kAndOr };

  std::unexpected<Error> error(const std::string& message) const {
    SourcePos at = where_;
    if (at.line > 0) at.column += static_cast<int>(std::min(i_, s_.size()));
    return invalidInput(fmt::format("probe script: {} (at offset {})", message, i_), at);
  }
  static std::unexpected<Error> fail(const Result<void>& r) { return std::unexpected(r.error()); }

  void skipBlanks() {
    while (i_ < s_.size()) {
      if (isBlank(s_[i_])) {
        ++i_;
      } else if (s_[i_] == '\\' && i_ + 1 < s_.size() && s_[i_ + 1] == '\n') {
        i_ += 2;
      } else {
        break;
      }
    }
  }

  bool commandEmpty() const {
    return cmd_.words.empty() && cmd_.assignments.empty() && cmd_.redirects.empty();
  }

  Result<void> endCommand(std::string_view op) {
    if (commandEmpty()) return error(fmt::format("'{}' without a command before it", op));
    pipeline_.commands.push_back(std::move(cmd_));
    cmd_ = {};
    pending_ = Pending::kNone;
    return {};
  }

  // Ends the pipeline before a list operator; `next` is the connector of the pipeline after it.
  Result<void> endPipeline(ShellConnector next, bool newline) {
    const std::string_view op = next == ShellConnector::kAnd  ? "&&"
                                : next == ShellConnector::kOr ? "||"
                                                              : ";";
    if (pending_ == Pending::kPipe) return error(fmt::format("'{}' right after '|'", op));
    if (commandEmpty() && pipeline_.commands.empty() && !pipeline_.negated) {
      if (newline && pending_ == Pending::kNone) return {};  // a blank line
      return error(fmt::format("'{}' without a command before it", op));
    }
    if (auto e = endCommand(op); !e) return e;
    out_.items.push_back({connector_, std::move(pipeline_)});
    pipeline_ = {};
    connector_ = next;
    pending_ = next == ShellConnector::kSequence ? Pending::kNone : Pending::kAndOr;
    return {};
  }

  // One redirection starting at s_[i_] ('<' or '>'); `fd` is a number written right before it.
  Result<void> redirect(std::string fd) {
    std::string op = std::move(fd);
    op += s_[i_++];
    if (i_ < s_.size() && (s_[i_] == '>' || s_[i_] == '&' || s_[i_] == '|')) op += s_[i_++];
    skipBlanks();
    if (i_ >= s_.size() || isMeta(s_[i_])) return error(fmt::format("'{}' without a target", op));
    std::string target;
    std::size_t firstQuote = std::string::npos;
    if (auto e = readWord(target, firstQuote); !e) return e;
    cmd_.redirects.push_back({std::move(op), std::move(target)});
    pending_ = Pending::kNone;
    return {};
  }

  // Reads one word from s_[i_], removing quotes. firstQuote: where in `out` quoting began.
  Result<void> readWord(std::string& out, std::size_t& firstQuote) {
    while (i_ < s_.size() && !isMeta(s_[i_])) {
      const char c = s_[i_];
      if (c == '\'') {
        firstQuote = std::min(firstQuote, out.size());
        const auto close = s_.find('\'', i_ + 1);
        if (close == std::string_view::npos) return error("unterminated single quote");
        out.append(s_.substr(i_ + 1, close - i_ - 1));
        i_ = close + 1;
      } else if (c == '"') {
        firstQuote = std::min(firstQuote, out.size());
        ++i_;
        for (;;) {
          if (i_ >= s_.size()) return error("unterminated double quote");
          const char d = s_[i_];
          if (d == '"') {
            ++i_;
            break;
          }
          if (d == '`' || (d == '$' && i_ + 1 < s_.size() && s_[i_ + 1] == '(')) {
            return error("command substitution is not supported");
          }
          if (d == '\\' && i_ + 1 < s_.size()) {
            const char e = s_[i_ + 1];
            if (e == '\n') {
              i_ += 2;
              continue;
            }
            if (e == '$' || e == '`' || e == '"' || e == '\\') {
              out += e;
              i_ += 2;
              continue;
            }
          }
          out += d;
          ++i_;
        }
      } else if (c == '\\') {
        if (i_ + 1 >= s_.size()) {
          out += c;
          ++i_;
        } else if (s_[i_ + 1] == '\n') {
          i_ += 2;
        } else {
          firstQuote = std::min(firstQuote, out.size());
          out += s_[i_ + 1];
          i_ += 2;
        }
      } else if (c == '`' || (c == '$' && i_ + 1 < s_.size() && s_[i_ + 1] == '(')) {
        return error("command substitution is not supported");
      } else {
        out += c;
        ++i_;
      }
    }
    return {};
  }

  Result<void> word() {
    const std::size_t start = i_;
    std::string text;
    std::size_t firstQuote = std::string::npos;
    if (auto e = readWord(text, firstQuote); !e) return e;
    const bool quoted = firstQuote != std::string::npos;
    // `2>&1`: an unquoted number right before a redirection is its file descriptor.
    if (!quoted && i_ < s_.size() && (s_[i_] == '<' || s_[i_] == '>') && !text.empty() &&
        std::all_of(text.begin(), text.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
      return redirect(std::move(text));
    }
    pending_ = Pending::kNone;
    const bool first = cmd_.words.empty();
    if (first && !quoted) {
      if (text == "!" && cmd_.assignments.empty() && cmd_.redirects.empty() &&
          pipeline_.commands.empty()) {
        pipeline_.negated = !pipeline_.negated;
        return {};
      }
      if (std::find(kKeywords.begin(), kKeywords.end(), text) != kKeywords.end() &&
          cmd_.assignments.empty()) {
        i_ = start;
        return error(fmt::format("the shell keyword '{}' is not supported", text));
      }
    }
    if (first && isAssignment(text, firstQuote)) {
      cmd_.assignments.push_back(std::move(text));
    } else {
      cmd_.words.push_back(std::move(text));
    }
    return {};
  }

  std::string_view s_;
  SourcePos where_;
  std::size_t i_ = 0;
  ShellScript out_;
  ShellPipeline pipeline_;
  SimpleCommand cmd_;
  ShellConnector connector_ = ShellConnector::kSequence;
  Pending pending_ = Pending::kNone;
};

bool isShell(const std::string& name) {
  return name == "sh" || name == "bash" || name == "ash" || name == "dash";
}

// The shell options the evaluator honours, as `sh -e -o pipefail` or `set -e` sets them.
struct ShellOptions {
  bool errexit = false;
  bool pipefail = false;
  void set(std::span<const std::string> args) {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a.size() < 2 || (a[0] != '-' && a[0] != '+')) continue;
      const bool on = a[0] == '-';
      if (a == "-o" || a == "+o") {
        if (i + 1 < args.size() && args[i + 1] == "errexit") errexit = on;
        if (i + 1 < args.size() && args[i + 1] == "pipefail") pipefail = on;
        ++i;
      } else if (a.find('e') != std::string::npos) {
        errexit = on;
      }
    }
  }
};

std::optional<int> parseStatus(const std::string& s) {
  int v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v & 0xff;
}

}  // namespace

Result<ShellScript> parseShellScript(std::string_view script, SourcePos where) {
  return Parser(script, std::move(where)).run();
}

Result<ShellScript> parseProbeCommand(const std::vector<std::string>& command, SourcePos where) {
  if (command.empty()) return invalidInput("the exec probe has an empty command", where);
  if (!isShell(programName(command))) {
    ShellScript s;
    ShellListItem item;
    item.pipeline.commands.push_back(SimpleCommand{{}, command, {}});
    s.items.push_back(std::move(item));
    return s;
  }
  // sh [-abefux…] -c SCRIPT [NAME ARGS…]: the first operand after the options is the script.
  bool dashC = false;
  ShellOptions options;
  std::size_t i = 1;
  for (; i < command.size(); ++i) {
    const std::string& a = command[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || (a[0] != '-' && a[0] != '+')) break;
    if (a[0] == '-' && a.find('c') != std::string::npos) dashC = true;
    if (a == "-o" || a == "+o") {
      if (i + 1 < command.size()) options.set(std::vector<std::string>{a, command[i + 1]});
      ++i;
    } else {
      options.set(std::vector<std::string>{a});
    }
  }
  if (!dashC || i >= command.size()) {
    return invalidInput(
        fmt::format("the exec probe runs {} without -c SCRIPT; a script file is not modelled",
                    command[0]),
        where);
  }
  auto parsed = parseShellScript(command[i], where);
  if (parsed) {
    parsed->errexit = options.errexit;
    parsed->pipefail = options.pipefail;
  }
  return parsed;
}

std::string programName(std::span<const std::string> argv) {
  if (argv.empty()) return "";
  const std::string& p = argv.front();
  const auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::span<const std::string> programArgv(const SimpleCommand& command) {
  std::span<const std::string> argv(command.words);
  for (;;) {
    const std::string name = programName(argv);
    if (name == "exec" || name == "command") {
      argv = argv.subspan(1);
    } else if (name == "env") {
      argv = argv.subspan(1);
      while (!argv.empty() && isAssignment(argv.front(), std::string::npos)) {
        argv = argv.subspan(1);
      }
    } else if (name == "timeout") {
      argv = argv.subspan(1);
      while (!argv.empty() && argv.front().size() > 1 && argv.front()[0] == '-') {
        const std::string& o = argv.front();
        // -s SIGNAL and -k DURATION take the next word.
        const bool takesNext = o == "-s" || o == "-k" || o == "--signal" || o == "--kill-after";
        argv = argv.subspan(takesNext && argv.size() > 1 ? 2 : 1);
      }
      if (!argv.empty()) argv = argv.subspan(1);  // DURATION
    } else {
      return argv;
    }
  }
}

int evaluateShellScript(const ShellScript& script, const RunSimpleCommand& run) {
  ShellOptions options{script.errexit, script.pipefail};
  int status = 0;
  const std::size_t n = script.items.size();
  for (std::size_t i = 0; i < n; ++i) {
    const ShellListItem& item = script.items[i];
    if (item.connector == ShellConnector::kAnd && status != 0) continue;
    if (item.connector == ShellConnector::kOr && status == 0) continue;
    int last = 0;
    int failed = 0;  // pipefail: the last non-zero status of the pipeline
    for (const SimpleCommand& c : item.pipeline.commands) {
      const auto argv = programArgv(c);
      const std::string name = programName(argv);
      if (argv.empty() || name == "true" || name == ":") {
        last = 0;
      } else if (name == "false") {
        last = 1;
      } else if (argv.front() == "set") {
        options.set(argv.subspan(1));
        last = 0;
      } else if (argv.front() == "exit") {
        const std::optional<int> code =
            argv.size() > 1 ? parseStatus(argv[1]) : std::optional<int>(status);
        // `exit` inside a pipeline ends only its own subshell.
        if (item.pipeline.commands.size() == 1) return code.value_or(2);
        last = code.value_or(2);
      } else {
        last = run(c);
      }
      if (last != 0) failed = last;
    }
    if (options.pipefail) last = failed;
    status = item.pipeline.negated ? (last == 0 ? 1 : 0) : last;
    // -e: a failing pipeline that is not on the left of `&&`/`||` ends the script.
    if (options.errexit && status != 0 && !item.pipeline.negated &&
        (i + 1 == n || script.items[i + 1].connector == ShellConnector::kSequence)) {
      return status;
    }
  }
  return status;
}

}  // namespace egresslab::mesh
