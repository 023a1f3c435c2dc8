#include "sim/clients.hpp"

#include <charconv>

#include "core/http/connection.hpp"
#include "core/marks.hpp"
#include "sim/app.hpp"

namespace zyg::sim {

namespace {

constexpr int kPriorityClient = 3;
constexpr int kConnectTries = 3;  // SYN retransmissions before a connect gives up

}  // namespace

Clients::Clients(Kernel& k, ClientSpec spec, check::Checker& checker, FaultExplains explains)
    : k_(k),
      spec_(spec),
      checker_(checker),
      explains_(std::move(explains)),
      rng_(k.rng("clients")) {
  clients_.resize(static_cast<std::size_t>(spec_.clients));
  for (int i = 0; i < spec_.clients; ++i) clients_[static_cast<std::size_t>(i)].index = i;
}

void Clients::start() {
  for (int i = 0; i < spec_.clients; ++i)
    schedule_next(i, rng_.between(spec_.think_min, spec_.think_max));
}

void Clients::burst(int n, Nanos each) {
  for (int i = 0; i < n; ++i) {
    Client c;
    c.index = static_cast<int>(clients_.size());
    c.one_shot = true;
    c.asks = each;
    clients_.push_back(c);
    schedule_next(c.index, Nanos{0});
  }
}

void Clients::stop() { stopped_ = true; }

void Clients::leave() {
  stopped_ = true;
  left_ = true;
  for (Client& c : clients_) c.retry.clear();  // never sent here, so never judged here
}

int Clients::in_flight() const {
  int n = 0;
  for (const auto& [id, c] : conns_) n += static_cast<int>(c.outstanding.size());
  return n;
}

bool Clients::quiet() const {
  if (in_flight() != 0) return false;
  for (const Client& c : clients_) {
    if (!c.retry.empty()) return false;
  }
  return true;
}

void Clients::schedule_next(int client, Nanos delay) {
  k_.at(k_.now() + delay, kPriorityClient, [this, client] { begin(client); });
}

Clients::Request Clients::make_request(int client) {
  Request r;
  r.id = next_request_++;
  r.client = client;
  return r;
}

std::string Clients::request_bytes(const Request& r, bool keepalive, bool long_one, Nanos length,
                                   std::uint32_t kib) {
  std::string target = "/r/" + std::to_string(r.id);
  if (long_one) {
    target += "?ms=" +
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(length).count());
  }
  if (kib != 0) target += std::string(long_one ? "&" : "?") + "kb=" + std::to_string(kib);
  std::string s = "GET " + target + " HTTP/1.1\r\nHost: sim\r\n";
  if (!keepalive) s += "Connection: close\r\n";
  s += "\r\n";
  return s;
}

std::string Clients::upload_bytes(const Request& r, bool keepalive) {
  ZYG_MARK("client.upload");
  const auto n = static_cast<std::size_t>(rng_.between(1, spec_.upload_max));
  const bool chunked = rng_.chance_ppm(500'000);
  std::string body(n, '\0');
  for (std::size_t i = 0; i < n; ++i) body[i] = static_cast<char>((r.id * 31 + i * 7) & 0xff);
  std::string s = "POST /r/" + std::to_string(r.id) +
                  " HTTP/1.1\r\nHost: sim\r\nX-Body-Fnv: " + body_fnv(body) + "\r\n";
  if (!keepalive) s += "Connection: close\r\n";
  if (!chunked) return s + "Content-Length: " + std::to_string(n) + "\r\n\r\n" + body;
  s += "Transfer-Encoding: chunked\r\n\r\n";
  for (std::size_t at = 0; at < n; at += 1000) {
    const std::string piece = body.substr(at, 1000);
    s += http::Connection::chunk_head(piece.size()) + piece + "\r\n";
  }
  return s + std::string(http::Connection::kLastChunk);
}

void Clients::begin(int index) {
  Client& c = clients_[static_cast<std::size_t>(index)];
  if (left_) c.retry.clear();
  if (stopped_ && c.retry.empty()) return;
  if (c.one_shot && c.sent_once && c.retry.empty()) return;  // its request is done
  std::deque<Request> reqs;
  if (!c.retry.empty()) {
    reqs.swap(c.retry);
  } else {
    reqs.push_back(make_request(index));
    if (rng_.chance_ppm(spec_.pipeline_ppm)) reqs.push_back(make_request(index));
  }
  // Reuse an idle keep-alive connection when it is fresh enough; otherwise open one.
  auto open = conns_.find(c.conn);
  if (open != conns_.end()) {
    Conn& conn = open->second;
    const bool fresh = !conn.closing && !conn.dead && conn.outstanding.empty() &&
                       k_.now() - conn.idle_since <= spec_.idle_reuse_max;
    if (fresh) {
      send_requests(c, conn, std::move(reqs));
      return;
    }
    k_.client_close(conn.id);
    forget(conn.id);
  }
  const ConnId id = next_conn_++;
  switch (k_.client_connect(id)) {
    case Kernel::ConnectResult::ok: {
      c.connect_tries = 0;
      c.conn = id;
      Conn& conn = conns_[id];
      conn.id = id;
      conn.client = index;
      send_requests(c, conn, std::move(reqs));
      return;
    }
    case Kernel::ConnectResult::refused:
      for (const Request& r : reqs) {
        finish(
            r,
            explains_(kNoSlot, k_.now()) ? check::Outcome::lost_to_fault : check::Outcome::refused,
            "connection refused: nothing listening");
      }
      c.connect_tries = 0;
      schedule_next(index, 1s);
      return;
    case Kernel::ConnectResult::overflow:
      ZYG_MARK("fault.accept-overflow");
      if (++c.connect_tries < kConnectTries) {
        c.retry = std::move(reqs);  // the SYN is retransmitted after a second, as Linux does
        schedule_next(index, std::chrono::seconds(c.connect_tries));
      } else {
        for (const Request& r : reqs) finish(r, check::Outcome::lost_to_fault, "accept queue full");
        c.connect_tries = 0;
        schedule_next(index, rng_.between(spec_.think_min, spec_.think_max));
      }
      return;
  }
}

// Whether this request reads its response late: if so, it asks for 320 to 960 KiB (the send
// buffer is 256 KiB), and once it is sent its connection reads late (read_late). 0: a normal
// request.
std::uint32_t Clients::slow_read_kib() {
  if (spec_.slow_read_ppm == 0 || !rng_.chance_ppm(spec_.slow_read_ppm)) return 0;
  return static_cast<std::uint32_t>(rng_.between(320, 960));
}

// `conn` takes no response bytes for slow_read_delay: past the server's write timeout, that
// stalls the response.
void Clients::read_late(Conn& conn) {
  ZYG_MARK("client.slow-read");
  conn.reads_from = std::max(conn.reads_from, k_.now() + spec_.slow_read_delay);
  if (spec_.slow_read_delay > spec_.server_write_timeout) {
    ZYG_MARK("client.stalled-read");
    conn.stalled = true;
  }
}

// The bytes of `r` from client `who`: a GET (long, or asking for a large response to read
// late), or an upload.
std::string Clients::next_bytes(const Request& r, const Client& who, bool keep,
                                std::uint32_t& kib) {
  const bool long_one = who.one_shot || rng_.chance_ppm(spec_.long_ppm);
  keep = keep && !who.one_shot;
  kib = 0;
  if (!who.one_shot && spec_.upload_ppm != 0 && rng_.chance_ppm(spec_.upload_ppm)) {
    return upload_bytes(r, keep);
  }
  kib = slow_read_kib();
  return request_bytes(r, keep, long_one, who.one_shot ? who.asks : spec_.long_request, kib);
}

void Clients::send_requests(Client& c, Conn& conn, std::deque<Request> reqs) {
  const bool keepalive = rng_.chance_ppm(spec_.keepalive_ppm);
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    Request& r = reqs[i];
    const Client& who = clients_[static_cast<std::size_t>(c.index)];
    std::uint32_t kib = 0;
    const std::string bytes = next_bytes(r, who, keepalive || i + 1 < reqs.size(), kib);
    r.offset = conn.sent;
    r.sent = k_.now();
    if (rng_.chance_ppm(spec_.garbage_ppm)) {
      // Bad input gets a clear 4xx, and the worker keeps serving.
      r.bad = true;
      send_last(conn, r, "GET /r/" + std::to_string(r.id) + " HTTP/1.1\r\nHost sim\r\n\r\n");
      return;
    }
    if (rng_.chance_ppm(spec_.stall_ppm)) {
      // A slow client: half a request, then silence. The worker must answer 408 in bounded time.
      r.incomplete = true;
      send_last(conn, r, bytes.substr(0, bytes.size() / 2));
      return;
    }
    if (rng_.chance_ppm(spec_.half_send_ppm)) {
      // The client sends half a request and vanishes.
      ZYG_MARK("client.half-send");
      k_.client_send(conn.id, std::string_view(bytes).substr(0, bytes.size() / 2));
      finish(r, check::Outcome::abandoned, "client disconnected while sending");
      for (std::size_t j = i + 1; j < reqs.size(); ++j) {
        finish(reqs[j], check::Outcome::abandoned, "client disconnected while sending");
      }
      std::deque<Request> pending;
      pending.swap(conn.outstanding);
      for (const Request& o : pending) finish(o, check::Outcome::abandoned, "client disconnected");
      k_.client_reset(conn.id);
      forget(conn.id);
      schedule_next(c.index, rng_.between(spec_.think_min, spec_.think_max));
      return;
    }
    if (kib != 0) read_late(conn);
    k_.client_send(conn.id, bytes);
    clients_[static_cast<std::size_t>(c.index)].sent_once = true;
    conn.sent += bytes.size();
    push_outstanding(conn, r);
    const ConnId cid = conn.id;
    const std::uint64_t rid = r.id;
    const bool impatient = rng_.chance_ppm(spec_.abandon_ppm);
    const Nanos wait = impatient ? spec_.patience : spec_.give_up;
    k_.at(k_.now() + wait, kPriorityClient, [this, cid, rid, impatient] {
      auto it = conns_.find(cid);
      if (it == conns_.end()) return;
      Conn& cn = it->second;
      bool still = false;
      for (const Request& o : cn.outstanding) still = still || o.id == rid;
      if (!still) return;
      std::deque<Request> pending;
      pending.swap(cn.outstanding);
      for (const Request& o : pending) {
        if (impatient) {
          ZYG_MARK("client.abandon");
          finish(o, check::Outcome::abandoned, "client gave up waiting");
        } else {
          finish(o, check::Outcome::dropped, "no response within the client's timeout");
        }
      }
      const int client = cn.client;
      k_.client_reset(cid);
      forget(cid);
      schedule_next(client, rng_.between(spec_.think_min, spec_.think_max));
    });
  }
}

// A request sent in full awaits its response; the first in line is ready for a worker now.
void Clients::push_outstanding(Conn& conn, Request& r) {
  r.end = conn.sent;
  r.conn = conn.id;
  if (conn.outstanding.empty()) r.ready = k_.now();
  conn.outstanding.push_back(r);
}

// Sends a request after which nothing may follow on the connection.
void Clients::send_last(Conn& conn, Request r, const std::string& bytes) {
  k_.client_send(conn.id, bytes);
  conn.sent += bytes.size();
  push_outstanding(conn, r);
  conn.closing = true;
}

void Clients::on_data(ConnId id) {
  auto it = conns_.find(id);
  if (it != conns_.end() && k_.now() < it->second.reads_from) {
    // A slow reader: the bytes stay in the server's send buffer until it reads.
    if (!it->second.read_pending) {
      it->second.read_pending = true;
      k_.at(it->second.reads_from, kPriorityClient, [this, id] {
        auto c = conns_.find(id);
        if (c == conns_.end()) return;
        c->second.read_pending = false;
        on_data(id);
        // A server's FIN that came while the bytes waited was not reported (the kernel reports
        // it once what it sent is read): report it now.
        const Connection* kc = k_.connection(id);
        if (kc && conns_.contains(id) && kc->server_fin && kc->to_client.empty()) {
          on_closed(id, false);
        }
      });
    }
    return;
  }
  std::string bytes = k_.take_client_bytes(id);
  if (it == conns_.end()) return;
  parse_responses(it->second, std::move(bytes));
}

// Responses, pipelined ones included, through the one HTTP response parser (core/http): a
// response the clients of the real world could not parse is a violation here too.
void Clients::parse_responses(Conn& conn, std::string bytes) {
  const ConnId id = conn.id;
  for (;;) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Conn& c = it->second;
    const auto r = c.parser.feed(bytes);
    if (r == http::ResponseParser::Result::need_more) return;
    if (r == http::ResponseParser::Result::error) {
      checker_.fail(k_.now(), "request: malformed response on connection " + std::to_string(id));
      c.parser = {};
      return;
    }
    bytes = c.parser.take_rest();
    const int status = c.parser.status();
    const bool close = c.parser.server_closes();
    c.parser = {};
    complete(c, status, close);
    if (bytes.empty()) return;
  }
}

void Clients::complete(Conn& conn, int status, bool close) {
  if (conn.outstanding.empty()) {
    checker_.fail(k_.now(), "request: a response arrived that no request asked for");
    return;
  }
  Request r = conn.outstanding.front();
  conn.outstanding.pop_front();
  if (!conn.outstanding.empty() && conn.outstanding.front().ready < Nanos{0}) {
    conn.outstanding.front().ready = k_.now();  // pipelined: its turn comes now
  }
  if (r.incomplete && status == 503) {
    // The server stopped while the client was still sending: it refused what never arrived.
    finish(r, check::Outcome::abandoned, "the client never finished sending it; status 503");
  } else {
    finish(r, status >= 500 ? check::Outcome::server_error : check::Outcome::ok,
           "status " + std::to_string(status));
  }
  if (status == 422) {
    checker_.fail(k_.now(),
                  "request: the app got a body other than the one its client sent "
                  "(request " +
                      std::to_string(r.id) + ")");
  }
  if (status == 400 || status == 408)
    ZYG_MARK(status == 400 ? "client.bad-request" : "client.slow");
  completed_ += 1;
  if (close) conn.closing = conn.told_close = true;
  if (!conn.outstanding.empty()) return;
  conn.idle_since = k_.now();
  const int client = conn.client;
  if (conn.closing) {
    k_.client_close(conn.id);
    forget(conn.id);
  }
  schedule_next(client, rng_.between(spec_.think_min, spec_.think_max));
}

void Clients::on_closed(ConnId id, bool reset) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  conn_lost(it->second, reset);
}

void Clients::conn_lost(Conn& conn, bool reset) {
  const Connection* kc = k_.connection(conn.id);
  const std::uint64_t consumed = kc ? kc->consumed : 0;
  const Slot reader = kc ? kc->last_reader : kNoSlot;
  Client& client = clients_[static_cast<std::size_t>(conn.client)];
  const bool had_requests = !conn.outstanding.empty();
  std::deque<Request> pending;
  pending.swap(conn.outstanding);
  const bool never_accepted = kc && kc->accepted_by == kNoSlot;
  for (const Request& r : pending) {
    if (r.incomplete) {
      finish(r, check::Outcome::abandoned, "the client never finished sending it");
    } else if (never_accepted) {
      // The kernel had accepted the connection; no worker ever took it from the queue.
      const Nanos when = kc && kc->reset_at >= Nanos{0} ? kc->reset_at : k_.now();
      finish(r, explains_(kNoSlot, when) ? check::Outcome::lost_to_fault : check::Outcome::dropped,
             "connection reset while waiting in the accept queue");
    } else if ((conn.closing && (conn.told_close || !(r.bad && consumed > r.offset))) ||
               consumed <= r.offset) {
      ZYG_MARK("client.retry");
      // Never read (an idle connection closed as the request left), or pipelined behind a
      // "Connection: close" (even a malformed one: after that answer the server must process
      // nothing more, RFC 9112 9.6): the server never processed it, so the client sends it again.
      finish(r, check::Outcome::retried,
             reset ? "reset before it was read" : "closed before it was read");
      Request again = make_request(conn.client);
      client.retry.push_back(again);
    } else if (kc && kc->fault_hit) {
      finish(r, check::Outcome::lost_to_fault, "its hand-off failed (an injected fault)");
    } else if (explains_(reader, k_.now())) {
      finish(r, check::Outcome::lost_to_fault, "the process serving it was hit by a fault");
    } else if (conn.stalled) {
      finish(r, check::Outcome::abandoned,
             "its client took nothing for longer than the server's write timeout");
    } else if (r.bad) {
      finish(r, check::Outcome::dropped, "a malformed request was read and never answered 4xx");
    } else {
      finish(r, check::Outcome::dropped,
             std::string(reset ? "connection reset" : "connection closed") +
                 " after the server read the request, without a response");
    }
  }
  const int index = conn.client;
  forget(conn.id);
  if (!client.retry.empty()) {
    schedule_next(index, Nanos{0});
  } else if (had_requests) {
    schedule_next(index, rng_.between(spec_.think_min, spec_.think_max));
  }
}

void Clients::started(std::uint64_t id) {
  for (auto& [cid, conn] : conns_) {
    for (Request& r : conn.outstanding) {
      if (r.id != id || r.started) continue;
      r.started = true;
      if (judge_ && r.ready >= Nanos{0}) judge_(cid, r.id, r.ready, k_.now());
      return;
    }
  }
}

void Clients::finish(const Request& r, check::Outcome o, const std::string& detail) {
  if (judge_ && !r.started && !r.incomplete && !r.bad && r.ready >= Nanos{0}) {
    judge_(r.conn, r.id, r.ready, k_.now());
  }
  checker_.request_finished(
      k_.now(), o,
      "request " + std::to_string(r.id) + " (client " + std::to_string(r.client) + "): " + detail);
}

void Clients::finish_all(const std::string& why) {
  for (auto& [id, conn] : conns_) {
    for (const Request& r : conn.outstanding) finish(r, check::Outcome::dropped, why);
    conn.outstanding.clear();
  }
  for (Client& c : clients_) {
    for (const Request& r : c.retry) finish(r, check::Outcome::dropped, why);
    c.retry.clear();
  }
}

void Clients::forget(ConnId id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Client& c = clients_[static_cast<std::size_t>(it->second.client)];
  if (c.conn == id) c.conn = 0;
  conns_.erase(it);
}

}  // namespace zyg::sim
