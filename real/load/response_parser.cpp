#include "real/load/response_parser.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace zyg::load {
namespace {

constexpr std::size_t max_line_bytes = 4096;  // chunk-size lines and trailer fields

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool parse_size(std::string_view s, int base, std::size_t& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc{} && end == s.data() + s.size();
}

}  // namespace

ResponseParser::Result ResponseParser::feed(std::string_view data) {
  if (phase_ == Phase::done || phase_ == Phase::error) return result();
  total_ += data.size();
  if (total_ > max_response_bytes) return fail();
  if (phase_ != Phase::head) return body(data);
  head_.append(data);
  return parse_head();
}

ResponseParser::Result ResponseParser::feed_eof() {
  if (phase_ == Phase::until_close) phase_ = Phase::done;
  if (phase_ != Phase::done) return fail();
  return result();
}

// head_ holds everything read since the start of the head; once it holds the blank line, parse
// the status line and headers and hand what follows to the body.
ResponseParser::Result ResponseParser::parse_head() {
  const std::size_t end = head_.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (head_.size() > max_head_bytes) return fail();
    return Result::need_more;
  }
  const std::string rest = head_.substr(end + 4);
  head_.resize(end);
  std::string_view head = head_;

  // Status line: HTTP/1.x SSS reason
  const std::size_t eol = std::min(head.find("\r\n"), head.size());
  const std::string_view status_line = head.substr(0, eol);
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ')
    return fail();
  std::size_t code = 0;
  if (!parse_size(status_line.substr(9, 3), 10, code) || code < 100 || code > 999) return fail();
  status_ = static_cast<int>(code);
  const bool http10 = status_line[7] == '0';

  bool chunked = false;
  bool has_length = false;
  bool keep_alive = false;
  std::size_t length = 0;
  server_closes_ = false;
  head.remove_prefix(std::min(eol + 2, head.size()));
  while (!head.empty()) {
    const std::size_t line_end = std::min(head.find("\r\n"), head.size());
    const std::string_view line = head.substr(0, line_end);
    head.remove_prefix(std::min(line_end + 2, head.size()));
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return fail();
    const std::string name = lower(trim(line.substr(0, colon)));
    const std::string value = lower(trim(line.substr(colon + 1)));
    if (name == "transfer-encoding" && value.find("chunked") != std::string::npos) chunked = true;
    if (name == "connection" && value.find("close") != std::string::npos) server_closes_ = true;
    if (name == "connection" && value.find("keep-alive") != std::string::npos) keep_alive = true;
    if (name == "content-length") {
      std::size_t n = 0;
      if (!parse_size(value, 10, n) || (has_length && n != length)) return fail();
      has_length = true;
      length = n;
    }
  }
  if (http10 && !keep_alive) server_closes_ = true;

  if (status_ < 200 && status_ != 101) {  // interim response: the real one follows
    head_ = rest;
    status_ = 0;
    return parse_head();
  }
  head_.clear();
  if (status_ == 204 || status_ == 304) {
    phase_ = Phase::done;
  } else if (chunked) {
    phase_ = Phase::chunk_size;
  } else if (has_length) {
    phase_ = length == 0 ? Phase::done : Phase::length;
    remaining_ = length;
  } else {
    phase_ = Phase::until_close;
    server_closes_ = true;
  }
  return body(rest);
}

ResponseParser::Result ResponseParser::body(std::string_view data) {
  switch (phase_) {
    case Phase::length: {
      const std::size_t n = std::min(remaining_, data.size());
      keep(data.substr(0, n));
      remaining_ -= n;
      if (remaining_ == 0) phase_ = Phase::done;
      break;
    }
    case Phase::until_close: keep(data); break;
    case Phase::chunk_size:
    case Phase::chunk_data:
    case Phase::chunk_end:
    case Phase::trailers: return chunked(data);
    case Phase::head:
    case Phase::done:
    case Phase::error: break;
  }
  return result();
}

ResponseParser::Result ResponseParser::chunked(std::string_view data) {
  while (!data.empty() && phase_ != Phase::done && phase_ != Phase::error) {
    if (phase_ == Phase::chunk_data) {
      const std::size_t n = std::min(remaining_, data.size());
      keep(data.substr(0, n));
      data.remove_prefix(n);
      remaining_ -= n;
      if (remaining_ == 0) phase_ = Phase::chunk_end;
      continue;
    }
    if (!take_line(data)) break;
    if (phase_ == Phase::chunk_size) {
      std::size_t size = 0;
      if (!parse_size(trim(std::string_view(line_).substr(0, line_.find(';'))), 16, size) ||
          size > max_response_bytes)
        return fail();
      phase_ = size == 0 ? Phase::trailers : Phase::chunk_data;
      remaining_ = size;
    } else if (phase_ == Phase::chunk_end) {
      if (!line_.empty()) return fail();
      phase_ = Phase::chunk_size;
    } else if (line_.empty()) {  // trailers end with an empty line
      phase_ = Phase::done;
    }
    line_.clear();
  }
  return result();
}

// Appends bytes up to and including '\n' to line_; true when line_ holds a whole line (without
// its CRLF). False when more bytes are needed or the line is too long (then the parser failed).
bool ResponseParser::take_line(std::string_view& data) {
  const std::size_t nl = data.find('\n');
  const std::size_t n = nl == std::string_view::npos ? data.size() : nl + 1;
  line_.append(data.substr(0, n));
  data.remove_prefix(n);
  if (line_.size() > max_line_bytes) {
    fail();
    return false;
  }
  if (nl == std::string_view::npos) return false;
  line_.pop_back();
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  return true;
}

void ResponseParser::keep(std::string_view bytes) {
  body_size_ += bytes.size();
  const std::size_t room = kept_body_bytes - std::min(kept_body_bytes, body_head_.size());
  body_head_.append(bytes.substr(0, std::min(room, bytes.size())));
}

ResponseParser::Result ResponseParser::fail() {
  phase_ = Phase::error;
  return Result::error;
}

ResponseParser::Result ResponseParser::result() const {
  if (phase_ == Phase::done) return Result::done;
  if (phase_ == Phase::error) return Result::error;
  return Result::need_more;
}

}  // namespace zyg::load
