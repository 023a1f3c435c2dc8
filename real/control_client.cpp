#include "real/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "cli/options.hpp"

namespace zyg::real {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

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

int ctl_main(int argc, char** argv) {
  cxxopts::Options options(
      "zygote-real ctl",
      "Talks to a running zygote-real through its control socket (RUN_DIR/control).\n\n"
      "  zygote-real ctl [--run-dir DIR] status [--json]\n"
      "  zygote-real ctl [--run-dir DIR] deploy [--wait] [--wait-timeout-s N]\n"
      "  zygote-real ctl [--run-dir DIR] scale N\n\n"
      "deploy re-resolves the app symlink, like SIGHUP. With --wait it returns when every wanted "
      "worker runs the new version and it has passed its probation (exit 0), or when the release "
      "is reported failed (load failure, rollback) or the wait times out (exit 1).");
  auto add = options.add_options();
  add("run-dir", "the server's run directory (default $XDG_RUNTIME_DIR/zygote-UID)",
      cxxopts::value<std::string>());
  add("json", "status: print the raw JSON reply");
  add("wait", "deploy: wait until the deploy has finished or failed");
  add("wait-timeout-s", "deploy --wait: give up after this long",
      cxxopts::value<int>()->default_value("120"));
  add("h,help", "show this help");
  add("command", "status, deploy or scale", cxxopts::value<std::string>());
  add("count", "scale: the number of workers wanted", cxxopts::value<std::string>());
  options.parse_positional({"command", "count"});
  options.positional_help("status|deploy|scale N");
  int exit_status = 0;
  const std::optional<cxxopts::ParseResult> parsed = cli::parse(options, argc, argv, exit_status);
  if (!parsed) return exit_status;
  const cxxopts::ParseResult& args = *parsed;
  auto usage = [](const std::string& what) { return cli::usage_error("zygote-real ctl", what); };
  if (!args.count("command")) return usage("missing command: status, deploy or scale N");
  const std::string command = args["command"].as<std::string>();
  std::string request = command;
  if (command == "scale") {
    if (!args.count("count")) return usage("scale needs a worker count");
    request += " " + args["count"].as<std::string>();
  } else if (args.count("count")) {
    return usage(command + " takes no argument");
  } else if (command != "status" && command != "deploy") {
    return usage("unknown command '" + command + "': status, deploy or scale N");
  }
  const std::string path = control_socket_path(
      args.count("run-dir") ? args["run-dir"].as<std::string>() : default_run_dir());
  const auto timeout = std::chrono::seconds(10);
  std::string error;

  if (command == "status") {
    auto j = ask(path, request, timeout, error);
    if (!j) {
      std::cerr << "zygote-real ctl: " << error << "\n";
      return 1;
    }
    if (args.count("json")) {
      std::cout << (*j)["status"].dump(2) << "\n";
    } else {
      print_status((*j)["status"], std::cout);
    }
    return 0;
  }

  // A failure of this version already on record is not this deploy's.
  std::optional<json> before;
  if (command == "deploy" && args.count("wait")) {
    before = ask(path, "status", timeout, error);
    if (!before) {
      std::cerr << "zygote-real ctl: " << error << "\n";
      return 1;
    }
  }
  auto j = ask(path, request, timeout, error);
  if (!j) {
    std::cerr << "zygote-real ctl: " << error << "\n";
    return 1;
  }
  bool refused = false;
  for (const json& r : (*j)["reports"]) {
    std::cout << r.value("what", "") << ": " << r.value("detail", "") << "\n";
    refused = refused || r.value("what", "") == "deploy-refused";
  }
  if (command != "deploy" || !args.count("wait")) return 0;
  if (refused) return 1;

  const std::string version = j->value("version", "");
  const std::uint64_t failures_before = last_failure_serial((*before)["status"]);
  const auto give_up = Clock::now() + std::chrono::seconds(args["wait-timeout-s"].as<int>());
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
      std::cerr << "zygote-real ctl: deploy of " << version << " not finished after "
                << args["wait-timeout-s"].as<int>() << " s\n";
      print_status(status, std::cerr);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling a status, not a test
  }
}

}  // namespace zyg::real
