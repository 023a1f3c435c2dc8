// The OS seam over Linux, continued: interest sets (epoll), memory files (memfd), spool files
// and the descriptor limit, for the front process that holds every idle connection.
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <limits>
#include <vector>

#include "real/os_linux_internal.hpp"

namespace zyg::real {

namespace {

constexpr std::size_t kEventsMax = 256;  // descriptors one wait reports at most

std::uint32_t epoll_events(short events) {
  std::uint32_t e = 0;
  if (events & os::ev::in) e |= EPOLLIN | EPOLLRDHUP;
  if (events & os::ev::out) e |= EPOLLOUT;
  return e;
}

short poll_events(std::uint32_t e) {
  short r = 0;
  if (e & (EPOLLIN | EPOLLRDHUP)) r |= os::ev::in;
  if (e & EPOLLOUT) r |= os::ev::out;
  if (e & EPOLLERR) r |= os::ev::error;
  if (e & EPOLLHUP) r |= os::ev::hangup;
  return r;
}

}  // namespace

// Each poller also watches the signal state's wake pipe, so one epoll_pwait2 is a whole wait.
os::Result<os::Fd> LinuxOs::poller_create() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return os::Result<os::Fd>::fail(errno);
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.fd = signals_->read_end;
  if (::epoll_ctl(fd, EPOLL_CTL_ADD, signals_->read_end, &e) != 0) {
    const int error = errno;
    ::close(fd);
    return os::Result<os::Fd>::fail(error);
  }
  pollers_.insert(fd);
  return {fd, 0};
}

int LinuxOs::poller_watch(os::Fd poller, os::Fd fd, short events) {
  epoll_event e{};
  e.events = epoll_events(events);
  e.data.fd = fd;
  auto& pollers = watched_[fd];
  const int op = pollers.count(poller) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (::epoll_ctl(poller, op, fd, &e) != 0) {
    if (pollers.empty()) watched_.erase(fd);
    return errno;
  }
  pollers.insert(poller);
  return 0;
}

int LinuxOs::poller_forget(os::Fd poller, os::Fd fd) {
  auto it = watched_.find(fd);
  if (it == watched_.end() || it->second.erase(poller) == 0) return ENOENT;
  if (it->second.empty()) watched_.erase(it);
  if (::epoll_ctl(poller, EPOLL_CTL_DEL, fd, nullptr) != 0) return errno;
  return 0;
}

void LinuxOs::unwatch(os::Fd fd) {
  if (auto it = watched_.find(fd); it != watched_.end()) {
    for (os::Fd poller : it->second) ::epoll_ctl(poller, EPOLL_CTL_DEL, fd, nullptr);
    watched_.erase(it);
  }
  // A poller being closed: its registrations go with it. Only then is every entry looked at (a
  // front closes a descriptor per hand-off while it holds thousands).
  if (pollers_.erase(fd) == 0) return;
  for (auto it = watched_.begin(); it != watched_.end();) {
    it->second.erase(fd);
    it = it->second.empty() ? watched_.erase(it) : std::next(it);
  }
}

// Like poll(): what is ready comes first, then a pending signal (EINTR), then the timeout.
os::Result<int> LinuxOs::poller_wait(os::Fd poller, std::span<os::PollFd> ready,
                                     std::optional<Nanos> timeout) {
  if (ready.empty()) return os::Result<int>::fail(EINVAL);
  const Nanos deadline = timeout ? now() + std::max(*timeout, Nanos{0}) : Nanos{0};
  std::array<epoll_event, kEventsMax + 1> events{};  // one more: the wake pipe may take one
  const int capacity = static_cast<int>(std::min(ready.size(), kEventsMax) + 1);
  for (;;) {
    timespec ts{};
    const timespec* wait = nullptr;
    if (signals_->pending() != 0) {
      wait = &ts;
    } else if (timeout) {
      ts = linux_detail::to_timespec(deadline - now());
      wait = &ts;
    }
    const int n = ::epoll_pwait2(poller, events.data(), capacity, wait, nullptr);
    if (n < 0 && errno != EINTR) return os::Result<int>::fail(errno);
    std::size_t out = 0;
    for (int i = 0; i < n; ++i) {
      const epoll_event& e = events[static_cast<std::size_t>(i)];
      if (e.data.fd == signals_->read_end) {
        signals_->drain_pipe();
      } else if (out < ready.size()) {
        ready[out++] = os::PollFd{e.data.fd, 0, poll_events(e.events)};
      }
    }
    if (out > 0) return {static_cast<int>(out), 0};
    if (signals_->pending() != 0) return os::Result<int>::fail(EINTR);
    if (timeout && now() >= deadline) return {0, 0};
  }
}

os::Result<os::Fd> LinuxOs::memory_file(std::span<const std::byte> contents) {
  const int fd = ::memfd_create("zygote-bytes", MFD_CLOEXEC);
  if (fd < 0) return os::Result<os::Fd>::fail(errno);
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return os::Result<os::Fd>::fail(e);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::lseek(fd, 0, SEEK_SET) != 0) {
    const int e = errno;
    ::close(fd);
    return os::Result<os::Fd>::fail(e);
  }
  return {fd, 0};
}

os::Result<os::Fd> LinuxOs::spool_file(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
    // A file system without O_TMPFILE: a named file, unlinked at once.
    std::string path = dir + "/zygote-body-XXXXXX";
    fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(path.c_str());
  }
  if (fd < 0) return os::Result<os::Fd>::fail(errno);
  return {fd, 0};
}

os::Result<std::size_t> LinuxOs::read_at(os::Fd fd, std::uint64_t offset,
                                         std::span<std::byte> into) {
  if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
    return os::Result<std::size_t>::fail(EINVAL);
  }
  for (;;) {
    const ssize_t n = ::pread(fd, into.data(), into.size(), static_cast<off_t>(offset));
    if (n >= 0) return {static_cast<std::size_t>(n), 0};
    if (errno != EINTR) return os::Result<std::size_t>::fail(errno);
  }
}

os::Result<std::size_t> LinuxOs::unread_bytes(os::Fd fd) {
  int n = 0;
  if (::ioctl(fd, SIOCOUTQ, &n) != 0) return os::Result<std::size_t>::fail(errno);
  return {static_cast<std::size_t>(std::max(n, 0)), 0};
}

os::Result<std::uint64_t> LinuxOs::raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return os::Result<std::uint64_t>::fail(errno);
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return os::Result<std::uint64_t>::fail(errno);
  }
  return {static_cast<std::uint64_t>(lim.rlim_cur), 0};
}

bool LinuxOs::descriptor_open(os::Fd fd) { return ::fcntl(fd, F_GETFD) != -1; }

os::Result<std::uint64_t> LinuxOs::descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return os::Result<std::uint64_t>::fail(errno);
  return {static_cast<std::uint64_t>(lim.rlim_cur), 0};
}

}  // namespace zyg::real
