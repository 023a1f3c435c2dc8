// Command line and validation for zygote-load.
#include <cxxopts.hpp>
#include <exception>

#include "real/load/load.hpp"

namespace zyg::load {
namespace {

constexpr std::int64_t max_duration_ms = 3600000;  // an hour: soaks and chaos runs
constexpr int max_clients = 2000;
constexpr int max_held = 20000;  // per class of held connections

std::string check_range(const char* name, std::int64_t value, std::int64_t lo, std::int64_t hi) {
  if (value >= lo && value <= hi) return {};
  return std::string("--") + name + " must be in [" + std::to_string(lo) + ", " +
         std::to_string(hi) + "], got " + std::to_string(value);
}

std::string check_path(const std::string& path) {
  if (path.empty() || path.front() != '/') return "--path must start with '/'";
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return "--path must not contain spaces or control characters";
  }
  return {};
}

}  // namespace

std::string validate(const Options& o) {
  if (o.host != "127.0.0.1" && o.host != "::1" && o.host != "localhost")
    return "refusing --host " + o.host +
           ": load must stay on this machine (127.0.0.1, ::1 or localhost)";
  std::string error;
  auto check = [&error](std::string e) {
    if (error.empty()) error = std::move(e);
  };
  check(check_range("port", o.port, 1, 65535));
  check(check_range("clients", o.clients, 1, max_clients));
  check(check_range("duration-ms", o.duration_ms, 1, max_duration_ms));
  check(check_range("keepalive-percent", o.keepalive_percent, 0, 100));
  check(check_range("long-every", o.long_every, 0, 1000000000));
  check(check_range("long-ms", o.long_ms, 0, max_duration_ms));
  if (o.long_every > 0 && o.long_ms == 0) check("--long-every needs --long-ms > 0");
  check(check_path(o.path));
  check(check_range("think-ms", o.think_ms, 0, max_duration_ms));
  check(check_range("request-timeout-ms", o.request_timeout_ms, 1, max_duration_ms));
  check(check_range("idle-reuse-max-ms", o.idle_reuse_max_ms, 0, max_duration_ms));
  check(check_range("slow-clients", o.slow_clients, 0, max_held));
  check(check_range("idle-connections", o.idle_connections, 0, max_held));
  check(check_range("hold-setup-ms", o.hold_setup_ms, 0, max_duration_ms));
  return error;
}

std::variant<Options, Exit> parse_command_line(int argc, const char* const* argv) {
  cxxopts::Options spec("zygote-load",
                        "Bounded HTTP/1.1 load client for tests and benchmarks (loopback only).");
  // clang-format off
  spec.add_options()
    ("host", "127.0.0.1, ::1 or localhost; nothing else", cxxopts::value<std::string>()->default_value("127.0.0.1"))
    ("port", "server port (required)", cxxopts::value<int>())
    ("clients", "concurrent clients (max 2000)", cxxopts::value<int>()->default_value("50"))
    ("duration-ms", "how long to send requests (required, max 3600000)", cxxopts::value<std::int64_t>())
    ("keepalive-percent", "percent of clients that reuse their connection", cxxopts::value<int>()->default_value("50"))
    ("long-every", "every K-th request appends ?ms=<long-ms> to the path (0: off)", cxxopts::value<std::int64_t>()->default_value("0"))
    ("long-ms", "milliseconds asked of a long request", cxxopts::value<std::int64_t>()->default_value("0"))
    ("path", "request path", cxxopts::value<std::string>()->default_value("/"))
    ("think-ms", "pause between a client's requests", cxxopts::value<std::int64_t>()->default_value("0"))
    ("request-timeout-ms", "limit per request attempt", cxxopts::value<std::int64_t>()->default_value("30000"))
    ("idle-reuse-max-ms", "never reuse a connection idle longer than this", cxxopts::value<std::int64_t>()->default_value("4000"))
    ("slow-clients", "extra connections that send a partial request head and hold it (max 20000)", cxxopts::value<int>()->default_value("0"))
    ("idle-connections", "extra keep-alive connections idle after one request (max 20000)", cxxopts::value<int>()->default_value("0"))
    ("hold-setup-ms", "the load starts once those hold, or after this long", cxxopts::value<std::int64_t>()->default_value("15000"))
    ("json", "write the summary as JSON to FILE", cxxopts::value<std::string>())
    ("allow-failures", "exit 0 even if requests failed")
    ("h,help", "print this help");
  // clang-format on
  try {
    const auto r = spec.parse(argc, argv);
    if (r.count("help") != 0) return Exit{0, spec.help()};
    if (!r.unmatched().empty()) return Exit{2, "unexpected argument: " + r.unmatched().front()};
    if (r.count("port") == 0) return Exit{2, "--port is required"};
    if (r.count("duration-ms") == 0) return Exit{2, "--duration-ms is required"};
    Options o;
    o.host = r["host"].as<std::string>();
    const int port = r["port"].as<int>();
    if (port < 1 || port > 65535) return Exit{2, "--port must be in [1, 65535]"};
    o.port = static_cast<std::uint16_t>(port);
    o.clients = r["clients"].as<int>();
    o.duration_ms = r["duration-ms"].as<std::int64_t>();
    o.keepalive_percent = r["keepalive-percent"].as<int>();
    o.long_every = r["long-every"].as<std::int64_t>();
    o.long_ms = r["long-ms"].as<std::int64_t>();
    o.path = r["path"].as<std::string>();
    o.think_ms = r["think-ms"].as<std::int64_t>();
    o.request_timeout_ms = r["request-timeout-ms"].as<std::int64_t>();
    o.idle_reuse_max_ms = r["idle-reuse-max-ms"].as<std::int64_t>();
    o.slow_clients = r["slow-clients"].as<int>();
    o.idle_connections = r["idle-connections"].as<int>();
    o.hold_setup_ms = r["hold-setup-ms"].as<std::int64_t>();
    if (r.count("json") != 0) o.json_file = r["json"].as<std::string>();
    o.allow_failures = r.count("allow-failures") != 0;
    if (std::string error = validate(o); !error.empty()) return Exit{2, error};
    return o;
  } catch (const std::exception& e) {
    return Exit{2, e.what()};
  }
}

}  // namespace zyg::load
