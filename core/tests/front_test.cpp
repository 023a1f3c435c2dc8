// The supervisor's keeping of the front process: started with the server, restarted when it
// dies (at once, then with backoff), killed when hung, untouched by deploys, and stopped first on
// a graceful stop, with the workers drained only once it is gone.
#include <gtest/gtest.h>

#include "core/tests/harness.hpp"

namespace zyg::testing {
namespace {

SupervisorConfig with_stop_delay(int budget, Nanos delay) {
  SupervisorConfig c = config_with(budget);
  c.stop_delay = delay;
  return c;
}

TEST(Front, StartsWithTheServerAndIsNotCountedInTheBudget) {
  Harness h(config_with(2));
  serve(h, "A");
  EXPECT_EQ(h.count("start-front"), 1);
  const StatusSnapshot s = h.supervisor().snapshot();
  ASSERT_TRUE(s.front.pid.has_value());
  EXPECT_EQ(s.workers.total(), 2) << "the front takes no worker slot";
  EXPECT_EQ(h.supervisor().workers_in_budget(), 2);
}

TEST(Front, ADeployNeverTouchesIt) {
  Harness h(config_with(2));
  serve(h, "A");
  ZygoteId b = h.deploy("B");
  h.load(b);
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.spawn_all();
  h.advance(20s);
  EXPECT_EQ(h.count("start-front"), 1);
  EXPECT_EQ(h.count("stop-front"), 0);
  EXPECT_EQ(h.count("kill-front"), 0);
}

TEST(Front, ADeadFrontIsRestartedAtOnceThenWithBackoff) {
  SupervisorConfig c = config_with(1);
  c.backoff_base = 100ms;
  Harness h(c);
  serve(h, "A");
  h.front_dies();
  EXPECT_TRUE(h.reported("front-died"));
  EXPECT_EQ(h.count("start-front"), 2) << "the first death: restarted at once";
  h.front_dies();
  EXPECT_EQ(h.count("start-front"), 2) << "a second quick death waits for the backoff";
  h.advance(100ms);
  EXPECT_EQ(h.count("start-front"), 3);
  h.front_dies();
  h.advance(100ms);
  EXPECT_EQ(h.count("start-front"), 3) << "the backoff doubles";
  h.advance(100ms);
  EXPECT_EQ(h.count("start-front"), 4);
  EXPECT_EQ(h.supervisor().snapshot().front.restarts, 3);
  EXPECT_TRUE(h.live_workers_of("A").size() == 1) << "the workers are not touched";
}

TEST(Front, ALongRunAfterwardsResetsTheBackoff) {
  SupervisorConfig c = config_with(1);
  c.probation = 10s;
  c.heartbeat_timeout = 60s;
  Harness h(c);
  serve(h, "A");
  h.front_dies();
  h.front_dies();
  h.advance(100ms);
  ASSERT_EQ(h.count("start-front"), 3);
  h.advance(10s);
  h.front_dies();
  EXPECT_EQ(h.count("start-front"), 4) << "it had run for a probation: restarted at once";
}

TEST(Front, AHungFrontIsKilledAfterTheHeartbeatTimeout) {
  SupervisorConfig c = config_with(1);
  c.heartbeat_timeout = 3s;
  Harness h(c);
  serve(h, "A");
  h.advance(2s);
  h.feed(ev::FrontAlive{5, 0, 9});
  h.advance(2900ms);
  EXPECT_EQ(h.count("kill-front"), 0) << "heard from 2.9 s ago";
  h.advance(200ms);
  EXPECT_EQ(h.count("kill-front"), 1);
  EXPECT_TRUE(h.reported("front-killed"));
  EXPECT_EQ(h.count("start-front"), 2) << "reaped (the harness reaps a killed front) and restarted";
  EXPECT_EQ(h.supervisor().snapshot().front.connections, 0u) << "a new front holds nothing yet";
}

TEST(Front, HeartbeatsAreShownInTheStatus) {
  Harness h(config_with(1));
  serve(h, "A");
  h.feed(ev::FrontAlive{12, 3, 40});
  const FrontView f = h.supervisor().snapshot().front;
  EXPECT_EQ(f.connections, 12u);
  EXPECT_EQ(f.waiting, 3u);
  EXPECT_EQ(f.handoffs, 40u);
  EXPECT_EQ(f.generation, h.front_generation());
}

TEST(Front, AGracefulStopStopsTheFrontFirstThenDrainsTheWorkers) {
  Harness h(config_with(2));
  ZygoteId a = serve(h, "A");
  h.front_ignores_stop();
  h.feed(ev::Shutdown{true});
  EXPECT_EQ(h.count("stop-front"), 1);
  for (WorkerId w : h.workers_of("A")) {
    EXPECT_FALSE(h.stop_sent(w)) << "requests the front hands on while it stops need workers";
  }
  h.front_dies(ExitStatus::exited(0));
  for (WorkerId w : h.workers_of("A")) EXPECT_TRUE(h.stop_sent(w));
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.zygote_exit(a);
  EXPECT_TRUE(h.exited());
  EXPECT_EQ(h.exit_code(), 0);
  EXPECT_EQ(h.count("start-front"), 1) << "a stopping server does not restart its front";
}

TEST(Front, AStopDelayIsFirstOnlyAChangeOfReadiness) {
  Harness h(with_stop_delay(2, 2s));
  ZygoteId a = serve(h, "A");
  ASSERT_TRUE(h.supervisor().snapshot().workers.ready == 2);
  h.feed(ev::Shutdown{true});
  EXPECT_EQ(h.count("drain-front"), 1) << "the front is told to close what it serves";
  EXPECT_TRUE(h.supervisor().snapshot().shutting_down) << "/readyz says 503 from now on";
  EXPECT_TRUE(h.reported("shutdown"));
  h.feed(ev::Shutdown{true});
  EXPECT_EQ(h.count("drain-front"), 1) << "a second SIGTERM does not restart the delay";
  ZygoteId b = h.deploy("B");
  EXPECT_EQ(b, ZygoteId{}) << "no deploy begins during the delay";
  EXPECT_TRUE(h.reported("deploy-refused"));
  h.advance(1900ms);
  EXPECT_EQ(h.count("stop-front"), 0) << "it still accepts and serves";
  for (WorkerId w : h.workers_of("A")) EXPECT_FALSE(h.stop_sent(w));
  h.crash_worker(h.workers_of("A")[0]);
  h.advance(100ms);
  EXPECT_EQ(h.count("stop-front"), 1) << "the delay is over: the stop itself begins";
  h.front_dies(ExitStatus::exited(0));
  h.spawn_all();
  for (WorkerId w : h.workers_of("A")) {
    EXPECT_TRUE(h.stop_sent(w));
    h.exit_worker(w);
  }
  h.zygote_exit(a);
  EXPECT_TRUE(h.exited());
  EXPECT_EQ(h.exit_code(), 0);
}

TEST(Front, AFrontRestartedDuringTheStopDelayIsToldToDrainToo) {
  Harness h(with_stop_delay(1, 5s));
  serve(h, "A");
  h.feed(ev::Shutdown{true});
  ASSERT_EQ(h.count("drain-front"), 1);
  h.front_dies();
  EXPECT_EQ(h.count("start-front"), 2) << "still serving: a dead front is restarted";
  EXPECT_EQ(h.count("drain-front"), 2) << "and told, once it has a pid";
}

TEST(Front, AFastStopDuringTheStopDelayStopsAtOnce) {
  Harness h(with_stop_delay(1, 5s));
  ZygoteId a = serve(h, "A");
  h.feed(ev::Shutdown{true});
  h.feed(ev::Shutdown{false});
  EXPECT_EQ(h.count("kill-front"), 1);
  const WorkerId w = h.workers_of("A")[0];
  EXPECT_TRUE(h.kill_sent(w));
  h.crash_worker(w);
  h.zygote_exit(a);
  EXPECT_TRUE(h.exited()) << "within the delay: a fast stop does not wait for it";
}

TEST(Front, WithoutAStopDelayNothingIsDrainedFirst) {
  Harness h(config_with(1));
  serve(h, "A");
  h.front_ignores_stop();
  h.feed(ev::Shutdown{true});
  EXPECT_EQ(h.count("drain-front"), 0);
  EXPECT_EQ(h.count("stop-front"), 1);
}

TEST(Front, AWorkerThatRetiresWhileTheFrontStopsIsReplaced) {
  Harness h(config_with(1));
  serve(h, "A");
  h.front_ignores_stop();
  h.feed(ev::Shutdown{true});
  ASSERT_EQ(h.count("stop-front"), 1);
  const int asked = h.count("request-worker");
  h.exit_worker(h.workers_of("A")[0]);  // retired at its request limit
  h.advance(1s);                        // past any backoff
  EXPECT_EQ(h.count("request-worker"), asked + 1)
      << "what the stopping front still hands on needs a worker";
  h.spawn_all();
  h.front_dies(ExitStatus::exited(0));
  EXPECT_TRUE(h.stop_sent(h.workers_of("A")[0])) << "and it drains with the rest";
}

TEST(Front, AFrontThatDoesNotStopIsKilledAtTheGracefulDeadline) {
  SupervisorConfig c = config_with(1);
  c.graceful_timeout = 2s;
  c.heartbeat_timeout = 60s;
  Harness h(c);
  serve(h, "A");
  h.front_ignores_stop();
  h.feed(ev::Shutdown{true});
  h.advance(1900ms);
  EXPECT_EQ(h.count("kill-front"), 0);
  h.advance(200ms);
  EXPECT_EQ(h.count("kill-front"), 1);
  EXPECT_TRUE(h.stop_sent(h.workers_of("A")[0])) << "reaped: the workers drain now";
}

TEST(Front, AFastStopKillsTheFrontWithTheWorkers) {
  Harness h(config_with(1));
  serve(h, "A");
  h.feed(ev::Shutdown{false});
  EXPECT_EQ(h.count("kill-front"), 1);
  EXPECT_TRUE(h.kill_sent(h.workers_of("A")[0]));
}

TEST(Front, AFailedFirstLoadStopsTheFrontToo) {
  Harness h(config_with(1));
  ZygoteId a = h.start("A");
  h.fail_load(a);
  EXPECT_EQ(h.count("stop-front"), 1);
  EXPECT_TRUE(h.exited());
  EXPECT_EQ(h.exit_code(), exit_code::load_failed);
}

}  // namespace
}  // namespace zyg::testing
