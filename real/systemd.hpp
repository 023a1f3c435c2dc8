// zygote-real under systemd, through libsystemd: readiness, reload and stop notifications, status
// lines and the watchdog (sd_notify), and socket activation (sd_listen_fds_with_names). Outside
// systemd (no NOTIFY_SOCKET, no LISTEN_FDS) all of it is inert.
#pragma once

#include <string>
#include <variant>

#include "core/loops.hpp"

namespace zyg::real {

// The listening sockets systemd passed to this process, by FileDescriptorName: "status" is the
// status port, any other name the app's socket. -1: not passed.
struct ActivatedSockets {
  int app = -1;
  int status = -1;
};

// Takes the sockets (and clears LISTEN_* from the environment, so the app never sees them), made
// non-blocking. An error names what is wrong: more than one app socket, one that is not a
// listening stream socket.
std::variant<ActivatedSockets, std::string> take_activated_sockets();

// Follows the master's steps and tells systemd (Type=notify):
//   READY=1             once the first release serves with a ready worker
//   RELOADING=1         when a deploy begins (with MONOTONIC_USEC), READY=1 when it has ended
//                       (proven, failed, rolled back)
//   STATUS=...          each report, and what serves
//   STOPPING=1          when a stop begins
//   WATCHDOG=1          every half WatchdogSec, from the master's loop: only while it turns
class Notifier {
 public:
  Notifier();
  bool enabled() const { return enabled_; }
  void on_step(Nanos now, const Event& e, const Commands& cmds, const Supervisor& s);

 private:
  void send(const std::string& state);
  std::string serving_line(const Supervisor& s) const;

  bool enabled_ = false;
  Nanos watchdog_{0};  // 0: no watchdog
  Nanos last_watchdog_{0};
  bool ready_ = false;
  bool reloading_ = false;
  bool stopping_ = false;
};

}  // namespace zyg::real
