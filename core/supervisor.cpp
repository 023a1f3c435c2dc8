#include "core/supervisor.hpp"

#include <algorithm>
#include <utility>

#include "core/assert.hpp"
#include "core/marks.hpp"
#include "core/teeth.hpp"

namespace zyg {

namespace {
constexpr int kSigkill = 9;  // Linux's SIGKILL (os::Signal::kill)
}  // namespace

Supervisor::Supervisor(SupervisorConfig config)
    : config_(config), desired_(config_.desired_workers()) {
  ZYG_ASSERT(!config_.validate().has_value(), *config_.validate());
}

Commands Supervisor::step(const Event& event, Nanos now) {
  ZYG_ASSERT(now >= now_, "time went backwards: ", now.count(), "ns after ", now_.count(), "ns");
  const Nanos gap = now - now_;
  now_ = std::max(now, now_);
  out_.clear();
  if (exited_) return {};
  if (started_ && gap >= config_.stall_threshold) forgive_stall(gap);
  std::visit([this](const auto& e) { on(e); }, event);
  reconcile();
  return std::exchange(out_, {});
}

// ---------------------------------------------------------------------------------------------
// Events

void Supervisor::on(const ev::Start& e) {
  if (started_) return;
  started_ = true;
  report("start", "serving " + e.version + " with a budget of " + std::to_string(config_.budget) +
                      " worker slots");
  start_front();
  milestone("start", e.version);
  serving_ = start_zygote(e.version);
  proven_ = true;  // nothing to roll back to
  if (e.last_good && *e.last_good != e.version) last_good_ = e.last_good;
}

void Supervisor::on(const ev::DeployRequested& e) {
  if (!started_ || shutting_down_ || stop_at_) {
    report("deploy-refused", "deploy of " + e.version + " refused: the server is not serving");
    return;
  }
  if (loading_) {
    Zygote& p = zygote(*loading_);
    if (p.version == e.version) {
      ZYG_MARK("deploy.noop");
      report("deploy-noop", e.version + " is already loading");
      return;
    }
    ZYG_MARK("deploy.supersede-loading");
    milestone("superseded", p.version);
    report("deploy-superseded", "deploy of " + p.version + " superseded by " + e.version);
    stop_zygote(p);
    loading_.reset();
  }
  if (restart_ && restart_->version == e.version) {
    ZYG_MARK("deploy.noop");
    report("deploy-noop", e.version + " is already the version being restarted");
    return;
  }
  if (serving_ && zygote(*serving_).version == e.version) {
    ZYG_MARK("deploy.noop");
    report("deploy-noop", e.version + " is already serving");
    return;
  }
  if (fallback_ && zygote(*fallback_).version == e.version &&
      zygote(*fallback_).state == ZygoteState::loaded) {
    // Instant rollback: the previous version's zygote is still resident and loaded.
    ZYG_MARK("deploy.instant-rollback");
    milestone("resident", e.version);
    report("deploy", "back to resident " + e.version);
    ZygoteId previous = *serving_;
    serving_ = *fallback_;
    fallback_.reset();
    proven_ = true;
    rollout_complete_at_.reset();
    stop_zygote(zygote(previous));
    return;
  }
  // A scheduled restart of the serving version stands: it serves until the new one has loaded.
  milestone("deploy", e.version);
  report("deploy", "loading " + e.version);
  loading_ = start_zygote(e.version);
  if (ZYG_BUG(drain_before_load) && serving_) {
    for (auto& [id, w] : workers_) {
      if (w.zygote == *serving_ && live(w)) stop_worker(w, StopReason::deploy);
    }
  }
}

void Supervisor::on(const ev::ZygoteSpawned& e) {
  if (Zygote* z = find(e.zygote)) z->pid = e.pid;
}

void Supervisor::on(const ev::ZygoteSpawnFailed& e) {
  Zygote* z = find(e.zygote);
  if (!z) return;
  const std::string why =
      "could not start the zygote process (errno " + std::to_string(e.error) + ")";
  if (serving_ == e.zygote) {
    // Out of processes or memory for a moment says nothing about the code: the version meant
    // to serve is retried with backoff, like a crashed zygote.
    report("zygote-spawn-failed", z->version + ": " + why);
    const Zygote gone = *z;
    zygotes_.erase(e.zygote);
    serving_.reset();
    if (!shutting_down_) zygote_crashed(gone, ExitStatus::exited(exit_code::load_failed));
    return;
  }
  // A deploy whose zygote cannot start fails; the serving version is untouched.
  zygote_load_failed(*z, why);
  on(ev::ZygoteExited{e.zygote, ExitStatus::exited(exit_code::load_failed)});
}

void Supervisor::on(const ev::ZygoteLoaded& e) {
  Zygote* z = find(e.zygote);
  if (!z || z->state != ZygoteState::loading) return;
  z->state = ZygoteState::loaded;
  z->app = e.app;
  z->since = now_;
  if (!ever_loaded_) ever_loaded_ = true;
  milestone("loaded", z->version);
  if (loading_ == e.zygote) {
    loading_.reset();
    begin_rollout(e.zygote);
  } else if (serving_ == e.zygote) {
    report("zygote-loaded", z->version + " loaded");
  }
}

void Supervisor::on(const ev::ZygoteLoadFailed& e) {
  Zygote* z = find(e.zygote);
  if (!z) return;
  zygote_load_failed(*z, e.reason);
  z->state = ZygoteState::exited_unreaped;  // it exits after saying so
}

void Supervisor::on(const ev::ZygoteReplied& e) {
  Zygote* z = find(e.zygote);
  if (!z || z->awaiting == 0) return;
  z->awaiting -= 1;
  z->awaiting_since = now_;  // the clock runs for the next unanswered request
}

void Supervisor::on(const ev::WorkerSignalled& e) {
  Worker* w = find(e.worker);
  // The graceful deadline counts from delivery: a slow parent does not eat into the drain.
  if (w && e.graceful && w->state == WorkerState::draining && !w->last_kill) {
    w->stop_deadline = now_ + config_.graceful_timeout;
  }
}

void Supervisor::on(const ev::ZygoteExited& e) {
  auto it = zygotes_.find(e.zygote);
  if (it == zygotes_.end()) return;
  Zygote z = it->second;
  zygotes_.erase(it);
  // Its workers now have the master as parent, and received SIGTERM on their parent's death:
  // for those whose stop the zygote never passed on, the drain starts now.
  for (auto& [id, w] : workers_) {
    if (w.zygote != z.id) continue;
    w.orphaned = true;
    if (live(w)) {
      w.stop = StopReason::zygote_gone;
      set_state(w, WorkerState::draining);
    }
    if (w.state == WorkerState::draining && !w.stop_deadline) {
      w.stop_deadline = now_ + config_.graceful_timeout;
    }
  }
  // A worker it was asked for and never reported is lost: forked or not, the zygote's death has
  // settled it (a forked one is now the master's child), so the children are listed at once
  // (ev::ChildrenListed) rather than after lost_worker_timeout. Waiting for the worker's own
  // reaping is not enough: it may have been reaped before its zygote, as an unknown child.
  bool lost = false;
  for (const auto& [id, w] : workers_) lost = lost || (w.zygote == z.id && !w.pid);
  if (lost && !children_asked_) {
    ZYG_MARK("worker.lost-listed");
    children_asked_ = true;
    out_.push_back(cmd::ListChildren{});
  }
  // A zygote killed while loading the version meant to serve says nothing about the code: that
  // is a crash, restarted with backoff below. Any other death while loading is a load failure.
  const bool crashed_serving = e.status.signaled && serving_ == z.id;
  if (z.state == ZygoteState::loading && !z.stop_requested && !crashed_serving) {
    zygote_load_failed(z, "zygote exited while loading: " + to_string(e.status));
  }
  if (loading_ == z.id) {
    loading_.reset();
  } else if (fallback_ == z.id) {
    fallback_.reset();
    if (!z.stop_requested) {
      report("fallback-lost", "resident " + z.version + " exited: " + to_string(e.status));
    }
  } else if (serving_ == z.id) {
    // The serving zygote is only ever stopped after it stopped serving, so this is a crash or
    // a failed (re)load.
    serving_.reset();
    if (!shutting_down_) zygote_crashed(z, e.status);
  }
}

void Supervisor::on(const ev::WorkerSpawned& e) {
  if (Worker* w = find(e.worker)) {
    w->pid = e.pid;
    w->last_heard = now_;
  }
}

void Supervisor::on(const ev::SpawnFailed& e) {
  auto it = workers_.find(e.worker);
  if (it == workers_.end()) return;
  Worker w = it->second;
  workers_.erase(it);
  if (Zygote* z = find(w.zygote)) {
    record_worker_failure(*z, w, "spawn failed (errno " + std::to_string(e.error) + ")");
  }
}

// A message from a worker: it is alive, and moves to `to` if it is in one of `from`.
Supervisor::Worker* Supervisor::heard(WorkerId id, std::initializer_list<WorkerState> from,
                                      WorkerState to) {
  Worker* w = find(id);
  if (!w) return nullptr;
  w->last_heard = now_;
  if (std::find(from.begin(), from.end(), w->state) != from.end()) set_state(*w, to);
  return w;
}

void Supervisor::on(const ev::WorkerReady& e) {
  heard(e.worker, {WorkerState::starting}, WorkerState::ready);
}

void Supervisor::on(const ev::WorkerBusy& e) {
  heard(e.worker, {WorkerState::ready, WorkerState::starting}, WorkerState::busy);
}

void Supervisor::on(const ev::WorkerIdle& e) {
  Worker* w = heard(e.worker, {WorkerState::busy, WorkerState::starting}, WorkerState::ready);
  if (!w) return;
  if (e.served > w->served) {
    w->served = e.served;
    // Named rule: a worker that served a request proves its zygote healthy; backoff resets.
    if (Zygote* z = find(w->zygote)) {
      z->consecutive_failures = 0;
      z->early_failures = 0;
      z->restarts = 0;
      z->next_spawn_at = now_;
    }
  }
}

// Heartbeats follow readiness: a starting worker that beats was ready (the report was lost).
void Supervisor::on(const ev::WorkerHeartbeat& e) {
  heard(e.worker, {WorkerState::starting}, WorkerState::ready);
}

void Supervisor::on(const ev::WorkerExiting& e) {
  Worker* w = find(e.worker);
  if (!w) return;
  w->last_heard = now_;
  w->retiring = w->retiring || e.retiring;
  // A worker says "exiting" once, as its last word; a repeated report would change nothing.
  if (w->state != WorkerState::exited_unreaped) set_state(*w, WorkerState::exited_unreaped);
}

void Supervisor::on(const ev::WorkerExited& e) {
  auto it = workers_.find(e.worker);
  if (it == workers_.end()) return;
  // Named rule: exit code `retired` means the worker left at its own limit. The code decides, not
  // the "exiting" report, which travels another channel and may arrive after the exit.
  if (!e.status.signaled && e.status.code == exit_code::retired) it->second.retiring = true;
  const bool unexpected = it->second.stop == StopReason::none && !it->second.retiring;
  if (ZYG_BUG(forget_crashed) && unexpected) return;  // the crash goes unnoticed
  Worker w = it->second;
  workers_.erase(it);
  if (w.retiring) ZYG_MARK("respawn.retire");
  const bool expected = w.stop != StopReason::none || w.retiring;
  // SIGKILL the master did not send: the kernel's OOM killer, most likely (or an operator).
  const bool killed_externally =
      !expected && w.kill_why.empty() && e.status.signaled && e.status.code == kSigkill;
  worker_exits_[w.retiring                   ? "retired"
                : w.stop != StopReason::none ? to_string(w.stop)
                : killed_externally          ? "killed_externally"
                : w.kill_why.empty()         ? "crash"
                                             : "killed"] += 1;
  if (expected) return;
  // An exit nobody asked for: a crash, a hang we killed, or an unannounced exit.
  Zygote* z = find(w.zygote);
  std::string what =
      w.kill_why.empty() ? "exited unexpectedly: " + to_string(e.status) : "killed: " + w.kill_why;
  if (killed_externally) {
    ZYG_MARK("worker.killed-externally");
    what =
        "killed by SIGKILL, which the master did not send: the OOM killer, most likely (the "
        "kernel log names it), or another process";
  }
  if (z) {
    record_worker_failure(*z, w, what);
  } else {
    report("worker-crash",
           "worker " + std::to_string(w.id.value) + " of " + w.version + " " + what);
  }
}

// A child reaped that no record names: perhaps a lost worker, perhaps a process the app forked
// and orphaned (the master is the subreaper). Which lost workers may still exist is settled by
// listing the children that remain (ChildrenListed), never by guessing.
void Supervisor::on(const ev::UnknownChildReaped& e) {
  bool lost = false;
  for (const auto& [id, w] : workers_) lost = lost || (w.orphaned && !w.pid);
  if (lost) {
    ZYG_MARK("worker.orphan-reaped");
    report("worker-exit", "reaped pid " + std::to_string(e.pid) +
                              ", which may have been a lost worker; listing the children left");
    if (!children_asked_) {
      children_asked_ = true;
      out_.push_back(cmd::ListChildren{});
    }
    return;
  }
  report("unknown-child", "reaped pid " + std::to_string(e.pid) + " that no record names");
}

// Lost workers (orphaned before their pid was reported) against the children the master cannot
// name. A lost worker that exists is such a child (its zygote is reaped, so it was reparented to
// the master), so as many lost workers as there are unknown children stay counted (the oldest,
// looked at again after another timeout); the rest certainly have no process (never forked, or
// already reaped) and their slots are released.
void Supervisor::on(const ev::ChildrenListed& e) {
  children_asked_ = false;
  std::size_t may_exist = e.unknown.size();
  for (auto it = workers_.begin(); it != workers_.end();) {
    Worker& w = it->second;
    if (!w.orphaned || w.pid) {
      ++it;
      continue;
    }
    if (may_exist > 0) {
      --may_exist;
      if (now_ - w.since >= config_.lost_worker_timeout) {
        w.since = now_;
        report("worker-lost", "worker " + std::to_string(w.id.value) +
                                  " was never reported by its dead zygote, and a child the "
                                  "master cannot name exists: its slot stays counted");
      }
      ++it;
      continue;
    }
    ZYG_MARK("worker.lost");
    report("worker-lost", "worker " + std::to_string(w.id.value) +
                              " was never reported by its dead zygote and no child the master "
                              "cannot name is left for it; slot released");
    it = workers_.erase(it);
  }
}

void Supervisor::on(const ev::Tick&) { check_deadlines(); }

void Supervisor::on(const ev::ScaleTo& e) {
  // Named rule: scaling stays within [1, budget]. Zero workers would leave accepted connections
  // unanswered; stopping the server is a shutdown, not a scale.
  int wanted = std::clamp(e.workers, 1, config_.budget);
  if (wanted != e.workers) {
    ZYG_MARK("scale.clamped");
    report("scale-clamped", "asked for " + std::to_string(e.workers) + " workers; allowed: 1 to " +
                                std::to_string(config_.budget) + ", so " + std::to_string(wanted));
  }
  if (wanted == desired_) return;
  report("scale", "workers wanted: " + std::to_string(desired_) + " -> " + std::to_string(wanted));
  desired_ = wanted;
}

void Supervisor::on(const ev::ScaleBy& e) { on(ev::ScaleTo{desired_ + e.delta}); }

void Supervisor::on(const ev::Shutdown& e) {
  if (e.graceful && !shutting_down_ && config_.stop_delay > Nanos{0} && front_.exists) {
    if (stop_at_) return;  // already on its way: the delay is not restarted
    // Named rule: a graceful stop with a stop delay is first only a change of readiness, so
    // that load balancers stop sending while everything still accepts and serves.
    ZYG_MARK("shutdown.delayed");
    stop_at_ = now_ + config_.stop_delay;
    restart_.reset();
    report("shutdown", "graceful stop in " + ms_text(config_.stop_delay) +
                           ": not ready from now on, still serving (every answer closes its "
                           "connection) until then");
    drain_front();
    return;
  }
  stop_at_.reset();
  begin_shutdown(e.graceful);
}

void Supervisor::begin_shutdown(bool graceful) {
  ZYG_MARK(graceful ? "shutdown.graceful" : "shutdown.fast");
  if (!shutting_down_) {
    report("shutdown", graceful ? "graceful stop" : "fast stop");
  } else if (!graceful) {
    report("shutdown", "escalated to fast stop");
  }
  shutting_down_ = true;
  restart_.reset();
  if (loading_) {
    stop_zygote(zygote(*loading_));
    loading_.reset();
  }
  if (graceful && front_.exists) {
    // Workers drain once the front is gone (handle_shutdown_progress), so that every request it
    // has handed on, or still hands on while it stops, finds a worker.
    stop_front();
    return;
  }
  if (!graceful && front_.exists && !front_.last_kill) kill_front("fast stop");
  for (auto& [id, w] : workers_) {
    if (live(w)) stop_worker(w, StopReason::shutdown);
    if (!graceful && w.state != WorkerState::exited_unreaped && !w.last_kill) {
      kill_worker(w, "fast stop");
    }
  }
}

void Supervisor::on(const ev::StatusRequested& e) {
  out_.push_back(cmd::Status{e.request, snapshot()});
}

}  // namespace zyg
