// A client that does not read its response never holds a worker: when the client's socket is
// full, the worker gives the front the part not yet taken (at most handoff::kUnsentMax) with the
// connection, and goes on serving. Shown with one worker: while a client reads nothing of a
// 24 MiB response (more than loopback's socket buffers take: about 4 MiB here), its connection
// is among the front's descriptors and not the worker's, and another client gets a whole
// response from that worker; then the slow client reads its response, intact, and the
// connection serves its next request.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>

#include "real/tests/datapath/datapath.hpp"

namespace zyg::datapath {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kBody = 24 * 1024 * 1024;  // under kUnsentMax, beyond the socket buffers
constexpr std::string_view kRequest = "GET / HTTP/1.1\r\nHost: datapath\r\n\r\n";

// The one final response in `bytes` is testapp's, whole: its greeting, then 'x' to kBody bytes.
::testing::AssertionResult whole_response(const std::string& bytes, pid_t worker) {
  const auto finals = live::split_responses(bytes).finals();
  if (finals.size() != 1) {
    return ::testing::AssertionFailure()
           << finals.size() << " complete responses in " << bytes.size() << " bytes";
  }
  const live::Response& r = finals[0];
  const std::string greeting = "testapp A pid " + std::to_string(worker) + "\n";
  if (r.status != 200 || r.body.size() != kBody || r.body.rfind(greeting, 0) != 0 ||
      r.body.find_first_not_of('x', greeting.size()) != std::string::npos) {
    return ::testing::AssertionFailure() << "status " << r.status << ", " << r.body.size()
                                         << " body bytes: " << live::printable(r.body, 80);
  }
  return ::testing::AssertionSuccess();
}

// Enough bytes for a head and a kBody body (parsing 24 MiB at every read would be quadratic).
std::function<bool(std::string_view)> at_least(std::size_t body) {
  return [body](std::string_view got) {
    const auto head_end = got.find("\r\n\r\n");
    return head_end != std::string_view::npos && got.size() >= head_end + 4 + body;
  };
}

TEST(DataPath, ASlowReaderIsLeftToTheFrontAndTheWorkerGoesOn) {
  Served server({{"A", "body_bytes " + std::to_string(kBody) + "\n"}}, {"--workers", "1"});
  ASSERT_TRUE(server.started());
  ASSERT_TRUE(server.ready(1));
  const std::set<pid_t> workers = worker_pids(server.process());
  ASSERT_EQ(workers.size(), 1u);
  const pid_t worker = *workers.begin();

  Client slow = Client::connect(server.port(), after(kAnswerTimeout));
  ASSERT_TRUE(slow.ok()) << slow.error();
  ASSERT_TRUE(slow.send_all(kRequest, after(kAnswerTimeout)));

  // The rest of the response went to the front with the connection.
  std::set<unsigned long> inode;
  std::size_t in_worker = 0;
  std::size_t in_front = 0;
  ASSERT_TRUE(testing::eventually(
      [&] {
        const unsigned long i = server_inode(server.port(), slow);
        if (i == 0) return false;
        inode = {i};
        in_worker = held_by(worker, inode);
        in_front = held_by(server.front().value("pid", pid_t{0}), inode);
        return in_front == 1 && in_worker == 0;
      },
      10s))
      << "the slow reader's connection: " << in_front << " in the front, " << in_worker
      << " in the worker\n"
      << server.log_tail();

  // The only worker answers someone else meanwhile, in full.
  Client normal = Client::connect(server.port(), after(kAnswerTimeout));
  ASSERT_TRUE(normal.send_all(kRequest, after(kAnswerTimeout)));
  normal.expect_bytes(kBody + 4096);
  normal.read_until(after(kAnswerTimeout), at_least(kBody));
  EXPECT_TRUE(whole_response(normal.received(), worker));

  // The slow client reads at last: its whole response, then a next request on the same
  // connection.
  slow.expect_bytes(kBody + 4096);
  slow.read_until(after(kAnswerTimeout), at_least(kBody));
  EXPECT_TRUE(whole_response(slow.received(), worker));
  EXPECT_FALSE(slow.peer_closed());
  const std::size_t first = slow.received().size();
  ASSERT_TRUE(slow.send_all(kRequest, after(kAnswerTimeout)));
  slow.expect_bytes(2 * first);
  slow.read_until(after(kAnswerTimeout),
                  [&](std::string_view got) { return at_least(kBody)(got.substr(first)); });
  EXPECT_TRUE(whole_response(slow.received().substr(first), worker));
  EXPECT_FALSE(slow.peer_closed());
}

}  // namespace
}  // namespace zyg::datapath
