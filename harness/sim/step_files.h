// The files a step's curl may read and write on the sim backend (docs/scenarios.md "Files a step
// can reach"): a step `from:` a pod sees only that pod's own directory in the run directory,
// seeded with the scenario CA, the way a pod sees only its own filesystem; a step on the host
// reads relative to the scenario file and writes only in the run directory or a directory given
// with `egresslab run --output-dir`.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "harness/core/error.h"
#include "harness/curl/command.h"

namespace egresslab::sim {

struct StepFiles {
  std::filesystem::path scenarioDir;  // host steps: relative paths resolve here
  std::filesystem::path runDir;       // always writable; pods' directories live under pods/
  std::filesystem::path caPath;       // the scenario CA (`${ca}`) on the host
  std::vector<std::filesystem::path> outputDirs;  // `--output-dir`: writable on the host
};

// The directory that stands for pod NS/NAME's filesystem: RUN/pods/NS/NAME, created on first
// use with the scenario CA as `ca.crt`.
Result<std::filesystem::path> podDirectory(const StepFiles& files, const std::string& nsName);

// Confines every file argument of `command` (curl::confineFiles) for a step run `from` a pod
// (absent = the host). In a pod, `--cacert` naming the host's scenario CA (what `${ca}` expands
// to) becomes the pod's own copy.
Result<void> confineStepFiles(curl::CurlCommand& command, const std::optional<std::string>& from,
                              const StepFiles& files);

}  // namespace egresslab::sim
