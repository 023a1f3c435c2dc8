#include "core/teeth.hpp"

namespace zyg::teeth {

const std::vector<std::pair<Bug, std::string>>& all() {
  static const std::vector<std::pair<Bug, std::string>> bugs = {
      {Bug::count_only_serving, "count_only_serving"},
      {Bug::kill_busy_on_deploy, "kill_busy_on_deploy"},
      {Bug::drain_before_load, "drain_before_load"},
      {Bug::forget_crashed, "forget_crashed"},
      {Bug::stale_pid_signal, "stale_pid_signal"},
      {Bug::shutdown_handoff, "shutdown_handoff"},
      {Bug::drop_keepalive, "drop_keepalive"},
      {Bug::linger, "linger"},
      {Bug::garble_spool, "garble_spool"},
  };
  return bugs;
}

#ifdef ZYGOTE_TEETH
Bug& active() {
  static Bug bug = Bug::none;
  return bug;
}
#endif

}  // namespace zyg::teeth
