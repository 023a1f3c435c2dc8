#include "core/handoff.hpp"

#include <array>

namespace zyg::handoff {

int send(os::Os& os, os::Fd channel, Header h, std::string_view bytes, os::Fd conn, os::Fd body) {
  if (body >= 0) h.flags = static_cast<std::uint16_t>(h.flags | spooled);
  const std::string msg = encode(h, bytes);
  os::Fd memory = -1;
  if (!fits_inline(bytes.size())) {
    auto m = os.memory_file(std::as_bytes(std::span(bytes.data(), bytes.size())));
    if (!m.ok()) return m.error;
    memory = m.value;
  }
  std::array<os::Fd, 3> pass{};
  std::size_t npass = 0;
  for (os::Fd fd : {conn, memory, body}) {
    if (fd >= 0) pass[npass++] = fd;
  }
  auto r = os.send_message(channel, std::as_bytes(std::span(msg.data(), msg.size())),
                           std::span<const os::Fd>(pass.data(), npass));
  if (memory >= 0) (void)os.close(memory);  // the receiver has its own copy now, or none was sent
  return r.ok() ? 0 : r.error;
}

namespace {

void close_all(os::Os& os, const std::vector<os::Fd>& fds) {
  for (os::Fd fd : fds) (void)os.close(fd);
}

// Reads the whole memory file; false when it holds more than `bytes_max` or fails.
bool read_memory(os::Os& os, os::Fd fd, std::size_t expected, std::size_t bytes_max,
                 std::string& out) {
  return expected <= bytes_max && read_exactly(os, fd, expected, out);
}

}  // namespace

bool read_exactly(os::Os& os, os::Fd file, std::size_t n, std::string& out) {
  out.resize(n);
  std::size_t done = 0;
  while (done < n) {
    auto r = os.read(file, std::as_writable_bytes(std::span(out.data() + done, n - done)));
    if (r.error == os::err::intr) continue;
    if (!r.ok() || r.value == 0) return false;
    done += r.value;
  }
  return true;
}

std::optional<Received> receive(os::Os& os, os::Fd channel, std::size_t bytes_max, int* error) {
  // Not zeroed: only the bytes received are read, and this runs for every hand-off (and every
  // look that finds none), where clearing 16 KiB cost the front a tenth of its time.
  std::array<std::byte, kMessageMax + 1> buf;  // NOLINT(cppcoreguidelines-pro-type-member-init)
  std::vector<os::Fd> fds;
  auto r = os.recv_message(channel, buf, &fds);
  if (!r.ok() || r.value == 0) {
    close_all(os, fds);
    if (error) *error = r.ok() ? os::err::pipe : r.error;  // end of file: every writer is gone
    return std::nullopt;
  }
  Received out;
  auto d = decode(std::span(buf.data(), r.value));
  const bool wants_conn = d && d->header.kind != Kind::closed;
  const bool memory = d && (d->header.flags & handoff::in_memory) != 0;
  const bool body = d && (d->header.flags & spooled) != 0;
  const std::size_t fds_expected = (wants_conn ? 1u : 0u) + (memory ? 1u : 0u) + (body ? 1u : 0u);
  const bool tail = d && (d->header.flags & unsent) != 0;
  const bool split = tail || body;
  if (!d || fds.size() != fds_expected || (split && d->header.split > d->header.bytes) ||
      (body && d->header.kind != Kind::request)) {
    close_all(os, fds);
    // A well-formed message whose descriptors did not arrive (the receiver was out of them:
    // MSG_CTRUNC) still names its connection, so the sender can be told it is gone.
    if (d && d->header.kind == Kind::request) out.lost = d->header.conn;
    out.header.kind = Kind{0};
    return out;
  }
  out.header = d->header;
  if (body) {
    out.body = fds.back();
    fds.pop_back();
  }
  if (memory && tail && d->header.kind == Kind::returned) {
    out.file = fds.back();
    fds.pop_back();
  } else if (memory) {
    const os::Fd file = fds.back();
    fds.pop_back();
    const bool ok = read_memory(os, file, d->header.bytes, bytes_max, out.bytes);
    (void)os.close(file);
    if (!ok) {
      close_all(os, fds);
      if (out.body >= 0) (void)os.close(out.body);
      out.body = -1;
      out.header.kind = Kind{0};
      return out;
    }
  } else {
    out.bytes.assign(d->inline_bytes);
  }
  if (wants_conn) out.conn = fds.front();
  return out;
}

}  // namespace zyg::handoff
