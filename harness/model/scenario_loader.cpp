// Scenario files (docs/design.md "Scenario file"): strict, every key known, every error positioned.
#include <fmt/core.h>
#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "harness/model/credentials.h"
#include "harness/model/ext_authz_parsers.h"
#include "harness/model/fault_spec.h"
#include "harness/model/files.h"
#include "harness/model/gateway_workloads.h"
#include "harness/model/loader.h"
#include "harness/model/manifest_parsers.h"
#include "harness/model/regex.h"
#include "harness/model/schema.h"
#include "harness/model/yaml_tree.h"

namespace egresslab::model {

using detail::Ctx;
using detail::Fields;
using detail::YNode;

Result<Matcher> Matcher::parse(const std::string& written, SourcePos where) {
  Matcher m;
  if (written.size() >= 2 && written.front() == '/' && written.back() == '/') {
    m.isRegex = true;
    m.text = written.substr(1, written.size() - 2);
    if (std::string problem = regexProblem(m.text); !problem.empty()) {
      return invalidInput(fmt::format("invalid regular expression {}: {}", written, problem),
                          std::move(where));
    }
    return m;
  }
  m.text = written;
  return m;
}

bool Matcher::matches(const std::string& value) const {
  if (!isRegex) return value == text;
  return regexFullMatch(text, value);
}

std::string Matcher::str() const { return isRegex ? "/" + text + "/" : text; }

bool Scenario::hasFaults() const {
  return std::any_of(steps.begin(), steps.end(), [](const Step& s) { return s.fault.has_value(); });
}

namespace {

bool isName(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// "region", "region/zone" or "region/zone/subzone", no empty parts (§R5).
bool validLocality(const std::string& s) {
  if (s.empty() || s.front() == '/' || s.back() == '/' || s.find("//") != std::string::npos) {
    return false;
  }
  return std::count(s.begin(), s.end(), '/') <= 2;
}

struct ScenarioReader {
  Ctx& ctx;
  std::filesystem::path dir;
  std::string file;

  // `written` relative to the scenario's directory; when `limit` is set it must name a regular
  // file of at most that many bytes (an error at `node` otherwise).
  std::filesystem::path resolve(const YNode& node, const std::string& written,
                                std::string_view what, std::optional<std::size_t> limit) {
    std::filesystem::path p(written);
    if (p.is_relative()) p = dir / p;
    p = p.lexically_normal();
    if (limit && ctx.ok()) {
      const std::string problem = userFileProblem(p, *limit);
      if (problem == "no such file or directory") {
        ctx.fail(fmt::format("{} \"{}\" not found (looked for {})", what, written, p.string()),
                 node.pos);
      } else if (!problem.empty()) {
        ctx.fail(fmt::format("{} \"{}\" ({}): {}", what, written, p.string(), problem), node.pos);
      }
    }
    return p;
  }

  // A given credential is read as the gateway would read it: PEM, key matching certificate.
  void checkSecretFiles(const SecretSpec& s, const YNode& certNode, const YNode& keyNode) {
    auto certText = readUserFile(s.certFile, "certificate file", kMaxPemBytes);
    auto keyText = readUserFile(s.keyFile, "key file", kMaxPemBytes);
    if (!certText) {
      ctx.fail(fmt::format("secret {}/{}: {}", s.ns, s.name, certText.error().str()), certNode.pos);
      return;
    }
    if (!keyText) {
      ctx.fail(fmt::format("secret {}/{}: {}", s.ns, s.name, keyText.error().str()), keyNode.pos);
      return;
    }
    const CredentialProblem problem = checkCredential(*certText, *keyText);
    if (problem.in == CredentialProblem::In::kNone) return;
    const bool inCert = problem.in == CredentialProblem::In::kCert;
    ctx.fail(fmt::format("secret {}/{}: {} {}: {}", s.ns, s.name,
                         inCert ? "certificate file" : "key file",
                         (inCert ? s.certFile : s.keyFile).string(), problem.message),
             inCert ? certNode.pos : keyNode.pos);
  }

  std::optional<Matcher> matcher(const YNode& node, std::string_view field) {
    const std::string text = detail::readStr(ctx, node, field);
    if (!ctx.ok()) return std::nullopt;
    auto m = Matcher::parse(text, node.pos);
    if (!m) {
      ctx.fail(m.error().message, node.pos);
      return std::nullopt;
    }
    return *m;
  }

  std::map<std::string, Matcher> matcherMap(const YNode* node, std::string_view field,
                                            bool lowerKeys) {
    std::map<std::string, Matcher> out;
    if (node == nullptr || node->isNull()) return out;
    if (!node->isMap()) {
      ctx.fail(fmt::format("{} must be a map, got {}", field, detail::describeKind(*node)),
               node->pos);
      return out;
    }
    for (const auto& entry : node->entries) {
      std::string key = entry.key;
      if (lowerKeys) {
        for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      if (auto m = matcher(entry.value, fmt::format("{}.{}", field, entry.key))) out[key] = *m;
    }
    return out;
  }

  Expectation expectation(const YNode& node) {
    Expectation e;
    e.pos = node.pos;
    Fields f(ctx, node, "expect");
    if (auto v = f.integer("exit", 0, 255)) e.exit = static_cast<int>(*v);
    if (const YNode* status = f.get("status")) {
      if (status->isSequence()) {
        for (const auto& item : status->items) {
          if (auto v = detail::readInt(ctx, item, "expect.status", 100, 599)) {
            e.status.push_back(static_cast<int>(*v));
          }
        }
        if (e.status.empty() && ctx.ok()) ctx.fail("expect.status must not be empty", status->pos);
      } else if (auto v = detail::readInt(ctx, *status, "expect.status", 100, 599)) {
        e.status.push_back(static_cast<int>(*v));
      }
    }
    e.headers = matcherMap(f.get("headers"), "expect.headers", true);
    if (const YNode* body = f.get("body")) {
      Fields bf(ctx, *body, "expect.body");
      BodyExpectation b;
      if (const YNode* contains = bf.get("contains")) {
        if (contains->isSequence()) {
          b.contains = detail::readStrList(ctx, *contains, "expect.body.contains");
        } else {
          b.contains.push_back(detail::readStr(ctx, *contains, "expect.body.contains"));
        }
      }
      if (const YNode* json = bf.get("json")) b.json = detail::toJson(*json);
      bf.finish();
      e.body = b;
    }
    if (const YNode* via = f.get("via")) e.via = detail::readStrList(ctx, *via, "expect.via");
    e.flags = matcherMap(f.get("flags"), "expect.flags", false);
    f.finish();
    return e;
  }

  Eventually eventually(const YNode& node) {
    Eventually ev;
    Fields f(ctx, node, "eventually");
    if (auto d = f.duration("within")) ev.within = *d;
    if (auto d = f.duration("every")) ev.every = *d;
    if (auto n = f.integer("successes", 1, 1000000)) ev.successes = static_cast<int>(*n);
    f.finish();
    if (ctx.ok() && (ev.within.count() <= 0 || ev.every.count() <= 0)) {
      ctx.fail("eventually.within and eventually.every must be positive durations", node.pos);
    }
    return ev;
  }

  // docs/scenarios.md "Load and SLOs": `load: {start: …}` or `load: {stop: NAME}`.
  LoadSpec load(const YNode& node) {
    LoadSpec l;
    l.pos = node.pos;
    Fields f(ctx, node, "load");
    const YNode* start = f.get("start");
    const YNode* stop = f.get("stop");
    const YNode* curlNode = f.get("curl");
    const YNode* rateNode = f.get("rate");
    const YNode* fromNode = f.get("from");
    const YNode* concurrencyNode = f.get("concurrency");
    if (start != nullptr) l.name = detail::readStr(ctx, *start, "load.start");
    if (stop != nullptr) l.name = detail::readStr(ctx, *stop, "load.stop");
    if (curlNode != nullptr) {
      l.curl = detail::readStr(ctx, *curlNode, "load.curl");
      l.curlPos = curlNode->pos;
    }
    if (fromNode != nullptr) l.from = detail::readStr(ctx, *fromNode, "load.from");
    if (auto rate = f.number("rate")) l.rate = *rate;
    if (auto c = f.integer("concurrency", 1, 4096)) l.concurrency = static_cast<int>(*c);
    f.finish();
    if (!ctx.ok()) return l;
    if ((start == nullptr) == (stop == nullptr)) {
      ctx.fail("load needs exactly one of start: NAME or stop: NAME", node.pos);
      return l;
    }
    const YNode* nameNode = start != nullptr ? start : stop;
    if (!isName(l.name)) {
      ctx.fail(
          fmt::format("invalid load name \"{}\": use lower-case letters, digits and '-'", l.name),
          nameNode->pos);
      return l;
    }
    if (stop != nullptr) {
      l.action = LoadSpec::Action::kStop;
      for (const YNode* extra : {curlNode, rateNode, fromNode, concurrencyNode}) {
        if (extra != nullptr) {
          ctx.fail(
              "load.stop takes only the load's name; curl, from, rate and concurrency "
              "belong to its load.start",
              extra->pos);
          return l;
        }
      }
      return l;
    }
    if (curlNode == nullptr || l.curl.empty()) {
      ctx.fail("load.start needs a curl line", curlNode != nullptr ? curlNode->pos : node.pos);
    } else if (rateNode == nullptr) {
      ctx.fail("load.start needs rate (requests per second)", node.pos);
    } else if (!(l.rate > 0) || l.rate > 100000) {
      ctx.fail(fmt::format("load.rate must be above 0 and at most 100000 requests per second, "
                           "got {}",
                           l.rate),
               rateNode->pos);
    }
    return l;
  }

  // A `load.stop` step's `expect:` (docs/scenarios.md "Load and SLOs").
  LoadExpectation loadExpectation(const YNode& node) {
    LoadExpectation e;
    e.pos = node.pos;
    Fields f(ctx, node, "expect (of a load.stop)");
    const auto condition = [&](const YNode& value, Condition::Unit unit,
                               const std::string& key) -> std::optional<Condition> {
      const std::string text = detail::readStr(ctx, value, key);
      if (!ctx.ok()) return std::nullopt;
      auto c = parseCondition(text, unit, key, value.pos);
      if (!c) {
        ctx.fail(c.error().message, value.pos);
        return std::nullopt;
      }
      return *c;
    };
    const auto single = [&](std::string_view key, Condition::Unit unit) {
      const YNode* value = f.get(key);
      if (value == nullptr) return std::optional<Condition>();
      return condition(*value, unit, fmt::format("expect.{}", key));
    };
    e.successRate = single("successRate", Condition::Unit::kPercent);
    e.p50 = single("p50", Condition::Unit::kDuration);
    e.p90 = single("p90", Condition::Unit::kDuration);
    e.p99 = single("p99", Condition::Unit::kDuration);
    e.errors = single("errors", Condition::Unit::kCount);
    const auto eachEntry = [&](std::string_view key, auto&& fn) {
      const YNode* map = f.get(key);
      if (map == nullptr || map->isNull()) return;
      if (!map->isMap()) {
        ctx.fail(fmt::format("expect.{} must be a map, got {}", key, detail::describeKind(*map)),
                 map->pos);
        return;
      }
      for (const auto& entry : map->entries) fn(entry);
    };
    eachEntry("statuses", [&](const auto& entry) {
      YNode codeNode;
      codeNode.kind = YNode::Kind::kScalar;
      codeNode.scalar = entry.key;
      codeNode.pos = entry.value.pos;
      const auto code = detail::readInt(ctx, codeNode, "expect.statuses code", 100, 599);
      const auto c = condition(entry.value, Condition::Unit::kCount,
                               fmt::format("expect.statuses.{}", entry.key));
      if (code && c) e.statuses[static_cast<int>(*code)] = *c;
    });
    eachEntry("servedBy", [&](const auto& entry) {
      if (const auto c = condition(entry.value, Condition::Unit::kPercent,
                                   fmt::format("expect.servedBy.{}", entry.key))) {
        e.servedBy[entry.key] = *c;
      }
    });
    f.finish();
    return e;
  }

  FaultSpec fault(const YNode& node) { return detail::readFault(ctx, node); }
};

// A `load:` or `wait:` step takes nothing else of a request step (docs/scenarios.md "Load and
// SLOs"); loads are started once under a name and stopped after they started.
void checkLoadOrWaitStep(Ctx& ctx, const Scenario& sc, const Step& step, const YNode& item,
                         bool hasRequestOrFault, const YNode* expect, const YNode* eventually,
                         const YNode* from, bool both) {
  if (both || hasRequestOrFault) {
    ctx.fail(fmt::format("step \"{}\" needs exactly one of curl, fault, load or wait", step.name),
             item.pos);
    return;
  }
  if (step.wait) {
    if (expect != nullptr || eventually != nullptr || from != nullptr || step.timeout) {
      ctx.fail(fmt::format("step \"{}\": a wait step takes only a duration", step.name), item.pos);
    } else if (step.wait->count() <= 0) {
      ctx.fail(fmt::format("step \"{}\": wait must be a positive duration", step.name), item.pos);
    }
    return;
  }
  const LoadSpec& load = *step.load;
  if (eventually != nullptr || from != nullptr) {
    ctx.fail(fmt::format("step \"{}\": a load step takes no eventually or from (write from "
                         "inside load: {{start: …, from: NS/POD}})",
                         step.name),
             (eventually != nullptr ? eventually : from)->pos);
    return;
  }
  const auto started = [&](const std::string& name) {
    return std::find_if(sc.steps.begin(), sc.steps.end(), [&](const Step& s) {
      return s.load && s.load->action == LoadSpec::Action::kStart && s.load->name == name;
    });
  };
  const bool stopped = std::any_of(sc.steps.begin(), sc.steps.end(), [&](const Step& s) {
    return s.load && s.load->action == LoadSpec::Action::kStop && s.load->name == load.name;
  });
  if (load.action == LoadSpec::Action::kStart) {
    if (expect != nullptr) {
      ctx.fail(
          fmt::format("step \"{}\": expectations over a load go on its load.stop step", step.name),
          expect->pos);
    } else if (started(load.name) != sc.steps.end()) {
      ctx.fail(fmt::format("load \"{}\" is already started by an earlier step", load.name),
               load.pos);
    } else if (load.from) {
      const auto slash = load.from->find('/');
      const bool declared =
          slash != std::string::npos &&
          std::any_of(sc.workloads.begin(), sc.workloads.end(), [&](const auto& w) {
            return w.ns == load.from->substr(0, slash) && w.name == load.from->substr(slash + 1);
          });
      if (!declared) {
        ctx.fail(fmt::format("load.from \"{}\": no such pod in workloads (write NAMESPACE/POD)",
                             *load.from),
                 load.pos);
      }
    }
    return;
  }
  if (started(load.name) == sc.steps.end()) {
    ctx.fail(fmt::format("load.stop \"{}\": no earlier step starts a load of that name", load.name),
             load.pos);
  } else if (stopped) {
    ctx.fail(fmt::format("load \"{}\" is already stopped by an earlier step", load.name), load.pos);
  }
}

void readScenario(Ctx& ctx, ScenarioReader& r, const YNode& doc, Scenario& sc,
                  std::vector<const YNode*>& manifestNodes, bool& minorOnly) {
  Fields f(ctx, doc, "scenario");
  f.get("vars");  // read before substitution (see parseScenario)
  const YNode* nameNode = f.get("name");
  ctx.scope([&] {
    sc.name = f.requiredStr("name");
    if (ctx.ok() && !isName(sc.name)) {
      ctx.fail(fmt::format("invalid scenario name \"{}\": use lower-case letters, digits and '-'",
                           sc.name),
               nameNode->pos);
    }
  });
  ctx.scope([&] { sc.description = f.str("description").value_or(""); });
  ctx.scope([&] { sc.labels = f.strList("labels"); });
  if (const YNode* istio = f.get("istio"))
    ctx.scope([&] {
      Fields ifs(ctx, *istio, "istio");
      if (const YNode* version = ifs.get("version")) {
        const std::string text = detail::readStr(ctx, *version, "istio.version");
        if (ctx.ok()) {
          auto v = IstioVersion::parse(text, version->pos);
          if (!v) {
            ctx.fail(v.error().message, version->pos);
          } else {
            sc.istioVersion = *v;
            sc.istioVersionFromFile = true;
            minorOnly = !IstioVersion::hasPatch(text);
          }
        }
      }
      if (const YNode* install = ifs.get("install")) {
        sc.install = detail::readEnum<InstallMethod>(ctx, install, "istio.install",
                                                     {{"operator", InstallMethod::kOperator},
                                                      {"istioctl", InstallMethod::kIstioctl},
                                                      {"helm", InstallMethod::kHelm}});
        sc.installPos = install->pos;
      }
      ifs.finish();
    });
  if (const YNode* cluster = f.get("cluster"))
    ctx.scope([&] {
      Fields cf(ctx, *cluster, "cluster");
      if (auto name = cf.str("name")) sc.cluster.name = *name;
      if (const YNode* config = cf.get("config")) {
        // Only the kind backend reads it, and checks it there: a copied scenario runs on sim.
        sc.cluster.config = r.resolve(*config, detail::readStr(ctx, *config, "cluster.config"),
                                      "cluster config", std::nullopt);
      }
      cf.finish();
    });
  if (const YNode* manifests = f.get("manifests"))
    ctx.scope([&] {
      const auto list = detail::readStrList(ctx, *manifests, "manifests");
      for (std::size_t i = 0; i < list.size(); ++i) {
        const YNode& entry = manifests->items[i];
        std::error_code ec;
        std::filesystem::path p = r.resolve(entry, list[i], "manifest", std::nullopt);
        // A directory of manifests is read file by file (regular files only); anything else must
        // be a regular file of bounded size.
        if (!std::filesystem::is_directory(p, ec)) {
          ctx.scope([&] { r.resolve(entry, list[i], "manifest", kMaxManifestBytes); });
        }
        sc.manifests.push_back(p);
        manifestNodes.push_back(&entry);
      }
    });
  const auto eachItem = [&](const YNode* node, std::string_view field, auto&& fn) {
    if (node == nullptr || node->isNull()) return;
    if (!node->isSequence()) {
      ctx.fail(fmt::format("{} must be a list, got {}", field, detail::describeKind(*node)),
               node->pos);
      return;
    }
    // Each item is read in a scope of its own: one report names every broken item.
    for (std::size_t i = 0; i < node->items.size(); ++i) {
      ctx.scope([&] { fn(node->items[i], i); });
    }
  };
  eachItem(f.get("secrets"), "secrets", [&](const YNode& item, std::size_t i) {
    Fields sf(ctx, item, fmt::format("secrets[{}]", i));
    SecretSpec s;
    s.pos = item.pos;
    s.name = sf.requiredStr("name");
    s.ns = sf.requiredStr("namespace");
    s.hosts = sf.strList("hosts");
    const YNode* cert = sf.get("cert");
    const YNode* key = sf.get("key");
    if (const YNode* ca = sf.get("caCertificate")) {
      // true/false, or the path of a PEM file.
      const std::string written = detail::readStr(ctx, *ca, "caCertificate");
      const bool isBool = !ca->quoted && (written == "true" || written == "false");
      s.caCertificate = !isBool || written == "true";
      if (!isBool && ctx.ok()) {
        s.caFile = r.resolve(*ca, written, "CA certificate file", kMaxPemBytes);
      }
    }
    if (cert != nullptr) {
      s.certFile =
          r.resolve(*cert, detail::readStr(ctx, *cert, "cert"), "certificate file", kMaxPemBytes);
    }
    if (key != nullptr) {
      s.keyFile = r.resolve(*key, detail::readStr(ctx, *key, "key"), "key file", kMaxPemBytes);
    }
    sf.finish();
    if (!ctx.ok()) return;
    if ((cert == nullptr) != (key == nullptr)) {
      ctx.fail("a secret takes both cert and key files, or neither", item.pos);
    } else if (cert == nullptr && s.hosts.empty()) {
      ctx.fail("a minted secret needs hosts (or give cert and key files)", item.pos);
    } else if (cert != nullptr) {
      r.checkSecretFiles(s, *cert, *key);
    }
    sc.secrets.push_back(std::move(s));
  });
  eachItem(f.get("upstreams"), "upstreams", [&](const YNode& item, std::size_t i) {
    Fields uf(ctx, item, fmt::format("upstreams[{}]", i));
    UpstreamSpec u;
    u.pos = item.pos;
    u.host = uf.requiredStr("host");
    u.port = uf.port("port").value_or(443);
    u.tls = uf.boolean("tls").value_or(u.port == 443);
    const YNode* upstreamName = uf.get("name");
    u.name = uf.str("name").value_or(u.host);
    const YNode* addressNode = uf.get("address");
    u.address = uf.str("address").value_or("");
    uf.finish();
    if (addressNode != nullptr && !detail::isIpv4Text(u.address) && ctx.ok()) {
      ctx.fail(fmt::format("upstreams[{}].address: \"{}\" is not an IPv4 address", i, u.address),
               addressNode->pos);
    }
    // Several servers may share host:port (docs/design.md "More than one server per upstream"),
    // but each needs its own name (what /hostname answers and fault targets name) and address.
    // One name on two ports (80 and 443) is one server with two ports.
    for (const auto& o : sc.upstreams) {
      if (!ctx.ok()) break;
      if (o.name == u.name && o.port == u.port) {
        ctx.fail(o.host == u.host && o.port == u.port && upstreamName == nullptr
                     ? fmt::format("duplicate upstream {}:{} (give each server a name and an "
                                   "address)",
                                   u.host, u.port)
                     : fmt::format("duplicate upstream name \"{}\" on port {}", u.name, u.port),
                 upstreamName != nullptr ? upstreamName->pos : item.pos);
      } else if (!u.address.empty() && o.address == u.address && o.port == u.port) {
        ctx.fail(fmt::format("upstreams {} and {} both answer at {}:{}", o.name, u.name, u.address,
                             u.port),
                 addressNode->pos);
      }
    }
    sc.upstreams.push_back(std::move(u));
  });
  if (const YNode* dns = f.get("dns"))
    ctx.scope([&] {
      if (dns->isNull()) return;
      if (!dns->isMap()) {
        ctx.fail(fmt::format("dns must be a map of host to address (or list of addresses), not {}",
                             describeKind(*dns)),
                 dns->pos);
        return;
      }
      // A value is one address or a list of them: several A records (docs/design.md).
      for (const auto& entry : dns->entries) {
        std::vector<const YNode*> values;
        if (entry.value.isSequence()) {
          for (const auto& v : entry.value.items) values.push_back(&v);
        } else {
          values.push_back(&entry.value);
        }
        if (values.empty() && ctx.ok()) {
          ctx.fail(fmt::format("dns.{}: needs at least one address", entry.key), entry.value.pos);
        }
        std::vector<std::string> answers;
        for (const YNode* v : values) {
          if ((!v->isScalar() || !detail::isIpv4Text(v->scalar)) && ctx.ok()) {
            ctx.fail(fmt::format("dns.{}: \"{}\" is not an IPv4 address", entry.key,
                                 v->isScalar() ? v->scalar : std::string(describeKind(*v))),
                     v->pos);
          }
          if (std::find(answers.begin(), answers.end(), v->scalar) == answers.end()) {
            answers.push_back(v->scalar);
          }
        }
        if (!ctx.ok()) return;
        sc.dns[entry.key] = answers.front();
        sc.dnsAnswers[entry.key] = std::move(answers);
      }
    });
  eachItem(f.get("workloads"), "workloads", [&](const YNode& item, std::size_t i) {
    Fields wf(ctx, item, fmt::format("workloads[{}]", i));
    WorkloadSpec w;
    w.pos = item.pos;
    w.name = wf.requiredStr("name");
    w.ns = wf.str("namespace").value_or("default");
    w.injected = wf.boolean("injected");
    const YNode* labels = wf.get("labels");
    w.labels = wf.strMap("labels");
    if (labels == nullptr) w.labels = {{"app", w.name}};
    w.serviceAccount = wf.str("serviceAccount").value_or(w.name);
    const YNode* locality = wf.get("locality");
    w.locality = wf.str("locality").value_or("");
    wf.finish();
    if (locality != nullptr && ctx.ok() && !validLocality(w.locality)) {
      ctx.fail(fmt::format("workloads[{}].locality \"{}\" must be REGION[/ZONE[/SUBZONE]]", i,
                           w.locality),
               locality->pos);
    }
    const bool duplicate =
        std::any_of(sc.workloads.begin(), sc.workloads.end(),
                    [&](const auto& o) { return o.name == w.name && o.ns == w.ns; });
    if (duplicate && ctx.ok()) {
      ctx.fail(fmt::format("duplicate workload {}/{}", w.ns, w.name), item.pos);
    }
    sc.workloads.push_back(std::move(w));
  });
  eachItem(f.get("portForwards"), "portForwards", [&](const YNode& item, std::size_t i) {
    Fields pf(ctx, item, fmt::format("portForwards[{}]", i));
    PortForwardSpec p;
    p.pos = item.pos;
    const YNode* service = pf.get("service");
    const std::string svc = pf.requiredStr("service");
    const auto slash = svc.find('/');
    if (ctx.ok() && (slash == std::string::npos || slash == 0 || slash + 1 == svc.size())) {
      ctx.fail(fmt::format("portForwards service \"{}\" must be NAMESPACE/NAME", svc),
               service->pos);
    } else if (slash != std::string::npos) {
      p.serviceNamespace = svc.substr(0, slash);
      p.serviceName = svc.substr(slash + 1);
    }
    if (pf.get("local") == nullptr || pf.get("remote") == nullptr) {
      if (ctx.ok()) ctx.fail("a port-forward needs service, local and remote", item.pos);
    }
    p.local = pf.port("local").value_or(0);
    p.remote = pf.port("remote").value_or(0);
    pf.finish();
    sc.portForwards.push_back(std::move(p));
  });
  if (const YNode* servers = f.get("extAuthz")) {
    sc.extAuthz = detail::readExtAuthzServers(ctx, *servers);
  }
  const YNode* steps = f.get("steps");
  std::set<std::string> stepNames;
  eachItem(steps, "steps", [&](const YNode& item, std::size_t i) {
    Fields sf(ctx, item, fmt::format("steps[{}]", i));
    Step step;
    step.pos = item.pos;
    const YNode* nameN = sf.get("name");
    step.name = sf.requiredStr("name");
    if (ctx.ok() && !stepNames.insert(step.name).second) {
      ctx.fail(fmt::format("duplicate step name \"{}\"", step.name), nameN->pos);
    }
    const YNode* curl = sf.get("curl");
    const YNode* fault = sf.get("fault");
    const YNode* load = sf.get("load");
    const YNode* wait = sf.get("wait");
    if (curl != nullptr) {
      step.curl = detail::readStr(ctx, *curl, "curl");
      step.curlPos = curl->pos;
    }
    if (const YNode* from = sf.get("from")) {
      step.from = detail::readStr(ctx, *from, "from");
      const auto slash = step.from->find('/');
      if (ctx.ok() &&
          (slash == std::string::npos || slash == 0 || slash + 1 == step.from->size())) {
        ctx.fail(fmt::format("from \"{}\" must be NAMESPACE/POD", *step.from), from->pos);
      } else if (ctx.ok()) {
        const std::string ns = step.from->substr(0, slash);
        const std::string pod = step.from->substr(slash + 1);
        const bool declared =
            std::any_of(sc.workloads.begin(), sc.workloads.end(),
                        [&](const auto& w) { return w.ns == ns && w.name == pod; });
        if (!declared) {
          ctx.fail(fmt::format("from \"{}\": no such pod in workloads", *step.from), from->pos);
        }
      }
    }
    const YNode* expect = sf.get("expect");
    const YNode* eventually = sf.get("eventually");
    if (load != nullptr) step.load = r.load(*load);
    // A load step's expect holds load conditions (on a start it is refused below).
    if (expect != nullptr && load != nullptr) {
      step.loadExpect = r.loadExpectation(*expect);
    } else if (expect != nullptr) {
      step.expect = r.expectation(*expect);
    }
    if (wait != nullptr) step.wait = detail::readDuration(ctx, *wait, "wait");
    if (eventually != nullptr) step.eventually = r.eventually(*eventually);
    if (fault != nullptr) step.fault = r.fault(*fault);
    step.timeout = sf.duration("timeout");
    sf.finish();
    if (!ctx.ok()) return;
    if (load != nullptr || wait != nullptr) {
      checkLoadOrWaitStep(ctx, sc, step, item, curl != nullptr || fault != nullptr, expect,
                          eventually, sf.get("from"), load != nullptr && wait != nullptr);
      if (ctx.ok()) sc.steps.push_back(std::move(step));
      return;
    }
    if ((curl == nullptr) == (fault == nullptr)) {
      ctx.fail(fmt::format("step \"{}\" needs exactly one of curl or fault", step.name), item.pos);
    } else if (fault != nullptr &&
               (expect != nullptr || eventually != nullptr || sf.get("from") != nullptr)) {
      ctx.fail(
          fmt::format("step \"{}\": a fault step takes no from, expect or eventually", step.name),
          item.pos);
    } else if (curl != nullptr && step.curl->empty()) {
      ctx.fail(fmt::format("step \"{}\": curl is empty", step.name), curl->pos);
    }
    sc.steps.push_back(std::move(step));
  });
  ctx.scope([&] { sc.timeout = f.duration("timeout"); });
  ctx.scope([&] { f.finish(); });
  if (sc.steps.empty() && steps != nullptr &&
      (steps->isNull() || (steps->isSequence() && steps->items.empty()))) {
    ctx.scope([&] { ctx.fail("steps must not be empty", steps->pos); });
  }
}

// The scenario's Istio version, one story for messages, hints and the kind plan (§R0 of
// docs/istio-behaviour.md is per minor, but downloads and some rows are per patch):
// - `istio.version` with a patch wins as written;
// - `istio.version` as a minor ("1.22") takes the patch of the first IstioOperator `tag` of that
//   minor (tag 1.22.3 → 1.22.3); with no such tag it is the minor's .0 release (docs/scenarios.md);
// - no `istio.version`: the first IstioOperator `tag`, else the newest supported version.
Result<void> resolveIstioVersion(Scenario& sc, bool minorOnly) {
  if (sc.istioVersionFromFile && !minorOnly) return {};
  for (const IstioOperator& iop : sc.resources.istioOperators) {
    if (iop.tag.empty()) continue;
    auto v = IstioVersion::parse(iop.tag, iop.origin.at("spec.tag"));
    if (!v) {
      if (sc.istioVersionFromFile) continue;  // the scenario's own version stands
      return std::unexpected(v.error());
    }
    if (!sc.istioVersionFromFile) {
      sc.istioVersion = *v;
      return {};
    }
    if (v->major == sc.istioVersion.major && v->minor == sc.istioVersion.minor &&
        IstioVersion::hasPatch(iop.tag)) {
      sc.istioVersion.patch = v->patch;
      return {};
    }
  }
  return {};
}

}  // namespace

Result<Scenario> parseScenario(std::string_view yaml, const std::filesystem::path& file) {
  const std::string fileName = file.string();
  auto docs = detail::parseYamlDocuments(yaml, fileName);
  if (!docs) return std::unexpected(docs.error());
  std::vector<YNode*> nonEmpty;
  for (auto& d : *docs) {
    if (!d.isNull()) nonEmpty.push_back(&d);
  }
  if (nonEmpty.size() != 1) {
    return invalidInput(nonEmpty.empty() ? "empty scenario file"
                                         : "a scenario file holds exactly one YAML document",
                        SourcePos{fileName, nonEmpty.empty() ? 0 : nonEmpty[1]->pos.line,
                                  nonEmpty.empty() ? 0 : nonEmpty[1]->pos.column});
  }
  YNode& doc = *nonEmpty.front();
  if (!doc.isMap()) {
    return invalidInput(fmt::format("a scenario must be a map, got {}", detail::describeKind(doc)),
                        doc.pos);
  }
  Scenario sc;
  std::error_code ec;
  sc.file = std::filesystem::absolute(file, ec);
  if (ec) sc.file = file;
  Ctx ctx;
  // vars first: they apply to every other string of the file.
  if (const YNode* vars = doc.find("vars")) {
    for (const auto& [key, value] : detail::readStrMap(ctx, *vars, "vars")) {
      const bool valid = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
      });
      if (!valid && ctx.ok()) {
        ctx.fail(
            fmt::format("invalid var name \"{}\": use [a-z0-9-_.] so <{}> can name it", key, key),
            vars->pos);
      }
      sc.vars[key] = value;
    }
  }
  if (!ctx.ok()) return std::unexpected(ctx.error());
  for (auto& entry : doc.entries) {
    if (entry.key == "vars") continue;
    if (auto r = detail::substituteTree(entry.value, sc.vars, true, yaml); !r) {
      return std::unexpected(r.error());
    }
  }
  ScenarioReader reader{ctx, sc.file.parent_path(), fileName};
  std::vector<const YNode*> manifestNodes;
  bool minorOnly = false;
  readScenario(ctx, reader, doc, sc, manifestNodes, minorOnly);
  if (!ctx.clean()) return std::unexpected(ctx.error());

  LoadOptions options{.vars = sc.vars, .requireAllPlaceholders = true, .lenient = false};
  auto resources = loadManifests(sc.manifests, options);
  if (!resources) return std::unexpected(resources.error());
  sc.resources = std::move(*resources);

  if (auto v = resolveIstioVersion(sc, minorOnly); !v) return std::unexpected(v.error());
  if (auto v = detail::checkSecurityPolicyVersions(sc.resources, sc.istioVersion); !v) {
    return std::unexpected(v.error());
  }
  if (sc.install) {
    if (auto problem = installMethodProblem(*sc.install, sc.istioVersion); !problem.empty()) {
      return invalidInput(problem, sc.installPos);
    }
  }
  // Faults must name something the scenario has.
  std::vector<Error> faultErrors;
  for (const auto& step : sc.steps) {
    if (!step.fault) continue;
    if (auto known = checkFaultTarget(sc, *step.fault); !known) {
      faultErrors.push_back(known.error());
    }
  }
  if (!faultErrors.empty()) return std::unexpected(detail::combineErrors(std::move(faultErrors)));
  return sc;
}

Result<Scenario> loadScenario(const std::filesystem::path& file) {
  auto text = readUserFile(file, "scenario file", kMaxScenarioBytes);
  if (!text) return std::unexpected(text.error());
  return parseScenario(*text, file);
}

bool looksLikeScenario(const std::filesystem::path& file) {
  auto text = readUserFile(file, "scenario file", kMaxScenarioBytes);
  if (!text) return false;
  auto docs = detail::parseYamlDocuments(*text, file.string());
  if (!docs || docs->empty()) return false;
  const YNode& doc = docs->front();
  return doc.isMap() && doc.find("apiVersion") == nullptr &&
         (doc.find("steps") != nullptr || doc.find("manifests") != nullptr);
}

}  // namespace egresslab::model
