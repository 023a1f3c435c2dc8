// Each invariant of the checker, shown to fire on a violation and to stay quiet otherwise.
#include <gtest/gtest.h>

#include "core/check.hpp"

namespace zyg::check {
namespace {

bool mentions(const Checker& c, const std::string& text) {
  for (const Violation& v : c.violations()) {
    if (v.what.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(Checker, BudgetCountsZombiesUntilReaped) {
  Checker c(2);
  c.process_started(Nanos{1}, 1, 10, Role::worker, "A", 1, 1);
  c.process_started(Nanos{2}, 2, 11, Role::worker, "A", 2, 1);
  c.process_exited(Nanos{3}, 1);  // a zombie still counts
  EXPECT_TRUE(c.ok());
  c.process_started(Nanos{4}, 3, 12, Role::worker, "B", 3, 1);
  EXPECT_TRUE(mentions(c, "budget: 3 worker processes exist, budget 2"));
  Checker fine(2);
  fine.process_started(Nanos{1}, 1, 10, Role::worker, "A", 1, 1);
  fine.process_reaped(Nanos{2}, 1);
  fine.process_started(Nanos{3}, 2, 11, Role::worker, "A", 2, 1);
  fine.process_started(Nanos{4}, 3, 12, Role::worker, "A", 3, 1);
  EXPECT_TRUE(fine.ok());
  EXPECT_EQ(fine.counts().peak_workers, 2);
}

TEST(Checker, SignalsOnlyToOwnChildren) {
  Checker c(4);
  c.signal_sent(Nanos{1}, 5, 40, true, "SIGTERM");
  c.signal_sent(Nanos{2}, 0, 41, false, "SIGKILL");  // from outside: an operator or a fault
  EXPECT_TRUE(c.ok());
  c.signal_sent(Nanos{3}, 5, 42, false, "SIGTERM");
  EXPECT_TRUE(mentions(c, "not the sender's unreaped child"));
}

TEST(Checker, NoHandoffAfterDrainBegan) {
  Checker c(4);
  c.process_started(Nanos{1}, 1, 10, Role::worker, "A", 1, 1);
  c.connection_received(Nanos{2}, 1);
  EXPECT_TRUE(c.ok());
  c.drain_began(Nanos{3}, 1);
  c.connection_received(Nanos{4}, 1);
  EXPECT_TRUE(mentions(c, "took a connection after it began draining"));
}

TEST(Checker, OnlyTheFrontAccepts) {
  Checker c(4);
  c.process_started(Nanos{1}, 1, 10, Role::front, "", 1, 1);
  c.process_started(Nanos{1}, 2, 11, Role::worker, "A", 1, 1);
  c.accepted(Nanos{2}, 1);
  c.connection_received(Nanos{2}, 1);  // a connection given back
  EXPECT_TRUE(c.ok());
  c.accepted(Nanos{3}, 2);
  EXPECT_TRUE(mentions(c, "a worker (pid 11) accepted a connection; only the front does"));
}

TEST(Checker, RequestOutcomes) {
  Checker c(4);
  for (Outcome o : {Outcome::ok, Outcome::lost_to_fault, Outcome::abandoned, Outcome::retried}) {
    c.request_finished(Nanos{1}, o, "fine");
  }
  EXPECT_TRUE(c.ok());
  c.request_finished(Nanos{2}, Outcome::dropped, "read and never answered");
  c.request_finished(Nanos{3}, Outcome::server_error, "status 502");
  c.request_finished(Nanos{4}, Outcome::refused, "nobody listening");
  EXPECT_EQ(c.violations().size(), 3u);
  EXPECT_EQ(c.counts().requests, 7u);
}

TEST(Checker, MasterViewMustHoldEveryProcess) {
  Checker c(4);
  c.process_started(Nanos{1}, 1, 10, Role::zygote, "A", 1, 1);
  c.process_started(Nanos{2}, 2, 11, Role::worker, "A", 7, 1);
  StatusSnapshot view;
  view.budget = 4;
  ProcessInfo z{Role::zygote, 1, 10, "A", "loaded", 0, false, false, ""};
  view.processes.push_back(z);
  c.master_view(Nanos{3}, 1, view);
  EXPECT_TRUE(mentions(c, "worker pid 11 (id 7) exists but the master has no record of it"));
  Checker wrong_pid(4);
  wrong_pid.process_started(Nanos{1}, 2, 11, Role::worker, "A", 7, 1);
  StatusSnapshot v2;
  v2.budget = 4;
  v2.processes.push_back(ProcessInfo{Role::worker, 7, 99, "A", "ready", 1, false, false, ""});
  v2.workers.ready = 1;
  wrong_pid.master_view(Nanos{2}, 1, v2);
  EXPECT_TRUE(mentions(wrong_pid, "as pid 99, the kernel as pid 11"));
  Checker other_generation(4);
  other_generation.process_started(Nanos{1}, 2, 11, Role::worker, "A", 7, 1);
  other_generation.master_view(Nanos{2}, 2, StatusSnapshot{});
  EXPECT_TRUE(other_generation.ok()) << "a crashed master's leftovers are not the new one's";
}

TEST(Checker, ZygoteBoundAndAccountedBudget) {
  Checker c(2);
  StatusSnapshot view;
  view.budget = 2;
  for (std::uint64_t i = 1; i <= 4; ++i) {
    view.processes.push_back(
        ProcessInfo{Role::zygote, i, std::nullopt, "v", "loaded", 0, false, false, ""});
  }
  view.workers.ready = 3;
  c.master_view(Nanos{1}, 1, view);
  EXPECT_TRUE(mentions(c, "the master wants 4 zygotes, bound 3"));
  EXPECT_TRUE(mentions(c, "the master accounts 3 workers, budget 2"));
}

TEST(Checker, NothingOfTheServingVersionStopsForADeployStillLoading) {
  auto view_with = [](std::uint64_t id, const std::string& loading, const std::string& version,
                      const std::string& stop) {
    StatusSnapshot v;
    v.budget = 4;
    v.serving = "A";
    v.loading = loading;
    v.processes.push_back(
        ProcessInfo{Role::worker, id, 10, version, "draining", 1, false, false, stop});
    v.workers.draining = 1;
    return v;
  };
  Checker c(4);
  c.master_view(Nanos{1}, 1, view_with(1, "", "A", "deploy"));       // B loaded: fine
  c.master_view(Nanos{2}, 1, view_with(1, "B", "A", "deploy"));      // still draining: fine
  c.master_view(Nanos{3}, 1, view_with(2, "C", "B", "deploy"));      // an older version: fine
  c.master_view(Nanos{4}, 1, view_with(3, "B", "A", "scale-down"));  // scaling meanwhile: fine
  EXPECT_TRUE(c.ok());
  c.master_view(Nanos{5}, 1, view_with(4, "B", "A", "deploy"));
  EXPECT_TRUE(mentions(c, "deploy-order"));
}

TEST(Checker, RepeatsOfOneKindAreCountedNotListed) {
  Checker c(4);
  for (int i = 0; i < 50; ++i) c.request_finished(Nanos{i}, Outcome::dropped, "x");
  EXPECT_EQ(c.violations().size(), 5u);
  EXPECT_EQ(c.counts().outcomes.at(Outcome::dropped), 50u);
}

}  // namespace
}  // namespace zyg::check
