#include "core/control_server.hpp"

#include <span>
#include <utility>

namespace zyg {

bool ControlServer::open(const std::string& path, std::optional<os::Credentials> owner) {
  os::Endpoint e;
  e.unix_path = path;
  e.unix_mode = 0600;
  if (owner) {
    e.unix_owner = {owner->uid, owner->gid};
    also_uid_ = owner->uid;
  }
  auto r = os_.listen(e, control::kBacklog);
  if (!r.ok()) {
    error_(r.error == os::err::addrinuse
               ? "the control socket " + path +
                     " is in use: another server runs with this run directory"
               : "cannot open the control socket " + path + ": errno " + std::to_string(r.error));
    return false;
  }
  listener_ = r.value;
  return true;
}

void ControlServer::add_poll_fds(std::vector<os::PollFd>& fds) const {
  if (listener_ >= 0) fds.push_back({listener_, os::ev::in, 0});
  for (const auto& [id, c] : clients_) {
    if (c.fd >= 0) fds.push_back({c.fd, c.answered ? os::ev::out : os::ev::in, 0});
  }
}

void ControlServer::serve(const Handler& handle) {
  if (listener_ < 0) return;
  accept_clients();
  const Nanos now = os_.now();
  std::vector<std::uint64_t> done;
  for (auto& [id, c] : clients_) {
    if (!c.answered) read_request(id, c, handle);
    if (c.answered) write_reply(c);
    const bool finished = c.answered && c.out.empty();
    if (finished || c.fd < 0 || now >= c.deadline) done.push_back(id);
  }
  for (std::uint64_t id : done) {
    if (clients_[id].fd >= 0) drop(clients_[id]);
    clients_.erase(id);
  }
}

void ControlServer::answer(std::uint64_t client, std::string reply) {
  auto it = clients_.find(client);
  if (it == clients_.end()) return;
  it->second.out = std::move(reply);
}

void ControlServer::close_all() {
  for (auto& [id, c] : clients_) drop(c);
  clients_.clear();
}

void ControlServer::accept_clients() {
  for (int i = 0; i < 16; ++i) {
    auto r = os_.accept(listener_);
    if (!r.ok()) return;
    const os::Fd fd = r.value;
    auto peer = os_.peer_uid(fd);
    std::string refusal;
    if (!peer.ok() || (peer.value != os_.uid() && peer.value != 0 && peer.value != also_uid_)) {
      refusal = "permission denied: the control socket serves its owner only";
      error_("control: refused a client of uid " +
             (peer.ok() ? std::to_string(peer.value) : std::string("unknown")));
    } else if (clients_.size() >= control::kMaxClients) {
      refusal = "busy: " + std::to_string(control::kMaxClients) + " control clients already";
    }
    if (!refusal.empty()) {
      const std::string line = control::error_reply(refusal);
      // Best effort: the line fits a fresh socket's buffer, and the client is refused either way.
      static_cast<void>(os_.write(fd, std::as_bytes(std::span(line))));
      os::close_quietly(os_, fd);
      continue;
    }
    clients_[next_client_++] = Client{fd, {}, {}, false, os_.now() + control::kClientTimeout};
  }
}

void ControlServer::read_request(std::uint64_t id, Client& c, const Handler& handle) {
  char buf[control::kMaxRequestBytes + 1];
  for (;;) {
    auto r = os_.read(c.fd, std::as_writable_bytes(std::span(buf)));
    if (r.error == os::err::again || r.error == os::err::intr) return;
    if (!r.ok()) {
      drop(c);
      return;
    }
    const bool eof = r.value == 0;
    c.in.append(buf, r.value);
    const std::size_t nl = c.in.find('\n');
    if (nl != std::string::npos || eof) {
      // End of file ends the line too ("printf status | nc -U" works).
      if (eof && c.in.empty()) {
        drop(c);
        return;
      }
      answer_request(id, c, c.in.substr(0, nl), handle);
      return;
    }
    if (c.in.size() > control::kMaxRequestBytes) {
      c.answered = true;
      c.out = control::error_reply("request longer than " +
                                   std::to_string(control::kMaxRequestBytes) + " bytes");
      return;
    }
  }
}

void ControlServer::answer_request(std::uint64_t id, Client& c, const std::string& line,
                                   const Handler& handle) {
  c.answered = true;
  c.in.clear();
  auto parsed = control::parse(line);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    c.out = control::error_reply(*why);
    return;
  }
  if (std::optional<std::string> reply = handle(id, std::get<control::Request>(parsed))) {
    c.out = std::move(*reply);
  }
}

void ControlServer::write_reply(Client& c) {
  if (c.fd >= 0 && !os::write_some(os_, c.fd, c.out)) drop(c);
}

void ControlServer::drop(Client& c) {
  os::close_quietly(os_, c.fd);
  c.fd = -1;
}

}  // namespace zyg
