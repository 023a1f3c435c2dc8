// The supervisor's policies and the actions they take.
#include "core/supervisor.hpp"

#include <algorithm>
#include <utility>

#include "core/assert.hpp"
#include "core/marks.hpp"
#include "core/teeth.hpp"

namespace zyg {

// ---------------------------------------------------------------------------------------------
// Policies

void Supervisor::reconcile() {
  if (!started_ || exited_) return;
  if (stop_at_ && now_ >= *stop_at_) {
    stop_at_.reset();
    begin_shutdown(true);
  }
  if (shutting_down_) {
    handle_shutdown_progress();
    return;
  }
  keep_front();
  if (restart_ && now_ >= restart_->at && !serving_) {
    ScheduledRestart r = *restart_;
    restart_.reset();
    ZYG_MARK("zygote.restart");
    report("zygote-restart", "restarting the zygote of " + r.version + " (attempt " +
                                 std::to_string(r.attempt) + ")");
    serving_ = start_zygote(r.version);
    zygote(*serving_).restarts = r.attempt;
  }
  rollout_step();
  scale_down_surplus();
  check_probation();
}

// Moves workers toward: `desired_` live workers of the serving zygote, none of any other, within
// the budget at every instant and with at most `max_changing` in transition when that is set.
void Supervisor::rollout_step() {
  if (!serving_) return;
  Zygote& t = zygote(*serving_);
  if (t.state != ZygoteState::loaded) return;
  const int k = config_.max_changing;
  for (;;) {
    const int serving_live = live_workers_of(t.id);
    const int total = ZYG_BUG(count_only_serving) ? serving_workers() : workers_in_budget();
    const bool under_limit = k == 0 || changing() < k;
    // The limit paces a rollout; it never keeps capacity below desired - k (a new worker that
    // crashed is replaced even while old ones are still draining).
    const bool below_floor = k != 0 && serving_live + old_live_workers() < desired_ - k;
    if (serving_live < desired_ && total < config_.budget && (under_limit || below_floor) &&
        now_ >= t.next_spawn_at) {
      request_worker(t);
      continue;
    }
    // Old workers: every live worker that is not the serving zygote's. Prefer idle ones, then the
    // ones not yet serving, then busy ones (which finish their request before exiting).
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
        set_state(*pick, WorkerState::draining);
        continue;
      }
      stop_worker(*pick, StopReason::deploy);
      continue;
    }
    break;
  }
}

// More live serving workers than wanted (scale down): stop the least useful first.
void Supervisor::scale_down_surplus() {
  if (!serving_) return;
  int surplus = live_workers_of(*serving_) - desired_;
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
    if (w.zygote == *serving_ && live(w)) candidates.push_back(&w);
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
  if (front_.exists) {
    stop_front();  // once: a first load that failed ends the server here too
    // Until it is gone, what it hands on needs a worker: one that retires or dies meanwhile is
    // replaced (not once the front is being killed: a fast stop, or the graceful deadline).
    if (!front_.last_kill) rollout_step();
    return;
  }
  for (auto& [id, w] : workers_) {
    if (live(w)) stop_worker(w, StopReason::shutdown);
  }
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
  check_front_deadlines();
  for (auto it = workers_.begin(); it != workers_.end();) {
    Worker& w = it->second;
    if (w.orphaned && !w.pid && now_ - w.since >= config_.lost_worker_timeout) {
      // Its process may exist, stopped before it could say so: ask which children the master
      // cannot name before releasing the slot (ev::ChildrenListed).
      if (!children_asked_) {
        children_asked_ = true;
        out_.push_back(cmd::ListChildren{});
      }
      ++it;
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
  front_.last_heard += gap;
  if (front_.stop_sent) *front_.stop_sent += gap;
}

void Supervisor::check_probation() {
  if (!serving_ || proven_) return;
  const Zygote& t = zygote(*serving_);
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
  milestone("proven", t.version);
  report("proven", t.version + " has run " + ms_text(config_.probation) +
                       " since its rollout completed, without a failure");
  if (fallback_) {
    stop_zygote(zygote(*fallback_));
    fallback_.reset();
  }
}

void Supervisor::begin_rollout(ZygoteId loaded) {
  Zygote& z = zygote(loaded);
  if (serving_) {
    Zygote& previous = zygote(*serving_);
    if (proven_ && !previous.load_failure_reported) {
      // The serving version is proven: keep its zygote resident for instant rollback (once a
      // restarted one has loaded again, if it was restarting).
      if (fallback_) stop_zygote(zygote(*fallback_));
      fallback_ = previous.id;
    } else {
      // Superseded before it proved itself: its workers drain when their zygote exits.
      ZYG_MARK("deploy.supersede-rollout");
      milestone("superseded", previous.version);
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
  serving_ = loaded;
  proven_ = !fallback_;
  rollout_complete_at_.reset();
  ZYG_MARK("deploy.rollout");
  milestone("rollout", z.version);
  report("rollout", z.version + " loaded; replacing workers");
}

void Supervisor::roll_back(const std::string& why) {
  Zygote& bad = zygote(*serving_);
  Zygote& good = zygote(*fallback_);
  ZYG_MARK("rollback.crash-loop");
  milestone("rollback", bad.version);
  report("rollback", bad.version + " rolled back to " + good.version + ": " + why);
  mark_failed(bad.version, "rolled back to " + good.version + ": " + why);
  serving_ = good.id;
  fallback_.reset();
  proven_ = true;
  rollout_complete_at_.reset();
  stop_zygote(bad);
}

void Supervisor::record_worker_failure(Zygote& z, const Worker& w, const std::string& what) {
  z.consecutive_failures += 1;
  if (w.served == 0) z.early_failures += 1;
  if (serving_ == z.id && !proven_) rollout_complete_at_.reset();  // probation starts over
  ZYG_MARK("respawn.backoff");
  z.next_spawn_at = now_ + backoff_delay(z.consecutive_failures);
  report("worker-failed", "worker " + std::to_string(w.id.value) + " of " + z.version + " " + what +
                              "; next spawn in " + ms_text(z.next_spawn_at - now_));
  const bool crash_loop = z.early_failures >= config_.crash_loop_limit;
  if (crash_loop && serving_ == z.id && !proven_ && fallback_ &&
      zygote(*fallback_).state == ZygoteState::loaded) {
    roll_back(std::to_string(z.early_failures) + " workers died before serving a request");
  }
}

void Supervisor::zygote_load_failed(Zygote& z, const std::string& reason) {
  if (z.load_failure_reported) return;
  z.load_failure_reported = true;
  ZYG_MARK("deploy.load-failed");
  milestone("load-failed", z.version);
  report("load-failed", z.version + " failed to load: " + reason);
  mark_failed(z.version, "failed to load: " + reason);
  if (zygotes_.count(z.id) != 0) stop_zygote(z);
  if (!ever_loaded_ && serving_ == z.id && !shutting_down_ && last_good_) {
    // The version on disk does not load, but the last one that served is known: serve it.
    ZYG_MARK("start.last-good");
    report("fallback", "starting the last version that served, " + *last_good_);
    serving_.reset();
    serving_ = start_zygote(*std::exchange(last_good_, std::nullopt));
    return;
  }
  if (!ever_loaded_ && serving_ == z.id && !shutting_down_) {
    // Nothing has ever served: there is no version to keep running. Say so and stop.
    ZYG_MARK("start.no-version");
    report("no-version", "the first version failed to load; stopping");
    exit_code_ = exit_code::load_failed;
    shutting_down_ = true;
    kill_front("no version to serve");  // no worker will ever take what it holds
  }
}

// The serving zygote is gone (crashed, or a restart failed to load). Named rule: an unproven
// version whose zygote dies is rolled back; a proven one is restarted with backoff.
void Supervisor::zygote_crashed(const Zygote& z, ExitStatus status) {
  if (!z.load_failure_reported) {
    report("zygote-crash", "zygote of " + z.version + " exited: " + to_string(status));
  }
  if (!proven_ && fallback_ && zygote(*fallback_).state == ZygoteState::loaded) {
    ZYG_MARK("rollback.zygote-died");
    milestone("rollback", z.version);
    report("rollback", z.version + " rolled back: its zygote died before it proved itself");
    mark_failed(z.version,
                "rolled back: its zygote died (" + to_string(status) + ") before it proved itself");
    serving_ = *fallback_;
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
  ZYG_ASSERT(ZYG_BUG(count_only_serving) || workers_in_budget() < config_.budget,
             workers_in_budget(), " workers in a budget of ", config_.budget);
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
  set_state(w, WorkerState::draining);
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
  milestone("stopped", z.version);
  if (z.state != ZygoteState::exited_unreaped) z.state = ZygoteState::stopping;
  out_.push_back(cmd::StopZygote{z.id});
  // Its workers will get SIGTERM when it exits; they are no longer wanted.
  for (auto& [id, w] : workers_) {
    if (w.zygote == z.id && live(w)) {
      w.stop = shutting_down_ ? StopReason::shutdown : StopReason::zygote_gone;
      set_state(w, WorkerState::draining);  // its drain starts at the zygote's exit
    }
  }
}

void Supervisor::set_state(Worker& w, WorkerState to) {
  ZYG_ASSERT(legal_transition(w.state, to), "worker ", w.id.value, " of ", w.version, ": ",
             to_string(w.state), " -> ", to_string(to), " is not in kWorkerTransitions");
  w.state = to;
  w.since = now_;
}

void Supervisor::expect_reply(ZygoteId id) {
  Zygote* z = find(id);
  if (!z) return;
  if (z->awaiting++ == 0) z->awaiting_since = now_;
}

void Supervisor::report(std::string what, std::string detail) {
  report_counts_[what] += 1;
  out_.push_back(cmd::Report{std::move(what), std::move(detail)});
}

void Supervisor::milestone(const char* what, const Version& v) {
  constexpr std::size_t kTimelineKept = 64;
  if (timeline_.size() == kTimelineKept) timeline_.erase(timeline_.begin());
  timeline_.push_back({now_, what, v});
}

}  // namespace zyg
