#include "core/http/connection.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace zyg::http {
namespace {

constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

AppRequest request_of(Next n) {
  EXPECT_TRUE(std::holds_alternative<AppRequest>(n))
      << "expected a request, got index " << n.index();
  if (auto* r = std::get_if<AppRequest>(&n)) return std::move(*r);
  return {};
}

int status_of(const Next& n) {
  if (auto* e = std::get_if<ParseError>(&n)) return e->status;
  return std::holds_alternative<AppRequest>(n) ? -1 : 0;
}

bool none(const Next& n) { return std::holds_alternative<std::monostate>(n); }

std::size_t occurrences(std::string_view hay, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// The answer to a request sent in one piece: the request itself, or the error.
Next first(std::string_view bytes, Limits limits = {}) {
  Connection c(limits);
  c.feed(bytes);
  return c.next();
}

AppResponse ok(std::string body = "hi") { return {200, {}, std::move(body)}; }

TEST(Connection, SimpleGet) {
  Connection c;
  c.feed("GET /a?b=1 HTTP/1.1\r\nHost: example\r\nX-Custom-Name: v  \r\n\r\n");
  const auto req = request_of(c.next());
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/a?b=1");
  EXPECT_EQ(req.version_minor, 1);
  ASSERT_EQ(req.headers.size(), 2u);
  EXPECT_EQ(req.headers[1].name, "X-Custom-Name");
  EXPECT_EQ(req.headers[1].value, "v");
  EXPECT_EQ(header(req, "x-custom-name"), "v");
  EXPECT_EQ(header(req, "HOST"), "example");
  EXPECT_FALSE(header(req, "Missing"));
  EXPECT_TRUE(req.body.empty());
  EXPECT_TRUE(none(c.next()));

  const AppResponse resp{200, {{"Content-Type", "text/plain"}}, "hi"};
  EXPECT_EQ(c.serialize(req, resp, false),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_FALSE(c.should_close());
  EXPECT_TRUE(c.idle());
}

TEST(Connection, AnAbsoluteFormTargetIsServedAsOriginFormWithItsHost) {
  // RFC 9112 3.2.2: the target's host wins over the Host field, which must still be valid.
  const auto req =
      request_of(first("GET http://Example.com:8080?q=1 HTTP/1.1\r\nHost: other\r\n\r\n"));
  EXPECT_EQ(req.target, "/?q=1");
  EXPECT_EQ(header(req, "Host"), "Example.com:8080");
  EXPECT_EQ(req.headers.size(), 1u) << "replaced, not added";
  const auto bare = request_of(first("GET https://example.com HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(bare.target, "/");
  EXPECT_EQ(header(bare, "Host"), "example.com") << "an HTTP/1.0 request without Host gets it";
}

TEST(Connection, TargetFormsBelongToTheirMethods) {
  EXPECT_EQ(request_of(first("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")).target, "*");
  const auto star = std::get<ParseError>(first("DELETE * HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(star.status, 400);
  EXPECT_NE(star.reason.find("only for OPTIONS"), std::string::npos) << star.reason;
  EXPECT_EQ(status_of(first("GET x.example:80 HTTP/1.1\r\nHost: x\r\n\r\n")), 400);
  EXPECT_EQ(status_of(first("GET a/b HTTP/1.1\r\nHost: x\r\n\r\n")), 400);
  EXPECT_EQ(status_of(first("CONNECT x.example:443 HTTP/1.1\r\nHost: x\r\n\r\n")), 501);
}

TEST(Connection, AnInvalidHostIs400AndSaysSo) {
  for (const char* host : {"0.0.0.0=5000", "a/b", "a@b", "a:99999", "[::1", "[zz::1]", "a b"}) {
    const auto e =
        std::get<ParseError>(first(std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n"));
    EXPECT_EQ(e.status, 400) << host;
    EXPECT_NE(e.reason.find("Host"), std::string::npos) << host << ": " << e.reason;
  }
  for (const char* host : {"", "x", "127.0.0.1:8000", "[::1]:80", "[::ffff:1.2.3.4]", "a-b.c_d~"}) {
    EXPECT_TRUE(std::holds_alternative<AppRequest>(
        first(std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n")))
        << host;
  }
}

TEST(Connection, AFieldThatCannotBeATrailerIs400AndNamed) {
  const auto e =
      std::get<ParseError>(first("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "1\r\na\r\n0\r\nX-Fine: 1\r\nHOST: evil\r\n\r\n"));
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.reason, "HOST cannot be a trailer field");
}

TEST(Connection, NothingAfterARequestSayingCloseIsProcessed) {
  // RFC 9112 9.6: the server closes after answering it; what was pipelined behind it is not read.
  Connection c;
  c.feed(
      "GET /1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto req = request_of(c.next());
  (void)c.serialize(req, ok(), false);
  EXPECT_TRUE(c.should_close());
  EXPECT_TRUE(none(c.next()));
}

TEST(Connection, EmptyListElementsAreIgnored) {
  // RFC 9110 5.6.1: a recipient parses and ignores a reasonable number of empty list elements.
  Connection c;
  c.feed("GET / HTTP/1.1\r\nHost: x\r\nConnection: , ,close,\r\n\r\n");
  (void)c.serialize(request_of(c.next()), ok(), false);
  EXPECT_TRUE(c.should_close());
  const auto chunked = request_of(first(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"));
  EXPECT_EQ(chunked.body, "ok");
}

TEST(Connection, ANameWithUnderscoreIsItsOwnFieldNotTheOneItResembles) {
  // Native apps see it as sent; the WSGI environ drops it (real/app/python/wsgi.cpp).
  Connection c;
  c.feed(
      "POST / HTTP/1.1\r\nHost: x\r\nContent_Length: 5\r\n\r\nGET /next HTTP/1.1\r\nHost: "
      "x\r\n\r\n");
  const auto req = request_of(c.next());
  EXPECT_EQ(header(req, "Content_Length"), "5");
  EXPECT_FALSE(header(req, "Content-Length"));
  EXPECT_TRUE(req.body.empty()) << "it frames nothing";
  (void)c.serialize(req, ok(), false);
  EXPECT_EQ(request_of(c.next()).target, "/next");
}

TEST(Connection, ALongRequestLineIs414) {
  EXPECT_EQ(status_of(first("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n")),
            414);
  Connection c;
  c.feed("GET /" + std::string(9000, 'a'));
  EXPECT_EQ(status_of(c.next()), 414) << "before the line even ends";
  EXPECT_TRUE(c.should_close());
}

TEST(Connection, Http11KeepsAliveByDefault) {
  Connection c;
  c.feed(kGet);
  const auto out = c.serialize(request_of(c.next()), ok(), false);
  EXPECT_EQ(out.find("Connection"), std::string::npos);
  EXPECT_FALSE(c.should_close());
  c.feed(kGet);
  EXPECT_EQ(request_of(c.next()).target, "/");
}

TEST(Connection, Http10ClosesByDefault) {
  Connection c;
  c.feed("GET / HTTP/1.0\r\n\r\nGET /again HTTP/1.0\r\n\r\n");
  const auto req = request_of(c.next());
  EXPECT_EQ(req.version_minor, 0);
  EXPECT_EQ(c.serialize(req, ok(), false),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
  EXPECT_TRUE(c.should_close());
  EXPECT_TRUE(none(c.next()));
}

TEST(Connection, Http10KeepAliveIsEchoed) {
  Connection c;
  c.feed("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  const auto out = c.serialize(request_of(c.next()), ok(), false);
  EXPECT_NE(out.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
  EXPECT_FALSE(c.should_close());
}

TEST(Connection, ConnectionCloseIsHonoured) {
  Connection c;
  c.feed("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n");
  const auto out = c.serialize(request_of(c.next()), ok(), false);
  EXPECT_NE(out.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_TRUE(c.should_close());
}

TEST(Connection, ClosingForcesConnectionClose) {
  Connection c;
  c.feed(kGet);
  c.feed(kGet);
  const auto out = c.serialize(request_of(c.next()), ok(), true);
  EXPECT_NE(out.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_TRUE(c.should_close());
  EXPECT_TRUE(none(c.next())) << "nothing more is answered on a closing connection";
}

TEST(Connection, AppConnectionCloseIsHonouredOnce) {
  Connection c;
  c.feed(kGet);
  const AppResponse resp{200, {{"connection", "close"}}, ""};
  const auto out = c.serialize(request_of(c.next()), resp, false);
  EXPECT_EQ(occurrences(out, "onnection:"), 1u);
  EXPECT_NE(out.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_TRUE(c.should_close());
}

TEST(Connection, AppFramingHeadersAreNotDuplicated) {
  Connection c;
  c.feed(kGet);
  const AppResponse resp{
      200, {{"content-length", "999"}, {"Transfer-Encoding", "chunked"}, {"X-A", "1"}}, "hi"};
  EXPECT_EQ(c.serialize(request_of(c.next()), resp, false),
            "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi");
}

TEST(Connection, AppHeadersThatWouldSplitTheResponseAreDropped) {
  Connection c;
  c.feed(kGet);
  const AppResponse resp{
      200, {{"X-Bad", "a\r\nSet-Cookie: x"}, {"Bad Name", "v"}, {"X-Ok", "1"}}, ""};
  EXPECT_EQ(c.serialize(request_of(c.next()), resp, false),
            "HTTP/1.1 200 OK\r\nX-Ok: 1\r\nContent-Length: 0\r\n\r\n");
}

TEST(Connection, StatusPhrasesAndBodylessStatuses) {
  Connection c;
  c.feed(std::string(kGet) + std::string(kGet) + std::string(kGet));
  EXPECT_EQ(c.serialize(request_of(c.next()), {204, {}, "ignored"}, false),
            "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(c.serialize(request_of(c.next()), {42, {}, ""}, false),
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(c.serialize(request_of(c.next()), {499, {}, ""}, false),
            "HTTP/1.1 499 Bad Request\r\nContent-Length: 0\r\n\r\n");
}

TEST(Connection, HeadGetsContentLengthButNoBody) {
  Connection c;
  c.feed("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.serialize(request_of(c.next()), ok("hello"), false),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
}

TEST(Connection, HeadKeepsTheAppsContentLength) {
  Connection c;
  c.feed("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
  AppResponse r{200, {{"Content-Length", "1234"}}, ""};
  EXPECT_EQ(c.serialize(request_of(c.next()), r, false),
            "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
}

TEST(Connection, AStreamedHeadIsFramedByLengthChunksOrClose) {
  struct Case {
    const char* request;
    std::vector<Header> headers;
    Connection::Framing framing;
    const char* head;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
       {{"Content-Length", "10"}},
       Connection::Framing::length,
       "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"},
      {"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
       {{"X-A", "1"}},
       Connection::Framing::chunked,
       "HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
       {},
       Connection::Framing::close,
       "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"},
      {"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
       {{"Content-Length", "7"}},
       Connection::Framing::none,
       "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.request);
    Connection c;
    c.feed(k.request);
    const auto head = c.serialize_head(request_of(c.next()), 200, k.headers, false);
    EXPECT_EQ(head.framing, k.framing);
    EXPECT_EQ(head.bytes, k.head);
    EXPECT_EQ(c.should_close(), k.framing == Connection::Framing::close);
  }
}

TEST(Connection, ChunksAreHexSizedAndNeverEmpty) {
  EXPECT_EQ(Connection::chunk(""), "");
  EXPECT_EQ(Connection::chunk("hello"), "5\r\nhello\r\n");
  EXPECT_EQ(Connection::chunk(std::string(300, 'x')).substr(0, 5), "12c\r\n");
  EXPECT_EQ(Connection::chunk_head(300), "12c\r\n");
  EXPECT_EQ(Connection::chunk_head(8u << 20), "800000\r\n");
  EXPECT_EQ(Connection::chunk_head(0xffffffffffULL), "ffffffffff\r\n");
  EXPECT_EQ(Connection::kLastChunk, "0\r\n\r\n");
}

TEST(Connection, PipelinedRequestsComeOutInOrder) {
  Connection c;
  c.feed(
      "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string out;
  for (const char* target : {"/1", "/2", "/3"}) {
    const auto req = request_of(c.next());
    EXPECT_EQ(req.target, target);
    EXPECT_EQ(req.body, req.target == "/2" ? "abc" : "");
    out += c.serialize(req, ok(req.target), false);
  }
  EXPECT_TRUE(none(c.next()));
  EXPECT_LT(out.find("\r\n/1"), out.find("\r\n/2"));
  EXPECT_LT(out.find("\r\n/2"), out.find("\r\n/3"));
  EXPECT_TRUE(c.idle());
}

TEST(Connection, ByteAtATime) {
  const std::string wire =
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n";
  Connection c;
  std::vector<AppRequest> got;
  for (char ch : wire) {
    c.feed(std::string_view(&ch, 1));
    for (auto n = c.next(); !none(n); n = c.next()) got.push_back(request_of(std::move(n)));
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, "hello");
  EXPECT_EQ(got[1].target, "/b");
  EXPECT_EQ(got[1].body, "abcde");
  EXPECT_TRUE(c.idle());
}

TEST(Connection, EmptyChunkedBodyByteAtATime) {
  // Beast 1.74 asserts if the last chunk is re-parsed from fewer than 5 bytes.
  const std::string_view wire =
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  Connection c;
  for (std::size_t i = 0; i + 1 < wire.size(); ++i) {
    c.feed(wire.substr(i, 1));
    EXPECT_TRUE(none(c.next()));
  }
  c.feed(wire.substr(wire.size() - 1));
  EXPECT_EQ(request_of(c.next()).body, "");
}

TEST(Connection, BareLfIsRefusedWithoutWaitingForTheBlankLine) {
  Connection c;
  for (char ch : std::string_view("GET / HTTP/1.1\nHost: x\n\n")) c.feed(std::string_view(&ch, 1));
  EXPECT_EQ(status_of(c.next()), 400);
}

TEST(Connection, ChunkedBodyWithExtensionsAndTrailersIsDecoded) {
  const auto req = request_of(
      first("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            "4;name=val\r\nWiki\r\n5;a=\"q d\"\r\npedia\r\n0;last\r\nX-Trailer: t\r\n\r\n"));
  EXPECT_EQ(req.body, "Wikipedia");
  EXPECT_FALSE(header(req, "X-Trailer")) << "trailers are not merged into the headers";
}

TEST(Connection, ExpectContinueGivesOneInterim) {
  Connection c;
  c.feed("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_TRUE(none(c.next()));
  EXPECT_EQ(c.take_interim(), "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_EQ(c.take_interim(), "");
  c.feed("hello");
  EXPECT_EQ(c.take_interim(), "");
  EXPECT_EQ(request_of(c.next()).body, "hello");
}

TEST(Connection, NoInterimWhenTheBodyAlreadyArrived) {
  Connection c;
  c.feed("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(c.take_interim(), "");
  EXPECT_EQ(request_of(c.next()).body, "hello");
}

TEST(Connection, NoInterimForHttp10OrWithoutExpect) {
  Connection c10;
  c10.feed("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(c10.take_interim(), "");
  Connection plain;
  plain.feed("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(plain.take_interim(), "");
}

TEST(Connection, InterimWaitsForEarlierResponses) {
  Connection c;
  c.feed(std::string(kGet) +
         "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  const auto req = request_of(c.next());
  EXPECT_EQ(c.take_interim(), "") << "a 100 now would read as the answer to the GET";
  c.serialize(req, ok(), false);
  EXPECT_EQ(c.take_interim(), "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST(Connection, BigContentLengthIs413BeforeTheBody) {
  Connection c;
  c.feed("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
  EXPECT_EQ(status_of(c.next()), 413);
  EXPECT_TRUE(c.should_close());
  EXPECT_TRUE(none(c.next()));
  EXPECT_EQ(c.take_interim(), "");
}

TEST(Connection, ChunkedTotalOverTheLimitIs413) {
  Limits small;
  small.body_bytes_max = 10;
  Connection c(small);
  c.feed("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n");
  EXPECT_TRUE(none(c.next()));
  c.feed("6\r\n");  // the second chunk's size alone passes the limit
  EXPECT_EQ(status_of(c.next()), 413);
  EXPECT_TRUE(c.should_close());
}

TEST(Connection, HugeHeaderIs431) {
  Connection c;
  c.feed("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a'));
  EXPECT_EQ(status_of(c.next()), 431);
  EXPECT_TRUE(c.should_close());
}

TEST(Connection, RequestLineAndHeadersCountTogether) {
  // Beast limits the request line and the fields separately; the whole header is what counts.
  const std::string line = "GET /" + std::string(5000, 'a') + " HTTP/1.1\r\n";
  const std::string fields = "Host: x\r\nX-Big: " + std::string(5000, 'b') + "\r\n\r\n";
  EXPECT_EQ(status_of(first(line + fields)), 431);
  Connection c;
  c.feed(line);
  c.feed(fields);
  EXPECT_EQ(status_of(c.next()), 431);
}

TEST(Connection, TooManyHeaderFieldsIs431) {
  std::string wire = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 100; ++i) wire += "X: " + std::to_string(i) + "\r\n";
  EXPECT_EQ(status_of(first(wire + "\r\n")), 431);
}

TEST(Connection, MalformedRequestsAre400) {
  EXPECT_EQ(status_of(first("\x16\x03\x01garbage\r\n\r\n")), 400);
  EXPECT_EQ(status_of(first("GET / HTTP/1.x\r\nHost: x\r\n\r\n")), 400);
  EXPECT_EQ(status_of(first("GET / HTTP/1.1\r\n\r\n")), 400) << "missing Host";
  EXPECT_EQ(status_of(first("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")), 400);
  EXPECT_EQ(status_of(first("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n")), 400) << "obs-fold";
}

TEST(Connection, ContentLengthWithTransferEncodingIs400) {
  EXPECT_EQ(status_of(first("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")),
            400);
  EXPECT_EQ(status_of(first("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                            "Content-Length: 3\r\n\r\n0\r\n\r\n")),
            400);
  EXPECT_EQ(status_of(first("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
                            "Content-Length: 3\r\n\r\nabc")),
            400);
}

TEST(Connection, UnsupportedTransferCodings) {
  EXPECT_EQ(status_of(first("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")), 400);
  EXPECT_EQ(
      status_of(first("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")),
      400);
  EXPECT_EQ(status_of(first("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                            "0\r\n\r\n")),
            501);
  EXPECT_EQ(status_of(first("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")),
            400);
}

TEST(Connection, AfterAnErrorNothingMoreIsReturned) {
  Connection c;
  c.feed(std::string(kGet) + "BAD REQUEST\r\n\r\n" + std::string(kGet));
  EXPECT_EQ(request_of(c.next()).target, "/");
  EXPECT_EQ(status_of(c.next()), 400);
  EXPECT_TRUE(c.should_close());
  EXPECT_TRUE(none(c.next()));
  c.feed(kGet);
  EXPECT_TRUE(none(c.next()));
}

TEST(Connection, SerializeErrorClosesWithATextBody) {
  Connection c;
  const auto out = c.serialize_error({413, "request body too large"});
  const std::string body = "Content Too Large: request body too large\n";
  EXPECT_EQ(out,
            "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: " +
                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  EXPECT_TRUE(c.should_close());
}

TEST(Connection, EofMidRequestAnswersNothing) {
  Connection c;
  c.feed("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  c.feed_eof();
  EXPECT_TRUE(none(c.next()));
  EXPECT_TRUE(c.should_close());
}

TEST(Connection, EofWhileIdleCloses) {
  Connection c;
  c.feed_eof();
  EXPECT_TRUE(none(c.next()));
  EXPECT_TRUE(c.should_close());
}

TEST(Connection, RequestsBeforeEofAreStillAnswered) {
  Connection c;
  c.feed(std::string(kGet) + std::string(kGet) + "GET /partial");
  c.feed_eof();
  const auto out1 = c.serialize(request_of(c.next()), ok(), false);
  EXPECT_EQ(out1.find("Connection"), std::string::npos) << "another request is still to answer";
  const auto out2 = c.serialize(request_of(c.next()), ok(), false);
  EXPECT_NE(out2.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_TRUE(none(c.next()));
  EXPECT_TRUE(c.should_close());
}

TEST(Connection, IdleAndMidRequestTransitions) {
  Connection c;
  EXPECT_TRUE(c.idle());
  EXPECT_FALSE(c.mid_request());
  c.feed("G");
  EXPECT_FALSE(c.idle());
  EXPECT_TRUE(c.mid_request());
  c.feed("ET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n");
  EXPECT_TRUE(c.mid_request());
  c.feed("ab");
  EXPECT_FALSE(c.idle()) << "a complete request waits for next()";
  EXPECT_FALSE(c.mid_request());
  const auto req = request_of(c.next());
  EXPECT_TRUE(c.idle());
  EXPECT_FALSE(c.mid_request());
  c.serialize(req, ok(), false);
  c.feed("\r\n");  // an empty line between requests is not a request
  EXPECT_TRUE(c.idle());
}

TEST(Connection, BacklogIsCapped) {
  Limits small;
  small.header_bytes_max = 64;
  small.body_bytes_max = 16;
  small.read_bytes_max = 32;  // cap: 112 bytes waiting behind a request nobody took
  Connection c(small);
  std::string many;
  for (int i = 0; i < 10; ++i) many += kGet;  // 27 bytes each
  c.feed(many);
  EXPECT_FALSE(c.wants_input());
  int answered = 0;
  Next n;
  while (std::holds_alternative<AppRequest>(n = c.next())) {
    c.serialize(std::get<AppRequest>(n), ok(), false);
    ++answered;
  }
  EXPECT_EQ(answered, 5) << "the first request plus the four that fit in the cap";
  EXPECT_EQ(status_of(n), 431);
  EXPECT_TRUE(c.should_close());
}

TEST(Connection, UnboundedChunkLineIs431) {
  Connection c;
  c.feed("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;x=" +
         std::string(9000, 'a'));
  EXPECT_EQ(status_of(c.next()), 431);
}

TEST(Connection, IsMovable) {
  Connection a;
  a.feed("GET / HTTP/1.1\r\n");
  Connection b(std::move(a));
  b.feed("Host: x\r\n\r\n");
  EXPECT_EQ(request_of(b.next()).target, "/");
}

TEST(Connection, AMalformedRequestBehindAGoodOneIsReadyAsAnError) {
  Connection c;
  c.feed(std::string(kGet) + "GET / HTTP/1.1\r\nHost x\r\n\r\n");
  EXPECT_TRUE(c.request_ready());
  EXPECT_FALSE(c.error_ready()) << "the good one comes first";
  c.serialize(request_of(c.next()), ok(), false);
  EXPECT_FALSE(c.request_ready());
  EXPECT_TRUE(c.error_ready());
  EXPECT_EQ(status_of(c.next()), 400);
  EXPECT_FALSE(c.error_ready()) << "reported once";
}

// ---------------------------------------------------------------------------------------------
// Bodies too large for memory: spooled by the front, handed to the worker with their file.

// A spool in memory, for the test to look into.
struct TestSpool final : BodySpool {
  struct Log {
    int opens = 0;
    std::string bytes;
    bool fail_open = false;
    std::size_t fail_after = std::string::npos;  // writes fail once this much is spooled
  };
  explicit TestSpool(Log& log) : log_(log) {}
  bool open() override {
    ++log_.opens;
    log_.bytes.clear();
    return !log_.fail_open;
  }
  bool write(std::string_view bytes) override {
    if (log_.bytes.size() + bytes.size() > log_.fail_after) return false;
    log_.bytes.append(bytes);
    return true;
  }
  Log& log_;
};

Limits small_memory() {
  Limits l;
  l.body_memory_max = 100;
  return l;
}

std::string pattern(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + i % 26);
  return s;
}

TEST(ConnectionSpool, ABodyAboveTheMemoryLimitGoesToTheSpoolNotTheBuffer) {
  TestSpool::Log log;
  Connection c(small_memory());
  c.set_spool(std::make_unique<TestSpool>(log));
  const std::string head = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n";
  const std::string body = pattern(5000);
  c.feed(head);
  for (std::size_t at = 0; at < body.size(); at += 700) {
    c.feed(body.substr(at, 700));
    EXPECT_LE(c.remainder().size(), head.size()) << "raw body bytes were kept";
    EXPECT_TRUE(c.wants_input());
  }
  c.feed(kGet);  // pipelined after it
  ASSERT_TRUE(c.request_ready());
  EXPECT_EQ(log.opens, 1);
  EXPECT_EQ(log.bytes, body);
  const auto spooled = c.spooled();
  ASSERT_TRUE(spooled.has_value());
  EXPECT_EQ(spooled->body_bytes, 5000u);
  EXPECT_EQ(c.remainder(), head + std::string(kGet));
  EXPECT_EQ(c.remainder().substr(0, spooled->head_bytes), head);
  const AppRequest req = request_of(c.next());
  EXPECT_TRUE(req.body.empty());
  EXPECT_FALSE(c.spooled().has_value());
}

TEST(ConnectionSpool, AChunkedBodyMovesToTheSpoolOnceItOutgrowsMemoryDecoded) {
  TestSpool::Log log;
  Connection c(small_memory());
  c.set_spool(std::make_unique<TestSpool>(log));
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  c.feed(head + Connection::chunk(pattern(60)));
  EXPECT_EQ(log.opens, 0) << "60 bytes fit in memory";
  c.feed(Connection::chunk(pattern(60)) + Connection::chunk(pattern(500)));
  c.feed(std::string(Connection::kLastChunk));
  ASSERT_TRUE(c.request_ready());
  EXPECT_EQ(log.opens, 1);
  EXPECT_EQ(log.bytes, pattern(60) + pattern(60) + pattern(500));
  EXPECT_EQ(c.spooled()->body_bytes, 620u);
  EXPECT_EQ(c.remainder(), head);
}

TEST(ConnectionSpool, SmallChunksWhoseFramingOutgrowsMemoryAreSpooledToo) {
  // 60 one-byte chunks: 60 bytes of body, 360 raw, above the 100 held in memory.
  TestSpool::Log log;
  Connection c(small_memory());
  c.set_spool(std::make_unique<TestSpool>(log));
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string raw = head;
  for (int i = 0; i < 60; ++i)
    raw += Connection::chunk(std::string(1, static_cast<char>('a' + i % 26)));
  c.feed(raw + std::string(Connection::kLastChunk));
  ASSERT_TRUE(c.request_ready());
  ASSERT_TRUE(c.spooled().has_value());
  EXPECT_EQ(c.spooled()->body_bytes, 60u);
  EXPECT_EQ(log.bytes.size(), 60u);
  EXPECT_EQ(c.remainder(), head);
}

TEST(ConnectionSpool, ABodyLimitBelowTheMemoryLimitStillSpoolsWhatWouldFillTheBuffer) {
  // --max-body-bytes 300, memory 1000: the buffer holds a header, 300 bytes and a read (600);
  // 150 bytes of body in 1-byte chunks are 900 raw bytes, under the memory limit but not under
  // the cap, so they go to the spool rather than stall.
  TestSpool::Log log;
  Limits l;
  l.body_memory_max = 1000;
  l.body_bytes_max = 300;
  l.header_bytes_max = 200;
  l.read_bytes_max = 100;
  Connection c(l);
  c.set_spool(std::make_unique<TestSpool>(log));
  c.feed("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 150 && c.wants_input(); ++i) c.feed(Connection::chunk("z"));
  c.feed(std::string(Connection::kLastChunk));
  ASSERT_TRUE(c.request_ready()) << "the front would have stopped reading";
  EXPECT_EQ(c.spooled()->body_bytes, 150u);
  EXPECT_EQ(log.bytes, std::string(150, 'z'));
}

TEST(ConnectionSpool, ABodyWithinTheMemoryLimitStaysInMemory) {
  TestSpool::Log log;
  Connection c(small_memory());
  c.set_spool(std::make_unique<TestSpool>(log));
  c.feed("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + pattern(100));
  ASSERT_TRUE(c.request_ready());
  EXPECT_FALSE(c.spooled().has_value());
  EXPECT_EQ(log.opens, 0);
  EXPECT_EQ(request_of(c.next()).body, pattern(100));
}

TEST(ConnectionSpool, ASpoolThatFailsIs503AndTheConnectionCloses) {
  for (bool fail_open : {true, false}) {
    TestSpool::Log log;
    log.fail_open = fail_open;
    log.fail_after = 1000;
    Connection c(small_memory());
    c.set_spool(std::make_unique<TestSpool>(log));
    c.feed("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + pattern(5000));
    const Next n = c.next();
    EXPECT_EQ(status_of(n), 503) << (fail_open ? "open" : "write");
    EXPECT_NE(c.serialize_error(std::get<ParseError>(n)).find("could not be stored"),
              std::string::npos);
    EXPECT_TRUE(c.should_close());
  }
}

TEST(ConnectionSpool, TheBodyLimitStillHolds) {
  TestSpool::Log log;
  Limits l = small_memory();
  l.body_bytes_max = 1000;
  Connection c(l);
  c.set_spool(std::make_unique<TestSpool>(log));
  c.feed("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
  EXPECT_EQ(status_of(c.next()), 413);
  EXPECT_EQ(log.opens, 0);
}

TEST(ConnectionSpool, WithoutASpoolReadingStopsAtTheMemoryLimitAndNothingIsLost) {
  // The worker: a large body it did not get spooled waits, incomplete, with every byte kept for
  // the front (remainder), and is neither answered nor refused.
  Limits l = small_memory();
  l.body_bytes_max = 1 << 20;
  l.header_bytes_max = 200;
  l.read_bytes_max = 50;
  Connection c(l);
  const std::string sent = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n";
  c.feed(sent);
  std::string fed = sent;
  const std::string body = pattern(5000);
  for (std::size_t at = 0; c.wants_input() && at < body.size(); at += 50) {
    c.feed(body.substr(at, 50));
    fed += body.substr(at, 50);
  }
  EXPECT_FALSE(c.wants_input());
  EXPECT_LE(fed.size(), l.buffered_max() + 50);
  EXPECT_TRUE(none(c.next()));
  EXPECT_FALSE(c.request_ready());
  EXPECT_EQ(c.remainder(), fed);
}

TEST(ConnectionSpool, TheWorkerServesASpooledRequestWithItsFileThenWhatFollows) {
  Connection c;
  const std::string head = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n";
  c.feed_spooled(head, 7, 5000000);
  c.feed(kGet);
  const AppRequest first = request_of(c.next());
  EXPECT_EQ(first.target, "/up");
  EXPECT_EQ(first.body_file, 7);
  EXPECT_EQ(first.body_file_bytes, 5000000u);
  EXPECT_TRUE(first.body.empty());
  c.serialize(first, ok(), false);
  const AppRequest second = request_of(c.next());
  EXPECT_EQ(second.method, "GET");
  EXPECT_EQ(second.body_file, -1);
}

TEST(ConnectionSpool, AChunkedSpooledRequestIsServedWithItsDecodedLength) {
  Connection c;
  c.feed_spooled("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 3, 620);
  const AppRequest req = request_of(c.next());
  EXPECT_EQ((std::pair{req.body_file, req.body_file_bytes}), (std::pair{3, std::uint64_t{620}}));
}

TEST(ConnectionSpool, AHandedOverHeadThatIsNotWholeIs400) {
  Connection c;
  c.feed_spooled("POST / HTTP/1.1\r\nHost: x\r\nContent-Le", 3, 620);
  EXPECT_EQ(status_of(c.next()), 400);
}

}  // namespace
}  // namespace zyg::http
