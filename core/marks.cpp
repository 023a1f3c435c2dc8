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

namespace {

std::vector<std::string> policy_marks() {
  return {
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
      "worker.lost-listed",
      "worker.orphan-reaped",
      "kill.graceful-timeout",
      "kill.hung",
      "kill.not-ready",
      "kill.repeat",
      "master.stall",
      "scale.clamped",
      "shutdown.graceful",
      "shutdown.delayed",
      "shutdown.fast",
  };
}

std::vector<std::string> loop_and_fault_marks() {
  return {
      // worker loop
      "worker.drain",
      "worker.retire",
      "worker.handoff",
      "worker.spooled-body",
      "worker.parse-error",
      "worker.write-timeout",
      "front.write-timeout",
      "worker.pipelined",
      "worker.pipelined-yield",
      "worker.return-failed",
      "worker.serve-without-front",
      "worker.killed-externally",
      "worker.unsent-without-front",
      "worker.unsent-to-front",
      "worker.handoff-lost",
      "worker.out-of-descriptors",
      // front loop
      "front.stop",
      "front.drain",
      "front.parse-error",
      "front.read-timeout",
      "front.unsent",
      "front.keepalive-close",
      "front.died",
      "front.restart",
      "front.hung",
      "front.at-limit",
      "front.accept-failed",
      "front.handoff-failed",

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
      "fault.stall-forked-worker",
      "fault.accept-overflow",
      "fault.kill-front",
      "fault.kill-busy-worker",
      "fault.accept-fail",
      "fault.handoff-send",
      "fault.handoff-receive",
      "kernel.pid-reuse",
      "kernel.chld-coalesced",
      "kernel.signal-at-first-run",
      "client.abandon",
      "client.half-send",
      "client.retry",
      "client.bad-request",
      "client.slow",
      "client.slow-read",
      "client.upload",
      "client.stalled-read",
      "app.stream",
      "app.send-file",
      "start.refused",
  };
}

}  // namespace

const std::vector<std::string>& catalogue() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all = policy_marks();
    for (std::string& name : loop_and_fault_marks()) all.push_back(std::move(name));
    return all;
  }();
  return names;
}

// Paths no suite reaches yet: no simulated worker fails to read back a body from its spool file
// (a disk that fails). Each leaves this list once a suite reaches it (props.marks.check fails
// until it does).
const std::vector<std::string>& not_yet_reached() {
  static const std::vector<std::string> names = {
      "worker.body-file-unreadable",
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
