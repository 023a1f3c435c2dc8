// A release's own settings: zygote.toml in its directory (optional), read by its zygote when the
// release loads. It sets what belongs to the app: its arguments (`args = ["--prod"]`, instead of
// the command line's ARGS) and its workers' limits (`max-requests`, `max-requests-jitter`,
// `max-rss-mib`, `max-cpu-s`, over the server's). A bad file fails that release, with the place.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/app.hpp"

namespace zyg::real {

struct ReleaseSettings {
  std::optional<std::vector<std::string>> args;
  ReleaseLimits limits;
};

inline constexpr const char* kReleaseFile = "zygote.toml";

// What `<release>/zygote.toml` sets (nothing when there is no such file), or why it is wrong:
// "zygote.toml:LINE:COLUMN: ...".
std::variant<ReleaseSettings, std::string> read_release_settings(const std::string& release);

}  // namespace zyg::real
