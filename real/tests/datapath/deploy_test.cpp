// A deploy keeps connections open: keep-alive connections opened before a deploy, some in use
// throughout it and some idle, are each used again after it on the very same socket, never told
// "Connection: close" and never closed, and what they ask after the deploy is answered by the new
// release.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "real/tests/datapath/datapath.hpp"

namespace zyg::datapath {
namespace {

using namespace std::chrono_literals;

constexpr int kWorkers = 2;
constexpr int kBusy = 3;  // in use all through the deploy
constexpr int kIdle = 3;  // silent through it
constexpr int kRequestsAfter = 3;
constexpr int kBusyRequestsMax = 20'000;  // a bound, far above what a deploy takes

// Asks on `c` until `stop` is set (or the bound); every answer, until the first that is not a
// 200 on a connection kept alive.
std::vector<Answer> keep_asking(Client& c, const std::atomic<bool>& stop) {
  std::vector<Answer> out;
  for (int i = 0; i < kBusyRequestsMax && !stop; ++i) {
    out.push_back(ask(c));
    const Answer& a = out.back();
    if (a.status != 200 || a.close || a.peer_closed) break;
  }
  return out;
}

::testing::AssertionResult kept_alive(const Answer& a, const std::string& release) {
  if (a.status == 200 && !a.close && !a.peer_closed && (release.empty() || a.release == release)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << describe(a) << (release.empty() ? "" : ", wanted ") << release;
}

TEST(DataPath, ADeployClosesNoConnectionAndTheNextRequestsGoToTheNewRelease) {
  Served server({{"A", "latency_ms 5\n"}, {"B", "latency_ms 5\n"}},
                {"--workers", std::to_string(kWorkers), "--probation-ms", "300",
                 "--keepalive-timeout-ms", "60000", "--graceful-timeout-ms", "10000"});
  ASSERT_TRUE(server.started());
  ASSERT_TRUE(server.ready(kWorkers));
  const std::set<pid_t> old_workers = worker_pids(server.process());
  std::vector<Client> conns;
  for (int i = 0; i < kBusy + kIdle; ++i) {
    conns.push_back(Client::connect(server.port(), after(kAnswerTimeout)));
    ASSERT_TRUE(conns.back().ok()) << conns.back().error();
    ASSERT_TRUE(kept_alive(ask(conns.back()), "A")) << "connection " << i;
  }

  std::atomic<bool> deployed{false};
  std::vector<std::vector<Answer>> during(kBusy);
  std::vector<std::thread> busy;
  for (std::size_t i = 0; i < during.size(); ++i) {
    busy.emplace_back([&, i] { during[i] = keep_asking(conns[i], deployed); });
  }
  testing::point_current(server.dir(), "B");
  const auto ctl = server.ctl({"deploy", "--wait", "--wait-timeout-s", "60"});
  deployed = true;
  for (std::thread& t : busy) t.join();
  ASSERT_EQ(ctl.status, 0) << ctl.output << server.log_tail();
  for (std::size_t i = 0; i < during.size(); ++i) {
    ASSERT_FALSE(during[i].empty());
    for (const Answer& a : during[i]) {
      ASSERT_TRUE(kept_alive(a, "")) << "busy connection " << i << " during the deploy";
    }
  }

  // Every connection, busy or idle through the deploy, is the one opened before it.
  for (std::size_t i = 0; i < conns.size(); ++i) {
    for (int r = 0; r < kRequestsAfter; ++r) {
      EXPECT_TRUE(kept_alive(ask(conns[i]), "B")) << "connection " << i << " after the deploy";
    }
  }
  for (pid_t w : worker_pids(server.process())) {
    EXPECT_FALSE(old_workers.contains(w)) << "worker " << w << " of A outlived the deploy";
  }
  const json s = server.status();
  EXPECT_EQ(s["workers"]["total"], kWorkers) << s.dump();
  EXPECT_EQ(s["front"].value("restarts", -1), 0) << "the front was not touched by the deploy";
}

}  // namespace
}  // namespace zyg::datapath
