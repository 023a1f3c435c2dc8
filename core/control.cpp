#include "core/control.hpp"

#include <charconv>

namespace zyg::control {

namespace {

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Printable ASCII only, and short: what a client sent is echoed in errors and logs.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 40) out += "...";
  return out;
}

}  // namespace

std::variant<Request, std::string> parse(std::string_view line) {
  line = trim(line);
  const std::size_t space = line.find_first_of(" \t");
  const std::string_view verb = line.substr(0, space);
  const std::string_view rest =
      space == std::string_view::npos ? std::string_view{} : trim(line.substr(space));
  if (verb == "status" || verb == "deploy" || verb == "rollback") {
    if (!rest.empty()) return std::string(verb) + " takes no argument";
    if (verb == "status") return Request{Status{}};
    if (verb == "rollback") return Request{Rollback{}};
    return Request{Deploy{}};
  }
  if (verb == "stop") {
    if (rest.empty() || rest == "fast") return Request{Stop{rest == "fast"}};
    return "stop takes nothing or 'fast'; got '" + printable(rest) + "'";
  }
  if (verb == "scale") {
    int n = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
    if (rest.empty() || ec != std::errc{} || end != rest.data() + rest.size() || n < 0) {
      return "scale takes a worker count, e.g. 'scale 4'; got '" + printable(rest) + "'";
    }
    return Request{Scale{n}};
  }
  constexpr const char* kExpected = "expected status, deploy, scale N, rollback or stop [fast]";
  if (line.empty()) return std::string("empty request; ") + kExpected;
  return "unknown request '" + printable(verb) + "'; " + kExpected;
}

nlohmann::json to_json(const WorkerCounts& w) {
  return {{"starting", w.starting},
          {"ready", w.ready},
          {"busy", w.busy},
          {"draining", w.draining},
          {"exited", w.exited_unreaped},
          {"total", w.total()}};
}

nlohmann::json to_json(const ProcessInfo& p) {
  nlohmann::json q{{"role", to_string(p.role)},
                   {"id", p.id},
                   {"pid", p.pid ? *p.pid : 0},
                   {"version", p.version},
                   {"state", p.state}};
  if (p.role == Role::zygote) q["app"] = p.app;
  if (p.role == Role::worker) {
    q["zygote"] = p.zygote;
    q["orphaned"] = p.orphaned;
    q["stop"] = p.stop;
  }
  q["kill_sent"] = p.kill_sent;
  return q;
}

nlohmann::json to_json(const StatusSnapshot& s) {
  nlohmann::json j;
  j["budget"] = s.budget;
  j["desired"] = s.desired;
  j["phase"] = to_string(s.phase);
  j["serving"] = s.serving;
  j["serving_proven"] = s.serving_proven;
  j["loading"] = s.loading;
  j["fallback"] = s.fallback;
  j["shutting_down"] = s.shutting_down;
  j["zygotes"] = s.zygotes;
  j["workers"] = to_json(s.workers);
  nlohmann::json failures = nlohmann::json::array();
  for (const Failure& f : s.failures) {
    failures.push_back({{"version", f.version}, {"reason", f.reason}, {"serial", f.serial}});
  }
  j["failures"] = std::move(failures);
  nlohmann::json procs = nlohmann::json::array();
  for (const ProcessInfo& p : s.processes) procs.push_back(to_json(p));
  j["processes"] = std::move(procs);
  j["front"] = {{"pid", s.front.pid ? *s.front.pid : 0}, {"generation", s.front.generation},
                {"stopping", s.front.stopping},          {"kill_sent", s.front.kill_sent},
                {"connections", s.front.connections},    {"waiting", s.front.waiting},
                {"handoffs", s.front.handoffs},          {"restarts", s.front.restarts}};
  return j;
}

std::string dump_line(const nlohmann::json& j) {
  // Paths and app messages are bytes, not always UTF-8: replace what is not, never throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string ok_reply(nlohmann::json fields) {
  fields["ok"] = true;
  return dump_line(fields);
}

std::string error_reply(const std::string& why) {
  return dump_line(nlohmann::json{{"ok", false}, {"error", why}});
}

}  // namespace zyg::control
