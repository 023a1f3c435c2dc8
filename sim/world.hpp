// One simulated run: the kernel, the real master/zygote/worker code running in it, the client
// population, the service manager that restarts a crashed master, the scenario's deploys and
// faults, and the checker judging all of it. Safety is checked after every event; after the
// faulty phase, a liveness phase with faults off must converge within the scenario's bound.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/check.hpp"
#include "core/loops.hpp"
#include "sim/app.hpp"
#include "sim/clients.hpp"
#include "sim/kernel.hpp"
#include "sim/scenario.hpp"
#include "sim/scheduling.hpp"

namespace zyg::sim {

struct RunOptions {
  std::ostream* timeline = nullptr;  // one line per event when set
  bool verbose = false;              // also requests, heartbeats and kernel process events
  bool record_samples = false;       // for the SVG
};

struct Marker {
  Nanos t{0};
  std::string what;
  bool fault = false;
};

struct StateSample {
  Nanos t{0};
  std::map<std::string, std::map<std::string, int>> workers;  // version -> state -> count
  int in_flight = 0;
  int existing = 0;
};

struct RunResult {
  bool ok = true;
  std::vector<check::Violation> violations;
  check::Counts counts;
  std::uint64_t trace_hash = 0;
  Nanos converged_at{-1};  // virtual time the liveness phase converged (or -1)
  Nanos ended{0};
  std::vector<StateSample> samples;
  std::vector<Marker> markers;
  StatusSnapshot final_view;  // the master's view when the liveness phase ended
  int budget = 0;
  std::uint64_t pid_reuses = 0;
  std::uint64_t coalesced_child_signals = 0;
};

class World final : public KernelListener, public MasterObserver, public FaultRecorder {
 public:
  World(const Scenario& scenario, RunOptions options);
  ~World() override;
  RunResult run();  // begin(), the scenario's faulty phase, finish()

  // Step by step, for the stateful property suite: begin, act and advance, then finish.
  void begin();
  void act(const Action& a);
  void advance_to(Nanos t);
  RunResult finish();
  Nanos now() const { return kernel_.now(); }
  const check::Checker& checker() const { return checker_; }
  const StatusSnapshot& view() const { return view_; }
  Clients& clients() { return *clients_; }
  bool master_running() const;

  // KernelListener
  void on_client_data(ConnId id) override;
  void on_client_closed(ConnId id, bool reset) override;
  void on_process_started(const Process& p) override;
  void on_catch(const Process& p) override;  // stops the drawn child of a zygote killed mid-fork
  void on_process_exited(const Process& p) override;
  void on_process_reaped(const Process& p, const Process& reaper) override;
  void on_signal(Slot sender, Pid target, const Process* p, os::Signal sig) override;
  void on_accept(const Process& p, const Connection& c) override;
  void on_connection_received(const Process& p, const Connection& c) override;
  void on_term_taken(const Process& p) override;
  void on_master_died(const Process& p) override;
  void on_livelock(const Process& p) override;
  void on_fork(const Process& parent) override;
  void on_run_changed(const Process& p) override;
  void on_injected_fault(const Process& p, const std::string& what) override;
  // MasterObserver
  void on_step(Nanos now, const Event& e, const Commands& cmds, const Supervisor& s) override;
  void on_listening(os::Fd fd) override;
  void on_error(Nanos now, const std::string& what) override;
  // FaultRecorder
  void fault(Process& p, const std::string& what) override;
  void serving(const std::string& target) override;

 private:
  void start_master();
  void schedule_actions();
  void apply(const Action& a);
  Process* pick(Target t);
  void mark_fault(Process& p, const std::string& what);
  bool explains(Slot reader, Nanos when) const;
  void restart_check(Nanos since);
  void faults_off();
  std::optional<std::string> unconverged() const;
  void sample();
  void line(Nanos t, const std::string& who, const std::string& what);
  std::string counts_text() const;
  std::string subject(const Event& e, const StatusSnapshot& before, Pid master) const;
  void send_stop();
  void shutdown_phase();
  void judge_wait(ConnId conn, std::uint64_t request, Nanos ready, Nanos until);
  bool can_take_work(const Process& p) const;

  Scenario sc_;
  RunOptions opt_;
  Kernel kernel_;
  check::Checker checker_;
  bool faults_on_ = true;
  std::unique_ptr<SimLoader> loader_;
  std::unique_ptr<Clients> clients_;
  MasterConfig master_cfg_;
  int generation_ = 1;
  Slot master_slot_ = kNoSlot;
  bool master_down_ = false;
  Nanos down_since_{0};
  std::vector<std::pair<Nanos, Nanos>> down_;  // when no master was listening
  bool stopping_service_ = false;
  bool master_refused_ = false;
  std::string last_deployed_;    // what the app symlink names
  bool kill_next_fork_ = false;  // "kill zygote forking": the next fork's zygote is killed
  // ... and the child it forks meanwhile, if any and if drawn, is stopped for this long once its
  // signal handlers are in place: the lost worker that outlives its zygote's death.
  Slot stall_child_of_ = kNoSlot;
  Slot stall_child_ = kNoSlot;
  Nanos stall_child_for_{0};
  std::optional<int> master_exit_code_;
  std::set<Slot> faulted_;
  std::map<Slot, int> generation_of_;
  StatusSnapshot view_;
  WorkConserving scheduling_;
  RunResult result_;
};

// Runs a scenario; the convenience most callers want.
RunResult run_scenario(const Scenario& s, RunOptions options = {});

}  // namespace zyg::sim
