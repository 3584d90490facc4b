// Checks one observed request against a step's `expect:` (docs/design.md "Expectation keys") and
// explains every difference in words a newcomer can act on.
//
// Pure functions over model::Expectation and report::Observation: no backend, no clock, so each
// key's semantics is unit-tested on its own.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/model/scenario.h"
#include "harness/report/results.h"

namespace egresslab::runner {

// One expectation key that did not hold.
struct Mismatch {
  std::string key;      // "exit", "status", "headers.location", "body.contains", "body.json",
                        // "via", "flags.httpbin-egress"
  std::string message;  // "status: expected 200, observed 503"
};

// Every key of `expected` that `observed` violates, in the order the keys are documented.
// `exit` defaults to 0 when absent (docs/design.md: "0 unless stated").
std::vector<Mismatch> evaluate(const model::Expectation& expected,
                               const report::Observation& observed);

// "exit 0, status 200, via [istio-ingressgateway, httpbin-egress], flags {sleep: UH}".
std::string describeExpectation(const model::Expectation& expected);

// The JSON report's `expected`: only the keys the step writes, e.g.
// {"status":200,"via":["istio-ingressgateway","httpbin-egress"]} (a list of codes stays a list;
// matchers as written, "x" or "/x/").
nlohmann::json expectationJson(const model::Expectation& expected);

// "{sleep: UH, httpbin-egress: -}": response flags per proxy, as expected and observed flags
// are both written in messages.
std::string flagsText(const std::map<std::string, std::string>& flags);

// A failed step's message: one line per mismatch, then what the observed curl exit code and
// response flags mean (e.g. "UF = upstream connection failure").
std::string explainMismatches(const std::vector<Mismatch>& mismatches,
                              const report::Observation& observed);

// Proxy names in `via`/`flags` may be written "NAME" or "NAMESPACE/NAME" (docs/design.md); a bare
// name matches a qualified one with that name.
bool proxyNameMatches(const std::string& expected, const std::string& observed);

// Response flags compared as a set (§11.1: Envoy prints `UF,URX` before ≈1.22 and `URX,UF`
// after), "-" meaning none. A `/regex/` matcher is applied to the flags as logged.
bool flagsMatch(const model::Matcher& expected, const std::string& observed);

// True when `subset` is contained in `value`: objects by key (recursively), arrays element by
// element with equal length, scalars by equality (numbers by value).
bool jsonContains(const nlohmann::json& value, const nlohmann::json& subset,
                  std::string* firstDifference = nullptr);

// What curl's exit code means ("35 = TLS handshake failed"), or "" when unknown.
std::string curlExitMeaning(int exitCode);

// What an Envoy response flag means ("UH = no healthy upstream"), or "" when unknown.
std::string responseFlagMeaning(const std::string& flag);

}  // namespace egresslab::runner
