// LinuxOs: files (realpath, the state file) and inspection (usage, huge pages, memory_of).
#include "real/os_linux_internal.hpp"

namespace zyg::real {

using namespace linux_detail;  // this layer's own helpers
using os::Signal;

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

// Rss, Pss and the private lines of /proc/PID/smaps_rollup (kB), read through read_file: a
// process gone between the listing and the read is ESRCH/ENOENT, one of another user EACCES.
os::Result<os::Memory> LinuxOs::memory_of(Pid pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/smaps_rollup");
  if (!text.ok()) return fail<os::Memory>(text.error);
  os::Memory m;
  bool seen = false;
  std::istringstream in(text.value);
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string_view key(line.data(), colon);
    std::uint64_t* into = key == "Rss"                                         ? &m.rss_bytes
                          : key == "Pss"                                       ? &m.pss_bytes
                          : (key == "Private_Clean" || key == "Private_Dirty") ? &m.uss_bytes
                                                                               : nullptr;
    if (into == nullptr) continue;
    *into += std::strtoull(line.c_str() + colon + 1, nullptr, 10) * 1024;
    seen = true;
  }
  if (!seen) return fail<os::Memory>(ESRCH);  // a zombie's rollup is empty
  return {m, 0};
}

Nanos LinuxOs::wall_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return Nanos{static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec};
}

os::Result<os::Fd> LinuxOs::open_append(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return fail<os::Fd>(errno);
  return {fd, 0};
}

}  // namespace zyg::real
