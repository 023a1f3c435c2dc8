// LinuxOs (real/os_linux.hpp), in pieces: this file holds the shared state, the helpers and
// identity and time; os_linux_process.cpp, _signals, _descriptors, _wait and _files the rest.
#include "real/os_linux_internal.hpp"

namespace zyg::real {

using os::Signal;

namespace {

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

// The argv area set_process_title may overwrite (after init_process_title).
char* g_title_area = nullptr;
std::size_t g_title_len = 0;

}  // namespace

namespace linux_detail {

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

}  // namespace linux_detail

using namespace linux_detail;  // this layer's own helpers

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

// A write to a pipe or socket whose reader is gone must be an EPIPE, not the process's death:
// SIGPIPE is ignored in every process that runs on this layer (the app's code included, as in
// every server). Sockets are written with MSG_NOSIGNAL anyway; this covers pipes and files.
// Programs the app execs inherit the ignored disposition, as they do under nginx or gunicorn.

LinuxOs::LinuxOs() : signals_(std::make_unique<Signals>()) { ::signal(SIGPIPE, SIG_IGN); }

LinuxOs::~LinuxOs() = default;

// ---------------------------------------------------------------------------------------------
// Identity and time

Pid LinuxOs::getpid() { return ::getpid(); }
Pid LinuxOs::getppid() { return ::getppid(); }

Nanos LinuxOs::now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return Nanos{static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec};
}

}  // namespace zyg::real
