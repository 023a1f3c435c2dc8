// Slow clients never reach workers: connections that send part of a request head, and idle
// keep-alive connections, are held by the front alone, and the workers go on serving. Shown three
// ways: every such connection's server end is among the front's descriptors and never among a
// worker's (/proc, sampled throughout); the front hands on exactly the requests that were
// complete (ctl status: `front.handoffs`); and a normal request is answered meanwhile.
#include <gtest/gtest.h>
#include <poll.h>

#include <set>
#include <string>
#include <vector>

#include "real/tests/datapath/datapath.hpp"

namespace zyg::datapath {
namespace {

using namespace std::chrono_literals;

constexpr int kWorkers = 2;
constexpr int kSlow = 100;  // partial request heads, never finished
constexpr int kIdle = 20;   // answered once, then silent

// What the test holds open, and the server's end of each, by inode.
struct Held {
  std::vector<Client> slow, idle;
  std::set<unsigned long> inodes;
};

// Waits (10 s at most) until the front holds every connection in `held`; fills held.inodes.
// Meanwhile, and at the end, no worker may hold any of them: `seen_in_worker` counts those.
::testing::AssertionResult front_holds_all(const Served& server, Held& held,
                                           std::size_t& seen_in_worker) {
  std::string found;
  const bool ok = testing::eventually(
      [&] {
        held.inodes.clear();
        const bool accepted = add_server_inodes(server.port(), held.slow, held.inodes) &&
                              add_server_inodes(server.port(), held.idle, held.inodes);
        const auto front = server.front().value("pid", pid_t{0});
        for (pid_t w : worker_pids(server.process())) seen_in_worker += held_by(w, held.inodes);
        const std::size_t in_front = held_by(front, held.inodes);
        found = std::to_string(in_front) + " of " + std::to_string(kSlow + kIdle) +
                " found in the front (pid " + std::to_string(front) + ")";
        return accepted && in_front == static_cast<std::size_t>(kSlow + kIdle);
      },
      10s);
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "the front does not hold every connection: " << found << "; seen " << seen_in_worker
         << " times among a worker's descriptors";
}

// Nothing has come back on `c`, and it is still open.
bool unanswered_and_open(const Client& c, std::size_t bytes_before) {
  pollfd p{c.fd(), POLLIN, 0};
  return c.ok() && c.received().size() == bytes_before && ::poll(&p, 1, 0) == 0;
}

std::size_t handoffs(const Served& server) {
  return server.front().value("handoffs", std::size_t{0});
}

TEST(DataPath, SlowAndIdleClientsAreHeldByTheFrontNeverByAWorker) {
  Served server({{"A", ""}}, {"--workers", std::to_string(kWorkers), "--read-timeout-ms", "60000",
                              "--keepalive-timeout-ms", "60000"});
  ASSERT_TRUE(server.started());
  ASSERT_TRUE(server.ready(kWorkers));
  const std::set<pid_t> workers = worker_pids(server.process());

  Held held;
  for (int i = 0; i < kIdle; ++i) {
    held.idle.push_back(answered_connection(server.port()));
    ASSERT_TRUE(held.idle.back().ok()) << held.idle.back().error();
    ASSERT_FALSE(HasFailure()) << "idle connection " << i << " was not answered";
  }
  for (int i = 0; i < kSlow; ++i) {
    held.slow.push_back(Client::connect(server.port(), after(kAnswerTimeout)));
    ASSERT_TRUE(held.slow.back().ok()) << held.slow.back().error();
    ASSERT_TRUE(held.slow.back().send_all(kPartialHead, after(kAnswerTimeout)));
  }
  std::size_t seen_in_worker = 0;
  ASSERT_TRUE(front_holds_all(server, held, seen_in_worker)) << server.log_tail();

  // A normal request is served, by a worker, while all of them are held.
  Client normal = Client::connect(server.port(), after(kAnswerTimeout));
  const Answer a = ask(normal);
  EXPECT_EQ(a.status, 200) << describe(a);
  EXPECT_TRUE(workers.contains(a.pid)) << describe(a);
  ASSERT_TRUE(front_holds_all(server, held, seen_in_worker)) << server.log_tail();
  EXPECT_EQ(seen_in_worker, 0u) << "a worker held a slow or idle connection";

  // The front handed on exactly the complete requests: one per idle connection, and the normal
  // one. Its count arrives with its heartbeat, once a second.
  const std::size_t complete = kIdle + 1;
  ASSERT_TRUE(testing::eventually([&] { return handoffs(server) >= complete; }, 10s));
  EXPECT_EQ(handoffs(server), complete) << server.front().dump();
  EXPECT_GE(server.front().value("connections", 0), kSlow + kIdle) << server.front().dump();

  for (const Client& c : held.slow) EXPECT_TRUE(unanswered_and_open(c, 0));
  for (const Client& c : held.idle) EXPECT_TRUE(unanswered_and_open(c, c.received().size()));
  EXPECT_EQ(worker_pids(server.process()), workers) << "no worker was replaced meanwhile";
}

}  // namespace
}  // namespace zyg::datapath
