// The worker: takes a connection with a complete request from the front (core/handoff.hpp),
// serves it with the app its zygote loaded, writes the response itself, and gives the connection
// back. It holds a connection only while it serves a request on it. A request that is already
// there after the response (pipelined) is served at once only if no hand-off is waiting: a
// worker never makes a request wait while it serves another connection's.
//
// It tells the master when it is ready, busy, idle and alive. "Idle" waits until the worker has
// had nothing to do for kIdleReportDelay (or served its first request): under load a worker goes
// from one hand-off to the next without a report, so the master is not woken twice a request.
// SIGTERM means drain: take no more hand-offs, finish the request in hand, give its connection
// back, then exit.
#include <algorithm>
#include <optional>
#include <string>

#include "core/assert.hpp"
#include "core/handoff.hpp"
#include "core/loops.hpp"
#include "core/marks.hpp"
#include "core/protocol.hpp"
#include "core/request_stats.hpp"
#include "core/teeth.hpp"

namespace zyg {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr Nanos kCurrentReportGap = 100ms;        // a request's start is reported after this quiet
constexpr std::uint64_t kFileStep = 1024 * 1024;  // one sendfile call at most: heartbeats go on
constexpr Nanos kReportRetry = 1s;                // how long an important report may wait
constexpr Nanos kReturnRetry = 1s;  // how long a connection may wait to go back to the front
// How long a worker that ran out of work stays "busy" in the master's view: a hand-off that comes
// sooner is served without telling the master anything. The master's busy count lags by this.
constexpr Nanos kIdleReportDelay = 5ms;
// Descriptors a request may need besides its connection (a spooled body, its mapping or reader,
// what the app opens for it): a worker with fewer free retires before a hand-off is lost for
// want of one.
constexpr std::uint64_t kDescriptorsSpare = 16;

class Worker {
 public:
  Worker(os::Os& os, const WorkerArgs& args, App& app)
      : os_(os),
        args_(args),
        app_(app),
        max_requests_(retire_after(args.config.max_requests, args.config.max_requests_jitter,
                                   args.id.value)) {}

  int run() {
    pid_ = os_.getpid();
    if (auto limit = os_.descriptor_limit();
        limit.ok() && limit.value > 2 * kDescriptorsSpare && limit.value < (1u << 30)) {
      descriptor_watch_ = static_cast<os::Fd>(limit.value - kDescriptorsSpare);
    }
    const os::Signal caught[] = {os::Signal::term, os::Signal::usr1};
    if (os_.catch_signals(caught) != 0) return exit_code::config_error;
    (void)os_.ignore_signal(os::Signal::interrupt);  // a terminal's ^C is the master's to handle
    (void)os_.ignore_signal(os::Signal::hup);
    // Introduce ourselves before the app's init, which may hang: the master then knows our pid
    // even if our zygote dies before it could report it.
    report(proto::make(proto::Kind::hello, args_.id.value, pid_), true);
    app_.worker_init();
    open_log();
    report(proto::make(proto::Kind::ready, args_.id.value, pid_), true);
    last_heartbeat_ = os_.now();
    for (;;) {
      take_signals();
      if (draining_) {
        send_stats(true);
        report(proto::make(proto::Kind::exiting, args_.id.value, pid_, served_, retiring_ ? 1 : 0),
               true);
        app_.worker_exit();
        return retiring_ ? exit_code::retired : exit_code::clean;
      }
      // Under load a hand-off is usually waiting already: take it without a wait first.
      if (!take_handoff() && wait_for_handoff()) take_handoff();
      heartbeat(os_.now());
    }
  }

 private:
  // The connection in hand: the front's name for it, and what was read from it.
  struct Conn {
    os::Fd fd = -1;
    std::uint64_t id = 0;
    std::uint64_t requests = 0;
    bool closing = false;  // the front asked for "Connection: close"
    http::Connection http;
    std::string unsent;  // the rest of a response the client is slow to take: the front's now
    os::Fd body = -1;    // the spooled body of the request handed over, until it is served
  };

  // Every wait collects pending signals: a caught signal left pending makes poll return at once.
  void take_signals() {
    for (os::Signal s : os_.take_signals()) {
      if (s == os::Signal::term) begin_drain();
      if (s == os::Signal::usr1) open_log();  // logrotate moved the file: a new one
    }
  }

  // The access log (WorkerConfig::access_log): opened at start and on SIGUSR1.
  void open_log() {
    const std::string& path = args_.config.access_log;
    if (path.empty()) return;
    if (log_fd_ > 2) static_cast<void>(os_.close(log_fd_));
    log_fd_ = -1;
    if (path == "-") {
      log_fd_ = 1;
      return;
    }
    auto r = os_.open_append(path);
    if (!r.ok()) return log_failed("cannot open " + path, r.error);
    log_fd_ = r.value;
    log_failing_ = false;
  }

  // Said once on standard error (until the log works again): serving goes on, lines are dropped
  // and counted (the status port's requests.log_lines_dropped).
  void log_failed(const std::string& what, int error) {
    if (log_failing_) return;
    log_failing_ = true;
    const std::string line = "zygote: worker " + std::to_string(pid_) + ": access log: " + what +
                             " (errno " + std::to_string(error) +
                             "); its lines are dropped until it works again\n";
    static_cast<void>(os_.write(2, std::as_bytes(std::span(line))));
  }

  void log_request(const Conn& c, const AppRequest& req, int status, std::uint64_t bytes,
                   Nanos wall, Nanos took) {
    if (log_fd_ < 0) {
      ++stats_.log_dropped;
      return;
    }
    std::string remote = req.peer_host;
    if (remote.empty()) {
      if (auto a = os_.socket_addresses(c.fd); a.ok()) remote = std::move(a.value.peer_host);
    }
    const std::string line = access_line(
        args_.config.access_format, {wall, remote, &req, status, bytes, took, pid_, args_.version});
    auto r = os_.write(log_fd_, std::as_bytes(std::span(line)));
    if (r.ok() && r.value == line.size()) {
      log_failing_ = false;
      return;
    }
    ++stats_.log_dropped;  // a short write leaves part of a line: rare, and better than waiting
    log_failed("cannot write", r.ok() ? 0 : r.error);
  }

  void begin_drain() {
    if (draining_) return;
    ZYG_MARK("worker.drain");
    draining_ = true;
    if (ZYG_BUG(shutdown_handoff)) (void)os_.shutdown(args_.requests_in, os::ShutdownHow::read);
  }

  bool wait_for_handoff() {
    os::PollFd fds[] = {{args_.requests_in, os::ev::in, 0}};
    Nanos next = last_heartbeat_ + args_.config.heartbeat_interval;
    if (idle_report_at_) next = std::min(next, *idle_report_at_);
    auto r = os_.poll(fds, std::max(Nanos{0}, next - os_.now()));
    if (!r.ok() || r.value == 0) {
      if (idle_report_at_ && os_.now() >= *idle_report_at_) report_idle();
      return false;
    }
    take_signals();
    return !draining_;
  }

  // Out of work: the master hears so once no hand-off came for kIdleReportDelay, or at once after
  // the first request this worker served (which proves its zygote healthy: backoff resets).
  void became_idle() {
    if (!busy_ || idle_report_at_) return;
    if (reported_served_ == 0) return report_idle();
    idle_report_at_ = os_.now() + kIdleReportDelay;
  }

  void report_idle() {
    busy_ = false;
    idle_report_at_.reset();
    reported_served_ = served_;
    send_stats(true);
    report(proto::make(proto::Kind::idle, args_.id.value, pid_, served_), true);
  }

  // Another hand-off is queued that no worker has taken yet.
  bool handoff_waiting() {
    os::PollFd fds[] = {{args_.requests_in, os::ev::in, 0}};
    auto r = os_.poll(fds, Nanos{0});
    return r.ok() && r.value > 0 && (fds[0].revents & os::ev::in) != 0;
  }

  // False when no hand-off was there (another worker took it, or none came yet).
  bool take_handoff() {
    int error = 0;
    auto r = handoff::receive(os_, args_.requests_in, backlog_cap(), &error);
    if (!r && (error == os::err::again || error == os::err::intr)) return false;
    if (!r) {
      begin_drain();  // every writer is gone (the master died): nothing more will come
      return true;
    }
    if (r->lost != 0) {
      lost_handoff(r->lost);
      return true;
    }
    if (r->conn < 0) return true;  // malformed
    if (r->header.kind != handoff::Kind::request) {
      (void)os_.close(r->conn);
      return true;
    }
    ZYG_MARK("worker.handoff");
    Conn c{r->conn,
           r->header.conn,
           r->header.requests,
           (r->header.flags & handoff::closing) != 0,
           http::Connection(args_.config.http),
           {}};
    c.body = r->body;
    if (c.body >= 0) {
      ZYG_MARK("worker.spooled-body");
      const std::string_view bytes(r->bytes);
      c.http.feed_spooled(bytes.substr(0, r->header.split), c.body, r->header.body);
      c.http.feed(bytes.substr(r->header.split));
    } else {
      c.http.feed(r->bytes);
    }
    serve_connection(c);
    release_body(c);
    // Descriptors are numbered lowest free first: once the one kDescriptorsSpare below the
    // limit is in use, nearly every one below it is too (the app's, most likely).
    if (descriptor_watch_ >= 0 && os_.descriptor_open(descriptor_watch_)) {
      out_of_descriptors(
          "descriptor " + std::to_string(descriptor_watch_) + " of " +
          std::to_string(static_cast<std::uint64_t>(descriptor_watch_) + kDescriptorsSpare) +
          " in use");
    }
    became_idle();
    return true;
  }

  // The kernel could not give us the connection (we are out of descriptors): it is closed; the
  // front learns so, as from a worker that closed it, and the worker retires.
  void lost_handoff(std::uint64_t conn) {
    ZYG_MARK("worker.handoff-lost");
    handoff::Header h;
    h.kind = handoff::Kind::closed;
    h.conn = conn;
    (void)send_to_front(h, {}, -1);
    out_of_descriptors("a hand-off's connection could not be received: that connection is lost");
  }

  // Guarded like memory and CPU: a worker whose descriptors run out (an app that leaks them,
  // most likely) says so once and retires; a fresh worker, replaced without backoff, takes its
  // slot with the descriptors the zygote left it.
  void out_of_descriptors(const std::string& what) {
    if (retiring_) return;
    ZYG_MARK("worker.out-of-descriptors");
    const std::string line = "zygote: worker " + std::to_string(pid_) +
                             ": descriptors nearly exhausted (" + what +
                             "): retiring, to be replaced\n";
    static_cast<void>(os_.write(2, std::as_bytes(std::span(line))));
    retiring_ = true;
    begin_drain();
  }

  std::size_t backlog_cap() const { return args_.config.http.buffered_max(); }

  // Once its request is served (or never will be), a spooled body's file goes: its disk space
  // with it.
  void release_body(Conn& c) {
    if (c.body >= 0) (void)os_.close(c.body);
    c.body = -1;
  }

  // For an app that reads only AppRequest::body: the spooled body, read into it.
  bool read_body_file(AppRequest& req) {
    if (req.body_file_bytes > args_.config.http.body_bytes_max) return false;
    req.body.resize(static_cast<std::size_t>(req.body_file_bytes));
    std::size_t done = 0;
    while (done < req.body.size()) {
      auto r = os_.read_at(
          req.body_file, done,
          std::as_writable_bytes(std::span(req.body.data() + done, req.body.size() - done)));
      if (r.error == os::err::intr) continue;
      if (!r.ok() || r.value == 0) return false;
      done += r.value;
    }
    req.body_file = -1;
    req.body_file_bytes = 0;
    return true;
  }

  // Serves the request handed over, and the ones after it that are already there while nobody
  // else waits; then gives the connection back or closes it.
  void serve_connection(Conn& c) {
    for (;;) {
      if (std::string interim = c.http.take_interim(); !interim.empty()) {
        if (!write_all(c, interim)) return close(c);
      }
      http::Next next = c.http.next();
      if (auto* err = std::get_if<http::ParseError>(&next)) {
        ZYG_MARK("worker.parse-error");
        (void)write_all(c, c.http.serialize_error(*err));
        return close(c);
      }
      auto* req = std::get_if<AppRequest>(&next);
      if (!req) return give_back(c);  // part of a next request: the front waits for the rest
      if (!serve(c, *req)) return close(c);
      if (!c.unsent.empty()) {
        // A malformed request read behind it gets its 400 after the response, from the front,
        // which closes once it has written both.
        if (c.http.error_ready()) {
          http::Next bad = c.http.next();
          if (auto* err = std::get_if<http::ParseError>(&bad)) {
            c.unsent += c.http.serialize_error(*err);
          }
        }
        return give_unsent(c);
      }
      // A malformed request read behind it (the response's framing found it) is answered here
      // (400, then close), as the front would; handing it back would only cost a round trip.
      if (c.http.should_close() && !c.http.error_ready()) return close(c);
      // Only a client that sent more than this request with it (pipelining) is read again
      // here; for any other the read would find nothing yet, so the front watches for the next.
      if (!c.http.idle()) read_available(c);
      if (ZYG_BUG(drop_keepalive) && draining_ && c.http.request_ready()) return close(c);
      const bool next_ready = c.http.request_ready() || c.http.error_ready();
      if (c.http.should_close() && !next_ready) return close(c);
      if (ZYG_BUG(linger) && !draining_ && !next_ready && linger(c)) continue;
      if (draining_ || retiring_ || !next_ready) {
        if (hand_back(c)) return;
        ZYG_MARK("worker.return-failed");
        if (!next_ready) return close(c);  // idle: it may be closed (RFC 9112 9.6)
        // The front is gone (a stop, or it died) and the next request is already here: it was
        // read, so it is answered here, the last on this connection.
        ZYG_MARK("worker.serve-without-front");
        c.closing = true;
        continue;
      }
      if (handoff_waiting()) {
        ZYG_MARK("worker.pipelined-yield");
        return give_back(c);
      }
      ZYG_MARK("worker.pipelined");
    }
  }

  // The deliberate bug: wait up to a second on this connection for its next request.
  bool linger(Conn& c) {
    os::PollFd fds[] = {{c.fd, os::ev::in, 0}};
    auto r = os_.poll(fds, std::chrono::seconds(1));
    if (!r.ok() || r.value == 0) return false;
    read_available(c);
    return c.http.request_ready();
  }

  // Returns false when the client is gone or too slow to take the response, or the response
  // could not be finished (the connection must close). A client that does not take a whole
  // response at once leaves the rest in c.unsent (if it is small enough) for the front.
  bool serve(Conn& c, AppRequest& req) {
    idle_report_at_.reset();  // still busy in the master's view: nothing to say
    if (!busy_) {
      busy_ = true;
      report(proto::make(proto::Kind::busy, args_.id.value, pid_, served_), true);
    }
    if (app_.wants_addresses()) {
      if (auto a = os_.socket_addresses(c.fd); a.ok()) {
        req.peer_host = std::move(a.value.peer_host);
        req.peer_port = a.value.peer_port;
        req.local_host = std::move(a.value.local_host);
        req.local_port = a.value.local_port;
      }
    }
    const Nanos began = os_.now();
    const Nanos wall = args_.config.access_log.empty() ? Nanos{0} : os_.wall_now();
    stats_.current_since_ns = began.count();
    // The master shows the request in progress: said when the last word is old enough (at most
    // ten a second), so a slow or hung request is seen while it runs.
    const bool say_current = began - stats_sent_at_ >= kCurrentReportGap && send_stats(false);
    Reply out(*this, c, req);
    if (req.body_file < 0 || app_.reads_body_files() || read_body_file(req)) {
      app_.respond(req, out);
    } else {
      ZYG_MARK("worker.body-file-unreadable");  // answered 500 by end()
    }
    const bool ok = out.end();
    release_body(c);
    const Nanos took = os_.now() - began;
    stats_.record(out.status(), took);
    if (!args_.config.access_log.empty()) {
      log_request(c, req, out.status(), out.body_bytes(), wall, took);
    }
    stats_.current_since_ns = 0;
    if (say_current) send_stats(false);  // that request is over
    ++served_;
    ++c.requests;
    check_integrity();
    heartbeat(os_.now());
    return ok;
  }

  // The app's answer to one request, onto the connection (core/app.hpp, Responder). A streamed
  // head goes out with the first block, and each block before write() returns.
  class Reply final : public Responder {
   public:
    Reply(Worker& w, Conn& c, const AppRequest& req) : w_(w), c_(c), req_(req) {}

    void complete(AppResponse response) override {
      if (started_ || done_) return;  // answered already: the app's mistake, ignored
      done_ = true;
      status_ = response.status;
      const bool bodiless = req_.method == "HEAD" || response.status == 204 ||
                            response.status == 304 || response.status < 200;
      body_bytes_ = bodiless ? 0 : response.body.size();
      ok_ = w_.write_all(c_, c_.http.serialize(req_, response, c_.closing), &c_.unsent);
    }

    bool start(int status, std::vector<Header> headers) override {
      if (started_ || done_) return false;
      http::Connection::Head head = c_.http.serialize_head(req_, status, headers, c_.closing);
      pending_ = std::move(head.bytes);
      framing_ = head.framing;
      left_ = head.length;
      status_ = status;
      started_ = true;
      return true;
    }

    bool write(std::string_view block) override {
      if (!started_ || done_ || !ok_) return false;
      append_framed(block);
      if (pending_.empty()) return true;
      ok_ = w_.write_all(c_, pending_);
      pending_.clear();
      w_.heartbeat(w_.os_.now());  // a long stream is one request making progress, not a hang
      return ok_;
    }

    bool sends_files() const override { return true; }

    bool write_file(int fd, std::uint64_t offset, std::uint64_t count) override {
      if (!started_ || done_ || !ok_) return false;
      using F = http::Connection::Framing;
      if (framing_ == F::none || count == 0) return true;  // no body is sent, or nothing to send
      if (framing_ == F::length) count = std::min(count, left_);
      if (framing_ == F::chunked) pending_ += http::Connection::chunk_head(count);
      if (!pending_.empty()) {
        ok_ = w_.write_all(c_, pending_);
        pending_.clear();
      }
      if (ok_) ok_ = w_.send_file_all(c_, fd, offset, count);
      if (ok_) body_bytes_ += count;
      if (ok_ && framing_ == F::length) left_ -= count;
      if (ok_ && framing_ == F::chunked) pending_ = "\r\n";  // goes with what comes next
      w_.heartbeat(w_.os_.now());
      return ok_;
    }

    bool finish() override {
      if (!started_ || done_ || !ok_) return false;
      done_ = true;
      if (framing_ == http::Connection::Framing::chunked) {
        pending_ += http::Connection::kLastChunk;
      }
      if (!pending_.empty()) ok_ = w_.write_all(c_, pending_);
      // Fewer bytes than the app's Content-Length: the client must see the response cut short.
      if (framing_ == http::Connection::Framing::length && left_ > 0) ok_ = false;
      return ok_;
    }

    void abort() override {
      done_ = true;
      ok_ = false;
    }

    int status() const { return status_; }                    // of the response begun (0: none yet)
    std::uint64_t body_bytes() const { return body_bytes_; }  // of it, sent or handed on

    // After the app returned: true when the response is whole and the connection may go on.
    bool end() {
      if (!done_ && started_) abort();  // it began and never finished: cut short
      if (!done_) complete(internal_error());
      return ok_;
    }

   private:
    void append_framed(std::string_view block) {
      using F = http::Connection::Framing;
      switch (framing_) {
        case F::none: return;  // HEAD, 204, 304: the app's body is not sent
        case F::chunked:
          pending_ += http::Connection::chunk(block);
          body_bytes_ += block.size();
          return;
        case F::close:
          pending_ += block;
          body_bytes_ += block.size();
          return;
        case F::length: {
          const std::size_t n =
              static_cast<std::size_t>(std::min<std::uint64_t>(left_, block.size()));
          pending_.append(block.substr(0, n));  // what goes beyond the declared length is dropped
          left_ -= n;
          body_bytes_ += n;
          return;
        }
      }
    }

    static AppResponse internal_error() {
      AppResponse r;
      r.status = 500;
      r.headers.push_back(Header{"Content-Type", "text/plain"});
      r.body = "Internal Server Error\n";
      return r;
    }

    Worker& w_;
    Conn& c_;
    const AppRequest& req_;
    std::string pending_;  // the head, until the first block goes with it
    http::Connection::Framing framing_ = http::Connection::Framing::none;
    std::uint64_t left_ = 0;  // Framing::length: bytes still owed
    int status_ = 0;
    std::uint64_t body_bytes_ = 0;
    bool started_ = false;
    bool done_ = false;
    bool ok_ = true;
  };

  // What the client has sent since, without waiting for more.
  void read_available(Conn& c) {
    char buf[kReadChunk];
    while (c.http.wants_input()) {
      auto r = os_.read(c.fd, std::as_writable_bytes(std::span<char>(buf)));
      if (r.error == os::err::again || r.error == os::err::intr) return;
      if (!r.ok() || r.value == 0) {
        c.http.feed_eof();
        return;
      }
      c.http.feed(std::string_view(buf, r.value));
    }
  }

  // Writes everything within the write timeout; false when the client went away or stalled. With
  // `unsent`, a client whose socket is full leaves the rest there instead, if it is at most
  // handoff::kUnsentMax: a worker never waits on a slow reader for a response the front can hold.
  bool write_all(Conn& c, const std::string& bytes, std::string* unsent = nullptr) {
    std::size_t done = 0;
    Nanos deadline = os_.now() + args_.config.write_timeout;
    while (done < bytes.size()) {
      auto r = os_.write(c.fd, std::as_bytes(std::span(bytes.data() + done, bytes.size() - done)));
      if (r.ok()) {
        done += r.value;
        deadline = os_.now() + args_.config.write_timeout;  // progress restarts the clock
        continue;
      }
      if (r.error != os::err::again && r.error != os::err::intr) return false;
      if (unsent && r.error == os::err::again && bytes.size() - done <= handoff::kUnsentMax) {
        unsent->assign(bytes, done, std::string::npos);
        return true;
      }
      if (!wait_writable(c, deadline)) return false;
    }
    return true;
  }

  // Until the client's socket has room, or the deadline; false once it has passed. The wait is
  // the server's, bounded by the write timeout, not a hung app's: heartbeats go on meanwhile.
  bool wait_writable(Conn& c, Nanos deadline) {
    const Nanos now = os_.now();
    if (now >= deadline) {
      ZYG_MARK("worker.write-timeout");
      return false;
    }
    heartbeat(now);
    os::PollFd fds[] = {{c.fd, os::ev::out, 0}};
    const Nanos wait = std::min(deadline - now, args_.config.heartbeat_interval);
    if (os_.poll(fds, wait).error == os::err::intr) take_signals();
    return true;
  }

  // `count` bytes of the file `fd` from `offset` (sendfile), as write_all() writes: within the
  // write timeout, restarted by progress. False when the client went away or stalled, and when
  // the file ends first.
  bool send_file_all(Conn& c, int fd, std::uint64_t offset, std::uint64_t count) {
    Nanos deadline = os_.now() + args_.config.write_timeout;
    while (count > 0) {
      const std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(count, kFileStep));
      auto r = os_.send_file(c.fd, fd, offset, step);
      if (r.ok()) {
        if (r.value == 0) return false;  // the file is shorter than promised
        offset += r.value;
        count -= r.value;
        deadline = os_.now() + args_.config.write_timeout;
        heartbeat(os_.now());  // a client that takes a long file fast never makes us wait
        continue;
      }
      if (r.error != os::err::again && r.error != os::err::intr) return false;
      if (!wait_writable(c, deadline)) return false;
    }
    return true;
  }

  void give_back(Conn& c) {
    if (hand_back(c)) return;
    ZYG_MARK("worker.return-failed");
    close(c);  // the front is gone or stuck: an idle connection may be closed (RFC 9112 9.6)
  }

  // The connection, with what was read past its last request, to the front; false if it is
  // gone or stuck (the connection is still ours then).
  bool hand_back(Conn& c) {
    handoff::Header h;
    h.kind = handoff::Kind::returned;
    h.conn = c.id;
    h.requests = c.requests;
    if (!send_to_front(h, c.http.remainder(), c.fd)) return false;
    (void)os_.close(c.fd);
    return true;
  }

  // The front writes the rest of the response, then holds the connection as if it came back idle
  // (or closes it, if the response said so).
  void give_unsent(Conn& c) {
    ZYG_MARK("worker.unsent-to-front");
    handoff::Header h;
    h.kind = handoff::Kind::returned;
    h.flags = handoff::unsent;
    if (c.http.should_close()) h.flags |= handoff::close_after;
    h.conn = c.id;
    h.requests = c.requests;
    h.split = static_cast<std::uint32_t>(c.unsent.size());
    if (send_to_front(h, c.unsent + c.http.remainder(), c.fd)) {
      (void)os_.close(c.fd);
      return;
    }
    ZYG_MARK("worker.return-failed");
    // The front is gone (a stop, or it died) or stuck: the rest is written from here, within
    // the write timeout, and the connection closed after it.
    ZYG_MARK("worker.unsent-without-front");
    const std::string rest = std::exchange(c.unsent, {});
    (void)write_all(c, rest);
    close(c);
  }

  void close(Conn& c) {
    (void)os_.close(c.fd);
    handoff::Header h;
    h.kind = handoff::Kind::closed;
    h.conn = c.id;
    h.requests = c.requests;
    (void)send_to_front(h, {}, -1);
  }

  // Waits (bounded) for room: the front reads returns before anything else.
  bool send_to_front(const handoff::Header& h, const std::string& bytes, os::Fd conn) {
    const Nanos give_up = os_.now() + kReturnRetry;
    for (;;) {
      const int e = handoff::send(os_, args_.returns_out, h, bytes, conn);
      if (e == 0) return true;
      if (e != os::err::again && e != os::err::intr) return false;
      const Nanos now = os_.now();
      if (now >= give_up) return false;
      os::PollFd fds[] = {{args_.returns_out, os::ev::out, 0}};
      if (os_.poll(fds, give_up - now).error == os::err::intr) take_signals();
    }
  }

  // Also called between requests: the master's hang detection measures one request, not a run
  // of pipelined ones.
  void heartbeat(Nanos now) {
    if (now - last_heartbeat_ < args_.config.heartbeat_interval) return;
    last_heartbeat_ = now;
    report(proto::make(proto::Kind::heartbeat, args_.id.value, pid_, served_), false);
    send_stats(false);
    check_integrity();
  }

  // What this worker has served, when it changed since the master last heard it (status pages
  // and metrics; core/request_stats.hpp). Dropped like a heartbeat when the master is behind,
  // except the last word before going idle or exiting.
  bool send_stats(bool important) {
    if (stats_ == stats_sent_) return true;
    if (!report(stats_message(args_.id.value, pid_, stats_), important)) return false;
    stats_sent_ = stats_;
    stats_sent_at_ = os_.now();
    return true;
  }

  void check_integrity() {
    const WorkerConfig& cfg = args_.config;
    bool over = max_requests_ != 0 && served_ >= max_requests_;
    if (!over && (cfg.rss_bytes_max != 0 || cfg.cpu_max > Nanos{0})) {
      os::Usage u = os_.usage();
      over = (cfg.rss_bytes_max != 0 && u.rss_bytes > cfg.rss_bytes_max) ||
             (cfg.cpu_max > Nanos{0} && u.cpu > cfg.cpu_max);
    }
    if (over && !retiring_) {
      ZYG_MARK("worker.retire");
      retiring_ = true;
      begin_drain();
    }
  }

  // Reports to the master. Important ones wait (bounded) for room; heartbeats are dropped when
  // the master is momentarily behind.
  bool report(const proto::Message& m, bool important) {
    const Nanos give_up = os_.now() + kReportRetry;
    for (;;) {
      auto r = os_.send_message(args_.report, proto::bytes_of(m), {});
      if (r.ok() || !important) return r.ok();
      if (r.error != os::err::again && r.error != os::err::intr) return false;
      const Nanos now = os_.now();
      if (now >= give_up) return false;
      ZYG_MARK("worker.report-wait");
      os::PollFd fds[] = {{args_.report, os::ev::out, 0}};
      if (os_.poll(fds, give_up - now).error == os::err::intr) take_signals();
    }
  }

  os::Os& os_;
  const WorkerArgs& args_;
  App& app_;
  const std::uint64_t max_requests_;  // this worker's own: the limit and its jitter
  Nanos last_heartbeat_{0};
  std::uint64_t served_ = 0;
  std::uint64_t reported_served_ = 0;  // served_ as of the last idle report
  RequestStats stats_;
  RequestStats stats_sent_;
  Nanos stats_sent_at_{0};
  os::Fd log_fd_ = -1;                   // the access log, when there is one and it could be opened
  bool log_failing_ = false;             // said so on standard error already
  std::optional<Nanos> idle_report_at_;  // out of work: when to tell the master
  Pid pid_ = 0;
  bool busy_ = false;  // as the master last heard
  bool draining_ = false;
  bool retiring_ = false;
  os::Fd descriptor_watch_ = -1;  // the limit less kDescriptorsSpare: in use, fewer are free
};

}  // namespace

int run_worker(os::Os& os, const WorkerArgs& args, App& app) {
  Worker w(os, args, app);
  return w.run();
}

}  // namespace zyg
