// The scenario's own rules: looking up a version, and what makes a scenario valid. Its text format
// is scenario_text.cpp; drawing one from a seed, scenario_generate.cpp.
#include "sim/scenario.hpp"

namespace zyg::sim {

const VersionSpec* Scenario::version(const std::string& name) const {
  for (const VersionSpec& v : versions) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

std::optional<std::string> Scenario::validate() const {
  if (budget < 1 || budget > 64) return "budget must be within 1..64";
  if (workers < 0 || workers > budget) return "workers must be within 0..budget";
  if (max_changing < 0) return "max-changing cannot be negative";
  if (pid_max < budget * 2 + 8)
    return "pid-max must leave room for every process: at least 2*budget+8";
  if (pid_max > 4'194'304) return "pid-max is above Linux's limit";
  if (versions.empty()) return "no version declared";
  if (!version(initial)) return "start names an undeclared version";
  if (clients.clients < 0 || clients.clients > 512) return "clients must be within 0..512";
  if (graceful_timeout <= keepalive_timeout + clients.long_request) {
    return "graceful-timeout must exceed keepalive-timeout plus the long request";
  }
  if (heartbeat_timeout <= clients.long_request)
    return "heartbeat-timeout must exceed the long request";
  if (write_timeout <= Nanos{0}) return "write-timeout must be positive";
  if (stop_delay < Nanos{0} || stop_delay > Nanos{60s}) return "stop-delay must be within 0..60s";
  if (clients.idle_reuse_max >= keepalive_timeout)
    return "clients must stop reusing connections before the server's keep-alive timeout";
  for (const Action& a : actions) {
    if (a.kind == ActionKind::deploy && !version(a.version)) {
      return "deploy of undeclared version " + a.version;
    }
    if (a.at > duration) return "an action at " + format_duration(a.at) + " is after the duration";
  }
  return std::nullopt;
}

}  // namespace zyg::sim
