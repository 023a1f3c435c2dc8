#include "bench/harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace zyg::bench {

namespace fs = std::filesystem;

std::int64_t mono_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void sleep_ms(int ms) {
  timespec ts{ms / 1000, static_cast<long>(ms % 1000) * 1'000'000L};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// ---------------------------------------------------------------------------------------------
// Flags

Flags::Flags(int* argc, char** argv, const std::vector<std::string>& names) {
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string arg = argv[i];
    bool ours = false;
    for (const std::string& n : names) {
      const std::string flag = "--" + n;
      if (arg == flag) {
        values_[n] = "";
        ours = true;
      } else if (arg.rfind(flag + "=", 0) == 0) {
        values_[n] = arg.substr(flag.size() + 1);
        ours = true;
      }
    }
    if (!ours) argv[out++] = argv[i];
  }
  *argc = out;
  argv[out] = nullptr;
}

std::string Flags::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::vector<int> Flags::ints(const std::string& name, const std::vector<int>& fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  std::vector<int> out;
  std::stringstream ss(it->second);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(std::stoi(item));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Scratch

fs::path Scratch::release(const std::string& name, const fs::path& app_so,
                          const std::string& testapp_conf) {
  testing::make_release(path_.string(), name, app_so.string(), testapp_conf);
  return path_ / "releases" / name;
}

fs::path Scratch::point_current(const std::string& name) {
  testing::point_current(path_.string(), name);
  return path_ / "current";
}

// ---------------------------------------------------------------------------------------------
// Process

namespace {

// Process groups alive, so that a benchmark interrupted by a signal still stops them.
constexpr int kMaxGroups = 64;
std::atomic<pid_t> g_groups[kMaxGroups];

void on_fatal_signal(int sig) {
  for (auto& g : g_groups) {
    const pid_t pgid = g.load();
    if (pgid > 0) ::kill(-pgid, SIGKILL);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void remember_group(pid_t pgid) {
  static const bool handlers = [] {
    // SIGABRT too: an uncaught exception ends in std::terminate, which runs no destructor.
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE})
      ::signal(sig, on_fatal_signal);
    return true;
  }();
  (void)handlers;
  for (auto& g : g_groups) {
    pid_t empty = 0;
    if (g.compare_exchange_strong(empty, pgid)) return;
  }
}

void forget_group(pid_t pgid) {
  for (auto& g : g_groups) {
    pid_t mine = pgid;
    if (g.compare_exchange_strong(mine, 0)) return;
  }
}

}  // namespace

Process::Process(const std::vector<std::string>& argv, const fs::path& stderr_file) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_file.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
  ::posix_spawnattr_init(&attr);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  const int rc = ::posix_spawn(&pid_, args[0], &actions, &attr, args.data(), environ);
  ::posix_spawnattr_destroy(&attr);
  ::posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  remember_group(pid_);
}

Process::~Process() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);  // the whole group: the server's zygotes and workers too
  if (!reaped_) ::waitpid(pid_, &status_, 0);
  forget_group(pid_);
}

bool Process::running() {
  if (reaped_) return false;
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = st;
  }
  return !reaped_;
}

void Process::signal(int sig) const { ::kill(pid_, sig); }

int Process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  if (running()) {
    ::kill(pid_, SIGTERM);
    eventually([this] { return !running(); }, grace);
  }
  ::kill(-pid_, SIGKILL);  // whatever is left of the group
  if (!reaped_) {
    ::waitpid(pid_, &status_, 0);
    reaped_ = true;
    return -1;
  }
  return status_;
}

std::vector<std::string> server_argv(const std::string& zygote_real, const Scratch& scratch,
                                     std::uint16_t port, int workers, const fs::path& events,
                                     const std::vector<std::string>& extra,
                                     const std::vector<std::string>& app_and_args) {
  const fs::path run = scratch.path() / "run";
  fs::create_directories(run);
  fs::permissions(run, fs::perms::owner_all, fs::perm_options::replace);
  std::vector<std::string> argv = {zygote_real,
                                   "--bind",
                                   "127.0.0.1:" + std::to_string(port),
                                   "-b",
                                   (scratch.path() / "current").string(),
                                   "--workers",
                                   std::to_string(workers),
                                   "--run-dir",
                                   run.string(),
                                   "--events",
                                   events.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), app_and_args.begin(), app_and_args.end());
  return argv;
}

// ---------------------------------------------------------------------------------------------
// HTTP

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

namespace {

// `text` is `word` or begins with `word` and a space ("worker-ready w1" is not "worker-ready w10").
bool starts_with_word(const std::string& text, const std::string& word) {
  return text.rfind(word, 0) == 0 && (text.size() == word.size() || text[word.size()] == ' ');
}

// A connected socket to 127.0.0.1:port, retrying while refused; -1 at the deadline.
int connect_until(std::uint16_t port, std::int64_t deadline_ns) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  while (mono_ns() < deadline_ns) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    ::close(fd);
    ::usleep(500);  // not listening yet
  }
  return -1;
}

bool wait_fd(int fd, short events, std::int64_t deadline_ns) {
  for (;;) {
    const std::int64_t left_ms = (deadline_ns - mono_ns()) / 1'000'000;
    if (left_ms <= 0) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left_ms, 1000)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

// Whether `raw` holds a whole response: headers and Content-Length bytes of body.
bool complete(const std::string& raw) {
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  std::string head = raw.substr(0, head_end);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto at = head.find("\r\ncontent-length:");
  if (at == std::string::npos) return false;  // read to end of file
  const auto length = std::strtoull(head.c_str() + at + 17, nullptr, 10);
  return raw.size() - head_end - 4 >= length;
}

void parse_response(const std::string& raw, HttpResult& out) {
  const auto head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos || raw.size() < 12) return;
  out.status = std::atoi(raw.substr(9, 3).c_str());
  out.body = raw.substr(head_end + 4);
}

}  // namespace

Pending http_send(std::uint16_t port, const std::string& target, std::int64_t deadline_ns) {
  const int fd = connect_until(port, deadline_ns);
  if (fd < 0) return {};
  const std::string req =
      "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  const std::int64_t sent = mono_ns();
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return {};
  }
  return {fd, sent};
}

HttpResult http_finish(Pending p, std::int64_t deadline_ns) {
  HttpResult out;
  if (p.fd < 0) return out;
  out.sent_ns = p.sent_ns;
  std::string raw;
  char buf[16384];
  while (wait_fd(p.fd, POLLIN, deadline_ns)) {
    const ssize_t n = ::recv(p.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
    if (complete(raw)) break;
  }
  out.done_ns = mono_ns();
  ::close(p.fd);
  parse_response(raw, out);
  return out;
}

bool wait_listening(std::uint16_t port, std::int64_t deadline_ns) {
  const int fd = connect_until(port, deadline_ns);
  if (fd >= 0) ::close(fd);
  return fd >= 0;
}

HttpResult http_get(std::uint16_t port, const std::string& target, std::int64_t deadline_ns) {
  return http_finish(http_send(port, target, deadline_ns), deadline_ns);
}

// ---------------------------------------------------------------------------------------------
// Events

namespace {

// The describe() words of an event object: its type, then w<worker>/z<zygote>, pid, served,
// version.
std::string describe_event(const nlohmann::json& e) {
  if (e.is_string()) return e.get<std::string>();
  if (!e.is_object()) return "";
  std::string out = e.value("type", "");
  if (e.contains("worker")) out += " w" + std::to_string(e["worker"].get<std::uint64_t>());
  if (e.contains("zygote")) out += " z" + std::to_string(e["zygote"].get<std::uint64_t>());
  if (e.contains("pid")) out += " pid " + std::to_string(e["pid"].get<std::int64_t>());
  if (e.contains("served")) out += " served " + std::to_string(e["served"].get<std::uint64_t>());
  if (e.contains("version") && e["version"].is_string())
    out += " " + e["version"].get<std::string>();
  return out;
}

// The n-th (0-based) space-separated word of s.
std::string word(const std::string& s, int n) {
  std::istringstream in(s);
  std::string w;
  for (int i = 0; i <= n; ++i) {
    if (!(in >> w)) return "";
  }
  return w;
}

}  // namespace

void Events::reload() {
  steps_.clear();
  std::ifstream in(file_);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("event")) continue;
    Step s;
    const auto& t = j.contains("t_ns") ? j["t_ns"] : j.value("t", nlohmann::json());
    if (!t.is_number_integer()) continue;
    s.t_ns = t.get<std::int64_t>();
    s.event = describe_event(j["event"]);
    for (const auto& c : j.value("commands", nlohmann::json::array())) {
      if (c.is_string()) s.commands.push_back(c.get<std::string>());
    }
    steps_.push_back(std::move(s));
  }
}

std::optional<std::int64_t> Events::event_time(const std::string& prefix,
                                               std::int64_t from_ns) const {
  for (const Step& s : steps_) {
    if (s.t_ns >= from_ns && starts_with_word(s.event, prefix)) return s.t_ns;
  }
  return std::nullopt;
}

std::optional<std::int64_t> Events::command_time(const std::string& prefix) const {
  for (const Step& s : steps_) {
    for (const std::string& c : s.commands) {
      if (starts_with_word(c, prefix)) return s.t_ns;
    }
  }
  return std::nullopt;
}

std::optional<std::string> Events::worker_with_pid(pid_t pid) const {
  for (const Step& s : steps_) {
    if (word(s.event, 0) == "worker-spawned" && word(s.event, 3) == std::to_string(pid))
      return word(s.event, 1);
  }
  return std::nullopt;
}

void WorkerTracker::apply(const Step& step) {
  const std::string what = word(step.event, 0);
  const std::string id = word(step.event, 1);
  auto it = workers_.find(id);
  if (it != workers_.end()) {
    std::string& st = it->second.state;
    if (what == "worker-exited" || what == "spawn-failed") {
      workers_.erase(it);
    } else if (what == "worker-signalled" || what == "worker-exiting") {
      st = "draining";
    } else if (st != "draining" && (what == "worker-ready" || what == "worker-idle")) {
      st = "ready";
    } else if (st != "draining" && what == "worker-busy") {
      st = "busy";
    }
  }
  for (const std::string& c : step.commands) {
    const std::string verb = word(c, 0);
    if (verb == "start-zygote") {
      zygote_version_[word(c, 1)] = c.substr(c.find(' ', 13) + 1);
    } else if (verb == "request-worker") {
      workers_[word(c, 1)] = Worker{zygote_version_[word(c, 3)], "starting"};
    } else if (verb == "stop-worker" || verb == "kill-worker") {
      auto w = workers_.find(word(c, 1));
      if (w != workers_.end()) w->second.state = "draining";
    }
  }
}

int WorkerTracker::ready_or_busy() const {
  int n = 0;
  for (const auto& [id, w] : workers_) n += (w.state == "ready" || w.state == "busy") ? 1 : 0;
  return n;
}

bool WorkerTracker::all_on(const std::string& version, int n) const {
  if (count() != n || ready_or_busy() != n) return false;
  for (const auto& [id, w] : workers_) {
    if (w.version != version) return false;
  }
  return true;
}

std::optional<std::string> WorkerTracker::common_version() const {
  if (workers_.empty()) return std::nullopt;
  const std::string v = workers_.begin()->second.version;
  for (const auto& [id, w] : workers_) {
    if (w.version != v) return std::nullopt;
  }
  return v;
}

WorkerTracker replay(const Events& events) {
  WorkerTracker t;
  for (const Step& s : events.steps()) t.apply(s);
  return t;
}

// ---------------------------------------------------------------------------------------------
// /proc

std::optional<Memory> memory_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  if (!in) return std::nullopt;
  Memory m;
  std::string key;
  std::int64_t kib = 0;
  std::string unit;
  bool any = false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    if (!(ls >> key >> kib >> unit)) continue;
    any = true;
    if (key == "Rss:") m.rss_kib = kib;
    if (key == "Pss:") m.pss_kib = kib;
    if (key == "Private_Clean:" || key == "Private_Dirty:") m.uss_kib += kib;
    if (key == "AnonHugePages:") m.anon_huge_kib = kib;
  }
  if (!any) return std::nullopt;  // a zombie has an empty rollup
  return m;
}

double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const double rank = p / 100.0 * static_cast<double>(samples.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const auto hi = static_cast<std::size_t>(std::ceil(rank));
  const double frac = rank - static_cast<double>(lo);
  return samples[lo] + (samples[hi] - samples[lo]) * frac;
}

}  // namespace zyg::bench
