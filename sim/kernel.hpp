// The simulated kernel: processes are Boost.Context fibers, time is virtual, and every scheduling
// decision is drawn from one seeded PRNG. It implements what the OS seam needs with Linux
// semantics: spawn with an fd allowlist and a parent-death signal, signals that can be caught,
// ignored, or not (SIGKILL, SIGSTOP), zombies and waitpid, subreapers and reparenting, a small pid
// space that is reused, socketpairs, one shared listening socket with a bounded accept queue, and
// TCP connections that carry bytes.
#pragma once

#include <boost/context/fiber.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "core/os.hpp"
#include "sim/rng.hpp"

namespace zyg::sim {

using os::Fd;
using Slot = std::uint32_t;  // a process incarnation: never reused, unlike its pid
using ConnId = std::uint64_t;
inline constexpr Slot kNoSlot = 0;
inline constexpr Pid kInitPid = 1;

struct Waiters {
  std::vector<Slot> slots;
};

struct File;

struct Packet {
  std::string bytes;
  std::vector<File> fds;  // descriptors in flight (SCM_RIGHTS)
};

struct ChannelEnd {
  std::deque<Packet> inbox;
  int holders = 0;
  bool shut_read = false;  // shutdown(SHUT_RD): for every holder of this end
  Waiters waiters;
};

struct Channel {
  os::ChannelKind kind = os::ChannelKind::seqpacket;
  std::size_t capacity = 256;  // messages queued per end before senders see EAGAIN
  ChannelEnd ends[2];
};

// A TCP connection. The server side is held through descriptors; the client side belongs to the
// client population, which the kernel notifies through callbacks.
struct Connection {
  ConnId id = 0;
  std::string to_server;       // bytes sent by the client, not yet read
  std::uint64_t sent = 0;      // bytes the client has sent in all
  std::uint64_t consumed = 0;  // bytes the server has read in all
  std::string to_client;       // bytes written by the server, not yet delivered
  bool client_fin = false;
  bool server_fin = false;
  bool reset = false;
  Nanos reset_at{-1};
  bool queued = true;  // in the accept queue, not yet accepted
  int holders = 0;
  Slot last_reader = kNoSlot;  // the process that read from it last, or received it since
  Slot accepted_by = kNoSlot;
  Nanos accepted_at{-1};
  bool fault_hit = false;  // an injected fault (a failed hand-off) lost it: explainable
  Waiters waiters;
};

struct Listener {
  std::deque<std::shared_ptr<Connection>> queue;
  std::size_t backlog = 128;
  int holders = 0;
  bool shut = false;  // shutdown(2) on a listening socket stops it for every holder
  Waiters waiters;
};

// An interest set (epoll): descriptor numbers of the process that made it, and their events.
struct Poller {
  std::map<Fd, short> interest;
};

// A memory file (memfd): bytes read from a shared offset.
struct MemoryFile {
  std::string bytes;
  std::size_t offset = 0;
};

struct File {
  enum class Kind : std::uint8_t {
    channel,
    listener,
    connection,
    poller,
    memory
  } kind = Kind::channel;
  std::shared_ptr<Channel> channel;
  int end = 0;
  std::shared_ptr<Listener> listener;
  std::shared_ptr<Connection> conn;
  std::shared_ptr<Poller> poller;
  std::shared_ptr<MemoryFile> memory;
};

enum class RunState : std::uint8_t { runnable, blocked, zombie };
enum class Block : std::uint8_t { none, poll, sleep };

struct Process {
  Slot slot = kNoSlot;
  Pid pid = 0;
  Pid ppid = 0;
  Slot parent = kNoSlot;  // current parent's incarnation (after reparenting too)
  int generation = 0;     // which master incarnation's tree it belongs to
  Role role = Role::worker;
  bool is_master = false;
  Version version;
  std::uint64_t serial = 0;
  std::string title;
  RunState run = RunState::runnable;
  bool stopped = false;
  // Not yet run: as over real fork, where a child keeps every signal blocked until its setup is
  // done, signals other than SIGKILL, SIGSTOP and SIGCONT wait for its first run (Kernel::deliver).
  bool ran = false;
  bool wake_queued = false;
  bool wake_on_continue = false;
  std::map<Fd, File> fds;
  std::uint32_t caught = 0;
  std::uint32_t ignored = 0;
  std::uint32_t pending = 0;
  std::optional<os::Signal> pdeathsig;
  bool subreaper = false;
  ExitStatus status;
  Nanos started{0};
  Nanos exited{0};
  Nanos term_taken{-1};  // when the process first took a SIGTERM (a worker: began to drain)
  Block block = Block::none;
  bool awaits_client = false;  // blocked in poll for room on a client connection: writing to it
  std::uint64_t block_gen = 0;
  std::optional<Nanos> deadline;
  boost::context::fiber fiber;
  std::function<int(os::Os&)> main;
  std::unique_ptr<os::Os> os;
  bool faulted = false;  // a recorded fault hit it: losses it causes are explainable
  std::string fault_what;
  bool ignores_term = false;  // fault: the process ignores SIGTERM
  std::uint64_t rss_bytes = 0;
  std::uint64_t calls_since_block = 0;
  Rng rng{0};
};

// Thrown inside a fiber to unwind a process that exits; caught at the fiber's entry.
struct ProcessExit {
  int code = 0;
};

// What the kernel tells the outside world (the client population, the checker, the timeline).
class KernelListener {
 public:
  virtual ~KernelListener() = default;
  virtual void on_client_data(ConnId) {}
  virtual void on_client_closed(ConnId, bool /*reset*/) {}
  virtual void on_process_started(const Process&) {}
  virtual void on_process_exited(const Process&) {}
  virtual void on_process_reaped(const Process&, const Process& /*reaper*/) {}
  virtual void on_signal(Slot /*sender*/, Pid /*target*/, const Process* /*target*/, os::Signal) {}
  virtual void on_accept(const Process&, const Connection&) {}
  // A process received a connection's descriptor in a message (a hand-off, or one given back).
  virtual void on_connection_received(const Process&, const Connection&) {}
  virtual void on_term_taken(const Process&) {}
  virtual void on_master_died(const Process&) {}
  // A process set signals it catches (its handlers are in place from then on).
  virtual void on_catch(const Process&) {}
  // A process begins a fork (spawn): a fault injector may strike it mid-fork.
  virtual void on_fork(const Process& /*parent*/) {}
  // A process made too many system calls without ever blocking: it spins without time passing.
  virtual void on_livelock(const Process&) {}
  // A process blocked, woke, was stopped or continued: whether it can take work has changed.
  virtual void on_run_changed(const Process&) {}
  // The kernel injected a fault into a system call of this process (a failed accept or hand-off).
  virtual void on_injected_fault(const Process&, const std::string& /*what*/) {}
};

class Kernel {
 public:
  struct Config {
    std::uint64_t seed = 1;
    Pid pid_max = 64;                  // pids 2..pid_max; small so that they are reused
    Nanos wake_latency_max = 20us;     // scheduling jitter on every wake-up
    Nanos net_latency_max = 50us;      // client <-> server delivery
    Nanos spawn_cost_max = 200us;      // fork is not free
    std::uint32_t spawn_fail_ppm = 0;  // fault: fork fails with EAGAIN or ENOMEM
    std::size_t fiber_stack_bytes = 256 * 1024;
    // Faults of the data path, in the front's and workers' system calls:
    std::uint32_t accept_fail_ppm = 0;   // the front's accept fails with EMFILE
    std::uint32_t handoff_fail_ppm = 0;  // a hand-off is lost: the front's send fails with
                                         // ENOBUFS, or a worker's receive drops the descriptor
  };

  explicit Kernel(Config config);
  ~Kernel();
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  // --- Running the world.
  Nanos now() const { return now_; }
  // Schedules `fn` at `at`; lower priority first among equal times, then insertion order.
  void at(Nanos at, int priority, std::function<void()> fn);
  // Runs events until the queue is empty or the next event is past `until`.
  void run_until(Nanos until);
  bool idle() const { return events_.empty(); }
  void set_listener(KernelListener* l) { listener_ = l; }
  void set_after_event(std::function<void()> fn) { after_event_ = std::move(fn); }
  TraceHash& trace() { return trace_; }
  // How often the kernel reused a pid, and how often a SIGCHLD met one already pending.
  std::uint64_t pid_reuses() const { return pid_reuses_; }
  std::uint64_t coalesced_child_signals() const { return coalesced_chld_; }
  Rng& rng(const char* stream);

  // Starts a process whose parent is init (the service manager): the master.
  Pid spawn_root(os::ChildSpec spec, int generation);

  // --- Syscalls, on behalf of the running process.
  Process& current();
  // Counts one system call; a process that never blocks is killed as livelocked.
  void syscall();
  bool in_process() const { return running_ != kNoSlot; }
  os::Result<Pid> sys_spawn(os::ChildSpec spec);
  int sys_kill(Pid pid, os::Signal sig);
  os::Result<std::optional<os::Reaped>> sys_reap();
  std::vector<Pid> sys_children();  // the running process's unreaped children, by pid

  [[noreturn]] void sys_exit(int code);
  [[noreturn]] void sys_crash(int signal);  // the app died of a signal (SIGSEGV, SIGABRT)
  int sys_catch(std::span<const os::Signal> sigs);
  int sys_ignore(os::Signal sig);
  std::vector<os::Signal> sys_take_signals();
  os::Result<std::pair<Fd, Fd>> sys_socketpair(os::ChannelKind kind);
  os::Result<Fd> sys_listen(int backlog);
  os::Result<Fd> sys_accept(Fd fd);
  os::Result<std::size_t> sys_read(Fd fd, std::span<std::byte> into);
  os::Result<std::size_t> sys_write(Fd fd, std::span<const std::byte> from);
  // sendfile(2) from a memory file (the only files the simulated kernel has) onto a connection.
  os::Result<std::size_t> sys_send_file(Fd out, Fd in, std::uint64_t offset, std::size_t count);
  os::Result<std::size_t> sys_send(Fd fd, std::span<const std::byte> bytes,
                                   std::span<const Fd> pass);
  os::Result<std::size_t> sys_recv(Fd fd, std::span<std::byte> into, std::vector<Fd>* passed);
  int sys_shutdown(Fd fd);
  int sys_close(Fd fd);
  os::Result<int> sys_poll(std::span<os::PollFd> fds, std::optional<Nanos> timeout);
  os::Result<Fd> sys_poller_create();
  int sys_poller_watch(Fd poller, Fd fd, short events);
  int sys_poller_forget(Fd poller, Fd fd);
  os::Result<int> sys_poller_wait(Fd poller, std::span<os::PollFd> ready,
                                  std::optional<Nanos> timeout);
  os::Result<Fd> sys_memory_file(std::span<const std::byte> contents);
  // A spool file is a memory file written to (write() appends to a memory file); `dir` must name
  // a directory, as on Linux: any non-empty path does here.
  os::Result<Fd> sys_spool_file(const std::string& dir);
  os::Result<std::size_t> sys_read_at(Fd fd, std::uint64_t offset, std::span<std::byte> into);
  os::Result<std::size_t> sys_unread_bytes(Fd fd);
  void sys_sleep(Nanos d);  // the app's own time (loading, serving)
  void sys_hang();          // blocks until killed

  // --- The outside world: operators, faults and clients.
  int external_kill(Pid pid, os::Signal sig);  // kill(1) from a shell
  // A signal to one incarnation (the fault injector's pause/resume: never a reused pid).
  void signal_slot(Slot s, os::Signal sig);
  void set_spawn_fail_ppm(std::uint32_t ppm) { cfg_.spawn_fail_ppm = ppm; }
  void set_data_path_fail_ppm(std::uint32_t accept, std::uint32_t handoff) {
    cfg_.accept_fail_ppm = accept;
    cfg_.handoff_fail_ppm = handoff;
  }
  const Process* find_pid(Pid pid) const;
  Process* find_slot(Slot s);
  const std::map<Slot, Process>& processes() const { return procs_; }
  std::shared_ptr<Listener> listener() const { return listener_obj_.lock(); }
  // A client connects: nullopt when refused (nobody listening) or the queue is full.
  enum class ConnectResult : std::uint8_t { ok, refused, overflow };
  ConnectResult client_connect(ConnId id);
  void client_send(ConnId id, std::string_view bytes);
  void client_close(ConnId id);  // FIN
  void client_reset(ConnId id);  // RST
  Connection* connection(ConnId id);
  std::string take_client_bytes(ConnId id);
  std::map<std::string, std::string>& files() { return symlinks_; }  // path -> target

 private:
  // The data path's injected faults: the connection a failing hand-off loses, if it strikes.
  Connection* handoff_fault(std::span<const Fd> pass, const char* what);
  bool drop_passed_connection(Packet& pk);

  struct Event {
    Nanos time;
    int priority;
    std::uint64_t seq;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      if (a.time != b.time) return a.time > b.time;
      if (a.priority != b.priority) return a.priority > b.priority;
      return a.seq > b.seq;
    }
  };

  Process& proc(Slot s) { return procs_.at(s); }
  Slot new_process(os::ChildSpec spec, Process* parent, int generation);
  std::optional<Pid> alloc_pid();
  bool alloc_pid_available() const;
  void start_fiber(Slot s);
  void resume(Slot s);
  void yield();
  void wake(Slot s);
  void wake_all(Waiters& w);
  void block_until(Slot s, Block kind, std::optional<Nanos> deadline);
  void terminate(Slot s, ExitStatus status);
  void reparent_children(Process& dead);
  void notify_parent(Process& child);
  void deliver(Process& target, os::Signal sig, Slot sender);
  void bury(Slot s);
  Fd add_fd(Process& p, File f);
  File* file(Fd fd);
  void hold(const File& f, int delta);
  void release_channel_end(Channel& c, int end);
  void release_listener(Listener& l);
  void release_connection(Connection& c);
  void deliver_to_client(Connection& c);
  short readiness(Process& p, os::PollFd& pfd);
  void register_waiter(Process& p, Fd fd);

  Config cfg_;
  Nanos now_{0};
  std::uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> events_;
  std::map<Slot, Process> procs_;
  std::map<Pid, Slot> by_pid_;
  Slot next_slot_ = 1;
  Pid last_pid_ = 1;
  Slot running_ = kNoSlot;
  boost::context::fiber sched_;
  std::vector<boost::context::fiber> graveyard_;
  std::map<std::string, Rng> streams_;
  Rng root_;
  TraceHash trace_;
  KernelListener* listener_ = nullptr;
  std::function<void()> after_event_;
  std::weak_ptr<Listener> listener_obj_;
  std::map<ConnId, std::shared_ptr<Connection>> conns_;
  std::map<std::string, std::string> symlinks_;
  std::set<Pid> pids_used_;
  std::uint64_t pid_reuses_ = 0;
  std::uint64_t coalesced_chld_ = 0;
};

}  // namespace zyg::sim
