// Helpers for the kind module's tests: a temp directory, a PATH made of the stand-in tools in
// mocks/fakes, and condition waits with deadlines (no sleeps in tests).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace egresslab::kind::testing {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A bin/ directory holding symlinks to the chosen fakes, plus the files they talk through.
class FakeTools {
 public:
  explicit FakeTools(std::vector<std::string> tools = {"kind", "kubectl", "istioctl", "docker",
                                                       "helm"});
  // The search path for ProcessCommandRunner: the fakes' bin/ only.
  [[nodiscard]] std::string searchPath() const { return bin_.string(); }
  // EGRESSLAB_FAKE_* variables for every child.
  [[nodiscard]] std::map<std::string, std::string> environment() const;
  // Writes the rule file (mocks/fakes/README.md); one string per rule, fields joined by '\t'.
  void script(const std::vector<std::string>& rules) const;
  // The invocation log, one line per call.
  [[nodiscard]] std::vector<std::string> log() const;
  // "PID CHILD_PID" lines appended by hang rules.
  [[nodiscard]] std::vector<pid_t> hungPids() const;
  [[nodiscard]] std::filesystem::path dir() const { return dir_.path(); }
  [[nodiscard]] std::filesystem::path stdinDir() const { return dir_.path() / "stdin"; }
  // Adds a program to bin/: a symlink to `target`.
  void link(const std::string& name, const std::filesystem::path& target) const;

 private:
  TempDir dir_;
  std::filesystem::path bin_;
};

// Polls `condition` until it holds or `timeout` passes; returns whether it held.
bool waitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

// True when `pid` no longer runs: gone, or a zombie waiting for some reaper.
bool processGone(pid_t pid);

std::string readFile(const std::filesystem::path& path);

}  // namespace egresslab::kind::testing
