// What the status port renders (core/status.hpp) and the request figures behind it
// (core/request_stats.hpp), without a socket: the real test (real/tests/status) serves them.
#include <gtest/gtest.h>

#include <limits>
#include <set>
#include <string>

#include "core/loops.hpp"
#include "core/status.hpp"

namespace zyg {
namespace {

using namespace std::chrono_literals;

TEST(RequestStats, CountsByClassAndCumulativeBuckets) {
  RequestStats s;
  s.record(200, 3ms);
  s.record(404, 0ms);
  s.record(503, 20s);  // beyond the last bucket: only in the count
  s.record(42, 1ms);   // out of range: the nearest class
  s.record(700, 1ms);
  EXPECT_EQ(s.by_class, (std::array<std::uint64_t, 5>{1, 1, 0, 1, 2}));
  EXPECT_EQ(s.count(), 5u);
  // Bounds 1ms 2.5ms 5ms ...: 0, 1, 1 ms requests are in every bucket; 3 ms from 5 ms on.
  EXPECT_EQ(s.buckets[0], 3u);
  EXPECT_EQ(s.buckets[1], 3u);
  EXPECT_EQ(s.buckets[2], 4u);
  EXPECT_EQ(s.buckets.back(), 4u);
  EXPECT_EQ(s.duration_sum_us, 3'000u + 0u + 20'000'000u + 1'000u + 1'000u);
}

TEST(RequestStats, TravelInAMessageAndOnlyTheirOwnShape) {
  RequestStats s;
  s.record(200, 7ms);
  s.current_since_ns = 123456789;
  proto::Message m = stats_message(9, 4711, s);
  ASSERT_TRUE(proto::parse(proto::bytes_of(m)));
  auto back = parse_stats(*proto::parse(proto::bytes_of(m)));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, s);
  m.text_len -= 1;  // a stray or hostile writer
  EXPECT_FALSE(parse_stats(m));
  proto::Message other = proto::make(proto::Kind::heartbeat, 9, 4711);
  other.set_text(std::string(sizeof(RequestStats), 'x'));
  EXPECT_FALSE(parse_stats(other));
}

TEST(RequestBook, TotalsOnlyGrowAsWorkersComeAndGo) {
  RequestBook book;
  RequestStats a;
  a.record(200, 1ms);
  book.update(1, a, true);
  book.update(2, a, false);  // a worker the supervisor never had: dropped
  EXPECT_EQ(book.total().count(), 1u);
  a.record(500, 1ms);
  book.update(1, a, true);  // cumulative: replaces, never adds
  EXPECT_EQ(book.total().count(), 2u);

  bool known = false;  // worker 1 has exited
  const auto is_known = [&](std::uint64_t) { return known; };
  book.prune(is_known, Nanos{0});
  a.record(200, 1ms);
  book.update(1, a, false);  // its last word, after its exit: still taken while it lingers
  book.prune(is_known, RequestBook::kLinger - 1ns);
  EXPECT_EQ(book.total().count(), 3u);
  EXPECT_EQ(book.workers().size(), 1u);
  book.prune(is_known, RequestBook::kLinger);  // folded into the retired sum
  EXPECT_EQ(book.total().count(), 3u);
  EXPECT_TRUE(book.workers().empty());
  book.update(1, a, false);  // folded: a late copy would count twice, so it is dropped
  EXPECT_EQ(book.total().count(), 3u);
  EXPECT_EQ(book.total().by_class[4], 1u);
}

StatusSnapshot serving_snapshot() {
  StatusSnapshot s;
  s.budget = 2;
  s.desired = 2;
  s.serving = "/srv/releases/A";
  s.now = Nanos{10s};
  ProcessInfo w;
  w.role = Role::worker;
  w.id = 1;
  w.pid = 100;
  w.version = s.serving;
  w.state = "ready";
  w.since = Nanos{4s};
  s.processes.push_back(w);
  return s;
}

TEST(Status, ReadyNeedsAServingWorkerNotAskedToStopAndAServerNotStopping) {
  StatusSnapshot s = serving_snapshot();
  EXPECT_TRUE(ready(s));
  s.processes[0].state = "starting";
  EXPECT_FALSE(ready(s));
  s.processes[0].state = "busy";
  EXPECT_TRUE(ready(s));
  s.processes[0].stop = "deploy";
  EXPECT_FALSE(ready(s));
  s.processes[0].stop.clear();
  s.processes[0].version = "/srv/releases/old";
  EXPECT_FALSE(ready(s));
  s = serving_snapshot();
  s.shutting_down = true;
  EXPECT_FALSE(ready(s));
  EXPECT_NE(metrics_text(s, {}).find("\nzygote_ready 0\n"), std::string::npos);
}

TEST(Status, JsonAddsWhatTheMasterKnows) {
  StatusSnapshot s = serving_snapshot();
  s.timeline.push_back({Nanos{7s}, "deploy", "/srv/releases/A"});
  StatusExtras x;
  x.master_pid = 1;
  RequestStats r;
  r.record(200, 1ms);
  r.current_since_ns = Nanos{9500ms}.count();
  x.workers[1] = r;
  x.requests = r;
  x.memory[100] = {3000, 2000, 1000};
  const nlohmann::json j = status_json(s, x);
  const nlohmann::json& w = j["processes"][0];
  EXPECT_EQ(w["served"], 1);
  EXPECT_DOUBLE_EQ(w["request_for_s"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(w["state_for_s"].get<double>(), 6.0);
  EXPECT_EQ(w["memory"]["uss"], 1000);
  EXPECT_TRUE(j["master"]["memory"].is_null());  // not read
  EXPECT_DOUBLE_EQ(j["timeline"][0]["ago_s"].get<double>(), 3.0);
  EXPECT_EQ(j["requests"]["by_class"]["2xx"], 1);
  EXPECT_TRUE(j["ready"].get<bool>());
}

TEST(Status, MetricLabelsAreEscaped) {
  StatusSnapshot s = serving_snapshot();
  s.serving = "/srv/a\"b\\c\nd";
  s.processes[0].version = s.serving;
  const std::string t = metrics_text(s, {});
  EXPECT_NE(t.find(R"(zygote_serving_info{version="/srv/a\"b\\c\nd",proven="0"} 1)"),
            std::string::npos)
      << t;
  EXPECT_EQ(t.find("a\"b"), std::string::npos);
}

TEST(WorkerLimits, JitterSpreadsRetirementsAndIsTheWorkersOwn) {
  EXPECT_EQ(retire_after(0, 50, 7), 0u);  // no limit stays no limit
  EXPECT_EQ(retire_after(100, 0, 7), 100u);
  std::set<std::uint64_t> seen;
  for (std::uint64_t id = 1; id <= 64; ++id) {
    const std::uint64_t n = retire_after(1000, 50, id);
    EXPECT_GE(n, 1000u);
    EXPECT_LE(n, 1050u);
    EXPECT_EQ(n, retire_after(1000, 50, id));  // the same worker, the same limit
    seen.insert(n);
  }
  EXPECT_GT(seen.size(), 20u);  // spread, not one value
  EXPECT_EQ(retire_after(std::numeric_limits<std::uint64_t>::max(), 5, 1),
            std::numeric_limits<std::uint64_t>::max());
}

}  // namespace
}  // namespace zyg
