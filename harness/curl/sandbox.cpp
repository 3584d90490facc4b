#include "harness/curl/sandbox.h"

#include <fmt/core.h>

#include <algorithm>
#include <string>

namespace egresslab::curl {
namespace {

namespace fs = std::filesystem;

// The path with symbolic links of its existing part resolved (what the kernel would open).
fs::path real(const fs::path& p) {
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal() : resolved;
}

bool inside(const fs::path& path, const fs::path& root) {
  const fs::path r = real(root);
  const fs::path p = real(path);
  auto [rootEnd, pathAt] = std::mismatch(r.begin(), r.end(), p.begin(), p.end());
  if (rootEnd == r.end()) return true;
  // A trailing separator leaves an empty last element in the root.
  return std::next(rootEnd) == r.end() && rootEnd->empty();
}

enum class Access { kRead, kWrite };

Result<std::string> confine(const std::string& written, std::string_view flag, Access access,
                            const FileSandbox& sandbox, const SourcePos& where) {
  // Every pod and host has a /dev/null; reading or writing it reaches nothing.
  if (written == "/dev/null") return written;
  fs::path p(written);
  if (sandbox.chroot) {
    p = sandbox.base / p.relative_path();
  } else if (p.is_relative()) {
    p = sandbox.base / p;
  }
  p = p.lexically_normal();
  if (sandbox.chroot && !inside(p, sandbox.base)) {
    return invalidInput(
        fmt::format("{} {}: leaves the pod's own directory (a pod sees only its own files)", flag,
                    written),
        where);
  }
  if (access == Access::kWrite) {
    const bool allowed = (sandbox.chroot && inside(p, sandbox.base)) ||
                         std::any_of(sandbox.writableRoots.begin(), sandbox.writableRoots.end(),
                                     [&](const fs::path& root) { return inside(p, root); });
    if (!allowed) {
      return invalidInput(fmt::format("{} {}: writes outside the run directory; give "
                                      "--output-dir DIR to allow a directory",
                                      flag, written),
                          where);
    }
  }
  return p.string();
}

}  // namespace

Result<void> confineFiles(CurlCommand& command, const FileSandbox& sandbox,
                          const SourcePos& where) {
  const auto apply = [&](std::optional<std::string>& arg, std::string_view flag,
                         Access access) -> Result<void> {
    if (!arg) return {};
    auto confined = confine(*arg, flag, access, sandbox, where);
    if (!confined) return std::unexpected(confined.error());
    *arg = std::move(*confined);
    return {};
  };
  if (auto r = apply(command.cacert, "--cacert", Access::kRead); !r) return r;
  if (auto r = apply(command.key, "--key", Access::kRead); !r) return r;
  if (command.cert) {
    // FILE[:PASSWORD]: only the file part is a path.
    const auto colon = command.cert->find(':');
    std::optional<std::string> file = command.cert->substr(0, colon);
    const std::string password =
        colon == std::string::npos ? std::string() : command.cert->substr(colon);
    if (auto r = apply(file, "--cert", Access::kRead); !r) return r;
    command.cert = *file + password;
  }
  if (command.output && *command.output != "-") {
    if (auto r = apply(command.output, "-o", Access::kWrite); !r) return r;
  }
  for (auto& d : command.data) {
    if (d.kind == DataKind::kRaw || d.value.size() < 2 || d.value.front() != '@') continue;
    const std::string_view flag = d.kind == DataKind::kJson     ? "--json"
                                  : d.kind == DataKind::kBinary ? "--data-binary"
                                                                : "-d";
    std::optional<std::string> file = d.value.substr(1);
    if (auto r = apply(file, flag, Access::kRead); !r) return r;
    d.value = "@" + *file;
  }
  return {};
}

}  // namespace egresslab::curl
