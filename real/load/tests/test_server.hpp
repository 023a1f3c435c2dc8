// A tiny single-threaded HTTP/1.1 server on 127.0.0.1 for the zygote-load tests: one thread, one
// poll loop, stopped and joined by the destructor. Behaviour is picked by Mode, and Limits add a
// server's timeouts. A request whose target has ms=N is answered N ms later (other connections
// go on being served meanwhile).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace zyg::load::testing {

enum class Mode {
  hello,        // 200 "Hello from A", Content-Length, keeps alive unless asked to close
  chunked,      // 200 "testapp B pid 123", chunked in pieces
  close_idle,   // answers the first request of a connection; closes as the second arrives
  unavailable,  // 503
  silent,       // reads requests, never answers
};

// The server's own limits (0: none).
struct Limits {
  int head_timeout_ms = 0;    // an incomplete request head this old gets 408 and a close
  int idle_close_ms = 0;      // a keep-alive connection idle this long after a response is closed
  bool always_close = false;  // every response says "Connection: close", then closes
};

class TestServer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit TestServer(Mode mode, Limits limits = {}) : mode_(mode), limits_(limits) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listen_fd_, 4096);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~TestServer() {
    stop_ = true;
    thread_.join();
    for (const Conn& c : conns_) ::close(c.fd);
    ::close(listen_fd_);
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint64_t accepted() const { return accepted_; }
  std::uint64_t requests() const { return requests_; }
  std::uint64_t long_requests() const { return long_requests_; }
  std::uint64_t timed_out_heads() const { return timed_out_heads_; }
  std::uint64_t idle_closed() const { return idle_closed_; }

 private:
  struct Conn {
    int fd = -1;
    std::string in;
    int served = 0;
    bool closed = false;
    Clock::time_point head_started{};  // the first byte of the head being read
    Clock::time_point last_answer{};
    std::string delayed;  // a response due at `due` (ms=N), closing after it if close_after
    Clock::time_point due{};
    bool close_after = false;
  };

  void loop() {
    while (!stop_) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (const Conn& c : conns_) fds.push_back({c.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 5) > 0) {
        if (fds[0].revents != 0) accept_all();
        for (std::size_t i = 1; i < fds.size(); ++i)
          if (fds[i].revents != 0) serve(conns_[i - 1]);
      }
      const auto now = Clock::now();
      for (Conn& c : conns_) on_time(c, now);
      std::erase_if(conns_, [](const Conn& c) {
        if (c.closed) ::close(c.fd);
        return c.closed;
      });
    }
  }

  void on_time(Conn& c, Clock::time_point now) {
    using std::chrono::milliseconds;
    if (c.closed) return;
    if (!c.delayed.empty() && now >= c.due) {
      ::send(c.fd, c.delayed.data(), c.delayed.size(), MSG_NOSIGNAL);
      c.delayed.clear();
      c.last_answer = now;
      if (c.close_after) c.closed = true;
    } else if (limits_.head_timeout_ms > 0 && !c.in.empty() &&
               now - c.head_started >= milliseconds(limits_.head_timeout_ms)) {
      const std::string r = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";
      ::send(c.fd, r.data(), r.size(), MSG_NOSIGNAL);
      ++timed_out_heads_;
      c.closed = true;
    } else if (limits_.idle_close_ms > 0 && c.served > 0 && c.in.empty() && c.delayed.empty() &&
               now - c.last_answer >= milliseconds(limits_.idle_close_ms)) {
      ++idle_closed_;
      c.closed = true;
    }
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      ++accepted_;
      conns_.emplace_back();
      conns_.back().fd = fd;
    }
  }

  void serve(Conn& c) {
    char buf[4096];
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n <= 0) {
      c.closed = true;
      return;
    }
    if (c.in.empty()) c.head_started = Clock::now();
    c.in.append(buf, static_cast<std::size_t>(n));
    for (std::size_t end; !c.closed && (end = c.in.find("\r\n\r\n")) != std::string::npos;) {
      const std::string request = c.in.substr(0, end);
      c.in.erase(0, end + 4);
      if (!c.in.empty()) c.head_started = Clock::now();
      answer(c, request);
    }
  }

  void answer(Conn& c, const std::string& request) {
    if (mode_ == Mode::close_idle && c.served > 0) {  // the idle close racing the request
      c.closed = true;
      return;
    }
    ++requests_;
    const std::size_t ms_at = request.find("ms=");
    const long ms = ms_at == std::string::npos ? 0 : std::atol(request.c_str() + ms_at + 3);
    if (ms_at != std::string::npos) ++long_requests_;
    if (mode_ == Mode::silent) return;
    const bool close =
        limits_.always_close || request.find("Connection: close") != std::string::npos;
    std::string response;
    if (mode_ == Mode::chunked) {
      response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      response += "8\r\ntestapp \r\n9;ext=1\r\nB pid 123\r\n0\r\n\r\n";
    } else if (mode_ == Mode::unavailable) {
      response = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy";
    } else {
      response = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello from A";
    }
    if (close) response.insert(response.find("\r\n") + 2, "Connection: close\r\n");
    ++c.served;
    if (ms > 0) {
      c.delayed = std::move(response);
      c.due = Clock::now() + std::chrono::milliseconds(ms);
      c.close_after = close;
      return;
    }
    ::send(c.fd, response.data(), response.size(), MSG_NOSIGNAL);
    c.last_answer = Clock::now();
    if (close) c.closed = true;
  }

  Mode mode_;
  Limits limits_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<Conn> conns_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> accepted_{0}, requests_{0}, long_requests_{0};
  std::atomic<std::uint64_t> timed_out_heads_{0}, idle_closed_{0};
  std::thread thread_;
};

}  // namespace zyg::load::testing
