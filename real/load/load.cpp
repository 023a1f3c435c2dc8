// The event loop of zygote-load: one epoll(7) loop over non-blocking sockets, one state machine
// per client (waiting -> connecting -> sending -> reading -> waiting), beside the held
// connections (held.hpp), which are opened first and share the loop.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/http/response_parser.hpp"
#include "real/load/epoll.hpp"
#include "real/load/held.hpp"
#include "real/load/histogram.hpp"
#include "real/load/load.hpp"

namespace zyg::load {
namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Ms = std::chrono::milliseconds;

enum class Outcome { ok, non2xx, reset, timeout, connect_failed };

struct Address {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

Address loopback_address(const std::string& host, std::uint16_t port) {
  Address a;
  if (host == "::1") {
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    v6.sin6_addr = in6addr_loopback;
    std::memcpy(&a.addr, &v6, sizeof v6);
    a.len = sizeof v6;
  } else {  // 127.0.0.1 or localhost
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::memcpy(&a.addr, &v4, sizeof v4);
    a.len = sizeof v4;
  }
  return a;
}

struct Client {
  enum class Phase { waiting, connecting, sending, reading };
  Phase phase = Phase::waiting;
  int fd = -1;
  Epoll::Watch watch;
  bool keepalive = false;
  bool is_long = false;     // this request asks for --long-ms
  std::uint64_t ok = 0;     // requests of this client that got a 2xx
  bool on_reused = false;   // this attempt was sent on a reused connection
  bool retry_done = false;  // this request was already retried once
  bool opened_any = false;  // this client opened a connection before
  TimePoint next_start;     // waiting: when the next request may start
  TimePoint started;        // the request's first attempt (latency is measured from here)
  TimePoint deadline;       // the current attempt's timeout
  TimePoint idle_since;     // waiting with fd open: since when the connection is idle
  std::string request;
  std::size_t sent = 0;
  http::ResponseParser parser;

  bool busy() const { return phase != Phase::waiting; }
};

class Runner {
 public:
  explicit Runner(const Options& options)
      : o_(options), clients_(to_size(options.clients)), held_(o_, addr_, addr_len_, epoll_) {
    for (std::size_t i = 0; i < clients_.size(); ++i)
      clients_[i].keepalive = i * 100 < clients_.size() * to_size(o_.keepalive_percent);
  }
  ~Runner() {
    for (Client& c : clients_) close_fd(c);
  }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  Summary run();

 private:
  static std::size_t to_size(std::int64_t v) {
    return static_cast<std::size_t>(std::max<std::int64_t>(v, 0));
  }

  void hold_connections();
  void watch(Client& c);
  void dispatch(std::uint64_t key, TimePoint now);
  void start_request(Client& c, TimePoint now);
  void open_connection(Client& c, TimePoint now);
  void on_connected(Client& c, TimePoint now);
  void on_writable(Client& c, TimePoint now);
  void on_readable(Client& c, TimePoint now);
  void complete(Client& c, TimePoint now);
  void attempt_failed(Client& c, Outcome outcome, TimePoint now);
  void finish(Client& c, Outcome outcome, TimePoint now);
  void close_fd(Client& c);
  int wait_timeout_ms(TimePoint now) const;
  void wait_once(TimePoint now);

  const Options& o_;
  std::vector<Client> clients_;
  const Address address_ = loopback_address(o_.host, o_.port);
  const sockaddr_storage& addr_ = address_.addr;
  const socklen_t addr_len_ = address_.len;
  Epoll epoll_;
  std::vector<epoll_event> ready_ = std::vector<epoll_event>(256);
  HeldConnections held_;
  std::uint64_t request_counter_ = 0;
  TimePoint start_, stop_at_, hard_deadline_, final_window_;
  Histogram latency_, short_latency_, long_latency_;
  Summary s_;
};

void Runner::start_request(Client& c, TimePoint now) {
  ++request_counter_;
  std::string target = o_.path;
  c.is_long =
      o_.long_every > 0 && request_counter_ % static_cast<std::uint64_t>(o_.long_every) == 0;
  if (c.is_long)
    target +=
        (target.find('?') == std::string::npos ? "?ms=" : "&ms=") + std::to_string(o_.long_ms);
  c.request = "GET " + target + " HTTP/1.1\r\nHost: " + o_.host + "\r\n";
  if (!c.keepalive) c.request += "Connection: close\r\n";
  c.request += "\r\n";
  c.started = now;
  c.retry_done = false;
  if (c.fd >= 0 && now - c.idle_since <= Ms(o_.idle_reuse_max_ms)) {
    ++s_.reused;
    c.on_reused = true;
    c.deadline = now + Ms(o_.request_timeout_ms);
    c.parser = {};
    c.sent = 0;
    c.phase = Client::Phase::sending;
    return on_writable(c, now);  // a keep-alive socket's buffer has room: no wait for it
  }
  close_fd(c);
  open_connection(c, now);
}

void Runner::open_connection(Client& c, TimePoint now) {
  c.on_reused = false;
  c.parser = {};
  c.sent = 0;
  c.deadline = now + Ms(o_.request_timeout_ms);
  c.fd = ::socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return finish(c, Outcome::connect_failed, now);
  ++s_.connections;
  if (c.keepalive && c.opened_any) ++s_.keepalive_reopened;
  c.opened_any = true;
  const int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), addr_len_) == 0) {
    c.phase = Client::Phase::sending;
  } else if (errno == EINPROGRESS) {
    c.phase = Client::Phase::connecting;
  } else {
    finish(c, Outcome::connect_failed, now);
  }
}

void Runner::on_connected(Client& c, TimePoint now) {
  int error = 0;
  socklen_t len = sizeof error;
  if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0)
    return finish(c, Outcome::connect_failed, now);
  c.phase = Client::Phase::sending;
  on_writable(c, now);
}

void Runner::on_writable(Client& c, TimePoint now) {
  while (c.sent < c.request.size()) {
    const ssize_t n =
        ::send(c.fd, c.request.data() + c.sent, c.request.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) return attempt_failed(c, Outcome::reset, now);
    c.sent += static_cast<std::size_t>(n);
  }
  c.phase = Client::Phase::reading;
}

void Runner::on_readable(Client& c, TimePoint now) {
  char buf[64 * 1024];
  for (int reads = 0; reads < 16; ++reads) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    http::ResponseParser::Result r = n > 0    ? c.parser.feed({buf, static_cast<std::size_t>(n)})
                                     : n == 0 ? c.parser.feed_eof()
                                              : http::ResponseParser::Result::error;
    if (r == http::ResponseParser::Result::done) return complete(c, now);
    if (r == http::ResponseParser::Result::error) return attempt_failed(c, Outcome::reset, now);
  }
}

void Runner::complete(Client& c, TimePoint now) {
  const int status = c.parser.status();
  const bool ok = status >= 200 && status < 300;
  if (!ok) ++s_.status_counts[status];
  const double ms = std::chrono::duration<double, std::milli>(now - c.started).count();
  latency_.add(ms);
  (c.is_long ? long_latency_ : short_latency_).add(ms);
  if (ok) {
    std::string word = last_word(c.parser.body_head(), c.parser.body_size());
    if (!word.empty() && c.parser.body_size() <= 200) {
      if (now >= final_window_) ++s_.last_word_final_2s[word];
      ++s_.last_word[std::move(word)];
    }
  }
  const bool keep = c.keepalive && !c.parser.server_closes();
  finish(c, ok ? Outcome::ok : Outcome::non2xx, now);
  if (!keep) close_fd(c);
}

// RFC 9112 section 9.3.1: a reused connection that closes or resets before any byte of the
// response arrived may just have been closed idle by the server; send the request once more on a
// new connection. Any other failure is final.
void Runner::attempt_failed(Client& c, Outcome outcome, TimePoint now) {
  if (outcome == Outcome::reset && c.on_reused && !c.parser.any_byte() && !c.retry_done) {
    ++s_.retried;
    c.retry_done = true;
    close_fd(c);
    return open_connection(c, now);
  }
  finish(c, outcome, now);
}

void Runner::finish(Client& c, Outcome outcome, TimePoint now) {
  switch (outcome) {
    case Outcome::ok:
      ++s_.ok;
      ++c.ok;
      break;
    case Outcome::non2xx: ++s_.non2xx; break;
    case Outcome::reset: ++s_.reset; break;
    case Outcome::timeout: ++s_.timeout; break;
    case Outcome::connect_failed: ++s_.connect_failed; break;
  }
  if (outcome != Outcome::ok && s_.failure_times_ms.size() < Summary::kFailureTimesKept) {
    s_.failure_times_ms.push_back(std::chrono::duration<double, std::milli>(now - start_).count());
  }

  if (outcome != Outcome::ok && outcome != Outcome::non2xx) close_fd(c);
  c.phase = Client::Phase::waiting;
  c.next_start = now + Ms(o_.think_ms);
  c.idle_since = now;
}

void Runner::close_fd(Client& c) {
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  Epoll::forget(c.watch);
}

// Interest follows the phase; a waiting client keeps its registration (a keep-alive request
// then costs no epoll_ctl) unless its idle socket reports something (see dispatch).
void Runner::watch(Client& c) {
  if (c.fd < 0 || c.phase == Client::Phase::waiting) return;
  const auto key = static_cast<std::uint64_t>(&c - clients_.data());
  epoll_.set(c.fd, key, c.watch, c.phase == Client::Phase::reading ? EPOLLIN : EPOLLOUT);
}

void Runner::dispatch(std::uint64_t key, TimePoint now) {
  if ((key & HeldConnections::kKeyBit) != 0)
    return held_.on_event(static_cast<std::size_t>(key & ~HeldConnections::kKeyBit), now);
  Client& c = clients_[static_cast<std::size_t>(key)];
  switch (c.phase) {
    case Client::Phase::connecting: on_connected(c, now); break;
    case Client::Phase::sending: on_writable(c, now); break;
    case Client::Phase::reading: on_readable(c, now); break;
    case Client::Phase::waiting:  // an idle keep-alive socket closed or sent something
      if (c.fd >= 0) epoll_.set(c.fd, key, c.watch, 0);
      return;
  }
  watch(c);
}

int Runner::wait_timeout_ms(TimePoint now) const {
  TimePoint next = std::min(hard_deadline_, now + Ms(100));
  if (now < stop_at_) next = std::min(next, stop_at_);
  for (const Client& c : clients_) {
    if (c.busy())
      next = std::min(next, c.deadline);
    else if (now < stop_at_)
      next = std::min(next, c.next_start);
  }
  if (next <= now) return 0;
  return static_cast<int>(std::chrono::ceil<Ms>(next - now).count());
}

void Runner::wait_once(TimePoint now) {
  const int n = epoll_.wait(ready_, wait_timeout_ms(now));
  now = Clock::now();
  for (int i = 0; i < n; ++i) dispatch(ready_[static_cast<std::size_t>(i)].data.u64, now);
  held_.check_deadlines(now);
}

// Opens the held connections and waits until each holds, or failed, or --hold-setup-ms passed.
void Runner::hold_connections() {
  if (held_.empty()) return;
  const TimePoint setup_deadline = Clock::now() + Ms(o_.hold_setup_ms);
  held_.open_more(Clock::now());
  for (TimePoint now = Clock::now(); !held_.settled() && now < setup_deadline; now = Clock::now()) {
    const auto left = std::chrono::ceil<Ms>(setup_deadline - now).count();
    const int n = epoll_.wait(ready_, static_cast<int>(std::min<std::int64_t>(left, 100)));
    now = Clock::now();
    for (int i = 0; i < n; ++i) dispatch(ready_[static_cast<std::size_t>(i)].data.u64, now);
    held_.check_deadlines(now);
  }
}

Summary Runner::run() {
  hold_connections();
  start_ = Clock::now();
  held_.load_started(start_);
  s_.start_monotonic_ms =
      std::chrono::duration<double, std::milli>(start_.time_since_epoch()).count();

  stop_at_ = start_ + Ms(o_.duration_ms);
  final_window_ = stop_at_ - Ms(2000);
  hard_deadline_ = stop_at_ + Ms(o_.request_timeout_ms) + Ms(5000);
  for (Client& c : clients_) c.next_start = start_;
  for (;;) {
    const TimePoint now = Clock::now();
    bool any_busy = false;
    for (Client& c : clients_) {
      if (c.busy() && now >= hard_deadline_) {
        s_.hard_deadline_hit = true;
        finish(c, Outcome::timeout, now);
      } else if (c.busy() && now >= c.deadline) {
        finish(c, Outcome::timeout, now);
      } else if (!c.busy() && now < stop_at_ && now >= c.next_start) {
        start_request(c, now);
        watch(c);
      }
      any_busy = any_busy || c.busy();
    }
    if (now >= stop_at_ && !any_busy) break;
    wait_once(now);
  }
  held_.end();
  s_.slow = held_.slow();
  s_.idle = held_.idle();
  s_.elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
  s_.p50_ms = latency_.percentile(0.50);
  s_.p90_ms = latency_.percentile(0.90);
  s_.p99_ms = latency_.percentile(0.99);
  s_.max_ms = latency_.max_ms();
  std::vector<std::uint64_t> per_client;
  for (const Client& c : clients_) per_client.push_back(c.ok);
  std::sort(per_client.begin(), per_client.end());
  s_.client_ok_min = per_client.front();
  s_.client_ok_p50 = per_client[per_client.size() / 2];
  s_.client_ok_max = per_client.back();
  s_.short_requests = short_latency_.summary();
  s_.long_requests = long_latency_.summary();
  return s_;
}

}  // namespace

// The soft limit up to the hard one: 10,000 held connections need as many descriptors.
void raise_fd_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
}

std::string fd_limit_error(const Options& o) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return {};
  const auto need = static_cast<rlim_t>(o.clients) + static_cast<rlim_t>(o.slow_clients) +
                    static_cast<rlim_t>(o.idle_connections) + 64;
  if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= need) return {};
  return "--clients + --slow-clients + --idle-connections need " + std::to_string(need) +
         " descriptors; RLIMIT_NOFILE allows " + std::to_string(lim.rlim_cur) +
         " (raise the hard limit: ulimit -Hn)";
}

Summary run_load(const Options& options) {
  raise_fd_limit();
  Runner runner(options);
  return runner.run();
}

}  // namespace zyg::load
