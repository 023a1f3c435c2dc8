// An incremental HTTP/1.1 response parser on Boost.Beast's: the clients' side (the simulator's
// clients, zygote-load). Status line and headers, then a body framed by Content-Length, the
// chunked transfer coding, or the end of the connection; interim 1xx responses are skipped.
// Bounded: the head is capped at 64 KiB, the whole response at 64 MiB; only the first 201 body
// bytes are kept (enough to tell whether a body is short and to read its last word).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace zyg::http {

namespace detail {
class ResponseBeastParser;
struct Parsed {
  int status = 0;
  std::size_t body_size = 0;
  std::string body_head;
};
}  // namespace detail

class ResponseParser {
 public:
  enum class Result { need_more, done, error };

  static constexpr std::size_t max_response_bytes = std::size_t{64} << 20;
  static constexpr std::size_t max_head_bytes = std::size_t{64} << 10;
  static constexpr std::size_t kept_body_bytes = 201;

  ResponseParser();
  ~ResponseParser();
  ResponseParser(ResponseParser&&) noexcept;  // in any state: the parse goes on
  ResponseParser& operator=(ResponseParser&&) noexcept;

  // Bytes read from the socket, split anywhere. Bytes after a complete response are kept for
  // the next one (pipelining): take_rest().
  Result feed(std::string_view data);
  // The peer closed: completes a body framed by the close, anything else is an error.
  Result feed_eof();
  // The request was HEAD: the response has no body whatever its headers say.
  void no_body_expected();

  bool any_byte() const { return total_ > 0; }
  int status() const { return parsed_->status; }
  // The server will close: "Connection: close", HTTP/1.0 without keep-alive, or a body framed
  // by the close.
  bool server_closes() const { return server_closes_; }
  std::size_t body_size() const { return parsed_->body_size; }
  const std::string& body_head() const { return parsed_->body_head; }
  // After done: the bytes fed beyond this response.
  std::string take_rest();

 private:
  Result run();
  Result fail();

  // On the heap, so that a move carries a parse in progress along (Beast's parser reports
  // into *parsed_).
  std::unique_ptr<detail::Parsed> parsed_;
  std::unique_ptr<detail::ResponseBeastParser> parser_;
  std::string buf_;  // fed, not yet consumed by the parser
  Result state_ = Result::need_more;
  std::size_t total_ = 0;
  bool server_closes_ = false;
  bool no_body_ = false;
};

}  // namespace zyg::http
