// One line of the access log (--access-log), which every worker writes for every request it
// answers: JSON lines (the default), or the combined log format that log tools read. Pure
// formatting: the worker supplies the clock and the addresses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/app.hpp"
#include "core/types.hpp"

namespace zyg {

enum class AccessFormat : std::uint8_t { json, combined };

struct AccessEntry {
  Nanos wall{0};            // when the request arrived at the worker, since the Unix epoch
  std::string_view remote;  // the client's address ("" if unknown)
  const AppRequest* request = nullptr;
  int status = 0;
  std::uint64_t bytes = 0;  // of the response body
  Nanos duration{0};
  Pid worker = 0;
  std::string_view version;
};

// The line, newline included. Bytes a client sent are escaped, so a line never breaks in two.
std::string access_line(AccessFormat f, const AccessEntry& e);

// "2026-12-07T06:50:04.123Z" (ISO 8601, UTC, milliseconds).
std::string iso8601(Nanos since_epoch);

}  // namespace zyg
