// Runs a rapidcheck property a given number of times with a fixed seed (so CI is reproducible;
// the soak draws fresh seeds), and turns the result into a verdict and a message.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>

#include <rapidcheck.h>

#include "sim/world.hpp"

namespace zyg::props {

struct Verdict {
  bool failed = false;
  int cases = 0;  // cases that passed before the failure, or in all
  std::string message;
};

template <class Testable>
Verdict check(const std::string& name, int cases, std::uint64_t seed, Testable&& property,
              bool shrink = true) {
  rc::detail::TestParams params;
  params.seed = seed;
  params.maxSuccess = cases;
  params.maxSize = 100;
  params.disableShrinking = !shrink;
  const rc::detail::TestResult result = rc::detail::checkTestable(
      std::forward<Testable>(property), rc::detail::TestMetadata{name, name}, params);
  Verdict v;
  std::ostringstream out;
  rc::detail::FailureResult failure;
  rc::detail::SuccessResult success;
  if (result.match(failure)) {
    v.failed = true;
    v.cases = failure.numSuccess;
    rc::detail::printResultMessage(failure, out);
  } else if (result.match(success)) {
    v.cases = success.numSuccess;
  } else {
    v.failed = true;
    out << "rapidcheck could not run the property";
  }
  v.message = out.str();
  return v;
}

// A run's violations, one per line, for a property's failure message.
std::string violations(const sim::RunResult& r);

}  // namespace zyg::props
