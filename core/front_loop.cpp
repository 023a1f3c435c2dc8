// The front: accepts every connection, holds it while it is idle or its request is still
// arriving, checks the request head with the HTTP parser, and hands a connection with a complete
// request to an idle worker (core/handoff.hpp); the worker gives it back after answering. So a
// worker holds a connection only while it serves a request on it: keep-alive clients spread over
// every worker, and slow clients cost the front a few KiB each, never a worker.
//
// SIGTERM: stop accepting, close idle connections, hand on what is complete (asking for
// "Connection: close"), answer 408 to what never completes, close what comes back, then exit.
// Before it, a graceful stop with a stop delay sends `front_drain`: everything goes on as before
// except that every request handed on asks for "Connection: close", so the connections a load
// balancer pools end with an answer, not while it may be sending on them.
#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/handoff.hpp"
#include "core/loops.hpp"
#include "core/marks.hpp"
#include "core/protocol.hpp"
#include "core/teeth.hpp"

namespace zyg {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr int kAcceptsPerRound = 64;  // the loop comes back to everything else this often
constexpr int kReturnsPerRound = 256;
constexpr std::size_t kEventsPerWait = 256;
constexpr Nanos kAcceptRetry = 100ms;  // after EMFILE/ENFILE/ENOMEM on accept
constexpr Nanos kStopGrace = 1s;       // how long a stopping front waits for hand-offs back

// Where a request body too large to hold in memory goes as it arrives: an unlinked file in the
// spool directory, handed to the worker with the request. The front closes it when it lets the
// connection go (forget); not the destructor, which may run where no system call can (a
// process that ends closes it with everything else).
class FileSpool final : public http::BodySpool {
 public:
  FileSpool(os::Os& os, const std::string& dir) : os_(os), dir_(dir) {}
  ~FileSpool() override = default;
  FileSpool(const FileSpool&) = delete;
  FileSpool& operator=(const FileSpool&) = delete;

  bool open() override {
    reset();
    auto r = os_.spool_file(dir_);
    if (!r.ok()) {
      error_ = r.error;
      return false;
    }
    fd_ = r.value;
    return true;
  }
  bool write(std::string_view bytes) override {
    std::string garbled;
    if (ZYG_BUG(garble_spool) && !bytes.empty()) {
      garbled.assign(bytes);
      garbled[0] = static_cast<char>(garbled[0] ^ 1);
      bytes = garbled;
    }
    while (!bytes.empty()) {
      auto r = os_.write(fd_, std::as_bytes(std::span(bytes.data(), bytes.size())));
      if (r.error == os::err::intr) continue;
      if (!r.ok() || r.value == 0) {
        error_ = r.ok() ? os::err::nospc : r.error;
        return false;
      }
      bytes.remove_prefix(r.value);
    }
    return true;
  }
  os::Fd fd() const { return fd_; }
  int error() const { return error_; }  // of the last open() or write() that failed
  const std::string& dir() const { return dir_; }
  void reset() {
    if (fd_ >= 0) (void)os_.close(fd_);
    fd_ = -1;
  }

 private:
  os::Os& os_;
  const std::string& dir_;
  os::Fd fd_ = -1;
  int error_ = 0;
};

class Front {
 public:
  Front(os::Os& os, const FrontArgs& args) : os_(os), args_(args) {}

  int run() {
    os_.set_title(args_.title + ": front");
    const os::Signal caught[] = {os::Signal::term};
    if (os_.catch_signals(caught) != 0) return exit_code::config_error;
    (void)os_.ignore_signal(os::Signal::interrupt);  // the master decides what ^C means
    (void)os_.ignore_signal(os::Signal::hup);
    (void)os_.ignore_signal(os::Signal::usr1);  // it writes no log
    auto limit = os_.raise_descriptor_limit();
    // Room for the connections held, one being handed on, and the front's own descriptors.
    max_held_ = args_.max_connections;
    if (limit.ok() && limit.value < max_held_ + 64) {
      max_held_ = limit.value > 128 ? static_cast<std::size_t>(limit.value - 64) : 64;
      notice("descriptor limit " + std::to_string(limit.value) + ": holding at most " +
             std::to_string(max_held_) + " connections");
    }
    auto p = os_.poller_create();
    if (!p.ok()) return exit_code::config_error;
    poller_ = p.value;
    watch(args_.handoff.returns_in, os::ev::in);
    watch(args_.channel, os::ev::in);
    set_accepting(true);
    next_alive_ = os_.now();
    while (!done()) {
      wait();
      const Nanos now = os_.now();
      take_signals(now);
      if (master_gone_) return exit_code::clean;
      if (accept_paused_until_ && now >= *accept_paused_until_) {
        accept_paused_until_.reset();
        set_accepting(true);
      }
      handle_ready(now);
      dispatch();
      expire(now);
      set_accepting(true);  // below the limit again once connections were handed on or closed
      alive(now);
    }
    alive(os_.now(), true);
    return exit_code::clean;
  }

 private:
  struct Conn {
    Conn(os::Os& os, const WorkerConfig& config, std::uint64_t name, Nanos now,
         std::uint64_t served)
        : id(name), http(config.http), request_started(now), requests(served) {
      auto owned = std::make_unique<FileSpool>(os, config.spool_dir);
      spool = owned.get();
      http.set_spool(std::move(owned));
    }

    std::uint64_t id = 0;
    http::Connection http;
    FileSpool* spool = nullptr;  // http's: a body too large for memory (stays put when moved)
    std::string out;  // an interim or error response, or a response's rest, being written
    Nanos deadline{0};
    Nanos request_started{0};
    std::uint64_t requests = 0;
    bool closing = false;  // close once `out` is written
    bool queued = false;   // a complete request waits for a worker
    bool writing = false;
    std::size_t out_done = 0;  // how much of `out` is written
    os::Fd tail = -1;          // the memory file a response's rest is read from into `out`
    std::size_t tail_left = 0;
    std::size_t rest_in_file = 0;  // bytes read past the request, after the tail in its file
    std::string rest;              // bytes read past the request: taken once `out` is written
  };

  // A stopping front leaves once every request it handed on has been taken by a worker (the
  // workers drain only after it is gone) and what comes back soon has been closed.
  bool done() {
    if (!stopping_ || !conns_.empty() || !queue_.empty()) return false;
    auto unread = os_.unread_bytes(args_.handoff.requests_out);
    if (unread.ok() && unread.value > 0) return false;
    return outstanding_.empty() || os_.now() >= stop_deadline_;
  }

  void watch(os::Fd fd, short events) { (void)os_.poller_watch(poller_, fd, events); }

  void set_accepting(bool on) {
    const bool want = on && !stopping_ && conns_.size() < max_held_ && !accept_paused_until_;
    if (want == accepting_) return;
    accepting_ = want;
    if (want) {
      watch(args_.listener, os::ev::in);
    } else {
      (void)os_.poller_forget(poller_, args_.listener);
    }
  }

  void wait() {
    Nanos next = next_alive_ + args_.http.heartbeat_interval;
    if (!timers_.empty()) next = std::min(next, timers_.begin()->first);
    if (accept_paused_until_) next = std::min(next, *accept_paused_until_);
    // Once past, the deadline has done its work (expire()): what is left has its own timers.
    if (stopping_ && os_.now() < stop_deadline_) next = std::min(next, stop_deadline_);
    ready_count_ = 0;
    auto r = os_.poller_wait(poller_, ready_, std::max(Nanos{0}, next - os_.now()));
    if (r.ok()) ready_count_ = static_cast<std::size_t>(r.value);
  }

  // Every wait collects pending signals: a caught signal left pending makes the wait return.
  void take_signals(Nanos now) {
    for (os::Signal s : os_.take_signals()) {
      if (s == os::Signal::term && !stopping_) begin_stop(now);
    }
  }

  void begin_stop(Nanos now) {
    ZYG_MARK("front.stop");
    // Idle keep-alive connections first (nobody will serve their next request; the slots they
    // free take in what waits in the backlog). A connection that has not sent its first request
    // yet is kept: that request is likely on its way.
    std::vector<os::Fd> idle;
    for (auto& [fd, c] : conns_) {
      if (!c.queued && !c.writing && c.http.idle() && c.requests > 0) idle.push_back(fd);
    }
    for (os::Fd fd : idle) drop(fd);
    // What the kernel has already accepted is answered too: left in the backlog, it would be
    // reset when the listening socket closes, after its client may have sent a request.
    while (accepting_) {
      const std::size_t held = conns_.size();
      accept_some(now);
      if (conns_.size() == held) break;
    }
    stopping_ = true;
    stop_deadline_ = now + kStopGrace;
    set_accepting(false);
  }

  void handle_ready(Nanos now) {
    for (std::size_t i = 0; i < ready_count_; ++i) {
      const os::PollFd& p = ready_[i];
      if (p.fd == args_.listener) {
        accept_some(now);
      } else if (p.fd == args_.handoff.returns_in) {
        take_returns(now);
      } else if (p.fd == args_.channel) {
        read_master();
      } else if (p.fd == args_.handoff.requests_out) {
        (void)os_.poller_forget(poller_, p.fd);  // room again: dispatch() writes
      } else if (auto it = conns_.find(p.fd); it != conns_.end()) {
        on_conn_ready(p.fd, it->second, p.revents, now);
      }
    }
  }

  void accept_some(Nanos now) {
    for (int i = 0; i < kAcceptsPerRound && accepting_; ++i) {
      auto r = os_.accept(args_.listener);
      if (r.error == os::err::again || r.error == os::err::intr) return;
      if (!r.ok()) {
        accept_failed(now, r.error);
        return;
      }
      Conn c(os_, args_.http, next_id(), now, 0);
      auto [it, fresh] = conns_.emplace(r.value, std::move(c));
      (void)fresh;
      set_deadline(r.value, it->second, now + args_.http.request_read_timeout);
      read_then_watch(r.value, it->second, now);
      set_accepting(true);
      if (!accepting_ && !stopping_) {
        ZYG_MARK("front.at-limit");
        notice_once(at_limit_noticed_, "holding " + std::to_string(conns_.size()) +
                                           " connections, the limit: new ones wait in the "
                                           "listening socket's backlog");
      }
    }
  }

  // Out of descriptors or memory: what is held keeps being served; accepting resumes shortly.
  void accept_failed(Nanos now, int error) {
    ZYG_MARK("front.accept-failed");
    accept_paused_until_ = now + kAcceptRetry;
    set_accepting(false);
    notice_once(accept_failure_noticed_, "accept failed (errno " + std::to_string(error) +
                                             "): retrying every " + ms_text(kAcceptRetry) +
                                             " while serving what is held");
  }

  std::uint64_t next_id() { return (args_.generation << 40) | ++id_counter_; }

  void on_conn_ready(os::Fd fd, Conn& c, short revents, Nanos now) {
    if (c.writing && (revents & (os::ev::out | os::ev::error | os::ev::hangup))) {
      if (!flush(fd, c)) return;
    }
    if (!c.writing && !c.queued && (revents & (os::ev::in | os::ev::error | os::ev::hangup))) {
      read_from(fd, c, now);
    }
  }

  // Reads what is there before watching: a client has often sent its request already (the
  // first, on a connection the backlog held; the next, on one back from a worker: the client had
  // its response before the connection was given back). Such a connection is then queued for a
  // worker without ever entering the interest set, two epoll_ctl calls saved for one read.
  void read_then_watch(os::Fd fd, Conn& c, Nanos now) {
    read_from(fd, c, now);
    auto it = conns_.find(fd);
    if (it != conns_.end() && !it->second.queued && !it->second.writing) watch(fd, os::ev::in);
  }

  void read_from(os::Fd fd, Conn& c, Nanos now) {
    char buf[kReadChunk];
    bool eof = false;
    for (int round = 0; round < 4 && c.http.wants_input(); ++round) {
      auto r = os_.read(fd, std::as_writable_bytes(std::span<char>(buf)));
      if (r.error == os::err::again || r.error == os::err::intr) break;
      if (!r.ok() || r.value == 0) {
        eof = true;
        break;
      }
      const bool was_idle = c.http.idle();
      const bool in_body = c.http.body_arriving();
      c.http.feed(std::string_view(buf, r.value));
      if (was_idle || in_body) {
        // The head must arrive within the read timeout; a body may take longer, as long as no
        // read timeout passes without a byte of it (a large upload on a slow link).
        if (was_idle) c.request_started = now;
        set_deadline(fd, c, now + args_.http.request_read_timeout);
      }
      // A complete request (or a malformed one) goes on as it is: what came after it stays in
      // the socket for whoever serves it, and no read is spent learning that nothing did.
      if (r.value < sizeof buf && (c.http.request_ready() || c.http.error_ready())) break;
    }
    if (eof) c.http.feed_eof();
    examine(fd, c, now, eof);
  }

  // What the bytes so far amount to: a complete request (queued for a worker), an error to
  // answer, an interim "100 Continue", or nothing yet.
  void examine(os::Fd fd, Conn& c, Nanos now, bool eof) {
    if (c.http.request_ready()) {
      queue(fd, c);
      return;
    }
    http::Next next = c.http.next();
    if (auto* err = std::get_if<http::ParseError>(&next)) {
      ZYG_MARK("front.parse-error");
      if (err->status == 503 && c.spool->error() != 0) {
        notice_once(spool_failure_noticed_,
                    "a request body could not be stored in " + c.spool->dir() + " (errno " +
                        std::to_string(c.spool->error()) + "): answered 503; said once");
      }
      answer_and_close(fd, c, c.http.serialize_error(*err), now);
      return;
    }
    if (eof) {
      drop(fd);  // the client left with nothing complete: nobody to answer
      return;
    }
    if (std::string interim = c.http.take_interim(); !interim.empty()) {
      c.out += interim;
      start_writing(fd, c, now);
    }
  }

  void queue(os::Fd fd, Conn& c) {
    c.queued = true;
    clear_deadline(fd, c);
    (void)os_.poller_forget(poller_, fd);
    queue_.push_back(fd);
  }

  void answer_and_close(os::Fd fd, Conn& c, const std::string& bytes, Nanos now) {
    c.out += bytes;
    c.closing = true;
    start_writing(fd, c, now);
  }

  void start_writing(os::Fd fd, Conn& c, Nanos now) {
    c.writing = true;
    set_deadline(fd, c, now + args_.http.write_timeout);
    flush(fd, c);
  }

  // Returns false when the connection is gone. Progress restarts the write timeout.
  bool flush(os::Fd fd, Conn& c) {
    bool progress = false;
    while (c.out_done < c.out.size() || c.tail_left > 0) {
      if (c.out_done == c.out.size() && !refill(c)) {
        drop(fd);
        return false;
      }
      const std::span<const char> rest(c.out.data() + c.out_done, c.out.size() - c.out_done);
      auto r = os_.write(fd, std::as_bytes(rest));
      if (r.error == os::err::again || r.error == os::err::intr) {
        if (progress) set_deadline(fd, c, os_.now() + args_.http.write_timeout);
        watch(fd, os::ev::out);
        return true;
      }
      if (!r.ok()) {
        drop(fd);
        return false;
      }
      c.out_done += r.value;
      progress = progress || r.value > 0;
    }
    c.out.clear();
    c.out_done = 0;
    const bool rest_read =
        c.rest_in_file == 0 || handoff::read_exactly(os_, c.tail, c.rest_in_file, c.rest);
    close_tail(c);
    c.writing = false;
    if (c.closing || !rest_read) {
      drop(fd);
      return false;
    }
    watch(fd, os::ev::in);
    const Nanos now = os_.now();
    if (!c.rest.empty()) {
      // A pipelined request came back with a response's rest: its turn now.
      std::string rest = std::move(c.rest);
      c.rest.clear();
      c.http.feed(rest);
      c.request_started = now;
      set_deadline(fd, c, now + args_.http.request_read_timeout);
      examine(fd, c, now, false);
      return conns_.contains(fd);
    }
    if (c.http.idle()) {
      set_deadline(fd, c, now + args_.http.keepalive_timeout);  // a response's rest went
    } else {
      set_deadline(fd, c, c.request_started + args_.http.request_read_timeout);
    }
    return true;
  }

  // The next chunk of a response's rest, from its memory file.
  bool refill(Conn& c) {
    const std::size_t n = std::min(c.tail_left, handoff::kUnsentChunk);
    c.out_done = 0;
    if (!handoff::read_exactly(os_, c.tail, n, c.out)) return false;
    c.tail_left -= n;
    return true;
  }

  void close_tail(Conn& c) {
    if (c.tail >= 0) (void)os_.close(c.tail);
    c.tail = -1;
    c.tail_left = 0;
    c.rest_in_file = 0;
  }

  // Hands queued requests to idle workers, oldest first, while the channel has room.
  void dispatch() {
    while (!queue_.empty()) {
      const os::Fd fd = queue_.front();
      auto it = conns_.find(fd);
      if (it == conns_.end()) {
        queue_.pop_front();
        continue;
      }
      Conn& c = it->second;
      handoff::Header h;
      h.kind = handoff::Kind::request;
      h.conn = c.id;
      h.requests = c.requests;
      if (stopping_ || draining_) h.flags = handoff::closing;
      os::Fd body = -1;
      if (auto spooled = c.http.spooled()) {
        h.split = static_cast<std::uint32_t>(spooled->head_bytes);
        h.body = spooled->body_bytes;
        body = c.spool->fd();
      }
      const int e = handoff::send(os_, args_.handoff.requests_out, h, c.http.remainder(), fd, body);
      if (e == os::err::again || e == os::err::intr) {
        watch(args_.handoff.requests_out, os::ev::out);
        return;
      }
      queue_.pop_front();
      if (e != 0) {
        ZYG_MARK("front.handoff-failed");
        notice("a hand-off failed (errno " + std::to_string(e) + "): connection closed");
        drop(fd);
        continue;
      }
      ++handed_;
      outstanding_.insert(c.id);
      forget(fd);
    }
  }

  void take_returns(Nanos now) {
    for (int i = 0; i < kReturnsPerRound; ++i) {
      int error = 0;
      auto r = handoff::receive(os_, args_.handoff.returns_in, backlog_cap(), &error);
      if (!r) return;
      outstanding_.erase(r->header.conn);
      if (r->header.kind != handoff::Kind::returned || r->conn < 0) continue;  // closed, or junk
      if (r->header.flags & handoff::unsent) {
        adopt_unsent(*r, now);
        continue;
      }
      if (stopping_ && r->bytes.empty()) {
        (void)os_.close(r->conn);  // idle, and nobody will serve its next request
        continue;
      }
      adopt(r->conn, r->header, r->bytes, now);
    }
  }

  std::size_t backlog_cap() const { return args_.http.http.buffered_max(); }

  // A connection back from a worker, with what it had read past its last request.
  void adopt(os::Fd fd, const handoff::Header& h, const std::string& bytes, Nanos now) {
    Conn c(os_, args_.http, h.conn, now, h.requests);
    auto [it, fresh] = conns_.insert_or_assign(fd, std::move(c));
    (void)fresh;
    Conn& conn = it->second;
    if (bytes.empty()) {
      set_deadline(fd, conn, now + args_.http.keepalive_timeout);
    } else {
      conn.http.feed(bytes);
      set_deadline(fd, conn, now + args_.http.request_read_timeout);
    }
    read_then_watch(fd, conn, now);
    set_accepting(true);
  }

  // A connection back from a worker with the rest of a response its client was slow to take: the
  // front writes it (within the write timeout, restarted by progress), then holds the
  // connection idle, or closes it if the response said so or the front is stopping.
  void adopt_unsent(handoff::Received& r, Nanos now) {
    ZYG_MARK("front.unsent");
    const handoff::Header& h = r.header;
    const std::size_t past = h.bytes - h.split;  // receive() checked split <= bytes
    if (past > backlog_cap()) {                  // more than a worker may have read: junk
      if (r.file >= 0) (void)os_.close(r.file);
      (void)os_.close(r.conn);
      return;
    }
    Conn c(os_, args_.http, h.conn, now, h.requests);
    c.closing = (h.flags & handoff::close_after) != 0 || stopping_ || draining_;
    c.tail = r.file;
    if (r.file >= 0) {
      c.tail_left = h.split;
      c.rest_in_file = past;
    } else {
      c.out = r.bytes.substr(0, h.split);
      c.rest = r.bytes.substr(h.split);
    }
    const os::Fd fd = r.conn;
    auto [it, fresh] = conns_.insert_or_assign(fd, std::move(c));
    (void)fresh;
    start_writing(fd, it->second, now);
    set_accepting(true);
  }

  void read_master() {
    for (;;) {
      std::byte buf[sizeof(proto::Message)];
      auto r = os_.recv_message(args_.channel, buf, nullptr);
      if (r.error == os::err::again || r.error == os::err::intr) return;
      if (!r.ok() || r.value == 0) {
        master_gone_ = true;  // our parent-death signal follows; nothing is served without it
        return;
      }
      auto m = proto::parse({buf, static_cast<std::size_t>(r.value)});
      if (m && m->kind == proto::Kind::front_drain && !draining_) {
        ZYG_MARK("front.drain");
        draining_ = true;  // accepting and serving still: the stop itself comes with SIGTERM
      }
    }
  }

  void expire(Nanos now) {
    while (!timers_.empty() && timers_.begin()->first <= now) {
      const os::Fd fd = timers_.begin()->second;
      auto it = conns_.find(fd);
      if (it == conns_.end()) {
        timers_.erase(timers_.begin());
        continue;
      }
      Conn& c = it->second;
      clear_deadline(fd, c);
      if (c.writing) {
        ZYG_MARK("front.write-timeout");
        drop(fd);  // the client stopped reading
      } else if (c.http.idle()) {
        ZYG_MARK("front.keepalive-close");
        drop(fd);
      } else {
        // A slow client costs the front a few KiB, never a worker; it gets 408 in the end.
        ZYG_MARK("front.read-timeout");
        answer_and_close(fd, c, c.http.serialize_error({408, "request not received in time"}), now);
      }
    }
    if (stopping_) {
      // A stopping front answers nothing more that does not complete promptly.
      std::vector<os::Fd> late;
      for (auto& [fd, c] : conns_) {
        if (!c.queued && !c.writing && now >= stop_deadline_) late.push_back(fd);
      }
      for (os::Fd fd : late) {
        Conn& c = conns_.at(fd);
        if (c.http.idle()) {
          drop(fd);
        } else {
          answer_and_close(fd, c, c.http.serialize_error({503, "the server is stopping"}), now);
        }
      }
    }
  }

  void set_deadline(os::Fd fd, Conn& c, Nanos at) {
    clear_deadline(fd, c);
    c.deadline = at;
    timers_.insert({at, fd});
  }

  void clear_deadline(os::Fd fd, Conn& c) {
    if (c.deadline != Nanos{0}) timers_.erase({c.deadline, fd});
    c.deadline = Nanos{0};
  }

  // Closes a connection the front holds.
  void drop(os::Fd fd) {
    forget(fd);
    set_accepting(true);
  }

  // Lets go of a connection: closed here (a worker may hold it now).
  void forget(os::Fd fd) {
    auto it = conns_.find(fd);
    if (it != conns_.end()) {
      clear_deadline(fd, it->second);
      close_tail(it->second);
      it->second.spool->reset();
      conns_.erase(it);
    }
    (void)os_.close(fd);  // also leaves the poller
  }

  void alive(Nanos now, bool force = false) {
    if (!force && now < next_alive_ + args_.http.heartbeat_interval) return;
    next_alive_ = now;
    proto::Message m = proto::make(proto::Kind::front_alive, handed_, os_.getpid(), conns_.size());
    m.reserved = static_cast<std::uint32_t>(queue_.size());
    send_master(m);
  }

  void notice(const std::string& text) {
    proto::Message m = proto::make(proto::Kind::front_notice, 0, os_.getpid());
    m.set_text(text);
    send_master(m);
  }

  void notice_once(bool& said, const std::string& text) {
    if (said) return;
    said = true;
    notice(text);
  }

  // Best effort: a master that is behind misses a heartbeat, not a request.
  void send_master(const proto::Message& m) {
    (void)os_.send_message(args_.channel, proto::bytes_of(m), {});
  }

  os::Os& os_;
  const FrontArgs& args_;
  os::Fd poller_ = -1;
  std::size_t max_held_ = 0;
  std::map<os::Fd, Conn> conns_;
  std::deque<os::Fd> queue_;                   // complete requests, oldest first
  std::set<std::pair<Nanos, os::Fd>> timers_;  // every held connection's deadline
  std::set<std::uint64_t> outstanding_;        // handed off, not back yet
  std::array<os::PollFd, kEventsPerWait> ready_{};
  std::size_t ready_count_ = 0;
  std::uint64_t id_counter_ = 0;
  std::uint64_t handed_ = 0;
  Nanos next_alive_{0};
  std::optional<Nanos> accept_paused_until_;
  Nanos stop_deadline_{0};
  bool accepting_ = false;
  bool stopping_ = false;
  bool draining_ = false;  // a stop delay: what is handed on asks for "Connection: close"
  bool master_gone_ = false;
  bool at_limit_noticed_ = false;
  bool accept_failure_noticed_ = false;
  bool spool_failure_noticed_ = false;
};

}  // namespace

int run_front(os::Os& os, const FrontArgs& args) {
  Front f(os, args);
  return f.run();
}

}  // namespace zyg
