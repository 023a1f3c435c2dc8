// Time to a ready worker that has served its first request, with testapp preloading M MiB:
//
//   ready/zygote_fork/preload_MiB:M  zygote-real --workers 1 --max-requests 1: every worker
//       retires after one request and the supervisor asks the zygote for a new one. The next
//       request is already waiting in the accept queue, so the time from the supervisor's
//       request-worker step (its event time `t`) to that request's response is exactly: zygote
//       receives the request, forks (copying the page tables of M MiB), worker init, ready,
//       accept, serve. Each iteration starts once the master has reaped the worker that served
//       the previous iteration's request (its worker-exited step), so that a slow exit cannot
//       leave one new worker to take both requests. A sample whose request was sent after the
//       request-worker step, or that the worker which answered A also answered, is dropped.
//   ready/zygote_fork_thp/preload_MiB:M  the same with zygote-real --huge-pages: the zygote moves
//       its loaded memory to transparent huge pages, so the fork copies far fewer page tables.
//   ready/cold_server/preload_MiB:M  a fresh zygote-real --workers 1: from posix_spawn to the
//       first response (exec, master, zygote fork, app load and preload, worker fork, serve).
//   ready/cold_solo/preload_MiB:M    a fresh bench-solo (exec, load, serve; no master or zygote).
//
// The iteration time is that duration (manual time). Counters (milliseconds, medians over the
// samples): ready_ms, p90_ms; zygote_fork also spawned_ms and ready_event_ms (request-worker to
// the master's worker-spawned and worker-ready steps), dropped (samples that measured no fresh
// fork; `samples` counts the kept ones), zygote_load_ms (one sample: start-zygote
// to zygote-loaded, the app's load and, with --huge-pages, the collapse) and huge_mib (the
// zygote's AnonHugePages; 0 where the kernel gave none); cold_server also loaded_ms (to the
// zygote-loaded step). Own flags: --zygote-real= --testapp= --solo= --preload=64,256,1024
// --samples=N --cold-samples=N --smoke.
#include <signal.h>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/harness.hpp"

namespace zyg::bench {
namespace {

struct Paths {
  std::string zygote_real;
  std::string testapp;
  std::string solo;
};
Paths g_paths;

constexpr std::int64_t kSecond = 1'000'000'000;

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

// The pid in testapp's answer "testapp <release> pid <pid>\n", or 0.
pid_t pid_in(const std::string& body) {
  const auto at = body.rfind(" pid ");
  return at == std::string::npos ? 0 : static_cast<pid_t>(std::atol(body.c_str() + at + 5));
}

// The one worker of a --workers 1 server is ready and nothing else is in flight.
bool one_worker_ready(Events& events) {
  return eventually(
      [&] {
        events.reload();
        const WorkerTracker t = replay(events);
        return t.count() == 1 && t.ready_or_busy() == 1;
      },
      std::chrono::seconds(30));
}

// The master has reaped `worker` (its worker-exited step), within 10 s.
bool exited(Events& events, const std::string& worker) {
  return eventually(
      [&] {
        events.reload();
        return events.event_time("worker-exited " + worker).has_value();
      },
      std::chrono::seconds(10));
}

void set_summary(benchmark::State& state, const std::vector<double>& ready_ms) {
  state.counters["ready_ms"] = percentile(ready_ms, 50);
  state.counters["p90_ms"] = percentile(ready_ms, 90);
  state.counters["samples"] = static_cast<double>(ready_ms.size());
}

std::string conf(int preload_mib) { return "preload_mib " + std::to_string(preload_mib) + "\n"; }

// The zygote's load (start-zygote to zygote-loaded) and its AnonHugePages, once it has a worker.
void record_zygote(benchmark::State& state, const Process& server, const Events& events) {
  const auto started = events.command_time("start-zygote");
  const auto loaded = events.event_time("zygote-loaded");
  if (started && loaded) state.counters["zygote_load_ms"] = ms(*loaded - *started);
  for (const testing::ProcessId& m : processes_in_group(server.pid())) {
    if (m.comm.rfind("zygote-real: zy", 0) == 0) {
      state.counters["huge_mib"] =
          static_cast<double>(memory_of(m.pid).value_or(Memory{}).anon_huge_kib) / 1024.0;
    }
  }
}

void BM_zygote_fork(benchmark::State& state, bool huge_pages) {
  const int mib = static_cast<int>(state.range(0));
  Scratch scratch;
  scratch.release("R", g_paths.testapp, conf(mib));
  scratch.point_current("R");
  const std::uint16_t port = free_port();
  const auto events_file = scratch.path() / "events.jsonl";
  std::vector<std::string> options = {"--max-requests", "1"};
  if (huge_pages) options.push_back("--huge-pages");
  Process server(
      server_argv(g_paths.zygote_real, scratch, port, 1, events_file, options, {"testapp"}),
      scratch.path() / "log");
  Events events(events_file);
  if (one_worker_ready(events)) record_zygote(state, server, events);
  std::vector<double> ready, spawned, ready_event;
  std::int64_t dropped = 0;
  std::optional<std::string> previous;  // the worker that answered the previous iteration's B
  for (auto _ : state) {
    // A (?ms=30) occupies the one worker, which retires after it; B waits in the accept queue
    // meanwhile and is served by the next worker, whose whole start is therefore measured.
    if (previous && !exited(events, *previous)) {
      state.SkipWithError("the previous worker never exited");
      return;
    }
    if (!one_worker_ready(events)) {
      state.SkipWithError("the worker never became ready");
      return;
    }
    const std::int64_t deadline = mono_ns() + 30 * kSecond;
    Pending a = http_send(port, "/?ms=30", deadline);
    sleep_ms(10);
    Pending b = http_send(port, "/", deadline);
    const HttpResult ra = http_finish(a, deadline);
    const HttpResult rb = http_finish(b, deadline);
    std::optional<std::string> worker;
    std::optional<std::int64_t> requested;
    if (ra.status == 200 && rb.status == 200) {
      eventually(
          [&] {
            events.reload();
            worker = events.worker_with_pid(pid_in(rb.body));
            if (worker) requested = events.command_time("request-worker " + *worker);
            return requested && events.event_time("worker-ready " + *worker);
          },
          std::chrono::seconds(5));
    }
    if (!requested) {
      state.SkipWithError("no request-worker step for the worker that answered");
      return;
    }
    previous = worker;
    if (rb.sent_ns > *requested || pid_in(ra.body) == pid_in(rb.body)) {
      ++dropped;  // B was not waiting for a new worker: it would not measure one
      state.SetIterationTime(static_cast<double>(rb.done_ns - rb.sent_ns) / 1e9);
      continue;
    }
    state.SetIterationTime(static_cast<double>(rb.done_ns - *requested) / 1e9);
    ready.push_back(ms(rb.done_ns - *requested));
    spawned.push_back(ms(events.event_time("worker-spawned " + *worker).value_or(0) - *requested));
    ready_event.push_back(ms(*events.event_time("worker-ready " + *worker) - *requested));
  }
  set_summary(state, ready);
  state.counters["spawned_ms"] = percentile(spawned, 50);
  state.counters["ready_event_ms"] = percentile(ready_event, 50);
  state.counters["dropped"] = static_cast<double>(dropped);
  server.stop();
}

// One cold start: `argv` started fresh; returns spawn-to-first-response, or -1.
std::int64_t cold_start(const std::vector<std::string>& argv, const Scratch& scratch,
                        std::uint16_t port) {
  const std::int64_t t0 = mono_ns();
  Process p(argv, scratch.path() / "log");
  const HttpResult r = http_get(port, "/", t0 + 60 * kSecond);
  p.stop();
  return r.status == 200 ? r.done_ns - t0 : -1;
}

void BM_cold(benchmark::State& state, bool solo) {
  const int mib = static_cast<int>(state.range(0));
  Scratch scratch;
  const auto release = scratch.release("R", g_paths.testapp, conf(mib));
  scratch.point_current("R");
  const auto events_file = scratch.path() / "events.jsonl";
  std::vector<double> ready, loaded;
  for (auto _ : state) {
    const std::uint16_t port = free_port();
    std::filesystem::remove(events_file);
    const auto argv =
        solo ? std::vector<std::string>{g_paths.solo, std::to_string(port), release.string(),
                                        "testapp"}
             : server_argv(g_paths.zygote_real, scratch, port, 1, events_file, {}, {"testapp"});
    const std::int64_t t0 = mono_ns();
    const std::int64_t took = cold_start(argv, scratch, port);
    if (took < 0) {
      state.SkipWithError("the cold start never answered");
      return;
    }
    state.SetIterationTime(static_cast<double>(took) / 1e9);
    ready.push_back(ms(took));
    if (!solo) {
      Events events(events_file);
      events.reload();
      if (auto t = events.event_time("zygote-loaded")) loaded.push_back(ms(*t - t0));
    }
  }
  set_summary(state, ready);
  if (!solo) state.counters["loaded_ms"] = percentile(loaded, 50);
}

}  // namespace
}  // namespace zyg::bench

int main(int argc, char** argv) {
  using namespace zyg::bench;
  Flags flags(&argc, argv,
              {"zygote-real", "testapp", "solo", "preload", "samples", "cold-samples", "smoke"});
  const bool smoke = flags.has("smoke");
  g_paths = {flags.get("zygote-real", ZYGOTE_REAL_PATH), flags.get("testapp", TESTAPP_PATH),
             flags.get("solo", BENCH_SOLO_PATH)};
  const auto sizes =
      flags.ints("preload", smoke ? std::vector<int>{16} : std::vector<int>{64, 256, 1024});
  const int samples = std::stoi(flags.get("samples", smoke ? "3" : "30"));
  const int cold_samples = std::stoi(flags.get("cold-samples", smoke ? "2" : "8"));
  for (int mib : sizes) {
    auto reg = [&](const char* name, auto fn, int n) {
      benchmark::RegisterBenchmark(name, fn)
          ->ArgName("preload_MiB")
          ->Arg(mib)
          ->Iterations(n)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    };
    reg(
        "ready/zygote_fork", [](benchmark::State& s) { BM_zygote_fork(s, false); }, samples);
    reg(
        "ready/zygote_fork_thp", [](benchmark::State& s) { BM_zygote_fork(s, true); }, samples);
    reg(
        "ready/cold_server", [](benchmark::State& s) { BM_cold(s, false); }, cold_samples);
    reg(
        "ready/cold_solo", [](benchmark::State& s) { BM_cold(s, true); }, cold_samples);
  }
  ::signal(SIGPIPE, SIG_IGN);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
