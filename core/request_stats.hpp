// What a worker has served, as it tells the master (proto::Kind::stats, in the message's text):
// responses by status class and a duration histogram, cumulative over the worker's life, and the
// start of the request it is serving now. The master adds up the workers' latest figures and
// keeps those of exited workers, so its totals only grow (core/status.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>

#include "core/protocol.hpp"
#include "core/types.hpp"

namespace zyg {

struct RequestStats {
  // The histogram's upper bounds, in microseconds (Prometheus "le" buckets; +Inf is the count).
  static constexpr std::array<std::uint64_t, 13> kBucketsUs = {
      1'000,   2'500,   5'000,     10'000,    25'000,    50'000,    100'000,
      250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000};

  std::array<std::uint64_t, 5> by_class{};                 // 1xx .. 5xx
  std::array<std::uint64_t, kBucketsUs.size()> buckets{};  // cumulative: duration <= bound
  std::uint64_t duration_sum_us = 0;
  std::int64_t current_since_ns = 0;  // the request being served began (os.now()); 0: none
  std::uint64_t log_dropped = 0;      // access log lines that could not be written

  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (std::uint64_t c : by_class) n += c;
    return n;
  }

  // One response: its status (clamped into 1xx..5xx) and how long the request took.
  void record(int status, Nanos took) {
    const int cls = status < 100 ? 1 : (status > 599 ? 5 : status / 100);
    by_class[static_cast<std::size_t>(cls - 1)] += 1;
    const auto us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::max(took, Nanos{0})).count());
    duration_sum_us += us;
    for (std::size_t i = 0; i < kBucketsUs.size(); ++i) {
      if (us <= kBucketsUs[i]) buckets[i] += 1;
    }
  }

  // Adds another worker's figures (the current request is not summed).
  void add(const RequestStats& o) {
    for (std::size_t i = 0; i < by_class.size(); ++i) by_class[i] += o.by_class[i];
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += o.buckets[i];
    duration_sum_us += o.duration_sum_us;
    log_dropped += o.log_dropped;
  }

  bool operator==(const RequestStats&) const = default;
};

// The stats travel as the fixed layout above, in a message's text.
static_assert(sizeof(RequestStats) <= proto::kTextMax);
static_assert(std::has_unique_object_representations_v<RequestStats>);

inline proto::Message stats_message(std::uint64_t worker, std::int32_t pid, const RequestStats& s) {
  proto::Message m = proto::make(proto::Kind::stats, worker, pid);
  m.set_text({reinterpret_cast<const char*>(&s), sizeof s});
  return m;
}

// Nothing when the text is not exactly one RequestStats (a stray or hostile writer).
inline std::optional<RequestStats> parse_stats(const proto::Message& m) {
  if (m.kind != proto::Kind::stats || m.text_len != sizeof(RequestStats)) return std::nullopt;
  RequestStats s;
  std::memcpy(&s, m.text.data(), sizeof s);
  return s;
}

}  // namespace zyg
