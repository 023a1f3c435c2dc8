// LinuxOs against the real kernel: poll, channels, descriptor passing, listening sockets.
#include "real/tests/os_linux_test_support.hpp"

namespace zyg::real::os_test {
namespace {

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
  // Woken by the data, not by the timeout: the child's teardown of the signal state it
  // inherited must not have touched the parent's wake pipe or its waits.
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
  EXPECT_EQ(os.poll(in, Nanos{0}).value, 0);  // a has been waited on
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

TEST_F(RealOs, SendFileSendsASpanAndLeavesThePositionAlone) {
  std::string contents;
  for (int i = 0; i < 1000; ++i) contents += "0123456789";
  auto file = os.memory_file(bytes_of(contents));
  ASSERT_TRUE(file.ok()) << file.error;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  auto sent = os.send_file(sv[0], file.value, 3, 4);
  ASSERT_TRUE(sent.ok()) << sent.error;
  EXPECT_EQ(sent.value, 4u);
  char buf[16];
  ASSERT_EQ(::read(sv[1], buf, sizeof buf), 4);
  EXPECT_EQ(std::string(buf, 4), "3456");
  // Past the end: what is left, then 0 at the end.
  sent = os.send_file(sv[0], file.value, contents.size() - 2, 100);
  EXPECT_EQ(sent.value, 2u);
  ASSERT_EQ(::read(sv[1], buf, sizeof buf), 2);
  EXPECT_EQ(std::string(buf, 2), "89");
  EXPECT_EQ(os.send_file(sv[0], file.value, contents.size(), 100).value, 0u);
  // The file's own position never moved.
  auto read = os.read(file.value, std::as_writable_bytes(std::span<char>(buf, 5)));
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(std::string(buf, read.value), "01234");
  // A full socket is EAGAIN, as write() says it; a closed peer is EPIPE, not SIGPIPE.
  os::Result<std::size_t> r{0, 0};
  for (int i = 0; i < 10000 && r.ok(); ++i) r = os.send_file(sv[0], file.value, 0, contents.size());
  EXPECT_EQ(r.error, err::again);
  ::close(sv[1]);
  EXPECT_EQ(os.send_file(sv[0], file.value, 0, 10).error, err::pipe);
  EXPECT_EQ(os.send_file(sv[0], -1, 0, 10).error, err::badf);
  ::close(sv[0]);
  os.close(file.value);
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
  if (family != AF_UNIX) {  // no Nagle delay on a response (a pipelined client's delayed ACK)
    int nodelay = 0;
    socklen_t size = sizeof nodelay;
    ASSERT_EQ(::getsockopt(conn.value, IPPROTO_TCP, TCP_NODELAY, &nodelay, &size), 0) << errno;
    EXPECT_NE(nodelay, 0);
  }
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

}  // namespace
}  // namespace zyg::real::os_test
