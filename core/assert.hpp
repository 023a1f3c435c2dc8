// Always-on assertions for programmer errors. Unlike assert(), they hold under NDEBUG, which every
// build that runs the simulator defines (RelWithDebInfo). A failure prints the condition, where it
// is, and what the caller said about the state, then aborts:
//
//   ZYG_ASSERT(now >= now_);
//   ZYG_ASSERT(legal(from, to), "worker ", id, ": ", to_string(from), " -> ", to_string(to));
//
// The state arguments are evaluated only when the condition is false, so an assertion costs one
// test. For conditions the environment imposes (a full disk, a peer gone), handle the error
// instead (docs/ARCHITECTURE.md, "Errors").
#pragma once

#include <sstream>
#include <string>

namespace zyg::assert_detail {

[[noreturn]] void fail(const char* condition, const char* file, int line, const std::string& state);

template <class... Parts>
std::string describe(const Parts&... parts) {
  std::ostringstream out;
  ((out << parts), ...);
  return out.str();
}

}  // namespace zyg::assert_detail

#define ZYG_ASSERT(condition, ...)                                          \
  ((condition) ? static_cast<void>(0)                                       \
               : ::zyg::assert_detail::fail(#condition, __FILE__, __LINE__, \
                                            ::zyg::assert_detail::describe(__VA_ARGS__)))
