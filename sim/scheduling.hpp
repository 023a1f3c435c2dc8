// The work-conserving rule, judged from outside the server: a complete request never waits
// longer than a small bound while a worker that could serve it is idle. Safety invariants say
// nothing about this: a server whose workers each keep their connections is perfectly safe while
// a request waits behind another with workers idle.
//
// A worker is idle while it is blocked waiting (not serving, not writing to a slow client, not
// stopped, not draining). A request waits from the moment it is complete at the server and first
// in line on its connection until the app begins it (or it ends without reaching the app). Waits
// that overlap a disruption of the data path (the front or the master killed or paused, accepts
// failing, a stop) are not judged: the rule is about scheduling, not about faults.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/types.hpp"
#include "sim/kernel.hpp"

namespace zyg::sim {

class WorkConserving {
 public:
  explicit WorkConserving(Nanos bound) : bound_(bound) {}

  // Whether a worker can take a request changed.
  void worker(Slot s, Pid pid, bool idle, Nanos now);
  // The data path is disrupted over [from, to] (plus a settling margin).
  void disrupted(Nanos from, Nanos to);
  // A disruption without a known end yet, under `name`; ended() closes it.
  void began(const std::string& name, Nanos from);
  void ended(const std::string& name, Nanos to);

  // Judges request `id`, complete and first in line from `ready` until `until`.
  std::optional<std::string> waited(std::uint64_t id, Nanos ready, Nanos until) const;
  Nanos bound() const { return bound_; }

 private:
  struct Interval {
    Nanos from{0};
    Nanos to{0};
  };
  bool exempt(Nanos from, Nanos to) const;
  Nanos longest_idle(Slot s, Nanos from, Nanos to) const;

  Nanos bound_;
  std::map<Slot, std::deque<Interval>> idle_;  // each worker's past idle intervals, oldest first
  std::map<Slot, Nanos> idle_since_;           // the idle interval in progress
  std::map<Slot, Pid> pids_;
  std::vector<Interval> disrupted_;
  std::map<std::string, Nanos> open_;
};

}  // namespace zyg::sim
