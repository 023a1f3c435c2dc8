// bench-report write: docs/BENCHMARKS.md's text and tables, and the .dat files gnuplot draws
// (bench/plots/*.gp), from the JSON results of one scripts/bench.sh run. The sections on
// workers forked from a zygote (time to ready, page sharing) are in zygote_sections.cpp.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/report/report.hpp"
#include "bench/report/table.hpp"

namespace zyg::bench::report {
namespace {

using nlohmann::json;

void machine_section(std::ostream& md, const json& m) {
  md << "## The machine\n\n" << header({"", ""});
  md << row(
      {"CPU", m.value("cpu", "?") + (m.value("virtualized", false) ? " (virtual machine)" : "")});
  md << row({"cores", std::to_string(m.value("cores", 0))});
  const double kib = std::atof(m.value("memory", "0").c_str());
  md << row({"memory", kib > 0 ? num(kib / 1024 / 1024, 1) + " GiB" : "?"});
  md << row({"kernel", m.value("kernel", "?")});
  md << row({"transparent huge pages", "enabled: " + m.value("thp_enabled", "not available") +
                                           ", defrag: " + m.value("thp_defrag", "not available")});
  md << row({"compiler, build", m.value("compiler", "?") + ", " + m.value("build_type", "?")});
  md << row({"run", m.value("date", "?")});
  md << "\nEvery absolute figure below is from this machine, in one run of `scripts/bench.sh`; "
        "the client and the servers share its cores.\n\n";
}

int repetitions(const json& r) {
  const json* first = find_run(r, "fork/bare/MiB:1");
  return first != nullptr ? first->value("repetitions", 1) : 1;
}

void fork_section(std::ostream& md, const json& r, const std::string& dir) {
  md << "## Fork cost\n\n"
        "`bench-fork` maps and touches N MiB in its own process, then forks a child that exits at "
        "once. *fork* is the time until `fork` (or `spawn`) returns in the parent; *reaped* until "
        "the child has exited and `waitpid` returned it. *bare* is `fork()` + `_exit(0)`; *spawn* "
        "is `zyg::real::LinuxOs::spawn`, the server's own fork path with its fork hygiene (thread "
        "check, signal mask, Asio fork notifications; in the child: signal dispositions reset, "
        "parent-death signal, `close_range`, a fresh `LinuxOs`). *THP* maps the N MiB with "
        "`MADV_HUGEPAGE` before touching it (and `MADV_COLLAPSE` after), so the page tables to "
        "copy shrink 512-fold where the kernel grants huge pages; *huge* is how much it granted. "
        "Medians of "
     << repetitions(r) << " repetitions. Ratios are side by side in the same process.\n\n";
  md << header({"parent MiB", "bare fork µs", "spawn fork µs", "spawn/bare", "bare reaped µs",
                "spawn reaped µs", "spawn/bare", "THP bare fork µs", "THP bare reaped µs",
                "THP spawn reaped µs", "huge MiB", "bare/THP reaped"});
  std::ofstream d(dir + "/fork.dat");
  d << "# MiB bare_fork bare_reap spawn_fork spawn_reap thp_bare_fork thp_bare_reap "
       "thp_spawn_fork thp_spawn_reap (microseconds)\n";
  for (int mib : {1, 64, 256, 1024}) {
    const std::string s = "/MiB:" + std::to_string(mib);
    const json* bare = find_run(r, "fork/bare" + s);
    if (bare == nullptr) continue;
    const json* spawn = find_run(r, "fork/spawn" + s);
    const json* tb = find_run(r, "fork/bare_thp" + s);
    const json* ts = find_run(r, "fork/spawn_thp" + s);
    const auto thp_ok = [](const json* b) {
      return b != nullptr && !b->value("error_occurred", false);
    };
    const auto c = [](const json* b, const char* n) { return counter(b, n); };
    md << row({std::to_string(mib), num(c(bare, "fork_us")), num(c(spawn, "fork_us")),
               ratio(c(spawn, "fork_us"), c(bare, "fork_us")), num(c(bare, "reap_us")),
               num(c(spawn, "reap_us")), ratio(c(spawn, "reap_us"), c(bare, "reap_us")),
               thp_ok(tb) ? num(c(tb, "fork_us")) : "not available",
               thp_ok(tb) ? num(c(tb, "reap_us")) : "not available",
               thp_ok(ts) ? num(c(ts, "reap_us")) : "not available",
               thp_ok(tb) ? num(c(tb, "huge_mib"), 0) : "-",
               ratio(c(bare, "reap_us"), thp_ok(tb) ? c(tb, "reap_us") : std::nullopt)});
    d << mib << " " << dat(c(bare, "fork_us")) << " " << dat(c(bare, "reap_us")) << " "
      << dat(c(spawn, "fork_us")) << " " << dat(c(spawn, "reap_us")) << " "
      << dat(thp_ok(tb) ? c(tb, "fork_us") : std::nullopt) << " "
      << dat(thp_ok(tb) ? c(tb, "reap_us") : std::nullopt) << " "
      << dat(thp_ok(ts) ? c(ts, "fork_us") : std::nullopt) << " "
      << dat(thp_ok(ts) ? c(ts, "reap_us") : std::nullopt) << "\n";
  }
  md << "\n![fork cost](bench/fork.svg)\n\n";
}

void throughput_section(std::ostream& md, const json& t, const std::string& dir) {
  const json cfg = t.value("config", json::object());
  md << "## Throughput and latency\n\n"
        "`wrk -t"
     << cfg.value("wrk_threads", 0) << " -c" << cfg.value("connections", 0) << " -d"
     << cfg.value("duration_s", 0)
     << "s` on 127.0.0.1 (after a warm-up), against `zygote-real "
        "--workers "
     << cfg.value("workers", 0)
     << "` serving the hello app and against nginx "
        "(`worker_processes "
     << cfg.value("workers", 0)
     << "`, `location / { return 200 \"Hello "
        "from nginx\\n\"; }`, the same 17-byte body), both started side by side and measured one "
        "after the other in one run. *close*: every request on a new connection (`Connection: "
        "close`). wrk's latency percentiles are per request on a busy connection (wrk, not wrk2: "
        "no coordinated-omission correction). nginx is the ceiling of this machine for a 200 "
        "from a process pool; wrk competes with the server for the same cores.\n\n";
  md << header({"mode", "server", "requests/s", "p50 ms", "p99 ms", "errors", "zygote / nginx"});
  std::ofstream d(dir + "/throughput.dat");
  d << "# mode zygote_rps nginx_rps\n";
  for (const std::string mode : {"keepalive", "close"}) {
    std::optional<double> rps[2];
    for (int i = 0; i < 2; ++i) {
      const std::string server = i == 0 ? "zygote" : "nginx";
      for (const auto& run : t.value("runs", json::array())) {
        if (run.value("server", "") != server || run.value("mode", "") != mode) continue;
        const json& w = run["wrk"];
        const double secs = w.value("duration_us", 0.0) / 1e6;
        rps[i] = secs > 0 ? w.value("requests", 0.0) / secs : 0;
        std::int64_t errors = 0;
        for (const auto& [k, v] : w["errors"].items()) errors += v.get<std::int64_t>();
        md << row({mode, server, num(rps[i], 0), num(w["latency_us"].value("p50", 0.0) / 1e3, 3),
                   num(w["latency_us"].value("p99", 0.0) / 1e3, 3), std::to_string(errors),
                   i == 1 ? ratio(rps[0], rps[1]) : ""});
      }
    }
    d << mode << " " << dat(rps[0]) << " " << dat(rps[1]) << "\n";
  }
  md << "\n![throughput](bench/throughput.svg)\n\n";
}

// "k of N (about N/10 by chance)": the rollout windows whose p99 is above the steady windows' p90.
std::string above_p90(const json* b) {
  const auto n = counter(b, "rollout_windows");
  return num(counter(b, "rollout_windows_above_steady_p90"), 0) + " of " + num(n, 0) + " (about " +
         num(n ? std::optional<double>(*n / 10) : n, 1) + " by chance)";
}

void deploy_section(std::ostream& md, const json& r) {
  const json* b = find_run(r, "deploy/under_load");
  const auto c = [b](const char* n, int decimals = 1) { return num(counter(b, n), decimals); };
  md << "## Deploy under load\n\n"
        "`zygote-real --workers "
     << context(r, "workers", "?") << "` serves testapp (preload " << context(r, "preload_mib", "?")
     << " MiB, 1 ms per request) to " << context(r, "clients", "?")
     << " `zygote-load` clients (half keep-alive, 10 ms between a client's requests): first "
        "steady load, then load during which a new release is deployed (symlink repointed, "
        "SIGHUP) every 12 s, "
     << c("deploys", 0)
     << " times. The gap exceeds the 10 s probation, so each deploy starts from one proven "
        "version. The load is continuous and cut into 1 s windows so that latency can be placed "
        "in time: two streams of half the clients each run consecutive windows, the second "
        "offset by half a window, so one stream restarts (closing its keep-alive connections) "
        "in the middle of the other's window and the load never stops; *longest stretch without "
        "load* says so, measured. *Opened again*: connections a keep-alive client had to open "
        "within a window after its first, because the server closed the one it had (a deploy that "
        "keeps connections opens none beyond the steady windows' rate). *to all new*: from the "
        "deploy command (the benchmark's clock "
        "just before SIGHUP) to the master's first step in which every one of the W workers runs "
        "the new version and is ready or busy (median, max). A rollout window is a window that "
        "overlaps [deploy command, all new]; *rollouts measured throughout*: the rollouts that "
        "lie wholly within windows sending load. Workers and the total PSS of every process of "
        "the server (master, zygotes, workers) are sampled from `/proc` every 50 ms.\n\n"
        "*Rollout against steady*: each rollout window's p99 is set against the distribution of "
        "the steady windows' p99s, not the worst against the worst (the worst of many steady "
        "windows is higher than the worst of a few rollout windows by chance alone). The median "
        "rollout window is compared with the median steady window, and the rollout windows "
        "above the steady windows' p90 are counted: if deploys cost no latency, about one in "
        "ten would be.\n\n";
  md << header({"", "steady", "with deploys"});
  md << row({"requests", c("steady_requests", 0), c("deploy_requests", 0)});
  md << row({"failed requests", c("steady_failed", 0), c("deploy_failed", 0)});
  md << row({"retried (keep-alive closed before any byte)", c("steady_retried", 0),
             c("deploy_retried", 0)});
  md << row({"keep-alive connections opened again (the server closed one); in rollout windows",
             c("steady_reopened", 0), c("deploy_reopened", 0) + "; " + c("rollout_reopened", 0)});
  md << row({"requests/s", c("steady_rps", 0), c("deploy_rps", 0)});
  md << row({"1 s windows (with deploys: of them overlapping a rollout)", c("steady_windows", 0),
             c("deploy_windows", 0) + " (" + c("rollout_windows", 0) + ")"});
  md << row({"p50 ms (median window)", c("steady_p50_ms", 2), c("deploy_p50_ms", 2)});
  md << row({"p99 ms (median window)", c("steady_p99_ms", 2), c("deploy_p99_ms", 2)});
  md << row({"p99 ms, median rollout window / median steady window", "",
             c("rollout_p99_ms", 2) + " / " + c("steady_p99_ms", 2) + " = " +
                 ratio(counter(b, "rollout_p99_ms"), counter(b, "steady_p99_ms"))});
  md << row({"p99 ms, p90 of the steady windows; rollout windows above it",
             c("steady_p99_p90_ms", 2), above_p90(b)});
  md << row({"p99 ms, worst rollout window", "", c("rollout_p99_worst_ms", 2)});
  md << row({"longest stretch without load ms; rollouts measured throughout", "",
             c("load_gap_max_ms", 1) + "; " + c("rollouts_covered", 0) + " of " + c("deploys", 0)});
  md << row(
      {"total PSS MiB (steady mean; peak)", c("steady_total_pss_mib"), c("peak_total_pss_mib")});
  md << row({"worker processes, peak (sampled; master's view) / budget", "",
             c("peak_workers", 0) + "; " + c("peak_workers_events", 0) + " / " + c("budget", 0)});
  md << row({"deploy to every worker on the new version, ms (median; max)", "",
             c("all_new_ms") + "; " + c("all_new_max_ms")});
  md << "\nPeak total PSS against the budget: " << c("peak_total_pss_mib") << " MiB at most "
     << "while deploying, "
     << ratio(counter(b, "peak_total_pss_mib"), counter(b, "steady_total_pss_mib"))
     << " of steady state; the budget bounds worker processes (never above " << c("budget", 0)
     << "), while the old and the new zygote are both resident (each with its "
     << context(r, "preload_mib", "?") << " MiB) until the new version has passed probation.\n\n"
     << "![deploy timeline](bench/deploy.svg)\n\n";
}

// requests/s of one throughput run.
std::optional<double> rps_of(const json& t, const std::string& server, const std::string& mode) {
  for (const auto& run : t.value("runs", json::array())) {
    if (run.value("server", "") != server || run.value("mode", "") != mode) continue;
    const double secs = run["wrk"].value("duration_us", 0.0) / 1e6;
    if (secs > 0) return run["wrk"].value("requests", 0.0) / secs;
  }
  return std::nullopt;
}

void summary_section(std::ostream& md, const json& fork, const json& ready, const json& sharing,
                     const json& throughput, const json& deploy) {
  for (const json* j : {&fork, &ready, &sharing, &throughput, &deploy}) {
    if (!j->is_object()) return;  // a partial run: the sections below say what there is
  }
  md << "## Summary\n\n";
  const json* bare = find_run(fork, "fork/bare/MiB:1024");
  const json* spawn = find_run(fork, "fork/spawn/MiB:1024");
  const json* thp = find_run(fork, "fork/bare_thp/MiB:1024");
  const bool thp_ok = thp != nullptr && !thp->value("error_occurred", false);
  const auto ms = [](std::optional<double> us) { return num(us ? *us / 1000 : us, 1) + " ms"; };
  md << "- **Fork cost** from a 1 GiB parent: " << ms(counter(bare, "fork_us"))
     << " until `fork` returns, " << ms(counter(bare, "reap_us"))
     << " until the child is reaped; the server's spawn path costs "
     << ratio(counter(spawn, "reap_us"), counter(bare, "reap_us")) << " of a bare fork; on huge "
     << "pages the same fork-and-reap is "
     << (thp_ok ? ratio(counter(bare, "reap_us"), counter(thp, "reap_us")) + " faster"
                : std::string("not available (THP disabled)"))
     << ".\n";
  ready_summary(md, ready);
  sharing_summary(md, sharing);
  md << "- **Throughput** (hello, "
     << throughput.value("config", json::object()).value("workers", 0)
     << " workers) against nginx on the same machine: "
     << ratio(rps_of(throughput, "zygote", "keepalive"), rps_of(throughput, "nginx", "keepalive"))
     << " with keep-alive, "
     << ratio(rps_of(throughput, "zygote", "close"), rps_of(throughput, "nginx", "close"))
     << " with one connection per request.\n";
  const json* d = find_run(deploy, "deploy/under_load");
  md << "- **Deploys under load**: " << num(counter(d, "deploy_failed"), 0) << " failed of "
     << num(counter(d, "deploy_requests"), 0) << " requests over " << num(counter(d, "deploys"), 0)
     << " deploys; p99 of the median 1 s window overlapping a rollout "
     << num(counter(d, "rollout_p99_ms"), 1) << " ms against "
     << num(counter(d, "steady_p99_ms"), 1) << " ms for the median window of steady load ("
     << ratio(counter(d, "rollout_p99_ms"), counter(d, "steady_p99_ms")) << "); "
     << num(counter(d, "rollout_windows_above_steady_p90"), 0) << " of "
     << num(counter(d, "rollout_windows"), 0)
     << " rollout windows above the p90 of the steady windows ("
     << num(counter(d, "steady_p99_p90_ms"), 1)
     << " ms; about one in ten would be by chance); longest stretch without load "
     << num(counter(d, "load_gap_max_ms"), 1) << " ms, " << num(counter(d, "rollouts_covered"), 0)
     << " of " << num(counter(d, "deploys"), 0)
     << " rollouts measured throughout; keep-alive connections opened again "
     << num(counter(d, "rollout_reopened"), 0) << " in the rollout windows and "
     << num(counter(d, "steady_reopened"), 0) << " in the steady ones"
     << "; every worker on the new version " << num(counter(d, "all_new_ms"), 0)
     << " ms (median) after the deploy; at most " << num(counter(d, "peak_workers"), 0)
     << " worker processes for a budget of " << num(counter(d, "budget"), 0) << ".\n\n";
}

}  // namespace

int write_report(const std::string& dir, const std::string& out_md, const std::string& notes_md) {
  const json machine = read_json(dir + "/machine.json");
  const json fork = read_json(dir + "/fork.json");
  const json ready = read_json(dir + "/ready.json");
  const json sharing = read_json(dir + "/sharing.json");
  const json deploy = read_json(dir + "/deploy.json");
  const json throughput = read_json(dir + "/throughput.json");
  std::ostringstream md;
  md << "# Benchmarks\n\n"
        "Generated by `scripts/bench.sh` from the data in `docs/bench/`: do not edit by hand, run "
        "it again. It builds the suites in `build-bench/`, runs them one after the other (a few "
        "minutes) and writes this file, the raw results (`docs/bench/*.json`) and the plots "
        "(`docs/bench/*.svg`, drawn by gnuplot from `*.dat`/`*.tsv`). `scripts/bench.sh --quick` "
        "runs the same pipeline at smoke sizes into `build-bench/bench-quick/`; `ctest -L bench` "
        "runs each suite once in that smoke mode and checks that it produced its numbers (never "
        "how fast). Every comparison is a ratio of two measurements taken side by side in one "
        "run; absolute figures belong to the machine below.\n\n";
  summary_section(md, fork, ready, sharing, throughput, deploy);
  if (!machine.is_null()) machine_section(md, machine);
  if (!fork.is_null()) fork_section(md, fork, dir);
  if (!ready.is_null()) ready_section(md, ready, dir);
  if (!sharing.is_null()) sharing_section(md, sharing, dir);
  if (!throughput.is_null()) throughput_section(md, throughput, dir);
  if (!deploy.is_null()) deploy_section(md, deploy);
  issue11_section(md, dir, throughput, deploy);
  python_section(md, dir);
  std::ifstream notes(notes_md);
  if (notes) md << notes.rdbuf();
  std::ofstream(out_md) << md.str();
  std::cout << "bench-report: wrote " << out_md << "\n";
  return 0;
}

}  // namespace zyg::bench::report
