// LinuxOs against the real kernel. Every wait is bounded; processes synchronize through
// socketpairs and pidfds, and every process a test starts is reaped by pid before it ends.
#include "real/os_linux.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace zyg::real {
namespace {

using os::Fd;
using os::PollFd;
using os::Signal;
namespace ev = os::ev;
namespace err = os::err;

constexpr Nanos kLong = 10s;  // the bound on anything that should happen at once

std::span<const std::byte> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// A monotonic clock independent of the Os under test.
Nanos clock_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return Nanos{static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec};
}

int ms_until(Nanos deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count() + 1));
}

// Waits (plain poll(2), so the Os's signal state is left alone) until fd is readable.
bool readable_within(Fd fd, Nanos timeout) {
  const Nanos deadline = clock_now() + timeout;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, ms_until(deadline));
    if (rc > 0) return true;
    if (rc == 0 || (rc < 0 && errno != EINTR)) return false;
  }
}

// One message from fd within `timeout`: nullopt on timeout, "" at end of file.
std::optional<std::string> hear(os::Os& o, Fd fd, Nanos timeout = kLong,
                                std::vector<Fd>* passed = nullptr) {
  const Nanos deadline = clock_now() + timeout;
  for (;;) {
    if (!readable_within(fd, deadline - clock_now())) return std::nullopt;
    std::string buf(64 * 1024, '\0');
    auto r = o.recv_message(fd, {reinterpret_cast<std::byte*>(buf.data()), buf.size()}, passed);
    if (r.error == err::again || r.error == err::intr) continue;
    if (!r.ok()) return std::nullopt;
    buf.resize(r.value);
    return buf;
  }
}

// The test's own channel, far from full: a lost message fails the test where it is read.
void say(os::Os& o, Fd fd, const std::string& s) {
  static_cast<void>(o.send_message(fd, bytes_of(s), {}));
}

bool exited_within(Pid pid, Nanos timeout) {
  const int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pfd < 0) return false;
  const bool ok = readable_within(pfd, timeout);
  ::close(pfd);
  return ok;
}

ExitStatus decode(int st) {
  return WIFSIGNALED(st) ? ExitStatus::killed_by(WTERMSIG(st))
                         : ExitStatus::exited(WEXITSTATUS(st));
}

// Reaps `pid` by pid. A process still running after `timeout` is killed first (nullopt).
std::optional<ExitStatus> reap_pid(Pid pid, Nanos timeout = kLong) {
  const bool exited = exited_within(pid, timeout);
  if (!exited) ::kill(pid, SIGKILL);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!exited) return std::nullopt;
  return decode(st);
}

// Reaps its process by pid when the test ends early (an assertion failed).
struct ChildGuard {
  Pid pid = 0;
  ~ChildGuard() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
  std::optional<ExitStatus> reap(Nanos timeout = kLong) {
    const Pid p = std::exchange(pid, 0);
    return reap_pid(p, timeout);
  }
};

// fd -> readlink target, for this process.
std::map<int, std::string> open_fds() {
  std::map<int, std::string> out;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return out;
  const int self = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd == self) continue;
    char target[512] = {};
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    out[fd] = n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?";
  }
  ::closedir(d);
  return out;
}

std::string status_field(const std::string& name) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      std::string v = line.substr(name.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "?";
}

class RealOs : public ::testing::Test {
 protected:
  void TearDown() override { ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); }

  os::ChildSpec child(std::vector<Fd> keep, std::function<int(os::Os&)> main) {
    os::ChildSpec spec;
    spec.title = "zygote-real: test child";
    spec.keep_fds = std::move(keep);
    spec.main = std::move(main);
    return spec;
  }

  std::pair<Fd, Fd> pair(os::ChannelKind kind = os::ChannelKind::seqpacket) {
    auto r = os.socketpair(kind);
    EXPECT_TRUE(r.ok()) << r.error;
    return r.value;
  }

  LinuxOs os;
};

// ---------------------------------------------------------------------------------------------
// spawn

TEST_F(RealOs, SpawnedChildKeepsExactlyTheAllowlistedDescriptors) {
  auto [report, report_child] = pair();
  auto [extra_a, extra_b] = pair();  // not kept
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);  // not kept
  os::PollFd warm[] = {{extra_a, ev::in, 0}};
  // The parent's Asio state holds registrations when it forks; what is ready does not matter.
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
  // No other socket or pipe of the parent's (its Asio pipe included) reached the child.
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
                                   }});
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

// ---------------------------------------------------------------------------------------------
// poll

TEST_F(RealOs, PollReportsReadinessHangupAndTimeout) {
  auto [a, b] = pair();
  PollFd both[] = {{a, static_cast<short>(ev::in | ev::out), 0}};
  auto r = os.poll(both, Nanos{0});
  EXPECT_EQ(r.value, 1);
  EXPECT_EQ(both[0].revents, ev::out);

  PollFd in[] = {{a, ev::in, 0}};
  const Nanos t0 = clock_now();
  r = os.poll(in, 50ms);
  const Nanos waited = clock_now() - t0;
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.value, 0);
  EXPECT_GE(waited, 50ms);
  EXPECT_LT(waited, 2s);

  say(os, b, "x");
  r = os.poll(in, kLong);
  EXPECT_EQ(r.value, 1);
  EXPECT_EQ(in[0].revents, ev::in);
  EXPECT_EQ(hear(os, a), "x");

  // Data that arrives while poll waits (from a child, when told) wakes it.
  auto [ctl, ctl_child] = pair();
  auto kid = os.spawn(child({ctl_child, b}, [ctl_child, b = b](os::Os& c) {
    if (!hear(c, ctl_child).has_value()) return 1;
    timespec pause{0, 20'000'000};
    ::nanosleep(&pause, nullptr);  // only so that the parent is likely already waiting
    say(c, b, "late");
    return 0;
  }));
  ASSERT_TRUE(kid.ok());
  ChildGuard g{kid.value};
  os.close(ctl_child);
  say(os, ctl, "go");
  in[0].revents = 0;
  const Nanos t1 = clock_now();
  r = os.poll(in, kLong);
  // Woken by the data, not by the timeout: the child's teardown of the Asio state it inherited
  // must not have touched the parent's epoll registrations.
  EXPECT_LT(clock_now() - t1, 5s);
  EXPECT_EQ(r.value, 1);
  EXPECT_EQ(in[0].revents, ev::in);
  EXPECT_EQ(hear(os, a), "late");
  EXPECT_EQ(g.reap(), ExitStatus::exited(0));

  // The peer closes: hangup (with in: end of file is readable).
  os.close(b);
  r = os.poll(in, kLong);
  EXPECT_EQ(r.value, 1);
  EXPECT_NE(in[0].revents & ev::hangup, 0);

  // Invalid descriptors: POLLNVAL, like poll(2) for a closed one (and for -1, like the
  // simulator).
  const int closed = ::dup(a);
  ::close(closed);
  PollFd bad[] = {{-1, ev::in, 0}, {closed, ev::in, 0}};
  r = os.poll(bad, kLong);
  EXPECT_EQ(r.value, 2);
  EXPECT_EQ(bad[0].revents, POLLNVAL);
  EXPECT_EQ(bad[1].revents, POLLNVAL);
  os.close(a);
  os.close(ctl);
}

TEST_F(RealOs, PollSurvivesDescriptorNumberReuse) {
  auto [a, b] = pair();
  PollFd in[] = {{a, ev::in, 0}};
  EXPECT_EQ(os.poll(in, Nanos{0}).value, 0);  // a is registered with Asio now
  ::close(a);                                 // behind the Os's back
  ::close(b);
  auto [c, d] = pair();  // likely reuses the numbers
  say(os, d, "y");
  PollFd in_c[] = {{c, ev::in, 0}};
  EXPECT_EQ(os.poll(in_c, kLong).value, 1);
  EXPECT_EQ(hear(os, c), "y");
  // And a wait (not just the immediate check) on the reused number works.
  PollFd wait_c[] = {{c, ev::in, 0}};
  EXPECT_EQ(os.poll(wait_c, 30ms).value, 0);
  os.close(c);
  os.close(d);
}

// ---------------------------------------------------------------------------------------------
// channels

TEST_F(RealOs, SeqpacketEndOfFileAndBrokenPipe) {
  auto [a, b] = pair();
  say(os, b, "last");
  os.close(b);
  EXPECT_EQ(hear(os, a), "last");
  std::byte buf[16];
  auto r = os.recv_message(a, buf, nullptr);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.value, 0u);  // end of file
  EXPECT_EQ(os.send_message(a, bytes_of("x"), {}).error, err::pipe);
  EXPECT_EQ(os.write(a, bytes_of("x")).error, err::pipe);  // and no SIGPIPE
  os.close(a);

  auto [c, d] = pair();
  std::string big(1 << 20, 'z');
  EXPECT_EQ(os.send_message(c, bytes_of(big), {}).error, err::msgsize);
  EXPECT_EQ(os.recv_message(c, buf, nullptr).error, err::again);  // nothing queued
  os.close(c);
  os.close(d);

  auto [e, f] = pair(os::ChannelKind::datagram);
  say(os, f, "dgram");
  EXPECT_EQ(hear(os, e), "dgram");
  os.close(e);
  EXPECT_EQ(os.send_message(f, bytes_of("x"), {}).error, err::pipe);
  os.close(f);
}

TEST_F(RealOs, ChildrenListsUnreapedChildrenZombiesIncluded) {
  auto before = os.children();
  ASSERT_TRUE(before.ok()) << before.error;
  auto a = os.spawn(child({}, [](os::Os&) { return 0; }));
  ASSERT_TRUE(a.ok());
  ChildGuard g{a.value};
  ASSERT_TRUE(exited_within(a.value, kLong));  // a zombie now
  auto listed = os.children();
  ASSERT_TRUE(listed.ok());
  EXPECT_NE(std::find(listed.value.begin(), listed.value.end(), a.value), listed.value.end());
  EXPECT_TRUE(std::is_sorted(listed.value.begin(), listed.value.end()));
  EXPECT_EQ(g.reap(), ExitStatus::exited(0));
  listed = os.children();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(std::find(listed.value.begin(), listed.value.end(), a.value), listed.value.end());
}

TEST_F(RealOs, UseHugePagesBacksAnonymousMemoryWhereTheKernelAllows) {
  std::ifstream mode_file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  std::getline(mode_file, mode);
  if (mode.empty() || mode.find("[never]") != std::string::npos) {
    GTEST_SKIP() << "transparent huge pages are off here: " << mode;
  }
  // In a child, so the test process's own memory is left as it was. What is certain is that the
  // mapping is marked for huge pages ("hg" in its VmFlags); how much the kernel backs at once
  // depends on free memory, so the bytes returned are only reported.
  auto [report, report_child] = pair();
  auto p = os.spawn(child({report_child}, [fd = report_child](os::Os& c) {
    constexpr std::size_t kSize = 16u << 20;
    void* m = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return 2;
    std::memset(m, 1, kSize);
    const std::uint64_t backed = c.use_huge_pages();
    // The smaps entry of the mapping: its VmFlags line.
    char start[32];
    std::snprintf(start, sizeof start, "%lx-", reinterpret_cast<unsigned long>(m));
    std::ifstream smaps("/proc/self/smaps");
    bool in_mapping = false;
    std::string flags;
    for (std::string line; std::getline(smaps, line);) {
      if (line.rfind(start, 0) == 0) in_mapping = true;
      if (in_mapping && line.rfind("VmFlags:", 0) == 0) {
        flags = line;
        break;
      }
    }
    say(c, fd, flags + "|" + std::to_string(backed));
    return 0;
  }));
  ASSERT_TRUE(p.ok());
  ChildGuard g{p.value};
  os.close(report_child);
  const auto got = hear(os, report);
  os.close(report);
  EXPECT_EQ(g.reap(), ExitStatus::exited(0));
  ASSERT_TRUE(got.has_value());
  EXPECT_NE(got->find(" hg"), std::string::npos) << "not marked for huge pages: " << *got;
  std::cout << "huge pages backed at once (bytes): " << got->substr(got->find('|') + 1) << "\n";
}

TEST_F(RealOs, WritingToAPipeWithoutReaderIsEpipeNotDeath) {
  // In a child, whose LinuxOs is fresh (fork hygiene reset every disposition to the default).
  auto p = os.spawn(child({}, [](os::Os& c) {
    int fds[2];
    if (::pipe(fds) != 0) return 2;
    ::close(fds[0]);
    const int error = c.write(fds[1], bytes_of("x")).error;
    return error == err::pipe ? 0 : 1;
  }));
  ASSERT_TRUE(p.ok());
  ChildGuard g{p.value};
  EXPECT_EQ(g.reap(), ExitStatus::exited(0)) << "SIGPIPE would show as killed_by(13)";
}

TEST_F(RealOs, ScmRightsPassesAWorkingDescriptor) {
  auto [a, b] = pair();
  auto [p, q] = pair();
  const Fd pass[] = {p};
  auto s = os.send_message(a, bytes_of("here"), pass);
  ASSERT_TRUE(s.ok()) << s.error;
  os.close(p);
  std::vector<Fd> got;
  EXPECT_EQ(hear(os, b, kLong, &got), "here");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(::fcntl(got[0], F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(got[0], F_GETFL) & O_NONBLOCK, 0);
  say(os, got[0], "through");
  EXPECT_EQ(hear(os, q), "through");
  for (Fd fd : {a, b, q, got[0]}) os.close(fd);
}

TEST_F(RealOs, SocketpairsAreNonBlockingAndCloseOnExec) {
  for (auto kind : {os::ChannelKind::seqpacket, os::ChannelKind::datagram}) {
    auto [a, b] = pair(kind);
    for (Fd fd : {a, b}) {
      EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
      EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    }
    int type = 0;
    socklen_t len = sizeof type;
    ::getsockopt(a, SOL_SOCKET, SO_TYPE, &type, &len);
    EXPECT_EQ(type, kind == os::ChannelKind::seqpacket ? SOCK_SEQPACKET : SOCK_DGRAM);
    os.close(a);
    os.close(b);
  }
}

// ---------------------------------------------------------------------------------------------
// listening

void accept_one(LinuxOs& os, Fd listener, int family, const sockaddr* to, socklen_t len) {
  EXPECT_EQ(os.accept(listener).error, err::again);
  const int client = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  ASSERT_EQ(::connect(client, to, len), 0) << errno;
  PollFd in[] = {{listener, ev::in, 0}};
  ASSERT_EQ(os.poll(in, kLong).value, 1);
  auto conn = os.accept(listener);
  ASSERT_TRUE(conn.ok()) << conn.error;
  EXPECT_NE(::fcntl(conn.value, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(conn.value, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(os.write(conn.value, bytes_of("hi")).value, 2u);
  char buf[4] = {};
  EXPECT_EQ(::recv(client, buf, sizeof buf, 0), 2);
  EXPECT_EQ(std::string(buf, 2), "hi");
  EXPECT_EQ(os.accept(listener).error, err::again);
  ::close(client);
  os.close(conn.value);
}

TEST_F(RealOs, ListensOnLoopbackAndAccepts) {
  auto l = os.listen(os::Endpoint{"127.0.0.1", 0, ""}, 16);
  ASSERT_TRUE(l.ok()) << l.error;
  const auto port = local_port(l.value);
  ASSERT_TRUE(port.has_value());
  ASSERT_NE(*port, 0);
  EXPECT_NE(::fcntl(l.value, F_GETFL) & O_NONBLOCK, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(*port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  accept_one(os, l.value, AF_INET, reinterpret_cast<sockaddr*>(&to), sizeof to);
  // The port is taken while we listen.
  EXPECT_EQ(os.listen(os::Endpoint{"127.0.0.1", *port, ""}, 16).error, err::addrinuse);
  os.close(l.value);
  EXPECT_EQ(os.listen(os::Endpoint{"localhost", 0, ""}, 16).error, err::inval);
}

TEST_F(RealOs, ListensOnIpv6Loopback) {
  auto l = os.listen(os::Endpoint{"::1", 0, ""}, 16);
  if (!l.ok()) GTEST_SKIP() << "no IPv6 loopback here (errno " << l.error << ")";
  const auto port = local_port(l.value);
  ASSERT_TRUE(port.has_value());
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_port = htons(*port);
  to.sin6_addr = in6addr_loopback;
  accept_one(os, l.value, AF_INET6, reinterpret_cast<sockaddr*>(&to), sizeof to);
  os.close(l.value);
}

TEST_F(RealOs, UnixListenerReplacesOnlyAStaleSocket) {
  char dir_template[] = "/tmp/zygote-real-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/http.sock";
  os::Endpoint where;
  where.unix_path = path;
  auto first = os.listen(where, 8);
  ASSERT_TRUE(first.ok()) << first.error;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);
  EXPECT_EQ(os.listen(where, 8).error, err::addrinuse);  // live: left alone
  os.close(first.value);                                 // the file stays, stale
  auto second = os.listen(where, 8);
  ASSERT_TRUE(second.ok()) << second.error;
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::memcpy(to.sun_path, path.c_str(), path.size() + 1);
  accept_one(os, second.value, AF_UNIX, reinterpret_cast<sockaddr*>(&to), sizeof to);
  os.close(second.value);
  ::unlink(path.c_str());
  const std::string plain = std::string(dir_template) + "/not-a-socket";
  std::ofstream(plain) << "x";
  where.unix_path = plain;
  EXPECT_EQ(os.listen(where, 8).error, err::addrinuse);  // never removes another kind of file
  std::filesystem::remove_all(dir_template);
}

// ---------------------------------------------------------------------------------------------
// files and self-inspection

TEST_F(RealOs, WriteFileReplacesAtomicallyAndRealpathFollowsSymlinks) {
  char dir_template[] = "/tmp/zygote-real-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string state = dir + "/last-good";
  EXPECT_EQ(os.read_file(state).error, ENOENT);
  EXPECT_EQ(os.write_file(state, "releases/A"), 0);
  EXPECT_EQ(os.read_file(state).value, "releases/A");
  struct stat before {};
  ::stat(state.c_str(), &before);
  EXPECT_EQ(os.write_file(state, "releases/B\n"), 0);
  EXPECT_EQ(os.read_file(state).value, "releases/B\n");
  struct stat after {};
  ::stat(state.c_str(), &after);
  EXPECT_NE(before.st_ino, after.st_ino);  // replaced by rename, not rewritten in place
  EXPECT_FALSE(std::filesystem::exists(state + ".tmp"));
  EXPECT_EQ(os.write_file(dir + "/missing-dir/x", "y"), ENOENT);

  std::filesystem::create_directories(dir + "/releases/B");
  std::filesystem::create_directory_symlink("releases/B", dir + "/current");
  auto r = os.realpath(dir + "/current");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, std::filesystem::canonical(dir + "/releases/B").string());
  EXPECT_EQ(os.realpath(dir + "/nothing").error, ENOENT);

  const std::string big = dir + "/big";
  std::ofstream(big) << std::string(70 * 1024, 'x');
  EXPECT_EQ(os.read_file(big).error, EFBIG);
  std::filesystem::remove_all(dir);
}

TEST_F(RealOs, UsageAndClock) {
  const Nanos t0 = os.now();
  volatile std::uint64_t spin = 0;
  const Nanos deadline = clock_now() + 2s;
  while (os.usage().cpu == Nanos{0} && clock_now() < deadline) spin = spin + 1;
  const os::Usage u = os.usage();
  EXPECT_GT(u.cpu, Nanos{0});
  EXPECT_GT(u.rss_bytes, 1u << 20);
  EXPECT_GE(os.now(), t0);
  EXPECT_EQ(os.getpid(), ::getpid());
  EXPECT_EQ(os.getppid(), ::getppid());
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
}  // namespace zyg::real
