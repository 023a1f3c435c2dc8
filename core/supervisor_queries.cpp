// Read-only views of the supervisor's state.
#include "core/supervisor.hpp"

#include <algorithm>
#include <utility>

#include "core/marks.hpp"
#include "core/teeth.hpp"

namespace zyg {

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

// For ids the deploy state holds (serving_, loading_, fallback_): they always name a record.
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
  for (const auto& [id, w] : workers_) n += (live(w) && serving_ && w.zygote != *serving_) ? 1 : 0;
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
    const bool new_not_ready =
        serving_ && w.zygote == *serving_ && w.state == WorkerState::starting;
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

void Supervisor::mark_failed(const Version& v, const std::string& reason) {
  if (std::find(failed_versions_.begin(), failed_versions_.end(), v) == failed_versions_.end()) {
    failed_versions_.push_back(v);
  }
  constexpr std::size_t kFailuresKept = 8;
  if (failures_.size() == kFailuresKept) failures_.erase(failures_.begin());
  failures_.push_back(Failure{v, reason, ++failure_count_});
}

std::optional<Version> Supervisor::proven_version() const {
  if (!serving_ || !proven_) return std::nullopt;
  const Zygote& t = zygote(*serving_);
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

bool Supervisor::knows_pid(Pid pid) const {
  for (const auto& [id, w] : workers_) {
    if (w.pid == pid) return true;
  }
  for (const auto& [id, z] : zygotes_) {
    if (z.pid == pid) return true;
  }
  return front_.exists && front_.pid == pid;
}

DeployPhase Supervisor::phase() const {
  if (loading_) return DeployPhase::loading;
  if (proven_) return DeployPhase::serving;
  return rollout_complete_at_ ? DeployPhase::probation : DeployPhase::rolling_out;
}

StatusSnapshot Supervisor::snapshot() const {
  StatusSnapshot s;
  s.phase = phase();
  s.budget = config_.budget;
  s.desired = desired_;
  if (serving_) s.serving = zygote(*serving_).version;
  if (loading_) s.loading = zygote(*loading_).version;
  if (fallback_) s.fallback = zygote(*fallback_).version;
  s.serving_proven = proven_;
  s.shutting_down = shutting_down_ || stop_at_.has_value();
  s.zygotes = static_cast<int>(zygotes_.size());
  s.failed_versions = failed_versions_;
  s.failures = failures_;
  s.front.generation = front_.generation;
  if (front_.exists) s.front.pid = front_.pid;
  s.front.stopping = front_.exists && front_.stop_sent.has_value();
  s.front.kill_sent = front_.exists && front_.last_kill.has_value();
  s.front.connections = front_.stats.connections;
  s.front.waiting = front_.stats.waiting;
  s.front.handoffs = front_.stats.handoffs;
  s.front.restarts = front_.restarts;
  for (const auto& [id, z] : zygotes_) {
    ProcessInfo p;
    p.role = Role::zygote;
    p.id = id.value;
    p.pid = z.pid;
    p.version = z.version;
    p.state = to_string(z.state);
    p.app = z.app;
    p.kill_sent = z.last_kill.has_value();
    p.since = z.since;
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
    p.since = w.since;
    p.served = w.served;
    s.processes.push_back(p);
  }
  s.now = now_;
  s.reports = report_counts_;
  s.worker_exits = worker_exits_;
  s.timeline = timeline_;
  return s;
}

}  // namespace zyg
