// The one place in core/ that reaches the C library: a failed assertion writes to stderr and
// aborts. No decision depends on it (scripts/check-core-purity.sh allows exactly this file).
#include "core/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace zyg::assert_detail {

void fail(const char* condition, const char* file, int line, const std::string& state) {
  std::fprintf(stderr, "%s:%d: assertion failed: %s%s%s\n", file, line, condition,
               state.empty() ? "" : ": ", state.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace zyg::assert_detail
