#include "real/config_file.hpp"

#include <exception>
#include <map>
#include <optional>
#include <utility>

#include <toml++/toml.h>

namespace zyg::real {

namespace {

std::string where(const std::string& path, const toml::source_region& s) {
  return path + ":" + std::to_string(s.begin.line) + ":" + std::to_string(s.begin.column) + ": ";
}

struct Known {
  bool is_boolean = false;
  bool is_container = false;
};

// The long options of `options`, by name, except those that make no sense in a file.
std::map<std::string, Known> known_options(const cxxopts::Options& options) {
  std::map<std::string, Known> out;
  for (const cxxopts::HelpOptionDetails& o : options.group_help("").options) {
    for (const std::string& name : o.l) {
      if (name != "help" && name != "config") out[name] = {o.is_boolean, o.is_container};
    }
  }
  return out;
}

// One value as the command line would spell it; nullopt with `error` set if its type is wrong.
std::optional<std::string> spelled(const toml::node& v, std::string& error) {
  if (auto s = v.value_exact<std::string>()) return *s;
  if (auto i = v.value_exact<std::int64_t>()) return std::to_string(*i);
  error =
      std::string("expected a string or an integer, got ") + (v.is_boolean()          ? "a boolean"
                                                              : v.is_floating_point() ? "a float"
                                                              : v.is_array()          ? "an array"
                                                              : v.is_table()          ? "a table"
                                                                             : "a date or time");
  return std::nullopt;
}

// The arguments one key stands for, or why it is wrong (without the place).
std::variant<std::vector<std::string>, std::string> arguments_of(const std::string& key,
                                                                 const toml::node& v,
                                                                 const Known& k) {
  std::vector<std::string> out;
  std::string error;
  if (k.is_boolean) {
    auto b = v.value_exact<bool>();
    if (!b) return key + " is true or false";
    if (*b) out.push_back("--" + key);
    return out;
  }
  if (key == "args") {  // the app's arguments: positional, after the app
    const toml::array* a = v.as_array();
    if (a == nullptr) return std::string("args is an array of strings");
    for (const toml::node& e : *a) {
      auto s = e.value_exact<std::string>();
      if (!s) return std::string("args is an array of strings");
      out.push_back(*s);
    }
    return out;
  }
  auto s = spelled(v, error);
  if (!s) return key + ": " + error;
  out.push_back("--" + key + "=" + *s);
  return out;
}

}  // namespace

namespace {

std::variant<ConfigArguments, std::string> from_table(
    const toml::table& table, const std::string& path,
    const std::function<cxxopts::Options()>& make_options);

std::string parse_failure(const std::string& path, const toml::parse_error& e) {
  if (e.source().begin.line == 0) return path + ": " + std::string(e.description());
  return where(path, e.source()) + std::string(e.description());
}

}  // namespace

std::variant<ConfigArguments, std::string> config_arguments(
    const std::string& path, const std::function<cxxopts::Options()>& make_options) {
  try {
    return from_table(toml::parse_file(path), path, make_options);
  } catch (const toml::parse_error& e) {
    return parse_failure(path, e);
  }
}

std::variant<ConfigArguments, std::string> config_arguments_text(
    const std::string& text, const std::string& path,
    const std::function<cxxopts::Options()>& make_options) {
  try {
    return from_table(toml::parse(text, path), path, make_options);
  } catch (const toml::parse_error& e) {
    return parse_failure(path, e);
  }
}

namespace {

std::variant<ConfigArguments, std::string> from_table(
    const toml::table& table, const std::string& path,
    const std::function<cxxopts::Options()>& make_options) {
  const std::map<std::string, Known> known = known_options(make_options());
  std::vector<std::string> options;
  std::vector<std::string> positional;
  for (auto&& [key, value] : table) {
    const std::string name(key.str());
    const std::string at = where(path, key.source());
    auto it = known.find(name);
    if (it == known.end()) {
      return at + (value.is_table() ? "a table, [" + name + "]: options are top-level keys"
                                    : "unknown key '" + name + "' (keys are the long options)");
    }
    auto args = arguments_of(name, value, it->second);
    if (auto* why = std::get_if<std::string>(&args)) return at + *why;
    auto& got = std::get<std::vector<std::string>>(args);
    if (name == "app" || name == "args") {
      // The app first, then its arguments, as on the command line.
      if (name == "app") {
        for (std::string& a : got) a = a.substr(a.find('=') + 1);
        positional.insert(positional.begin(), got.begin(), got.end());
      } else {
        positional.insert(positional.end(), got.begin(), got.end());
      }
      continue;
    }
    // The option's own check (a number that does not parse, say), at the key's line.
    std::vector<std::string> argv{"zygote-real"};
    argv.insert(argv.end(), got.begin(), got.end());
    std::vector<char*> ptrs;
    for (std::string& a : argv) ptrs.push_back(a.data());
    try {
      cxxopts::Options check = make_options();
      static_cast<void>(check.parse(static_cast<int>(ptrs.size()), ptrs.data()));
    } catch (const std::exception& e) {
      return at + name + ": " + e.what();
    }
    options.insert(options.end(), got.begin(), got.end());
  }
  if (table.contains("args") && !table.contains("app")) {
    return path + ": args needs app (the app they go to)";
  }
  return ConfigArguments{std::move(options), std::move(positional)};
}

}  // namespace

}  // namespace zyg::real
