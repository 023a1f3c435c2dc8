// The zygote: loads the app once, then forks workers on the master's request. It is the parent of
// its workers, so it is the only process that signals or reaps them while it lives: a pid it
// signals can never have been reused.
#include <map>
#include <memory>

#include "core/assert.hpp"
#include "core/loops.hpp"
#include "core/protocol.hpp"

namespace zyg {
namespace {

class Zygote {
 public:
  Zygote(os::Os& os, const ZygoteArgs& args, AppLoader& loader)
      : os_(os), args_(args), loader_(loader) {}

  int run() {
    os_.set_title(args_.title + ": zygote [" + args_.version + "]");
    const os::Signal caught[] = {os::Signal::child, os::Signal::term};
    const int caught_error = os_.catch_signals(caught);
    ZYG_ASSERT(caught_error == 0, "errno ", caught_error);  // constants: only a bug can fail
    (void)os_.ignore_signal(os::Signal::usr1);  // log reopening is the workers' (reopen_logs)
    LoadResult loaded = loader_.load(args_.version, args_.app_args);
    if (!loaded.app) {
      proto::Message m = proto::make(proto::Kind::load_failed, args_.id.value, os_.getpid());
      m.set_text(loaded.error);
      send(m);
      return exit_code::load_failed;
    }
    app_ = std::move(loaded.app);
    worker_ = args_.worker;  // what the release's own file sets, over the server's
    const ReleaseLimits& l = loaded.limits;
    if (l.max_requests) worker_.max_requests = *l.max_requests;
    if (l.max_requests_jitter) worker_.max_requests_jitter = *l.max_requests_jitter;
    if (l.rss_bytes_max) worker_.rss_bytes_max = *l.rss_bytes_max;
    if (l.cpu_max) worker_.cpu_max = *l.cpu_max;
    // Fewer page-table entries to copy makes every fork cheaper, for a one-time copy now
    // (docs/ARCHITECTURE.md, "Huge pages, when the app allows").
    if (args_.huge_pages) os_.use_huge_pages();
    proto::Message m = proto::make(proto::Kind::loaded, args_.id.value, os_.getpid());
    m.set_text(loaded.kind);
    send(m);

    for (;;) {
      os::PollFd fds[] = {{args_.channel, os::ev::in, 0}};
      static_cast<void>(os_.poll(fds, std::nullopt));  // the channel is read whatever it says
      take_signals();
      if (term_) return exit_code::clean;
      reap_children();
      if (!read_commands()) return exit_code::clean;
    }
  }

 private:
  // Returns false when the zygote should exit (asked to, or the master is gone).
  bool read_commands() {
    for (;;) {
      std::byte buf[sizeof(proto::Message)];
      auto r = os_.recv_message(args_.channel, buf, nullptr);
      if (r.error == os::err::again) return true;
      if (!r.ok() || r.value == 0) return false;  // the master is gone
      auto m = proto::parse({buf, r.value});
      if (!m) continue;
      switch (m->kind) {
        case proto::Kind::spawn: spawn(WorkerId{m->id}); break;
        case proto::Kind::stop: signal(WorkerId{m->id}, os::Signal::term); break;
        case proto::Kind::kill: signal(WorkerId{m->id}, os::Signal::kill); break;
        case proto::Kind::exit: return false;
        case proto::Kind::reopen_logs:
          for (const auto& [id, pid] : children_)
            static_cast<void>(os_.kill(pid, os::Signal::usr1));
          break;
        default: break;
      }
    }
  }

  void spawn(WorkerId id) {
    os::ChildSpec spec;
    spec.title = args_.title + ": worker [" + args_.version + "]";
    spec.role = Role::worker;
    spec.version = args_.version;
    spec.serial = id.value;
    // The worker keeps every descriptor but the zygote's own channel: what the app opened while
    // loading (a log file, a mapped data file) stays open at its number in every worker.
    spec.inherit_fds = true;
    spec.close_fds = {args_.channel};
    spec.parent_death_signal = os::Signal::term;  // drain, never vanish mid-request
    WorkerArgs wa{id, args_.version, args_.requests_in, args_.returns_out, args_.report, worker_};
    // Shared ownership: over real fork the worker has its own copy anyway; in the simulator
    // processes share one address space and a worker may outlive its zygote.
    std::shared_ptr<App> app = app_;
    spec.main = [wa, app](os::Os& wos) { return run_worker(wos, wa, *app); };
    app_->before_fork();
    auto r = os_.spawn(std::move(spec));
    app_->after_fork_parent();
    if (!r.ok()) {
      send(
          proto::make(proto::Kind::spawn_failed, id.value, 0, static_cast<std::uint64_t>(r.error)));
      return;
    }
    children_[id] = r.value;
    by_pid_[r.value] = id;
    send(proto::make(proto::Kind::spawned, id.value, r.value));
  }

  // Always answered, so the master knows this zygote is responsive and when the drain began.
  void signal(WorkerId id, os::Signal s) {
    auto it = children_.find(id);
    // An unreaped child: never a reused pid, so no error but ESRCH, and the reply goes anyway.
    if (it != children_.end()) static_cast<void>(os_.kill(it->second, s));
    send(proto::make(proto::Kind::signalled, id.value, 0, static_cast<std::uint64_t>(s)));
  }

  void reap_children() {
    for (;;) {
      auto r = os_.reap();
      if (!r.ok() || !r.value) return;
      auto it = by_pid_.find(r.value->pid);
      if (it == by_pid_.end()) continue;
      const ExitStatus st = r.value->status;
      send(proto::make(proto::Kind::worker_exited, it->second.value, r.value->pid,
                       static_cast<std::uint64_t>(st.code), st.signaled ? 1 : 0));
      children_.erase(it->second);
      by_pid_.erase(it);
    }
  }

  // A caught signal left pending makes poll return at once, so every wait collects them.
  void take_signals() {
    for (os::Signal s : os_.take_signals()) {
      if (s == os::Signal::term) term_ = true;
    }
  }

  void send(const proto::Message& m) {
    // The channel holds far more than the budget's worth of messages; a full one means the
    // master is stuck, and the message waits until it reads again.
    for (;;) {
      auto r = os_.send_message(args_.channel, proto::bytes_of(m), {});
      if (r.error != os::err::again && r.error != os::err::intr) return;
      os::PollFd fds[] = {{args_.channel, os::ev::out, 0}};
      if (os_.poll(fds, std::nullopt).error == os::err::intr) take_signals();
      if (term_) return;
    }
  }

  os::Os& os_;
  const ZygoteArgs& args_;
  AppLoader& loader_;
  std::shared_ptr<App> app_;
  WorkerConfig worker_;  // the server's, with what the release set
  bool term_ = false;
  std::map<WorkerId, Pid> children_;
  std::map<Pid, WorkerId> by_pid_;
};

}  // namespace

int run_zygote(os::Os& os, const ZygoteArgs& args, AppLoader& loader) {
  Zygote z(os, args, loader);
  return z.run();
}

}  // namespace zyg
