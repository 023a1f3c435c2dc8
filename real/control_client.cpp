#include "real/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "cli/options.hpp"

namespace zyg::real {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* kCommands = "status, workers, deploy, rollback, scale N or stop [--fast]";

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits for `events` on fd until the deadline; false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::optional<json> ask(const std::string& path, const std::string& request,
                        std::chrono::milliseconds timeout, std::string& error) {
  ControlReply r = control_request(path, request, timeout);
  if (!r.line) {
    error = r.error;
    return std::nullopt;
  }
  json j = json::parse(*r.line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok")) {
    error = "not a control reply: " + r.line->substr(0, 200);
    return std::nullopt;
  }
  if (!j["ok"].get<bool>()) {
    error = j.value("error", std::string("refused"));
    return std::nullopt;
  }
  return j;
}

void print_status(const json& s, std::ostream& out) {
  const json& w = s["workers"];
  out << "serving:  " << s.value("serving", "")
      << (s.value("serving_proven", false) ? "" : " (not yet proven)") << "\n";
  out << "phase:    " << s.value("phase", "") << "\n";
  if (!s.value("loading", "").empty())
    out << "loading:  " << s["loading"].get<std::string>() << "\n";
  if (!s.value("fallback", "").empty())
    out << "fallback: " << s["fallback"].get<std::string>() << "\n";
  out << "workers:  " << w.value("total", 0) << " of budget " << s.value("budget", 0) << " (wanted "
      << s.value("desired", 0) << "): " << w.value("ready", 0) << " ready, " << w.value("busy", 0)
      << " busy, " << w.value("starting", 0) << " starting, " << w.value("draining", 0)
      << " draining, " << w.value("exited", 0) << " exited\n";
  if (s.value("shutting_down", false)) out << "shutting down\n";
  if (const json& f = s.value("front", json::object()); !f.empty()) {
    out << "front:    pid " << f.value("pid", 0) << ", " << f.value("connections", 0)
        << " connections held, " << f.value("waiting", 0) << " waiting for a worker, "
        << f.value("handoffs", 0) << " handed on, " << f.value("restarts", 0) << " restarts\n";
  }
  for (const json& p : s["processes"]) {
    out << "  " << p.value("role", "") << " " << p.value("id", 0) << " pid " << p.value("pid", 0)
        << " " << p.value("state", "") << " " << p.value("version", "");
    if (!p.value("app", "").empty()) out << ": " << p["app"].get<std::string>();
    if (!p.value("stop", "").empty()) out << " (stopping: " << p["stop"].get<std::string>() << ")";
    out << "\n";
  }
  for (const json& f : s["failures"]) {
    out << "failed:   " << f.value("version", "") << ": " << f.value("reason", "") << "\n";
  }
}

// The newest failure of `version` recorded after failure number `after`, if any.
std::optional<json> failure_since(const json& status, const std::string& version,
                                  std::uint64_t after) {
  std::optional<json> found;
  for (const json& f : status["failures"]) {
    if (f.value("version", "") == version && f.value("serial", std::uint64_t{0}) > after) found = f;
  }
  return found;
}

std::uint64_t last_failure_serial(const json& status) {
  std::uint64_t last = 0;
  for (const json& f : status["failures"]) last = std::max(last, f.value("serial", last));
  return last;
}

// Every wanted worker runs `version` and is ready or busy, nothing else is left, and the version
// has passed its probation (a crash loop would have rolled it back by then).
bool deployed(const json& s, const std::string& version) {
  if (s.value("serving", "") != version || !s.value("loading", "").empty()) return false;
  if (!s.value("serving_proven", false)) return false;
  int on_version = 0;
  for (const json& p : s["processes"]) {
    if (p.value("role", "") != "worker") continue;
    const std::string state = p.value("state", "");
    if (p.value("version", "") != version || (state != "ready" && state != "busy")) return false;
    ++on_version;
  }
  return on_version == s.value("desired", -1);
}

}  // namespace

std::string default_run_dir() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  return std::string(xdg && *xdg ? xdg : "/tmp") + "/zygote-" + std::to_string(::getuid());
}

std::string control_socket_path(const std::string& run_dir) { return run_dir + "/control"; }

ControlReply control_request(const std::string& path, const std::string& request,
                             std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  ControlReply reply;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    reply.error = "the control socket path is too long: " + path;
    return reply;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    reply.error = std::string("socket: ") + std::strerror(errno);
    return reply;
  }
  // Non-blocking: a unix connect waits forever while the listener's queue is full (a stopped
  // or hung master); EAGAIN is retried until the deadline instead.
  int e = 0;
  while (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    e = errno;
    if ((e != EAGAIN && e != EINTR) || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    e = 0;
  }
  if (e == EAGAIN) {
    ::close(fd);
    reply.error = "the server at " + path + " accepts no connection (stopped or hung?)";
    return reply;
  }
  if (e != 0) {
    ::close(fd);
    if (e == ENOENT || e == ECONNREFUSED) {
      reply.error =
          "no server answers on " + path + " (is zygote-real running, with the same --run-dir?)";
    } else {
      reply.error = "cannot connect to " + path + ": " + std::strerror(e);
    }
    return reply;
  }
  const std::string line = request + "\n";
  std::size_t sent = 0;
  std::string in;
  while (sent < line.size()) {
    if (!wait_for(fd, POLLOUT, deadline)) break;
    const ssize_t n = ::send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EINTR && errno != EAGAIN) break;
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
  // Read even if sending failed: a refusal ("busy", "permission denied") is written and the
  // connection closed before the request could be sent.
  while (in.find('\n') == std::string::npos) {
    if (!wait_for(fd, POLLIN, deadline)) break;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      break;
    }
    in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const std::size_t nl = in.find('\n');
  if (nl == std::string::npos) {
    reply.error = Clock::now() >= deadline ? "no reply from " + path + " in time"
                                           : "the server closed the connection without a reply";
    return reply;
  }
  reply.line = in.substr(0, nl);
  return reply;
}

namespace {

// `ctl deploy --wait`: until `version` serves on every wanted worker past its probation (0), or
// it fails, is superseded or the wait times out (1).
int wait_for_deploy(const std::string& path, const std::string& version,
                    std::uint64_t failures_before, int wait_s) {
  const auto timeout = std::chrono::seconds(10);
  const auto give_up = Clock::now() + std::chrono::seconds(wait_s);
  std::string error;
  for (;;) {
    auto s = ask(path, "status", timeout, error);
    if (!s) {
      std::cerr << "zygote-real ctl: " << error << "\n";
      return 1;
    }
    const json& status = (*s)["status"];
    if (auto f = failure_since(status, version, failures_before)) {
      std::cerr << "zygote-real ctl: deploy of " << version << " failed: " << f->value("reason", "")
                << "\n";
      return 1;
    }
    // The deploy request makes `version` loading or (an instant rollback) serving at once; if
    // neither holds, another deploy has superseded this one.
    const std::string loading = status.value("loading", "");
    const std::string serving = status.value("serving", "");
    if ((!loading.empty() && loading != version) || (loading.empty() && serving != version)) {
      std::cerr << "zygote-real ctl: deploy of " << version << " superseded: "
                << (loading.empty() ? "serving " + serving : "loading " + loading) << "\n";
      return 1;
    }
    if (deployed(status, version)) {
      std::cout << "deployed " << version << ": " << status.value("desired", 0)
                << " workers on it, past its probation\n";
      return 0;
    }
    if (Clock::now() >= give_up) {
      std::cerr << "zygote-real ctl: deploy of " << version << " not finished after " << wait_s
                << " s\n";
      print_status(status, std::cerr);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling a status, not a test
  }
}

// `ctl workers`: one line per process, as on the status page.
void print_workers(const json& s, std::ostream& out) {
  auto mib = [](const json& m, const char* k) {
    if (!m.is_object()) return std::string("-");
    const double v = m.value(k, 0.0) / (1024.0 * 1024.0);
    std::string t = std::to_string(static_cast<long long>(v * 10 + 0.5));
    return t.substr(0, t.size() - 1) + "." + t.back();
  };
  auto secs = [](const json& v) {
    return v.is_number() ? std::to_string(static_cast<long long>(v.get<double>())) + "s"
                         : std::string("-");
  };
  out << "ROLE    PID      STATE            FOR    SERVED  REQUEST  RSS_MIB  PSS_MIB  USS_MIB  "
         "VERSION\n";
  auto line = [&](const std::string& role, const json& pid, const std::string& state,
                  const json& since, const json& served, const json& request, const json& mem,
                  const std::string& version) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%-7s %-8lld %-16s %-6s %-7s %-8s %-8s %-8s %-8s ", role.c_str(),
                  pid.is_number() ? pid.get<long long>() : 0LL, state.c_str(), secs(since).c_str(),
                  served.is_number() ? std::to_string(served.get<long long>()).c_str() : "-",
                  secs(request).c_str(), mib(mem, "rss").c_str(), mib(mem, "pss").c_str(),
                  mib(mem, "uss").c_str());
    out << buf << version << "\n";
  };
  const json& m = s.value("master", json::object());
  line("master", m.value("pid", json(0)), "running", m.value("uptime_s", json()), json(), json(),
       m.value("memory", json()), "");
  const json& f = s.value("front", json::object());
  if (f.value("pid", 0) != 0) {
    line("front", f["pid"], f.value("stopping", false) ? "stopping" : "running", json(), json(),
         json(), f.value("memory", json()), "");
  }
  for (const json& p : s.value("processes", json::array())) {
    line(p.value("role", ""), p.value("pid", json(0)), p.value("state", ""),
         p.value("state_for_s", json()), p.value("served", json()),
         p.value("request_for_s", json()), p.value("memory", json()), p.value("version", ""));
  }
}

void define_ctl_options(cxxopts::Options& options) {
  auto add = options.add_options();
  add("run-dir", "the server's run directory (default $XDG_RUNTIME_DIR/zygote-UID)",
      cxxopts::value<std::string>());
  add("json", "status, workers: print the raw JSON reply");
  add("wait", "deploy: wait until the deploy has finished or failed");
  add("wait-timeout-s", "deploy --wait: give up after this long",
      cxxopts::value<int>()->default_value("120"));
  add("fast", "stop: a fast stop (as SIGINT): workers are told to exit now");
  add("h,help", "show this help");
  add("command", "status, workers, deploy, rollback, scale or stop", cxxopts::value<std::string>());
  add("count", "scale: the number of workers wanted", cxxopts::value<std::string>());
  options.parse_positional({"command", "count"});
  options.positional_help("status|workers|deploy|rollback|scale N|stop");
}

// The request line a command sends, or why the command is wrong.
std::variant<std::string, std::pair<std::string, std::string>> request_for(
    const cxxopts::ParseResult& args) {
  using Err = std::pair<std::string, std::string>;
  if (!args.count("command")) return Err{"usage", "missing command: " + std::string(kCommands)};
  const std::string command = args["command"].as<std::string>();
  if (command == "scale") {
    if (!args.count("count")) return Err{"usage", "scale needs a worker count"};
    return command + " " + args["count"].as<std::string>();
  }
  if (args.count("count")) return Err{"usage", command + " takes no argument"};
  if (args.count("fast") && command != "stop") return Err{"usage", "--fast goes with stop"};
  if (command == "stop") return std::string(args.count("fast") ? "stop fast" : "stop");
  if (command == "workers") return std::string("status");
  if (command != "status" && command != "deploy" && command != "rollback") {
    return Err{"usage", "unknown command '" + command + "': " + kCommands};
  }
  return command;
}

}  // namespace

int ctl_main(int argc, char** argv) {
  cxxopts::Options options(
      "zygote-real ctl",
      "Talks to a running zygote-real through its control socket (RUN_DIR/control).\n\n"
      "  zygote-real ctl [--run-dir DIR] status [--json]\n"
      "  zygote-real ctl [--run-dir DIR] workers [--json]\n"
      "  zygote-real ctl [--run-dir DIR] deploy [--wait] [--wait-timeout-s N]\n"
      "  zygote-real ctl [--run-dir DIR] rollback\n"
      "  zygote-real ctl [--run-dir DIR] scale N\n"
      "  zygote-real ctl [--run-dir DIR] stop [--fast]\n\n"
      "deploy re-resolves the app symlink, like SIGHUP. With --wait it returns when every wanted "
      "worker runs the new version and it has passed its probation (exit 0), or when the release "
      "is reported failed (load failure, rollback) or the wait times out (exit 1). rollback goes "
      "back, at once, to the previous version while its zygote is still resident (until the new "
      "one is proven); it leaves the app symlink alone. stop is a graceful stop, as SIGTERM "
      "(--fast: as SIGINT).");
  define_ctl_options(options);
  int exit_status = 0;
  const std::optional<cxxopts::ParseResult> parsed = cli::parse(options, argc, argv, exit_status);
  if (!parsed) return exit_status;
  const cxxopts::ParseResult& args = *parsed;
  auto request_or = request_for(args);
  if (auto* e = std::get_if<std::pair<std::string, std::string>>(&request_or)) {
    return cli::usage_error("zygote-real ctl", e->second);
  }
  const std::string request = std::get<std::string>(request_or);
  const std::string command = args["command"].as<std::string>();
  const std::string path = control_socket_path(
      args.count("run-dir") ? args["run-dir"].as<std::string>() : default_run_dir());
  const auto timeout = std::chrono::seconds(10);
  std::string error;
  const bool waiting = command == "deploy" && args.count("wait");
  // A failure of this version already on record is not this deploy's.
  std::optional<json> before;
  if (waiting && !(before = ask(path, "status", timeout, error))) {
    std::cerr << "zygote-real ctl: " << error << "\n";
    return 1;
  }
  auto j = ask(path, request, timeout, error);
  if (!j) {
    std::cerr << "zygote-real ctl: " << error << "\n";
    return 1;
  }
  if (request == "status") {
    if (args.count("json")) {
      std::cout << (*j)["status"].dump(2) << "\n";
    } else if (command == "workers") {
      print_workers((*j)["status"], std::cout);
    } else {
      print_status((*j)["status"], std::cout);
    }
    return 0;
  }
  bool refused = false;
  for (const json& r : (*j)["reports"]) {
    std::cout << r.value("what", "") << ": " << r.value("detail", "") << "\n";
    refused = refused || r.value("what", "") == "deploy-refused";
  }
  if (!waiting) return 0;
  if (refused) return 1;
  return wait_for_deploy(path, j->value("version", ""), last_failure_serial((*before)["status"]),
                         args["wait-timeout-s"].as<int>());
}

}  // namespace zyg::real
