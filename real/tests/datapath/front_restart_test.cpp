// The front's restart: after SIGKILL to the front, the master starts a new one (a new pid,
// `restarts` counted); the listening socket is the master's and survives, so connections made
// while no front runs are accepted by the next one and answered, none refused; the connections
// the dead front held are lost (closed, unanswered); the workers are untouched and keep serving.
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "real/tests/datapath/datapath.hpp"

namespace zyg::datapath {
namespace {

using namespace std::chrono_literals;

constexpr int kWorkers = 2;
constexpr int kIdle = 5;
constexpr int kSlow = 3;
constexpr std::size_t kMeanwhileMax = 40;  // connections opened while the front is restarted

constexpr std::string_view kGetClose =
    "GET / HTTP/1.1\r\nHost: datapath\r\nConnection: close\r\n\r\n";

// Waits (5 s at most) for process `pid` to take the front's title: a new one sets it first.
bool titled_front(pid_t pid) {
  return testing::eventually(
      [pid] {
        const std::string title = testing::read_file("/proc/" + std::to_string(pid) + "/cmdline");
        return title.starts_with("zygote-real:") && title.find(": front") != std::string::npos;
      },
      5s);
}

// Waits (10 s at most) until `front` holds the server's end of every connection in `held`: none
// is still on its way back from a worker.
bool front_holds(const Served& server, pid_t front, const std::vector<Client>& held) {
  return testing::eventually(
      [&] {
        std::set<unsigned long> inodes;
        return add_server_inodes(server.port(), held, inodes) &&
               held_by(front, inodes) == held.size();
      },
      10s);
}

// Until the master reports a front other than `old` (15 s at most), opens connections and sends
// a request on each (at most kMeanwhileMax); the test wants every one accepted and answered.
// The first is opened at once after the SIGKILL, when no front can accept: it waits in the
// listening socket's backlog. Returns them, unread.
std::vector<Client> connect_meanwhile(const Served& server, pid_t old, json& front) {
  std::vector<Client> out;
  testing::eventually(
      [&] {
        if (out.size() < kMeanwhileMax) {
          out.push_back(Client::connect(server.port(), after(kAnswerTimeout)));
          if (out.back().ok()) (void)out.back().send_all(kGetClose, after(kAnswerTimeout));
        }
        front = server.front();
        const pid_t now = front.value("pid", pid_t{0});
        return now != 0 && now != old;
      },
      15s);
  return out;
}

TEST(DataPath, AKilledFrontIsRestartedAndTheListeningSocketSurvives) {
  Served server({{"A", ""}}, {"--workers", std::to_string(kWorkers), "--read-timeout-ms", "60000",
                              "--keepalive-timeout-ms", "60000"});
  ASSERT_TRUE(server.started());
  ASSERT_TRUE(server.ready(kWorkers));
  const std::set<pid_t> workers = worker_pids(server.process());
  std::vector<Client> held;
  for (int i = 0; i < kIdle; ++i) {
    held.push_back(answered_connection(server.port()));
    ASSERT_FALSE(HasFailure()) << "idle connection " << i;
  }
  for (int i = 0; i < kSlow; ++i) {
    held.push_back(Client::connect(server.port(), after(kAnswerTimeout)));
    ASSERT_TRUE(held.back().send_all(kPartialHead, after(kAnswerTimeout))) << held.back().error();
  }
  const json before = server.front();
  const pid_t front = before.value("pid", pid_t{0});
  ASSERT_GT(front, 0) << before.dump();
  ASSERT_TRUE(titled_front(front)) << "pid " << front << " is not the front";
  ASSERT_TRUE(front_holds(server, front, held)) << "the front does not hold every connection";
  ASSERT_EQ(::kill(front, SIGKILL), 0) << std::strerror(errno);

  json after_kill;
  std::vector<Client> meanwhile = connect_meanwhile(server, front, after_kill);
  const pid_t new_front = after_kill.value("pid", pid_t{0});
  ASSERT_TRUE(new_front != 0 && new_front != front)
      << "no new front within 15 s: " << after_kill.dump() << server.log_tail();
  EXPECT_EQ(after_kill.value("restarts", 0), before.value("restarts", 0) + 1) << after_kill.dump();
  EXPECT_TRUE(titled_front(new_front)) << "pid " << new_front << " is not the front";

  for (std::size_t i = 0; i < held.size(); ++i) {
    const std::size_t bytes = held[i].received().size();
    EXPECT_EQ(held[i].read_to_close(after(kAnswerTimeout)), Client::Stop::closed)
        << "held connection " << i << " outlived the front that held it";
    EXPECT_EQ(held[i].received().size(), bytes) << "and nothing more came on it";
  }
  ASSERT_FALSE(meanwhile.empty());
  for (std::size_t i = 0; i < meanwhile.size(); ++i) {
    Client& c = meanwhile[i];
    ASSERT_TRUE(c.ok()) << "connection " << i << " opened after the kill: " << c.error();
    c.read_to_close(after(kAnswerTimeout));
    const auto finals = live::split_responses(c.received()).finals();
    ASSERT_EQ(finals.size(), 1u) << "connection " << i << " opened after the kill got \""
                                 << live::printable(c.received()) << "\"";
    EXPECT_EQ(finals[0].status, 200);
  }
  Client fresh = Client::connect(server.port(), after(kAnswerTimeout));
  const Answer a = ask(fresh);
  EXPECT_EQ(a.status, 200) << describe(a);
  EXPECT_TRUE(workers.contains(a.pid)) << describe(a);
  EXPECT_EQ(worker_pids(server.process()), workers) << "the workers are untouched";
}

}  // namespace
}  // namespace zyg::datapath
