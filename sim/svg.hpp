// Draws a run: workers per version and state over time, the budget, requests in flight, and the
// deploys and faults as marks.
#pragma once

#include <string>

#include "sim/scenario.hpp"
#include "sim/world.hpp"

namespace zyg::sim {

std::string render_svg(const Scenario& s, const RunResult& r);

}  // namespace zyg::sim
