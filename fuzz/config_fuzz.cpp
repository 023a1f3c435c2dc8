// libFuzzer target: the configuration file parser (real/config_file.cpp, TOML through toml++),
// checked against a set of options of every kind the server has (integers, strings, flags, a
// repeatable option, the app and its arguments). Whatever it accepts must parse as a command line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <cxxopts.hpp>

#include "real/config_file.hpp"

namespace {

cxxopts::Options options() {
  cxxopts::Options o("zygote-real");
  o.add_options()("w,workers", "", cxxopts::value<int>()->default_value("4"))(
      "bind", "", cxxopts::value<std::string>())("huge-pages", "")("max-body-bytes", "",
                                                                   cxxopts::value<std::size_t>())(
      "env", "", cxxopts::value<std::vector<std::string>>())(
      "app", "", cxxopts::value<std::string>())("args", "",
                                                cxxopts::value<std::vector<std::string>>())(
      "config", "", cxxopts::value<std::string>())("help", "");
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto r = zyg::real::config_arguments_text(text, "fuzz.toml", options);
  auto* args = std::get_if<zyg::real::ConfigArguments>(&r);
  if (args == nullptr) return 0;
  std::vector<std::string> argv{"zygote-real"};
  argv.insert(argv.end(), args->options.begin(), args->options.end());
  std::vector<char*> ptrs;
  for (std::string& a : argv) ptrs.push_back(a.data());
  try {
    cxxopts::Options o = options();
    (void)o.parse(static_cast<int>(ptrs.size()), ptrs.data());
  } catch (const std::exception&) {
    __builtin_trap();  // the file was accepted, so its options must be too
  }
  return 0;
}
