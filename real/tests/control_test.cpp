// The control socket of a live zygote-real: ctl status, deploy (a broken release reported, a good
// one waited for), scale; the socket's permissions and its peer check; hostile clients answered
// or cut off while the server keeps serving; one server per run directory.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <filesystem>

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "real/control_client.hpp"
#include "testing/server_process.hpp"

namespace zyg::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class Control : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ScratchDir;
    const std::string& d = scratch_->path();
    release_a_ = make_release(d, "A", ZYG_TESTAPP_SO);
    release_broken_ = make_release(d, "broken", ZYG_TESTAPP_SO, "load_fail 1\n");
    release_c_ = make_release(d, "C", ZYG_TESTAPP_SO);
    point_current(d, "A");
    server_ =
        new ServerProcess(ZYG_REAL_BIN, d,
                          {"--workers", "2", "--probation-ms", "300", "--keepalive-timeout-ms",
                           "500", "--graceful-timeout-ms", "5000", "testapp"});
  }
  static void TearDownTestSuite() {
    if (server_->started()) {
      auto code = server_->stop();
      EXPECT_EQ(code, 0) << server_->log();
    }
    delete server_;
    delete scratch_;
  }
  void SetUp() override { ASSERT_TRUE(server_->started()) << server_->log(); }

  static std::string socket_path() { return real::control_socket_path(server_->run_dir()); }

  static json request(const std::string& line) {
    auto r = real::control_request(socket_path(), line, seconds(10));
    if (!r.line) {
      ADD_FAILURE() << line << ": " << r.error;
      return json{};
    }
    return json::parse(*r.line);
  }
  static json status() { return request("status")["status"]; }

  // Connects to the control socket; -1 on failure.
  static int connect_raw() {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path().c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  // Everything the server sends until it closes (bounded).
  static std::string read_to_close(int fd, milliseconds within = seconds(10)) {
    std::string in;
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[1024];
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return in;
      in.append(buf, static_cast<std::size_t>(n));
    }
    return in + "<still open>";
  }

  static inline ScratchDir* scratch_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string release_a_, release_broken_, release_c_;
};

TEST_F(Control, SocketIsTheOwnersAlone) {
  struct stat dir {
  }, sock{};
  ASSERT_EQ(::stat(server_->run_dir().c_str(), &dir), 0);
  ASSERT_EQ(::stat(socket_path().c_str(), &sock), 0);
  EXPECT_TRUE(S_ISSOCK(sock.st_mode));
  EXPECT_EQ(dir.st_mode & 0777, 0700u);
  EXPECT_EQ(sock.st_mode & 0777, 0600u);
  EXPECT_EQ(sock.st_uid, ::getuid());
}

TEST_F(Control, StatusNamesTheServingReleaseAndEveryProcess) {
  ASSERT_TRUE(eventually([] { return status()["workers"]["ready"] == 2; }, seconds(10)));
  const json s = status();
  EXPECT_EQ(s["budget"], 2);
  int workers = 0, zygotes = 0;
  for (const json& p : s["processes"]) {
    EXPECT_GT(p["pid"].get<int>(), 0) << p;
    EXPECT_EQ(::kill(p["pid"].get<pid_t>(), 0), 0) << "a listed process exists: " << p;
    (p["role"] == "worker" ? workers : zygotes) += 1;
    if (p["role"] == "zygote" && p["state"] == "loaded") {  // it says what it loaded
      EXPECT_EQ(p["app"], "native " + std::filesystem::path(ZYG_TESTAPP_SO).filename().string())
          << p;
    }
  }
  EXPECT_EQ(workers, 2);
  EXPECT_GE(zygotes, 1);
}

TEST_F(Control, BrokenReleaseIsReportedAndTheOldOneKeepsServing) {
  const std::string serving = status()["serving"];
  point_current(scratch_->path(), "broken");
  const json r = request("deploy");
  EXPECT_EQ(r["ok"], true) << r;
  EXPECT_EQ(r["version"], release_broken_);
  ASSERT_TRUE(eventually([] { return !status()["failures"].empty(); }, seconds(20)));
  const json s = status();
  EXPECT_EQ(s["serving"], serving);
  EXPECT_EQ(s["failures"].back()["version"], release_broken_);
  EXPECT_NE(s["failures"].back()["reason"].get<std::string>().find("configured to fail"),
            std::string::npos)
      << s["failures"];
  EXPECT_EQ(http_get_status(server_->port()), 200);
  EXPECT_NE(server_->log().find("load-failed"), std::string::npos);
  // `ctl status`, as an operator reads it, names the failure too.
  auto ctl = run_command({ZYG_REAL_BIN, "ctl", "--run-dir", server_->run_dir(), "status"});
  EXPECT_EQ(ctl.status, 0) << ctl.output;
  EXPECT_NE(ctl.output.find("failed:   " + release_broken_ + ": failed to load"), std::string::npos)
      << ctl.output;
  // And `ctl deploy --wait` of that release says it failed, with the reason.
  ctl = run_command({ZYG_REAL_BIN, "ctl", "--run-dir", server_->run_dir(), "deploy", "--wait",
                     "--wait-timeout-s", "30"});
  EXPECT_EQ(ctl.status, 1) << ctl.output;
  EXPECT_NE(ctl.output.find("configured to fail"), std::string::npos) << ctl.output;
}

TEST_F(Control, DeployWaitReturnsOnceEveryWorkerRunsTheNewRelease) {
  point_current(scratch_->path(), "C");
  auto ctl = run_command({ZYG_REAL_BIN, "ctl", "--run-dir", server_->run_dir(), "deploy", "--wait",
                          "--wait-timeout-s", "30"});
  EXPECT_EQ(ctl.status, 0) << ctl.output << server_->log();
  EXPECT_NE(ctl.output.find("deployed " + release_c_), std::string::npos) << ctl.output;
  const json s = status();
  EXPECT_EQ(s["serving"], release_c_);
  EXPECT_EQ(s["serving_proven"], true);
  for (const json& p : s["processes"]) {
    if (p["role"] == "worker") {
      EXPECT_EQ(p["version"], release_c_) << p;
    }
  }
}

TEST_F(Control, DeployWaitSaysWhenAnotherDeploySupersedesIt) {
  make_release(scratch_->path(), "slow", ZYG_TESTAPP_SO, "load_ms 3000\n");
  point_current(scratch_->path(), "slow");
  CommandResult waited;
  std::thread ctl([&] {
    waited = run_command({ZYG_REAL_BIN, "ctl", "--run-dir", server_->run_dir(), "deploy", "--wait",
                          "--wait-timeout-s", "30"});
  });
  // While "slow" loads, an operator deploys C.
  EXPECT_TRUE(eventually([] { return !status().value("loading", "").empty(); }, seconds(10)));
  point_current(scratch_->path(), "C");
  EXPECT_EQ(request("deploy")["ok"], true);
  ctl.join();
  EXPECT_EQ(waited.status, 1) << waited.output;
  EXPECT_NE(waited.output.find("superseded"), std::string::npos) << waited.output;
}

TEST_F(Control, ScaleChangesTheWantedCountWithinTheBudget) {
  json r = request("scale 1");
  EXPECT_EQ(r["ok"], true) << r;
  EXPECT_TRUE(eventually([] { return status()["workers"]["total"] == 1; }, seconds(10)));
  r = request("scale 99");
  ASSERT_EQ(r["ok"], true) << r;
  ASSERT_FALSE(r["reports"].empty()) << r;
  EXPECT_EQ(r["reports"][0]["what"], "scale-clamped") << r;
  EXPECT_EQ(status()["desired"], 2);
  EXPECT_TRUE(eventually([] { return status()["workers"]["ready"] == 2; }, seconds(10)));
}

TEST_F(Control, BadRequestsGetAClearErrorAndChangeNothing) {
  const json before = status();
  const std::vector<std::string> lines{
      "", "reboot", "scale", "scale -1", "scale 2x", "status now", std::string("\xff\xfe\x01", 3)};
  for (const std::string& line : lines) {
    const json r = request(line);
    EXPECT_EQ(r["ok"], false) << "'" << line << "': " << r;
    EXPECT_FALSE(r.value("error", "").empty()) << r;
  }
  const json after = status();
  EXPECT_EQ(after["serving"], before["serving"]);
  EXPECT_EQ(after["desired"], before["desired"]);
}

TEST_F(Control, HostileClientsAreCutOffAndTheServerKeepsServing) {
  // A line that never ends: answered once it passes the limit.
  int fd = connect_raw();
  ASSERT_GE(fd, 0);
  const std::string flood(4096, 'x');
  ::send(fd, flood.data(), flood.size(), MSG_NOSIGNAL);
  EXPECT_NE(read_to_close(fd).find("request longer than 256 bytes"), std::string::npos);
  ::close(fd);

  // Silent clients fill every slot: the next one is told the server is busy; the silent ones
  // are closed after the client timeout, and then requests are answered again.
  std::vector<int> silent;
  for (int i = 0; i < 8; ++i) {
    silent.push_back(connect_raw());
    ASSERT_GE(silent.back(), 0);
  }
  ASSERT_TRUE(eventually(
      [&] {
        const int extra = connect_raw();
        const std::string reply = read_to_close(extra, seconds(2));
        ::close(extra);
        return reply.find("busy") != std::string::npos;
      },
      seconds(5)));
  for (int s : silent) {
    EXPECT_EQ(read_to_close(s, seconds(15)), "") << "a silent client is closed, unanswered";
    ::close(s);
  }
  EXPECT_EQ(request("status")["ok"], true);

  // A client that asks and never reads, then vanishes.
  fd = connect_raw();
  ::send(fd, "status\n", 7, MSG_NOSIGNAL);
  ::close(fd);

  EXPECT_EQ(http_get_status(server_->port()), 200);
  EXPECT_EQ(::kill(server_->pid(), 0), 0);
}

TEST_F(Control, AnotherUserIsRefusedEvenWhenTheSocketIsReachable) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  // Loosen the directory and socket as a careless operator might; the uid check still holds.
  const std::string dir = server_->run_dir();
  ASSERT_EQ(::chmod(scratch_->path().c_str(), 0711), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0711), 0);
  ASSERT_EQ(::chmod(socket_path().c_str(), 0666), 0);
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(out[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    const int fd = connect_raw();
    if (fd < 0) ::_exit(4);
    ::send(fd, "scale 1\n", 8, MSG_NOSIGNAL);
    const std::string reply = read_to_close(fd, seconds(5));
    (void)!::write(out[1], reply.data(), reply.size());
    ::_exit(0);
  }
  ::close(out[1]);
  std::string reply;
  char buf[512];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
    reply.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  int st = 0;
  ::waitpid(child, &st, 0);
  ::chmod(dir.c_str(), 0700);
  ::chmod(scratch_->path().c_str(), 0700);

  ::chmod(socket_path().c_str(), 0600);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
  EXPECT_NE(reply.find("permission denied"), std::string::npos) << reply;
  EXPECT_EQ(status()["desired"], 2) << "the refused request changed nothing";
}

TEST_F(Control, ASecondServerOnTheSameRunDirectoryIsRefused) {
  ServerProcess second(ZYG_REAL_BIN, scratch_->path(), {"--workers", "1", "testapp"});
  // It may get as far as listening on its own port; it must then refuse to run.
  auto code = second.wait_exit(seconds(10));
  ASSERT_TRUE(code.has_value()) << second.log();
  EXPECT_NE(*code, 0);
  EXPECT_NE(second.log().find("another server runs with this run directory"), std::string::npos)
      << second.log();
  EXPECT_EQ(request("status")["ok"], true) << "the first server's socket survives";
}

}  // namespace
}  // namespace zyg::testing
