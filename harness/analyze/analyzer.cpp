#include "harness/analyze/analyzer.h"

#include "harness/analyze/checks.h"
#include "harness/analyze/registry.h"
#include "harness/model/gateway_workloads.h"

#include <algorithm>

namespace egresslab::analyze {
namespace detail {

Message* Reporter::ist(const std::string& code, const model::ResourceBase& r,
                       const std::string& path, std::string text) {
  const std::optional<Level> level = levelIn(code, version_);
  if (!level) return nullptr;  // this version's istioctl does not have the code (§8 appendix)
  Message m;
  m.code = code;
  m.level = *level;
  m.text = std::move(text);
  m.origin = originOf(r);
  m.reference = path.empty() ? r.origin.pos : r.origin.at(path);
  out_.push_back(std::move(m));
  return &out_.back();
}

Message* Reporter::egl(const std::string& code, Level level, const std::string& origin,
                       const SourcePos& where, std::string text, std::string section,
                       std::string fix) {
  Message m;
  m.code = code;
  m.level = level;
  m.text = std::move(text);
  m.origin = origin;
  m.reference = where;
  m.section = std::move(section);
  m.fix = std::move(fix);
  out_.push_back(std::move(m));
  return &out_.back();
}

}  // namespace detail

bool addsDefaultIngress(const AnalysisInput& input) {
  if (!input.defaultIngress || input.resources == nullptr) return false;
  const model::ResourceSet& rs = *input.resources;
  auto isIngress = [](const model::ResourceBase& r) {
    return r.meta.name == "istio-ingressgateway" && r.meta.ns == "istio-system";
  };
  for (const model::GatewayWorkload& gw : model::deriveGatewayWorkloads(rs, input.version)) {
    if (gw.name == "istio-ingressgateway" && gw.ns == "istio-system") return false;
  }
  return std::none_of(rs.services.begin(), rs.services.end(), isIngress) &&
         std::none_of(rs.deployments.begin(), rs.deployments.end(), isIngress);
}

std::vector<Message> analyzeResources(const AnalysisInput& input) {
  std::vector<Message> messages;
  if (input.resources == nullptr) return messages;
  const detail::Cluster cluster(input);
  detail::Reporter report(input.version, messages);
  detail::runIstioctlChecks(cluster, input, report);
  detail::runEgressLabChecks(cluster, input, report);
  detail::runFailoverChecks(cluster, input, report);
  detail::runResilienceChecks(cluster, input, report);
  detail::runSecurityChecks(cluster, input, report);
  detail::runExtAuthzChecks(cluster, input, report);
  detail::runJwtChecks(cluster, input, report);
  sortAndDedupe(messages);
  return messages;
}

}  // namespace egresslab::analyze
