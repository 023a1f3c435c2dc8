// The master's status port (--status-bind): a small HTTP/1.1 server in the master's poll loop,
// over the OS seam, so it answers while every worker is busy and never blocks on a client.
//
//   GET /            the status page (core/status.hpp, kStatusPage)
//   GET /status.json the status, as JSON
//   GET /metrics     Prometheus text format
//   GET /healthz     200 while the master runs
//   GET /readyz      200 when a version serves with ready workers and the server is not stopping,
//                    else 503
//
// It changes nothing: every request is a read. Anything else gets 404 (an unknown path), 405 (a
// method other than GET and HEAD), 413 (a body) or the parser's 4xx; at most kMaxClients are
// served at once (the rest get 503), and a client has kClientTimeout per request.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/app.hpp"
#include "core/http/connection.hpp"
#include "core/os.hpp"
#include "core/status.hpp"

namespace zyg {

class StatusServer {
 public:
  static constexpr std::size_t kMaxClients = 32;
  static constexpr Nanos kClientTimeout = 10s;
  // Client ids begin here, so they never meet the control socket's in the supervisor's
  // StatusRequested events.
  static constexpr std::uint64_t kFirstClient = std::uint64_t{1} << 62;

  using ErrorSink = std::function<void(const std::string&)>;
  // Asks the master for a snapshot for `client`: it answers through answer(), now or later.
  using SnapshotWanted = std::function<void(std::uint64_t client)>;

  StatusServer(os::Os& os, ErrorSink error) : os_(os), error_(std::move(error)) {}

  bool open(const os::Endpoint& where);
  void adopt(os::Fd listener) { listener_ = listener; }  // a listening socket passed to us
  bool is_open() const { return listener_ >= 0; }
  os::Fd listener() const { return listener_; }
  static bool owns(std::uint64_t client) { return client >= kFirstClient; }
  void add_poll_fds(std::vector<os::PollFd>& fds) const;
  void serve(const SnapshotWanted& want);
  // The snapshot a client waits for; ignored if that client is gone.
  void answer(std::uint64_t client, const StatusSnapshot& s, const StatusExtras& x);
  void close_all();

 private:
  struct Client {
    os::Fd fd = -1;
    http::Connection http;
    std::string out;
    std::optional<AppRequest> waiting;  // for a snapshot
    Nanos deadline{0};
  };

  void accept_clients();
  void read_requests(std::uint64_t id, Client& c, const SnapshotWanted& want);
  void route(std::uint64_t id, Client& c, AppRequest req, const SnapshotWanted& want);
  void respond(Client& c, const AppRequest& req, const AppResponse& resp);
  void write_out(Client& c);
  void drop(Client& c);

  os::Os& os_;
  ErrorSink error_;
  os::Fd listener_ = -1;
  std::map<std::uint64_t, Client> clients_;
  std::uint64_t next_client_ = kFirstClient;
};

}  // namespace zyg
