// Connection spread: a keep-alive connection is not a worker's. Each request on it goes to
// whichever worker is idle, so requests on one long-lived connection are served by several
// workers, and every worker serves some. The outcome is asserted, not how fast it came.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "real/tests/datapath/datapath.hpp"

namespace zyg::datapath {
namespace {

constexpr int kWorkers = 4;
constexpr int kClients = 6;
constexpr int kRequestsPerClient = 24;

// One client's run: its own connection, opened once, used for every request.
struct Conversation {
  std::vector<Answer> answers;
  std::string error;
};

Conversation converse(int port) {
  Conversation out;
  Client c = Client::connect(port, after(kAnswerTimeout));
  if (!c.ok()) {
    out.error = c.error();
    return out;
  }
  for (int i = 0; i < kRequestsPerClient; ++i) {
    out.answers.push_back(ask(c));
    const Answer& a = out.answers.back();
    if (a.status != 200 || a.close || a.peer_closed) break;  // asserted by the test
  }
  return out;
}

TEST(DataPath, KeepAliveRequestsOnOneConnectionSpreadOverTheWorkers) {
  // Each request takes 10 ms in the app, so the workers are busy while requests arrive.
  Served server({{"A", "latency_ms 10\n"}},
                {"--workers", std::to_string(kWorkers), "--keepalive-timeout-ms", "30000"});
  ASSERT_TRUE(server.started());
  ASSERT_TRUE(server.ready(kWorkers));
  const std::set<pid_t> workers = worker_pids(server.process());
  ASSERT_EQ(workers.size(), static_cast<std::size_t>(kWorkers));

  std::vector<Conversation> runs(kClients);
  {
    std::vector<std::thread> clients;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      clients.emplace_back([&runs, i, port = server.port()] { runs[i] = converse(port); });
    }
    for (std::thread& t : clients) t.join();
  }

  std::map<pid_t, int> served;  // worker pid: requests it served, over all connections
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Conversation& run = runs[i];
    ASSERT_TRUE(run.error.empty()) << "client " << i << ": " << run.error;
    ASSERT_EQ(run.answers.size(), static_cast<std::size_t>(kRequestsPerClient))
        << "client " << i << " stopped at: " << describe(run.answers.back());
    std::set<pid_t> by;  // the workers that served this connection
    for (const Answer& a : run.answers) {
      ASSERT_EQ(a.status, 200) << "client " << i << ": " << describe(a);
      ASSERT_TRUE(!a.close && !a.peer_closed) << "client " << i << ": " << describe(a);
      EXPECT_TRUE(workers.contains(a.pid)) << "not a worker of the server: " << describe(a);
      by.insert(a.pid);
      served[a.pid] += 1;
    }
    EXPECT_GT(by.size(), 1u) << "client " << i << ": all " << kRequestsPerClient
                             << " requests on its connection were served by worker " << *by.begin();
  }
  for (pid_t w : workers) {
    EXPECT_GT(served[w], 0) << "worker " << w << " served none of " << kClients * kRequestsPerClient
                            << " requests";
  }
  EXPECT_EQ(worker_pids(server.process()), workers) << "no worker was replaced meanwhile";
}

}  // namespace
}  // namespace zyg::datapath
