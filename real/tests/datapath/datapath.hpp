// What the data path tests share: one zygote-real serving testapp releases from a scratch
// directory of its own (stopped cleanly at the end of the test, by its pid and group), its
// status as `ctl status --json` gives it, testapp's answers read back (which release, which
// worker pid), and the sockets a process holds, by inode, from /proc. 127.0.0.1 only; every wait
// is bounded.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "real/tests/live/client.hpp"
#include "testing/server_process.hpp"

namespace zyg::datapath {

using live::after;
using live::Client;
using live::Clock;
using live::Deadline;
using nlohmann::json;

// How long one answer may take: generous, the machine may be busy with other builds.
inline constexpr std::chrono::milliseconds kAnswerTimeout{10'000};

// A request head that never ends: what a slow client has sent so far.
inline constexpr std::string_view kPartialHead = "GET / HTTP/1.1\r\nHost: datapath\r\nX-Slow: ";

struct Release {
  std::string name;
  std::string conf;  // testapp.conf
};

class Served {
 public:
  // Writes the releases (the first is current) and starts zygote-real with `options` and testapp.
  Served(const std::vector<Release>& releases, const std::vector<std::string>& options);
  ~Served();  // stops it; anything but a clean stop fails the test
  Served(const Served&) = delete;
  Served& operator=(const Served&) = delete;

  ::testing::AssertionResult started() const;
  // Waits (15 s at most) until `workers` workers are ready, none starting, and a front exists.
  ::testing::AssertionResult ready(int workers) const;
  json status() const;  // {} when the control socket does not answer
  json front() const;   // status()'s "front" object: pid, restarts, connections, handoffs...
  int port() const { return server_->port(); }
  const std::string& dir() const { return scratch_.path(); }
  const testing::ServerProcess& process() const { return *server_; }
  std::string log_tail() const { return server_->log_tail(16 * 1024); }
  // `zygote-real ctl --run-dir DIR args...`.
  testing::CommandResult ctl(const std::vector<std::string>& args) const;

 private:
  testing::ScratchDir scratch_;
  std::unique_ptr<testing::ServerProcess> server_;  // goes before its directory
};

// One response of testapp: "testapp <release> pid <pid>\n".
struct Answer {
  int status = 0;  // 0: none within the deadline
  std::string release;
  pid_t pid = 0;
  bool close = false;        // it said "Connection: close"
  bool peer_closed = false;  // the server closed the connection
  std::string error;         // the send failed, or no complete response came
};
std::string describe(const Answer& a);

// Sends "GET target" (keep-alive) on `c` and reads its response, within kAnswerTimeout.
Answer ask(Client& c, std::string_view target = "/");
// A fresh connection that has been answered once (200), or one whose error says why not.
Client answered_connection(int port);

// The inode of the server's end of `c`, from /proc/net/tcp; 0 while the kernel has not yet
// given it one (not yet accepted) or the connection is gone.
unsigned long server_inode(int server_port, const Client& c);
// The inodes of the sockets process `pid` holds, from /proc/PID/fd.
std::set<unsigned long> socket_inodes(pid_t pid);
// Adds the server's end of each of `clients` to `inodes`; false if one has none yet.
bool add_server_inodes(int server_port, const std::vector<Client>& clients,
                       std::set<unsigned long>& inodes);
// How many of `inodes` process `pid` holds.
std::size_t held_by(pid_t pid, const std::set<unsigned long>& inodes);
// The pids of the server's workers, from /proc.
std::set<pid_t> worker_pids(const testing::ServerProcess& server);

}  // namespace zyg::datapath
