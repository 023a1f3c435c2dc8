// The server side of one HTTP/1.1 connection, without the socket: bytes in, requests out;
// responses in, bytes out. Boost.Beast parses; this adds the limits, the request-smuggling checks,
// pipelining, 100-continue and the keep-alive decision. No system calls, no clock.
//
// A worker drives it like this:
//   feed(bytes read) or feed_eof(); then next() until monostate, answering each request with
//   serialize() (or a ParseError with serialize_error()); write take_interim() if not empty;
//   close once everything is written and should_close() says so.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/app.hpp"

namespace zyg::http {

struct Limits {
  std::size_t header_bytes_max = 8 * 1024;   // request line + headers; above -> 431 (the line: 414)
  std::size_t body_bytes_max = 1024 * 1024;  // above -> 413 (Content-Length or chunk total)
  // A body above this is not held in memory: with a spool (Connection::set_spool, the front) it
  // goes to the spool as it arrives; without one, reading stops there and the request waits,
  // incomplete, for its holder to hand the connection to one that spools (the worker gives it
  // back to the front).
  std::size_t body_memory_max = 1024 * 1024;
  std::size_t header_count_max = 100;      // header fields; above -> 431
  std::size_t read_bytes_max = 64 * 1024;  // one socket read: slack in the pipelining backlog cap

  // The most bytes a Connection buffers: a header, a body held in memory, one read.
  std::size_t buffered_max() const {
    return header_bytes_max +
           (body_bytes_max < body_memory_max ? body_bytes_max : body_memory_max) + read_bytes_max;
  }
};

// Where a request body too large to hold in memory goes as it arrives: a file the front opens
// (core/http makes no system calls). The body is written decoded, chunk framing removed.
class BodySpool {
 public:
  virtual ~BodySpool() = default;
  // A new, empty spool for the current request's body; false if none can be had.
  virtual bool open() = 0;
  // Appends; false when the bytes cannot be kept (the disk is full, the file failed).
  virtual bool write(std::string_view bytes) = 0;
};

struct ParseError {
  int status = 400;
  std::string reason;  // what was wrong, for the response body and the log
};

using Next = std::variant<std::monostate, AppRequest, ParseError>;  // monostate: need more bytes

// A response's Content-Length as its app declared it: one field, a plain decimal number (else
// none). Inline: the Python module, a shared object, uses it without linking this library.
inline std::optional<std::uint64_t> declared_length(const std::vector<Header>& headers) {
  constexpr std::string_view kName = "content-length";
  std::optional<std::uint64_t> found;
  for (const Header& h : headers) {
    if (h.name.size() != kName.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < kName.size() && same; ++i) {
      const char c = h.name[i];
      same = (c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) == kName[i];
    }
    if (!same) continue;
    if (found || h.value.empty() || h.value.size() > 18 ||
        h.value.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    std::uint64_t v = 0;
    for (char c : h.value) v = v * 10 + static_cast<std::uint64_t>(c - '0');
    found = v;
  }
  return found;
}

// The value of the first header called `name` (compared case-insensitively).
std::optional<std::string_view> header(const AppRequest& req, std::string_view name);

namespace detail {
class RequestParser;
}

class Connection {
 public:
  explicit Connection(Limits limits = {});
  ~Connection();
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Bytes read from the socket, split anywhere. Ignored once the connection is finished.
  void feed(std::string_view bytes);
  // The peer closed its sending side. Complete requests already fed are still returned by next().
  void feed_eof();
  // The next complete request, in order. After a ParseError, or once serialize() decided to close,
  // only monostate.
  Next next();
  // "HTTP/1.1 100 Continue\r\n\r\n" when the current request asked for it (HTTP/1.1, Expect:
  // 100-continue), its headers passed the checks, its body is incomplete and every earlier request
  // has been serialized; empty otherwise. At most once per request.
  std::string take_interim();

  // The response to `req` (a request next() returned), ready to write. `closing` forces
  // "Connection: close"; so do the request's and the app's own Connection headers and EOF.
  std::string serialize(const AppRequest& req, const AppResponse& resp, bool closing);
  // For a response sent in pieces (Responder::start): its head, and how the body after it is
  // framed. The app's own Content-Length frames it when valid (and HEAD keeps it); otherwise
  // HTTP/1.1 gets chunked and HTTP/1.0 "Connection: close" (the body ends with the connection).
  // 204, 304 and HEAD have no body whatever the app writes.
  enum class Framing : std::uint8_t { none, length, chunked, close };
  struct Head {
    std::string bytes;
    Framing framing = Framing::none;
    std::uint64_t length = 0;  // Framing::length: the body's size, as the app declared it
  };
  Head serialize_head(const AppRequest& req, int status, const std::vector<Header>& headers,
                      bool closing);
  // One chunk of a chunked body ("" for an empty block: an empty chunk would end the body).
  static std::string chunk(std::string_view block);
  // What goes before a chunk of `size` bytes (its size in hex, CRLF); the chunk ends with CRLF.
  static std::string chunk_head(std::uint64_t size);
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";

  // The response to a ParseError: its status, a text body, "Connection: close".
  std::string serialize_error(const ParseError& e);

  // Close once everything is written: a response said so, a request was malformed, or EOF.
  bool should_close() const;
  // No request buffered, not even part of one (the keep-alive idle timeout applies).
  bool idle() const;
  // Part of a request has arrived (the request read deadline applies).
  bool mid_request() const;
  // The current request's head has arrived and its body is still coming.
  bool body_arriving() const;
  // False while the unparsed backlog is at its cap (header + body + one read): stop reading until
  // next() drains it. Bytes fed beyond the cap are dropped and the request they cut is answered
  // 431 (or 413 if the cut falls in a body).
  bool wants_input() const;

  // For a process that reads requests and hands their connection on (the front):
  // a complete request is buffered, and the next next() returns it.
  bool request_ready();
  // A malformed request is buffered, and the next next() returns its ParseError.
  bool error_ready();

  // The front: a body above Limits::body_memory_max goes to `spool` as it arrives instead of
  // memory, and its raw bytes are not kept, so remainder() then holds the request's head and what
  // came after its body. A spool that fails answers 503.
  void set_spool(std::unique_ptr<BodySpool> spool);
  BodySpool* spool() const { return spool_.get(); }
  // The request request_ready() found, when its body went to the spool: the first head_bytes of
  // remainder() are its head (request line and header), the rest came after its body.
  struct Spooled {
    std::size_t head_bytes = 0;
    std::uint64_t body_bytes = 0;
  };
  std::optional<Spooled> spooled() const;
  // The worker: a request handed over with its body in a file. `head` is its head as the front
  // received it; the body is `body_bytes` of `body_file`, which the request next() returns
  // carries (AppRequest::body_file). Call it first, on a fresh Connection, then feed() what came
  // after the body. A head that is not exactly one request's head is a 400.
  void feed_spooled(std::string_view head, int body_file, std::uint64_t body_bytes);
  // The bytes received and not yet returned by next() as a request, exactly as they arrived
  // (a complete request, part of one, pipelined ones): what the next holder of the connection
  // must be given. Empty lines between requests may be left out.
  std::string remainder() const;

 private:
  bool decide_keep(const AppRequest& req, const std::vector<Header>& app_headers, bool closing);
  void pump();
  bool parsable();
  bool step();
  bool accept_header();
  std::optional<ParseError> check_header() const;
  ParseError head_too_large() const;
  void check_waiting();
  void complete();
  void fail(ParseError e);
  void reset_parser();
  void skip_empty_lines();
  void compact();
  std::size_t backlog() const { return in_.size() - pos_; }
  // Bytes not yet returned as a request: what the next holder of the connection must be given.
  std::size_t unreturned() const { return in_.size() - std::min(raw_begin_, in_.size()); }
  std::size_t backlog_cap() const;
  bool finished() const { return error_.has_value() || eof_ || closing_; }

  Limits limits_;
  std::unique_ptr<detail::RequestParser> parser_;
  std::string in_;  // received bytes; the parser has consumed [0, pos_)
  std::size_t pos_ = 0;
  std::size_t msg_begin_ = 0;  // where the current request starts; kept until its header is parsed
  std::size_t raw_begin_ = 0;  // where the first request next() has not returned starts: kept
  std::optional<AppRequest> ready_;
  std::unique_ptr<BodySpool> spool_;
  std::size_t head_end_ = 0;              // where the current request's body starts in in_
  std::optional<Spooled> ready_spooled_;  // ready_'s body went to the spool
  int spooled_file_ = -1;                 // feed_spooled(): the next request's body file
  std::uint64_t spooled_file_bytes_ = 0;
  std::optional<ParseError> error_;
  bool error_reported_ = false;
  bool eof_ = false;
  bool closing_ = false;  // a response said "Connection: close"
  bool overflowed_ = false;
  bool interim_due_ = false;
  std::size_t unanswered_ = 0;  // requests next() returned that serialize() has not seen
};

}  // namespace zyg::http
