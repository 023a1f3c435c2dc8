// zygote-load: a bounded HTTP/1.1 load client for tests and benchmarks. One thread, one poll(2)
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
  std::map<int, std::uint64_t> status_counts;
  std::map<std::string, std::uint64_t> last_word;           // short 2xx bodies, whole run
  std::map<std::string, std::uint64_t> last_word_final_2s;  // completed in the final 2 s
  double elapsed_s = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
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

// Runs the load. Precondition: validate(options) is empty.
Summary run_load(const Options& options);

nlohmann::json to_json(const Summary& summary, const Options& options);
std::string summary_line(const Summary& summary);
int exit_status(const Summary& summary, const Options& options);

// The last whitespace-separated word of a body of at most 200 bytes; empty otherwise.
std::string last_word(const std::string& body_head, std::size_t body_size);

}  // namespace zyg::load
