#include "sim/scheduling.hpp"

#include <algorithm>

namespace zyg::sim {

namespace {
constexpr Nanos kSettle = 100ms;  // after a disruption ends, what it left behind is drained
constexpr Nanos kKept = 200s;     // idle intervals older than any request can wait are dropped
}  // namespace

void WorkConserving::worker(Slot s, Pid pid, bool idle, Nanos now) {
  pids_[s] = pid;
  auto open = idle_since_.find(s);
  if (idle) {
    if (open == idle_since_.end()) idle_since_[s] = now;
    return;
  }
  if (open == idle_since_.end()) return;
  std::deque<Interval>& past = idle_[s];
  if (!past.empty() && past.back().to == open->second) {
    past.back().to = now;  // blocked again at once (a heartbeat): one interval
  } else if (now > open->second) {
    past.push_back({open->second, now});
  }
  idle_since_.erase(open);
  while (!past.empty() && past.front().to < now - kKept) past.pop_front();
}

void WorkConserving::disrupted(Nanos from, Nanos to) { disrupted_.push_back({from, to + kSettle}); }

void WorkConserving::began(const std::string& name, Nanos from) { open_.emplace(name, from); }

void WorkConserving::ended(const std::string& name, Nanos to) {
  auto it = open_.find(name);
  if (it == open_.end()) return;
  disrupted(it->second, to);
  open_.erase(it);
}

bool WorkConserving::exempt(Nanos from, Nanos to) const {
  for (const Interval& d : disrupted_) {
    if (d.from <= to && d.to >= from) return true;
  }
  for (const auto& [name, since] : open_) {
    if (since <= to) return true;
  }
  return false;
}

Nanos WorkConserving::longest_idle(Slot s, Nanos from, Nanos to) const {
  Nanos longest{0};
  auto overlap = [&](Nanos a, Nanos b) {
    longest = std::max(longest, std::min(b, to) - std::max(a, from));
  };
  if (auto it = idle_.find(s); it != idle_.end()) {
    for (auto i = it->second.rbegin(); i != it->second.rend() && i->to > from; ++i) {
      overlap(i->from, i->to);
    }
  }
  if (auto it = idle_since_.find(s); it != idle_since_.end()) overlap(it->second, to);
  return longest;
}

std::optional<std::string> WorkConserving::waited(std::uint64_t id, Nanos ready,
                                                  Nanos until) const {
  if (until - ready <= bound_ || exempt(ready, until)) return std::nullopt;
  for (const auto& [slot, pid] : pids_) {
    const Nanos idle = longest_idle(slot, ready, until);
    if (idle <= bound_) continue;
    return "work-conserving: request " + std::to_string(id) + " waited " +
           std::to_string(
               std::chrono::duration_cast<std::chrono::milliseconds>(until - ready).count()) +
           " ms for a worker while worker pid " + std::to_string(pid) + " was idle for " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(idle).count()) +
           " ms of it (bound " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(bound_).count()) +
           " ms)";
  }
  return std::nullopt;
}

}  // namespace zyg::sim
