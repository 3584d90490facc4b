// A scenario step's `fault:` (docs/scenarios.md "Faults"): targets, actions and their keys, the
// one-line form, and whether a fault names something the scenario has.
#include "harness/model/fault_spec.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>

#include "harness/model/gateway_workloads.h"
#include "harness/model/manifest_parsers.h"

namespace egresslab::model {
namespace {

using detail::Ctx;
using detail::Fields;
using detail::YNode;

bool isHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
}

struct ActionSet {
  FaultSpec::TargetKind kind;
  std::vector<std::string> actions;
};

const std::vector<ActionSet>& actionSets() {
  static const std::vector<ActionSet> kSets = {
      {FaultSpec::TargetKind::kUpstream,
       {"down", "up", "latency", "status", "reset", "bad-cert", "cert", "close", "blackhole"}},
      {FaultSpec::TargetKind::kGateway, {"kill", "restore"}},
      {FaultSpec::TargetKind::kDns, {"dns", "up"}},
  };
  return kSets;
}

const std::vector<std::string>& actionsFor(FaultSpec::TargetKind kind) {
  for (const auto& set : actionSets()) {
    if (set.kind == kind) return set.actions;
  }
  return actionSets().front().actions;
}

std::string durationText(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{}ms", d.count());
}

// `answer:` nxdomain | servfail | an address | a list of addresses.
std::optional<FaultSpec::DnsAnswer> readAnswer(Ctx& ctx, const YNode& node) {
  FaultSpec::DnsAnswer answer;
  std::vector<std::pair<std::string, SourcePos>> addresses;
  if (node.isSequence()) {
    for (const auto& item : node.items) {
      addresses.emplace_back(detail::readStr(ctx, item, "fault.answer[]"), item.pos);
    }
    if (ctx.ok() && addresses.empty()) {
      ctx.fail("fault.answer: an empty list; write nxdomain for a name with no records", node.pos);
    }
  } else {
    const std::string text = detail::readStr(ctx, node, "fault.answer");
    if (!ctx.ok()) return std::nullopt;
    if (text == "nxdomain") {
      answer.kind = FaultSpec::DnsAnswer::Kind::kNxdomain;
      return answer;
    }
    if (text == "servfail") {
      answer.kind = FaultSpec::DnsAnswer::Kind::kServfail;
      return answer;
    }
    if (!detail::isIpv4Text(text)) {
      ctx.fail(fmt::format("fault.answer \"{}\": use nxdomain, servfail or a list of IPv4 "
                           "addresses",
                           text),
               node.pos);
      return std::nullopt;
    }
    addresses.emplace_back(text, node.pos);
  }
  if (!ctx.ok()) return std::nullopt;
  answer.kind = FaultSpec::DnsAnswer::Kind::kAddresses;
  for (const auto& [text, pos] : addresses) {
    if (!detail::isIpv4Text(text)) {
      ctx.fail(fmt::format("fault.answer: \"{}\" is not an IPv4 address", text), pos);
      return std::nullopt;
    }
    answer.addresses.push_back(text);
  }
  return answer;
}

// The target string: which kind, and its parts. False (with an error) when malformed.
bool readTarget(Ctx& ctx, FaultSpec& fs, const YNode& targetNode) {
  const std::string& t = fs.target;
  const auto bad = [&](std::string_view hint) {
    ctx.fail(fmt::format("invalid fault target \"{}\": {}", t, hint), targetNode.pos);
    return false;
  };
  if (t.starts_with("upstream/")) {
    fs.targetKind = FaultSpec::TargetKind::kUpstream;
    std::string hostPort = t.substr(9);
    if (auto colon = hostPort.rfind(':'); colon != std::string::npos) {
      YNode portNode;
      portNode.kind = YNode::Kind::kScalar;
      portNode.scalar = hostPort.substr(colon + 1);
      portNode.pos = targetNode.pos;
      const auto p = detail::readInt(ctx, portNode, "fault target port", 1, 65535);
      if (!p) return false;
      fs.upstreamPort = static_cast<std::uint32_t>(*p);
      hostPort.resize(colon);
    }
    if (hostPort.empty() || !std::all_of(hostPort.begin(), hostPort.end(), isHostChar)) {
      return bad("use upstream/NAME, upstream/HOST, upstream/HOST:PORT or upstream/ADDRESS:PORT");
    }
    fs.upstreamHost = asciiLower(hostPort);
    return true;
  }
  if (t.starts_with("gateway/")) {
    fs.targetKind = FaultSpec::TargetKind::kGateway;
    const std::string rest = t.substr(8);
    const auto slash = rest.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size() ||
        rest.find('/', slash + 1) != std::string::npos) {
      return bad("use gateway/NAMESPACE/NAME");
    }
    fs.gatewayNamespace = rest.substr(0, slash);
    fs.gatewayName = rest.substr(slash + 1);
    return true;
  }
  if (t.starts_with("dns/")) {
    fs.targetKind = FaultSpec::TargetKind::kDns;
    std::string name = t.substr(4);
    if (!name.empty() && name.back() == '.') name.pop_back();
    if (name.empty() || !std::all_of(name.begin(), name.end(), isHostChar) ||
        detail::isIpv4Text(name)) {
      return bad("use dns/NAME with a DNS name such as dns/crm.legacy.example");
    }
    fs.dnsName = asciiLower(name);
    return true;
  }
  return bad(
      "use upstream/NAME, upstream/HOST[:PORT], upstream/ADDRESS:PORT, "
      "gateway/NAMESPACE/NAME or dns/NAME");
}

}  // namespace

namespace detail {

bool isIpv4Text(const std::string& s) {
  int parts = 0;
  std::size_t i = 0;
  while (i <= s.size()) {
    std::size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i || j - i > 3) return false;
    if (std::stoi(s.substr(i, j - i)) > 255) return false;
    ++parts;
    if (j == s.size()) break;
    if (s[j] != '.') return false;
    i = j + 1;
  }
  return parts == 4;
}

FaultSpec readFault(Ctx& ctx, const YNode& node) {
  FaultSpec fs;
  fs.pos = node.pos;
  Fields f(ctx, node, "fault");
  fs.target = f.requiredStr("target");
  const YNode* targetNode = f.get("target");
  fs.action = f.requiredStr("action");
  const YNode* actionNode = f.get("action");
  const YNode* msNode = f.get("ms");
  const YNode* codeNode = f.get("code");
  const YNode* percentNode = f.get("percent");
  const YNode* answerNode = f.get("answer");
  const YNode* certNode = f.get("cert");
  const YNode* ttlNode = f.get("ttl");
  if (auto v = f.integer("ms", 1, 3600000)) fs.ms = static_cast<int>(*v);
  if (auto v = f.integer("code", 100, 599)) fs.code = static_cast<int>(*v);
  if (auto v = f.integer("percent", 0, 100)) fs.percent = static_cast<int>(*v);
  if (auto v = f.str("cert")) fs.cert = *v;
  fs.ttl = f.duration("ttl");
  if (answerNode != nullptr && ctx.ok()) fs.answer = readAnswer(ctx, *answerNode);
  f.finish();
  if (!ctx.ok()) return fs;
  if (!readTarget(ctx, fs, *targetNode)) return fs;
  const auto& actions = actionsFor(fs.targetKind);
  if (std::find(actions.begin(), actions.end(), fs.action) == actions.end()) {
    std::string list;
    for (const auto& a : actions) list += (list.empty() ? "" : ", ") + a;
    ctx.fail(fmt::format("invalid fault action \"{}\" for {}; valid actions: {}", fs.action,
                         fs.target, list),
             actionNode->pos);
    return fs;
  }
  // Each parameter belongs to one action.
  const struct {
    const YNode* node;
    const char* key;
    const char* action;
  } owned[] = {{msNode, "ms", "latency"},
               {codeNode, "code", "status"},
               {percentNode, "percent", "status"},
               {answerNode, "answer", "dns"},
               {certNode, "cert", "cert"}};
  for (const auto& o : owned) {
    if (o.node != nullptr && fs.action != o.action) {
      ctx.fail(fmt::format("{} applies only to action {}, not {}", o.key, o.action, fs.action),
               o.node->pos);
      return fs;
    }
    if (o.node == nullptr && fs.action == o.action && std::string_view(o.key) != "percent") {
      ctx.fail(fmt::format("fault action {} needs {}", fs.action, o.key), node.pos);
      return fs;
    }
  }
  if (fs.action == "cert" && fs.cert != "expired" && fs.cert != "wrong-host" &&
      fs.cert != "rotate") {
    ctx.fail(fmt::format("fault cert \"{}\": use expired, wrong-host or rotate", fs.cert),
             certNode->pos);
    return fs;
  }
  if (ttlNode != nullptr) {
    if (fs.action == "up" || fs.action == "restore") {
      ctx.fail(fmt::format("ttl ends a fault; action {} is not one", fs.action), ttlNode->pos);
    } else if (fs.ttl && fs.ttl->count() <= 0) {
      ctx.fail("ttl must be a positive duration such as 30s", ttlNode->pos);
    }
  }
  return fs;
}

}  // namespace detail

bool faultTargetsServer(const FaultSpec& fault, const UpstreamSpec& u, std::string_view address) {
  if (fault.targetKind != FaultSpec::TargetKind::kUpstream) return false;
  const std::string& t = fault.upstreamHost;
  if (!fault.upstreamPort) return t == asciiLower(u.name) || t == asciiLower(u.host);
  if (u.port != *fault.upstreamPort) return false;
  return t == asciiLower(u.host) || (!address.empty() && t == address);
}

std::string faultText(const FaultSpec& fault) {
  std::string text = fmt::format("{} {}", fault.target, fault.action);
  if (fault.action == "latency") text += fmt::format(" {}ms", fault.ms);
  if (fault.action == "status") {
    text += fmt::format(" {}", fault.code);
    if (fault.percent != 100) text += fmt::format(" ({}%)", fault.percent);
  }
  if (fault.action == "cert") text += " " + fault.cert;
  if (fault.answer) {
    switch (fault.answer->kind) {
      case FaultSpec::DnsAnswer::Kind::kNxdomain:
        text += " nxdomain";
        break;
      case FaultSpec::DnsAnswer::Kind::kServfail:
        text += " servfail";
        break;
      case FaultSpec::DnsAnswer::Kind::kAddresses: {
        std::string list;
        for (const auto& a : fault.answer->addresses) list += (list.empty() ? "" : ",") + a;
        text += " " + list;
        break;
      }
    }
  }
  if (fault.ttl) text += " ttl " + durationText(*fault.ttl);
  return text;
}

Result<FaultSpec> parseFaultSpec(std::string_view text, const std::string& origin) {
  auto docs = detail::parseYamlDocuments(text, origin);
  if (!docs) return std::unexpected(docs.error());
  if (docs->size() != 1 || !docs->front().isMap()) {
    return invalidInput(
        "a fault is one object such as {\"target\":\"upstream/crm-a\","
        "\"action\":\"down\"}",
        SourcePos{origin, 1, 1});
  }
  Ctx ctx;
  FaultSpec fs = detail::readFault(ctx, docs->front());
  if (!ctx.clean()) return std::unexpected(ctx.error());
  return fs;
}

std::string explicitAddressOf(const Scenario& scenario, const UpstreamSpec& upstream) {
  auto it = scenario.dns.find(upstream.host);
  return it != scenario.dns.end() ? it->second : std::string();
}

Result<void> checkFaultTarget(const Scenario& sc, const FaultSpec& fault) {
  switch (fault.targetKind) {
    case FaultSpec::TargetKind::kUpstream: {
      bool any = false;
      bool anyTls = false;
      for (const auto& u : sc.upstreams) {
        if (!faultTargetsServer(fault, u, explicitAddressOf(sc, u))) continue;
        any = true;
        anyTls |= u.tls;
      }
      if (!any) {
        return invalidInput(
            fmt::format("fault target \"{}\" is not one of the scenario's upstreams (by name, "
                        "host, host:port or address:port)",
                        fault.target),
            fault.pos);
      }
      if (!anyTls && (fault.action == "cert" || fault.action == "bad-cert")) {
        return invalidInput(fmt::format("fault {} on \"{}\": that upstream serves plain HTTP, "
                                        "it has no certificate",
                                        fault.action, fault.target),
                            fault.pos);
      }
      return {};
    }
    case FaultSpec::TargetKind::kGateway: {
      const auto workloads = deriveGatewayWorkloads(sc.resources, sc.istioVersion);
      const bool known = std::any_of(workloads.begin(), workloads.end(), [&](const auto& w) {
        return w.ns == fault.gatewayNamespace && w.name == fault.gatewayName;
      });
      if (!known) {
        return invalidInput(
            fmt::format("fault target \"{}\": no such gateway in the manifests", fault.target),
            fault.pos);
      }
      return {};
    }
    case FaultSpec::TargetKind::kDns: {
      const auto is = [&](const std::string& name) { return asciiLower(name) == fault.dnsName; };
      bool known =
          std::any_of(sc.dns.begin(), sc.dns.end(), [&](const auto& r) { return is(r.first); }) ||
          std::any_of(sc.upstreams.begin(), sc.upstreams.end(),
                      [&](const auto& u) { return is(u.host); });
      for (const auto& se : sc.resources.serviceEntries) {
        known = known || std::any_of(se.hosts.begin(), se.hosts.end(), is);
        for (const auto& e : se.endpoints) known = known || is(e.address);
      }
      if (!known) {
        return invalidInput(fmt::format("fault target \"{}\": the scenario has no such name (not "
                                        "in dns:, upstreams or a ServiceEntry)",
                                        fault.target),
                            fault.pos);
      }
      return {};
    }
  }
  return {};
}

}  // namespace egresslab::model
