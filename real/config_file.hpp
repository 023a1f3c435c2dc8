// --config FILE: a TOML file holding zygote-real's command-line options, one key per option
// (the long name: `workers = 8`, `status-bind = "127.0.0.1:9100"`, `huge-pages = true`), the app
// as `app = "myapp.wsgi:application"` and its arguments as `args = ["a", "b"]`. Options on the
// command line override the file. Read with toml++ (Debian's libtomlplusplus-dev).
#pragma once

#include <functional>
#include <string>
#include <variant>
#include <vector>

#include <cxxopts.hpp>

namespace zyg::real {

struct ConfigArguments {
  std::vector<std::string> options;     // "--workers=8", "--huge-pages", ...
  std::vector<std::string> positional;  // the app and its arguments, if the file names them
};

// The command-line arguments the file stands for, or why it is wrong:
// "FILE:LINE:COLUMN: ..." for a syntax error, an unknown key, a value of the wrong type or one the
// option refuses. `make_options` builds the server's options (each key is checked against a
// fresh set, so the error names the key's own line).
std::variant<ConfigArguments, std::string> config_arguments(
    const std::string& path, const std::function<cxxopts::Options()>& make_options);
// The same for a file's text; `path` names it in the messages.
std::variant<ConfigArguments, std::string> config_arguments_text(
    const std::string& text, const std::string& path,
    const std::function<cxxopts::Options()>& make_options);

}  // namespace zyg::real
