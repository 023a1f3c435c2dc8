// What the LinuxOs tests share: bounded waits, reaping by pid, descriptor and status listings,
// and the RealOs fixture (one LinuxOs per test process). Every wait is bounded; processes
// synchronize through socketpairs and pidfds, and every process a test starts is reaped by pid
// before it ends.
#pragma once

#include "real/os_linux.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

namespace zyg::real::os_test {

using os::Fd;
using os::PollFd;
using os::Signal;
namespace ev = os::ev;
namespace err = os::err;

inline constexpr Nanos kLong = 10s;  // the bound on anything that should happen at once

inline std::span<const std::byte> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// A monotonic clock independent of the Os under test.
inline Nanos clock_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return Nanos{static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec};
}

inline int ms_until(Nanos deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count() + 1));
}

// Waits (plain poll(2), so the Os's signal state is left alone) until fd is readable.
inline bool readable_within(Fd fd, Nanos timeout) {
  const Nanos deadline = clock_now() + timeout;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, ms_until(deadline));
    if (rc > 0) return true;
    if (rc == 0 || (rc < 0 && errno != EINTR)) return false;
  }
}

// One message from fd within `timeout`: nullopt on timeout, "" at end of file.
inline std::optional<std::string> hear(os::Os& o, Fd fd, Nanos timeout = kLong,
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
inline void say(os::Os& o, Fd fd, const std::string& s) {
  static_cast<void>(o.send_message(fd, bytes_of(s), {}));
}

inline bool exited_within(Pid pid, Nanos timeout) {
  const int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pfd < 0) return false;
  const bool ok = readable_within(pfd, timeout);
  ::close(pfd);
  return ok;
}

inline ExitStatus decode(int st) {
  return WIFSIGNALED(st) ? ExitStatus::killed_by(WTERMSIG(st))
                         : ExitStatus::exited(WEXITSTATUS(st));
}

// Reaps `pid` by pid. A process still running after `timeout` is killed first (nullopt).
inline std::optional<ExitStatus> reap_pid(Pid pid, Nanos timeout = kLong) {
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
inline std::map<int, std::string> open_fds() {
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

inline std::string status_field(const std::string& name) {
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

}  // namespace zyg::real::os_test
