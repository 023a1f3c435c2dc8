// A TCP client for 127.0.0.1 whose every wait ends at a deadline, and a splitter of the bytes a
// server sent into HTTP/1.1 responses. The test's own oracle: it shares no code with the server.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zyg::live {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

inline Deadline after(std::chrono::milliseconds d) { return Clock::now() + d; }
// What is left until the deadline, for poll(2): whole milliseconds, rounded up, 0 once past.
int remaining_ms(Deadline deadline);

struct Response {
  int status = 0;
  std::string head;  // status line and header fields, without the blank line
  std::string body;

  // The value of the first field called `name` (case-insensitive), without surrounding spaces.
  std::optional<std::string> header(std::string_view name) const;
};

struct Responses {
  std::vector<Response> all;  // in order, interim (1xx) responses included
  std::size_t used = 0;       // bytes that formed complete responses; the rest is incomplete
  bool malformed = false;     // bytes that cannot start a response, or a body without a length

  std::vector<Response> finals() const;  // all but the interim ones
};

// Splits what a server sent into responses. The first `head_responses` final responses answer
// HEAD requests, so they carry no body whatever their Content-Length says.
Responses split_responses(std::string_view bytes, std::size_t head_responses = 0);

class Client {
 public:
  enum class Stop { enough, closed, deadline };

  // Connects to 127.0.0.1:port; ok() says whether it worked and error() why not.
  static Client connect(int port, Deadline deadline);

  Client() = default;
  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }  // for getsockname(2) and fstat(2); -1 once closed
  const std::string& error() const { return error_; }

  // Sends every byte; false when the peer closed or reset first, or at the deadline.
  bool send_all(std::string_view bytes, Deadline deadline);
  // Reads until `enough(received())`, the peer closes (FIN or reset), or the deadline.
  Stop read_until(Deadline deadline, const std::function<bool(std::string_view)>& enough);
  // Reads until the peer closes or the deadline.
  Stop read_to_close(Deadline deadline);
  // Waits until there is something to read (or a close) or the deadline; consumes nothing.
  bool wait_readable(Deadline deadline);

  const std::string& received() const { return received_; }
  void expect_bytes(std::size_t n) { received_.reserve(n); }  // for a large response
  bool peer_closed() const { return peer_closed_; }
  void close();

 private:
  explicit Client(int fd) : fd_(fd) {}
  bool wait_for(short events, Deadline deadline);

  int fd_ = -1;
  std::string error_;
  std::string received_;  // every byte read on this connection
  bool peer_closed_ = false;
};

struct Exchange {
  Responses responses;
  std::string received;  // every byte the server sent
  bool closed = false;   // the server closed the connection within the deadline
  std::string error;     // the connection or the send failed
};

// Sends `request` on a connection of its own and reads until `count` final responses arrived,
// then, if the last says "Connection: close", until the server closes; all within `deadline`.
Exchange exchange(int port, std::string_view request, Deadline deadline, std::size_t count = 1,
                  std::size_t head_responses = 0);

// For failure messages: `bytes` with CR, LF and other unprintables escaped, cut at `max` bytes.
std::string printable(std::string_view bytes, std::size_t max = 400);
// For failure messages: the statuses, the close and the bytes of an exchange.
std::string describe(const Exchange& e);

}  // namespace zyg::live
