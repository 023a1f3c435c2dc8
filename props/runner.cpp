#include "props/runner.hpp"

namespace zyg::props {

std::string violations(const sim::RunResult& r) {
  std::string out;
  for (const check::Violation& v : r.violations) out += "\n  " + v.what;
  return out.empty() ? "no violation" : out;
}

}  // namespace zyg::props
