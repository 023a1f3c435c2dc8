// A request body above --body-memory-bytes never sits whole in a process's memory: the front
// writes it, as it arrives, to an unlinked file in --spool-dir, hands the file to a worker with
// the request, and a native app reads it mapped (zygote_request.body). Shown with testapp's
// sum=1 answer (the body's length and FNV-1a, computed by the app), the front's peak resident
// memory against the body's size, and no descriptor left on the spool directory once served.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "real/tests/datapath/datapath.hpp"

namespace zyg::datapath {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kBody = 48u << 20;            // far above the 1 MiB held in memory
constexpr std::size_t kBodyMax = 64u << 20;         // --max-body-bytes for the test
constexpr std::size_t kChunk = 64u << 10;           // the chunked upload's chunks
constexpr std::size_t kChunkedBody = 200 * kChunk;  // 12.5 MiB

std::string body_of(std::size_t n) {
  std::string b(n, '\0');
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<char>((i * 7 + i / 4096) & 0xff);
  return b;
}

std::string fnv(std::string_view bytes) {
  std::uint64_t h = 14695981039346656037ULL;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016" PRIx64, h);
  return out;
}

// The one response on `c` (the server closes after it: the request said so).
live::Response answer(Client& c, std::string_view request) {
  if (!c.send_all(request, after(kAnswerTimeout * 3))) return {};
  c.read_to_close(after(kAnswerTimeout * 3));
  const auto finals = live::split_responses(c.received()).finals();
  return finals.size() == 1 ? finals[0] : live::Response{};
}

std::string post(std::string_view body) {
  return "POST /?sum=1 HTTP/1.1\r\nHost: datapath\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

std::string post_chunked(std::string_view body) {
  std::string r =
      "POST /?sum=1 HTTP/1.1\r\nHost: datapath\r\nConnection: close\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (std::size_t at = 0; at < body.size(); at += kChunk) {
    char size[32];
    const std::string_view part = body.substr(at, kChunk);
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    r += size;
    r += part;
    r += "\r\n";
  }
  return r + "0\r\n\r\n";
}

// The front's peak resident memory (VmHWM), in bytes; 0 if it cannot be read.
std::size_t peak_resident(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// Descriptors the server's processes hold on files in `dir`.
std::size_t held_in(const testing::ServerProcess& server, const std::string& dir) {
  std::size_t n = 0;
  for (const testing::ProcessId& p : testing::processes_in_group(server.pid())) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(p.pid) + "/fd", ec)) {
      std::error_code link_ec;
      const fs::path target = fs::read_symlink(e.path(), link_ec);
      if (!link_ec && target.string().rfind(dir, 0) == 0) ++n;
    }
  }
  return n;
}

TEST(DataPath, ALargeUploadIsSpooledToAFileAndServedWhole) {
  testing::ScratchDir spool("zygote-spool");
  Served server({{"A", ""}}, {"--workers", "2", "--spool-dir", spool.path(), "--max-body-bytes",
                              std::to_string(kBodyMax)});
  ASSERT_TRUE(server.started());
  ASSERT_TRUE(server.ready(2));
  const int front = server.front().value("pid", 0);
  ASSERT_GT(front, 0);

  const std::string body = body_of(kBody);
  const std::size_t front_before = peak_resident(front);  // a sanitizer build raises it
  Client c = Client::connect(server.port(), after(kAnswerTimeout));
  ASSERT_TRUE(c.ok()) << c.error();
  const live::Response r = answer(c, post(body));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("body " + std::to_string(kBody) + " fnv " + fnv(body)), std::string::npos)
      << live::printable(r.body, 200);
  EXPECT_LT(peak_resident(front) - front_before, kBody / 4) << "the front held the body";

  const std::string chunked = body_of(kChunkedBody);
  Client d = Client::connect(server.port(), after(kAnswerTimeout));
  ASSERT_TRUE(d.ok()) << d.error();
  const live::Response rc = answer(d, post_chunked(chunked));
  EXPECT_EQ(rc.status, 200);
  EXPECT_NE(rc.body.find("body " + std::to_string(kChunkedBody) + " fnv " + fnv(chunked)),
            std::string::npos)
      << live::printable(rc.body, 200);

  // Above --max-body-bytes: refused from its head, before any of the body is stored.
  Client e = Client::connect(server.port(), after(kAnswerTimeout));
  ASSERT_TRUE(e.ok()) << e.error();
  const std::string over =
      "POST / HTTP/1.1\r\nHost: datapath\r\nContent-Length: " + std::to_string(kBodyMax + 1) +
      "\r\n\r\n";
  EXPECT_EQ(answer(e, over).status, 413);

  // Served: the spooled bodies' files are closed everywhere, and none was ever named.
  EXPECT_TRUE(testing::eventually([&] { return held_in(server.process(), spool.path()) == 0; },
                                  std::chrono::seconds(5)))
      << held_in(server.process(), spool.path()) << " descriptors left";
  EXPECT_TRUE(fs::is_empty(spool.path()));
}

// The read timeout bounds the head; a body may take longer as long as it keeps coming: here 2.4 s
// of body against a 1 s timeout, a piece every 300 ms.
TEST(DataPath, AnUploadThatKeepsComingOutlastsTheReadTimeout) {
  testing::ScratchDir spool("zygote-spool");
  Served server({{"A", ""}},
                {"--workers", "1", "--spool-dir", spool.path(), "--read-timeout-ms", "1000"});
  ASSERT_TRUE(server.started());
  ASSERT_TRUE(server.ready(1));
  constexpr std::size_t kPieces = 8;
  const std::string body = body_of(kPieces * kChunk);
  Client c = Client::connect(server.port(), after(kAnswerTimeout));
  ASSERT_TRUE(c.ok()) << c.error();
  const std::string head =
      "POST /?sum=1 HTTP/1.1\r\nHost: datapath\r\nConnection: close\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  ASSERT_TRUE(c.send_all(head, after(kAnswerTimeout)));
  for (std::size_t i = 0; i < kPieces; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the client is slow
    ASSERT_TRUE(
        c.send_all(std::string_view(body).substr(i * kChunk, kChunk), after(kAnswerTimeout)))
        << "piece " << i;
  }
  c.read_to_close(after(kAnswerTimeout));
  const auto finals = live::split_responses(c.received()).finals();
  ASSERT_EQ(finals.size(), 1u) << live::printable(c.received(), 300);
  EXPECT_EQ(finals[0].status, 200);
  EXPECT_NE(finals[0].body.find("body " + std::to_string(body.size()) + " fnv " + fnv(body)),
            std::string::npos)
      << live::printable(finals[0].body, 200);
}

}  // namespace
}  // namespace zyg::datapath
