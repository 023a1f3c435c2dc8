// bench-report write: the sections about workers forked from a zygote, with and without
// --huge-pages: time to a ready worker (ready.json) and page sharing (sharing.json).
#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "bench/report/report.hpp"
#include "bench/report/table.hpp"

namespace zyg::bench::report {
namespace {

using nlohmann::json;

constexpr int kPreloads[] = {16, 64, 256, 1024};

// Whether the run's `huge` counter (MiB of AnonHugePages) says the kernel granted huge pages.
bool on_huge_pages(const json* b, const std::string& huge) {
  const auto v = counter(b, huge);
  return v && *v > 0;
}

// "N" (MiB), "not available" where the kernel granted no huge pages, n/a without the run.
std::string huge_or_not(const json* b, const std::string& huge) {
  if (!counter(b, huge)) return "n/a";
  return on_huge_pages(b, huge) ? num(counter(b, huge), 0) : "not available";
}

std::string with_p90(const json* b) {
  return num(counter(b, "ready_ms"), 2) + " (" + num(counter(b, "p90_ms"), 2) + ")";
}

// "kept (dropped)": the samples of a zygote_fork run that measured a fresh fork, and the others.
std::string kept_dropped(const json* b) {
  return num(counter(b, "samples"), 0) + " (" + num(counter(b, "dropped"), 0) + ")";
}

void ready_table(std::ostream& md, const json& r, const std::string& dir) {
  md << header({"preload MiB", "forked from the zygote ms (p90)", "samples (dropped)", "spawned ms",
                "ready event ms", "cold server ms (p90)", "loaded ms", "cold solo ms (p90)",
                "cold server / forked"});
  std::ofstream d(dir + "/ready.dat");
  d << "# preload_MiB zygote_fork_ms cold_server_ms cold_solo_ms zygote_fork_huge_pages_ms "
       "(medians)\n";
  for (int mib : kPreloads) {
    const std::string s = "/preload_MiB:" + std::to_string(mib);
    const json* z = find_run(r, "ready/zygote_fork" + s);
    if (z == nullptr) continue;
    const json* cs = find_run(r, "ready/cold_server" + s);
    const json* so = find_run(r, "ready/cold_solo" + s);
    const json* t = find_run(r, "ready/zygote_fork_thp" + s);
    md << row({std::to_string(mib), with_p90(z), kept_dropped(z), num(counter(z, "spawned_ms"), 2),
               num(counter(z, "ready_event_ms"), 2), with_p90(cs), num(counter(cs, "loaded_ms"), 1),
               with_p90(so), ratio(counter(cs, "ready_ms"), counter(z, "ready_ms"))});
    d << mib << " " << dat(counter(z, "ready_ms")) << " " << dat(counter(cs, "ready_ms")) << " "
      << dat(counter(so, "ready_ms")) << " "
      << dat(on_huge_pages(t, "huge_mib") ? counter(t, "ready_ms") : std::nullopt) << "\n";
  }
}

void ready_huge_pages_table(std::ostream& md, const json& r) {
  md << "\n*With `--huge-pages`*, in the same run: the zygote, once the app has loaded, asks for "
        "its private anonymous mappings of 2 MiB or more to be backed by transparent huge pages "
        "(`MADV_HUGEPAGE`, then `MADV_COLLAPSE`), so that a fork copies 512 times fewer "
        "page-table entries for them (the fork cost table above: *THP*). *on huge pages*: the "
        "zygote's `AnonHugePages` once its worker is up (\"not available\": the kernel granted "
        "none, so the option changed nothing). *zygote load*: one sample, from the master's "
        "`start-zygote` step to its `zygote-loaded` step: the app's load with its preload and, "
        "with the option, the collapse into huge pages.\n\n";
  md << header({"preload MiB", "zygote on huge pages MiB (plain; --huge-pages)", "forked ms (p90)",
                "forked, --huge-pages ms (p90)", "--huge-pages samples (dropped)",
                "forked / forked --huge-pages", "spawned ms (plain; --huge-pages)",
                "zygote load ms (plain; --huge-pages)"});
  for (int mib : kPreloads) {
    const std::string s = "/preload_MiB:" + std::to_string(mib);
    const json* z = find_run(r, "ready/zygote_fork" + s);
    const json* t = find_run(r, "ready/zygote_fork_thp" + s);
    if (z == nullptr || t == nullptr) continue;
    const bool huge = on_huge_pages(t, "huge_mib");
    md << row({std::to_string(mib),
               num(counter(z, "huge_mib"), 0) + "; " + huge_or_not(t, "huge_mib"), with_p90(z),
               with_p90(t), kept_dropped(t),
               huge ? ratio(counter(z, "ready_ms"), counter(t, "ready_ms")) : "n/a",
               num(counter(z, "spawned_ms"), 2) + "; " + num(counter(t, "spawned_ms"), 2),
               num(counter(z, "zygote_load_ms"), 1) + "; " + num(counter(t, "zygote_load_ms"), 1)});
  }
}

// The D values of the runs named "sharing/.../dirty_pages:D", ascending.
std::vector<int> dirty_values(const json& r) {
  std::set<int> out;
  for (const auto& b : r.value("benchmarks", json::array())) {
    const std::string rn = b.value("run_name", "");
    const auto at = rn.find("/dirty_pages:");
    if (at != std::string::npos) out.insert(std::stoi(rn.substr(at + 13)));
  }
  return {out.begin(), out.end()};
}

// The checkpoints K of a sharing run (its uss_mib_rK counters), ascending.
std::vector<int> checkpoints(const json* b) {
  std::vector<int> out;
  if (b == nullptr) return out;
  for (auto it = b->begin(); it != b->end(); ++it) {
    if (it.key().rfind("uss_mib_r", 0) == 0) out.push_back(std::stoi(it.key().substr(9)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Setup {
  const char* label;
  const char* name;
};
constexpr Setup kSetups[] = {{"zygote", "sharing/zygote"},
                             {"zygote, --huge-pages", "sharing/zygote_thp"},
                             {"solo", "sharing/solo"}};

const json* sharing_run(const json& r, const Setup& s, int dirty) {
  return find_run(r, std::string(s.name) + "/dirty_pages:" + std::to_string(dirty));
}

void sharing_rows(std::ostream& md, const json& r) {
  md << header({"setup", "D", "requests per process", "USS MiB", "PSS MiB", "huge pages MiB",
                "total PSS MiB"});
  for (int dirty : dirty_values(r)) {
    for (const Setup& s : kSetups) {
      const json* b = sharing_run(r, s, dirty);
      for (int k : checkpoints(b)) {
        const std::string suffix = "_r" + std::to_string(k);
        md << row({s.label, std::to_string(dirty), std::to_string(k),
                   num(counter(b, "uss_mib" + suffix)), num(counter(b, "pss_mib" + suffix)),
                   num(counter(b, "huge_mib" + suffix)),
                   num(counter(b, "total_pss_mib" + suffix))});
      }
      if (b == nullptr || &s == &kSetups[2]) continue;
      const std::string huge = &s == &kSetups[1] ? huge_or_not(b, "zygote_huge_mib")
                                                 : num(counter(b, "zygote_huge_mib"), 0);
      md << row({"", "",
                 "zygote's own PSS at 0: " + num(counter(b, "zygote_pss_mib_r0")) +
                     " MiB, on huge pages: " + huge + (huge == "not available" ? "" : " MiB") +
                     "; requests served per worker: " + num(counter(b, "served_min"), 0) + " to " +
                     num(counter(b, "served_max"), 0),
                 "", "", "", ""});
    }
  }
}

// sharing.dat: per checkpoint, USS and PSS of each setup at D = 0 and at the largest D; a
// --huge-pages setup whose zygote got no huge pages is left out (NaN).
void sharing_data(const json& r, const std::string& dir) {
  const std::vector<int> ds = dirty_values(r);
  const int high = ds.empty() ? 0 : ds.back();
  std::ofstream(dir + "/sharing.labels.gp")
      << "preload = \"" << context(r, "preload_mib", "?") << "\"\nworkers = \""
      << context(r, "workers", "?") << "\"\ndirty = \"" << high << "\"\n";
  std::ofstream d(dir + "/sharing.dat");
  d << "# K, then USS and PSS (MiB) of: zygote D=0, zygote --huge-pages D=0, solo D=0, zygote "
       "D=high, zygote --huge-pages D=high, solo D=high\n";
  std::set<int> ks;
  for (int dirty : {0, high}) {
    for (int k : checkpoints(sharing_run(r, kSetups[0], dirty))) ks.insert(k);
  }
  for (int k : ks) {
    d << k;
    for (int dirty : {0, high}) {
      for (const Setup& s : kSetups) {
        const json* b = sharing_run(r, s, dirty);
        if (std::string(s.name) == "sharing/zygote_thp" && !on_huge_pages(b, "zygote_huge_mib"))
          b = nullptr;
        d << " " << dat(counter(b, "uss_mib_r" + std::to_string(k))) << " "
          << dat(counter(b, "pss_mib_r" + std::to_string(k)));
      }
    }
    d << "\n";
  }
}

}  // namespace

void ready_section(std::ostream& md, const json& r, const std::string& dir) {
  md << "## Time to a ready worker\n\n"
        "testapp preloads M MiB at load (`preload_mib`). *forked from the zygote*: `zygote-real "
        "--workers 1 --max-requests 1`; each worker retires after one request and the supervisor "
        "asks the zygote for a new one, while the next request already waits in the accept queue "
        "(the benchmark holds the old worker with a 30 ms request and sends the next one during "
        "it). Measured from the supervisor's `request-worker` step (its `t` in `--events`) to "
        "the response of that waiting request: the zygote's fork, the worker's init, its ready "
        "report, the accept and the request. Each sample begins only once the master has reaped "
        "the worker that answered the previous one (its `worker-exited` step). *samples "
        "(dropped)*: the samples kept, and beside them those dropped because they measured no "
        "fresh fork (the waiting request was sent after the `request-worker` step, or the worker "
        "held by the first request answered it too); the figures are over the kept ones. "
        "*spawned*/*ready event* are the master's "
        "`worker-spawned` and `worker-ready` steps on the way. *cold server*: a fresh `zygote-real "
        "--workers 1`, from `posix_spawn` to its first response (exec, master, zygote, app load "
        "with its preload, worker fork, request); *loaded* is its `zygote-loaded` step. *cold "
        "solo*: a fresh `bench-solo` (exec, load, serve; no master, no zygote). Medians (p90 "
        "beside).\n\n";
  ready_table(md, r, dir);
  ready_huge_pages_table(md, r);
  md << "\n![time to a ready worker](bench/ready.svg)\n\n";
}

void ready_summary(std::ostream& md, const json& r) {
  const json* z = find_run(r, "ready/zygote_fork/preload_MiB:256");
  const json* cold = find_run(r, "ready/cold_server/preload_MiB:256");
  md << "- **Time to a ready worker** with 256 MiB preloaded: " << num(counter(z, "ready_ms"), 1)
     << " ms forked from the zygote against " << num(counter(cold, "ready_ms"), 0)
     << " ms for a cold start of the server ("
     << ratio(counter(cold, "ready_ms"), counter(z, "ready_ms")) << " as long). With "
     << "`--huge-pages`: ";
  std::string sep;
  for (int mib : {256, 1024}) {
    const std::string s = "/preload_MiB:" + std::to_string(mib);
    const json* plain = find_run(r, "ready/zygote_fork" + s);
    const json* t = find_run(r, "ready/zygote_fork_thp" + s);
    md << sep << std::to_string(mib) << " MiB ";
    if (t == nullptr) {
      md << "n/a";
    } else if (on_huge_pages(t, "huge_mib")) {
      md << num(counter(t, "ready_ms"), 1) << " ms against " << num(counter(plain, "ready_ms"), 1)
         << " ms (plain / huge pages: " << ratio(counter(plain, "ready_ms"), counter(t, "ready_ms"))
         << ")";
    } else {
      md << "not available (the kernel granted no huge pages)";
    }
    sep = ", ";
  }
  const json* big = find_run(r, "ready/zygote_fork/preload_MiB:1024");
  const json* big_huge = find_run(r, "ready/zygote_fork_thp/preload_MiB:1024");
  if (on_huge_pages(big_huge, "huge_mib")) {
    md << "; the collapse into huge pages makes the zygote's load of 1024 MiB take "
       << num(counter(big_huge, "zygote_load_ms"), 0) << " ms against "
       << num(counter(big, "zygote_load_ms"), 0) << " ms (one sample each)";
  }
  md << ".\n";
}

void sharing_section(std::ostream& md, const json& r, const std::string& dir) {
  const std::string n = context(r, "workers", "?");
  md << "## Page sharing\n\n"
        "The churn app (`bench/apps/churn.c`) preloads "
     << context(r, "preload_mib", "?")
     << " MiB; each request writes one byte into D random pages of it, as an interpreter's "
        "reference counts and garbage collector write into objects loaded before fork (D = 0: a "
        "static app, like testapp). *zygote*: `zygote-real --workers "
     << n
     << "`, workers forked from one zygote; *zygote, --huge-pages*: the same with the zygote's "
        "memory moved to transparent huge pages after the load. *solo*: "
     << n
     << " `bench-solo` processes, each loading the app itself. USS (Private_Clean + "
        "Private_Dirty), PSS and *huge pages* (`AnonHugePages`: memory this process maps with "
        "2 MiB entries) from `/proc/PID/smaps_rollup`, mean per worker (or solo process), right "
        "after fork or load (0 requests) and after K requests per process on average (the "
        "zygote's workers share one accept queue, so their counts spread: see below). *total "
        "PSS*: every process of the setup (master, zygote and workers; or the solo "
        "processes).\n\n";
  sharing_rows(md, r);
  sharing_data(r, dir);
  md << "\n![page sharing](bench/sharing.svg)\n\n";
}

void sharing_summary(std::ostream& md, const json& r) {
  const std::vector<int> ds = dirty_values(r);
  const int high = ds.empty() ? 0 : ds.back();
  const json* zs = sharing_run(r, kSetups[0], 0);
  const json* ss = sharing_run(r, kSetups[2], 0);
  const json* zd = sharing_run(r, kSetups[0], high);
  const json* td = sharing_run(r, kSetups[1], high);
  const std::vector<int> ks = checkpoints(zd);
  const std::string k = ks.empty() ? "0" : std::to_string(ks.back());
  const std::string uss_k = "uss_mib_r" + k;
  md << "- **Page sharing**: a worker forked from a zygote holding "
     << context(r, "preload_mib", "?") << " MiB owns " << num(counter(zs, "uss_mib_r0"), 1)
     << " MiB privately (USS) against " << num(counter(ss, "uss_mib_r0"), 1)
     << " MiB for a process that loaded the app itself; " << context(r, "workers", "?")
     << " workers and their zygote take " << num(counter(zs, "total_pss_mib_r0"), 0)
     << " MiB in all against " << num(counter(ss, "total_pss_mib_r0"), 0)
     << " MiB. When each request writes " << high
     << " random preloaded pages, a worker's USS grows to " << num(counter(zd, uss_k), 0)
     << " MiB after " << k << " requests; with `--huge-pages` ";
  if (td == nullptr) {
    md << "n/a.\n";
  } else if (on_huge_pages(td, "zygote_huge_mib")) {
    md << "(" << num(counter(td, "zygote_huge_mib"), 0) << " MiB of the zygote on huge pages) to "
       << num(counter(td, uss_k), 0)
       << " MiB (huge pages / plain: " << ratio(counter(td, uss_k), counter(zd, uss_k))
       << "; total PSS " << num(counter(td, "total_pss_mib_r" + k), 0) << " against "
       << num(counter(zd, "total_pss_mib_r" + k), 0) << " MiB).\n";
  } else {
    md << "not available (the kernel granted no huge pages).\n";
  }
}

}  // namespace zyg::bench::report
