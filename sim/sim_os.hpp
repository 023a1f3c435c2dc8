// The OS seam over the simulated kernel: one instance per simulated process. Every call acts on
// behalf of that process, which must be the one running.
#pragma once

#include "core/assert.hpp"
#include "core/os.hpp"
#include "sim/kernel.hpp"

namespace zyg::sim {

class SimOs final : public os::Os {
 public:
  SimOs(Kernel& kernel, Slot slot) : k_(kernel), slot_(slot) {}

  Pid getpid() override { return me().pid; }
  Pid getppid() override { return me().ppid; }
  Nanos now() override {
    k_.syscall();
    return k_.now();
  }
  os::Result<Pid> spawn(os::ChildSpec spec) override {
    k_.syscall();
    return k_.sys_spawn(std::move(spec));
  }
  int kill(Pid pid, os::Signal sig) override {
    k_.syscall();
    return k_.sys_kill(pid, sig);
  }
  os::Result<std::optional<os::Reaped>> reap() override {
    k_.syscall();
    return k_.sys_reap();
  }
  [[noreturn]] void exit(int code) override { k_.sys_exit(code); }
  void set_title(const std::string& title) override { me().title = title; }
  int become_subreaper() override {
    me().subreaper = true;
    return 0;
  }
  os::Result<std::vector<Pid>> children() override { return {k_.sys_children(), 0}; }
  int catch_signals(std::span<const os::Signal> s) override {
    k_.syscall();
    return k_.sys_catch(s);
  }
  int ignore_signal(os::Signal s) override {
    k_.syscall();
    return k_.sys_ignore(s);
  }
  std::vector<os::Signal> take_signals() override {
    k_.syscall();
    return k_.sys_take_signals();
  }
  os::Result<std::pair<os::Fd, os::Fd>> socketpair(os::ChannelKind kind) override {
    k_.syscall();
    return k_.sys_socketpair(kind);
  }
  os::Result<os::Fd> listen(const os::Endpoint&, int backlog) override {
    k_.syscall();
    return k_.sys_listen(backlog);
  }
  os::Result<os::Fd> accept(os::Fd fd) override {
    k_.syscall();
    return k_.sys_accept(fd);
  }
  os::Result<std::size_t> read(os::Fd fd, std::span<std::byte> into) override {
    k_.syscall();
    return k_.sys_read(fd, into);
  }
  os::Result<std::size_t> write(os::Fd fd, std::span<const std::byte> from) override {
    k_.syscall();
    return k_.sys_write(fd, from);
  }
  os::Result<std::size_t> send_file(os::Fd out, os::Fd in, std::uint64_t offset,
                                    std::size_t count) override {
    k_.syscall();
    return k_.sys_send_file(out, in, offset, count);
  }
  os::Result<std::size_t> send_message(os::Fd fd, std::span<const std::byte> bytes,
                                       std::span<const os::Fd> pass) override {
    k_.syscall();
    return k_.sys_send(fd, bytes, pass);
  }
  os::Result<std::size_t> recv_message(os::Fd fd, std::span<std::byte> into,
                                       std::vector<os::Fd>* passed) override {
    k_.syscall();
    return k_.sys_recv(fd, into, passed);
  }
  // The simulated kernel has no unix sockets and one user.
  os::Result<std::uint32_t> peer_uid(os::Fd) override {
    return os::Result<std::uint32_t>::fail(os::err::inval);
  }
  std::uint32_t uid() override { return 1000; }
  // Every simulated client is one loopback peer of the one listener.
  os::Result<os::SocketAddresses> socket_addresses(os::Fd) override {
    k_.syscall();
    return {os::SocketAddresses{"127.0.0.1", 40000, "127.0.0.1", 8000}, 0};
  }
  int shutdown(os::Fd fd, os::ShutdownHow) override {
    k_.syscall();
    return k_.sys_shutdown(fd);
  }
  int close(os::Fd fd) override {
    k_.syscall();
    return k_.sys_close(fd);
  }
  os::Result<int> poll(std::span<os::PollFd> fds, std::optional<Nanos> timeout) override {
    k_.syscall();
    return k_.sys_poll(fds, timeout);
  }
  os::Result<std::string> realpath(const std::string& path) override {
    auto& links = k_.files();
    auto it = links.find(path);
    if (it == links.end()) return os::Result<std::string>::fail(2);  // ENOENT
    return {it->second, 0};
  }
  os::Result<std::string> read_file(const std::string& path) override {
    return realpath(path);  // the simulated filesystem holds small named strings
  }
  int write_file(const std::string& path, const std::string& contents) override {
    k_.files()[path] = contents;
    return 0;
  }
  os::Usage usage() override { return {me().rss_bytes, Nanos{0}}; }
  // Virtual time from 2026-01-01T00:00:00Z; there are no log files here.
  Nanos wall_now() override { return k_.now() + std::chrono::seconds(1767225600); }
  os::Result<os::Fd> open_append(const std::string&) override {
    return os::Result<os::Fd>::fail(38);  // ENOSYS
  }
  // Memory is a number here, and no page is shared.
  os::Result<os::Memory> memory_of(Pid pid) override {
    const Process* p = k_.find_pid(pid);
    if (p == nullptr) return os::Result<os::Memory>::fail(3);  // ESRCH
    return {{p->rss_bytes, p->rss_bytes, p->rss_bytes}, 0};
  }
  std::uint64_t use_huge_pages() override { return 0; }  // memory is a number here

  os::Result<os::Fd> poller_create() override {
    k_.syscall();
    return k_.sys_poller_create();
  }
  int poller_watch(os::Fd poller, os::Fd fd, short events) override {
    k_.syscall();
    return k_.sys_poller_watch(poller, fd, events);
  }
  int poller_forget(os::Fd poller, os::Fd fd) override {
    k_.syscall();
    return k_.sys_poller_forget(poller, fd);
  }
  os::Result<int> poller_wait(os::Fd poller, std::span<os::PollFd> ready,
                              std::optional<Nanos> timeout) override {
    k_.syscall();
    return k_.sys_poller_wait(poller, ready, timeout);
  }
  os::Result<os::Fd> spool_file(const std::string& dir) override {
    k_.syscall();
    return k_.sys_spool_file(dir);
  }
  os::Result<std::size_t> read_at(os::Fd fd, std::uint64_t offset,
                                  std::span<std::byte> into) override {
    k_.syscall();
    return k_.sys_read_at(fd, offset, into);
  }
  os::Result<os::Fd> memory_file(std::span<const std::byte> contents) override {
    k_.syscall();
    return k_.sys_memory_file(contents);
  }
  os::Result<std::size_t> unread_bytes(os::Fd fd) override {
    k_.syscall();
    return k_.sys_unread_bytes(fd);
  }
  // Descriptors are not a scarce resource in the simulated kernel.
  os::Result<std::uint64_t> raise_descriptor_limit() override { return {1u << 20, 0}; }
  // The simulated kernel has no descriptor limit; running out is a fault (a hand-off's
  // descriptor dropped on receipt, as MSG_CTRUNC).
  os::Result<std::uint64_t> descriptor_limit() override { return {1u << 20, 0}; }
  bool descriptor_open(os::Fd fd) override {
    k_.syscall();
    return me().fds.count(fd) != 0;
  }

 private:
  Process& me() {
    k_.syscall();
    Process& p = k_.current();
    ZYG_ASSERT(p.slot == slot_, "an Os is used only by its own process: slot ", slot_,
               " used by slot ", p.slot);
    return p;
  }

  Kernel& k_;
  Slot slot_;
};

}  // namespace zyg::sim
