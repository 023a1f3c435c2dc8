// The simulated kernel's descriptors: socketpairs, the listening socket, TCP connections, and the
// client side of connections.
#include <algorithm>

#include "core/marks.hpp"
#include "sim/kernel.hpp"

namespace zyg::sim {

namespace {
constexpr std::size_t kSendBufferBytes = 256 * 1024;
constexpr int kPriorityNet = 2;
}  // namespace

// ---------------------------------------------------------------------------------------------
// Descriptors

Fd Kernel::add_fd(Process& p, File f) {
  Fd fd = 3;
  while (p.fds.count(fd)) ++fd;
  p.fds.emplace(fd, std::move(f));
  return fd;
}

File* Kernel::file(Fd fd) {
  Process& p = current();
  auto it = p.fds.find(fd);
  return it == p.fds.end() ? nullptr : &it->second;
}

void Kernel::hold(const File& f, int delta) {
  switch (f.kind) {
    case File::Kind::channel: {
      ChannelEnd& e = f.channel->ends[f.end];
      e.holders += delta;
      if (delta < 0 && e.holders == 0) release_channel_end(*f.channel, f.end);
      break;
    }
    case File::Kind::listener:
      f.listener->holders += delta;
      if (delta < 0 && f.listener->holders == 0) release_listener(*f.listener);
      break;
    case File::Kind::connection:
      f.conn->holders += delta;
      if (delta < 0 && f.conn->holders == 0) release_connection(*f.conn);
      break;
    case File::Kind::poller:
    case File::Kind::memory: break;  // no peer to tell
  }
}

Connection* Kernel::handoff_fault(std::span<const Fd> pass, const char* what) {
  if (cfg_.handoff_fail_ppm == 0 || current().role != Role::front) return nullptr;
  for (Fd passed : pass) {
    File* pf = file(passed);
    if (!pf || pf->kind != File::Kind::connection) continue;
    if (!rng("faults").chance_ppm(cfg_.handoff_fail_ppm)) return nullptr;
    ZYG_MARK("fault.handoff-send");
    if (listener_) listener_->on_injected_fault(current(), what);
    return pf->conn.get();
  }
  return nullptr;
}

// The receiver is out of descriptors (MSG_CTRUNC): the connection's in-flight copy is closed.
bool Kernel::drop_passed_connection(Packet& pk) {
  if (cfg_.handoff_fail_ppm == 0) return false;
  for (auto it = pk.fds.begin(); it != pk.fds.end(); ++it) {
    if (it->kind != File::Kind::connection) continue;
    if (!rng("faults").chance_ppm(cfg_.handoff_fail_ppm)) return false;
    ZYG_MARK("fault.handoff-receive");
    it->conn->fault_hit = true;
    const File dropped = *it;
    pk.fds.erase(it);
    hold(dropped, -1);
    return true;
  }
  return false;
}

void Kernel::release_channel_end(Channel& c, int end) {
  std::deque<Packet> dropped;
  dropped.swap(c.ends[end].inbox);
  for (Packet& pk : dropped) {
    for (File& f : pk.fds) hold(f, -1);
  }
  wake_all(c.ends[0].waiters);
  wake_all(c.ends[1].waiters);
}

// Closing the last descriptor of a listening socket, or shutting it down, resets what is queued.
void Kernel::release_listener(Listener& l) {
  std::deque<std::shared_ptr<Connection>> queued;
  queued.swap(l.queue);
  for (auto& c : queued) {
    c->reset = true;
    c->reset_at = now_;
    c->queued = false;
    deliver_to_client(*c);
  }
  wake_all(l.waiters);
}

void Kernel::release_connection(Connection& c) {
  // Linux answers a close with unread data by RST; otherwise FIN.
  if (!c.to_server.empty()) {
    c.reset = true;
    c.reset_at = now_;
  } else {
    c.server_fin = true;
  }
  deliver_to_client(c);
}

void Kernel::deliver_to_client(Connection& c) {
  const ConnId id = c.id;
  const Nanos delay = rng("net").between(Nanos{1000}, cfg_.net_latency_max);
  at(now_ + delay, kPriorityNet, [this, id] {
    auto it = conns_.find(id);
    if (it == conns_.end() || !listener_) return;
    // The client may close and forget the connection while it takes the data: keep it alive.
    const std::shared_ptr<Connection> conn = it->second;
    if (!conn->to_client.empty()) listener_->on_client_data(id);
    if (!connection(id)) return;
    if (conn->reset || (conn->server_fin && conn->to_client.empty())) {
      listener_->on_client_closed(id, conn->reset);
    }
  });
}

void Kernel::register_waiter(Process& p, Fd fd) {
  auto it = p.fds.find(fd);
  if (it == p.fds.end()) return;
  const File& f = it->second;
  switch (f.kind) {
    case File::Kind::channel:
      f.channel->ends[f.end].waiters.slots.push_back(p.slot);
      f.channel->ends[1 - f.end].waiters.slots.push_back(p.slot);
      break;
    case File::Kind::listener: f.listener->waiters.slots.push_back(p.slot); break;
    case File::Kind::connection: f.conn->waiters.slots.push_back(p.slot); break;
    case File::Kind::poller:
      for (const auto& [watched, events] : f.poller->interest) register_waiter(p, watched);
      break;
    case File::Kind::memory: break;  // always readable
  }
}

short Kernel::readiness(Process& p, os::PollFd& pfd) {
  auto it = p.fds.find(pfd.fd);
  if (it == p.fds.end()) return 0x020;  // POLLNVAL
  const File& f = it->second;
  short r = 0;
  switch (f.kind) {
    case File::Kind::channel: {
      const Channel& ch = *f.channel;
      const ChannelEnd& mine = ch.ends[f.end];
      const ChannelEnd& peer = ch.ends[1 - f.end];
      const bool seq = ch.kind == os::ChannelKind::seqpacket;
      if (!mine.inbox.empty() || mine.shut_read) r |= os::ev::in;
      if (seq && peer.holders == 0) r |= os::ev::hangup;
      if (peer.holders > 0 && peer.inbox.size() < ch.capacity) r |= os::ev::out;
      break;
    }
    case File::Kind::listener:
      if (!f.listener->queue.empty() && !f.listener->shut) r |= os::ev::in;
      break;
    case File::Kind::connection: {
      const Connection& c = *f.conn;
      if (!c.to_server.empty() || c.client_fin) r |= os::ev::in;
      if (c.reset) r |= os::ev::error | os::ev::hangup;
      if (c.to_client.size() < kSendBufferBytes) r |= os::ev::out;
      break;
    }
    case File::Kind::poller: {
      const std::shared_ptr<Poller> poller = f.poller;  // readiness() may not change it
      for (const auto& [watched, events] : poller->interest) {
        os::PollFd probe{watched, events, 0};
        if (readiness(p, probe) != 0) r |= os::ev::in;
      }
      break;
    }
    case File::Kind::memory: r |= os::ev::in; break;
  }
  return static_cast<short>(r & (pfd.events | os::ev::error | os::ev::hangup | 0x020));
}

os::Result<int> Kernel::sys_poll(std::span<os::PollFd> fds, std::optional<Nanos> timeout) {
  const Slot s = running_;
  const std::optional<Nanos> deadline =
      timeout ? std::optional<Nanos>(now_ + std::max(*timeout, Nanos{0})) : std::nullopt;
  for (;;) {
    Process& p = proc(s);
    int n = 0;
    for (os::PollFd& pfd : fds) {
      pfd.revents = readiness(p, pfd);
      n += pfd.revents != 0 ? 1 : 0;
    }
    if (n > 0) return {n, 0};
    if (p.pending & p.caught) return os::Result<int>::fail(os::err::intr);
    if (deadline && now_ >= *deadline) return {0, 0};
    p.awaits_client = false;
    for (const os::PollFd& pfd : fds) {
      register_waiter(p, pfd.fd);
      const File* f = file(pfd.fd);
      if ((pfd.events & os::ev::out) && f && f->kind == File::Kind::connection) {
        p.awaits_client = true;
      }
    }
    block_until(s, Block::poll, deadline);
  }
}

os::Result<std::pair<Fd, Fd>> Kernel::sys_socketpair(os::ChannelKind kind) {
  Process& p = current();
  auto ch = std::make_shared<Channel>();
  ch->kind = kind;
  ch->capacity = kind == os::ChannelKind::datagram ? 512 : 256;
  File a;
  a.channel = ch;
  File b;
  b.channel = ch;
  b.end = 1;
  ch->ends[0].holders = 1;
  ch->ends[1].holders = 1;
  const Fd fa = add_fd(p, a);
  const Fd fb = add_fd(p, b);
  return {{fa, fb}, 0};
}

os::Result<std::size_t> Kernel::sys_send(Fd fd, std::span<const std::byte> bytes,
                                         std::span<const Fd> pass) {
  File* f = file(fd);
  if (!f) return os::Result<std::size_t>::fail(os::err::badf);
  if (f->kind != File::Kind::channel) return os::Result<std::size_t>::fail(os::err::inval);
  Channel& ch = *f->channel;
  ChannelEnd& peer = ch.ends[1 - f->end];
  if (peer.holders == 0 || peer.shut_read) return os::Result<std::size_t>::fail(os::err::pipe);
  if (peer.inbox.size() >= ch.capacity) return os::Result<std::size_t>::fail(os::err::again);
  if (Connection* lost = handoff_fault(pass, "a hand-off failed: ENOBUFS")) {
    lost->fault_hit = true;
    return os::Result<std::size_t>::fail(os::err::nobufs);
  }
  Packet pk;
  pk.bytes.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  for (Fd passed : pass) {
    if (File* pf = file(passed)) {
      pk.fds.push_back(*pf);
      hold(*pf, +1);
    }
  }
  peer.inbox.push_back(std::move(pk));
  wake_all(peer.waiters);
  return {bytes.size(), 0};
}

os::Result<std::size_t> Kernel::sys_recv(Fd fd, std::span<std::byte> into,
                                         std::vector<Fd>* passed) {
  File* f = file(fd);
  if (!f) return os::Result<std::size_t>::fail(os::err::badf);
  if (f->kind != File::Kind::channel) return os::Result<std::size_t>::fail(os::err::inval);
  std::shared_ptr<Channel> ch = f->channel;
  const int end = f->end;
  ChannelEnd& mine = ch->ends[end];
  if (mine.inbox.empty()) {
    if (mine.shut_read) return {0, 0};
    if (ch->kind == os::ChannelKind::seqpacket && ch->ends[1 - end].holders == 0) return {0, 0};
    return os::Result<std::size_t>::fail(os::err::again);
  }
  Packet pk = std::move(mine.inbox.front());
  mine.inbox.pop_front();
  const std::size_t n = std::min(into.size(), pk.bytes.size());
  std::copy_n(reinterpret_cast<const std::byte*>(pk.bytes.data()), n, into.begin());
  Process& p = current();
  if (p.role == Role::worker && drop_passed_connection(pk)) {
    if (listener_) listener_->on_injected_fault(p, "a hand-off lost its descriptor: EMFILE");
  }
  for (File& pf : pk.fds) {
    const Fd nfd = add_fd(p, pf);  // the in-flight hold becomes this descriptor's
    if (passed) passed->push_back(nfd);
    if (pf.kind == File::Kind::connection) {
      // Whoever holds it now answers for what was read from it.
      pf.conn->last_reader = p.slot;
      trace_.add("received");
      trace_.add(pf.conn->id);
      trace_.add(p.slot);
      if (listener_) listener_->on_connection_received(p, *pf.conn);
    }
  }
  wake_all(ch->ends[1 - end].waiters);
  wake_all(mine.waiters);
  return {n, 0};
}

os::Result<Fd> Kernel::sys_listen(int backlog) {
  Process& p = current();
  auto l = std::make_shared<Listener>();
  l->backlog = static_cast<std::size_t>(std::max(backlog, 1));
  l->holders = 1;
  listener_obj_ = l;
  File f;
  f.kind = File::Kind::listener;
  f.listener = l;
  return {add_fd(p, f), 0};
}

os::Result<Fd> Kernel::sys_accept(Fd fd) {
  File* f = file(fd);
  if (!f) return os::Result<Fd>::fail(os::err::badf);
  if (f->kind != File::Kind::listener || f->listener->shut)
    return os::Result<Fd>::fail(os::err::inval);
  Listener& l = *f->listener;
  if (l.queue.empty()) return os::Result<Fd>::fail(os::err::again);
  Process& p = current();
  if (cfg_.accept_fail_ppm != 0 && rng("faults").chance_ppm(cfg_.accept_fail_ppm)) {
    ZYG_MARK("fault.accept-fail");
    if (listener_) listener_->on_injected_fault(p, "accept failed: EMFILE");
    return os::Result<Fd>::fail(os::err::mfile);
  }
  std::shared_ptr<Connection> c = l.queue.front();
  l.queue.pop_front();
  c->queued = false;
  c->holders = 1;
  c->accepted_by = p.slot;
  c->accepted_at = now_;
  trace_.add("accept");
  trace_.add(c->id);
  trace_.add(p.slot);
  if (listener_) listener_->on_accept(p, *c);
  File held;
  held.kind = File::Kind::connection;
  held.conn = c;
  return {add_fd(p, std::move(held)), 0};
}

os::Result<std::size_t> Kernel::sys_read(Fd fd, std::span<std::byte> into) {
  File* f = file(fd);
  if (!f) return os::Result<std::size_t>::fail(os::err::badf);
  if (f->kind == File::Kind::memory) {
    MemoryFile& m = *f->memory;
    const std::size_t n = std::min(into.size(), m.bytes.size() - m.offset);
    std::copy_n(reinterpret_cast<const std::byte*>(m.bytes.data() + m.offset), n, into.begin());
    m.offset += n;
    return {n, 0};
  }
  if (f->kind != File::Kind::connection) return os::Result<std::size_t>::fail(os::err::inval);
  Connection& c = *f->conn;
  if (c.reset) return os::Result<std::size_t>::fail(os::err::connreset);
  if (c.to_server.empty()) {
    if (c.client_fin) return {0, 0};
    return os::Result<std::size_t>::fail(os::err::again);
  }
  const std::size_t n = std::min(into.size(), c.to_server.size());
  std::copy_n(reinterpret_cast<const std::byte*>(c.to_server.data()), n, into.begin());
  c.to_server.erase(0, n);
  c.consumed += n;
  c.last_reader = running_;
  return {n, 0};
}

os::Result<std::size_t> Kernel::sys_write(Fd fd, std::span<const std::byte> from) {
  File* f = file(fd);
  if (!f) return os::Result<std::size_t>::fail(os::err::badf);
  if (f->kind == File::Kind::memory) {
    f->memory->bytes.append(reinterpret_cast<const char*>(from.data()), from.size());
    return {from.size(), 0};
  }
  if (f->kind != File::Kind::connection) return os::Result<std::size_t>::fail(os::err::inval);
  Connection& c = *f->conn;
  if (c.reset) return os::Result<std::size_t>::fail(os::err::pipe);
  const std::size_t room = kSendBufferBytes - std::min(kSendBufferBytes, c.to_client.size());
  if (room == 0) return os::Result<std::size_t>::fail(os::err::again);
  const std::size_t n = std::min(room, from.size());
  const bool was_empty = c.to_client.empty();
  c.to_client.append(reinterpret_cast<const char*>(from.data()), n);
  if (was_empty) deliver_to_client(c);
  return {n, 0};
}

os::Result<std::size_t> Kernel::sys_send_file(Fd out, Fd in, std::uint64_t offset,
                                              std::size_t count) {
  File* f = file(in);
  if (!f) return os::Result<std::size_t>::fail(os::err::badf);
  if (f->kind != File::Kind::memory) return os::Result<std::size_t>::fail(os::err::inval);
  const std::string& bytes = f->memory->bytes;  // its own offset is left alone, as on Linux
  if (offset >= bytes.size()) return {0, 0};
  const std::size_t n = std::min<std::size_t>(count, bytes.size() - offset);
  return sys_write(out, std::as_bytes(std::span(bytes.data() + offset, n)));
}

int Kernel::sys_shutdown(Fd fd) {
  File* f = file(fd);
  if (!f) return os::err::badf;
  if (f->kind == File::Kind::listener) {
    // On Linux this stops the listening socket for every process that shares it.
    f->listener->shut = true;
    release_listener(*f->listener);
  } else if (f->kind == File::Kind::channel) {
    // So does shutting a socket down for reading: its queue is dropped, readers see end of
    // file, and senders to it get EPIPE.
    f->channel->ends[f->end].shut_read = true;
    release_channel_end(*f->channel, f->end);
  }
  return 0;
}

int Kernel::sys_close(Fd fd) {
  Process& p = current();
  auto it = p.fds.find(fd);
  if (it == p.fds.end()) return os::err::badf;
  File f = std::move(it->second);
  p.fds.erase(it);
  // As the real layer does: a closed descriptor leaves every poller of this process.
  for (auto& [other, g] : p.fds) {
    if (g.kind == File::Kind::poller) g.poller->interest.erase(fd);
  }
  hold(f, -1);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Pollers and memory files

os::Result<Fd> Kernel::sys_poller_create() {
  File f;
  f.kind = File::Kind::poller;
  f.poller = std::make_shared<Poller>();
  return {add_fd(current(), std::move(f)), 0};
}

int Kernel::sys_poller_watch(Fd poller, Fd fd, short events) {
  File* pf = file(poller);
  if (!pf || pf->kind != File::Kind::poller) return os::err::badf;
  if (!file(fd) || fd == poller) return os::err::badf;
  pf->poller->interest[fd] = events;
  return 0;
}

int Kernel::sys_poller_forget(Fd poller, Fd fd) {
  File* pf = file(poller);
  if (!pf || pf->kind != File::Kind::poller) return os::err::badf;
  return pf->poller->interest.erase(fd) == 1 ? 0 : 2;  // ENOENT
}

// poll() over the interest set, in descriptor order.
os::Result<int> Kernel::sys_poller_wait(Fd poller, std::span<os::PollFd> ready,
                                        std::optional<Nanos> timeout) {
  File* pf = file(poller);
  if (!pf || pf->kind != File::Kind::poller) return os::Result<int>::fail(os::err::badf);
  if (ready.empty()) return os::Result<int>::fail(os::err::inval);
  const std::shared_ptr<Poller> set = pf->poller;
  std::vector<os::PollFd> fds;
  fds.reserve(set->interest.size());
  for (const auto& [fd, events] : set->interest) fds.push_back({fd, events, 0});
  auto r = sys_poll(fds, timeout);
  if (!r.ok()) return r;
  int n = 0;
  for (const os::PollFd& p : fds) {
    if (p.revents == 0 || static_cast<std::size_t>(n) == ready.size()) continue;
    ready[static_cast<std::size_t>(n++)] = p;
  }
  return {n, 0};
}

// What waits in the peer's inbox: messages sent from this end that nobody has read.
os::Result<std::size_t> Kernel::sys_unread_bytes(Fd fd) {
  File* f = file(fd);
  if (!f) return os::Result<std::size_t>::fail(os::err::badf);
  if (f->kind != File::Kind::channel) return os::Result<std::size_t>::fail(os::err::inval);
  std::size_t n = 0;
  for (const Packet& pk : f->channel->ends[1 - f->end].inbox) n += pk.bytes.size();
  return {n, 0};
}

os::Result<Fd> Kernel::sys_memory_file(std::span<const std::byte> contents) {
  File f;
  f.kind = File::Kind::memory;
  f.memory = std::make_shared<MemoryFile>();
  f.memory->bytes.assign(reinterpret_cast<const char*>(contents.data()), contents.size());
  return {add_fd(current(), std::move(f)), 0};
}

os::Result<Fd> Kernel::sys_spool_file(const std::string& dir) {
  if (dir.empty()) return os::Result<Fd>::fail(os::err::inval);
  return sys_memory_file({});
}

os::Result<std::size_t> Kernel::sys_read_at(Fd fd, std::uint64_t offset,
                                            std::span<std::byte> into) {
  File* f = file(fd);
  if (!f) return os::Result<std::size_t>::fail(os::err::badf);
  if (f->kind != File::Kind::memory) return os::Result<std::size_t>::fail(os::err::inval);
  const std::string& bytes = f->memory->bytes;
  if (offset >= bytes.size()) return {0, 0};
  const std::size_t n = std::min<std::size_t>(into.size(), bytes.size() - offset);
  std::copy_n(reinterpret_cast<const std::byte*>(bytes.data() + offset), n, into.begin());
  return {n, 0};
}

// ---------------------------------------------------------------------------------------------
// Clients

Kernel::ConnectResult Kernel::client_connect(ConnId id) {
  std::shared_ptr<Listener> l = listener_obj_.lock();
  if (!l || l->holders == 0 || l->shut) return ConnectResult::refused;
  if (l->queue.size() >= l->backlog) return ConnectResult::overflow;
  auto c = std::make_shared<Connection>();
  c->id = id;
  conns_[id] = c;
  l->queue.push_back(c);
  wake_all(l->waiters);
  return ConnectResult::ok;
}

Connection* Kernel::connection(ConnId id) {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : it->second.get();
}

void Kernel::client_send(ConnId id, std::string_view bytes) {
  Connection* c = connection(id);
  if (!c || c->reset) return;
  if (!c->queued && c->holders == 0) {
    // Data for a socket the server has closed: the peer answers RST.
    c->reset = true;
    c->reset_at = now_;
    deliver_to_client(*c);
    return;
  }
  c->to_server.append(bytes);
  c->sent += bytes.size();
  wake_all(c->waiters);
}

void Kernel::client_close(ConnId id) {
  Connection* c = connection(id);
  if (!c) return;
  c->client_fin = true;
  wake_all(c->waiters);
  if (c->holders == 0 && !c->queued) conns_.erase(id);
}

void Kernel::client_reset(ConnId id) {
  Connection* c = connection(id);
  if (!c) return;
  c->reset = true;
  c->reset_at = now_;
  c->client_fin = true;
  wake_all(c->waiters);
  if (c->holders == 0 && !c->queued) conns_.erase(id);
}

std::string Kernel::take_client_bytes(ConnId id) {
  Connection* c = connection(id);
  if (!c) return {};
  std::string out;
  out.swap(c->to_client);
  wake_all(c->waiters);
  return out;
}

}  // namespace zyg::sim
