// zygote-real: the production server. The master, zygote and worker loops from core/ run over
// LinuxOs; native apps are loaded from the release directory the app symlink resolves to.
//
//   zygote-real -p PORT -b APP_DIR [options] APP [ARGS...]
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <cxxopts.hpp>

#include "cli/options.hpp"
#include "core/control.hpp"
#include "core/event_log.hpp"
#include "core/loops.hpp"
#include "real/app/release_loader.hpp"
#include "real/config_file.hpp"
#include "real/control_client.hpp"
#include "real/os_linux.hpp"
#include "real/systemd.hpp"

namespace {

using zyg::Nanos;

// Logs what the master decides: reports to stderr, and every step as a JSON line when asked
// (core/event_log.hpp: the format `zygote-check` judges).
class EventLog final : public zyg::MasterObserver {
 public:
  EventLog(std::ostream& err, std::unique_ptr<std::ofstream> events, bool verbose)
      : err_(err), events_(std::move(events)), verbose_(verbose) {}

  zyg::real::Notifier& notifier() { return notify_; }

  // The header only once this master runs: a second server refused at start writes nothing.
  void on_started(const zyg::SupervisorConfig& config, zyg::Pid master) override {
    if (events_) *events_ << zyg::event_log::header_line(config, master) << std::flush;
  }

  void on_step(Nanos now, const zyg::Event& e, const zyg::Commands& cmds,
               const zyg::Supervisor& s) override {
    notify_.on_step(now, e, cmds, s);
    for (const zyg::Command& c : cmds) {
      if (const auto* r = std::get_if<zyg::cmd::Report>(&c)) {
        err_ << "zygote-real: " << r->what << ": " << r->detail << "\n";
      } else if (verbose_) {
        err_ << "zygote-real: " << zyg::describe(c) << "\n";
      }
    }
    if (!events_) return;
    *events_ << zyg::event_log::step_line(now, e, cmds,
                                          cmds.empty() ? zyg::StatusSnapshot{} : s.snapshot());
    events_->flush();
  }

  void on_listening(zyg::os::Fd fd) override {
    if (auto port = zyg::real::local_port(fd)) {
      err_ << "zygote-real: listening on port " << *port << "\n" << std::flush;
    } else {
      err_ << "zygote-real: listening\n" << std::flush;
    }
  }

  void on_status_listening(zyg::os::Fd fd) override {
    if (auto port = zyg::real::local_port(fd)) {
      err_ << "zygote-real: status on port " << *port << "\n" << std::flush;
    } else {
      err_ << "zygote-real: status listening\n" << std::flush;
    }
  }

  // SIGUSR1: the events file is reopened by name (logrotate moved it).
  void on_reopen_logs() override {
    if (!events_ || events_path_.empty()) return;
    events_->close();
    events_->open(events_path_, std::ios::app);
    if (!*events_)
      err_ << "zygote-real: error: cannot reopen the events file " << events_path_ << "\n";
  }
  void set_events_path(std::string p) { events_path_ = std::move(p); }

  void on_error(Nanos, const std::string& what) override {
    err_ << "zygote-real: error: " << what << "\n";
  }

 private:
  std::ostream& err_;
  std::unique_ptr<std::ofstream> events_;
  bool verbose_;
  zyg::real::Notifier notify_;  // systemd (Type=notify); inert outside it
  std::string events_path_;
};

// host:port, [v6]:port or unix:PATH.
std::optional<zyg::os::Endpoint> parse_bind(const std::string& s, std::string& error,
                                            const std::string& flag = "--bind") {
  zyg::os::Endpoint e;
  if (s.rfind("unix:", 0) == 0) {
    e.unix_path = s.substr(5);
    if (e.unix_path.empty()) error = flag + " unix: needs a path";
    return error.empty() ? std::optional(e) : std::nullopt;
  }
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    const auto close = s.find("]:");
    if (close == std::string::npos) {
      error = flag + " [v6]:port expected, got " + s;
      return std::nullopt;
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos) {
      error = flag + " host:port expected, got " + s;
      return std::nullopt;
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
    error = flag + ": bad port " + port;
    return std::nullopt;
  }
  e.host = host;
  e.port = static_cast<std::uint16_t>(p);
  return e;
}

// The run directory holds the state file and the control socket: mode 0700, ours alone.
// With --user, the directory is that user's (the master, root, can still use it), so that
// `zygote-real ctl` works as the user too.
std::optional<std::string> prepare_run_dir(std::string dir,
                                           const std::optional<zyg::os::Credentials>& owner,
                                           std::string& error) {
  if (dir.empty()) dir = zyg::real::default_run_dir();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    error = "cannot create the run directory " + dir + ": " + std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  if (owner && ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::getuid() &&
      ::chown(dir.c_str(), owner->uid, owner->gid) != 0) {
    error = "cannot give the run directory " + dir + " to --user: " + std::strerror(errno);
    return std::nullopt;
  }
  const uid_t want = owner ? owner->uid : ::getuid();
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != want ||
      (st.st_mode & 0077) != 0) {
    error = "the run directory " + dir + " must be a directory of " +
            (owner ? std::string("--user's") : std::string("ours")) + " with mode 0700";
    return std::nullopt;
  }
  return dir;
}

Nanos ms(int n) { return std::chrono::milliseconds(n); }

// -p / --bind, and --status-bind (a port alone is on 127.0.0.1); why they are wrong.
// Sockets systemd passed (socket activation) take the place of -p / --bind and --status-bind.
std::optional<std::string> apply_listen_options(const cxxopts::ParseResult& args,
                                                zyg::MasterConfig& cfg) {
  auto taken = zyg::real::take_activated_sockets();
  if (auto* why = std::get_if<std::string>(&taken)) return *why;
  const auto activated = std::get<zyg::real::ActivatedSockets>(taken);
  if (activated.status >= 0 && args.count("status-bind")) {
    return "--status-bind: the status socket comes from systemd (FileDescriptorName=status)";
  }
  cfg.inherited_status_listener = activated.status;
  if (activated.app >= 0) {
    if (args.count("port") || args.count("bind")) {
      return "-p / --bind: the listening socket comes from systemd (socket activation)";
    }
    cfg.inherited_listener = activated.app;
  } else if (args.count("port") == args.count("bind")) {
    return "give exactly one of -p PORT and --bind";
  }
  std::string error;
  if (activated.app >= 0) {
    // Nothing to bind.
  } else if (args.count("port")) {
    const int port = args["port"].as<int>();
    if (port < 0 || port > 65535) return "-p takes a port 0..65535";
    cfg.endpoint.host = "127.0.0.1";
    cfg.endpoint.port = static_cast<std::uint16_t>(port);
  } else {
    auto e = parse_bind(args["bind"].as<std::string>(), error);
    if (!e) return error;
    cfg.endpoint = *e;
  }
  if (args.count("status-bind")) {
    std::string where = args["status-bind"].as<std::string>();
    if (!where.empty() && where.find_first_not_of("0123456789") == std::string::npos) {
      where = "127.0.0.1:" + where;
    }
    auto e = parse_bind(where, error, "--status-bind");
    if (!e) return error;
    e->unix_mode = 0600;  // a status socket file is the owner's, like the control socket
    cfg.status_endpoint = *e;
  }
  return std::nullopt;
}

// --spool-dir, else $TMPDIR, else /var/tmp (on disk; /tmp may be memory).
std::string spool_dir(const std::string& given) {
  if (!given.empty()) return given;
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/var/tmp";
}

// The budget, deploys and deadlines; why they are wrong.
std::optional<std::string> apply_supervisor_options(const cxxopts::ParseResult& args,
                                                    zyg::SupervisorConfig& sup) {
  sup.budget = args["workers"].as<int>();
  sup.max_changing = zyg::SupervisorConfig::rolling_max_changing(sup.budget);
  if (args.count("max-changing")) sup.max_changing = args["max-changing"].as<int>();
  sup.graceful_timeout = ms(args["graceful-timeout-ms"].as<int>());
  if (args["stop-delay-ms"].as<int>() < 0) return "--stop-delay-ms cannot be negative";
  sup.stop_delay = ms(args["stop-delay-ms"].as<int>());
  if (args.count("heartbeat-timeout-ms") && args.count("timeout-ms")) {
    return "give one of --heartbeat-timeout-ms and --timeout-ms (the older spelling)";
  }
  const char* heartbeat = args.count("timeout-ms") ? "timeout-ms" : "heartbeat-timeout-ms";
  sup.heartbeat_timeout = args.count(heartbeat) ? ms(args[heartbeat].as<int>()) : ms(30000);
  sup.probation = ms(args["probation-ms"].as<int>());
  sup.load_timeout = ms(args["load-timeout-ms"].as<int>());
  return sup.validate();
}

// --user and --group: who zygotes, workers and the front run as; why they cannot be.
std::optional<std::string> resolve_user(const cxxopts::ParseResult& args,
                                        std::optional<zyg::os::Credentials>& run_as) {
  if (!args.count("user")) {
    if (args.count("group")) return "--group needs --user";
    return std::nullopt;
  }
  const std::string name = args["user"].as<std::string>();
  if (::geteuid() != 0) {
    return "--user " + name + " needs the master to start as root (it drops to " + name +
           " in every zygote, worker and the front)";
  }
  const passwd* pw = ::getpwnam(name.c_str());
  if (pw == nullptr) return "--user: no such user: " + name;
  zyg::os::Credentials c;
  c.uid = pw->pw_uid;
  c.gid = pw->pw_gid;
  if (args.count("group")) {
    const std::string g = args["group"].as<std::string>();
    const group* gr = ::getgrnam(g.c_str());
    if (gr == nullptr) return "--group: no such group: " + g;
    c.gid = gr->gr_gid;
  }
  if (c.uid == 0) return "--user " + name + " is root: the app must not run as root";
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  if (::getgrouplist(name.c_str(), c.gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<std::size_t>(count));
    ::getgrouplist(name.c_str(), c.gid, groups.data(), &count);
  }
  groups.resize(static_cast<std::size_t>(std::max(count, 0)));
  c.groups.assign(groups.begin(), groups.end());
  run_as = c;
  return std::nullopt;
}

// Who the processes run as, where state goes (the run directory: the user's, with --user).
std::optional<std::string> apply_process_options(const cxxopts::ParseResult& args,
                                                 zyg::MasterConfig& cfg) {
  if (auto why = resolve_user(args, cfg.run_as)) return why;
  std::string error;
  auto run_dir = prepare_run_dir(args.count("run-dir") ? args["run-dir"].as<std::string>() : "",
                                 cfg.run_as, error);
  if (!run_dir) return error;
  cfg.state_path = *run_dir + "/last-good";
  cfg.control_path = zyg::real::control_socket_path(*run_dir);
  cfg.huge_pages = args.count("huge-pages") > 0;
  cfg.title = "zygote-real";
  return std::nullopt;
}

// --access-log: the file must open now (a usage error, not a worker's complaint later); on a
// pipe or socket as standard output, writes must never block a worker (lines are dropped).
std::optional<std::string> apply_access_log(const cxxopts::ParseResult& args,
                                            zyg::WorkerConfig& w) {
  const std::string format = args["access-log-format"].as<std::string>();
  if (format != "json" && format != "combined") {
    return "--access-log-format is json or combined, not " + format;
  }
  w.access_format = format == "json" ? zyg::AccessFormat::json : zyg::AccessFormat::combined;
  if (!args.count("access-log")) return std::nullopt;
  w.access_log = args["access-log"].as<std::string>();
  if (w.access_log.empty()) return "--access-log needs a file, or - for standard output";
  if (w.access_log == "-") {
    struct stat st {};
    if (::fstat(STDOUT_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
      const int flags = ::fcntl(STDOUT_FILENO, F_GETFL);
      if (flags >= 0) static_cast<void>(::fcntl(STDOUT_FILENO, F_SETFL, flags | O_NONBLOCK));
    }
    return std::nullopt;
  }
  const int fd = ::open(w.access_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return "--access-log " + w.access_log + ": " + std::strerror(errno);
  ::close(fd);
  return std::nullopt;
}

// The request path's options (limits, timeouts, where large bodies go); why they are wrong.
std::optional<std::string> apply_request_options(const cxxopts::ParseResult& args,
                                                 zyg::WorkerConfig& w) {
  w.keepalive_timeout = ms(args["keepalive-timeout-ms"].as<int>());
  w.request_read_timeout = ms(args["read-timeout-ms"].as<int>());
  w.http.body_bytes_max = args["max-body-bytes"].as<std::size_t>();
  w.http.header_bytes_max = args["max-header-bytes"].as<std::size_t>();
  w.http.body_memory_max = args["body-memory-bytes"].as<std::size_t>();
  w.spool_dir = spool_dir(args.count("spool-dir") ? args["spool-dir"].as<std::string>() : "");
  w.max_requests = args["max-requests"].as<std::uint64_t>();
  w.max_requests_jitter = args["max-requests-jitter"].as<std::uint64_t>();
  if (auto why = apply_access_log(args, w)) return why;
  w.rss_bytes_max = args["max-rss-mib"].as<std::uint64_t>() * 1024 * 1024;
  w.cpu_max =
      std::chrono::seconds(static_cast<std::int64_t>(args["max-cpu-s"].as<std::uint64_t>()));
  if (w.max_requests_jitter != 0 && w.max_requests == 0) {
    return "--max-requests-jitter needs --max-requests";
  }
  if (w.keepalive_timeout <= Nanos{0} || w.request_read_timeout <= Nanos{0}) {
    return "timeouts must be positive";
  }
  if (w.http.body_memory_max == 0) return "--body-memory-bytes must be at least 1";
  return std::nullopt;
}

// The front writes large request bodies there: a directory it cannot write to is a usage error
// now, not a 503 on the first large upload.
std::optional<std::string> check_spool_dir(zyg::real::LinuxOs& os, const std::string& dir) {
  auto probe = os.spool_file(dir);
  if (!probe.ok()) {
    return "--spool-dir " + dir + ": cannot create files there: " + std::strerror(probe.error);
  }
  zyg::os::close_quietly(os, probe.value);
  return std::nullopt;
}

// Fails fast on a missing app directory or an APP that names nothing in it (or two things):
// a usage error now, not a release that fails later.
std::optional<std::string> check_app(const std::string& app_dir, const std::string& app) {
  char resolved[PATH_MAX];
  if (!::realpath(app_dir.c_str(), resolved)) {
    return "cannot resolve the app directory " + app_dir + ": " + std::strerror(errno);
  }
  const zyg::real::Classified c = zyg::real::classify_app(resolved, app);
  if (!c.kind) return c.error;
  return std::nullopt;
}

void define_request_options(cxxopts::Options& options);
void define_process_options(cxxopts::Options& options);

// Every option of the server (the ctl subcommand has its own, real/control_client.cpp).
void define_options(cxxopts::Options& options) {
  auto add = options.add_options();
  add("p,port", "TCP port on 127.0.0.1 (shorthand for --bind 127.0.0.1:PORT)",
      cxxopts::value<int>());
  add("bind", "where to listen: HOST:PORT, [V6]:PORT or unix:PATH", cxxopts::value<std::string>());
  add("b,app-dir", "the app directory (normally a symlink to a release)",
      cxxopts::value<std::string>());
  add("w,workers", "W: the budget of worker processes", cxxopts::value<int>()->default_value("4"));
  add("max-changing", "workers replaced at once in a deploy (default W/4, at least 1; 0: all)",
      cxxopts::value<int>());
  add("graceful-timeout-ms", "a draining worker is killed after this long",
      cxxopts::value<int>()->default_value("30000"));
  add("stop-delay-ms",
      "a graceful stop first answers 503 on /readyz for this long while it still accepts and "
      "serves (every answer closing its connection), so load balancers stop sending first; set "
      "above their health checks' time to mark a host down",
      cxxopts::value<int>()->default_value("0"));
  add("heartbeat-timeout-ms",
      "a worker silent this long (one request included) is killed as hung (default: 30000)",
      cxxopts::value<int>());
  add("timeout-ms", "the older spelling of --heartbeat-timeout-ms", cxxopts::value<int>());
  add("load-timeout-ms",
      "a zygote still loading its release after this long is killed and the "
      "release failed",
      cxxopts::value<int>()->default_value("60000"));
  add("probation-ms",
      "a new version must run this long with every worker ready before it is proven and the "
      "previous version's zygote stops (until then a crash loop rolls it back)",
      cxxopts::value<int>()->default_value("10000"));
  add("keepalive-timeout-ms", "idle keep-alive connections are closed after this long",
      cxxopts::value<int>()->default_value("5000"));
  add("read-timeout-ms", "a request must arrive completely within this long (else 408)",
      cxxopts::value<int>()->default_value("30000"));
  define_request_options(options);
  define_process_options(options);
}

// The limits and timeouts of a request, and the limits of a worker.
void define_request_options(cxxopts::Options& options) {
  auto add = options.add_options();
  add("max-body-bytes", "request bodies above this get 413",
      cxxopts::value<std::size_t>()->default_value("1073741824"));
  add("body-memory-bytes",
      "request bodies above this are written to an unlinked file in --spool-dir as they arrive "
      "(the app reads them from it) instead of being held in memory",
      cxxopts::value<std::size_t>()->default_value("1048576"));
  add("spool-dir", "where large request bodies go (default $TMPDIR, else /var/tmp)",
      cxxopts::value<std::string>());
  add("max-header-bytes", "request line and headers above this get 431",
      cxxopts::value<std::size_t>()->default_value("8192"));
  add("max-connections",
      "connections the front holds at once (idle, arriving, waiting for a worker); beyond it, "
      "new connections wait in the listening socket's backlog",
      cxxopts::value<std::size_t>()->default_value("10000"));
  add("max-requests", "a worker retires after this many requests (0: never)",
      cxxopts::value<std::uint64_t>()->default_value("0"));
  add("access-log",
      "one line per request to this file (every worker appends; SIGUSR1 reopens it), or - for "
      "standard output",
      cxxopts::value<std::string>());
  add("access-log-format", "json (JSON lines) or combined (the combined log format)",
      cxxopts::value<std::string>()->default_value("json"));
  add("max-requests-jitter",
      "each worker retires after --max-requests plus its own 0..N more, so that workers started "
      "together do not all retire at once",
      cxxopts::value<std::uint64_t>()->default_value("0"));
  add("max-rss-mib", "a worker whose resident memory passes this retires (0: no limit)",
      cxxopts::value<std::uint64_t>()->default_value("0"));
  add("max-cpu-s", "a worker that has used this much CPU time retires (0: no limit)",
      cxxopts::value<std::uint64_t>()->default_value("0"));
}

// How processes run, where state and logs go, and the app.
void define_process_options(cxxopts::Options& options) {
  auto add = options.add_options();
  add("user",
      "run zygotes, workers and the front as this user (supplementary groups set, no way "
      "back; the app never runs as root); the master starts as root, binds, and stays root to "
      "supervise. Needs root",
      cxxopts::value<std::string>());
  add("group", "with --user: run as this group instead of the user's own",
      cxxopts::value<std::string>());
  add("huge-pages",
      "after loading, zygotes move the app's memory to transparent huge pages: forks copy far "
      "fewer page tables; loading takes longer (the memory is copied once)");
  add("status-bind",
      "serve the status page, /status.json, /metrics, /healthz and /readyz from the master on "
      "HOST:PORT, [V6]:PORT, unix:PATH, or PORT (on 127.0.0.1); off unless given",
      cxxopts::value<std::string>());
  add("config",
      "read options from this TOML file: keys are the long options (workers = 8), and app and "
      "args; the command line overrides it",
      cxxopts::value<std::string>());
  add("run-dir", "directory for state (mode 0700); default $XDG_RUNTIME_DIR/zygote-UID",
      cxxopts::value<std::string>());
  add("events", "write every supervisor step as a JSON line to this file",
      cxxopts::value<std::string>());
  add("log-level", "info (reports) or debug (every command)",
      cxxopts::value<std::string>()->default_value("info"));
  add("h,help", "show this help");
  add("app", "the app", cxxopts::value<std::string>());
  add("args", "arguments for the app", cxxopts::value<std::vector<std::string>>());
  options.parse_positional({"app", "args"});
  options.positional_help("APP [ARGS...]");
}

cxxopts::Options make_options() {
  cxxopts::Options options(
      "zygote-real",
      "A pre-fork application server: one zygote per code version loads the app once and forks "
      "workers; deploys replace workers with zero dropped requests, within a budget of worker "
      "slots.\n\n  zygote-real -p PORT -b APP_DIR [options] APP [ARGS...]\n\nAPP_DIR is normally a "
      "symlink to a release directory; the directory it resolves to names the version. APP is "
      "the app's shared object in that directory (APP or APP.so); ARGS go to its init.\nDeploy: "
      "repoint the symlink, then `zygote-real ctl deploy` (see `zygote-real ctl --help`: status, "
      "deploy, scale N) or send SIGHUP to the master. SIGTERM: graceful stop; SIGINT or "
      "SIGQUIT: fast stop; SIGTTIN / SIGTTOU: one worker more / fewer.");
  define_options(options);
  return options;
}

// The command line, and the --config file's options before it (so the command line wins); the
// file's app and its arguments count only when the command line names no app.
std::optional<cxxopts::ParseResult> parse_command_line(int argc, char** argv, int& status) {
  cxxopts::Options options = make_options();
  std::optional<cxxopts::ParseResult> first = zyg::cli::parse(options, argc, argv, status);
  if (!first || !first->count("config")) return first;
  auto from = zyg::real::config_arguments((*first)["config"].as<std::string>(), make_options);
  if (auto* why = std::get_if<std::string>(&from)) {
    status = zyg::cli::usage_error("zygote-real", "--config: " + *why);
    return std::nullopt;
  }
  const auto& file = std::get<zyg::real::ConfigArguments>(from);
  static std::vector<std::string> words;  // what the result was parsed from, kept alive
  words.assign(1, argv[0]);
  words.insert(words.end(), file.options.begin(), file.options.end());
  words.insert(words.end(), argv + 1, argv + argc);
  if (!first->count("app") && !file.positional.empty()) {
    words.emplace_back("--");
    words.insert(words.end(), file.positional.begin(), file.positional.end());
  }
  std::vector<char*> ptrs;
  for (std::string& w : words) ptrs.push_back(w.data());
  cxxopts::Options again = make_options();
  return zyg::cli::parse(again, static_cast<int>(ptrs.size()), ptrs.data(), status);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "ctl")
    return zyg::real::ctl_main(argc - 1, argv + 1);
  zyg::real::LinuxOs::init_process_title(std::span<char*>(argv, static_cast<std::size_t>(argc)));
  int status = 0;
  const std::optional<cxxopts::ParseResult> parsed = parse_command_line(argc, argv, status);
  if (!parsed) return status;
  const cxxopts::ParseResult& args = *parsed;
  auto usage = [](const std::string& what) { return zyg::cli::usage_error("zygote-real", what); };
  if (!args.count("app")) return usage("missing APP: the app to serve");
  if (!args.count("app-dir")) return usage("missing -b APP_DIR");

  zyg::MasterConfig cfg;
  if (auto why = apply_listen_options(args, cfg)) return usage(*why);
  cfg.app_path = args["app-dir"].as<std::string>();
  cfg.app_args.push_back(args["app"].as<std::string>());
  if (args.count("args")) {
    for (const std::string& a : args["args"].as<std::vector<std::string>>())
      cfg.app_args.push_back(a);
  }
  if (auto why = apply_supervisor_options(args, cfg.supervisor)) return usage(*why);
  if (auto why = apply_request_options(args, cfg.worker)) return usage(*why);
  cfg.max_connections = args["max-connections"].as<std::size_t>();
  if (cfg.max_connections == 0) return usage("--max-connections must be at least 1");
  if (auto why = apply_process_options(args, cfg)) return usage(*why);
  const std::string level = args["log-level"].as<std::string>();
  if (level != "info" && level != "debug") return usage("--log-level is info or debug");

  std::unique_ptr<std::ofstream> events;
  if (args.count("events")) {
    events = std::make_unique<std::ofstream>(args["events"].as<std::string>(), std::ios::app);
    if (!*events) return usage("cannot open the events file " + args["events"].as<std::string>());
  }
  if (auto why = check_app(cfg.app_path, cfg.app_args[0])) return usage(*why);
  EventLog log(std::cerr, std::move(events), level == "debug");
  if (args.count("events")) log.set_events_path(args["events"].as<std::string>());
  zyg::real::ReleaseLoader loader;
  zyg::real::LinuxOs os;
  if (auto why = check_spool_dir(os, cfg.worker.spool_dir)) return usage(*why);
  return zyg::run_master(os, cfg, loader, &log);
}
