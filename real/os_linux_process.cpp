// LinuxOs: processes (fork hygiene, reaping, children) and the subreaper.
#include <grp.h>

#include "real/os_linux_internal.hpp"

namespace zyg::real {

using namespace linux_detail;  // this layer's own helpers
using os::Signal;

// ---------------------------------------------------------------------------------------------
// Processes

os::Result<Pid> LinuxOs::spawn(os::ChildSpec spec) { return fork_child(spec); }

// Fork hygiene. The forking process must be single-threaded: another thread may hold a lock
// (malloc's, stdio's, the app's) that the child would inherit held forever. A multi-threaded
// caller is refused with EAGAIN and one line on stderr; nothing is forked.
os::Result<Pid> LinuxOs::fork_child(os::ChildSpec& spec) {
  if (!spec.main) return fail<Pid>(EINVAL);
  const std::optional<int> threads = thread_count();
  if (threads.value_or(0) != 1) {
    write_stderr("zygote: refusing to fork: the process has " +
                 (threads ? std::to_string(*threads) : std::string("an unknown number of")) +
                 " threads (fork is only safe single-threaded)");
    return fail<Pid>(EAGAIN);
  }

  std::fflush(nullptr);  // the child must not inherit (and later repeat) buffered output
  sigset_t all{};
  sigset_t old{};
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, &old);  // no handler runs in the child before it is reset
  const Pid parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) run_child(spec, parent);
  const int fork_errno = errno;
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return fail<Pid>(fork_errno);
  return {pid, 0};
}

namespace {

// Groups, then the group id, then the user id (each needs the privilege the next one gives up);
// all three of real, effective and saved, so nothing is left to go back to. Why it failed, or
// nullptr.
const char* drop_privileges(const os::Credentials& c) {
  std::vector<gid_t> groups(c.groups.begin(), c.groups.end());
  if (::setgroups(groups.size(), groups.data()) != 0) return "setgroups";
  if (::setresgid(c.gid, c.gid, c.gid) != 0) return "setresgid";
  if (::setresuid(c.uid, c.uid, c.uid) != 0) return "setresuid";
  if (c.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) {
    errno = EPERM;
    return "root could be regained";
  }
  return nullptr;
}

}  // namespace

void LinuxOs::run_child(os::ChildSpec& spec, Pid parent) {
  // All signals are blocked here (fork_child). Nothing below returns into the caller.
  try {
    // The parent's signal state (its wake pipe, the handlers it set) is not this process's:
    // drop it; the child's own LinuxOs below makes a fresh one.
    signals_.reset();
  } catch (const std::exception& e) {
    write_stderr(std::string("zygote: child setup failed: ") + e.what());
    ::_exit(kChildCrashed);
  }

  // Default dispositions for every signal (SIG_IGN survives fork otherwise).
  for (int s = 1; s < NSIG; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    ::sigaction(s, &sa, nullptr);  // fails harmlessly for the C library's reserved signals
  }

  // First: a change of credentials clears the parent-death signal set below.
  if (spec.run_as) {
    if (const char* why = drop_privileges(*spec.run_as)) {
      write_stderr("zygote: " + spec.title + ": cannot drop privileges: " + why + ": " +
                   std::strerror(errno));
      ::_exit(kChildCrashed);
    }
  }

  if (spec.parent_death_signal) {
    const int sig = static_cast<int>(*spec.parent_death_signal);
    ::prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(sig), 0, 0, 0);
    // The parent may have died before the request: then deliver the signal ourselves, as the
    // kernel would have. It takes effect when the mask is cleared below.
    if (::getppid() != parent) ::kill(::getpid(), sig);
  }

  if (spec.inherit_fds) {
    for (os::Fd fd : spec.close_fds) {
      if (fd > STDERR_FILENO) ::close(fd);
    }
  } else {
    close_all_but(spec.keep_fds);
  }
  set_process_title(spec.title);

  int code = kChildCrashed;
  try {
    LinuxOs child_os;
    sigset_t none{};
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    code = spec.main(child_os);
  } catch (const std::exception& e) {
    write_stderr("zygote: " + spec.title + ": uncaught exception: " + e.what());
    ::_exit(kChildCrashed);
  } catch (...) {
    write_stderr("zygote: " + spec.title + ": uncaught exception");
    ::_exit(kChildCrashed);
  }
  std::fflush(nullptr);
  ::_exit(code);
}

int LinuxOs::kill(Pid pid, os::Signal sig) {
  // pid 0 and -1 name process groups or everything; the seam signals one process.
  if (pid <= 0) return ESRCH;
  return ::kill(pid, static_cast<int>(sig)) == 0 ? 0 : errno;
}

// waitid over every child, the subreaper's orphans included: a pidfd per child would miss the
// orphans, whose pids the master learns only when they are reaped.
os::Result<std::optional<os::Reaped>> LinuxOs::reap() {
  using R = os::Result<std::optional<os::Reaped>>;
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG) != 0) {
      if (errno == EINTR) continue;
      return R::fail(errno);
    }
    if (info.si_pid == 0) return {std::nullopt, 0};  // children, none exited
    if (info.si_code == CLD_EXITED) {
      return {os::Reaped{info.si_pid, ExitStatus::exited(info.si_status)}, 0};
    }
    return {os::Reaped{info.si_pid, ExitStatus::killed_by(info.si_status)}, 0};  // KILLED, DUMPED
  }
}

void LinuxOs::exit(int code) { ::_exit(code); }

void LinuxOs::set_title(const std::string& title) { set_process_title(title); }

// /proc/self/task/TID/children, for every thread (CONFIG_PROC_CHILDREN, which Debian's kernels
// have): the children each thread forked or adopted, not yet reaped.
os::Result<std::vector<Pid>> LinuxOs::children() {
  std::vector<Pid> pids;
  DIR* tasks = ::opendir("/proc/self/task");
  if (!tasks) return os::Result<std::vector<Pid>>::fail(errno);
  bool read_any = false;
  while (const dirent* e = ::readdir(tasks)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(std::string("/proc/self/task/") + e->d_name + "/children");
    if (!in) continue;
    read_any = true;
    for (long pid = 0; in >> pid;) pids.push_back(static_cast<Pid>(pid));
  }
  ::closedir(tasks);
  if (!read_any) return os::Result<std::vector<Pid>>::fail(ENOENT);
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return {std::move(pids), 0};
}

int LinuxOs::become_subreaper() {
  return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : errno;
}

}  // namespace zyg::real
