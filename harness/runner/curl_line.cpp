#include "harness/runner/curl_line.h"

namespace egresslab::runner {

Result<curl::CurlCommand> parseCurlLine(const std::string& line, const SourcePos& where) {
  auto parsed = curl::parseCurlCommandLine(line, where);
  if (!parsed) {
    Error error = parsed.error();
    if (!error.where) error.where = where;
    return std::unexpected(std::move(error));
  }
  return parsed;
}

Result<void> validateCurlLine(const std::string& line, const SourcePos& where) {
  std::string standIn = line;
  constexpr std::string_view kCa = "${ca}";
  for (auto at = standIn.find(kCa); at != std::string::npos; at = standIn.find(kCa, at)) {
    // Same length, so columns in error positions still point into the line as written.
    standIn.replace(at, kCa.size(), "/ca.p");
  }
  auto parsed = parseCurlLine(standIn, where);
  if (!parsed) return std::unexpected(parsed.error());
  return {};
}

}  // namespace egresslab::runner
