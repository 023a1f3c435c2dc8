// zygote-load against tiny in-process servers on 127.0.0.1. Every run is short and bounded by
// its duration plus its request timeout.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "real/load/load.hpp"
#include "real/load/tests/test_server.hpp"

namespace zyg::load {
namespace {

using testing::Limits;
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
  EXPECT_EQ(s.keepalive_reopened, 0u);
  EXPECT_GT(s.client_ok_min, 0u);
  EXPECT_LE(s.client_ok_min, s.client_ok_p50);
  EXPECT_LE(s.client_ok_p50, s.client_ok_max);
  EXPECT_LE(s.client_ok_max, s.ok);
  EXPECT_EQ(to_json(s, o)["ok_per_client"]["max"], s.client_ok_max);
}

TEST(Load, NoKeepAliveOpensAConnectionPerRequest) {
  TestServer server(Mode::hello);
  Options o = options_for(server.port(), 4, 200);
  o.keepalive_percent = 0;
  const Summary s = run_load(o);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_EQ(s.reused, 0u);
  EXPECT_EQ(s.connections, s.requests());
  EXPECT_EQ(s.keepalive_reopened, 0u);  // only keep-alive clients count
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
  EXPECT_EQ(s.keepalive_reopened, s.connections - 2);  // all but each client's first
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
  EXPECT_GE(s.keepalive_reopened, s.retried);  // each retry opens a new connection
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

TEST(Load, LongAndShortRequestsHaveTheirOwnLatencies) {
  TestServer server(Mode::hello);  // answers ?ms=N after N ms, the others at once
  Options o = options_for(server.port(), 4, 600);
  o.keepalive_percent = 100;
  o.long_every = 4;
  o.long_ms = 40;
  const Summary s = run_load(o);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_EQ(s.short_requests.count + s.long_requests.count, s.requests());
  EXPECT_EQ(s.long_requests.count, server.long_requests());
  EXPECT_GT(s.long_requests.count, 0u);
  EXPECT_GE(s.long_requests.p50_ms, 40.0);
  EXPECT_LT(s.short_requests.p50_ms, 40.0);
  EXPECT_LE(s.short_requests.p50_ms, s.short_requests.p99_ms);
  const std::string line = summary_line(s);
  EXPECT_NE(line.find("; short p50 "), std::string::npos) << line;
  EXPECT_NE(line.find("; long p50 "), std::string::npos) << line;
  const auto json = to_json(s, o);
  EXPECT_EQ(json["latency_ms_long"]["count"], s.long_requests.count);
  EXPECT_EQ(json["latency_ms_short"]["p50"], s.short_requests.p50_ms);
  EXPECT_EQ(json["latency_ms_long"]["p99"], s.long_requests.p99_ms);
}

TEST(Load, WithoutLongRequestsEveryRequestIsShort) {
  TestServer server(Mode::hello);
  const Summary s = run_load(options_for(server.port(), 2, 100));
  EXPECT_EQ(s.short_requests.count, s.requests());
  EXPECT_EQ(s.long_requests.count, 0u);
  EXPECT_EQ(s.short_requests.p99_ms, s.p99_ms);
  EXPECT_EQ(summary_line(s).find("; short"), std::string::npos);
}

TEST(Held, SlowClientsHoldTheirPartialHeadsForTheWholeRun) {
  TestServer server(Mode::hello);
  Options o = options_for(server.port(), 4, 300);
  o.slow_clients = 20;
  const Summary s = run_load(o);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_GT(s.ok, 0u);
  EXPECT_EQ(s.slow.wanted, 20u);
  EXPECT_EQ(s.slow.ready_at_load_start, 20u);
  EXPECT_EQ(s.slow.open_at_end, 20u) << summary_line(s);
  EXPECT_EQ(s.slow.closed_by_server, 0u);
  EXPECT_EQ(s.slow.failed(), 0u);
  EXPECT_EQ(server.requests(), s.requests());  // no slow head was ever complete
  EXPECT_EQ(exit_status(s, o), 0);
  const auto json = to_json(s, o);
  EXPECT_EQ(json["slow_clients"]["open_at_end"], 20);
  EXPECT_EQ(json["idle_connections"]["wanted"], 0);
  EXPECT_NE(summary_line(s).find("; slow 20: ready 20 open 20"), std::string::npos);
}

TEST(Held, SlowClientsClosedByTheServerAreCountedWithTheirAge) {
  TestServer server(Mode::hello, Limits{.head_timeout_ms = 100});
  Options o = options_for(server.port(), 2, 500);
  o.slow_clients = 10;
  const Summary s = run_load(o);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_EQ(s.slow.closed_by_server, 10u) << summary_line(s);
  EXPECT_EQ(s.slow.answered, 10u);  // each got a 408 before the close
  EXPECT_EQ(s.slow.open_at_end, 0u);
  EXPECT_EQ(server.timed_out_heads(), 10u);
  EXPECT_GE(s.slow.close_age_min_ms, 100.0);
  EXPECT_LE(s.slow.close_age_min_ms, s.slow.close_age_p50_ms);
  EXPECT_LE(s.slow.close_age_p50_ms, s.slow.close_age_max_ms);
  EXPECT_LT(s.slow.close_age_max_ms, 500.0);
  EXPECT_EQ(exit_status(s, o), 0);  // a server may close slow clients
}

TEST(Held, IdleConnectionsMakeOneRequestThenSitIdle) {
  TestServer server(Mode::hello);
  Options o = options_for(server.port(), 4, 300);
  o.idle_connections = 30;
  const Summary s = run_load(o);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_EQ(s.idle.wanted, 30u);
  EXPECT_EQ(s.idle.ready_at_load_start, 30u);
  EXPECT_EQ(s.idle.open_at_end, 30u);
  EXPECT_EQ(s.idle.closed_by_server, 0u);
  EXPECT_EQ(s.idle.failed(), 0u);
  EXPECT_EQ(server.requests(), s.requests() + 30);  // theirs are not the clients' requests
  EXPECT_EQ(exit_status(s, o), 0);
}

TEST(Held, IdleConnectionsTheServerClosesEarlyAreCounted) {
  TestServer server(Mode::hello, Limits{.idle_close_ms = 100});
  Options o = options_for(server.port(), 2, 400);
  o.keepalive_percent = 0;
  o.idle_connections = 12;
  const Summary s = run_load(o);
  EXPECT_EQ(s.idle.closed_by_server, 12u) << summary_line(s);
  EXPECT_EQ(s.idle.closed_during_setup, 0u);
  EXPECT_EQ(s.idle.open_at_end, 0u);
  EXPECT_EQ(s.idle.failed(), 0u);
  EXPECT_GE(s.idle.close_age_min_ms, 100.0);
  EXPECT_EQ(server.idle_closed(), 12u);
}

TEST(Held, AServerThatClosesAfterEachResponseClosesEveryIdleConnection) {
  TestServer server(Mode::hello, Limits{.always_close = true});
  Options o = options_for(server.port(), 2, 200);
  o.idle_connections = 12;
  const Summary s = run_load(o);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_EQ(s.idle.closed_by_server, 12u);
  EXPECT_EQ(s.idle.closed_during_setup, 12u);
  EXPECT_EQ(s.idle.ready_at_load_start, 0u);  // closed as soon as answered: none holds
  EXPECT_EQ(s.idle.open_at_end, 0u);
  EXPECT_EQ(s.idle.failed(), 0u);
}

TEST(Held, FailedIdleRequestsFailTheRun) {
  TestServer server(Mode::unavailable);
  Options o = options_for(server.port(), 1, 100);
  o.idle_connections = 5;
  const Summary s = run_load(o);
  EXPECT_EQ(s.idle.request_failed, 5u);
  EXPECT_EQ(s.idle.failed(), 5u);
  EXPECT_EQ(s.idle.ready_at_load_start, 0u);
  EXPECT_EQ(exit_status(s, o), 1);
}

TEST(Held, TheLoadStartsAfterHoldSetupMsWhenTheServerNeverAnswers) {
  TestServer server(Mode::silent);
  Options o = options_for(server.port(), 1, 100);
  o.idle_connections = 5;
  o.hold_setup_ms = 150;
  o.request_timeout_ms = 400;
  const Summary s = run_load(o);
  EXPECT_GE(s.idle.setup_ms, 150.0);
  EXPECT_LT(s.idle.setup_ms, 400.0);
  EXPECT_EQ(s.idle.ready_at_load_start, 0u);
  EXPECT_EQ(s.idle.request_failed, 5u) << summary_line(s);  // timed out at 400 ms, in the load
  EXPECT_EQ(s.timeout, 1u);
  EXPECT_LT(s.elapsed_s, 1.0);
}

TEST(Held, IdleConnectionsNobodyAcceptsArePendingAtTheEnd) {
  TestServer server(Mode::silent);
  Options o = options_for(server.port(), 1, 50);
  o.idle_connections = 3;
  o.hold_setup_ms = 0;
  o.request_timeout_ms = 300;
  const Summary s = run_load(o);
  EXPECT_EQ(s.idle.pending_at_end + s.idle.request_failed, 3u) << summary_line(s);
  EXPECT_EQ(s.idle.failed(), 3u);
  EXPECT_EQ(s.idle.not_opened, 0u);
}

TEST(Held, ThousandsOfHeldConnectionsBesideTheClients) {
  TestServer server(Mode::hello);
  Options o = options_for(server.port(), 8, 500);
  o.keepalive_percent = 100;
  o.slow_clients = 500;
  o.idle_connections = 2000;  // with the server's ends, past a default soft limit of 1024
  ASSERT_EQ(fd_limit_error(o), "");
  const Summary s = run_load(o);
  EXPECT_EQ(s.failed(), 0u) << summary_line(s);
  EXPECT_GT(s.ok, 100u);
  EXPECT_EQ(s.slow.open_at_end, 500u) << summary_line(s);
  EXPECT_EQ(s.idle.open_at_end, 2000u);
  EXPECT_EQ(s.idle.failed(), 0u);
  EXPECT_EQ(server.requests(), s.requests() + 2000);
}

TEST(FdLimit, SoftLimitIsRaisedToTheHardLimit) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  rlimit low = before;
  low.rlim_cur = std::min<rlim_t>(256, before.rlim_max);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  Options o;
  o.clients = 10;
  o.idle_connections = 1000;
  EXPECT_NE(fd_limit_error(o).find("RLIMIT_NOFILE allows"), std::string::npos);
  raise_fd_limit();
  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_max);
  o.idle_connections = 20000;
  o.slow_clients = 20000;
  if (after.rlim_cur != RLIM_INFINITY && after.rlim_cur < 40074) {
    EXPECT_NE(fd_limit_error(o), "");
  }
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
  const auto r = parse({"--port",
                        "8080",
                        "--duration-ms",
                        "1000",
                        "--clients",
                        "7",
                        "--keepalive-percent",
                        "30",
                        "--long-every",
                        "5",
                        "--long-ms",
                        "200",
                        "--path",
                        "/x",
                        "--think-ms",
                        "3",
                        "--json",
                        "out.json",
                        "--allow-failures",
                        "--slow-clients",
                        "1000",
                        "--idle-connections",
                        "10000",
                        "--hold-setup-ms",
                        "9000"});
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
  EXPECT_EQ(o.slow_clients, 1000);
  EXPECT_EQ(o.idle_connections, 10000);
  EXPECT_EQ(o.hold_setup_ms, 9000);

  for (std::vector<const char*> bad : std::vector<std::vector<const char*>>{
           {"--port", "80"},
           {"--duration-ms", "100"},
           {"--port", "80", "--duration-ms", "3600001"},
           {"--port", "80", "--duration-ms", "100", "--clients", "2001"},
           {"--port", "80", "--duration-ms", "100", "--path", "x"},
           {"--port", "80", "--duration-ms", "100", "--bogus"},
           {"--port", "80", "--duration-ms", "100", "--slow-clients", "20001"},
           {"--port", "80", "--duration-ms", "100", "--idle-connections", "-1"},
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
