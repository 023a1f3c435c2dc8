#include "real/systemd.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/status.hpp"

namespace zyg::real {

std::variant<ActivatedSockets, std::string> take_activated_sockets() {
  char** names = nullptr;
  const int n = sd_listen_fds_with_names(1, &names);
  if (n < 0) return std::string("socket activation: ") + std::strerror(-n);
  ActivatedSockets got;
  std::string error;
  for (int i = 0; i < n; ++i) {
    const int fd = SD_LISTEN_FDS_START + i;
    const std::string name = names != nullptr && names[i] != nullptr ? names[i] : "unknown";
    if (error.empty() && sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
      error = "socket activation: the socket named '" + name +
              "' is not a listening stream socket (ListenStream= in the socket unit)";
    } else if (error.empty() && name != "status" && got.app >= 0) {
      error = "socket activation: more than one socket for the app ('" + name +
              "'); name the status port's FileDescriptorName=status";
    } else if (error.empty() && name == "status" && got.status >= 0) {
      error = "socket activation: more than one socket named 'status'";
    }
    (name == "status" ? got.status : got.app) = fd;
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) static_cast<void>(::fcntl(fd, F_SETFL, flags | O_NONBLOCK));
  }
  for (int i = 0; names != nullptr && i < n; ++i) std::free(names[i]);
  std::free(static_cast<void*>(names));
  if (!error.empty()) return error;
  return got;
}

Notifier::Notifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
  std::uint64_t usec = 0;
  if (enabled_ && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_ = std::chrono::microseconds(usec);
  }
}

void Notifier::send(const std::string& state) {
  // Best effort: systemd gone or the socket full must not stop serving.
  static_cast<void>(sd_notify(0, state.c_str()));
}

std::string Notifier::serving_line(const Supervisor& s) const {
  const StatusSnapshot snap = s.snapshot();
  return "STATUS=serving " + snap.serving + " with " +
         std::to_string(snap.workers.ready + snap.workers.busy) + " of " +
         std::to_string(snap.budget) + " workers";
}

void Notifier::on_step(Nanos now, const Event& e, const Commands& cmds, const Supervisor& s) {
  if (!enabled_) return;
  for (const Command& c : cmds) {
    const auto* r = std::get_if<cmd::Report>(&c);
    if (r == nullptr) continue;
    if (r->what == "shutdown" && !stopping_) {
      stopping_ = true;
      send("STOPPING=1\nSTATUS=" + r->detail);
    } else {
      send("STATUS=" + r->what + ": " + r->detail);
    }
  }
  if (stopping_) return;
  const bool tick = std::holds_alternative<ev::Tick>(e);
  if (!ready_) {
    // Until then a snapshot per step: only the first moments of the master's life.
    if (ready(s.snapshot())) {
      ready_ = true;
      send("READY=1\n" + serving_line(s));
    }
  } else {
    const bool deploying = s.phase() != DeployPhase::serving;
    if (deploying && !reloading_) {
      reloading_ = true;
      timespec ts{};
      ::clock_gettime(CLOCK_MONOTONIC, &ts);
      const auto usec = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 +
                        static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
      send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=deploying (" +
           to_string(s.phase()) + ")");
    } else if (!deploying && reloading_) {
      reloading_ = false;
      send("READY=1\n" + serving_line(s));
    }
  }
  // The master's loop feeds a tick every round it is healthy: no tick, no watchdog.
  if (tick && watchdog_ > Nanos{0} && now - last_watchdog_ >= watchdog_ / 2) {
    last_watchdog_ = now;
    send("WATCHDOG=1");
  }
}

}  // namespace zyg::real
