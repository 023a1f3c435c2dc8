// A live worker (one, W=1) against clients that misbehave or use the less common parts of
// HTTP/1.1: a slow client gets 408 while others are served, idle keep-alive connections do not
// hold the worker, 100-continue comes before the answer, HEAD has no body, and the size limits
// give 413 and 431. After each test the worker is the same process and still serves.
#include <gtest/gtest.h>

#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "real/tests/live/live_fixture.hpp"

namespace zyg::live {
namespace {

using namespace std::chrono_literals;

int first_status(const Exchange& e) {
  const auto finals = e.responses.finals();
  return finals.empty() ? 0 : finals[0].status;
}

class LiveConnections : public LiveFixture<LiveConnections> {
 public:
  static std::vector<std::string> options() {
    return {"--read-timeout-ms", "1000", "--keepalive-timeout-ms", "10000"};
  }
};

TEST_F(LiveConnections, SlowClientGets408WhileOthersAreServed) {
  Client slow = Client::connect(port(), after(kAnswerTimeout));
  ASSERT_TRUE(slow.ok()) << slow.error();
  ASSERT_TRUE(slow.send_all("GET / HTTP/1.1\r\nHost: live\r\nX-Slow: ", after(kAnswerTimeout)));
  // A byte of the header every 100 ms, never finished, and a whole request from another client
  // after each, until the server answers or closes the slow one (1 s read timeout).
  int served_meanwhile = 0;
  const Deadline give_up = after(8s);
  while (Clock::now() < give_up && !slow.wait_readable(after(100ms))) {
    if (!slow.send_all("a", after(kAnswerTimeout))) break;  // the server closed it
    const Exchange other = exchange(port(), kGet, after(kAnswerTimeout));
    ASSERT_EQ(first_status(other), 200) << "while a client dribbles: " << describe(other);
    ++served_meanwhile;
  }
  EXPECT_EQ(slow.read_to_close(after(kAnswerTimeout)), Client::Stop::closed)
      << "the slow client was neither answered nor closed";
  const auto finals = split_responses(slow.received()).finals();
  if (!slow.received().empty()) {  // an answer, if any, is 408
    ASSERT_EQ(finals.size(), 1u) << printable(slow.received());
    EXPECT_EQ(finals[0].status, 408) << printable(slow.received());
  }
  EXPECT_GE(served_meanwhile, 1);
  EXPECT_TRUE(server().same_worker_serving());
}

TEST_F(LiveConnections, IdleKeepAliveConnectionsDoNotHoldTheWorker) {
  Client used = Client::connect(port(), after(kAnswerTimeout));
  ASSERT_TRUE(used.ok()) << used.error();
  ASSERT_TRUE(used.send_all(kGet, after(kAnswerTimeout)));
  used.read_until(after(kAnswerTimeout),
                  [](std::string_view got) { return !split_responses(got).finals().empty(); });
  ASSERT_EQ(split_responses(used.received()).finals().size(), 1u) << printable(used.received());
  Client silent = Client::connect(port(), after(kAnswerTimeout));  // never sends a byte
  ASSERT_TRUE(silent.ok()) << silent.error();

  for (int i = 0; i < 5; ++i) {
    const Exchange other = exchange(port(), kGetClose, after(kAnswerTimeout));
    ASSERT_EQ(first_status(other), 200) << "beside two idle connections: " << describe(other);
    EXPECT_TRUE(other.closed);
  }
  // The kept-alive connection still works.
  ASSERT_TRUE(used.send_all(kGet, after(kAnswerTimeout))) << used.error();
  used.read_until(after(kAnswerTimeout),
                  [](std::string_view got) { return split_responses(got).finals().size() >= 2; });
  const auto finals = split_responses(used.received()).finals();
  ASSERT_EQ(finals.size(), 2u) << printable(used.received());
  EXPECT_EQ(finals[1].status, 200);
  used.close();
  silent.close();
  EXPECT_TRUE(server().same_worker_serving());
}

TEST_F(LiveConnections, ExpectContinueGets100BeforeTheAnswer) {
  Client c = Client::connect(port(), after(kAnswerTimeout));
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(c.send_all(
      "PUT /upload HTTP/1.1\r\nHost: live\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
      after(kAnswerTimeout)));
  c.read_until(after(kAnswerTimeout),
               [](std::string_view got) { return got.find("\r\n\r\n") != std::string::npos; });
  ASSERT_TRUE(c.received().starts_with("HTTP/1.1 100 Continue\r\n\r\n"))
      << "received \"" << printable(c.received()) << "\" before sending the body";
  ASSERT_TRUE(c.send_all("hello", after(kAnswerTimeout)));
  c.read_until(after(kAnswerTimeout),
               [](std::string_view got) { return !split_responses(got).finals().empty(); });
  const Responses got = split_responses(c.received());
  ASSERT_EQ(got.all.size(), 2u) << printable(c.received());
  EXPECT_EQ(got.all[0].status, 100);
  EXPECT_EQ(got.all[1].status, 200);
  c.close();
  EXPECT_TRUE(server().same_worker_serving());
}

TEST_F(LiveConnections, HeadGetsTheHeadersWithoutTheBody) {
  const Exchange get = exchange(port(), kGet, after(kAnswerTimeout));
  ASSERT_EQ(first_status(get), 200) << describe(get);
  const Response full = get.responses.finals()[0];
  ASSERT_FALSE(full.body.empty());
  // HEAD, then GET on the same connection: a body after the HEAD answer would garble the second.
  const Exchange head =
      exchange(port(), "HEAD / HTTP/1.1\r\nHost: live\r\n\r\n" + std::string(kGetClose),
               after(kAnswerTimeout), 2, 1);
  const auto finals = head.responses.finals();
  ASSERT_EQ(finals.size(), 2u) << describe(head);
  EXPECT_FALSE(head.responses.malformed) << describe(head);
  EXPECT_EQ(head.responses.used, head.received.size()) << describe(head);
  EXPECT_EQ(finals[0].status, 200);
  EXPECT_EQ(finals[0].header("Content-Length"), std::to_string(full.body.size()));
  EXPECT_EQ(finals[1].status, 200);
  EXPECT_EQ(finals[1].body, full.body);
  EXPECT_TRUE(server().same_worker_serving());
}

// Small limits, so that a request just over them is small too.
constexpr std::size_t kBodyBytesMax = 1024;
constexpr std::size_t kHeaderBytesMax = 1024;

struct LimitCase {
  std::string name;
  std::string request;
  int status;
};

std::string post(std::size_t body_bytes) {
  return "POST / HTTP/1.1\r\nHost: live\r\nContent-Length: " + std::to_string(body_bytes) +
         "\r\n\r\n" + std::string(body_bytes, 'b');
}

std::string post_chunked(std::size_t chunks, std::size_t chunk_bytes) {
  std::ostringstream out;
  out << "POST / HTTP/1.1\r\nHost: live\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::size_t i = 0; i < chunks; ++i) {
    out << std::hex << chunk_bytes << "\r\n" << std::string(chunk_bytes, 'c') << "\r\n";
  }
  out << "0\r\n\r\n";
  return out.str();
}

// A GET whose request line and header fields take `header_bytes` in all.
std::string get_with_header_bytes(std::size_t header_bytes) {
  const std::string start = "GET / HTTP/1.1\r\nHost: live\r\nX-Pad: ";
  const std::string end = "\r\n\r\n";
  return start + std::string(header_bytes - start.size() - end.size(), 'p') + end;
}

void PrintTo(const LimitCase& c, std::ostream* os) { *os << c.name; }

std::vector<LimitCase> limit_cases() {
  return {
      {"BodyAtTheLimit", post(kBodyBytesMax), 200},
      {"BodyOfTwiceTheLimit", post(2 * kBodyBytesMax), 413},
      {"ChunkedBodyAtTheLimit", post_chunked(2, 512), 200},
      {"ChunkedBodyOfTwiceTheLimit", post_chunked(4, 512), 413},
      {"HeaderUnderTheLimit", get_with_header_bytes(kHeaderBytesMax - 100), 200},
      {"HeaderOverTheLimit", get_with_header_bytes(kHeaderBytesMax + 100), 431},
  };
}

class LiveLimits : public LiveFixture<LiveLimits, ::testing::TestWithParam<LimitCase>> {
 public:
  static std::vector<std::string> options() {
    return {"--max-body-bytes", std::to_string(kBodyBytesMax), "--max-header-bytes",
            std::to_string(kHeaderBytesMax)};
  }
};

TEST_P(LiveLimits, AnsweredWithTheLimitsStatus) {
  const LimitCase& c = GetParam();
  const Exchange e = exchange(port(), c.request, after(kAnswerTimeout));
  EXPECT_EQ(first_status(e), c.status) << describe(e);
  if (c.status != 200) {
    EXPECT_TRUE(e.closed) << "no close after an error answer: " << describe(e);
  }
  EXPECT_TRUE(server().same_worker_serving());
}

std::string limit_case_name(const ::testing::TestParamInfo<LimitCase>& param) {
  return param.param.name;
}

INSTANTIATE_TEST_SUITE_P(Cases, LiveLimits, ::testing::ValuesIn(limit_cases()), limit_case_name);

}  // namespace
}  // namespace zyg::live
