// Incremental HTTP/1.1 response parser for zygote-load: status line and headers, then a body
// framed by Content-Length, the chunked transfer coding, or the end of the connection.
// Bounded: the head is capped at 64 KiB, the whole response at 64 MiB; only the first 201 body
// bytes are kept (enough to tell whether a body is short and to read its last word).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace zyg::load {

class ResponseParser {
 public:
  enum class Result { need_more, done, error };

  static constexpr std::size_t max_response_bytes = std::size_t{64} << 20;
  static constexpr std::size_t max_head_bytes = std::size_t{64} << 10;
  static constexpr std::size_t kept_body_bytes = 201;

  // Bytes read from the socket, split anywhere. Bytes after a complete response are ignored.
  Result feed(std::string_view data);
  // The peer closed: completes a body framed by the close, anything else is an error.
  Result feed_eof();

  bool any_byte() const { return total_ > 0; }
  int status() const { return status_; }
  // The server will close: "Connection: close", HTTP/1.0 without keep-alive, or a body framed
  // by the close.
  bool server_closes() const { return server_closes_; }
  std::size_t body_size() const { return body_size_; }
  const std::string& body_head() const { return body_head_; }

 private:
  enum class Phase {
    head,
    length,
    until_close,
    chunk_size,
    chunk_data,
    chunk_end,
    trailers,
    done,
    error
  };

  Result parse_head();
  Result body(std::string_view data);
  Result chunked(std::string_view data);
  bool take_line(std::string_view& data);
  void keep(std::string_view bytes);
  Result fail();
  Result result() const;

  Phase phase_ = Phase::head;
  std::string head_;
  std::string line_;
  std::string body_head_;
  std::size_t total_ = 0;
  std::size_t remaining_ = 0;
  std::size_t body_size_ = 0;
  int status_ = 0;
  bool server_closes_ = false;
};

}  // namespace zyg::load
