// One seed, one run: the same seed gives the same trace hash in the same process after another
// seed; different seeds give different hashes; a scenario printed and parsed back runs the same.
// (Separate processes, with different address layouts and MALLOC_PERTURB_, are compared by the
// sim.determinism.processes test.)
#include <gtest/gtest.h>

#include <set>

#include "sim/scenario.hpp"
#include "sim/world.hpp"

namespace zyg::sim {
namespace {

std::uint64_t hash_of(std::uint64_t seed) { return run_scenario(generate(seed)).trace_hash; }

TEST(Determinism, SameSeedSameHashAfterAnotherSeed) {
  const std::uint64_t first = hash_of(11);
  hash_of(12);
  hash_of(99);
  EXPECT_EQ(hash_of(11), first);
}

TEST(Determinism, DifferentSeedsDifferentHashes) {
  std::set<std::uint64_t> hashes;
  for (std::uint64_t seed = 20; seed < 30; ++seed) hashes.insert(hash_of(seed));
  EXPECT_EQ(hashes.size(), 10u);
}

TEST(Determinism, PrintedScenarioRunsTheSame) {
  const Scenario s = generate(31);
  std::string error;
  auto back = parse(to_text(s), error);
  ASSERT_TRUE(back.has_value()) << error;
  EXPECT_EQ(to_text(*back), to_text(s));
  EXPECT_EQ(run_scenario(*back).trace_hash, run_scenario(s).trace_hash);
}

TEST(ScenarioFormat, ErrorsNameTheLine) {
  std::string error;
  EXPECT_FALSE(
      parse("budget 4\nversion releases/A\nstart releases/A\nat 5s deploy releases/Z\n", error));
  EXPECT_NE(error.find("undeclared version releases/Z"), std::string::npos) << error;
  EXPECT_FALSE(parse("budget 4\nbogus 1\n", error));
  EXPECT_EQ(error, "line 2: unknown directive bogus");
  EXPECT_FALSE(parse("budget many\n", error));
  EXPECT_EQ(error, "line 1: malformed budget line");
  EXPECT_FALSE(parse("version releases/A crash 150%\n", error));
  EXPECT_NE(error.find("line 1"), std::string::npos);
}

TEST(ScenarioFormat, DurationsAndPercentages) {
  EXPECT_EQ(parse_duration("1500ms"), Nanos{1500ms});
  EXPECT_EQ(parse_duration("2s"), Nanos{2s});
  EXPECT_EQ(parse_duration("7us"), Nanos{7us});
  EXPECT_FALSE(parse_duration("2 s").has_value());
  EXPECT_FALSE(parse_duration("-1s").has_value());
  EXPECT_FALSE(parse_duration("12777777777816s").has_value()) << "beyond int64 nanoseconds";
  EXPECT_EQ(parse_duration("9223372036s"), Nanos{9223372036s});
  std::string error;
  EXPECT_FALSE(parse("version releases/A crash 1055555555555555550%\nstart releases/A\n", error))
      << "a percentage far past 100, refused before it overflows";
  EXPECT_EQ(format_duration(Nanos{2500ms}), "2500ms");
  auto s = parse("version releases/A crash 0.05% hang 12ppm\nstart releases/A\n", error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(s->versions[0].crash_ppm, 500u);
  EXPECT_EQ(s->versions[0].hang_ppm, 12u);
}

}  // namespace
}  // namespace zyg::sim
