// The OS seam: every operation the master, zygote and worker loops need from the operating system,
// one method per system call, returning a value or an errno. real/ implements it over Linux;
// sim/ implements it over a simulated kernel with virtual time. The loops see no difference.
//
// Conventions, the same in both layers:
// - Every descriptor is non-blocking and close-on-exec; loops call poll() before reading.
// - A child starts as spawn(spec) -> pid and runs spec.main in a fresh process; it never returns
//   into its parent's code ("fork returns twice" is not part of this interface).
// - Signal handlers only record the signal; take_signals() hands them to the loop, coalesced as
//   the kernel coalesces pending signals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/process_view.hpp"
#include "core/types.hpp"

namespace zyg::os {

using Fd = int;

// Signal numbers as Linux defines them, so logs and tests read naturally. The real layer checks
// these against <signal.h> at compile time.
enum class Signal : int {
  hup = 1,
  interrupt = 2,
  quit = 3,
  kill = 9,
  usr1 = 10,
  usr2 = 12,
  term = 15,
  child = 17,
  cont = 18,
  stop = 19,
  ttin = 21,
  ttou = 22,
};

const char* to_string(Signal s);

// errno values the loops act on (Linux numbering; checked by the real layer).
namespace err {
inline constexpr int srch = 3;
inline constexpr int intr = 4;
inline constexpr int badf = 9;
inline constexpr int child = 10;
inline constexpr int again = 11;
inline constexpr int nomem = 12;
inline constexpr int inval = 22;
inline constexpr int mfile = 24;
inline constexpr int nospc = 28;
inline constexpr int pipe = 32;
inline constexpr int msgsize = 90;
inline constexpr int addrinuse = 98;
inline constexpr int nobufs = 105;
inline constexpr int connreset = 104;
inline constexpr int notconn = 107;
}  // namespace err

// A value or an errno. [[nodiscard]], like every errno-returning method below: a caller handles
// the error or says why it need not (docs/ARCHITECTURE.md, "Errors").
template <class T>
struct [[nodiscard]] Result {
  T value{};
  int error = 0;
  bool ok() const { return error == 0; }
  static Result fail(int e) { return Result{T{}, e}; }
};

class Os;

// What a child process is: its title, the descriptors it keeps, and the function it runs.
// Who a child runs as (--user, --group): set once in the child, before anything else runs there,
// with no way back.
struct Credentials {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<std::uint32_t> groups;  // supplementary groups (the user's, from the group database)
};

struct ChildSpec {
  std::string title;         // shown by ps, e.g. "zygote-real: worker [releases/B]"
  Role role = Role::worker;  // for accounting in logs and in the simulator's checks
  Version version;
  std::uint64_t serial = 0;  // the master's WorkerId or ZygoteId for this process
  std::vector<Fd> keep_fds;  // allowlist: every other descriptor is closed in the child
  std::optional<Signal> parent_death_signal;  // delivered when the parent dies (PR_SET_PDEATHSIG)
  std::function<int(Os&)> main;               // the child's whole life; its result is the exit code
  // Instead of the allowlist: the child keeps every descriptor but close_fds (a worker keeps what
  // its app opened while loading).
  bool inherit_fds = false;
  std::vector<Fd> close_fds;
  std::optional<Credentials> run_as;  // the child drops to these before its main runs
};

// The two ends of a connected socket, numeric (an empty host for a unix socket).
struct SocketAddresses {
  std::string peer_host;
  std::uint16_t peer_port = 0;
  std::string local_host;
  std::uint16_t local_port = 0;
};

struct Reaped {
  Pid pid = 0;
  ExitStatus status;
};

enum class ChannelKind : std::uint8_t {
  seqpacket,  // reliable, ordered messages; the peer sees end-of-file when every holder closes
  datagram,   // messages from any holder of one end to the other end
};

// Where the master listens. `unix_path` set means a unix stream socket at that path.
struct Endpoint {
  std::string host = "127.0.0.1";  // an IPv4 or IPv6 literal
  std::uint16_t port = 8000;
  std::string unix_path;
  std::uint32_t unix_mode = 0666;  // the socket file's mode (the umask still applies)
  std::optional<std::pair<std::uint32_t, std::uint32_t>> unix_owner = std::nullopt;  // uid, gid
};

enum class ShutdownHow : std::uint8_t { read, write, both };

// poll(2) events.
namespace ev {
inline constexpr short in = 0x001;
inline constexpr short out = 0x004;
inline constexpr short error = 0x008;
inline constexpr short hangup = 0x010;
}  // namespace ev

struct PollFd {
  Fd fd = -1;
  short events = 0;
  short revents = 0;
};

// What a process knows about its own resource use (for worker integrity limits).
struct Usage {
  std::uint64_t rss_bytes = 0;
  Nanos cpu{0};
};

// Another process's memory (the status page): resident, proportional and unique set sizes.
struct Memory {
  std::uint64_t rss_bytes = 0;
  std::uint64_t pss_bytes = 0;  // shared pages divided among the processes that share them
  std::uint64_t uss_bytes = 0;  // pages no other process shares: what its exit would free
};

class Os {
 public:
  virtual ~Os() = default;

  // Identity and time.
  virtual Pid getpid() = 0;
  virtual Pid getppid() = 0;
  virtual Nanos now() = 0;       // monotonic
  virtual Nanos wall_now() = 0;  // since the Unix epoch: for log lines only, never a decision

  // Processes.
  virtual Result<Pid> spawn(ChildSpec spec) = 0;
  [[nodiscard]] virtual int kill(Pid pid, Signal sig) = 0;  // 0 or errno
  virtual Result<std::optional<Reaped>> reap() = 0;  // waitpid(-1, WNOHANG); ECHILD when no child
  [[noreturn]] virtual void exit(int code) = 0;      // _exit: no destructors, no atexit
  virtual void set_title(const std::string& title) = 0;
  [[nodiscard]] virtual int become_subreaper() = 0;  // orphaned descendants are reparented here
  // This process's children that are not reaped yet (zombies included), in ascending pid order.
  virtual Result<std::vector<Pid>> children() = 0;

  // Signals.
  [[nodiscard]] virtual int catch_signals(std::span<const Signal> signals) = 0;
  [[nodiscard]] virtual int ignore_signal(Signal sig) = 0;
  virtual std::vector<Signal> take_signals() = 0;  // each pending signal once, by number

  // Descriptors.
  virtual Result<std::pair<Fd, Fd>> socketpair(ChannelKind kind) = 0;
  virtual Result<Fd> listen(const Endpoint& where, int backlog) = 0;
  virtual Result<Fd> accept(Fd listener) = 0;  // EAGAIN when nothing is queued
  virtual Result<std::size_t> read(Fd fd, std::span<std::byte> into) = 0;  // 0: end of file
  virtual Result<std::size_t> write(Fd fd, std::span<const std::byte> from) = 0;
  // Up to `count` bytes of the file `in` from `offset` onto `out`, without passing through this
  // process (sendfile(2)); `in`'s own position is left alone. 0: the file ends at `offset`.
  // Errors as write() (EAGAIN when `out` is full).
  virtual Result<std::size_t> send_file(Fd out, Fd in, std::uint64_t offset, std::size_t count) = 0;
  // One message, with descriptors passed along (SCM_RIGHTS). EMSGSIZE if it cannot fit.
  virtual Result<std::size_t> send_message(Fd fd, std::span<const std::byte> bytes,
                                           std::span<const Fd> pass) = 0;
  // A descriptor passed arrives close-on-exec, its flags otherwise as the sender's: O_NONBLOCK
  // belongs to the open file, which every copy shares (a connection accepted non-blocking stays
  // so, and no call is spent checking it at each hand-off).
  virtual Result<std::size_t> recv_message(Fd fd, std::span<std::byte> into,
                                           std::vector<Fd>* passed) = 0;
  [[nodiscard]] virtual int shutdown(Fd fd, ShutdownHow how) = 0;
  // The user id of the process at the other end of a connected unix socket (SO_PEERCRED).
  virtual Result<std::uint32_t> peer_uid(Fd fd) = 0;
  virtual std::uint32_t uid() = 0;  // this process's real user id
  // Who is at the other end of a connection, and which of our addresses it reached.
  virtual Result<SocketAddresses> socket_addresses(Fd fd) = 0;
  [[nodiscard]] virtual int close(Fd fd) = 0;
  // Waits until a descriptor is ready, a caught signal arrives (EINTR) or the timeout passes
  // (nullopt: no timeout). Returns how many descriptors are ready.
  virtual Result<int> poll(std::span<PollFd> fds, std::optional<Nanos> timeout) = 0;

  // Files: the canonical path `path` resolves to, following symlinks (the app's release
  // directory names the version).
  virtual Result<std::string> realpath(const std::string& path) = 0;
  // A small state file (the last version that served), read whole / replaced atomically.
  virtual Result<std::string> read_file(const std::string& path) = 0;
  [[nodiscard]] virtual int write_file(const std::string& path, const std::string& contents) = 0;
  // A log file, opened to append (created mode 0640 if missing): each write() of a line lands
  // whole at its end, whichever process writes.
  virtual Result<Fd> open_append(const std::string& path) = 0;

  // Self-inspection.
  virtual Usage usage() = 0;
  // A process's memory (/proc/PID/smaps_rollup); ESRCH when it is gone, EACCES when not ours.
  virtual Result<Memory> memory_of(Pid pid) = 0;

  // Memory: asks the kernel to back this process's anonymous memory with transparent huge pages
  // where it can (now, not eventually). Returns the bytes so backed afterwards; 0 where the
  // kernel has no huge pages to give.
  virtual std::uint64_t use_huge_pages() = 0;

  // Interest sets (epoll(7)), for a process that waits on thousands of descriptors: each is
  // registered once and then waited on together, level-triggered. Closing a descriptor removes
  // it from every poller of this process (the real layer deregisters it first: epoll keys its
  // registrations by open file, which a descriptor passed to another process keeps open).
  virtual Result<Fd> poller_create() = 0;
  // Adds `fd` or changes its events (ev::in, ev::out; errors and hangups are always reported).
  [[nodiscard]] virtual int poller_watch(Fd poller, Fd fd, short events) = 0;
  [[nodiscard]] virtual int poller_forget(Fd poller, Fd fd) = 0;
  // Waits like poll() and fills `ready` (at most its size) with the descriptors that are ready
  // and their revents; returns how many. EINTR while a caught signal is pending and untaken.
  virtual Result<int> poller_wait(Fd poller, std::span<PollFd> ready,
                                  std::optional<Nanos> timeout) = 0;

  // A read-only file that holds `contents`, read from its start (memfd): how more bytes than a
  // message can carry travel with a descriptor.
  virtual Result<Fd> memory_file(std::span<const std::byte> contents) = 0;

  // An unlinked file to write a request body too large to hold in memory into (O_TMPFILE in
  // `dir`): read-write, and gone with its last descriptor.
  virtual Result<Fd> spool_file(const std::string& dir) = 0;
  // Up to into.size() bytes of the file `fd` from `offset` (pread(2)): its position is left
  // alone. 0: the file ends at `offset`.
  virtual Result<std::size_t> read_at(Fd fd, std::uint64_t offset, std::span<std::byte> into) = 0;

  // Bytes this socket has sent that its peer has not read yet (SIOCOUTQ): a sender can tell
  // when every message it sent has been taken.
  virtual Result<std::size_t> unread_bytes(Fd fd) = 0;

  // Raises this process's descriptor limit to its hard limit; returns the new limit.
  virtual Result<std::uint64_t> raise_descriptor_limit() = 0;
  // This process's descriptor limit as it stands (the soft RLIMIT_NOFILE): descriptors are
  // numbered below it.
  virtual Result<std::uint64_t> descriptor_limit() = 0;
  // Whether descriptor `fd` is open in this process (fcntl(F_GETFD); nothing is allocated).
  virtual bool descriptor_open(Fd fd) = 0;
};

// close(2) releases the descriptor whatever it returns (Linux), and on a socket or a pipe an error
// leaves nothing to do: the close that needs no answer.
inline void close_quietly(Os& os, Fd fd) { static_cast<void>(os.close(fd)); }

// Writes `out` to a non-blocking descriptor until it is empty or the descriptor is full; what was
// written leaves `out`. False on an error other than EAGAIN or EINTR (the peer is gone).
inline bool write_some(Os& os, Fd fd, std::string& out) {
  while (!out.empty()) {
    auto r = os.write(fd, std::as_bytes(std::span(out)));
    if (r.error == err::again || r.error == err::intr) return true;
    if (!r.ok()) return false;
    out.erase(0, r.value);
  }
  return true;
}

}  // namespace zyg::os
