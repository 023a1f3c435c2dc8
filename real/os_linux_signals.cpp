// LinuxOs: signals, caught by a handler that records them and wakes the wait (a self-pipe), and
// handed to the loop by number.
#include <atomic>

#include "real/os_linux_internal.hpp"

namespace zyg::real {

using namespace linux_detail;  // this layer's own helpers
using os::Signal;

namespace {

// What the handler touches: lock-free, so it is async-signal-safe.
std::atomic<std::uint32_t> g_pending{0};
std::atomic<int> g_wake_fd{-1};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<int>::is_always_lock_free);

// One live signal state per process (see real/os_linux.hpp).
int g_live_instances = 0;

extern "C" void on_signal(int sig) {
  const int saved = errno;
  if (sig > 0 && sig < 32) g_pending.fetch_or(bit(sig), std::memory_order_relaxed);
  const int fd = g_wake_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const char byte = 0;
    (void)!::write(fd, &byte, 1);  // a full pipe is already readable: nothing is lost
  }
  errno = saved;
}

void set_default(int sig) {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(sig, &sa, nullptr);
}

}  // namespace

LinuxOs::Signals::Signals() {
  if (g_live_instances != 0) {
    throw std::logic_error("zyg::real::LinuxOs: one instance per process");
  }
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::runtime_error(std::string("zyg::real::LinuxOs: pipe2: ") + std::strerror(errno));
  }
  read_end = p[0];
  write_end = p[1];
  ++g_live_instances;
  g_pending.store(0);
  g_wake_fd.store(write_end);
}

LinuxOs::Signals::~Signals() {
  for (int n = 1; n < 32; ++n) {
    if (caught & bit(n)) set_default(n);
  }
  g_wake_fd.store(-1);
  g_pending.store(0);
  ::close(read_end);
  ::close(write_end);
  --g_live_instances;
}

std::uint32_t LinuxOs::Signals::pending() const {
  return g_pending.load(std::memory_order_relaxed) & caught;
}

std::uint32_t LinuxOs::Signals::take() { return g_pending.fetch_and(~caught) & caught; }

void LinuxOs::Signals::forget(int sig) {
  caught &= ~bit(sig);
  g_pending.fetch_and(~bit(sig));
}

void LinuxOs::Signals::drain_pipe() const {
  char buf[64];
  while (::read(read_end, buf, sizeof buf) > 0) {
  }
}

// ---------------------------------------------------------------------------------------------
// Signals

int LinuxOs::catch_signals(std::span<const os::Signal> signals) {
  for (os::Signal s : signals) {
    if (s == os::Signal::kill || s == os::Signal::stop) return EINVAL;
  }
  for (os::Signal s : signals) {
    const int n = static_cast<int>(s);
    // SA_RESTART: the app's blocking system calls restart instead of failing with EINTR (a wait
    // here is woken by the pipe, not by EINTR). SIGCHLD: exits only, not stops.
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | (n == SIGCHLD ? SA_NOCLDSTOP : 0);
    if (::sigaction(n, &sa, nullptr) != 0) return errno;
    signals_->caught |= bit(n);
  }
  return 0;
}

int LinuxOs::ignore_signal(os::Signal sig) {
  if (sig == os::Signal::kill || sig == os::Signal::stop) return EINVAL;
  const int n = static_cast<int>(sig);
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(n, &sa, nullptr) != 0) return errno;
  signals_->forget(n);
  return 0;
}

std::vector<os::Signal> LinuxOs::take_signals() {
  const std::uint32_t taken = signals_->take();
  std::vector<os::Signal> out;
  for (int n = 1; n < 32; ++n) {
    if (taken & bit(n)) out.push_back(static_cast<os::Signal>(n));
  }
  return out;
}

}  // namespace zyg::real
