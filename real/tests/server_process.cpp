#include "real/tests/server_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace zyg::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

ScratchDir::ScratchDir() {
  std::string tmpl = (fs::temp_directory_path() / "zygote-test-XXXXXX").string();
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

ServerProcess::ServerProcess(const std::string& binary, const std::string& dir,
                             std::vector<std::string> args)
    : dir_(dir) {
  fs::create_directories(run_dir());
  fs::permissions(run_dir(), fs::perms::owner_all, fs::perm_options::replace);
  std::vector<std::string> argv{binary,           "--bind",    "127.0.0.1:0", "-b",
                                dir + "/current", "--run-dir", run_dir()};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log_path = dir + "/server.log";
  pid_ = ::fork();
  if (pid_ < 0) return;
  if (pid_ == 0) {
    ::setsid();
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) ::dup2(fd, 2);
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  eventually(
      [&] {
        const std::string text = log();
        const auto at = text.find("listening on port ");
        if (at != std::string::npos) port_ = std::atoi(text.c_str() + at + 18);
        return port_ != 0 || wait_exit(std::chrono::milliseconds(0)).has_value();
      },
      std::chrono::seconds(10));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (pid_ > 0) ::kill(-pid_, SIGKILL);  // anything of its group left behind
}

std::string ServerProcess::log() const {
  std::ifstream in(dir_ + "/server.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<int> ServerProcess::wait_exit(std::chrono::milliseconds within) {
  if (pid_ <= 0) return std::nullopt;
  if (reaped_) return std::nullopt;
  std::optional<int> code;
  eventually(
      [&] {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          reaped_ = true;
          code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        return code.has_value();
      },
      within);
  return code;
}

std::optional<int> ServerProcess::stop(std::chrono::milliseconds within) {
  if (pid_ <= 0 || reaped_) return std::nullopt;
  ::kill(pid_, SIGTERM);
  auto code = wait_exit(within);
  if (!code) ::kill(-pid_, SIGKILL);
  return code;
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
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    std::vector<std::string> copy = argv;
    std::vector<char*> cargv;
    for (std::string& a : copy) cargv.push_back(a.data());
    cargv.push_back(nullptr);
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
