// Latencies in log buckets 1% wide (microseconds), so memory stays fixed however long the run.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "real/load/load.hpp"

namespace zyg::load {

class Histogram {
 public:
  void add(double ms) {
    const double us = std::max(ms * 1000.0, 1.0);
    const auto b = static_cast<std::size_t>(std::log(us) / std::log(growth));
    ++counts_[std::min(b, counts_.size() - 1)];
    ++total_;
    min_ms_ = total_ == 1 ? ms : std::min(min_ms_, ms);
    max_ms_ = std::max(max_ms_, ms);
  }
  double percentile(double p) const {  // the upper edge of the bucket holding rank ceil(p*n)
    if (total_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(total_)));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < counts_.size(); ++b) {
      seen += counts_[b];
      if (seen >= std::max<std::uint64_t>(rank, 1))
        return std::min(std::pow(growth, static_cast<double>(b + 1)) / 1000.0, max_ms_);
    }
    return max_ms_;
  }
  std::uint64_t count() const { return total_; }
  double min_ms() const { return min_ms_; }
  double max_ms() const { return max_ms_; }
  Latency summary() const {
    return {total_, percentile(0.50), percentile(0.90), percentile(0.99), max_ms_};
  }

 private:
  static constexpr double growth = 1.01;
  std::vector<std::uint64_t> counts_ = std::vector<std::uint64_t>(2400, 0);  // up to ~6.6e4 s
  std::uint64_t total_ = 0;
  double min_ms_ = 0;
  double max_ms_ = 0;
};

}  // namespace zyg::load
