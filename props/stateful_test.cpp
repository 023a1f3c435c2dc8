// The stateful suite: rapidcheck draws a sequence of operator actions and faults (deploy a good
// release, deploy a broken one, deploy while a deploy runs, kill a worker or the zygote, pause a
// process, scale up or down, a burst of long requests, let time pass) and applies them one by one
// to a running simulation. A model predicts what must hold: after every command, every safety
// invariant; at the end, after faults stop, the version and the worker count the model expects.
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include <rapidcheck/state.h>

#include "props/generators.hpp"
#include "props/runner.hpp"

namespace zyg::props {
namespace {

const char* kGood[] = {"releases/A", "releases/B", "releases/C"};
const char* kBroken = "releases/X";

struct Model {
  int budget = 1;
  int desired = 1;
  std::string serving = "releases/A";  // the last good release deployed
  bool master_disturbed = false;       // crashed or paused: scaling signals may coalesce or vanish
  bool master_crashed = false;         // a restart may fall back to an older proven release
};

struct Sut {
  sim::Scenario base;
  std::unique_ptr<sim::World> world;
  std::vector<sim::Action> applied;

  void act(sim::Action a) {
    a.at = world->now();
    applied.push_back(a);
    world->act(a);
  }
  void advance(Nanos d) { world->advance_to(world->now() + d); }
  // What happened so far, as a scenario file that replays it.
  sim::Scenario as_scenario() const {
    sim::Scenario s = base;
    s.actions = applied;
    s.duration = std::max(world->now(), Nanos{1s});
    return s;
  }
  void assert_safe() const {
    if (!world->checker().ok()) {
      sim::RunResult r;
      r.violations = world->checker().violations();
      RC_FAIL(violations(r) + "\nreplay:\n" + sim::to_text(as_scenario()));
    }
  }
};

using Command = rc::state::Command<Model, Sut>;

struct DeployGood : Command {
  std::string version =
      *rc::gen::elementOf(std::vector<std::string>(std::begin(kGood), std::end(kGood)));
  void apply(Model& m) const override { m.serving = version; }
  void run(const Model&, Sut& sut) const override {
    sim::Action a;
    a.version = version;
    sut.act(a);
    sut.advance(std::chrono::milliseconds(*rc::gen::inRange(100, 4000)));
    sut.assert_safe();
  }
  void show(std::ostream& os) const override { os << "deploy " << version; }
};

struct DeployBroken : Command {
  void run(const Model&, Sut& sut) const override {
    sim::Action a;
    a.version = kBroken;
    sut.act(a);
    sut.advance(std::chrono::milliseconds(*rc::gen::inRange(100, 4000)));
    sut.assert_safe();
  }
  void show(std::ostream& os) const override { os << "deploy " << kBroken << " (broken)"; }
};

struct DeployDuringDeploy : Command {
  std::string first =
      *rc::gen::elementOf(std::vector<std::string>(std::begin(kGood), std::end(kGood)));
  std::string second =
      *rc::gen::elementOf(std::vector<std::string>(std::begin(kGood), std::end(kGood)));
  void apply(Model& m) const override { m.serving = second; }
  void run(const Model&, Sut& sut) const override {
    sim::Action a;
    a.version = first;
    sut.act(a);
    sut.advance(std::chrono::milliseconds(*rc::gen::inRange(1, 1500)));
    a.version = second;
    sut.act(a);
    sut.advance(2s);
    sut.assert_safe();
  }
  void show(std::ostream& os) const override { os << "deploy " << first << " then " << second; }
};

struct Kill : Command {
  sim::Target target =
      *rc::gen::elementOf(std::vector<sim::Target>{sim::Target::worker, sim::Target::zygote});
  void run(const Model&, Sut& sut) const override {
    sim::Action a;
    a.kind = sim::ActionKind::kill;
    a.target = target;
    sut.act(a);
    sut.advance(500ms);
    sut.assert_safe();
  }
  void show(std::ostream& os) const override {
    os << "kill " << (target == sim::Target::worker ? "worker" : "zygote");
  }
};

struct Pause : Command {
  sim::Target target = *rc::gen::elementOf(
      std::vector<sim::Target>{sim::Target::worker, sim::Target::zygote, sim::Target::master});
  int ms = *rc::gen::inRange(100, 8000);
  void apply(Model& m) const override { m.master_disturbed |= target == sim::Target::master; }
  void run(const Model&, Sut& sut) const override {
    sim::Action a;
    a.kind = sim::ActionKind::pause;
    a.target = target;
    a.duration = std::chrono::milliseconds(ms);
    sut.act(a);
    sut.advance(std::chrono::milliseconds(ms / 2));
    sut.assert_safe();
  }
  void show(std::ostream& os) const override {
    os << "pause "
       << (target == sim::Target::worker   ? "worker"
           : target == sim::Target::zygote ? "zygote"
                                           : "master")
       << " " << ms << "ms";
  }
};

struct Scale : Command {
  bool up = *rc::gen::arbitrary<bool>();
  void apply(Model& m) const override {
    m.desired = std::clamp(m.desired + (up ? 1 : -1), 1, m.budget);
  }
  void run(const Model&, Sut& sut) const override {
    sim::Action a;
    a.kind = up ? sim::ActionKind::ttin : sim::ActionKind::ttou;
    sut.act(a);
    sut.advance(300ms);
    sut.assert_safe();
  }
  void show(std::ostream& os) const override { os << (up ? "ttin" : "ttou"); }
};

struct LongBurst : Command {
  int n = *rc::gen::inRange(1, 12);
  void run(const Model&, Sut& sut) const override {
    sut.world->clients().burst(n, 2s);
    sut.advance(500ms);
    sut.assert_safe();
  }
  void show(std::ostream& os) const override { os << n << " long requests"; }
};

struct CrashMaster : Command {
  void apply(Model& m) const override {
    m.master_disturbed = true;
    m.master_crashed = true;
  }
  void run(const Model&, Sut& sut) const override {
    sim::Action a;
    a.kind = sim::ActionKind::crash_master;
    sut.act(a);
    sut.advance(2s);
    sut.assert_safe();
  }
  void show(std::ostream& os) const override { os << "crash master"; }
};

struct Wait : Command {
  int ms = *rc::gen::inRange(100, 10'000);
  void run(const Model&, Sut& sut) const override {
    sut.advance(std::chrono::milliseconds(ms));
    sut.assert_safe();
  }
  void show(std::ostream& os) const override { os << "wait " << ms << "ms"; }
};

sim::Scenario stateful_base() {
  sim::Scenario s;
  s.seed = *rc::gen::inRange<std::uint64_t>(1, 1'000'000);
  s.budget = *rc::gen::inRange(1, 7);
  s.pid_max = static_cast<Pid>(2 * s.budget + 16);
  s.max_changing = *rc::gen::inRange(0, 3);
  s.liveness = 120s;
  s.clients.clients = *rc::gen::inRange(1, 10);
  s.clients.abandon_ppm = 0;
  s.clients.half_send_ppm = 0;
  for (const char* name : kGood) {
    sim::VersionSpec v;
    v.name = name;
    s.versions.push_back(v);
  }
  sim::VersionSpec broken;
  broken.name = kBroken;
  broken.load_fails = true;
  s.versions.push_back(broken);
  s.initial = kGood[0];
  return s;
}

TEST(Stateful, OperatorsAndFaultsAgainstTheModel) {
  const Verdict v = check("stateful", 250, 80, [] {
    Sut sut;
    sut.base = stateful_base();
    sut.world = std::make_unique<sim::World>(sut.base, sim::RunOptions{});
    sut.world->begin();
    sut.advance(3s);
    Model initial;
    initial.budget = sut.base.budget;
    initial.desired = sut.base.budget;
    const auto commands = *rc::state::gen::commands(
        initial,
        rc::state::gen::execOneOfWithArgs<DeployGood, DeployBroken, DeployDuringDeploy, Kill, Pause,
                                          Scale, LongBurst, CrashMaster, Wait>());
    rc::state::runAll(commands, initial, sut);
    Model model = initial;
    rc::state::applyAll(commands, model);
    // Faults off; everything must converge to what the model expects.
    const std::string replay = sim::to_text(sut.as_scenario());
    const sim::RunResult r = sut.world->finish();
    if (!r.ok) RC_FAIL(violations(r) + "\nreplay:\n" + replay);
    const StatusSnapshot& view = r.final_view;
    const bool rolled_back = std::find(view.failed_versions.begin(), view.failed_versions.end(),
                                       model.serving) != view.failed_versions.end();
    RC_ASSERT(view.serving == model.serving || rolled_back || model.master_crashed);
    RC_ASSERT(view.serving != std::string(kBroken));
    if (!model.master_disturbed) RC_ASSERT(view.desired == model.desired);
  });
  EXPECT_FALSE(v.failed) << v.message;
}

}  // namespace
}  // namespace zyg::props
