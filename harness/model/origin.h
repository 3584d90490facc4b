// Where a resource and its fields came from, so every message can point at the user's file.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "harness/core/error.h"

namespace egresslab::model {

// The position of a YAML document's object and of each field inside it, keyed by path
// ("spec.servers[0].tls.credentialName", "metadata.name"). Positions are 1-based.
struct Origin {
  SourcePos pos;                            // the object (its first line)
  std::map<std::string, SourcePos> fields;  // every scalar/map/sequence node by path

  // The field's position, or the closest recorded parent's, or the object's.
  [[nodiscard]] SourcePos at(std::string_view path) const;
};

}  // namespace egresslab::model
