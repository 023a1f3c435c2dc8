#include "props/generators.hpp"

#include <algorithm>

namespace zyg::sim {

void showValue(const Scenario& s, std::ostream& os) {
  os << "\n# replay: save the lines below to a file, then: zygote-sim --scenario FILE\n"
     << to_text(s);
}

}  // namespace zyg::sim

namespace zyg::props {

namespace {

using sim::Action;
using sim::ActionKind;
using sim::Scenario;
using sim::Target;
using sim::VersionSpec;

Nanos ms(int n) { return std::chrono::milliseconds(n); }

template <class T>
T pick(std::initializer_list<T> options) {
  return *rc::gen::elementOf(std::vector<T>(options));
}

VersionSpec version(char letter, bool first) {
  VersionSpec v;
  v.name = std::string("releases/") + letter;
  v.load_min = ms(*rc::gen::inRange(10, 800));
  v.load_max = v.load_min + ms(*rc::gen::inRange(0, 2000));
  v.service_min = ms(*rc::gen::inRange(1, 20));
  v.service_max = v.service_min + ms(*rc::gen::inRange(0, 150));
  if (first) return v;
  switch (*rc::gen::inRange(0, 10)) {
    case 0: v.load_fails = true; break;
    case 8: v.load_hangs = true; break;  // never finishes loading: load timeout
    case 9: v.init_hang_ppm = pick<std::uint32_t>({50'000, 1'000'000}); break;  // never ready
    case 1: v.crash_ppm = 1'000'000; break;       // dies on every request
    case 2: v.init_crash_ppm = 1'000'000; break;  // dies before it is ready
    case 3:
      v.crash_ppm = pick<std::uint32_t>({500, 5'000});
      v.hang_ppm = pick<std::uint32_t>({0, 500});
      break;
    default: break;
  }
  return v;
}

void base(Scenario& s) {
  s.seed = *rc::gen::inRange<std::uint64_t>(1, 1'000'000);
  s.budget = *rc::gen::inRange(1, 9);
  s.workers = *rc::gen::inRange(0, 2) == 0 ? *rc::gen::inRange(1, s.budget + 1) : 0;
  s.max_changing = *rc::gen::inRange(0, 4);
  s.pid_max = static_cast<Pid>(2 * s.budget + 8 + *rc::gen::inRange(0, 17));
  s.duration = 30s;
  s.liveness = 90s;
  s.max_requests = pick<std::uint64_t>({0, 0, 0, 25, 200});
  s.fast_stop = *rc::gen::inRange(0, 4) == 0;
  sim::ClientSpec& c = s.clients;
  c.clients = *rc::gen::inRange(0, 13);
  c.keepalive_ppm = pick<std::uint32_t>({0, 500'000, 900'000});
  c.pipeline_ppm = pick<std::uint32_t>({0, 50'000, 200'000});
  c.abandon_ppm = pick<std::uint32_t>({0, 10'000});
  c.half_send_ppm = pick<std::uint32_t>({0, 5'000});
  c.stall_ppm = pick<std::uint32_t>({0, 0, 5'000});
  c.garbage_ppm = pick<std::uint32_t>({0, 0, 5'000});
  c.long_ppm = pick<std::uint32_t>({0, 10'000, 50'000});
  c.slow_read_ppm = pick<std::uint32_t>({0, 0, 20'000});
  c.upload_ppm = pick<std::uint32_t>({0, 0, 100'000});
  // Some slow readers outwait a short write timeout: the server drops their responses.
  if (*rc::gen::inRange(0, 3) == 0) {
    s.write_timeout = ms(3000);
    c.slow_read_delay = ms(pick<int>({2000, 5000}));
  }
  c.think_min = ms(5);
  c.think_max = ms(pick<int>({50, 300}));
}

Action action(const Scenario& s) {
  Action a;
  a.at = ms(*rc::gen::inRange(500, 28'000));
  switch (*rc::gen::inRange(0, 17)) {
    case 0:
    case 1:
    case 2:
    case 3:
      a.kind = ActionKind::deploy;
      a.version = s.versions[*rc::gen::inRange<std::size_t>(0, s.versions.size())].name;
      break;
    case 4: a.kind = ActionKind::ttin; break;
    case 5: a.kind = ActionKind::ttou; break;
    case 6:
      a.kind = ActionKind::kill;
      a.target = Target::worker;
      break;
    case 7:
      a.kind = ActionKind::kill;
      a.target = Target::zygote;
      break;
    case 8:
    case 9:
      a.kind = ActionKind::pause;
      a.target = pick<Target>({Target::worker, Target::worker, Target::zygote, Target::master});
      a.duration = ms(*rc::gen::inRange(100, 12'000));
      a.count = *rc::gen::inRange(1, 4);
      break;
    case 10: a.kind = ActionKind::ignore_term; break;
    case 11: a.kind = ActionKind::crash_master; break;
    case 12: a.kind = ActionKind::kill_forking; break;
    case 13:
    case 14:
      a.kind = ActionKind::kill;
      a.target = pick<Target>({Target::front, Target::busy_worker});
      break;
    case 15:
      a.kind = ActionKind::pause;
      a.target = Target::front;
      a.duration = ms(*rc::gen::inRange(100, 12'000));
      break;
    default:
      a.kind = ActionKind::deploy;
      a.version = s.versions.back().name;
      break;
  }
  return a;
}

void sort_actions(Scenario& s) {
  std::stable_sort(s.actions.begin(), s.actions.end(),
                   [](const Action& a, const Action& b) { return a.at < b.at; });
}

}  // namespace

rc::Gen<Scenario> scenarios() {
  return rc::gen::exec([] {
    Scenario s;
    base(s);
    s.spawn_fail_ppm = pick<std::uint32_t>({0, 0, 10'000, 50'000});
    s.backlog = pick<int>({0, 0, 0, 2, 8});
    s.accept_fail_ppm = pick<std::uint32_t>({0, 0, 0, 20'000});
    s.handoff_fail_ppm = pick<std::uint32_t>({0, 0, 0, 10'000});
    s.max_connections = pick<std::size_t>({0, 0, 0, 0, 2, 8});
    // A graceful stop with a stop delay, the clients sending through its first half (not with a
    // connection limit: sim/scenario_generate.cpp says why).
    if (!s.fast_stop && s.max_connections == 0) {
      s.stop_delay = pick<Nanos>({Nanos{0}, Nanos{0}, Nanos{300ms}, Nanos{2s}});
    }
    const int n = *rc::gen::inRange(2, 5);
    for (int i = 0; i < n; ++i) s.versions.push_back(version(static_cast<char>('A' + i), i == 0));
    if (*rc::gen::inRange(0, 40) == 0) s.versions[0].load_fails = true;
    s.initial = s.versions[0].name;
    const int actions = *rc::gen::inRange(0, 11);
    for (int i = 0; i < actions; ++i) s.actions.push_back(action(s));
    sort_actions(s);
    return s;
  });
}

rc::Gen<Scenario> crash_loop_deploys() {
  return rc::gen::exec([] {
    Scenario s;
    base(s);
    s.clients.clients = *rc::gen::inRange(3, 13);
    // Clients that give up, vanish or stall could all stop before B is asked a request, and a
    // release nobody calls cannot crash-loop.
    s.clients.abandon_ppm = 0;
    s.clients.half_send_ppm = 0;
    s.clients.stall_ppm = 0;
    s.versions.push_back(version('A', true));
    VersionSpec b = version('B', true);
    if (*rc::gen::inRange(0, 2) == 0) {
      b.crash_ppm = 1'000'000;
    } else {
      b.init_crash_ppm = 1'000'000;
    }
    s.versions.push_back(b);
    s.initial = "releases/A";
    Action deploy;
    deploy.at = s.probation + 3s + ms(*rc::gen::inRange(0, 5'000));  // once A is proven
    deploy.version = "releases/B";
    s.actions.push_back(deploy);
    return s;
  });
}

rc::Gen<Scenario> broken_deploys() {
  return rc::gen::exec([] {
    Scenario s;
    base(s);
    s.versions.push_back(version('A', true));
    VersionSpec b = version('B', true);
    b.load_fails = true;
    s.versions.push_back(b);
    s.versions.push_back(version('C', true));
    s.initial = "releases/A";
    const int n = *rc::gen::inRange(1, 6);
    for (int i = 0; i < n; ++i) {
      Action a;
      a.at = ms(*rc::gen::inRange(500, 28'000));
      a.version = pick<std::string>({"releases/B", "releases/B", "releases/C", "releases/A"});
      s.actions.push_back(a);
    }
    if (*rc::gen::inRange(0, 3) == 0) {
      Action crash;
      crash.at = ms(*rc::gen::inRange(500, 28'000));
      crash.kind = ActionKind::crash_master;
      s.actions.push_back(crash);
    }
    sort_actions(s);
    return s;
  });
}

}  // namespace zyg::props
