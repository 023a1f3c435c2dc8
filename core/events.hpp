// What the supervisor is told. The OS layer turns everything it observes into one of these.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/types.hpp"

namespace zyg::ev {

// The master is up; begin serving `version`. If it fails to load and `last_good` (the last
// version that served, remembered across restarts) is another version, that one serves instead.
struct Start {
  Version version;
  std::optional<Version> last_good;
};
// An operator asked for `version` to serve (SIGHUP after repointing the symlink, or ctl deploy).
struct DeployRequested {
  Version version;
};
// The zygote process for `zygote` exists with this pid (the master spawned it).
struct ZygoteSpawned {
  ZygoteId zygote;
  Pid pid = 0;
};
// The master could not even create the zygote process.
struct ZygoteSpawnFailed {
  ZygoteId zygote;
  int error = 0;  // errno
};
struct ZygoteLoaded {
  ZygoteId zygote;
  std::string app =
      {};  // what it loaded (LoadResult::kind): "native hello.so", "python 3.13.5 ..."
};
struct ZygoteLoadFailed {
  ZygoteId zygote;
  std::string reason;
};
// A zygote answered one of the master's requests (spawn, stop, kill): it is responsive.
struct ZygoteReplied {
  ZygoteId zygote;
};
// The worker's parent delivered the graceful stop (SIGTERM): its drain starts now.
struct WorkerSignalled {
  WorkerId worker;
  bool graceful = true;
};
// The zygote process was reaped by the master.
struct ZygoteExited {
  ZygoteId zygote;
  ExitStatus status;
};
// A zygote forked the worker (or the worker itself introduced itself): its pid is now known.
struct WorkerSpawned {
  WorkerId worker;
  Pid pid = 0;
};
// The zygote could not fork the worker (EAGAIN, ENOMEM...). No process exists for it.
struct SpawnFailed {
  WorkerId worker;
  int error = 0;
};
struct WorkerReady {
  WorkerId worker;
};
struct WorkerBusy {
  WorkerId worker;
};
// The worker finished its request(s) and waits for more; `served` counts requests completed so far.
struct WorkerIdle {
  WorkerId worker;
  std::uint64_t served = 0;
};
struct WorkerHeartbeat {
  WorkerId worker;
};
// The worker says it is about to exit (drain done, or it retires itself at a limit).
struct WorkerExiting {
  WorkerId worker;
  bool retiring = false;  // it hit its own limit (requests, memory, CPU)
};
// The worker process was reaped (by its zygote, or by the master for orphans). Frees its slot.
struct WorkerExited {
  WorkerId worker;
  ExitStatus status;
};
// The master reaped a child it cannot name: a worker orphaned before its pid was reported.
struct UnknownChildReaped {
  Pid pid = 0;
  ExitStatus status;
};
// Answer to cmd::ListChildren: the master's children (unreaped, zombies included) that are
// neither its zygotes nor workers it knows the pid of, in ascending pid order.
struct ChildrenListed {
  std::vector<Pid> unknown;
};
// Time passed; deadlines are checked.
struct Tick {};
// Desired worker count (clamped to the budget).
struct ScaleTo {
  int workers = 0;
};
// One more or one fewer worker (SIGTTIN / SIGTTOU).
struct ScaleBy {
  int delta = 0;
};
struct Shutdown {
  bool graceful = true;
};
// Someone asked for a status report (ctl status); `request` is echoed back.
struct StatusRequested {
  std::uint64_t request = 0;
};

// The front process (which holds connections and hands requests to workers) exists.
struct FrontSpawned {
  std::uint64_t generation = 0;
  Pid pid = 0;
};
// The master could not create the front process.
struct FrontSpawnFailed {
  std::uint64_t generation = 0;
  int error = 0;  // errno
};
// The front's heartbeat, with what it holds.
struct FrontAlive {
  std::uint64_t connections = 0;  // held: idle, arriving, or waiting for a worker
  std::uint64_t waiting = 0;      // complete requests no worker has taken yet
  std::uint64_t handoffs = 0;     // requests handed to workers so far
};
// Something the front wants an operator to know (a limit reached, a failed hand-off).
struct FrontNotice {
  std::string text;
};
// The front process was reaped by the master.
struct FrontExited {
  std::uint64_t generation = 0;
  ExitStatus status;
};

}  // namespace zyg::ev

namespace zyg {

using Event =
    std::variant<ev::Start, ev::DeployRequested, ev::ZygoteSpawned, ev::ZygoteSpawnFailed,
                 ev::ZygoteLoaded, ev::ZygoteLoadFailed, ev::ZygoteReplied, ev::WorkerSignalled,
                 ev::ZygoteExited, ev::WorkerSpawned, ev::SpawnFailed, ev::WorkerReady,
                 ev::WorkerBusy, ev::WorkerIdle, ev::WorkerHeartbeat, ev::WorkerExiting,
                 ev::WorkerExited, ev::UnknownChildReaped, ev::ChildrenListed, ev::Tick,
                 ev::ScaleTo, ev::ScaleBy, ev::Shutdown, ev::StatusRequested, ev::FrontSpawned,
                 ev::FrontSpawnFailed, ev::FrontAlive, ev::FrontNotice, ev::FrontExited>;

std::string describe(const Event& e);

}  // namespace zyg
