// The simulated kernel's semantics, each checked with small programs running as fibers. Programs
// record what they observe; assertions run outside the fibers, after the run.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "sim/kernel.hpp"

namespace zyg::sim {
namespace {

using os::Signal;

Kernel::Config small(Pid pid_max = 16) {
  Kernel::Config c;
  c.seed = 7;
  c.pid_max = pid_max;
  return c;
}

// What a wait reports does not matter to these tests: only the time passing, or the wake-up.
void poll_quietly(os::Os& os, std::span<os::PollFd> fds, Nanos timeout) {
  static_cast<void>(os.poll(fds, timeout));
}
void pause_for(os::Os& os, Nanos d) { poll_quietly(os, {}, d); }

// A child whose pid the test does not need.
void spawn_quietly(os::Os& os, os::ChildSpec spec) { static_cast<void>(os.spawn(std::move(spec))); }

os::ChildSpec program(std::function<int(os::Os&)> main, std::vector<os::Fd> keep = {}) {
  os::ChildSpec s;
  s.title = "test";
  s.main = std::move(main);
  s.keep_fds = std::move(keep);
  return s;
}

// Waits for one child to be reaped, polling as a loop would (signals wake the poll).
os::Reaped reap_one(os::Os& os) {
  for (;;) {
    auto r = os.reap();
    if (r.ok() && r.value) return *r.value;
    pause_for(os, 10ms);
  }
}

TEST(Kernel, PidsAreReusedFromASmallSpace) {
  Kernel k(small(8));
  std::vector<Pid> pids;
  k.spawn_root(program([&](os::Os& os) {
                 for (int i = 0; i < 20; ++i) {
                   auto pid = os.spawn(program([](os::Os&) { return 0; }));
                   EXPECT_TRUE(pid.ok());
                   pids.push_back(pid.value);
                   reap_one(os);
                 }
                 return 0;
               }),
               1);
  k.run_until(10s);
  ASSERT_EQ(pids.size(), 20u);
  std::set<Pid> distinct(pids.begin(), pids.end());
  EXPECT_LT(distinct.size(), pids.size()) << "a pid was reused";
  for (Pid p : pids) EXPECT_LE(p, 8);
}

TEST(Kernel, ZombieHoldsItsPidUntilReaped) {
  Kernel k(small(4));  // pids 2..4: the parent and at most two children
  std::vector<int> errors;
  k.spawn_root(program([&](os::Os& os) {
                 spawn_quietly(os, program([](os::Os&) { return 3; }));
                 spawn_quietly(os, program([](os::Os&) { return 4; }));
                 pause_for(os, 1s);  // both children are zombies now
                 auto third = os.spawn(program([](os::Os&) { return 0; }));
                 errors.push_back(third.error);  // no pid left
                 auto a = reap_one(os);
                 auto b = reap_one(os);
                 errors.push_back(a.status.code + b.status.code);
                 auto none = os.reap();
                 errors.push_back(none.error);
                 return 0;
               }),
               1);
  k.run_until(10s);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], os::err::again);
  EXPECT_EQ(errors[1], 7);
  EXPECT_EQ(errors[2], os::err::child);
}

TEST(Kernel, ChildExitSignalsCoalesce) {
  Kernel k(small());
  int chld_seen = 0;
  int reaped = 0;
  k.spawn_root(program([&](os::Os& os) {
                 const Signal caught[] = {Signal::child};
                 os.catch_signals(caught);
                 for (int i = 0; i < 3; ++i) spawn_quietly(os, program([](os::Os&) { return 0; }));
                 spawn_quietly(os, program([](os::Os& c) {
                                 pause_for(c, 5s);
                                 return 0;
                               }));
                 // Sleep through three exits without taking signals: one pending SIGCHLD.
                 k.sys_sleep(1s);
                 for (Signal s : os.take_signals()) chld_seen += s == Signal::child ? 1 : 0;
                 for (;;) {
                   auto r = os.reap();
                   if (!r.ok() || !r.value) break;
                   ++reaped;
                 }
                 return 0;
               }),
               1);
  k.run_until(2s);
  EXPECT_EQ(chld_seen, 1) << "three exits, one pending signal";
  EXPECT_EQ(reaped, 3) << "the reap loop finds every zombie";
}

TEST(Kernel, TermCaughtIgnoredOrFatal_KillAlwaysFatal) {
  Kernel k(small());
  std::vector<std::string> seen;
  k.spawn_root(program([&](os::Os& os) {
                 auto catcher = os.spawn(program([&](os::Os& c) {
                   const Signal caught[] = {Signal::term};
                   c.catch_signals(caught);
                   auto r = c.poll({}, 10s);
                   seen.push_back(r.error == os::err::intr ? "interrupted" : "timeout");
                   for (Signal s : c.take_signals()) seen.push_back(os::to_string(s));
                   return 0;
                 }));
                 auto ignorer = os.spawn(program([](os::Os& c) {
                   c.ignore_signal(Signal::term);
                   pause_for(c, 2s);
                   return 5;
                 }));
                 auto plain = os.spawn(program([](os::Os& c) {
                   pause_for(c, 10s);
                   return 0;
                 }));
                 pause_for(os, 100ms);
                 os.kill(catcher.value, Signal::term);
                 os.kill(ignorer.value, Signal::term);
                 os.kill(plain.value, Signal::term);
                 EXPECT_EQ(os.catch_signals(std::vector<Signal>{Signal::kill}), os::err::inval);
                 for (int i = 0; i < 3; ++i) {
                   os::Reaped r = reap_one(os);
                   seen.push_back("pid " + std::string(r.pid == plain.value ? "plain" : "other") +
                                  " " + to_string(r.status));
                 }
                 return 0;
               }),
               1);
  k.run_until(10s);
  ASSERT_EQ(seen.size(), 5u);
  auto it = std::find(seen.begin(), seen.end(), "interrupted");
  ASSERT_NE(it, seen.end()) << "the caught SIGTERM interrupts poll";
  ASSERT_NE(it + 1, seen.end());
  EXPECT_EQ(*(it + 1), "SIGTERM") << "and is taken once";
  EXPECT_NE(std::find(seen.begin(), seen.end(), "pid plain killed by signal 15"), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), "pid other exit code 5"), seen.end())
      << "the ignoring child exits on its own";
}

TEST(Kernel, StoppedProcessRunsOnlyAfterContinue) {
  Kernel k(small());
  Nanos finished{-1};
  Pid child = 0;
  k.spawn_root(program([&](os::Os& os) {
                 child = os.spawn(program([&](os::Os& c) {
                             pause_for(c, 1s);
                             finished = c.now();
                             return 0;
                           }))
                             .value;
                 k.sys_sleep(10s);
                 return 0;
               }),
               1);
  k.run_until(100ms);
  k.external_kill(child, Signal::stop);
  k.run_until(5s);
  EXPECT_LT(finished.count(), 0) << "a stopped process does not run";
  k.external_kill(child, Signal::cont);
  k.run_until(6s);
  EXPECT_GE(finished, 5s);
}

// As over real fork, where the child keeps every signal blocked until its setup is done: a
// signal sent before a process first runs waits for that first run, then acts by default (it has
// no handler yet). SIGKILL acts at once.
TEST(Kernel, ASignalBeforeTheFirstRunActsThenByDefault) {
  struct Exits : KernelListener {
    std::map<Pid, std::pair<Nanos, std::string>> seen;
    Kernel* k = nullptr;
    void on_process_exited(const Process& p) override {
      seen[p.pid] = {k->now(), to_string(p.status)};
    }
  } exits;
  Kernel k(small());
  exits.k = &k;
  k.set_listener(&exits);
  bool ran = false;
  const Pid termed = k.spawn_root(program([&](os::Os&) {
                                    ran = true;
                                    return 0;
                                  }),
                                  1);
  const Pid killed = k.spawn_root(program([](os::Os&) { return 0; }), 1);
  ASSERT_EQ(k.external_kill(termed, Signal::term), 0);
  ASSERT_EQ(k.external_kill(killed, Signal::kill), 0);
  EXPECT_EQ(exits.seen.count(termed), 0u) << "SIGTERM waits for the first run";
  ASSERT_EQ(exits.seen.count(killed), 1u) << "SIGKILL acts at once";
  EXPECT_EQ(exits.seen[killed].second, "killed by signal 9");
  k.run_until(1s);
  ASSERT_EQ(exits.seen.count(termed), 1u);
  EXPECT_EQ(exits.seen[termed].second, "killed by signal 15");
  EXPECT_GT(exits.seen[termed].first, Nanos{0}) << "at its first run, after the signal";
  EXPECT_FALSE(ran) << "its program never ran: the default action came first";
}

TEST(Kernel, ParentDeathSignalAndSubreaper) {
  Kernel k(small());
  std::vector<std::string> seen;
  k.spawn_root(program([&](os::Os& os) {
                 os.become_subreaper();
                 const Signal caught[] = {Signal::child};
                 os.catch_signals(caught);
                 auto middle = os.spawn(program([&](os::Os& m) {
                   os::ChildSpec g = program([&](os::Os& c) {
                     const Signal t[] = {Signal::term};
                     c.catch_signals(t);
                     pause_for(c, 10s);
                     for (Signal s : c.take_signals())
                       seen.push_back(std::string("grandchild got ") + os::to_string(s));
                     seen.push_back("grandchild parent is now " + std::to_string(c.getppid()));
                     return 0;
                   });
                   g.parent_death_signal = Signal::term;
                   spawn_quietly(m, std::move(g));
                   pause_for(m, 1s);
                   return 0;  // dies, orphaning its child
                 }));
                 reap_one(os);                 // the middle process
                 os::Reaped r = reap_one(os);  // the orphan, adopted by us
                 seen.push_back("adopted exit " + to_string(r.status));
                 seen.push_back("me " + std::to_string(os.getpid()));
                 (void)middle;
                 return 0;
               }),
               1);
  k.run_until(10s);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0], "grandchild got SIGTERM");
  EXPECT_EQ(seen[1], "grandchild parent is now " + seen[3].substr(3));
  EXPECT_EQ(seen[2], "adopted exit exit code 0");
}

TEST(Kernel, ChildKeepsOnlyAllowlistedDescriptors) {
  Kernel k(small());
  std::vector<int> results;
  k.spawn_root(
      program([&](os::Os& os) {
        auto kept = os.socketpair(os::ChannelKind::seqpacket).value;
        auto other = os.socketpair(os::ChannelKind::seqpacket).value;
        spawn_quietly(
            os,
            program(
                [&, kept, other](os::Os& c) {
                  const std::byte b[1] = {std::byte{1}};
                  results.push_back(static_cast<int>(c.send_message(kept.second, b, {}).error));
                  results.push_back(static_cast<int>(c.send_message(other.second, b, {}).error));
                  return 0;
                },
                {kept.second}));
        reap_one(os);
        return 0;
      }),
      1);
  k.run_until(5s);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0], 0);
  EXPECT_EQ(results[1], os::err::badf);
}

TEST(Kernel, SeqpacketSeesEndOfFileWhenEveryHolderCloses) {
  Kernel k(small());
  std::vector<std::string> seen;
  k.spawn_root(program([&](os::Os& os) {
                 auto [a, b] = os.socketpair(os::ChannelKind::seqpacket).value;
                 spawn_quietly(os, program([](os::Os&) { return 0; }, {b}));  // holds b, then exits
                 os.close(b);
                 os::PollFd fds[] = {{a, os::ev::in, 0}};
                 poll_quietly(os, fds, 5s);
                 seen.push_back((fds[0].revents & os::ev::hangup) ? "hangup" : "none");
                 std::byte buf[8];
                 auto r = os.recv_message(a, buf, nullptr);
                 seen.push_back(r.ok() && r.value == 0 ? "eof" : "data or error");
                 auto s = os.send_message(a, std::span<const std::byte>(buf, 1), {});
                 seen.push_back(s.error == os::err::pipe ? "epipe" : "sent");
                 return 0;
               }),
               1);
  k.run_until(5s);
  EXPECT_EQ(seen, (std::vector<std::string>{"hangup", "eof", "epipe"}));
}

TEST(Kernel, AcceptQueueIsBoundedAndOutlivesTheAcceptors) {
  Kernel k(small());
  os::Fd listener = -1;
  std::vector<os::Fd> accepted;
  k.spawn_root(program([&](os::Os& os) {
                 listener = os.listen({}, 2).value;
                 pause_for(os, 1s);  // nobody accepts yet: connections queue
                 // A new process inherits the socket and takes what waited.
                 spawn_quietly(os, program(
                                       [&](os::Os& c) {
                                         for (;;) {
                                           auto r = c.accept(listener);
                                           if (!r.ok()) break;
                                           accepted.push_back(r.value);
                                         }
                                         return 0;
                                       },
                                       {listener}));
                 pause_for(os, 10s);
                 return 0;
               }),
               1);
  k.run_until(100ms);
  EXPECT_EQ(k.client_connect(1), Kernel::ConnectResult::ok);
  EXPECT_EQ(k.client_connect(2), Kernel::ConnectResult::ok);
  EXPECT_EQ(k.client_connect(3), Kernel::ConnectResult::overflow) << "backlog of 2";
  k.run_until(3s);
  EXPECT_EQ(accepted.size(), 2u) << "the queue survived until someone accepted";
}

TEST(Kernel, ShuttingDownAListenerResetsWhatIsQueuedForEveryHolder) {
  Kernel k(small());
  k.spawn_root(program([&](os::Os& os) {
                 auto l = os.listen({}, 8).value;
                 pause_for(os, 1s);
                 os.shutdown(l, os::ShutdownHow::read);
                 pause_for(os, 10s);
                 return 0;
               }),
               1);
  k.run_until(100ms);
  ASSERT_EQ(k.client_connect(1), Kernel::ConnectResult::ok);
  k.run_until(2s);
  ASSERT_NE(k.connection(1), nullptr);
  EXPECT_TRUE(k.connection(1)->reset);
  EXPECT_EQ(k.client_connect(2), Kernel::ConnectResult::refused);
}

TEST(Kernel, ClosingWithUnreadDataResets) {
  Kernel k(small());
  k.spawn_root(program([&](os::Os& os) {
                 auto l = os.listen({}, 8).value;
                 os::PollFd fds[] = {{l, os::ev::in, 0}};
                 poll_quietly(os, fds, 5s);
                 auto c = os.accept(l).value;
                 os::PollFd cf[] = {{c, os::ev::in, 0}};
                 poll_quietly(os, cf, 5s);
                 os.close(c);  // the request was never read
                 pause_for(os, 10s);
                 return 0;
               }),
               1);
  k.run_until(100ms);
  ASSERT_EQ(k.client_connect(1), Kernel::ConnectResult::ok);
  k.client_send(1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  k.run_until(3s);
  EXPECT_TRUE(k.connection(1)->reset);
  EXPECT_EQ(k.connection(1)->consumed, 0u);
}

TEST(Kernel, SendFileWritesASpanOfAMemoryFileAndLeavesItsPosition) {
  Kernel k(small());
  std::vector<std::size_t> sent;
  std::vector<int> errors;
  std::string read_back;
  k.spawn_root(program([&](os::Os& os) {
                 const std::string contents = "0123456789";
                 auto file = os.memory_file(std::as_bytes(std::span(contents))).value;
                 auto l = os.listen({}, 8).value;
                 os::PollFd fds[] = {{l, os::ev::in, 0}};
                 poll_quietly(os, fds, 5s);
                 auto c = os.accept(l).value;
                 sent.push_back(os.send_file(c, file, 3, 4).value);
                 sent.push_back(os.send_file(c, file, 8, 100).value);   // what is left
                 sent.push_back(os.send_file(c, file, 10, 100).value);  // the end: 0
                 errors.push_back(os.send_file(c, l, 0, 1).error);      // not a file
                 errors.push_back(os.send_file(c, 99, 0, 1).error);
                 char buf[4];
                 auto r = os.read(file, std::as_writable_bytes(std::span<char>(buf)));
                 read_back.assign(buf, r.value);
                 pause_for(os, 10s);
                 return 0;
               }),
               1);
  k.run_until(100ms);
  ASSERT_EQ(k.client_connect(1), Kernel::ConnectResult::ok);
  k.run_until(3s);
  EXPECT_EQ(sent, (std::vector<std::size_t>{4, 2, 0}));
  EXPECT_EQ(errors, (std::vector<int>{os::err::inval, os::err::badf}));
  EXPECT_EQ(k.connection(1)->to_client, "345689");
  EXPECT_EQ(read_back, "0123") << "the file's own position did not move";
}

TEST(Kernel, ASpoolFileIsWrittenInOrderAndReadAtAnyOffset) {
  Kernel k(small());
  std::string read;
  std::vector<int> errors;
  k.spawn_root(program([&](os::Os& os) {
                 errors.push_back(os.spool_file("").error);
                 auto f = os.spool_file("/var/tmp").value;
                 const std::string a = "hello ", b = "world";
                 static_cast<void>(os.write(f, std::as_bytes(std::span(a))));
                 static_cast<void>(os.write(f, std::as_bytes(std::span(b))));
                 char buf[16];
                 auto r = os.read_at(f, 3, std::as_writable_bytes(std::span<char>(buf)));
                 read.assign(buf, r.value);
                 errors.push_back(static_cast<int>(
                     os.read_at(f, 11, std::as_writable_bytes(std::span<char>(buf))).value));
                 return 0;
               }),
               1);
  k.run_until(1s);
  EXPECT_EQ(read, "lo world");
  EXPECT_EQ(errors, (std::vector<int>{os::err::inval, 0}));
}

TEST(Kernel, APollingSpinIsKilledAsALivelock) {
  Kernel k(small());
  struct Watch : KernelListener {
    int livelocks = 0;
    void on_livelock(const Process&) override { ++livelocks; }
  } watch;
  k.set_listener(&watch);
  k.spawn_root(program([](os::Os& os) {
                 for (int i = 0; i < 10'000'000; ++i) pause_for(os, Nanos{0});  // never blocks
                 return 0;
               }),
               1);
  k.run_until(1s);
  EXPECT_EQ(watch.livelocks, 1);
}

}  // namespace
}  // namespace zyg::sim
