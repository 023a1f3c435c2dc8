// LinuxOs: waiting: poll over Asio.
#include "real/os_linux_internal.hpp"

namespace zyg::real {

using namespace linux_detail;  // this layer's own helpers
using os::Signal;

// poll: readiness is computed by ::poll with a zero timeout (exact revents, POLLNVAL for a closed
// or negative descriptor); waiting is done by Asio (async_wait per descriptor, a steady_timer,
// the signal_set), and every wake-up is followed by a fresh computation, so a completion that
// does not match the requested events only costs another round.
os::Result<int> LinuxOs::poll(std::span<os::PollFd> fds, std::optional<Nanos> timeout) {
  const bool bounded = timeout.has_value();
  const Nanos deadline = bounded ? now() + std::max(*timeout, Nanos{0}) : Nanos{0};
  std::vector<pollfd> probe(fds.size());
  for (;;) {
    drain();
    for (std::size_t i = 0; i < fds.size(); ++i) {
      probe[i] = pollfd{fds[i].fd, fds[i].events, 0};
    }
    const int rc = ::poll(probe.data(), probe.size(), 0);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return fail<int>(errno);
    int ready = 0;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      short r = fds[i].fd < 0 ? kPollNval : probe[i].revents;
      r = static_cast<short>(r & (fds[i].events | POLLERR | POLLHUP | kPollNval));
      fds[i].revents = r;
      ready += r != 0 ? 1 : 0;
    }
    if (ready > 0) return {ready, 0};
    if (asio_->pending & asio_->caught) return fail<int>(EINTR);
    std::optional<Nanos> left;
    if (bounded) {
      left = deadline - now();
      if (*left <= Nanos{0}) return {0, 0};
    }
    wait_once(fds, left);
  }
}

void LinuxOs::wait_once(std::span<os::PollFd> fds, std::optional<Nanos> timeout) {
  Asio& a = *asio_;
  int outstanding = 0;
  auto done = [&outstanding](const boost::system::error_code&) { --outstanding; };
  using Wait = boost::asio::posix::descriptor_base::wait_type;
  std::vector<boost::asio::posix::stream_descriptor*> armed;
  for (const os::PollFd& p : fds) {
    if (p.fd < 0) continue;
    boost::asio::posix::stream_descriptor* d = a.descriptor(p.fd);
    if (d == nullptr) continue;
    armed.push_back(d);
    d->async_wait(Wait::wait_error, done);  // completes on error and hangup too
    ++outstanding;
    if (p.events & POLLIN) {
      d->async_wait(Wait::wait_read, done);
      ++outstanding;
    }
    if (p.events & POLLOUT) {
      d->async_wait(Wait::wait_write, done);
      ++outstanding;
    }
  }
  if (timeout) {
    a.timer.expires_after(*timeout);
    a.timer.async_wait(done);
    ++outstanding;
  }
  if (a.io.stopped()) a.io.restart();
  a.io.run_one();  // the first completion: a descriptor, the timer, or a signal's record
  boost::system::error_code ignored;
  for (auto* d : armed) d->cancel(ignored);
  a.timer.cancel();
  while (outstanding > 0) {
    if (a.io.stopped()) a.io.restart();
    a.io.run_one();  // the cancelled waits complete with operation_aborted
  }
}

}  // namespace zyg::real
