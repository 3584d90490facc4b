// A load on the kind backend (docs/scenarios.md "Load and SLOs", docs/kind.md "Loads"): from a
// pod, the load runs *in the pod* as a small POSIX-shell loop around the image's curl, started
// with `kubectl exec … sh -c SCRIPT` in the background and stopped with a second exec that
// drops a stop file, waits for the loop's requests in flight and prints their results. servedBy
// comes from the upstream mocks' own accounting (mocks/httpbin/served_log.h).
//
// The loop is shell-grade: request n is sent about n/rate seconds in (`sleep 1/rate` between
// sends, so the real rate is somewhat below `rate` when the pod is slow), at most `concurrency`
// in flight (counted with marker files, no extra processes); a request due at the cap is written
// down as dropped. Latency is curl's own %{time_total}. Pure functions here; KindBackend runs them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "harness/backend/backend.h"

namespace egresslab::kind {

// The shell script of a pod load. `prefix`: request n sends x-request-id PREFIX-n.
std::string podLoadScript(const curl::CurlCommand& command, const std::string& loadName,
                          const std::string& prefix, double rate, int concurrency);

// kubectl exec -n NS deploy/POD -c POD -- sh -c SCRIPT (start) and the stop exec, whose output
// is the loop's result lines. `from` is "NS/POD".
std::vector<std::string> podLoadStartArgv(const std::string& from, const std::string& script);
std::vector<std::string> podLoadStopArgv(const std::string& from, const std::string& loadName);

// The loop's result lines ("N STATUS TIME_TOTAL EXIT" or "N dropped") → samples, due times from
// the rate. Lines that do not parse are counted in `malformed` and left out.
backend::LoadRun parsePodLoadOutput(const std::string& out, double rate, int* malformed = nullptr);

}  // namespace egresslab::kind
