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
  // No master to report to: a report on descriptor -1 fails at once (EBADF) and is dropped.
  zyg::WorkerArgs wa{zyg::WorkerId{1}, release, listener.value, -1, zyg::WorkerConfig{}};
  return zyg::run_worker(os, wa, *loaded.app);
}
