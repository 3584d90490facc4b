#include "harness/sim/step_files.h"

#include <fmt/format.h>

#include <system_error>

#include "harness/curl/sandbox.h"

namespace egresslab::sim {

namespace fs = std::filesystem;

Result<fs::path> podDirectory(const StepFiles& files, const std::string& nsName) {
  const auto slash = nsName.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == nsName.size() ||
      nsName.find('/', slash + 1) != std::string::npos || nsName.find("..") != std::string::npos) {
    return invalidInput(fmt::format("from: {}: expected NAMESPACE/POD", nsName));
  }
  const fs::path dir = files.runDir / "pods" / nsName.substr(0, slash) / nsName.substr(slash + 1);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return environmentError(
        fmt::format("cannot create the pod directory {}: {}", dir.string(), ec.message()));
  }
  const fs::path ca = dir / "ca.crt";
  if (!files.caPath.empty() && !fs::exists(ca, ec)) {
    fs::copy_file(files.caPath, ca, fs::copy_options::skip_existing, ec);
    if (ec) {
      return environmentError(
          fmt::format("cannot seed {} with the scenario CA: {}", dir.string(), ec.message()));
    }
  }
  return dir;
}

Result<void> confineStepFiles(curl::CurlCommand& command, const std::optional<std::string>& from,
                              const StepFiles& files) {
  curl::FileSandbox sandbox;
  if (from) {
    auto dir = podDirectory(files, *from);
    if (!dir) return std::unexpected(dir.error());
    if (command.cacert && fs::path(*command.cacert) == files.caPath) command.cacert = "/ca.crt";
    sandbox.base = *dir;
    sandbox.chroot = true;
  } else {
    sandbox.base = files.scenarioDir;
    sandbox.writableRoots.push_back(files.runDir);
    sandbox.writableRoots.insert(sandbox.writableRoots.end(), files.outputDirs.begin(),
                                 files.outputDirs.end());
  }
  return curl::confineFiles(command, sandbox);
}

}  // namespace egresslab::sim
