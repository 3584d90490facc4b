// Fresh x-request-id values (random UUIDv4), one per request attempt, so every attempt's
// access-log lines can be told apart from the previous attempt's.
#pragma once

#include <string>

namespace egresslab::runner {

// "3f2b8c1e-5d4a-4e6f-9a7b-0c1d2e3f4a5b". Thread-safe.
std::string newRequestId();

}  // namespace egresslab::runner
