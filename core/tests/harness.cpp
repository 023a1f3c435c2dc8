#include "core/tests/harness.hpp"

#include <gtest/gtest.h>

#include <variant>

namespace zyg::testing {

Harness::Harness(SupervisorConfig config) : sup_(std::move(config)) {
  event_lines_.push_back(event_log::header_line(sup_.config()));
}

Commands Harness::feed(const Event& e) {
  log_.push_back("> " + describe(e));
  Commands cmds = sup_.step(e, now_);
  event_lines_.push_back(event_log::step_line(now_, e, cmds, sup_.snapshot()));
  apply(cmds);

  std::vector<Event> replies;
  replies.swap(replies_);
  for (const Event& r : replies) feed(r);
  EXPECT_LE(existing_workers(), sup_.config().budget) << "budget exceeded after " << describe(e);
  EXPECT_LE(sup_.workers_in_budget(), sup_.config().budget);
  // The supervisor's count is never below what exists: it counts from the request to the reap.
  EXPECT_GE(sup_.workers_in_budget(), existing_workers()) << "after " << describe(e);
  return cmds;
}

Commands Harness::stall(Nanos d) {
  now_ += d;
  return feed(ev::Tick{});
}

// Time passes in ticks, as the master loop feeds them (a longer gap would read as a stall).
Commands Harness::advance(Nanos d) {
  constexpr Nanos kTick = 100ms;
  Commands last;
  while (d > Nanos{0}) {
    const Nanos step = std::min(d, kTick);
    now_ += step;
    d -= step;
    last = feed(ev::Tick{});
  }
  return last;
}

void Harness::apply(const Commands& cmds) {
  for (const Command& c : cmds) {
    log_.push_back("< " + describe(c));
    if (auto* x = std::get_if<cmd::StartZygote>(&c)) zygote_version_[x->zygote] = x->version;
    if (auto* x = std::get_if<cmd::RequestWorker>(&c)) {
      if (!unresponsive_.count(x->zygote)) replies_.push_back(ev::ZygoteReplied{x->zygote});
      requested_[x->worker] = x->zygote;
      exists_[x->worker] = zygote_version_.at(x->zygote);  // counted from the request on
    }
    if (auto* x = std::get_if<cmd::StopWorker>(&c);
        x && x->via.value != 0 && !unresponsive_.count(x->via)) {
      replies_.push_back(ev::ZygoteReplied{x->via});
      replies_.push_back(ev::WorkerSignalled{x->worker, true});
    }
    if (auto* x = std::get_if<cmd::KillWorker>(&c);
        x && x->via.value != 0 && !unresponsive_.count(x->via)) {
      replies_.push_back(ev::ZygoteReplied{x->via});
    }
    if (auto* x = std::get_if<cmd::StopWorker>(&c)) {
      stopped_.insert(x->worker);
      stopping_.insert(x->worker);
    }
    if (auto* x = std::get_if<cmd::KillWorker>(&c)) killed_.insert(x->worker);
    if (auto* x = std::get_if<cmd::StopZygote>(&c)) zygotes_stopped_.insert(x->zygote);
    // The front starts at once and, unless told to hang, stops as soon as it is asked to.
    if (auto* x = std::get_if<cmd::StartFront>(&c)) {
      front_generation_ = x->generation;
      front_pid_ = next_pid_++;
      replies_.push_back(ev::FrontSpawned{x->generation, front_pid_});
    }
    if (std::holds_alternative<cmd::StopFront>(c) && !front_ignores_stop_) {
      replies_.push_back(ev::FrontExited{front_generation_, ExitStatus::exited(0)});
    }
    if (std::holds_alternative<cmd::KillFront>(c)) {
      replies_.push_back(ev::FrontExited{front_generation_, ExitStatus::killed_by(9)});
    }
    if (std::holds_alternative<cmd::ListChildren>(c)) {
      // Truthful, as the OS would be: a worker that exists and was never reported spawned is
      // a child the master cannot name, besides the strangers a test sets.
      std::vector<Pid> unknown = unknown_children_;
      for (const auto& [w, z] : requested_) {
        if (exists_.count(w)) unknown.push_back(900000 + static_cast<Pid>(w.value));
      }
      replies_.push_back(ev::ChildrenListed{unknown});
    }

    if (auto* x = std::get_if<cmd::Exit>(&c)) {
      exited_ = true;
      exit_code_ = x->code;
    }
  }
  peak_ = std::max(peak_, existing_workers());
}

ZygoteId Harness::start(const Version& v) {
  Commands cmds = feed(ev::Start{v, std::nullopt});
  for (const Command& c : cmds) {
    if (auto* x = std::get_if<cmd::StartZygote>(&c)) return x->zygote;
  }
  ADD_FAILURE() << "Start did not start a zygote";
  return {};
}

ZygoteId Harness::deploy(const Version& v) {
  Commands cmds = feed(ev::DeployRequested{v});
  for (const Command& c : cmds) {
    if (auto* x = std::get_if<cmd::StartZygote>(&c)) return x->zygote;
  }
  return {};
}

void Harness::load(ZygoteId z) {
  feed(ev::ZygoteSpawned{z, next_pid_++});
  feed(ev::ZygoteLoaded{z});
}

void Harness::fail_load(ZygoteId z) {
  feed(ev::ZygoteSpawned{z, next_pid_++});
  feed(ev::ZygoteLoadFailed{z, "ImportError: broken release"});
  feed(ev::ZygoteExited{z, ExitStatus::exited(exit_code::load_failed)});
}

void Harness::zygote_exit(ZygoteId z, ExitStatus s) { feed(ev::ZygoteExited{z, s}); }

std::vector<WorkerId> Harness::spawn_all() {
  std::vector<WorkerId> spawned;
  // Spawning may free nothing, but responses can trigger further requests: loop until quiet.
  while (!requested_.empty()) {
    auto [w, z] = *requested_.begin();
    requested_.erase(requested_.begin());
    feed(ev::WorkerSpawned{w, next_pid_++});
    feed(ev::WorkerReady{w});
    spawned.push_back(w);
  }
  return spawned;
}

void Harness::busy(WorkerId w) { feed(ev::WorkerBusy{w}); }

void Harness::idle(WorkerId w, std::uint64_t served) { feed(ev::WorkerIdle{w, served}); }

void Harness::exit_worker(WorkerId w, ExitStatus s) {
  feed(ev::WorkerExiting{w, false});
  exists_.erase(w);
  stopping_.erase(w);
  requested_.erase(w);
  feed(ev::WorkerExited{w, s});
}

void Harness::crash_worker(WorkerId w) {
  exists_.erase(w);
  stopping_.erase(w);
  requested_.erase(w);
  feed(ev::WorkerExited{w, ExitStatus::killed_by(11)});
}

void Harness::exit_worker_silently(WorkerId w, ExitStatus s) {
  exists_.erase(w);
  stopping_.erase(w);
  requested_.erase(w);
  feed(ev::WorkerExited{w, s});
}

void Harness::spawn_failed(WorkerId w, int error) {
  exists_.erase(w);
  requested_.erase(w);
  feed(ev::SpawnFailed{w, error});
}

void Harness::reap_orphan(WorkerId w, Pid pid) {
  exists_.erase(w);
  stopping_.erase(w);
  requested_.erase(w);
  feed(ev::UnknownChildReaped{pid, ExitStatus::exited(0)});
}

std::vector<WorkerId> Harness::workers_of(const Version& v) const {
  std::vector<WorkerId> out;
  for (const auto& [w, version] : exists_) {
    if (version == v) out.push_back(w);
  }
  return out;
}

std::vector<WorkerId> Harness::live_workers_of(const Version& v) const {
  std::vector<WorkerId> out;
  for (const auto& [w, version] : exists_) {
    if (version == v && stopping_.count(w) == 0) out.push_back(w);
  }
  return out;
}

int Harness::count(const std::string& prefix) const {
  int n = 0;
  for (const std::string& line : log_) n += line.rfind("< " + prefix, 0) == 0 ? 1 : 0;
  return n;
}

bool Harness::reported(const std::string& what) const {
  for (const std::string& line : log_) {
    if (line.rfind("< report " + what + ":", 0) == 0) return true;
  }
  return false;
}

SupervisorConfig config_with(int budget) {
  SupervisorConfig c;
  c.budget = budget;
  return c;
}

ZygoteId serve(Harness& h, const Version& version) {
  ZygoteId z = h.start(version);
  h.load(z);
  h.spawn_all();
  return z;
}

}  // namespace zyg::testing
