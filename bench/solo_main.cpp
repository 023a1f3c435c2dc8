// bench-solo: one process that loads the app on its own and serves it, with no master and no
// zygote: the real loader (NativeLoader) and the real worker loop (run_worker) on a listening
// socket of its own. The benchmarks' baseline for "a process that loads the app itself".
//
//   bench-solo PORT RELEASE_DIR APP [ARGS...]
//
// Serves 127.0.0.1:PORT until SIGTERM (then drains like a worker). Exit 3 if the app cannot load.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/loops.hpp"
#include "real/app/native_loader.hpp"
#include "real/os_linux.hpp"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench-solo PORT RELEASE_DIR APP [ARGS...]\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "bench-solo: bad port %s\n", argv[1]);
    return 2;
  }
  const std::string release = argv[2];
  std::vector<std::string> args(argv + 3, argv + argc);

  zyg::real::NativeLoader loader;
  zyg::LoadResult loaded = loader.load(release, args);
  if (!loaded.app) {
    std::fprintf(stderr, "bench-solo: %s\n", loaded.error.c_str());
    return 3;
  }
  zyg::real::LinuxOs os;
  zyg::os::Endpoint where;
  where.host = "127.0.0.1";
  where.port = static_cast<std::uint16_t>(port);
  auto listener = os.listen(where, 1024);
  if (!listener.ok()) {
    std::fprintf(stderr, "bench-solo: cannot listen on port %d: errno %d\n", port, listener.error);
    return 2;
  }
  // Requests reach a worker through a front, as under the master: one is forked here.
  auto requests = os.socketpair(zyg::os::ChannelKind::seqpacket);
  auto returns = os.socketpair(zyg::os::ChannelKind::seqpacket);
  auto channel = os.socketpair(zyg::os::ChannelKind::seqpacket);
  if (!requests.ok() || !returns.ok() || !channel.ok()) {
    std::fprintf(stderr, "bench-solo: cannot create the hand-off channels\n");
    return 2;
  }
  zyg::FrontArgs fa;
  fa.listener = listener.value;
  fa.channel = channel.value.second;
  fa.handoff = {requests.value.first, requests.value.second, returns.value.first,
                returns.value.second};
  fa.title = "bench-solo";
  zyg::os::ChildSpec spec;
  spec.title = "bench-solo: front";
  spec.role = zyg::Role::front;
  spec.keep_fds = {fa.listener, fa.channel, fa.handoff.requests_out, fa.handoff.returns_in};
  spec.parent_death_signal = zyg::os::Signal::kill;
  spec.main = [fa](zyg::os::Os& fos) { return zyg::run_front(fos, fa); };
  if (!os.spawn(std::move(spec)).ok()) {
    std::fprintf(stderr, "bench-solo: cannot start the front\n");
    return 2;
  }
  // No master to report to: a report on descriptor -1 fails at once (EBADF) and is dropped.
  zyg::WorkerArgs wa{zyg::WorkerId{1},       release, fa.handoff.requests_in,
                     fa.handoff.returns_out, -1,      zyg::WorkerConfig{}};
  return zyg::run_worker(os, wa, *loaded.app);
}
