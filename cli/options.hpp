// The command-line handling the programs share (zygote-real, its ctl, zygote-check, zygote-sim,
// zygote-conform): parse with cxxopts, answer --help, and report a usage error the same way
// everywhere, with exit status 2.
#pragma once

#include <optional>
#include <string>

#include <cxxopts.hpp>

namespace zyg::cli {

inline constexpr int kUsageError = 2;

// Parses argv. On --help, prints the help (then `help_footer`) to stdout and sets `exit_status`
// to 0; on a bad command line, prints why to stderr and sets it to kUsageError. Returns the
// parsed options only when the program should go on.
std::optional<cxxopts::ParseResult> parse(cxxopts::Options& options, int argc, char** argv,
                                          int& exit_status, const std::string& help_footer = "");

// "PROGRAM: what" and "try: PROGRAM --help" on stderr; returns kUsageError.
int usage_error(const std::string& program, const std::string& what);

}  // namespace zyg::cli
