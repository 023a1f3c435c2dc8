// LinuxOs against the real kernel: caught and ignored signals, EINTR, coalescing.
#include "real/tests/os_linux_test_support.hpp"

namespace zyg::real::os_test {
namespace {

// ---------------------------------------------------------------------------------------------
// signals

TEST_F(RealOs, CaughtSignalMakesPollReturnEintrUntilTaken) {
  const Signal sigs[] = {Signal::term, Signal::usr1};
  ASSERT_EQ(os.catch_signals(sigs), 0);
  const Signal bad[] = {Signal::kill};
  EXPECT_EQ(os.catch_signals(bad), err::inval);

  ASSERT_EQ(os.kill(os.getpid(), Signal::term), 0);
  const Nanos t0 = clock_now();
  EXPECT_EQ(os.poll({}, kLong).error, err::intr);
  EXPECT_EQ(os.poll({}, kLong).error, err::intr);  // still pending: still EINTR
  EXPECT_LT(clock_now() - t0, 1s);
  EXPECT_EQ(os.take_signals(), std::vector<Signal>{Signal::term});
  EXPECT_TRUE(os.take_signals().empty());
  auto quiet = os.poll({}, Nanos{0});
  EXPECT_TRUE(quiet.ok());
  EXPECT_EQ(quiet.value, 0);

  // A ready descriptor is reported before a pending signal (as the simulator does).
  auto [a, b] = pair();
  ASSERT_EQ(os.kill(os.getpid(), Signal::usr1), 0);
  PollFd out[] = {{a, ev::out, 0}};
  EXPECT_EQ(os.poll(out, kLong).value, 1);
  EXPECT_EQ(os.poll({}, kLong).error, err::intr);
  EXPECT_EQ(os.take_signals(), std::vector<Signal>{Signal::usr1});

  // A signal that arrives while poll waits wakes it: a child sends it when told.
  auto [ctl, ctl_child] = pair();
  auto kid = os.spawn(child({ctl_child}, [fd = ctl_child](os::Os& c) {
    if (!hear(c, fd).has_value()) return 1;
    return c.kill(c.getppid(), Signal::usr1);
  }));
  ASSERT_TRUE(kid.ok());
  ChildGuard g{kid.value};
  os.close(ctl_child);
  say(os, ctl, "go");
  PollFd in[] = {{a, ev::in, 0}};
  const Nanos t1 = clock_now();
  EXPECT_EQ(os.poll(in, kLong).error, err::intr);
  EXPECT_LT(clock_now() - t1, 5s);
  EXPECT_EQ(os.take_signals(), std::vector<Signal>{Signal::usr1});
  EXPECT_EQ(g.reap(), ExitStatus::exited(0));

  // An ignored signal is neither pending nor fatal.
  ASSERT_EQ(os.ignore_signal(Signal::usr1), 0);
  ASSERT_EQ(os.kill(os.getpid(), Signal::usr1), 0);
  EXPECT_TRUE(os.take_signals().empty());
  EXPECT_EQ(os.poll({}, Nanos{0}).value, 0);
  for (int fd : {a, b, ctl}) os.close(fd);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGUSR1, &dfl, nullptr);
}

TEST_F(RealOs, CaughtSignalHandlersRestartSystemCalls) {
  const Signal sigs[] = {Signal::term};
  ASSERT_EQ(os.catch_signals(sigs), 0);
  struct sigaction sa {};
  ASSERT_EQ(::sigaction(SIGTERM, nullptr, &sa), 0);
  EXPECT_NE(sa.sa_flags & SA_RESTART, 0);
  EXPECT_NE(sa.sa_handler, SIG_DFL);
}

TEST_F(RealOs, TwoChildSignalsCoalesce) {
  const Signal sigs[] = {Signal::child};
  ASSERT_EQ(os.catch_signals(sigs), 0);
  std::vector<ChildGuard> kids(2);
  for (auto& k : kids) {
    auto r = os.spawn(child({}, [](os::Os&) { return 0; }));
    ASSERT_TRUE(r.ok());
    k.pid = r.value;
  }
  for (auto& k : kids) {
    // A zombie (visible to waitid) has sent its SIGCHLD, and our handler ran on return.
    ASSERT_TRUE(exited_within(k.pid, kLong));
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(k.pid), &info, WEXITED | WNOWAIT), 0);
  }
  EXPECT_EQ(os.take_signals(), std::vector<Signal>{Signal::child});
  EXPECT_TRUE(os.take_signals().empty());
  for (auto& k : kids) EXPECT_EQ(k.reap(), ExitStatus::exited(0));
}

}  // namespace
}  // namespace zyg::real::os_test
