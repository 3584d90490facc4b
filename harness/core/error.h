// Error values shared by every module (docs/design.md "Code conventions": errors are values,
// std::expected).
//
// An Error says what went wrong, in words a platform engineer can act on, and where: a
// position in a user's file when the input is to blame (printed `FILE:LINE:COL: message`).
// Its kind decides the process exit code at the CLI (docs/design.md contracts): invalid input → 2,
// a backend that cannot start → 3.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <utility>

namespace egresslab {

// A 1-based position in a source file. line/column 0 means "the whole file".
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;

  // "file:line:col", "file:line" or "file", whichever is known.
  [[nodiscard]] std::string str() const;
  friend bool operator==(const SourcePos&, const SourcePos&) = default;
};

enum class ErrorKind {
  kInvalidInput,        // the user's files, flags or command lines are wrong (exit 2)
  kBackendUnavailable,  // a backend could not start: a tool is missing, no cluster (exit 3)
  kEnvironment,         // the machine failed us: a port, a file, a process (step error)
  kTimeout,             // a deadline passed
};

struct Error {
  ErrorKind kind = ErrorKind::kInvalidInput;
  std::string message;
  std::optional<SourcePos> where;

  // "FILE:LINE:COL: message" when a position is known, else the message.
  [[nodiscard]] std::string str() const;
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> invalidInput(std::string message,
                                           std::optional<SourcePos> where = std::nullopt) {
  return std::unexpected(Error{ErrorKind::kInvalidInput, std::move(message), std::move(where)});
}

inline std::unexpected<Error> environmentError(std::string message) {
  return std::unexpected(Error{ErrorKind::kEnvironment, std::move(message), std::nullopt});
}

inline std::unexpected<Error> backendUnavailable(std::string message) {
  return std::unexpected(Error{ErrorKind::kBackendUnavailable, std::move(message), std::nullopt});
}

// The process exit code docs/design.md assigns to an error of this kind.
int exitCodeFor(ErrorKind kind);

}  // namespace egresslab
