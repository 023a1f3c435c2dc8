#include "real/app/release_settings.hpp"

#include <sys/stat.h>

#include <toml++/toml.h>

namespace zyg::real {

namespace {

std::string at(const toml::source_region& s) {
  return std::string(kReleaseFile) + ":" + std::to_string(s.begin.line) + ":" +
         std::to_string(s.begin.column) + ": ";
}

// A non-negative integer, or why not.
std::variant<std::uint64_t, std::string> count(const std::string& key, const toml::node& v) {
  auto i = v.value_exact<std::int64_t>();
  if (!i || *i < 0) return at(v.source()) + key + " is a non-negative integer";
  return static_cast<std::uint64_t>(*i);
}

}  // namespace

std::variant<ReleaseSettings, std::string> read_release_settings(const std::string& release) {
  const std::string path = release + "/" + kReleaseFile;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ReleaseSettings{};  // none: the server's settings
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return at(e.source()) + std::string(e.description());
  }
  ReleaseSettings out;
  for (auto&& [key, value] : table) {
    const std::string name(key.str());
    if (name == "args") {
      const toml::array* a = value.as_array();
      std::vector<std::string> args;
      for (std::size_t i = 0; a != nullptr && i < a->size(); ++i) {
        auto s = (*a)[i].value_exact<std::string>();
        if (!s) break;
        args.push_back(*s);
      }
      if (a == nullptr || args.size() != a->size()) {
        return at(key.source()) + "args is an array of strings";
      }
      out.args = std::move(args);
      continue;
    }
    const bool known = name == "max-requests" || name == "max-requests-jitter" ||
                       name == "max-rss-mib" || name == "max-cpu-s";
    if (!known) {
      return at(key.source()) + "unknown key '" + name +
             "' (a release sets args, max-requests, max-requests-jitter, max-rss-mib, max-cpu-s)";
    }
    auto n = count(name, value);
    if (auto* why = std::get_if<std::string>(&n)) return *why;
    const std::uint64_t v = std::get<std::uint64_t>(n);
    if (name == "max-requests") out.limits.max_requests = v;
    if (name == "max-requests-jitter") out.limits.max_requests_jitter = v;
    if (name == "max-rss-mib") out.limits.rss_bytes_max = v * 1024 * 1024;
    if (name == "max-cpu-s")
      out.limits.cpu_max = std::chrono::seconds(static_cast<std::int64_t>(v));
  }
  return out;
}

}  // namespace zyg::real
