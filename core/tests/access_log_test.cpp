// The access log's lines (core/access_log.hpp): fields, escaping, the time.
#include "core/access_log.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace zyg {
namespace {

using namespace std::chrono_literals;

TEST(AccessLog, Iso8601InUtcWithMilliseconds) {
  EXPECT_EQ(iso8601(Nanos{0}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(iso8601(Nanos{1767225600s + 1999ms}), "2026-01-01T00:00:01.999Z");
  EXPECT_EQ(iso8601(Nanos{951782400s + 23h + 59min + 59s}), "2000-02-29T23:59:59.000Z");
}

AppRequest request() {
  AppRequest r;
  r.method = "GET";
  r.target = "/a?b=\"c\"";
  r.version_minor = 0;
  r.headers = {{"User-Agent", "ua \"q\"\n\x01"}, {"REFERER", "http://r/"}};
  return r;
}

TEST(AccessLog, JsonLinesHoldEveryFieldAndNeverBreak) {
  const AppRequest r = request();
  const std::string line = access_line(
      AccessFormat::json, {Nanos{1767225600s}, "::1", &r, 404, 17, 1500us, 42, "/srv/releases/B"});
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(j["remote"], "::1");
  EXPECT_EQ(j["target"], "/a?b=\"c\"");
  EXPECT_EQ(j["proto"], "HTTP/1.0");
  EXPECT_EQ(j["status"], 404);
  EXPECT_EQ(j["bytes"], 17);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 1.5);
  EXPECT_EQ(j["worker"], 42);
  EXPECT_EQ(j["version"], "/srv/releases/B");
  EXPECT_EQ(j["referer"], "http://r/");  // header names compared without case
  EXPECT_EQ(j["user_agent"], "ua \"q\"\n\x01");
}

TEST(AccessLog, CombinedFormatQuotesAndEscapesWhatTheClientSent) {
  AppRequest r = request();
  const std::string line = access_line(AccessFormat::combined,
                                       {Nanos{1767225600s}, "127.0.0.1", &r, 200, 0, 1ms, 1, "v"});
  EXPECT_EQ(line,
            "127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \"GET /a?b=\\\"c\\\" HTTP/1.0\" 200 - "
            "\"http://r/\" \"ua \\\"q\\\"\\x0a\\x01\"\n");
  r.headers.clear();
  const std::string bare =
      access_line(AccessFormat::combined, {Nanos{0}, "", &r, 500, 12, 1ms, 1, "v"});
  EXPECT_EQ(bare,
            "- - - [01/Jan/1970:00:00:00 +0000] \"GET /a?b=\\\"c\\\" HTTP/1.0\" 500 12 "
            "\"-\" \"-\"\n");
}

}  // namespace
}  // namespace zyg
