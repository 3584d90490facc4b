// A load's samples → what reports show (totals, percentiles, per-second windows, servedBy) and
// the judgement of a load.stop step's expectations (docs/scenarios.md "Load and SLOs").
//
// Definitions (documented there): a success is a 2xx/3xx answer with curl exit 0; errors are
// every other request, dropped ones included; latencies and percentiles (nearest rank) are over
// the requests sent; successRate, servedBy and statuses count every request of the load.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/backend/backend.h"
#include "harness/model/scenario.h"
#include "harness/report/results.h"

namespace egresslab::runner {

// `startMs`: when the load started, since the scenario started (windows are placed from it).
report::LoadResult summarizeLoad(const backend::LoadRun& run, std::int64_t startMs);

// Nearest-rank percentile (0 < p <= 100) of `values`; nullopt when empty. Sorts `values`.
std::optional<double> percentile(std::vector<double>& values, double p);

// Judges every condition of `expect` against `load` (filling load.checks, in the order the
// keys are documented) and returns one message per condition that did not hold, e.g.
// "successRate >= 99%: observed 97.5% (195 of 200 requests)".
std::vector<std::string> judgeLoad(const model::LoadExpectation& expect, report::LoadResult& load);

// "successRate >= 99%, p99 < 500ms, servedBy {crm-b: >= 90%}" — the step's `expected` text.
std::string describeLoadExpectation(const model::LoadExpectation& expect);
// The expectation as written, for the JSON report's `expected`.
nlohmann::json loadExpectationJson(const model::LoadExpectation& expect);

}  // namespace egresslab::runner
