#include "real/os_linux.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
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

namespace zyg::real {

namespace {

using os::Signal;

// The seam's numbers are Linux's (core/os.hpp promises it; checked here).
static_assert(static_cast<int>(Signal::hup) == SIGHUP);
static_assert(static_cast<int>(Signal::interrupt) == SIGINT);
static_assert(static_cast<int>(Signal::quit) == SIGQUIT);
static_assert(static_cast<int>(Signal::kill) == SIGKILL);
static_assert(static_cast<int>(Signal::usr1) == SIGUSR1);
static_assert(static_cast<int>(Signal::usr2) == SIGUSR2);
static_assert(static_cast<int>(Signal::term) == SIGTERM);
static_assert(static_cast<int>(Signal::child) == SIGCHLD);
static_assert(static_cast<int>(Signal::cont) == SIGCONT);
static_assert(static_cast<int>(Signal::stop) == SIGSTOP);
static_assert(static_cast<int>(Signal::ttin) == SIGTTIN);
static_assert(static_cast<int>(Signal::ttou) == SIGTTOU);
static_assert(os::err::srch == ESRCH && os::err::intr == EINTR && os::err::badf == EBADF);
static_assert(os::err::child == ECHILD && os::err::again == EAGAIN && os::err::nomem == ENOMEM);
static_assert(os::err::inval == EINVAL && os::err::mfile == EMFILE && os::err::pipe == EPIPE);
static_assert(os::err::msgsize == EMSGSIZE && os::err::addrinuse == EADDRINUSE);
static_assert(os::err::connreset == ECONNRESET && os::err::notconn == ENOTCONN);
static_assert(os::ev::in == POLLIN && os::ev::out == POLLOUT && os::ev::error == POLLERR &&
              os::ev::hangup == POLLHUP);

constexpr short kPollNval = POLLNVAL;
constexpr int kChildCrashed = 70;                // EX_SOFTWARE: spec.main threw
constexpr std::size_t kReadFileCap = 64 * 1024;  // read_file: a small state file
constexpr std::size_t kMaxPassedFds = 16;        // recv_message: descriptors per message

std::uint32_t bit(int sig) { return 1u << static_cast<unsigned>(sig); }

template <class T>
os::Result<T> fail(int e) {
  return os::Result<T>::fail(e);
}

// One live Asio state per process (see the header).
int g_live_instances = 0;

// The argv area set_process_title may overwrite (after init_process_title).
char* g_title_area = nullptr;
std::size_t g_title_len = 0;

void write_stderr(const std::string& line) {
  std::string s = line + "\n";
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

// Closes every descriptor except stdio and `keep` (which keep their numbers).
void close_all_but(std::vector<os::Fd> keep) {
  keep.push_back(STDIN_FILENO);
  keep.push_back(STDOUT_FILENO);
  keep.push_back(STDERR_FILENO);
  std::erase_if(keep, [](os::Fd fd) { return fd < 0; });
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  unsigned first = 0;
  bool ranges_ok = true;
  for (os::Fd k : keep) {
    const auto ku = static_cast<unsigned>(k);
    if (ku > first && ::close_range(first, ku - 1, 0) != 0) ranges_ok = false;
    first = ku + 1;
  }
  if (::close_range(first, ~0u, 0) != 0) ranges_ok = false;
  if (ranges_ok) return;
  // close_range unavailable (kernel < 5.9): close what /proc/self/fd lists.
  std::vector<os::Fd> open;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    const int self = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
      char* end = nullptr;
      const long fd = std::strtol(e->d_name, &end, 10);
      if (end != e->d_name && *end == '\0' && fd != self) open.push_back(static_cast<os::Fd>(fd));
    }
    ::closedir(d);
  }
  for (os::Fd fd : open) {
    if (!std::binary_search(keep.begin(), keep.end(), fd)) ::close(fd);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Free helpers

std::optional<int> thread_count() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) {
      try {
        return std::stoi(line.substr(8));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

std::optional<std::uint16_t> local_port(os::Fd fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return std::nullopt;
}

void set_process_title(const std::string& title) {
  char comm[16] = {};
  std::strncpy(comm, title.c_str(), sizeof comm - 1);
  ::prctl(PR_SET_NAME, comm, 0, 0, 0);
  if (g_title_area != nullptr && g_title_len > 1) {
    const std::size_t n = std::min(title.size(), g_title_len - 1);
    std::memcpy(g_title_area, title.data(), n);
    std::memset(g_title_area + n, 0, g_title_len - n);
  }
}

void LinuxOs::init_process_title(std::span<char*> argv) {
  if (argv.empty() || argv[0] == nullptr) return;
  // The argv strings lie back to back; the area runs to the end of the last contiguous one.
  char* begin = argv[0];
  char* end = begin + std::strlen(begin) + 1;
  for (std::size_t i = 1; i < argv.size() && argv[i] != nullptr; ++i) {
    if (argv[i] != end) break;
    end = argv[i] + std::strlen(argv[i]) + 1;
  }
  g_title_area = begin;
  g_title_len = static_cast<std::size_t>(end - begin);
}

// ---------------------------------------------------------------------------------------------
// Asio state

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

  Asio() {
    if (g_live_instances != 0) {
      throw std::logic_error("zyg::real::LinuxOs: one instance per process");
    }
    ++g_live_instances;
    arm_signals();
  }
  ~Asio() {
    for (auto& [fd, c] : descriptors) c.d->release();  // never close the loops' descriptors
    descriptors.clear();
    --g_live_instances;
  }
  Asio(const Asio&) = delete;
  Asio& operator=(const Asio&) = delete;

  // The signal handler (Asio's) only writes the number to a pipe; this completion records it.
  void arm_signals() {
    signals.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;  // cancelled: the set is being destroyed
      if (sig > 0 && sig < 32) pending |= bit(sig) & caught;
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

// A write to a pipe or socket whose reader is gone must be an EPIPE, not the process's death:
// SIGPIPE is ignored in every process that runs on this layer (the app's code included, as in
// every server). Sockets are written with MSG_NOSIGNAL anyway; this covers pipes and files.
// Programs the app execs inherit the ignored disposition, as they do under nginx or gunicorn.

LinuxOs::LinuxOs() : asio_(std::make_unique<Asio>()) { ::signal(SIGPIPE, SIG_IGN); }

LinuxOs::~LinuxOs() = default;

void LinuxOs::drain() {
  if (asio_->io.stopped()) asio_->io.restart();
  asio_->io.poll();
}

// ---------------------------------------------------------------------------------------------
// Identity and time

Pid LinuxOs::getpid() { return ::getpid(); }
Pid LinuxOs::getppid() { return ::getppid(); }

Nanos LinuxOs::now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return Nanos{static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec};
}

// ---------------------------------------------------------------------------------------------
// Processes

os::Result<Pid> LinuxOs::spawn(os::ChildSpec spec) { return fork_child(spec); }

// Fork hygiene. The forking process must be single-threaded: another thread may hold a lock
// (malloc's, stdio's, the app's) that the child would inherit held forever. A multi-threaded
// caller is refused with EAGAIN and one line on stderr; nothing is forked.
os::Result<Pid> LinuxOs::fork_child(os::ChildSpec& spec) {
  if (!spec.main) return fail<Pid>(EINVAL);
  const std::optional<int> threads = thread_count();
  if (threads.value_or(0) != 1) {
    write_stderr("zygote: refusing to fork: the process has " +
                 (threads ? std::to_string(*threads) : std::string("an unknown number of")) +
                 " threads (fork is only safe single-threaded)");
    return fail<Pid>(EAGAIN);
  }

  std::fflush(nullptr);  // the child must not inherit (and later repeat) buffered output
  sigset_t all{};
  sigset_t old{};
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, &old);  // no handler runs in the child before it is reset
  const Pid parent = ::getpid();
  asio_->io.notify_fork(boost::asio::execution_context::fork_prepare);
  const pid_t pid = ::fork();
  if (pid == 0) run_child(spec, parent);
  const int fork_errno = errno;
  asio_->io.notify_fork(boost::asio::execution_context::fork_parent);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return fail<Pid>(fork_errno);
  return {pid, 0};
}

void LinuxOs::run_child(os::ChildSpec& spec, Pid parent) {
  // All signals are blocked here (fork_child). Nothing below returns into the caller.
  try {
    // The parent's io_context shares its epoll instance and signal pipe with the parent: give
    // this process its own (Asio's fork_child), then drop it all, restoring handlers Asio set.
    asio_->io.notify_fork(boost::asio::execution_context::fork_child);
    asio_.reset();
  } catch (const std::exception& e) {
    write_stderr(std::string("zygote: child setup failed: ") + e.what());
    ::_exit(kChildCrashed);
  }

  // Default dispositions for every signal (SIG_IGN survives fork otherwise).
  for (int s = 1; s < NSIG; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    ::sigaction(s, &sa, nullptr);  // fails harmlessly for the C library's reserved signals
  }

  if (spec.parent_death_signal) {
    const int sig = static_cast<int>(*spec.parent_death_signal);
    ::prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(sig), 0, 0, 0);
    // The parent may have died before the request: then deliver the signal ourselves, as the
    // kernel would have. It takes effect when the mask is cleared below.
    if (::getppid() != parent) ::kill(::getpid(), sig);
  }

  close_all_but(spec.keep_fds);
  set_process_title(spec.title);

  int code = kChildCrashed;
  try {
    LinuxOs child_os;
    sigset_t none{};
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    code = spec.main(child_os);
  } catch (const std::exception& e) {
    write_stderr("zygote: " + spec.title + ": uncaught exception: " + e.what());
    ::_exit(kChildCrashed);
  } catch (...) {
    write_stderr("zygote: " + spec.title + ": uncaught exception");
    ::_exit(kChildCrashed);
  }
  std::fflush(nullptr);
  ::_exit(code);
}

int LinuxOs::kill(Pid pid, os::Signal sig) {
  // pid 0 and -1 name process groups or everything; the seam signals one process.
  if (pid <= 0) return ESRCH;
  return ::kill(pid, static_cast<int>(sig)) == 0 ? 0 : errno;
}

// waitid over every child, the subreaper's orphans included: a pidfd per child would miss the
// orphans, whose pids the master learns only when they are reaped.
os::Result<std::optional<os::Reaped>> LinuxOs::reap() {
  using R = os::Result<std::optional<os::Reaped>>;
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG) != 0) {
      if (errno == EINTR) continue;
      return R::fail(errno);
    }
    if (info.si_pid == 0) return {std::nullopt, 0};  // children, none exited
    if (info.si_code == CLD_EXITED) {
      return {os::Reaped{info.si_pid, ExitStatus::exited(info.si_status)}, 0};
    }
    return {os::Reaped{info.si_pid, ExitStatus::killed_by(info.si_status)}, 0};  // KILLED, DUMPED
  }
}

void LinuxOs::exit(int code) { ::_exit(code); }

void LinuxOs::set_title(const std::string& title) { set_process_title(title); }

// /proc/self/task/TID/children, for every thread (CONFIG_PROC_CHILDREN, which Debian's kernels
// have): the children each thread forked or adopted, not yet reaped.
os::Result<std::vector<Pid>> LinuxOs::children() {
  std::vector<Pid> pids;
  DIR* tasks = ::opendir("/proc/self/task");
  if (!tasks) return os::Result<std::vector<Pid>>::fail(errno);
  bool read_any = false;
  while (const dirent* e = ::readdir(tasks)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(std::string("/proc/self/task/") + e->d_name + "/children");
    if (!in) continue;
    read_any = true;
    for (long pid = 0; in >> pid;) pids.push_back(static_cast<Pid>(pid));
  }
  ::closedir(tasks);
  if (!read_any) return os::Result<std::vector<Pid>>::fail(ENOENT);
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return {std::move(pids), 0};
}

int LinuxOs::become_subreaper() {
  return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : errno;
}

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
  if (!where.unix_path.empty()) return listen_unix(where.unix_path, where.unix_mode, backlog);
  return listen_inet(where, backlog);
}

os::Result<os::Fd> LinuxOs::accept(os::Fd listener) {
  for (;;) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return {fd, 0};
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
      const int fl = ::fcntl(got, F_GETFL);
      if (fl >= 0 && (fl & O_NONBLOCK) == 0) ::fcntl(got, F_SETFL, fl | O_NONBLOCK);
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

std::uint32_t LinuxOs::uid() { return static_cast<std::uint32_t>(::getuid()); }

int LinuxOs::close(os::Fd fd) {
  asio_->forget(fd);
  unwatch(fd);
  // Linux releases the descriptor even when close reports EINTR: never retry.
  if (::close(fd) != 0 && errno != EINTR) return errno;
  return 0;
}

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

// ---------------------------------------------------------------------------------------------
// Files

os::Result<std::string> LinuxOs::realpath(const std::string& path) {
  char* r = ::realpath(path.c_str(), nullptr);
  if (r == nullptr) return fail<std::string>(errno);
  std::string out(r);
  std::free(r);
  return {out, 0};
}

os::Result<std::string> LinuxOs::read_file(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return fail<std::string>(errno);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return fail<std::string>(e);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kReadFileCap) {
      ::close(fd);
      return fail<std::string>(EFBIG);  // not a state file: refuse rather than truncate
    }
  }
  ::close(fd);
  return {out, 0};
}

int LinuxOs::write_file(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  int fd;
  do {
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno;
  auto give_up = [&](int e) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  };
  const char* p = contents.data();
  std::size_t left = contents.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return give_up(errno);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return give_up(errno);
  if (::close(fd) != 0 && errno != EINTR) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return e;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return e;
  }
  // Make the rename itself durable.
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Self-inspection

os::Usage LinuxOs::usage() {
  os::Usage u;
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0;
  std::uint64_t resident_pages = 0;
  if (statm >> size_pages >> resident_pages) {
    const long page = ::sysconf(_SC_PAGESIZE);
    u.rss_bytes = resident_pages * static_cast<std::uint64_t>(page > 0 ? page : 4096);
  }
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) == 0) {
    auto ns = [](const timeval& tv) {
      return Nanos{static_cast<std::int64_t>(tv.tv_sec) * 1'000'000'000 +
                   static_cast<std::int64_t>(tv.tv_usec) * 1'000};
    };
    u.cpu = ns(ru.ru_utime) + ns(ru.ru_stime);
  }
  return u;
}

// Every private, writable, anonymous mapping (the heap included) of at least one huge page:
// MADV_HUGEPAGE so that it stays eligible, then MADV_COLLAPSE (Linux 6.1) so that it is backed
// now, synchronously, rather than whenever khugepaged gets to it. Either may be refused (THP
// "never", an older kernel): what was granted is read back from smaps_rollup.
std::uint64_t LinuxOs::use_huge_pages() {
#ifndef MADV_COLLAPSE
  constexpr int MADV_COLLAPSE = 25;
#endif
  constexpr std::uintptr_t kHuge = 2u << 20;
  std::ifstream maps("/proc/self/maps");
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
  for (std::string line; std::getline(maps, line);) {
    // "start-end perms offset dev inode [path]"
    std::istringstream in(line);
    std::string span, perms, offset, dev, path;
    unsigned long inode = 0;
    if (!(in >> span >> perms >> offset >> dev >> inode)) continue;
    std::getline(in >> std::ws, path);
    if (perms != "rw-p" || inode != 0 || (!path.empty() && path != "[heap]")) continue;
    const auto dash = span.find('-');
    const std::uintptr_t start = std::stoull(span.substr(0, dash), nullptr, 16);
    const std::uintptr_t end = std::stoull(span.substr(dash + 1), nullptr, 16);
    const std::uintptr_t from = (start + kHuge - 1) & ~(kHuge - 1);
    const std::uintptr_t to = end & ~(kHuge - 1);
    if (to > from) ranges.emplace_back(from, to);
  }
  for (const auto& [from, to] : ranges) {
    void* at = reinterpret_cast<void*>(from);
    ::madvise(at, to - from, MADV_HUGEPAGE);
    ::madvise(at, to - from, MADV_COLLAPSE);
  }
  std::ifstream rollup("/proc/self/smaps_rollup");
  for (std::string line; std::getline(rollup, line);) {
    const auto digits = line.find_first_of("0123456789");
    if (line.rfind("AnonHugePages:", 0) == 0 && digits != std::string::npos) {
      return std::stoull(line.substr(digits)) * 1024;
    }
  }
  return 0;
}

}  // namespace zyg::real
