// The worker: accepts from the shared listening socket, serves one request at a time with the app
// its zygote loaded, and tells the master when it is ready, busy, idle and alive. SIGTERM means
// drain: accept nothing more, finish the request in flight, answer the next request on each
// keep-alive connection with "Connection: close", close idle connections after the normal idle
// timeout, then exit.
#include <algorithm>
#include <map>
#include <string>

#include "core/assert.hpp"
#include "core/loops.hpp"
#include "core/marks.hpp"
#include "core/protocol.hpp"
#include "core/teeth.hpp"

namespace zyg {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kReadPerRound = 64 * 1024;    // fairness between connections
constexpr std::size_t kPipelineOutMax = 64 * 1024;  // stop answering pipelined requests above this
constexpr Nanos kReportRetry = 1s;                  // how long an important report may wait

class Worker {
 public:
  Worker(os::Os& os, const WorkerArgs& args, App& app) : os_(os), args_(args), app_(app) {}

  int run() {
    const os::Signal caught[] = {os::Signal::term};
    // The signals are constants: only a bug can make these fail.
    const int caught_error = os_.catch_signals(caught);
    ZYG_ASSERT(caught_error == 0, "errno ", caught_error);
    const int int_error = os_.ignore_signal(os::Signal::interrupt);  // ^C is the master's
    ZYG_ASSERT(int_error == 0, "errno ", int_error);
    const int hup_error = os_.ignore_signal(os::Signal::hup);
    ZYG_ASSERT(hup_error == 0, "errno ", hup_error);
    // Introduce ourselves before the app's init, which may hang: the master then knows our pid
    // even if our zygote dies before it could report it.
    report(proto::make(proto::Kind::hello, args_.id.value, os_.getpid()), true);
    app_.worker_init();
    report(proto::make(proto::Kind::ready, args_.id.value, os_.getpid()), true);
    last_heartbeat_ = os_.now();
    for (;;) {
      take_signals();
      if (draining_ && conns_.empty()) {
        report(proto::make(proto::Kind::exiting, args_.id.value, os_.getpid(), served_,
                           retiring_ ? 1 : 0),
               true);
        return retiring_ ? exit_code::retired : exit_code::clean;
      }
      wait();
      const Nanos now = os_.now();
      if (!draining_) accept_one(now);
      service_connections(now);
      expire(now);
      if (busy_) {
        busy_ = false;
        report(proto::make(proto::Kind::idle, args_.id.value, os_.getpid(), served_), true);
      }
      heartbeat(os_.now());
    }
  }

 private:
  struct Conn {
    http::Connection http;
    std::string out;
    Nanos last_activity{0};
    Nanos request_started{0};
    Nanos write_started{0};
    bool was_mid_request = false;
    bool close_when_flushed = false;
    bool eof = false;
  };

  // Every wait collects pending signals: a caught signal left pending makes poll return at once.
  void take_signals() {
    for (os::Signal s : os_.take_signals()) {
      if (s == os::Signal::term) begin_drain();
    }
  }

  void begin_drain() {
    if (draining_) return;
    ZYG_MARK("worker.drain");
    draining_ = true;
    if (ZYG_BUG(shutdown_listener)) {
      static_cast<void>(os_.shutdown(args_.listener, os::ShutdownHow::read));  // a planted bug
    }
  }

  void wait() {
    fds_.clear();
    const bool accepting = !draining_ && conns_.size() < args_.config.max_connections;
    if (accepting) fds_.push_back({args_.listener, os::ev::in, 0});
    for (auto& [fd, c] : conns_) {
      short events = 0;
      if (!c.close_when_flushed && !c.eof && c.http.wants_input()) events |= os::ev::in;
      if (!c.out.empty()) events |= os::ev::out;
      fds_.push_back({fd, events, 0});
    }
    // What is ready is in fds_; EINTR means signals, which the round takes next.
    static_cast<void>(os_.poll(fds_, std::max(Nanos{0}, next_deadline() - os_.now())));
  }

  Nanos next_deadline() const {
    const WorkerConfig& cfg = args_.config;
    Nanos next = last_heartbeat_ + cfg.heartbeat_interval;
    for (const auto& [fd, c] : conns_) {
      if (!c.out.empty()) next = std::min(next, c.write_started + cfg.write_timeout);
      if (c.http.mid_request()) next = std::min(next, c.request_started + cfg.request_read_timeout);
      if (c.http.idle() && c.out.empty())
        next = std::min(next, c.last_activity + cfg.keepalive_timeout);
    }
    return next;
  }

  bool ready(os::Fd fd, short what) const {
    for (const os::PollFd& p : fds_) {
      if (p.fd == fd) return (p.revents & (what | os::ev::hangup | os::ev::error)) != 0;
    }
    return false;
  }

  void accept_one(Nanos now) {
    if (!ready(args_.listener, os::ev::in)) return;
    // One connection per round: the others stay queued for idle workers.
    auto r = os_.accept(args_.listener);
    if (!r.ok()) return;  // EAGAIN: another worker took it
    Conn c{http::Connection(args_.config.http), {}, now, now, now, false, false, false};
    conns_.emplace(r.value, std::move(c));
  }

  void service_connections(Nanos now) {
    for (auto it = conns_.begin(); it != conns_.end();) {
      const os::Fd fd = it->first;
      Conn& c = it->second;
      if (ready(fd, os::ev::in) && !c.eof) read_from(fd, c, now);
      answer(c, now);
      if (!c.out.empty()) flush(fd, c, now);
      if (finished(c)) {
        os::close_quietly(os_, fd);
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void read_from(os::Fd fd, Conn& c, Nanos now) {
    std::size_t total = 0;
    char buf[kReadChunk];
    while (total < kReadPerRound && c.http.wants_input()) {
      auto r = os_.read(fd, std::as_writable_bytes(std::span<char>(buf)));
      if (r.error == os::err::again || r.error == os::err::intr) break;
      if (!r.ok() || r.value == 0) {
        c.eof = true;
        c.http.feed_eof();
        break;
      }
      total += r.value;
      c.last_activity = now;
      c.http.feed(std::string_view(buf, r.value));
      if (!c.was_mid_request && c.http.mid_request()) c.request_started = now;
      c.was_mid_request = c.http.mid_request();
    }
  }

  // Serves every complete request on the connection, in order, while output stays bounded.
  void answer(Conn& c, Nanos now) {
    while (!c.close_when_flushed && c.out.size() < kPipelineOutMax) {
      if (std::string interim = c.http.take_interim(); !interim.empty()) append(c, interim, now);
      http::Next next = c.http.next();
      if (ZYG_BUG(drop_keepalive) && draining_ && std::holds_alternative<AppRequest>(next)) {
        c.close_when_flushed = true;  // read, and dropped without an answer
        break;
      }
      if (auto* err = std::get_if<http::ParseError>(&next)) {
        ZYG_MARK("worker.parse-error");
        append(c, c.http.serialize_error(*err), now);
        c.close_when_flushed = true;
      } else if (auto* req = std::get_if<AppRequest>(&next)) {
        serve(c, *req);
      } else {
        break;
      }
    }
    if (c.http.should_close()) c.close_when_flushed = true;
    c.was_mid_request = c.http.mid_request();
  }

  void serve(Conn& c, const AppRequest& req) {
    if (!busy_) {
      busy_ = true;
      report(proto::make(proto::Kind::busy, args_.id.value, os_.getpid(), served_), true);
    }
    AppResponse resp = app_.handle(req);
    ++served_;
    const Nanos after = os_.now();
    append(c, c.http.serialize(req, resp, draining_ || retiring_), after);
    if (c.http.should_close()) c.close_when_flushed = true;
    c.last_activity = after;
    c.request_started = after;  // the clock for a pipelined partial request starts now
    check_integrity();
    heartbeat(after);
  }

  void append(Conn& c, const std::string& bytes, Nanos now) {
    if (c.out.empty()) c.write_started = now;
    c.out += bytes;
  }

  void flush(os::Fd fd, Conn& c, Nanos now) {
    while (!c.out.empty()) {
      auto r = os_.write(fd, std::as_bytes(std::span<const char>(c.out.data(), c.out.size())));
      if (r.error == os::err::again || r.error == os::err::intr) return;
      if (!r.ok()) {  // the client went away: nothing more to say to it
        c.out.clear();
        c.close_when_flushed = true;
        c.eof = true;
        return;
      }
      c.out.erase(0, r.value);
      c.last_activity = now;
      c.write_started = now;
    }
  }

  bool finished(const Conn& c) const {
    if (!c.out.empty()) return false;
    if (c.close_when_flushed) return true;
    return c.eof && !c.http.mid_request();
  }

  void expire(Nanos now) {
    const WorkerConfig& cfg = args_.config;
    for (auto it = conns_.begin(); it != conns_.end();) {
      Conn& c = it->second;
      bool drop = false;
      if (!c.out.empty() && now - c.write_started >= cfg.write_timeout) {
        ZYG_MARK("worker.write-timeout");
        drop = true;  // the client stopped reading
      } else if (c.out.empty() && c.http.mid_request() &&
                 now - c.request_started >= cfg.request_read_timeout) {
        // A slow client cannot hold the worker: answer 408 and close.
        ZYG_MARK("worker.read-timeout");
        append(c, c.http.serialize_error({408, "request not received in time"}), now);
        c.close_when_flushed = true;
        flush(it->first, c, now);
        drop = c.out.empty();
      } else if (c.out.empty() && c.http.idle() && now - c.last_activity >= cfg.keepalive_timeout) {
        ZYG_MARK("worker.keepalive-close");
        drop = true;  // idle keep-alive connection: also how draining workers let go of them
      }
      if (drop) {
        os::close_quietly(os_, it->first);
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Also called between requests: the master's hang detection measures one request, not a run
  // of queued requests from several keep-alive connections.
  void heartbeat(Nanos now) {
    if (now - last_heartbeat_ < args_.config.heartbeat_interval) return;
    last_heartbeat_ = now;
    report(proto::make(proto::Kind::heartbeat, args_.id.value, os_.getpid(), served_), false);
    check_integrity();
  }

  void check_integrity() {
    const WorkerConfig& cfg = args_.config;
    bool over = cfg.max_requests != 0 && served_ >= cfg.max_requests;
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
  void report(const proto::Message& m, bool important) {
    const Nanos give_up = os_.now() + kReportRetry;
    for (;;) {
      auto r = os_.send_message(args_.report, proto::bytes_of(m), {});
      if (r.ok() || !important) return;
      if (r.error != os::err::again && r.error != os::err::intr) return;
      const Nanos now = os_.now();
      if (now >= give_up) return;
      ZYG_MARK("worker.report-wait");
      os::PollFd fds[] = {{args_.report, os::ev::out, 0}};
      if (os_.poll(fds, give_up - now).error == os::err::intr) take_signals();
    }
  }

  os::Os& os_;
  const WorkerArgs& args_;
  App& app_;
  std::map<os::Fd, Conn> conns_;
  std::vector<os::PollFd> fds_;
  Nanos last_heartbeat_{0};
  std::uint64_t served_ = 0;
  bool busy_ = false;
  bool draining_ = false;
  bool retiring_ = false;
};

}  // namespace

int run_worker(os::Os& os, const WorkerArgs& args, App& app) {
  Worker w(os, args, app);
  return w.run();
}

}  // namespace zyg
