// LinuxOs against the real kernel: spawning, reaping, parent-death signals, the subreaper, fork
// safety.
#include "real/tests/os_linux_test_support.hpp"

namespace zyg::real::os_test {
namespace {

// ---------------------------------------------------------------------------------------------
// spawn

TEST_F(RealOs, SpawnedChildKeepsExactlyTheAllowlistedDescriptors) {
  auto [report, report_child] = pair();
  auto [extra_a, extra_b] = pair();  // not kept
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);  // not kept
  os::PollFd warm[] = {{extra_a, ev::in, 0}};
  // The parent has waited (its wake pipe is open) when it forks; what is ready does not matter.
  static_cast<void>(os.poll(warm, Nanos{0}));
  const std::map<int, std::string> parent = open_fds();

  auto r = os.spawn(child({report_child}, [fd = report_child](os::Os& c) {
    std::ostringstream out;
    for (const auto& [n, target] : open_fds()) out << n << ' ' << target << '\n';
    say(c, fd, out.str());
    return 0;
  }));
  ASSERT_TRUE(r.ok()) << r.error;
  ChildGuard g{r.value};
  os.close(report_child);
  const auto listing = hear(os, report);
  ASSERT_TRUE(listing.has_value());
  EXPECT_EQ(g.reap(), ExitStatus::exited(0));

  std::map<int, std::string> in_child;
  std::istringstream lines(*listing);
  int n = 0;
  std::string target;
  while (lines >> n >> target) in_child[n] = target;

  // The kept descriptor keeps its number and its file.
  ASSERT_TRUE(in_child.count(report_child));
  EXPECT_EQ(in_child[report_child], parent.at(report_child));
  // No other socket or pipe of the parent's (its wake pipe included) reached the child.
  std::set<std::string> child_targets;
  for (const auto& [fd, t] : in_child) child_targets.insert(t);
  for (const auto& [fd, t] : parent) {
    if (fd <= 2 || fd == report_child) continue;
    if (t.rfind("socket:", 0) == 0 || t.rfind("pipe:", 0) == 0) {
      EXPECT_FALSE(child_targets.count(t)) << "fd " << fd << " (" << t << ") leaked";
    }
  }
  // What else the child has is its own fresh LinuxOs: epoll, eventfd, timerfd, signal pipe.
  int own = 0;
  for (const auto& [fd, t] : in_child) {
    if (fd <= 2 || fd == report_child) continue;
    ++own;
    EXPECT_TRUE(t.rfind("anon_inode:", 0) == 0 || t.rfind("pipe:", 0) == 0) << fd << ' ' << t;
  }
  EXPECT_LE(own, 5);
  for (int fd : {report, extra_a, extra_b}) os.close(fd);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

TEST_F(RealOs, ChildStartsWithDefaultSignalsAndItsTitle) {
  ASSERT_EQ(os.ignore_signal(Signal::usr2), 0);
  const Signal term[] = {Signal::term};
  ASSERT_EQ(os.catch_signals(term), 0);
  auto [report, report_child] = pair();
  auto spec = child({report_child}, [fd = report_child](os::Os& c) {
    std::ifstream comm("/proc/self/comm");
    std::string name;
    std::getline(comm, name);
    say(c, fd,
        status_field("SigBlk") + " " + status_field("SigIgn") + " " + status_field("SigCgt") + "|" +
            name);
    return 0;
  });
  spec.title = "zygote-real: worker [releases/B]";
  auto r = os.spawn(std::move(spec));
  ASSERT_TRUE(r.ok()) << r.error;
  ChildGuard g{r.value};
  os.close(report_child);
  const auto got = hear(os, report);
  // Nothing blocked or caught; ignored only SIGPIPE (bit 13), which every LinuxOs ignores.
  EXPECT_EQ(got, "0000000000000000 0000000000001000 0000000000000000|zygote-real: wo");

  EXPECT_EQ(g.reap(), ExitStatus::exited(0));
  os.close(report);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGUSR2, &dfl, nullptr);
}

TEST_F(RealOs, ReapReportsExitCodesSignalDeathsAndEchild) {
  auto none = os.reap();
  EXPECT_EQ(none.error, err::child);

  auto a = os.spawn(child({}, [](os::Os&) { return 42; }));
  ASSERT_TRUE(a.ok());
  ChildGuard ga{a.value};
  ASSERT_TRUE(exited_within(a.value, kLong));
  auto ra = os.reap();
  ASSERT_TRUE(ra.ok());
  ASSERT_TRUE(ra.value.has_value());
  EXPECT_EQ(ra.value->pid, a.value);
  EXPECT_EQ(ra.value->status, ExitStatus::exited(42));
  ga.pid = 0;

  auto b = os.spawn(child({}, [](os::Os& c) {
    c.kill(c.getpid(), Signal::kill);
    return 0;
  }));
  ASSERT_TRUE(b.ok());
  ChildGuard gb{b.value};
  ASSERT_TRUE(exited_within(b.value, kLong));
  auto rb = os.reap();
  ASSERT_TRUE(rb.ok() && rb.value.has_value());
  EXPECT_EQ(rb.value->pid, b.value);
  EXPECT_EQ(rb.value->status, ExitStatus::killed_by(SIGKILL));
  gb.pid = 0;

  auto c = os.spawn(child({}, [](os::Os&) -> int { throw std::runtime_error("boom"); }));
  ASSERT_TRUE(c.ok());
  ChildGuard gc{c.value};
  EXPECT_EQ(gc.reap(), ExitStatus::exited(70));

  // A child still running: reap says so without blocking.
  auto [ctl, ctl_child] = pair();
  auto d = os.spawn(child(
      {ctl_child}, [fd = ctl_child](os::Os& co) { return hear(co, fd).has_value() ? 0 : 1; }));
  ASSERT_TRUE(d.ok());
  ChildGuard gd{d.value};
  os.close(ctl_child);
  auto running = os.reap();
  EXPECT_TRUE(running.ok());
  EXPECT_FALSE(running.value.has_value());
  say(os, ctl, "go");
  EXPECT_EQ(gd.reap(), ExitStatus::exited(0));
  os.close(ctl);

  EXPECT_EQ(os.reap().error, err::child);
}

TEST_F(RealOs, KillRefusesGroupsAndReportsMissingProcesses) {
  EXPECT_EQ(os.kill(0, Signal::term), err::srch);
  EXPECT_EQ(os.kill(-1, Signal::term), err::srch);
  auto a = os.spawn(child({}, [](os::Os&) { return 0; }));
  ASSERT_TRUE(a.ok());
  ChildGuard g{a.value};
  EXPECT_EQ(g.reap(), ExitStatus::exited(0));
  EXPECT_EQ(os.kill(a.value, Signal::term), err::srch);  // reaped: no such process
}

TEST_F(RealOs, ParentDeathSignalReachesTheGrandchild) {
  ASSERT_EQ(os.become_subreaper(), 0);  // so the orphaned grandchild is ours to reap
  auto [ctl, ctl_middle] = pair();
  auto [report, report_kids] = pair();
  auto middle = os.spawn(child({ctl_middle, report_kids}, [ctl_middle, report_kids](os::Os& m) {
    os::ChildSpec g;
    g.title = "zygote-real: grandchild";
    g.keep_fds = {report_kids};
    g.parent_death_signal = Signal::term;
    g.main = [report_kids](os::Os& gc) {
      const Signal term[] = {Signal::term};
      gc.catch_signals(term);
      say(gc, report_kids, "ready " + std::to_string(gc.getpid()));
      const Nanos deadline = gc.now() + kLong;
      while (gc.now() < deadline) {
        auto r = gc.poll({}, deadline - gc.now());
        if (r.error != err::intr) continue;
        for (Signal s : gc.take_signals()) {
          if (s == Signal::term) {
            say(gc, report_kids, "term");
            return 0;
          }
        }
      }
      return 1;
    };
    if (!m.spawn(std::move(g)).ok()) return 1;
    return hear(m, ctl_middle).has_value() ? 0 : 2;  // exit when told (or at EOF)
  }));
  ASSERT_TRUE(middle.ok()) << middle.error;
  ChildGuard gm{middle.value};
  os.close(ctl_middle);
  os.close(report_kids);

  const auto ready = hear(os, report);
  ASSERT_TRUE(ready.has_value());
  ASSERT_EQ(ready->rfind("ready ", 0), 0u) << *ready;
  ChildGuard gg{static_cast<Pid>(std::stoi(ready->substr(6)))};

  say(os, ctl, "exit");
  EXPECT_EQ(gm.reap(), ExitStatus::exited(0));
  EXPECT_EQ(hear(os, report), "term");  // the middle's death reached the grandchild as SIGTERM
  EXPECT_EQ(gg.reap(), ExitStatus::exited(0));
  os.close(ctl);
  os.close(report);
}

TEST_F(RealOs, SubreaperReapsOrphanedGrandchild) {
  ASSERT_EQ(os.become_subreaper(), 0);
  auto [report, report_kids] = pair();
  auto [go, go_kid] = pair();
  auto middle = os.spawn(child({report_kids, go_kid}, [report_kids, go_kid](os::Os& m) {
    auto g = m.spawn(os::ChildSpec{"zygote-real: orphan",
                                   Role::worker,
                                   "",
                                   0,
                                   {report_kids, go_kid},
                                   std::nullopt,
                                   [report_kids, go_kid](os::Os& gc) {
                                     if (!hear(gc, go_kid).has_value()) return 1;
                                     say(gc, report_kids, std::to_string(gc.getppid()));
                                     return 7;
                                   },
                                   false,
                                   {},
                                   std::nullopt});
    if (!g.ok()) return 1;
    say(m, report_kids, std::to_string(g.value));
    return 0;  // orphans the grandchild
  }));
  ASSERT_TRUE(middle.ok());
  ChildGuard gm{middle.value};
  os.close(report_kids);
  os.close(go_kid);
  const auto gpid = hear(os, report);
  ASSERT_TRUE(gpid.has_value());
  const Pid grandchild = std::stoi(*gpid);
  ChildGuard gg{grandchild};
  EXPECT_EQ(gm.reap(), ExitStatus::exited(0));

  say(os, go, "go");
  EXPECT_EQ(hear(os, report), std::to_string(os.getpid()));  // reparented to us
  ASSERT_TRUE(exited_within(grandchild, kLong));
  auto r = os.reap();
  ASSERT_TRUE(r.ok() && r.value.has_value());
  EXPECT_EQ(r.value->pid, grandchild);
  EXPECT_EQ(r.value->status, ExitStatus::exited(7));
  gg.pid = 0;
  EXPECT_EQ(os.reap().error, err::child);
  os.close(report);
  os.close(go);
}

// ---------------------------------------------------------------------------------------------
// fork safety

TEST_F(RealOs, RefusesToForkWhileMultiThreaded) {
  EXPECT_EQ(thread_count(), 1);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  std::thread blocked([fd = p[0]] {
    char c = 0;
    while (::read(fd, &c, 1) < 0 && errno == EINTR) {
    }
  });
  EXPECT_EQ(thread_count(), 2);
  auto r = os.spawn(child({}, [](os::Os&) { return 0; }));
  EXPECT_EQ(r.error, err::again);
  if (r.ok()) reap_pid(r.value);
  ASSERT_EQ(::write(p[1], "x", 1), 1);
  blocked.join();
  ::close(p[0]);
  ::close(p[1]);
}

TEST_F(RealOs, OneInstancePerProcess) { EXPECT_THROW(LinuxOs second, std::logic_error); }

}  // namespace
}  // namespace zyg::real::os_test
