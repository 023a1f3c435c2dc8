// The summary of a run: JSON, the one-line human form, the exit status.
#include <cctype>
#include <cstdio>

#include "real/load/load.hpp"

namespace zyg::load {

double Summary::requests_per_second() const {
  return elapsed_s > 0 ? static_cast<double>(requests()) / elapsed_s : 0.0;
}

std::string last_word(const std::string& body_head, std::size_t body_size) {
  if (body_size > 200) return {};
  std::size_t end = body_head.size();
  while (end > 0 && std::isspace(static_cast<unsigned char>(body_head[end - 1])) != 0) --end;
  std::size_t begin = end;
  while (begin > 0 && std::isspace(static_cast<unsigned char>(body_head[begin - 1])) == 0) --begin;
  return body_head.substr(begin, end - begin);
}

namespace {

nlohmann::json latency_json(const Latency& l) {
  return {{"count", l.count},
          {"p50", l.p50_ms},
          {"p90", l.p90_ms},
          {"p99", l.p99_ms},
          {"max", l.max_ms}};
}

nlohmann::json held_json(const HeldSummary& h) {
  return {
      {"wanted", h.wanted},
      {"ready_at_load_start", h.ready_at_load_start},
      {"connect_failed", h.connect_failed},
      {"request_failed", h.request_failed},
      {"failed", h.failed()},
      {"closed_by_server", h.closed_by_server},
      {"closed_during_setup", h.closed_during_setup},
      {"answered", h.answered},
      {"open_at_end", h.open_at_end},
      {"pending_at_end", h.pending_at_end},
      {"not_opened", h.not_opened},
      {"setup_ms", h.setup_ms},
      {"close_age_ms",
       {{"min", h.close_age_min_ms}, {"p50", h.close_age_p50_ms}, {"max", h.close_age_max_ms}}}};
}

// "; short p50 1.000 p90 2.000 p99 3.000 (10)": percentiles in ms, then the count
std::string latency_words(const char* name, const Latency& l) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "; %s p50 %.3f p90 %.3f p99 %.3f (%llu)", name, l.p50_ms, l.p90_ms,
                l.p99_ms, static_cast<unsigned long long>(l.count));
  return buf;
}

std::string held_words(const char* name, const HeldSummary& h) {
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "; %s %llu: ready %llu open %llu closed_by_server %llu (age p50 %.0f ms) "
                "failed %llu pending %llu not_opened %llu",
                name, u(h.wanted), u(h.ready_at_load_start), u(h.open_at_end),
                u(h.closed_by_server), h.close_age_p50_ms, u(h.connect_failed + h.request_failed),
                u(h.pending_at_end), u(h.not_opened));
  return buf;
}

}  // namespace

nlohmann::json to_json(const Summary& s, const Options& o) {
  nlohmann::json statuses = nlohmann::json::object();
  for (const auto& [status, count] : s.status_counts) statuses[std::to_string(status)] = count;
  return {
      {"requests", s.requests()},
      {"ok", s.ok},
      {"non2xx", s.non2xx},
      {"reset", s.reset},
      {"timeout", s.timeout},
      {"connect_failed", s.connect_failed},
      {"retried", s.retried},
      {"failed", s.failed()},
      {"status_counts", statuses},
      {"connections_opened", s.connections},
      {"requests_on_reused_connections", s.reused},
      {"keepalive_reopened", s.keepalive_reopened},
      {"elapsed_s", s.elapsed_s},
      {"requests_per_second", s.requests_per_second()},
      {"latency_ms", {{"p50", s.p50_ms}, {"p90", s.p90_ms}, {"p99", s.p99_ms}, {"max", s.max_ms}}},
      {"ok_per_client",
       {{"min", s.client_ok_min}, {"p50", s.client_ok_p50}, {"max", s.client_ok_max}}},
      {"latency_ms_short", latency_json(s.short_requests)},
      {"latency_ms_long", latency_json(s.long_requests)},
      {"slow_clients", held_json(s.slow)},
      {"idle_connections", held_json(s.idle)},
      {"last_word", s.last_word},
      {"last_word_final_2s", s.last_word_final_2s},
      {"hard_deadline_hit", s.hard_deadline_hit},
      {"failure_times_ms", s.failure_times_ms},
      {"start_monotonic_ms", s.start_monotonic_ms},

      {"options",
       {{"host", o.host},
        {"port", o.port},
        {"clients", o.clients},
        {"duration_ms", o.duration_ms},
        {"keepalive_percent", o.keepalive_percent},
        {"long_every", o.long_every},
        {"long_ms", o.long_ms},
        {"path", o.path},
        {"think_ms", o.think_ms},
        {"request_timeout_ms", o.request_timeout_ms},
        {"idle_reuse_max_ms", o.idle_reuse_max_ms},
        {"slow_clients", o.slow_clients},
        {"idle_connections", o.idle_connections},
        {"hold_setup_ms", o.hold_setup_ms}}},
  };
}

std::string summary_line(const Summary& s) {
  char buf[512];
  std::snprintf(
      buf, sizeof buf,
      "zygote-load: %llu requests in %.2f s (%.1f/s): ok %llu non2xx %llu reset %llu "
      "timeout %llu connect_failed %llu retried %llu failed %llu; latency ms p50 %.3f "
      "p90 %.3f p99 %.3f max %.3f%s",
      static_cast<unsigned long long>(s.requests()), s.elapsed_s, s.requests_per_second(),
      static_cast<unsigned long long>(s.ok), static_cast<unsigned long long>(s.non2xx),
      static_cast<unsigned long long>(s.reset), static_cast<unsigned long long>(s.timeout),
      static_cast<unsigned long long>(s.connect_failed), static_cast<unsigned long long>(s.retried),
      static_cast<unsigned long long>(s.failed()), s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms,
      s.hard_deadline_hit ? " (hard deadline hit)" : "");
  std::string line = buf;
  if (s.long_requests.count > 0) {
    line += latency_words("short", s.short_requests);
    line += latency_words("long", s.long_requests);
  }
  if (s.slow.wanted > 0) line += held_words("slow", s.slow);
  if (s.idle.wanted > 0) line += held_words("idle", s.idle);
  return line;
}

// Idle connections' requests are requests: one that failed fails the run. Slow clients never
// do (a server may close them).
int exit_status(const Summary& s, const Options& o) {
  return (s.failed() == 0 && s.idle.failed() == 0) || o.allow_failures ? 0 : 1;
}

}  // namespace zyg::load
