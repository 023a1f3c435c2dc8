#include "core/types.hpp"

#include "core/process_view.hpp"

namespace zyg {

const char* to_string(Role r) {
  switch (r) {
    case Role::master: return "master";
    case Role::zygote: return "zygote";
    case Role::worker: return "worker";
    case Role::front: return "front";
  }
  return "?";
}

const char* to_string(WorkerState s) {
  switch (s) {
    case WorkerState::starting: return "starting";
    case WorkerState::ready: return "ready";
    case WorkerState::busy: return "busy";
    case WorkerState::draining: return "draining";
    case WorkerState::exited_unreaped: return "exited-unreaped";
  }
  return "?";
}

const char* to_string(ZygoteState s) {
  switch (s) {
    case ZygoteState::loading: return "loading";
    case ZygoteState::loaded: return "loaded";
    case ZygoteState::stopping: return "stopping";
    case ZygoteState::exited_unreaped: return "exited-unreaped";
  }
  return "?";
}

const char* to_string(DeployPhase p) {
  switch (p) {
    case DeployPhase::serving: return "serving";
    case DeployPhase::loading: return "loading";
    case DeployPhase::rolling_out: return "rolling out";
    case DeployPhase::probation: return "on probation";
  }
  return "?";
}

const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::none: return "none";
    case StopReason::deploy: return "deploy";
    case StopReason::rollback: return "rollback";
    case StopReason::scale_down: return "scale-down";
    case StopReason::shutdown: return "shutdown";
    case StopReason::zygote_gone: return "zygote-gone";
  }
  return "?";
}

std::string to_string(ExitStatus s) {
  return s.signaled ? "killed by signal " + std::to_string(s.code)
                    : "exit code " + std::to_string(s.code);
}

}  // namespace zyg
