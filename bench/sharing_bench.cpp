// Page sharing: N workers forked from one zygote whose app preloaded M MiB, against N processes
// that each load the app on their own (bench-solo), with the churn app (bench/apps/churn.c):
//
//   sharing/zygote/dirty_pages:D  zygote-real --workers N, churn preload_mib=M dirty_pages=D
//   sharing/zygote_thp/dirty_pages:D  the same with zygote-real --huge-pages (the zygote moves
//                                 what churn preloaded to transparent huge pages)
//   sharing/solo/dirty_pages:D    N bench-solo processes, each loading churn itself
//
// At each checkpoint (requests per process so far: 0 = right after fork or load, then after
// more requests) every process's /proc/PID/smaps_rollup is read. Counters (MiB, at checkpoint K):
// uss_mib_rK, pss_mib_rK and huge_mib_rK (AnonHugePages; mean over the N workers or solo
// processes), total_pss_mib_rK (every process of the setup: master, zygote and workers; or the N
// solo processes); zygote modes also zygote_pss_mib_r0 and zygote_huge_mib (the zygote's
// AnonHugePages after its workers started: 0 where the kernel gave none). Requests go over new
// connections from N client threads at once; each solo process gets its own share, zygote workers
// take what the shared accept queue gives them (served_min/served_max: the spread, from the
// worker-idle events). Own flags: --zygote-real= --solo= --churn= --workers=4 --preload=256
// --dirty=0,16
// --checkpoints=0,100,1000,5000 --smoke.
#include <signal.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/harness.hpp"

namespace zyg::bench {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

struct Setup {
  std::string zygote_real, solo, churn;
  int workers = 4;
  int preload_mib = 256;
  std::vector<int> checkpoints;
};
Setup g;

double mib(std::int64_t kib) { return static_cast<double>(kib) / 1024.0; }

std::vector<std::string> churn_args(int dirty) {
  return {"churn", "preload_mib=" + std::to_string(g.preload_mib),
          "dirty_pages=" + std::to_string(dirty)};
}

// Sends `count` requests to each port in `ports` (one client thread per entry); returns failures.
int send_requests(const std::vector<std::uint16_t>& ports, int count) {
  std::vector<int> failed(ports.size(), 0);
  std::vector<std::thread> clients;
  for (std::size_t i = 0; i < ports.size(); ++i) {
    clients.emplace_back([&, i] {
      for (int k = 0; k < count; ++k) {
        if (http_get(ports[i], "/", mono_ns() + 30 * kSecond).status != 200) ++failed[i];
      }
    });
  }
  for (auto& t : clients) t.join();
  int total = 0;
  for (int f : failed) total += f;
  return total;
}

// Reads every process's memory at checkpoint `k` into counters; false if one could not be read.
bool record(benchmark::State& state, int k, const std::vector<pid_t>& measured,
            const std::vector<pid_t>& everyone) {
  double uss = 0, pss = 0, huge = 0, total = 0;
  for (pid_t p : measured) {
    auto m = memory_of(p);
    if (!m) return false;
    uss += mib(m->uss_kib);
    pss += mib(m->pss_kib);
    huge += mib(m->anon_huge_kib);
  }
  for (pid_t p : everyone) total += mib(memory_of(p).value_or(Memory{}).pss_kib);
  const double n = static_cast<double>(measured.size());
  const std::string r = "_r" + std::to_string(k);
  state.counters["uss_mib" + r] = uss / n;
  state.counters["pss_mib" + r] = pss / n;
  state.counters["huge_mib" + r] = huge / n;
  state.counters["total_pss_mib" + r] = total;
  return true;
}

// Workers served, min and max over workers, from the last worker-idle event of each.
std::pair<double, double> served_spread(Events& events) {
  events.reload();
  std::map<std::string, double> served;
  for (const Step& s : events.steps()) {
    const std::string& e = s.event;
    if (e.rfind("worker-idle ", 0) != 0) continue;
    const auto sp = e.find(' ', 12);
    served[e.substr(12, sp - 12)] = std::stod(e.substr(e.rfind(' ') + 1));
  }
  if (served.empty()) return {0, 0};
  double lo = 1e18, hi = 0;
  for (const auto& [w, n] : served) {
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  return {lo, hi};
}

void run_checkpoints(benchmark::State& state, const std::vector<std::uint16_t>& ports,
                     const std::vector<pid_t>& measured, const std::vector<pid_t>& everyone) {
  int done = 0;
  for (int k : g.checkpoints) {
    if (send_requests(ports, k - done) != 0) {
      state.SkipWithError("requests failed");
      return;
    }
    done = k;
    if (!record(state, k, measured, everyone)) {
      state.SkipWithError("cannot read /proc/PID/smaps_rollup");
      return;
    }
  }
}

void BM_zygote(benchmark::State& state, bool huge_pages) {
  const int dirty = static_cast<int>(state.range(0));
  const std::vector<std::string> options =
      huge_pages ? std::vector<std::string>{"--huge-pages"} : std::vector<std::string>{};
  for (auto _ : state) {
    const std::int64_t t0 = mono_ns();
    Scratch scratch;
    scratch.release("R", g.churn);
    scratch.point_current("R");
    const std::uint16_t port = free_port();
    const auto events_file = scratch.path() / "events.jsonl";
    Process server(server_argv(g.zygote_real, scratch, port, g.workers, events_file, options,
                               churn_args(dirty)),
                   scratch.path() / "log");
    Events events(events_file);
    const bool up = eventually(
        [&] {
          events.reload();
          const WorkerTracker t = replay(events);
          return t.count() == g.workers && t.ready_or_busy() == g.workers;
        },
        std::chrono::seconds(60));
    if (!up) {
      state.SkipWithError("the workers never became ready");
      return;
    }
    std::vector<pid_t> workers, everyone;
    for (const testing::ProcessId& m : processes_in_group(server.pid())) {
      everyone.push_back(m.pid);
      if (m.comm.rfind("zygote-real: wo", 0) == 0) workers.push_back(m.pid);
      if (m.comm.rfind("zygote-real: zy", 0) == 0) {
        const Memory z = memory_of(m.pid).value_or(Memory{});
        state.counters["zygote_pss_mib_r0"] = mib(z.pss_kib);
        state.counters["zygote_huge_mib"] = mib(z.anon_huge_kib);
      }
    }
    run_checkpoints(state, std::vector<std::uint16_t>(workers.size(), port), workers, everyone);
    const auto [lo, hi] = served_spread(events);
    state.counters["served_min"] = lo;
    state.counters["served_max"] = hi;
    server.stop();
    state.SetIterationTime(static_cast<double>(mono_ns() - t0) / 1e9);
  }
}

void BM_solo(benchmark::State& state) {
  const int dirty = static_cast<int>(state.range(0));
  for (auto _ : state) {
    const std::int64_t t0 = mono_ns();
    Scratch scratch;
    const auto release = scratch.release("R", g.churn);
    std::vector<std::unique_ptr<Process>> procs;
    std::vector<std::uint16_t> ports;
    std::vector<pid_t> pids;
    for (int i = 0; i < g.workers; ++i) {
      ports.push_back(free_port());
      std::vector<std::string> argv = {g.solo, std::to_string(ports.back()), release.string()};
      for (const std::string& a : churn_args(dirty)) argv.push_back(a);
      procs.push_back(std::make_unique<Process>(argv, scratch.path() / "log"));
      pids.push_back(procs.back()->pid());
    }
    for (std::uint16_t p : ports) {
      if (!wait_listening(p, mono_ns() + 60 * kSecond)) {
        state.SkipWithError("a solo process never listened");
        return;
      }
    }
    run_checkpoints(state, ports, pids, pids);
    for (auto& p : procs) p->stop();
    state.SetIterationTime(static_cast<double>(mono_ns() - t0) / 1e9);
  }
}

}  // namespace
}  // namespace zyg::bench

int main(int argc, char** argv) {
  using namespace zyg::bench;
  Flags flags(
      &argc, argv,
      {"zygote-real", "solo", "churn", "workers", "preload", "dirty", "checkpoints", "smoke"});
  const bool smoke = flags.has("smoke");
  g.zygote_real = flags.get("zygote-real", ZYGOTE_REAL_PATH);
  g.solo = flags.get("solo", BENCH_SOLO_PATH);
  g.churn = flags.get("churn", CHURN_PATH);
  g.workers = std::stoi(flags.get("workers", smoke ? "2" : "4"));
  g.preload_mib = std::stoi(flags.get("preload", smoke ? "16" : "256"));
  g.checkpoints = flags.ints(
      "checkpoints", smoke ? std::vector<int>{0, 20} : std::vector<int>{0, 100, 1000, 5000});
  const auto dirty = flags.ints("dirty", smoke ? std::vector<int>{16} : std::vector<int>{0, 16});
  for (int d : dirty) {
    using Fn = void (*)(benchmark::State&);
    const std::pair<const char*, Fn> kinds[] = {
        {"sharing/zygote", [](benchmark::State& s) { BM_zygote(s, false); }},
        {"sharing/zygote_thp", [](benchmark::State& s) { BM_zygote(s, true); }},
        {"sharing/solo", BM_solo}};
    for (auto [name, fn] : kinds) {
      benchmark::RegisterBenchmark(name, fn)
          ->ArgName("dirty_pages")
          ->Arg(d)
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kSecond);
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::AddCustomContext("workers", std::to_string(g.workers));
  benchmark::AddCustomContext("preload_mib", std::to_string(g.preload_mib));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
