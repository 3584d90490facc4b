// Loading user files: multi-document Istio/Kubernetes manifests and scenario files.
//
// Every failure is an Error with kind kInvalidInput and a 1-based `FILE:LINE:COL` position:
// YAML syntax, unknown fields (with a "did you mean"), wrong types, missing required fields
// (per Istio's validation), invalid enum values, unresolved `<placeholders>`. Never throws.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/error.h"
#include "harness/model/resources.h"
#include "harness/model/scenario.h"
#include "harness/model/version.h"

namespace egresslab::model {

using Vars = std::map<std::string, std::string>;

struct LoadOptions {
  Vars vars;
  // When true (scenario manifests) every `<placeholder>` must be resolved by `vars`; when false
  // (plain `analyze` of raw files) unresolved placeholders are kept as written.
  bool requireAllPlaceholders = true;
  // Strict (false, what `run` uses): any schema error fails the load, with every error of the
  // load in one report (up to a cap). Lenient (true, for `analyze`): a document or List item
  // that parses as YAML but breaks the schema is left out and its error recorded in
  // ResourceSet::invalid; loading continues. YAML that does not parse, and a file that cannot be
  // read, are errors in both modes.
  bool lenient = false;
};

// Replaces every `<key>` whose key is in `vars`. Unresolved placeholders are an error at their
// position when `requireAll` is set. `where` is the position of text[0].
Result<std::string> substitutePlaceholders(std::string_view text, const Vars& vars, bool requireAll,
                                           SourcePos where);

// substitutePlaceholders over raw YAML text (a manifest applied as written, e.g. by kind), but
// comments are not content: `<word>` after a YAML comment `#` is left exactly as written and
// never an unresolved-placeholder error. Quoted scalars and block scalars (`|`, `>`) keep
// their `#` as text and are substituted.
Result<std::string> substituteYamlText(std::string_view text, const Vars& vars, bool requireAll,
                                       SourcePos where);

// Parses YAML text (possibly many documents) into typed resources. `file` names the source in
// positions.
Result<ResourceSet> parseManifests(std::string_view yaml, const std::string& file,
                                   const LoadOptions& options = {});

// Loads files and directories (*.yaml, *.yml, sorted by name, not recursive) in order. Every
// file must be a regular file of at most kMaxManifestBytes.
Result<ResourceSet> loadManifests(const std::vector<std::filesystem::path>& paths,
                                  const LoadOptions& options = {});

// Loads and validates a scenario file and the manifests it names.
Result<Scenario> loadScenario(const std::filesystem::path& file);

// The same from text: `file` names the source in positions, and manifests, secrets' cert/key
// files and cluster.config are resolved relative to its directory (a missing file is an error
// at its entry). loadScenario reads the file and calls this.
Result<Scenario> parseScenario(std::string_view yaml, const std::filesystem::path& file);

// What istiod and the API server of `version` reject in AuthorizationPolicy and
// RequestAuthentication (security.istio.io/v1 before 1.22, fields the CRD does not have yet,
// targetRef kinds its validation refuses) — the rule a scenario load applies once its version is
// known — for a lenient load (`analyze` of raw manifests): each such policy is moved out of
// `resources` and its error recorded in ResourceSet::invalid, as if it had broken the schema.
void setAsideSecurityPoliciesRejectedBy(ResourceSet& resources, const IstioVersion& version);

// True when the file looks like a scenario (has top-level `steps:` or `manifests:`), so
// `analyze` can accept either kind of file.
bool looksLikeScenario(const std::filesystem::path& file);

}  // namespace egresslab::model
