// libFuzzer target: core/http's response parser (what the simulator's clients and zygote-load
// read), fed the input in pieces of 1 to 64 bytes (the size from its length), then EOF, as a GET
// and again as a HEAD; responses after the first are parsed from what take_rest() gives back, as
// a pipelining client does.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/http/response_parser.hpp"

namespace {

void run(std::string pending, std::size_t step, bool head) {
  using Result = zyg::http::ResponseParser::Result;
  for (int responses = 0; responses < 16; ++responses) {
    zyg::http::ResponseParser p;
    if (head) p.no_body_expected();
    Result r = Result::need_more;
    std::size_t at = 0;
    for (; at < pending.size() && r == Result::need_more; at += step) {
      r = p.feed(std::string_view(pending).substr(at, step));
    }
    if (r == Result::need_more) r = p.feed_eof();
    if (r != Result::done) return;
    if (p.body_head().size() > zyg::http::ResponseParser::kept_body_bytes) __builtin_trap();
    std::string rest = p.take_rest();
    if (at < pending.size()) rest += pending.substr(at);
    if (rest.empty()) return;
    pending = std::move(rest);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  run(bytes, 1 + size % 64, false);
  run(bytes, 1 + size % 64, true);
  return 0;
}
