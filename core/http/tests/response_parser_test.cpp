#include "core/http/response_parser.hpp"

#include <gtest/gtest.h>

namespace zyg::http {
namespace {

using R = ResponseParser::Result;

R feed_bytewise(ResponseParser& p, std::string_view s) {
  R r = R::need_more;
  for (char c : s) r = p.feed({&c, 1});
  return r;
}

TEST(ResponseParser, ContentLength) {
  ResponseParser p;
  EXPECT_FALSE(p.any_byte());
  EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"), R::need_more);
  EXPECT_TRUE(p.any_byte());
  EXPECT_EQ(p.feed("lo"), R::done);
  EXPECT_EQ(p.status(), 200);
  EXPECT_EQ(p.body_head(), "hello");
  EXPECT_FALSE(p.server_closes());
}

TEST(ResponseParser, ChunkedSplitAnywhere) {
  ResponseParser p;
  EXPECT_EQ(feed_bytewise(p,
                          "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n"
                          "5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"),
            R::done);
  EXPECT_EQ(p.body_head(), "hello world");
  EXPECT_EQ(p.body_size(), 11u);
}

TEST(ResponseParser, BadChunkIsAnError) {
  ResponseParser p;
  EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), R::error);
}

TEST(ResponseParser, BodyUntilClose) {
  ResponseParser p;
  EXPECT_EQ(p.feed("HTTP/1.0 200 OK\r\n\r\nabc"), R::need_more);
  EXPECT_TRUE(p.server_closes());
  EXPECT_EQ(p.feed_eof(), R::done);
  EXPECT_EQ(p.body_head(), "abc");
}

TEST(ResponseParser, EofBeforeCompleteIsAnError) {
  ResponseParser nothing;
  EXPECT_EQ(nothing.feed_eof(), R::error);
  ResponseParser interim_only;
  EXPECT_EQ(interim_only.feed("HTTP/1.1 100 Continue\r\n\r\n"), R::need_more);
  EXPECT_EQ(interim_only.feed_eof(), R::error);
  ResponseParser p;

  EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"), R::need_more);
  EXPECT_EQ(p.feed_eof(), R::error);
}

TEST(ResponseParser, ConnectionCloseAndInterimResponses) {
  ResponseParser p;
  EXPECT_EQ(p.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 No\r\nConnection: close\r\n"
                   "Content-Length: 0\r\n\r\n"),
            R::done);
  EXPECT_EQ(p.status(), 503);
  EXPECT_TRUE(p.server_closes());
}

TEST(ResponseParser, Bounds) {
  ResponseParser head;
  EXPECT_EQ(head.feed("HTTP/1.1 200 OK\r\nX: " + std::string(70 * 1024, 'a')), R::error);
  ResponseParser declared;  // refused as soon as the header says so
  EXPECT_EQ(declared.feed("HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n"), R::error);
  ResponseParser big;
  EXPECT_EQ(big.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), R::need_more);
  const std::string mib(1 << 20, 'b');
  R r = R::need_more;
  for (int i = 0; i < 70 && r == R::need_more; ++i) r = big.feed("100000\r\n" + mib + "\r\n");
  EXPECT_EQ(r, R::error);
  EXPECT_EQ(big.body_head().size(), ResponseParser::kept_body_bytes);
  ResponseParser garbage;
  EXPECT_EQ(garbage.feed("SSH-2.0-OpenSSH\r\n\r\n"), R::error);
}

TEST(ResponseParser, PipelinedResponsesLeaveTheRestForTheNext) {
  ResponseParser p;
  EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 N"), R::done);
  EXPECT_EQ(p.status(), 200);
  EXPECT_EQ(p.feed("o\r\nContent-Length: 0\r\n\r\n"), R::done);
  ResponseParser next;
  EXPECT_EQ(next.feed(p.take_rest()), R::done);
  EXPECT_EQ(next.status(), 404);
  EXPECT_EQ(next.take_rest(), "");
}

TEST(ResponseParser, HeadResponsesHaveNoBody) {
  ResponseParser p;
  p.no_body_expected();
  EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n"), R::done);
  EXPECT_EQ(p.body_size(), 0u);
}

TEST(ResponseParser, SmugglingShapesAreErrors) {
  ResponseParser both;
  EXPECT_EQ(both.feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            R::error);
  ResponseParser bad_version;
  EXPECT_EQ(bad_version.feed("HTTP/2.0 200 OK\r\n\r\n"), R::error);
}

}  // namespace
}  // namespace zyg::http
