// Coverage marks: named points at every fault and policy branch. A test can ask whether the path
// it means to exercise was reached, and the property suites fail if a catalogued mark is never
// hit in their default run. Counting has no effect on any decision.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace zyg::marks {

// Every mark there is; hit() accepts only these names.
const std::vector<std::string>& catalogue();
// Marks the property suites' default run need not reach: paths whose faults the simulator does not
// inject yet (each is a gap to close, listed in core/marks.cpp). hit() accepts them too.
const std::vector<std::string>& not_yet_reached();
void hit(const char* name);
std::map<std::string, std::uint64_t> counts();  // every catalogued mark, hit or not
void reset();

}  // namespace zyg::marks

#define ZYG_MARK(name) ::zyg::marks::hit(name)
