// bench-report write: issue 11's targets, each against its measured ratio (from bench/peers.sh's
// peers.json, throughput.sh's and bench-deploy's results of the same scripts/bench.sh run), then
// the peers' tables as report.py wrote them (DATA_DIR/peers/peers.md).
#include <fstream>
#include <sstream>
#include <string>

#include "bench/report/report.hpp"
#include "bench/report/table.hpp"

namespace zyg::bench::report {
namespace {

using nlohmann::json;

std::optional<double> number(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return std::nullopt;
  return j[key].get<double>();
}

// "met" or "missed" for a ratio against its bound (at least or at most), "n/a" without numbers.
std::string verdict(std::optional<double> v, double bound, bool at_least) {
  if (!v) return "n/a";
  return (at_least ? *v >= bound : *v <= bound) ? "met" : "**missed**";
}

const json& zygote_of(const json& peers) {
  static const json none = json::object();
  if (!peers.contains("servers") || !peers["servers"].is_array()) return none;
  for (const auto& s : peers["servers"]) {  // a reference into `peers`, never into a copy
    if (s.value("name", "") == "zygote-real") return s;
  }
  return none;
}

std::optional<double> wrk_rps(const json& t, const std::string& server, const std::string& mode) {
  for (const auto& run : t.value("runs", json::array())) {
    if (run.value("server", "") != server || run.value("mode", "") != mode) continue;
    const double secs = run["wrk"].value("duration_us", 0.0) / 1e6;
    if (secs > 0) return run["wrk"].value("requests", 0.0) / secs;
  }
  return std::nullopt;
}

std::optional<double> div(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b == 0) return std::nullopt;
  return *a / *b;
}

void peers_rows(std::ostream& md, const json& peers) {
  const json& z = zygote_of(peers);
  const json q = z.value("ratios", json::object());
  const double ideal = peers.value("config", json::object()).value("ideal_rps", 0.0);
  const auto r = [&q](const char* key) { return number(q, key); };
  md << row({"keep-alive req/s / one connection per request", ">= 0.95",
             num(r("keepalive_vs_close_rps"), 2),
             verdict(r("keepalive_vs_close_rps"), 0.95, true)});
  md << row({"keep-alive req/s / ideal W / service time (" + num(ideal, 0) + " req/s)", ">= 0.95",
             num(r("keepalive_vs_ideal_rps"), 2),
             verdict(r("keepalive_vs_ideal_rps"), 0.95, true)});
  md << row({"keep-alive p50 / one connection per request p50", "<= 1.1",
             num(r("keepalive_vs_close_p50"), 2),
             verdict(r("keepalive_vs_close_p50"), 1.1, false)});
  md << row(
      {"mixed (1 in 20 x 200 ms): short requests' p50, keep-alive / one connection per "
       "request",
       "<= 1.2", num(r("mixed_short_p50_keepalive_vs_close"), 2),
       verdict(r("mixed_short_p50_keepalive_vs_close"), 1.2, false)});
  md << row({"p99 with / without the slow and idle connections held", "<= 1.5",
             num(r("held_p99_with_vs_without"), 2),
             verdict(r("held_p99_with_vs_without"), 1.5, false)});
  const auto failed = [&q](const char* key) { return number(q, key); };
  std::optional<double> all;
  if (failed("held_clients_failed") && failed("held_idle_failed") && failed("held_slow_failed"))
    all =
        *failed("held_clients_failed") + *failed("held_idle_failed") + *failed("held_slow_failed");
  md << row({"failed with slow and idle held: clients' requests, idle connections, slow clients",
             "0, 0, 0",
             num(failed("held_clients_failed"), 0) + ", " + num(failed("held_idle_failed"), 0) +
                 ", " + num(failed("held_slow_failed"), 0),
             verdict(all, 0, false)});
}

void wrk_and_deploy_rows(std::ostream& md, const json& throughput, const json& deploy) {
  const auto hello =
      div(wrk_rps(throughput, "zygote", "keepalive"), wrk_rps(throughput, "nginx", "keepalive"));
  md << row({"hello with keep-alive, zygote-real / nginx req/s (wrk)", ">= 0.54 (aim 0.8)",
             num(hello, 2),
             verdict(hello, 0.54, true) + (hello && *hello >= 0.8 ? ", aim met" : ", aim missed")});
  const json* d = find_run(deploy, "deploy/under_load");
  const auto c = [d](const char* n) { return counter(d, n); };
  const auto p99 = div(c("rollout_p99_ms"), c("steady_p99_ms"));
  md << row({"deploys: p99 of the median rollout window / median steady window", "<= 1.2",
             num(p99, 2), verdict(p99, 1.2, false)});
  md << row({"deploys: failed requests", "0", num(c("deploy_failed"), 0),
             verdict(c("deploy_failed"), 0, false)});
  // Keep-alive connections the clients had to open again in rollout windows, against the steady
  // windows' rate for as many windows.
  const auto steady_rate = div(c("steady_reopened"), c("steady_windows"));
  const auto rollout_windows = c("rollout_windows");
  const std::optional<double> expected =
      steady_rate && rollout_windows ? std::optional<double>(*steady_rate * *rollout_windows)
                                     : std::nullopt;
  md << row(
      {"deploys: keep-alive connections opened again in the rollout windows (steady rate "
       "for as many windows)",
       "no more than steady", num(c("rollout_reopened"), 0) + " (" + num(expected, 1) + ")",
       c("rollout_reopened") && expected ? verdict(*c("rollout_reopened"), *expected, false)
                                         : "n/a"});
}

}  // namespace

void issue11_section(std::ostream& md, const std::string& dir, const json& throughput,
                     const json& deploy) {
  const json peers = read_json(dir + "/peers/peers.json");
  if (peers.is_null()) return;
  md << "## Issue 11: the front process, target by target\n\n"
        "Each of issue 11's targets against its ratio in this run: the first six from "
        "`bench/peers.sh` (zygote-real `--workers 4` serving testapp with `latency_ms 5`, 32 "
        "`zygote-load` clients, 8 s a run; the next section has every figure, with gunicorn "
        "sync, uWSGI and waitress under the same runs), the hello ratio from the throughput "
        "section, the deploy rows from the deploy section. Before the front "
        "(bench/peers/BASELINE.md): 0.99, 0.91, 1.56, 54.06, 32.87 with 9,160 idle connections "
        "failed, 0.54 and 1.71.\n\n";
  md << header({"target", "bound", "measured", "verdict"});
  peers_rows(md, peers);
  wrk_and_deploy_rows(md, throughput, deploy);
  md << "\n## Against gunicorn, uWSGI and waitress\n\n"
        "`bench/peers.sh`, run by `scripts/bench.sh` (raw data in `docs/bench/peers/`: "
        "peers.json and each run's zygote-load JSON).\n\n";
  std::ifstream in(dir + "/peers/peers.md");
  std::stringstream text;
  text << in.rdbuf();
  md << text.str() << "\n";
}

// Python WSGI apps against the peers (bench/python.sh): its tables, as it wrote them.
void python_section(std::ostream& md, const std::string& dir) {
  std::ifstream in(dir + "/python/python.md");
  if (!in) return;
  md << "\n## Python WSGI apps against gunicorn, uWSGI and waitress\n\n"
        "`bench/python.sh`, run by `scripts/bench.sh` (raw data in `docs/bench/python/`). Hello: "
        "bench/peers/app.py without its sleep, one `wrk -t2 -c50 -d8s` command for every server "
        "(keep-alive). 5 ms: the same app with its 5 ms sleep, 32 keep-alive `zygote-load` "
        "clients for 8 s. Memory: bench/peers/flask_app.py after 10,000 requests over 4 "
        "keep-alive connections, from /proc/PID/smaps_rollup; gunicorn with `--preload`, so that "
        "both fork workers from a process that imported the app. Deploys: bench-deploy --flask "
        "(three deploys of the Flask app under load, 1 s load windows), zygote-real's SIGHUP "
        "against gunicorn's HUP (sync workers without --preload, so that HUP loads the new "
        "code); gunicorn's rollout ends when none of its old workers is left.\n\n";
  std::stringstream text;
  text << in.rdbuf();
  md << text.str() << "\n";
}

}  // namespace zyg::bench::report
