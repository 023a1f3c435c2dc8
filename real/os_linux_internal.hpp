// Private to real/os_linux*.cpp, the pieces of LinuxOs: the Asio state they share, small
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
// GCC 12 reports a possible null dereference inside Asio's scheduler once it is inlined here;
// the header is not ours to change.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#pragma GCC diagnostic pop
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
#include <vector>

#include "real/os_linux.hpp"

namespace zyg::real {
namespace linux_detail {

inline constexpr short kPollNval = POLLNVAL;
inline constexpr int kChildCrashed = 70;                // EX_SOFTWARE: spec.main threw
inline constexpr std::size_t kReadFileCap = 64 * 1024;  // read_file: a small state file
inline constexpr std::size_t kMaxPassedFds = 16;        // recv_message: descriptors per message

inline std::uint32_t bit(int sig) { return 1u << static_cast<unsigned>(sig); }

template <class T>
os::Result<T> fail(int e) {
  return os::Result<T>::fail(e);
}

// Writes one line to stderr with write(2) only (safe in a child after fork).
void write_stderr(const std::string& line);

// Closes every descriptor except stdio and `keep` (which keep their numbers).
void close_all_but(std::vector<os::Fd> keep);

}  // namespace linux_detail

struct LinuxOs::Asio {
  struct Cached {
    std::unique_ptr<boost::asio::posix::stream_descriptor> d;
    dev_t dev = 0;
    ino_t ino = 0;
  };

  boost::asio::io_context io;
  boost::asio::signal_set signals{io};
  boost::asio::steady_timer timer{io};
  std::map<os::Fd, Cached> descriptors;
  std::uint32_t caught = 0;
  std::uint32_t pending = 0;

  Asio();  // refuses a second live instance in the process
  ~Asio();
  Asio(const Asio&) = delete;
  Asio& operator=(const Asio&) = delete;

  // The signal handler (Asio's) only writes the number to a pipe; this completion records it.
  void arm_signals() {
    signals.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;  // cancelled: the set is being destroyed
      if (sig > 0 && sig < 32) pending |= linux_detail::bit(sig) & caught;
      arm_signals();
    });
  }

  // The cached Asio descriptor for fd, or nullptr if it cannot be registered. A number that now
  // names another file (closed behind our back and reused) gets a fresh registration.
  boost::asio::posix::stream_descriptor* descriptor(os::Fd fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      forget(fd);
      return nullptr;
    }
    auto it = descriptors.find(fd);
    if (it != descriptors.end() && (it->second.dev != st.st_dev || it->second.ino != st.st_ino)) {
      it->second.d->release();
      descriptors.erase(it);
      it = descriptors.end();
    }
    if (it == descriptors.end()) {
      auto d = std::make_unique<boost::asio::posix::stream_descriptor>(io);
      boost::system::error_code ec;
      d->assign(fd, ec);
      if (ec) return nullptr;
      it = descriptors.emplace(fd, Cached{std::move(d), st.st_dev, st.st_ino}).first;
    }
    return it->second.d.get();
  }

  void forget(os::Fd fd) {
    auto it = descriptors.find(fd);
    if (it == descriptors.end()) return;
    it->second.d->release();  // deregisters from epoll while the number still names the file
    descriptors.erase(it);
  }
};

}  // namespace zyg::real
