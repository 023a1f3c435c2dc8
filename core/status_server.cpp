#include "core/status_server.hpp"

#include <span>
#include <utility>

#include "core/control.hpp"

namespace zyg {

namespace {

constexpr int kBacklog = 64;

http::Limits status_limits() {
  http::Limits l;
  l.header_bytes_max = 8 * 1024;
  l.header_count_max = 64;
  l.body_bytes_max = 0;  // every request is a read: a body is 413
  l.body_memory_max = 0;
  l.read_bytes_max = 16 * 1024;
  return l;
}

AppResponse text(int status, std::string body, const char* type = "text/plain; charset=utf-8") {
  AppResponse r;
  r.status = status;
  r.headers.push_back({"Content-Type", type});
  r.headers.push_back({"Cache-Control", "no-store"});
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  r.body = std::move(body);
  return r;
}

// The path without its query ("/metrics?x=1" is /metrics: Prometheus may add parameters).
std::string_view path_of(const std::string& target) {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

bool wants_snapshot(std::string_view path) {
  return path == "/readyz" || path == "/status.json" || path == "/metrics";
}

}  // namespace

bool StatusServer::open(const os::Endpoint& where) {
  auto r = os_.listen(where, kBacklog);
  if (!r.ok()) {
    error_("cannot listen for status on " + where.host + ":" + std::to_string(where.port) +
           ": errno " + std::to_string(r.error));
    return false;
  }
  listener_ = r.value;
  return true;
}

void StatusServer::add_poll_fds(std::vector<os::PollFd>& fds) const {
  if (listener_ >= 0) fds.push_back({listener_, os::ev::in, 0});
  for (const auto& [id, c] : clients_) {
    if (c.fd < 0 || c.waiting) continue;
    fds.push_back({c.fd, c.out.empty() ? os::ev::in : os::ev::out, 0});
  }
}

void StatusServer::serve(const SnapshotWanted& want) {
  if (listener_ < 0) return;
  accept_clients();
  const Nanos now = os_.now();
  std::vector<std::uint64_t> done;
  for (auto& [id, c] : clients_) {
    write_out(c);
    if (c.fd >= 0 && c.out.empty() && !c.waiting) read_requests(id, c, want);
    write_out(c);
    const bool finished = c.out.empty() && !c.waiting && c.http.should_close();
    if (finished || c.fd < 0 || now >= c.deadline) done.push_back(id);
  }
  for (std::uint64_t id : done) {
    drop(clients_[id]);
    clients_.erase(id);
  }
}

void StatusServer::answer(std::uint64_t client, const StatusSnapshot& s, const StatusExtras& x) {
  auto it = clients_.find(client);
  if (it == clients_.end() || !it->second.waiting) return;
  Client& c = it->second;
  const AppRequest req = std::move(*c.waiting);
  c.waiting.reset();
  const std::string_view path = path_of(req.target);
  if (path == "/readyz") {
    const bool ok = ready(s);
    respond(c, req, text(ok ? 200 : 503, ok ? "ready\n" : "not ready\n"));
  } else if (path == "/status.json") {
    respond(c, req, text(200, control::dump_line(status_json(s, x)), "application/json"));
  } else {
    respond(c, req, text(200, metrics_text(s, x), "text/plain; version=0.0.4; charset=utf-8"));
  }
  write_out(c);
}

void StatusServer::close_all() {
  for (auto& [id, c] : clients_) drop(c);
  clients_.clear();
  if (listener_ >= 0) os::close_quietly(os_, listener_);
  listener_ = -1;
}

void StatusServer::accept_clients() {
  for (int i = 0; i < 16; ++i) {
    auto r = os_.accept(listener_);
    if (!r.ok()) return;
    if (clients_.size() >= kMaxClients) {
      // Best effort: the response fits a fresh socket's buffer, and the client goes either way.
      http::Connection refused(status_limits());
      const std::string busy = refused.serialize_error({503, "too many status clients"});
      static_cast<void>(os_.write(r.value, std::as_bytes(std::span(busy))));
      os::close_quietly(os_, r.value);
      continue;
    }
    clients_.emplace(next_client_++, Client{r.value,
                                            http::Connection(status_limits()),
                                            {},
                                            std::nullopt,
                                            os_.now() + kClientTimeout});
  }
}

void StatusServer::read_requests(std::uint64_t id, Client& c, const SnapshotWanted& want) {
  char buf[4096];
  while (c.http.wants_input()) {
    auto r = os_.read(c.fd, std::as_writable_bytes(std::span(buf)));
    if (r.error == os::err::again || r.error == os::err::intr) break;
    if (!r.ok() || r.value == 0) {
      c.http.feed_eof();
      break;
    }
    c.http.feed({buf, r.value});
  }
  // One response at a time: pipelined requests wait in the connection until it is written.
  http::Next n = c.http.next();
  if (auto* e = std::get_if<http::ParseError>(&n)) {
    c.out = c.http.serialize_error(*e);
  } else if (auto* req = std::get_if<AppRequest>(&n)) {
    c.deadline = os_.now() + kClientTimeout;
    route(id, c, std::move(*req), want);
  }
}

void StatusServer::route(std::uint64_t id, Client& c, AppRequest req, const SnapshotWanted& want) {
  const std::string_view path = path_of(req.target);
  if (req.method != "GET" && req.method != "HEAD") {
    AppResponse r = text(405, "the status port answers GET and HEAD only\n");
    r.headers.push_back({"Allow", "GET, HEAD"});
    return respond(c, req, r);
  }
  if (path == "/") {
    AppResponse r = text(200, std::string(kStatusPage), "text/html; charset=utf-8");
    r.headers.push_back({"Content-Security-Policy",
                         "default-src 'none'; script-src 'unsafe-inline'; style-src "
                         "'unsafe-inline'; connect-src 'self'; img-src 'self' data:"});
    return respond(c, req, r);
  }
  if (path == "/healthz") return respond(c, req, text(200, "ok\n"));
  if (!wants_snapshot(path)) {
    return respond(c, req,
                   text(404,
                        "not found; try /, /status.json, /metrics, /healthz or "
                        "/readyz\n"));
  }
  c.waiting = std::move(req);
  want(id);  // may answer at once
}

void StatusServer::respond(Client& c, const AppRequest& req, const AppResponse& resp) {
  c.out = c.http.serialize(req, resp, false);
}

void StatusServer::write_out(Client& c) {
  if (c.fd >= 0 && !os::write_some(os_, c.fd, c.out)) drop(c);
}

void StatusServer::drop(Client& c) {
  if (c.fd >= 0) os::close_quietly(os_, c.fd);
  c.fd = -1;
}

}  // namespace zyg
