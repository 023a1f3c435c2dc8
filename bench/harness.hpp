// What the benchmark suites share: their own command-line flags, a scratch directory, processes
// started in a process group of their own (stopped by pid and group, whatever happens), a blocking
// loopback HTTP client, zygote-real's --events lines, and memory from /proc/PID/smaps_rollup.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "testing/server_process.hpp"

namespace zyg::bench {

// CLOCK_MONOTONIC in nanoseconds: the clock of zygote-real's event times, `t` (LinuxOs::now).
std::int64_t mono_ns();

// Flags of our own ("--name=value" or "--name"), taken out of argv before Google Benchmark sees
// it. Unknown "--benchmark_*" flags are left for Google Benchmark.
class Flags {
 public:
  Flags(int* argc, char** argv, const std::vector<std::string>& names);
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::string get(const std::string& name, const std::string& fallback) const;
  std::vector<int> ints(const std::string& name, const std::vector<int>& fallback) const;

 private:
  std::map<std::string, std::string> values_;
};

// A temporary directory (testing::ScratchDir), removed with everything in it when this goes.
class Scratch {
 public:
  Scratch() : dir_("zygote-bench"), path_(dir_.path()) {}
  const std::filesystem::path& path() const { return path_; }

  // <scratch>/releases/NAME holding a copy of `app_so` and, if not empty, testapp.conf.
  std::filesystem::path release(const std::string& name, const std::filesystem::path& app_so,
                                const std::string& testapp_conf = "");
  // Points <scratch>/current at releases/NAME (atomically: a new symlink renamed over the old).
  std::filesystem::path point_current(const std::string& name);

 private:
  testing::ScratchDir dir_;
  std::filesystem::path path_;
};

// A child process started with posix_spawn in a new session (its own process group), stderr to a
// file. The destructor kills the whole group and reaps the child: nothing outlives a benchmark.
// A signal that ends the benchmark (SIGINT, SIGTERM, SIGHUP, SIGQUIT; SIGABRT from an uncaught
// exception; SIGSEGV, SIGBUS, SIGFPE) kills every live group first.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::filesystem::path& stderr_file);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig) const;
  // SIGTERM, then up to `grace` for the child to exit, then SIGKILL to the group. Returns the
  // wait status, or -1 if it had to be killed.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(30));

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// The command line of zygote-real serving <scratch>/current on 127.0.0.1:port with `workers`
// slots, its run directory in the scratch and every supervisor step in `events`; `extra` options
// come before the app and its arguments.
std::vector<std::string> server_argv(const std::string& zygote_real, const Scratch& scratch,
                                     std::uint16_t port, int workers,
                                     const std::filesystem::path& events,
                                     const std::vector<std::string>& extra,
                                     const std::vector<std::string>& app_and_args);

// An unused TCP port on 127.0.0.1 (bound once to port 0, then released).
std::uint16_t free_port();

struct HttpResult {
  int status = 0;  // 0: no complete response
  std::string body;
  std::int64_t sent_ns = 0;  // when the request was written
  std::int64_t done_ns = 0;  // when the whole response had arrived
};

// A request sent and not yet answered.
struct Pending {
  int fd = -1;  // -1: connecting or sending failed
  std::int64_t sent_ns = 0;
};

// Sends one GET on a new connection to 127.0.0.1:port ("Connection: close"), retrying the connect
// while it is refused, until `deadline_ns` (mono_ns clock).
Pending http_send(std::uint16_t port, const std::string& target, std::int64_t deadline_ns);
// Reads the whole response (until the server closes) and closes the connection.
HttpResult http_finish(Pending p, std::int64_t deadline_ns);
// Waits until 127.0.0.1:port accepts a connection (then closes it, sending nothing).
bool wait_listening(std::uint16_t port, std::int64_t deadline_ns);
// Both.
HttpResult http_get(std::uint16_t port, const std::string& target, std::int64_t deadline_ns);

// One supervisor step of zygote-real's --events file, in the words of core/describe.cpp whichever
// way the line spells it ({"t_ns", "event": "worker-ready w1"} or {"t", "event": {"type":
// "worker-ready", "worker": 1}}): "worker-spawned w3 pid 123", "deploy /path/releases/B", ...
struct Step {
  std::int64_t t_ns = 0;
  std::string event;
  std::vector<std::string> commands;
};

// zygote-real's --events file, read whole (a master's header line and a line still being
// written are skipped).
class Events {
 public:
  explicit Events(std::filesystem::path file) : file_(std::move(file)) {}
  void reload();
  const std::vector<Step>& steps() const { return steps_; }
  // Prefixes match whole words: "worker-ready w1" matches "worker-ready w1", not "... w10".
  // t_ns of the first step whose event starts with `prefix`, at or after `from_ns`.
  std::optional<std::int64_t> event_time(const std::string& prefix, std::int64_t from_ns = 0) const;
  // t_ns of the first step with a command starting with `prefix`.
  std::optional<std::int64_t> command_time(const std::string& prefix) const;
  // The worker id ("w7") of the worker with this pid, from its worker-spawned event.
  std::optional<std::string> worker_with_pid(pid_t pid) const;

 private:
  std::filesystem::path file_;
  std::vector<Step> steps_;
};

// The workers the master accounts for, replayed from its steps: asked for (request-worker, with
// its zygote's version from start-zygote), then ready, busy or draining, until reaped.
class WorkerTracker {
 public:
  void apply(const Step& step);
  int count() const { return static_cast<int>(workers_.size()); }
  int ready_or_busy() const;
  // Exactly `n` workers, each on `version` and ready or busy.
  bool all_on(const std::string& version, int n) const;
  // The version every worker runs, if they all run the same one.
  std::optional<std::string> common_version() const;

 private:
  struct Worker {
    std::string version;
    std::string state = "starting";
  };
  std::map<std::string, std::string> zygote_version_;  // "z1" -> version
  std::map<std::string, Worker> workers_;              // "w1" -> worker
};

// The tracker after every step of `events`.
WorkerTracker replay(const Events& events);

// /proc/PID/smaps_rollup, in KiB. uss = Private_Clean + Private_Dirty.
struct Memory {
  std::int64_t rss_kib = 0;
  std::int64_t pss_kib = 0;
  std::int64_t uss_kib = 0;
  std::int64_t anon_huge_kib = 0;
};
std::optional<Memory> memory_of(pid_t pid);

// Every process in process group `pgid` (one pass over /proc), with its comm.
using testing::processes_in_group;

void sleep_ms(int ms);

// Polls `ready` every 2 ms until it holds or `timeout` passes.
template <class F>
bool eventually(F ready, std::chrono::milliseconds timeout) {
  const std::int64_t deadline = mono_ns() + std::chrono::nanoseconds(timeout).count();
  for (;;) {
    if (ready()) return true;
    if (mono_ns() >= deadline) return false;
    sleep_ms(2);
  }
}

// The median and the given percentile of `samples` (sorted copy), 0 when empty.
double percentile(std::vector<double> samples, double p);

}  // namespace zyg::bench
