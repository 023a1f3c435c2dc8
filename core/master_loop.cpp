// The master: owns the listening socket, starts one zygote per version, and runs the supervisor.
// Everything it observes (signals, zygote and worker messages, reaped children, time) becomes an
// event; every command the supervisor returns becomes a message, a signal or a spawn.
#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/assert.hpp"
#include "core/control.hpp"
#include "core/control_server.hpp"
#include "core/loops.hpp"
#include "core/protocol.hpp"
#include "core/request_stats.hpp"
#include "core/status_server.hpp"
#include "core/teeth.hpp"

namespace zyg {
namespace {

class Master {
 public:
  Master(os::Os& os, const MasterConfig& config, AppLoader& loader, MasterObserver* observer)
      : os_(os), cfg_(config), loader_(loader), observer_(observer), sup_(config.supervisor) {}

  int run() {
    os_.set_title(cfg_.title + ": master [" + cfg_.app_path + "]");
    // Orphaned workers come to us, so they stay counted and reaped. Without it they would go to
    // init, beyond the budget and unseen: refuse to run (a restart would fail the same way).
    if (const int e = os_.become_subreaper(); e != 0) {
      error("cannot become a child subreaper (errno " + std::to_string(e) +
            "): orphaned workers would escape the budget");
      return exit_code::config_error;
    }
    const os::Signal caught[] = {os::Signal::hup,   os::Signal::term, os::Signal::interrupt,
                                 os::Signal::quit,  os::Signal::ttin, os::Signal::ttou,
                                 os::Signal::child, os::Signal::usr1};
    const int caught_error = os_.catch_signals(caught);
    ZYG_ASSERT(caught_error == 0, "errno ", caught_error);  // constants: only a bug can fail
    if (!open_listener() || !open_report_channel() || !open_handoff_channels() || !open_control() ||
        !open_status()) {
      return exit_code::config_error;
    }
    std::optional<Version> version = resolve_version();
    if (!version) return exit_code::config_error;
    if (observer_) observer_->on_started(cfg_.supervisor, os_.getpid());
    feed(ev::Start{*version, read_last_good()});

    started_at_ = os_.now();
    next_tick_ = started_at_ + cfg_.tick_interval;
    while (!exit_code_) {
      wait();
      handle_signals();
      read_zygotes();
      read_front();
      read_reports();
      serve_control();
      serve_status();
      reap_children();
      flush_outboxes();
      if (os_.now() >= next_tick_) {
        next_tick_ = os_.now() + cfg_.tick_interval;
        feed(ev::Tick{});
        requests_.prune([this](std::uint64_t w) { return sup_.route(WorkerId{w}).has_value(); },
                        os_.now());
        report_dropped_log_lines();
      }
    }
    control_.close_all();
    status_.close_all();
    return *exit_code_;
  }

 private:
  struct FrontLink {
    Pid pid = 0;  // 0: none exists
    os::Fd channel = -1;
    std::uint64_t generation = 0;
  };

  struct ZygoteLink {
    Pid pid = 0;
    os::Fd channel = -1;
    std::deque<proto::Message> outbox;  // messages the zygote has not had room for yet
  };

  bool open_listener() {
    if (cfg_.inherited_listener >= 0) {
      listener_ = cfg_.inherited_listener;
    } else {
      const int backlog =
          cfg_.backlog > 0 ? cfg_.backlog : std::clamp(64 * cfg_.supervisor.budget, 1024, 65535);
      auto r = os_.listen(cfg_.endpoint, backlog);
      if (!r.ok()) {
        error("cannot listen on " + describe_endpoint() + ": errno " + std::to_string(r.error));
        return false;
      }
      listener_ = r.value;
    }
    if (observer_) observer_->on_listening(listener_);
    return true;
  }

  bool open_control() {
    if (cfg_.control_path.empty()) return true;
    return control_.open(cfg_.control_path, cfg_.run_as);
  }

  bool open_status() {
    if (cfg_.inherited_status_listener >= 0) {
      status_.adopt(cfg_.inherited_status_listener);
    } else if (!cfg_.status_endpoint) {
      return true;
    } else if (!status_.open(*cfg_.status_endpoint)) {
      return false;
    }
    if (observer_) observer_->on_status_listening(status_.listener());
    return true;
  }

  void serve_status() {
    status_.serve([this](std::uint64_t client) { feed(ev::StatusRequested{client}); });
  }

  // What the status port adds to the supervisor's snapshot.
  StatusExtras status_extras(const StatusSnapshot& s) {
    StatusExtras x;
    x.master_pid = os_.getpid();
    x.uptime = os_.now() - started_at_;
    x.listen = describe_endpoint();
    x.requests = requests_.total();
    x.workers = requests_.workers();
    std::vector<Pid> pids{x.master_pid};
    if (s.front.pid) pids.push_back(*s.front.pid);
    for (const ProcessInfo& p : s.processes) {
      if (p.pid) pids.push_back(*p.pid);
    }
    x.memory = memory_of(pids);
    return x;
  }

  // Each process's memory, read at most once a second (smaps_rollup walks every mapping).
  std::map<Pid, os::Memory> memory_of(const std::vector<Pid>& pids) {
    const Nanos now = os_.now();
    std::map<Pid, std::pair<Nanos, std::optional<os::Memory>>> kept;
    std::map<Pid, os::Memory> out;
    for (Pid pid : pids) {
      auto it = memory_.find(pid);
      if (it == memory_.end() || now - it->second.first >= 1s) {
        auto m = os_.memory_of(pid);
        kept[pid] = {now, m.ok() ? std::optional(m.value) : std::nullopt};
      } else {
        kept[pid] = it->second;
      }
      if (kept[pid].second) out[pid] = *kept[pid].second;
    }
    memory_ = std::move(kept);  // the processes gone are forgotten
    return out;
  }

  void serve_control() {
    control_.serve([this](std::uint64_t client, const control::Request& req) {
      return answer_control(client, req);
    });
  }

  // A control request: the reply now, or (a status) later, when the supervisor's cmd::Status runs.
  std::optional<std::string> answer_control(std::uint64_t client, const control::Request& req) {
    if (std::holds_alternative<control::Status>(req)) {
      feed(ev::StatusRequested{client});  // answered by cmd::Status
      return std::nullopt;
    }
    reports_.clear();
    collecting_reports_ = true;
    nlohmann::json fields;
    if (std::holds_alternative<control::Deploy>(req)) {
      std::optional<Version> v = resolve_version();
      if (v) {
        fields["version"] = *v;
        feed(ev::DeployRequested{*v});
      }
      collecting_reports_ = false;
      if (!v) return control::error_reply("cannot resolve the app directory " + cfg_.app_path);
    } else if (std::holds_alternative<control::Rollback>(req)) {
      // The resident previous version, loaded: a deploy of it is the supervisor's instant return.
      const StatusSnapshot s = sup_.snapshot();
      const Version back = s.fallback;
      const bool resident =
          !back.empty() &&
          std::any_of(s.processes.begin(), s.processes.end(), [&](const ProcessInfo& p) {
            return p.role == Role::zygote && p.version == back && p.state == "loaded";
          });
      if (!resident || s.shutting_down) {
        collecting_reports_ = false;
        return control::error_reply(
            s.shutting_down ? "the server is stopping"
                            : "nothing to roll back to: no previous version is resident (it stops "
                              "once the serving version is proven; deploy the one you want)");
      }
      fields["version"] = back;
      feed(ev::DeployRequested{back});
      collecting_reports_ = false;
    } else if (const auto* stop = std::get_if<control::Stop>(&req)) {
      feed(ev::Shutdown{!stop->fast});
      collecting_reports_ = false;
    } else {
      feed(ev::ScaleTo{std::get<control::Scale>(req).workers});
      collecting_reports_ = false;
    }
    nlohmann::json reports = nlohmann::json::array();
    for (const cmd::Report& r : reports_)
      reports.push_back({{"what", r.what}, {"detail", r.detail}});
    fields["reports"] = std::move(reports);
    return control::ok_reply(std::move(fields));
  }

  // Both hand-off pairs live as long as the master: a front or worker that dies never takes
  // with it what is queued in them.
  bool open_handoff_channels() {
    auto requests = os_.socketpair(os::ChannelKind::seqpacket);
    auto returns = os_.socketpair(os::ChannelKind::seqpacket);
    if (!requests.ok() || !returns.ok()) {
      error("cannot create the hand-off channels: errno " +
            std::to_string(requests.ok() ? returns.error : requests.error));
      return false;
    }
    handoff_ = {requests.value.first, requests.value.second, returns.value.first,
                returns.value.second};
    return true;
  }

  bool open_report_channel() {
    auto r = os_.socketpair(os::ChannelKind::datagram);
    if (!r.ok()) {
      error("cannot create the report channel: errno " + std::to_string(r.error));
      return false;
    }
    report_recv_ = r.value.first;
    report_send_ = r.value.second;
    return true;
  }

  std::string describe_endpoint() const {
    if (cfg_.inherited_listener >= 0) return "an inherited listening socket";
    if (!cfg_.endpoint.unix_path.empty()) return "unix:" + cfg_.endpoint.unix_path;
    return cfg_.endpoint.host + ":" + std::to_string(cfg_.endpoint.port);
  }

  std::optional<Version> resolve_version() {
    auto r = os_.realpath(cfg_.app_path);
    if (!r.ok()) {
      error("cannot resolve the app directory " + cfg_.app_path + ": errno " +
            std::to_string(r.error));
      return std::nullopt;
    }
    return r.value;
  }

  std::optional<Version> read_last_good() {
    if (cfg_.state_path.empty()) return std::nullopt;
    auto r = os_.read_file(cfg_.state_path);
    if (!r.ok() || r.value.empty()) return std::nullopt;
    return r.value;
  }

  void remember_proven_version() {
    if (cfg_.state_path.empty()) return;
    std::optional<Version> v = sup_.proven_version();
    if (!v || v == last_good_written_) return;
    if (os_.write_file(cfg_.state_path, *v) == 0) last_good_written_ = v;
  }

  void wait() {
    fds_.clear();
    fds_.push_back({report_recv_, os::ev::in, 0});
    for (const auto& [zid, z] : zygotes_) {
      short events = os::ev::in;
      if (!z.outbox.empty()) events |= os::ev::out;
      fds_.push_back({z.channel, events, 0});
    }
    control_.add_poll_fds(fds_);
    status_.add_poll_fds(fds_);
    if (front_.channel >= 0) fds_.push_back({front_.channel, os::ev::in, 0});
    // What is ready is in fds_; EINTR means signals, which the round takes next.
    static_cast<void>(os_.poll(fds_, std::max(Nanos{0}, next_tick_ - os_.now())));
  }

  void handle_signals() {
    for (os::Signal s : os_.take_signals()) {
      switch (s) {
        case os::Signal::hup:
          if (auto v = resolve_version()) feed(ev::DeployRequested{*v});
          break;
        case os::Signal::term: feed(ev::Shutdown{true}); break;
        case os::Signal::interrupt:
        case os::Signal::quit: feed(ev::Shutdown{false}); break;
        case os::Signal::ttin: feed(ev::ScaleBy{+1}); break;
        case os::Signal::ttou: feed(ev::ScaleBy{-1}); break;
        case os::Signal::usr1: reopen_logs(); break;
        default: break;  // SIGCHLD: reaping happens every round
      }
    }
  }

  // SIGUSR1 (logrotate): every worker reopens its access log, through its zygote (or from us,
  // for orphans, whose parent we are); the master its own files.
  void reopen_logs() {
    for (const auto& [zid, z] : zygotes_) {
      static_cast<void>(to_zygote(zid, proto::make(proto::Kind::reopen_logs, zid.value)));
    }
    for (const ProcessInfo& p : sup_.snapshot().processes) {
      if (p.role == Role::worker && p.orphaned && p.pid) signal_child(*p.pid, os::Signal::usr1);
    }
    if (observer_) observer_->on_reopen_logs();
  }

  // Once: the workers say why on standard error themselves.
  void report_dropped_log_lines() {
    if (log_drops_reported_ || cfg_.worker.access_log.empty()) return;
    const std::uint64_t dropped = requests_.total().log_dropped;
    if (dropped == 0) return;
    log_drops_reported_ = true;
    error("access log: " + std::to_string(dropped) +
          " lines could not be written (requests are still answered; counted in "
          "requests.log_lines_dropped on the status port)");
  }

  void read_zygotes() {
    std::vector<ZygoteId> ids;
    for (const auto& [zid, z] : zygotes_) ids.push_back(zid);
    for (ZygoteId zid : ids) read_zygote(zid);
  }

  void read_zygote(ZygoteId zid) {
    for (;;) {
      auto it = zygotes_.find(zid);
      if (it == zygotes_.end() || it->second.channel < 0) return;
      std::byte buf[sizeof(proto::Message)];
      auto r = os_.recv_message(it->second.channel, buf, nullptr);
      if (r.error == os::err::again || r.error == os::err::intr) return;
      if (!r.ok() || r.value == 0) {  // the zygote is gone; its exit arrives by reaping
        os::close_quietly(os_, it->second.channel);
        it->second.channel = -1;
        return;
      }
      if (auto m = proto::parse({buf, r.value})) on_zygote_message(zid, *m);
    }
  }

  void on_zygote_message(ZygoteId zid, const proto::Message& m) {
    switch (m.kind) {
      case proto::Kind::loaded: feed(ev::ZygoteLoaded{zid, std::string(m.text_view())}); break;
      case proto::Kind::load_failed:
        feed(ev::ZygoteLoadFailed{zid, std::string(m.text_view())});
        break;
      case proto::Kind::spawned:
        feed(ev::ZygoteReplied{zid});
        if (auto known = sup_.route(WorkerId{m.id}); known && !known->pid) {
          feed(ev::WorkerSpawned{WorkerId{m.id}, m.pid});  // unless its hello came first
        }
        break;
      case proto::Kind::signalled:
        feed(ev::ZygoteReplied{zid});
        feed(ev::WorkerSignalled{WorkerId{m.id}, m.value == static_cast<int>(os::Signal::term)});
        break;
      case proto::Kind::spawn_failed:
        feed(ev::ZygoteReplied{zid});
        feed(ev::SpawnFailed{WorkerId{m.id}, static_cast<int>(m.value)});
        break;
      case proto::Kind::worker_exited: {
        const int code = static_cast<int>(m.value);
        // What the worker said before it died comes before its death: its last request
        // figures, dropped once the supervisor has forgotten it, are in the socket by now.
        read_reports(std::numeric_limits<int>::max());
        feed(ev::WorkerExited{WorkerId{m.id},
                              m.flag ? ExitStatus::killed_by(code) : ExitStatus::exited(code)});
        break;
      }
      default: break;
    }
  }

  void read_front() {
    for (int i = 0; i < 256 && front_.channel >= 0; ++i) {
      std::byte buf[sizeof(proto::Message)];
      auto r = os_.recv_message(front_.channel, buf, nullptr);
      if (r.error == os::err::again || r.error == os::err::intr) return;
      if (!r.ok() || r.value == 0) {  // the front is gone; its exit arrives by reaping
        (void)os_.close(front_.channel);
        front_.channel = -1;
        return;
      }
      auto m = proto::parse({buf, r.value});
      if (!m) continue;
      if (m->kind == proto::Kind::front_alive) {
        feed(ev::FrontAlive{m->value, m->reserved, m->id});
      } else if (m->kind == proto::Kind::front_notice) {
        feed(ev::FrontNotice{std::string(m->text_view())});
      }
    }
  }

  // Bounded: the loop must come back to signals and time (before a worker's exit, all are read).
  void read_reports(int most = 4096) {
    for (int i = 0; i < most; ++i) {
      std::byte buf[sizeof(proto::Message)];
      auto r = os_.recv_message(report_recv_, buf, nullptr);
      if (!r.ok()) return;
      auto m = proto::parse({buf, r.value});
      if (!m) continue;
      const WorkerId w{m->id};
      switch (m->kind) {
        case proto::Kind::hello:
          if (auto known = sup_.route(w); known && !known->pid) feed(ev::WorkerSpawned{w, m->pid});
          break;
        case proto::Kind::ready:
          // The worker names its own pid too: it counts if the zygote died before saying so.
          if (auto known = sup_.route(w); known && !known->pid) feed(ev::WorkerSpawned{w, m->pid});
          feed(ev::WorkerReady{w});
          break;
        case proto::Kind::busy: feed(ev::WorkerBusy{w}); break;
        case proto::Kind::idle: feed(ev::WorkerIdle{w, m->value}); break;
        case proto::Kind::heartbeat: feed(ev::WorkerHeartbeat{w}); break;
        case proto::Kind::exiting: feed(ev::WorkerExiting{w, m->flag != 0}); break;
        case proto::Kind::stats:
          if (auto s = parse_stats(*m)) requests_.update(m->id, *s, sup_.route(w).has_value());
          break;
        default: break;
      }
    }
  }

  // Zygotes first: their workers become orphans before any orphan's exit is matched.
  void reap_children() {
    std::vector<os::Reaped> reaped;
    for (;;) {
      auto r = os_.reap();
      if (!r.ok() || !r.value) break;
      reaped.push_back(*r.value);
    }
    // An orphan's last words before its reaping, as for a worker its zygote reaped.
    if (!reaped.empty()) read_reports(std::numeric_limits<int>::max());
    std::stable_partition(reaped.begin(), reaped.end(),
                          [this](const os::Reaped& x) { return zygote_pids_.count(x.pid) != 0; });
    for (const os::Reaped& x : reaped) on_reaped(x);
  }

  void on_reaped(const os::Reaped& x) {
    if (front_.pid != 0 && x.pid == front_.pid) {
      read_front();  // what it said before dying comes before its death
      if (front_.channel >= 0) (void)os_.close(front_.channel);
      front_.channel = -1;
      front_.pid = 0;
      feed(ev::FrontExited{front_.generation, x.status});
      if (sup_.shutting_down()) {
        // No front will follow: a worker's hand-back now fails at once (and it answers what it
        // has already read itself) rather than landing in a socket nobody reads.
        for (os::Fd* fd : {&handoff_.requests_out, &handoff_.returns_in}) {
          if (*fd >= 0) (void)os_.close(*fd);
          *fd = -1;
        }
      }
    } else if (auto it = zygote_pids_.find(x.pid); it != zygote_pids_.end()) {
      const ZygoteId zid = it->second;
      zygote_pids_.erase(it);
      read_zygote(zid);  // what it said before dying comes before its death
      ZygoteLink& z = zygotes_.at(zid);
      for (const proto::Message& m : z.outbox) {
        // Never delivered: that worker was certainly never forked.
        if (m.kind == proto::Kind::spawn)
          pending_.push_back(ev::SpawnFailed{WorkerId{m.id}, os::err::pipe});
      }
      if (z.channel >= 0) os::close_quietly(os_, z.channel);
      zygotes_.erase(zid);
      drain_pending();
      feed(ev::ZygoteExited{zid, x.status});
    } else if (auto w = sup_.orphan_with_pid(x.pid)) {
      feed(ev::WorkerExited{*w, x.status});
    } else {
      feed(ev::UnknownChildReaped{x.pid, x.status});
    }
  }

  // Steps the supervisor with `e` and everything executing its commands gives rise to.
  void feed(Event e) {
    pending_.push_back(std::move(e));
    drain_pending();
  }

  void drain_pending() {
    if (draining_pending_) return;  // a command's consequence; the outer call picks it up
    draining_pending_ = true;
    while (!pending_.empty()) {
      Event e = std::move(pending_.front());
      pending_.pop_front();
      const Nanos now = os_.now();
      Commands cmds = sup_.step(e, now);
      if (observer_) observer_->on_step(now, e, cmds, sup_);
      for (const Command& c : cmds) execute(c);
    }
    draining_pending_ = false;
    remember_proven_version();
  }

  void execute(const Command& c) {
    std::visit([this](const auto& x) { run(x); }, c);
  }

  void run(const cmd::StartZygote& c) {
    auto pair = os_.socketpair(os::ChannelKind::seqpacket);
    if (!pair.ok()) {
      pending_.push_back(ev::ZygoteSpawnFailed{c.zygote, pair.error});
      return;
    }
    const auto [mine, theirs] = pair.value;
    os::ChildSpec spec;
    spec.title = cfg_.title + ": zygote [" + c.version + "]";
    spec.role = Role::zygote;
    spec.version = c.version;
    spec.serial = c.zygote.value;
    spec.keep_fds = {report_send_, theirs, handoff_.requests_in, handoff_.returns_out};
    spec.parent_death_signal = os::Signal::kill;  // a zygote holds no requests
    spec.run_as = cfg_.run_as;                    // its workers are forked from it
    ZygoteArgs za{c.zygote,
                  c.version,
                  cfg_.app_args,
                  theirs,
                  handoff_.requests_in,
                  handoff_.returns_out,
                  report_send_,
                  cfg_.worker,
                  cfg_.title,
                  cfg_.huge_pages};

    AppLoader* loader = &loader_;
    spec.main = [za, loader](os::Os& zos) { return run_zygote(zos, za, *loader); };
    auto pid = os_.spawn(std::move(spec));
    os::close_quietly(os_, theirs);
    if (!pid.ok()) {
      os::close_quietly(os_, mine);
      pending_.push_back(ev::ZygoteSpawnFailed{c.zygote, pid.error});
      return;
    }
    zygotes_[c.zygote] = ZygoteLink{pid.value, mine, {}};
    zygote_pids_[pid.value] = c.zygote;
    pending_.push_back(ev::ZygoteSpawned{c.zygote, pid.value});
  }

  void run(const cmd::StartFront& c) {
    auto pair = os_.socketpair(os::ChannelKind::seqpacket);
    if (!pair.ok()) {
      pending_.push_back(ev::FrontSpawnFailed{c.generation, pair.error});
      return;
    }
    const auto [mine, theirs] = pair.value;
    os::ChildSpec spec;
    spec.title = cfg_.title + ": front";
    spec.role = Role::front;
    spec.serial = c.generation;
    spec.keep_fds = {listener_, theirs, handoff_.requests_out, handoff_.returns_in};
    spec.run_as = cfg_.run_as;  // it reads what clients send
    // Its connections die with the server; the listening socket stays with us meanwhile.
    spec.parent_death_signal = os::Signal::kill;
    FrontArgs fa;
    fa.generation = c.generation;
    fa.listener = listener_;
    fa.channel = theirs;
    fa.handoff = handoff_;
    fa.http = cfg_.worker;
    fa.max_connections = cfg_.max_connections;
    fa.title = cfg_.title;
    spec.main = [fa](os::Os& fos) { return run_front(fos, fa); };
    auto pid = os_.spawn(std::move(spec));
    (void)os_.close(theirs);
    if (!pid.ok()) {
      (void)os_.close(mine);
      pending_.push_back(ev::FrontSpawnFailed{c.generation, pid.error});
      return;
    }
    front_ = FrontLink{pid.value, mine, c.generation};
    pending_.push_back(ev::FrontSpawned{c.generation, pid.value});
  }

  // The master is the front's parent: its pid cannot have been reused while it is unreaped.
  void run(const cmd::StopFront& c) {
    if (c.pid == front_.pid) (void)os_.kill(c.pid, os::Signal::term);
  }
  void run(const cmd::DrainFront& c) {
    if (c.pid != front_.pid || front_.channel < 0) return;
    // The front reads its channel in every loop: a full one would mean it is hung (then it is
    // killed, and the new one is told again when it starts).
    const proto::Message m = proto::make(proto::Kind::front_drain, 0);
    (void)os_.send_message(front_.channel, proto::bytes_of(m), {});
  }
  void run(const cmd::KillFront& c) {
    if (c.pid == front_.pid) (void)os_.kill(c.pid, os::Signal::kill);
  }

  void run(const cmd::RequestWorker& c) {
    if (!to_zygote(c.zygote, proto::make(proto::Kind::spawn, c.worker.value))) {
      pending_.push_back(ev::SpawnFailed{c.worker, os::err::pipe});
    }
  }

  void run(const cmd::StopWorker& c) {
    if (ZYG_BUG(stale_pid_signal) && c.pid > 0) {
      signal_child(c.pid, os::Signal::term);  // not our child: the pid may name another process
      return;
    }
    if (c.via.value != 0) {
      to_zygote(c.via, proto::make(proto::Kind::stop, c.worker.value));
    } else if (c.pid > 0) {
      signal_child(c.pid, os::Signal::term);  // an orphan: our own unreaped child
    }
  }

  void run(const cmd::KillWorker& c) {
    if (c.via.value != 0) {
      to_zygote(c.via, proto::make(proto::Kind::kill, c.worker.value));
    } else if (c.pid > 0) {
      signal_child(c.pid, os::Signal::kill);
    }
  }

  void run(const cmd::StopZygote& c) {
    to_zygote(c.zygote, proto::make(proto::Kind::exit, c.zygote.value));
  }

  void run(const cmd::KillZygote& c) {
    auto it = zygotes_.find(c.zygote);
    if (it != zygotes_.end()) signal_child(it->second.pid, os::Signal::kill);
  }

  void run(const cmd::ListChildren&) {
    std::vector<Pid> unknown;
    auto r = os_.children();
    if (r.ok()) {
      for (Pid p : r.value) {
        if (zygote_pids_.count(p) == 0 && !sup_.knows_pid(p)) unknown.push_back(p);
      }
    } else {
      error("cannot list the master's children (errno " + std::to_string(r.error) +
            "); lost workers are released at their timeout");
    }
    pending_.push_back(ev::ChildrenListed{std::move(unknown)});
  }

  void run(const cmd::Report& r) {  // observers see every command through on_step

    if (collecting_reports_) reports_.push_back(r);
  }
  // The status port and `ctl status` say the same (docs/OPERATIONS.md).
  void run(const cmd::Status& s) {
    const StatusExtras x = status_extras(s.snapshot);
    if (StatusServer::owns(s.request)) {
      status_.answer(s.request, s.snapshot, x);
      return;
    }
    control_.answer(s.request, control::ok_reply({{"status", status_json(s.snapshot, x)}}));
  }
  void run(const cmd::Exit& c) { exit_code_ = c.code; }

  // Queues a message for a zygote; false if the zygote is gone (the message can never arrive).
  bool to_zygote(ZygoteId zid, const proto::Message& m) {
    auto it = zygotes_.find(zid);
    if (it == zygotes_.end() || it->second.channel < 0) return false;
    it->second.outbox.push_back(m);
    flush_outbox(it->second);
    return true;
  }

  void flush_outboxes() {
    for (auto& [zid, z] : zygotes_) flush_outbox(z);
  }

  void flush_outbox(ZygoteLink& z) {
    while (!z.outbox.empty() && z.channel >= 0) {
      auto r = os_.send_message(z.channel, proto::bytes_of(z.outbox.front()), {});
      if (r.error == os::err::again || r.error == os::err::intr) return;
      if (!r.ok()) return;  // gone: the reap turns undelivered spawns into failures
      z.outbox.pop_front();
    }
  }

  // Signals an unreaped child of ours (so the pid cannot have been reused). It cannot fail but
  // with ESRCH, which is no news: the child's exit arrives by reaping.
  void signal_child(Pid pid, os::Signal s) { static_cast<void>(os_.kill(pid, s)); }

  void error(const std::string& what) {
    if (observer_) observer_->on_error(os_.now(), what);
  }

  os::Os& os_;
  const MasterConfig& cfg_;
  AppLoader& loader_;
  MasterObserver* observer_;
  Supervisor sup_;
  os::Fd listener_ = -1;
  os::Fd report_recv_ = -1;
  os::Fd report_send_ = -1;
  HandoffChannels handoff_;
  FrontLink front_;
  ControlServer control_{os_, [this](const std::string& what) { error(what); }};
  StatusServer status_{os_, [this](const std::string& what) { error(what); }};
  RequestBook requests_;
  std::map<Pid, std::pair<Nanos, std::optional<os::Memory>>> memory_;  // read at, what was read
  Nanos started_at_{0};
  bool log_drops_reported_ = false;
  std::vector<cmd::Report> reports_;  // collected while a control request is being answered
  bool collecting_reports_ = false;

  std::map<ZygoteId, ZygoteLink> zygotes_;
  std::map<Pid, ZygoteId> zygote_pids_;
  std::vector<os::PollFd> fds_;
  std::deque<Event> pending_;
  bool draining_pending_ = false;
  Nanos next_tick_{0};
  std::optional<int> exit_code_;
  std::optional<Version> last_good_written_;
};

}  // namespace

int run_master(os::Os& os, const MasterConfig& config, AppLoader& loader,
               MasterObserver* observer) {
  Master m(os, config, loader, observer);
  return m.run();
}

}  // namespace zyg
