#include "core/check.hpp"

#include <algorithm>

namespace zyg::check {

namespace {
constexpr int kZygotesWanted = 3;    // fallback, serving, loading
constexpr int kRepeatsReported = 5;  // after this many of one kind, the rest are only counted
}  // namespace

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::server_error: return "5xx";
    case Outcome::dropped: return "dropped";
    case Outcome::lost_to_fault: return "lost-to-fault";
    case Outcome::abandoned: return "abandoned";
    case Outcome::retried: return "retried";
    case Outcome::refused: return "refused";
  }
  return "?";
}

void Checker::fail(Nanos t, const std::string& what) {
  // Repeats of one kind (the text before the first colon) are counted, not listed.
  const std::string kind = what.substr(0, what.find(':'));
  if (++reported_[kind] > kRepeatsReported) return;
  violations_.push_back({t, what});
}

int Checker::workers_existing() const {
  int n = 0;
  for (const auto& [id, p] : procs_) n += p.role == Role::worker ? 1 : 0;
  return n;
}

int Checker::zygotes_existing() const {
  int n = 0;
  for (const auto& [id, p] : procs_) n += p.role == Role::zygote ? 1 : 0;
  return n;
}

void Checker::check_budget(Nanos t) {
  const int workers = workers_existing();
  counts_.peak_workers = std::max(counts_.peak_workers, workers);
  counts_.peak_zygotes = std::max(counts_.peak_zygotes, zygotes_existing());
  if (workers > budget_) {
    fail(t, "budget: " + std::to_string(workers) + " worker processes exist, budget " +
                std::to_string(budget_));
  }
}

void Checker::process_started(Nanos t, ProcId id, Pid pid, Role role, const Version& version,
                              std::uint64_t serial, int generation) {
  procs_[id] = Proc{pid, role, version, serial, generation, false, false};
  check_budget(t);
}

void Checker::process_exited(Nanos, ProcId id) {
  auto it = procs_.find(id);
  if (it != procs_.end()) it->second.exited = true;
}

void Checker::process_reaped(Nanos t, ProcId id) {
  procs_.erase(id);
  check_budget(t);
}

void Checker::signal_sent(Nanos t, ProcId sender, Pid target_pid, bool target_is_senders_child,
                          const std::string& signal) {
  counts_.signals += 1;
  if (sender == 0 || target_is_senders_child) return;
  fail(t, "signal: " + signal + " sent to pid " + std::to_string(target_pid) +
              ", which is not the sender's unreaped child (the pid may have been reused)");
}

void Checker::drain_began(Nanos, ProcId id) {
  auto it = procs_.find(id);
  if (it != procs_.end()) it->second.draining = true;
}

void Checker::accepted(Nanos t, ProcId id) {
  counts_.accepts += 1;
  auto it = procs_.find(id);
  if (it == procs_.end()) return;
  if (it->second.role != Role::front) {
    fail(t, std::string("routing: a ") + to_string(it->second.role) + " (pid " +
                std::to_string(it->second.pid) + ") accepted a connection; only the front does");
  }
}

void Checker::connection_received(Nanos t, ProcId id) {
  counts_.handoffs += 1;
  auto it = procs_.find(id);
  if (it == procs_.end() || it->second.role == Role::front) return;  // given back
  if (it->second.role != Role::worker) {
    fail(t, std::string("routing: a ") + to_string(it->second.role) + " (pid " +
                std::to_string(it->second.pid) + ") received a connection");
  } else if (it->second.draining) {
    fail(t, "routing: worker pid " + std::to_string(it->second.pid) + " of " + it->second.version +
                " took a connection after it began draining");
  }
}

void Checker::request_finished(Nanos t, Outcome outcome, const std::string& detail) {
  counts_.requests += 1;
  counts_.outcomes[outcome] += 1;
  if (outcome == Outcome::dropped || outcome == Outcome::server_error ||
      outcome == Outcome::refused) {
    fail(t, std::string("request: ") + to_string(outcome) + ": " + detail);
  }
}

void Checker::master_view(Nanos t, int generation, const StatusSnapshot& view) {
  int wanted_zygotes = 0;
  std::map<std::uint64_t, const ProcessInfo*> workers;
  std::map<std::uint64_t, const ProcessInfo*> zygotes;
  for (const ProcessInfo& p : view.processes) {
    if (p.role == Role::worker) {
      workers[p.id] = &p;
    } else if (p.role == Role::zygote) {
      zygotes[p.id] = &p;
      if (p.state != "stopping" && p.state != "exited-unreaped") ++wanted_zygotes;
    }
  }
  // Nothing of the serving version is stopped for a deploy until the new version has loaded:
  // judged at the step that stops it.
  if (generation != view_generation_) {
    view_generation_ = generation;
    stopped_for_deploy_.clear();
  }
  for (const auto& [id, p] : workers) {
    if (p->stop != "deploy" || !stopped_for_deploy_.insert(id).second) continue;
    if (!view.loading.empty() && p->version == view.serving) {
      fail(t, "deploy-order: a worker of the serving version " + view.serving +
                  " was stopped for a deploy while " + view.loading + " is still loading");
    }
  }
  if (wanted_zygotes > kZygotesWanted) {
    fail(t, "zygotes: the master wants " + std::to_string(wanted_zygotes) + " zygotes, bound " +
                std::to_string(kZygotesWanted));
  }
  if (view.workers.total() > view.budget) {
    fail(t, "budget: the master accounts " + std::to_string(view.workers.total()) +
                " workers, budget " + std::to_string(view.budget));
  }
  for (const auto& [id, p] : procs_) {
    if (p.generation != generation) continue;
    if (p.role == Role::worker || p.role == Role::zygote) {
      const auto& known = p.role == Role::worker ? workers : zygotes;
      auto it = known.find(p.serial);
      const char* role = p.role == Role::worker ? "worker" : "zygote";
      if (it == known.end()) {
        fail(t, std::string("agreement: ") + role + " pid " + std::to_string(p.pid) + " (id " +
                    std::to_string(p.serial) + ") exists but the master has no record of it");
      } else if (it->second->pid && *it->second->pid != p.pid) {
        fail(t, std::string("agreement: the master records ") + role + " " +
                    std::to_string(p.serial) + " as pid " + std::to_string(*it->second->pid) +
                    ", the kernel as pid " + std::to_string(p.pid));
      }
    }
  }
}

}  // namespace zyg::check
