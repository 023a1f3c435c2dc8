#include "core/config.hpp"

namespace zyg {

std::optional<std::string> SupervisorConfig::validate() const {
  if (budget < 1) return "the budget must allow at least one worker";
  if (budget > 100000) return "the budget is above the supported 100000 workers";
  if (desired < 0 || desired > budget) return "the wanted worker count must be within the budget";
  if (max_changing < 0) return "the number of workers changing at once cannot be negative";
  const Nanos zero{0};
  if (graceful_timeout <= zero || heartbeat_timeout <= zero || ready_timeout <= zero ||
      load_timeout <= zero || kill_retry <= zero || lost_worker_timeout <= zero ||
      zygote_timeout <= zero || stall_threshold <= zero) {
    return "every timeout must be positive";
  }
  if (backoff_base <= zero || backoff_max < backoff_base) {
    return "backoff needs 0 < base <= max";
  }
  if (crash_loop_limit < 1) return "the crash-loop limit must be at least 1";
  if (probation < zero) return "the probation period cannot be negative";
  if (stop_delay < zero) return "the stop delay cannot be negative";
  return std::nullopt;
}

}  // namespace zyg
