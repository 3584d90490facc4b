// The ext-authz mock's decision: the first rule of a scenario's rules that matches a check, else
// the default (model/ext_authz_server.h). Pure, shared by the HTTP and gRPC front ends.
#pragma once

#include <string>
#include <string_view>

#include "harness/model/ext_authz_server.h"

namespace egresslab::extauthz {

// What a check says about the request, whichever protocol carried it.
struct CheckInput {
  std::string method;
  std::string path;            // as the check carried it (HTTP: with the provider's pathPrefix)
  std::string principal;       // gRPC: attributes.source.principal; HTTP: the XFCC `URI=`, if sent
  model::HeaderPairs headers;  // lower-case names
};

// AuthorizationPolicy-style string match: exact, `prefix*`, `*suffix`, `*` (non-empty).
bool matchesPattern(std::string_view pattern, std::string_view value);

// The rule that decides `check` (`rules.otherwise` when none matches).
const model::ExtAuthzRule& decide(const model::ExtAuthzRules& rules, const CheckInput& check);

// The `URI=` element of an x-forwarded-client-cert value (the first one), or "".
std::string principalFromXfcc(std::string_view xfcc);

}  // namespace egresslab::extauthz
