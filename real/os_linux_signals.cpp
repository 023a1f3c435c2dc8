// LinuxOs: signals, caught through Asio's signal_set and handed to the loop by number.
#include "real/os_linux_internal.hpp"

namespace zyg::real {

using namespace linux_detail;  // this layer's own helpers
using os::Signal;

// ---------------------------------------------------------------------------------------------
// Signals

int LinuxOs::catch_signals(std::span<const os::Signal> signals) {
  for (os::Signal s : signals) {
    if (s == os::Signal::kill || s == os::Signal::stop) return EINVAL;
  }
  for (os::Signal s : signals) {
    const int n = static_cast<int>(s);
    boost::system::error_code ec;
    asio_->signals.add(n, ec);
    if (ec) return ec.value();
    // Asio (Boost 1.74) installs its handler without SA_RESTART: add it, so the app's blocking
    // system calls restart instead of failing with EINTR. SIGCHLD: exits only, not stops.
    const int want = SA_RESTART | (n == SIGCHLD ? SA_NOCLDSTOP : 0);
    struct sigaction sa {};
    if (::sigaction(n, nullptr, &sa) == 0 && (sa.sa_flags & want) != want) {
      sa.sa_flags |= want;
      ::sigaction(n, &sa, nullptr);
    }
    asio_->caught |= bit(n);
  }
  return 0;
}

int LinuxOs::ignore_signal(os::Signal sig) {
  if (sig == os::Signal::kill || sig == os::Signal::stop) return EINVAL;
  const int n = static_cast<int>(sig);
  boost::system::error_code ec;
  asio_->signals.remove(n, ec);
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(n, &sa, nullptr) != 0) return errno;
  asio_->caught &= ~bit(n);
  asio_->pending &= ~bit(n);
  return 0;
}

std::vector<os::Signal> LinuxOs::take_signals() {
  drain();  // signals already delivered to the handler become pending bits
  const std::uint32_t taken = asio_->pending & asio_->caught;
  asio_->pending &= ~taken;
  std::vector<os::Signal> out;
  for (int n = 1; n < 32; ++n) {
    if (taken & bit(n)) out.push_back(static_cast<os::Signal>(n));
  }
  return out;
}

}  // namespace zyg::real
