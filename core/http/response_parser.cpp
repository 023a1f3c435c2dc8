#include "core/http/response_parser.hpp"

#include <utility>

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

namespace zyg::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace detail {

class ResponseBeastParser final : public bhttp::basic_parser<false> {
 public:
  explicit ResponseBeastParser(Parsed& out) : out_(out) {
    header_limit(static_cast<std::uint32_t>(ResponseParser::max_head_bytes));
    body_limit(std::uint64_t{ResponseParser::max_response_bytes});
  }

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int,
                       beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    out_.status = code;
  }
  void on_field_impl(bhttp::field, beast::string_view, beast::string_view,
                     beast::error_code&) override {}
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    out_.body_size += body.size();
    const std::size_t room = ResponseParser::kept_body_bytes - out_.body_head.size();
    out_.body_head.append(body.data(), std::min(room, body.size()));
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code& ec) override {
    return on_body_impl(body, ec);
  }
  void on_finish_impl(beast::error_code&) override {}

  Parsed& out_;
};

}  // namespace detail

ResponseParser::ResponseParser()
    : parsed_(std::make_unique<detail::Parsed>()),
      parser_(std::make_unique<detail::ResponseBeastParser>(*parsed_)) {}
ResponseParser::~ResponseParser() = default;
ResponseParser::ResponseParser(ResponseParser&&) noexcept = default;
ResponseParser& ResponseParser::operator=(ResponseParser&&) noexcept = default;

void ResponseParser::no_body_expected() {
  no_body_ = true;
  parser_->skip(true);
}

ResponseParser::Result ResponseParser::fail() {
  state_ = Result::error;
  return state_;
}

ResponseParser::Result ResponseParser::feed(std::string_view data) {
  if (state_ != Result::need_more) {
    if (state_ == Result::done) buf_.append(data);  // the next response's
    return state_;
  }
  total_ += data.size();  // Beast's header and body limits bound what is kept
  buf_.append(data);
  return run();
}

ResponseParser::Result ResponseParser::run() {
  while (!buf_.empty()) {
    beast::error_code ec;
    const std::size_t used = parser_->put(beast::net::const_buffer(buf_.data(), buf_.size()), ec);
    buf_.erase(0, used);
    if (ec == bhttp::error::need_more) break;
    if (ec) return fail();
    if (!parser_->is_done()) {
      if (used == 0) break;
      continue;
    }
    const int status = parsed_->status;
    if (status >= 100 && status < 200 && status != 101) {
      // An interim response (100 Continue): the final one follows.
      parser_ = std::make_unique<detail::ResponseBeastParser>(*parsed_);
      if (no_body_) parser_->skip(true);
      continue;
    }
    server_closes_ = !parser_->keep_alive() || parser_->need_eof();
    state_ = Result::done;
    return state_;
  }
  if (parser_->is_header_done() && parser_->need_eof()) server_closes_ = true;
  return Result::need_more;
}

ResponseParser::Result ResponseParser::feed_eof() {
  if (state_ != Result::need_more) return state_;
  if (!parser_->got_some()) return fail();  // closed before any byte of a (final) response
  beast::error_code ec;
  parser_->put_eof(ec);

  if (ec || !parser_->is_done()) return fail();
  server_closes_ = true;
  state_ = Result::done;
  return state_;
}

std::string ResponseParser::take_rest() { return std::exchange(buf_, {}); }

}  // namespace zyg::http
