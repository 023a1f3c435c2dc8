#include "cli/options.hpp"

#include <exception>
#include <iostream>

namespace zyg::cli {

std::optional<cxxopts::ParseResult> parse(cxxopts::Options& options, int argc, char** argv,
                                          int& exit_status, const std::string& help_footer) {
  cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const std::exception& e) {
    exit_status = usage_error(options.program(), e.what());
    return std::nullopt;
  }
  if (args.count("help")) {
    std::cout << options.help() << "\n" << help_footer;
    exit_status = 0;
    return std::nullopt;
  }
  return args;
}

int usage_error(const std::string& program, const std::string& what) {
  std::cerr << program << ": " << what << "\ntry: " << program << " --help\n";
  return kUsageError;
}

}  // namespace zyg::cli
