// A scripted stand-in for the master loop: feeds events to a Supervisor, records the commands,
// and keeps its own count of the worker processes that exist (from the request until the test
// says the worker was reaped), checking that count against the budget after every step.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/event_log.hpp"
#include "core/supervisor.hpp"

namespace zyg::testing {

class Harness;

SupervisorConfig config_with(int budget);
// Starts `version` and brings all of its workers up: the steady state most tests begin from.
ZygoteId serve(Harness& h, const Version& version);

class Harness {
 public:
  explicit Harness(SupervisorConfig config);

  Commands feed(const Event& e);
  Commands advance(Nanos d);  // time passes, a tick every 100 ms
  Commands stall(Nanos d);    // the master does not run for d, then ticks once

  // Scripted life of processes.
  ZygoteId start(const Version& v);   // Start; returns the zygote asked for
  ZygoteId deploy(const Version& v);  // DeployRequested; the new zygote (or {})
  void load(ZygoteId z);              // spawned + loaded
  void fail_load(ZygoteId z);         // load failed, then the process exits
  void zygote_exit(ZygoteId z, ExitStatus s = ExitStatus::exited(0));
  std::vector<WorkerId> spawn_all();  // every requested worker forks and is ready
  void busy(WorkerId w);
  void idle(WorkerId w, std::uint64_t served = 1);
  void exit_worker(WorkerId w, ExitStatus s = ExitStatus::exited(0));  // goodbye + reaped
  void crash_worker(WorkerId w);                        // reaped with a signal, no goodbye
  void exit_worker_silently(WorkerId w, ExitStatus s);  // reaped, its goodbye lost
  void spawn_failed(WorkerId w, int error = 11);        // the zygote could not fork it
  void reap_orphan(WorkerId w, Pid pid);  // the master reaps it, never having known it
  // Zygotes answer spawn/stop/kill requests at once (as a healthy zygote does) unless told not to.
  void unresponsive(ZygoteId z) { unresponsive_.insert(z); }
  // The master's children it cannot name, as the OS would list them (ListChildren).
  void unknown_children(std::vector<Pid> pids) { unknown_children_ = std::move(pids); }
  // The requested worker was never forked (its zygote died first): no process exists for it.
  void never_forked(WorkerId w) { exists_.erase(w); }
  // The front process dies (reaped with this status); a hung one ignores StopFront.
  void front_dies(ExitStatus s = ExitStatus::killed_by(9)) {
    feed(ev::FrontExited{front_generation_, s});
  }
  void front_ignores_stop() { front_ignores_stop_ = true; }
  std::uint64_t front_generation() const { return front_generation_; }

  // What happened.
  const Supervisor& supervisor() const { return sup_; }
  std::vector<WorkerId> workers_of(const Version& v) const;       // existing, by version
  std::vector<WorkerId> live_workers_of(const Version& v) const;  // not asked to stop
  int existing_workers() const { return static_cast<int>(exists_.size()); }
  int peak_workers() const { return peak_; }
  bool stop_sent(WorkerId w) const { return stopped_.count(w) != 0; }
  bool kill_sent(WorkerId w) const { return killed_.count(w) != 0; }
  int count(
      const std::string& command_prefix) const;  // commands so far whose description starts so
  bool reported(const std::string& what) const;  // a Report of this kind was made
  std::set<ZygoteId> zygotes_stopped() const { return zygotes_stopped_; }
  std::map<ZygoteId, Version> zygotes_started() const { return zygote_version_; }
  int exit_code() const { return exit_code_; }
  bool exited() const { return exited_; }
  Nanos now() const { return now_; }
  const std::vector<std::string>& log() const { return log_; }
  // Every step as the master's --events log would have it (core/event_log.hpp).
  const std::vector<std::string>& event_lines() const { return event_lines_; }

 private:
  void apply(const Commands& cmds);

  Supervisor sup_;
  Nanos now_{0};
  Pid next_pid_ = 100;
  std::map<ZygoteId, Version> zygote_version_;
  std::map<WorkerId, ZygoteId> requested_;  // asked for, not yet forked
  std::map<WorkerId, Version> exists_;      // processes that exist (any state until reaped)
  std::set<WorkerId> stopping_;             // asked to stop and still existing
  std::set<WorkerId> stopped_;
  std::set<WorkerId> killed_;
  std::set<ZygoteId> zygotes_stopped_;
  std::set<ZygoteId> unresponsive_;
  std::uint64_t front_generation_ = 0;
  Pid front_pid_ = 0;
  bool front_ignores_stop_ = false;
  std::vector<Event> replies_;
  std::vector<std::string> log_;
  std::vector<std::string> event_lines_;
  std::vector<Pid> unknown_children_;

  int peak_ = 0;
  bool exited_ = false;
  int exit_code_ = -1;
};

}  // namespace zyg::testing
