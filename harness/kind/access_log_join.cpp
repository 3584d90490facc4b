#include "harness/kind/access_log_join.h"

#include <algorithm>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

namespace egresslab::kind {
namespace {

std::string dashless(std::string value) { return value == "-" ? std::string() : value; }

}  // namespace

std::optional<AccessLogRecord> parseAccessLogRecord(std::string_view text) {
  std::string line(text);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  // [START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS … in every TEXT format from 1.8 on (§9).
  static const std::regex head(R"re(^\[([^\]]+)\] "([^"]*)" (\d+) (\S+))re");
  std::smatch m;
  if (!std::regex_search(line, m, head)) return std::nullopt;
  AccessLogRecord r;
  r.startTime = m[1].str();
  r.tcp = m[2].str() == "- - -";
  r.responseCode = std::stoi(m[3].str());
  r.flags = m[4].str();
  r.line = line;
  // The tail: "XFF" "UA" "REQUEST_ID" "AUTHORITY" "UPSTREAM_HOST" CLUSTER UPSTREAM_LOCAL
  // DOWNSTREAM_LOCAL DOWNSTREAM_REMOTE SNI ROUTE — the same in 1.8, 1.9–1.22 and 1.23+ (§9).
  std::vector<std::string> quoted;  // last five quoted fields, from the end
  std::size_t end = line.rfind('"');
  if (end == std::string::npos) return std::nullopt;
  std::istringstream tail(line.substr(end + 1));
  std::vector<std::string> words;
  for (std::string w; tail >> w;) words.push_back(w);
  if (words.size() < 5) return std::nullopt;
  for (int i = 0; i < 5; ++i) {
    const std::size_t open = end == 0 ? std::string::npos : line.rfind('"', end - 1);
    if (open == std::string::npos) return std::nullopt;
    quoted.push_back(line.substr(open + 1, end - open - 1));
    if (i == 4) break;
    end = open == 0 ? std::string::npos : line.rfind('"', open - 1);
    if (end == std::string::npos) return std::nullopt;
  }
  r.upstreamHost = dashless(quoted[0]);
  r.requestId = dashless(quoted[2]);
  r.upstreamLocal = dashless(words[1]);
  r.downstreamLocal = dashless(words[2]);
  r.downstreamRemote = dashless(words[3]);
  return r;
}

std::string addressIp(std::string_view address) {
  if (address.empty()) return {};
  if (address.front() == '[') {
    const auto close = address.find(']');
    return std::string(address.substr(1, close == std::string_view::npos ? close : close - 1));
  }
  const auto colon = address.rfind(':');
  return std::string(colon == std::string_view::npos ? address : address.substr(0, colon));
}

JoinedHops joinHops(const std::vector<AccessLogRecord>& lines, const HopJoinInput& in) {
  JoinedHops out;
  if (!in.curlConnected) return out;  // no connection, no proxy
  std::vector<const AccessLogRecord*> taken;
  std::set<std::string> ends;  // connection ends of this curl's hops
  if (!in.curlLocalAddress.empty()) ends.insert(in.curlLocalAddress);
  std::vector<bool> used(lines.size(), false);
  const auto recent = [&](const AccessLogRecord& r) {
    return in.notBefore.empty() || r.startTime >= in.notBefore;
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& r = lines[i];
    if (!recent(r) || in.requestId.empty() || r.requestId != in.requestId) continue;
    used[i] = true;
    taken.push_back(&r);
    if (!r.upstreamLocal.empty()) ends.insert(r.upstreamLocal);
  }
  // TCP hops by connection, to a fixed point.
  for (bool grew = true; grew;) {
    grew = false;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const auto& r = lines[i];
      if (used[i] || !r.tcp || !recent(r) || r.downstreamRemote.empty() ||
          !ends.contains(r.downstreamRemote)) {
        continue;
      }
      used[i] = true;
      taken.push_back(&r);
      if (!r.upstreamLocal.empty()) ends.insert(r.upstreamLocal);
      grew = true;  // a new end may let an earlier-listed line join
    }
  }
  // Hop order: a line whose downstream remote address is another line's upstream local address
  // comes after it (depth in the chain); then START_TIME (ms, often equal), then read order.
  std::map<const AccessLogRecord*, int> depth;
  const std::function<int(const AccessLogRecord*, int)> depthOf = [&](const AccessLogRecord* r,
                                                                      int guard) -> int {
    if (auto it = depth.find(r); it != depth.end()) return it->second;
    int d = 0;
    if (guard < 64 && !r->downstreamRemote.empty()) {
      for (const auto* p : taken) {
        if (p != r && p->upstreamLocal == r->downstreamRemote) {
          d = std::max(d, depthOf(p, guard + 1) + 1);
        }
      }
    }
    depth[r] = d;
    return d;
  };
  for (const auto* r : taken) depthOf(r, 0);
  std::stable_sort(taken.begin(), taken.end(),
                   [&](const AccessLogRecord* a, const AccessLogRecord* b) {
                     if (depth[a] != depth[b]) return depth[a] < depth[b];
                     if (a->startTime != b->startTime) return a->startTime < b->startTime;
                     return a->source < b->source;
                   });
  for (const auto* r : taken) out.hops.push_back(*r);

  // Complete? The caller's sidecar first; then every hop sent to another proxy's pod needs that
  // proxy's line on the same connection.
  const auto addWaiting = [&](const std::string& proxy) {
    if (std::find(out.waitingFor.begin(), out.waitingFor.end(), proxy) == out.waitingFor.end()) {
      out.waitingFor.push_back(proxy);
    }
  };
  if (in.firstProxy && std::none_of(out.hops.begin(), out.hops.end(),
                                    [&](const auto& h) { return h.proxy == *in.firstProxy; })) {
    addWaiting(*in.firstProxy);
  }
  if (out.hops.empty() && !in.firstProxy) addWaiting("the first proxy");
  for (const auto& h : out.hops) {
    if (h.upstreamHost.empty() || h.upstreamLocal.empty()) continue;
    const auto next = in.proxyByIp.find(addressIp(h.upstreamHost));
    if (next == in.proxyByIp.end() || next->second.empty() || next->second == h.proxy) continue;
    const bool logged = std::any_of(out.hops.begin(), out.hops.end(), [&](const auto& n) {
      return n.proxy == next->second && n.downstreamRemote == h.upstreamLocal;
    });
    if (!logged) addWaiting(next->second);
  }
  return out;
}

std::map<std::string, std::string> proxyByPodIp(std::string_view podList,
                                                const std::map<std::string, std::string>& proxies) {
  std::map<std::string, std::string> out;
  std::istringstream in{std::string(podList)};
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string pod;
    std::string ip;
    if (!(words >> pod >> ip)) continue;
    // NS/DEPLOYMENT-HASH-SUFFIX → NS/DEPLOYMENT.
    std::string owner = pod;
    for (int i = 0; i < 2; ++i) {
      const auto dash = owner.rfind('-');
      if (dash == std::string::npos || dash < owner.find('/')) {
        owner.clear();
        break;
      }
      owner.resize(dash);
    }
    const auto proxy = proxies.find(owner);
    out[ip] = proxy == proxies.end() ? std::string() : proxy->second;
  }
  return out;
}

}  // namespace egresslab::kind
