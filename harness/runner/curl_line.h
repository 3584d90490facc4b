// The one place the runner turns a scenario's curl line into a curl::CurlCommand, so loading
// (validation before anything starts) and running parse the same way.
#pragma once

#include <string>

#include "harness/core/error.h"
#include "harness/curl/command.h"

namespace egresslab::runner {

// Parses `line` (vars applied, `${ca}` expanded or not). An unsupported curl flag is an
// kInvalidInput error naming it, positioned in the scenario file (exit 2).
Result<curl::CurlCommand> parseCurlLine(const std::string& line, const SourcePos& where);

// Validates a line as written in a scenario, before any backend exists: `${ca}` stands for a
// file the backend will create, so it is replaced by a stand-in path for parsing.
Result<void> validateCurlLine(const std::string& line, const SourcePos& where);

}  // namespace egresslab::runner
