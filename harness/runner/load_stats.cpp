#include "harness/runner/load_stats.h"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace egresslab::runner {
namespace {

bool isSuccess(const backend::LoadSample& s) {
  return !s.dropped && s.exit == 0 && s.status >= 200 && s.status < 400;
}

double share(int part, int whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

std::string percentText(double value) { return fmt::format("{:.4g}%", value); }

}  // namespace

std::optional<double> percentile(std::vector<double>& values, double p) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const auto rank =
      static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

report::LoadResult summarizeLoad(const backend::LoadRun& run, std::int64_t startMs) {
  report::LoadResult r;
  r.startMs = startMs;
  r.durationMs = run.durationUs / 1000;
  r.notes = run.notes;
  std::vector<double> latencies;
  latencies.reserve(run.samples.size());
  struct Bucket {
    report::LoadWindow window;
    std::vector<double> latencies;
  };
  std::vector<Bucket> buckets;
  for (const auto& s : run.samples) {
    ++r.requests;
    const bool ok = isSuccess(s);
    if (ok) ++r.successes;
    if (s.dropped) ++r.dropped;
    if (s.status > 0) ++r.statuses[s.status];
    if (!s.dropped && s.exit != 0) ++r.exits[s.exit];
    if (!s.servedBy.empty()) ++r.servedBy[s.servedBy];
    const double latencyMs = static_cast<double>(s.latencyUs) / 1000.0;
    if (!s.dropped) latencies.push_back(latencyMs);

    const auto second = static_cast<std::size_t>(std::max<std::int64_t>(0, s.startUs) / 1000000);
    if (buckets.size() <= second) buckets.resize(second + 1);
    Bucket& b = buckets[second];
    ++b.window.count;
    if (ok) ++b.window.success;
    if (!s.servedBy.empty()) ++b.window.servedBy[s.servedBy];
    if (!s.dropped) b.latencies.push_back(latencyMs);
  }
  r.errors = r.requests - r.successes;
  r.p50Ms = percentile(latencies, 50);
  r.p90Ms = percentile(latencies, 90);
  r.p99Ms = percentile(latencies, 99);
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    report::LoadWindow w = std::move(buckets[i].window);
    w.startMs = startMs + static_cast<std::int64_t>(i) * 1000;
    w.p50Ms = percentile(buckets[i].latencies, 50);
    w.p99Ms = percentile(buckets[i].latencies, 99);
    r.windows.push_back(std::move(w));
  }
  return r;
}

std::vector<std::string> judgeLoad(const model::LoadExpectation& expect, report::LoadResult& load) {
  std::vector<std::string> failures;
  const auto check = [&](const std::string& key, const model::Condition& c, double observed,
                         const std::string& observedText) {
    const bool held = c.holds(observed);
    load.checks.push_back({key, c.text, observedText, held});
    if (!held) failures.push_back(fmt::format("{} {}: observed {}", key, c.text, observedText));
  };
  const auto latency = [&](const std::string& key, const std::optional<model::Condition>& c,
                           const std::optional<double>& value) {
    if (!c) return;
    if (!value) {
      load.checks.push_back({key, c->text, "no request was sent", false});
      failures.push_back(fmt::format("{} {}: no request was sent", key, c->text));
      return;
    }
    check(key, *c, *value, model::formatConditionValue(*value, model::Condition::Unit::kDuration));
  };
  if (expect.successRate) {
    const double rate = share(load.successes, load.requests);
    check("successRate", *expect.successRate, rate,
          fmt::format("{} ({} of {} requests)", percentText(rate), load.successes, load.requests));
  }
  latency("p50", expect.p50, load.p50Ms);
  latency("p90", expect.p90, load.p90Ms);
  latency("p99", expect.p99, load.p99Ms);
  if (expect.errors) {
    std::string text = fmt::format("{}", load.errors);
    if (load.dropped > 0) text += fmt::format(" ({} dropped at the concurrency cap)", load.dropped);
    check("errors", *expect.errors, load.errors, text);
  }
  for (const auto& [code, c] : expect.statuses) {
    const auto it = load.statuses.find(code);
    const int n = it == load.statuses.end() ? 0 : it->second;
    check(fmt::format("statuses.{}", code), c, n, fmt::format("{}", n));
  }
  for (const auto& [name, c] : expect.servedBy) {
    const auto it = load.servedBy.find(name);
    const int n = it == load.servedBy.end() ? 0 : it->second;
    const double value = share(n, load.requests);
    check(fmt::format("servedBy.{}", name), c, value,
          fmt::format("{} ({} of {} requests)", percentText(value), n, load.requests));
  }
  return failures;
}

std::string describeLoadExpectation(const model::LoadExpectation& e) {
  std::vector<std::string> parts;
  if (e.successRate) parts.push_back("successRate " + e.successRate->text);
  if (e.p50) parts.push_back("p50 " + e.p50->text);
  if (e.p90) parts.push_back("p90 " + e.p90->text);
  if (e.p99) parts.push_back("p99 " + e.p99->text);
  if (e.errors) parts.push_back("errors " + e.errors->text);
  if (!e.statuses.empty()) {
    std::vector<std::string> items;
    for (const auto& [code, c] : e.statuses) items.push_back(fmt::format("{}: {}", code, c.text));
    parts.push_back(fmt::format("statuses {{{}}}", fmt::join(items, ", ")));
  }
  if (!e.servedBy.empty()) {
    std::vector<std::string> items;
    for (const auto& [name, c] : e.servedBy) items.push_back(name + ": " + c.text);
    parts.push_back(fmt::format("servedBy {{{}}}", fmt::join(items, ", ")));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

nlohmann::json loadExpectationJson(const model::LoadExpectation& e) {
  nlohmann::json j = nlohmann::json::object();
  if (e.successRate) j["successRate"] = e.successRate->text;
  if (e.p50) j["p50"] = e.p50->text;
  if (e.p90) j["p90"] = e.p90->text;
  if (e.p99) j["p99"] = e.p99->text;
  if (e.errors) j["errors"] = e.errors->text;
  if (!e.statuses.empty()) {
    nlohmann::json s = nlohmann::json::object();
    for (const auto& [code, c] : e.statuses) s[std::to_string(code)] = c.text;
    j["statuses"] = s;
  }
  if (!e.servedBy.empty()) {
    nlohmann::json s = nlohmann::json::object();
    for (const auto& [name, c] : e.servedBy) s[name] = c.text;
    j["servedBy"] = s;
  }
  return j;
}

}  // namespace egresslab::runner
