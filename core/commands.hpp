// What the supervisor asks the OS layer to do. Commands are plain data; executing them is the
// master loop's job.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "core/process_view.hpp"
#include "core/types.hpp"

namespace zyg::cmd {

// Spawn a zygote process that loads `version`.
struct StartZygote {
  ZygoteId zygote;
  Version version;
};
// Ask `zygote` to fork worker `worker`.
struct RequestWorker {
  ZygoteId zygote;
  WorkerId worker;
};
// Graceful stop: the worker stops accepting, finishes in-flight work, then exits (SIGTERM).
// Sent through the worker's parent: its zygote, or the master itself once the worker is orphaned.
struct StopWorker {
  WorkerId worker;
  ZygoteId via;  // zero: the master is the parent and signals `pid` itself
  Pid pid = 0;
  StopReason reason = StopReason::none;
};
// The worker did not stop in time (or hung): SIGKILL, recorded. Repeated until it is reaped.
struct KillWorker {
  WorkerId worker;
  ZygoteId via;
  Pid pid = 0;
  std::string why;
};
// Ask a zygote to exit. Its remaining workers drain when their parent dies.
struct StopZygote {
  ZygoteId zygote;
};
// The zygote did not load or exit in time: SIGKILL (the master is its parent).
struct KillZygote {
  ZygoteId zygote;
  Pid pid = 0;
};
// List the master's unknown children (answered by ev::ChildrenListed): asked when a worker whose
// zygote died before reporting it has been silent for lost_worker_timeout, to tell whether its
// process may exist before its slot is released.
struct ListChildren {};
// Something an operator should see: a structured log record.
struct Report {
  std::string what;    // short machine-readable kind: "deploy", "load-failed", "rollback", ...
  std::string detail;  // human-readable sentence
};
// Answer to ev::StatusRequested.
struct Status {
  std::uint64_t request = 0;
  StatusSnapshot snapshot;
};
// Spawn the front process; `generation` is never reused by this master.
struct StartFront {
  std::uint64_t generation = 0;
};
// Graceful stop of the front (SIGTERM: the master is its parent): it stops accepting, hands on
// what is complete, closes the rest and exits.
struct StopFront {
  Pid pid = 0;
};
// A graceful stop's delay began: the front keeps accepting and serving, but every request it
// hands on from now on is answered with "Connection: close" (its load balancer stops sending).
struct DrainFront {
  Pid pid = 0;
};
// The front is hung or did not stop in time: SIGKILL. Repeated until it is reaped.
struct KillFront {
  Pid pid = 0;
  std::string why;
};
// Every process is gone after a shutdown: the master may exit with this code.
struct Exit {
  int code = 0;
};

}  // namespace zyg::cmd

namespace zyg {

using Command =
    std::variant<cmd::StartZygote, cmd::RequestWorker, cmd::StopWorker, cmd::KillWorker,
                 cmd::StopZygote, cmd::KillZygote, cmd::ListChildren, cmd::Report, cmd::Status,
                 cmd::Exit, cmd::StartFront, cmd::StopFront, cmd::DrainFront, cmd::KillFront>;

using Commands = std::vector<Command>;

std::string describe(const Command& c);

}  // namespace zyg
