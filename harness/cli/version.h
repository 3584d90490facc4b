#pragma once
#include <string_view>

namespace egresslab::cli {
inline constexpr std::string_view kVersion = EGRESSLAB_VERSION;
}
