#include "harness/core/error.h"

#include <fmt/core.h>

namespace egresslab {

std::string SourcePos::str() const {
  if (line <= 0) return file;
  if (column <= 0) return fmt::format("{}:{}", file, line);
  return fmt::format("{}:{}:{}", file, line, column);
}

std::string Error::str() const {
  if (!where) return message;
  return fmt::format("{}: {}", where->str(), message);
}

int exitCodeFor(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidInput:
      return 2;
    case ErrorKind::kBackendUnavailable:
      return 3;
    case ErrorKind::kEnvironment:
    case ErrorKind::kTimeout:
      return 1;
  }
  return 1;
}

}  // namespace egresslab
