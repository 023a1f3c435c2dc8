#include "core/status.hpp"

#include <array>
#include <charconv>
#include <utility>
#include <vector>

#include "core/control.hpp"

namespace zyg {

namespace {

double seconds(Nanos d) { return static_cast<double>(d.count()) / 1e9; }

// Worker exit causes always present in the metrics, so a rate over them starts at zero.
constexpr std::array<const char*, 9> kExitCauses = {"crash",      "killed",   "killed_externally",
                                                    "retired",    "deploy",   "rollback",
                                                    "scale_down", "shutdown", "zygote_gone"};

// A deploy outcome, and the report kind that counts it.
constexpr std::array<std::pair<const char*, const char*>, 4> kDeployOutcomes = {{
    {"started", "deploy"},
    {"proven", "proven"},
    {"failed", "load-failed"},
    {"rolled_back", "rollback"},
}};

std::uint64_t count_of(const std::map<std::string, std::uint64_t>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

nlohmann::json memory_json(const StatusExtras& x, const std::optional<Pid>& pid) {
  if (!pid) return nullptr;
  auto it = x.memory.find(*pid);
  if (it == x.memory.end()) return nullptr;
  return {
      {"rss", it->second.rss_bytes}, {"pss", it->second.pss_bytes}, {"uss", it->second.uss_bytes}};
}

nlohmann::json requests_json(const RequestStats& r) {
  nlohmann::json classes;
  for (std::size_t i = 0; i < r.by_class.size(); ++i) {
    classes[std::to_string(i + 1) + "xx"] = r.by_class[i];
  }
  nlohmann::json buckets = nlohmann::json::array();
  for (std::size_t i = 0; i < r.buckets.size(); ++i) {
    buckets.push_back(
        {{"le", static_cast<double>(RequestStats::kBucketsUs[i]) / 1e6}, {"count", r.buckets[i]}});
  }
  return {{"count", r.count()},
          {"by_class", std::move(classes)},
          {"duration_sum_s", static_cast<double>(r.duration_sum_us) / 1e6},
          {"log_lines_dropped", r.log_dropped},
          {"duration_buckets", std::move(buckets)}};
}

// The snapshot's processes, each with what the master adds: memory, requests, the request now.
nlohmann::json processes_json(const StatusSnapshot& s, const StatusExtras& x) {
  nlohmann::json procs = nlohmann::json::array();
  for (const ProcessInfo& p : s.processes) {
    nlohmann::json q = control::to_json(p);
    q["state_for_s"] = seconds(s.now - p.since);
    q["memory"] = memory_json(x, p.pid);
    if (p.role == Role::worker) {
      auto it = x.workers.find(p.id);
      const RequestStats* r = it == x.workers.end() ? nullptr : &it->second;
      q["served"] = std::max<std::uint64_t>(p.served, r ? r->count() : 0);
      q["request_for_s"] = nullptr;
      if (r && r->current_since_ns != 0) {
        q["request_for_s"] = std::max(0.0, seconds(s.now - Nanos{r->current_since_ns}));
      }
    }
    procs.push_back(std::move(q));
  }
  return procs;
}

}  // namespace

void RequestBook::update(std::uint64_t worker, const RequestStats& s, bool known) {
  auto it = live_.find(worker);
  if (it == live_.end()) {
    if (!known) return;
    it = live_.emplace(worker, Entry{}).first;
  }
  it->second.stats = s;
}

RequestStats RequestBook::total() const {
  RequestStats t = retired_;
  for (const auto& [id, e] : live_) t.add(e.stats);
  return t;
}

std::map<std::uint64_t, RequestStats> RequestBook::workers() const {
  std::map<std::uint64_t, RequestStats> out;
  for (const auto& [id, e] : live_) out.emplace(id, e.stats);
  return out;
}

bool ready(const StatusSnapshot& s) {
  if (s.shutting_down || s.serving.empty()) return false;
  for (const ProcessInfo& p : s.processes) {
    const bool serving = p.state == "ready" || p.state == "busy";
    if (p.role == Role::worker && p.version == s.serving && serving && p.stop.empty()) return true;
  }
  return false;
}

nlohmann::json status_json(const StatusSnapshot& s, const StatusExtras& x) {
  nlohmann::json j = control::to_json(s);
  j["ready"] = ready(s);
  j["listen"] = x.listen;
  j["master"] = {{"pid", x.master_pid},
                 {"uptime_s", seconds(x.uptime)},
                 {"memory", memory_json(x, x.master_pid)}};
  j["front"]["memory"] = memory_json(x, s.front.pid);
  j["processes"] = processes_json(s, x);
  j["requests"] = requests_json(x.requests);
  nlohmann::json deploys;
  for (const auto& [outcome, kind] : kDeployOutcomes) deploys[outcome] = count_of(s.reports, kind);
  j["deploys"] = std::move(deploys);
  nlohmann::json exits;
  for (const char* cause : kExitCauses) exits[cause] = count_of(s.worker_exits, cause);
  j["worker_exits"] = std::move(exits);
  nlohmann::json timeline = nlohmann::json::array();
  for (const Milestone& m : s.timeline) {
    timeline.push_back(
        {{"ago_s", seconds(s.now - m.at)}, {"what", m.what}, {"version", m.version}});
  }
  j["timeline"] = std::move(timeline);
  return j;
}

namespace {

// A label value: backslash, double quote and line feed escaped (the text format's rules).
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);  // the shortest exact form
  return {buf, r.ptr};
}

class Exposition {
 public:
  // A metric family's HELP and TYPE lines: once, before its samples.
  void family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& labels, double v) {
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " " + number(v) + "\n";
  }
  void sample(const std::string& name, const std::string& labels, std::uint64_t v) {
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " " + std::to_string(v) + "\n";
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void request_metrics(Exposition& e, const RequestStats& r) {
  e.family("zygote_requests_total", "counter", "Responses sent by workers, by status class.");
  for (std::size_t i = 0; i < r.by_class.size(); ++i) {
    e.sample("zygote_requests_total", "class=\"" + std::to_string(i + 1) + "xx\"", r.by_class[i]);
  }
  e.family("zygote_request_duration_seconds", "histogram",
           "Time from a request reaching a worker to its response being written.");
  for (std::size_t i = 0; i < r.buckets.size(); ++i) {
    const double le = static_cast<double>(RequestStats::kBucketsUs[i]) / 1e6;
    e.sample("zygote_request_duration_seconds_bucket", "le=\"" + number(le) + "\"", r.buckets[i]);
  }
  e.sample("zygote_request_duration_seconds_bucket", "le=\"+Inf\"", r.count());
  e.sample("zygote_request_duration_seconds_sum", "", static_cast<double>(r.duration_sum_us) / 1e6);
  e.sample("zygote_request_duration_seconds_count", "", r.count());
}

// Workers and zygotes by state and version, and memory by version, from the process list.
void process_metrics(Exposition& e, const StatusSnapshot& s, const StatusExtras& x) {
  std::map<std::pair<std::string, std::string>, std::uint64_t> workers, zygotes;
  std::map<std::string, os::Memory> memory;
  for (const ProcessInfo& p : s.processes) {
    auto& by = p.role == Role::worker ? workers : zygotes;
    by[{p.version, p.state}] += 1;
    auto it = p.pid ? x.memory.find(*p.pid) : x.memory.end();
    if (it == x.memory.end()) continue;
    os::Memory& m = memory[p.version];
    m.rss_bytes += it->second.rss_bytes;
    m.pss_bytes += it->second.pss_bytes;
    m.uss_bytes += it->second.uss_bytes;
  }
  e.family("zygote_workers", "gauge",
           "Worker processes by version and state (all count "
           "against the budget).");
  for (const auto& [k, n] : workers) {
    e.sample("zygote_workers", "version=\"" + label(k.first) + "\",state=\"" + k.second + "\"", n);
  }
  e.family("zygote_zygotes", "gauge", "Zygote processes by version and state.");
  for (const auto& [k, n] : zygotes) {
    e.sample("zygote_zygotes", "version=\"" + label(k.first) + "\",state=\"" + k.second + "\"", n);
  }
  e.family("zygote_memory_bytes", "gauge",
           "Memory of a version's zygote and workers together (smaps_rollup): rss, pss, uss.");
  for (const auto& [v, m] : memory) {
    const std::string ver = "version=\"" + label(v) + "\",kind=";
    e.sample("zygote_memory_bytes", ver + "\"rss\"", m.rss_bytes);
    e.sample("zygote_memory_bytes", ver + "\"pss\"", m.pss_bytes);
    e.sample("zygote_memory_bytes", ver + "\"uss\"", m.uss_bytes);
  }
}

void front_metrics(Exposition& e, const StatusSnapshot& s) {
  e.family("zygote_front_connections", "gauge", "Client connections the front holds.");
  e.sample("zygote_front_connections", "", s.front.connections);
  e.family("zygote_front_waiting", "gauge", "Requests waiting in the front for a worker.");
  e.sample("zygote_front_waiting", "", s.front.waiting);
  e.family("zygote_front_handoffs_total", "counter", "Requests the front handed to workers.");
  e.sample("zygote_front_handoffs_total", "", s.front.handoffs);
  e.family("zygote_front_restarts_total", "counter", "Times the front died and was restarted.");
  e.sample("zygote_front_restarts_total", "", static_cast<std::uint64_t>(s.front.restarts));
}

}  // namespace

std::string metrics_text(const StatusSnapshot& s, const StatusExtras& x) {
  Exposition e;
  e.family("zygote_ready", "gauge",
           "1 when a version serves with ready workers and the server "
           "is not stopping (what /readyz says).");
  e.sample("zygote_ready", "", std::uint64_t{ready(s) ? 1u : 0u});
  e.family("zygote_budget_slots", "gauge", "Worker slots: the most worker processes that exist.");
  e.sample("zygote_budget_slots", "", static_cast<std::uint64_t>(s.budget));
  e.family("zygote_workers_desired", "gauge", "Workers wanted.");
  e.sample("zygote_workers_desired", "", static_cast<std::uint64_t>(s.desired));
  e.family("zygote_serving_info", "gauge", "The version serving, and whether it is proven.");
  e.sample("zygote_serving_info",
           "version=\"" + label(s.serving) + "\",proven=\"" + (s.serving_proven ? "1" : "0") + "\"",
           std::uint64_t{1});
  e.family("zygote_master_uptime_seconds", "gauge", "Seconds since the master started.");
  e.sample("zygote_master_uptime_seconds", "", seconds(x.uptime));
  request_metrics(e, x.requests);
  process_metrics(e, s, x);
  e.family("zygote_deploys_total", "counter", "Deploys by outcome.");
  for (const auto& [outcome, kind] : kDeployOutcomes) {
    e.sample("zygote_deploys_total", std::string("outcome=\"") + outcome + "\"",
             count_of(s.reports, kind));
  }
  e.family("zygote_worker_exits_total", "counter",
           "Worker exits by cause: crash, killed (hung), retired (own limit), or why it was "
           "stopped.");
  for (const char* cause : kExitCauses) {
    e.sample("zygote_worker_exits_total", std::string("cause=\"") + cause + "\"",
             count_of(s.worker_exits, cause));
  }
  front_metrics(e, s);
  e.family("zygote_access_log_dropped_total", "counter",
           "Access log lines the workers could not write (a full disk, a stuck reader).");
  e.sample("zygote_access_log_dropped_total", "", x.requests.log_dropped);
  return e.take();
}

}  // namespace zyg
