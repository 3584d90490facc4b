// A curl command line, as users paste it from docs and blog posts, parsed into options.
//
// The parser accepts the subset of curl that egress checks use (docs/curl.md lists it) and
// rejects everything else by name, the way curl itself rejects an unknown option: a check that
// silently ignored `--proxy` or `--retry` would test something other than what the user wrote.
// The same command is executed in-process with libcurl (execute.h) or rendered back to argv
// (toArgv) for `kubectl exec POD -- curl …`.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/error.h"

namespace egresslab::curl {

// How a request body argument was given; decides @file handling and the separator.
enum class DataKind {
  kAscii,   // -d, --data, --data-ascii: "@file" reads the file without CR/LF; joined with '&'
  kRaw,     // --data-raw: taken literally (no @file); joined with '&'
  kBinary,  // --data-binary: "@file" reads the file verbatim; joined with '&'
  kJson,    // --json: like --data-binary, concatenated without '&', sets the JSON headers
};

struct DataArg {
  DataKind kind = DataKind::kAscii;
  std::string value;  // as written; "@path" is read when the command is executed
  friend bool operator==(const DataArg&, const DataArg&) = default;
};

enum class FailMode {
  kNone,
  kFail,          // -f: no body on HTTP >= 400, exit 22
  kFailWithBody,  // --fail-with-body: body kept, exit 22
};

struct CurlCommand {
  // The words of the line after quote removal, without a leading "curl": what the user wrote.
  std::vector<std::string> tokens;

  std::string url;  // as written (a URL without scheme means http://, see urlWithScheme)

  bool silent = false;     // -s
  bool showError = false;  // -S
  bool verbose = false;    // -v
  bool include = false;    // -i
  bool head = false;       // -I (HEAD, headers printed)
  bool insecure = false;   // -k
  FailMode fail = FailMode::kNone;
  bool location = false;                 // -L
  std::optional<long> maxRedirs;         // --max-redirs (-1 = unlimited; curl's default is 50)
  std::optional<std::string> method;     // -X
  std::vector<std::string> headers;      // -H, as written: "Name: value", "Name:", "Name;"
  std::vector<DataArg> data;             // -d/--data-raw/--data-binary/--json, in order
  std::optional<std::string> user;       // -u user:password
  std::optional<std::string> userAgent;  // -A
  std::optional<std::string> cacert;     // --cacert FILE
  std::optional<std::string> cert;       // -E/--cert FILE[:PASSWORD]
  std::optional<std::string> key;        // --key FILE
  std::vector<std::string> resolve;      // --resolve HOST:PORT:ADDR[,ADDR]…
  std::vector<std::string> connectTo;    // --connect-to HOST1:PORT1:HOST2:PORT2
  // -m/--max-time and --connect-timeout, in curl's (and libcurl's) millisecond resolution.
  // 0 means "no limit", as for curl.
  std::optional<std::chrono::milliseconds> maxTime;
  std::optional<std::chrono::milliseconds> connectTimeout;
  bool http11 = false;                  // --http1.1
  bool compressed = false;              // --compressed
  std::optional<std::string> output;    // -o/--output FILE
  std::optional<std::string> writeOut;  // -w/--write-out FORMAT (validated)

  // The URL with the scheme curl would assume when none is written ("http://" except for the
  // host prefixes curl guesses from, e.g. "ftp.").
  [[nodiscard]] std::string urlWithScheme() const;

  // The method of the first request: -X if given, else HEAD for -I, POST with data, else GET.
  [[nodiscard]] std::string effectiveMethod() const;

  // True when data arguments make a request body (curl sends one even for `-d ''`).
  [[nodiscard]] bool hasBody() const { return !data.empty(); }

  friend bool operator==(const CurlCommand&, const CurlCommand&) = default;
};

// Parses a curl command line. Words are split like a POSIX shell does (single quotes, double
// quotes, backslash escapes, backslash-newline continuation, `#` comments) but nothing is
// expanded: `$VAR` stays literal. Unquoted shell operators (| ; & < > and backticks) are
// rejected, since a shell would not have passed them to curl. A leading "curl" word is optional.
// Errors are kInvalidInput with `where` advanced to the offending column when it is known.
Result<CurlCommand> parseCurlCommandLine(std::string_view line, SourcePos where = {});

// Parses already-split words (argv without "curl"), e.g. from a YAML list.
Result<CurlCommand> parseCurlArguments(const std::vector<std::string>& words, SourcePos where = {});

// Renders the command back to argv, starting with "curl", in a canonical order (long options
// where curl has no short form). parseCurlArguments(toArgv(c) minus "curl") reproduces every
// option of c.
std::vector<std::string> toArgv(const CurlCommand& command);

// Joins argv into one line a POSIX shell reads back to the same words (single-quoting where
// needed); parseCurlCommandLine(shellJoin(argv)) round-trips.
std::string shellJoin(const std::vector<std::string>& argv);

// Shell-like word splitting on its own (exposed for tests and the fuzz target).
struct ShellWord {
  std::string text;
  size_t offset = 0;  // byte offset of the word's first character in the line
};
Result<std::vector<ShellWord>> splitShellWords(std::string_view line, SourcePos where = {});

}  // namespace egresslab::curl
