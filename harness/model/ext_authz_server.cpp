// A scenario's `extAuthz:` servers and rules files (docs/scenarios.md "External authorization").
#include "harness/model/ext_authz_server.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "harness/model/ext_authz_parsers.h"
#include "harness/model/files.h"
#include "harness/model/manifest_parsers.h"

namespace egresslab::model {
namespace {

using detail::Ctx;
using detail::Fields;
using detail::YNode;

HeaderPairs readHeaders(Fields& f, std::string_view key) {
  HeaderPairs out;
  for (auto& [name, value] : f.strMap(key)) out.emplace_back(asciiLower(name), value);
  return out;
}

// The decision part of a rule or of `default:` (everything but `match`).
void readDecision(Fields& f, ExtAuthzRule& r, bool actionRequired) {
  const YNode* action = f.get("action");
  if (action == nullptr && actionRequired && f.ctx().ok()) {
    f.ctx().fail(fmt::format("missing required field \"action\" (allow or deny) in {}", f.what()),
                 f.node().pos);
  }
  if (auto allow =
          detail::readEnum<bool>(f.ctx(), action, "action", {{"allow", true}, {"deny", false}})) {
    r.allow = *allow;
  }
  if (auto status = f.integer("status", 100, 599)) r.status = static_cast<std::uint32_t>(*status);
  r.body = f.str("body").value_or("");
  r.upstreamHeaders = readHeaders(f, "upstreamHeaders");
  r.downstreamHeaders = readHeaders(f, "downstreamHeaders");
}

void readMatch(Ctx& ctx, const YNode& node, const std::string& what, ExtAuthzMatch& m) {
  Fields f(ctx, node, what);
  m.paths = f.strList("paths");
  m.methods = f.strList("methods");
  for (auto& method : m.methods) {
    std::transform(method.begin(), method.end(), method.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  }
  m.principals = f.strList("principals");
  for (auto& [name, value] : f.strMap("headers")) m.headers.emplace_back(asciiLower(name), value);
  f.finish();
}

// `rules`, `default` and `latency` of a server entry or a rules file, read from `f`.
ExtAuthzRules readRules(Ctx& ctx, Fields& f) {
  ExtAuthzRules rules;
  rules.latency = f.duration("latency").value_or(std::chrono::milliseconds(0));
  if (const YNode* list = f.get("rules"); list != nullptr && !list->isNull()) {
    if (!list->isSequence()) {
      ctx.fail(fmt::format("rules must be a list, got {}", detail::describeKind(*list)), list->pos);
    } else {
      for (std::size_t i = 0; i < list->items.size(); ++i) {
        const YNode& item = list->items[i];
        ctx.scope([&] {
          Fields rf(ctx, item, fmt::format("rules[{}]", i));
          ExtAuthzRule r;
          r.pos = item.pos;
          if (const YNode* match = rf.get("match")) {
            readMatch(ctx, *match, fmt::format("rules[{}].match", i), r.match);
          }
          readDecision(rf, r, true);
          rf.finish();
          rules.rules.push_back(std::move(r));
        });
      }
    }
  }
  rules.otherwise.allow = false;
  if (const YNode* def = f.get("default")) {
    rules.otherwise.pos = def->pos;
    if (def->isScalar()) {
      if (auto allow =
              detail::readEnum<bool>(ctx, def, "default", {{"allow", true}, {"deny", false}})) {
        rules.otherwise.allow = *allow;
      }
    } else {
      Fields df(ctx, *def, "default");
      readDecision(df, rules.otherwise, true);
      df.finish();
    }
  }
  return rules;
}

bool isName(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

std::string ExtAuthzServerSpec::host() const {
  return fmt::format("{}.{}.svc.cluster.local", service, ns);
}

ExtAuthzRules sampleExtAuthzRules() {
  ExtAuthzRules s;
  const HeaderPairs allowed = {{"x-ext-authz-check-result", "allowed"}};
  ExtAuthzRule allowHeader;
  allowHeader.match.headers = {{"x-ext-authz", "allow"}};
  allowHeader.allow = true;
  allowHeader.upstreamHeaders = allowed;
  allowHeader.downstreamHeaders = allowed;
  ExtAuthzRule otherValue;  // the header present with another value: denied
  otherValue.match.headers = {{"x-ext-authz", "*"}};
  otherValue.allow = false;
  ExtAuthzRule principal;  // no header: the sample's --allow_service_account=a
  principal.match.principals = {"*/sa/a"};
  principal.allow = true;
  principal.upstreamHeaders = allowed;
  principal.downstreamHeaders = allowed;
  s.otherwise.allow = false;
  s.otherwise.status = 403;
  s.otherwise.body = "denied by ext_authz for not found header `x-ext-authz: allow` in the request";
  s.otherwise.downstreamHeaders = {{"x-ext-authz-check-result", "denied"}};
  otherValue.status = s.otherwise.status;
  otherValue.body = s.otherwise.body;
  otherValue.downstreamHeaders = s.otherwise.downstreamHeaders;
  s.rules = {allowHeader, otherValue, principal};
  return s;
}

namespace detail {

std::vector<ExtAuthzServerSpec> readExtAuthzServers(Ctx& ctx, const YNode& node) {
  std::vector<ExtAuthzServerSpec> out;
  if (node.isNull()) return out;
  if (!node.isSequence()) {
    ctx.fail(fmt::format("extAuthz must be a list, got {}", describeKind(node)), node.pos);
    return out;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < node.items.size(); ++i) {
    const YNode& item = node.items[i];
    ctx.scope([&] {
      Fields f(ctx, item, fmt::format("extAuthz[{}]", i));
      ExtAuthzServerSpec s;
      s.pos = item.pos;
      s.name = f.requiredStr("name");
      if (ctx.ok() && !isName(s.name)) {
        ctx.fail(fmt::format("extAuthz name \"{}\" must match [a-z0-9-]+", s.name), item.pos);
      }
      if (ctx.ok() && !names.insert(s.name).second) {
        ctx.fail(fmt::format("duplicate extAuthz server \"{}\"", s.name), item.pos);
      }
      s.ns = f.str("namespace").value_or("default");
      s.service = f.str("service").value_or(s.name);
      if (auto protocol = detail::readEnum<ExtAuthzProtocol>(
              ctx, f.get("protocol"), "protocol",
              {{"http", ExtAuthzProtocol::kHttp}, {"grpc", ExtAuthzProtocol::kGrpc}})) {
        s.protocol = *protocol;
      }
      s.port = f.port("port").value_or(s.protocol == ExtAuthzProtocol::kHttp ? 8000 : 9000);
      s.image = f.str("image").value_or(std::string(kIstioSampleExtAuthzImage));
      s.down = f.boolean("down").value_or(false);
      s.rulesGiven = f.get("rules") != nullptr || f.get("default") != nullptr;
      ExtAuthzRules rules = readRules(ctx, f);
      if (s.rulesGiven) {
        s.policy = std::move(rules);
      } else {
        s.policy = sampleExtAuthzRules();
        s.policy.latency = rules.latency;
      }
      f.finish();
      const bool clash = std::any_of(out.begin(), out.end(), [&](const ExtAuthzServerSpec& o) {
        return o.host() == s.host() && o.port == s.port;
      });
      if (clash && ctx.ok()) {
        ctx.fail(fmt::format("two extAuthz servers at {}:{}", s.host(), s.port), item.pos);
      }
      out.push_back(std::move(s));
    });
  }
  return out;
}

}  // namespace detail

Result<ExtAuthzRules> parseExtAuthzRules(std::string_view yaml, const std::string& fileName) {
  auto docs = detail::parseYamlDocuments(yaml, fileName);
  if (!docs) return std::unexpected(docs.error());
  const YNode* doc = nullptr;
  for (const auto& d : *docs) {
    if (d.isNull()) continue;
    if (doc != nullptr) {
      return invalidInput("a rules file holds exactly one YAML document", d.pos);
    }
    doc = &d;
  }
  if (doc == nullptr) return invalidInput("empty rules file", SourcePos{fileName, 0, 0});
  Ctx ctx;
  Fields f(ctx, *doc, "rules file");
  ExtAuthzRules rules = readRules(ctx, f);
  f.finish();
  if (!ctx.clean()) return std::unexpected(ctx.error());
  return rules;
}

Result<ExtAuthzRules> loadExtAuthzRules(const std::filesystem::path& file) {
  auto text = readUserFile(file, "rules file", kMaxScenarioBytes);
  if (!text) return std::unexpected(text.error());
  return parseExtAuthzRules(*text, file.string());
}

}  // namespace egresslab::model
