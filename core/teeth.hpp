// Deliberate bugs, for proving that the property suites catch them. Only the props' test build
// defines ZYGOTE_TEETH; everywhere else ZYG_BUG(name) is the constant false and the buggy branch
// is compiled out, so no shipped binary can reach one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zyg::teeth {

enum class Bug : std::uint8_t {
  none,
  count_only_serving,   // the budget counts ready and busy workers only
  kill_busy_on_deploy,  // a deploy kills busy old workers instead of letting them finish
  drain_before_load,    // a deploy stops the serving workers before the new zygote has loaded
  forget_crashed,       // a crashed worker is never noticed, so never replaced
  stale_pid_signal,     // the master signals workers by pid, though it is not their parent
  shutdown_handoff,     // a draining worker shuts the shared hand-off socket down
  drop_keepalive,       // a draining worker closes its connection on a request it has read
  linger,               // a worker waits on its connection for the next request instead of
                        // giving it back, while other requests wait for a worker
  garble_spool,         // the front's spool changes the first byte of what it writes of a body
};

const std::vector<std::pair<Bug, std::string>>& all();

#ifdef ZYGOTE_TEETH
Bug& active();
#define ZYG_BUG(name) (::zyg::teeth::active() == ::zyg::teeth::Bug::name)
#else
#define ZYG_BUG(name) false
#endif

}  // namespace zyg::teeth
