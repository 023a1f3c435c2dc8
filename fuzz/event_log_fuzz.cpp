// libFuzzer target: the event log reader (core/event_log.cpp's Judge, what zygote-check runs),
// fed arbitrary lines: a line that does not parse, or a replay the log contradicts, is a
// violation reported, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/event_log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  zyg::event_log::Judge judge;
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    judge.line(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return 0;
}
