#include "core/supervisor.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

#include "core/marks.hpp"
#include "core/teeth.hpp"

namespace zyg {

namespace {

std::string ms_text(Nanos d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

}  // namespace

Supervisor::Supervisor(SupervisorConfig config)
    : config_(std::move(config)), desired_(config_.desired_workers()) {
  assert(!config_.validate().has_value());
}

Commands Supervisor::step(const Event& event, Nanos now) {
  assert(now >= now_ && "time never goes backwards");
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
  target_ = start_zygote(e.version);
  proven_ = true;  // nothing to roll back to
  if (e.last_good && *e.last_good != e.version) last_good_ = e.last_good;
}

void Supervisor::on(const ev::DeployRequested& e) {
  if (!started_ || shutting_down_) {
    report("deploy-refused", "deploy of " + e.version + " refused: the server is not serving");
    return;
  }
  if (pending_) {
    Zygote& p = zygote(*pending_);
    if (p.version == e.version) {
      ZYG_MARK("deploy.noop");
      report("deploy-noop", e.version + " is already loading");
      return;
    }
    ZYG_MARK("deploy.supersede-loading");
    report("deploy-superseded", "deploy of " + p.version + " superseded by " + e.version);
    stop_zygote(p);
    pending_.reset();
  }
  if (restart_ && restart_->version == e.version) {
    ZYG_MARK("deploy.noop");
    report("deploy-noop", e.version + " is already the version being restarted");
    return;
  }
  if (target_ && zygote(*target_).version == e.version) {
    ZYG_MARK("deploy.noop");
    report("deploy-noop", e.version + " is already serving");
    return;
  }
  if (fallback_ && zygote(*fallback_).version == e.version &&
      zygote(*fallback_).state == ZygoteState::loaded) {
    // Instant rollback: the previous version's zygote is still resident and loaded.
    ZYG_MARK("deploy.instant-rollback");
    report("deploy", "back to resident " + e.version);
    ZygoteId previous = *target_;
    target_ = *fallback_;
    fallback_.reset();
    proven_ = true;
    rollout_complete_at_.reset();
    stop_zygote(zygote(previous));
    return;
  }
  // A scheduled restart of the serving version stands: it serves until the new one has loaded.
  report("deploy", "loading " + e.version);
  pending_ = start_zygote(e.version);
  if (ZYG_BUG(drain_before_load) && target_) {
    for (auto& [id, w] : workers_) {
      if (w.zygote == *target_ && live(w)) stop_worker(w, StopReason::deploy);
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
  if (target_ == e.zygote) {
    // Out of processes or memory for a moment says nothing about the code: the version meant
    // to serve is retried with backoff, like a crashed zygote.
    report("zygote-spawn-failed", z->version + ": " + why);
    const Zygote gone = *z;
    zygotes_.erase(e.zygote);
    target_.reset();
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
  z->since = now_;
  if (!ever_loaded_) ever_loaded_ = true;
  if (pending_ == e.zygote) {
    pending_.reset();
    begin_rollout(e.zygote);
  } else if (target_ == e.zygote) {
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
      w.state = WorkerState::draining;
      w.stop = StopReason::zygote_gone;
      w.since = now_;
    }
    if (w.state == WorkerState::draining && !w.stop_deadline) {
      w.stop_deadline = now_ + config_.graceful_timeout;
    }
  }
  // A zygote killed while loading the version meant to serve says nothing about the code: that
  // is a crash, restarted with backoff below. Any other death while loading is a load failure.
  const bool crashed_target = e.status.signaled && target_ == z.id;
  if (z.state == ZygoteState::loading && !z.stop_requested && !crashed_target) {
    zygote_load_failed(z, "zygote exited while loading: " + to_string(e.status));
  }
  if (pending_ == z.id) {
    pending_.reset();
  } else if (fallback_ == z.id) {
    fallback_.reset();
    report("fallback-lost", "resident " + z.version + " exited: " + to_string(e.status));
  } else if (target_ == z.id) {
    // The target is only ever stopped after it stopped being the target, so this is a crash or
    // a failed (re)load.
    target_.reset();
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
  if (std::find(from.begin(), from.end(), w->state) != from.end()) {
    w->state = to;
    w->since = now_;
  }
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
  w->state = WorkerState::exited_unreaped;
  w->since = now_;
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
  if (expected) return;
  // An exit nobody asked for: a crash, a hang we killed, or an unannounced exit.
  Zygote* z = find(w.zygote);
  std::string what =
      w.kill_why.empty() ? "exited unexpectedly: " + to_string(e.status) : "killed: " + w.kill_why;
  if (z) {
    record_worker_failure(*z, w, what);
  } else {
    report("worker-crash",
           "worker " + std::to_string(w.id.value) + " of " + w.version + " " + what);
  }
}

void Supervisor::on(const ev::UnknownChildReaped& e) {
  // An orphan whose pid we never learned: it belongs to the oldest such "lost" worker.
  for (auto it = workers_.begin(); it != workers_.end(); ++it) {
    if (it->second.orphaned && !it->second.pid) {
      ZYG_MARK("worker.orphan-reaped");
      report("worker-exit", "orphaned worker " + std::to_string(it->first.value) +
                                " reaped as pid " + std::to_string(e.pid));
      workers_.erase(it);
      return;
    }
  }
  report("unknown-child", "reaped pid " + std::to_string(e.pid) + " that no record names");
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
  ZYG_MARK(e.graceful ? "shutdown.graceful" : "shutdown.fast");
  if (!shutting_down_) {
    report("shutdown", e.graceful ? "graceful stop" : "fast stop");
  } else if (!e.graceful) {
    report("shutdown", "escalated to fast stop");
  }
  shutting_down_ = true;
  restart_.reset();
  if (pending_) {
    stop_zygote(zygote(*pending_));
    pending_.reset();
  }
  for (auto& [id, w] : workers_) {
    if (live(w)) stop_worker(w, StopReason::shutdown);
    if (!e.graceful && w.state != WorkerState::exited_unreaped && !w.last_kill) {
      kill_worker(w, "fast stop");
    }
  }
}

void Supervisor::on(const ev::StatusRequested& e) {
  out_.push_back(cmd::Status{e.request, snapshot()});
}

// ---------------------------------------------------------------------------------------------
// Policies

void Supervisor::reconcile() {
  if (!started_ || exited_) return;
  if (shutting_down_) {
    handle_shutdown_progress();
    return;
  }
  if (restart_ && now_ >= restart_->at && !target_) {
    ScheduledRestart r = *restart_;
    restart_.reset();
    ZYG_MARK("zygote.restart");
    report("zygote-restart", "restarting the zygote of " + r.version + " (attempt " +
                                 std::to_string(r.attempt) + ")");
    target_ = start_zygote(r.version);
    zygote(*target_).restarts = r.attempt;
  }
  rollout_step();
  scale_down_surplus();
  check_probation();
}

// Moves workers toward: `desired_` live workers of the target, none of any other zygote, within
// the budget at every instant and with at most `max_changing` in transition when that is set.
void Supervisor::rollout_step() {
  if (!target_) return;
  Zygote& t = zygote(*target_);
  if (t.state != ZygoteState::loaded) return;
  const int k = config_.max_changing;
  for (;;) {
    const int target_live = live_workers_of(t.id);
    const int total = ZYG_BUG(count_only_serving) ? serving_workers() : workers_in_budget();
    const bool under_limit = k == 0 || changing() < k;
    // The limit paces a rollout; it never keeps capacity below desired - k (a new worker that
    // crashed is replaced even while old ones are still draining).
    const bool below_floor = k != 0 && target_live + old_live_workers() < desired_ - k;
    if (target_live < desired_ && total < config_.budget && (under_limit || below_floor) &&
        now_ >= t.next_spawn_at) {
      request_worker(t);
      continue;
    }
    // Old workers: every live worker that is not the target's. Prefer idle ones, then the ones
    // not yet serving, then busy ones (which finish their request before exiting).
    Worker* pick = nullptr;
    auto rank = [](const Worker& w) {
      switch (w.state) {
        case WorkerState::ready: return 0;
        case WorkerState::starting: return 1;
        default: return 2;
      }
    };
    for (auto& [id, w] : workers_) {
      if (w.zygote == t.id || !live(w)) continue;
      if (!pick || rank(w) < rank(*pick)) pick = &w;
    }
    if (pick && under_limit) {
      if (ZYG_BUG(kill_busy_on_deploy) && pick->state == WorkerState::busy) {
        kill_worker(*pick, "deploy");
        pick->stop = StopReason::deploy;
        pick->state = WorkerState::draining;
        continue;
      }
      stop_worker(*pick, StopReason::deploy);
      continue;
    }
    break;
  }
}

// More live target workers than wanted (scale down): stop the least useful first.
void Supervisor::scale_down_surplus() {
  if (!target_) return;
  int surplus = live_workers_of(*target_) - desired_;
  if (surplus <= 0) return;
  auto rank = [](const Worker& w) {
    switch (w.state) {
      case WorkerState::starting: return 0;
      case WorkerState::ready: return 1;
      default: return 2;
    }
  };
  std::vector<Worker*> candidates;
  for (auto& [id, w] : workers_) {
    if (w.zygote == *target_ && live(w)) candidates.push_back(&w);
  }
  // Newest first within a rank: ids grow, so reverse id order. Stable and deterministic.
  std::stable_sort(candidates.begin(), candidates.end(), [&](Worker* a, Worker* b) {
    if (rank(*a) != rank(*b)) return rank(*a) < rank(*b);
    return a->id > b->id;
  });
  for (int i = 0; i < surplus && i < static_cast<int>(candidates.size()); ++i) {
    stop_worker(*candidates[static_cast<std::size_t>(i)], StopReason::scale_down);
  }
}

void Supervisor::handle_shutdown_progress() {
  if (!workers_.empty()) return;
  bool any_zygote = false;
  for (auto& [id, z] : zygotes_) {
    any_zygote = true;
    if (!z.stop_requested) stop_zygote(z);
  }
  if (any_zygote) return;
  exited_ = true;
  report("exit", "every worker and zygote has exited");
  out_.push_back(cmd::Exit{exit_code_});
}

void Supervisor::check_deadlines() {
  for (auto it = workers_.begin(); it != workers_.end();) {
    Worker& w = it->second;
    if (w.orphaned && !w.pid && now_ - w.since >= config_.lost_worker_timeout) {
      ZYG_MARK("worker.lost");
      report("worker-lost", "worker " + std::to_string(w.id.value) +
                                " was never reported by its dead zygote; slot released");
      it = workers_.erase(it);
      continue;
    }
    if (w.last_kill) {
      if (now_ - *w.last_kill >= config_.kill_retry) {
        ZYG_MARK("kill.repeat");
        kill_worker(w, w.kill_why);
      }
    } else if (w.stop_deadline && now_ >= *w.stop_deadline) {
      ZYG_MARK("kill.graceful-timeout");
      kill_worker(
          w, "did not exit within the graceful timeout of " + ms_text(config_.graceful_timeout));
    } else if (w.state == WorkerState::starting && now_ - w.since >= config_.ready_timeout) {
      ZYG_MARK("kill.not-ready");
      kill_worker(w, "not ready within " + ms_text(config_.ready_timeout));
    } else if ((w.state == WorkerState::ready || w.state == WorkerState::busy) &&
               now_ - w.last_heard >= config_.heartbeat_timeout) {
      ZYG_MARK("kill.hung");
      kill_worker(w, "hung: no heartbeat for " + ms_text(now_ - w.last_heard));
    }
    ++it;
  }
  for (auto& [id, z] : zygotes_) {
    const bool hung = z.awaiting > 0 && now_ - z.awaiting_since >= config_.zygote_timeout;
    if (hung && !z.last_kill && z.pid) {
      ZYG_MARK("zygote.hung");
      report("zygote-hung", "zygote of " + z.version + " left a request unanswered for " +
                                ms_text(now_ - z.awaiting_since) + "; killed");
      kills_ += 1;
      z.last_kill = now_;
      out_.push_back(cmd::KillZygote{z.id, *z.pid});
      continue;
    }
    const bool overdue_load = z.state == ZygoteState::loading && !z.stop_requested &&
                              now_ - z.since >= config_.load_timeout;
    const bool overdue_stop = z.stop_requested && now_ - z.since >= config_.graceful_timeout;
    if (!overdue_load && !overdue_stop) continue;
    if (overdue_load && !z.load_failure_reported) {
      ZYG_MARK("deploy.load-timeout");
      zygote_load_failed(z, "not loaded within " + ms_text(config_.load_timeout));
    }
    if (!z.pid) continue;
    if (!z.last_kill || now_ - *z.last_kill >= config_.kill_retry) {
      z.last_kill = now_;
      out_.push_back(cmd::KillZygote{z.id, *z.pid});
    }
  }
}

// Named rule: deadlines measure time the master was watching. After a stall, every clock that
// could condemn a process moves forward by the gap; messages lost meanwhile are not held
// against anyone.
void Supervisor::forgive_stall(Nanos gap) {
  ZYG_MARK("master.stall");
  report("master-stalled", "no event for " + ms_text(gap) + "; deadlines extended by as much");
  for (auto& [id, w] : workers_) {
    w.last_heard += gap;
    w.since += gap;
    if (w.stop_deadline) *w.stop_deadline += gap;
  }
  for (auto& [id, z] : zygotes_) {
    z.since += gap;
    z.awaiting_since += gap;
  }
}

void Supervisor::check_probation() {
  if (!target_ || proven_) return;
  const Zygote& t = zygote(*target_);
  bool complete = t.state == ZygoteState::loaded && live_workers_of(t.id) == desired_;
  for (const auto& [id, w] : workers_) {
    if (w.zygote != t.id) complete = false;  // old workers still around
    if (w.zygote == t.id && w.state == WorkerState::starting) complete = false;
  }
  // The clock starts when the rollout first completes; normal churn afterwards (a worker
  // retiring at its limit, scaling) does not restart it, a failure of the new version does.
  if (!rollout_complete_at_) {
    if (!complete) return;
    rollout_complete_at_ = now_;
  }
  if (now_ - *rollout_complete_at_ < config_.probation) return;
  proven_ = true;
  ZYG_MARK("deploy.proven");
  report("proven", t.version + " has run " + ms_text(config_.probation) +
                       " since its rollout completed, without a failure");
  if (fallback_) {
    stop_zygote(zygote(*fallback_));
    fallback_.reset();
  }
}

void Supervisor::begin_rollout(ZygoteId loaded) {
  Zygote& z = zygote(loaded);
  if (target_) {
    Zygote& previous = zygote(*target_);
    if (proven_ && !previous.load_failure_reported) {
      // The serving version is proven: keep its zygote resident for instant rollback (once a
      // restarted one has loaded again, if it was restarting).
      if (fallback_) stop_zygote(zygote(*fallback_));
      fallback_ = previous.id;
    } else {
      // Superseded before it proved itself: its workers drain when their zygote exits.
      ZYG_MARK("deploy.supersede-rollout");
      report("superseded", previous.version + " replaced before it proved itself");
      stop_zygote(previous);
    }
  } else if (restart_) {
    // The serving version's zygote died and waits for its restart: start it now, as the
    // fallback the new version must prove itself against.
    fallback_ = start_zygote(restart_->version);
    zygote(*fallback_).restarts = restart_->attempt;
    restart_.reset();
  }
  target_ = loaded;
  proven_ = !fallback_;
  rollout_complete_at_.reset();
  ZYG_MARK("deploy.rollout");
  report("rollout", z.version + " loaded; replacing workers");
}

void Supervisor::roll_back(const std::string& why) {
  Zygote& bad = zygote(*target_);
  Zygote& good = zygote(*fallback_);
  ZYG_MARK("rollback.crash-loop");
  report("rollback", bad.version + " rolled back to " + good.version + ": " + why);
  mark_failed(bad.version);
  target_ = good.id;
  fallback_.reset();
  proven_ = true;
  rollout_complete_at_.reset();
  stop_zygote(bad);
}

void Supervisor::record_worker_failure(Zygote& z, const Worker& w, const std::string& what) {
  z.consecutive_failures += 1;
  if (w.served == 0) z.early_failures += 1;
  if (target_ == z.id && !proven_) rollout_complete_at_.reset();  // probation starts over
  ZYG_MARK("respawn.backoff");
  z.next_spawn_at = now_ + backoff_delay(z.consecutive_failures);
  report("worker-failed", "worker " + std::to_string(w.id.value) + " of " + z.version + " " + what +
                              "; next spawn in " + ms_text(z.next_spawn_at - now_));
  const bool crash_loop = z.early_failures >= config_.crash_loop_limit;
  if (crash_loop && target_ == z.id && !proven_ && fallback_ &&
      zygote(*fallback_).state == ZygoteState::loaded) {
    roll_back(std::to_string(z.early_failures) + " workers died before serving a request");
  }
}

void Supervisor::zygote_load_failed(Zygote& z, const std::string& reason) {
  if (z.load_failure_reported) return;
  z.load_failure_reported = true;
  ZYG_MARK("deploy.load-failed");
  report("load-failed", z.version + " failed to load: " + reason);
  mark_failed(z.version);
  if (zygotes_.count(z.id) != 0) stop_zygote(z);
  if (!ever_loaded_ && target_ == z.id && !shutting_down_ && last_good_) {
    // The version on disk does not load, but the last one that served is known: serve it.
    ZYG_MARK("start.last-good");
    report("fallback", "starting the last version that served, " + *last_good_);
    target_.reset();
    target_ = start_zygote(*std::exchange(last_good_, std::nullopt));
    return;
  }
  if (!ever_loaded_ && target_ == z.id && !shutting_down_) {
    // Nothing has ever served: there is no version to keep running. Say so and stop.
    ZYG_MARK("start.no-version");
    report("no-version", "the first version failed to load; stopping");
    exit_code_ = exit_code::load_failed;
    shutting_down_ = true;
  }
}

// The target's zygote is gone (crashed, or a restart failed to load). Named rule: an unproven
// version whose zygote dies is rolled back; a proven one is restarted with backoff.
void Supervisor::zygote_crashed(const Zygote& z, ExitStatus status) {
  if (!z.load_failure_reported) {
    report("zygote-crash", "zygote of " + z.version + " exited: " + to_string(status));
  }
  if (!proven_ && fallback_ && zygote(*fallback_).state == ZygoteState::loaded) {
    ZYG_MARK("rollback.zygote-died");
    report("rollback", z.version + " rolled back: its zygote died before it proved itself");
    mark_failed(z.version);
    target_ = *fallback_;
    fallback_.reset();
    proven_ = true;
    rollout_complete_at_.reset();
    return;
  }
  const int attempt = z.restarts + 1;
  restart_ = ScheduledRestart{z.version, now_ + backoff_delay(attempt), attempt};
}

// ---------------------------------------------------------------------------------------------
// Actions

ZygoteId Supervisor::start_zygote(const Version& v) {
  ZygoteId id{next_zygote_++};
  Zygote z;
  z.id = id;
  z.version = v;
  z.since = now_;
  zygotes_.emplace(id, z);
  out_.push_back(cmd::StartZygote{id, v});
  return id;
}

void Supervisor::request_worker(Zygote& z) {
  assert(ZYG_BUG(count_only_serving) || workers_in_budget() < config_.budget);
  Worker w;
  w.id = WorkerId{next_worker_++};
  w.zygote = z.id;
  w.version = z.version;
  w.since = now_;
  w.last_heard = now_;
  workers_.emplace(w.id, w);
  out_.push_back(cmd::RequestWorker{z.id, w.id});
  expect_reply(z.id);
}

void Supervisor::stop_worker(Worker& w, StopReason why) {
  if (!live(w)) return;
  w.stop = why;
  w.state = WorkerState::draining;
  w.since = now_;
  if (w.orphaned) {
    // We are its parent and signal it now: the drain starts now.
    w.stop_deadline = now_ + config_.graceful_timeout;
    if (w.pid) out_.push_back(cmd::StopWorker{w.id, ZygoteId{}, *w.pid, why});
  } else {
    // The drain starts when the zygote has passed the SIGTERM on (ev::WorkerSignalled), or at
    // its death; a zygote that never answers is killed as hung.
    out_.push_back(cmd::StopWorker{w.id, w.zygote, w.pid.value_or(0), why});
    expect_reply(w.zygote);
  }
}

void Supervisor::kill_worker(Worker& w, const std::string& why) {
  if (!w.orphaned) {
    out_.push_back(cmd::KillWorker{w.id, w.zygote, w.pid.value_or(0), why});
    expect_reply(w.zygote);
  } else if (w.pid) {
    out_.push_back(cmd::KillWorker{w.id, ZygoteId{}, *w.pid, why});
  }
  if (!w.last_kill) {
    kills_ += 1;
    report("kill", "worker " + std::to_string(w.id.value) + " of " + w.version + " killed: " + why);
  }
  w.kill_why = why;
  w.last_kill = now_;
}

void Supervisor::stop_zygote(Zygote& z) {
  if (z.stop_requested) return;
  z.stop_requested = true;
  z.since = now_;
  if (z.state != ZygoteState::exited_unreaped) z.state = ZygoteState::stopping;
  out_.push_back(cmd::StopZygote{z.id});
  // Its workers will get SIGTERM when it exits; they are no longer wanted.
  for (auto& [id, w] : workers_) {
    if (w.zygote == z.id && live(w)) {
      w.stop = shutting_down_ ? StopReason::shutdown : StopReason::zygote_gone;
      w.state = WorkerState::draining;
      w.since = now_;  // its drain starts at the zygote's exit (ev::ZygoteExited)
    }
  }
}

void Supervisor::expect_reply(ZygoteId id) {
  Zygote* z = find(id);
  if (!z) return;
  if (z->awaiting++ == 0) z->awaiting_since = now_;
}

void Supervisor::report(std::string what, std::string detail) {
  out_.push_back(cmd::Report{std::move(what), std::move(detail)});
}

// ---------------------------------------------------------------------------------------------
// Queries

Supervisor::Zygote* Supervisor::find(ZygoteId id) {
  auto it = zygotes_.find(id);
  return it == zygotes_.end() ? nullptr : &it->second;
}

const Supervisor::Zygote* Supervisor::find(ZygoteId id) const {
  auto it = zygotes_.find(id);
  return it == zygotes_.end() ? nullptr : &it->second;
}

// For ids the deploy state holds (target_, pending_, fallback_): they always name a record.
Supervisor::Zygote& Supervisor::zygote(ZygoteId id) { return zygotes_.at(id); }
const Supervisor::Zygote& Supervisor::zygote(ZygoteId id) const { return zygotes_.at(id); }

Supervisor::Worker* Supervisor::find(WorkerId id) {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

bool Supervisor::live(const Worker& w) const {
  return w.state == WorkerState::starting || w.state == WorkerState::ready ||
         w.state == WorkerState::busy;
}

int Supervisor::old_live_workers() const {
  int n = 0;
  for (const auto& [id, w] : workers_) n += (live(w) && target_ && w.zygote != *target_) ? 1 : 0;
  return n;
}

int Supervisor::serving_workers() const {
  int n = 0;
  for (const auto& [id, w] : workers_) {
    n += (w.state == WorkerState::ready || w.state == WorkerState::busy) ? 1 : 0;
  }
  return n;
}

int Supervisor::live_workers_of(ZygoteId z) const {
  int n = 0;
  for (const auto& [id, w] : workers_) n += (w.zygote == z && live(w)) ? 1 : 0;
  return n;
}

int Supervisor::changing() const {
  int n = 0;
  for (const auto& [id, w] : workers_) {
    const bool new_not_ready = target_ && w.zygote == *target_ && w.state == WorkerState::starting;
    const bool leaving = !live(w);
    n += (new_not_ready || leaving) ? 1 : 0;
  }
  return n;
}

Nanos Supervisor::backoff_delay(int failures) const {
  if (failures <= 0) return Nanos{0};
  Nanos d = config_.backoff_base;
  for (int i = 1; i < failures && d < config_.backoff_max; ++i) d *= 2;
  return std::min(d, config_.backoff_max);
}

void Supervisor::mark_failed(const Version& v) {
  if (std::find(failed_versions_.begin(), failed_versions_.end(), v) == failed_versions_.end()) {
    failed_versions_.push_back(v);
  }
}

std::optional<Version> Supervisor::proven_version() const {
  if (!target_ || !proven_) return std::nullopt;
  const Zygote& t = zygote(*target_);
  if (t.state != ZygoteState::loaded) return std::nullopt;
  return t.version;
}

std::optional<Supervisor::WorkerRoute> Supervisor::route(WorkerId id) const {
  auto it = workers_.find(id);
  if (it == workers_.end()) return std::nullopt;
  return WorkerRoute{it->second.zygote, it->second.pid, it->second.orphaned};
}

std::optional<Pid> Supervisor::zygote_pid(ZygoteId id) const {
  const Zygote* z = find(id);
  return z ? z->pid : std::nullopt;
}

std::optional<Version> Supervisor::zygote_version(ZygoteId id) const {
  const Zygote* z = find(id);
  if (!z) return std::nullopt;
  return z->version;
}

std::optional<WorkerId> Supervisor::orphan_with_pid(Pid pid) const {
  for (const auto& [id, w] : workers_) {
    if (w.orphaned && w.pid == pid) return id;
  }
  return std::nullopt;
}

StatusSnapshot Supervisor::snapshot() const {
  StatusSnapshot s;
  s.budget = config_.budget;
  s.desired = desired_;
  if (target_) s.serving = zygote(*target_).version;
  if (pending_) s.loading = zygote(*pending_).version;
  if (fallback_) s.fallback = zygote(*fallback_).version;
  s.serving_proven = proven_;
  s.shutting_down = shutting_down_;
  s.zygotes = static_cast<int>(zygotes_.size());
  s.failed_versions = failed_versions_;
  for (const auto& [id, z] : zygotes_) {
    ProcessInfo p;
    p.role = Role::zygote;
    p.id = id.value;
    p.pid = z.pid;
    p.version = z.version;
    p.state = to_string(z.state);
    p.kill_sent = z.last_kill.has_value();
    s.processes.push_back(p);
  }
  for (const auto& [id, w] : workers_) {
    switch (w.state) {
      case WorkerState::starting: s.workers.starting++; break;
      case WorkerState::ready: s.workers.ready++; break;
      case WorkerState::busy: s.workers.busy++; break;
      case WorkerState::draining: s.workers.draining++; break;
      case WorkerState::exited_unreaped: s.workers.exited_unreaped++; break;
    }
    ProcessInfo p;
    p.role = Role::worker;
    p.id = id.value;
    p.pid = w.pid;
    p.version = w.version;
    p.state = to_string(w.state);
    p.zygote = w.zygote.value;
    p.orphaned = w.orphaned;
    if (w.stop != StopReason::none) p.stop = to_string(w.stop);
    p.kill_sent = w.last_kill.has_value();
    s.processes.push_back(p);
  }
  return s;
}

}  // namespace zyg
