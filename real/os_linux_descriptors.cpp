// LinuxOs: descriptors: socket pairs, listening sockets, reads, writes, files sent, messages,
// close.
#include <sys/sendfile.h>

#include <limits>

#include "real/os_linux_internal.hpp"

namespace zyg::real {

using namespace linux_detail;  // this layer's own helpers
using os::Signal;

// ---------------------------------------------------------------------------------------------
// Descriptors

os::Result<std::pair<os::Fd, os::Fd>> LinuxOs::socketpair(os::ChannelKind kind) {
  const int type = kind == os::ChannelKind::seqpacket ? SOCK_SEQPACKET : SOCK_DGRAM;
  int sv[2] = {-1, -1};
  if (::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
    return fail<std::pair<os::Fd, os::Fd>>(errno);
  }
  return {{sv[0], sv[1]}, 0};
}

namespace {

os::Result<os::Fd> listen_inet(const os::Endpoint& where, int backlog) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, where.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(where.port);
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, where.host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(where.port);
    len = sizeof *v6;
  } else {
    return fail<os::Fd>(EINVAL);  // a literal address only: no name resolution here
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail<os::Fd>(errno);
  const int one = 1;
  int rc = ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (rc == 0 && family == AF_INET6) {
    rc = ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (rc == 0) rc = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (rc == 0) rc = ::listen(fd, backlog);
  if (rc != 0) {
    const int e = errno;
    ::close(fd);
    return fail<os::Fd>(e);
  }
  return {fd, 0};
}

// Whether something accepts connections on the unix socket at `addr`.
bool unix_listener_alive(const sockaddr_un& addr) {
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) return true;  // cannot tell: assume alive, never remove a live socket
  int rc;
  do {
    rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR);
  const int e = errno;
  ::close(probe);
  if (rc == 0) return true;
  return e != ECONNREFUSED && e != ENOENT;  // EAGAIN: a listener with a full backlog
}

os::Result<os::Fd> listen_unix(const std::string& path, std::uint32_t mode, int backlog) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return fail<os::Fd>(ENAMETOOLONG);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    // Replace only a stale socket: never a live one, never another kind of file.
    if (!S_ISSOCK(st.st_mode) || unix_listener_alive(addr)) return fail<os::Fd>(EADDRINUSE);
    ::unlink(path.c_str());
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail<os::Fd>(errno);
  // The file gets `mode` less the umask from its creation on: the umask is narrowed around bind
  // (the caller is single-threaded, as fork hygiene requires of every process here).
  const mode_t mask = ::umask(0777);
  const mode_t wanted = static_cast<mode_t>(mode) & 0777 & ~mask;
  ::umask(0777 & ~wanted);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(mask);
  if (rc == 0) {
    rc = ::listen(fd, backlog);
    if (rc != 0) {
      const int e = errno;
      ::unlink(path.c_str());
      errno = e;
    }
  }
  if (rc != 0) {
    const int e = errno;
    ::close(fd);
    return fail<os::Fd>(e);
  }
  return {fd, 0};
}

}  // namespace

os::Result<os::Fd> LinuxOs::listen(const os::Endpoint& where, int backlog) {
  if (!where.unix_path.empty()) {
    auto r = listen_unix(where.unix_path, where.unix_mode, backlog);
    if (r.ok() && where.unix_owner &&
        ::chown(where.unix_path.c_str(), where.unix_owner->first, where.unix_owner->second) != 0) {
      const int e = errno;
      ::close(r.value);
      ::unlink(where.unix_path.c_str());
      return fail<os::Fd>(e);
    }
    return r;
  }
  return listen_inet(where, backlog);
}

// A TCP connection gets TCP_NODELAY: a response is written whole (one write, or the few a full
// socket buffer needs), so Nagle's algorithm has nothing to coalesce; it would only hold a
// response back until the client acknowledges the previous one, and a client with pipelined
// requests delays that acknowledgement (up to 40 ms) while it waits for the rest. The option
// stays with the socket when it is handed to a worker. A unix socket refuses it: ignored.
os::Result<os::Fd> LinuxOs::accept(os::Fd listener) {
  for (;;) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      const int one = 1;
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return {fd, 0};
    }
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK || errno == ECONNABORTED) return fail<os::Fd>(EAGAIN);
    return fail<os::Fd>(errno);
  }
}

os::Result<std::size_t> LinuxOs::read(os::Fd fd, std::span<std::byte> into) {
  for (;;) {
    const ssize_t n = ::read(fd, into.data(), into.size());
    if (n >= 0) return {static_cast<std::size_t>(n), 0};
    if (errno == EINTR) continue;
    return fail<std::size_t>(errno == EWOULDBLOCK ? EAGAIN : errno);
  }
}

os::Result<std::size_t> LinuxOs::write(os::Fd fd, std::span<const std::byte> from) {
  bool socket = true;
  for (;;) {
    const ssize_t n = socket ? ::send(fd, from.data(), from.size(), MSG_NOSIGNAL)
                             : ::write(fd, from.data(), from.size());
    if (n >= 0) return {static_cast<std::size_t>(n), 0};
    if (errno == EINTR) continue;
    if (socket && errno == ENOTSOCK) {
      socket = false;
      continue;
    }
    return fail<std::size_t>(errno == EWOULDBLOCK ? EAGAIN : errno);
  }
}

os::Result<std::size_t> LinuxOs::send_file(os::Fd out, os::Fd in, std::uint64_t offset,
                                           std::size_t count) {
  if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
    return fail<std::size_t>(EINVAL);
  }
  auto at = static_cast<off_t>(offset);
  for (;;) {
    // SIGPIPE is ignored on this layer (LinuxOs()), so a gone peer is EPIPE here as in write().
    const ssize_t n = ::sendfile(out, in, &at, count);
    if (n >= 0) return {static_cast<std::size_t>(n), 0};
    if (errno == EINTR) continue;
    return fail<std::size_t>(errno == EWOULDBLOCK ? EAGAIN : errno);
  }
}

os::Result<std::size_t> LinuxOs::send_message(os::Fd fd, std::span<const std::byte> bytes,
                                              std::span<const os::Fd> pass) {
  if (pass.size() > kMaxPassedFds) return fail<std::size_t>(EINVAL);
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  if (!pass.empty()) {
    const std::size_t data_len = sizeof(int) * pass.size();
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(data_len);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(data_len);
    std::memcpy(CMSG_DATA(c), pass.data(), data_len);
  }
  for (;;) {
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return {static_cast<std::size_t>(n), 0};
    if (errno == EINTR) continue;
    // A datagram whose peer is gone reports ECONNREFUSED; the seam (and the simulator) says
    // EPIPE for "the other end is closed", whatever the kind.
    if (errno == ECONNREFUSED) return fail<std::size_t>(EPIPE);
    return fail<std::size_t>(errno == EWOULDBLOCK ? EAGAIN : errno);
  }
}

os::Result<std::size_t> LinuxOs::recv_message(os::Fd fd, std::span<std::byte> into,
                                              std::vector<os::Fd>* passed) {
  iovec iov{into.data(), into.size()};
  msghdr msg{};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  ssize_t n = -1;
  for (;;) {
    msg = msghdr{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    return fail<std::size_t>(errno == EWOULDBLOCK ? EAGAIN : errno);
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int got = -1;
      std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      if (passed == nullptr) {
        ::close(got);  // nobody asked for it: do not leak it
        continue;
      }
      passed->push_back(got);
    }
  }
  return {static_cast<std::size_t>(n), 0};
}

int LinuxOs::shutdown(os::Fd fd, os::ShutdownHow how) {
  const int h = how == os::ShutdownHow::read    ? SHUT_RD
                : how == os::ShutdownHow::write ? SHUT_WR
                                                : SHUT_RDWR;
  return ::shutdown(fd, h) == 0 ? 0 : errno;
}

os::Result<std::uint32_t> LinuxOs::peer_uid(os::Fd fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return fail<std::uint32_t>(errno);
  }
  return {static_cast<std::uint32_t>(cred.uid), 0};
}

namespace {

// Host and port of an address, numeric; {"", 0} for a unix socket.
std::pair<std::string, std::uint16_t> numeric(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    ::inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
    return {host, ntohs(a.sin_port)};
  }
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    ::inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
    return {host, ntohs(a.sin6_port)};
  }
  return {"", 0};
}

}  // namespace

os::Result<os::SocketAddresses> LinuxOs::socket_addresses(os::Fd fd) {
  sockaddr_storage peer{};
  sockaddr_storage local{};
  socklen_t peer_len = sizeof peer;
  socklen_t local_len = sizeof local;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
    return fail<os::SocketAddresses>(errno);
  }
  os::SocketAddresses a;
  std::tie(a.peer_host, a.peer_port) = numeric(peer);
  std::tie(a.local_host, a.local_port) = numeric(local);
  return {std::move(a), 0};
}

std::uint32_t LinuxOs::uid() { return static_cast<std::uint32_t>(::getuid()); }

int LinuxOs::close(os::Fd fd) {
  unwatch(fd);
  // Linux releases the descriptor even when close reports EINTR: never retry.
  if (::close(fd) != 0 && errno != EINTR) return errno;
  return 0;
}

}  // namespace zyg::real
