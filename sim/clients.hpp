// The simulated client population: each client opens connections to the shared listening socket,
// sends HTTP requests (keep-alive or not, sometimes two pipelined), waits for responses, thinks,
// and sometimes gives up or disconnects midway. Every request ends with one outcome, which the
// checker judges.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/check.hpp"
#include "core/http/response_parser.hpp"
#include "sim/kernel.hpp"

namespace zyg::sim {

struct ClientSpec {
  int clients = 8;                        // concurrent client loops
  std::uint32_t keepalive_ppm = 600'000;  // reuse the connection for the next request
  std::uint32_t pipeline_ppm = 50'000;    // send two requests back to back
  std::uint32_t abandon_ppm = 5'000;      // give up on a request before its answer
  std::uint32_t half_send_ppm = 2'000;    // disconnect in the middle of sending a request
  std::uint32_t stall_ppm = 0;            // send half a request, then wait silently (408 expected)
  std::uint32_t garbage_ppm = 0;          // send a malformed request (400 expected)
  std::uint32_t long_ppm = 10'000;        // a long request (long_ms)
  // Ask for a large response (kb=, beyond the socket's send buffer) and take none of it for
  // slow_read_delay: the worker must give the rest to the front, not wait.
  std::uint32_t slow_read_ppm = 0;
  Nanos slow_read_delay = 2s;
  // The server's write timeout (the scenario's, not a client knob): a slow read longer than it
  // stalls the response, and the server may drop it; its requests are then abandoned, the
  // client's doing, not lost.
  Nanos server_write_timeout = 30s;
  // A POST with a body of 1 to upload_max bytes (half of them chunked) and the body's FNV-1a in
  // X-Body-Fnv: the app answers 422 if what reached it differs (a violation). Bodies above the
  // simulated server's 1 KiB in memory are spooled by the front.
  std::uint32_t upload_ppm = 0;
  int upload_max = 8192;
  Nanos long_request = 2s;
  Nanos think_min = 10ms;
  Nanos think_max = 300ms;
  Nanos patience = 3s;        // how long an abandoning client waits
  Nanos idle_reuse_max = 4s;  // never reuse a connection idle longer (under the server's)
  Nanos give_up = 120s;       // a request unanswered this long has been dropped
};

// Decides whether a lost request is explained by a recorded fault.
// `reader` is the process that read the request (none: it was never accepted), `when` the moment
// the loss happened.
using FaultExplains = std::function<bool(Slot reader, Nanos when)>;
// Judges how long a request waited for a worker: complete at the server and first in line on its
// connection from `ready` until `until` (the app began it, or it ended without reaching it).
using WaitJudge = std::function<void(ConnId conn, std::uint64_t request, Nanos ready, Nanos until)>;

struct Sample {
  Nanos t{0};
  int in_flight = 0;
};

class Clients {
 public:
  Clients(Kernel& k, ClientSpec spec, check::Checker& checker, FaultExplains explains);

  void start();                   // every client begins its loop
  void burst(int n, Nanos each);  // n more clients, each sending one request of `each`
  void stop();                    // no new requests; outstanding ones finish
  // As their load balancer would once the server is marked down: what must be sent again (a
  // request behind a "Connection: close") goes to another server, outside the simulation.
  void leave();
  bool quiet() const;  // nothing outstanding
  int in_flight() const;
  std::uint64_t completed() const { return completed_; }
  void on_data(ConnId id);
  void on_closed(ConnId id, bool reset);
  void set_wait_judge(WaitJudge judge) { judge_ = std::move(judge); }
  // The app began serving request `id` (named in its target, /r/ID).
  void started(std::uint64_t id);
  // Every outstanding request is judged as unanswered (end of the run).
  void finish_all(const std::string& why);

 private:
  struct Request {
    std::uint64_t id = 0;
    int client = 0;
    std::uint64_t offset = 0;  // where its bytes start in the connection's stream
    std::uint64_t end = 0;     // one past its last byte
    Nanos sent{0};
    bool head = false;
    bool incomplete = false;  // the client never sent all of it
    bool bad = false;         // malformed on purpose: the front answers it, no worker
    bool started = false;     // the app began serving it
    Nanos ready{-1};          // complete at the server and first in line on its connection
    ConnId conn = 0;          // the connection it was sent on
  };
  struct Conn {
    ConnId id = 0;
    int client = 0;
    std::deque<Request> outstanding;
    http::ResponseParser parser;  // the response coming in
    std::uint64_t sent = 0;
    bool closing = false;  // the server said Connection: close, or the client sent its last
    // The server said Connection: close (RFC 9112 9.6: it processes nothing after it).
    bool told_close = false;
    bool dead = false;
    Nanos idle_since{0};
    Nanos reads_from{0};        // a slow reader takes no response bytes before this
    bool stalled = false;       // it took nothing for longer than the server's write timeout
    bool read_pending = false;  // a late read is scheduled
  };
  struct Client {
    int index = 0;
    bool one_shot = false;  // a burst client: one request (and its retries), then gone
    bool sent_once = false;
    Nanos asks{0};
    ConnId conn = 0;  // 0: none open
    int connect_tries = 0;
    std::deque<Request> retry;  // requests to send again on a fresh connection
  };

  void schedule_next(int client, Nanos delay);
  void begin(int client);
  void send_requests(Client& c, Conn& conn, std::deque<Request> reqs);
  void send_last(Conn& conn, Request r, const std::string& bytes);
  void push_outstanding(Conn& conn, Request& r);
  Request make_request(int client);
  std::uint32_t slow_read_kib();
  std::string upload_bytes(const Request& r, bool keepalive);
  std::string next_bytes(const Request& r, const Client& who, bool keep, std::uint32_t& kib);
  void read_late(Conn& conn);
  std::string request_bytes(const Request& r, bool keepalive, bool long_one, Nanos length,
                            std::uint32_t kib = 0);
  void parse_responses(Conn& conn, std::string bytes);
  void complete(Conn& conn, int status, bool close);
  void conn_lost(Conn& conn, bool reset);
  void finish(const Request& r, check::Outcome o, const std::string& detail);
  void forget(ConnId id);

  Kernel& k_;
  ClientSpec spec_;
  check::Checker& checker_;
  FaultExplains explains_;
  WaitJudge judge_;
  Rng rng_;
  std::vector<Client> clients_;
  std::map<ConnId, Conn> conns_;
  std::uint64_t next_conn_ = 1;
  std::uint64_t next_request_ = 1;
  std::uint64_t completed_ = 0;
  bool stopped_ = false;
  bool left_ = false;
};

}  // namespace zyg::sim
