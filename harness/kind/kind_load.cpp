#include "harness/kind/kind_load.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace egresslab::kind {
namespace {

// The pod's scratch files of one load: /tmp/egresslab-load-NAME.{out,stop,done,f.N}.
std::string stem(const std::string& loadName) { return "/tmp/egresslab-load-" + loadName; }

std::string splitNs(const std::string& from, std::string* pod) {
  const auto slash = from.find('/');
  *pod = slash == std::string::npos ? from : from.substr(slash + 1);
  return slash == std::string::npos ? std::string("default") : from.substr(0, slash);
}

}  // namespace

std::string podLoadScript(const curl::CurlCommand& command, const std::string& loadName,
                          const std::string& prefix, double rate, int concurrency) {
  curl::CurlCommand c = command;
  c.writeOut.reset();  // ours carries the result line
  c.output = "/dev/null";
  const std::string curlLine = curl::shellJoin(curl::toArgv(c));
  const std::string d = stem(loadName);
  const double interval = 1.0 / std::max(rate, 0.001);
  // `set -- $D.f.*` counts the requests in flight without starting a process.
  // One line (the dry-run plan prints one command per line).
  return fmt::format(
      "D={d}; rm -f $D.out $D.stop $D.done $D.f.*; : > $D.out; i=0; "
      "while [ ! -e $D.stop ]; do "
      "set -- $D.f.*; n=$#; [ -e \"$1\" ] || n=0; "
      "if [ \"$n\" -ge {concurrency} ]; then echo \"$i dropped\" >> $D.out; "
      "else ( : > $D.f.$i; {curl} -H \"x-request-id: {prefix}-$i\" "
      "-w \"$i %{{http_code}} %{{time_total}} %{{exitcode}}\\n\" >> $D.out 2>/dev/null; "
      "rm -f $D.f.$i ) & fi; "
      "i=$((i+1)); sleep {interval:.6f}; "
      "done; wait; : > $D.done",
      fmt::arg("d", d), fmt::arg("concurrency", std::max(1, concurrency)),
      fmt::arg("curl", curlLine), fmt::arg("prefix", prefix), fmt::arg("interval", interval));
}

std::vector<std::string> podLoadStartArgv(const std::string& from, const std::string& script) {
  std::string pod;
  const std::string ns = splitNs(from, &pod);
  return {"kubectl", "exec", "-n", ns, "deploy/" + pod, "-c", pod, "--", "sh", "-c", script};
}

std::vector<std::string> podLoadStopArgv(const std::string& from, const std::string& loadName) {
  std::string pod;
  const std::string ns = splitNs(from, &pod);
  const std::string script = fmt::format(
      "D={}; : > $D.stop; while [ ! -e $D.done ]; do sleep 0.1; done; cat $D.out; "
      "rm -f $D.out $D.stop $D.done",
      stem(loadName));
  return {"kubectl", "exec", "-n", ns, "deploy/" + pod, "-c", pod, "--", "sh", "-c", script};
}

backend::LoadRun parsePodLoadOutput(const std::string& out, double rate, int* malformed) {
  backend::LoadRun run;
  run.notes.push_back(
      "kind: the load ran in the pod as a shell loop around curl; latencies are curl's "
      "time_total, due times n/rate");
  int bad = 0;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    std::istringstream words(line);
    long long index = -1;
    std::string second;
    if (!(words >> index >> second) || index < 0) {
      ++bad;
      continue;
    }
    backend::LoadSample s;
    s.index = static_cast<std::uint64_t>(index);
    s.startUs = static_cast<std::int64_t>(std::llround(static_cast<double>(index) * 1e6 / rate));
    if (second == "dropped") {
      s.dropped = true;
    } else {
      double seconds = 0;
      int exit = 0;
      if (!(words >> seconds >> exit) || second.size() != 3 ||
          !std::all_of(second.begin(), second.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        ++bad;
        continue;
      }
      s.status = std::stoi(second);  // "000": no response
      s.exit = exit;
      s.latencyUs = std::max<std::int64_t>(1, std::llround(seconds * 1e6));
    }
    run.samples.push_back(s);
  }
  std::sort(run.samples.begin(), run.samples.end(),
            [](const auto& a, const auto& b) { return a.index < b.index; });
  if (!run.samples.empty()) {
    run.durationUs = run.samples.back().startUs +
                     static_cast<std::int64_t>(std::llround(1e6 / std::max(rate, 0.001)));
  }
  if (malformed != nullptr) *malformed = bad;
  return run;
}

}  // namespace egresslab::kind
