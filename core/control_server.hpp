// The master's control socket (core/control.hpp): accepts clients of the master's own uid (or
// root), reads one request line from each, hands the request to the master, and writes the reply
// back, all from the master's poll loop and against the OS seam: it never blocks on a client.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/control.hpp"
#include "core/os.hpp"

namespace zyg {

class ControlServer {
 public:
  // What the master does with a request: the reply line now, or nullopt when the reply comes
  // later through answer() (a status goes through the supervisor as an event).
  using Handler =
      std::function<std::optional<std::string>(std::uint64_t client, const control::Request&)>;
  using ErrorSink = std::function<void(const std::string&)>;

  ControlServer(os::Os& os, ErrorSink error) : os_(os), error_(std::move(error)) {}

  // Listens on `path` (mode 0600). False, with the reason sent to the error sink, if it cannot.
  // With `owner` (--user), the socket file is that user's, and that user is served too.
  bool open(const std::string& path, std::optional<os::Credentials> owner = std::nullopt);
  bool is_open() const { return listener_ >= 0; }
  // The descriptors to wait on: the listener, then each client for its request or its reply.
  void add_poll_fds(std::vector<os::PollFd>& fds) const;
  // Accepts, reads, answers and writes what is ready; drops finished and overdue clients.
  void serve(const Handler& handle);
  // The reply to a request the handler left unanswered; ignored if that client is gone.
  void answer(std::uint64_t client, std::string reply);
  void close_all();

 private:
  // A control client: its request line coming in, then its reply going out.
  struct Client {
    os::Fd fd = -1;
    std::string in;
    std::string out;
    bool answered = false;
    Nanos deadline{0};
  };

  void accept_clients();
  void read_request(std::uint64_t id, Client& c, const Handler& handle);
  void answer_request(std::uint64_t id, Client& c, const std::string& line, const Handler& handle);
  void write_reply(Client& c);
  void drop(Client& c);

  os::Os& os_;
  ErrorSink error_;
  os::Fd listener_ = -1;
  std::optional<std::uint32_t> also_uid_;  // served besides our own uid and root
  std::map<std::uint64_t, Client> clients_;
  std::uint64_t next_client_ = 1;
};

}  // namespace zyg
