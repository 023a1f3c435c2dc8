// The supervisor: a deterministic state machine that decides which zygotes and workers exist.
//
//   Commands cmds = supervisor.step(event, now);
//
// It reads no clock, draws no random numbers and makes no system call: time is an input, and
// every decision is a pure function of the events so far. The master loop (real or simulated)
// turns what it observes into events and executes the commands.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/commands.hpp"
#include "core/config.hpp"
#include "core/events.hpp"
#include "core/process_view.hpp"
#include "core/types.hpp"

namespace zyg {

// "1500ms": durations in reports.
inline std::string ms_text(Nanos d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

class Supervisor {
 public:
  explicit Supervisor(SupervisorConfig config);

  // Feeds one event observed at `now` (monotonic; never decreasing) and returns what to do.
  Commands step(const Event& event, Nanos now);

  StatusSnapshot snapshot() const;
  // A deploy loading comes first: whatever the serving version was doing (a rollout, its
  // probation) goes on meanwhile.
  DeployPhase phase() const;
  // Worker processes accounted for: every state, exited-but-unreaped included. Never above budget.
  int workers_in_budget() const { return static_cast<int>(workers_.size()); }
  const SupervisorConfig& config() const { return config_; }
  bool finished() const { return exited_; }
  // The front process's pid, when one exists and it is known.
  bool shutting_down() const { return shutting_down_; }
  std::optional<Pid> front_pid() const { return front_.exists ? front_.pid : std::nullopt; }
  // The version serving and proven (loaded, and past probation or with nothing to roll back to):
  // what a restarted master should fall back to.
  std::optional<Version> proven_version() const;
  // Kills sent so far (graceful deadline missed, hung, not ready in time).
  std::uint64_t kills() const { return kills_; }

  // Identity of a worker's zygote and pid, for the master loop's routing of protocol messages.
  struct WorkerRoute {
    ZygoteId zygote;
    std::optional<Pid> pid;
    bool orphaned = false;
  };
  std::optional<WorkerRoute> route(WorkerId id) const;
  std::optional<Pid> zygote_pid(ZygoteId id) const;
  std::optional<Version> zygote_version(ZygoteId id) const;
  // The worker whose pid is `pid`, among those the master is parent of (orphans).
  std::optional<WorkerId> orphan_with_pid(Pid pid) const;
  // Whether a zygote or worker on record has this pid.
  bool knows_pid(Pid pid) const;

 private:
  struct Worker {
    WorkerId id;
    ZygoteId zygote;
    Version version;
    WorkerState state = WorkerState::starting;
    std::optional<Pid> pid;
    Nanos since{0};       // when it entered its current state
    Nanos last_heard{0};  // any message from it
    StopReason stop = StopReason::none;
    std::optional<Nanos> stop_deadline;
    std::optional<Nanos> last_kill;
    std::string kill_why;
    std::uint64_t served = 0;
    bool retiring = false;
    bool orphaned = false;
  };
  struct Zygote {
    ZygoteId id;
    Version version;
    ZygoteState state = ZygoteState::loading;
    std::optional<Pid> pid;
    std::string app;  // what it loaded, once loaded
    Nanos since{0};
    bool stop_requested = false;
    bool load_failure_reported = false;
    std::optional<Nanos> last_kill;
    int consecutive_failures = 0;  // worker crashes or spawn failures since one last served
    int early_failures = 0;        // worker deaths before serving a single request, in a row
    int restarts = 0;              // times this version's zygote was restarted after dying
    int awaiting = 0;              // requests sent to it and not yet answered
    Nanos awaiting_since{0};
    Nanos next_spawn_at{0};  // backoff
  };
  // The front process. It is not counted in the budget and no deploy touches it.
  struct Front {
    std::uint64_t generation = 0;  // of the process that exists, or last existed
    bool exists = false;           // asked for and not reaped (or known not to have started)
    std::optional<Pid> pid;
    Nanos started{0};
    Nanos last_heard{0};
    std::optional<Nanos> stop_sent;
    std::optional<Nanos> last_kill;
    std::string kill_why;
    int quick_deaths = 0;  // deaths in a row, each within probation of its start
    int restarts = 0;
    std::optional<Nanos> restart_at;
    ev::FrontAlive stats;
  };
  struct ScheduledRestart {
    Version version;
    Nanos at{0};
    int attempt = 0;
  };

  // Event handlers.
  void on(const ev::Start& e);
  void on(const ev::DeployRequested& e);
  void on(const ev::ZygoteSpawned& e);
  void on(const ev::ZygoteSpawnFailed& e);
  void on(const ev::ZygoteLoaded& e);
  void on(const ev::ZygoteLoadFailed& e);
  void on(const ev::ZygoteReplied& e);
  void on(const ev::WorkerSignalled& e);
  void on(const ev::ZygoteExited& e);
  void on(const ev::WorkerSpawned& e);
  void on(const ev::SpawnFailed& e);
  void on(const ev::WorkerReady& e);
  void on(const ev::WorkerBusy& e);
  void on(const ev::WorkerIdle& e);
  void on(const ev::WorkerHeartbeat& e);
  void on(const ev::WorkerExiting& e);
  void on(const ev::WorkerExited& e);
  void on(const ev::UnknownChildReaped& e);
  void on(const ev::ChildrenListed& e);
  void on(const ev::Tick& e);
  void on(const ev::ScaleTo& e);
  void on(const ev::ScaleBy& e);
  void on(const ev::Shutdown& e);
  void on(const ev::StatusRequested& e);
  void on(const ev::FrontSpawned& e);
  void on(const ev::FrontSpawnFailed& e);
  void on(const ev::FrontAlive& e);
  void on(const ev::FrontNotice& e);
  void on(const ev::FrontExited& e);

  // Policies.
  void reconcile();
  void rollout_step();
  void scale_down_surplus();
  void handle_shutdown_progress();
  void check_deadlines();
  void forgive_stall(Nanos gap);
  void check_probation();
  void begin_rollout(ZygoteId loaded);
  void roll_back(const std::string& why);
  void record_worker_failure(Zygote& z, const Worker& w, const std::string& what);
  void zygote_load_failed(Zygote& z, const std::string& reason);
  void zygote_crashed(const Zygote& z, ExitStatus status);
  void keep_front();
  void check_front_deadlines();
  void front_gone(const std::string& what);

  // The one place a worker's state changes: asserts the change is in kWorkerTransitions.
  void set_state(Worker& w, WorkerState to);

  // Actions.
  ZygoteId start_zygote(const Version& v);
  void request_worker(Zygote& z);
  void stop_worker(Worker& w, StopReason why);
  void kill_worker(Worker& w, const std::string& why);
  void stop_zygote(Zygote& z);
  void expect_reply(ZygoteId z);
  void start_front();
  void stop_front();
  void drain_front();
  void begin_shutdown(bool graceful);
  void kill_front(const std::string& why);
  void report(std::string what, std::string detail);
  void milestone(const char* what, const Version& v);

  // Queries.
  Zygote* find(ZygoteId id);
  const Zygote* find(ZygoteId id) const;
  Zygote& zygote(ZygoteId id);
  const Zygote& zygote(ZygoteId id) const;
  Worker* find(WorkerId id);
  Worker* heard(WorkerId id, std::initializer_list<WorkerState> from, WorkerState to);
  bool live(const Worker& w) const;  // counts toward the wanted number: not asked to stop
  int live_workers_of(ZygoteId z) const;
  int serving_workers() const;   // ready or busy
  int old_live_workers() const;  // live workers of any zygote but the serving one
  int changing() const;
  Nanos backoff_delay(int failures) const;
  void mark_failed(const Version& v, const std::string& reason);
  bool serving_something() const;

  SupervisorConfig config_;
  int desired_;
  Nanos now_{0};
  Commands out_;

  std::map<WorkerId, Worker> workers_;
  std::map<ZygoteId, Zygote> zygotes_;
  std::uint64_t next_worker_ = 1;
  std::uint64_t next_zygote_ = 1;

  // Deploy state: the version workers should run, a deploy still loading, and the last proven
  // version kept resident (for instant rollback) until the serving version proves itself.
  std::optional<ZygoteId> serving_;
  std::optional<ZygoteId> loading_;
  std::optional<ZygoteId> fallback_;
  bool proven_ = false;
  std::optional<Nanos> rollout_complete_at_;
  std::optional<ScheduledRestart> restart_;
  bool ever_loaded_ = false;
  std::optional<Version> last_good_;

  bool started_ = false;
  bool shutting_down_ = false;
  // A graceful stop with a stop delay: not ready, still serving, until then (then it begins).
  std::optional<Nanos> stop_at_;
  bool exited_ = false;
  int exit_code_ = 0;
  std::uint64_t kills_ = 0;
  bool children_asked_ = false;  // a ListChildren is outstanding
  Front front_;

  std::vector<Version> failed_versions_;
  std::vector<Failure> failures_;  // the last kFailuresKept, oldest first
  std::uint64_t failure_count_ = 0;
  std::map<std::string, std::uint64_t> report_counts_;
  std::map<std::string, std::uint64_t> worker_exits_;
  std::vector<Milestone> timeline_;  // the last kTimelineKept, oldest first
};

}  // namespace zyg
