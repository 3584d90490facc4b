#include "harness/model/files.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace egresslab::model {
namespace {

constexpr std::string_view kMissing = "no such file or directory";

std::string_view typeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string problemOf(const struct stat& st, std::size_t limit) {
  if (!S_ISREG(st.st_mode)) {
    return fmt::format("not a regular file ({})", typeName(st.st_mode));
  }
  if (static_cast<std::uint64_t>(st.st_size) > limit) {
    return fmt::format("file too large ({} bytes; the limit is {} bytes)", st.st_size, limit);
  }
  return {};
}

}  // namespace

std::string userFileProblem(const std::filesystem::path& path, std::size_t limit) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? std::string(kMissing) : std::string(std::strerror(errno));
  }
  return problemOf(st, limit);
}

Result<std::string> readUserFile(const std::filesystem::path& path, std::string_view what,
                                 std::size_t limit) {
  const SourcePos where{path.string(), 0, 0};
  const auto fail = [&](const std::string& problem) {
    return invalidInput(fmt::format("cannot read {}: {}", what, problem), where);
  };
  if (std::string problem = userFileProblem(path, limit); !problem.empty()) {
    if (problem == kMissing) return invalidInput(problem, where);
    return fail(problem);
  }
  // O_NONBLOCK: a path swapped for a FIFO between the check and the open must not block us.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !problemOf(st, limit).empty()) {
    const std::string problem = problemOf(st, limit);
    ::close(fd);
    return fail(problem.empty() ? std::string(std::strerror(errno)) : problem);
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return fail(std::strerror(err));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > limit) {
      ::close(fd);
      return fail(fmt::format("file too large (over {} bytes)", limit));
    }
  }
  ::close(fd);
  return text;
}

}  // namespace egresslab::model
