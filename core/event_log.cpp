#include "core/event_log.hpp"

#include <array>
#include <utility>

#include "core/control.hpp"

namespace nlohmann {
template <>
struct adl_serializer<zyg::Nanos> {
  static void to_json(json& j, const zyg::Nanos& d) { j = d.count(); }
  static void from_json(const json& j, zyg::Nanos& d) { d = zyg::Nanos{j.get<std::int64_t>()}; }
};
}  // namespace nlohmann

namespace zyg {

void to_json(nlohmann::json& j, const WorkerId& id) { j = id.value; }
void from_json(const nlohmann::json& j, WorkerId& id) { id.value = j.get<std::uint64_t>(); }
void to_json(nlohmann::json& j, const ZygoteId& id) { j = id.value; }
void from_json(const nlohmann::json& j, ZygoteId& id) { id.value = j.get<std::uint64_t>(); }
void to_json(nlohmann::json& j, const ExitStatus& s) {
  j = {{"signaled", s.signaled}, {"code", s.code}};
}
void from_json(const nlohmann::json& j, ExitStatus& s) {
  s.signaled = j.at("signaled").get<bool>();
  s.code = j.at("code").get<int>();
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SupervisorConfig, budget, desired, max_changing,
                                   graceful_timeout, heartbeat_timeout, ready_timeout, load_timeout,
                                   kill_retry, zygote_timeout, stall_threshold, lost_worker_timeout,
                                   backoff_base, backoff_max, crash_loop_limit, probation)

namespace ev {
void to_json(nlohmann::json& j, const Start& e) {
  j = {{"version", e.version}};
  if (e.last_good) j["last_good"] = *e.last_good;
}
void from_json(const nlohmann::json& j, Start& e) {
  e.version = j.at("version").get<std::string>();
  if (j.contains("last_good")) e.last_good = j.at("last_good").get<std::string>();
}
void to_json(nlohmann::json& j, const Tick&) { j = nlohmann::json::object(); }
void from_json(const nlohmann::json&, Tick&) {}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DeployRequested, version)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ZygoteSpawned, zygote, pid)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ZygoteSpawnFailed, zygote, error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ZygoteLoaded, zygote, app)  // logs before `app`: ""
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ZygoteLoadFailed, zygote, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ZygoteReplied, zygote)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WorkerSignalled, worker, graceful)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ZygoteExited, zygote, status)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WorkerSpawned, worker, pid)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SpawnFailed, worker, error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WorkerReady, worker)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WorkerBusy, worker)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WorkerIdle, worker, served)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WorkerHeartbeat, worker)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WorkerExiting, worker, retiring)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WorkerExited, worker, status)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(UnknownChildReaped, pid, status)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ChildrenListed, unknown)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ScaleTo, workers)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ScaleBy, delta)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Shutdown, graceful)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StatusRequested, request)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FrontSpawned, generation, pid)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FrontSpawnFailed, generation, error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FrontAlive, connections, waiting, handoffs)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FrontNotice, text)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FrontExited, generation, status)
}  // namespace ev

namespace event_log {

namespace {

using nlohmann::json;

// The "type" of each Event alternative, in the variant's order.
constexpr std::array<const char*, std::variant_size_v<Event>> kTypes{
    "start",           "deploy",
    "zygote-spawned",  "zygote-spawn-failed",
    "zygote-loaded",   "zygote-load-failed",
    "zygote-replied",  "worker-signalled",
    "zygote-exited",   "worker-spawned",
    "spawn-failed",    "worker-ready",
    "worker-busy",     "worker-idle",
    "heartbeat",       "worker-exiting",
    "worker-exited",   "unknown-child-reaped",
    "children-listed", "tick",
    "scale-to",        "scale-by",
    "shutdown",        "status",
    "front-spawned",   "front-spawn-failed",
    "front-alive",     "front-notice",
    "front-exited"};

template <std::size_t I = 0>
std::optional<Event> from_index(std::size_t index, const json& j) {
  if constexpr (I < std::variant_size_v<Event>) {
    if (index != I) return from_index<I + 1>(index, j);
    std::variant_alternative_t<I, Event> e;
    from_json(j, e);
    return Event{std::in_place_index<I>, std::move(e)};
  } else {
    return std::nullopt;
  }
}

std::string text_of(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

}  // namespace

json to_json(const Event& e) {
  json j = std::visit([](const auto& x) { return json(x); }, e);
  j["type"] = kTypes[e.index()];
  return j;
}

std::optional<Event> event_from_json(const json& j) {
  try {
    if (!j.is_object()) return std::nullopt;
    const std::string type = text_of(j, "type");
    for (std::size_t i = 0; i < kTypes.size(); ++i) {
      if (type == kTypes[i]) return from_index(i, j);
    }
  } catch (const json::exception&) {
  }
  return std::nullopt;
}

// stop_delay came later: a log without it is of a server that had none.
json to_json(const SupervisorConfig& c) {
  json j(c);
  j["stop_delay"] = c.stop_delay;
  return j;
}

std::optional<SupervisorConfig> config_from_json(const json& j) {
  try {
    SupervisorConfig c = j.get<SupervisorConfig>();
    if (j.contains("stop_delay")) c.stop_delay = j["stop_delay"].get<Nanos>();
    if (c.validate()) return std::nullopt;
    return c;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::string header_line(const SupervisorConfig& config, Pid master) {
  return control::dump_line(
      json{{"zygote_events", 1}, {"pid", master}, {"config", to_json(config)}});
}

std::string step_line(Nanos now, const Event& e, const Commands& commands,
                      const StatusSnapshot& view) {
  json j{{"t", now.count()}, {"event", to_json(e)}};
  if (!commands.empty()) {
    json cmds = json::array();
    for (const Command& c : commands) cmds.push_back(describe(c));
    j["commands"] = std::move(cmds);
    j["serving"] = view.serving;
    j["loading"] = view.loading;
    j["workers"] = control::to_json(view.workers);
  }
  return control::dump_line(j);
}

namespace {

// The log holds integers only (times, ids, counts, settings); a fraction would be converted to
// an integer it may not fit (undefined behaviour; found by fuzz/event_log_fuzz.cpp).
bool has_fraction(const json& j) {
  if (j.is_number_float()) return true;
  if (j.is_structured()) {
    for (const json& x : j) {
      if (has_fraction(x)) return true;
    }
  }
  return false;
}

}  // namespace

void Judge::line(std::string_view text) {
  ++lines_;
  if (text.empty()) return;
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    checker_.fail(last_t_, "events: line " + std::to_string(lines_) + " is not a JSON object");
    return;
  }
  if (has_fraction(j)) {
    checker_.fail(
        last_t_, "events: line " + std::to_string(lines_) + " has a number that is not an integer");
    return;
  }
  if (j.contains("zygote_events")) {
    header(j);
  } else {
    step(j);
  }
}

void Judge::header(const json& j) {
  auto config = j.contains("config") ? config_from_json(j["config"]) : std::nullopt;
  if (!config) {
    checker_.fail(last_t_, "events: line " + std::to_string(lines_) +
                               ": a header without a valid supervisor config");
    sup_.reset();
    return;
  }
  // A new master: what the previous one left is out of sight (its service manager stops it).
  for (auto& [id, live] : live_) {
    if (live) checker_.process_reaped(last_t_, id);
  }
  live_.clear();
  procs_.clear();
  ++generation_;
  last_t_ = Nanos{0};  // a new master may be on a new boot: its monotonic clock starts over
  checker_.set_budget(config->budget);
  sup_.emplace(*config);
  view_ = sup_->snapshot();
}

check::ProcId Judge::proc(Role role, std::uint64_t serial) {
  auto [it, fresh] = procs_.try_emplace({static_cast<int>(role), serial}, next_proc_);
  if (fresh) ++next_proc_;
  return it->second;
}

void Judge::step(const json& j) {
  const std::string where = "events: line " + std::to_string(lines_);
  if (!sup_) {
    checker_.fail(last_t_, where + ": a step before any header");
    return;
  }
  if (!j.contains("t") || !j["t"].is_number_integer() || !j.contains("event")) {
    checker_.fail(last_t_, where + ": a step needs \"t\" and \"event\"");
    return;
  }
  const Nanos t{j["t"].get<std::int64_t>()};
  auto e = event_from_json(j["event"]);
  if (!e) {
    checker_.fail(t, where + ": not an event: " + j["event"].dump().substr(0, 120));
    return;
  }
  if (t < last_t_) {
    // One master's clock never goes back: this line is not that master's (or was altered).
    checker_.fail(t, where + ": time went backwards within one master's log");
    return;
  }
  last_t_ = t;
  ++steps_;
  const StatusSnapshot before = view_;
  const Commands replayed = sup_->step(*e, t);
  view_ = sup_->snapshot();
  if (!view_.serving.empty()) last_serving_ = view_.serving;
  std::vector<std::string> mine, recorded;

  for (const Command& c : replayed) mine.push_back(describe(c));
  if (j.contains("commands") && j["commands"].is_array()) {
    for (const json& c : j["commands"])
      recorded.push_back(c.is_string() ? c.get<std::string>() : c.dump());
  }
  if (mine != recorded) {
    checker_.fail(t, "replay: " + where + " (" + describe(*e) + "): the log records " +
                         std::to_string(recorded.size()) + " commands, the supervisor decides " +
                         std::to_string(mine.size()) +
                         (recorded.empty() || mine.empty() || recorded[0] == mine[0]
                              ? std::string()
                              : ": '" + recorded[0] + "' against '" + mine[0] + "'"));
  }
  observe(t, *e, replayed, before);
  checker_.master_view(t, generation_, view_);
}

void Judge::observe(Nanos t, const Event& e, const Commands& commands,
                    const StatusSnapshot& before) {
  auto started = [&](Role role, std::uint64_t serial, Pid pid, const Version& version) {
    const check::ProcId id = proc(role, serial);
    if (live_[id]) return;
    live_[id] = true;
    checker_.process_started(t, id, pid, role, version, serial, generation_);
  };
  auto reaped = [&](Role role, std::uint64_t serial) {
    const check::ProcId id = proc(role, serial);
    if (!live_[id]) return;
    live_[id] = false;
    checker_.process_reaped(t, id);
  };
  auto version_of = [&](Role role, std::uint64_t serial) {
    for (const ProcessInfo& p : view_.processes) {
      if (p.role == role && p.id == serial) return p.version;
    }
    for (const ProcessInfo& p : before.processes) {
      if (p.role == role && p.id == serial) return p.version;
    }
    return Version();
  };
  if (const auto* zs = std::get_if<ev::ZygoteSpawned>(&e)) {
    started(Role::zygote, zs->zygote.value, zs->pid, version_of(Role::zygote, zs->zygote.value));
  } else if (const auto* ze = std::get_if<ev::ZygoteExited>(&e)) {
    reaped(Role::zygote, ze->zygote.value);
  } else if (const auto* ws = std::get_if<ev::WorkerSpawned>(&e)) {
    started(Role::worker, ws->worker.value, ws->pid, version_of(Role::worker, ws->worker.value));
  } else if (const auto* we = std::get_if<ev::WorkerExited>(&e)) {
    reaped(Role::worker, we->worker.value);
  }

  // Signals the master sends by pid itself: to orphaned workers and to its zygotes. The pid must
  // be its own unreaped child as the master knew it before this step.
  const check::ProcId master = proc(Role::master, 0);
  auto own_child = [&](Pid pid, Role role) {
    for (const ProcessInfo& p : before.processes) {
      if (p.role == role && p.pid == pid && (role == Role::zygote || p.orphaned)) {
        return live_[proc(role, p.id)];
      }
    }
    return false;
  };
  for (const Command& c : commands) {
    if (const auto* s = std::get_if<cmd::StopWorker>(&c); s && s->via.value == 0 && s->pid > 0) {
      checker_.signal_sent(t, master, s->pid, own_child(s->pid, Role::worker), "SIGTERM");
    } else if (const auto* k = std::get_if<cmd::KillWorker>(&c);
               k && k->via.value == 0 && k->pid > 0) {
      checker_.signal_sent(t, master, k->pid, own_child(k->pid, Role::worker), "SIGKILL");
    } else if (const auto* kz = std::get_if<cmd::KillZygote>(&c); kz && kz->pid > 0) {
      checker_.signal_sent(t, master, kz->pid, own_child(kz->pid, Role::zygote), "SIGKILL");
    }
  }
}

void Judge::add_requests(std::uint64_t ok, std::uint64_t failed, std::uint64_t lost_to_fault,
                         const std::string& detail) {
  for (std::uint64_t i = 0; i < ok; ++i) checker_.request_finished(last_t_, check::Outcome::ok, "");
  for (std::uint64_t i = 0; i < lost_to_fault; ++i) {
    checker_.request_finished(last_t_, check::Outcome::lost_to_fault, detail);
  }
  for (std::uint64_t i = 0; i < failed; ++i) {
    checker_.request_finished(last_t_, check::Outcome::dropped, detail);
  }
}

}  // namespace event_log
}  // namespace zyg
