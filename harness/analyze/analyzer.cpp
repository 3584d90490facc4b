#include "harness/analyze/analyzer.h"

#include "harness/analyze/checks.h"
#include "harness/analyze/registry.h"

namespace egresslab::analyze {
namespace detail {

void Reporter::ist(const std::string& code, const model::ResourceBase& r, const std::string& path,
                   std::string text) {
  const std::optional<Level> level = levelIn(code, version_);
  if (!level) return;  // this version's istioctl does not have the code (§8 appendix)
  Message m;
  m.code = code;
  m.level = *level;
  m.text = std::move(text);
  m.origin = originOf(r);
  m.reference = path.empty() ? r.origin.pos : r.origin.at(path);
  out_.push_back(std::move(m));
}

void Reporter::egl(const std::string& code, Level level, const std::string& origin,
                   const SourcePos& where, std::string text, std::string section, std::string fix) {
  Message m;
  m.code = code;
  m.level = level;
  m.text = std::move(text);
  m.origin = origin;
  m.reference = where;
  m.section = std::move(section);
  m.fix = std::move(fix);
  out_.push_back(std::move(m));
}

}  // namespace detail

std::vector<Message> analyzeResources(const AnalysisInput& input) {
  std::vector<Message> messages;
  if (input.resources == nullptr) return messages;
  const detail::Cluster cluster(input);
  detail::Reporter report(input.version, messages);
  detail::runIstioctlChecks(cluster, input, report);
  detail::runEgressLabChecks(cluster, input, report);
  sortAndDedupe(messages);
  return messages;
}

}  // namespace egresslab::analyze
