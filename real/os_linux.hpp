// The OS seam (core/os.hpp) over Linux. One LinuxOs per process: signal handlers are
// process-global and wake the waits through one pipe, so a second live instance is refused (the
// constructor throws std::logic_error). A child made by spawn() gets a fresh one.
//
// Waiting is one system call: poll() is a ppoll(2) over the caller's descriptors and the wake
// pipe, poller_wait() an epoll_pwait2(2) on an interest set that holds the pipe too.
//
// Descriptors should be closed through close(): it takes them out of every poller of this process
// first (epoll keys its registrations by open file, which a child may still hold).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>

#include "core/os.hpp"

namespace zyg::real {

// How many threads this process has (/proc/self/status "Threads:"), nullopt if unreadable.
std::optional<int> thread_count();

// The port a bound IPv4 or IPv6 socket listens on (getsockname), nullopt otherwise.
std::optional<std::uint16_t> local_port(os::Fd fd);

// Sets the title ps shows: prctl(PR_SET_NAME) with its first 15 characters and, after
// LinuxOs::init_process_title(argv), the argv area rewritten (truncated to its length).
void set_process_title(const std::string& title);

class LinuxOs final : public os::Os {
 public:
  LinuxOs();
  ~LinuxOs() override;
  LinuxOs(const LinuxOs&) = delete;
  LinuxOs& operator=(const LinuxOs&) = delete;

  // Optional, once from main(): lets set_title() rewrite argv so ps shows the whole title.
  static void init_process_title(std::span<char*> argv);

  Pid getpid() override;
  Pid getppid() override;
  Nanos now() override;

  os::Result<Pid> spawn(os::ChildSpec spec) override;
  int kill(Pid pid, os::Signal sig) override;
  os::Result<std::optional<os::Reaped>> reap() override;
  [[noreturn]] void exit(int code) override;
  void set_title(const std::string& title) override;
  int become_subreaper() override;
  os::Result<std::vector<Pid>> children() override;

  int catch_signals(std::span<const os::Signal> signals) override;
  int ignore_signal(os::Signal sig) override;
  std::vector<os::Signal> take_signals() override;

  os::Result<std::pair<os::Fd, os::Fd>> socketpair(os::ChannelKind kind) override;
  os::Result<os::Fd> listen(const os::Endpoint& where, int backlog) override;
  os::Result<os::Fd> accept(os::Fd listener) override;
  os::Result<std::size_t> read(os::Fd fd, std::span<std::byte> into) override;
  os::Result<std::size_t> write(os::Fd fd, std::span<const std::byte> from) override;
  os::Result<std::size_t> send_file(os::Fd out, os::Fd in, std::uint64_t offset,
                                    std::size_t count) override;
  os::Result<std::size_t> send_message(os::Fd fd, std::span<const std::byte> bytes,
                                       std::span<const os::Fd> pass) override;
  os::Result<std::size_t> recv_message(os::Fd fd, std::span<std::byte> into,
                                       std::vector<os::Fd>* passed) override;
  int shutdown(os::Fd fd, os::ShutdownHow how) override;
  os::Result<std::uint32_t> peer_uid(os::Fd fd) override;
  os::Result<os::SocketAddresses> socket_addresses(os::Fd fd) override;
  std::uint32_t uid() override;
  int close(os::Fd fd) override;
  os::Result<int> poll(std::span<os::PollFd> fds, std::optional<Nanos> timeout) override;

  os::Result<std::string> realpath(const std::string& path) override;
  os::Result<std::string> read_file(const std::string& path) override;
  int write_file(const std::string& path, const std::string& contents) override;

  os::Usage usage() override;
  std::uint64_t use_huge_pages() override;
  os::Result<os::Memory> memory_of(Pid pid) override;
  Nanos wall_now() override;
  os::Result<os::Fd> open_append(const std::string& path) override;

  os::Result<os::Fd> poller_create() override;
  int poller_watch(os::Fd poller, os::Fd fd, short events) override;
  int poller_forget(os::Fd poller, os::Fd fd) override;
  os::Result<int> poller_wait(os::Fd poller, std::span<os::PollFd> ready,
                              std::optional<Nanos> timeout) override;
  os::Result<os::Fd> memory_file(std::span<const std::byte> contents) override;
  os::Result<std::size_t> unread_bytes(os::Fd fd) override;
  os::Result<os::Fd> spool_file(const std::string& dir) override;
  os::Result<std::size_t> read_at(os::Fd fd, std::uint64_t offset,
                                  std::span<std::byte> into) override;
  os::Result<std::uint64_t> raise_descriptor_limit() override;
  os::Result<std::uint64_t> descriptor_limit() override;
  bool descriptor_open(os::Fd fd) override;

 private:
  struct Signals;  // what the handler recorded, and the wake pipe

  // Fork hygiene, the one place a process is forked; returns only in the parent.
  os::Result<Pid> fork_child(os::ChildSpec& spec);
  [[noreturn]] void run_child(os::ChildSpec& spec, Pid parent);
  // Removes `fd` from every poller it is registered with, before it is closed.
  void unwatch(os::Fd fd);

  std::unique_ptr<Signals> signals_;
  std::map<os::Fd, std::set<os::Fd>> watched_;  // descriptor -> the pollers it is registered with
  std::set<os::Fd> pollers_;                    // the epoll descriptors poller_create made
};

}  // namespace zyg::real
