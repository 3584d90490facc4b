// Reading the files a user's scenario names: manifests, secrets' certificates and keys,
// scenario files. Each must be a regular file (not a FIFO, a device such as /dev/zero, a
// socket or a directory) of bounded size, so a hostile path ends in an error, never a hang or
// an out-of-memory abort.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "harness/core/error.h"

namespace egresslab::model {

inline constexpr std::size_t kMaxManifestBytes = 16u << 20;  // 16 MiB per manifest file
inline constexpr std::size_t kMaxScenarioBytes = 4u << 20;   // 4 MiB per scenario file
inline constexpr std::size_t kMaxPemBytes = 1u << 20;        // 1 MiB per certificate/key file

// Why `path` cannot be read as a user file ("" when it can): missing, not a regular file,
// larger than `limit`.
std::string userFileProblem(const std::filesystem::path& path, std::size_t limit);

// The whole file, when it is a regular file of at most `limit` bytes (checked again while
// reading, for files that grow or lie about their size). Errors are kInvalidInput at `path`
// (no line): "cannot read manifest: not a regular file (a FIFO)"; `what` names the file.
Result<std::string> readUserFile(const std::filesystem::path& path, std::string_view what,
                                 std::size_t limit);

}  // namespace egresslab::model
