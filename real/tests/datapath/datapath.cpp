#include "real/tests/datapath/datapath.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "real/control_client.hpp"

namespace zyg::datapath {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

Served::Served(const std::vector<Release>& releases, const std::vector<std::string>& options)
    : scratch_("zygote-datapath") {
  for (const Release& r : releases) testing::make_release(dir(), r.name, ZYG_TESTAPP_SO, r.conf);
  testing::point_current(dir(), releases.at(0).name);
  std::vector<std::string> args = options;
  args.emplace_back("testapp");
  server_ = std::make_unique<testing::ServerProcess>(ZYG_REAL_BIN, dir(), args);
}

Served::~Served() {
  if (!server_->started()) return;  // the destructor kills what there is
  const std::string problem = server_->stop_cleanly();
  if (!problem.empty()) ADD_FAILURE() << "stopping zygote-real: " << problem << "\n" << log_tail();
}

::testing::AssertionResult Served::started() const {
  if (server_->started()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "zygote-real did not start:\n" << server_->log_tail();
}

::testing::AssertionResult Served::ready(int workers) const {
  json last;
  const bool ok = testing::eventually(
      [&] {
        last = status();
        return !last.empty() && last["workers"]["ready"] == workers &&
               last["workers"]["starting"] == 0 && last["front"].value("pid", 0) != 0;
      },
      15s);
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "not " << workers << " workers ready and a front in 15 s: " << last.dump() << "\n"
         << log_tail();
}

json Served::status() const {
  const auto r =
      real::control_request(real::control_socket_path(server_->run_dir()), "status", 10s);
  if (!r.line) return json{};
  json j = json::parse(*r.line, nullptr, false);
  if (j.is_discarded() || !j.contains("status")) return json{};
  return j["status"];
}

json Served::front() const { return status().value("front", json::object()); }

testing::CommandResult Served::ctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{ZYG_REAL_BIN, "ctl", "--run-dir", server_->run_dir()};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::run_command(argv, 90s);
}

std::string describe(const Answer& a) {
  std::string out = "status " + std::to_string(a.status) + " from release '" + a.release +
                    "' pid " + std::to_string(a.pid);
  if (a.close) out += ", Connection: close";
  if (a.peer_closed) out += ", closed by the server";
  if (!a.error.empty()) out += ", " + a.error;
  return out;
}

Answer ask(Client& c, std::string_view target) {
  Answer a;
  const std::size_t before = live::split_responses(c.received()).finals().size();
  const std::string request = "GET " + std::string(target) + " HTTP/1.1\r\nHost: datapath\r\n\r\n";
  const Deadline deadline = after(kAnswerTimeout);
  if (!c.send_all(request, deadline)) a.error = c.error();
  c.read_until(deadline, [&](std::string_view got) {
    return live::split_responses(got).finals().size() > before;
  });
  a.peer_closed = c.peer_closed();
  const auto finals = live::split_responses(c.received()).finals();
  if (finals.size() <= before) {
    a.error += (a.error.empty() ? "" : "; ") + std::string("no complete response: received \"") +
               live::printable(c.received()) + "\"";
    return a;
  }
  const live::Response& r = finals[before];
  a.status = r.status;
  a.close = r.header("Connection") == "close";
  char release[128] = {};
  long pid = 0;
  if (std::sscanf(r.body.c_str(), "testapp %127s pid %ld", release, &pid) == 2) {
    a.release = release;
    a.pid = static_cast<pid_t>(pid);
  }
  return a;
}

Client answered_connection(int port) {
  Client c = Client::connect(port, after(kAnswerTimeout));
  if (!c.ok()) return c;
  const Answer a = ask(c);
  if (a.status != 200 || a.close || a.peer_closed) {
    ADD_FAILURE() << "the first request on a fresh connection: " << describe(a);
  }
  return c;
}

namespace {

// The port of "0100007F:1F90" (hex), as /proc/net/tcp writes addresses.
int port_of(const std::string& address) {
  const std::size_t colon = address.find(':');
  if (colon == std::string::npos) return -1;
  return static_cast<int>(std::stoul(address.substr(colon + 1), nullptr, 16));
}

int local_port(const Client& c) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (!c.ok() || ::getsockname(c.fd(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  return ntohs(addr.sin_port);
}

}  // namespace

unsigned long server_inode(int server_port, const Client& c) {
  const int client_port = local_port(c);
  if (client_port < 0) return 0;
  std::istringstream table(testing::read_file("/proc/net/tcp"));
  std::string line;
  std::getline(table, line);  // the column names
  while (std::getline(table, line)) {
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    std::istringstream fields(line);
    std::string sl, local, remote, skip;
    unsigned long inode = 0;
    fields >> sl >> local >> remote;
    for (int i = 0; i < 6; ++i) fields >> skip;
    fields >> inode;
    if (fields && port_of(local) == server_port && port_of(remote) == client_port) return inode;
  }
  return 0;
}

std::set<unsigned long> socket_inodes(pid_t pid) {
  std::set<unsigned long> out;
  std::error_code ec;  // the process may exit, and its descriptors change, while they are read
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code link_ec;
    const std::string target = fs::read_symlink(it->path(), link_ec).string();
    unsigned long inode = 0;
    if (!link_ec && std::sscanf(target.c_str(), "socket:[%lu]", &inode) == 1) out.insert(inode);
  }
  return out;
}

bool add_server_inodes(int server_port, const std::vector<Client>& clients,
                       std::set<unsigned long>& inodes) {
  bool all = true;
  for (const Client& c : clients) {
    const unsigned long inode = server_inode(server_port, c);
    all = all && inode != 0;
    if (inode != 0) inodes.insert(inode);
  }
  return all;
}

std::size_t held_by(pid_t pid, const std::set<unsigned long>& inodes) {
  std::size_t n = 0;
  for (unsigned long i : socket_inodes(pid)) n += inodes.count(i);
  return n;
}

std::set<pid_t> worker_pids(const testing::ServerProcess& server) {
  std::set<pid_t> out;
  for (const testing::ProcessId& p : server.workers()) {
    if (p.state != 'Z') out.insert(p.pid);
  }
  return out;
}

}  // namespace zyg::datapath
