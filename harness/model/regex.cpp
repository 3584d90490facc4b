#include "harness/model/regex.h"

#include <re2/re2.h>

#include <memory>
#include <mutex>
#include <unordered_map>

namespace egresslab::model {
namespace {

RE2::Options optionsFor(bool ignoreCase) {
  RE2::Options options;
  options.set_log_errors(false);  // invalid patterns are reported as values, never on stderr
  options.set_case_sensitive(!ignoreCase);
  return options;
}

std::shared_ptr<const RE2> compiled(std::string_view pattern, bool ignoreCase) {
  // Bounded: configs hold a handful of patterns; a fuzzer or a hostile file may hold many.
  constexpr std::size_t kMaxCached = 4096;
  static std::mutex mu;
  static std::unordered_map<std::string, std::shared_ptr<const RE2>> cache;
  std::string key;
  key.reserve(pattern.size() + 2);
  key += ignoreCase ? "i:" : "c:";
  key += pattern;
  std::lock_guard lock(mu);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  if (cache.size() >= kMaxCached) cache.clear();
  auto re = std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()),
                                        optionsFor(ignoreCase));
  cache.emplace(std::move(key), re);
  return re;
}

}  // namespace

std::string regexProblem(std::string_view pattern) {
  const RE2 re(re2::StringPiece(pattern.data(), pattern.size()), optionsFor(false));
  return re.ok() ? std::string() : re.error();
}

bool regexFullMatch(std::string_view pattern, std::string_view value, bool ignoreCase) {
  const auto re = compiled(pattern, ignoreCase);
  if (!re->ok()) return false;
  return RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *re);
}

}  // namespace egresslab::model
