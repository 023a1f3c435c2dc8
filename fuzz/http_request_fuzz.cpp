// libFuzzer target: the request side of core/http (the parser, the connection state machine and
// its responses), fed the input twice: in pieces of 1 to 64 bytes (the size from the input's
// length), then whole and followed by EOF. The input is the raw bytes a client sends, so the
// malformed-request corpus seeds it as it is. Checked while it runs: after an error or a
// decision to close, no request comes out again (only a 400 already found behind it), after an
// error nothing; every request that comes out can be answered.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "core/http/connection.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

namespace {

void run(std::string_view bytes, std::size_t step, bool eof) {
  zyg::http::Limits limits;
  limits.header_bytes_max = 1024;  // small, so that the limits are reached too
  limits.body_bytes_max = 4096;
  limits.body_memory_max = 2048;
  zyg::http::Connection c(limits);
  bool closing = false;  // after an answer that closes, no request (a pending error's 400 may)
  bool ended = false;    // after an error, nothing
  auto drain = [&] {
    for (zyg::http::Next n = c.next(); !std::holds_alternative<std::monostate>(n); n = c.next()) {
      check(!ended);
      if (auto* req = std::get_if<zyg::AppRequest>(&n)) {
        check(!closing);
        const std::string out = c.serialize(*req, {200, {{"X-A", "b"}}, "ok"}, false);
        check(out.rfind("HTTP/1.", 0) == 0);
        closing = c.should_close();
      } else if (auto* err = std::get_if<zyg::http::ParseError>(&n)) {
        check(err->status >= 400 && err->status < 600);
        (void)c.serialize_error(*err);
        ended = true;
      }
    }
  };
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    c.feed(bytes.substr(at, step));
    (void)c.take_interim();
    drain();
  }
  if (eof) {
    c.feed_eof();
    drain();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  run(bytes, 1 + size % 64, false);
  run(bytes, bytes.size() + 1, true);
  return 0;
}
