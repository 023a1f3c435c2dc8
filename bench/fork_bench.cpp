// Fork cost against the parent's resident memory. This process maps and touches N MiB, then forks
// a child that exits at once, over and over:
//   fork/bare/MiB:N       fork(); the child _exit(0)s
//   fork/spawn/MiB:N      zyg::real::LinuxOs::spawn, the server's own fork path (fork hygiene:
//                         thread check, signal mask, Asio fork notifications; in the child: reset
//                         dispositions, parent-death signal, close_range, a fresh LinuxOs)
//   fork/*_thp/MiB:N      the same with the N MiB on transparent huge pages (MADV_HUGEPAGE before
//                         touching, MADV_COLLAPSE after), when the kernel allows it
// Counters: fork_us (until fork/spawn returns in the parent), reap_us (until the child has exited
// and waitpid returned it), parent_rss_mib, huge_mib (of the N MiB, on huge pages).
// The iteration time is reap_us. Own flags: --sizes=1,64,256,1024  --smoke (sizes 1,64; short).
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "bench/harness.hpp"
#include "real/os_linux.hpp"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25  // Linux 6.1
#endif

namespace zyg::bench {
namespace {

constexpr std::size_t kMiB = 1024 * 1024;
constexpr std::size_t kHugePage = 2 * kMiB;

// "always [madvise] never" -> "madvise".
std::string thp_setting() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string all;
  std::getline(in, all);
  const auto open = all.find('[');
  const auto close = all.find(']');
  if (open == std::string::npos || close == std::string::npos) return "unavailable";
  return all.substr(open + 1, close - open - 1);
}

// N MiB of anonymous memory, every page written, optionally asked onto huge pages.
class Ballast {
 public:
  Ballast(std::size_t mib, bool huge) : bytes_(mib * kMiB), huge_(huge) {
    map_bytes_ = bytes_ + (huge ? kHugePage : 0);
    void* p =
        ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    map_ = static_cast<unsigned char*>(p);
    auto addr = reinterpret_cast<std::uintptr_t>(map_);
    if (huge) addr = (addr + kHugePage - 1) & ~(kHugePage - 1);  // whole huge pages
    data_ = reinterpret_cast<unsigned char*>(addr);
    if (huge) ::madvise(data_, bytes_, MADV_HUGEPAGE);
    std::memset(data_, 0xa5, bytes_);                   // non-zero: every page really resident
    if (huge) ::madvise(data_, bytes_, MADV_COLLAPSE);  // whatever faulted in small, if allowed
  }
  ~Ballast() {
    if (map_ != nullptr) ::munmap(map_, map_bytes_);
  }
  Ballast(const Ballast&) = delete;
  Ballast& operator=(const Ballast&) = delete;

  bool ok() const { return map_ != nullptr; }
  std::size_t mib() const { return bytes_ / kMiB; }
  bool huge() const { return huge_; }

 private:
  std::size_t bytes_;
  std::size_t map_bytes_ = 0;
  bool huge_;
  unsigned char* map_ = nullptr;
  unsigned char* data_ = nullptr;
};

// One ballast at a time, kept while consecutive benchmarks use the same size and kind.
std::unique_ptr<Ballast> g_ballast;

Ballast* ballast(std::size_t mib, bool huge) {
  if (!g_ballast || g_ballast->mib() != mib || g_ballast->huge() != huge) {
    g_ballast.reset();
    g_ballast = std::make_unique<Ballast>(mib, huge);
  }
  return g_ballast->ok() ? g_ballast.get() : nullptr;
}

real::LinuxOs& linux_os() {
  static real::LinuxOs os;  // one per process (LinuxOs refuses a second)
  return os;
}

// Forks a child that exits at once; returns the pid (in the parent only), -1 on failure.
pid_t fork_bare() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  return pid;
}

pid_t fork_spawn() {
  os::ChildSpec spec;
  spec.title = "bench-fork: child";
  spec.parent_death_signal = os::Signal::term;
  spec.main = [](os::Os&) { return 0; };
  auto r = linux_os().spawn(std::move(spec));
  return r.ok() ? r.value : -1;
}

void BM_fork(benchmark::State& state, bool spawn, bool huge) {
  const auto mib = static_cast<std::size_t>(state.range(0));
  if (huge && (thp_setting() == "never" || thp_setting() == "unavailable")) {
    state.SkipWithError("transparent huge pages not available (enabled: never)");
    return;
  }
  Ballast* b = ballast(mib, huge);
  if (b == nullptr) {
    state.SkipWithError("cannot map the parent's memory");
    return;
  }
  const Memory before = memory_of(::getpid()).value_or(Memory{});
  double fork_ns = 0;
  double reap_ns = 0;
  for (auto _ : state) {
    const std::int64_t t0 = mono_ns();
    const pid_t pid = spawn ? fork_spawn() : fork_bare();
    const std::int64_t t1 = mono_ns();
    if (pid < 0) {
      state.SkipWithError("fork failed");
      return;
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    const std::int64_t t2 = mono_ns();
    fork_ns += static_cast<double>(t1 - t0);
    reap_ns += static_cast<double>(t2 - t0);
    state.SetIterationTime(static_cast<double>(t2 - t0) / 1e9);
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["fork_us"] = fork_ns / n / 1e3;
  state.counters["reap_us"] = reap_ns / n / 1e3;
  state.counters["parent_rss_mib"] = static_cast<double>(before.rss_kib) / 1024.0;
  state.counters["huge_mib"] = static_cast<double>(before.anon_huge_kib) / 1024.0;
}

}  // namespace
}  // namespace zyg::bench

int main(int argc, char** argv) {
  using zyg::bench::BM_fork;
  zyg::bench::Flags flags(&argc, argv, {"sizes", "smoke"});
  const bool smoke = flags.has("smoke");
  const std::vector<int> sizes =
      flags.ints("sizes", smoke ? std::vector<int>{1, 64} : std::vector<int>{1, 64, 256, 1024});
  struct Kind {
    const char* name;
    bool spawn;
    bool huge;
  };
  const Kind kinds[] = {{"fork/bare", false, false},
                        {"fork/spawn", true, false},
                        {"fork/bare_thp", false, true},
                        {"fork/spawn_thp", true, true}};
  // Size-major order, so one ballast serves every kind of the same size and huge-ness in a row.
  for (int mib : sizes) {
    for (const Kind& k : kinds) {
      auto* b = benchmark::RegisterBenchmark(k.name, BM_fork, k.spawn, k.huge);
      b->ArgName("MiB")->Arg(mib)->UseManualTime()->Unit(benchmark::kMicrosecond);
      if (smoke) b->Iterations(3);
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::AddCustomContext("thp_enabled", zyg::bench::thp_setting());
  // The first forks of a process run slower (the CPU idle, caches and page tables cold): warm up.
  for (int i = 0; i < 200; ++i) {
    const pid_t pid = zyg::bench::fork_bare();
    if (pid > 0) ::waitpid(pid, nullptr, 0);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  zyg::bench::g_ballast.reset();
  return 0;
}
