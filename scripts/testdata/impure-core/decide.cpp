// A deliberately impure file: the purity check must reject it.
#include <unistd.h>
#include <chrono>
#include <random>

int decide() {
  auto t = std::chrono::steady_clock::now();
  return static_cast<int>(t.time_since_epoch().count() % 2) + static_cast<int>(getpid());
}
