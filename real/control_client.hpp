// The client side of the control protocol (core/control.hpp): `zygote-real ctl`.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace zyg::real {

// The run directory's default: $XDG_RUNTIME_DIR/zygote-UID, or /tmp/zygote-UID without it.
std::string default_run_dir();

// The control socket's path in a run directory.
std::string control_socket_path(const std::string& run_dir);

struct ControlReply {
  std::optional<std::string> line;  // the reply line, newline stripped
  std::string error;                // why there is none: no server, timeout, ...
};

// Connects to the control socket at `path`, sends `request` and a newline, and reads the reply
// line, all within `timeout`.
ControlReply control_request(const std::string& path, const std::string& request,
                             std::chrono::milliseconds timeout);

// `zygote-real ctl ...`: argv[0] is "ctl". Returns the exit status.
int ctl_main(int argc, char** argv);

}  // namespace zyg::real
