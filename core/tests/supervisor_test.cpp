// Event-sequence tests of the supervisor's deploy policy. Each test scripts the processes' lives
// through the Harness, which checks the budget after every single step.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/tests/harness.hpp"

namespace zyg::testing {
namespace {

bool contains(const std::vector<WorkerId>& ws, WorkerId w) {
  return std::find(ws.begin(), ws.end(), w) != ws.end();
}

// The founding documents' example: 200 slots, 100 busy A workers, deploy B.
TEST(FoundingExample, IdleGoFirstBusyFollowNeverAboveBudget) {
  Harness h(config_with(200));
  serve(h, "A");
  auto a = h.workers_of("A");
  ASSERT_EQ(a.size(), 200u);
  std::vector<WorkerId> busy(a.begin(), a.begin() + 100), idle(a.begin() + 100, a.end());
  for (WorkerId w : busy) h.busy(w);

  ZygoteId b = h.deploy("B");
  ASSERT_NE(b.value, 0u);
  h.advance(5s);  // B loading: nothing of A is touched
  for (WorkerId w : a) EXPECT_FALSE(h.stop_sent(w));

  h.load(b);
  // Default policy: every A worker is asked to stop; idle ones exit at once, busy ones finish.
  for (WorkerId w : a) EXPECT_TRUE(h.stop_sent(w));
  EXPECT_TRUE(h.workers_of("B").empty()) << "no slot is free until an A worker has exited";

  for (WorkerId w : idle) h.exit_worker(w);
  EXPECT_EQ(h.workers_of("B").size(), 100u) << "each freed slot goes to B";
  h.spawn_all();
  for (WorkerId w : busy) {
    h.idle(w);
    h.exit_worker(w);
  }
  EXPECT_EQ(h.workers_of("B").size(), 200u);
  h.spawn_all();
  EXPECT_TRUE(h.workers_of("A").empty());
  EXPECT_EQ(h.peak_workers(), 200);
  EXPECT_EQ(h.supervisor().snapshot().workers.ready, 200);
  EXPECT_EQ(h.supervisor().kills(), 0u);
}

TEST(FoundingExample, LimitedChangeStopsIdleWorkersFirst) {
  SupervisorConfig c = config_with(200);
  c.max_changing = 100;
  Harness h(c);
  serve(h, "A");
  auto a = h.workers_of("A");
  std::vector<WorkerId> busy(a.begin(), a.begin() + 100), idle(a.begin() + 100, a.end());
  for (WorkerId w : busy) h.busy(w);
  h.load(h.deploy("B"));
  for (WorkerId w : idle) EXPECT_TRUE(h.stop_sent(w));
  for (WorkerId w : busy) EXPECT_FALSE(h.stop_sent(w)) << "busy workers wait their turn";
  for (WorkerId w : idle) h.exit_worker(w);
  h.spawn_all();
  // With B's first hundred ready, the busy A workers are asked to stop as slots allow.
  for (WorkerId w : busy) EXPECT_TRUE(h.stop_sent(w));
  for (WorkerId w : busy) h.exit_worker(w);
  h.spawn_all();
  EXPECT_EQ(h.workers_of("B").size(), 200u);
  EXPECT_LE(h.peak_workers(), 200);
}

TEST(RollingDeploy, OneAtATimeKeepsAllButOneServing) {
  SupervisorConfig c = config_with(4);
  c.max_changing = 1;
  Harness h(c);
  serve(h, "A");
  h.load(h.deploy("B"));
  for (int round = 0; round < 4; ++round) {
    auto a = h.workers_of("A");
    int stopping = 0;
    for (WorkerId w : a) stopping += h.stop_sent(w) ? 1 : 0;
    ASSERT_EQ(stopping, 1) << "round " << round;
    for (WorkerId w : a) {
      if (h.stop_sent(w)) h.exit_worker(w);
    }
    EXPECT_EQ(h.existing_workers(), 4);
    h.spawn_all();
  }
  EXPECT_EQ(h.workers_of("B").size(), 4u);
  EXPECT_TRUE(h.workers_of("A").empty());
}

TEST(RollingDeploy, TheServersDefaultTakesAQuarterOfTheBudgetAtATime) {
  EXPECT_EQ(SupervisorConfig::rolling_max_changing(1), 1);
  EXPECT_EQ(SupervisorConfig::rolling_max_changing(4), 1);
  EXPECT_EQ(SupervisorConfig::rolling_max_changing(5), 2);
  EXPECT_EQ(SupervisorConfig::rolling_max_changing(16), 4);
  SupervisorConfig c = config_with(8);
  c.max_changing = SupervisorConfig::rolling_max_changing(c.budget);
  Harness h(c);
  serve(h, "A");
  h.load(h.deploy("B"));
  for (int round = 0; round < 4; ++round) {
    int stopping = 0;
    for (WorkerId w : h.workers_of("A")) stopping += h.stop_sent(w) ? 1 : 0;
    ASSERT_EQ(stopping, 2) << "round " << round << ": six of eight keep serving";
    for (WorkerId w : h.workers_of("A")) {
      if (h.stop_sent(w)) h.exit_worker(w);
    }
    h.spawn_all();
  }
  EXPECT_EQ(h.workers_of("B").size(), 8u);
  EXPECT_TRUE(h.workers_of("A").empty());
  EXPECT_LE(h.peak_workers(), 8);
}

TEST(RollingDeploy, ACrashedNewWorkerIsReplacedWhileOldOnesDrain) {
  SupervisorConfig c = config_with(2);
  c.max_changing = 1;
  Harness h(c);
  serve(h, "A");
  h.load(h.deploy("B"));
  auto a = h.workers_of("A");
  h.exit_worker(a[0]);
  h.spawn_all();  // B's first worker is ready: the second A worker is asked to stop
  ASSERT_TRUE(h.stop_sent(a[1]));
  h.crash_worker(h.workers_of("B")[0]);
  h.advance(100ms);  // backoff
  EXPECT_EQ(h.workers_of("B").size(), 1u) << "capacity may not sit below desired - max_changing";
}

TEST(RollingDeploy, HeadroomSurgesNewWorkersBeforeStoppingOld) {
  SupervisorConfig c = config_with(5);
  c.desired = 4;
  c.max_changing = 1;
  Harness h(c);
  serve(h, "A");
  EXPECT_EQ(h.workers_of("A").size(), 4u);
  h.load(h.deploy("B"));
  EXPECT_EQ(h.workers_of("B").size(), 1u) << "a spare slot lets B start before A stops";
  for (WorkerId w : h.workers_of("A")) EXPECT_FALSE(h.stop_sent(w));
  h.spawn_all();
  int stopping = 0;
  for (WorkerId w : h.workers_of("A")) stopping += h.stop_sent(w) ? 1 : 0;
  EXPECT_EQ(stopping, 1);
}

TEST(BrokenRelease, LoadFailureNeverTouchesTheServingVersion) {
  Harness h(config_with(4));
  serve(h, "A");
  auto a = h.workers_of("A");
  ZygoteId b = h.deploy("B");
  h.fail_load(b);
  for (WorkerId w : a) EXPECT_FALSE(h.stop_sent(w));
  EXPECT_TRUE(h.reported("load-failed"));
  auto s = h.supervisor().snapshot();
  EXPECT_EQ(s.serving, "A");
  EXPECT_EQ(s.loading, "");
  ASSERT_EQ(s.failed_versions.size(), 1u);
  EXPECT_EQ(s.failed_versions[0], "B");
  ASSERT_EQ(s.failures.size(), 1u) << "what ctl status reports";
  EXPECT_EQ(s.failures[0].version, "B");
  EXPECT_EQ(s.failures[0].reason.rfind("failed to load: ", 0), 0u) << s.failures[0].reason;
  EXPECT_EQ(h.workers_of("A").size(), 4u);
}

TEST(BrokenRelease, ZygoteDyingWhileLoadingIsALoadFailure) {
  Harness h(config_with(2));
  serve(h, "A");
  ZygoteId b = h.deploy("B");
  h.feed(ev::ZygoteSpawned{b, 900});
  h.zygote_exit(b, ExitStatus::killed_by(11));
  EXPECT_TRUE(h.reported("load-failed"));
  EXPECT_EQ(h.supervisor().snapshot().serving, "A");
  for (WorkerId w : h.workers_of("A")) EXPECT_FALSE(h.stop_sent(w));
}

TEST(BrokenRelease, LoadTimeoutKillsTheZygoteAndKeepsServing) {
  SupervisorConfig c = config_with(2);
  c.load_timeout = 10s;
  Harness h(c);
  serve(h, "A");
  ZygoteId b = h.deploy("B");
  h.feed(ev::ZygoteSpawned{b, 901});
  h.advance(9s);
  EXPECT_EQ(h.count("kill-zygote"), 0);
  h.advance(1s);
  EXPECT_EQ(h.count("kill-zygote"), 1);
  EXPECT_TRUE(h.reported("load-failed"));
  h.zygote_exit(b, ExitStatus::killed_by(9));
  EXPECT_EQ(h.supervisor().snapshot().serving, "A");
  EXPECT_EQ(h.live_workers_of("A").size(), 2u);
}

TEST(FirstVersion, FailingToLoadStopsTheMasterWithACode) {
  Harness h(config_with(2));
  ZygoteId a = h.start("A");
  h.fail_load(a);
  EXPECT_TRUE(h.exited());
  EXPECT_EQ(h.exit_code(), exit_code::load_failed);
}

TEST(FirstVersion, AZygoteKilledWhileLoadingIsRestartedNotAFailure) {
  Harness h(config_with(2));
  ZygoteId a = h.start("A");
  h.feed(ev::ZygoteSpawned{a, 50});
  h.zygote_exit(a, ExitStatus::killed_by(9));
  EXPECT_FALSE(h.exited());
  EXPECT_FALSE(h.reported("load-failed"));
  h.advance(100ms);
  ASSERT_EQ(h.zygotes_started().size(), 2u);
  h.load(h.zygotes_started().rbegin()->first);
  h.spawn_all();
  EXPECT_EQ(h.live_workers_of("A").size(), 2u);
}

TEST(FirstVersion, AZygoteThatCannotBeForkedIsRetried) {
  Harness h(config_with(1));
  ZygoteId a = h.start("A");
  h.feed(ev::ZygoteSpawnFailed{a, 12});
  EXPECT_FALSE(h.exited());
  h.advance(100ms);
  ASSERT_EQ(h.zygotes_started().size(), 2u);
  EXPECT_EQ(h.zygotes_started().rbegin()->second, "A");
}

TEST(Supersede, DeployWhileLoadingCancelsTheLoadingVersion) {
  Harness h(config_with(3));
  serve(h, "A");
  ZygoteId b = h.deploy("B");
  ZygoteId c = h.deploy("C");
  EXPECT_TRUE(h.zygotes_stopped().count(b));
  EXPECT_TRUE(h.reported("deploy-superseded"));
  h.load(c);
  h.feed(ev::ZygoteExited{b, ExitStatus::exited(0)});
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.spawn_all();
  EXPECT_EQ(h.workers_of("C").size(), 3u);
  EXPECT_TRUE(h.workers_of("B").empty());
}

TEST(Supersede, AToBToCInQuickSuccession) {
  Harness h(config_with(4));
  ZygoteId a = serve(h, "A");
  ZygoteId b = h.deploy("B");
  h.load(b);
  // Half of A is gone and B has taken those slots when C is deployed.
  auto a_workers = h.workers_of("A");
  h.exit_worker(a_workers[0]);
  h.exit_worker(a_workers[1]);
  h.spawn_all();
  ASSERT_EQ(h.workers_of("B").size(), 2u);
  ZygoteId c = h.deploy("C");
  EXPECT_FALSE(h.zygotes_stopped().count(b)) << "B keeps serving until C has loaded";
  h.load(c);
  // B was never proven: its zygote is stopped and its workers drain. A stays as the fallback.
  EXPECT_TRUE(h.zygotes_stopped().count(b));
  EXPECT_FALSE(h.zygotes_stopped().count(a));
  EXPECT_EQ(h.supervisor().snapshot().fallback, "A");
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.zygote_exit(b);
  for (WorkerId w : h.workers_of("B")) h.exit_worker(w);
  h.spawn_all();
  EXPECT_EQ(h.workers_of("C").size(), 4u);
  EXPECT_EQ(h.supervisor().snapshot().serving, "C");
}

TEST(Deploy, SameVersionIsANoOp) {
  Harness h(config_with(2));
  serve(h, "A");
  int zygotes_before = static_cast<int>(h.zygotes_started().size());
  EXPECT_EQ(h.deploy("A").value, 0u);
  EXPECT_TRUE(h.reported("deploy-noop"));
  EXPECT_EQ(static_cast<int>(h.zygotes_started().size()), zygotes_before);
  for (WorkerId w : h.workers_of("A")) EXPECT_FALSE(h.stop_sent(w));
}

TEST(Deploy, ProvenVersionRetiresTheFallbackZygote) {
  SupervisorConfig c = config_with(2);
  c.probation = 10s;
  Harness h(c);
  ZygoteId a = serve(h, "A");
  h.load(h.deploy("B"));
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.spawn_all();
  EXPECT_FALSE(h.zygotes_stopped().count(a)) << "A stays resident during probation";
  h.advance(9s);
  EXPECT_FALSE(h.zygotes_stopped().count(a));
  h.advance(1s);
  EXPECT_TRUE(h.zygotes_stopped().count(a));
  EXPECT_TRUE(h.reported("proven"));
  EXPECT_TRUE(h.supervisor().snapshot().serving_proven);
}

TEST(Deploy, PhasesAreServingLoadingRollingOutProbationServing) {
  SupervisorConfig c = config_with(2);
  c.probation = 10s;
  Harness h(c);
  serve(h, "A");
  EXPECT_EQ(h.supervisor().phase(), DeployPhase::serving);
  ZygoteId b = h.deploy("B");
  EXPECT_EQ(h.supervisor().phase(), DeployPhase::loading);
  h.load(b);
  EXPECT_EQ(h.supervisor().phase(), DeployPhase::rolling_out);
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.spawn_all();
  EXPECT_EQ(h.supervisor().phase(), DeployPhase::probation);
  EXPECT_EQ(h.supervisor().snapshot().phase, DeployPhase::probation);
  h.advance(10s);
  EXPECT_EQ(h.supervisor().phase(), DeployPhase::serving);
}

TEST(Deploy, RollingBackToTheResidentZygoteStartsNoNewZygote) {
  Harness h(config_with(2));
  serve(h, "A");
  ZygoteId b = h.deploy("B");
  h.load(b);
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.spawn_all();
  int zygotes_before = static_cast<int>(h.zygotes_started().size());
  EXPECT_EQ(h.deploy("A").value, 0u) << "A's zygote is still loaded";
  EXPECT_EQ(static_cast<int>(h.zygotes_started().size()), zygotes_before);
  EXPECT_TRUE(h.zygotes_stopped().count(b));
  h.zygote_exit(b);
  for (WorkerId w : h.workers_of("B")) h.exit_worker(w);
  h.spawn_all();
  EXPECT_EQ(h.workers_of("A").size(), 2u);
}

TEST(CrashLoop, NewVersionDyingBeforeServingIsRolledBack) {
  SupervisorConfig c = config_with(3);
  c.crash_loop_limit = 3;
  Harness h(c);
  ZygoteId a = serve(h, "A");
  ZygoteId b = h.deploy("B");
  h.load(b);
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.spawn_all();
  auto bw = h.workers_of("B");
  ASSERT_EQ(bw.size(), 3u);
  h.crash_worker(bw[0]);
  EXPECT_EQ(h.workers_of("B").size(), 2u) << "the replacement waits for the backoff";
  h.crash_worker(bw[1]);
  EXPECT_FALSE(h.reported("rollback"));
  h.crash_worker(bw[2]);
  EXPECT_TRUE(h.reported("rollback"));
  EXPECT_TRUE(h.zygotes_stopped().count(b));
  EXPECT_FALSE(h.zygotes_stopped().count(a));
  // A's zygote is still resident: the freed slots go to A without starting a zygote.
  EXPECT_EQ(h.workers_of("A").size(), 3u);
  auto s = h.supervisor().snapshot();
  EXPECT_EQ(s.serving, "A");
  ASSERT_EQ(s.failed_versions.size(), 1u);
  EXPECT_EQ(s.failed_versions[0], "B");
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures[0].reason, "rolled back to A: 3 workers died before serving a request");
}

TEST(CrashLoop, ServingARequestResetsTheCount) {
  SupervisorConfig c = config_with(2);
  c.crash_loop_limit = 2;
  Harness h(c);
  serve(h, "A");
  h.load(h.deploy("B"));
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.spawn_all();
  auto bw = h.workers_of("B");
  h.crash_worker(bw[0]);
  h.busy(bw[1]);
  h.idle(bw[1], 1);  // B served a request: not a crash loop
  h.advance(1s);
  h.spawn_all();
  h.crash_worker(h.workers_of("B").back());
  EXPECT_FALSE(h.reported("rollback"));
}

TEST(Respawn, CrashedWorkerIsReplacedAfterBackoff) {
  SupervisorConfig c = config_with(2);
  c.backoff_base = 100ms;
  Harness h(c);
  serve(h, "A");
  auto a = h.workers_of("A");
  h.crash_worker(a[0]);
  EXPECT_EQ(h.workers_of("A").size(), 1u);
  h.advance(99ms);
  EXPECT_EQ(h.workers_of("A").size(), 1u);
  h.advance(1ms);
  EXPECT_EQ(h.workers_of("A").size(), 2u);
  h.spawn_all();
  // A second failure in a row doubles the delay.
  h.crash_worker(h.workers_of("A").back());
  h.advance(100ms);
  EXPECT_EQ(h.workers_of("A").size(), 1u);
  h.advance(100ms);
  EXPECT_EQ(h.workers_of("A").size(), 2u);
}

TEST(Respawn, SpawnFailureBacksOff) {
  Harness h(config_with(1));
  ZygoteId a = h.start("A");
  h.load(a);
  h.spawn_failed(WorkerId{1});
  EXPECT_EQ(h.supervisor().workers_in_budget(), 0);
  EXPECT_TRUE(h.reported("worker-failed"));
  h.advance(100ms);
  EXPECT_EQ(h.supervisor().workers_in_budget(), 1);
}

TEST(Respawn, TheRetiredExitCodeIsARetirementEvenBeforeItsReport) {
  Harness h(config_with(1));
  serve(h, "A");
  WorkerId w = h.workers_of("A")[0];
  // The zygote's report of the exit comes first; the worker's "exiting" report never comes.
  h.exit_worker_silently(w, ExitStatus::exited(exit_code::retired));
  EXPECT_EQ(h.workers_of("A").size(), 1u) << "replaced at once, without backoff";
  EXPECT_FALSE(h.reported("worker-failed"));
}

TEST(Respawn, RetiringWorkerIsReplacedWithoutBackoff) {
  Harness h(config_with(1));
  serve(h, "A");
  WorkerId w = h.workers_of("A")[0];
  h.feed(ev::WorkerExiting{w, true});
  h.exit_worker(w, ExitStatus::exited(exit_code::retired));
  EXPECT_EQ(h.workers_of("A").size(), 1u) << "replaced at once";
  EXPECT_FALSE(h.reported("worker-failed"));
}

TEST(Deadlines, WorkerIgnoringStopIsKilledAndTheKillRecorded) {
  SupervisorConfig c = config_with(2);
  c.graceful_timeout = 30s;
  c.heartbeat_timeout = 120s;  // the worker that stays is silent in this script
  c.kill_retry = 1s;
  Harness h(c);
  serve(h, "A");
  h.feed(ev::ScaleTo{1});
  WorkerId w = h.workers_of("A")[1];  // the newest goes first
  ASSERT_TRUE(h.stop_sent(w));
  h.advance(29s);
  EXPECT_FALSE(h.kill_sent(w));
  h.advance(1s);
  EXPECT_TRUE(h.kill_sent(w));
  EXPECT_EQ(h.supervisor().kills(), 1u);
  EXPECT_TRUE(h.reported("kill"));
  h.advance(1s);
  EXPECT_EQ(h.count("kill-worker"), 2) << "the kill repeats until the worker is reaped";
  h.crash_worker(w);
  h.advance(5s);
  EXPECT_EQ(h.count("kill-worker"), 2);
  EXPECT_EQ(h.supervisor().kills(), 1u);
}

TEST(Deadlines, GracefulDeadlineCountsFromDelivery) {
  SupervisorConfig c = config_with(2);
  c.graceful_timeout = 10s;
  c.zygote_timeout = 60s;
  c.heartbeat_timeout = 600s;
  Harness h(c);
  ZygoteId a = serve(h, "A");
  h.unresponsive(a);  // slow to pass the stop on, but not yet judged hung
  h.feed(ev::ScaleTo{1});
  WorkerId w = h.workers_of("A")[1];
  ASSERT_TRUE(h.stop_sent(w));
  h.advance(8s);
  h.feed(ev::WorkerSignalled{w, true});  // SIGTERM delivered 8 s late
  h.advance(9s);
  EXPECT_FALSE(h.kill_sent(w)) << "the drain had only 9 s so far";
  h.advance(1s);
  EXPECT_TRUE(h.kill_sent(w));
}

TEST(Deadlines, HungZygoteIsKilledAndItsWorkersDrain) {
  SupervisorConfig c = config_with(2);
  c.zygote_timeout = 5s;
  c.heartbeat_timeout = 600s;
  Harness h(c);
  ZygoteId a = serve(h, "A");
  ZygoteId b = h.deploy("B");
  h.unresponsive(a);  // paused: the stops for A's workers go unanswered
  h.load(b);
  h.advance(4s);
  EXPECT_EQ(h.count("kill-zygote"), 0);
  h.advance(1s);
  EXPECT_EQ(h.count("kill-zygote"), 1);
  EXPECT_TRUE(h.reported("zygote-hung"));
  h.zygote_exit(a, ExitStatus::killed_by(9));
  for (const ProcessInfo& p : h.supervisor().snapshot().processes) {
    if (p.role == Role::worker) {
      EXPECT_TRUE(p.orphaned);
      EXPECT_EQ(p.state, "draining");
    }
  }
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.spawn_all();
  EXPECT_EQ(h.live_workers_of("B").size(), 2u);
}

TEST(Deadlines, HungWorkerIsKilledAndReplaced) {
  SupervisorConfig c = config_with(2);
  c.heartbeat_timeout = 20s;
  Harness h(c);
  serve(h, "A");
  auto a = h.workers_of("A");
  h.busy(a[0]);
  for (int i = 0; i < 4; ++i) {
    h.advance(5s);
    h.feed(ev::WorkerHeartbeat{a[1]});
  }
  EXPECT_TRUE(h.kill_sent(a[0]));
  EXPECT_FALSE(h.kill_sent(a[1]));
  h.crash_worker(a[0]);
  h.advance(1s);
  EXPECT_EQ(h.live_workers_of("A").size(), 2u);
}

TEST(Deadlines, AStalledMasterDoesNotCondemnWorkers) {
  SupervisorConfig c = config_with(1);
  c.heartbeat_timeout = 6s;
  Harness h(c);
  serve(h, "A");
  WorkerId w = h.workers_of("A")[0];
  h.busy(w);
  h.stall(12s);  // the master was stopped; the worker's heartbeats went unread
  EXPECT_TRUE(h.reported("master-stalled"));
  EXPECT_FALSE(h.kill_sent(w));
  h.advance(5s);
  EXPECT_FALSE(h.kill_sent(w));
  h.advance(1s);
  EXPECT_TRUE(h.kill_sent(w)) << "six watched seconds of silence is a hang";
}

TEST(Deadlines, AHeartbeatFromAStartingWorkerMeansReady) {
  Harness h(config_with(1));
  ZygoteId a = h.start("A");
  h.load(a);
  h.feed(ev::WorkerSpawned{WorkerId{1}, 300});
  h.feed(ev::WorkerHeartbeat{WorkerId{1}});  // its "ready" report was lost
  EXPECT_EQ(h.supervisor().snapshot().workers.ready, 1);
}

TEST(Deadlines, WorkerNeverReadyIsKilled) {
  SupervisorConfig c = config_with(1);
  c.ready_timeout = 10s;
  Harness h(c);
  ZygoteId a = h.start("A");
  h.load(a);
  h.feed(ev::WorkerSpawned{WorkerId{1}, 500});
  h.advance(10s);
  EXPECT_TRUE(h.kill_sent(WorkerId{1}));
}

TEST(Scale, DownDuringADeployEndsAtTheNewCount) {
  Harness h(config_with(6));
  serve(h, "A");
  h.load(h.deploy("B"));
  auto a = h.workers_of("A");
  h.exit_worker(a[0]);
  h.exit_worker(a[1]);
  h.spawn_all();
  h.feed(ev::ScaleTo{2});
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.spawn_all();
  for (WorkerId w : h.workers_of("B")) {
    if (h.stop_sent(w)) h.exit_worker(w);
  }
  h.spawn_all();
  EXPECT_EQ(h.live_workers_of("B").size(), 2u);
  EXPECT_EQ(h.existing_workers(), 2);
  EXPECT_EQ(h.supervisor().snapshot().desired, 2);
}

TEST(Scale, UpIsClampedToTheBudget) {
  SupervisorConfig c = config_with(3);
  c.desired = 1;
  Harness h(c);
  serve(h, "A");
  EXPECT_EQ(h.workers_of("A").size(), 1u);
  h.feed(ev::ScaleBy{+1});
  EXPECT_EQ(h.workers_of("A").size(), 2u);
  h.feed(ev::ScaleTo{10});
  EXPECT_TRUE(h.reported("scale-clamped"));
  EXPECT_EQ(h.workers_of("A").size(), 3u);
  h.feed(ev::ScaleBy{-1});
  EXPECT_EQ(h.live_workers_of("A").size(), 2u);
  h.feed(ev::ScaleTo{0});
  EXPECT_EQ(h.live_workers_of("A").size(), 1u) << "one worker is the floor";
  EXPECT_EQ(h.supervisor().snapshot().desired, 1);
}

TEST(Shutdown, DuringADeployStopsEverythingThenExits) {
  Harness h(config_with(3));
  ZygoteId a = serve(h, "A");
  ZygoteId b = h.deploy("B");
  h.feed(ev::ZygoteSpawned{b, 777});
  h.busy(h.workers_of("A")[0]);
  h.feed(ev::Shutdown{true});
  EXPECT_TRUE(h.zygotes_stopped().count(b)) << "the loading version is abandoned";
  for (WorkerId w : h.workers_of("A")) EXPECT_TRUE(h.stop_sent(w));
  EXPECT_FALSE(h.zygotes_stopped().count(a)) << "A's zygote reaps its workers first";
  EXPECT_EQ(h.deploy("C").value, 0u) << "no deploy while stopping";
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  EXPECT_TRUE(h.zygotes_stopped().count(a));
  EXPECT_FALSE(h.exited());
  h.zygote_exit(a);
  h.zygote_exit(b);
  EXPECT_TRUE(h.exited());
  EXPECT_EQ(h.exit_code(), 0);
  EXPECT_EQ(h.supervisor().kills(), 0u);
}

TEST(Shutdown, FastStopKillsWorkers) {
  Harness h(config_with(2));
  serve(h, "A");
  h.feed(ev::Shutdown{false});
  for (WorkerId w : h.workers_of("A")) EXPECT_TRUE(h.kill_sent(w));
}

TEST(ZygoteCrash, ServingZygoteIsRestartedAndItsWorkersReplaced) {
  Harness h(config_with(2));
  ZygoteId a = serve(h, "A");
  auto old = h.workers_of("A");
  h.zygote_exit(a, ExitStatus::killed_by(9));
  EXPECT_TRUE(h.reported("zygote-crash"));
  auto s = h.supervisor().snapshot();
  EXPECT_EQ(s.workers.draining, 2) << "workers drain when their parent dies";
  for (const ProcessInfo& p : s.processes) {
    if (p.role == Role::worker) {
      EXPECT_TRUE(p.orphaned);
    }
  }
  h.advance(100ms);  // restart backoff
  auto started = h.zygotes_started();
  ASSERT_EQ(started.size(), 2u);
  ZygoteId restarted = started.rbegin()->first;
  h.load(restarted);
  EXPECT_TRUE(h.workers_of("A").size() == 2u) << "no slot free yet";
  for (WorkerId w : old) h.exit_worker(w);
  h.spawn_all();
  EXPECT_EQ(h.live_workers_of("A").size(), 2u);
  for (WorkerId w : h.live_workers_of("A")) EXPECT_FALSE(contains(old, w));
}

TEST(ZygoteCrash, ADeployDoesNotCancelTheServingVersionsRestart) {
  Harness h(config_with(2));
  ZygoteId a = serve(h, "A");
  h.zygote_exit(a, ExitStatus::killed_by(9));
  ZygoteId b = h.deploy("B");  // before A's restart backoff has passed
  h.advance(100ms);
  h.fail_load(b);
  auto started = h.zygotes_started();
  ASSERT_EQ(started.size(), 3u) << "A, B, and A again";
  EXPECT_EQ(started.rbegin()->second, "A");
  h.load(started.rbegin()->first);
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.spawn_all();
  EXPECT_EQ(h.live_workers_of("A").size(), 2u);
  EXPECT_EQ(h.supervisor().snapshot().serving, "A");
}

TEST(ZygoteCrash, ADeployLoadingMeanwhileKeepsTheServingVersionAsFallback) {
  SupervisorConfig c = config_with(2);
  c.crash_loop_limit = 2;
  Harness h(c);
  ZygoteId a = serve(h, "A");
  ZygoteId b = h.deploy("B");
  h.zygote_exit(a, ExitStatus::killed_by(9));  // A's restart is scheduled
  h.load(b);                                   // ...but B loads first
  auto started = h.zygotes_started();
  ASSERT_EQ(started.size(), 3u) << "A's zygote is started again, as B's fallback";
  ZygoteId a2 = started.rbegin()->first;
  EXPECT_EQ(started.rbegin()->second, "A");
  EXPECT_FALSE(h.supervisor().snapshot().serving_proven);
  h.load(a2);
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.spawn_all();
  for (WorkerId w : h.workers_of("B")) h.crash_worker(w);  // B crash-loops
  EXPECT_TRUE(h.reported("rollback"));
  EXPECT_EQ(h.supervisor().snapshot().serving, "A");
}

TEST(ZygoteCrash, OrphanWithUnknownPidHoldsItsSlotUntilReaped) {
  Harness h(config_with(1));
  ZygoteId a = h.start("A");
  h.load(a);  // requests worker 1, never reported spawned
  ASSERT_EQ(h.supervisor().workers_in_budget(), 1);
  h.zygote_exit(a, ExitStatus::killed_by(9));
  h.advance(1s);
  EXPECT_EQ(h.supervisor().workers_in_budget(), 1) << "it may exist: its slot stays counted";
  h.reap_orphan(WorkerId{1}, 4242);
  EXPECT_EQ(h.supervisor().workers_in_budget(), 0);
}

// The accounting gap that listing children closes: a worker forked by a zygote killed before it
// replied, and stopped before it could say hello, outlives lost_worker_timeout.
TEST(ZygoteCrash, ALostWorkerStaysCountedWhileAChildTheMasterCannotNameExists) {
  SupervisorConfig c = config_with(1);
  c.lost_worker_timeout = 5s;
  Harness h(c);
  ZygoteId a = h.start("A");
  h.load(a);
  h.unknown_children({4242});
  h.zygote_exit(a, ExitStatus::killed_by(9));
  EXPECT_EQ(h.count("list-children"), 1) << "listed when the zygote is reaped";
  EXPECT_EQ(h.supervisor().workers_in_budget(), 1) << "pid 4242 may be that worker";
  h.advance(6s);
  EXPECT_EQ(h.count("list-children"), 2) << "and again after the timeout";
  h.advance(6s);
  EXPECT_EQ(h.supervisor().workers_in_budget(), 1) << "asked again, still there";
  h.unknown_children({});
  h.reap_orphan(WorkerId{1}, 4242);  // continued at last, it exits and is reaped
  EXPECT_EQ(h.supervisor().workers_in_budget(), 0);
}

// An orphan the app forked is reaped while a lost worker, stopped, still exists: the lost
// worker's slot must not go with it.
TEST(ZygoteCrash, AReapedStrangerDoesNotTakeALostWorkersSlot) {
  Harness h(config_with(1));
  ZygoteId a = h.start("A");
  h.load(a);
  h.unknown_children({4242});  // the lost worker, stopped; pid 4343 was the app's helper
  h.zygote_exit(a, ExitStatus::killed_by(9));
  EXPECT_EQ(h.count("list-children"), 1);
  h.feed(ev::UnknownChildReaped{4343, ExitStatus::exited(0)});
  EXPECT_EQ(h.count("list-children"), 2);
  EXPECT_EQ(h.supervisor().workers_in_budget(), 1) << "pid 4242 may be the lost worker";
  h.unknown_children({});
  h.reap_orphan(WorkerId{1}, 4242);
  EXPECT_EQ(h.supervisor().workers_in_budget(), 0);
}

// The zygote's death settles whether its unreported workers exist: the children are listed at
// once, and a worker with no child left for it is released without waiting for any timeout.
TEST(ZygoteCrash, ALostWorkerIsReleasedWhenNoUnknownChildExists) {
  SupervisorConfig c = config_with(1);
  c.lost_worker_timeout = 5s;
  Harness h(c);
  ZygoteId a = h.start("A");
  h.load(a);
  h.never_forked(WorkerId{1});
  h.zygote_exit(a, ExitStatus::killed_by(9));  // killed before it forked the worker
  EXPECT_EQ(h.count("list-children"), 1) << "listed when the zygote is reaped";
  EXPECT_TRUE(h.reported("worker-lost"));
  for (const ProcessInfo& p : h.supervisor().snapshot().processes) {
    EXPECT_FALSE(p.role == Role::worker && p.id == 1) << "worker 1's slot was released";
  }
}

// The case that once held a slot for the whole lost_worker_timeout: the zygote forked the worker
// and was killed before it replied; the worker, killed by its parent's death, was reaped before
// its zygote, as a child no record names. Nothing is left to reap, and the slot is released.
TEST(ZygoteCrash, ALostWorkerReapedBeforeItsZygoteIsReleasedAtOnce) {
  SupervisorConfig c = config_with(1);
  c.lost_worker_timeout = 30s;
  Harness h(c);
  ZygoteId a = h.start("A");
  h.load(a);
  h.never_forked(WorkerId{1});  // as far as the harness's reaper knows: it is gone already
  h.feed(ev::UnknownChildReaped{4242, ExitStatus::killed_by(15)});
  EXPECT_TRUE(h.reported("unknown-child")) << "nothing is lost yet: its zygote lives";
  EXPECT_EQ(h.supervisor().workers_in_budget(), 1);
  h.zygote_exit(a, ExitStatus::killed_by(9));
  EXPECT_EQ(h.supervisor().workers_in_budget(), 0) << "released without the 30 s timeout";
}

TEST(Status, ReportsEveryProcess) {
  Harness h(config_with(2));
  serve(h, "A");
  auto cmds = h.feed(ev::StatusRequested{7});
  ASSERT_EQ(cmds.size(), 1u);
  auto* st = std::get_if<cmd::Status>(&cmds[0]);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->request, 7u);
  EXPECT_EQ(st->snapshot.processes.size(), 3u);  // one zygote, two workers
  EXPECT_EQ(st->snapshot.workers.ready, 2);
  EXPECT_EQ(st->snapshot.serving, "A");
}

TEST(Config, RejectsInconsistentSettings) {
  SupervisorConfig c;
  EXPECT_FALSE(c.validate().has_value());
  c.budget = 0;
  EXPECT_TRUE(c.validate().has_value());
  c = {};
  c.desired = c.budget + 1;
  EXPECT_TRUE(c.validate().has_value());
  c = {};
  c.graceful_timeout = Nanos{0};
  EXPECT_TRUE(c.validate().has_value());
  c = {};
  c.backoff_max = c.backoff_base / 2;
  EXPECT_TRUE(c.validate().has_value());
}

}  // namespace
}  // namespace zyg::testing

namespace zyg::testing {
namespace {

TEST(WorkerExits, ASigkillTheMasterDidNotSendIsNamedAndReplaced) {
  Harness h(config_with(2));
  serve(h, "A");
  const WorkerId w = h.workers_of("A")[0];
  h.exit_worker_silently(w, ExitStatus::killed_by(9));  // the OOM killer, say
  bool named = false;
  for (const std::string& line : h.log()) {
    named = named || line.find("SIGKILL, which the master did not send: the OOM killer") !=
                         std::string::npos;
  }
  EXPECT_TRUE(named);
  EXPECT_EQ(h.supervisor().snapshot().worker_exits.at("killed_externally"), 1u);
  h.advance(1s);
  h.spawn_all();
  EXPECT_EQ(h.live_workers_of("A").size(), 2u) << "replaced as any crash";
  h.crash_worker(h.workers_of("A")[0]);  // SIGSEGV: a crash, not a kill
  EXPECT_EQ(h.supervisor().snapshot().worker_exits.at("crash"), 1u);
}

}  // namespace
}  // namespace zyg::testing
