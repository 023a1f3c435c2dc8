// Private to real/os_linux*.cpp, the pieces of LinuxOs: the signal state they share, small
// helpers and limits. Nothing else includes it; the seam is real/os_linux.hpp.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

#include "real/os_linux.hpp"

namespace zyg::real {
namespace linux_detail {

inline constexpr short kPollNval = POLLNVAL;
inline constexpr int kChildCrashed = 70;                // EX_SOFTWARE: spec.main threw
inline constexpr std::size_t kReadFileCap = 64 * 1024;  // read_file: a small state file
inline constexpr std::size_t kMaxPassedFds = 16;        // recv_message: descriptors per message

inline std::uint32_t bit(int sig) { return 1u << static_cast<unsigned>(sig); }

// A wait's timeout for ppoll and epoll_pwait2 (a negative one is zero).
inline timespec to_timespec(Nanos n) {
  const auto ns = std::max(n, Nanos{0}).count();
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

template <class T>
os::Result<T> fail(int e) {
  return os::Result<T>::fail(e);
}

// Writes one line to stderr with write(2) only (safe in a child after fork).
void write_stderr(const std::string& line);

// Closes every descriptor except stdio and `keep` (which keep their numbers).
void close_all_but(std::vector<os::Fd> keep);

}  // namespace linux_detail

// This process's signal state. The handler (async-signal-safe: an atomic OR and a write) records
// the signal and writes one byte to the wake pipe, whose read end every wait watches: a signal
// that arrives just before a wait begins still ends it.
struct LinuxOs::Signals {
  int read_end = -1;
  int write_end = -1;
  std::uint32_t caught = 0;  // the signals catch_signals installed the handler for

  Signals();   // refuses a second live instance in the process
  ~Signals();  // restores the default disposition of what it caught, closes the pipe
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

  std::uint32_t pending() const;  // caught and not yet taken
  std::uint32_t take();           // the pending bits, cleared
  void forget(int sig);           // no longer caught: a pending record of it is dropped
  void drain_pipe() const;
};

}  // namespace zyg::real
