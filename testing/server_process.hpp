// Test support shared by the tests, zygote-conform and the benchmarks: scratch directories with
// releases, process groups as /proc shows them, and one zygote-real started in a session (and so
// a process group) of its own, on 127.0.0.1 and a free port, in a scratch directory; stopped by
// its pid, its group killed, whatever the test did. Every wait is bounded; no threads.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace zyg::testing {

// A scratch directory removed (recursively) when this goes.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix = "zygote-test");  // /tmp/<prefix>-XXXXXX
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes <dir>/releases/<name>/ with a copy of `shared_object` and, if given, testapp.conf.
std::string make_release(const std::string& dir, const std::string& name,
                         const std::string& shared_object, const std::string& conf = "");
// Points <dir>/current at releases/<name>, atomically.
void point_current(const std::string& dir, const std::string& name);

// The bytes of a file from `offset` on; empty if it cannot be read.
std::string read_file(const std::string& path, std::size_t offset = 0);

// A process as /proc shows it; the start time tells a process from a later one with its pid.
struct ProcessId {
  pid_t pid = 0;
  unsigned long long start_time = 0;  // clock ticks after boot
  char state = '?';                   // 'Z': exited, not reaped
  std::string comm;                   // at most 15 characters: "zygote-real: wo" for a worker

  bool operator==(const ProcessId& o) const { return pid == o.pid && start_time == o.start_time; }
};

// Every process whose process group is `pgid`, from /proc.
std::vector<ProcessId> processes_in_group(pid_t pgid);
// For failure messages: "[ 123S 124Z ]", pid and state.
std::string describe(const std::vector<ProcessId>& processes);

class ServerProcess {
 public:
  // Starts `binary --bind 127.0.0.1:0 -b <dir>/current --run-dir <dir>/run <args...>`, its
  // stdout and stderr to <dir>/server.log (server-N.log for the Nth in one directory), and waits
  // (15 s at most) for "listening on port N". The master gets SIGKILL if the thread that started it
  // ends (PR_SET_PDEATHSIG).
  ServerProcess(const std::string& binary, const std::string& dir, std::vector<std::string> args);
  ~ServerProcess();  // SIGKILL to the group if anything of it may remain
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool started() const { return port_ != 0; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string run_dir() const { return dir_ + "/run"; }
  std::string log() const;
  // The last `bytes_max` bytes of the log, for failure messages.
  std::string log_tail(std::size_t bytes_max = 64 * 1024) const;

  // Every process of the server's group (master, zygote, workers), and the workers among them,
  // by their titles.
  std::vector<ProcessId> group() const;
  std::vector<ProcessId> workers() const;

  // SIGTERM, then waits up to `within` for the exit; its exit status (128 + N for signal N), or
  // nullopt if it did not exit in time (the group is then killed).
  std::optional<int> stop(std::chrono::milliseconds within = std::chrono::seconds(30));
  // stop(), and the master must exit 0 and leave no process of its group behind. Empty when it
  // did; otherwise what went wrong (and the group is killed).
  std::string stop_cleanly(std::chrono::milliseconds within = std::chrono::seconds(30));
  // Waits for the master to exit on its own; its exit status, or nullopt on timeout. Once it
  // exited, the same status on every call.
  std::optional<int> wait_exit(std::chrono::milliseconds within);

 private:
  void kill_group();

  static std::string next_log_path(const std::string& dir);

  std::string dir_;
  std::string log_path_;
  pid_t pid_ = -1;  // the master; also its process group's id
  int port_ = 0;
  std::optional<int> wait_status_;  // as waitpid(2) gave it, once reaped
  bool group_gone_ = false;         // stop_cleanly() saw no process left in the group
};

// The status code of one GET on a fresh connection to 127.0.0.1:port, 0 if none within 5 s.
int http_get_status(int port, const std::string& target = "/");

// Runs a command to completion (bounded); its exit status and stdout+stderr.
struct CommandResult {
  int status = -1;
  std::string output;
};
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds within = std::chrono::seconds(60));

// Polls `done` every 50 ms until it holds or `within` passes.
template <class F>
bool eventually(F done, std::chrono::milliseconds within) {
  const auto until = std::chrono::steady_clock::now() + within;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    struct timespec ts {
      0, 50'000'000
    };
    ::nanosleep(&ts, nullptr);
  }
}

}  // namespace zyg::testing
