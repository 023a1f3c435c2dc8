// zygote-load against tiny in-process servers on 127.0.0.1. Every run is short and bounded by
// its duration plus its request timeout.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "real/load/load.hpp"
#include "real/load/tests/test_server.hpp"

namespace zyg::load {
namespace {

using testing::Mode;
using testing::TestServer;

Options options_for(std::uint16_t port, int clients = 8, std::int64_t duration_ms = 300) {
  Options o;
  o.port = port;
  o.clients = clients;
  o.duration_ms = duration_ms;
  o.request_timeout_ms = 2000;
  EXPECT_EQ(validate(o), "");
  return o;
}

TEST(Load, AllOkAgainstWellBehavedServer) {
  TestServer server(Mode::hello);
  const Options o = options_for(server.port());
  const Summary s = run_load(o);
  EXPECT_GT(s.ok, 0u);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_EQ(s.retried, 0u);
  EXPECT_EQ(exit_status(s, o), 0);
  EXPECT_EQ(s.last_word.at("A"), s.ok);
  EXPECT_GT(s.last_word_final_2s.at("A"), 0u);
  EXPECT_GT(s.p50_ms, 0);
  EXPECT_LE(s.p50_ms, s.p99_ms);
  EXPECT_LE(s.p99_ms, s.max_ms);
  EXPECT_EQ(server.requests(), s.requests());
  const auto json = to_json(s, o);
  EXPECT_EQ(json["ok"], s.ok);
  EXPECT_EQ(json["failed"], 0);
  EXPECT_EQ(json["last_word"]["A"], s.ok);
}

TEST(Load, KeepAliveClientsReuseTheirConnection) {
  TestServer server(Mode::hello);
  Options o = options_for(server.port(), 4);
  o.keepalive_percent = 100;
  const Summary s = run_load(o);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_EQ(s.connections, 4u);
  EXPECT_EQ(server.accepted(), 4u);
  EXPECT_EQ(s.reused, s.requests() - 4);
  EXPECT_GT(s.reused, 0u);
}

TEST(Load, NoKeepAliveOpensAConnectionPerRequest) {
  TestServer server(Mode::hello);
  Options o = options_for(server.port(), 4, 200);
  o.keepalive_percent = 0;
  const Summary s = run_load(o);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_EQ(s.reused, 0u);
  EXPECT_EQ(s.connections, s.requests());
}

TEST(Load, IdleReuseLimitForcesNewConnections) {
  TestServer server(Mode::hello);
  Options o = options_for(server.port(), 2, 300);
  o.keepalive_percent = 100;
  o.think_ms = 50;
  o.idle_reuse_max_ms = 10;
  const Summary s = run_load(o);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_EQ(s.reused, 0u);
  EXPECT_EQ(s.connections, s.requests());
}

TEST(Load, ChunkedResponsesAreRead) {
  TestServer server(Mode::chunked);
  Options o = options_for(server.port());
  const Summary s = run_load(o);
  EXPECT_GT(s.ok, 0u);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_EQ(s.last_word.at("123"), s.ok);
  EXPECT_GT(s.reused, 0u);
}

TEST(Load, IdleCloseRacingTheRequestIsRetriedNotFailed) {
  TestServer server(Mode::close_idle);
  Options o = options_for(server.port(), 4);
  o.keepalive_percent = 100;
  const Summary s = run_load(o);
  EXPECT_GT(s.ok, 0u);
  EXPECT_GT(s.retried, 0u);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_EQ(exit_status(s, o), 0);
}

TEST(Load, ServiceUnavailableCountsNon2xxAndExitsOne) {
  TestServer server(Mode::unavailable);
  Options o = options_for(server.port());
  const Summary s = run_load(o);
  EXPECT_EQ(s.ok, 0u);
  EXPECT_GT(s.non2xx, 0u);
  EXPECT_EQ(s.status_counts.at(503), s.non2xx);
  EXPECT_EQ(s.failed(), s.non2xx);
  EXPECT_TRUE(s.last_word.empty());
  EXPECT_EQ(exit_status(s, o), 1);
  EXPECT_EQ(to_json(s, o)["status_counts"]["503"], s.non2xx);
  o.allow_failures = true;
  EXPECT_EQ(exit_status(s, o), 0);
}

TEST(Load, SilentServerTimesOut) {
  TestServer server(Mode::silent);
  Options o = options_for(server.port(), 2, 100);
  o.request_timeout_ms = 200;
  const Summary s = run_load(o);
  EXPECT_EQ(s.timeout, 2u) << summary_line(s);
  EXPECT_EQ(s.failed(), 2u);
  EXPECT_FALSE(s.hard_deadline_hit);
  EXPECT_LT(s.elapsed_s, 1.0);
}

TEST(Load, NothingListeningIsConnectFailed) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // take a free port, then free it
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  Options o = options_for(ntohs(a.sin_port), 2, 50);
  o.think_ms = 10;
  const Summary s = run_load(o);
  EXPECT_GT(s.connect_failed, 0u);
  EXPECT_EQ(s.failed(), s.connect_failed);
  EXPECT_EQ(exit_status(s, o), 1);
}

TEST(Load, EveryKthRequestIsLong) {
  TestServer server(Mode::hello);
  Options o = options_for(server.port(), 2, 200);
  o.long_every = 2;
  o.long_ms = 5;
  const Summary s = run_load(o);
  EXPECT_EQ(s.failed(), 0u);
  EXPECT_EQ(server.long_requests(), s.requests() / 2);
}

std::variant<Options, Exit> parse(const std::vector<const char*>& args) {
  std::vector<const char*> argv(args.size() + 1, "zygote-load");
  std::copy(args.begin(), args.end(), argv.begin() + 1);
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

TEST(CommandLine, RefusesNonLoopbackHosts) {
  for (const char* host : {"10.0.0.1", "example.com", "0.0.0.0", "127.0.0.2"}) {
    const auto r = parse({"--host", host, "--port", "80", "--duration-ms", "100"});
    ASSERT_TRUE(std::holds_alternative<Exit>(r)) << host;
    EXPECT_EQ(std::get<Exit>(r).status, 2);
    EXPECT_NE(std::get<Exit>(r).message.find("load must stay on this machine"), std::string::npos);
  }
  for (const char* host : {"127.0.0.1", "::1", "localhost"})
    EXPECT_TRUE(std::holds_alternative<Options>(
        parse({"--host", host, "--port", "80", "--duration-ms", "100"})))
        << host;
}

TEST(CommandLine, ParsesAndBoundsOptions) {
  const auto r =
      parse({"--port", "8080", "--duration-ms", "1000", "--clients", "7", "--keepalive-percent",
             "30", "--long-every", "5", "--long-ms", "200", "--path", "/x", "--think-ms", "3",
             "--json", "out.json", "--allow-failures"});
  ASSERT_TRUE(std::holds_alternative<Options>(r)) << std::get<Exit>(r).message;
  const Options& o = std::get<Options>(r);
  EXPECT_EQ(o.port, 8080);
  EXPECT_EQ(o.clients, 7);
  EXPECT_EQ(o.keepalive_percent, 30);
  EXPECT_EQ(o.long_every, 5);
  EXPECT_EQ(o.long_ms, 200);
  EXPECT_EQ(o.path, "/x");
  EXPECT_EQ(o.json_file, "out.json");
  EXPECT_TRUE(o.allow_failures);
  EXPECT_EQ(o.request_timeout_ms, 30000);
  EXPECT_EQ(o.idle_reuse_max_ms, 4000);

  for (std::vector<const char*> bad : std::vector<std::vector<const char*>>{
           {"--port", "80"},
           {"--duration-ms", "100"},
           {"--port", "80", "--duration-ms", "600001"},
           {"--port", "80", "--duration-ms", "100", "--clients", "2001"},
           {"--port", "80", "--duration-ms", "100", "--path", "x"},
           {"--port", "80", "--duration-ms", "100", "--bogus"},
       }) {
    const auto e = parse(bad);
    ASSERT_TRUE(std::holds_alternative<Exit>(e));
    EXPECT_EQ(std::get<Exit>(e).status, 2);
  }
}

TEST(LastWord, ShortBodiesOnly) {
  EXPECT_EQ(last_word("Hello from A", 12), "A");
  EXPECT_EQ(last_word("testapp B pid 123\n", 18), "123");
  EXPECT_EQ(last_word("", 0), "");
  EXPECT_EQ(last_word(std::string(201, 'x'), 201), "");
}

}  // namespace
}  // namespace zyg::load
