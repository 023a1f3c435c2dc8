// LinuxOs: waiting. One ppoll(2) per wait, over the caller's descriptors and the signal state's
// wake pipe (the signal handler writes to it), with a nanosecond timeout.
#include <array>

#include "real/os_linux_internal.hpp"

namespace zyg::real {

using namespace linux_detail;  // this layer's own helpers

namespace {

constexpr std::size_t kInlineFds = 8;  // a loop's own waits; a longer list is allocated

}  // namespace

// Readiness comes first: a ready descriptor is reported even while a caught signal is pending
// (as the simulator does); with nothing ready, a pending signal is EINTR. A negative descriptor
// is reported as POLLNVAL at once, like a closed one.
os::Result<int> LinuxOs::poll(std::span<os::PollFd> fds, std::optional<Nanos> timeout) {
  const bool bounded = timeout.has_value();
  const Nanos deadline = bounded ? now() + std::max(*timeout, Nanos{0}) : Nanos{0};
  const std::size_t n = fds.size();
  std::array<pollfd, kInlineFds + 1> inline_probe{};
  std::vector<pollfd> heap_probe;
  pollfd* probe = inline_probe.data();
  if (n > kInlineFds) {
    heap_probe.resize(n + 1);
    probe = heap_probe.data();
  }
  bool invalid = false;
  for (std::size_t i = 0; i < n; ++i) invalid = invalid || fds[i].fd < 0;
  for (;;) {
    for (std::size_t i = 0; i < n; ++i) probe[i] = pollfd{fds[i].fd, fds[i].events, 0};
    probe[n] = pollfd{signals_->read_end, POLLIN, 0};
    timespec ts{};
    const timespec* wait = nullptr;
    if (invalid || signals_->pending() != 0) {
      wait = &ts;  // only a look: something is to be reported already
    } else if (bounded) {
      ts = to_timespec(deadline - now());
      wait = &ts;
    }
    const int rc = ::ppoll(probe, n + 1, wait, nullptr);
    if (rc < 0 && errno != EINTR) return fail<int>(errno);
    if (rc > 0 && (probe[n].revents & POLLIN)) signals_->drain_pipe();
    int ready = 0;
    for (std::size_t i = 0; i < n; ++i) {
      short r = fds[i].fd < 0 ? kPollNval : (rc > 0 ? probe[i].revents : short{0});
      r = static_cast<short>(r & (fds[i].events | POLLERR | POLLHUP | kPollNval));
      fds[i].revents = r;
      ready += r != 0 ? 1 : 0;
    }
    if (ready > 0) return {ready, 0};
    if (signals_->pending() != 0) return fail<int>(EINTR);
    if (bounded && now() >= deadline) return {0, 0};
  }
}

}  // namespace zyg::real
