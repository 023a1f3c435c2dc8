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
      {"elapsed_s", s.elapsed_s},
      {"requests_per_second", s.requests_per_second()},
      {"latency_ms", {{"p50", s.p50_ms}, {"p90", s.p90_ms}, {"p99", s.p99_ms}, {"max", s.max_ms}}},
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
        {"idle_reuse_max_ms", o.idle_reuse_max_ms}}},
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
  return buf;
}

int exit_status(const Summary& s, const Options& o) {
  return s.failed() == 0 || o.allow_failures ? 0 : 1;
}

}  // namespace zyg::load
