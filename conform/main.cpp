// zygote-conform: runs one scenario file twice, in the simulator and on real processes, and
// compares the verdicts.
//
//   zygote-conform SCENARIO --real ZYGOTE_REAL --testapp TESTAPP_SO --load ZYGOTE_LOAD
//   zygote-conform --seeds A..B [--longest-s 15] --real ... --testapp ... --load ...
//
// With --seeds, the scenarios are the swarm generator's (the simulator's own), restricted to
// what the driver applies (generated() below) and shortened; a disagreement prints the scenario.
//
// The real run applies the scenario to zygote-real on 127.0.0.1: each version becomes a release
// directory of the test app (testapp.conf: its load time, load failure, latency, crashes), the
// client load becomes zygote-load with the same clients, keep-alive share, long requests and
// think time, and every action happens at its time: a deploy repoints the app symlink and asks
// `ctl deploy`; `kill worker|zygote` is SIGKILL to a process `ctl status` names; `pause` is
// SIGSTOP then SIGCONT. After the scenario's duration the run must converge within its liveness
// bound; then the server is stopped and its --events log is judged by zygote-check's judge (the
// simulator's checker), with the load client's failures set against the faults injected.
//
// A verdict is: safe (no violation), converged, the version serving at the end, and the versions
// reported failed. Exit status: 0 when both runs are safe and converge and the verdicts are the
// same, 1 otherwise, 2 when the scenario uses what the real driver cannot apply.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "cli/options.hpp"
#include "core/event_log.hpp"
#include "real/control_client.hpp"
#include "sim/scenario.hpp"
#include "sim/world.hpp"
#include "testing/server_process.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using zyg::Nanos;
using zyg::sim::ActionKind;
using zyg::sim::Scenario;
using zyg::sim::Target;
using Clock = std::chrono::steady_clock;

struct Verdict {
  bool safe = true;
  bool converged = false;
  std::string serving;
  std::set<std::string> failed;
  std::vector<std::string> violations;
  std::string requests;  // a summary, for the reader; not compared

  bool same_as(const Verdict& o) const {
    return safe == o.safe && converged == o.converged && serving == o.serving && failed == o.failed;
  }
};

std::int64_t ms_of(Nanos d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}
std::int64_t mid_ms(Nanos a, Nanos b) { return (ms_of(a) + ms_of(b)) / 2; }

// Why the real driver cannot apply this scenario faithfully, or "".
std::string unsupported(const Scenario& s) {
  const auto& c = s.clients;
  if (c.pipeline_ppm || c.abandon_ppm || c.half_send_ppm || c.stall_ppm || c.garbage_ppm) {
    return "the real load client has no pipelining, abandoning, half-sent, stalled or garbage "
           "requests: set them to 0%";
  }
  if (s.spawn_fail_ppm) return "fork failures cannot be injected into real processes";
  if (s.max_requests) return "max-requests: not supported by the driver yet";
  if (s.accept_fail_ppm || s.handoff_fail_ppm) {
    return "failing accepts and hand-offs cannot be injected into real processes";
  }
  if (s.max_connections) return "max-connections: not supported by the driver yet";
  for (const auto& v : s.versions) {
    if (v.hang_ppm || v.init_crash_ppm || v.init_hang_ppm || v.load_hangs) {
      return "version " + v.name + ": hangs and init faults are not applied to real processes";
    }
    if (v.crash_ppm != 0 && v.crash_ppm != 1'000'000) {
      return "version " + v.name + ": only crash 0% or 100% (crash on the first request)";
    }
  }
  for (const auto& a : s.actions) {
    if (a.kind == ActionKind::ignore_term || a.kind == ActionKind::crash_master ||
        a.kind == ActionKind::kill_forking) {
      return "actions ignore-term, crash master and kill zygote forking are simulator-only";
    }
    if ((a.kind == ActionKind::kill || a.kind == ActionKind::pause) && a.target == Target::master) {
      return "faults on the master are simulator-only";
    }
    if (a.target == Target::busy_worker) {
      return "kill busy-worker: the driver cannot tell which worker holds a connection";
    }
  }
  return "";
}

// A scenario the swarm generator draws from `seed`, restricted to what the real driver applies
// (unsupported() says what that is): the rest is switched off or dropped, and it is shortened to
// `longest`, its actions moved in proportion.
Scenario generated(std::uint64_t seed, Nanos longest) {
  Scenario s = zyg::sim::generate(seed);
  auto& c = s.clients;
  c.pipeline_ppm = c.abandon_ppm = c.half_send_ppm = c.stall_ppm = c.garbage_ppm = 0;
  c.slow_read_ppm = c.upload_ppm = 0;
  s.spawn_fail_ppm = s.accept_fail_ppm = s.handoff_fail_ppm = 0;
  s.max_requests = 0;
  s.max_connections = 0;
  s.backlog = 0;
  s.stop_delay = Nanos{0};
  s.write_timeout = Scenario{}.write_timeout;
  for (auto& v : s.versions) {
    // The real release loads in the middle of the range (make_release): so does the simulated
    // one, or a deploy superseded while loading in one run may have served in the other.
    v.load_min = v.load_max = std::chrono::milliseconds(mid_ms(v.load_min, v.load_max));
    v.hang_ppm = v.init_crash_ppm = v.init_hang_ppm = 0;
    v.load_hangs = false;
    // The simulator's crashes stop with the faults (its liveness phase); testapp's crash on
    // every request never does, so a crashing release deployed late would fail in one run only.
    // Crash loops on real processes: conform/scenarios/crash-loop.scenario.
    v.crash_ppm = 0;
  }
  std::erase_if(s.actions, [](const zyg::sim::Action& a) {
    return a.kind == ActionKind::ignore_term || a.kind == ActionKind::crash_master ||
           a.kind == ActionKind::kill_forking || a.target == Target::master;
  });
  for (auto& a : s.actions) {
    if (a.target == Target::busy_worker) a.target = Target::worker;
  }
  if (s.duration > longest) {
    const std::int64_t to = ms_of(longest), from = ms_of(s.duration);
    for (auto& a : s.actions) a.at = std::chrono::milliseconds(ms_of(a.at) * to / from);
    s.duration = longest;
  }
  // The simulator resumes what is paused when the faults end; the driver at the pause's end.
  for (auto& a : s.actions) {
    if (a.kind == ActionKind::pause) a.duration = std::min(a.duration, s.duration - a.at);
  }
  return s;
}

Verdict simulate(const Scenario& s) {
  const zyg::sim::RunResult r = zyg::sim::run_scenario(s);
  Verdict v;
  v.safe = r.ok;
  v.converged = r.converged_at.count() >= 0;
  v.serving = r.final_view.serving;
  v.failed.insert(r.final_view.failed_versions.begin(), r.final_view.failed_versions.end());
  for (const auto& x : r.violations) v.violations.push_back(x.what);
  const auto& o = r.counts.outcomes;
  auto n = [&](zyg::check::Outcome k) { return o.count(k) ? o.at(k) : 0; };
  v.requests = std::to_string(n(zyg::check::Outcome::ok)) + " ok, " +
               std::to_string(n(zyg::check::Outcome::lost_to_fault)) + " lost to faults";
  return v;
}

class RealRun {
 public:
  // sabotage (for the driver's own tests): "skip-deploys" applies no deploy; "unrecorded-kills"
  // kills workers without recording the faults, so that the requests they held are unexplained.
  RealRun(const Scenario& s, std::string real, std::string testapp, std::string load,
          std::string sabotage)
      : s_(s),
        real_(std::move(real)),
        testapp_(std::move(testapp)),
        load_(std::move(load)),
        sabotage_(std::move(sabotage)) {}

  Verdict run() {
    const std::string& d = scratch_.path();
    for (const auto& v : s_.versions) make_release(v);
    zyg::testing::point_current(d, leaf(s_.initial));
    zyg::testing::ServerProcess server(
        real_, d,
        {"--workers", std::to_string(s_.budget), "--max-changing", std::to_string(s_.max_changing),
         "--graceful-timeout-ms", std::to_string(ms_of(s_.graceful_timeout)),
         "--heartbeat-timeout-ms", std::to_string(ms_of(s_.heartbeat_timeout)),
         "--keepalive-timeout-ms", std::to_string(ms_of(s_.keepalive_timeout)), "--probation-ms",
         std::to_string(ms_of(s_.probation)), "--events", d + "/events.jsonl", "testapp"});
    Verdict v;
    if (!server.started()) {
      v.safe = false;
      v.violations.push_back("the server did not start: " + server.log());
      return v;
    }
    control_ = zyg::real::control_socket_path(server.run_dir());
    if (s_.workers && s_.workers != s_.budget) ask("scale " + std::to_string(s_.workers));
    const bool loaded = s_.clients.clients > 0;  // a scenario may have no clients at all
    const pid_t load = loaded ? start_load(server.port()) : 0;
    if (loaded && load <= 0) {
      v.safe = false;
      v.violations.push_back("cannot start zygote-load");
      return v;
    }
    last_deployed_ = s_.initial;
    const auto t0 = Clock::now();
    std::vector<std::pair<Clock::time_point, int>> resume;  // paused processes, by pidfd
    for (const auto& a : s_.actions) {
      sleep_until(t0 + a.at, resume);
      apply(a, resume);
    }
    sleep_until(t0 + s_.duration, resume);
    sleep_until(Clock::time_point::max(), resume);  // every paused process resumed
    v.converged = zyg::testing::eventually(
        [&] { return converged(server); },
        std::chrono::duration_cast<std::chrono::milliseconds>(s_.liveness));
    const json last = status();
    // zygote-load stops at its duration plus its request timeout; give it that and a margin.
    bool load_exited = !loaded || zyg::testing::eventually(
                                      [&] { return ::waitpid(load, nullptr, WNOHANG) == load; },
                                      std::chrono::seconds(40));
    if (!load_exited) {
      ::kill(load, SIGKILL);
      ::waitpid(load, nullptr, 0);
      v.violations.push_back("zygote-load did not finish in time");
    }
    const auto stopped = server.stop_cleanly();
    if (!stopped.empty()) v.violations.push_back("stop: " + stopped);
    for (const std::string& x : not_applied_) v.violations.push_back(x);
    judge(v, last);
    return v;
  }

 private:
  static std::string leaf(const std::string& version) {
    return version.substr(version.rfind('/') + 1);
  }
  // The scenario's name for a real release directory: "releases/B".
  std::string name_of(const std::string& path) const {
    const auto at = path.rfind("/releases/");
    return at == std::string::npos ? path : path.substr(at + 1);
  }

  void make_release(const zyg::sim::VersionSpec& v) {
    std::ostringstream conf;
    conf << "load_ms " << mid_ms(v.load_min, v.load_max) << "\n";
    conf << "latency_ms " << mid_ms(v.service_min, v.service_max) << "\n";
    if (v.load_fails) conf << "load_fail 1\n";
    if (v.crash_ppm) conf << "crash_on_request 1\n";
    zyg::testing::make_release(scratch_.path(), leaf(v.name), testapp_, conf.str());
  }

  pid_t start_load(int port) {
    const auto& c = s_.clients;
    std::vector<std::string> argv{load_,
                                  "--port",
                                  std::to_string(port),
                                  "--clients",
                                  std::to_string(c.clients),
                                  "--duration-ms",
                                  std::to_string(ms_of(s_.duration)),
                                  "--keepalive-percent",
                                  std::to_string(c.keepalive_ppm / 10'000),
                                  "--think-ms",
                                  std::to_string(mid_ms(c.think_min, c.think_max)),
                                  "--idle-reuse-max-ms",
                                  std::to_string(ms_of(c.idle_reuse_max)),
                                  "--allow-failures",
                                  "--json",
                                  scratch_.path() + "/load.json"};
    if (c.long_ppm) {
      argv.insert(argv.end(), {"--long-every",
                               std::to_string(std::max<std::uint32_t>(1, 1'000'000 / c.long_ppm)),
                               "--long-ms", std::to_string(ms_of(c.long_request))});
    }
    const pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      std::vector<char*> cargv;
      for (std::string& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      const std::string out = scratch_.path() + "/load.out";
      if (!std::freopen(out.c_str(), "w", stdout)) ::_exit(127);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    return pid;
  }

  // Sleeps until `until`, resuming paused processes on time; with time_point::max(), until every
  // paused process has been resumed.
  static void sleep_until(Clock::time_point until,
                          std::vector<std::pair<Clock::time_point, int>>& resume) {
    for (;;) {
      std::sort(resume.begin(), resume.end());
      const bool all = until == Clock::time_point::max();
      if (all && resume.empty()) return;
      const auto next = resume.empty() ? until : std::min(until, resume.front().first);
      std::this_thread::sleep_until(next);  // the scenario's clock, not a test's wait
      while (!resume.empty() && resume.front().first <= Clock::now()) {
        signal_pidfd(resume.front().second, SIGCONT);
        ::close(resume.front().second);
        resume.erase(resume.begin());
      }
      if (!all && Clock::now() >= until) return;
    }
  }

  json ask(const std::string& request) {
    auto r = zyg::real::control_request(control_, request, 10s);
    if (!r.line) return json{{"ok", false}, {"error", r.error}};
    return json::parse(*r.line, nullptr, false);
  }
  json status() {
    json r = ask("status");
    return r.value("ok", false) ? r["status"] : json::object();
  }

  // The pid of the lowest-numbered live process of this role, 0 if none.
  pid_t pick(const json& st, const char* role) {
    if (std::string_view(role) == "front") {
      const json f = st.value("front", json::object());
      return f.is_object() ? f.value("pid", 0) : 0;
    }
    for (const json& p : st.value("processes", json::array())) {
      const std::string state = p.value("state", "");
      if (p.value("role", "") == role && p.value("pid", 0) > 0 && state != "exited-unreaped") {
        return p["pid"].get<pid_t>();
      }
    }
    return 0;
  }

  static double monotonic_ms(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(t.time_since_epoch()).count();
  }

  static int signal_pidfd(int pidfd, int sig) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
  }

  // A pidfd for a live process of `role` that `ctl status` names, taken before the status is
  // read again: the pid cannot name another process by the time it is signalled (the server's
  // processes are not the driver's children, so their pids could otherwise be reused).
  int pidfd_of(const char* role, std::string& why) {
    const pid_t pid = pick(status(), role);
    if (pid <= 0) {
      why = std::string("no ") + role + " to pick";
      return -1;
    }
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) {
      why = "pidfd_open failed";
      return -1;
    }
    if (pick(status(), role) != pid) {  // it went away between the two looks
      ::close(fd);
      why = "the process picked went away";
      return -1;
    }
    return fd;
  }

  void apply(const zyg::sim::Action& a, std::vector<std::pair<Clock::time_point, int>>& resume) {
    const double at_ms = monotonic_ms(Clock::now());
    const std::string what = "action at " + zyg::sim::format_duration(a.at);
    switch (a.kind) {
      case ActionKind::deploy: {
        if (sabotage_ == "skip-deploys") break;
        zyg::testing::point_current(scratch_.path(), leaf(a.version));
        const json r = ask("deploy");
        if (!r.value("ok", false)) {
          not_applied_.push_back(what + " (deploy " + a.version + ") refused: " + r.dump());
        }
        last_deployed_ = a.version;
        break;
      }
      case ActionKind::ttin:
      case ActionKind::ttou: {
        const json st = status();
        const json r = ask("scale " + std::to_string(st.value("desired", 1) +
                                                     (a.kind == ActionKind::ttin ? 1 : -1)));
        if (!r.value("ok", false)) not_applied_.push_back(what + " (scale) refused: " + r.dump());
        break;
      }
      case ActionKind::kill:
      case ActionKind::pause: {
        std::string why;
        const int fd = pidfd_of(a.target == Target::zygote  ? "zygote"
                                : a.target == Target::front ? "front"
                                                            : "worker",
                                why);
        if (fd < 0 && why.rfind("no ", 0) == 0) {
          // The simulator skips a fault with nothing to hit (its pick() finds none): so here.
          std::cout << "  " << what << " skipped: " << why << "\n";
          break;
        }
        if (fd < 0) {
          not_applied_.push_back(what + " not applied: " + why);
          break;
        }
        if (a.kind == ActionKind::kill) {
          signal_pidfd(fd, SIGKILL);
          ::close(fd);
          if (sabotage_ != "unrecorded-kills") faults_.push_back({at_ms, at_ms + kFaultWindowMs});
        } else {
          signal_pidfd(fd, SIGSTOP);
          resume.push_back({Clock::now() + a.duration, fd});  // closed once resumed
          faults_.push_back(
              {at_ms, at_ms + static_cast<double>(ms_of(a.duration + s_.heartbeat_timeout)) +
                          kFaultWindowMs});
        }
        break;
      }
      default: break;  // refused by unsupported()
    }
  }

  // As strict as the simulator's: nothing loading, every wanted worker ready or busy on the
  // serving version and nothing else in the master's view, exactly that many worker processes
  // and one zygote in the server's process group (from /proc), the last deploy serving unless
  // it failed.
  bool converged(zyg::testing::ServerProcess& server) {
    const json st = status();
    if (st.empty() || !st.value("loading", "").empty() || st.value("serving", "").empty() ||
        st.value("shutting_down", false)) {
      return false;
    }
    const int want = st.value("desired", -1);
    const json& w = st["workers"];
    if (w.value("starting", 0) + w.value("draining", 0) + w.value("exited", 0) != 0 ||
        w.value("ready", 0) + w.value("busy", 0) != want) {
      return false;
    }
    for (const json& p : st["processes"]) {
      if (p.value("role", "") == "worker" && p.value("version", "") != st["serving"]) return false;
    }
    int zygotes = 0;
    for (const auto& p : server.group()) {
      std::string title = zyg::testing::read_file("/proc/" + std::to_string(p.pid) + "/cmdline");
      zygotes += title.rfind("zygote-real: zygote ", 0) == 0 ? 1 : 0;
    }
    if (zygotes != 1 || static_cast<int>(server.workers().size()) != want) return false;
    const std::string serving = name_of(st.value("serving", ""));
    bool last_failed = false;
    for (const json& f : st["failures"])
      last_failed |= name_of(f.value("version", "")) == last_deployed_;
    return serving == last_deployed_ || last_failed;
  }

  void judge(Verdict& v, const json& last) {
    bool crash_versions = false;
    for (const auto& ver : s_.versions) crash_versions |= ver.crash_ppm != 0;
    zyg::event_log::Judge j;
    std::ifstream events(scratch_.path() + "/events.jsonl");
    for (std::string line; std::getline(events, line);) {
      j.line(line);
      // A worker killed by a signal the driver did not send crashed (the app's own fault, as
      // the scenario configured): the requests it held are explained, as the simulator explains
      // them.
      const json e = json::parse(line, nullptr, false);
      if (crash_versions && e.is_object() && e.contains("event") &&
          e["event"].value("type", "") == "worker-exited" &&
          e["event"]["status"].value("signaled", false) &&
          e["event"]["status"].value("code", 0) == SIGABRT) {  // testapp's crash_on_request
        const double at = static_cast<double>(e.value("t", std::int64_t{0})) / 1e6;
        faults_.push_back({at - kFaultWindowMs, at + kFaultWindowMs});
      }
    }
    std::ifstream in(scratch_.path() + "/load.json");
    const json load = json::parse(in, nullptr, false);
    std::uint64_t failed = 0, explained = 0, ok = 0;
    if (load.is_object()) {
      ok = load.value("ok", std::uint64_t{0});
      failed = load.value("failed", std::uint64_t{0});
      const double start = load.value("start_monotonic_ms", 0.0);
      for (const json& t : load.value("failure_times_ms", json::array())) {
        const double at = start + t.get<double>();
        for (const auto& [from, to] : faults_) {
          if (at >= from && at <= to) {
            ++explained;
            break;
          }
        }
      }
    } else {
      if (s_.clients.clients > 0) v.violations.push_back("no load summary");
    }
    j.add_requests(ok, failed - std::min(failed, explained), std::min(failed, explained),
                   "failed requests reported by zygote-load");
    for (const auto& x : j.checker().violations()) v.violations.push_back(x.what);
    v.safe = v.violations.empty();
    v.serving = name_of(last.value("serving", j.last_serving()));
    for (const auto& f : j.view().failed_versions) v.failed.insert(name_of(f));
    v.requests = std::to_string(ok) + " ok, " + std::to_string(std::min(failed, explained)) +
                 " lost to faults";
  }

  const Scenario& s_;
  std::string real_, testapp_, load_, sabotage_;
  zyg::testing::ScratchDir scratch_;
  std::string control_;
  // Windows (CLOCK_MONOTONIC ms) in which a failed request is explained by a fault: a request a
  // dying worker held fails as it dies, or on the client's next use of the connection.
  static constexpr double kFaultWindowMs = 2000;
  std::vector<std::pair<double, double>> faults_;
  std::vector<std::string> not_applied_;  // actions the run could not apply: a violation
  std::string last_deployed_;             // the scenario's name of the release deployed last
};

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : ", ") + x;
  return out.empty() ? "-" : out;
}

void print(const Verdict& sim, const Verdict& real) {
  auto row = [](const std::string& what, const std::string& a, const std::string& b) {
    std::cout << "  " << what << std::string(12 - what.size(), ' ') << a
              << std::string(a.size() < 32 ? 32 - a.size() : 1, ' ') << b << "\n";
  };
  row("", "simulated", "real");
  row("safe", sim.safe ? "yes" : "NO", real.safe ? "yes" : "NO");
  row("converged", sim.converged ? "yes" : "NO", real.converged ? "yes" : "NO");
  row("serving", sim.serving, real.serving);
  row("failed", join(sim.failed), join(real.failed));
  row("requests", sim.requests, real.requests);
  for (const auto& x : sim.violations) std::cout << "  simulated violation: " << x << "\n";
  for (const auto& x : real.violations) std::cout << "  real violation: " << x << "\n";
}

// Both runs of one scenario; true when both are clean and their verdicts the same.
bool conform(const Scenario& s, const cxxopts::ParseResult& args, const std::string& sabotage) {
  const Verdict sim = simulate(s);
  RealRun real(s, args["real"].as<std::string>(), args["testapp"].as<std::string>(),
               args["load"].as<std::string>(), sabotage);
  const Verdict r = real.run();
  print(sim, r);
  const bool pass = sim.safe && r.safe && sim.converged && r.converged && sim.same_as(r);
  std::cout << (pass ? "verdicts: the same, both clean\n" : "verdicts: DIFFER or not clean\n");
  return pass;
}

// --seeds A..B: one generated scenario per seed; a disagreement prints the scenario as a file to
// keep (conform/scenarios/) once explained.
int run_seeds(const cxxopts::ParseResult& args) {
  for (const char* need : {"real", "testapp", "load"}) {
    if (!args.count(need)) {
      std::cerr << "zygote-conform: missing --" << need << "\n";
      return 2;
    }
  }
  const std::string range = args["seeds"].as<std::string>();
  const auto dots = range.find("..");
  std::uint64_t from = 0, to = 0;
  try {
    from = std::stoull(range.substr(0, dots));
    to = dots == std::string::npos ? from : std::stoull(range.substr(dots + 2));
  } catch (const std::exception&) {
    to = 0, from = 1;
  }
  const int longest = args["longest-s"].as<int>();
  if (from > to || to - from >= 1000 || longest < 5 || longest > 600) {
    std::cerr << "zygote-conform: --seeds A..B (at most 1000 seeds), --longest-s 5 to 600\n";
    return 2;
  }
  int failed = 0;
  for (std::uint64_t seed = from; seed <= to; ++seed) {
    const Scenario s = generated(seed, Nanos{std::chrono::seconds(longest)});
    if (auto why = s.validate()) {
      std::cout << "seed " << seed << ": skipped, the restricted scenario is invalid: " << *why
                << "\n";
      continue;
    }
    if (s.version(s.initial)->load_fails) {
      // zygote-real refuses to start (exit 3) and the driver has no server to apply it to.
      std::cout << "seed " << seed << ": skipped, its first release does not load\n";
      continue;
    }
    if (const std::string why = unsupported(s); !why.empty()) {
      std::cerr << "zygote-conform: seed " << seed << " still uses " << why << "\n";
      return 2;
    }
    std::cout << "seed " << seed << ": " << zyg::sim::knobs_line(s) << "\n" << std::flush;
    if (!conform(s, args, "")) {
      ++failed;
      std::cout << "seed " << seed << " disagrees; its scenario, to replay with zygote-conform "
                << "FILE:\n"
                << zyg::sim::to_text(s) << std::flush;
    }
  }
  std::cout << "seeds " << from << ".." << to << ": " << failed << " disagreed or not clean\n";
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("zygote-conform",
                           "Runs a scenario in the simulator and on real processes (127.0.0.1) "
                           "and compares the verdicts.");
  options.add_options()("real", "the zygote-real binary", cxxopts::value<std::string>())(
      "testapp", "the testapp shared object", cxxopts::value<std::string>())(
      "load", "the zygote-load binary", cxxopts::value<std::string>())(
      "sabotage", "for testing the driver: skip-deploys or unrecorded-kills",
      cxxopts::value<std::string>()->default_value(""))(
      "seeds",
      "instead of SCENARIO: scenarios the swarm generator draws from seeds A..B, "
      "restricted to what real processes can apply",
      cxxopts::value<std::string>())("longest-s",
                                     "with --seeds: shorten each scenario to this many seconds",
                                     cxxopts::value<int>()->default_value("15"))(
      "h,help", "show this help")("scenario", "the scenario file", cxxopts::value<std::string>());
  options.parse_positional({"scenario"});
  options.positional_help("SCENARIO");
  int status = 0;
  const std::optional<cxxopts::ParseResult> parsed = zyg::cli::parse(options, argc, argv, status);
  if (!parsed) return status;
  const cxxopts::ParseResult& args = *parsed;
  if (args.count("seeds")) return run_seeds(args);
  for (const char* need : {"scenario", "real", "testapp", "load"}) {
    if (!args.count(need)) {
      std::cerr << "zygote-conform: missing --" << need << "\n";
      return 2;
    }
  }
  std::ifstream in(args["scenario"].as<std::string>());
  std::stringstream text;
  text << in.rdbuf();
  std::string error;
  auto s = zyg::sim::parse(text.str(), error);
  if (!in || !s) {
    std::cerr << "zygote-conform: " << args["scenario"].as<std::string>() << ": " << error << "\n";
    return 2;
  }
  if (const std::string why = unsupported(*s); !why.empty()) {
    std::cerr << "zygote-conform: cannot run on real processes: " << why << "\n";
    return 2;
  }
  std::cout << "scenario " << args["scenario"].as<std::string>() << "\n" << std::flush;
  const std::string sabotage = args["sabotage"].as<std::string>();
  if (!sabotage.empty() && sabotage != "skip-deploys" && sabotage != "unrecorded-kills") {
    std::cerr << "zygote-conform: --sabotage is skip-deploys or unrecorded-kills\n";
    return 2;
  }
  return conform(*s, args, sabotage) ? 0 : 1;
}
