#include "harness/kind/command_runner.h"

#include <unistd.h>

#include <cstdlib>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace egresslab::kind {

std::string Command::display() const { return fmt::format("{}", fmt::join(argv, " ")); }

std::string CommandResult::display() const { return fmt::format("{}", fmt::join(argv, " ")); }

bool PipelineResult::ok() const { return firstFailure() == nullptr && !stages.empty(); }

const CommandResult* PipelineResult::firstFailure() const {
  for (const auto& stage : stages) {
    if (!stage.ok()) return &stage;
  }
  return nullptr;
}

namespace {

bool isExecutableFile(const std::filesystem::path& candidate) {
  std::error_code ec;
  // is_regular_file follows symlinks (the fakes are linked into temp PATH directories).
  return std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0;
}

}  // namespace

std::optional<std::filesystem::path> findProgram(std::string_view program,
                                                 std::string_view searchPath) {
  if (program.empty()) return std::nullopt;
  if (program.find('/') != std::string_view::npos) {
    std::filesystem::path given(program);
    if (isExecutableFile(given)) return given;
    return std::nullopt;
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t colon = searchPath.find(':', start);
    std::string_view dir = searchPath.substr(
        start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
    // POSIX: an empty PATH entry means the current directory.
    std::filesystem::path candidate =
        (dir.empty() ? std::filesystem::path(".") : std::filesystem::path(dir)) / program;
    if (isExecutableFile(candidate)) return candidate;
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return std::nullopt;
}

std::optional<std::filesystem::path> findProgram(std::string_view program) {
  const char* path = std::getenv("PATH");
  return findProgram(program, path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
}

}  // namespace egresslab::kind
