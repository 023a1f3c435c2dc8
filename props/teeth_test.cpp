// Teeth: each deliberate bug (core/teeth.hpp), switched on in this test build only, must make the
// swarm property fail. Each case reports how many scenarios it took to catch the bug.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/teeth.hpp"
#include "props/generators.hpp"
#include "props/runner.hpp"

namespace zyg::props {
namespace {

constexpr int kScenarios = 400;
constexpr std::uint64_t kSeeds[] = {4242, 4243, 4244, 4245, 4246};

Verdict swarm(const std::string& name, std::uint64_t seed, bool shrink) {
  return check(
      name, kScenarios, seed,
      [] {
        const sim::RunResult r = sim::run_scenario(*scenarios());
        if (!r.ok) RC_FAIL(violations(r));
      },
      shrink);
}

// The control: without a bug, the very same scenarios pass. A tooth that "catches" a bug the
// control also fails on proves nothing.
TEST(Teeth, ControlPassesWithoutABug) {
  teeth::active() = teeth::Bug::none;
  for (std::uint64_t seed : kSeeds) {
    const Verdict v = swarm("teeth-control", seed, true);
    EXPECT_FALSE(v.failed) << "seed " << seed << ": " << v.message;
    EXPECT_EQ(v.cases, kScenarios);
  }
}

class Teeth : public ::testing::TestWithParam<std::pair<teeth::Bug, std::string>> {};

TEST_P(Teeth, CaughtByTheProperties) {
  const auto& [bug, name] = GetParam();
  teeth::active() = bug;
  std::vector<int> caught_after;
  for (std::uint64_t seed : kSeeds) {
    const Verdict v = swarm("teeth-" + name, seed, /*shrink=*/false);
    EXPECT_TRUE(v.failed) << name << " survived " << kScenarios << " scenarios with seed " << seed;
    if (v.failed) caught_after.push_back(v.cases + 1);
    if (seed == kSeeds[0])
      std::cout << v.message.substr(0, 400) << "\n...\n"
                << v.message.substr(v.message.size() > 600 ? v.message.size() - 600 : 0) << "\n";
  }
  teeth::active() = teeth::Bug::none;
  std::sort(caught_after.begin(), caught_after.end());
  if (caught_after.empty()) return;
  std::cout << "[ teeth    ] " << name << ": caught by all " << caught_after.size()
            << " seeds; scenarios to catch: median " << caught_after[caught_after.size() / 2]
            << ", worst " << caught_after.back() << "\n";
  RecordProperty("scenarios_to_catch_worst", caught_after.back());
}

INSTANTIATE_TEST_SUITE_P(Bugs, Teeth, ::testing::ValuesIn(teeth::all()),
                         [](const auto& param_info) { return param_info.param.second; });

}  // namespace
}  // namespace zyg::props
