// zygote-load: a bounded HTTP/1.1 load client for tests and benchmarks (loopback only).
// Prints a one-line summary; --json FILE writes the full summary. Exit: 0 no failed request (or
// --allow-failures), 1 some failed, 2 bad usage.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "real/load/load.hpp"

int main(int argc, char** argv) {
  using namespace zyg::load;
  auto parsed = parse_command_line(argc, argv);
  if (const auto* exit = std::get_if<Exit>(&parsed)) {
    (exit->status == 0 ? std::cout : std::cerr)
        << (exit->status == 0 ? "" : "zygote-load: ") << exit->message << "\n";
    return exit->status;
  }
  const Options& options = std::get<Options>(parsed);
  raise_fd_limit();
  if (std::string error = fd_limit_error(options); !error.empty()) {
    std::cerr << "zygote-load: " << error << "\n";
    return 2;
  }
  const Summary summary = run_load(options);
  std::cout << summary_line(summary) << std::endl;
  if (!options.json_file.empty()) {
    std::ofstream out(options.json_file);
    out << to_json(summary, options).dump(2) << "\n";
    if (!out) {
      std::cerr << "zygote-load: cannot write " << options.json_file << "\n";
      return 1;
    }
  }
  return exit_status(summary, options);
}
