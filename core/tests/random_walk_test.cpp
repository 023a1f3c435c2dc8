// Random walks over well-formed event sequences: a tiny model of processes answers the
// supervisor's commands, with crashes, broken releases, deploys and scaling thrown in. After
// every step the number of worker processes that exist must be within the budget; once the
// faults stop, every worker must run the newest good version. (The simulator checks far more;
// this keeps the state machine honest on its own.)
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/supervisor.hpp"

namespace zyg {
namespace {

// A process model that answers commands the way a cooperative OS would, after a delay.
class Model {
 public:
  Model(std::uint64_t seed, SupervisorConfig c) : rng_(seed), sup_(c), budget_(c.budget) {}

  std::string run(int steps) {
    feed(ev::Start{"v0", std::nullopt});
    for (int i = 0; i < steps; ++i) random_step(/*faults=*/true);
    // Liveness: no more faults; the last good version must take over every slot.
    for (int i = 0; i < 4000 && !converged(); ++i) random_step(/*faults=*/false);
    EXPECT_TRUE(converged()) << "did not converge: " << state() << "\nlast events:\n"
                             << trace_.substr(trace_.size() > 3000 ? trace_.size() - 3000 : 0);
    return trace_;
  }

 private:
  struct Proc {
    Version version;
    ZygoteId zygote;
    bool spawned = false;
    bool ready = false;
    bool stopping = false;
  };

  std::uint64_t draw(std::uint64_t n) { return rng_() % n; }

  void feed(const Event& e) {
    now_ += Nanos{static_cast<std::int64_t>(draw(200)) * 1'000'000};
    Commands cmds = sup_.step(e, now_);
    trace_ += describe(e) + "\n";
    for (const Command& c : cmds) {
      trace_ += "  " + describe(c) + "\n";
      apply(c);
    }
    std::vector<Event> replies;
    replies.swap(replies_);
    for (const Event& r : replies) feed(r);
    ASSERT_LE(static_cast<int>(procs_.size()), budget_) << "budget exceeded after " << describe(e);
    ASSERT_GE(sup_.workers_in_budget(), static_cast<int>(procs_.size()));
  }

  void apply(const Command& c) {
    if (auto* x = std::get_if<cmd::StartZygote>(&c)) {
      zygotes_[x->zygote] = x->version;
      loading_.insert(x->zygote);
    }
    if (auto* x = std::get_if<cmd::RequestWorker>(&c)) {
      procs_[x->worker] = Proc{zygotes_.at(x->zygote), x->zygote};
    }
    if (auto* x = std::get_if<cmd::StopWorker>(&c)) {
      if (x->via.value != 0) replies_.push_back(ev::ZygoteReplied{x->via});
      if (procs_.count(x->worker)) procs_[x->worker].stopping = true;
    }
    if (auto* x = std::get_if<cmd::KillWorker>(&c)) {
      if (x->via.value != 0) replies_.push_back(ev::ZygoteReplied{x->via});
      if (procs_.count(x->worker)) procs_[x->worker].stopping = true;
    }
    if (auto* x = std::get_if<cmd::StopZygote>(&c)) {
      stopping_zygotes_.insert(x->zygote);
    }
    if (auto* x = std::get_if<cmd::KillZygote>(&c)) {
      stopping_zygotes_.insert(x->zygote);
    }
    // Lost workers of this model were never forked: no child the master cannot name exists.
    if (std::holds_alternative<cmd::ListChildren>(c)) replies_.push_back(ev::ChildrenListed{});
  }

  void random_step(bool faults) {
    switch (draw(faults ? 10 : 6)) {
      case 0: {  // a zygote finishes loading (broken versions fail)
        if (loading_.empty()) break;
        ZygoteId z = *std::next(loading_.begin(), static_cast<long>(draw(loading_.size())));
        loading_.erase(z);
        if (zygotes_[z].find("broken") != std::string::npos) {
          feed(ev::ZygoteLoadFailed{z, "broken"});
          stopping_zygotes_.insert(z);
        } else {
          feed(ev::ZygoteLoaded{z});
        }
        break;
      }
      case 1: {  // a requested worker forks and becomes ready
        for (auto& [id, p] : procs_) {
          if (!p.spawned && zygotes_.count(p.zygote) && !stopping_zygotes_.count(p.zygote)) {
            p.spawned = true;
            feed(ev::ZygoteReplied{p.zygote});
            feed(ev::WorkerSpawned{id, static_cast<Pid>(1000 + id.value)});
            if (!p.stopping) feed(ev::WorkerReady{id});
            break;
          }
        }
        break;
      }
      case 2: {  // a worker asked to stop exits, and is reaped
        for (auto it = procs_.begin(); it != procs_.end(); ++it) {
          if (it->second.stopping) {
            WorkerId id = it->first;
            procs_.erase(it);
            feed(ev::WorkerExited{id, ExitStatus::exited(0)});
            break;
          }
        }
        break;
      }
      case 3: {  // a zygote asked to stop exits; its workers are orphaned and drain
        if (stopping_zygotes_.empty()) break;
        ZygoteId z = *stopping_zygotes_.begin();
        stopping_zygotes_.erase(z);
        loading_.erase(z);
        zygotes_.erase(z);
        for (auto it = procs_.begin(); it != procs_.end();) {
          if (it->second.zygote == z && !it->second.spawned) {
            // Never forked: the master learns nothing, and releases it after the lost timeout.
            lost_.insert(it->first);
            it = procs_.erase(it);
          } else {
            if (it->second.zygote == z) it->second.stopping = true;
            ++it;
          }
        }
        feed(ev::ZygoteExited{z, ExitStatus::exited(0)});
        break;
      }
      case 4:  // time passes
        now_ += Nanos{static_cast<std::int64_t>(draw(3000)) * 1'000'000};
        feed(ev::Tick{});
        break;
      case 5:  // a worker serves a request
        for (auto& [id, p] : procs_) {
          if (p.spawned && !p.stopping && draw(3) == 0) {
            feed(ev::WorkerBusy{id});
            feed(ev::WorkerIdle{id, ++served_});
            break;
          }
        }
        break;
      case 6: {  // a deploy: sometimes broken
        ++deploys_;
        std::string v = (draw(4) == 0 ? "broken" : "v") + std::to_string(deploys_);
        last_deploy_ = v;
        feed(ev::DeployRequested{v});
        break;
      }
      case 7: {  // a worker crashes
        if (procs_.empty()) break;
        auto it = std::next(procs_.begin(), static_cast<long>(draw(procs_.size())));
        if (!it->second.spawned) break;
        WorkerId id = it->first;
        procs_.erase(it);
        feed(ev::WorkerExited{id, ExitStatus::killed_by(11)});
        break;
      }
      case 8:
        feed(ev::ScaleTo{static_cast<int>(draw(static_cast<std::uint64_t>(budget_) + 2))});
        break;
      case 9: feed(ev::ScaleTo{budget_}); break;
    }
  }

  std::string state() const {
    StatusSnapshot s = sup_.snapshot();
    std::string out = "serving " + s.serving + " loading '" + s.loading + "' fallback '" +
                      s.fallback + "' desired " + std::to_string(s.desired) + "; supervisor:";
    for (const ProcessInfo& p : s.processes) {
      out += " " + std::string(p.role == Role::zygote ? "z" : "w") + std::to_string(p.id) + "(" +
             p.version + "," + p.state + ")";
    }
    out += "; model:";
    for (const auto& [id, p] : procs_) {
      out += " w" + std::to_string(id.value) + "(" + p.version + (p.spawned ? ",up" : ",req") +
             (p.stopping ? ",stopping" : "") + ")";
    }
    out += " last deploy " + last_deploy_;
    return out;
  }

  bool converged() const {
    StatusSnapshot s = sup_.snapshot();
    if (!s.loading.empty()) return false;
    if (static_cast<int>(procs_.size()) != s.desired) return false;
    for (const auto& [id, p] : procs_) {
      if (!p.spawned || p.stopping || p.version != s.serving) return false;
    }
    // A broken release never serves. The newest deploy serves unless it failed (a broken load,
    // or a crash loop rolled back), in which case an earlier good version serves.
    auto failed = [&](const std::string& v) {
      return std::find(s.failed_versions.begin(), s.failed_versions.end(), v) !=
             s.failed_versions.end();
    };
    if (s.serving.find("broken") != std::string::npos) return false;
    return s.serving == last_deploy_ || failed(last_deploy_);
  }

  std::mt19937_64 rng_;
  Supervisor sup_;
  int budget_;
  Nanos now_{0};
  std::string trace_;
  std::map<ZygoteId, Version> zygotes_;
  std::set<ZygoteId> loading_;
  std::set<ZygoteId> stopping_zygotes_;
  std::map<WorkerId, Proc> procs_;
  std::set<WorkerId> lost_;
  std::vector<Event> replies_;
  std::uint64_t served_ = 0;
  int deploys_ = 0;
  std::string last_deploy_ = "v0";
};

SupervisorConfig walk_config(std::uint64_t seed) {
  SupervisorConfig c;
  c.budget = 1 + static_cast<int>(seed % 7);
  c.max_changing = static_cast<int>(seed % 3);
  c.probation = 2s;
  c.stall_threshold =
      std::chrono::hours(1);  // this model jumps time between steps; it is not a stalled master
  return c;
}

TEST(RandomWalk, BudgetHoldsAndDeploysConverge) {
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Model m(seed, walk_config(seed));
    m.run(400);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(RandomWalk, SameSeedSameDecisions) {
  for (std::uint64_t seed : {3u, 17u, 99u}) {
    std::string first = Model(seed, walk_config(seed)).run(300);
    std::string second = Model(seed, walk_config(seed)).run(300);
    EXPECT_EQ(first, second) << "seed " << seed;
    EXPECT_NE(first, Model(seed + 1, walk_config(seed)).run(300));
  }
}

}  // namespace
}  // namespace zyg
