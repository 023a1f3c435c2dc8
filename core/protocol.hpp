// The master <-> zygote <-> worker wire protocol: fixed-size binary messages, one per datagram or
// seqpacket, so a message is never split or merged. Every process runs the same binary, so the
// layout needs no versioning across the wire; the magic catches stray writers.
//
//   master -> zygote (seqpacket, one pair per zygote):  spawn, stop, kill, exit, reopen_logs
//   zygote -> master (same pair):                       loaded, load_failed, spawned,
//                                                       spawn_failed, worker_exited
//   worker -> master (one datagram pair for all):       ready, busy, idle, heartbeat, exiting,
//                                                       stats
//   front -> master (seqpacket, one pair per front):    front_alive, front_notice
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace zyg::proto {

inline constexpr std::uint32_t kMagic = 0x5a594731;  // "ZYG1"
inline constexpr std::size_t kTextMax = 204;         // load failure reasons are cut to this

enum class Kind : std::uint16_t {
  // master -> zygote
  spawn = 1,        // fork worker `id`
  stop = 2,         // SIGTERM worker `id` (the zygote is its parent)
  kill = 3,         // SIGKILL worker `id`
  exit = 4,         // exit now; remaining workers drain on their parent's death
  reopen_logs = 5,  // SIGUSR1 every worker: it reopens its access log
  // zygote -> master
  loaded = 20,         // the app loaded; ready to fork
  load_failed = 21,    // text: why; the zygote exits after sending this
  spawned = 22,        // worker `id` is pid `pid`
  spawn_failed = 23,   // could not fork worker `id`: `value` is the errno
  worker_exited = 24,  // worker `id` reaped: `value` exit code or signal, `flag` 1 if signaled
  signalled = 25,      // worker `id` was sent signal `value` (answers stop and kill)
  // worker -> master
  hello = 39,      // worker `id` is pid `pid`: sent before the app's post-fork init runs
  ready = 40,      // worker `id` (pid `pid`) accepts requests
  busy = 41,       // serving a request
  idle = 42,       // done; `value` requests served so far
  heartbeat = 43,  // still alive and responsive
  exiting = 44,    // about to exit; `flag` 1 when retiring at its own limit
  stats = 45,      // text: what it has served (core/request_stats.hpp)
  // front -> master
  front_alive = 60,   // every heartbeat interval: `value` connections held, `id` hand-offs so
                      // far, `reserved` requests waiting for a worker
  front_notice = 61,  // text: something the operator should know (limits reached, failures)
  // master -> front
  front_drain = 70,  // a graceful stop's delay: every request handed on from now asks for close
};

// Laid out without padding, so every byte sent is initialised.
struct Message {
  std::uint32_t magic = kMagic;
  Kind kind = Kind::heartbeat;
  std::uint16_t flag = 0;
  std::int32_t pid = 0;
  std::uint32_t reserved = 0;
  std::uint64_t id = 0;  // WorkerId or ZygoteId value
  std::uint64_t value = 0;
  std::uint16_t text_len = 0;
  std::uint16_t reserved2 = 0;
  std::array<char, kTextMax> text{};

  std::string_view text_view() const { return {text.data(), text_len}; }
  void set_text(std::string_view s) {
    text_len = static_cast<std::uint16_t>(s.size() < kTextMax ? s.size() : kTextMax);
    std::memcpy(text.data(), s.data(), text_len);
  }
};

static_assert(sizeof(Message) == 240, "a message is one small datagram, with no padding");
static_assert(std::has_unique_object_representations_v<Message>);
static_assert(kTextMax < 0xffff);

inline std::span<const std::byte> bytes_of(const Message& m) {
  return {reinterpret_cast<const std::byte*>(&m), sizeof(Message)};
}

// Parses one received datagram; nothing on a wrong size or magic (a stray or hostile writer).
inline std::optional<Message> parse(std::span<const std::byte> bytes) {
  if (bytes.size() != sizeof(Message)) return std::nullopt;
  Message m;
  std::memcpy(&m, bytes.data(), sizeof(Message));
  if (m.magic != kMagic || m.text_len > kTextMax) return std::nullopt;
  return m;
}

inline Message make(Kind k, std::uint64_t id, std::int32_t pid = 0, std::uint64_t value = 0,
                    std::uint16_t flag = 0) {
  Message m;
  m.kind = k;
  m.id = id;
  m.pid = pid;
  m.value = value;
  m.flag = flag;
  return m;
}

}  // namespace zyg::proto
