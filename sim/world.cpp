#include "sim/world.hpp"

#include <iomanip>
#include <ostream>
#include <sstream>
#include <variant>

#include <charconv>

#include "core/marks.hpp"

namespace zyg::sim {

namespace {

constexpr const char* kAppPath = "/srv/app/current";
constexpr const char* kStatePath = "/run/zygote/last-good";
constexpr Nanos kSampleEvery = 250ms;
constexpr Nanos kServiceStopTimeout = 10s;  // a service manager's stop timeout before SIGKILL
constexpr Nanos kQuietBound = 150s;         // clients' outstanding requests finish within this
// How long a complete request may wait while a worker is idle: the front's and the worker's
// wake-ups and the hand-off cost microseconds here, so anything near this is a scheduling fault.
constexpr Nanos kWaitBound = 10ms;
constexpr Nanos kAcceptRetry = 100ms;  // the front's pause after a failed accept

bool lifecycle_event(const Event& e) {
  return !std::holds_alternative<ev::Tick>(e) && !std::holds_alternative<ev::WorkerHeartbeat>(e) &&
         !std::holds_alternative<ev::ZygoteReplied>(e) &&
         !std::holds_alternative<ev::WorkerBusy>(e) && !std::holds_alternative<ev::WorkerIdle>(e);
}

std::string seconds(Nanos t) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(6) << static_cast<double>(t.count()) / 1e9 << "s";
  return o.str();
}

bool holds_connection(const Process& p) {
  for (const auto& [fd, f] : p.fds) {
    if (f.kind == File::Kind::connection) return true;
  }
  return false;
}

}  // namespace

World::World(const Scenario& scenario, RunOptions options)
    : sc_(scenario),
      opt_(options),
      kernel_(Kernel::Config{scenario.seed, scenario.pid_max, 20us, 50us, 200us,
                             scenario.spawn_fail_ppm, 256 * 1024}),
      checker_(scenario.budget),
      scheduling_(kWaitBound) {
  kernel_.set_listener(this);
  kernel_.set_data_path_fail_ppm(scenario.accept_fail_ppm, scenario.handoff_fail_ppm);
  kernel_.set_after_event([this] {
    if (opt_.record_samples && kernel_.now() >= Nanos{0}) {
      if (result_.samples.empty() || kernel_.now() - result_.samples.back().t >= kSampleEvery)
        sample();
    }
  });
  std::map<std::string, VersionSpec> versions;
  for (const VersionSpec& v : sc_.versions) versions[v.name] = v;
  loader_ = std::make_unique<SimLoader>(kernel_, versions, faults_on_, *this);
  ClientSpec client_spec = sc_.clients;
  client_spec.server_write_timeout = sc_.write_timeout;
  clients_ =
      std::make_unique<Clients>(kernel_, client_spec, checker_,
                                [this](Slot reader, Nanos when) { return explains(reader, when); });
  clients_->set_wait_judge([this](ConnId c, std::uint64_t id, Nanos ready, Nanos until) {
    judge_wait(c, id, ready, until);
  });

  SupervisorConfig& sup = master_cfg_.supervisor;
  sup.budget = sc_.budget;
  sup.desired = sc_.workers;
  sup.max_changing = sc_.max_changing;
  sup.graceful_timeout = sc_.graceful_timeout;
  sup.stop_delay = sc_.stop_delay;
  sup.heartbeat_timeout = sc_.heartbeat_timeout;
  sup.probation = sc_.probation;
  sup.ready_timeout = 20s;
  sup.load_timeout = 30s;
  sup.lost_worker_timeout = 10s;
  sup.zygote_timeout = 5s;
  sup.backoff_max = 5s;
  master_cfg_.worker.keepalive_timeout = sc_.keepalive_timeout;
  master_cfg_.worker.write_timeout = sc_.write_timeout;
  master_cfg_.worker.heartbeat_interval = 1s;
  master_cfg_.app_path = kAppPath;
  master_cfg_.state_path = kStatePath;
  master_cfg_.title = "zygote-sim";
  master_cfg_.backlog = sc_.backlog;
  master_cfg_.worker.max_requests = sc_.max_requests;
  // Small, so that a simulated upload (up to 8 KiB) is spooled by the front more often than not.
  master_cfg_.worker.http.body_memory_max = 1024;
  if (sc_.max_connections) master_cfg_.max_connections = sc_.max_connections;
  result_.budget = sc_.budget;
}

World::~World() = default;

void World::line(Nanos t, const std::string& who, const std::string& what) {
  if (!opt_.timeline) return;
  *opt_.timeline << std::setw(14) << seconds(t) << "  " << std::left << std::setw(36) << who << " "
                 << std::setw(52) << what << std::right << " | " << counts_text() << "\n";
}

std::string World::counts_text() const {
  const WorkerCounts& w = view_.workers;
  std::ostringstream o;
  o << "start " << w.starting << " ready " << w.ready << " busy " << w.busy << " drain "
    << w.draining << " exited " << w.exited_unreaped << " | budget " << checker_.workers_existing()
    << "/" << sc_.budget;
  return o.str();
}

void World::start_master() {
  os::ChildSpec spec;
  spec.title = "zygote-sim: master";
  spec.role = Role::master;
  spec.main = [this](os::Os& os) { return run_master(os, master_cfg_, *loader_, this); };
  const Pid pid = kernel_.spawn_root(std::move(spec), generation_);
  master_slot_ = kernel_.find_pid(pid)->slot;
}

RunResult World::run() {
  begin();
  schedule_actions();
  kernel_.run_until(sc_.duration);
  return finish();
}

void World::begin() {
  last_deployed_ = sc_.initial;
  kernel_.files()[kAppPath] = sc_.initial;
  scheduling_.began("no front", kernel_.now());
  start_master();
  clients_->start();
}

void World::act(const Action& a) { apply(a); }

void World::advance_to(Nanos t) { kernel_.run_until(t); }

bool World::master_running() const {
  const Process* m = const_cast<Kernel&>(kernel_).find_slot(master_slot_);
  return m && m->run != RunState::zombie && !master_down_;
}

RunResult World::finish() {
  const Nanos faults_end = kernel_.now();
  faults_off();
  const Nanos bound = faults_end + sc_.liveness;
  std::optional<std::string> why = unconverged();
  while (why && kernel_.now() < bound) {
    kernel_.run_until(kernel_.now() + 500ms);
    why = unconverged();
  }
  if (why) {
    std::string procs;
    for (const ProcessInfo& p : view_.processes) {
      procs += std::string(p.role == Role::zygote ? " z" : " w") + std::to_string(p.id) + "(" +
               p.version + " " + p.state + (p.stop.empty() ? "" : " " + p.stop) + ")";
    }
    checker_.fail(kernel_.now(), "liveness: not converged within " + format_duration(sc_.liveness) +
                                     " after faults stopped: " + *why + "; the master sees" +
                                     procs + ", serving " + view_.serving +
                                     (view_.serving_proven ? " (proven)" : "") + ", wanting " +
                                     std::to_string(view_.desired));
  } else {
    result_.converged_at = kernel_.now();
    line(kernel_.now(), "world", "converged: every worker on " + view_.serving);
  }
  result_.final_view = view_;
  if (sc_.stop_delay > Nanos{0} && !sc_.fast_stop) {
    // The stop begins while the clients still send, as they would until their load balancer
    // saw /readyz answer 503: nothing sent in the delay may fail.
    send_stop();
    kernel_.at(kernel_.now() + sc_.stop_delay, 4, [this] { clients_->leave(); });
    kernel_.run_until(kernel_.now() + sc_.stop_delay / 2);
  }
  clients_->stop();
  const Nanos quiet_by = kernel_.now() + kQuietBound;
  while (!clients_->quiet() && kernel_.now() < quiet_by) kernel_.run_until(kernel_.now() + 500ms);
  clients_->finish_all("still unanswered when the run ended");
  shutdown_phase();
  result_.violations = checker_.violations();
  result_.ok = result_.violations.empty();
  result_.counts = checker_.counts();
  TraceHash h = kernel_.trace();
  h.add(result_.counts.requests);
  for (const auto& [o, n] : result_.counts.outcomes) {
    h.add(static_cast<std::uint64_t>(o));
    h.add(n);
  }
  result_.trace_hash = h.value();
  result_.ended = kernel_.now();
  result_.pid_reuses = kernel_.pid_reuses();
  result_.coalesced_child_signals = kernel_.coalesced_child_signals();
  return result_;
}

// A graceful stop must leave no process behind, in bounded time.
// The operator's SIGTERM (SIGINT for a fast stop) to the master, once.
void World::send_stop() {
  if (stopping_service_) return;
  stopping_service_ = true;
  scheduling_.began("stopping", kernel_.now());
  const Process* m = kernel_.find_slot(master_slot_);
  if (!m || m->run == RunState::zombie) return;
  line(kernel_.now(), "operator",
       sc_.fast_stop ? "SIGINT to the master: fast stop" : "SIGTERM to the master: graceful stop");
  kernel_.external_kill(m->pid, sc_.fast_stop ? os::Signal::interrupt : os::Signal::term);
}

void World::shutdown_phase() {
  send_stop();
  const Process* m = kernel_.find_slot(master_slot_);
  if (!m || m->run == RunState::zombie) return;
  const Nanos bound = kernel_.now() + sc_.stop_delay + sc_.graceful_timeout + 30s;
  auto alive = [this] {
    for (const auto& [slot, p] : kernel_.processes()) {
      if (p.run != RunState::zombie) return true;
    }
    return false;
  };
  while (alive() && kernel_.now() < bound) kernel_.run_until(kernel_.now() + 100ms);
  if (alive()) {
    checker_.fail(kernel_.now(), "liveness: processes remain after a graceful stop");
  } else if (master_exit_code_ && *master_exit_code_ != 0 && !master_refused_) {
    checker_.fail(kernel_.now(), "liveness: the master exited with code " +
                                     std::to_string(*master_exit_code_) + " on a graceful stop");
  }
}

void World::schedule_actions() {
  for (const Action& a : sc_.actions) {
    kernel_.at(a.at, 4, [this, a] { apply(a); });
  }
}

Process* World::pick(Target t) {
  std::vector<Slot> candidates;
  for (const auto& [slot, p] : kernel_.processes()) {
    if (p.run == RunState::zombie || p.generation != generation_) continue;
    const bool match = (t == Target::master && p.is_master) ||
                       (t == Target::zygote && p.role == Role::zygote && !p.is_master) ||
                       (t == Target::worker && p.role == Role::worker) ||
                       (t == Target::front && p.role == Role::front) ||
                       (t == Target::busy_worker && p.role == Role::worker && holds_connection(p));
    if (match) candidates.push_back(slot);
  }
  if (candidates.empty()) return nullptr;
  return kernel_.find_slot(candidates[kernel_.rng("faults").below(candidates.size())]);
}

void World::mark_fault(Process& p, const std::string& what) {
  faulted_.insert(p.slot);
  p.faulted = true;
  result_.markers.push_back({kernel_.now(), what, true});
  line(kernel_.now(), "fault", what + " (pid " + std::to_string(p.pid) + ")");
}

void World::fault(Process& p, const std::string& what) { mark_fault(p, what); }

void World::apply(const Action& a) {
  Process* master = kernel_.find_slot(master_slot_);
  const bool master_up = master && master->run != RunState::zombie;
  switch (a.kind) {
    case ActionKind::deploy:
      last_deployed_ = a.version;
      kernel_.files()[kAppPath] = a.version;
      result_.markers.push_back({kernel_.now(), "deploy " + a.version, false});
      line(kernel_.now(), "operator", "ln -sfn " + a.version + " && kill -HUP master");
      if (master_up) kernel_.external_kill(master->pid, os::Signal::hup);
      return;
    case ActionKind::ttin:
    case ActionKind::ttou:
      line(kernel_.now(), "operator",
           a.kind == ActionKind::ttin ? "kill -TTIN master" : "kill -TTOU master");
      if (master_up) {
        kernel_.external_kill(master->pid,
                              a.kind == ActionKind::ttin ? os::Signal::ttin : os::Signal::ttou);
      }
      return;
    case ActionKind::kill:
    case ActionKind::crash_master: {
      Process* p = a.kind == ActionKind::crash_master ? pick(Target::master) : pick(a.target);
      if (!p) return;
      ZYG_MARK(p->is_master                      ? "fault.crash-master"
               : p->role == Role::zygote         ? "fault.kill-zygote"
               : p->role == Role::front          ? "fault.kill-front"
               : a.target == Target::busy_worker ? "fault.kill-busy-worker"
                                                 : "fault.kill-worker");
      mark_fault(*p, std::string("SIGKILL ") + (p->is_master ? "master" : to_string(p->role)) +
                         (a.target == Target::busy_worker ? " holding a connection" : ""));
      kernel_.signal_slot(p->slot, os::Signal::kill);
      return;
    }
    case ActionKind::pause:
      for (int i = 0; i < a.count; ++i) {
        Process* p = pick(a.target);
        if (!p || p->stopped) continue;
        ZYG_MARK("fault.pause");
        mark_fault(*p, "SIGSTOP " + std::string(p->is_master ? "master" : to_string(p->role)) +
                           " for " + format_duration(a.duration));
        const Slot s = p->slot;
        if (p->is_master || p->role == Role::front) {
          scheduling_.disrupted(kernel_.now(), kernel_.now() + a.duration);
        }
        kernel_.signal_slot(s, os::Signal::stop);
        kernel_.at(kernel_.now() + a.duration, 4,
                   [this, s] { kernel_.signal_slot(s, os::Signal::cont); });
      }
      return;
    case ActionKind::kill_forking: kill_next_fork_ = true; return;
    case ActionKind::ignore_term: {
      Process* p = pick(Target::worker);
      if (!p) return;
      ZYG_MARK("fault.ignore-term");
      mark_fault(*p, "worker ignores SIGTERM");
      p->ignores_term = true;
      return;
    }
  }
}

void World::faults_off() {
  faults_on_ = false;
  kernel_.set_spawn_fail_ppm(0);
  kernel_.set_data_path_fail_ppm(0, 0);
  line(kernel_.now(), "world", "faults off: liveness phase");
  std::vector<Slot> stopped;
  for (const auto& [slot, p] : kernel_.processes()) {
    if (p.stopped) stopped.push_back(slot);
  }
  for (Slot s : stopped) kernel_.signal_slot(s, os::Signal::cont);
}

bool World::explains(Slot reader, Nanos when) const {
  // A first version that cannot load: the master refuses to start, so nothing ever serves what
  // the front took in meanwhile.
  if (const VersionSpec* first = sc_.version(sc_.initial); first && first->load_fails) return true;
  // While the master is down (crashed; the service manager stops the whole unit before it
  // restarts it), every connection is lost with it, whoever read it last: a connection a worker
  // gave back sits in the front or in the returns channel, not with its last reader.
  if (master_down_) return true;
  for (const auto& [from, to] : down_) {
    if (when >= from && when <= to) return true;
  }
  if (reader == kNoSlot) return false;
  if (faulted_.count(reader)) return true;
  auto it = generation_of_.find(reader);
  return it != generation_of_.end() && it->second < generation_;  // stopped with a crashed master
}

std::optional<std::string> World::unconverged() const {
  const VersionSpec* first = sc_.version(sc_.initial);
  if (first && first->load_fails && master_refused_) {
    // The only acceptable outcome: it refused to start, and no worker ever ran.
    return std::nullopt;
  }
  if (!master_running()) return "the master is not running";
  if (!view_.loading.empty()) return "a deploy of " + view_.loading + " is still loading";
  if (view_.shutting_down) return "the master is shutting down";
  const int want = view_.desired;
  const WorkerCounts& w = view_.workers;
  if (w.starting + w.draining + w.exited_unreaped != 0 || w.ready + w.busy != want) {
    return "the master sees " + counts_text() + ", wants " + std::to_string(want) + " ready";
  }
  int workers = 0;
  int zygotes = 0;
  for (const auto& [slot, p] : kernel_.processes()) {
    if (p.generation != generation_) return "processes of a crashed master remain";
    if (p.role == Role::zygote) ++zygotes;
    if (p.role != Role::worker) continue;
    ++workers;
    if (p.version != view_.serving) return "a worker of " + p.version + " remains";
  }
  if (workers != want)
    return std::to_string(workers) + " worker processes exist, " + std::to_string(want) + " wanted";
  if (zygotes != 1) return std::to_string(zygotes) + " zygotes exist; only the serving one should";
  const std::string& expected = last_deployed_;
  const bool expected_failed = std::find(view_.failed_versions.begin(), view_.failed_versions.end(),
                                         expected) != view_.failed_versions.end();
  if (view_.serving != expected && !expected_failed) {
    return "serving " + view_.serving + ", but " + expected + " was deployed last and did not fail";
  }
  const VersionSpec* serving = sc_.version(view_.serving);
  if (!serving || serving->load_fails) return "a broken version serves";
  return std::nullopt;
}

void World::sample() {
  StateSample s;
  s.t = kernel_.now();
  for (const ProcessInfo& p : view_.processes) {
    if (p.role == Role::worker) s.workers[p.version][p.state] += 1;
  }
  s.in_flight = clients_->in_flight();
  s.existing = checker_.workers_existing();
  result_.samples.push_back(std::move(s));
}

// --- KernelListener

void World::on_client_data(ConnId id) { clients_->on_data(id); }
void World::on_client_closed(ConnId id, bool reset) { clients_->on_closed(id, reset); }

void World::on_process_started(const Process& p) {
  generation_of_[p.slot] = p.generation;
  const VersionSpec* v = sc_.version(p.version);
  if (p.role == Role::worker && v && v->load_fails) {
    checker_.fail(kernel_.now(),
                  "routing: a worker of " + p.version + ", which cannot load, exists");
  }
  const Role role = p.is_master ? Role::master : p.role;
  if (role == Role::front) scheduling_.ended("no front", kernel_.now());
  checker_.process_started(kernel_.now(), p.slot, p.pid, role, p.version, p.serial, p.generation);
  if (stall_child_of_ != kNoSlot && p.parent == stall_child_of_ && p.role == Role::worker) {
    stall_child_of_ = kNoSlot;
    stall_child_ = p.slot;  // stopped at its first sys_catch (World::on_catch)
  }
  if (opt_.verbose)
    line(kernel_.now(), "kernel", "spawn pid " + std::to_string(p.pid) + " " + p.title);
}

void World::on_process_exited(const Process& p) {
  checker_.process_exited(kernel_.now(), p.slot);
  if (p.role == Role::worker) scheduling_.worker(p.slot, p.pid, false, kernel_.now());
  if (p.role == Role::front && p.generation == generation_) {
    scheduling_.began("no front", kernel_.now());
  }
  if (opt_.verbose) {
    line(kernel_.now(), "kernel", "exit pid " + std::to_string(p.pid) + " " + to_string(p.status));
  }
}

void World::on_process_reaped(const Process& p, const Process&) {
  checker_.process_reaped(kernel_.now(), p.slot);
}

void World::on_signal(Slot sender, Pid target, const Process* p, os::Signal sig) {
  const bool child = p && p->parent == sender && p->parent != kNoSlot;
  checker_.signal_sent(kernel_.now(), sender, target, child, os::to_string(sig));
}

void World::on_accept(const Process& p, const Connection&) {
  checker_.accepted(kernel_.now(), p.slot);
}

void World::on_connection_received(const Process& p, const Connection&) {
  checker_.connection_received(kernel_.now(), p.slot);
}

void World::on_term_taken(const Process& p) {
  if (p.role != Role::worker) return;
  checker_.drain_began(kernel_.now(), p.slot);
  scheduling_.worker(p.slot, p.pid, false, kernel_.now());
}

// --- The work-conserving rule (sim/scheduling.hpp)

// A worker that is blocked waiting, neither stopped nor draining, nor writing a response to a
// client that is slow to take it: it could take a request.
bool World::can_take_work(const Process& p) const {
  return p.role == Role::worker && p.generation == generation_ && p.run == RunState::blocked &&
         p.block == Block::poll && !p.awaits_client && !p.stopped && p.term_taken < Nanos{0};
}

void World::on_run_changed(const Process& p) {
  if (p.role == Role::worker) scheduling_.worker(p.slot, p.pid, can_take_work(p), kernel_.now());
}

void World::serving(const std::string& target) {
  constexpr std::string_view kPrefix = "/r/";
  if (target.rfind(kPrefix, 0) != 0) return;
  std::uint64_t id = 0;
  const char* begin = target.data() + kPrefix.size();
  auto [end, ec] = std::from_chars(begin, target.data() + target.size(), id);
  if (ec == std::errc{} && end != begin) clients_->started(id);
}

void World::judge_wait(ConnId conn, std::uint64_t request, Nanos ready, Nanos until) {
  const Connection* c = kernel_.connection(conn);
  // Whoever holds it was hit by a fault (a paused or killed worker): not a scheduling matter.
  if (c && c->last_reader != kNoSlot && faulted_.count(c->last_reader)) return;
  if (sc_.max_connections) {
    // A front at its limit leaves new connections in the backlog by design: judge from accept.
    if (!c || c->accepted_at < Nanos{0}) return;
    ready = std::max(ready, c->accepted_at);
  }
  if (auto v = scheduling_.waited(request, ready, until)) checker_.fail(kernel_.now(), *v);
}

void World::on_injected_fault(const Process& p, const std::string& what) {
  result_.markers.push_back({kernel_.now(), what, true});
  line(kernel_.now(), "fault", what + " (pid " + std::to_string(p.pid) + ")");
  if (p.role == Role::front && what.rfind("accept", 0) == 0) {
    scheduling_.disrupted(kernel_.now(), kernel_.now() + kAcceptRetry);
  }
}

void World::on_fork(const Process& parent) {
  if (!kill_next_fork_ || parent.role != Role::zygote || parent.is_master || !faults_on_) return;
  kill_next_fork_ = false;
  const Slot s = parent.slot;
  ZYG_MARK("fault.kill-zygote-forking");
  faulted_.insert(s);
  result_.markers.push_back({kernel_.now(), "SIGKILL zygote mid-fork", true});
  // Half the time the child is stopped once its signal handlers are in place (as a pause
  // would), and only then is the zygote killed: the lost worker that outlives its zygote
  // unreported and exits, on its parent's death signal, only when continued. The master must
  // keep its slot while it exists and release it once it is reaped (World::on_catch).
  if (kernel_.rng("faults").below(2) == 0) {
    stall_child_of_ = s;
    stall_child_for_ = kernel_.rng("faults").between(Nanos{200'000'000}, Nanos{2'000'000'000});
    return;
  }
  // Otherwise somewhere in the middle of its fork: before or after the child exists.
  const Nanos when = kernel_.now() + kernel_.rng("faults").between(Nanos{1000}, Nanos{150'000});
  kernel_.at(when, 4, [this, s] { kernel_.signal_slot(s, os::Signal::kill); });
}

void World::on_catch(const Process& p) {
  if (p.slot != stall_child_) return;
  stall_child_ = kNoSlot;
  ZYG_MARK("fault.stall-forked-worker");
  const Slot child = p.slot;
  const Slot zygote = p.parent;
  faulted_.insert(child);
  result_.markers.push_back({kernel_.now(), "SIGSTOP worker as it is forked", true});
  line(kernel_.now(), "fault",
       "worker stopped as it is forked, its zygote killed (pid " + std::to_string(p.pid) + ")");
  kernel_.signal_slot(child, os::Signal::stop);
  kernel_.at(kernel_.now(), 4, [this, zygote] { kernel_.signal_slot(zygote, os::Signal::kill); });
  kernel_.at(kernel_.now() + stall_child_for_, 4,
             [this, child] { kernel_.signal_slot(child, os::Signal::cont); });
}

void World::on_livelock(const Process& p) {
  checker_.fail(kernel_.now(), "livelock: pid " + std::to_string(p.pid) + " (" + p.title +
                                   ") made a million system calls without blocking; killed");
}

void World::on_master_died(const Process& p) {
  master_exit_code_ = p.status.signaled ? 128 + p.status.code : p.status.code;
  line(kernel_.now(), "service-manager", "master exited: " + to_string(p.status));
  if (stopping_service_) return;
  if (!p.status.signaled &&
      (p.status.code == exit_code::load_failed || p.status.code == exit_code::config_error)) {
    // RestartPreventExitStatus=2 3: restarting would fail the same way.
    master_refused_ = true;
    master_down_ = true;  // nothing will listen again: every connection attempt is explained
    ZYG_MARK("start.refused");
    line(kernel_.now(), "service-manager", "not restarting: the master refused to start");
    return;
  }
  // Like systemd with KillMode=control-group: stop what is left of the unit, then restart.
  master_down_ = true;
  down_since_ = kernel_.now();
  const int old = generation_;
  std::vector<Slot> rest;
  for (const auto& [slot, q] : kernel_.processes()) {
    if (q.generation != old) continue;
    // What its processes held is explained by the crash, also for those that died with it
    // (the front, by its parent-death signal).
    faulted_.insert(slot);
    if (q.run != RunState::zombie) rest.push_back(slot);
  }
  for (Slot s : rest) kernel_.signal_slot(s, os::Signal::term);
  const Nanos since = kernel_.now();
  kernel_.at(kernel_.now() + 100ms, 4, [this, since] { restart_check(since); });
}

void World::restart_check(Nanos since) {
  std::vector<Slot> rest;
  for (const auto& [slot, q] : kernel_.processes()) {
    if (q.generation == generation_ && q.run != RunState::zombie) rest.push_back(slot);
  }
  if (!rest.empty()) {
    if (kernel_.now() - since >= kServiceStopTimeout) {
      for (Slot s : rest) kernel_.signal_slot(s, os::Signal::kill);
    }
    kernel_.at(kernel_.now() + 100ms, 4, [this, since] { restart_check(since); });
    return;
  }
  generation_ += 1;
  view_ = StatusSnapshot{};
  line(kernel_.now(), "service-manager", "restarting the master");
  start_master();
}

// --- MasterObserver

// The process an event is about, as "pid N role version", from the master's view before or
// after the event (a worker that exited is only in the view before).
std::string World::subject(const Event& e, const StatusSnapshot& before, Pid master) const {
  std::optional<std::pair<Role, std::uint64_t>> who = std::visit(
      [](const auto& x) -> std::optional<std::pair<Role, std::uint64_t>> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (requires { x.worker; }) return std::make_pair(Role::worker, x.worker.value);
        if constexpr (requires { x.zygote; }) return std::make_pair(Role::zygote, x.zygote.value);
        (void)sizeof(T);
        return std::nullopt;
      },
      e);
  if (who) {
    for (const StatusSnapshot* v : {&view_, &before}) {
      for (const ProcessInfo& p : v->processes) {
        if (p.role != who->first || p.id != who->second) continue;
        return (p.pid ? "pid " + std::to_string(*p.pid) : std::string("pid ?")) + " " +
               to_string(p.role) + " " + p.version;
      }
    }
  }
  return "pid " + std::to_string(master) + " master";
}

void World::on_step(Nanos now, const Event& e, const Commands& cmds, const Supervisor& s) {
  const StatusSnapshot before = std::move(view_);
  view_ = s.snapshot();
  checker_.master_view(now, generation_, view_);
  const std::string what = describe(e);
  kernel_.trace().add(what);
  if (!opt_.timeline || (!opt_.verbose && !lifecycle_event(e))) return;
  const Process& m = kernel_.current();
  line(now, subject(e, before, m.pid), what);
  for (const Command& c : cmds) {
    if (const auto* r = std::get_if<cmd::Report>(&c)) {
      line(now, "pid " + std::to_string(m.pid) + " master", "  " + r->what + ": " + r->detail);
      if (r->what == "rollback" || r->what == "load-failed") {
        result_.markers.push_back({now, r->what, true});
      }
    }
  }
}

void World::on_listening(os::Fd) {
  if (master_down_) {
    line(kernel_.now(), "service-manager", "master listening again");
    down_.emplace_back(down_since_, kernel_.now());
  }
  master_down_ = false;
}

void World::on_error(Nanos now, const std::string& what) { checker_.fail(now, "master: " + what); }

RunResult run_scenario(const Scenario& s, RunOptions options) {
  World w(s, options);
  return w.run();
}

}  // namespace zyg::sim
