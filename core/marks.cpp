#include "core/marks.hpp"

#include <algorithm>

#include "core/assert.hpp"

namespace zyg::marks {

namespace {

std::map<std::string, std::uint64_t>& table() {
  static std::map<std::string, std::uint64_t> t = [] {
    std::map<std::string, std::uint64_t> m;
    for (const std::string& name : catalogue()) m[name] = 0;
    for (const std::string& name : not_yet_reached()) m[name] = 0;
    return m;
  }();
  return t;
}

}  // namespace

const std::vector<std::string>& catalogue() {
  static const std::vector<std::string> names = {
      // supervisor policies
      "deploy.noop",
      "deploy.supersede-loading",
      "deploy.supersede-rollout",
      "deploy.instant-rollback",
      "deploy.rollout",
      "deploy.proven",
      "deploy.load-failed",
      "deploy.load-timeout",
      "rollback.crash-loop",
      "rollback.zygote-died",
      "start.last-good",
      "start.no-version",
      "respawn.backoff",
      "respawn.retire",
      "zygote.restart",
      "zygote.hung",
      "worker.lost",
      "worker.orphan-reaped",
      "kill.graceful-timeout",
      "kill.hung",
      "kill.not-ready",
      "kill.repeat",
      "master.stall",
      "scale.clamped",
      "shutdown.graceful",
      "shutdown.fast",
      // worker loop
      "worker.drain",
      "worker.retire",
      "worker.handoff",
      "worker.pipelined",
      // front loop
      "front.stop",
      "front.parse-error",
      "front.read-timeout",
      "front.keepalive-close",

      "worker.report-wait",
      // simulated faults and kernel behaviour
      "fault.spawn-fail",
      "fault.kill-worker",
      "fault.kill-zygote",
      "fault.crash-master",
      "fault.pause",
      "fault.ignore-term",
      "fault.app-crash",
      "fault.app-hang",
      "fault.init-crash",
      "fault.init-hang",
      "fault.load-hang",
      "fault.kill-zygote-forking",
      "kernel.pid-reuse",
      "kernel.chld-coalesced",
      "client.abandon",
      "client.half-send",
      "client.retry",
      "client.bad-request",
      "client.slow",
      "start.refused",
  };
  return names;
}

// The front's faults (killed, paused, hand-off failures) and the accept queue overflowing behind
// it are not injected by the simulator yet; the worker's write timeout and pipelined paths need
// clients the generator does not draw. Each leaves this list once a suite reaches it.
const std::vector<std::string>& not_yet_reached() {
  static const std::vector<std::string> names = {
      "fault.accept-overflow", "front.at-limit",
      "front.accept-failed",   "front.died",
      "front.handoff-failed",  "front.hung",
      "front.restart",         "front.write-timeout",
      "worker.parse-error",    "worker.pipelined-yield",
      "worker.return-failed",  "worker.write-timeout",
  };
  return names;
}

void hit(const char* name) {
  auto& t = table();
  auto it = t.find(name);
  ZYG_ASSERT(it != t.end(), "a mark missing from the catalogue: ", name);
  if (it != t.end()) it->second += 1;
}

std::map<std::string, std::uint64_t> counts() { return table(); }

void reset() {
  for (auto& [name, n] : table()) n = 0;
}

}  // namespace zyg::marks
