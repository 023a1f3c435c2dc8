// The scenario file format (docs/SIMULATION.md): to_text prints a scenario, parse reads one back,
// so that a printed scenario runs the same.
#include "sim/scenario.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <sstream>

namespace zyg::sim {

namespace {

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

std::optional<std::int64_t> parse_int(const std::string& s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "12.5%" -> 125000 ppm; "300ppm" -> 300.
std::optional<std::uint32_t> parse_ppm(const std::string& s) {
  if (s.size() > 3 && s.compare(s.size() - 3, 3, "ppm") == 0) {
    auto v = parse_int(s.substr(0, s.size() - 3));
    if (!v || *v < 0 || *v > 1'000'000) return std::nullopt;
    return static_cast<std::uint32_t>(*v);
  }
  if (s.empty() || s.back() != '%') return std::nullopt;
  const std::string num = s.substr(0, s.size() - 1);
  const auto dot = num.find('.');
  std::string whole = num.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : num.substr(dot + 1);
  if (frac.size() > 4) return std::nullopt;
  while (frac.size() < 4) frac += '0';
  auto w = parse_int(whole.empty() ? "0" : whole);
  auto f = parse_int(frac);
  // More than 100% is refused before it is multiplied (found by fuzz/scenario_fuzz.cpp).
  if (!w || !f || *w < 0 || *f < 0 || *w > 100) return std::nullopt;
  const std::int64_t ppm = *w * 10'000 + *f;
  if (ppm > 1'000'000) return std::nullopt;
  return static_cast<std::uint32_t>(ppm);
}

std::string format_ppm(std::uint32_t ppm) {
  std::string frac = std::to_string(ppm % 10'000);
  while (frac.size() < 4) frac = "0" + frac;
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return std::to_string(ppm / 10'000) + (frac.empty() ? "" : "." + frac) + "%";
}

std::optional<std::pair<Nanos, Nanos>> parse_range(const std::string& s) {
  const auto dots = s.find("..");
  if (dots == std::string::npos) {
    auto d = parse_duration(s);
    if (!d) return std::nullopt;
    return std::make_pair(*d, *d);
  }
  auto lo = parse_duration(s.substr(0, dots));
  auto hi = parse_duration(s.substr(dots + 2));
  if (!lo || !hi || *hi < *lo) return std::nullopt;
  return std::make_pair(*lo, *hi);
}

std::string format_range(Nanos lo, Nanos hi) {
  return lo == hi ? format_duration(lo) : format_duration(lo) + ".." + format_duration(hi);
}

const char* target_name(Target t) {
  switch (t) {
    case Target::worker: return "worker";
    case Target::zygote: return "zygote";
    case Target::master: return "master";
    case Target::front: return "front";
    case Target::busy_worker: return "busy-worker";
  }
  return "?";
}

std::optional<Target> parse_target(const std::string& s) {
  if (s == "worker") return Target::worker;
  if (s == "zygote") return Target::zygote;
  if (s == "master") return Target::master;
  if (s == "front") return Target::front;
  if (s == "busy-worker") return Target::busy_worker;
  return std::nullopt;
}

}  // namespace

std::string format_duration(Nanos d) {
  const std::int64_t ns = d.count();
  if (ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + "s";
  if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
  if (ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
  return std::to_string(ns) + "ns";
}

std::optional<Nanos> parse_duration(const std::string& s) {
  struct Unit {
    const char* suffix;
    std::int64_t ns;
  };
  static const Unit units[] = {{"ns", 1}, {"us", 1'000}, {"ms", 1'000'000}, {"s", 1'000'000'000}};
  for (const Unit& u : units) {
    const std::string suf = u.suffix;
    if (s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0) {
      const std::string num = s.substr(0, s.size() - suf.size());
      if (suf == "s" && !num.empty() &&
          (num.back() == 'm' || num.back() == 'u' || num.back() == 'n')) {
        continue;
      }
      auto v = parse_int(num);
      // Negative, or beyond what nanoseconds hold (found by fuzz/scenario_fuzz.cpp): refused.
      if (!v || *v < 0 || *v > std::numeric_limits<std::int64_t>::max() / u.ns) return std::nullopt;
      return Nanos{*v * u.ns};
    }
  }
  return std::nullopt;
}

std::string knobs_line(const Scenario& s) {
  std::ostringstream o;
  o << "SEED=" << s.seed << " budget=" << s.budget
    << " workers=" << (s.workers ? s.workers : s.budget) << " max-changing=" << s.max_changing
    << " pid-max=" << s.pid_max << " clients=" << s.clients.clients
    << " keepalive=" << format_ppm(s.clients.keepalive_ppm)
    << " pipeline=" << format_ppm(s.clients.pipeline_ppm)
    << " abandon=" << format_ppm(s.clients.abandon_ppm)
    << " spawn-fail=" << format_ppm(s.spawn_fail_ppm) << " backlog=" << s.backlog
    << " versions=" << s.versions.size() << " actions=" << s.actions.size();
  if (s.accept_fail_ppm) o << " accept-fail=" << format_ppm(s.accept_fail_ppm);
  if (s.handoff_fail_ppm) o << " handoff-fail=" << format_ppm(s.handoff_fail_ppm);
  if (s.max_connections) o << " max-connections=" << s.max_connections;
  return o.str();
}

std::string to_text(const Scenario& s) {
  std::ostringstream o;
  o << "# zygote-sim scenario (format: docs/SIMULATION.md)\n";
  o << "seed " << s.seed << "\n";
  o << "budget " << s.budget << "\n";
  if (s.workers) o << "workers " << s.workers << "\n";
  o << "max-changing " << s.max_changing << "\n";
  o << "graceful-timeout " << format_duration(s.graceful_timeout) << "\n";
  o << "heartbeat-timeout " << format_duration(s.heartbeat_timeout) << "\n";
  o << "keepalive-timeout " << format_duration(s.keepalive_timeout) << "\n";
  if (s.write_timeout != Scenario{}.write_timeout)
    o << "write-timeout " << format_duration(s.write_timeout) << "\n";
  o << "probation " << format_duration(s.probation) << "\n";
  o << "duration " << format_duration(s.duration) << "\n";
  o << "liveness " << format_duration(s.liveness) << "\n";
  o << "pid-max " << s.pid_max << "\n";
  if (s.backlog) o << "backlog " << s.backlog << "\n";
  if (s.max_requests) o << "max-requests " << s.max_requests << "\n";
  if (s.fast_stop) o << "stop fast\n";
  if (s.stop_delay != Nanos{0}) o << "stop-delay " << format_duration(s.stop_delay) << "\n";
  o << "spawn-fail " << format_ppm(s.spawn_fail_ppm) << "\n";
  if (s.accept_fail_ppm) o << "accept-fail " << format_ppm(s.accept_fail_ppm) << "\n";
  if (s.handoff_fail_ppm) o << "handoff-fail " << format_ppm(s.handoff_fail_ppm) << "\n";
  if (s.max_connections) o << "max-connections " << s.max_connections << "\n";
  const ClientSpec& c = s.clients;
  o << "clients " << c.clients << " keepalive " << format_ppm(c.keepalive_ppm) << " pipeline "
    << format_ppm(c.pipeline_ppm) << " abandon " << format_ppm(c.abandon_ppm) << " half-send "
    << format_ppm(c.half_send_ppm) << " stall " << format_ppm(c.stall_ppm) << " garbage "
    << format_ppm(c.garbage_ppm) << " long " << format_ppm(c.long_ppm) << " long-request "
    << format_duration(c.long_request) << " think " << format_range(c.think_min, c.think_max)
    << " patience " << format_duration(c.patience) << " reuse "
    << format_duration(c.idle_reuse_max);
  if (c.slow_read_ppm) {
    o << " slow-read " << format_ppm(c.slow_read_ppm) << " slow-read-delay "
      << format_duration(c.slow_read_delay);
  }
  if (c.upload_ppm) o << " upload " << format_ppm(c.upload_ppm) << " upload-max " << c.upload_max;
  o << "\n";
  for (const VersionSpec& v : s.versions) {
    o << "version " << v.name << " load " << format_range(v.load_min, v.load_max) << " service "
      << format_range(v.service_min, v.service_max) << " crash " << format_ppm(v.crash_ppm)
      << " hang " << format_ppm(v.hang_ppm) << " init-crash " << format_ppm(v.init_crash_ppm)
      << " init-hang " << format_ppm(v.init_hang_ppm) << (v.load_hangs ? " load-hangs" : "")
      << " memory " << (v.memory_bytes >> 20) << "MiB" << (v.load_fails ? " broken" : "") << "\n";
  }
  o << "start " << s.initial << "\n";
  for (const Action& a : s.actions) {
    o << "at " << format_duration(a.at) << " ";
    switch (a.kind) {
      case ActionKind::deploy: o << "deploy " << a.version; break;
      case ActionKind::ttin: o << "ttin"; break;
      case ActionKind::ttou: o << "ttou"; break;
      case ActionKind::kill: o << "kill " << target_name(a.target); break;
      case ActionKind::pause:
        o << "pause " << target_name(a.target) << " " << format_duration(a.duration);
        if (a.count > 1) o << " x" << a.count;
        break;
      case ActionKind::ignore_term: o << "ignore-term worker"; break;
      case ActionKind::crash_master: o << "crash master"; break;
      case ActionKind::kill_forking: o << "kill zygote forking"; break;
    }
    o << "\n";
  }
  return o.str();
}

namespace {

// Parses "key value" pairs of a clients or version line, starting at index `i`.
bool parse_client_options(const std::vector<std::string>& w, ClientSpec& c, std::string& err) {
  for (std::size_t i = 2; i < w.size(); i += 2) {
    if (i + 1 >= w.size()) {
      err = "missing value after " + w[i];
      return false;
    }
    const std::string& k = w[i];
    const std::string& v = w[i + 1];
    std::optional<std::uint32_t> ppm;
    std::optional<Nanos> d;
    std::optional<std::int64_t> n;
    if (k == "keepalive" && (ppm = parse_ppm(v)))
      c.keepalive_ppm = *ppm;
    else if (k == "pipeline" && (ppm = parse_ppm(v)))
      c.pipeline_ppm = *ppm;
    else if (k == "abandon" && (ppm = parse_ppm(v)))
      c.abandon_ppm = *ppm;
    else if (k == "half-send" && (ppm = parse_ppm(v)))
      c.half_send_ppm = *ppm;
    else if (k == "stall" && (ppm = parse_ppm(v)))
      c.stall_ppm = *ppm;
    else if (k == "garbage" && (ppm = parse_ppm(v)))
      c.garbage_ppm = *ppm;
    else if (k == "long" && (ppm = parse_ppm(v)))
      c.long_ppm = *ppm;
    else if (k == "slow-read" && (ppm = parse_ppm(v)))
      c.slow_read_ppm = *ppm;
    else if (k == "slow-read-delay" && (d = parse_duration(v)))
      c.slow_read_delay = *d;
    else if (k == "upload" && (ppm = parse_ppm(v)))
      c.upload_ppm = *ppm;
    else if (k == "upload-max" && (n = parse_int(v)) && *n >= 1 && *n <= (1 << 20))
      c.upload_max = static_cast<int>(*n);
    else if (k == "long-request" && (d = parse_duration(v)))
      c.long_request = *d;
    else if (k == "patience" && (d = parse_duration(v)))
      c.patience = *d;
    else if (k == "reuse" && (d = parse_duration(v)))
      c.idle_reuse_max = *d;
    else if (k == "think") {
      auto r = parse_range(v);
      if (!r) {
        err = "bad range " + v;
        return false;
      }
      c.think_min = r->first;
      c.think_max = r->second;
    } else {
      err = "unknown or malformed client option: " + k + " " + v;
      return false;
    }
  }
  return true;
}

bool parse_version(const std::vector<std::string>& w, VersionSpec& v, std::string& err) {
  v.name = w[1];
  for (std::size_t i = 2; i < w.size(); ++i) {
    const std::string& k = w[i];
    if (k == "broken" || k == "load-hangs") {
      (k == "broken" ? v.load_fails : v.load_hangs) = true;
      continue;
    }
    if (i + 1 >= w.size()) {
      err = "missing value after " + k;
      return false;
    }
    const std::string& val = w[++i];
    std::optional<std::uint32_t> ppm;
    if (k == "load" || k == "service") {
      auto r = parse_range(val);
      if (!r) {
        err = "bad range " + val;
        return false;
      }
      (k == "load" ? v.load_min : v.service_min) = r->first;
      (k == "load" ? v.load_max : v.service_max) = r->second;
    } else if (k == "crash" && (ppm = parse_ppm(val))) {
      v.crash_ppm = *ppm;
    } else if (k == "hang" && (ppm = parse_ppm(val))) {
      v.hang_ppm = *ppm;
    } else if (k == "init-crash" && (ppm = parse_ppm(val))) {
      v.init_crash_ppm = *ppm;
    } else if (k == "init-hang" && (ppm = parse_ppm(val))) {
      v.init_hang_ppm = *ppm;
    } else if (k == "memory" && val.size() > 3 && val.compare(val.size() - 3, 3, "MiB") == 0) {
      auto mib = parse_int(val.substr(0, val.size() - 3));
      if (!mib || *mib < 0) {
        err = "bad memory " + val;
        return false;
      }
      v.memory_bytes = static_cast<std::uint64_t>(*mib) << 20;
    } else {
      err = "unknown or malformed version option: " + k + " " + val;
      return false;
    }
  }
  return true;
}

// The scenario-wide fault rates, by their directive: spawn-fail, accept-fail, handoff-fail.
std::uint32_t* fault_rate(Scenario& s, const std::string& key) {
  if (key == "spawn-fail") return &s.spawn_fail_ppm;
  if (key == "accept-fail") return &s.accept_fail_ppm;
  if (key == "handoff-fail") return &s.handoff_fail_ppm;
  return nullptr;
}

// The scenario-wide durations, by their directive.
Nanos* duration_field(Scenario& s, const std::string& key) {
  if (key == "graceful-timeout") return &s.graceful_timeout;
  if (key == "heartbeat-timeout") return &s.heartbeat_timeout;
  if (key == "keepalive-timeout") return &s.keepalive_timeout;
  if (key == "write-timeout") return &s.write_timeout;
  if (key == "probation") return &s.probation;
  if (key == "stop-delay") return &s.stop_delay;
  if (key == "duration") return &s.duration;
  if (key == "liveness") return &s.liveness;
  return nullptr;
}

bool parse_rate(const std::vector<std::string>& w, std::uint32_t& rate) {
  auto p = w.size() == 2 ? parse_ppm(w[1]) : std::nullopt;
  if (p) rate = *p;
  return p.has_value();
}

bool parse_action(const std::vector<std::string>& w, Action& a, std::string& err) {
  auto at = w.size() >= 3 ? parse_duration(w[1]) : std::nullopt;
  if (!at) {
    err = "expected: at TIME ACTION ...";
    return false;
  }
  a.at = *at;
  const std::string& kind = w[2];
  auto need = [&](std::size_t n) {
    if (w.size() < n) err = "too few words for " + kind;
    return w.size() >= n;
  };
  if (kind == "deploy") {
    if (!need(4)) return false;
    a.kind = ActionKind::deploy;
    a.version = w[3];
  } else if (kind == "ttin" || kind == "ttou") {
    a.kind = kind == "ttin" ? ActionKind::ttin : ActionKind::ttou;
  } else if (kind == "kill" && w.size() == 5 && w[3] == "zygote" && w[4] == "forking") {
    a.kind = ActionKind::kill_forking;
  } else if (kind == "kill" || kind == "pause" || kind == "ignore-term") {
    if (!need(4)) return false;
    auto t = parse_target(w[3]);
    if (!t) {
      err = "unknown target " + w[3];
      return false;
    }
    a.target = *t;
    a.kind = kind == "kill"    ? ActionKind::kill
             : kind == "pause" ? ActionKind::pause
                               : ActionKind::ignore_term;
    if (a.kind == ActionKind::pause) {
      auto d = w.size() >= 5 ? parse_duration(w[4]) : std::nullopt;
      if (!d) {
        err = "pause needs a duration";
        return false;
      }
      a.duration = *d;
      if (w.size() >= 6) {
        auto n = w[5].size() > 1 && w[5][0] == 'x' ? parse_int(w[5].substr(1)) : std::nullopt;
        if (!n || *n < 1 || *n > 64) {
          err = "pause count is written xN, N in 1..64";
          return false;
        }
        a.count = static_cast<int>(*n);
      }
    }
    if (a.kind == ActionKind::ignore_term && a.target != Target::worker) {
      err = "ignore-term applies to workers";
      return false;
    }
    if (a.kind != ActionKind::kill && a.target == Target::busy_worker) {
      err = "busy-worker is a target of kill only";
      return false;
    }
  } else if (kind == "crash" && w.size() >= 4 && w[3] == "master") {
    a.kind = ActionKind::crash_master;
  } else {
    err = "unknown action " + kind;
    return false;
  }
  return true;
}

}  // namespace

std::optional<Scenario> parse(const std::string& text, std::string& error) {
  Scenario s;
  s.versions.clear();
  std::istringstream in(text);
  std::string line;
  int n = 0;
  auto fail = [&](const std::string& why) {
    error = "line " + std::to_string(n) + ": " + why;
    return std::optional<Scenario>{};
  };
  while (std::getline(in, line)) {
    ++n;
    line = line.substr(0, line.find('#'));
    const auto w = words(line);
    if (w.empty()) continue;
    const std::string& key = w[0];
    std::string err;
    auto one_int = [&](auto& field, std::int64_t lo, std::int64_t hi) {
      auto v = w.size() == 2 ? parse_int(w[1]) : std::nullopt;
      if (!v || *v < lo || *v > hi) return false;
      field = static_cast<std::remove_reference_t<decltype(field)>>(*v);
      return true;
    };
    auto one_duration = [&](Nanos& field) {
      auto d = w.size() == 2 ? parse_duration(w[1]) : std::nullopt;
      if (!d) return false;
      field = *d;
      return true;
    };
    bool ok = true;
    if (key == "seed") {
      auto v = w.size() == 2 ? parse_int(w[1]) : std::nullopt;
      ok = v && *v >= 0;
      if (ok) s.seed = static_cast<std::uint64_t>(*v);
    } else if (key == "budget")
      ok = one_int(s.budget, 1, 64);
    else if (key == "workers")
      ok = one_int(s.workers, 0, 64);
    else if (key == "max-changing")
      ok = one_int(s.max_changing, 0, 64);
    else if (key == "pid-max")
      ok = one_int(s.pid_max, 2, 4'194'304);
    else if (key == "backlog")
      ok = one_int(s.backlog, 0, 65535);
    else if (key == "max-requests")
      ok = one_int(s.max_requests, 0, 1'000'000'000);
    else if (key == "max-connections")
      ok = one_int(s.max_connections, 0, 1'000'000);
    else if (std::uint32_t* rate = fault_rate(s, key))
      ok = parse_rate(w, *rate);
    else if (key == "stop") {
      ok = w.size() == 2 && (w[1] == "fast" || w[1] == "graceful");
      if (ok) s.fast_stop = w[1] == "fast";
    } else if (Nanos* d = duration_field(s, key))
      ok = one_duration(*d);
    else if (key == "clients") {
      auto v = w.size() >= 2 ? parse_int(w[1]) : std::nullopt;
      if (!v || *v < 0) return fail("clients needs a count");
      s.clients.clients = static_cast<int>(*v);
      if (!parse_client_options(w, s.clients, err)) return fail(err);
    } else if (key == "version") {
      if (w.size() < 2) return fail("version needs a name");
      VersionSpec v;
      if (!parse_version(w, v, err)) return fail(err);
      if (s.version(v.name)) return fail("version " + v.name + " declared twice");
      s.versions.push_back(v);
    } else if (key == "start") {
      ok = w.size() == 2;
      if (ok) s.initial = w[1];
    } else if (key == "at") {
      Action a;
      if (!parse_action(w, a, err)) return fail(err);
      s.actions.push_back(a);
    } else {
      return fail("unknown directive " + key);
    }
    if (!ok) return fail("malformed " + key + " line");
  }
  std::stable_sort(s.actions.begin(), s.actions.end(),
                   [](const Action& a, const Action& b) { return a.at < b.at; });
  if (auto why = s.validate()) {
    error = *why;
    return std::nullopt;
  }
  return s;
}

}  // namespace zyg::sim
