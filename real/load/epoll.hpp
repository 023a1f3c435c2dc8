// A level-triggered epoll(7) set for zygote-load: each socket is registered once under a key and
// its interest changed as its connection moves from sending to reading to idle, so a wait costs
// the sockets that are ready, not every socket held (10,000 idle connections cost nothing).
#pragma once

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace zyg::load {

class Epoll {
 public:
  // What one socket is registered for; forget() it when the socket is closed.
  struct Watch {
    bool registered = false;
    std::uint32_t events = 0;
  };

  Epoll() : fd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error("epoll_create1: " + std::to_string(errno));
  }
  ~Epoll() { ::close(fd_); }
  Epoll(const Epoll&) = delete;
  Epoll& operator=(const Epoll&) = delete;

  // Interest in `events` on fd, reported under key; 0 removes it (a registered socket reports
  // hang-ups even with no interest, which a level-triggered loop would see again and again).
  void set(int fd, std::uint64_t key, Watch& w, std::uint32_t events) {
    epoll_event e{};
    e.events = events;
    e.data.u64 = key;
    if (events == 0) {
      if (w.registered) ::epoll_ctl(fd_, EPOLL_CTL_DEL, fd, &e);
      w = {};
      return;
    }
    if (w.registered && w.events == events) return;
    ::epoll_ctl(fd_, w.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e);
    w = {true, events};
  }
  // The socket was closed (which removed it from the set).
  static void forget(Watch& w) { w = {}; }

  // Up to events.size() ready sockets within timeout_ms; the count (0 on timeout or EINTR).
  int wait(std::vector<epoll_event>& events, int timeout_ms) {
    const int n = ::epoll_wait(fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
    return n < 0 ? 0 : n;
  }

 private:
  int fd_;
};

}  // namespace zyg::load
