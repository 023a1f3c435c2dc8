// The master's event log: JSON lines a real run writes (`zygote-real --events FILE`) and the
// judge that reads them back, so that real runs are judged by the simulator's checker.
//
// Format, one JSON object per line:
//   {"zygote_events":1,"pid":P,"config":{...}}   a master starts: its pid and supervisor settings
//   {"t":NS,"event":{"type":...,...},"commands":["...",...], ...}   one supervisor step
// Step lines carry every event the supervisor was fed, ticks included (short lines), with the
// time it was fed at. A step with commands also says what was serving and the worker counts.
//
// The judge replays each master's events through a fresh Supervisor: the supervisor is a pure
// function of its events and their times, so the replay must decide exactly the commands the log
// recorded. Then it feeds the checker (core/check.hpp) what the log shows: the master's view
// after every step, processes starting (their pids reported) and reaped, and every signal the
// master sent by pid. Request outcomes come from the load client (add_requests).
#pragma once

#include <cstdint>
#include <map>
#include <utility>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/check.hpp"
#include "core/commands.hpp"
#include "core/config.hpp"
#include "core/events.hpp"
#include "core/process_view.hpp"
#include "core/supervisor.hpp"

namespace zyg::event_log {

nlohmann::json to_json(const Event& e);
// Nothing when the object is not an event (unknown type, missing or mistyped field).
std::optional<Event> event_from_json(const nlohmann::json& j);

nlohmann::json to_json(const SupervisorConfig& c);
std::optional<SupervisorConfig> config_from_json(const nlohmann::json& j);

// The lines a master writes, newline included.
std::string header_line(const SupervisorConfig& config, Pid master = 0);
std::string step_line(Nanos now, const Event& e, const Commands& commands,
                      const StatusSnapshot& view);

class Judge {
 public:
  Judge() = default;

  // Reads one line of the log. A line that does not parse, or a replay that decides otherwise
  // than the log says, is a violation.
  void line(std::string_view text);

  // The load client's outcomes: requests answered, requests failed with nothing to explain
  // them, and requests lost to a fault the run injected (a worker killed).
  void add_requests(std::uint64_t ok, std::uint64_t failed, std::uint64_t lost_to_fault,
                    const std::string& detail);

  const check::Checker& checker() const { return checker_; }
  std::uint64_t steps() const { return steps_; }
  int generations() const { return generation_; }
  // The replayed master's view after the last step.
  const StatusSnapshot& view() const { return view_; }
  // The last version seen serving (a stopped master serves none).
  const Version& last_serving() const { return last_serving_; }

 private:
  void header(const nlohmann::json& j);
  void step(const nlohmann::json& j);
  void observe(Nanos t, const Event& e, const Commands& commands, const StatusSnapshot& before);
  check::ProcId proc(Role role, std::uint64_t serial);

  check::Checker checker_{0};
  std::optional<Supervisor> sup_;
  int generation_ = 0;
  std::uint64_t lines_ = 0;
  std::uint64_t steps_ = 0;
  Nanos last_t_{0};
  StatusSnapshot view_;
  Version last_serving_;

  std::map<std::pair<int, std::uint64_t>, check::ProcId> procs_;  // (role, serial) this generation
  std::map<check::ProcId, bool> live_;                            // started, not reaped
  check::ProcId next_proc_ = 1;
};

}  // namespace zyg::event_log
