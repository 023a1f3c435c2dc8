// The master's event log: every event survives the JSON round trip, and the judge replays a log
// through the supervisor and the checker: a true log is clean; a tampered one is caught.
#include "core/event_log.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/tests/harness.hpp"

namespace zyg::testing {
namespace {

using nlohmann::json;

std::vector<Event> one_of_each() {
  return {ev::Start{"releases/A", "releases/Z"},
          ev::DeployRequested{"releases/B"},
          ev::ZygoteSpawned{ZygoteId{2}, 101},
          ev::ZygoteSpawnFailed{ZygoteId{3}, 11},
          ev::ZygoteLoaded{ZygoteId{2}, "python 3.11.2 WSGI app:application"},
          ev::ZygoteLoadFailed{ZygoteId{3}, "no such symbol \xff"},
          ev::ZygoteReplied{ZygoteId{2}},
          ev::WorkerSignalled{WorkerId{7}, false},
          ev::ZygoteExited{ZygoteId{2}, ExitStatus::killed_by(9)},
          ev::WorkerSpawned{WorkerId{7}, 202},
          ev::SpawnFailed{WorkerId{8}, 12},
          ev::WorkerReady{WorkerId{7}},
          ev::WorkerBusy{WorkerId{7}},
          ev::WorkerIdle{WorkerId{7}, 42},
          ev::WorkerHeartbeat{WorkerId{7}},
          ev::WorkerExiting{WorkerId{7}, true},
          ev::WorkerExited{WorkerId{7}, ExitStatus::exited(75)},
          ev::UnknownChildReaped{303, ExitStatus::exited(1)},
          ev::ChildrenListed{{404, 405}},

          ev::Tick{},
          ev::ScaleTo{3},
          ev::ScaleBy{-1},
          ev::Shutdown{false},
          ev::StatusRequested{9},
          ev::FrontSpawned{1, 506},
          ev::FrontSpawnFailed{2, 24},
          ev::FrontAlive{10000, 3, 77},
          ev::FrontNotice{"holding 10000 connections"},
          ev::FrontExited{2, ExitStatus::killed_by(9)}};
}

TEST(EventLog, EveryEventSurvivesTheRoundTrip) {
  const auto events = one_of_each();
  ASSERT_EQ(events.size(), std::variant_size_v<Event>) << "one of each alternative";
  for (const Event& e : events) {
    // Through text, as the log is written and read.
    const std::string text =
        event_log::to_json(e).dump(-1, ' ', false, json::error_handler_t::replace);
    auto back = event_log::event_from_json(json::parse(text));
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(back->index(), e.index()) << text;
    if (!std::holds_alternative<ev::ZygoteLoadFailed>(e)) {  // its reason had a non-UTF-8 byte
      EXPECT_EQ(describe(*back), describe(e)) << text;
    }
  }
  EXPECT_FALSE(event_log::event_from_json(json{{"type", "reboot"}}));
  EXPECT_FALSE(event_log::event_from_json(json{{"type", "worker-ready"}}));  // no worker
  EXPECT_FALSE(event_log::event_from_json(json{{"type", "worker-ready"}, {"worker", "x"}}));
  EXPECT_FALSE(event_log::event_from_json(json::array()));
}

TEST(EventLog, WhatAZygoteLoadedIsKeptAndOlderLogsStillRead) {
  const Event e = ev::ZygoteLoaded{ZygoteId{2}, "native hello.so"};
  auto back = event_log::event_from_json(json::parse(event_log::to_json(e).dump()));
  ASSERT_TRUE(back);
  EXPECT_EQ(std::get<ev::ZygoteLoaded>(*back).app, "native hello.so");
  // A log written before zygotes said what they loaded.
  auto old = event_log::to_json(e);
  old.erase("app");
  back = event_log::event_from_json(old);
  ASSERT_TRUE(back) << old.dump();
  EXPECT_EQ(std::get<ev::ZygoteLoaded>(*back).zygote, ZygoteId{2});
  EXPECT_EQ(std::get<ev::ZygoteLoaded>(*back).app, "");
}

TEST(EventLog, ConfigSurvivesTheRoundTripAndBadOnesAreRefused) {
  SupervisorConfig c;
  c.budget = 7;
  c.probation = 1234ms;
  auto back = event_log::config_from_json(event_log::to_json(c));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->budget, 7);
  EXPECT_EQ(back->probation, 1234ms);
  json bad = event_log::to_json(c);
  bad["budget"] = 0;
  EXPECT_FALSE(event_log::config_from_json(bad));
  bad.erase("budget");
  EXPECT_FALSE(event_log::config_from_json(bad));
}

TEST(EventLog, TheStopDelayIsLoggedAndOlderLogsHaveNone) {
  SupervisorConfig c;
  c.stop_delay = 2500ms;
  json j = event_log::to_json(c);
  auto back = event_log::config_from_json(j);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->stop_delay, 2500ms) << "a replay without it would stop at once";
  j.erase("stop_delay");
  back = event_log::config_from_json(j);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->stop_delay, Nanos{0});
}

TEST(EventLogJudge, AStopWithADelayReplaysClean) {
  SupervisorConfig c;
  c.budget = 2;
  c.stop_delay = 1s;
  Harness h(c);
  ZygoteId a = h.start("A");
  h.load(a);
  h.spawn_all();
  h.feed(ev::Shutdown{true});
  h.advance(1500ms);
  h.front_dies(ExitStatus::exited(0));
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.zygote_exit(a);
  ASSERT_TRUE(h.exited());
  event_log::Judge j;
  for (const std::string& l : h.event_lines()) j.line(l);
  EXPECT_TRUE(j.checker().violations().empty()) << [&] {
    std::string all;
    for (const auto& v : j.checker().violations()) all += v.what + "\n";
    return all;
  }();
}

// A deploy, a crash loop rolled back, and a graceful stop, as a master would log them.
std::vector<std::string> scripted_log() {
  SupervisorConfig c;
  c.budget = 3;
  c.crash_loop_limit = 2;
  Harness h(c);
  ZygoteId a = h.start("A");
  h.load(a);
  h.spawn_all();
  ZygoteId b = h.deploy("B");
  h.load(b);
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  h.spawn_all();
  h.advance(500ms);
  for (WorkerId w : h.workers_of("B")) h.crash_worker(w);
  h.advance(1s);
  h.spawn_all();
  h.feed(ev::Shutdown{true});
  for (WorkerId w : h.workers_of("A")) h.exit_worker(w);
  return h.event_lines();
}

event_log::Judge judge(const std::vector<std::string>& lines) {
  event_log::Judge j;
  for (const std::string& l : lines) j.line(l);
  return j;
}

std::string violations(const event_log::Judge& j) {
  std::string all;
  for (const auto& v : j.checker().violations()) all += v.what + "\n";
  return all;
}

TEST(EventLogJudge, ATrueLogIsClean) {
  const auto lines = scripted_log();
  const auto j = judge(lines);
  EXPECT_TRUE(j.checker().ok()) << violations(j);
  EXPECT_EQ(j.generations(), 1);
  EXPECT_EQ(j.steps(), lines.size() - 1);
  EXPECT_EQ(j.checker().counts().peak_workers, 3);
  ASSERT_EQ(j.view().failed_versions.size(), 1u) << "B was rolled back";
  EXPECT_EQ(j.view().failed_versions[0], "B");
}

TEST(EventLogJudge, ACommandTheSupervisorWouldNotDecideIsCaught) {
  auto lines = scripted_log();
  bool tampered = false;
  for (std::string& l : lines) {
    const std::string recorded = "\"start-zygote z2 B\"";
    const auto at = l.find(recorded);
    if (at == std::string::npos) continue;
    l.replace(at, recorded.size(), "\"start-zygote z2 C\"");
    tampered = true;
  }
  ASSERT_TRUE(tampered);
  const auto j = judge(lines);
  EXPECT_NE(violations(j).find("replay: events: line"), std::string::npos) << violations(j);
}

TEST(EventLogJudge, AMissingEventIsCaughtByTheReplay) {
  auto lines = scripted_log();
  for (auto it = lines.begin(); it != lines.end(); ++it) {
    if (it->find("\"type\":\"zygote-loaded\"") != std::string::npos) {
      lines.erase(it);  // A's zygote never loaded, yet workers were asked of it
      break;
    }
  }
  const auto j = judge(lines);
  EXPECT_FALSE(j.checker().ok());
  EXPECT_NE(violations(j).find("replay:"), std::string::npos) << violations(j);
}

TEST(EventLogJudge, AWorkerTheMasterNeverAskedForBreaksTheBudgetAndAgreement) {
  auto lines = scripted_log();
  // After the first three workers, processes the supervisor never asked for appear.
  std::size_t at = 0;
  int spawned = 0;
  for (; at < lines.size() && spawned < 3; ++at) {
    spawned += lines[at].find("\"type\":\"worker-spawned\"") != std::string::npos ? 1 : 0;
  }
  const std::string t = json::parse(lines[at - 1])["t"].dump();
  lines.insert(
      lines.begin() + static_cast<std::ptrdiff_t>(at),
      "{\"t\":" + t + ",\"event\":{\"type\":\"worker-spawned\",\"worker\":99,\"pid\":999}}");
  const auto j = judge(lines);
  const std::string v = violations(j);
  EXPECT_NE(v.find("budget: 4 worker processes exist, budget 3"), std::string::npos) << v;
  EXPECT_NE(v.find("agreement: worker pid 999 (id 99) exists but the master has no record"),
            std::string::npos)
      << v;
}

TEST(EventLogJudge, AMasterOnANewBootStartsItsClockOver) {
  auto lines = scripted_log();
  auto second = scripted_log();  // the same run again, its times from zero: a reboot
  lines.insert(lines.end(), second.begin(), second.end());
  const auto j = judge(lines);
  EXPECT_TRUE(j.checker().ok()) << violations(j);
  EXPECT_EQ(j.generations(), 2);
}

TEST(EventLogJudge, TimeGoingBackWithinOneMasterIsAViolationNotACrash) {
  auto lines = scripted_log();
  lines.push_back("{\"t\":0,\"event\":{\"type\":\"tick\"}}");
  const auto j = judge(lines);
  EXPECT_NE(violations(j).find("time went backwards within one master's log"), std::string::npos)
      << violations(j);
}

TEST(EventLogJudge, UnreadableLinesAndMissingHeadersAreViolations) {
  event_log::Judge j;
  j.line("{\"t\":1,\"event\":{\"type\":\"tick\"}}");
  j.line("{\"zygote_events\":1,\"config\":{\"budget\":2}}");
  j.line("not json");
  const std::string v = violations(j);
  EXPECT_NE(v.find("a step before any header"), std::string::npos) << v;
  EXPECT_NE(v.find("a header without a valid supervisor config"), std::string::npos) << v;
  EXPECT_NE(v.find("line 3 is not a JSON object"), std::string::npos) << v;
}

TEST(EventLogJudge, AFractionWhereTheLogHasIntegersIsAViolationNotACrash) {
  // Found by fuzz/event_log_fuzz.cpp: 6e41 read as an int64 setting was undefined behaviour.
  auto lines = scripted_log();
  json header = json::parse(lines[0]);
  header["config"]["lost_worker_timeout"] = 6.00055e41;
  lines[0] = header.dump();
  const std::string v = violations(judge(lines));
  EXPECT_NE(v.find("line 1 has a number that is not an integer"), std::string::npos) << v;
}

TEST(EventLogJudge, FailedRequestsAreViolationsUnlessAFaultExplainsThem) {
  auto lines = scripted_log();
  auto j = judge(lines);
  j.add_requests(100, 0, 2, "killed worker");
  EXPECT_TRUE(j.checker().ok()) << violations(j);
  j.add_requests(0, 1, 0, "reset by peer");
  EXPECT_NE(violations(j).find("request: dropped: reset by peer"), std::string::npos);
}

}  // namespace
}  // namespace zyg::testing
