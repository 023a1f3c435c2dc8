#include "sim/kernel.hpp"

#include <algorithm>
#include <cassert>
#include <exception>

#include <boost/context/fixedsize_stack.hpp>

#include "core/marks.hpp"
#include "sim/sim_os.hpp"

namespace zyg::sim {

namespace {

constexpr std::size_t kSendBufferBytes = 256 * 1024;
constexpr int kPriorityDeadline = 0;
constexpr int kPriorityWake = 1;
constexpr int kPriorityNet = 2;

std::uint32_t bit(os::Signal s) { return 1u << static_cast<int>(s); }

bool default_is_ignore(os::Signal s) { return s == os::Signal::child || s == os::Signal::cont; }
bool default_is_stop(os::Signal s) {
  return s == os::Signal::stop || s == os::Signal::ttin || s == os::Signal::ttou;
}

}  // namespace

Kernel::Kernel(Config config) : cfg_(config), root_(config.seed) {}

Kernel::~Kernel() {
  // Unwind every fiber still suspended, from the scheduler's own stack.
  for (auto& [slot, p] : procs_) {
    if (p.fiber) graveyard_.push_back(std::move(p.fiber));
  }
  graveyard_.clear();
}

Rng& Kernel::rng(const char* stream) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) it = streams_.emplace(stream, root_.derive(stream)).first;
  return it->second;
}

// ---------------------------------------------------------------------------------------------
// Events and scheduling

void Kernel::at(Nanos when, int priority, std::function<void()> fn) {
  events_.push(Event{std::max(when, now_), priority, seq_++, std::move(fn)});
}

void Kernel::run_until(Nanos until) {
  while (!events_.empty() && events_.top().time <= until) {
    // priority_queue::top is const; the function is moved out through a copy of the handle.
    Event e = events_.top();
    events_.pop();
    now_ = e.time;
    e.fn();
    graveyard_.clear();
    if (after_event_) after_event_();
  }
  now_ = std::max(now_, until);
}

void Kernel::start_fiber(Slot s) {
  namespace ctx = boost::context;
  Process& p = proc(s);
  p.fiber = ctx::fiber(std::allocator_arg, ctx::fixedsize_stack(cfg_.fiber_stack_bytes),
                       [this, s](ctx::fiber&& sink) {
                         sched_ = std::move(sink);
                         Process& self = proc(s);
                         try {
                           const int code = self.main(*self.os);
                           sys_exit(code);
                         } catch (const ProcessExit&) {
                           // The process has already been terminated.
                         } catch (const std::exception& e) {
                           self.fault_what = std::string("uncaught exception: ") + e.what();
                           terminate(s, ExitStatus::killed_by(6));
                         }
                         return std::move(sched_);
                       });
  wake(s);
}

void Kernel::resume(Slot s) {
  Process* p = find_slot(s);
  if (!p || p->run == RunState::zombie || !p->fiber) return;
  if (p->stopped) {
    p->wake_on_continue = true;
    return;
  }
  trace_.add(static_cast<std::uint64_t>(now_.count()));
  trace_.add(s);
  running_ = s;
  p->fiber = std::move(p->fiber).resume();
  running_ = kNoSlot;
}

void Kernel::yield() { sched_ = std::move(sched_).resume(); }

void Kernel::wake(Slot s) {
  Process* p = find_slot(s);
  if (!p || p->wake_queued || p->run == RunState::zombie) return;
  p->wake_queued = true;
  const Nanos delay = rng("sched").between(Nanos{1000}, cfg_.wake_latency_max);
  at(now_ + delay, kPriorityWake, [this, s] {
    if (Process* q = find_slot(s)) {
      q->wake_queued = false;
      resume(s);
    }
  });
}

void Kernel::wake_all(Waiters& w) {
  std::vector<Slot> slots;
  slots.swap(w.slots);
  for (Slot s : slots) wake(s);
}

void Kernel::block_until(Slot s, Block kind, std::optional<Nanos> deadline) {
  Process& p = proc(s);
  p.block = kind;
  p.run = RunState::blocked;
  p.deadline = deadline;
  const std::uint64_t gen = ++p.block_gen;
  if (deadline) {
    at(*deadline, kPriorityDeadline, [this, s, gen] {
      Process* q = find_slot(s);
      if (q && q->run == RunState::blocked && q->block_gen == gen) resume(s);
    });
  }
  yield();
  Process& again = proc(s);
  again.calls_since_block = 0;
  again.run = RunState::runnable;
  again.block = Block::none;
  again.deadline.reset();
}

// ---------------------------------------------------------------------------------------------
// Processes

void Kernel::syscall() {
  constexpr std::uint64_t kLivelockCalls = 1'000'000;
  Process& p = current();
  if (++p.calls_since_block < kLivelockCalls) return;
  if (listener_) listener_->on_livelock(p);
  terminate(p.slot, ExitStatus::killed_by(9));
  throw ProcessExit{137};
}

Process& Kernel::current() {
  assert(running_ != kNoSlot);
  return proc(running_);
}

Process* Kernel::find_slot(Slot s) {
  auto it = procs_.find(s);
  return it == procs_.end() ? nullptr : &it->second;
}

const Process* Kernel::find_pid(Pid pid) const {
  auto it = by_pid_.find(pid);
  return it == by_pid_.end() ? nullptr : &procs_.at(it->second);
}

std::optional<Pid> Kernel::alloc_pid() {
  const Pid span = cfg_.pid_max - 1;  // pids 2..pid_max
  for (Pid i = 1; i <= span; ++i) {
    const Pid candidate = 2 + (last_pid_ - 2 + i + span) % span;
    if (!by_pid_.count(candidate)) {
      last_pid_ = candidate;
      if (!pids_used_.insert(candidate).second) {
        ++pid_reuses_;
        ZYG_MARK("kernel.pid-reuse");
      }
      return candidate;
    }
  }
  return std::nullopt;
}

Slot Kernel::new_process(os::ChildSpec spec, Process* parent, int generation) {
  const Slot s = next_slot_++;
  Process p;
  p.slot = s;
  p.pid = *alloc_pid();
  p.ppid = parent ? parent->pid : kInitPid;
  p.parent = parent ? parent->slot : kNoSlot;
  p.generation = generation;
  p.role = spec.role;
  p.version = spec.version;
  p.serial = spec.serial;
  p.title = spec.title;
  p.pdeathsig = spec.parent_death_signal;
  p.main = std::move(spec.main);
  p.started = now_;
  p.rng = root_.derive("process-" + std::to_string(s));
  if (parent) {
    for (Fd fd : spec.keep_fds) {
      auto it = parent->fds.find(fd);
      if (it == parent->fds.end()) continue;
      p.fds.emplace(fd, it->second);
      hold(it->second, +1);
    }
  }
  by_pid_[p.pid] = s;
  auto [it, inserted] = procs_.emplace(s, std::move(p));
  it->second.os = std::make_unique<SimOs>(*this, s);
  trace_.add("spawn");
  trace_.add(static_cast<std::uint64_t>(it->second.pid));
  if (listener_) listener_->on_process_started(it->second);
  start_fiber(s);
  return s;
}

Pid Kernel::spawn_root(os::ChildSpec spec, int generation) {
  Slot s = new_process(std::move(spec), nullptr, generation);
  Process& p = proc(s);
  p.is_master = true;
  return p.pid;
}

os::Result<Pid> Kernel::sys_spawn(os::ChildSpec spec) {
  Process& parent = current();
  const Slot self = parent.slot;
  if (cfg_.spawn_fail_ppm != 0 && rng("faults").chance_ppm(cfg_.spawn_fail_ppm)) {
    ZYG_MARK("fault.spawn-fail");
    const int e = rng("faults").below(2) == 0 ? os::err::again : os::err::nomem;
    trace_.add("spawn-fail");
    return os::Result<Pid>::fail(e);
  }
  if (listener_) listener_->on_fork(proc(self));
  // Fork takes time on both sides of the child's creation (page tables before, the return to
  // the parent after): a parent killed meanwhile may or may not leave a child behind.
  const Nanos cost = rng("sched").between(Nanos{10'000}, cfg_.spawn_cost_max);
  sys_sleep(cost / 2);
  if (!alloc_pid_available()) return os::Result<Pid>::fail(os::err::again);
  Slot c = new_process(std::move(spec), &proc(self), proc(self).generation);
  const Pid child = proc(c).pid;
  sys_sleep(cost - cost / 2);
  return {child, 0};
}

bool Kernel::alloc_pid_available() const {
  return static_cast<Pid>(by_pid_.size()) < cfg_.pid_max - 1;
}

void Kernel::terminate(Slot s, ExitStatus status) {
  Process& p = proc(s);
  if (p.run == RunState::zombie) return;
  std::map<Fd, File> fds;
  fds.swap(p.fds);
  for (auto& [fd, f] : fds) hold(f, -1);
  p.run = RunState::zombie;
  p.status = status;
  p.exited = now_;
  p.block = Block::none;
  trace_.add("exit");
  trace_.add(s);
  if (listener_) listener_->on_process_exited(p);
  reparent_children(p);
  notify_parent(p);
  if (s != running_) bury(s);
  if (p.is_master && listener_) listener_->on_master_died(p);
}

void Kernel::bury(Slot s) {
  Process& p = proc(s);
  if (p.fiber) graveyard_.push_back(std::move(p.fiber));
}

void Kernel::reparent_children(Process& dead) {
  // The nearest living subreaper ancestor adopts orphans; otherwise init does.
  Slot adopter = kNoSlot;
  for (Slot a = dead.parent; a != kNoSlot;) {
    Process* anc = find_slot(a);
    if (!anc) break;
    if (anc->subreaper && anc->run != RunState::zombie) {
      adopter = a;
      break;
    }
    a = anc->parent;
  }
  std::vector<Slot> children;
  for (auto& [slot, c] : procs_) {
    if (c.parent == dead.slot && slot != dead.slot) children.push_back(slot);
  }
  for (Slot cs : children) {
    Process& c = proc(cs);
    c.parent = adopter;
    c.ppid = adopter == kNoSlot ? kInitPid : proc(adopter).pid;
    if (c.run == RunState::zombie) {
      notify_parent(c);
    } else if (c.pdeathsig) {
      deliver(c, *c.pdeathsig, kNoSlot);
    }
  }
}

void Kernel::notify_parent(Process& child) {
  if (child.parent == kNoSlot) {
    // Init reaps at once, once the child's fiber has returned to the scheduler.
    const Slot s = child.slot;
    at(now_, kPriorityDeadline, [this, s] {
      Process* z = find_slot(s);
      if (!z || z->run != RunState::zombie || z->parent != kNoSlot) return;
      if (listener_) listener_->on_process_reaped(*z, *z);
      by_pid_.erase(z->pid);
      bury(s);
      procs_.erase(s);
    });
    return;
  }
  deliver(proc(child.parent), os::Signal::child, kNoSlot);
}

void Kernel::deliver(Process& target, os::Signal sig, Slot sender) {
  (void)sender;
  if (target.run == RunState::zombie) return;
  trace_.add("signal");
  trace_.add(static_cast<std::uint64_t>(sig));
  switch (sig) {
    case os::Signal::kill: terminate(target.slot, ExitStatus::killed_by(9)); return;
    case os::Signal::stop: target.stopped = true; return;
    case os::Signal::cont:
      target.stopped = false;
      if (target.wake_on_continue) {
        target.wake_on_continue = false;
        wake(target.slot);
      }
      return;
    default: break;
  }
  const std::uint32_t b = bit(sig);
  if (target.ignored & b) return;
  if (sig == os::Signal::term && target.ignores_term) return;
  if (target.caught & b) {
    if (sig == os::Signal::child && (target.pending & b)) {
      ++coalesced_chld_;
      ZYG_MARK("kernel.chld-coalesced");
    }
    target.pending |= b;
    if (target.run == RunState::blocked && target.block == Block::poll) wake(target.slot);
    return;
  }
  if (default_is_ignore(sig)) return;
  if (default_is_stop(sig)) {
    target.stopped = true;
    return;
  }
  terminate(target.slot, ExitStatus::killed_by(static_cast<int>(sig)));
}

int Kernel::sys_kill(Pid pid, os::Signal sig) {
  Process& self = current();
  const Slot me = self.slot;
  auto it = by_pid_.find(pid);
  Process* target = it == by_pid_.end() ? nullptr : &proc(it->second);
  if (listener_) listener_->on_signal(me, pid, target, sig);
  if (!target) return os::err::srch;
  deliver(*target, sig, me);
  if (proc(me).run == RunState::zombie) throw ProcessExit{0};
  return 0;
}

int Kernel::external_kill(Pid pid, os::Signal sig) {
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end()) return os::err::srch;
  deliver(proc(it->second), sig, kNoSlot);
  return 0;
}

void Kernel::signal_slot(Slot s, os::Signal sig) {
  if (Process* p = find_slot(s)) deliver(*p, sig, kNoSlot);
}

os::Result<std::optional<os::Reaped>> Kernel::sys_reap() {
  Process& self = current();
  bool any_child = false;
  for (auto it = procs_.begin(); it != procs_.end(); ++it) {
    Process& c = it->second;
    if (c.parent != self.slot || c.slot == self.slot) continue;
    any_child = true;
    if (c.run != RunState::zombie) continue;
    os::Reaped r{c.pid, c.status};
    trace_.add("reap");
    trace_.add(static_cast<std::uint64_t>(c.pid));
    if (listener_) listener_->on_process_reaped(c, self);
    by_pid_.erase(c.pid);
    bury(c.slot);
    procs_.erase(it);
    return {r, 0};
  }
  if (!any_child) return os::Result<std::optional<os::Reaped>>::fail(os::err::child);
  return {std::nullopt, 0};
}

void Kernel::sys_exit(int code) {
  terminate(running_, ExitStatus::exited(code));
  throw ProcessExit{code};
}

void Kernel::sys_crash(int signal) {
  terminate(running_, ExitStatus::killed_by(signal));
  throw ProcessExit{128 + signal};
}

int Kernel::sys_catch(std::span<const os::Signal> sigs) {
  Process& p = current();
  for (os::Signal s : sigs) {
    if (s == os::Signal::kill || s == os::Signal::stop) return os::err::inval;
  }
  for (os::Signal s : sigs) {
    p.caught |= bit(s);
    p.ignored &= ~bit(s);
  }
  return 0;
}

int Kernel::sys_ignore(os::Signal sig) {
  if (sig == os::Signal::kill || sig == os::Signal::stop) return os::err::inval;
  Process& p = current();
  p.ignored |= bit(sig);
  p.caught &= ~bit(sig);
  p.pending &= ~bit(sig);
  return 0;
}

std::vector<os::Signal> Kernel::sys_take_signals() {
  Process& p = current();
  std::vector<os::Signal> out;
  const std::uint32_t taken = p.pending & p.caught;
  p.pending &= ~taken;
  for (int n = 1; n < 32; ++n) {
    if (taken & (1u << n)) out.push_back(static_cast<os::Signal>(n));
  }
  if ((taken & bit(os::Signal::term)) && p.term_taken < Nanos{0}) {
    p.term_taken = now_;
    if (listener_) listener_->on_term_taken(p);
  }
  return out;
}

void Kernel::sys_sleep(Nanos d) {
  const Slot s = running_;
  const Nanos until = now_ + d;
  while (now_ < until) block_until(s, Block::sleep, until);
}

void Kernel::sys_hang() {
  const Slot s = running_;
  for (;;) block_until(s, Block::sleep, std::nullopt);
}

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
  }
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
      if (!mine.inbox.empty()) r |= os::ev::in;
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
    for (const os::PollFd& pfd : fds) register_waiter(p, pfd.fd);
    block_until(s, Block::poll, deadline);
  }
}

os::Result<std::pair<Fd, Fd>> Kernel::sys_socketpair(os::ChannelKind kind) {
  Process& p = current();
  auto ch = std::make_shared<Channel>();
  ch->kind = kind;
  ch->capacity = kind == os::ChannelKind::datagram ? 512 : 256;
  File a{File::Kind::channel, ch, 0, nullptr, nullptr};
  File b{File::Kind::channel, ch, 1, nullptr, nullptr};
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
  if (peer.holders == 0) return os::Result<std::size_t>::fail(os::err::pipe);
  if (peer.inbox.size() >= ch.capacity) return os::Result<std::size_t>::fail(os::err::again);
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
    if (ch->kind == os::ChannelKind::seqpacket && ch->ends[1 - end].holders == 0) return {0, 0};
    return os::Result<std::size_t>::fail(os::err::again);
  }
  Packet pk = std::move(mine.inbox.front());
  mine.inbox.pop_front();
  const std::size_t n = std::min(into.size(), pk.bytes.size());
  std::copy_n(reinterpret_cast<const std::byte*>(pk.bytes.data()), n, into.begin());
  Process& p = current();
  for (File& pf : pk.fds) {
    const Fd nfd = add_fd(p, pf);  // the in-flight hold becomes this descriptor's
    if (passed) passed->push_back(nfd);
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
  File f{File::Kind::listener, nullptr, 0, l, nullptr};
  return {add_fd(p, f), 0};
}

os::Result<Fd> Kernel::sys_accept(Fd fd) {
  File* f = file(fd);
  if (!f) return os::Result<Fd>::fail(os::err::badf);
  if (f->kind != File::Kind::listener || f->listener->shut)
    return os::Result<Fd>::fail(os::err::inval);
  Listener& l = *f->listener;
  if (l.queue.empty()) return os::Result<Fd>::fail(os::err::again);
  std::shared_ptr<Connection> c = l.queue.front();
  l.queue.pop_front();
  Process& p = current();
  c->queued = false;
  c->holders = 1;
  c->accepted_by = p.slot;
  trace_.add("accept");
  trace_.add(c->id);
  trace_.add(p.slot);
  if (listener_) listener_->on_accept(p, *c);
  return {add_fd(p, File{File::Kind::connection, nullptr, 0, nullptr, c}), 0};
}

os::Result<std::size_t> Kernel::sys_read(Fd fd, std::span<std::byte> into) {
  File* f = file(fd);
  if (!f) return os::Result<std::size_t>::fail(os::err::badf);
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

int Kernel::sys_shutdown(Fd fd) {
  File* f = file(fd);
  if (!f) return os::err::badf;
  if (f->kind == File::Kind::listener) {
    // On Linux this stops the listening socket for every process that shares it.
    f->listener->shut = true;
    release_listener(*f->listener);
  }
  return 0;
}

int Kernel::sys_close(Fd fd) {
  Process& p = current();
  auto it = p.fds.find(fd);
  if (it == p.fds.end()) return os::err::badf;
  File f = std::move(it->second);
  p.fds.erase(it);
  hold(f, -1);
  return 0;
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
