#include "core/access_log.hpp"

#include <array>
#include <chrono>

#include <nlohmann/json.hpp>

namespace zyg {

namespace {

struct Civil {
  int year;
  unsigned month, day, hour, minute, second, millis;
};

Civil civil(Nanos since_epoch) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(since_epoch);
  const sys_days day = floor<days>(sys_time<milliseconds>(ms));
  const year_month_day ymd(day);
  auto rest = ms - duration_cast<milliseconds>(day.time_since_epoch());
  const auto h = duration_cast<hours>(rest);
  rest -= h;
  const auto m = duration_cast<minutes>(rest);
  rest -= m;
  const auto s = duration_cast<seconds>(rest);
  rest -= s;
  return {static_cast<int>(ymd.year()),       static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day()),   static_cast<unsigned>(h.count()),
          static_cast<unsigned>(m.count()),   static_cast<unsigned>(s.count()),
          static_cast<unsigned>(rest.count())};
}

std::string two(unsigned v) { return std::string(1, char('0' + v / 10)) + char('0' + v % 10); }

std::string three(unsigned v) { return std::to_string(v / 100) + two(v % 100); }

// For the combined format: a quoted field holds no quote, backslash or control byte.
std::string field(std::string_view v) {
  std::string out = "\"";
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      constexpr std::string_view kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// The first header called `name` (lower case), compared case-insensitively; "-" if none.
std::string header_or_dash(const AppRequest& r, std::string_view name) {
  for (const Header& h : r.headers) {
    if (h.name.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      const char c = h.name[i];
      same = (c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) == name[i];
    }
    if (same) return h.value;
  }
  return "-";
}

std::string request_line(const AppRequest& r) {
  return r.method + " " + r.target + " HTTP/1." + std::to_string(r.version_minor);
}

}  // namespace

std::string iso8601(Nanos since_epoch) {
  const Civil c = civil(since_epoch);
  return std::to_string(c.year) + "-" + two(c.month) + "-" + two(c.day) + "T" + two(c.hour) + ":" +
         two(c.minute) + ":" + two(c.second) + "." + three(c.millis) + "Z";
}

std::string access_line(AccessFormat f, const AccessEntry& e) {
  const AppRequest& r = *e.request;
  if (f == AccessFormat::json) {
    const double ms = static_cast<double>(e.duration.count()) / 1e6;
    nlohmann::json j{
        {"time", iso8601(e.wall)},
        {"remote", e.remote},
        {"method", r.method},
        {"target", r.target},
        {"proto", "HTTP/1." + std::to_string(r.version_minor)},
        {"status", e.status},
        {"bytes", e.bytes},
        {"duration_ms", static_cast<double>(static_cast<std::int64_t>(ms * 1000)) / 1000},
        {"worker", e.worker},
        {"version", e.version},
        {"referer", header_or_dash(r, "referer")},
        {"user_agent", header_or_dash(r, "user-agent")}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  // host ident authuser [date] "request" status bytes "referer" "user-agent"
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const Civil c = civil(e.wall);
  const std::string date = two(c.day) + "/" + kMonths[(c.month + 11) % 12] + "/" +
                           std::to_string(c.year) + ":" + two(c.hour) + ":" + two(c.minute) + ":" +
                           two(c.second) + " +0000";
  return std::string(e.remote.empty() ? "-" : e.remote) + " - - [" + date + "] " +
         field(request_line(r)) + " " + std::to_string(e.status) + " " +
         (e.bytes == 0 ? std::string("-") : std::to_string(e.bytes)) + " " +
         field(header_or_dash(r, "referer")) + " " + field(header_or_dash(r, "user-agent")) + "\n";
}

}  // namespace zyg
