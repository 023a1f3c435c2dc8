// Held connections for zygote-load: slow clients (a partial request head, then nothing) and idle
// connections (one keep-alive request, then nothing), opened before the clients' load and held
// until it ends, each class tallied in a HeldSummary. At most kInFlight are connecting or
// waiting for their answer at once, as clients arriving over time would be.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/http/response_parser.hpp"
#include "real/load/epoll.hpp"
#include "real/load/histogram.hpp"
#include "real/load/load.hpp"

namespace zyg::load {

class HeldConnections {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  static constexpr std::uint64_t kKeyBit = std::uint64_t{1} << 32;  // epoll keys: kKeyBit | index
  static constexpr std::size_t kInFlight = 512;

  HeldConnections(const Options& o, const sockaddr_storage& addr, socklen_t addr_len, Epoll& ep);
  ~HeldConnections();
  HeldConnections(const HeldConnections&) = delete;
  HeldConnections& operator=(const HeldConnections&) = delete;

  bool empty() const { return conns_.empty(); }
  // Opens unopened connections while fewer than kInFlight are in progress.
  void open_more(TimePoint now);
  void on_event(std::size_t index, TimePoint now);
  // Fails the attempts past their deadline; cheap to call often (scans every 100 ms at most).
  void check_deadlines(TimePoint now);
  // No connection is left to open, connecting or waiting for its answer.
  bool settled() const { return next_unopened_ == conns_.size() && in_flight_ == 0; }
  void load_started(TimePoint now);
  // Tallies what is still open or pending, then closes everything.
  void end();

  const HeldSummary& slow() const { return slow_; }
  const HeldSummary& idle() const { return idle_; }

 private:
  struct Conn {
    enum class Kind { slow, idle };
    enum class Phase { unopened, connecting, sending, reading, holding, done };
    Kind kind = Kind::idle;
    Phase phase = Phase::unopened;
    int fd = -1;
    Epoll::Watch watch;
    TimePoint opened, deadline;
    std::size_t sent = 0;
    bool answered = false;
    std::unique_ptr<http::ResponseParser> parser;  // idle, while reading its answer

    bool in_flight() const {
      return phase == Phase::connecting || phase == Phase::sending || phase == Phase::reading;
    }
  };

  HeldSummary& tally(const Conn& c) { return c.kind == Conn::Kind::slow ? slow_ : idle_; }
  void open(std::size_t index, TimePoint now);
  void on_connected(std::size_t index, TimePoint now);
  void on_writable(std::size_t index, TimePoint now);
  void on_answer(std::size_t index, TimePoint now);
  void on_held_readable(std::size_t index, TimePoint now);
  void become_ready(std::size_t index);
  void closed_by_server(std::size_t index, TimePoint now);
  void fail(std::size_t index, bool connecting);
  void close(Conn& c, Conn::Phase phase);

  const Options& o_;
  const sockaddr_storage& addr_;
  socklen_t addr_len_;
  Epoll& epoll_;
  std::string slow_head_, idle_request_;
  std::vector<Conn> conns_;
  std::size_t next_unopened_ = 0;
  std::size_t in_flight_ = 0;
  bool load_running_ = false;
  TimePoint first_opened_, next_scan_;
  Histogram slow_close_age_, idle_close_age_;
  HeldSummary slow_, idle_;
};

}  // namespace zyg::load
