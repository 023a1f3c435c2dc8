// Teeth: each deliberate bug (core/teeth.hpp), switched on in this test build only, must make the
// swarm property fail. Each case reports how many scenarios it took to catch the bug.
#include <gtest/gtest.h>

#include "core/teeth.hpp"
#include "props/generators.hpp"
#include "props/runner.hpp"

namespace zyg::props {
namespace {

constexpr int kScenarios = 400;
constexpr std::uint64_t kSeed = 4242;

Verdict swarm(const std::string& name, bool shrink) {
  return check(
      name, kScenarios, kSeed,
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
  const Verdict v = swarm("teeth-control", true);
  EXPECT_FALSE(v.failed) << v.message;
  EXPECT_EQ(v.cases, kScenarios);
}

class Teeth : public ::testing::TestWithParam<std::pair<teeth::Bug, std::string>> {};

TEST_P(Teeth, CaughtByTheProperties) {
  const auto& [bug, name] = GetParam();
  teeth::active() = bug;
  const Verdict v = swarm("teeth-" + name, /*shrink=*/false);
  teeth::active() = teeth::Bug::none;
  EXPECT_TRUE(v.failed) << name << " survived " << kScenarios << " generated scenarios";
  std::cout << "[ teeth    ] " << name << ": caught after " << v.cases + 1 << " scenario(s)\n"
            << v.message.substr(0, 600) << "\n";
  RecordProperty("scenarios_to_catch", v.cases + 1);
}

INSTANTIATE_TEST_SUITE_P(Bugs, Teeth, ::testing::ValuesIn(teeth::all()),
                         [](const auto& param_info) { return param_info.param.second; });

}  // namespace
}  // namespace zyg::props
