// The invariant checker: one judge for simulated and real runs. It is fed observations (processes
// starting and ending, signals, accepts, request outcomes, the master's view of its processes)
// and records every violation of the safety properties, with the time and the reason.
//
// Safety, checked on every observation:
//  - budget:    worker processes that exist (any state, zombies included) never exceed W;
//  - zygotes:   the master never wants more than three zygotes (fallback, serving, loading);
//  - requests:  every accepted connection's requests get one complete, non-5xx response, unless a
//               recorded fault explains the loss (counted apart) or the client gave up;
//  - routing:   only the front accepts connections; a worker never takes a connection (a
//               hand-off) after it began to drain;
//  - deploy order: no worker of the serving version is stopped for a deploy still loading;
//  - signals:   a process signals by pid only its own unreaped children (no other pid is safe
//               from reuse);
//  - agreement: the master's view holds every worker and zygote that exists, with the right pid.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/process_view.hpp"
#include "core/types.hpp"

namespace zyg::check {

using ProcId = std::uint64_t;  // an incarnation: unique for the run, unlike a pid

enum class Outcome : std::uint8_t {
  ok,             // complete response, status below 500
  server_error,   // 5xx
  dropped,        // the server read the request and never answered
  lost_to_fault,  // lost, and a recorded fault explains it
  abandoned,      // the client gave up or disconnected first
  retried,        // the server closed an idle connection before reading it; the client retried
  refused,        // nobody was listening
};

const char* to_string(Outcome o);

struct Violation {
  Nanos t{0};
  std::string what;
};

struct Counts {
  std::uint64_t requests = 0;
  std::map<Outcome, std::uint64_t> outcomes;
  int peak_workers = 0;
  int peak_zygotes = 0;
  std::uint64_t accepts = 0;
  std::uint64_t handoffs = 0;  // connections received from another process
  std::uint64_t signals = 0;
};

class Checker {
 public:
  explicit Checker(int budget) : budget_(budget) {}
  void set_budget(int budget) { budget_ = budget; }

  void process_started(Nanos t, ProcId id, Pid pid, Role role, const Version& version,
                       std::uint64_t serial, int generation);
  void process_exited(Nanos t, ProcId id);  // a zombie now: still counted
  void process_reaped(Nanos t, ProcId id);
  // sender 0: from outside the server (an operator or an injected fault).
  void signal_sent(Nanos t, ProcId sender, Pid target_pid, bool target_is_senders_child,
                   const std::string& signal);
  void drain_began(Nanos t, ProcId id);
  void accepted(Nanos t, ProcId id);
  // A process received a connection's descriptor from another (a hand-off, or one given back).
  void connection_received(Nanos t, ProcId id);
  void request_finished(Nanos t, Outcome outcome, const std::string& detail);
  // The master's view right after one of its steps; `generation` is that master's incarnation.
  void master_view(Nanos t, int generation, const StatusSnapshot& view);

  // A violation found by someone else (the liveness phase, a bad response).
  void fail(Nanos t, const std::string& what);

  const std::vector<Violation>& violations() const { return violations_; }
  const Counts& counts() const { return counts_; }
  int workers_existing() const;
  int zygotes_existing() const;
  bool ok() const { return violations_.empty(); }

 private:
  struct Proc {
    Pid pid = 0;
    Role role = Role::worker;
    Version version;
    std::uint64_t serial = 0;
    int generation = 0;
    bool exited = false;
    bool draining = false;
  };

  void check_budget(Nanos t);

  int budget_;
  std::map<ProcId, Proc> procs_;
  std::vector<Violation> violations_;
  Counts counts_;
  std::map<std::string, int> reported_;  // one report per kind of repeated violation
  int view_generation_ = 0;
  std::set<std::uint64_t> stopped_for_deploy_;  // workers already seen stopped for a deploy
};

}  // namespace zyg::check
