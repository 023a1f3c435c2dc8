// Plain value types shared by the supervisor, the OS seam and the process loops.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <string>

namespace zyg {

// Time is an input to every decision: integer nanoseconds on a monotonic clock that the OS layer
// (real or simulated) reads. Nothing in core/ reads a clock.
using Nanos = std::chrono::nanoseconds;
using std::chrono_literals::operator""ms;
using std::chrono_literals::operator""s;
using std::chrono_literals::operator""us;

using Pid = std::int32_t;

// Identities the master hands out. They are never reused within one master's life, so a message
// naming one can never be mistaken for another process (unlike a pid, which the kernel reuses).
// (NOLINT: clang-tidy 14 takes a defaulted <=> for a comparison with a literal 0.)
struct WorkerId {
  std::uint64_t value = 0;
  auto operator<=>(const WorkerId&) const = default;  // NOLINT(modernize-use-nullptr)
};
struct ZygoteId {
  std::uint64_t value = 0;
  auto operator<=>(const ZygoteId&) const = default;  // NOLINT(modernize-use-nullptr)
};

// A version is the name of a release (for zygote-real, the directory the app symlink resolves to).
using Version = std::string;

// A worker's state as the master sees it. The legal changes are kWorkerTransitions; a worker
// leaves the record, from any state, when it is reaped (a crash, a kill, a clean exit) or was
// never forked. A killed or crashed worker goes straight from its state to reaped.
enum class WorkerState : std::uint8_t {
  starting,        // asked of a zygote; forked or about to be; not yet ready
  ready,           // accepting, no request in flight
  busy,            // serving a request
  draining,        // asked to stop: accepts nothing new, finishes what it has, then exits
  exited_unreaped  // said goodbye ("exiting"); still a process until its parent reaps it
};

struct WorkerTransition {
  WorkerState from;
  WorkerState to;
  const char* why;
};

// Every change of a worker's state the supervisor may make; it asserts on any other. The
// diagram in docs/ARCHITECTURE.md ("The life of a worker") is checked against this table.
inline constexpr WorkerTransition kWorkerTransitions[] = {
    {WorkerState::starting, WorkerState::ready, "ready report (or a heartbeat, or idle)"},
    {WorkerState::starting, WorkerState::busy, "busy report (its ready report was lost)"},
    {WorkerState::starting, WorkerState::draining, "stop / its zygote dies"},
    {WorkerState::starting, WorkerState::exited_unreaped, "exiting report"},
    {WorkerState::ready, WorkerState::busy, "request begins"},
    {WorkerState::ready, WorkerState::draining, "stop / its zygote dies"},
    {WorkerState::ready, WorkerState::exited_unreaped, "exiting report (retired at a limit)"},
    {WorkerState::busy, WorkerState::ready, "request ends (idle)"},
    {WorkerState::busy, WorkerState::draining, "stop: finishes the request first"},
    {WorkerState::busy, WorkerState::exited_unreaped, "exiting report (retired at a limit)"},
    {WorkerState::draining, WorkerState::exited_unreaped, "exiting report"},
};

constexpr bool legal_transition(WorkerState from, WorkerState to) {
  for (const WorkerTransition& t : kWorkerTransitions) {
    if (t.from == from && t.to == to) return true;
  }
  return false;
}

enum class ZygoteState : std::uint8_t {
  loading,         // started, loading the app
  loaded,          // app loaded; forks workers on request
  stopping,        // asked to exit
  exited_unreaped  // reported dead (failed to load or crashed) but not yet reaped
};

// Where a deploy stands (docs/ARCHITECTURE.md, "The life of a deploy"): Supervisor::phase().
enum class DeployPhase : std::uint8_t {
  serving,      // the serving version is proven (or has nothing to prove itself against)
  loading,      // a deploy's zygote is loading; nothing of the serving version is touched yet
  rolling_out,  // the new version has loaded; its workers are replacing the old ones
  probation,    // every wanted worker is new and ready; the previous zygote stays resident
};

const char* to_string(WorkerState s);
const char* to_string(ZygoteState s);
const char* to_string(DeployPhase p);

// Why a worker was asked to stop; kept for reports and to classify its exit.
enum class StopReason : std::uint8_t {
  none,
  deploy,       // replaced by a newer version
  rollback,     // its version was rolled back
  scale_down,   // fewer workers wanted
  shutdown,     // the server is stopping
  zygote_gone,  // its zygote exited; the worker drains on its parent's death
};

const char* to_string(StopReason r);

// Exit statuses with a meaning the supervisor acts on (named rules, not scattered numbers).
namespace exit_code {
inline constexpr int clean = 0;         // a requested stop, or a worker retiring itself
inline constexpr int config_error = 2;  // bad configuration: respawning would not help
inline constexpr int load_failed = 3;   // a zygote could not load its app
inline constexpr int retired = 75;      // a worker hit its own limit (requests, memory, CPU)
}  // namespace exit_code

// How a child process ended, as waitpid reports it.
struct ExitStatus {
  bool signaled = false;  // killed by a signal rather than exiting
  int code = 0;           // exit code, or the signal number when signaled
  auto operator<=>(const ExitStatus&) const = default;
  static ExitStatus exited(int c) { return {false, c}; }
  static ExitStatus killed_by(int sig) { return {true, sig}; }
};

std::string to_string(ExitStatus s);

}  // namespace zyg
