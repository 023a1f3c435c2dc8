// What the status port serves (core/status_server.hpp), rendered from the supervisor's snapshot
// and what the master adds to it: the workers' request figures and every process's memory.
//
//   /status.json   status_json(): the fields are documented in docs/OPERATIONS.md
//   /metrics       metrics_text(): the Prometheus text exposition format, version 0.0.4
//   /              kStatusPage: a page that draws /status.json, refreshed in place
//   /readyz        ready(): a version serves with ready workers and the server is not stopping
//
// Pure functions of their arguments: no clock, no system call.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/os.hpp"
#include "core/process_view.hpp"
#include "core/request_stats.hpp"

namespace zyg {

struct StatusExtras {
  Pid master_pid = 0;
  Nanos uptime{0};
  std::string listen;                             // where clients connect ("127.0.0.1:8000")
  RequestStats requests;                          // every worker's, exited ones included
  std::map<std::uint64_t, RequestStats> workers;  // by worker id: each live worker's latest
  std::map<Pid, os::Memory> memory;               // by pid, where it could be read
};

// The workers' request figures, as the master hears them. Each is cumulative, so the totals are
// the sum of every worker's latest; a worker the supervisor no longer has stays summed for
// kLinger (its last figures may still be on their way) and is then folded into the retired sum.
class RequestBook {
 public:
  static constexpr Nanos kLinger = 30s;

  // A worker's latest figures. `known`: the supervisor has it on record (figures from a worker
  // it never had, or already folded, are dropped).
  void update(std::uint64_t worker, const RequestStats& s, bool known);
  // Folds the workers that `known` no longer names and have lingered long enough.
  template <typename Known>
  void prune(const Known& known, Nanos now) {
    for (auto it = live_.begin(); it != live_.end();) {
      Entry& e = it->second;
      if (known(it->first)) {
        e.gone_since.reset();
      } else if (!e.gone_since) {
        e.gone_since = now;
      } else if (now - *e.gone_since >= kLinger) {
        retired_.add(e.stats);
        it = live_.erase(it);
        continue;
      }
      ++it;
    }
  }
  RequestStats total() const;
  std::map<std::uint64_t, RequestStats> workers() const;

 private:
  struct Entry {
    RequestStats stats;
    std::optional<Nanos> gone_since;
  };
  std::map<std::uint64_t, Entry> live_;
  RequestStats retired_;
};

// Whether a load balancer should send requests here.
bool ready(const StatusSnapshot& s);

nlohmann::json status_json(const StatusSnapshot& s, const StatusExtras& x);
std::string metrics_text(const StatusSnapshot& s, const StatusExtras& x);

// The page: static HTML with its script, which fetches /status.json every two seconds.
extern const std::string_view kStatusPage;

}  // namespace zyg
