// The worker's state machine: the table the supervisor asserts against, the diagram the docs draw,
// and the assertion itself.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "core/assert.hpp"
#include "core/types.hpp"

namespace zyg {
namespace {

using Arrow = std::pair<std::string, std::string>;

// The arrows between named states in docs/ARCHITECTURE.md's "The life of a worker" diagram.
std::set<Arrow> documented_arrows() {
  std::ifstream in(std::string(ZYGOTE_SOURCE_DIR) + "/docs/ARCHITECTURE.md");
  std::string line;
  while (std::getline(in, line) && line != "## The life of a worker") {
  }
  std::set<Arrow> arrows;
  while (std::getline(in, line) && line.rfind("## ", 0) != 0) {
    std::istringstream words(line);
    std::string from, arrow, to;
    if (!(words >> from >> arrow >> to) || arrow != "-->") continue;
    if (!to.empty() && to.back() == ':') to.pop_back();
    if (from != "[*]" && to != "[*]") arrows.insert({from, to});
  }
  return arrows;
}

std::string name(WorkerState s) {
  std::string n = to_string(s);
  for (char& c : n) c = c == '-' ? '_' : c;
  return n;
}

TEST(WorkerStates, TheDocumentedDiagramIsTheTable) {
  std::set<Arrow> table;
  for (const WorkerTransition& t : kWorkerTransitions) table.insert({name(t.from), name(t.to)});
  EXPECT_EQ(documented_arrows(), table);
}

TEST(WorkerStates, KilledOrCrashedWorkersNeedNoExitedState) {
  // Reaping removes a worker from any state; exited_unreaped is only the "exiting" report's.
  EXPECT_FALSE(legal_transition(WorkerState::draining, WorkerState::ready));
  EXPECT_FALSE(legal_transition(WorkerState::exited_unreaped, WorkerState::draining));
  EXPECT_TRUE(legal_transition(WorkerState::busy, WorkerState::exited_unreaped));
}

TEST(ZygAssertDeathTest, PrintsTheConditionWhereAndTheStateThenAborts) {
  const int workers = 5;
  EXPECT_DEATH(ZYG_ASSERT(workers <= 4, workers, " workers in a budget of ", 4),
               "worker_state_test.cpp:[0-9]+: assertion failed: workers <= 4: 5 workers in a "
               "budget of 4");
  ZYG_ASSERT(workers == 5);  // holds: nothing happens
}

}  // namespace
}  // namespace zyg
