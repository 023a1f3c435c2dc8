#include "testing/server_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace zyg::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kStartTimeout = std::chrono::seconds(15);
constexpr auto kReapAfterKillTimeout = std::chrono::seconds(10);
constexpr std::string_view kPortLine = "listening on port ";
constexpr std::string_view kWorkerTitle = "zygote-real: worker ";

struct ProcStat {
  ProcessId id;
  pid_t pgrp = 0;
};

// /proc/PID/stat: "pid (comm) state ppid pgrp ... starttime(22nd) ..."; comm may hold spaces.
std::optional<ProcStat> read_stat(pid_t pid) {
  const std::string text = read_file("/proc/" + std::to_string(pid) + "/stat");
  const std::size_t paren = text.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(paren + 1));
  ProcStat s;
  s.id.pid = pid;
  const std::size_t open = text.find('(');
  if (open != std::string::npos && open < paren)
    s.id.comm = text.substr(open + 1, paren - open - 1);
  pid_t ppid = 0;
  fields >> s.id.state >> ppid >> s.pgrp;
  std::string skip;
  for (int field = 6; field < 22 && fields; ++field) fields >> skip;
  fields >> s.id.start_time;
  if (!fields) return std::nullopt;
  return s;
}

std::optional<pid_t> pid_of(const std::string& name) {
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
  if (ec != std::errc{} || end != name.data() + name.size()) return std::nullopt;
  return pid;
}

int exit_code(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

std::string describe_wait_status(int wait_status) {
  if (WIFEXITED(wait_status)) return "exit status " + std::to_string(WEXITSTATUS(wait_status));
  return std::string("signal ") + ::strsignal(WTERMSIG(wait_status));
}

std::vector<char*> c_argv(std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (std::string& a : argv) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

ScratchDir::ScratchDir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string make_release(const std::string& dir, const std::string& name,
                         const std::string& shared_object, const std::string& conf) {
  const fs::path release = fs::path(dir) / "releases" / name;
  fs::create_directories(release);
  fs::copy_file(shared_object, release / fs::path(shared_object).filename(),
                fs::copy_options::overwrite_existing);
  if (!conf.empty()) std::ofstream(release / "testapp.conf") << conf;
  return fs::canonical(release).string();
}

void point_current(const std::string& dir, const std::string& name) {
  const fs::path tmp = fs::path(dir) / "current.new";
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_directory_symlink(fs::path("releases") / name, tmp);
  fs::rename(tmp, fs::path(dir) / "current");
}

std::string read_file(const std::string& path, std::size_t offset) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<ProcessId> processes_in_group(pid_t pgid) {
  std::vector<ProcessId> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const auto pid = pid_of(entry.path().filename().string());
    if (!pid) continue;
    const auto stat = read_stat(*pid);
    if (stat && stat->pgrp == pgid) out.push_back(stat->id);
  }
  return out;
}

std::string describe(const std::vector<ProcessId>& processes) {
  std::string out = "[";
  for (const ProcessId& p : processes) out += " " + std::to_string(p.pid) + p.state;
  return out + " ]";
}

// server.log for the first server in a directory, server-2.log for a second one, ...: a second
// server (refused, say) never overwrites the first one's log.
std::string ServerProcess::next_log_path(const std::string& dir) {
  for (int n = 1;; ++n) {
    const std::string path =
        dir + (n == 1 ? "/server.log" : "/server-" + std::to_string(n) + ".log");
    std::error_code ec;
    if (!fs::exists(path, ec)) return path;
  }
}

ServerProcess::ServerProcess(const std::string& binary, const std::string& dir,
                             std::vector<std::string> args)
    : dir_(dir), log_path_(next_log_path(dir)) {
  fs::create_directories(run_dir());
  fs::permissions(run_dir(), fs::perms::owner_all, fs::perm_options::replace);
  std::vector<std::string> argv{binary,           "--bind",    "127.0.0.1:0", "-b",
                                dir + "/current", "--run-dir", run_dir()};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::vector<char*> cargv = c_argv(argv);
  const std::string& log_path = log_path_;
  std::ofstream(log_path, std::ios::trunc);  // now, so that no earlier server's port is read
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) return;
  if (pid_ == 0) {  // async-signal-safe calls only until exec
    ::setsid();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // if the test dies, so does the master
    if (::getppid() != parent) ::_exit(127);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in >= 0) ::dup2(in, 0);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  eventually(
      [&] {
        const std::string text = log();
        const auto at = text.find(kPortLine);
        if (at != std::string::npos) port_ = std::atoi(text.c_str() + at + kPortLine.size());
        return port_ != 0 || wait_exit(std::chrono::milliseconds(0)).has_value();
      },
      kStartTimeout);
}

ServerProcess::~ServerProcess() {
  if (pid_ <= 0) return;
  kill_group();
  if (!wait_status_) {
    ::kill(pid_, SIGKILL);  // before its setsid(), the group is not yet its own
    wait_exit(kReapAfterKillTimeout);
  }
}

void ServerProcess::kill_group() {
  if (pid_ > 0 && !group_gone_) ::kill(-pid_, SIGKILL);
}

std::string ServerProcess::log() const { return read_file(log_path_); }

std::string ServerProcess::log_tail(std::size_t bytes_max) const {
  const std::string& path = log_path_;
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(path, ec);
  const std::size_t offset = ec || size <= bytes_max ? 0 : size - bytes_max;
  return read_file(path, offset);
}

std::vector<ProcessId> ServerProcess::group() const {
  if (pid_ <= 0) return {};
  return processes_in_group(pid_);
}

std::vector<ProcessId> ServerProcess::workers() const {
  std::vector<ProcessId> out;
  for (const ProcessId& p : group()) {
    if (read_file("/proc/" + std::to_string(p.pid) + "/cmdline").starts_with(kWorkerTitle)) {
      out.push_back(p);
    }
  }
  return out;
}

std::optional<int> ServerProcess::wait_exit(std::chrono::milliseconds within) {
  if (pid_ <= 0) return std::nullopt;
  eventually(
      [&] {
        int status = 0;
        if (!wait_status_ && ::waitpid(pid_, &status, WNOHANG) == pid_) wait_status_ = status;
        return wait_status_.has_value();
      },
      within);
  if (!wait_status_) return std::nullopt;
  return exit_code(*wait_status_);
}

std::optional<int> ServerProcess::stop(std::chrono::milliseconds within) {
  if (pid_ <= 0) return std::nullopt;
  if (!wait_status_) ::kill(pid_, SIGTERM);
  auto code = wait_exit(within);
  if (!code) kill_group();
  return code;
}

std::string ServerProcess::stop_cleanly(std::chrono::milliseconds within) {
  if (pid_ <= 0) return "it did not start: fork failed";
  std::vector<std::string> problems;
  if (!stop(within)) {
    problems.push_back("the master did not exit within " + std::to_string(within.count()) +
                       " ms of SIGTERM");
    wait_exit(kReapAfterKillTimeout);
  }
  if (wait_status_ && *wait_status_ != 0) {
    problems.push_back("the master ended with " + describe_wait_status(*wait_status_));
  }
  if (const auto left = group(); !left.empty()) {
    problems.push_back("processes remain in its group: " + describe(left));
    kill_group();
  } else {
    group_gone_ = true;  // its id may now be reused by another group: no more kills of it
  }
  std::string out;
  for (const std::string& p : problems) out += (out.empty() ? "" : "; ") + p;
  return out;
}

int http_get_status(int port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int status = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req =
        "GET " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      std::string in;
      const auto until = Clock::now() + std::chrono::seconds(5);
      while (in.find("\r\n") == std::string::npos && Clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char buf[512];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
      }
      if (in.rfind("HTTP/1.1 ", 0) == 0 && in.size() >= 12) status = std::atoi(in.c_str() + 9);
    }
  }
  ::close(fd);
  return status;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds within) {
  CommandResult result;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return result;
  std::vector<std::string> copy = argv;
  const std::vector<char*> cargv = c_argv(copy);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return result;
  }
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  const auto until = Clock::now() + within;
  for (;;) {
    pollfd p{out[0], POLLIN, 0};
    const int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count());
    if (left <= 0 || ::poll(&p, 1, left) <= 0) break;
    char buf[4096];
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    result.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  if (Clock::now() >= until) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace zyg::testing
