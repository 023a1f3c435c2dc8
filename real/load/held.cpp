// Held connections: each one's state machine (unopened -> connecting -> sending -> [reading] ->
// holding -> done) and its tally.
#include "real/load/held.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>

namespace zyg::load {
namespace {

using Ms = std::chrono::milliseconds;

double ms_between(HeldConnections::TimePoint from, HeldConnections::TimePoint to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

HeldConnections::HeldConnections(const Options& o, const sockaddr_storage& addr, socklen_t addr_len,
                                 Epoll& ep)
    : o_(o), addr_(addr), addr_len_(addr_len), epoll_(ep) {
  slow_head_ = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\n";  // no final CRLF
  idle_request_ = slow_head_ + "\r\n";
  const auto slow = static_cast<std::size_t>(std::max(o.slow_clients, 0));
  const auto total = slow + static_cast<std::size_t>(std::max(o.idle_connections, 0));
  conns_.resize(total);
  // Slow clients spread evenly among the idle connections, so neither class goes first.
  for (std::size_t i = 0; i < total; ++i) {
    const bool is_slow = (i + 1) * slow / total > i * slow / total;
    conns_[i].kind = is_slow ? Conn::Kind::slow : Conn::Kind::idle;
  }
  slow_.wanted = slow;
  idle_.wanted = total - slow;
}

HeldConnections::~HeldConnections() {
  for (Conn& c : conns_)
    if (c.fd >= 0) ::close(c.fd);
}

void HeldConnections::open_more(TimePoint now) {
  if (next_unopened_ == 0 && !conns_.empty()) first_opened_ = now;
  while (next_unopened_ < conns_.size() && in_flight_ < kInFlight) open(next_unopened_++, now);
}

void HeldConnections::open(std::size_t index, TimePoint now) {
  Conn& c = conns_[index];
  c.opened = now;
  c.deadline = now + Ms(o_.request_timeout_ms);
  c.fd = ::socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return fail(index, true);
  const int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ++in_flight_;
  c.phase = Conn::Phase::connecting;
  if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), addr_len_) == 0) {
    c.phase = Conn::Phase::sending;
    return on_writable(index, now);
  }
  if (errno != EINPROGRESS) return fail(index, true);
  epoll_.set(c.fd, kKeyBit | index, c.watch, EPOLLOUT);
}

void HeldConnections::on_event(std::size_t index, TimePoint now) {
  switch (conns_[index].phase) {
    case Conn::Phase::connecting: on_connected(index, now); break;
    case Conn::Phase::sending: on_writable(index, now); break;
    case Conn::Phase::reading: on_answer(index, now); break;
    case Conn::Phase::holding: on_held_readable(index, now); break;
    case Conn::Phase::unopened:
    case Conn::Phase::done: break;
  }
  open_more(now);
}

void HeldConnections::on_connected(std::size_t index, TimePoint now) {
  Conn& c = conns_[index];
  int error = 0;
  socklen_t len = sizeof error;
  if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0)
    return fail(index, true);
  c.phase = Conn::Phase::sending;
  on_writable(index, now);
}

void HeldConnections::on_writable(std::size_t index, TimePoint now) {
  Conn& c = conns_[index];
  const std::string& bytes = c.kind == Conn::Kind::slow ? slow_head_ : idle_request_;
  while (c.sent < bytes.size()) {
    const ssize_t n = ::send(c.fd, bytes.data() + c.sent, bytes.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      epoll_.set(c.fd, kKeyBit | index, c.watch, EPOLLOUT);
      return;
    }
    if (n <= 0) return fail(index, false);
    c.sent += static_cast<std::size_t>(n);
  }
  if (c.kind == Conn::Kind::slow) return become_ready(index);
  c.phase = Conn::Phase::reading;
  c.parser = std::make_unique<http::ResponseParser>();
  epoll_.set(c.fd, kKeyBit | index, c.watch, EPOLLIN);
  (void)now;
}

void HeldConnections::on_answer(std::size_t index, TimePoint now) {
  Conn& c = conns_[index];
  char buf[16 * 1024];
  const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  const auto r = n > 0    ? c.parser->feed({buf, static_cast<std::size_t>(n)})
                 : n == 0 ? c.parser->feed_eof()
                          : http::ResponseParser::Result::error;
  if (r == http::ResponseParser::Result::need_more) return;
  const int status = c.parser->status();
  if (r == http::ResponseParser::Result::error || status < 200 || status >= 300)
    return fail(index, false);
  const bool closes = c.parser->server_closes();
  c.parser.reset();
  become_ready(index);
  if (closes) closed_by_server(index, now);
}

void HeldConnections::on_held_readable(std::size_t index, TimePoint now) {
  Conn& c = conns_[index];
  char buf[4096];
  const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n > 0) {  // a slow client's error response (408, 400): the close follows
    if (c.kind == Conn::Kind::slow && !c.answered) ++slow_.answered;
    c.answered = true;
    return;
  }
  closed_by_server(index, now);
}

void HeldConnections::become_ready(std::size_t index) {
  Conn& c = conns_[index];
  c.phase = Conn::Phase::holding;
  --in_flight_;
  epoll_.set(c.fd, kKeyBit | index, c.watch, EPOLLIN | EPOLLRDHUP);
}

void HeldConnections::closed_by_server(std::size_t index, TimePoint now) {
  Conn& c = conns_[index];
  HeldSummary& t = tally(c);
  ++t.closed_by_server;
  if (!load_running_) ++t.closed_during_setup;
  (c.kind == Conn::Kind::slow ? slow_close_age_ : idle_close_age_).add(ms_between(c.opened, now));
  close(c, Conn::Phase::done);
}

void HeldConnections::fail(std::size_t index, bool connecting) {
  Conn& c = conns_[index];
  HeldSummary& t = tally(c);
  ++(connecting ? t.connect_failed : t.request_failed);
  if (c.in_flight()) --in_flight_;
  c.parser.reset();
  close(c, Conn::Phase::done);
}

void HeldConnections::close(Conn& c, Conn::Phase phase) {
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  Epoll::forget(c.watch);
  c.phase = phase;
}

void HeldConnections::check_deadlines(TimePoint now) {
  if (now < next_scan_) return;
  next_scan_ = now + Ms(100);
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    const Conn& c = conns_[i];
    if (c.in_flight() && now >= c.deadline) fail(i, c.phase == Conn::Phase::connecting);
  }
  open_more(now);
}

void HeldConnections::load_started(TimePoint now) {
  load_running_ = true;
  if (conns_.empty()) return;
  for (const Conn& c : conns_)
    if (c.phase == Conn::Phase::holding) ++tally(c).ready_at_load_start;
  slow_.setup_ms = idle_.setup_ms = ms_between(first_opened_, now);
}

void HeldConnections::end() {
  for (Conn& c : conns_) {
    if (c.phase == Conn::Phase::holding) ++tally(c).open_at_end;
    if (c.in_flight()) ++tally(c).pending_at_end;
    if (c.phase == Conn::Phase::unopened) ++tally(c).not_opened;
    close(c, Conn::Phase::done);
  }
  in_flight_ = 0;
  for (auto [h, t] : {std::pair{&slow_close_age_, &slow_}, std::pair{&idle_close_age_, &idle_}}) {
    t->close_age_min_ms = h->min_ms();
    t->close_age_p50_ms = h->percentile(0.5);
    t->close_age_max_ms = h->max_ms();
  }
}

}  // namespace zyg::load
