// The front <-> worker wire protocol: how a connection with a complete request travels to an
// idle worker and back. One message per seqpacket, the connection's descriptor passed with it
// (SCM_RIGHTS), and the bytes already read from it after a fixed header: inline when they fit
// kInlineMax, else in a memory file passed as a second descriptor. A request whose body was too
// large to hold in memory travels without it: its head and what came after the body as bytes, the
// body in the front's spool file, passed as the last descriptor.
//
//   front -> workers (one seqpacket pair; every idle worker reads the same end, so the kernel
//                     gives each hand-off to one of them):     request
//   workers -> front (one seqpacket pair; every worker writes the same end): returned, closed
//
// Both pairs are made by the master and kept open by it, so messages in flight survive a
// restart of the front.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/os.hpp"

namespace zyg::handoff {

inline constexpr std::uint32_t kMagic = 0x5a594833;   // "ZYH3"
inline constexpr std::size_t kInlineMax = 16 * 1024;  // larger byte runs go in a memory file
inline constexpr std::size_t kMessageMax = 40 + kInlineMax;

enum class Kind : std::uint16_t {
  request = 1,   // front -> worker: a complete request is in `bytes`; serve it
  returned = 2,  // worker -> front: the connection is idle again; `bytes` were read past it
                 // (after the rest of its response, when flagged unsent)
  closed = 3,    // worker -> front: the worker closed the connection (no descriptor passed)
};

enum Flag : std::uint16_t {
  closing = 1,      // request: answer with "Connection: close" (the front is stopping)
  in_memory = 2,    // the bytes are in the memory file passed as the second descriptor
  unsent = 4,       // returned: the bytes begin with the rest of a response the client has not
                    // taken yet (header.split of them); the front writes it, then takes the
                    // connection back with the bytes after it
  close_after = 8,  // returned with unsent: close once they are written (the response said so)
  spooled = 16,     // request: its body is in the file passed last (header.body bytes); the
                    // first header.split of the bytes are its head, the rest came after its body
};

// The largest response tail a worker gives the front to write: a slow reader then costs a memory
// file of this size, never a worker. A longer one the worker writes itself, within the write
// timeout. The front reads a tail from its memory file as the client takes it, kUnsentChunk at a
// time, so its own heap holds one chunk per connection.
inline constexpr std::size_t kUnsentMax = 64 * 1024 * 1024;
inline constexpr std::size_t kUnsentChunk = 256 * 1024;

// Laid out without padding, so every byte sent is initialised.
struct Header {
  std::uint32_t magic = kMagic;
  Kind kind = Kind::request;
  std::uint16_t flags = 0;
  std::uint64_t conn = 0;      // the front's name for the connection, never reused
  std::uint64_t requests = 0;  // requests served on it so far (returned: including this turn's)
  std::uint32_t bytes = 0;     // how many bytes follow (inline) or the memory file holds
  std::uint32_t split = 0;     // returned, flagged unsent: how many of `bytes` are the
                               // response's rest (the others were read past the request);
                               // request, flagged spooled: how many are the request's head
  std::uint64_t body = 0;      // request, flagged spooled: the body's size in its file
};

static_assert(sizeof(Header) == 40, "a small fixed header, with no padding");
static_assert(std::has_unique_object_representations_v<Header>);
static_assert(kMessageMax == sizeof(Header) + kInlineMax);

// The header followed by `bytes` when they fit inline; else the header alone, flagged in_memory
// (the caller passes the bytes in a memory file).
inline std::string encode(Header h, std::string_view bytes) {
  h.bytes = static_cast<std::uint32_t>(bytes.size());
  const bool fits = bytes.size() <= kInlineMax;
  if (!fits) h.flags = static_cast<std::uint16_t>(h.flags | in_memory);
  std::string out(sizeof(Header), '\0');
  std::memcpy(out.data(), &h, sizeof(Header));
  if (fits) out.append(bytes);
  return out;
}

inline bool fits_inline(std::size_t bytes) { return bytes <= kInlineMax; }

struct Decoded {
  Header header;
  std::string_view inline_bytes;  // empty when in_memory
};

// Parses one received message; nothing on a wrong size, magic or length (a stray writer).
inline std::optional<Decoded> decode(std::span<const std::byte> msg) {
  if (msg.size() < sizeof(Header)) return std::nullopt;
  Decoded d;
  std::memcpy(&d.header, msg.data(), sizeof(Header));
  const Header& h = d.header;
  if (h.magic != kMagic) return std::nullopt;
  const std::size_t rest = msg.size() - sizeof(Header);
  if (h.flags & in_memory) {
    if (rest != 0) return std::nullopt;
  } else if (rest != h.bytes) {
    return std::nullopt;
  }
  d.inline_bytes = {reinterpret_cast<const char*>(msg.data()) + sizeof(Header), rest};
  return d;
}

// Sends one message with the connection `conn` (and a memory file for bytes that do not fit
// inline, and `body`, a spooled request's body file, last). Returns 0 or the errno; EAGAIN when
// the other side has no room now.
int send(os::Os& os, os::Fd channel, Header h, std::string_view bytes, os::Fd conn,
         os::Fd body = -1);

// One received message with its descriptors and its bytes (read from the memory file if they
// came in one, at most `bytes_max`).
struct Received {
  Header header;
  os::Fd conn = -1;  // -1 when none came (closed, or a malformed message)
  std::string bytes;
  std::uint64_t lost = 0;  // a request whose descriptors were lost in transit: its connection
  // Flagged unsent, the bytes in a memory file: the file, left unread (header.bytes long), for the
  // receiver to read as its client drains, and close.
  os::Fd file = -1;
  os::Fd body = -1;  // flagged spooled: the request's body file (header.body bytes), the receiver's
};
// Reads the next `n` bytes of a memory file into `out`; false on an error or a short file.
bool read_exactly(os::Os& os, os::Fd file, std::size_t n, std::string& out);

// nullopt: nothing to read (EAGAIN), or the channel failed (`*error` set then). A malformed
// message is consumed, its descriptors closed, and returned with conn -1 and kind 0.
std::optional<Received> receive(os::Os& os, os::Fd channel, std::size_t bytes_max, int* error);

}  // namespace zyg::handoff
