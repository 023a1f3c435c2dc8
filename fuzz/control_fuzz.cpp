// libFuzzer target: the control protocol's server side (core/control.cpp): any line a client on
// the control socket may send is parsed into a request or refused with a reason, never a crash;
// the reason is sent back as a reply line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "core/control.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto r = zyg::control::parse(line);
  if (auto* why = std::get_if<std::string>(&r)) {
    const std::string reply = zyg::control::error_reply(*why);
    if (reply.empty() || reply.back() != '\n') __builtin_trap();
  }
  return 0;
}
