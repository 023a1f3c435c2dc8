// The control protocol, spoken on the master's control socket (a unix stream socket of mode 0600
// in a directory of mode 0700; the master also checks the peer's uid). One request line in, one
// JSON line out, then the master closes the connection:
//
//   status     -> {"ok":true,"status":{...}}          the supervisor's snapshot, failures included
//   deploy     -> {"ok":true,"version":V,"reports":[...]}   re-resolve the app symlink and deploy
//   scale N    -> {"ok":true,"reports":[...]}         want N workers (1..budget)
//   rollback   -> {"ok":true,"version":V,"reports":[...]}   back to the resident previous version
//                 (refused when none is resident: it stops once the serving one is proven)
//   stop       -> {"ok":true,"reports":[...]}         a graceful stop (as SIGTERM)
//   stop fast  -> {"ok":true,"reports":[...]}         a fast stop (as SIGINT)
//   otherwise  -> {"ok":false,"error":"..."}
//
// A client gets kMaxRequestBytes for its line and kClientTimeout to send it and take the answer;
// at most kMaxClients are served at once, and the rest are told so and closed. Nothing a client
// sends can block the master or change anything but through these requests.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/process_view.hpp"
#include "core/types.hpp"

namespace zyg::control {

inline constexpr std::size_t kMaxRequestBytes = 256;
inline constexpr std::size_t kMaxClients = 8;
inline constexpr Nanos kClientTimeout = 5s;
inline constexpr int kBacklog = 16;

struct Status {};
struct Deploy {};
struct Scale {
  int workers = 0;
};
struct Rollback {};
struct Stop {
  bool fast = false;
};
using Request = std::variant<Status, Deploy, Scale, Rollback, Stop>;

// One request line, without its line end; or why it is not a request.
std::variant<Request, std::string> parse(std::string_view line);

nlohmann::json to_json(const WorkerCounts& w);  // by state, and the total
nlohmann::json to_json(const ProcessInfo& p);
nlohmann::json to_json(const StatusSnapshot& s);

// One JSON line, newline included; bytes that are not UTF-8 are replaced, never thrown on.
std::string dump_line(const nlohmann::json& j);

// A reply line, newline included.

std::string ok_reply(nlohmann::json fields);
std::string error_reply(const std::string& why);

}  // namespace zyg::control
