// A plain-data view of every process the supervisor accounts for. Tests, status reports and the
// simulator's agreement check read this; nothing here is live state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/types.hpp"

namespace zyg {

enum class Role : std::uint8_t { master, zygote, worker, front };

const char* to_string(Role r);

struct ProcessInfo {
  Role role = Role::worker;
  std::uint64_t id = 0;    // WorkerId or ZygoteId value
  std::optional<Pid> pid;  // unknown until the process is reported
  Version version;
  std::string state;         // to_string(WorkerState) or to_string(ZygoteState)
  std::uint64_t zygote = 0;  // workers: the zygote that forked it
  bool orphaned = false;     // workers: its zygote is gone; the master is its parent
  bool kill_sent = false;
  std::string stop;          // workers: why it was asked to stop ("" when it was not)
  std::string app = {};      // zygotes: what it loaded ("" while loading)
  Nanos since{0};            // when it entered its current state (the supervisor's clock)
  std::uint64_t served = 0;  // workers: requests served, as of its last idle report
};

struct WorkerCounts {
  int starting = 0;
  int ready = 0;
  int busy = 0;
  int draining = 0;
  int exited_unreaped = 0;
  int total() const { return starting + ready + busy + draining + exited_unreaped; }
};

// A version that failed to load or was rolled back, and why (what `ctl status` reports).
struct Failure {
  Version version;
  std::string reason;
  std::uint64_t serial = 0;  // 1, 2, ...: the how-manieth failure of this master
};

// The front process: holds every idle or arriving connection, hands requests to workers.
struct FrontView {
  std::uint64_t generation = 0;  // 0: none started yet
  std::optional<Pid> pid;        // the process that exists (nullopt: none right now)
  bool stopping = false;
  bool kill_sent = false;
  std::uint64_t connections = 0;  // from its last heartbeat
  std::uint64_t waiting = 0;
  std::uint64_t handoffs = 0;
  int restarts = 0;  // times it died (or could not start) and was started again
};

// A step of a deploy, for the timeline on the status page: "start", "deploy" (loading),
// "loaded", "rollout", "proven", "superseded", "rollback", "load-failed", "resident" (an instant
// rollback to the resident previous version), "stopped" (its zygote was asked to exit).
struct Milestone {
  Nanos at{0};
  std::string what;
  Version version;
};

struct StatusSnapshot {
  int budget = 0;   // W: worker slots
  int desired = 0;  // workers wanted (<= budget)
  DeployPhase phase = DeployPhase::serving;
  Version serving;   // the version new workers run ("" before the first load)
  Version loading;   // a deploy waiting for its zygote to load
  Version fallback;  // a proven version kept resident until `serving` proves itself
  bool serving_proven = false;
  bool shutting_down = false;
  WorkerCounts workers;
  int zygotes = 0;
  std::vector<std::string> failed_versions;  // versions that failed to load or were rolled back
  std::vector<Failure> failures;             // the most recent failures, oldest first (bounded)
  std::vector<ProcessInfo> processes;        // zygotes and workers
  FrontView front;
  Nanos now{0};  // the supervisor's clock when the snapshot was taken
  // How many times each report kind was made ("deploy", "proven", "rollback", "load-failed", ...)
  std::map<std::string, std::uint64_t> reports;
  // Worker exits by cause: "crash", "killed" (hung, or not ready in time), "retired" (its own
  // limit), or the reason it was asked to stop ("deploy", "scale_down", "shutdown", ...).
  std::map<std::string, std::uint64_t> worker_exits;
  std::vector<Milestone> timeline;  // the most recent deploy steps, oldest first (bounded)
};

}  // namespace zyg
