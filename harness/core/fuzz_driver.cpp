// A libFuzzer-compatible driver for compilers without -fsanitize=fuzzer (g++).
//
// It replays every file of the corpus directories given on the command line, then feeds
// --runs=N deterministic mutations of them (byte flips, truncations, splices, inserted YAML
// and curl metacharacters) to LLVMFuzzerTestOneInput. Deterministic so a CI failure
// reproduces; on a crash (SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL) a signal handler writes the
// input being run to ./crash-input before the process dies.
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::string> loadCorpus(const std::vector<std::string>& dirs) {
  std::vector<std::string> corpus;
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  if (corpus.empty()) corpus.emplace_back();
  return corpus;
}

std::string mutate(const std::vector<std::string>& corpus, std::mt19937& rng) {
  static constexpr std::string_view kTokens[] = {
      ":",    "- ",    "\n", "  ", "{",  "}",  "[",     "]",
      "\"",   "'",     "&a", "*a", "<",  ">",  "---\n", "!!",
      "#",    "\\",    "${", "-H", "--", " -", "%{",    std::string_view("\0", 1),
      "\xff", "1e999", "-1"};
  std::string s = corpus[rng() % corpus.size()];
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < edits; ++i) {
    const std::size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 5) {
      case 0:
        if (!s.empty() && pos < s.size()) s[pos] = static_cast<char>(rng() % 256);
        break;
      case 1:
        s.resize(pos);
        break;
      case 2: {
        const auto& tok = kTokens[rng() % std::size(kTokens)];
        s.insert(pos, tok.data(), tok.size());
        break;
      }
      case 3: {
        const std::string& other = corpus[rng() % corpus.size()];
        if (!other.empty()) {
          const std::size_t from = rng() % other.size();
          s.insert(pos, other.substr(from, rng() % 64));
        }
        break;
      }
      default:
        if (pos < s.size()) s.erase(pos, 1 + rng() % 8);
        break;
    }
  }
  return s;
}

// The input being run, for the crash handler (only async-signal-safe calls touch it there).
const std::string* volatile gCurrentInput = nullptr;

extern "C" void writeCrashInput(int sig) {
  if (const std::string* input = gCurrentInput) {
    const int fd = ::open("crash-input", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      [[maybe_unused]] const auto written = ::write(fd, input->data(), input->size());
      ::close(fd);
    }
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void runOne(const std::string& input) {
  gCurrentInput = &input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
  gCurrentInput = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 10000;
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--runs=")) {
      runs = std::strtol(argv[i] + 7, nullptr, 10);
    } else {
      dirs.emplace_back(arg);
    }
  }
  for (const int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL})
    std::signal(sig, writeCrashInput);
  const auto corpus = loadCorpus(dirs);
  for (const auto& input : corpus) runOne(input);
  std::mt19937 rng(0x5eed);
  for (long i = 0; i < runs; ++i) runOne(mutate(corpus, rng));
  std::cout << "fuzz: " << corpus.size() << " corpus inputs, " << runs << " mutations, no crash\n";
  return 0;
}
