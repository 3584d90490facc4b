// A libFuzzer-compatible driver for compilers without -fsanitize=fuzzer (g++).
//
// It replays every file of the corpus directories given on the command line, then feeds
// --runs=N deterministic mutations of them (byte flips, truncations, splices, inserted YAML
// and curl metacharacters) to LLVMFuzzerTestOneInput. Deterministic so a CI failure
// reproduces; the failing input is written to ./crash-input before the target runs it.
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

void runOne(const std::string& input) {
  {
    std::ofstream crash("crash-input", std::ios::binary | std::ios::trunc);
    crash << input;
  }
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
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
  const auto corpus = loadCorpus(dirs);
  for (const auto& input : corpus) runOne(input);
  std::mt19937 rng(0x5eed);
  for (long i = 0; i < runs; ++i) runOne(mutate(corpus, rng));
  std::filesystem::remove("crash-input");
  std::cout << "fuzz: " << corpus.size() << " corpus inputs, " << runs << " mutations, no crash\n";
  return 0;
}
