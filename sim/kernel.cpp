#include "sim/kernel.hpp"

#include <algorithm>
#include <exception>

#include <boost/context/fixedsize_stack.hpp>

#include "core/assert.hpp"
#include "core/marks.hpp"
#include "sim/sim_os.hpp"

namespace zyg::sim {

namespace {

constexpr int kPriorityDeadline = 0;
constexpr int kPriorityWake = 1;

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
                         self.ran = true;
                         // Signals that came while its setup had them blocked take effect now,
                         // with their default actions (no handler is set yet).
                         for (int sig = 1; sig < 32 && self.pending != 0; ++sig) {
                           const auto g = static_cast<os::Signal>(sig);
                           if (!(self.pending & bit(g)) || default_is_ignore(g)) continue;
                           if (default_is_stop(g)) continue;
                           ZYG_MARK("kernel.signal-at-first-run");
                           terminate(s, ExitStatus::killed_by(sig));
                           return std::move(sched_);
                         }
                         self.pending = 0;
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
  if (listener_) listener_->on_run_changed(p);
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
  if (listener_) listener_->on_run_changed(again);
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
  ZYG_ASSERT(running_ != kNoSlot, "a system call with no process running");
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
  if (parent && spec.inherit_fds) {
    for (const auto& [fd, file] : parent->fds) {
      if (std::find(spec.close_fds.begin(), spec.close_fds.end(), fd) != spec.close_fds.end()) {
        continue;
      }
      p.fds.emplace(fd, file);
      hold(file, +1);
    }
  } else if (parent) {
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
    case os::Signal::stop:
      target.stopped = true;
      if (listener_) listener_->on_run_changed(target);
      return;
    case os::Signal::cont:
      target.stopped = false;
      if (listener_) listener_->on_run_changed(target);
      if (target.wake_on_continue) {
        target.wake_on_continue = false;
        wake(target.slot);
      }
      return;
    default: break;
  }
  const std::uint32_t b = bit(sig);
  if (!target.ran) {
    target.pending |= b;
    return;
  }
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

std::vector<Pid> Kernel::sys_children() {
  const Process& self = current();
  std::vector<Pid> pids;
  for (const auto& [slot, c] : procs_) {
    if (c.parent == self.slot && c.slot != self.slot) pids.push_back(c.pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
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
  if (listener_) listener_->on_catch(p);
  if (p.stopped) {
    // Stopped during its own call (by the fault injector): as on Linux, it runs no further
    // until continued.
    const Slot self = p.slot;
    p.wake_on_continue = true;
    p.run = RunState::blocked;
    if (listener_) listener_->on_run_changed(p);
    yield();
    Process& again = proc(self);
    again.run = RunState::runnable;
    if (listener_) listener_->on_run_changed(again);
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

}  // namespace zyg::sim
