// One-line descriptions of events and commands, for timelines and logs.
#include <string>
#include <variant>

#include "core/commands.hpp"
#include "core/events.hpp"

namespace zyg {

namespace {

template <class... Fs>
struct Overload : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overload(Fs...) -> Overload<Fs...>;

std::string w(WorkerId id) { return "w" + std::to_string(id.value); }
std::string z(ZygoteId id) { return "z" + std::to_string(id.value); }

std::string front(const ev::FrontSpawned& x) {
  return "front-spawned " + std::to_string(x.generation) + " pid " + std::to_string(x.pid);
}
std::string front(const ev::FrontSpawnFailed& x) {
  return "front-spawn-failed errno " + std::to_string(x.error);
}
std::string front(const ev::FrontAlive& x) {
  return "front-alive " + std::to_string(x.connections) + " connections, " +
         std::to_string(x.waiting) + " waiting, " + std::to_string(x.handoffs) + " hand-offs";
}

}  // namespace

std::string describe(const Event& e) {
  return std::visit(
      Overload{
          [](const ev::Start& x) { return "start " + x.version; },
          [](const ev::DeployRequested& x) { return "deploy " + x.version; },
          [](const ev::ZygoteSpawned& x) {
            return "zygote-spawned " + z(x.zygote) + " pid " + std::to_string(x.pid);
          },
          [](const ev::ZygoteSpawnFailed& x) {
            return "zygote-spawn-failed " + z(x.zygote) + " errno " + std::to_string(x.error);
          },
          [](const ev::ZygoteLoaded& x) { return "zygote-loaded " + z(x.zygote); },
          [](const ev::ZygoteLoadFailed& x) {
            return "zygote-load-failed " + z(x.zygote) + " " + x.reason;
          },
          [](const ev::ZygoteReplied& x) { return "zygote-replied " + z(x.zygote); },
          [](const ev::WorkerSignalled& x) {
            return "worker-signalled " + w(x.worker) + (x.graceful ? " SIGTERM" : " SIGKILL");
          },
          [](const ev::ZygoteExited& x) {
            return "zygote-exited " + z(x.zygote) + " " + to_string(x.status);
          },
          [](const ev::WorkerSpawned& x) {
            return "worker-spawned " + w(x.worker) + " pid " + std::to_string(x.pid);
          },
          [](const ev::SpawnFailed& x) {
            return "spawn-failed " + w(x.worker) + " errno " + std::to_string(x.error);
          },
          [](const ev::WorkerReady& x) { return "worker-ready " + w(x.worker); },
          [](const ev::WorkerBusy& x) { return "worker-busy " + w(x.worker); },
          [](const ev::WorkerIdle& x) {
            return "worker-idle " + w(x.worker) + " served " + std::to_string(x.served);
          },
          [](const ev::WorkerHeartbeat& x) { return "heartbeat " + w(x.worker); },
          [](const ev::WorkerExiting& x) {
            return "worker-exiting " + w(x.worker) + (x.retiring ? " retiring" : "");
          },
          [](const ev::WorkerExited& x) {
            return "worker-exited " + w(x.worker) + " " + to_string(x.status);
          },
          [](const ev::UnknownChildReaped& x) {
            return "unknown-child-reaped pid " + std::to_string(x.pid) + " " + to_string(x.status);
          },
          [](const ev::ChildrenListed& x) {
            std::string s = "children-listed";
            for (Pid p : x.unknown) s += " " + std::to_string(p);
            return s;
          },
          [](const ev::Tick&) { return std::string("tick"); },
          [](const ev::ScaleTo& x) { return "scale-to " + std::to_string(x.workers); },
          [](const ev::ScaleBy& x) { return "scale-by " + std::to_string(x.delta); },
          [](const ev::Shutdown& x) {
            return std::string(x.graceful ? "shutdown graceful" : "shutdown fast");
          },
          [](const ev::StatusRequested& x) { return "status " + std::to_string(x.request); },
          [](const ev::FrontSpawned& x) { return front(x); },
          [](const ev::FrontSpawnFailed& x) { return front(x); },
          [](const ev::FrontAlive& x) { return front(x); },
          [](const ev::FrontNotice& x) { return "front-notice " + x.text; },
          [](const ev::FrontExited& x) { return "front-exited " + to_string(x.status); },
      },
      e);
}

std::string describe(const Command& c) {
  return std::visit(
      Overload{
          [](const cmd::StartZygote& x) { return "start-zygote " + z(x.zygote) + " " + x.version; },
          [](const cmd::RequestWorker& x) {
            return "request-worker " + w(x.worker) + " from " + z(x.zygote);
          },
          [](const cmd::StopWorker& x) {
            return "stop-worker " + w(x.worker) + " (" + to_string(x.reason) + ")";
          },
          [](const cmd::KillWorker& x) {
            return "kill-worker " + w(x.worker) + " (" + x.why + ")";
          },
          [](const cmd::StopZygote& x) { return "stop-zygote " + z(x.zygote); },
          [](const cmd::KillZygote& x) { return "kill-zygote " + z(x.zygote); },
          [](const cmd::ListChildren&) { return std::string("list-children"); },
          [](const cmd::Report& x) { return "report " + x.what + ": " + x.detail; },

          [](const cmd::Status& x) { return "status " + std::to_string(x.request); },
          [](const cmd::Exit& x) { return "exit " + std::to_string(x.code); },
          [](const cmd::StartFront& x) { return "start-front " + std::to_string(x.generation); },
          [](const cmd::StopFront&) { return std::string("stop-front"); },
          [](const cmd::DrainFront&) { return std::string("drain-front"); },
          [](const cmd::KillFront& x) { return "kill-front (" + x.why + ")"; },
      },
      c);
}

}  // namespace zyg
