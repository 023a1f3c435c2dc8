// Bad input, live: every file of core/http/tests/corpus/ ("<status>-<case>.http") sent whole over
// TCP to the single worker of a running zygote-real. A 200 file gets one 200 per request in it,
// in order, and leaves the connection clean for one more request; any other file gets exactly one
// response with that status and the connection closed. After each file the worker is the same
// process and serves a fresh GET / with 200.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "core/http/connection.hpp"
#include "real/tests/live/live_fixture.hpp"
#include "testing/server_process.hpp"

namespace zyg::live {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> corpus_files() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(ZYG_LIVE_CORPUS)) {
    if (entry.path().extension() == ".http") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Request lines ("METHOD target HTTP/1.x") in a file the parser accepts: how many answers it is
// owed. No body in the corpus holds such a line.
std::size_t requests_in(std::string_view bytes) {
  std::size_t n = 0;
  for (std::size_t at = 0; at < bytes.size();) {
    const std::size_t eol = std::min(bytes.find("\r\n", at), bytes.size());
    const std::string_view line = bytes.substr(at, eol - at);
    if (!line.empty() && std::isupper(static_cast<unsigned char>(line[0])) != 0 &&
        (line.ends_with(" HTTP/1.1") || line.ends_with(" HTTP/1.0"))) {
      ++n;
    }
    at = eol + 2;
  }
  return n;
}

class LiveCorpus : public LiveFixture<LiveCorpus, ::testing::TestWithParam<fs::path>> {
 public:
  // A request the server waits on (instead of answering) then gets 408 within the answer
  // timeout, which says more than no answer at all. The corpus's 413s are written against
  // http::Limits' body limit (1 MiB), which the server's own default exceeds.
  static std::vector<std::string> options() {
    return {"--read-timeout-ms", "2000", "--max-body-bytes",
            std::to_string(http::Limits{}.body_bytes_max)};
  }
};

void expect_served(Client& c, std::size_t requests) {
  ASSERT_GE(requests, 1u) << "no request line in a 200 file";
  c.read_until(after(kAnswerTimeout), [&](std::string_view got) {
    return split_responses(got).finals().size() >= requests;
  });
  const auto finals = split_responses(c.received()).finals();
  ASSERT_EQ(finals.size(), requests) << "received \"" << printable(c.received()) << "\"";
  for (const Response& r : finals) EXPECT_EQ(r.status, 200) << printable(r.head + r.body);
  if (finals.back().header("Connection") == "close") {  // HTTP/1.0 without keep-alive
    EXPECT_EQ(c.read_to_close(after(kAnswerTimeout)), Client::Stop::closed);
    return;
  }
  // Nothing of the file is left over: the next request on the connection is answered alone.
  ASSERT_TRUE(c.send_all(kGetClose, after(kAnswerTimeout))) << c.error();
  EXPECT_EQ(c.read_to_close(after(kAnswerTimeout)), Client::Stop::closed)
      << "no close after Connection: close";
  const Responses all = split_responses(c.received());
  EXPECT_FALSE(all.malformed) << printable(c.received());
  ASSERT_EQ(all.finals().size(), requests + 1) << printable(c.received());
  EXPECT_EQ(all.finals().back().status, 200);
}

void expect_refused(Client& c, int status) {
  EXPECT_EQ(c.read_to_close(after(kAnswerTimeout)), Client::Stop::closed)
      << "the connection stayed open; received \"" << printable(c.received()) << "\"";
  const Responses got = split_responses(c.received());
  EXPECT_FALSE(got.malformed) << printable(c.received());
  EXPECT_EQ(got.used, c.received().size()) << "bytes after the last response";
  ASSERT_EQ(got.finals().size(), 1u) << "received \"" << printable(c.received()) << "\"";
  EXPECT_EQ(got.finals()[0].status, status) << printable(got.finals()[0].body);
}

TEST_P(LiveCorpus, AnsweredWithTheStatusInItsNameByTheSameWorker) {
  const std::string bytes = zyg::testing::read_file(GetParam().string());
  ASSERT_FALSE(bytes.empty());
  const int expected = std::stoi(GetParam().filename().string());
  Client c = Client::connect(port(), after(kAnswerTimeout));
  ASSERT_TRUE(c.ok()) << c.error();
  const bool sent = c.send_all(bytes, after(kAnswerTimeout));
  if (expected == 200) {
    ASSERT_TRUE(sent) << c.error();
    expect_served(c, requests_in(bytes));
  } else {
    expect_refused(c, expected);  // the server may close before reading it all: `sent` may fail
  }
  c.close();
  EXPECT_TRUE(server().same_worker_serving());
}

std::string case_name(const ::testing::TestParamInfo<fs::path>& info) {
  auto name = info.param.stem().string();
  std::replace_if(
      name.begin(), name.end(),
      [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) == 0; }, '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Files, LiveCorpus, ::testing::ValuesIn(corpus_files()), case_name);

TEST(LiveCorpusFolder, HoldsTheWholeCorpus) { EXPECT_GE(corpus_files().size(), 98u); }

}  // namespace
}  // namespace zyg::live
