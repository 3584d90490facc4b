// Where a scenario's curl line may read and write files (issue #14 item 6): a step `from:` a
// pod sees only that pod's own directory in the run directory (seeded by the backend with the
// scenario CA and the run's files), the way a real pod sees only its own filesystem; a step on
// the host reads relative to the scenario file and writes only inside the run directory or a
// directory the command line allows (`--output-dir`).
#pragma once

#include <filesystem>
#include <vector>

#include "harness/core/error.h"
#include "harness/curl/command.h"

namespace egresslab::curl {

struct FileSandbox {
  // Relative file arguments resolve against this directory: the pod's directory, or the
  // scenario file's directory on the host.
  std::filesystem::path base;
  // A pod: absolute arguments are taken inside `base` (`/tmp/out` → BASE/tmp/out) and nothing
  // may resolve outside it, for reading or writing.
  bool chroot = false;
  // Output files (-o) must be inside one of these (the run directory, `--output-dir`). In a
  // chroot, `base` is always writable.
  std::vector<std::filesystem::path> writableRoots;
};

// Rewrites every file argument of `command` — --cacert, --cert (keeping a :PASSWORD suffix),
// --key, -o/--output, and `@file` bodies of -d/--data/--data-binary/--json — to an absolute path
// the sandbox allows. An argument that would leave it is kInvalidInput naming the flag, at
// `where`. Symbolic links are followed for the check.
Result<void> confineFiles(CurlCommand& command, const FileSandbox& sandbox,
                          const SourcePos& where = {});

}  // namespace egresslab::curl
