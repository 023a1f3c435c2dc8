// The three process loops: master, zygote, worker. They are written against the OS seam only, so
// the same code runs over Linux (real/) and over the simulated kernel (sim/).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/access_log.hpp"
#include "core/app.hpp"
#include "core/commands.hpp"
#include "core/config.hpp"
#include "core/events.hpp"
#include "core/http/connection.hpp"
#include "core/os.hpp"
#include "core/supervisor.hpp"

namespace zyg {

// How a worker serves and guards itself.
struct WorkerConfig {
  http::Limits http;
  Nanos keepalive_timeout = 5s;      // an idle keep-alive connection is closed after this
  Nanos request_read_timeout = 30s;  // a started request must arrive completely within this (408)
  Nanos write_timeout = 30s;         // a response must be taken by the client within this
  Nanos heartbeat_interval = 1s;     // how often an idle worker tells the master it is alive
  // Where the front writes request bodies above http.body_memory_max (unlinked files).
  std::string spool_dir = "/var/tmp";
  // Integrity limits: reaching one, the worker drains and exits to be replaced. 0: no limit.
  std::uint64_t max_requests = 0;
  std::uint64_t max_requests_jitter = 0;  // each worker adds its own 0..jitter to max_requests
  // The access log: "" none, "-" standard output, else a file every worker appends to (and
  // reopens on SIGUSR1).
  std::string access_log;
  AccessFormat access_format = AccessFormat::json;
  std::uint64_t rss_bytes_max = 0;
  Nanos cpu_max{0};
};

// Receives what the master decides, for logs (JSON lines) and for the simulator's checks.
class MasterObserver {
 public:
  virtual ~MasterObserver() = default;
  virtual void on_step(Nanos /*now*/, const Event& /*event*/, const Commands& /*commands*/,
                       const Supervisor& /*supervisor*/) {}
  virtual void on_listening(os::Fd /*listener*/) {}
  virtual void on_status_listening(os::Fd /*listener*/) {}  // the status port is open
  // The master has everything it needs (listener, channels, control socket) and is about to
  // feed its first event: from here on its steps are its own.
  virtual void on_started(const SupervisorConfig& /*config*/, Pid /*master*/) {}

  virtual void on_error(Nanos /*now*/, const std::string& /*what*/) {}
  virtual void on_reopen_logs() {}  // SIGUSR1: the master's own log files
};

struct MasterConfig {
  SupervisorConfig supervisor;
  WorkerConfig worker;
  std::string app_path;               // -b APP_DIR: resolved to a release directory = the version
  std::vector<std::string> app_args;  // passed to the app's init
  os::Endpoint endpoint;
  int backlog = 0;                        // 0: proportional to the budget
  os::Fd inherited_listener = -1;         // a listening socket handed to us (socket activation)
  os::Fd inherited_status_listener = -1;  // the same, for the status port
  Nanos tick_interval = 100ms;            // how often deadlines are checked
  std::string state_path;                 // remembers the last proven version across restarts
  std::string control_path;               // the control socket (core/control.hpp); empty: none
  std::optional<os::Endpoint> status_endpoint;  // the status port (core/status_server.hpp)
  bool huge_pages = false;                // zygotes move the loaded app's memory to huge pages
  std::size_t max_connections = 10000;    // connections the front holds at once
  std::optional<os::Credentials> run_as;  // --user/--group: zygotes, workers and the front

  std::string title = "zygote";  // process titles: "<title>: worker [<version>]"
};

// The master's whole life; returns its exit code.
int run_master(os::Os& os, const MasterConfig& config, AppLoader& loader,
               MasterObserver* observer = nullptr);

// The descriptors through which requests reach workers (core/handoff.hpp). The master makes both
// pairs and keeps every end open for its whole life, so what is in flight survives any process.
struct HandoffChannels {
  os::Fd requests_out = -1;  // front -> workers: a connection with a complete request
  os::Fd requests_in = -1;   // every idle worker reads this end
  os::Fd returns_out = -1;   // every worker writes connections back here
  os::Fd returns_in = -1;    // the front reads them
};

// The front: owns every connection that is idle or still arriving, and hands complete requests
// to idle workers. It runs no app code and is never part of a deploy.
struct FrontArgs {
  std::uint64_t generation = 0;  // the master's serial for this front: connection names begin
                                 // with it, so two fronts' names never meet
  os::Fd listener = -1;
  os::Fd channel = -1;  // seqpacket to the master: heartbeats and notices
  HandoffChannels handoff;
  WorkerConfig http;                    // limits and timeouts of a request on its way in
  std::size_t max_connections = 10000;  // held at once; beyond it, new ones wait in the backlog
  std::string title;
};

int run_front(os::Os& os, const FrontArgs& args);

struct ZygoteArgs {
  ZygoteId id;
  Version version;
  std::vector<std::string> app_args;
  os::Fd channel = -1;      // seqpacket to the master
  os::Fd requests_in = -1;  // hand-offs from the front, inherited by workers
  os::Fd returns_out = -1;  // connections back to the front, inherited by workers
  os::Fd report = -1;       // datagram to the master, inherited by workers
  WorkerConfig worker;
  std::string title;
  bool huge_pages = false;  // after loading, move the app's memory to transparent huge pages
};

int run_zygote(os::Os& os, const ZygoteArgs& args, AppLoader& loader);

struct WorkerArgs {
  WorkerId id;
  Version version;
  os::Fd requests_in = -1;
  os::Fd returns_out = -1;
  os::Fd report = -1;
  WorkerConfig config;
};

int run_worker(os::Os& os, const WorkerArgs& args, App& app);

// The request count after which worker `id` retires: `max` (0: never) plus a share of `jitter`
// drawn from the worker's id alone (a hash: the same worker always gets the same share, and no
// randomness reaches the loop), so workers started together retire apart.
inline std::uint64_t retire_after(std::uint64_t max, std::uint64_t jitter, std::uint64_t id) {
  if (max == 0 || jitter == 0) return max;
  std::uint64_t z = id + 0x9e3779b97f4a7c15;  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  z ^= z >> 31;
  constexpr std::uint64_t kMost = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t share = jitter == kMost ? z : z % (jitter + 1);
  return max > kMost - share ? kMost : max + share;
}

}  // namespace zyg
