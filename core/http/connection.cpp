#include "core/http/connection.hpp"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <utility>
#include <vector>

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

namespace zyg::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace detail {

// RFC 9110 6.5.1: fields a sender must not put in a trailer section, because they are needed
// before the content (framing, routing, request modifiers, authentication, content metadata).
bool never_a_trailer(beast::string_view name) {
  static constexpr std::string_view kNames[] = {"authorization",
                                                "cache-control",
                                                "content-encoding",
                                                "content-length",
                                                "content-range",
                                                "content-type",
                                                "cookie",
                                                "expect",
                                                "host",
                                                "if-match",
                                                "if-modified-since",
                                                "if-none-match",
                                                "if-range",
                                                "if-unmodified-since",
                                                "max-forwards",
                                                "pragma",
                                                "proxy-authorization",
                                                "range",
                                                "te",
                                                "trailer",
                                                "transfer-encoding"};
  return std::any_of(std::begin(kNames), std::end(kNames), [&](std::string_view n) {
    return std::equal(n.begin(), n.end(), name.begin(), name.end(), [](char a, char b) {
      return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
    });
  });
}

// Collects straight into an AppRequest: header order and name case as sent, trailers dropped
// (never merged into the header fields) once checked.
class RequestParser final : public bhttp::basic_parser<true> {
 public:
  RequestParser(const Limits& limits, BodySpool* spool)
      : fields_max_(limits.header_count_max), memory_max_(limits.body_memory_max), spool_(spool) {
    // One more than the limit, so that Connection's own count of the whole header decides.
    header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
        limits.header_bytes_max + 1, std::numeric_limits<std::uint32_t>::max())));
    body_limit(std::uint64_t{limits.body_bytes_max});
    eager(false);  // stop after the header, so it is checked before any body is consumed
  }

  const AppRequest& request() const { return req_; }
  AppRequest take() { return std::move(req_); }
  // A field the trailer section must not hold, when that is why parsing failed.
  const std::string& bad_trailer() const { return bad_trailer_; }
  void use_spool(BodySpool* spool) { spool_ = spool; }
  // Sends the body to the spool from here on, if there is one; false if that failed.
  bool spool_now() {
    if (spooling_ || spool_ == nullptr) return spooling_;
    beast::error_code ec;
    start_spooling(ec);
    return !ec;
  }
  // The body goes to the spool (it outgrew body_memory_max); how much of it so far.
  bool spooling() const { return spooling_; }
  std::uint64_t spooled_bytes() const { return spooled_; }

 private:
  static std::string str(beast::string_view s) { return {s.data(), s.size()}; }

  void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target,
                       int version, beast::error_code&) override {
    req_.method = str(method);
    req_.target = str(target);
    req_.version_minor = version % 10;
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {}
  void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value,
                     beast::error_code& ec) override {
    if (is_header_done()) {  // a trailer: checked, then dropped
      if (never_a_trailer(name)) {
        bad_trailer_ = str(name);
        ec = bhttp::error::bad_field;
      }
      return;
    }
    if (req_.headers.size() >= fields_max_) {
      ec = bhttp::error::header_limit;
      return;
    }
    req_.headers.push_back({str(name), str(value)});
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code& ec) override {
    if (length && *length > memory_max_ && spool_ != nullptr) {
      start_spooling(ec);
    } else if (length) {
      req_.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*length, memory_max_)));
    }
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code& ec) override {
    if (spooling_) {
      if (!spool_->write({body.data(), body.size()})) ec = spool_error();
      spooled_ += body.size();
      return body.size();
    }
    req_.body.append(body.data(), body.size());  // a chunked body: Connection::step spools it
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code& ec) override {
    return on_body_impl(body, ec);
  }
  void on_finish_impl(beast::error_code&) override {}

  // From here on the body goes to the spool, what memory held of it first.
  void start_spooling(beast::error_code& ec) {
    spooling_ = true;
    if (!spool_->open() || (!req_.body.empty() && !spool_->write(req_.body))) ec = spool_error();
    spooled_ = req_.body.size();
    std::string().swap(req_.body);
  }
  static beast::error_code spool_error() {
    return boost::system::errc::make_error_code(boost::system::errc::no_space_on_device);
  }

  std::size_t fields_max_;
  std::size_t memory_max_;
  BodySpool* spool_;
  bool spooling_ = false;
  std::uint64_t spooled_ = 0;
  std::string bad_trailer_;
  AppRequest req_;
};

}  // namespace detail

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// The elements of every `name` field's comma-separated list, trimmed, empty ones skipped.
std::vector<std::string_view> list_elements(const std::vector<Header>& headers,
                                            std::string_view name) {
  std::vector<std::string_view> out;
  for (const auto& h : headers) {
    if (!iequals(h.name, name)) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      const auto comma = std::min(rest.find(','), rest.size());
      if (auto e = trim(rest.substr(0, comma)); !e.empty()) out.push_back(e);
      rest.remove_prefix(std::min(comma + 1, rest.size()));
    }
  }
  return out;
}

bool has_token(const std::vector<Header>& headers, std::string_view name, std::string_view token) {
  const auto list = list_elements(headers, name);
  return std::any_of(list.begin(), list.end(), [&](auto e) { return iequals(e, token); });
}

std::size_t count(const std::vector<Header>& headers, std::string_view name) {
  return static_cast<std::size_t>(std::count_if(
      headers.begin(), headers.end(), [&](const Header& h) { return iequals(h.name, name); }));
}

// Beast unfolds obs-fold silently; a proxy in front may not, so folded headers are refused.
bool has_obs_fold(std::string_view header_bytes) {
  return header_bytes.find("\r\n ") != std::string_view::npos ||
         header_bytes.find("\r\n\t") != std::string_view::npos;
}

bool has_bare_lf(std::string_view s) {
  for (auto at = s.find('\n'); at != std::string_view::npos; at = s.find('\n', at + 1)) {
    if (at == 0 || s[at - 1] != '\r') return true;
  }
  return false;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// RFC 3986 3.2.3: port = *DIGIT; at most 65535 here.
bool valid_port(std::string_view p) {
  if (p.size() > 5 || !std::all_of(p.begin(), p.end(), is_digit)) return false;
  std::uint32_t n = 0;
  for (char c : p) n = n * 10 + static_cast<std::uint32_t>(c - '0');
  return n <= 65535;
}

// A name as DNS and IPv4 have them: RFC 3986's reg-name without its sub-delims (! $ & ' ( ) * +
// , ; =), which no host name has and which only ever arrive in forged Host values.
bool valid_reg_name(std::string_view h) {
  if (h.empty()) return false;
  for (std::size_t i = 0; i < h.size(); ++i) {
    const char c = h[i];
    if (is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~') continue;
    if (c == '%' && i + 2 < h.size() && is_hex(h[i + 1]) && is_hex(h[i + 2])) {
      i += 2;
      continue;
    }
    return false;
  }
  return true;
}

// RFC 9110 7.2 and RFC 3986 3.2.2: Host = uri-host [ ":" port ], the host an IP-literal in
// brackets or a name. Empty is allowed (a target without an authority).
bool valid_host(std::string_view v) {
  if (v.empty()) return true;
  std::string_view rest;
  if (v.front() == '[') {
    const auto close = v.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    const std::string_view literal = v.substr(1, close - 1);
    const bool ok = std::all_of(literal.begin(), literal.end(),
                                [](char c) { return is_hex(c) || c == ':' || c == '.'; }) &&
                    literal.find(':') != std::string_view::npos;
    if (!ok) return false;
    rest = v.substr(close + 1);
  } else {
    const auto colon = v.find(':');
    if (!valid_reg_name(v.substr(0, colon))) return false;
    rest = colon == std::string_view::npos ? std::string_view{} : v.substr(colon);
  }
  if (rest.empty()) return true;
  return rest.front() == ':' && valid_port(rest.substr(1));
}

std::optional<ParseError> check_host(const AppRequest& req) {
  const auto hosts = count(req.headers, "Host");
  if (hosts > 1) return ParseError{400, "more than one Host header"};
  if (hosts == 0 && req.version_minor >= 1) return ParseError{400, "HTTP/1.1 request without Host"};
  if (auto host = header(req, "Host"); host && !valid_host(trim(*host))) {
    return ParseError{400, "the Host header is not a valid host"};
  }
  return std::nullopt;
}

// Where the authority of an absolute-form target begins: after "http://" or "https://" (RFC
// 9112 3.2.2; other schemes name resources this server does not serve); 0 if it is not one.
std::size_t absolute_form_authority(std::string_view t) {
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (t.size() > scheme.size() && iequals(t.substr(0, scheme.size()), scheme)) {
      return scheme.size();
    }
  }
  return 0;
}

// The authority of an absolute-form target, and its path and query ("/" if none).
std::pair<std::string_view, std::string> split_absolute_form(std::string_view t) {
  const std::size_t from = absolute_form_authority(t);
  const std::size_t path_at = std::min(t.find_first_of("/?", from), t.size());
  std::string path(t.substr(path_at));
  if (path.empty() || path.front() == '?') path.insert(0, "/");
  return {t.substr(from, path_at - from), std::move(path)};
}

// A target "http://HOST[:PORT]/..." with a valid host (no userinfo, RFC 9110 4.2.4).
bool is_absolute_form(std::string_view t) {
  if (absolute_form_authority(t) == 0) return false;
  const auto authority = split_absolute_form(t).first;
  return !authority.empty() && valid_host(authority);
}

// RFC 9112 3.2.2: an absolute-form target names the host, and the Host field is ignored for it.
// The app gets the origin-form and that host as Host, as if the request had come so.
void to_origin_form(AppRequest& r) {
  if (!is_absolute_form(r.target)) return;
  auto [authority, path] = split_absolute_form(r.target);
  const std::string host(authority);
  r.target = std::move(path);
  auto it = std::find_if(r.headers.begin(), r.headers.end(),
                         [](const Header& h) { return iequals(h.name, "Host"); });
  if (it == r.headers.end()) {
    r.headers.push_back({"Host", host});
  } else {
    it->value = host;
  }
}

// RFC 9112 3.2: origin-form ("/path?query") for every method; absolute-form too; the
// authority-form only with CONNECT and the asterisk-form only with OPTIONS.
std::optional<ParseError> check_target(const AppRequest& req) {
  const std::string_view t = req.target;
  if (req.method == "CONNECT") {
    if (!t.empty() && t.front() != '/' && t != "*" && !is_absolute_form(t) &&
        t.find('/') == std::string_view::npos && valid_host(t)) {
      return ParseError{501, "CONNECT is not supported: this server is not a proxy"};
    }
    return ParseError{400, "a CONNECT target must be in authority-form"};
  }
  if (t == "*") {
    if (req.method == "OPTIONS") return std::nullopt;
    return ParseError{400, "the asterisk-form target is only for OPTIONS"};
  }
  if (!t.empty() && t.front() == '/') return std::nullopt;
  if (is_absolute_form(t)) return std::nullopt;
  return ParseError{400, "the request target is neither a path (origin-form) nor an http URI"};
}

// Only "chunked" is decoded. RFC 9112 6.3 demands 400 when chunked is not the final coding;
// a final chunked under other codings is framed correctly but unsupported: 501.
std::optional<ParseError> check_transfer_encoding(const AppRequest& req) {
  if (count(req.headers, "Transfer-Encoding") == 0) return std::nullopt;
  if (count(req.headers, "Content-Length") > 0) {
    return ParseError{400, "both Transfer-Encoding and Content-Length"};
  }
  if (req.version_minor == 0) return ParseError{400, "Transfer-Encoding in an HTTP/1.0 request"};
  const auto codings = list_elements(req.headers, "Transfer-Encoding");
  if (codings.empty() || !iequals(codings.back(), "chunked")) {
    return ParseError{400, "chunked is not the final transfer coding"};
  }
  if (codings.size() > 1) return ParseError{501, "unsupported transfer coding"};
  return std::nullopt;
}

bool expects_continue(const AppRequest& req) {
  const auto expect = header(req, "Expect");
  return req.version_minor >= 1 && expect && iequals(trim(*expect), "100-continue");
}

ParseError from_beast(const beast::error_code& ec) {
  if (ec == boost::system::errc::no_space_on_device)
    return {503, "the request body could not be stored"};
  if (ec == bhttp::error::header_limit) return {431, "request header fields too large"};
  if (ec == bhttp::error::body_limit) return {413, "request body too large"};
  return {400, ec.message()};
}

std::string_view reason_phrase(int status) {
  static constexpr std::pair<int, std::string_view> kPhrases[] = {
      {100, "Continue"},
      {101, "Switching Protocols"},
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {203, "Non-Authoritative Information"},
      {204, "No Content"},
      {205, "Reset Content"},
      {206, "Partial Content"},
      {300, "Multiple Choices"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {303, "See Other"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {308, "Permanent Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {402, "Payment Required"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {406, "Not Acceptable"},
      {407, "Proxy Authentication Required"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {410, "Gone"},
      {411, "Length Required"},
      {412, "Precondition Failed"},
      {413, "Content Too Large"},
      {414, "URI Too Long"},
      {415, "Unsupported Media Type"},
      {416, "Range Not Satisfiable"},
      {417, "Expectation Failed"},
      {421, "Misdirected Request"},
      {422, "Unprocessable Content"},
      {426, "Upgrade Required"},
      {428, "Precondition Required"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
      {505, "HTTP Version Not Supported"},
      {506, "Variant Also Negotiates"},
      {507, "Insufficient Storage"},
      {511, "Network Authentication Required"},
  };
  for (int code : {status, status / 100 * 100}) {  // an unknown code reads as its class (x00)
    const auto it = std::find_if(std::begin(kPhrases), std::end(kPhrases),
                                 [code](const auto& p) { return p.first == code; });
    if (it != std::end(kPhrases)) return it->second;
  }
  return {};
}

bool is_tchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Headers an app set that would break the framing or split the response are left out.
bool writable(const Header& h) {
  if (iequals(h.name, "Content-Length") || iequals(h.name, "Connection") ||
      iequals(h.name, "Transfer-Encoding")) {
    return false;
  }
  return !h.name.empty() && std::all_of(h.name.begin(), h.name.end(), is_tchar) &&
         h.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

void append_status_line(std::string& out, int status) {
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\n";
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

bool keep_alive_requested(const AppRequest& req) {
  if (has_token(req.headers, "Connection", "close")) return false;
  return req.version_minor >= 1 || has_token(req.headers, "Connection", "keep-alive");
}

void append_connection(std::string& out, bool keep, const AppRequest& req) {
  if (!keep) {
    append_field(out, "Connection", "close");
  } else if (req.version_minor == 0) {
    append_field(out, "Connection", "keep-alive");
  }
}

int final_status(int app_status) {
  return app_status >= 200 && app_status <= 599 ? app_status : 500;
}

}  // namespace

std::optional<std::string_view> header(const AppRequest& req, std::string_view name) {
  const auto it = std::find_if(req.headers.begin(), req.headers.end(),
                               [&](const Header& h) { return iequals(h.name, name); });
  if (it == req.headers.end()) return std::nullopt;
  return std::string_view(it->value);
}

Connection::Connection(Limits limits)
    : limits_(limits), parser_(std::make_unique<detail::RequestParser>(limits_, nullptr)) {}
Connection::~Connection() = default;
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;

void Connection::feed(std::string_view bytes) {
  if (finished()) return;
  compact();
  in_.append(bytes);
  pump();
  if (backlog() > backlog_cap()) {
    in_.resize(pos_ + backlog_cap());
    overflowed_ = true;
  }
}

void Connection::set_spool(std::unique_ptr<BodySpool> spool) {
  spool_ = std::move(spool);
  parser_->use_spool(spool_.get());
}

std::optional<Connection::Spooled> Connection::spooled() const {
  return ready_ ? ready_spooled_ : std::nullopt;
}

void Connection::feed_spooled(std::string_view head, int body_file, std::uint64_t body_bytes) {
  parser_->skip(true);  // the body is not in the stream
  spooled_file_ = body_file;
  spooled_file_bytes_ = body_bytes;
  feed(head);
  if (!ready_ && !error_) fail({400, "a request handed over with its body has no whole head"});
  spooled_file_ = -1;
}

void Connection::feed_eof() {
  eof_ = true;
  interim_due_ = false;
}

Next Connection::next() {
  if (closing_) return std::monostate{};
  pump();
  if (ready_) {
    ++unanswered_;
    AppRequest req = std::move(*ready_);
    ready_.reset();
    ready_spooled_.reset();
    raw_begin_ = msg_begin_;  // the parser starts afresh where this request ended
    return req;
  }
  if (error_ && !error_reported_) {
    error_reported_ = true;
    return *error_;
  }
  return std::monostate{};
}

std::string Connection::take_interim() {
  pump();
  if (!interim_due_ || unanswered_ > 0 || finished()) return {};
  interim_due_ = false;
  return std::string(kContinue);
}

bool Connection::decide_keep(const AppRequest& req, const std::vector<Header>& app_headers,
                             bool closing) {
  if (unanswered_ > 0) --unanswered_;
  pump();  // after EOF, keep the connection for requests that arrived before it
  const bool last_before_eof = eof_ && !ready_;
  const bool keep = !closing && !closing_ && !last_before_eof && keep_alive_requested(req) &&
                    !has_token(app_headers, "Connection", "close");
  closing_ = closing_ || !keep;
  return keep;
}

std::string Connection::serialize(const AppRequest& req, const AppResponse& resp, bool closing) {
  const bool keep = decide_keep(req, resp.headers, closing);
  const int status = final_status(resp.status);
  const bool bodyless = status == 204 || status == 304;
  const bool head = req.method == "HEAD";
  std::string out;
  out.reserve(256 + resp.body.size());
  append_status_line(out, status);
  for (const auto& h : resp.headers) {
    if (writable(h)) append_field(out, h.name, h.value);
  }
  if (!bodyless) {
    // HEAD answers with the length a GET would have: the app's, when it gave one and no body.
    const std::optional<std::uint64_t> declared = declared_length(resp.headers);
    const bool keep_declared = head && resp.body.empty() && declared;
    append_field(out, "Content-Length",
                 std::to_string(keep_declared ? *declared : resp.body.size()));
  }
  append_connection(out, keep, req);
  out += "\r\n";
  if (!bodyless && !head) out += resp.body;
  return out;
}

Connection::Head Connection::serialize_head(const AppRequest& req, int app_status,
                                            const std::vector<Header>& headers, bool closing) {
  const std::optional<std::uint64_t> declared = declared_length(headers);
  const bool close_delimited = !declared && req.version_minor == 0;
  const bool keep = decide_keep(req, headers, closing || close_delimited);
  const int status = final_status(app_status);
  const bool bodyless = status == 204 || status == 304;
  Head h;
  h.bytes.reserve(256);
  append_status_line(h.bytes, status);
  for (const auto& f : headers) {
    if (writable(f)) append_field(h.bytes, f.name, f.value);
  }
  if (declared && !bodyless) {
    append_field(h.bytes, "Content-Length", std::to_string(*declared));
    h.framing = Framing::length;
    h.length = *declared;
  } else if (!bodyless && !close_delimited) {
    append_field(h.bytes, "Transfer-Encoding", "chunked");
    h.framing = Framing::chunked;
  } else if (!bodyless) {
    h.framing = Framing::close;
  }
  if (bodyless || req.method == "HEAD") h.framing = Framing::none;
  append_connection(h.bytes, keep, req);
  h.bytes += "\r\n";
  return h;
}

std::string Connection::chunk_head(std::uint64_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::uint64_t n = size; n != 0; n >>= 4) out.insert(out.begin(), kHex[n & 15]);
  if (out.empty()) out = "0";
  out += "\r\n";
  return out;
}

std::string Connection::chunk(std::string_view block) {
  if (block.empty()) return {};
  std::string out = chunk_head(block.size());
  out.reserve(out.size() + block.size() + 2);
  out += block;
  out += "\r\n";
  return out;
}

std::string Connection::serialize_error(const ParseError& e) {
  closing_ = true;
  std::string body(reason_phrase(e.status));
  if (!e.reason.empty()) body += ": " + e.reason;
  body += '\n';
  std::string out;
  append_status_line(out, e.status);
  append_field(out, "Content-Type", "text/plain; charset=utf-8");
  append_field(out, "Content-Length", std::to_string(body.size()));
  append_field(out, "Connection", "close");
  out += "\r\n";
  out += body;
  return out;
}

bool Connection::request_ready() {
  pump();
  return ready_.has_value();
}

bool Connection::error_ready() {
  pump();
  return !closing_ && !ready_ && error_.has_value() && !error_reported_;
}

std::string Connection::remainder() const { return in_.substr(std::min(raw_begin_, in_.size())); }

bool Connection::should_close() const { return finished(); }

bool Connection::idle() const { return !ready_ && !parser_->got_some() && backlog() == 0; }

bool Connection::body_arriving() const {
  return !ready_ && !error_ && parser_->is_header_done() && !parser_->is_done();
}

bool Connection::mid_request() const { return !ready_ && (parser_->got_some() || backlog() > 0); }

// Everything not yet returned as a request counts too: a body held in memory (no spool) stops
// the reading once it reaches body_memory_max, with room for one more read, so that
// remainder() never exceeds buffered_max() (what a receiver of the connection accepts).
bool Connection::wants_input() const {
  return !finished() && backlog() < backlog_cap() &&
         unreturned() + limits_.read_bytes_max <= backlog_cap();
}

std::size_t Connection::backlog_cap() const { return limits_.buffered_max(); }

// Parses buffered bytes until one request is complete (and waits in ready_ for next()), the
// connection fails, or more bytes are needed.
void Connection::pump() {
  while (!ready_ && !error_ && !closing_ && parsable() && step()) {
  }
  if (!ready_ && !error_ && !closing_) check_waiting();
}

// Whether the buffered bytes are worth a put().
bool Connection::parsable() {
  if (!parser_->got_some()) skip_empty_lines();
  if (backlog() == 0) return false;
  if (!parser_->got_some()) return in_.compare(pos_, std::string::npos, "\r") != 0;
  // Beast 1.74 asserts when it re-enters the last chunk with fewer than 5 bytes; an unfinished
  // chunked body always has at least 5 more to come ("0\r\n\r\n").
  return !(parser_->is_header_done() && parser_->chunked() && backlog() < 5);
}

// One put() into the parser; false when it needs more bytes or failed.
bool Connection::step() {
  const bool had_header = parser_->is_header_done();
  beast::error_code ec;
  const auto used = parser_->put(beast::net::const_buffer(in_.data() + pos_, backlog()), ec);
  pos_ += used;
  // A body's raw bytes can outgrow memory before the body itself does (small chunks), or reach
  // the buffering cap first (a --max-body-bytes below the memory limit), and reading would stop
  // on a request that never completes: such a body goes to the spool already.
  const bool too_big = pos_ - head_end_ > limits_.body_memory_max ||
                       unreturned() + limits_.read_bytes_max > backlog_cap();
  if (spool_ && had_header && too_big && !parser_->spool_now()) {
    fail({503, "the request body could not be stored"});
    return false;
  }
  if (parser_->spooling()) {  // the body is in the spool: its raw bytes are not kept
    in_.erase(head_end_, pos_ - head_end_);
    pos_ = head_end_;
  }
  const bool need_more = ec == bhttp::error::need_more;
  if (ec && !need_more) {
    if (!parser_->bad_trailer().empty()) {
      fail({400, parser_->bad_trailer() + " cannot be a trailer field"});
    } else if (ec == bhttp::error::header_limit && !parser_->is_header_done()) {
      fail(head_too_large());
    } else {
      fail(from_beast(ec));
    }
    return false;
  }
  if (!had_header && parser_->is_header_done() && !accept_header()) return false;
  if (parser_->is_done()) complete();
  return !need_more && used > 0;
}

bool Connection::accept_header() {
  if (auto e = check_header()) {
    fail(std::move(*e));
    return false;
  }
  parser_->eager(true);
  head_end_ = pos_;
  interim_due_ = !parser_->is_done() && expects_continue(parser_->request());
  return true;
}

std::optional<ParseError> Connection::check_header() const {
  const std::string_view header_bytes(in_.data() + msg_begin_, pos_ - msg_begin_);
  if (header_bytes.size() > limits_.header_bytes_max) return head_too_large();
  if (has_obs_fold(header_bytes)) return ParseError{400, "obsolete line folding in a header"};
  if (auto e = check_target(parser_->request())) return e;
  if (auto e = check_host(parser_->request())) return e;
  return check_transfer_encoding(parser_->request());
}

// Bounds what waits for more bytes. Beast re-parses a partial header only once "\r\n\r\n" has
// arrived, which a bare-LF request never sends, so bare LFs are caught here. Beast bounds neither a
// chunk-size line (extensions) nor the trailer section, so they share the header limit.
void Connection::check_waiting() {
  const std::size_t from = parser_->is_header_done() ? pos_ : msg_begin_;
  const std::size_t waiting = in_.size() - from;
  if (!parser_->is_header_done() && has_bare_lf(std::string_view(in_).substr(from))) {
    fail({400, "bare LF line ending"});
  } else if (waiting > limits_.header_bytes_max) {
    fail(parser_->is_header_done() ? ParseError{431, "chunk line or trailer section too large"}
                                   : head_too_large());
  } else if (overflowed_) {
    fail(parser_->is_header_done() ? ParseError{413, "pipelined input beyond the buffer cap"}
                                   : ParseError{431, "pipelined input beyond the buffer cap"});
  }
}

// RFC 9112 3: a request line longer than the head may be is a target too long to parse (414);
// otherwise the header fields are too large (431).
ParseError Connection::head_too_large() const {
  const std::string_view head = std::string_view(in_).substr(msg_begin_);
  const std::size_t line = std::min(head.find('\n'), head.size());
  if (line > limits_.header_bytes_max) return {414, "request target too long"};
  return {431, "request header fields too large"};
}

void Connection::complete() {
  if (parser_->spooling()) {
    ready_spooled_ = Spooled{head_end_ - std::min(raw_begin_, head_end_), parser_->spooled_bytes()};
  }
  ready_ = parser_->take();
  to_origin_form(*ready_);
  if (spooled_file_ >= 0) {
    ready_->body_file = spooled_file_;
    ready_->body_file_bytes = spooled_file_bytes_;
    spooled_file_ = -1;
  }
  reset_parser();
}

void Connection::fail(ParseError e) {
  error_ = std::move(e);
  interim_due_ = false;
}

void Connection::reset_parser() {
  parser_ = std::make_unique<detail::RequestParser>(limits_, spool_.get());
  msg_begin_ = pos_;
  interim_due_ = false;
}

// RFC 9112 2.2: empty lines before a request line are ignored (clients send one after a body).
void Connection::skip_empty_lines() {
  while (in_.compare(pos_, 2, "\r\n") == 0) pos_ += 2;
  msg_begin_ = pos_;
}

// Drops consumed bytes once they are at least half the buffer; a header being parsed is kept
// whole for check_header().
void Connection::compact() {
  const std::size_t drop = std::min(parser_->is_header_done() ? pos_ : msg_begin_, raw_begin_);
  if (drop == 0 || drop * 2 < in_.size()) return;
  in_.erase(0, drop);
  pos_ -= drop;
  msg_begin_ -= std::min(msg_begin_, drop);
  raw_begin_ -= drop;
  head_end_ -= std::min(head_end_, drop);
}

}  // namespace zyg::http
