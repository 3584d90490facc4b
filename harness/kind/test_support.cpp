#include "harness/kind/test_support.h"

#include <signal.h>
#include <stdlib.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace egresslab::kind::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "egresslab-kind-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

FakeTools::FakeTools(std::vector<std::string> tools) : bin_(dir_.path() / "bin") {
  std::filesystem::create_directories(bin_);
  std::filesystem::create_directories(stdinDir());
  for (const auto& tool : tools) link(tool, std::filesystem::path(EGRESSLAB_FAKES_DIR) / tool);
}

void FakeTools::link(const std::string& name, const std::filesystem::path& target) const {
  std::filesystem::create_symlink(target, bin_ / name);
}

std::map<std::string, std::string> FakeTools::environment() const {
  return {
      {"EGRESSLAB_FAKE_LOG", (dir_.path() / "log").string()},
      {"EGRESSLAB_FAKE_SCRIPT", (dir_.path() / "script").string()},
      {"EGRESSLAB_FAKE_PIDS", (dir_.path() / "pids").string()},
      {"EGRESSLAB_FAKE_STDIN_DIR", stdinDir().string()},
  };
}

void FakeTools::script(const std::vector<std::string>& rules) const {
  std::ofstream out(dir_.path() / "script");
  for (const auto& rule : rules) out << rule << "\n";
}

std::vector<std::string> FakeTools::log() const {
  std::vector<std::string> lines;
  std::ifstream in(dir_.path() / "log");
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<pid_t> FakeTools::hungPids() const {
  std::vector<pid_t> pids;
  std::ifstream in(dir_.path() / "pids");
  for (pid_t pid; in >> pid;) pids.push_back(pid);
  return pids;
}

bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

bool processGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  // Orphans are reparented to pid 1, which may take its time to reap them: a zombie has
  // already been killed.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = content.rfind(')');
  if (paren == std::string::npos || paren + 2 >= content.size()) return true;
  return content[paren + 2] == 'Z';
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace egresslab::kind::testing
