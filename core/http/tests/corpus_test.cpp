// Feeds every file in tests/corpus/ (see make_corpus.py) and checks the status in its name:
// "<status>-<case>.http". 200 files must parse into requests with nothing left over; the others
// must be answered with that status and close. Each file is fed whole and in pieces, down to bytes.
#include "core/http/connection.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace zyg::http {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> corpus_files() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(ZYG_HTTP_CORPUS)) {
    if (entry.path().extension() == ".http") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string read_all(const fs::path& path) {
  std::string bytes(fs::file_size(path), '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(in) << path;
  return bytes;
}

struct Outcome {
  int requests = 0;
  std::optional<ParseError> error;
  bool closes = false;
  bool idle = false;
};

void drain(Connection& c, Outcome& o) {
  for (Next n = c.next(); !std::holds_alternative<std::monostate>(n); n = c.next()) {
    if (std::holds_alternative<AppRequest>(n)) ++o.requests;
    if (auto* e = std::get_if<ParseError>(&n)) {
      EXPECT_FALSE(o.error) << "a second error";
      o.error = *e;
    }
  }
}

Outcome run(const std::string& bytes, std::size_t piece) {
  Connection c;
  Outcome o;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    c.feed(std::string_view(bytes).substr(at, piece));
    drain(c, o);
  }
  o.closes = c.should_close();
  o.idle = c.idle();
  return o;
}

class Corpus : public testing::TestWithParam<fs::path> {};

TEST_P(Corpus, AnswersTheStatusInItsName) {
  const auto bytes = read_all(GetParam());
  ASSERT_FALSE(bytes.empty());
  const int expected = std::stoi(GetParam().filename().string());
  for (std::size_t piece :
       {bytes.size(), bytes.size() / 2 + 1, std::size_t{7}, std::size_t{2}, std::size_t{1}}) {
    SCOPED_TRACE("fed in pieces of " + std::to_string(piece));
    const auto o = run(bytes, piece);
    if (expected == 200) {
      EXPECT_FALSE(o.error) << o.error->status << " " << o.error->reason;
      EXPECT_GE(o.requests, 1);
      EXPECT_TRUE(o.idle) << "bytes left over";
      EXPECT_FALSE(o.closes);
    } else {
      ASSERT_TRUE(o.error) << "no error; requests: " << o.requests;
      EXPECT_EQ(o.error->status, expected) << o.error->reason;
      EXPECT_TRUE(o.closes);
    }
  }
}

std::string case_name(const testing::TestParamInfo<fs::path>& info) {
  auto name = info.param.stem().string();
  std::replace_if(
      name.begin(), name.end(),
      [](char c) { return std::isalnum(static_cast<unsigned char>(c)) == 0; }, '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Files, Corpus, testing::ValuesIn(corpus_files()), case_name);

TEST(CorpusFolder, HasEnoughCases) { EXPECT_GE(corpus_files().size(), 98u); }

}  // namespace
}  // namespace zyg::http
