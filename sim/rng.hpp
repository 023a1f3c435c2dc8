// A portable PRNG: the same seed gives the same numbers on every platform and standard library.
// No std:: distributions (their algorithms are implementation-defined). Streams derived by name
// keep one subsystem's draws from shifting another's when either changes.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/types.hpp"

namespace zyg::sim {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  // SplitMix64: small, fast, passes BigCrush, trivially portable.
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n), unbiased (rejection of the short tail).
  std::uint64_t below(std::uint64_t n) {
    if (n <= 1) return 0;
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t x = next();
    while (x >= limit) x = next();
    return x % n;
  }

  // Uniform in [lo, hi].
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    if (hi <= lo) return lo;
    return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }

  Nanos between(Nanos lo, Nanos hi) { return Nanos{between(lo.count(), hi.count())}; }

  // True with probability ppm / 1'000'000 (parts per million: integers only).
  bool chance_ppm(std::uint32_t ppm) { return below(1'000'000) < ppm; }

  // A child stream, independent of this one's future draws.
  Rng derive(std::string_view name) const {
    std::uint64_t h = state_ ^ 0xcbf29ce484222325ULL;
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    Rng r(h);
    r.next();
    return r;
  }

 private:
  std::uint64_t state_;
};

// FNV-1a fold of the run's decisions: the trace hash.
class TraceHash {
 public:
  void add(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h_ = (h_ ^ ((v >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    }
  }
  void add(std::string_view s) {
    for (char c : s) h_ = (h_ ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    add(s.size());
  }
  std::uint64_t value() const { return h_; }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

}  // namespace zyg::sim
