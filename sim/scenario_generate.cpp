// Draws a random scenario from a seed: its knobs, versions, client load, deploys and faults.
#include "sim/scenario.hpp"

namespace zyg::sim {

namespace {
// Generated times are whole milliseconds, so printed scenarios read easily.
Nanos ms_between(Rng& r, Nanos lo, Nanos hi) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  return milliseconds(
      r.between(duration_cast<milliseconds>(lo).count(), duration_cast<milliseconds>(hi).count()));
}

void sort_actions(Scenario& s) {
  std::stable_sort(s.actions.begin(), s.actions.end(),
                   [](const Action& a, const Action& b) { return a.at < b.at; });
}

// The data path's faults and limits, from a stream of their own, so that what the other draws
// give a seed stays as it was: failing accepts and hand-offs, a front holding few connections,
// the front killed or paused, a worker killed while it holds a connection.
void draw_data_path(std::uint64_t seed, Scenario& s) {
  Rng r = Rng(seed).derive("data-path");
  if (r.below(5) == 0) s.accept_fail_ppm = static_cast<std::uint32_t>(r.between(0, 20'000));
  if (r.below(5) == 0) s.handoff_fail_ppm = static_cast<std::uint32_t>(r.between(0, 10'000));
  if (r.below(6) == 0) s.max_connections = static_cast<std::size_t>(r.between(1, 16));
  const auto n = r.below(4);
  for (std::uint64_t i = 0; i < n; ++i) {
    Action a;
    a.at = ms_between(r, Nanos{1s}, s.duration - 5s);
    const auto k = r.below(3);
    a.kind = k == 1 ? ActionKind::pause : ActionKind::kill;
    a.target = k == 2 ? Target::busy_worker : Target::front;
    if (k == 1) a.duration = ms_between(r, Nanos{100ms}, Nanos{15s});
    s.actions.push_back(a);
  }
  // Last, so every draw above stays what it was: slow readers of large responses.
  if (r.below(4) == 0) {
    s.clients.slow_read_ppm = static_cast<std::uint32_t>(r.between(1'000, 30'000));
  }
  // After that: uploads, spooled by the front when above 1 KiB.
  if (r.below(3) == 0)
    s.clients.upload_ppm = static_cast<std::uint32_t>(r.between(10'000, 200'000));
  // Then: a short write timeout, which some slow readers outwait (their responses are dropped).
  if (s.clients.slow_read_ppm != 0 && r.below(2) == 0) {
    s.write_timeout = 3s;
    s.clients.slow_read_delay = r.below(2) == 0 ? 5s : 2s;
  }
  // Last: a graceful stop with a stop delay, the clients still sending during its first half.
  // Not with a connection limit: there a slow client holding the front's few slots keeps new
  // connections in the backlog past the stop, and they are reset when the master exits (what a
  // load balancer, having seen /readyz, would no longer send; docs/SIMULATION.md).
  if (r.below(3) == 0 && !s.fast_stop && s.max_connections == 0) {
    s.stop_delay = ms_between(r, Nanos{200ms}, Nanos{4s});
  }
}

}  // namespace

Scenario generate(std::uint64_t seed) {
  Rng r = Rng(seed).derive("scenario");
  Scenario s;
  s.seed = seed;
  s.budget = static_cast<int>(r.between(1, 12));
  s.workers = r.below(4) == 0 ? static_cast<int>(r.between(1, s.budget)) : 0;
  s.max_changing = r.below(3) == 0 ? static_cast<int>(r.between(1, 3)) : 0;
  s.pid_max = static_cast<Pid>(s.budget * 2 + 8 + r.between(0, 24));
  s.spawn_fail_ppm = r.below(3) == 0 ? static_cast<std::uint32_t>(r.between(0, 50'000)) : 0;
  // Sometimes a tiny accept queue, so that connections overflow it.
  s.backlog = r.below(6) == 0 ? static_cast<int>(r.between(1, 8)) : 0;
  s.max_requests = r.below(5) == 0 ? static_cast<std::uint64_t>(r.between(10, 300)) : 0;
  s.fast_stop = r.below(4) == 0;
  s.duration = 60s;
  s.liveness = 90s;
  ClientSpec& c = s.clients;
  c.clients = static_cast<int>(r.between(0, 24));
  c.keepalive_ppm = static_cast<std::uint32_t>(r.between(0, 1'000'000));
  c.pipeline_ppm = static_cast<std::uint32_t>(r.between(0, 200'000));
  c.abandon_ppm = static_cast<std::uint32_t>(r.between(0, 30'000));
  c.half_send_ppm = static_cast<std::uint32_t>(r.between(0, 10'000));
  c.long_ppm = static_cast<std::uint32_t>(r.between(0, 30'000));
  c.stall_ppm = r.below(4) == 0 ? static_cast<std::uint32_t>(r.between(0, 10'000)) : 0;
  c.garbage_ppm = r.below(4) == 0 ? static_cast<std::uint32_t>(r.between(0, 10'000)) : 0;
  c.think_min = ms_between(r, Nanos{1ms}, Nanos{100ms});
  c.think_max = c.think_min + ms_between(r, Nanos{1ms}, Nanos{500ms});

  const int nversions = static_cast<int>(r.between(2, 4));
  for (int i = 0; i < nversions; ++i) {
    VersionSpec v;
    v.name = std::string("releases/") + static_cast<char>('A' + i);
    v.load_min = ms_between(r, Nanos{10ms}, Nanos{500ms});
    v.load_max = v.load_min + ms_between(r, Nanos{0}, Nanos{3s});
    v.service_min = ms_between(r, Nanos{1ms}, Nanos{20ms});
    v.service_max = v.service_min + ms_between(r, Nanos{0}, Nanos{200ms});
    // The first version always loads; later ones may be broken or crash-prone.
    if (i > 0) {
      const auto kind = r.below(6);
      if (kind == 0) v.load_fails = true;
      if (kind == 1) v.crash_ppm = 1'000'000;       // crashes on every request: a crash loop
      if (kind == 2) v.init_crash_ppm = 1'000'000;  // every worker dies before it is ready
      if (kind == 3 && r.below(3) == 0) v.load_hangs = true;
      if (kind == 4 && r.below(2) == 0) v.init_hang_ppm = 1'000'000;
    }
    if (r.below(3) == 0)
      v.crash_ppm = std::max(v.crash_ppm, static_cast<std::uint32_t>(r.between(0, 5'000)));
    if (r.below(4) == 0) v.hang_ppm = static_cast<std::uint32_t>(r.between(0, 2'000));
    if (r.below(5) == 0) {
      v.init_crash_ppm =
          std::max(v.init_crash_ppm, static_cast<std::uint32_t>(r.between(0, 100'000)));
    }
    s.versions.push_back(v);
  }
  s.initial = s.versions[0].name;
  // Rarely, the very first release is broken: the master must refuse to start, clearly.
  if (r.below(40) == 0) s.versions[0].load_fails = true;

  const int nactions = static_cast<int>(r.between(1, 14));
  for (int i = 0; i < nactions; ++i) {
    Action a;
    a.at = ms_between(r, Nanos{1s}, s.duration - 5s);
    const auto k = r.below(12);
    if (k < 5) {
      a.kind = ActionKind::deploy;
      a.version = s.versions[r.below(s.versions.size())].name;
    } else if (k == 5) {
      a.kind = r.below(2) ? ActionKind::ttin : ActionKind::ttou;
    } else if (k == 6 || k == 7) {
      a.kind = ActionKind::kill;
      a.target = r.below(3) == 0 ? Target::zygote : Target::worker;
    } else if (k == 8 || k == 9) {
      a.kind = ActionKind::pause;
      const auto t = r.below(5);
      a.target = t == 0 ? Target::zygote : t == 1 ? Target::master : Target::worker;
      a.duration = ms_between(r, Nanos{100ms}, Nanos{15s});
      if (r.below(4) == 0) a.count = static_cast<int>(r.between(2, 4));
    } else if (k == 10) {
      a.kind = r.below(2) ? ActionKind::ignore_term : ActionKind::kill_forking;
    } else {
      a.kind = ActionKind::crash_master;
    }
    s.actions.push_back(a);
  }
  draw_data_path(seed, s);
  sort_actions(s);
  return s;
}

}  // namespace zyg::sim
