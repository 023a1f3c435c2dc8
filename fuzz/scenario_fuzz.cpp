// libFuzzer target: the simulator's scenario file parser (sim/scenario_text.cpp). Whatever it
// accepts must print back (to_text) as a file it accepts again, and print the same then.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sim/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto s = zyg::sim::parse(text, error);
  if (!s) return 0;
  const std::string once = zyg::sim::to_text(*s);
  auto again = zyg::sim::parse(once, error);
  if (!again || zyg::sim::to_text(*again) != once) __builtin_trap();
  return 0;
}
