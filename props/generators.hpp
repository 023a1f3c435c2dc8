// Scenario generators for the property suites. Scenarios are plain data, generated outside any
// fiber, shrunk by rapidcheck (fewer actions, fewer workers, milder knobs), and printed in the
// scenario file format when a property fails, so a failure replays without rapidcheck:
//   zygote-sim --scenario FILE
#pragma once

#include <ostream>

#include <rapidcheck.h>

#include "sim/scenario.hpp"

namespace zyg::sim {
// rapidcheck shows counterexamples with this.
void showValue(const Scenario& s, std::ostream& os);
}  // namespace zyg::sim

namespace zyg::props {

// Everything varies: budget, versions (some broken, some crash-looping), load, deploys, faults.
rc::Gen<sim::Scenario> scenarios();
// A release whose workers always crash is deployed once the serving one is proven, under load.
rc::Gen<sim::Scenario> crash_loop_deploys();
// Broken releases are deployed, sometimes in a row, sometimes across a master restart.
rc::Gen<sim::Scenario> broken_deploys();

}  // namespace zyg::props
