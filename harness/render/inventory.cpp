#include "harness/render/inventory.h"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

namespace egresslab::render {

namespace {

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Reads one YAML document strictly; the first error wins.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  SourcePos pos(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    return SourcePos{file_, m.line + 1, m.column + 1};
  }
  SourcePos filePos() const { return SourcePos{file_, 0, 0}; }

  void fail(std::string message, SourcePos where) {
    if (!error_) error_ = Error{ErrorKind::kInvalidInput, std::move(message), std::move(where)};
  }
  [[nodiscard]] bool ok() const { return !error_; }
  [[nodiscard]] const Error& error() const { return *error_; }

  // Rejects keys of `map` outside `known`, suggesting the closest.
  bool checkFields(const YAML::Node& map, const std::string& what,
                   const std::vector<std::string>& known) {
    if (!map.IsMap()) {
      fail(fmt::format("{} must be a map", what), pos(map));
      return false;
    }
    for (const auto& kv : map) {
      const std::string key = kv.first.as<std::string>();
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      // A typo or a truncation ("proxiedHost") is close enough to suggest.
      std::string best;
      std::size_t bestDistance = std::max<std::size_t>(3, key.size() / 2 + 1);
      for (const std::string& k : known) {
        const std::size_t d = editDistance(key, k);
        if (d < bestDistance) {
          bestDistance = d;
          best = k;
        }
      }
      fail(best.empty()
               ? fmt::format("unknown field \"{}\" in {}; valid fields: {}", key, what,
                             fmt::join(known, ", "))
               : fmt::format("unknown field \"{}\" in {}; did you mean \"{}\"?", key, what, best),
           pos(kv.first));
      return false;
    }
    return true;
  }

  std::optional<std::string> scalar(const YAML::Node& map, const std::string& key,
                                    const std::string& what, bool required) {
    const YAML::Node n = map[key];
    if (!n || n.IsNull()) {
      if (required) fail(fmt::format("{}: missing required field \"{}\"", what, key), pos(map));
      return std::nullopt;
    }
    if (!n.IsScalar()) {
      fail(fmt::format("{}.{} must be a string", what, key), pos(n));
      return std::nullopt;
    }
    return n.as<std::string>();
  }

  std::optional<bool> boolean(const YAML::Node& map, const std::string& key,
                              const std::string& what) {
    const auto text = scalar(map, key, what, false);
    if (!text) return std::nullopt;
    if (*text == "true") return true;
    if (*text == "false") return false;
    fail(fmt::format("{}.{} must be true or false, got \"{}\"", what, key, *text), pos(map[key]));
    return std::nullopt;
  }

  std::vector<std::string> stringList(const YAML::Node& map, const std::string& key,
                                      const std::string& what) {
    std::vector<std::string> out;
    const YAML::Node n = map[key];
    if (!n || n.IsNull()) return out;
    if (!n.IsSequence()) {
      fail(fmt::format("{}.{} must be a list of strings", what, key), pos(n));
      return out;
    }
    for (const auto& item : n) {
      if (!item.IsScalar()) {
        fail(fmt::format("{}.{} must be a list of strings", what, key), pos(item));
        return out;
      }
      out.push_back(item.as<std::string>());
    }
    return out;
  }

 private:
  std::string file_;
  std::optional<Error> error_;
};

bool isDnsName(const std::string& s) {
  static const std::regex kDns(
      R"([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)");
  return std::regex_match(s, kDns);
}

bool isName(const std::string& s) {
  static const std::regex kName(R"([a-z0-9]([a-z0-9-]*[a-z0-9])?)");
  return s.size() <= 40 && std::regex_match(s, kName);
}

void readUpstream(Reader& r, const YAML::Node& n, std::size_t index, Upstream& u) {
  const std::string what = fmt::format("upstreams[{}]", index);
  u.pos = r.pos(n);
  if (!r.checkFields(n, what,
                     {"name", "host", "port", "protocol", "proxiedHostname", "namespace",
                      "readinessPath", "tls"})) {
    return;
  }
  u.name = r.scalar(n, "name", what, true).value_or("");
  if (r.ok() && !isName(u.name)) {
    r.fail(
        fmt::format("{}.name \"{}\" must match [a-z0-9-]+ (at most 40 characters)", what, u.name),
        r.pos(n["name"]));
  }
  u.host = r.scalar(n, "host", what, true).value_or("");
  if (r.ok() && !isDnsName(u.host)) {
    r.fail(fmt::format("{}.host \"{}\" is not a DNS name", what, u.host), r.pos(n["host"]));
  }
  if (const auto port = r.scalar(n, "port", what, false)) {
    std::uint32_t value = 0;
    const bool digits = !port->empty() && port->size() <= 5 &&
                        std::all_of(port->begin(), port->end(),
                                    [](unsigned char c) { return std::isdigit(c) != 0; });
    if (digits) value = static_cast<std::uint32_t>(std::stoul(*port));
    if (!digits || value == 0 || value > 65535) {
      r.fail(fmt::format("{}.port must be a number from 1 to 65535, got \"{}\"", what, *port),
             r.pos(n["port"]));
    }
    u.port = value;
  }
  if (const auto protocol = r.scalar(n, "protocol", what, false)) {
    std::string upper = *protocol;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (upper == "HTTPS") {
      u.protocol = UpstreamProtocol::kHttps;
    } else if (upper == "HTTP") {
      u.protocol = UpstreamProtocol::kHttp;
    } else {
      r.fail(fmt::format("{}.protocol must be HTTPS or HTTP, got \"{}\"", what, *protocol),
             r.pos(n["protocol"]));
    }
  }
  u.proxiedHostname = r.scalar(n, "proxiedHostname", what, true).value_or("");
  if (r.ok() && !isDnsName(u.proxiedHostname)) {
    r.fail(fmt::format("{}.proxiedHostname \"{}\" is not a DNS name", what, u.proxiedHostname),
           r.pos(n["proxiedHostname"]));
  }
  if (r.ok() && u.proxiedHostname == u.host) {
    r.fail(fmt::format("{}.proxiedHostname must differ from host (clients use the proxied name)",
                       what),
           r.pos(n["proxiedHostname"]));
  }
  u.ns = r.scalar(n, "namespace", what, true).value_or("");
  if (r.ok() && !isName(u.ns)) {
    r.fail(fmt::format("{}.namespace \"{}\" is not a Kubernetes namespace name", what, u.ns),
           r.pos(n["namespace"]));
  }
  if (const auto path = r.scalar(n, "readinessPath", what, false)) {
    if (path->empty() || path->front() != '/' ||
        path->find_first_of(" \t'\"`$\\;&|") != std::string::npos) {
      r.fail(fmt::format("{}.readinessPath must start with / and hold no spaces, quotes or shell "
                         "characters, got \"{}\"",
                         what, *path),
             r.pos(n["readinessPath"]));
    }
    u.readinessPath = *path;
  }
  u.tls.sni = u.host;
  if (const YAML::Node tls = n["tls"]; tls && !tls.IsNull()) {
    const std::string tlsWhat = what + ".tls";
    if (!r.checkFields(tls, tlsWhat,
                       {"sni", "caCertificates", "subjectAltNames", "insecureSkipVerify"})) {
      return;
    }
    if (u.protocol == UpstreamProtocol::kHttp) {
      r.fail(fmt::format("{} is only for protocol HTTPS", tlsWhat), r.pos(tls));
      return;
    }
    if (const auto sni = r.scalar(tls, "sni", tlsWhat, false)) {
      if (sni->empty()) {
        r.fail(fmt::format("{}.sni must not be empty: without it 1.21+ sends the proxied Host as "
                           "SNI (EGL001)",
                           tlsWhat),
               r.pos(tls["sni"]));
      }
      u.tls.sni = *sni;
    }
    u.tls.caCertificates = r.scalar(tls, "caCertificates", tlsWhat, false).value_or("");
    u.tls.subjectAltNames = r.stringList(tls, "subjectAltNames", tlsWhat);
    u.tls.insecureSkipVerify = r.boolean(tls, "insecureSkipVerify", tlsWhat).value_or(false);
  }
}

void readInventory(Reader& r, const YAML::Node& root, Inventory& inv) {
  if (!root || root.IsNull()) {
    r.fail("the inventory is empty", r.filePos());
    return;
  }
  if (!r.checkFields(root, "the inventory", {"istio", "ingress", "mesh", "upstreams"})) return;

  const YAML::Node istio = root["istio"];
  if (!istio) {
    r.fail("the inventory: missing required field \"istio\"", r.pos(root));
    return;
  }
  if (!r.checkFields(istio, "istio", {"version", "install"})) return;
  if (const auto v = r.scalar(istio, "version", "istio", true)) {
    auto parsed = model::IstioVersion::parse(*v, r.pos(istio["version"]));
    if (!parsed) {
      r.fail(parsed.error().message, parsed.error().where.value_or(r.pos(istio["version"])));
      return;
    }
    inv.version = *parsed;
  }
  if (const auto install = r.scalar(istio, "install", "istio", false)) {
    const SourcePos where = r.pos(istio["install"]);
    if (const auto method = model::parseInstallMethod(*install)) {
      inv.install = *method;
      if (auto problem = model::installMethodProblem(*method, inv.version); !problem.empty()) {
        r.fail(problem, where);
      }
    } else {
      r.fail(fmt::format("istio.install must be istioctl, operator or helm, got \"{}\"", *install),
             where);
    }
  }
  if (!r.ok()) return;

  if (const YAML::Node ingress = root["ingress"]; ingress && !ingress.IsNull()) {
    if (!r.checkFields(ingress, "ingress", {"gatewayName", "selector", "credentialName"})) return;
    if (const auto name = r.scalar(ingress, "gatewayName", "ingress", false)) {
      if (!isName(*name)) {
        r.fail(fmt::format("ingress.gatewayName \"{}\" must match [a-z0-9-]+", *name),
               r.pos(ingress["gatewayName"]));
      }
      inv.ingress.gatewayName = *name;
    }
    if (const auto cred = r.scalar(ingress, "credentialName", "ingress", false)) {
      if (!isName(*cred)) {
        r.fail(fmt::format("ingress.credentialName \"{}\" must match [a-z0-9-]+", *cred),
               r.pos(ingress["credentialName"]));
      }
      inv.ingress.credentialName = *cred;
    }
    if (const YAML::Node sel = ingress["selector"]; sel && !sel.IsNull()) {
      if (!sel.IsMap() || sel.size() == 0) {
        r.fail("ingress.selector must be a non-empty map of labels", r.pos(sel));
        return;
      }
      inv.ingress.selector.clear();
      for (const auto& kv : sel) {
        if (!kv.second.IsScalar()) {
          r.fail("ingress.selector values must be strings", r.pos(kv.second));
          return;
        }
        inv.ingress.selector[kv.first.as<std::string>()] = kv.second.as<std::string>();
      }
    }
  }
  if (const YAML::Node mesh = root["mesh"]; mesh && !mesh.IsNull()) {
    if (!r.checkFields(mesh, "mesh", {"outboundTrafficPolicy", "accessLogFile"})) return;
    if (const auto mode = r.scalar(mesh, "outboundTrafficPolicy", "mesh", false)) {
      if (*mode == "REGISTRY_ONLY") {
        inv.mesh.registryOnly = true;
      } else if (*mode == "ALLOW_ANY") {
        inv.mesh.registryOnly = false;
      } else {
        r.fail(fmt::format("mesh.outboundTrafficPolicy must be REGISTRY_ONLY or ALLOW_ANY, got "
                           "\"{}\"",
                           *mode),
               r.pos(mesh["outboundTrafficPolicy"]));
      }
    }
    inv.mesh.accessLogFile =
        r.scalar(mesh, "accessLogFile", "mesh", false).value_or(inv.mesh.accessLogFile);
  }
  const YAML::Node upstreams = root["upstreams"];
  if (!upstreams || upstreams.IsNull()) {
    r.fail("the inventory: missing required field \"upstreams\"", r.pos(root));
    return;
  }
  if (!upstreams.IsSequence() || upstreams.size() == 0) {
    r.fail("upstreams must be a non-empty list", r.pos(upstreams));
    return;
  }
  std::set<std::string> names;
  std::set<std::string> proxied;
  for (std::size_t i = 0; i < upstreams.size() && r.ok(); ++i) {
    Upstream u;
    readUpstream(r, upstreams[i], i, u);
    if (!r.ok()) return;
    if (!names.insert(u.name).second) {
      r.fail(fmt::format("upstreams[{}].name \"{}\" is used twice", i, u.name),
             r.pos(upstreams[i]["name"]));
      return;
    }
    if (!proxied.insert(u.proxiedHostname).second) {
      r.fail(
          fmt::format("upstreams[{}].proxiedHostname \"{}\" is used twice", i, u.proxiedHostname),
          r.pos(upstreams[i]["proxiedHostname"]));
      return;
    }
    inv.upstreams.push_back(std::move(u));
  }
}

}  // namespace

Result<Inventory> parseInventory(std::string_view yaml, const std::string& file) {
  Reader reader(file);
  Inventory inv;
  inv.file = file;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    readInventory(reader, root, inv);
  } catch (const YAML::Exception& e) {
    // yaml-cpp marks are 0-based.
    return invalidInput(e.msg, SourcePos{file, e.mark.line + 1, e.mark.column + 1});
  }
  if (!reader.ok()) return std::unexpected(reader.error());
  return inv;
}

Result<Inventory> loadInventory(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return invalidInput("cannot read the inventory", SourcePos{file.string(), 0, 0});
  std::ostringstream text;
  text << in.rdbuf();
  return parseInventory(text.str(), file.string());
}

}  // namespace egresslab::render
