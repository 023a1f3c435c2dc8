// A scenario is plain data: the budget and settings, the versions and how they behave, the client
// load, and the deploys and faults over time. It is generated from a seed (swarm testing: each
// seed draws its own knobs), read from the text format documented in docs/SIMULATION.md, and
// printed back in that format, so that any run can be replayed without the generator.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/app.hpp"
#include "sim/clients.hpp"

namespace zyg::sim {

enum class ActionKind : std::uint8_t {
  deploy,        // repoint the app symlink to `version`, then SIGHUP the master
  ttin,          // one worker more
  ttou,          // one worker fewer
  kill,          // SIGKILL a process of `target` (a crash)
  pause,         // SIGSTOP a process of `target` for `duration`, then SIGCONT
  ignore_term,   // a worker starts ignoring SIGTERM
  crash_master,  // SIGKILL the master; the service manager restarts it
  kill_forking,  // SIGKILL the next zygote that forks, in the middle of its fork
};

// busy-worker: a worker holding a connection it was handed (killed mid-request, or just after).
enum class Target : std::uint8_t { worker, zygote, master, front, busy_worker };

struct Action {
  Nanos at{0};
  ActionKind kind = ActionKind::deploy;
  std::string version;
  Target target = Target::worker;
  Nanos duration{0};
  int count = 1;  // pause: how many processes of the target
};

struct Scenario {
  std::uint64_t seed = 1;
  int budget = 8;
  int workers = 0;  // wanted; 0: the budget
  int max_changing = 0;
  Nanos graceful_timeout = 10s;
  Nanos heartbeat_timeout = 6s;
  Nanos keepalive_timeout = 5s;
  Nanos write_timeout = 30s;  // a response the client takes nothing of this long is dropped
  Nanos probation = 5s;
  Nanos duration = 60s;  // the phase with faults
  Nanos liveness = 60s;  // after it, everything must converge within this
  Pid pid_max = 64;
  int backlog = 0;                 // the listening socket's accept queue; 0: the master's default
  std::uint64_t max_requests = 0;  // a worker retires after this many requests; 0: never
  bool fast_stop = false;          // the run ends with SIGINT (fast) rather than SIGTERM
  // A graceful stop's delay (--stop-delay-ms): the clients go on sending for its first half, as
  // they would until a load balancer saw the server unready; every request must still succeed.
  Nanos stop_delay{0};
  std::uint32_t spawn_fail_ppm = 0;
  std::uint32_t accept_fail_ppm = 0;   // the front's accept fails (EMFILE)
  std::uint32_t handoff_fail_ppm = 0;  // a hand-off loses its connection (ENOBUFS, MSG_CTRUNC)
  std::size_t max_connections = 0;     // what the front holds at most; 0: the master's default
  ClientSpec clients;
  std::vector<VersionSpec> versions;
  std::string initial;
  std::vector<Action> actions;

  std::optional<std::string> validate() const;
  const VersionSpec* version(const std::string& name) const;
};

// Draws a random scenario from the seed: its knobs, versions, load, deploys and faults.
Scenario generate(std::uint64_t seed);

std::string to_text(const Scenario& s);
// Parses the text format; on failure returns nothing and sets `error` to "line N: why".
std::optional<Scenario> parse(const std::string& text, std::string& error);

// The one-line summary of the drawn knobs: "SEED=42 budget=8 ...".
std::string knobs_line(const Scenario& s);

std::string format_duration(Nanos d);
std::optional<Nanos> parse_duration(const std::string& s);

}  // namespace zyg::sim
