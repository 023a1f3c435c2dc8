// Deploys under load. zygote-real --workers W serves testapp (preload_mib M, latency_ms 1) while
// the zygote-load client (linked in: zyg::load::run_load) keeps C clients busy (half keep-alive,
// a pause of think-ms between a client's requests). The load is continuous and cut into 1 s
// windows so that latency can be told apart in time: two streams of C/2 clients each run
// consecutive windows, the second offset by half a window, so that one stream's restart between
// windows falls in the middle of the other's window and no instant goes unmeasured.
//   1. steady: steady-ms of load, no deploy;
//   2. deploys: load goes on while every gap-ms a new release (R1, R2...) is deployed (symlink
//      repointed, SIGHUP). The gap exceeds the supervisor's 10 s probation, so every deploy starts
//      from a proven version with one zygote resident.
// A sampler thread reads /proc every 50 ms: worker processes of the server's group (zombies
// included) and the total PSS of every process in it (master, zygotes, workers); for 3 s after
// each deploy command, the workers alone, every millisecond.
// Counters: {steady,deploy}_{requests,rps,failed,retried,reopened} over each phase and
// {steady,deploy}_{p50,p99}_ms, the median over the phase's windows, {steady,deploy}_windows,
// steady_p99_p90_ms (the p90 of the steady windows' p99s) and {steady,deploy}_p99_worst_ms.
// Rollout windows are the windows that overlap a rollout (from SIGHUP to every worker new):
// rollout_windows, rollout_p99_ms (the median of their p99s, against steady_p99_ms),
// rollout_p99_worst_ms and rollout_windows_above_steady_p90 (about one in ten would be by chance).
// *_reopened: connections a keep-alive client had to open after its window's first (the server
// closed the one it had); rollout_reopened: in the rollout windows. A deploy that keeps every
// connection opens none beyond the steady windows' rate.
// load_gap_max_ms: the longest stretch of the load during which no window was sending requests;
// rollouts_covered: the rollouts that lie wholly within sending windows. all_new_ms (median over
// deploys) and all_new_max_ms: from the deploy command (just before SIGHUP) to the master's first
// step with W workers, every one of them on the new version and ready or busy; peak_workers
// (sampled) and peak_workers_events (the master's own count); budget; steady_total_pss_mib (mean),
// peak_total_pss_mib.
// --flask=FILE serves the Flask app FILE (bench/peers/flask_app.py: flask_app:app) from every
// release instead of testapp, and --server=gunicorn serves it with gunicorn from Debian (sync
// workers, no --preload, --chdir <scratch>/current, so that its HUP loads the new release's code in
// new workers) under the same load, signals and sampler: its deploy is gunicorn's HUP, which forks
// W new workers and then stops the old ones. gunicorn says nothing of its workers' readiness, so
// for it a rollout ends at the first sample with W workers none of which was there before the
// HUP (all_new_ms, from the samples; its new workers may still be importing the app then: the
// load windows' p99 shows what that costs); peak_workers_events is zygote-real's alone.
// --timeline=PREFIX writes PREFIX.tsv (t_s workers total_pss_mib), PREFIX-latency.tsv (per window:
// t_s p50_ms p99_ms requests failed stream) and PREFIX-deploys.tsv.
// Own flags: --zygote-real= --testapp= --workers=4 --preload=128 --clients=32 --think-ms=10
// --steady-ms=10000 --deploys=3 --gap-ms=12000 --timeline= --smoke, and --server-flags="..." (more
// zygote-real flags, space-separated: --server-flags="--max-changing 0" measures every old worker
// stopped at once), --flask=FILE --server=zygote-real|gunicorn.
#include <signal.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/harness.hpp"
#include "real/load/load.hpp"

namespace zyg::bench {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

struct Setup {
  std::string zygote_real, testapp, timeline;
  std::string flask;                   // --flask=: the Flask app file every release holds
  std::string server = "zygote-real";  // or "gunicorn" (with --flask)
  int workers = 4, preload_mib = 128, clients = 32, think_ms = 10, deploys = 3;
  int steady_ms = 10000, gap_ms = 12000;
  // --server-flags=: more zygote-real flags, space-separated.
  std::vector<std::string> server_flags;
};
Setup g;

struct Sample {
  std::int64_t t_ns = 0;
  int workers = 0;
  double total_pss_mib = 0;
  std::vector<testing::ProcessId> worker_ids;  // which they are (a pid reused is another)
};

bool gunicorn() { return g.server == "gunicorn"; }

// A worker process of the server whose group is `pgid`: zygote-real names its workers; every
// process of gunicorn's group but its master is a worker.
bool is_worker(const testing::ProcessId& p, pid_t pgid) {
  if (gunicorn()) return p.pid != pgid;
  return p.comm.rfind("zygote-real: wo", 0) == 0;
}

// Samples the server's process group every 50 ms until stopped; for a while after each deploy
// command (fast_for), every millisecond and without reading memory (the last PSS is carried), so
// that workers which overlap for a few milliseconds are seen together.
class Sampler {
 public:
  explicit Sampler(pid_t pgid) : thread_([this, pgid] { run(pgid); }) {}
  void fast_for(int ms) { fast_until_ns_ = mono_ns() + ms * 1'000'000LL; }
  ~Sampler() { stop(); }
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::vector<Sample>& samples() const { return samples_; }  // after stop()

 private:
  void run(pid_t pgid) {
    double pss = 0;
    while (!stop_) {
      const bool fast = mono_ns() < fast_until_ns_;
      Sample s{mono_ns(), 0, 0, {}};
      for (const testing::ProcessId& m : processes_in_group(pgid)) {
        if (is_worker(m, pgid)) {
          ++s.workers;
          s.worker_ids.push_back(m);
        }
        if (fast) continue;
        if (auto mem = memory_of(m.pid))
          s.total_pss_mib += static_cast<double>(mem->pss_kib) / 1024;
      }
      if (fast) s.total_pss_mib = pss;
      pss = s.total_pss_mib;
      samples_.push_back(std::move(s));
      sleep_ms(fast ? 1 : 50);
    }
  }
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> fast_until_ns_{0};
  std::vector<Sample> samples_;
  std::thread thread_;
};

load::Options load_options(std::uint16_t port, int clients, int duration_ms) {
  load::Options o;
  o.port = port;
  o.clients = clients;
  o.duration_ms = duration_ms;
  o.keepalive_percent = 50;
  o.think_ms = g.think_ms;
  o.allow_failures = true;
  return o;
}

struct Window {
  int stream = 0;
  std::int64_t start_ns = 0;  // the load began (zygote-load's own clock: CLOCK_MONOTONIC)
  std::int64_t stop_ns = 0;   // it stopped sending new requests
  std::int64_t end_ns = 0;    // the last response is in
  load::Summary summary;
};

constexpr int kWindowMs = 1000;
constexpr int kFastSamplingMs = 3000;  // after a deploy command
constexpr int kStreams = 2;

// Stream `k` of the continuous load: consecutive windows of `clients` clients until `until_ns`,
// the first one shortened by k / kStreams of a window so that the streams' restarts interleave.
std::vector<Window> load_stream(std::uint16_t port, int k, int clients, std::int64_t until_ns) {
  std::vector<Window> out;
  int duration_ms = kWindowMs - k * kWindowMs / kStreams;
  while (mono_ns() + duration_ms * 1'000'000LL / 2 < until_ns) {
    Window w;
    w.stream = k;
    w.summary = load::run_load(load_options(port, clients, duration_ms));
    w.end_ns = mono_ns();
    w.start_ns = std::llround(w.summary.start_monotonic_ms * 1e6);
    w.stop_ns = w.start_ns + duration_ms * 1'000'000LL;
    out.push_back(std::move(w));
    duration_ms = kWindowMs;
  }
  return out;
}

// Load until `until_ns` from kStreams streams sharing the clients; the windows by start.
std::vector<Window> continuous_load(std::uint16_t port, std::int64_t until_ns) {
  std::vector<std::vector<Window>> streams(kStreams);
  std::vector<std::thread> threads;
  for (int k = 0; k < kStreams; ++k) {
    const int clients = g.clients / kStreams + (k < g.clients % kStreams ? 1 : 0);
    threads.emplace_back([&, k, clients] {
      streams[static_cast<std::size_t>(k)] = load_stream(port, k, clients, until_ns);
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<Window> out;
  for (auto& s : streams) std::move(s.begin(), s.end(), std::back_inserter(out));
  std::sort(out.begin(), out.end(),
            [](const Window& a, const Window& b) { return a.start_ns < b.start_ns; });
  return out;
}

// The p99s of the windows that start in [from_ns, to_ns).
std::vector<double> p99s_in(const std::vector<Window>& ws, std::int64_t from_ns,
                            std::int64_t to_ns) {
  std::vector<double> out;
  for (const Window& w : ws) {
    if (w.start_ns >= from_ns && w.start_ns < to_ns) out.push_back(w.summary.p99_ms);
  }
  return out;
}

// Phase totals and the median window's p50/p99 of the windows that start in [from_ns, to_ns).
void put_phase(benchmark::State& state, const std::string& phase, const std::vector<Window>& ws,
               std::int64_t from_ns, std::int64_t to_ns) {
  double requests = 0, failed = 0, retried = 0, reopened = 0, seconds = 0;
  std::vector<double> p50;
  for (const Window& w : ws) {
    if (w.start_ns < from_ns || w.start_ns >= to_ns) continue;
    requests += static_cast<double>(w.summary.requests());
    failed += static_cast<double>(w.summary.failed());
    retried += static_cast<double>(w.summary.retried);
    reopened += static_cast<double>(w.summary.keepalive_reopened);
    seconds += w.summary.elapsed_s / kStreams;  // each stream has its share of the clients
    p50.push_back(w.summary.p50_ms);
  }
  const std::vector<double> p99 = p99s_in(ws, from_ns, to_ns);
  state.counters[phase + "_requests"] = requests;
  state.counters[phase + "_failed"] = failed;
  state.counters[phase + "_retried"] = retried;
  state.counters[phase + "_reopened"] = reopened;
  state.counters[phase + "_rps"] = seconds > 0 ? requests / seconds : 0;
  state.counters[phase + "_windows"] = static_cast<double>(p99.size());
  state.counters[phase + "_p50_ms"] = percentile(p50, 50);
  state.counters[phase + "_p99_ms"] = percentile(p99, 50);
  state.counters[phase + "_p99_worst_ms"] = percentile(p99, 100);
}

// Per deploy step: the t_ns of the first step after which every one of the W workers runs the
// new version and is ready or busy.
std::vector<std::int64_t> rollout_ends(const Events& events) {
  std::vector<std::int64_t> out;
  WorkerTracker t;
  std::optional<std::string> pending;  // the version of the deploy not yet rolled out
  for (const Step& s : events.steps()) {
    t.apply(s);
    if (s.event.rfind("deploy ", 0) == 0) pending = s.event.substr(7);
    if (pending && t.all_on(*pending, g.workers)) {
      out.push_back(s.t_ns);
      pending.reset();
    }
  }
  return out;
}

// The most workers the master accounted for at once.
int peak_workers_in(const Events& events) {
  WorkerTracker t;
  int peak = 0;
  for (const Step& s : events.steps()) {
    t.apply(s);
    peak = std::max(peak, t.count());
  }
  return peak;
}

// From the samples, for each deploy command: the first sample after it with W workers, none of
// them one that was there when the command was sent.
std::vector<std::int64_t> rollout_ends_sampled(const std::vector<Sample>& samples,
                                               const std::vector<std::int64_t>& sent) {
  std::vector<std::int64_t> out;
  for (std::int64_t t : sent) {
    std::vector<testing::ProcessId> before;
    for (const Sample& s : samples) {
      if (s.t_ns <= t) before = s.worker_ids;
    }
    for (const Sample& s : samples) {
      if (s.t_ns <= t || s.workers != g.workers) continue;
      const bool all_new = std::none_of(s.worker_ids.begin(), s.worker_ids.end(), [&](auto& w) {
        return std::find(before.begin(), before.end(), w) != before.end();
      });
      if (all_new) {
        out.push_back(s.t_ns);
        break;
      }
    }
  }
  return out;
}

// Every wanted worker is ready on one version.
bool settled(Events& events) {
  events.reload();
  const WorkerTracker t = replay(events);
  const auto v = t.common_version();
  return v && t.all_on(*v, g.workers);
}

void write_timeline(const std::vector<Sample>& samples, const std::vector<Window>& windows,
                    const std::vector<std::int64_t>& deploys, std::int64_t t0) {
  if (g.timeline.empty()) return;
  std::ofstream lat(g.timeline + "-latency.tsv");
  lat << "# t_s\tp50_ms\tp99_ms\trequests\tfailed\tstream (one line per load window, at its "
         "middle)\n";
  for (const Window& w : windows) {
    lat << static_cast<double>((w.start_ns + w.end_ns) / 2 - t0) / 1e9 << "\t" << w.summary.p50_ms
        << "\t" << w.summary.p99_ms << "\t" << w.summary.requests() << "\t" << w.summary.failed()
        << "\t" << w.stream << "\n";
  }
  std::ofstream tl(g.timeline + ".tsv");
  tl << "# t_s\tworkers\ttotal_pss_mib\n";
  for (const Sample& s : samples) {
    tl << static_cast<double>(s.t_ns - t0) / 1e9 << "\t" << s.workers << "\t" << s.total_pss_mib
       << "\n";
  }
  std::ofstream dl(g.timeline + "-deploys.tsv");
  dl << "# t_s budget\n";
  for (std::int64_t t : deploys)
    dl << static_cast<double>(t - t0) / 1e9 << "\t" << g.workers << "\n";
}

// Deploys R1..Rn, the first after a quarter gap, then every gap; returns the command times.
std::vector<std::int64_t> deploy_all(Scratch& scratch, Process& server, Sampler& sampler) {
  std::vector<std::int64_t> times;
  sleep_ms(g.gap_ms / 4);
  for (int i = 1; i <= g.deploys; ++i) {
    scratch.point_current("R" + std::to_string(i));
    sampler.fast_for(kFastSamplingMs);
    times.push_back(mono_ns());
    server.signal(SIGHUP);
    sleep_ms(i < g.deploys ? g.gap_ms : g.gap_ms / 4);
  }
  return times;
}

// The windows that overlap a rollout [command, every worker new], each window once.
std::vector<const Window*> rollout_windows(const std::vector<Window>& ws,
                                           const std::vector<std::int64_t>& sent,
                                           const std::vector<std::int64_t>& ends) {
  std::vector<const Window*> out;
  for (const Window& w : ws) {
    for (std::size_t i = 0; i < sent.size() && i < ends.size(); ++i) {
      if (w.end_ns >= sent[i] && w.start_ns <= ends[i]) {
        out.push_back(&w);
        break;
      }
    }
  }
  return out;
}

// The longest stretch, from the first window's start to the last one's stop, in which no window
// was sending requests (`ws` by start), in ms.
double load_gap_max_ms(const std::vector<Window>& ws) {
  std::int64_t reach = ws.empty() ? 0 : ws.front().stop_ns, gap = 0;
  for (const Window& w : ws) {
    gap = std::max(gap, w.start_ns - reach);
    reach = std::max(reach, w.stop_ns);
  }
  return static_cast<double>(gap) / 1e6;
}

// Whether windows were sending requests throughout [from_ns, to_ns] (`ws` by start).
bool covered(const std::vector<Window>& ws, std::int64_t from_ns, std::int64_t to_ns) {
  std::int64_t reach = from_ns;
  for (const Window& w : ws) {
    if (w.start_ns > reach) break;
    reach = std::max(reach, w.stop_ns);
    if (reach >= to_ns) return true;
  }
  return false;
}

// Each rollout window's p99 against the distribution of the steady windows' p99s, and whether
// the load measured every rollout.
void put_rollouts(benchmark::State& state, const std::vector<Window>& ws, std::int64_t steady_end,
                  const std::vector<std::int64_t>& sent, const std::vector<std::int64_t>& ends) {
  const std::vector<double> steady = p99s_in(ws, 0, steady_end);
  std::vector<double> rollout;
  double reopened = 0;  // keep-alive connections the clients had to open again in them
  for (const Window* w : rollout_windows(ws, sent, ends)) {
    rollout.push_back(w->summary.p99_ms);
    reopened += static_cast<double>(w->summary.keepalive_reopened);
  }
  state.counters["rollout_reopened"] = reopened;
  const double steady_p90 = percentile(steady, 90);
  state.counters["steady_p99_p90_ms"] = steady_p90;
  state.counters["rollout_windows"] = static_cast<double>(rollout.size());
  state.counters["rollout_p99_ms"] = percentile(rollout, 50);
  state.counters["rollout_p99_worst_ms"] = percentile(rollout, 100);
  state.counters["rollout_windows_above_steady_p90"] = static_cast<double>(
      std::count_if(rollout.begin(), rollout.end(), [&](double p) { return p > steady_p90; }));
  int n = 0;
  for (std::size_t i = 0; i < sent.size() && i < ends.size(); ++i) {
    if (covered(ws, sent[i], ends[i])) ++n;
  }
  state.counters["rollouts_covered"] = n;
  state.counters["load_gap_max_ms"] = load_gap_max_ms(ws);
}

// What the sampler saw: the most worker processes at once, against the budget, and memory.
void put_samples(benchmark::State& state, const std::vector<Sample>& samples,
                 std::int64_t steady_end) {
  double steady_pss = 0, peak_pss = 0;
  int steady_n = 0, peak_workers = 0;
  for (const Sample& s : samples) {
    peak_workers = std::max(peak_workers, s.workers);
    if (s.t_ns < steady_end) {
      steady_pss += s.total_pss_mib;
      ++steady_n;
    } else {
      peak_pss = std::max(peak_pss, s.total_pss_mib);
    }
  }
  state.counters["budget"] = g.workers;
  state.counters["peak_workers"] = peak_workers;
  state.counters["steady_total_pss_mib"] = steady_n > 0 ? steady_pss / steady_n : 0;
  state.counters["peak_total_pss_mib"] = peak_pss;
  state.counters["preload_mib"] = g.preload_mib;
}

// gunicorn serving the Flask app of <scratch>/current with W sync workers, as Debian packages it.
std::vector<std::string> gunicorn_argv(const Scratch& scratch, std::uint16_t port) {
  return {"/usr/bin/python3",
          "-m",
          "gunicorn",
          "-w",
          std::to_string(g.workers),
          "-k",
          "sync",
          "-b",
          "127.0.0.1:" + std::to_string(port),
          "--chdir",
          (scratch.path() / "current").string(),
          "flask_app:app"};
}

// W workers, and the app answers.
bool gunicorn_settled(const Process& server, std::uint16_t port) {
  int workers = 0;
  for (const testing::ProcessId& p : processes_in_group(server.pid())) {
    if (is_worker(p, server.pid()) && p.state != 'Z') ++workers;
  }
  if (workers != g.workers) return false;
  return http_get(port, "/", mono_ns() + 2 * kSecond).status == 200;
}

void BM_deploy(benchmark::State& state) {
  for (auto _ : state) {
    const std::int64_t start = mono_ns();
    Scratch scratch;
    const std::string conf = "preload_mib " + std::to_string(g.preload_mib) + "\nlatency_ms 1\n";
    for (int i = 0; i <= g.deploys; ++i) {
      if (g.flask.empty()) {
        scratch.release("R" + std::to_string(i), g.testapp, conf);
      } else {
        scratch.release("R" + std::to_string(i), g.flask);
      }
    }
    scratch.point_current("R0");
    const std::uint16_t port = free_port();
    const auto events_file = scratch.path() / "events.jsonl";
    Process server(
        gunicorn() ? gunicorn_argv(scratch, port)
                   : server_argv(g.zygote_real, scratch, port, g.workers, events_file,
                                 g.server_flags, {g.flask.empty() ? "testapp" : "flask_app:app"}),
        scratch.path() / "log");
    Events events(events_file);
    if (!eventually([&] { return gunicorn() ? gunicorn_settled(server, port) : settled(events); },
                    std::chrono::seconds(60))) {
      state.SkipWithError("the workers never became ready");
      return;
    }
    Sampler sampler(server.pid());
    const std::int64_t steady_end = mono_ns() + g.steady_ms * 1'000'000LL;
    // deploy_all: a quarter gap, the deploys a gap apart, a quarter gap after the last one.
    const std::int64_t load_end =
        steady_end + (g.gap_ms / 2 + (g.deploys - 1) * g.gap_ms) * 1'000'000LL;
    std::vector<Window> windows;
    std::thread client([&] { windows = continuous_load(port, load_end); });
    sleep_ms(g.steady_ms);
    const std::vector<std::int64_t> deploy_times = deploy_all(scratch, server, sampler);
    client.join();
    // Let the last rollout finish before reading the events (bounded).
    eventually(
        [&] {
          return gunicorn() ? gunicorn_settled(server, port)
                            : settled(events) && rollout_ends(events).size() == deploy_times.size();
        },
        std::chrono::seconds(60));
    sampler.stop();
    server.stop();
    events.reload();

    const std::vector<std::int64_t> ends =
        gunicorn() ? rollout_ends_sampled(sampler.samples(), deploy_times) : rollout_ends(events);
    put_phase(state, "steady", windows, 0, steady_end);
    put_phase(state, "deploy", windows, steady_end, load_end);
    put_rollouts(state, windows, steady_end, deploy_times, ends);
    std::vector<double> rollouts;
    for (std::size_t i = 0; i < ends.size() && i < deploy_times.size(); ++i)
      rollouts.push_back(static_cast<double>(ends[i] - deploy_times[i]) / 1e6);
    state.counters["deploys"] = static_cast<double>(rollouts.size());
    state.counters["all_new_ms"] = percentile(rollouts, 50);
    state.counters["all_new_max_ms"] = percentile(rollouts, 100);
    put_samples(state, sampler.samples(), steady_end);
    if (!gunicorn()) state.counters["peak_workers_events"] = peak_workers_in(events);
    write_timeline(sampler.samples(), windows, deploy_times, steady_end);
    state.SetIterationTime(static_cast<double>(mono_ns() - start) / 1e9);
  }
}

}  // namespace
}  // namespace zyg::bench

int main(int argc, char** argv) {
  using namespace zyg::bench;
  Flags flags(&argc, argv,
              {"zygote-real", "testapp", "workers", "preload", "clients", "think-ms", "steady-ms",
               "deploys", "gap-ms", "timeline", "server-flags", "smoke", "flask", "server"});
  const bool smoke = flags.has("smoke");
  g.zygote_real = flags.get("zygote-real", ZYGOTE_REAL_PATH);
  g.testapp = flags.get("testapp", TESTAPP_PATH);
  g.timeline = flags.get("timeline", "");
  g.flask = flags.get("flask", "");
  g.server = flags.get("server", "zygote-real");
  if ((g.server != "zygote-real" && g.server != "gunicorn") || (gunicorn() && g.flask.empty())) {
    std::fprintf(stderr, "bench-deploy: --server is zygote-real or gunicorn (with --flask=FILE)\n");
    return 2;
  }
  {
    std::istringstream in(flags.get("server-flags", ""));
    for (std::string word; in >> word;) g.server_flags.push_back(word);
  }
  g.workers = std::stoi(flags.get("workers", smoke ? "2" : "4"));
  g.preload_mib = std::stoi(flags.get("preload", smoke ? "16" : "128"));
  g.clients = std::stoi(flags.get("clients", smoke ? "8" : "32"));
  g.think_ms = std::stoi(flags.get("think-ms", "10"));
  g.steady_ms = std::stoi(flags.get("steady-ms", smoke ? "1500" : "10000"));
  g.deploys = std::stoi(flags.get("deploys", smoke ? "1" : "3"));
  g.gap_ms = std::stoi(flags.get("gap-ms", smoke ? "3000" : "12000"));
  benchmark::RegisterBenchmark("deploy/under_load", BM_deploy)
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kSecond);
  ::signal(SIGPIPE, SIG_IGN);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::AddCustomContext("workers", std::to_string(g.workers));
  benchmark::AddCustomContext("preload_mib", std::to_string(g.preload_mib));
  benchmark::AddCustomContext("clients", std::to_string(g.clients));
  benchmark::AddCustomContext("server", g.server);
  benchmark::AddCustomContext("app", g.flask.empty() ? "testapp" : g.flask);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
