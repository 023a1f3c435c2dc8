// Settings of the supervisor's policies. Every limit has a default that follows the founding
// documents (the original Zygote's design).
#pragma once

#include <optional>
#include <string>

#include "core/types.hpp"

namespace zyg {

struct SupervisorConfig {
  // W: worker slots. Every worker process that exists counts, in any state, at every instant.
  int budget = 4;
  // Workers wanted; 0 means "the whole budget". Never above the budget.
  int desired = 0;
  // How many workers may be changing at once during a rollout (old ones draining plus new ones
  // not yet ready). 0 means no limit: every old worker is asked to stop as soon as the new zygote
  // has loaded, as the founding documents describe (idle ones leave at once, busy ones after
  // their request).
  int max_changing = 0;
  // zygote-real's default for max_changing: a quarter of the budget, at least one (the share of
  // capacity a rolling update may take away, as Kubernetes' maxUnavailable of 25%). Measured on
  // deploys under load: replacing every worker at once leaves no worker ready between the old
  // ones' drain and the new ones' ready reports, and the rollout's p99 rose 1.6-2.2x over steady
  // windows; one at a time of four kept it at 0.95-1.03x (bench/NOTES.md).
  static int rolling_max_changing(int budget) { return (budget + 3) / 4; }

  Nanos graceful_timeout = 30s;  // draining -> killed
  // A graceful stop first spends this long not ready (/readyz 503) while still accepting and
  // serving, every answer closing its connection, so that load balancers stop sending before
  // anything stops accepting. 0: the stop begins at once.
  Nanos stop_delay = 0s;
  Nanos heartbeat_timeout = 30s;  // a ready/busy worker silent this long is hung -> killed
  Nanos ready_timeout = 30s;      // starting -> ready, else killed
  Nanos load_timeout = 60s;       // zygote loading -> loaded, else killed and reported failed
  Nanos kill_retry = 1s;          // a kill is repeated this often until the process is reaped
  // A zygote that leaves a request (spawn, stop, kill) unanswered this long is hung: killed, so
  // that its workers drain on their parent's death instead of waiting on it.
  Nanos zygote_timeout = 10s;
  // A gap this long between two events means the master itself was not running (stopped,
  // swapped out, a paused VM): that time is not counted against any process's deadline.
  Nanos stall_threshold = 2s;
  // A starting worker whose zygote died before reporting its pid: how long its slot stays
  // counted while we wait to hear of it (a message or an unknown reaped child).
  Nanos lost_worker_timeout = 60s;

  // Respawn backoff after consecutive failures of one zygote's workers: base * 2^(n-1), capped.
  Nanos backoff_base = 100ms;
  Nanos backoff_max = 30s;

  // A new version whose workers die this many times in a row before serving a request is rolled
  // back (when a proven version is still resident).
  int crash_loop_limit = 3;
  // After every wanted worker of a new version is ready, it must run this long without a crash
  // loop to be proven; then the previous version's zygote is stopped.
  Nanos probation = 10s;

  // Returns an error sentence, or nothing when the settings are consistent.
  std::optional<std::string> validate() const;
  int desired_workers() const { return desired == 0 ? budget : desired; }
};

}  // namespace zyg
