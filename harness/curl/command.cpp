#include "harness/curl/command.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "harness/curl/write_out.h"

namespace egresslab::curl {
namespace {

// The position of byte `offset` of a one-line command that starts at `where`. Multi-line input
// (backslash continuations) keeps the start position: columns past a newline would be wrong.
SourcePos positionOf(const SourcePos& where, std::string_view line, size_t offset) {
  SourcePos pos = where;
  if (pos.line > 0 && pos.column > 0 && line.substr(0, offset).find('\n') == std::string::npos) {
    pos.column += static_cast<int>(offset);
  }
  return pos;
}

std::optional<SourcePos> optionalPos(const SourcePos& where) {
  if (where.file.empty() && where.line == 0) return std::nullopt;
  return where;
}

bool isShellSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

enum class Opt {
  kSilent,
  kShowError,
  kVerbose,
  kInclude,
  kHead,
  kInsecure,
  kFail,
  kFailWithBody,
  kLocation,
  kMaxRedirs,
  kRequest,
  kHeader,
  kData,
  kDataRaw,
  kDataBinary,
  kJson,
  kUser,
  kUserAgent,
  kCacert,
  kCert,
  kKey,
  kResolve,
  kConnectTo,
  kMaxTime,
  kConnectTimeout,
  kHttp11,
  kCompressed,
  kOutput,
  kWriteOut,
  kUrl,
};

struct OptionSpec {
  Opt id;
  char shortName;  // '\0' when curl has only the long form
  std::string_view longName;
  bool takesValue;
};

// The supported subset of curl's options (curl 7.88 names). Anything else is "unknown".
constexpr std::array kOptions = {
    OptionSpec{Opt::kSilent, 's', "silent", false},
    OptionSpec{Opt::kShowError, 'S', "show-error", false},
    OptionSpec{Opt::kVerbose, 'v', "verbose", false},
    OptionSpec{Opt::kInclude, 'i', "include", false},
    OptionSpec{Opt::kHead, 'I', "head", false},
    OptionSpec{Opt::kInsecure, 'k', "insecure", false},
    OptionSpec{Opt::kFail, 'f', "fail", false},
    OptionSpec{Opt::kFailWithBody, '\0', "fail-with-body", false},
    OptionSpec{Opt::kLocation, 'L', "location", false},
    OptionSpec{Opt::kMaxRedirs, '\0', "max-redirs", true},
    OptionSpec{Opt::kRequest, 'X', "request", true},
    OptionSpec{Opt::kHeader, 'H', "header", true},
    OptionSpec{Opt::kData, 'd', "data", true},
    OptionSpec{Opt::kData, '\0', "data-ascii", true},
    OptionSpec{Opt::kDataRaw, '\0', "data-raw", true},
    OptionSpec{Opt::kDataBinary, '\0', "data-binary", true},
    OptionSpec{Opt::kJson, '\0', "json", true},
    OptionSpec{Opt::kUser, 'u', "user", true},
    OptionSpec{Opt::kUserAgent, 'A', "user-agent", true},
    OptionSpec{Opt::kCacert, '\0', "cacert", true},
    OptionSpec{Opt::kCert, 'E', "cert", true},
    OptionSpec{Opt::kKey, '\0', "key", true},
    OptionSpec{Opt::kResolve, '\0', "resolve", true},
    OptionSpec{Opt::kConnectTo, '\0', "connect-to", true},
    OptionSpec{Opt::kMaxTime, 'm', "max-time", true},
    OptionSpec{Opt::kConnectTimeout, '\0', "connect-timeout", true},
    OptionSpec{Opt::kHttp11, '\0', "http1.1", false},
    OptionSpec{Opt::kCompressed, '\0', "compressed", false},
    OptionSpec{Opt::kOutput, 'o', "output", true},
    OptionSpec{Opt::kWriteOut, 'w', "write-out", true},
    OptionSpec{Opt::kUrl, '\0', "url", true},
};

const OptionSpec* findShort(char c) {
  for (const auto& spec : kOptions) {
    if (spec.shortName == c) return &spec;
  }
  return nullptr;
}

const OptionSpec* findLong(std::string_view name) {
  for (const auto& spec : kOptions) {
    if (spec.longName == name) return &spec;
  }
  return nullptr;
}

// curl's error wording, so the message reads like the one the user would get from curl.
std::string unknownOption(std::string_view option) {
  return fmt::format("curl: option {}: is unknown (not supported by egresslab; see docs/curl.md)",
                     option);
}

// A decimal number of seconds as curl accepts it for -m and --connect-timeout, truncated to
// milliseconds as curl does when it hands the value to libcurl.
std::optional<std::chrono::milliseconds> parseSeconds(const std::string& text) {
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') return std::nullopt;
  }
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  constexpr double kMaxSeconds = 365.0 * 24 * 3600;  // far beyond any check; keeps ms in range
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(value) ||
      value > kMaxSeconds) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<long long>(value * 1000.0));
}

std::optional<long> parseInteger(const std::string& text) {
  if (text.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) return std::nullopt;
  return value;
}

bool isPort(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  return std::stoi(std::string(text)) <= 65535;
}

// Splits "host:port:rest" where host may be a bracketed IPv6 literal.
std::optional<std::pair<std::string_view, std::string_view>> splitHostField(std::string_view s) {
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return std::nullopt;
    }
    return std::pair{s.substr(0, close + 1), s.substr(close + 2)};
  }
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return std::pair{s.substr(0, colon), s.substr(colon + 1)};
}

// --resolve [+]HOST:PORT:ADDR[,ADDR]… (curl 7.88 also accepts "-HOST:PORT" to drop an entry).
bool validResolve(std::string_view entry) {
  if (!entry.empty() && (entry.front() == '+' || entry.front() == '-')) entry.remove_prefix(1);
  auto host = splitHostField(entry);
  if (!host || host->first.empty()) return false;
  const size_t colon = host->second.find(':');
  if (colon == std::string_view::npos) return false;
  return isPort(host->second.substr(0, colon)) && colon + 1 < host->second.size();
}

// --connect-to HOST1:PORT1:HOST2:PORT2, any field may be empty.
bool validConnectTo(std::string_view entry) {
  auto first = splitHostField(entry);
  if (!first) return false;
  const size_t colon = first->second.find(':');
  if (colon == std::string_view::npos) return false;
  const auto port1 = first->second.substr(0, colon);
  if (!port1.empty() && !isPort(port1)) return false;
  auto second = splitHostField(first->second.substr(colon + 1));
  if (!second) return false;
  return second->second.empty() || isPort(second->second);
}

bool needsShellQuoting(std::string_view word) {
  if (word.empty()) return true;
  return !std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("-_./:=@,+%").find(c) != std::string_view::npos;
  });
}

// Milliseconds as curl's decimal seconds ("5", "0.200"), exact for the round trip.
std::string formatSeconds(std::chrono::milliseconds ms) {
  const auto count = ms.count();
  if (count % 1000 == 0) return std::to_string(count / 1000);
  return fmt::format("{}.{:03}", count / 1000, count % 1000);
}

}  // namespace

Result<std::vector<ShellWord>> splitShellWords(std::string_view line, SourcePos where) {
  std::vector<ShellWord> words;
  std::string current;
  bool inWord = false;
  size_t wordStart = 0;
  auto startWord = [&](size_t at) {
    if (!inWord) {
      inWord = true;
      wordStart = at;
    }
  };
  auto endWord = [&] {
    if (inWord) words.push_back({std::move(current), wordStart});
    current.clear();
    inWord = false;
  };
  auto fail = [&](size_t at, std::string message) -> Result<std::vector<ShellWord>> {
    return invalidInput(std::move(message), optionalPos(positionOf(where, line, at)));
  };

  const size_t n = line.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = line[i];
    if (c == '\0') return fail(i, "curl command line contains a NUL byte");
    if (isShellSpace(c)) {
      endWord();
      continue;
    }
    if (c == '\\') {
      if (i + 1 < n && line[i + 1] == '\n') {
        ++i;  // line continuation, as pasted from multi-line docs
        continue;
      }
      if (i + 2 < n && line[i + 1] == '\r' && line[i + 2] == '\n') {
        i += 2;
        continue;
      }
      if (i + 1 >= n) continue;  // a trailing backslash continues onto nothing
      startWord(i);
      current += line[++i];
      continue;
    }
    if (c == '\'') {
      const size_t close = line.find('\'', i + 1);
      if (close == std::string_view::npos) {
        return fail(i, "unbalanced single quote (') in curl command line");
      }
      startWord(i);
      current.append(line.substr(i + 1, close - i - 1));
      i = close;
      continue;
    }
    if (c == '"') {
      startWord(i);
      size_t j = i + 1;
      bool closed = false;
      for (; j < n; ++j) {
        const char d = line[j];
        if (d == '"') {
          closed = true;
          break;
        }
        if (d == '\0') return fail(j, "curl command line contains a NUL byte");
        if (d == '\\' && j + 1 < n) {
          const char e = line[j + 1];
          // Inside double quotes a backslash escapes only these (POSIX); elsewhere it is literal.
          if (e == '\n') {
            ++j;
            continue;
          }
          if (e == '"' || e == '\\' || e == '$' || e == '`') {
            current += e;
            ++j;
            continue;
          }
        }
        current += d;
      }
      if (!closed) return fail(i, "unbalanced double quote (\") in curl command line");
      i = j;
      continue;
    }
    if (c == '#' && !inWord) {
      const size_t eol = line.find('\n', i);
      if (eol == std::string_view::npos) break;
      i = eol;
      endWord();
      continue;
    }
    if (std::string_view("|;&<>`()").find(c) != std::string_view::npos) {
      return fail(i, fmt::format("unquoted '{}' in curl command line: shell syntax is not "
                                 "supported (quote the URL or value that contains it)",
                                 c));
    }
    startWord(i);
    current += c;
  }
  endWord();
  return words;
}

Result<CurlCommand> parseCurlCommandLine(std::string_view line, SourcePos where) {
  auto words = splitShellWords(line, where);
  if (!words) return std::unexpected(words.error());
  size_t first = 0;
  if (!words->empty() && words->front().text == "curl") first = 1;
  std::vector<std::string> args;
  for (size_t i = first; i < words->size(); ++i) args.push_back((*words)[i].text);
  if (args.empty()) return invalidInput("empty curl command: expected a URL", optionalPos(where));
  auto parsed = parseCurlArguments(args, where);
  if (!parsed && parsed.error().where == optionalPos(where)) {
    // Point at the word the error names when we can find it.
    for (size_t i = first; i < words->size(); ++i) {
      const auto& word = (*words)[i].text;
      const auto& message = parsed.error().message;
      if (!word.empty() && (message.find(" " + word + ":") != std::string::npos ||
                            message.find("(in " + word + ")") != std::string::npos)) {
        parsed.error().where = optionalPos(positionOf(where, line, (*words)[i].offset));
        break;
      }
    }
  }
  return parsed;
}

Result<CurlCommand> parseCurlArguments(const std::vector<std::string>& words, SourcePos where) {
  CurlCommand command;
  command.tokens = words;
  const auto pos = optionalPos(where);
  std::vector<std::string> urls;
  bool endOfOptions = false;

  auto apply = [&](const OptionSpec& spec, const std::string& shown,
                   const std::string& value) -> Result<void> {
    auto badNumber = [&](std::string_view what) -> Result<void> {
      return invalidInput(
          fmt::format("curl: option {}: expected a proper {} parameter", shown, what), pos);
    };
    switch (spec.id) {
      case Opt::kSilent:
        command.silent = true;
        break;
      case Opt::kShowError:
        command.showError = true;
        break;
      case Opt::kVerbose:
        command.verbose = true;
        break;
      case Opt::kInclude:
        command.include = true;
        break;
      case Opt::kHead:
        command.head = true;
        break;
      case Opt::kInsecure:
        command.insecure = true;
        break;
      case Opt::kFail:
      case Opt::kFailWithBody: {
        const auto mode = spec.id == Opt::kFail ? FailMode::kFail : FailMode::kFailWithBody;
        if (command.fail != FailMode::kNone && command.fail != mode) {
          return invalidInput("curl: You must select either --fail or --fail-with-body, not both.",
                              pos);
        }
        command.fail = mode;
        break;
      }
      case Opt::kLocation:
        command.location = true;
        break;
      case Opt::kMaxRedirs: {
        auto n = parseInteger(value);
        if (!n || *n < -1) return badNumber("numerical");
        command.maxRedirs = *n;
        break;
      }
      case Opt::kRequest:
        if (value.empty())
          return invalidInput(fmt::format("curl: option {}: empty method", shown), pos);
        command.method = value;
        break;
      case Opt::kHeader:
        if (value.starts_with("@")) {
          return invalidInput(
              fmt::format("curl: option {}: reading headers from a file (@) is not supported",
                          shown),
              pos);
        }
        command.headers.push_back(value);
        break;
      case Opt::kData:
      case Opt::kDataRaw:
      case Opt::kDataBinary:
      case Opt::kJson: {
        const DataKind kind = spec.id == Opt::kData         ? DataKind::kAscii
                              : spec.id == Opt::kDataRaw    ? DataKind::kRaw
                              : spec.id == Opt::kDataBinary ? DataKind::kBinary
                                                            : DataKind::kJson;
        if (kind != DataKind::kRaw && value == "@-") {
          return invalidInput(
              fmt::format("curl: option {}: reading data from stdin (@-) is not supported", shown),
              pos);
        }
        command.data.push_back({kind, value});
        break;
      }
      case Opt::kUser:
        command.user = value;
        break;
      case Opt::kUserAgent:
        command.userAgent = value;
        break;
      case Opt::kCacert:
        command.cacert = value;
        break;
      case Opt::kCert:
        command.cert = value;
        break;
      case Opt::kKey:
        command.key = value;
        break;
      case Opt::kResolve:
        if (!validResolve(value)) {
          return invalidInput(
              fmt::format("curl: option {}: '{}' is not HOST:PORT:ADDRESS[,ADDRESS]", shown, value),
              pos);
        }
        command.resolve.push_back(value);
        break;
      case Opt::kConnectTo:
        if (!validConnectTo(value)) {
          return invalidInput(
              fmt::format("curl: option {}: '{}' is not HOST1:PORT1:HOST2:PORT2", shown, value),
              pos);
        }
        command.connectTo.push_back(value);
        break;
      case Opt::kMaxTime:
      case Opt::kConnectTimeout: {
        auto seconds = parseSeconds(value);
        if (!seconds) {
          return invalidInput(
              fmt::format("curl: option {}: expected a positive numerical parameter", shown), pos);
        }
        (spec.id == Opt::kMaxTime ? command.maxTime : command.connectTimeout) = *seconds;
        break;
      }
      case Opt::kHttp11:
        command.http11 = true;
        break;
      case Opt::kCompressed:
        command.compressed = true;
        break;
      case Opt::kOutput:
        command.output = value;
        break;
      case Opt::kWriteOut: {
        if (value.starts_with("@")) {
          return invalidInput(
              fmt::format("curl: option {}: reading the format from a file (@) is not supported",
                          shown),
              pos);
        }
        if (auto ok = validateWriteOut(value); !ok) {
          return invalidInput(fmt::format("curl: option {}: {}", shown, ok.error().message), pos);
        }
        command.writeOut = value;
        break;
      }
      case Opt::kUrl:
        urls.push_back(value);
        break;
    }
    return {};
  };

  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (endOfOptions || word.size() < 2 || word[0] != '-') {
      urls.push_back(word);
      continue;
    }
    if (word == "--") {
      endOfOptions = true;
      continue;
    }
    if (word[1] == '-') {
      const OptionSpec* spec = findLong(std::string_view(word).substr(2));
      if (spec == nullptr) return invalidInput(unknownOption(word), pos);
      std::string value;
      if (spec->takesValue) {
        if (i + 1 >= words.size()) {
          return invalidInput(fmt::format("curl: option {}: requires parameter", word), pos);
        }
        value = words[++i];
      }
      if (auto r = apply(*spec, word, value); !r) return std::unexpected(r.error());
      continue;
    }
    // A bundle of short options: "-sSk", "-sSo /dev/null", "-XPOST", "-HHost:x".
    for (size_t j = 1; j < word.size(); ++j) {
      const std::string shown = std::string("-") + word[j];
      const OptionSpec* spec = findShort(word[j]);
      if (spec == nullptr) {
        return invalidInput(word.size() > 2 ? fmt::format("{} (in {})", unknownOption(shown), word)
                                            : unknownOption(shown),
                            pos);
      }
      if (!spec->takesValue) {
        if (auto r = apply(*spec, shown, {}); !r) return std::unexpected(r.error());
        continue;
      }
      std::string value;
      if (j + 1 < word.size()) {
        value = word.substr(j + 1);
      } else if (i + 1 < words.size()) {
        value = words[++i];
      } else {
        return invalidInput(fmt::format("curl: option {}: requires parameter", shown), pos);
      }
      if (auto r = apply(*spec, shown, value); !r) return std::unexpected(r.error());
      break;
    }
  }

  if (urls.empty()) return invalidInput("curl: no URL specified", pos);
  if (urls.size() > 1) {
    return invalidInput(fmt::format("curl: exactly one URL is supported, got {}: {}", urls.size(),
                                    fmt::join(urls, ", ")),
                        pos);
  }
  if (urls.front().empty()) return invalidInput("curl: empty URL", pos);
  command.url = urls.front();
  if (command.head && command.hasBody()) {
    return invalidInput(
        "curl: You can only select one HTTP request method! You asked for both POST (-d, --data) "
        "and HEAD (-I, --head).",
        pos);
  }
  return command;
}

std::string CurlCommand::urlWithScheme() const {
  if (url.find("://") != std::string::npos) return url;
  // curl guesses the protocol from these host name prefixes, else assumes http.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kGuesses = {{
      {"ftp.", "ftp"},
      {"dict.", "dict"},
      {"ldap.", "ldap"},
      {"imap.", "imap"},
      {"smtp.", "smtp"},
      {"pop3.", "pop3"},
  }};
  std::string lower = url;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& [prefix, scheme] : kGuesses) {
    if (lower.starts_with(prefix)) return fmt::format("{}://{}", scheme, url);
  }
  return "http://" + url;
}

std::string CurlCommand::effectiveMethod() const {
  if (method) return *method;
  if (head) return "HEAD";
  if (hasBody()) return "POST";
  return "GET";
}

std::vector<std::string> toArgv(const CurlCommand& command) {
  std::vector<std::string> argv{"curl"};
  auto flag = [&](bool on, const char* name) {
    if (on) argv.emplace_back(name);
  };
  auto valued = [&](const char* name, const std::string& value) {
    argv.emplace_back(name);
    argv.push_back(value);
  };
  flag(command.silent, "-s");
  flag(command.showError, "-S");
  flag(command.verbose, "-v");
  flag(command.include, "-i");
  flag(command.head, "-I");
  flag(command.insecure, "-k");
  flag(command.fail == FailMode::kFail, "-f");
  flag(command.fail == FailMode::kFailWithBody, "--fail-with-body");
  flag(command.location, "-L");
  if (command.maxRedirs) valued("--max-redirs", std::to_string(*command.maxRedirs));
  if (command.method) valued("-X", *command.method);
  for (const auto& header : command.headers) valued("-H", header);
  for (const auto& data : command.data) {
    switch (data.kind) {
      case DataKind::kAscii:
        valued("--data", data.value);
        break;
      case DataKind::kRaw:
        valued("--data-raw", data.value);
        break;
      case DataKind::kBinary:
        valued("--data-binary", data.value);
        break;
      case DataKind::kJson:
        valued("--json", data.value);
        break;
    }
  }
  if (command.user) valued("-u", *command.user);
  if (command.userAgent) valued("-A", *command.userAgent);
  if (command.cacert) valued("--cacert", *command.cacert);
  if (command.cert) valued("--cert", *command.cert);
  if (command.key) valued("--key", *command.key);
  for (const auto& entry : command.resolve) valued("--resolve", entry);
  for (const auto& entry : command.connectTo) valued("--connect-to", entry);
  if (command.maxTime) valued("-m", formatSeconds(*command.maxTime));
  if (command.connectTimeout) valued("--connect-timeout", formatSeconds(*command.connectTimeout));
  flag(command.http11, "--http1.1");
  flag(command.compressed, "--compressed");
  if (command.output) valued("-o", *command.output);
  if (command.writeOut) valued("-w", *command.writeOut);
  // "--url" keeps a URL that starts with '-' from being read as an option.
  if (command.url.starts_with("-")) {
    valued("--url", command.url);
  } else {
    argv.push_back(command.url);
  }
  return argv;
}

std::string shellJoin(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& word : argv) {
    if (!line.empty()) line += ' ';
    if (!needsShellQuoting(word)) {
      line += word;
      continue;
    }
    line += '\'';
    for (char c : word) {
      if (c == '\'') {
        line += "'\\''";
      } else {
        line += c;
      }
    }
    line += '\'';
  }
  return line;
}

}  // namespace egresslab::curl
