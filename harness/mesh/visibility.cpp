#include "harness/mesh/visibility.h"

namespace egresslab::mesh {
namespace {

std::string nsOrDefault(std::string_view ns) { return ns.empty() ? "default" : std::string(ns); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

ExportScope exportScope(const std::vector<std::string>& exportTo, std::string_view ownerNs) {
  ExportScope scope;
  if (exportTo.empty()) return scope;
  scope.all = false;
  for (const std::string& e : exportTo) {
    if (e == "*") {
      scope.all = true;
      scope.namespaces.clear();
      return scope;
    }
    if (e == "~") continue;
    scope.namespaces.insert(e == "." ? nsOrDefault(ownerNs) : e);
  }
  return scope;
}

ExportScope serviceExportScope(const model::Service& service) {
  const auto it = service.meta.annotations.find(std::string(kExportToAnnotation));
  if (it == service.meta.annotations.end()) return {};
  std::vector<std::string> entries;
  std::string_view rest = it->second;
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    if (!item.empty()) entries.emplace_back(item);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (entries.empty()) return {};
  return exportScope(entries, service.meta.ns);
}

bool hostCovers(std::string_view pattern, std::string_view host) {
  if (pattern.empty() || pattern.front() != '*') return pattern == host;
  if (!host.empty() && host.front() == '*') host.remove_prefix(1);  // "*.b.d" → ".b.d"
  return host.ends_with(pattern.substr(1));
}

}  // namespace egresslab::mesh
