// zygote-load: a bounded HTTP/1.1 load client for tests and benchmarks. One thread, one epoll(7)
// loop, N clients against one loopback address; every request ends in exactly one outcome.
//
//   ok              2xx response
//   non2xx          status >= 300 (also counted per status)
//   reset           reset, EOF or a malformed/oversized response before a complete response
//   timeout         no complete response within --request-timeout-ms (or at the hard deadline)
//   connect_failed  the connect itself failed (refused, reset, unreachable)
//
// `retried` is counted beside them: a request sent on a REUSED keep-alive connection that closes
// or resets before any byte of the response arrived is sent again once on a new connection
// (RFC 9112 section 9.3.1); the retried attempt then ends in one of the outcomes above.
//
// Held connections, beside the clients and counted apart from them (HeldSummary): slow clients
// (--slow-clients) send a partial request head and hold; idle connections (--idle-connections)
// make one keep-alive request and then sit idle. They are opened first, and the clients' load
// starts once every one of them holds (or after --hold-setup-ms); they are held until it ends.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace zyg::load {

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int clients = 50;
  std::int64_t duration_ms = 0;
  int keepalive_percent = 50;
  std::int64_t long_every = 0;  // 0: off
  std::int64_t long_ms = 0;
  std::string path = "/";
  std::int64_t think_ms = 0;
  std::int64_t request_timeout_ms = 30000;
  std::int64_t idle_reuse_max_ms = 4000;
  std::string json_file;  // empty: no JSON file
  bool allow_failures = false;
  int slow_clients = 0;                // connections that send a partial head and hold
  int idle_connections = 0;            // keep-alive connections idle after one request
  std::int64_t hold_setup_ms = 15000;  // the longest wait for them before the load starts
};

// Latency of one set of requests: count and percentiles in ms.
struct Latency {
  std::uint64_t count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};

// One class of held connections (slow clients or idle connections). A connection that holds is
// "ready": a slow client once its partial head is sent, an idle connection once its request got
// a 2xx. Every wanted connection ends in exactly one of: open_at_end, closed_by_server (after it
// was ready), connect_failed or request_failed (before it was ready; for an idle connection, a
// request that got no 2xx), pending_at_end (still connecting or waiting for its answer when the
// load ended), not_opened (never tried: the earlier ones filled every in-flight slot all along).
struct HeldSummary {
  std::uint64_t wanted = 0;
  std::uint64_t ready_at_load_start = 0;  // holding when the clients' load began
  std::uint64_t connect_failed = 0;       // refused, reset or timed out while connecting
  std::uint64_t request_failed = 0;       // idle: non-2xx, reset or timeout before its answer
  std::uint64_t closed_by_server = 0;     // after it was ready (idle: a 2xx with close counts)
  std::uint64_t closed_during_setup = 0;  // of closed_by_server, before the load began
  std::uint64_t answered = 0;             // slow: the server sent bytes (an error response)
  std::uint64_t open_at_end = 0;
  std::uint64_t pending_at_end = 0;
  std::uint64_t not_opened = 0;
  double setup_ms = 0;  // from opening the first to the load's start
  // How long a connection closed by the server had been open (from its connect), in ms.
  double close_age_min_ms = 0, close_age_p50_ms = 0, close_age_max_ms = 0;

  std::uint64_t failed() const {
    return connect_failed + request_failed + pending_at_end + not_opened;
  }
};

struct Summary {
  std::uint64_t ok = 0;
  std::uint64_t non2xx = 0;
  std::uint64_t reset = 0;
  std::uint64_t timeout = 0;
  std::uint64_t connect_failed = 0;
  std::uint64_t retried = 0;
  std::uint64_t connections = 0;  // connections opened
  std::uint64_t reused = 0;       // requests sent on a reused connection
  // Connections a keep-alive client opened after its first: the server closed (or the client
  // stopped reusing, after --idle-reuse-max-ms) the one it had. 0 when every connection is kept.
  std::uint64_t keepalive_reopened = 0;
  std::map<int, std::uint64_t> status_counts;
  std::map<std::string, std::uint64_t> last_word;           // short 2xx bodies, whole run
  std::map<std::string, std::uint64_t> last_word_final_2s;  // completed in the final 2 s
  double elapsed_s = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  // With --long-every: the requests made long (?ms=...) and the others, apart.
  Latency short_requests, long_requests;
  HeldSummary slow, idle;
  // Requests that got a 2xx, per client: the least, the median and the most. Far apart, they say
  // the server serves some connections and starves others (keep-alive pinned to one worker).
  std::uint64_t client_ok_min = 0, client_ok_p50 = 0, client_ok_max = 0;
  bool hard_deadline_hit = false;
  // When failed requests ended, in ms since the load began (the first kFailureTimesKept), so
  // that a failure can be set against a fault injected at a known time.
  static constexpr std::size_t kFailureTimesKept = 1000;
  std::vector<double> failure_times_ms;
  double start_monotonic_ms = 0;  // when the load began, on CLOCK_MONOTONIC (steady_clock)

  std::uint64_t failed() const { return non2xx + reset + timeout + connect_failed; }
  std::uint64_t requests() const { return ok + failed(); }
  double requests_per_second() const;
};

// Parsed options, or the exit status and message for --help (0) and bad usage (2).
struct Exit {
  int status = 0;
  std::string message;
};
std::variant<Options, Exit> parse_command_line(int argc, const char* const* argv);

// Empty when the options are usable; else why not (bad usage, exit 2).
std::string validate(const Options& options);

// Raises this process's RLIMIT_NOFILE soft limit to its hard limit (run_load does it too).
void raise_fd_limit();
// Empty when the descriptor limit has room for every socket the options open; else why not.
std::string fd_limit_error(const Options& options);

// Runs the load. Precondition: validate(options) is empty.
Summary run_load(const Options& options);

nlohmann::json to_json(const Summary& summary, const Options& options);
std::string summary_line(const Summary& summary);
int exit_status(const Summary& summary, const Options& options);

// The last whitespace-separated word of a body of at most 200 bytes; empty otherwise.
std::string last_word(const std::string& body_head, std::size_t body_size);

}  // namespace zyg::load
