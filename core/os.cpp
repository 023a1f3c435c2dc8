#include "core/os.hpp"

namespace zyg::os {

const char* to_string(Signal s) {
  switch (s) {
    case Signal::hup: return "SIGHUP";
    case Signal::interrupt: return "SIGINT";
    case Signal::quit: return "SIGQUIT";
    case Signal::kill: return "SIGKILL";
    case Signal::usr1: return "SIGUSR1";
    case Signal::usr2: return "SIGUSR2";
    case Signal::term: return "SIGTERM";
    case Signal::child: return "SIGCHLD";
    case Signal::cont: return "SIGCONT";
    case Signal::stop: return "SIGSTOP";
    case Signal::ttin: return "SIGTTIN";
    case Signal::ttou: return "SIGTTOU";
  }
  return "SIG?";
}

}  // namespace zyg::os
